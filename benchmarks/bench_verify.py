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

Run from the repository root: ``python benchmarks/bench_verify.py``
(``--quick``, ``--json``, ``--clock thread`` on a busy machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    timing.add_common_arguments(parser)
    args = parser.parse_args(argv)
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
