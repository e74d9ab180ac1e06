"""Parsing speed of tdxquote against construct and dcap-qvl, on real quotes.

For each real vector kind (SGX v3, TDX v4, TDX v5) it times, interleaved in
rounds:

* ``tdxquote.parse_quote``: the validated parse (every length and rule checked,
  fields decoded lazily);
* full materialization: the validated parse, then every field and derived
  property of the quote, its body and its QE report (not the X.509 decode of
  the PCK chain);
* ``tdxquote.schema.QUOTE.parse``: the plain ``construct`` parse of the schema;
* ``dcap_qvl.parse_quote`` (dcap-qvl 0.7.0, Rust), and dcap-qvl's parse plus
  every header and report field it exposes;
* the validated parse plus the PCK chain decode (and plus the SGX extension's
  FMSPC), with tdxquote's caches of decoded chains emptied before each call
  (cold) and kept (warm), against dcap-qvl's ``parse_quote(raw).fmspc()``.

Run from the repository root: ``python benchmarks/bench_parse.py`` (``--quick``
for a rough run, ``--json`` for machine output).  The vectors come from
``$TDXQUOTE_VECTORS`` or ``../shared/vectors``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

import _timing as timing

timing.use_repo_checkout()

import tdxquote  # noqa: E402
from tdxquote.schema import QUOTE  # noqa: E402

GOAL_MATERIALIZE_NS = 10_000

# The x509 work is timed in its own rows.
_NOT_MATERIALIZED = frozenset({"pck_chain", "pck_extension"})


@dataclass(frozen=True)
class Kind:
    """One vector kind: a short key, a title and the file, relative to the vectors folder."""

    key: str
    title: str
    path: str


KINDS = (
    Kind("v3", "SGX quote v3", "dcap-qvl/sgx_quote"),
    Kind("v4", "TDX quote v4", "dcap-qvl/tdx_quote"),
    Kind("v5", "TDX quote v5 (TD 1.5 body)", "go-tdx-guest/quotes/quote_v5_sample.dat"),
)


_RATIO_KEYS = ("median", "p10", "p90")


@dataclass(frozen=True)
class Row:
    """A table row: the case, and the key of the dcap-qvl case its ratio is taken against."""

    case: timing.Case
    baseline: str | None = None


def _is_attribute(value: object) -> bool:
    """A descriptor read like a field: a property or any cached property, not a method."""
    if callable(value) or isinstance(value, (classmethod, staticmethod)):
        return False
    return hasattr(type(value), "__get__")


def _public_attributes(cls: type) -> list[str]:
    """Every public property, cached property and NamedTuple field of ``cls``."""
    fields = list(getattr(cls, "_fields", ()))
    derived = [
        name
        for name in dir(cls)
        if not name.startswith("_") and _is_attribute(inspect.getattr_static(cls, name))
    ]
    return fields + [name for name in derived if name not in fields]


_PARTS = ("header", "body", "qe_report", "certification_data")


def materialized_attributes(quote: tdxquote.Quote) -> dict[str, list[str]]:
    """What the full materialization reads, for this quote's kind.

    Key ``""`` lists the quote's own properties; each other key names a part
    (header, body, ...) and lists the fields and properties read from it.
    """
    plan = {"": [n for n in _public_attributes(tdxquote.Quote) if n not in _NOT_MATERIALIZED]}
    for part in _PARTS:
        plan[part] = _public_attributes(type(getattr(quote, part)))
    return plan


def attribute_count(plan: dict[str, list[str]]) -> int:
    """How many fields and properties a materialization plan reads."""
    return sum(len(names) for names in plan.values())


def make_materialize(plan: dict[str, list[str]]) -> Callable[[bytes], object]:
    """parse_quote, then read every attribute of the plan (C-level attrgetters).

    A part is fetched from the quote once and its fields are read from it, as
    a caller holding ``quote.body`` would.
    """
    read_quote = attrgetter(*plan[""])
    get_header, get_body, get_qe_report, get_cert = (attrgetter(part) for part in _PARTS)
    read_header, read_body, read_qe_report, read_cert = (attrgetter(*plan[part]) for part in _PARTS)
    parse = tdxquote.parse_quote

    def materialize(raw: bytes) -> object:
        quote = parse(raw)
        return (
            read_quote(quote),
            read_header(get_header(quote)),
            read_body(get_body(quote)),
            read_qe_report(get_qe_report(quote)),
            read_cert(get_cert(quote)),
        )

    return materialize


def pck_chain_decode(raw: bytes) -> object:
    """Validated parse plus the X.509 decode of the whole PCK chain."""
    return tdxquote.parse_quote(raw).pck_chain


def pck_fmspc(raw: bytes) -> object:
    """Validated parse, PCK chain decode and the FMSPC of the leaf's SGX extension."""
    return tdxquote.parse_quote(raw).pck_extension.fmspc


def pck_cache_clearers() -> list[Callable[[], None]]:
    """The functions that empty tdxquote's caches of decoded PCK chains and extensions.

    tdxquote remembers decoded chains by their PEM bytes, so parsing the same
    quote again skips the X.509 work; a "cold" row empties the caches before
    every call to time the decode itself.  Empty when this version has none.
    """
    clearers = []
    for module_name, name in (
        ("tdxquote._pem_chain", "clear_decoded_chains"),
        ("tdxquote.pck", "clear_parsed_extensions"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        clear = getattr(module, name, None)
        if callable(clear):
            clearers.append(clear)
    return clearers


def cold(
    func: Callable[[bytes], object], clearers: Sequence[Callable[[], None]]
) -> Callable[[bytes], object]:
    """``func`` with tdxquote's PCK caches emptied before each call."""

    def call_cold(raw: bytes) -> object:
        for clear in clearers:
            clear()
        return func(raw)

    return call_cold


def load_dcap_qvl() -> tuple[Any, str | None]:
    """The dcap_qvl module, or None and why it is missing."""
    try:
        import dcap_qvl
    except ImportError as exc:
        return None, f"dcap-qvl is not importable ({exc}); its rows and ratios are missing"
    return dcap_qvl, None


def make_dcap_fields(dcap_qvl: Any, raw: bytes) -> Callable[[bytes], object]:
    """dcap-qvl's parse plus every header and report field it exposes, and its PEM chain."""
    sample = dcap_qvl.parse_quote(raw)

    def fields_of(obj: object) -> list[str]:
        return [
            name
            for name in dir(obj)
            if not name.startswith("_") and not callable(getattr(obj, name))
        ]

    header = attrgetter(*fields_of(sample.header))
    report = attrgetter(*fields_of(sample.report))
    parse = dcap_qvl.parse_quote

    def dcap_fields(data: bytes) -> object:
        quote = parse(data)
        return header(quote.header), report(quote.report), quote.cert_chain_pem_bytes()

    return dcap_fields


def dcap_fmspc_of(dcap_qvl: Any) -> Callable[[bytes], object]:
    """dcap-qvl's ``parse_quote(raw).fmspc()``."""
    parse = dcap_qvl.parse_quote

    def dcap_fmspc(raw: bytes) -> object:
        return parse(raw).fmspc()

    return dcap_fmspc


def rows_for(raw: bytes, dcap_qvl: Any) -> tuple[list[Row], dict[str, list[str]]]:
    """The rows of one kind, and the attribute paths the materialization reads."""
    plan = materialized_attributes(tdxquote.parse_quote(raw))
    args = (raw,)
    have_dcap = dcap_qvl is not None
    rows = [
        Row(
            timing.Case(
                "validated", "tdxquote.parse_quote (validated)", tdxquote.parse_quote, args
            ),
            "dcap_parse",
        ),
        Row(
            timing.Case(
                "materialize",
                f"tdxquote full materialization ({attribute_count(plan)} attributes)",
                make_materialize(plan),
                args,
            ),
            "dcap_fields",
        ),
        Row(
            timing.Case("construct", "tdxquote.schema.QUOTE.parse (construct)", QUOTE.parse, args),
            "dcap_parse",
        ),
    ]
    if have_dcap:
        rows += [
            Row(timing.Case("dcap_parse", "dcap_qvl.parse_quote", dcap_qvl.parse_quote, args)),
            Row(
                timing.Case(
                    "dcap_fields",
                    "dcap_qvl.parse_quote + header/report fields",
                    make_dcap_fields(dcap_qvl, raw),
                    args,
                )
            ),
        ]
    clearers = pck_cache_clearers()
    for key, label, func in (
        ("pck_chain", "tdxquote parse + PCK chain decode", pck_chain_decode),
        ("pck_fmspc", "tdxquote parse + PCK chain + FMSPC", pck_fmspc),
    ):
        if not clearers:
            rows.append(Row(timing.Case(key, label, func, args), "dcap_fmspc"))
            continue
        rows += [
            Row(
                timing.Case(f"{key}_cold", f"{label} (cold)", cold(func, clearers), args),
                "dcap_fmspc",
            ),
            Row(timing.Case(f"{key}_warm", f"{label} (warm)", func, args), "dcap_fmspc"),
        ]
    if have_dcap:
        rows.append(
            Row(
                timing.Case(
                    "dcap_fmspc", "dcap_qvl.parse_quote(...).fmspc()", dcap_fmspc_of(dcap_qvl), args
                )
            )
        )
    return rows, plan


def cross_check(raw: bytes, dcap_qvl: Any) -> list[str]:
    """Problems showing that the implementations do not read the same quote alike."""
    problems: list[str] = []
    quote = tdxquote.parse_quote(raw)
    try:
        reference = QUOTE.parse(raw)
        if bytes(reference.signed_data.signature) != quote.signature:
            problems.append("construct and tdxquote disagree on the signature")
    except Exception as exc:
        problems.append(f"construct parse failed: {type(exc).__name__}: {exc}")
    if dcap_qvl is None:
        return problems
    theirs = dcap_qvl.parse_quote(raw)
    if bytes(theirs.report.report_data) != quote.body.report_data:
        problems.append("dcap-qvl and tdxquote disagree on report_data")
    try:
        ours = quote.pck_extension.fmspc.hex().upper()
        if ours != theirs.fmspc().upper():
            problems.append(f"FMSPC differs: tdxquote {ours}, dcap-qvl {theirs.fmspc()}")
    except Exception as exc:
        problems.append(f"FMSPC comparison failed: {type(exc).__name__}: {exc}")
    return problems


def bench_kind(
    kind: Kind,
    raw: bytes,
    dcap_qvl: Any,
    *,
    samples: int,
    batch: int,
    clock: str,
    show_progress: bool,
) -> dict[str, Any]:
    """Time every row of one kind, interleaved; a JSON-ready summary."""
    rows, plan = rows_for(raw, dcap_qvl)
    progress = timing.progress_printer(kind.key) if show_progress else None
    results = timing.run_interleaved(
        [row.case for row in rows], samples=samples, batch=batch, clock=clock, progress=progress
    )
    out_rows = []
    for row in rows:
        result = results[row.case.key]
        stats = result.stats
        entry: dict[str, Any] = {"key": row.case.key, "label": row.case.label}
        if stats is None:
            entry["error"] = result.error
        else:
            entry["stats"] = stats.to_json()
        if row.baseline is not None:
            entry["ratio_vs"] = row.baseline
            baseline = results.get(row.baseline)
            ratio = None if baseline is None else timing.paired_ratio(baseline, result)
            entry["ratio"] = (
                None
                if ratio is None
                else {k: round(v, 3) for k, v in zip(_RATIO_KEYS, ratio, strict=True)}
            )
            if baseline is None:
                entry["ratio_missing"] = "dcap-qvl is not importable"
        out_rows.append(entry)
    return {
        "kind": kind.key,
        "title": kind.title,
        "file": kind.path,
        "size": len(raw),
        "materialized_attributes": plan,
        "cross_check_problems": cross_check(raw, dcap_qvl),
        "rows": out_rows,
    }


def goals(kinds: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The two goals, per kind: met, missed or unknown."""
    out: list[dict[str, Any]] = []
    for kind in kinds:
        by_key = {row["key"]: row for row in kind["rows"]}
        ratio = by_key["validated"].get("ratio")
        out.append(
            {
                "kind": kind["kind"],
                "goal": "validated parse no slower than dcap_qvl.parse_quote",
                "value": None if ratio is None else ratio["median"],
                "status": "unknown"
                if ratio is None
                else ("met" if ratio["median"] >= 1 else "missed"),
            }
        )
        stats = by_key["materialize"].get("stats")
        out.append(
            {
                "kind": kind["kind"],
                "goal": "full materialization within 10 µs per quote",
                "value": None if stats is None else stats["median_ns"],
                "status": "unknown"
                if stats is None
                else ("met" if stats["median_ns"] <= GOAL_MATERIALIZE_NS else "missed"),
            }
        )
    return out


_BASELINE_NAMES = {
    "dcap_parse": "parse_quote",
    "dcap_fields": "+ fields",
    "dcap_fmspc": "fmspc()",
}


def render_kind(kind: dict[str, Any]) -> str:
    """One kind's Markdown table."""
    headers = ["case", "median µs", "p10-p90 µs", "quotes/s", "dcap-qvl ÷ this (p10-p90)", "vs"]
    table = []
    for row in kind["rows"]:
        stats = row.get("stats")
        if stats is None:
            table.append([row["label"], "failed", row["error"][:60], "", "", ""])
            continue
        spread = f"{timing.fmt_us(stats['p10_ns'])}-{timing.fmt_us(stats['p90_ns'])}"
        ratio = row.get("ratio")
        if "ratio_vs" not in row:
            ratio_text = ""
        elif row.get("ratio_missing"):
            ratio_text = "missing (no dcap-qvl)"
        else:
            ratio = row["ratio"]
            ratio_text = timing.fmt_ratio(
                None if ratio is None else [ratio[key] for key in _RATIO_KEYS]
            )
        table.append(
            [
                row["label"],
                timing.fmt_us(stats["median_ns"]),
                spread,
                timing.fmt_rate(stats["per_second"]),
                ratio_text,
                _BASELINE_NAMES.get(row.get("ratio_vs", ""), ""),
            ]
        )
    lines = [f"### {kind['kind']}: {kind['title']} ({kind['file']}, {kind['size']:,} bytes)", ""]
    lines.append(timing.markdown_table(headers, table))
    lines.extend(f"WARNING: {problem}" for problem in kind["cross_check_problems"])
    return "\n".join(lines)


def render(report: dict[str, Any]) -> str:
    """The whole human-readable report."""
    settings = report["settings"]
    lines = ["# tdxquote parse benchmark", ""]
    lines += timing.machine_lines(report["machine"])
    lines.append(
        f"Method:   {settings['samples']} interleaved samples per case of {settings['batch']} "
        f"calls each (GC paused), {settings['clock']}; loop + call overhead "
        f"{report['loop_overhead_ns']:.0f} ns per call, included, not subtracted"
    )
    if report["dcap_qvl_missing"]:
        lines.append(f"NOTE:     {report['dcap_qvl_missing']}")
    lines.append("")
    for kind in report["kinds"]:
        lines += [render_kind(kind), ""]
    lines += [
        "Ratios are dcap-qvl time ÷ tdxquote time, taken round by round (>1: tdxquote is "
        "faster); `vs` names the dcap-qvl row compared. Full materialization reads every "
        "field and property of the quote, header, body, QE report and certification data "
        "except the X.509 chain (pck_chain, pck_extension). PCK rows: cold empties "
        "tdxquote's caches of decoded chains and extensions before every call; warm keeps "
        "them, as when many quotes of one platform are parsed.",
        "",
        "Goals:",
    ]
    for goal in report["goals"]:
        value = goal["value"]
        if value is None:
            shown = "n/a"
        elif "ratio" in goal["goal"] or "no slower" in goal["goal"]:
            shown = f"ratio {value:.2f}"
        else:
            shown = f"{timing.fmt_us(value)} µs"
        lines.append(f"- {goal['kind']}: {goal['goal']}: {shown}: {goal['status'].upper()}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print tables (or JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    timing.add_common_arguments(parser)
    parser.add_argument(
        "--kinds",
        default=",".join(kind.key for kind in KINDS),
        help="comma-separated vector kinds to run (default: v3,v4,v5)",
    )
    args = parser.parse_args(argv)
    samples, batch = timing.samples_and_batch(args)
    wanted = [key.strip() for key in args.kinds.split(",") if key.strip()]
    kinds = [kind for kind in KINDS if kind.key in wanted]
    unknown = set(wanted) - {kind.key for kind in KINDS}
    if unknown or not kinds:
        parser.error(f"unknown kind(s): {', '.join(sorted(unknown)) or '(none)'}")
    vectors = timing.require_vectors(kind.path for kind in kinds)
    dcap_qvl, missing = load_dcap_qvl()
    if missing and not args.json:
        print(f"NOTE: {missing}", file=sys.stderr)

    report: dict[str, Any] = {
        "benchmark": "parse",
        "machine": timing.machine_info(["tdxquote", "construct", "dcap-qvl", "cryptography"]),
        "settings": {
            "samples": samples,
            "batch": batch,
            "clock": timing.CLOCK_NAMES[args.clock],
            "gc": "paused during batches",
        },
        "dcap_qvl_missing": missing,
        "loop_overhead_ns": timing.loop_overhead_ns(batch, samples, args.clock),
        "kinds": [],
    }
    # tdxquote is imported from the checkout, which need not be installed.
    state = timing.checkout_state()
    report["machine"]["packages"]["tdxquote"] = (
        f"{tdxquote.__version__} (checkout {state})" if state else f"{tdxquote.__version__}"
    )
    for kind in kinds:
        raw = Path(vectors / kind.path).read_bytes()
        report["kinds"].append(
            bench_kind(
                kind,
                raw,
                dcap_qvl,
                samples=samples,
                batch=batch,
                clock=args.clock,
                show_progress=not args.json,
            )
        )
    report["goals"] = goals(report["kinds"])
    report["machine"]["load_average_at_end"] = timing.load_average()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
