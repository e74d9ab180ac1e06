"""``tdxquote bench``: tdxquote and dcap-qvl timed side by side on this machine.

Each row runs tdxquote and dcap-qvl (the Rust verifier's Python binding) on
the same quote, collateral and time, in the same process, interleaved round
by round, and reports medians, the p10-p90 spread and the ratio of the two
(taken round by round).  Rows: validated parse and full materialization
against ``dcap_qvl.parse_quote`` (v3, v4, v5); cold verification (every
process-wide memo cleared, a new :class:`~tdxquote.verification.Verifier`, the
parsed collateral in hand) and warm verification (the verified-collateral
cache primed, a stream of distinct quotes from one platform) against
``dcap_qvl.verify``; ``tdxquote scan`` throughput with 1 and 2 processes
over a generated corpus, and its peak memory.

Real quotes come from the shared vectors (``--vectors`` or
``$TDXQUOTE_VECTORS``); without them the rows use forged quotes of
:mod:`tdxquote.testing.forge` (synthetic PKI) and the output says so.
The functions here are also what ``benchmarks/`` runs, at larger sizes.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import cycle
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._timing import CLOCKS, markdown_table_lines, percentile
from .common import EXIT_OK, CliError, report_error
from .output import write_envelope
from .progress import Progress, progress_on_stderr

if TYPE_CHECKING:
    from .common import Subparsers

__all__ = [
    "GOALS",
    "Comparison",
    "Report",
    "VerifyWorkload",
    "add_parser",
    "build_comparisons",
    "load_dcap_qvl",
    "measure_scan",
    "render",
    "run",
    "run_comparisons",
    "write_chart",
    "write_corpus",
]

GOALS = {  # the project's own targets: benchmarks/ reports them, `tdxquote bench` does not
    "parse": ("validated parse no slower than dcap-qvl's parse_quote", 1.0),
    "warm": ("warm verification at least 6x dcap-qvl's verify throughput", 6.0),
    "cold": ("cold verification within 1.5x dcap-qvl's verify time", 1 / 1.5),
}
"""Goal key -> (text, the least acceptable ratio dcap-qvl time / tdxquote time)."""


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``bench``."""
    parser = subparsers.add_parser(
        "bench",
        help="time tdxquote against dcap-qvl on this machine (parse, verify, scan)",
        description=(
            "Time tdxquote and dcap-qvl side by side, interleaved, on the same quotes and "
            "collateral: parse, cold and warm verification, and tdxquote scan with 1 and 2 "
            "processes. Real quotes come from the shared vectors (--vectors or "
            "$TDXQUOTE_VECTORS), else forged ones. dcap-qvl columns are left out when the "
            "dcap-qvl package is not installed. Numbers depend on the machine and its load; "
            "progress is shown on standard error when it is a terminal."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a rough run in seconds: fewer rounds, a small corpus (default: a full run)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON (the tdxquote/1 document)",
    )
    parser.add_argument(
        "--chart",
        metavar="FILE",
        help="also draw the results to this PNG file (needs matplotlib); default: no chart",
    )
    parser.add_argument(
        "--vectors",
        metavar="DIR",
        help=(
            "the shared real-vector folder, for real quotes (default: $TDXQUOTE_VECTORS; "
            "without it, forged quotes)"
        ),
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="perf",
        help=(
            "%(choices)s: perf is wall time (default); thread is this thread's CPU time, "
            "steadier on a busy machine"
        ),
    )
    parser.add_argument(
        "--rounds",
        type=int,
        metavar="N",
        help="interleaved rounds per row, an integer (default 15; 5 with --quick)",
    )
    parser.add_argument(
        "--scan-files",
        type=int,
        metavar="N",
        help="files in the generated scan corpus (default 20000; 2000 with --quick; 0: no scan)",
    )
    parser.set_defaults(_command="bench")
    return parser


# --- timing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    """One thing to time: ``func()``, one call per quote."""

    key: str
    func: Callable[[], object]


def _batch_time(func: Callable[[], object], calls: int, clock: Callable[[], int]) -> int:
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        for _ in range(calls):
            func()
        return clock() - start
    finally:
        if enabled:
            gc.enable()


def time_interleaved(
    cases: Sequence[Timed],
    *,
    rounds: int,
    max_sample_ns: int,
    max_batch: int = 2000,
    clock: str = "perf",
) -> dict[str, list[float]]:
    """Per-call nanoseconds of each case, one sample per round, in a rotating order."""
    read = CLOCKS[clock]
    batches: dict[str, int] = {}
    for case in cases:
        _batch_time(case.func, 2, read)  # warm-up
        per_call = max(1.0, _batch_time(case.func, 3, read) / 3)
        batches[case.key] = max(1, min(max_batch, int(max_sample_ns / per_call)))
    samples: dict[str, list[float]] = {case.key: [] for case in cases}
    for index in range(rounds):
        shift = index % len(cases) if cases else 0
        for case in [*cases[shift:], *cases[:shift]]:
            calls = batches[case.key]
            samples[case.key].append(_batch_time(case.func, calls, read) / calls)
    return samples


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, p10 and p90 of ``values``."""
    ordered = sorted(values)
    return {
        q: round(percentile(ordered, p), 3) for q, p in (("median", 50), ("p10", 10), ("p90", 90))
    }


# --- workloads ------------------------------------------------------------------------------


def load_dcap_qvl() -> Any:
    """The ``dcap_qvl`` module, or None when it is not installed."""
    try:
        import dcap_qvl
    except ImportError:
        return None
    return dcap_qvl


@dataclass(frozen=True)
class VerifyWorkload:
    """Quotes of one platform with their collateral, time and trust root."""

    key: str
    title: str
    quotes: tuple[bytes, ...]
    collateral_json: str
    now: int
    root_der: bytes | None = None


@dataclass(frozen=True)
class ParseWorkload:
    """One quote to parse."""

    key: str
    title: str
    quote: bytes


def _vectors(path: str | None) -> Path | None:
    chosen = path or os.environ.get("TDXQUOTE_VECTORS")
    if not chosen:
        return None
    folder = Path(chosen)
    if not folder.is_dir():
        raise CliError(f"{chosen}: the vectors folder does not exist", code="usage_error")
    return folder


_REAL_PARSE = (
    ("v3", "SGX v3 (dcap-qvl/sgx_quote)", "dcap-qvl/sgx_quote"),
    ("v4", "TDX v4 (dcap-qvl/tdx_quote)", "dcap-qvl/tdx_quote"),
    (
        "v5",
        "TDX v5, TD 1.5 (go-tdx-guest quote_v5_sample.dat)",
        "go-tdx-guest/quotes/quote_v5_sample.dat",
    ),
)
_REAL_VERIFY = (
    ("v4-real", "v4 real TDX", "tdx_quote", 1751624191),
    ("v3-real", "v3 real SGX", "sgx_quote", 1751624924),
)


def _forge_stream(version: int, count: int) -> VerifyWorkload:
    """``count`` distinct forged quotes of one synthetic platform (report data varies)."""
    from ..testing.forge import QuoteForge, sgx_report, td_report

    forge = QuoteForge.create(seed=b"tdxquote bench")

    def body(index: int) -> Any:
        nonce = b"bench" + index.to_bytes(8, "big")
        if version == 3:
            return sgx_report(report_data=nonce)
        return td_report(2 if version == 4 else 3, report_data=nonce)

    quotes = tuple(forge.quote(body(index)).to_bytes() for index in range(count))
    scenario = forge.scenario(forge.quote(body(0)))
    kind = {3: "v3 SGX", 4: "v4 TDX", 5: "v5 TD 1.5"}[version]
    return VerifyWorkload(
        key=f"v{version}-forged",
        title=f"{kind} forged stream",
        quotes=quotes,
        collateral_json=scenario.collateral_json(),
        now=scenario.now_timestamp,
        root_der=scenario.trust_root_der,
    )


def parse_workloads(vectors: Path | None) -> list[ParseWorkload]:
    """v3, v4 and v5: real quotes from the vectors, else forged ones."""
    if vectors is not None and all((vectors / path).is_file() for _, _, path in _REAL_PARSE):
        return [
            ParseWorkload(key, title, (vectors / path).read_bytes())
            for key, title, path in _REAL_PARSE
        ]
    titles = {3: "SGX v3, forged", 4: "TDX v4, forged", 5: "TDX v5 (TD 1.5), forged"}
    return [
        ParseWorkload(f"v{version}", titles[version], _forge_stream(version, 1).quotes[0])
        for version in (3, 4, 5)
    ]


def verify_workloads(vectors: Path | None, stream: int) -> list[VerifyWorkload]:
    """Real v4 and v3 quotes (when the vectors are there) and forged v4 and v5 streams."""
    workloads = []
    if vectors is not None:
        folder = vectors / "dcap-qvl"
        for key, title, name, now in _REAL_VERIFY:
            quote, collateral = folder / name, folder / f"{name}_collateral.json"
            if quote.is_file() and collateral.is_file():
                workloads.append(
                    VerifyWorkload(key, title, (quote.read_bytes(),), collateral.read_text(), now)
                )
    workloads += [_forge_stream(4, stream), _forge_stream(5, stream)]
    return workloads


# --- comparisons ----------------------------------------------------------------------------


@dataclass
class Comparison:
    """A table row: tdxquote's case beside dcap-qvl's on the same input."""

    section: str
    key: str
    label: str
    ours: Timed
    theirs: Timed | None
    goal: str | None = None
    ours_ns: list[float] = field(default_factory=list)
    theirs_ns: list[float] = field(default_factory=list)

    def result(self) -> dict[str, Any]:
        """The row as JSON-ready data (times in microseconds per call)."""
        out: dict[str, Any] = {
            "section": self.section,
            "key": self.key,
            "label": self.label,
            "tdxquote_us": spread([ns / 1000 for ns in self.ours_ns]),
            "dcap_qvl_us": None,
            "ratio": None,
            "goal": None,
        }
        if self.theirs_ns:
            out["dcap_qvl_us"] = spread([ns / 1000 for ns in self.theirs_ns])
            out["ratio"] = spread(
                [t / o for o, t in zip(self.ours_ns, self.theirs_ns, strict=True) if o]
            )
        if self.goal is not None:
            text, least = GOALS[self.goal]
            ratio = out["ratio"]
            status = (
                "unknown" if ratio is None else ("met" if ratio["median"] >= least else "missed")
            )
            out["goal"] = {
                "key": self.goal,
                "text": text,
                "least_ratio": round(least, 3),
                "status": status,
            }
        return out


def _materializer() -> Callable[[bytes], object]:
    """parse_quote, then every public attribute of the quote and of its parts.

    Not the X.509 work (``pck_chain``, ``pck_extension``), which is timed
    with verification.
    """
    from .. import Quote, parse_quote

    def attributes(cls: type) -> list[str]:
        names = list(getattr(cls, "_fields", ()))
        for name in dir(cls):
            value = inspect.getattr_static(cls, name)
            if name.startswith("_") or name in names or callable(value):
                continue
            if isinstance(value, (classmethod, staticmethod)):
                continue
            if hasattr(type(value), "__get__"):
                names.append(name)
        return names

    skip = {"pck_chain", "pck_extension"}
    read_quote = attrgetter(*[n for n in attributes(Quote) if n not in skip])
    parts = ("header", "body", "qe_report", "certification_data")

    readers: dict[type, Callable[[object], object]] = {}

    def materialize(raw: bytes) -> object:
        quote = parse_quote(raw)
        values: list[object] = [read_quote(quote)]
        for part in parts:
            value = getattr(quote, part)
            read = readers.get(type(value))
            if read is None:
                read = readers[type(value)] = attrgetter(*attributes(type(value)))
            values.append(read(value))
        return values

    return materialize


def _call(func: Callable[..., object], *args: object) -> Callable[[], object]:
    return partial(func, *args)


def _cycling(
    func: Callable[..., object], quotes: Sequence[bytes], *args: object
) -> Callable[[], object]:
    """``func(next quote, *args)``: one call per quote of a stream, round and round."""
    stream = cycle(quotes)

    def call() -> object:
        return func(next(stream), *args)

    return call


def _dcap_materializer(dcap_qvl: Any, raw: bytes) -> Callable[[bytes], object]:
    """dcap-qvl's parse, then every header and report field it exposes and its PEM chain."""
    sample = dcap_qvl.parse_quote(raw)

    def fields(obj: object) -> Callable[[object], object]:
        names = [n for n in dir(obj) if not n.startswith("_") and not callable(getattr(obj, n))]
        return attrgetter(*names)

    header, report = fields(sample.header), fields(sample.report)
    parse = dcap_qvl.parse_quote

    def materialize(data: bytes) -> object:
        quote = parse(data)
        return header(quote.header), report(quote.report), quote.cert_chain_pem_bytes()

    return materialize


def parse_comparisons(workloads: Sequence[ParseWorkload], dcap_qvl: Any) -> list[Comparison]:
    """Validated parse and full materialization against dcap-qvl's parse_quote."""
    from .. import parse_quote

    materialize = _materializer()
    rows = []
    for work in workloads:
        raw = work.quote
        dcap = dcap_fields = None
        if dcap_qvl is not None:
            dcap = Timed("dcap", _call(dcap_qvl.parse_quote, raw))
            dcap_fields = Timed("dcap", _call(_dcap_materializer(dcap_qvl, raw), raw))
        rows.append(
            Comparison(
                "parse",
                f"parse-{work.key}",
                f"{work.key} validated parse vs parse_quote",
                Timed("ours", _call(parse_quote, raw)),
                dcap,
                goal="parse",
            )
        )
        rows.append(
            Comparison(
                "parse",
                f"materialize-{work.key}",
                f"{work.key} full materialization vs parse_quote + fields",
                Timed("ours", _call(materialize, raw)),
                dcap_fields,
            )
        )
    return rows


def _verify_with(verifier: Any, policy: Any) -> Callable[[bytes, Any, int], object]:
    def verify(quote: bytes, collateral: Any, now: int) -> object:
        return verifier.verify(quote, collateral, now=now, policy=policy)

    return verify


def _cold(root: Any, policy: Any) -> Callable[[bytes, Any, int], object]:
    """A verification in fresh state: a new Verifier (every verified result is its own)."""
    from ..verification import Verifier

    def verify(quote: bytes, collateral: Any, now: int) -> object:
        return Verifier(trust_root=root).verify(quote, collateral, now=now, policy=policy)

    return verify


def verify_comparisons(workloads: Sequence[VerifyWorkload], dcap_qvl: Any) -> list[Comparison]:
    """Cold and warm verification (default, and remembering QE reports) against dcap-qvl."""
    from ..collateral import Collateral, TcbStatus
    from ..verification import Policy, VerifiedCache, Verifier, load_trust_root

    # dcap-qvl's verify reports any TCB status; so does tdxquote with this policy.
    policy = Policy().allow_statuses(*TcbStatus)
    rows = []
    for work in workloads:
        collateral = Collateral.from_json(work.collateral_json)
        root = load_trust_root(work.root_der)
        warm = Verifier(trust_root=root, cache=VerifiedCache(remember_qe_reports=False))
        memo = Verifier(trust_root=root)
        for verifier in (warm, memo):  # prime the caches
            verifier.verify(work.quotes[0], collateral, now=work.now, policy=policy)
        dcap = None
        if dcap_qvl is not None:
            theirs = dcap_qvl.QuoteCollateralV3.from_json(work.collateral_json)
            if work.root_der is None:
                dcap_call = _cycling(dcap_qvl.verify, work.quotes, theirs, work.now)
            else:
                dcap_call = _cycling(
                    dcap_qvl.verify_with_root_ca, work.quotes, theirs, work.root_der, work.now
                )
            dcap = Timed("dcap", dcap_call)
        args = (collateral, work.now)
        many = len(work.quotes) > 1
        again = "" if many else " (same quote)"
        rows += [
            Comparison(
                "verify",
                f"cold-{work.key}",
                f"{work.title}: cold",
                Timed("ours", _cycling(_cold(root, policy), work.quotes, *args)),
                dcap,
                goal="cold",
            ),
            Comparison(
                "verify",
                f"warm-qe-off-{work.key}",
                f"{work.title}: warm, QE memo off{again}",
                Timed("ours", _cycling(_verify_with(warm, policy), work.quotes, *args)),
                dcap,
                goal=None,
            ),
            Comparison(
                "verify",
                f"warm-{work.key}",
                f"{work.title}: warm (default){again}",
                Timed("ours", _cycling(_verify_with(memo, policy), work.quotes, *args)),
                dcap,
                goal="warm" if many else None,
            ),
        ]
    return rows


def run_comparisons(
    rows: Sequence[Comparison],
    *,
    rounds: int,
    max_sample_ns: int,
    clock: str,
    progress: Progress | None = None,
) -> None:
    """Time each row's two cases interleaved; fills ``ours_ns`` and ``theirs_ns``."""
    for index, row in enumerate(rows):
        if progress is not None:
            progress.step(f"timing {row.label} ({index + 1}/{len(rows)})")
        cases = [row.ours] if row.theirs is None else [row.ours, row.theirs]
        samples = time_interleaved(cases, rounds=rounds, max_sample_ns=max_sample_ns, clock=clock)
        row.ours_ns = samples["ours"]
        row.theirs_ns = samples.get("dcap", [])


def build_comparisons(vectors: Path | None, dcap_qvl: Any, *, stream: int) -> list[Comparison]:
    """Every parse and verification row."""
    return parse_comparisons(parse_workloads(vectors), dcap_qvl) + verify_comparisons(
        verify_workloads(vectors, stream), dcap_qvl
    )


# --- scanning -------------------------------------------------------------------------------


def _corpus_bases(vectors: Path | None) -> tuple[list[bytes], list[tuple[bytes, Any, int, int]]]:
    """Real quote files to copy as they are, and forged quotes to vary.

    A forged base is (quote, attestation key, report data offset, signed size).
    """
    from .. import parse_quote
    from .._input import decode_quote_input
    from ..errors import QuoteParseError
    from ..schema import BODY_SCHEMAS, field_layout
    from ..testing.forge import QuoteForge, sgx_report, td_report

    real: list[bytes] = []
    if vectors is not None:
        for path in sorted(vectors.rglob("*")):
            if not path.is_file() or path.stat().st_size > 1 << 20:
                continue
            data = path.read_bytes()
            try:
                parse_quote(decode_quote_input(data)[0])
            except QuoteParseError:
                continue
            real.append(data)
    forged = []
    for seed, ca in ((b"bench corpus a", "platform"), (b"bench corpus b", "processor")):
        forge = QuoteForge.create(seed=seed, ca=ca)  # type: ignore[arg-type]
        for body, version in (
            (td_report(2), None),
            (td_report(3), None),
            (td_report(2), 5),
            (sgx_report(), None),
        ):
            quote = forge.quote(body, version=version)
            body_type = quote.body_type or (2 if quote.is_tdx else 1)
            at = quote.body_offset + field_layout(BODY_SCHEMAS[body_type])["report_data"][0]
            forged.append((quote.to_bytes(), forge.attestation_key, at, len(quote.signed_bytes)))
    return real, forged


def write_corpus(
    directory: Path, count: int, vectors: Path | None, *, per_folder: int = 1000
) -> dict[str, Any]:
    """Write ``count`` quote files under ``directory`` (folders of ``per_folder`` files).

    Every real vector quote once, then forged quotes of 8 kinds from 2
    platforms with distinct report data, re-signed with their attestation
    key (one signature per file); one file in 20 as hex text.
    """
    from ..testing.pki import sign_raw

    real, forged = _corpus_bases(vectors)
    started = time.perf_counter()
    written = 0

    def path_of(index: int, suffix: str) -> Path:
        folder = directory / f"d{index // per_folder:04d}"
        if index % per_folder == 0:
            folder.mkdir(parents=True, exist_ok=True)
        return folder / f"q{index:07d}{suffix}"

    for data in real[:count]:
        path_of(written, ".dat").write_bytes(data)
        written += 1
    while written < count:
        base, key, at, signed_end = forged[written % len(forged)]
        quote = bytearray(base)
        quote[at : at + 8] = written.to_bytes(8, "big")
        quote[signed_end + 4 : signed_end + 68] = sign_raw(key, bytes(quote[:signed_end]))
        if written % 20 == 19:
            path_of(written, ".hex").write_text(quote.hex() + "\n")
        else:
            path_of(written, ".dat").write_bytes(bytes(quote))
        written += 1
    return {
        "files": written,
        "real": min(len(real), count),
        "forged": written - min(len(real), count),
        "seconds": round(time.perf_counter() - started, 2),
    }


# Peak memory: VmHWM of this process (ru_maxrss would carry the parent's peak across
# exec on Linux), and ru_maxrss of the largest worker (forked, so it counts the pages it
# shares with this process).
_SCAN_CHILD = """
import json, resource, sys, time
from tdxquote.cli import main
jobs, paths = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
code = main(["scan", "--json", "--jobs", jobs, *paths])
seconds = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as status:
        own = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "seconds": seconds, "rss_kib": own, "workers_rss_kib": workers}),
      file=sys.stderr)
"""


def measure_scan(paths: Sequence[Path], jobs: int) -> dict[str, Any]:
    """Run ``tdxquote scan --json --jobs N`` in a fresh process; time and peak memory.

    Seconds are measured inside the child around the scan (interpreter
    start-up left out); peak memory is the resident set of the scanning
    process and of its largest worker (``ru_maxrss``).
    """
    package_root = str(Path(__file__).resolve().parent.parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    done = subprocess.run(  # noqa: S603 (this interpreter, fixed code, our own paths)
        [sys.executable, "-c", _SCAN_CHILD, str(jobs), *map(str, paths)],
        capture_output=True,
        env=env,
        check=False,
    )
    lines = done.stderr.decode().strip().splitlines()
    if not lines:
        raise RuntimeError(f"the scan child failed: exit {done.returncode}")
    try:
        measured = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise RuntimeError(f"the scan child failed: {done.stderr.decode()[-500:]}") from None
    report = json.loads(done.stdout)["result"]
    files = report["files"]
    return {
        "jobs": jobs,
        "files": files,
        "parsed": report["parsed"],
        "failed": report["failed"],
        "seconds": round(measured["seconds"], 3),
        "quotes_per_second": round(files / measured["seconds"], 1),
        "peak_rss_mib": round(measured["rss_kib"] / 1024, 1),
        "worker_peak_rss_mib": round(measured["workers_rss_kib"] / 1024, 1),
    }


def scan_results(
    corpus: Path, count: int, repeats: int = 1, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Throughput with 1 and 2 processes over the whole corpus, and memory at 3 sizes."""
    folders = sorted(p for p in corpus.iterdir() if p.is_dir())
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for _ in range(repeats):
        for jobs in (1, 2):
            if progress is not None:
                progress.step(f"tdxquote scan --jobs {jobs} over {count:,} files")
            runs[jobs].append(measure_scan([corpus], jobs))
    best = {jobs: max(found, key=lambda r: r["quotes_per_second"]) for jobs, found in runs.items()}
    sizes = []
    for share in (10, 2, 1):
        chosen = folders[: max(1, len(folders) // share)]
        if progress is not None:
            progress.step(f"peak memory of a scan of {len(chosen)} of {len(folders)} folders")
        sizes.append(measure_scan(chosen, 1))
    return {
        "files": count,
        "throughput": [best[1], best[2]],
        "memory_by_size": sizes,
        "speedup": round(best[2]["quotes_per_second"] / best[1]["quotes_per_second"], 2),
    }


# --- output ---------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything one run measured."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str]
    rows: list[dict[str, Any]]
    scan: dict[str, Any] | None
    show_goals: bool = True
    """The project's own targets (``benchmarks/``); ``tdxquote bench`` shows measurements only."""

    def goals(self) -> list[dict[str, Any]]:
        """Each goal with its rows' measured ratios and met / missed."""
        out = []
        for key, (text, least) in GOALS.items():
            rows = [row for row in self.rows if row["goal"] and row["goal"]["key"] == key]
            if not rows:
                continue
            ratios = [row["ratio"]["median"] for row in rows if row["ratio"]]
            out.append(
                {
                    "goal": text,
                    "rows": {row["key"]: row["goal"]["status"] for row in rows},
                    "worst_ratio": None if not ratios else min(ratios),
                    "least_ratio": round(least, 3),
                }
            )
        if self.scan is not None:
            sizes = self.scan["memory_by_size"]
            grow = sizes[-1]["peak_rss_mib"] / sizes[0]["peak_rss_mib"]
            out.append(
                {
                    "goal": "scan throughput grows with --jobs",
                    "speedup": self.scan["speedup"],
                    "status": "met" if self.scan["speedup"] > 1.05 else "missed",
                }
            )
            out.append(
                {
                    "goal": "scan memory flat with corpus size",
                    "growth": round(grow, 3),
                    "status": "met" if grow <= 1.1 else "missed",
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``goals``, and each row's ``goal``, only with :attr:`show_goals`)."""
        if not self.show_goals:
            return {
                "machine": self.machine,
                "settings": self.settings,
                "notes": self.notes,
                "rows": [{k: v for k, v in row.items() if k != "goal"} for row in self.rows],
                "scan": self.scan,
                "summary": self.summary(),
            }
        return {
            "machine": self.machine,
            "settings": self.settings,
            "notes": self.notes,
            "rows": self.rows,
            "scan": self.scan,
            "goals": self.goals(),
        }

    def summary(self) -> list[str]:
        """What the measurements say, one sentence per section (medians of the ratios)."""
        lines = []
        for section, what in (("parse", "parsing"), ("verify", "verification")):
            ratios = [
                row["ratio"]["median"]
                for row in self.rows
                if row["section"] == section and row["ratio"] is not None
            ]
            if ratios:
                lines.append(
                    f"{what}: tdxquote ran at {min(ratios):.2f}x to {max(ratios):.2f}x "
                    f"dcap-qvl's speed (the median ratio of each of {len(ratios)} rows; "
                    "above 1x is faster)"
                )
        if self.scan is not None:
            one, two = self.scan["throughput"]
            lines.append(
                f"scanning: {one['quotes_per_second']:,.0f} quotes/s with one process, "
                f"{two['quotes_per_second']:,.0f} with two ({self.scan['speedup']:.2f}x)"
            )
        return lines


def machine_info() -> dict[str, Any]:
    """CPU, Python, package versions."""
    from importlib import metadata

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for name in ("tdxquote", "dcap-qvl", "cryptography"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "packages": versions,
        "load_average": [round(v, 2) for v in os.getloadavg()]
        if hasattr(os, "getloadavg")
        else None,
    }


def _us(value: dict[str, float] | None) -> str:
    if value is None:
        return "n/a"

    def fmt(us: float) -> str:
        return f"{us:.2f}" if us < 10 else (f"{us:.1f}" if us < 100 else f"{us:,.0f}")

    return f"{fmt(value['median'])} ({fmt(value['p10'])}-{fmt(value['p90'])})"


def _ratio(value: dict[str, float] | None) -> str:
    if value is None:
        return "n/a"
    return f"{value['median']:.2f} ({value['p10']:.2f}-{value['p90']:.2f})"


_LEGEND = (
    "Rows: parse = tdxquote.parse_quote (validated, fields lazy); materialization = the parse "
    "and every public field of the quote, header, body, QE report, certification data (no "
    "X.509). cold = every process-wide memo cleared and a new Verifier, collateral parsed "
    "(Collateral.from_json done before timing; dcap-qvl gets QuoteCollateralV3.from_json "
    "likewise); warm (default) = the Verifier's cache primed; QE memo off = "
    "VerifiedCache(remember_qe_reports=False), which re-checks the QE report signature. "
    "A forged stream is that many distinct quotes "
    "(report data varies) of one synthetic platform, dcap-qvl verifying them with the "
    "synthetic root (verify_with_root_ca); both sides accept any TCB status.",
)


def render(report: Report) -> str:
    """The Markdown tables of a report."""
    machine = report.machine
    lines = [
        "# tdxquote bench",
        "",
        f"CPU: {machine['cpu']} ({machine['logical_cpus']} logical CPUs); "
        f"{machine['python']}; " + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()),
        f"Method: {report.settings['rounds']} interleaved rounds per row, "
        f"samples of up to {report.settings['max_sample_ms']} ms, "
        f"clock {report.settings['clock']}; "
        "medians with p10-p90; ratio = dcap-qvl time / tdxquote time, round by round "
        "(above 1: tdxquote is faster; 2.00: twice as fast).",
    ]
    if "command" in report.settings:
        lines.append(f"Command: `{report.settings['command']}`")
    lines += [f"NOTE: {note}" for note in report.notes]
    if report.rows:
        lines += ["", *_LEGEND]
    headers = ["row", "tdxquote µs", "dcap-qvl µs", "dcap-qvl ÷ tdxquote"]
    if report.show_goals:
        headers.append("goal")
    for section, title in (("parse", "Parsing"), ("verify", "Verification")):
        rows = [r for r in report.rows if r["section"] == section]
        if not rows:
            continue
        table = []
        for r in rows:
            cells = [r["label"], _us(r["tdxquote_us"]), _us(r["dcap_qvl_us"]), _ratio(r["ratio"])]
            if report.show_goals:
                goal = r["goal"]
                cells.append("" if goal is None else f"≥ {goal['least_ratio']:g}: {goal['status']}")
            table.append(cells)
        lines += ["", f"## {title}", "", *markdown_table_lines(headers, table)]
    if report.scan is not None:
        scan = report.scan
        lines += ["", f"## Scanning ({scan['files']:,} files)", ""]
        table = [
            [
                f"tdxquote scan --jobs {r['jobs']}",
                f"{r['quotes_per_second']:,.0f}",
                f"{r['seconds']:.2f}",
                f"{r['peak_rss_mib']:.1f}",
                f"{r['worker_peak_rss_mib']:.1f}",
            ]
            for r in scan["throughput"]
        ]
        lines += markdown_table_lines(
            ["run", "quotes/s", "seconds", "peak RSS MiB", "worker peak MiB"], table
        )
        lines += ["", "Peak memory by corpus size (--jobs 1):", ""]
        table = [
            [f"{r['files']:,} files", f"{r['peak_rss_mib']:.1f}", f"{r['quotes_per_second']:,.0f}"]
            for r in scan["memory_by_size"]
        ]
        lines += markdown_table_lines(["corpus", "peak RSS MiB", "quotes/s"], table)
    if not report.show_goals:
        summary = report.summary()
        if summary:
            lines += ["", "## Summary", "", *[f"- {line}" for line in summary]]
        return "\n".join(lines)
    lines += ["", "## Goals", ""]
    for goal in report.goals():
        if "worst_ratio" in goal:
            worst = "n/a" if goal["worst_ratio"] is None else f"{goal['worst_ratio']:.2f}"
            lines.append(
                f"- {goal['goal']}: worst ratio {worst} (need ≥ {goal['least_ratio']:g}): "
                + ", ".join(f"{key} {status}" for key, status in goal["rows"].items())
            )
        elif "speedup" in goal:
            lines.append(
                f"- {goal['goal']}: --jobs 2 / --jobs 1 = {goal['speedup']:.2f}: {goal['status']}"
            )
        else:
            lines.append(
                f"- {goal['goal']}: peak at the largest / smallest size = "
                f"{goal['growth']:.2f}: {goal['status']}"
            )
    return "\n".join(lines)


def write_chart(report: Report, path: str | Path) -> None:
    """Draw the rows (per-call times, log scale) and scan throughput to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows if r["dcap_qvl_us"] is not None]
    scan = report.scan
    figure, axes = plt.subplots(
        1,
        2 if scan else 1,
        figsize=(14 if scan else 10, 0.42 * len(rows) + 2),
        gridspec_kw={"width_ratios": [3, 1]} if scan else None,
        squeeze=False,
    )
    left = axes[0][0]
    labels = [r["label"] for r in rows]
    y = list(range(len(rows)))
    ours = [r["tdxquote_us"]["median"] for r in rows]
    theirs = [r["dcap_qvl_us"]["median"] for r in rows]
    left.barh([v + 0.2 for v in y], ours, height=0.4, label="tdxquote", color="#2b6cb0")
    left.barh([v - 0.2 for v in y], theirs, height=0.4, label="dcap-qvl 0.7.0", color="#c05621")
    for index, row in enumerate(rows):
        ratio = row["ratio"]["median"]
        left.text(
            max(ours[index], theirs[index]) * 1.15, index, f"x{ratio:.2f}", va="center", fontsize=8
        )
    left.set_yticks(y, labels, fontsize=8)
    left.invert_yaxis()
    left.set_xscale("log")
    left.set_xlabel("µs per call (median, log scale); x: dcap-qvl time / tdxquote time")
    left.legend(loc="upper right")
    left.set_title("Per call, same input, interleaved")
    if scan:
        right = axes[0][1]
        runs = scan["throughput"]
        right.bar(
            [f"--jobs {r['jobs']}" for r in runs],
            [r["quotes_per_second"] for r in runs],
            color="#2b6cb0",
        )
        right.set_ylabel("quotes / s")
        right.set_title(f"tdxquote scan, {scan['files']:,} files")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run(args: argparse.Namespace) -> int:
    """Run ``bench``."""
    try:
        return _run(args)
    except CliError as error:
        return report_error(error, as_json=args.json, command="bench")


def _run(args: argparse.Namespace) -> int:
    vectors = _vectors(args.vectors)
    dcap_qvl = load_dcap_qvl()
    notes = []
    if vectors is None:
        notes.append(
            "no shared vectors (--vectors or $TDXQUOTE_VECTORS): every row uses forged quotes "
            "of tdxquote.testing (synthetic PKI, dcap-qvl given its root)"
        )
    if dcap_qvl is None:
        notes.append("dcap-qvl is not installed: its columns and the ratios are missing")
    rounds = args.rounds if args.rounds is not None else (5 if args.quick else 15)
    if rounds < 1:
        raise CliError("--rounds must be at least 1", code="usage_error")
    max_sample_ns = 20_000_000 if args.quick else 100_000_000
    stream = 50 if args.quick else 1000
    scan_files = (
        args.scan_files if args.scan_files is not None else (2000 if args.quick else 20_000)
    )
    if scan_files < 0:
        raise CliError("--scan-files must be 0 or more", code="usage_error")
    progress = progress_on_stderr(label="bench", unit="rows")
    try:
        if progress is not None:
            progress.step("preparing quotes and collateral")
        rows = build_comparisons(vectors, dcap_qvl, stream=stream)
        run_comparisons(
            rows, rounds=rounds, max_sample_ns=max_sample_ns, clock=args.clock, progress=progress
        )
        scan = None
        if scan_files:
            with tempfile.TemporaryDirectory(prefix="tdxquote-bench-") as folder:
                corpus = Path(folder)
                if progress is not None:
                    progress.step(f"writing a {scan_files:,}-file scan corpus")
                write_corpus(corpus, scan_files, vectors, per_folder=max(10, scan_files // 10))
                scan = scan_results(corpus, scan_files, progress=progress)
    finally:
        if progress is not None:
            progress.clear()
    report = Report(
        machine=machine_info(),
        settings={
            "rounds": rounds,
            "max_sample_ms": max_sample_ns // 1_000_000,
            "clock": args.clock,
            "quick": args.quick,
        },
        notes=notes,
        rows=[row.result() for row in rows],
        scan=scan,
        show_goals=False,
    )
    if args.chart:
        try:
            write_chart(report, args.chart)
        except ImportError:
            notes.append("no chart: matplotlib is not installed (pip install 'tdxquote[plot]')")
    if args.json:
        write_envelope("bench", report.to_dict())
    else:
        print(render(report))
    return EXIT_OK
