"""Every row of the performance table in one run: tdxquote against dcap-qvl, and the goals.

    python benchmarks/bench_all.py                  # the full run (about three minutes)
    python benchmarks/bench_all.py --quick          # a smoke run in seconds (rough numbers)
    python benchmarks/bench_all.py --json           # the same as JSON

Each row runs in a fresh process of its own (so no row is warmed by another),
and prints: what is timed, tdxquote's figure, dcap-qvl's, their ratio, the goal
and whether it is met.  Per-call rows time tdxquote and dcap-qvl interleaved,
round by round, and take the ratio round by round; whole-process rows start
both interpreters in turn, repeatedly; scan rows run each scan in a fresh
process (see ``bench_scan.py``).  Verification rows call only the public API
(``tdxquote.verify``, ``tdxquote.Verifier``, ``tdxquote.Collateral.from_json``),
so they time whatever verification code the checkout holds.  The chart
(``docs/performance.png`` unless ``--chart``) shows each goal's attainment.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import _timing as timing

timing.use_repo_checkout()

import bench_scan  # noqa: E402

CHART = timing.REPO_ROOT / "docs" / "performance.png"
V4_QUOTE = "dcap-qvl/tdx_quote"
V4_COLLATERAL = "dcap-qvl/tdx_quote_collateral.json"
V4_NOW = 1751624191
V3_QUOTE = "dcap-qvl/sgx_quote"


@dataclass(frozen=True)
class Goal:
    """What a row must reach: a ratio (``speed``: dcap-qvl time / tdxquote time, at
    least ``value``; ``time``: tdxquote time / dcap-qvl time, at most ``value``) or an
    absolute time in microseconds (``us``: at most ``value``)."""

    kind: str
    value: float

    def text(self) -> str:
        if self.kind == "speed":
            return f"≥ {self.value:g}x the speed"
        if self.kind == "time":
            return f"≤ {self.value:g}x the time"
        return f"≤ {self.value:g} µs"

    def attainment(self, measured: float) -> float:
        """Above 1: met (measured is a ratio, or microseconds for ``us``)."""
        if self.kind == "speed":
            return measured / self.value
        return self.value / measured if measured else float("inf")


@dataclass(frozen=True)
class Row:
    """A row of the table: what it measures, its goal, how to measure it."""

    key: str
    what: str
    goal: Goal
    group: str  # "call": a fresh child process; "process", "scan": run from here


ROWS = (
    Row(
        "verify-oneshot",
        "`tdxquote.verify(quote, collateral, now=...)`, the README's call, warm process",
        Goal("speed", 7),
        "call",
    ),
    Row("verifier-reused", "`Verifier` reused, distinct quotes", Goal("speed", 8), "call"),
    Row(
        "verify-cold",
        "cold: a new `Verifier` and a new `Collateral` (already parsed) per call",
        Goal("time", 1.3),
        "call",
    ),
    Row(
        "process-verify",
        "whole process: `import` + `Collateral.from_json` + first verify",
        Goal("time", 1.5),
        "process",
    ),
    Row("process-import", "whole process: `import tdxquote` alone", Goal("time", 1.0), "process"),
    Row(
        "process-help",
        "whole process: `tdxquote --help` against a three-line dcap-qvl parse script",
        Goal("time", 1.0),
        "process",
    ),
    Row(
        "process-parse",
        "whole process: `tdxquote parse FILE` against a three-line dcap-qvl parse script",
        Goal("time", 1.0),
        "process",
    ),
    Row("from-json", "`Collateral.from_json`", Goal("us", 300), "call"),
    Row("parse-v4", "parse + the same 8 fields read (v4 TDX)", Goal("time", 0.9), "call"),
    Row("parse-v3", "parse + the same 8 fields read (v3 SGX)", Goal("time", 0.9), "call"),
    Row(
        "scan-jobs1",
        "`tdxquote scan --jobs 1` against the same work with dcap-qvl (files/s)",
        Goal("speed", 1.0),
        "scan",
    ),
    Row("scan-jobs2", "scan `--jobs 2` against `--jobs 1` (files/s)", Goal("speed", 1.8), "scan"),
    Row(
        "scan-platforms",
        "scan with N platforms interleaved against one platform (time)",
        Goal("time", 1.25),
        "scan",
    ),
    Row("threads", "warm verify, 2 threads against 1 (throughput)", Goal("speed", 1.6), "call"),
)
"""The table, in the order it prints."""


@dataclass(frozen=True)
class Settings:
    """Sizes of one run (``--quick`` makes them tiny)."""

    rounds: int
    batch: int
    max_sample_ns: int
    stream: int
    cold_calls: int
    thread_quotes: int
    process_repeats: int
    scan_files: int
    platform_files: int
    platforms: int
    scan_repeats: int
    clock: str

    @classmethod
    def of(cls, args: argparse.Namespace) -> Settings:
        quick = args.quick
        return cls(
            rounds=args.rounds or (3 if quick else 15),
            batch=20 if quick else 2000,
            max_sample_ns=(5 if quick else 60) * 1_000_000,
            stream=20 if quick else 1000,
            cold_calls=2 if quick else 20,
            thread_quotes=20 if quick else 400,
            process_repeats=args.process_repeats or (2 if quick else 15),
            scan_files=args.scan_files or (300 if quick else bench_scan.DEFAULT_FILES),
            platform_files=args.platform_files
            or (200 if quick else bench_scan.DEFAULT_PLATFORM_FILES),
            platforms=args.platforms or (20 if quick else bench_scan.DEFAULT_PLATFORMS),
            scan_repeats=args.scan_repeats or (1 if quick else 3),
            clock=args.clock,
        )


# --- measuring, in the row's own process ------------------------------------------------------


def _spread(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p10": timing.percentile(ordered, 10),
        "p90": timing.percentile(ordered, 90),
    }


def _interleaved(
    ours: Callable[[Any], object],
    ours_arg: Any,
    theirs: Callable[[Any], object] | None,
    theirs_arg: Any,
    settings: Settings,
) -> dict[str, Any]:
    """Per-call µs of ``ours(arg)`` and ``theirs(arg)``, interleaved, with the paired ratio."""
    cases = [timing.Case("ours", "tdxquote", ours, (ours_arg,))]
    if theirs is not None:
        cases.append(timing.Case("theirs", "dcap-qvl", theirs, (theirs_arg,)))
    results = timing.run_interleaved(
        cases,
        samples=settings.rounds,
        batch=settings.batch,
        max_sample_ns=settings.max_sample_ns,
        clock=settings.clock,
    )
    for result in results.values():
        if result.error:
            raise RuntimeError(f"{result.case.label}: {result.error}")
    out: dict[str, Any] = {"ours_us": _spread([ns / 1000 for ns in results["ours"].samples_ns])}
    if theirs is not None:
        out["theirs_us"] = _spread([ns / 1000 for ns in results["theirs"].samples_ns])
        out["pairs"] = list(
            zip(results["ours"].samples_ns, results["theirs"].samples_ns, strict=True)
        )
    return out


def _with_ratio(measured: dict[str, Any], goal: Goal) -> dict[str, Any]:
    pairs = measured.pop("pairs", None)
    if pairs:
        if goal.kind == "speed":
            measured["ratio"] = _spread([theirs / ours for ours, theirs in pairs])
        else:
            measured["ratio"] = _spread([ours / theirs for ours, theirs in pairs])
    return measured


def _vectors() -> Path:
    return timing.require_vectors([V4_QUOTE, V4_COLLATERAL, V3_QUOTE])


def _forged_stream(count: int) -> tuple[list[bytes], str, int, bytes]:
    """``count`` distinct v4 quotes of one synthetic platform: quotes, collateral JSON,
    time, root certificate (DER)."""
    from tdxquote.testing.forge import QuoteForge, td_report

    forge = QuoteForge.create(seed=b"tdxquote bench_all")
    quotes = [
        forge.quote(td_report(2, report_data=b"bench" + index.to_bytes(8, "big"))).to_bytes()
        for index in range(count)
    ]
    scenario = forge.scenario(forge.quote(td_report(2)))
    return quotes, scenario.collateral_json(), scenario.now_timestamp, scenario.trust_root_der


def _cycling(
    func: Callable[..., object], items: Sequence[Any], *args: Any
) -> Callable[[Any], object]:
    stream = cycle(items)

    def call(_: object) -> object:
        return func(next(stream), *args)

    return call


def measure_call_row(key: str, settings: Settings, dcap_qvl: Any) -> dict[str, Any]:
    """Measure one per-call row (this runs in the row's fresh process)."""
    import tdxquote

    goal = next(row.goal for row in ROWS if row.key == key)
    vectors = _vectors()
    raw = (vectors / V4_QUOTE).read_bytes()
    collateral_json = (vectors / V4_COLLATERAL).read_text()
    if key == "verify-oneshot":
        collateral = tdxquote.Collateral.from_json(collateral_json)
        theirs = None
        if dcap_qvl is not None:
            dcap_collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_json)

            def theirs(quote: bytes) -> object:
                return dcap_qvl.verify(quote, dcap_collateral, V4_NOW)

        def ours(quote: bytes) -> object:
            return tdxquote.verify(quote, collateral, now=V4_NOW)

        return _with_ratio(_interleaved(ours, raw, theirs, raw, settings), goal)
    if key == "verifier-reused":
        quotes, forged_json, now, root = _forged_stream(settings.stream)
        verifier = tdxquote.Verifier(trust_root=root)
        collateral = tdxquote.Collateral.from_json(forged_json)
        ours_call = _cycling(lambda q: verifier.verify(q, collateral, now=now), quotes)
        theirs_call = None
        if dcap_qvl is not None:
            dcap_collateral = dcap_qvl.QuoteCollateralV3.from_json(forged_json)
            theirs_call = _cycling(dcap_qvl.verify_with_root_ca, quotes, dcap_collateral, root, now)
        return _with_ratio(_interleaved(ours_call, None, theirs_call, None, settings), goal)
    if key == "verify-cold":
        return _with_ratio(_cold(raw, collateral_json, settings, dcap_qvl), goal)
    if key == "from-json":
        theirs = None if dcap_qvl is None else dcap_qvl.QuoteCollateralV3.from_json
        measured = _interleaved(
            tdxquote.Collateral.from_json, collateral_json, theirs, collateral_json, settings
        )
        measured.pop("pairs", None)  # dcap-qvl parses the inner documents inside verify
        measured["theirs_note"] = "(inside verify)"
        return measured
    if key in ("parse-v4", "parse-v3"):
        data = raw if key == "parse-v4" else (vectors / V3_QUOTE).read_bytes()
        ours_fields, theirs_fields = _eight_fields(dcap_qvl, tdx=key == "parse-v4")
        return _with_ratio(_interleaved(ours_fields, data, theirs_fields, data, settings), goal)
    if key == "threads":
        return _threads(settings, dcap_qvl)
    raise ValueError(f"not a per-call row: {key}")


def _eight_fields(
    dcap_qvl: Any, *, tdx: bool
) -> tuple[Callable[[bytes], object], Callable[[bytes], object] | None]:
    """Parse, then read the same 8 fields through each library's API.

    TDX: version, TEE type, report data, MRTD, RTMR0-3.  SGX: version, TEE type,
    QE vendor ID, report data, MRENCLAVE, MRSIGNER, attributes, CPUSVN.
    """
    from tdxquote import parse_quote

    if tdx:

        def ours(raw: bytes) -> object:
            quote = parse_quote(raw)
            body = quote.body
            return (
                quote.version,
                quote.tee_type,
                body.report_data,
                body.mr_td,  # type: ignore[union-attr]
                body.rtmr0,  # type: ignore[union-attr]
                body.rtmr1,  # type: ignore[union-attr]
                body.rtmr2,  # type: ignore[union-attr]
                body.rtmr3,  # type: ignore[union-attr]
            )

    else:

        def ours(raw: bytes) -> object:
            quote = parse_quote(raw)
            body = quote.body
            return (
                quote.version,
                quote.tee_type,
                quote.qe_vendor_id,
                body.report_data,
                body.mr_enclave,  # type: ignore[union-attr]
                body.mr_signer,  # type: ignore[union-attr]
                body.attributes,  # type: ignore[union-attr]
                body.cpu_svn,  # type: ignore[union-attr]
            )

    if dcap_qvl is None:
        return ours, None
    parse = dcap_qvl.parse_quote
    if tdx:

        def theirs(raw: bytes) -> object:
            quote = parse(raw)
            header, report = quote.header, quote.report
            return (
                header.version,
                header.tee_type,
                report.report_data,
                report.mr_td,
                report.rt_mr0,
                report.rt_mr1,
                report.rt_mr2,
                report.rt_mr3,
            )

    else:

        def theirs(raw: bytes) -> object:
            quote = parse(raw)
            header, report = quote.header, quote.report
            return (
                header.version,
                header.tee_type,
                header.qe_vendor_id,
                report.report_data,
                report.mr_enclave,
                report.mr_signer,
                report.attributes,
                report.cpu_svn,
            )

    return ours, theirs


def _cold(raw: bytes, collateral_json: str, settings: Settings, dcap_qvl: Any) -> dict[str, Any]:
    """A new Verifier and a new Collateral object (parsed before the clock starts) per call.

    tdxquote's caches of decoded PCK chains and extensions are emptied too, where
    the checkout has them; dcap-qvl keeps nothing between calls.
    """
    import importlib

    import tdxquote

    clearers = []
    for module_name, name in (
        ("tdxquote._pem_chain", "clear_decoded_chains"),
        ("tdxquote.pck", "clear_parsed_extensions"),
    ):
        clear = getattr(importlib.import_module(module_name), name, None)
        if callable(clear):
            clearers.append(clear)
    read = timing.CLOCKS[settings.clock]
    calls = settings.cold_calls
    ours_ns: list[float] = []
    theirs_ns: list[float] = []
    # Warm-up: imports, lazily built tables.
    tdxquote.Verifier().verify(raw, tdxquote.Collateral.from_json(collateral_json), now=V4_NOW)
    for round_index in range(settings.rounds):
        fresh = [tdxquote.Collateral.from_json(collateral_json) for _ in range(calls)]
        order = ("ours", "theirs") if round_index % 2 == 0 else ("theirs", "ours")
        for side in order:
            if side == "ours":
                start = read()
                for collateral in fresh:
                    for clear in clearers:
                        clear()
                    tdxquote.Verifier().verify(raw, collateral, now=V4_NOW)
                ours_ns.append((read() - start) / calls)
            elif dcap_qvl is not None:
                theirs_fresh = [
                    dcap_qvl.QuoteCollateralV3.from_json(collateral_json) for _ in range(calls)
                ]
                start = read()
                for collateral in theirs_fresh:
                    dcap_qvl.verify(raw, collateral, V4_NOW)
                theirs_ns.append((read() - start) / calls)
    out: dict[str, Any] = {"ours_us": _spread([ns / 1000 for ns in ours_ns])}
    if theirs_ns:
        out["theirs_us"] = _spread([ns / 1000 for ns in theirs_ns])
        out["pairs"] = list(zip(ours_ns, theirs_ns, strict=True))
    return out


def _threads(settings: Settings, dcap_qvl: Any) -> dict[str, Any]:
    """Throughput of 2 threads against 1, each thread verifying its own distinct quotes."""
    import tdxquote

    quotes, forged_json, now, root = _forged_stream(2 * settings.thread_quotes)
    verifier = tdxquote.Verifier(trust_root=root)
    collateral = tdxquote.Collateral.from_json(forged_json)

    def ours(batch: Sequence[bytes]) -> None:
        for quote in batch:
            verifier.verify(quote, collateral, now=now)

    sides: dict[str, Callable[[Sequence[bytes]], None]] = {"ours": ours}
    if dcap_qvl is not None:
        dcap_collateral = dcap_qvl.QuoteCollateralV3.from_json(forged_json)

        def theirs(batch: Sequence[bytes]) -> None:
            for quote in batch:
                dcap_qvl.verify_with_root_ca(quote, dcap_collateral, root, now)

        sides["theirs"] = theirs
    half = settings.thread_quotes
    first, second = quotes[:half], quotes[half:]
    for run in sides.values():  # warm-up
        run(first[:5])
    speedups: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(settings.rounds):
        for side, run in sides.items():
            start = time.perf_counter()
            run(first)
            one = time.perf_counter() - start  # one thread: `half` quotes
            workers = [threading.Thread(target=run, args=(part,)) for part in (first, second)]
            start = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            two = time.perf_counter() - start  # two threads: 2 * `half` quotes
            speedups[side].append(2 * one / two)
    out: dict[str, Any] = {
        "ours_text": f"{statistics.median(speedups['ours']):.2f}x",
        "ratio": _spread(speedups["ours"]),
    }
    if "theirs" in speedups:
        out["theirs_text"] = f"{statistics.median(speedups['theirs']):.2f}x"
    return out


# --- rows measured from here: whole processes and scans ---------------------------------------

# A three-line dcap-qvl script: what `tdxquote --help` and `tdxquote parse FILE` start against.
_DCAP_THREE_LINES = (
    "import sys, dcap_qvl\n"
    "quote = dcap_qvl.parse_quote(open(sys.argv[1], 'rb').read())\n"
    "print(quote.header.version, quote.report.report_data.hex(), quote.fmspc())\n"
)
_PROCESS_CODE = {
    "process-import": ("import tdxquote", "import dcap_qvl"),
    "process-help": (
        "import sys; sys.argv[1:] = ['--help']\nimport runpy\n"
        "runpy.run_module('tdxquote', run_name='__main__')",
        _DCAP_THREE_LINES,
    ),
    "process-parse": (
        "import sys; sys.argv[1:] = ['parse', sys.argv[1]]\nimport runpy\n"
        "runpy.run_module('tdxquote', run_name='__main__')",
        _DCAP_THREE_LINES,
    ),
    "process-verify": (
        "import sys, tdxquote\n"
        "quote = open(sys.argv[1], 'rb').read()\n"
        "collateral = tdxquote.Collateral.from_json(open(sys.argv[2]).read())\n"
        "tdxquote.verify(quote, collateral, now=int(sys.argv[3]))\n",
        "import sys, dcap_qvl\n"
        "quote = open(sys.argv[1], 'rb').read()\n"
        "collateral = dcap_qvl.QuoteCollateralV3.from_json(open(sys.argv[2]).read())\n"
        "dcap_qvl.verify(quote, collateral, int(sys.argv[3]))\n",
    ),
}


def measure_process_row(key: str, settings: Settings, dcap_qvl: Any) -> dict[str, Any]:
    """Start each interpreter in turn, ``process_repeats`` times; time per process."""
    vectors = _vectors()
    args = [str(vectors / V4_QUOTE), str(vectors / V4_COLLATERAL), str(V4_NOW)]
    env = bench_scan.child_env()
    commands = {"ours": [sys.executable, "-c", _PROCESS_CODE[key][0], *args]}
    if dcap_qvl is not None:
        commands["theirs"] = [sys.executable, "-c", _PROCESS_CODE[key][1], *args]
    commands["bare"] = [sys.executable, "-c", "pass"]

    def run(command: list[str]) -> float:
        # Wall time, or with --clock thread the child's CPU time (user + system), which
        # leaves out the time other processes hold the CPU on a busy machine.
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return (cpu if settings.clock == "thread" else wall) * 1e6

    for command in commands.values():  # warm-up: bytecode cache, page cache
        run(command)
    times: dict[str, list[float]] = {side: [] for side in commands}
    for index in range(settings.process_repeats):
        order = list(commands)
        shift = index % len(order)
        for side in order[shift:] + order[:shift]:
            times[side].append(run(commands[side]))
    goal = next(row.goal for row in ROWS if row.key == key)
    out: dict[str, Any] = {
        "ours_us": _spread(times["ours"]),
        "bare_us": _spread(times["bare"]),
    }
    if "theirs" in times:
        out["theirs_us"] = _spread(times["theirs"])
        out["pairs"] = list(zip(times["ours"], times["theirs"], strict=True))
    return _with_ratio(out, goal)


def measure_scan_rows(settings: Settings, dcap_qvl: Any) -> dict[str, dict[str, Any]]:
    """The three scan rows, from one set of interleaved scans in fresh processes."""
    found = bench_scan.measure(
        files=settings.scan_files,
        platform_files=settings.platform_files,
        platforms=settings.platforms,
        repeats=settings.scan_repeats,
        fresh=False,
        dcap_qvl=dcap_qvl is not None,
    )
    rates = found["rates"]

    def rate(key: str) -> str | None:
        return None if rates[key] is None else f"{rates[key]['median']:,.0f} files/s"

    n = found["platforms"]
    return {
        "scan-jobs1": {
            "ours_text": rate("j1"),
            "theirs_text": rate("dcap"),
            "ratio": found["j1_vs_dcap"],
            "detail": f"{found['files']:,} files",
        },
        "scan-jobs2": {
            "ours_text": rate("j2"),
            "theirs_text": None,
            "ratio": found["j2_vs_j1"],
            "detail": f"{found['files']:,} files; --jobs 1: {rate('j1')}",
        },
        "scan-platforms": {
            "ours_text": f"{rate('many')} ({n:,} platforms)",
            "theirs_text": None,
            "ratio": found["many_vs_one_time"],
            "detail": f"{found['platform_files']:,} files; one platform: {rate('one')}",
        },
    }


# --- the run ---------------------------------------------------------------------------------


def _spin(count: int) -> int:
    total = 0
    for index in range(count):
        total += index
    return total


def parallel_headroom(count: int = 5_000_000) -> float:
    """How much faster two CPU-bound processes finish two tasks than one process does.

    2.0 means two free cores; on a machine shared with other work it says what the
    ``--jobs 2`` and two-thread rows can show at most.
    """
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(_spin, [1, 1]))  # start both workers
        start = time.perf_counter()
        _spin(count)
        _spin(count)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(_spin, [count, count]))
        parallel = time.perf_counter() - start
    return serial / parallel


def _load_dcap_qvl() -> Any:
    try:
        import dcap_qvl
    except ImportError:
        return None
    return dcap_qvl


def _row_in_child(key: str, argv: Sequence[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--row", key, *argv],
        capture_output=True,
        env=bench_scan.child_env(),
        check=False,
        timeout=900,
    )
    if done.returncode != 0:
        return {"error": done.stderr.decode().strip().splitlines()[-1:] or ["failed"]}
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _status(row: Row, measured: dict[str, Any]) -> tuple[str, float | None]:
    if "error" in measured:
        return "error", None
    if row.goal.kind == "us":
        value = measured["ours_us"]["median"]
    elif measured.get("ratio"):
        value = measured["ratio"]["median"]
    else:
        return "unknown", None
    attained = row.goal.attainment(value)
    return ("met" if attained >= 1 else "missed"), attained


def _fmt_us(spread: dict[str, float] | None) -> str:
    if spread is None:
        return "n/a"
    value = spread["median"]
    if value >= 10_000:
        return f"{value / 1000:,.1f} ms"
    if value >= 100:
        return f"{value:,.0f} µs"
    return f"{value:.2f} µs" if value < 10 else f"{value:.1f} µs"


def _cells(row: Row, measured: dict[str, Any]) -> list[str]:
    if "error" in measured:
        return [row.what, "error", "", "", row.goal.text(), "error: " + " ".join(measured["error"])]
    ours = measured.get("ours_text") or _fmt_us(measured.get("ours_us"))
    theirs = measured.get("theirs_text") or measured.get("theirs_note")
    if theirs is None:
        theirs = _fmt_us(measured["theirs_us"]) if measured.get("theirs_us") else "n/a"
    ratio = measured.get("ratio")
    unit = "the speed" if row.goal.kind == "speed" else "the time"
    ratio_text = "" if not ratio else f"{ratio['median']:.2f}x {unit}"
    if ratio and ratio["p10"] != ratio["p90"]:
        ratio_text += f" ({ratio['p10']:.2f}-{ratio['p90']:.2f})"
    status, _ = _status(row, measured)
    what = row.what if not measured.get("detail") else f"{row.what}; {measured['detail']}"
    return [what, ours, theirs, ratio_text, row.goal.text(), status]


def render(results: dict[str, dict[str, Any]], header: list[str]) -> str:
    """The Markdown report."""
    table = [_cells(row, results[row.key]) for row in ROWS if row.key in results]
    lines = [
        *header,
        "",
        timing.markdown_table(
            ["what", "tdxquote", "dcap-qvl", "ratio", "goal", "met/missed"], table
        ),
    ]
    bare = next((value["bare_us"] for value in results.values() if "bare_us" in value), None)
    if bare:
        lines.append("")
        lines.append(f"A bare `python -c pass` takes {_fmt_us(bare)} here (in the process rows).")
    return "\n".join(lines)


def write_chart(results: dict[str, dict[str, Any]], path: str) -> None:
    """Each goal's attainment (measured against goal; right of 1: met), one bar per row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    shown = []
    for row in ROWS:
        if row.key not in results:
            continue
        status, attained = _status(row, results[row.key])
        if attained is not None:
            shown.append((row, status, attained, _cells(row, results[row.key])[3]))
    figure, axis = plt.subplots(figsize=(12, 0.5 * len(shown) + 1.6))
    y = list(range(len(shown)))
    colors = ["#2f855a" if status == "met" else "#c53030" for _, status, _, _ in shown]
    values = [attained for _, _, attained, _ in shown]
    axis.barh(y, values, color=colors, height=0.6)
    axis.axvline(1.0, color="black", linewidth=1)
    for index, (row, _, attained, ratio) in enumerate(shown):
        label = ratio.split(" (")[0] if ratio else _fmt_us(results[row.key]["ours_us"])
        axis.text(
            attained * 1.05, index, f"{label} (goal {row.goal.text()})", va="center", fontsize=7
        )
    labels = [textwrap.fill(row.what.replace("`", ""), 48) for row, _, _, _ in shown]
    axis.set_yticks(y, labels, fontsize=7)
    axis.invert_yaxis()
    axis.set_xscale("log")
    axis.set_xlim(min([*values, 1.0]) / 1.5, max([*values, 1.0]) * 6)
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    axis.xaxis.set_major_formatter(plain)
    axis.xaxis.set_minor_formatter(plain)
    axis.set_xlabel("measured / goal (log scale; right of the line: goal met)")
    axis.set_title("tdxquote against dcap-qvl 0.7.0: each goal of the performance table")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per per-call row")
    parser.add_argument("--process-repeats", type=int, help="runs of each whole-process row")
    parser.add_argument("--scan-files", type=int, help="mixed scan corpus size (100,000)")
    parser.add_argument("--platform-files", type=int, help="platform corpora size (50,000)")
    parser.add_argument("--platforms", type=int, help="interleaved platforms (1,000)")
    parser.add_argument("--scan-repeats", type=int, help="interleaved scan rounds (3)")
    parser.add_argument("--out", help="folder for the generated corpora (benchmarks/out)")
    parser.add_argument("--chart", default=str(CHART), help="the PNG to write ('' for none)")
    parser.add_argument("--rows", help="comma-separated row keys (default: every row)")
    parser.add_argument(
        "--clock",
        choices=sorted(timing.CLOCKS),
        default="perf",
        help="per-call rows: perf (wall time, default) or thread (CPU time of the thread)",
    )
    parser.add_argument("--save", metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--replot", metavar="FILE", help="measure nothing: print and draw the results saved"
    )
    parser.add_argument("--row", help=argparse.SUPPRESS)  # internal: measure one row here
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run every row (each per-call row in a fresh process); print the table; draw the chart."""
    args = _parser().parse_args(argv)
    if args.out:
        bench_scan.OUT = Path(args.out).resolve()
    settings = Settings.of(args)
    dcap_qvl = _load_dcap_qvl()
    if args.row:  # the child's side
        print(json.dumps(measure_call_row(args.row, settings, dcap_qvl)))
        return 0
    if args.replot:
        saved = json.loads(Path(args.replot).read_text(encoding="utf-8"))
        if args.chart:
            write_chart(saved["rows"], args.chart)
        print(render(saved["rows"], saved["header"]))
        return 0
    wanted = set(args.rows.split(",")) if args.rows else {row.key for row in ROWS}
    unknown = wanted - {row.key for row in ROWS}
    if unknown:
        raise SystemExit(f"error: unknown rows: {', '.join(sorted(unknown))}")
    _vectors()
    passed = list(argv if argv is not None else sys.argv[1:])
    child_args = [a for a in passed if a not in ("--json",)]
    machine = timing.machine_info(["dcap-qvl", "cryptography", "construct"])
    machine["checkout"] = timing.checkout_state()
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for row in ROWS:
        if row.key not in wanted:
            continue
        if row.group == "call":
            results[row.key] = _row_in_child(row.key, child_args)
        elif row.group == "process":
            results[row.key] = measure_process_row(row.key, settings, dcap_qvl)
    headroom = [parallel_headroom()]  # next to the rows that need two cores
    if wanted & {row.key for row in ROWS if row.group == "scan"}:
        for key, value in measure_scan_rows(settings, dcap_qvl).items():
            if key in wanted:
                results[key] = value
    machine["load_average_at_end"] = timing.load_average()
    headroom.append(parallel_headroom())
    header = [
        "# tdxquote against dcap-qvl: the performance table",
        "",
        *timing.machine_lines(machine),
        f"Checkout: {machine['checkout'] or 'not a git checkout'}",
        f"Command:  python benchmarks/bench_all.py {' '.join(passed)}".rstrip(),
        f"Took:     {time.perf_counter() - started:.0f} s; per-call rows: {settings.rounds} "
        f"interleaved rounds ({timing.CLOCK_NAMES[settings.clock]}), each row in a fresh "
        f"process; whole-process rows: {settings.process_repeats} runs each, median "
        f"({'CPU time of the child' if settings.clock == 'thread' else 'wall time'})",
    ]
    header.append(
        "Parallel: two CPU-bound processes finished "
        + " and ".join(f"{value:.2f}x" for value in headroom)
        + " as fast as one, before and after the scans (2.00x: two free cores; the "
        "`--jobs 2` and thread rows can show no more)"
    )
    if dcap_qvl is None:
        header.append("NOTE: dcap-qvl is not installed: its columns and the ratios are missing")
    if args.chart:
        try:
            write_chart(results, args.chart)
        except ImportError:
            header.append("NOTE: no chart: matplotlib is not installed (pip install -e '.[plot]')")
    if args.save:
        Path(args.save).write_text(
            json.dumps({"header": header, "rows": results}, indent=2, default=str),
            encoding="utf-8",
        )
    if args.json:
        print(
            json.dumps(
                {"machine": machine, "settings": vars(settings), "rows": results},
                indent=2,
                default=str,
            )
        )
    else:
        print(render(results, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
