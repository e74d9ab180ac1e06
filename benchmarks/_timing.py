"""Timing helpers shared by the tdxquote benchmarks (parse, verify, scan).

The method: every case is timed in batches of calls with
:func:`time.perf_counter_ns` and the garbage collector paused during a batch
(as :mod:`timeit` does); one sample is one batch divided by its size.  The
cases of one comparison run interleaved: each round takes one sample of every
case, in an order rotated from round to round, so that drift of the machine
(frequency, other load) hits every case alike.  Results are medians with
p10-p90 and interquartile spreads, and ratios between cases are also taken
round by round, so each ratio compares samples taken moments apart.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "REPO_ROOT",
    "Case",
    "Result",
    "Stats",
    "CLOCKS",
    "CLOCK_NAMES",
    "add_common_arguments",
    "checkout_state",
    "fmt_rate",
    "fmt_ratio",
    "fmt_us",
    "load_average",
    "loop_overhead_ns",
    "machine_info",
    "machine_lines",
    "markdown_table",
    "paired_ratio",
    "progress_printer",
    "require_vectors",
    "run_interleaved",
    "samples_and_batch",
    "summarize",
    "use_repo_checkout",
    "vectors_dir",
]

REPO_ROOT = Path(__file__).resolve().parent.parent


def use_repo_checkout() -> None:
    """Import ``tdxquote`` from this checkout (ahead of any installed copy)."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


# The clocks, percentile and table are tdxquote's own (``tdxquote bench`` uses them too).
use_repo_checkout()
from tdxquote._timing import CLOCKS, markdown_table_lines, percentile  # noqa: E402

DEFAULT_BATCH = 2_000
DEFAULT_SAMPLES = 31
QUICK_BATCH = 200
QUICK_SAMPLES = 9
# A batch is shortened for slow cases so one sample never takes much longer than this.
DEFAULT_MAX_SAMPLE_NS = 250_000_000


def vectors_dir() -> Path | None:
    """The shared real-world vectors: ``$TDXQUOTE_VECTORS`` or ``../shared/vectors``."""
    configured = os.environ.get("TDXQUOTE_VECTORS")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "vectors"
    return candidate if candidate.is_dir() else None


def require_vectors(relative_paths: Iterable[str]) -> Path:
    """The vectors folder, or exit with a clear message when it or a file is missing."""
    found = vectors_dir()
    if found is None:
        where = os.environ.get("TDXQUOTE_VECTORS") or str(REPO_ROOT.parent / "shared" / "vectors")
        raise SystemExit(
            f"error: the shared vectors folder was not found ({where}).\n"
            "Set TDXQUOTE_VECTORS to the vectors folder, or place it at ../shared/vectors "
            "beside the repository."
        )
    missing = [path for path in relative_paths if not (found / path).is_file()]
    if missing:
        raise SystemExit(f"error: missing vector file(s) under {found}: {', '.join(missing)}")
    return found


@dataclass(frozen=True)
class Case:
    """One thing to time: ``func(*args)`` called ``batch`` times per sample.

    ``key`` names the case in JSON output, ``label`` in tables.  ``batch``
    overrides the run's batch size for this case.
    """

    key: str
    label: str
    func: Callable[..., object]
    args: tuple[object, ...] = ()
    batch: int | None = None


@dataclass(frozen=True)
class Stats:
    """Summary of the per-call times of one case, in nanoseconds."""

    samples: int
    batch: int
    median_ns: float
    p10_ns: float
    p25_ns: float
    p75_ns: float
    p90_ns: float

    @property
    def per_second(self) -> float:
        """Calls per second at the median time."""
        return 1e9 / self.median_ns if self.median_ns > 0 else float("inf")

    @property
    def iqr_ns(self) -> float:
        """Interquartile range (p75 - p25)."""
        return self.p75_ns - self.p25_ns

    def to_json(self) -> dict[str, float | int]:
        """A JSON-ready dict (times in nanoseconds per call)."""
        return {
            "samples": self.samples,
            "batch": self.batch,
            "median_ns": round(self.median_ns, 1),
            "p10_ns": round(self.p10_ns, 1),
            "p25_ns": round(self.p25_ns, 1),
            "p75_ns": round(self.p75_ns, 1),
            "p90_ns": round(self.p90_ns, 1),
            "iqr_ns": round(self.iqr_ns, 1),
            "per_second": round(self.per_second, 1),
        }


@dataclass
class Result:
    """The samples of one case (nanoseconds per call, in round order) or its error."""

    case: Case
    batch: int
    samples_ns: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def stats(self) -> Stats | None:
        """The summary, or None when the case failed."""
        if self.error is not None or not self.samples_ns:
            return None
        return summarize(self.samples_ns, self.batch)


def summarize(samples_ns: Sequence[float], batch: int) -> Stats:
    """Median and spread of per-call samples."""
    ordered = sorted(samples_ns)
    return Stats(
        samples=len(ordered),
        batch=batch,
        median_ns=percentile(ordered, 50),
        p10_ns=percentile(ordered, 10),
        p25_ns=percentile(ordered, 25),
        p75_ns=percentile(ordered, 75),
        p90_ns=percentile(ordered, 90),
    )


def paired_ratio(numerator: Result, denominator: Result) -> tuple[float, float, float] | None:
    """(median, p10, p90) of the round-by-round ratio numerator / denominator."""
    if numerator.error or denominator.error:
        return None
    ratios = sorted(
        a / b for a, b in zip(numerator.samples_ns, denominator.samples_ns, strict=False) if b
    )
    if not ratios:
        return None
    return (percentile(ratios, 50), percentile(ratios, 10), percentile(ratios, 90))


CLOCK_NAMES = {
    "perf": "time.perf_counter_ns (wall time)",
    "thread": "time.thread_time_ns (CPU time of the benchmark thread)",
}


def _time_batch(case: Case, calls: int, clock: Callable[[], int] = time.perf_counter_ns) -> int:
    func = case.func
    args = case.args
    repeat = itertools.repeat(None, calls)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        if len(args) == 1:
            (arg,) = args
            start = clock()
            for _ in repeat:
                func(arg)
            end = clock()
        else:
            start = clock()
            for _ in repeat:
                func(*args)
            end = clock()
    finally:
        if gc_was_enabled:
            gc.enable()
    return end - start


def _calibrated_batch(case: Case, batch: int, max_sample_ns: int) -> int:
    """Run ``case`` a little (warm-up) and shorten ``batch`` if a sample would be too long."""
    wanted = case.batch or batch
    probe = max(1, min(wanted // 10, 200))
    _time_batch(case, probe)
    per_call = max(1.0, _time_batch(case, probe) / probe)
    return max(1, min(wanted, int(max_sample_ns / per_call)))


def run_interleaved(
    cases: Sequence[Case],
    *,
    samples: int = DEFAULT_SAMPLES,
    batch: int = DEFAULT_BATCH,
    max_sample_ns: int = DEFAULT_MAX_SAMPLE_NS,
    clock: str = "perf",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Result]:
    """Time ``cases`` in ``samples`` interleaved rounds; returns results keyed by case key.

    ``clock`` is ``"perf"`` (:func:`time.perf_counter_ns`, wall time) or
    ``"thread"`` (:func:`time.thread_time_ns`, the CPU time of this thread,
    which leaves out the time other processes hold the CPU on a busy machine).
    A case that raises during its warm-up is recorded with its error and left
    out of the rounds; the others still run.
    """
    read_clock = CLOCKS[clock]
    results: dict[str, Result] = {}
    live: list[Case] = []
    for case in cases:
        try:
            size = _calibrated_batch(case, batch, max_sample_ns)
        except Exception as exc:
            results[case.key] = Result(case, 0, error=f"{type(exc).__name__}: {exc}")
            continue
        results[case.key] = Result(case, size)
        live.append(case)
    for round_index in range(samples):
        shift = round_index % len(live) if live else 0
        for case in live[shift:] + live[:shift]:
            result = results[case.key]
            result.samples_ns.append(_time_batch(case, result.batch, read_clock) / result.batch)
        if progress is not None:
            progress(round_index + 1, samples)
    return results


def progress_printer(label: str) -> Callable[[int, int], None] | None:
    """A progress callback that rewrites one stderr line, or None when stderr is no terminal."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        end = "\n" if done == total else ""
        print(f"\r{label}: round {done}/{total}", end=end, file=sys.stderr, flush=True)

    return show


def _noop(_arg: object) -> None:
    return None


def loop_overhead_ns(
    batch: int = DEFAULT_BATCH, samples: int = DEFAULT_SAMPLES, clock: str = "perf"
) -> float:
    """Median per-call cost of the timing loop itself (a call to a Python no-op)."""
    case = Case("noop", "no-op", _noop, (None,))
    result = run_interleaved([case], samples=samples, batch=batch, clock=clock)["noop"]
    stats = result.stats
    return stats.median_ns if stats else 0.0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def checkout_state(paths: Sequence[str] = ("tdxquote",)) -> str:
    """The checkout's commit, and whether ``paths`` differ from it ("" outside git)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", *paths)
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{head}, with uncommitted changes" if dirty else head


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the OS reports them."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info(distributions: Iterable[str] = ()) -> dict[str, Any]:
    """CPU, Python and package versions, for the header of every benchmark."""
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "load_average_at_start": load_average(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "packages": {name: _version_of(name) for name in distributions},
    }


def machine_lines(info: Mapping[str, Any]) -> list[str]:
    """``machine_info`` as human-readable lines."""
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    lines = [
        f"CPU:      {info['cpu']} ({info['logical_cpus']} logical CPUs)",
        f"Python:   {info['python']} on {info['platform']}",
    ]
    if packages:
        lines.append(f"Packages: {packages}")
    for moment in ("start", "end"):
        load = info.get(f"load_average_at_{moment}")
        if load is not None:
            lines.append(f"Load:     {' / '.join(map(str, load))} (1/5/15 min) at {moment}")
    return lines


def fmt_us(ns: float) -> str:
    """Nanoseconds as microseconds with three significant figures or so."""
    us = ns / 1000
    if us < 10:
        return f"{us:.2f}"
    if us < 100:
        return f"{us:.1f}"
    return f"{us:,.0f}"


def fmt_rate(per_second: float) -> str:
    """Calls per second with thousands separators."""
    return f"{per_second:,.0f}"


def fmt_ratio(ratio: Sequence[float] | None) -> str:
    """A paired ratio as ``median (p10-p90)``."""
    if ratio is None:
        return "n/a"
    median, low, high = ratio
    return f"{median:.2f} ({low:.2f}-{high:.2f})"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table, padded to line up in a terminal too.

    Columns after the first are right-aligned (they hold numbers).
    """
    return "\n".join(markdown_table_lines(headers, rows))


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--quick``, ``--json``, ``--samples`` and ``--batch``, as every benchmark takes them."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fast, rough run ({QUICK_SAMPLES} samples of {QUICK_BATCH} calls)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--samples", type=int, help=f"samples (rounds) per case (default {DEFAULT_SAMPLES})"
    )
    parser.add_argument("--batch", type=int, help=f"calls per sample (default {DEFAULT_BATCH})")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="perf",
        help="perf: time.perf_counter_ns, wall time (default); thread: time.thread_time_ns, "
        "CPU time of the benchmark thread, for a machine busy with other work",
    )


def samples_and_batch(args: argparse.Namespace) -> tuple[int, int]:
    """The samples and batch size chosen by ``--quick``, ``--samples`` and ``--batch``."""
    samples = args.samples or (QUICK_SAMPLES if args.quick else DEFAULT_SAMPLES)
    batch = args.batch or (QUICK_BATCH if args.quick else DEFAULT_BATCH)
    if samples < 1 or batch < 1:
        raise SystemExit("error: --samples and --batch must be at least 1")
    return samples, batch
