"""``tdxquote scan`` throughput with 1 and 2 processes, and its peak memory by corpus size.

Writes a corpus of 100,000 quote files (``--files``) to ``benchmarks/out/corpus``
(git-ignored; reused while its size matches, ``--fresh`` rewrites it): every
real quote of the shared vectors once, then forged quotes of eight kinds (v4
TD 1.0, v5 TD 1.5, v5 with a TD 1.0 body, v3 SGX, from a Platform-CA and a
Processor-CA platform), each with its own report data and signature, one
file in twenty as hex text.  Then it runs ``tdxquote scan --json`` in fresh
processes: over the whole corpus with ``--jobs 1`` and ``--jobs 2`` (the best
of ``--repeats`` runs each), and with ``--jobs 1`` over 10%, 50% and 100% of
it, recording the peak resident memory (``ru_maxrss``) of the scanning
process and of its largest worker.

Run from the repository root: ``python benchmarks/bench_scan.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _timing as timing

timing.use_repo_checkout()

from tdxquote._cli import bench  # noqa: E402

OUT = timing.REPO_ROOT / "benchmarks" / "out"
DEFAULT_FILES = 100_000
PER_FOLDER = 1000


def corpus(files: int, *, fresh: bool) -> tuple[Path, dict[str, Any]]:
    """The corpus folder, written unless one of this size is already there."""
    folder = OUT / "corpus"
    marker = OUT / "corpus.json"
    if not fresh and marker.is_file():
        written = json.loads(marker.read_text())
        if written.get("files") == files and folder.is_dir():
            return folder, {**written, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    written = bench.write_corpus(folder, files, timing.vectors_dir(), per_folder=PER_FOLDER)
    marker.write_text(json.dumps(written))
    return folder, {**written, "reused": False}


def scan(files: int, *, fresh: bool, repeats: int) -> dict[str, Any]:
    """Write (or reuse) the corpus and measure the scans."""
    folder, written = corpus(files, fresh=fresh)
    results = bench.scan_results(folder, files, repeats=repeats)
    results["corpus"] = written
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the tables (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=DEFAULT_FILES, help="corpus size")
    parser.add_argument("--repeats", type=int, default=3, help="runs per --jobs setting")
    parser.add_argument("--fresh", action="store_true", help="rewrite the corpus")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.files < 10 or args.repeats < 1:
        parser.error("--files must be at least 10 and --repeats at least 1")
    machine = timing.machine_info(["tdxquote", "cryptography"])
    results = scan(args.files, fresh=args.fresh, repeats=args.repeats)
    machine["load_average_at_end"] = timing.load_average()
    report = bench.Report(
        machine=machine,
        settings={"rounds": 0, "max_sample_ms": 0, "clock": "wall"},
        notes=[],
        rows=[],
        scan=results,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else bench.render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
