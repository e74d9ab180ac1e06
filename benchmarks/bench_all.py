"""The whole comparison in one command: parse, verify and scan, one table, one chart.

Runs, in this order and in one process (the scans in child processes):

* ``bench_parse``: validated parse and full materialization against dcap-qvl,
  for v3, v4 and v5 (the parse goal);
* ``bench_verify``: cold and warm verification against dcap-qvl (the
  verification goals);
* ``bench_scan``: ``tdxquote scan`` over a 100,000-file corpus with 1 and 2
  processes, and its peak memory by corpus size (the scan goals).

It prints one Markdown report (the tables and every goal, met or missed,
with the measured ratio) and, when matplotlib is installed
(``pip install -e '.[plot]'``), draws ``docs/performance.png``.

    python benchmarks/bench_all.py                    # the full run (several minutes)
    python benchmarks/bench_all.py --quick --scan-files 5000 --chart benchmarks/out/chart.png
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _timing as timing

timing.use_repo_checkout()

import bench_parse  # noqa: E402
import bench_scan  # noqa: E402
import bench_verify  # noqa: E402

import tdxquote  # noqa: E402
from tdxquote._cli import bench  # noqa: E402

CHART = timing.REPO_ROOT / "docs" / "performance.png"


def _us(stats: dict[str, float] | None) -> dict[str, float] | None:
    if stats is None:
        return None
    return {q: round(stats[f"{q}_ns"] / 1000, 3) for q in ("median", "p10", "p90")}


def parse_rows(args: argparse.Namespace, dcap_qvl: Any) -> list[dict[str, Any]]:
    """bench_parse's validated-parse and materialization rows, as report rows."""
    samples, batch = timing.samples_and_batch(args)
    vectors = timing.require_vectors(kind.path for kind in bench_parse.KINDS)
    rows = []
    for kind in bench_parse.KINDS:
        raw = Path(vectors / kind.path).read_bytes()
        result = bench_parse.bench_kind(
            kind,
            raw,
            dcap_qvl,
            samples=samples,
            batch=batch,
            clock=args.clock,
            show_progress=not args.json,
        )
        by_key = {row["key"]: row for row in result["rows"]}
        for key, baseline, label, goal in (
            ("validated", "dcap_parse", "validated parse vs parse_quote", "parse"),
            ("materialize", "dcap_fields", "full materialization vs parse_quote + fields", None),
        ):
            ours, theirs = by_key[key], by_key.get(baseline)
            ratio = ours.get("ratio")
            least = bench.GOALS[goal][1] if goal else None
            rows.append(
                {
                    "section": "parse",
                    "key": f"{key}-{kind.key}",
                    "label": f"{kind.key} {label}",
                    "tdxquote_us": _us(ours.get("stats")),
                    "dcap_qvl_us": None if theirs is None else _us(theirs.get("stats")),
                    "ratio": ratio,
                    "goal": None
                    if goal is None
                    else {
                        "key": goal,
                        "text": bench.GOALS[goal][0],
                        "least_ratio": round(least or 0, 3),
                        "status": "unknown"
                        if ratio is None
                        else ("met" if ratio["median"] >= (least or 0) else "missed"),
                    },
                }
            )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run everything; print the report (or JSON); write the chart."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    timing.add_common_arguments(parser)
    parser.add_argument(
        "--scan-files",
        type=int,
        default=bench_scan.DEFAULT_FILES,
        help="scan corpus size (default 100000; 0 leaves the scan out)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="scan runs per --jobs setting")
    parser.add_argument("--chart", default=str(CHART), help="the PNG to write ('' for none)")
    args = parser.parse_args(argv)
    dcap_qvl = bench.load_dcap_qvl()
    notes = [] if dcap_qvl else ["dcap-qvl is not installed: its columns are missing"]
    machine = timing.machine_info(["tdxquote", "dcap-qvl", "cryptography", "construct"])
    machine["packages"]["tdxquote"] = f"{tdxquote.__version__} (checkout)"
    rows = parse_rows(args, dcap_qvl)
    rows += bench_verify.verify_rows(args, dcap_qvl)
    scan = None
    if args.scan_files:
        scan = bench_scan.scan(args.scan_files, fresh=False, repeats=args.repeats)
    machine["load_average_at_end"] = timing.load_average()
    samples, _ = timing.samples_and_batch(args)
    verify_samples = samples if args.quick or args.samples else bench_verify.DEFAULT_SAMPLES
    report = bench.Report(
        machine=machine,
        settings={
            "rounds": f"parse {samples}, verify {verify_samples}",
            "max_sample_ms": f"parse {timing.DEFAULT_MAX_SAMPLE_NS // 1_000_000}, verify "
            f"{bench_verify.DEFAULT_MAX_SAMPLE_NS // 1_000_000 // (4 if args.quick else 1)}",
            "clock": timing.CLOCK_NAMES[args.clock],
            "command": "python benchmarks/bench_all.py " + " ".join(argv or sys.argv[1:]),
        },
        notes=notes,
        rows=rows,
        scan=scan,
    )
    if args.chart:
        try:
            bench.write_chart(report, args.chart)
        except ImportError:
            report.notes.append("no chart: matplotlib is not installed (pip install -e '.[plot]')")
    print(json.dumps(report.to_dict(), indent=2) if args.json else bench.render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
