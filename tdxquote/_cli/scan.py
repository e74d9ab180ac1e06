"""``tdxquote scan PATH...``: parse every file of a corpus and count what it holds."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from .common import EXIT_FAILED, EXIT_OK, CliError, report_error, write_json

if TYPE_CHECKING:
    from ..scan import ScanReport
    from .common import Subparsers

__all__ = ["Progress", "add_parser", "format_report", "run"]

_MIB = 1 << 20


def _positive_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``scan`` to the CLI."""
    parser = subparsers.add_parser(
        "scan",
        help="parse every file of a corpus and count versions, TEEs, body types, FMSPCs",
        description=(
            "Parse every file under the given directories (recursively) and files, binary "
            "or hex, and print counts by version, TEE, body type, input format and FMSPC, "
            "then every failure with its file, field, offset and reason. Exit status: 0 "
            "when every file parsed, 1 when some did not, 2 on usage errors."
        ),
    )
    parser.add_argument(
        "paths", metavar="PATH", nargs="+", help="a directory (walked recursively) or a file"
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=_positive_int,
        default=1,
        metavar="N",
        help="parse with N processes (default 1; the report is the same for any N)",
    )
    parser.add_argument(
        "--max-size",
        type=_positive_int,
        default=_MIB,
        metavar="BYTES",
        help=f"files larger than this are failures, not read (default {_MIB}, 1 MiB)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


class Progress:
    """A one-line ``\\r`` progress display on a terminal stream (no dependency)."""

    def __init__(
        self, stream: TextIO, *, interval: float = 0.1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.shown = False
        self.interval = interval
        self.clock = clock
        self.last = -interval

    def __call__(self, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` files (a bar when ``total`` is known), ten times a second."""
        now = self.clock()
        if now - self.last < self.interval and done != total:
            return
        self.last = now
        if total:
            width = 30
            filled = width * done // total
            bar = "#" * filled + "." * (width - filled)
            text = f"\rscanning [{bar}] {done}/{total} files"
        else:
            text = f"\rscanning: {done} files"
        self.stream.write(text)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the progress line, if one was shown."""
        if self.shown:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


def run(args: argparse.Namespace) -> int:
    """Scan ``args.paths``; exit 0 when every file parsed, 1 when some failed, 2 on usage."""
    from ..scan import scan_paths

    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        report = scan_paths(args.paths, args.jobs, progress, max_size=args.max_size)
    except FileNotFoundError as exc:
        error = CliError(f"{exc.filename}: no such file or directory", code="usage_error")
        return report_error(error, as_json=args.json)
    finally:
        if progress is not None:
            progress.clear()
    if args.json:
        write_json(report.to_dict())
    else:
        print(format_report(report))
    return EXIT_FAILED if report.failures else EXIT_OK


def _counts(counts: dict[str, int], prefix: str = "", upper: bool = False) -> str:
    if not counts:
        return "(none)"
    return ", ".join(
        f"{prefix}{key.upper() if upper and key != 'unknown' else key} {count}"
        for key, count in counts.items()
    )


def format_report(report: ScanReport) -> str:
    """The readable form of a scan report."""
    data = report.to_dict()
    lines = [
        f"Scanned {report.files} files: {report.parsed} parsed, {report.failed} failed",
        f"  by version      {_counts(data['by_version'], prefix='v')}",
        f"  by TEE          {_counts(data['by_tee'])}",
        f"  by body type    {_counts(data['by_body_type'])}",
        f"  by input        {_counts(data['by_input_format'])}",
        f"  by FMSPC        {_counts(data['by_fmspc'], upper=True)}",
    ]
    if report.pck_errors:
        lines.append(
            f"PCK chain or extension not decoded, FMSPC unknown ({len(report.pck_errors)}):"
        )
        lines.extend(f"  {error.path}: {error.describe()}" for error in report.pck_errors)
    if report.failures:
        lines.append(f"Failures ({report.failed}):")
        lines.extend(f"  {failure.path}: {failure.describe()}" for failure in report.failures)
    return "\n".join(lines)
