"""Verification speed of tdxquote against dcap-qvl, side by side, on the same inputs.

For each workload (real v4 TDX and v3 SGX quotes with their dcap-qvl
collateral; streams of distinct forged v4 and v5 quotes of one synthetic
platform) it times, interleaved with ``dcap_qvl.verify`` (or
``verify_with_root_ca`` for the synthetic root) on the same quotes:

* cold: every process-wide memo cleared and a new ``Verifier`` per call, the
  collateral parsed beforehand;
* warm: one ``Verifier`` whose verified-collateral cache is primed;
* warm, QE memo off: the same with ``VerifiedCache(remember_qe_reports=False)``
  (the default remembers QE report signatures).

The design rows (:func:`design_rows`, the verification rows of the
performance goals) are measured the same way:

* ``readme-warm``: the README's ``tdxquote.verify(quote, collateral, now=...)``
  in a warm process (the process-wide default verifier), real v4 TDX quote;
* ``verifier-distinct``: one ``Verifier`` reused over 1,000 distinct forged
  quotes of one platform (each call a new quote: its own ECDSA check);
* ``cold``: a new ``Verifier`` per call (nothing verified yet), the collateral
  parsed and decoded beforehand on both sides;
* ``cold-from-json``: the same, parsing the collateral JSON in every call on
  both sides;
* ``from-json``: ``Collateral.from_json`` alone (dcap-qvl's for reference);
* ``threads``: one ``Verifier`` over the distinct-quote stream, the same
  number of calls on 2 threads vs 1 (wall time, rounds interleaved; the ratio
  is the throughput gain).

Run from the repository root: ``python benchmarks/bench_verify.py``
(``--quick``, ``--json``, ``--clock thread`` on a busy machine,
``--design-only`` for the design rows alone).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import _timing as timing

timing.use_repo_checkout()

from tdxquote._cli import bench  # noqa: E402

DEFAULT_SAMPLES = 21
DEFAULT_MAX_SAMPLE_NS = 100_000_000
STREAM = 1000


def time_rows(
    rows: Sequence[bench.Comparison],
    *,
    samples: int,
    batch: int,
    max_sample_ns: int,
    clock: str,
    label: str = "rows",
) -> None:
    """Time each row's tdxquote and dcap-qvl cases interleaved (``_timing``)."""
    progress = timing.progress_printer(label)
    for index, row in enumerate(rows, 1):
        cases = [timing.Case("ours", row.label, row.ours.func)]
        if row.theirs is not None:
            cases.append(timing.Case("dcap", "dcap-qvl", row.theirs.func))
        results = timing.run_interleaved(
            cases, samples=samples, batch=batch, max_sample_ns=max_sample_ns, clock=clock
        )
        for key, result in results.items():
            if result.error is not None:
                raise SystemExit(f"error: {row.label}: {key} failed: {result.error}")
        row.ours_ns = results["ours"].samples_ns
        row.theirs_ns = results["dcap"].samples_ns if "dcap" in results else []
        if progress is not None:
            progress(index, len(rows))


def verify_rows(
    args: argparse.Namespace, dcap_qvl: Any, *, stream: int = STREAM
) -> list[dict[str, Any]]:
    """Build and time every verification row; the rows as JSON-ready dicts."""
    samples, batch = timing.samples_and_batch(args)
    if not args.samples and not args.quick:
        samples = DEFAULT_SAMPLES
    vectors = timing.vectors_dir()
    rows = bench.verify_comparisons(bench.verify_workloads(vectors, stream), dcap_qvl)
    time_rows(
        rows,
        samples=samples,
        batch=batch,
        max_sample_ns=DEFAULT_MAX_SAMPLE_NS // (4 if args.quick else 1),
        clock=args.clock,
        label="verify",
    )
    return [row.result() for row in rows]


# --- the design rows ---------------------------------------------------------------------

#: key -> (what is compared, goal text, goal test on the median ratio)
DESIGN_GOALS: dict[str, tuple[str, str, Callable[[float], bool]]] = {
    "readme-warm": ("dcap-qvl time / tdxquote time", ">= 7x dcap-qvl's speed", lambda r: r >= 7),
    "verifier-distinct": (
        "dcap-qvl time / tdxquote time",
        ">= 8x dcap-qvl's speed",
        lambda r: r >= 8,
    ),
    "cold": ("tdxquote time / dcap-qvl time", "<= 1.3x dcap-qvl's time", lambda r: r <= 1.3),
    "cold-from-json": ("tdxquote time / dcap-qvl time", "", lambda r: True),
    "from-json": ("tdxquote microseconds", "<= 300 us", lambda us: us <= 300),
    "threads": ("2 threads / 1 thread throughput", ">= 1.6x", lambda r: r >= 1.6),
}


def _cycle(
    func: Callable[..., object], items: Sequence[object], *args: object
) -> Callable[[], object]:
    state = {"i": 0}

    def call() -> object:
        i = state["i"]
        state["i"] = i + 1 if i + 1 < len(items) else 0
        return func(items[i], *args)

    return call


def design_workloads(vectors: Any, stream: int) -> dict[str, Any]:
    """The real dcap-qvl TDX quote and collateral, and a forged stream of distinct quotes."""
    from tdxquote.testing.forge import QuoteForge, td_report

    folder = vectors / "dcap-qvl"
    forge = QuoteForge.create(seed=b"bench design rows")
    scenario = forge.scenario()
    return {
        "real_quote": (folder / "tdx_quote").read_bytes(),
        "real_collateral": (folder / "tdx_quote_collateral.json").read_text(),
        "real_now": 1751624191,
        "stream": [
            forge.quote(td_report(report_data=n.to_bytes(64, "big"))).to_bytes()
            for n in range(stream)
        ],
        "forged_collateral": scenario.collateral_json(),
        "forged_root": scenario.trust_root_der,
        "forged_now": int(scenario.now.timestamp()),
    }


def _design_cases(work: dict[str, Any], dcap_qvl: Any) -> dict[str, tuple[Any, Any]]:
    """key -> (tdxquote callable, dcap-qvl callable or None), all with no arguments."""
    import tdxquote
    from tdxquote.collateral import Collateral
    from tdxquote.verification import Verifier

    raw, text, now = work["real_quote"], work["real_collateral"], work["real_now"]
    quote = tdxquote.parse_quote(raw)
    collateral = Collateral.from_json(text)
    tdxquote.verify(quote, collateral, now=now)  # the README's call, warm from here on
    decoded = Collateral.from_json(text).decoded()
    forged = Collateral.from_json(work["forged_collateral"])
    root = work["forged_root"]
    verifier = Verifier(trust_root=root)
    verifier.verify(work["stream"][0], forged, now=work["forged_now"])
    cases: dict[str, tuple[Any, Any]] = {
        "readme-warm": (lambda: tdxquote.verify(quote, collateral, now=now), None),
        "verifier-distinct": (
            _cycle(lambda q: verifier.verify(q, forged, now=work["forged_now"]), work["stream"]),
            None,
        ),
        "cold": (lambda: Verifier().verify(raw, decoded, now=now), None),
        "cold-from-json": (
            lambda: Verifier().verify(raw, Collateral.from_json(text), now=now),
            None,
        ),
        "from-json": (lambda: Collateral.from_json(text), None),
    }
    if dcap_qvl is not None:
        theirs = dcap_qvl.QuoteCollateralV3.from_json(text)
        forged_theirs = dcap_qvl.QuoteCollateralV3.from_json(work["forged_collateral"])
        dcap_verify = dcap_qvl.verify
        dcap_root = dcap_qvl.verify_with_root_ca
        parse = dcap_qvl.QuoteCollateralV3.from_json
        cases["readme-warm"] = (cases["readme-warm"][0], lambda: dcap_verify(raw, theirs, now))
        cases["verifier-distinct"] = (
            cases["verifier-distinct"][0],
            _cycle(lambda q: dcap_root(q, forged_theirs, root, work["forged_now"]), work["stream"]),
        )
        cases["cold"] = (cases["cold"][0], lambda: dcap_verify(raw, theirs, now))
        cases["cold-from-json"] = (
            cases["cold-from-json"][0],
            lambda: dcap_verify(raw, parse(text), now),
        )
        cases["from-json"] = (cases["from-json"][0], lambda: parse(text))
    return cases


def _thread_gain(work: dict[str, Any], rounds: int, calls: int) -> list[float]:
    """Per round: the time of ``calls`` verifications on one thread / on two threads."""
    from tdxquote.collateral import Collateral
    from tdxquote.verification import Verifier

    forged = Collateral.from_json(work["forged_collateral"])
    verifier = Verifier(trust_root=work["forged_root"])
    stream, now = work["stream"], work["forged_now"]
    for quote in stream[:2]:
        verifier.verify(quote, forged, now=now)

    def run(offset: int, count: int) -> None:
        for n in range(count):
            verifier.verify(stream[(offset + n) % len(stream)], forged, now=now)

    gains = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(0, calls)
        one = time.perf_counter() - start
        threads = [threading.Thread(target=run, args=(k * calls, calls // 2)) for k in (1, 2)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        two = time.perf_counter() - start
        gains.append(one / two)
    return gains


def design_rows(
    args: argparse.Namespace, dcap_qvl: Any, *, stream: int = STREAM
) -> list[dict[str, Any]]:
    """Time the design rows (see the module documentation); JSON-ready dicts."""
    samples, batch = timing.samples_and_batch(args)
    if not args.samples and not args.quick:
        samples = DEFAULT_SAMPLES
    vectors = timing.require_vectors(["dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json"])
    work = design_workloads(vectors, stream)
    rows = []
    for key, (ours, theirs) in _design_cases(work, dcap_qvl).items():
        cases = [timing.Case("ours", key, ours)]
        if theirs is not None:
            cases.append(timing.Case("dcap", "dcap-qvl", theirs))
        results = timing.run_interleaved(
            cases,
            samples=samples,
            batch=max(1, batch // (20 if key.startswith("cold") else 1)),
            max_sample_ns=DEFAULT_MAX_SAMPLE_NS // (4 if args.quick else 1),
            clock=args.clock,
        )
        ours_ns = results["ours"].samples_ns
        theirs_ns = results["dcap"].samples_ns if "dcap" in results else []
        compared = DESIGN_GOALS[key][0]
        if key == "from-json":
            ratios = [ns / 1000 for ns in ours_ns]
        elif compared.startswith("tdxquote time"):
            ratios = [o / t for o, t in zip(ours_ns, theirs_ns, strict=False) if t]
        else:
            ratios = [t / o for o, t in zip(ours_ns, theirs_ns, strict=False) if o]
        rows.append(_design_row(key, ours_ns, theirs_ns, ratios))
    rounds = max(5, samples // 2)
    rows.append(
        _design_row("threads", [], [], _thread_gain(work, rounds, 400 if not args.quick else 100))
    )
    return rows


def _design_row(
    key: str, ours_ns: Sequence[float], theirs_ns: Sequence[float], ratios: Sequence[float]
) -> dict[str, Any]:
    compared, goal, test = DESIGN_GOALS[key]
    median = statistics.median(ratios) if ratios else None
    return {
        "key": key,
        "tdxquote_us": statistics.median(ours_ns) / 1000 if ours_ns else None,
        "dcap_qvl_us": statistics.median(theirs_ns) / 1000 if theirs_ns else None,
        "compared": compared,
        "ratio": median,
        "ratio_p10_p90": (
            [timing.percentile(sorted(ratios), 10), timing.percentile(sorted(ratios), 90)]
            if ratios
            else None
        ),
        "goal": goal,
        "status": "" if not goal or median is None else ("met" if test(median) else "missed"),
    }


def render_design(rows: Sequence[dict[str, Any]]) -> str:
    """The design rows as a Markdown table."""

    def num(value: float | None) -> str:
        return "" if value is None else f"{value:,.1f}"

    table = [
        [
            row["key"],
            num(row["tdxquote_us"]),
            num(row["dcap_qvl_us"]),
            row["compared"],
            "" if row["ratio"] is None else f"{row['ratio']:.2f}",
            f"{row['goal']} {row['status']}".strip(),
        ]
        for row in rows
    ]
    return timing.markdown_table(
        ["row", "tdxquote us", "dcap-qvl us", "ratio of", "ratio", "goal"], table
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    timing.add_common_arguments(parser)
    parser.add_argument(
        "--design-only", action="store_true", help="only the design rows (see the docstring)"
    )
    args = parser.parse_args(argv)
    if args.design_only:
        rows = design_rows(args, bench.load_dcap_qvl())
        machine = timing.machine_info(["tdxquote", "dcap-qvl", "cryptography"])
        if args.json:
            print(json.dumps({"machine": machine, "design_rows": rows}, indent=2))
        else:
            print("\n".join(timing.machine_lines(machine)))
            print(render_design(rows))
        return 0
    timing.require_vectors(["dcap-qvl/tdx_quote", "dcap-qvl/sgx_quote"])
    dcap_qvl = bench.load_dcap_qvl()
    notes = [] if dcap_qvl else ["dcap-qvl is not installed: its columns are missing"]
    samples, _ = timing.samples_and_batch(args)
    machine = timing.machine_info(["tdxquote", "dcap-qvl", "cryptography"])
    rows = verify_rows(args, dcap_qvl)
    machine["load_average_at_end"] = timing.load_average()
    report = bench.Report(
        machine=machine,
        settings={
            "rounds": samples if args.samples or args.quick else DEFAULT_SAMPLES,
            "max_sample_ms": DEFAULT_MAX_SAMPLE_NS // 1_000_000 // (4 if args.quick else 1),
            "clock": timing.CLOCK_NAMES[args.clock],
        },
        notes=notes,
        rows=rows,
        scan=None,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else bench.render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
