"""``tdxquote scan PATH...``: parse every file of a corpus and count what it holds."""

from __future__ import annotations

import argparse
import fnmatch
import os
from typing import TYPE_CHECKING, Any

from .common import EXIT_FAILED, EXIT_OK, CliError, report_error
from .output import error_object, write_envelope
from .progress import Progress, progress_on_stderr

if TYPE_CHECKING:
    from ..scan import ScanReport
    from .common import Subparsers

__all__ = ["Progress", "PathFilter", "add_parser", "format_report", "run"]

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
            "then every failure with its file, field, offset and reason. --include and "
            "--exclude choose which files of the directories are read. Exit status: 0 "
            "when every file parsed, 1 when some did not, 2 on usage errors."
        ),
    )
    parser.add_argument(
        "paths", metavar="PATH", nargs="+", help="a directory (walked recursively) or a file"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help=(
            "read only the files of the directories that match GLOB, a shell pattern such as "
            "'*.dat' (matched against the file name, or with a / against the path below the "
            "directory given); repeatable; default: every file"
        ),
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help=(
            "skip the files of the directories that match GLOB, e.g. '*.md' or 'LICENSE*' "
            "(same matching as --include); repeatable; default: none skipped"
        ),
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
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON (the tdxquote/1 document)"
    )
    parser.set_defaults(_command="scan")
    return parser


class PathFilter:
    """``--include`` / ``--exclude``: which files found inside a directory are scanned.

    A pattern without ``/`` is matched against the file name, one with ``/``
    against the path below the directory given on the command line (with
    ``/`` separators).  A file is scanned when it matches some include (or
    there is none) and no exclude.  Files named on the command line are
    always scanned.
    """

    def __init__(self, include: list[str], exclude: list[str]) -> None:
        self.include = list(include)
        self.exclude = list(exclude)

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    @staticmethod
    def _matches(patterns: list[str], name: str, relative: str) -> bool:
        return any(
            fnmatch.fnmatchcase(relative if "/" in pattern else name, pattern)
            for pattern in patterns
        )

    def accepts(self, relative: str) -> bool:
        """Whether the file at ``relative`` (below its directory, ``/``-separated) is scanned."""
        name = relative.rsplit("/", 1)[-1]
        if self.include and not self._matches(self.include, name, relative):
            return False
        return not self._matches(self.exclude, name, relative)

    def expand(self, paths: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """The files to scan, and the entries that cannot be read (path, reason).

        Directories are walked (as ``scan`` walks them, in the same order);
        only their accepted files are listed.
        """
        from .._scan import iter_corpus

        files: list[str] = []
        problems: list[tuple[str, str]] = []
        for top in paths:
            if not os.path.isdir(top):
                files.append(top)
                continue
            for path, problem in iter_corpus([top]):
                relative = os.path.relpath(path, top).replace(os.sep, "/")
                if not self.accepts(relative):
                    continue
                if problem is None:
                    files.append(path)
                else:
                    problems.append((path, problem))
        return files, problems


def run(args: argparse.Namespace) -> int:
    """Scan ``args.paths``; exit 0 when every file parsed, 1 when some failed, 2 on usage."""
    from ..scan import ScanFailure, scan_paths

    path_filter = PathFilter(args.include, args.exclude)
    progress = progress_on_stderr(label="scanning")
    try:
        missing = [path for path in args.paths if not os.path.lexists(path)]
        if missing:
            raise FileNotFoundError(2, "no such file or directory", missing[0])
        paths, problems = path_filter.expand(args.paths) if path_filter else (args.paths, [])
        report = scan_paths(paths, args.jobs, progress, max_size=args.max_size)
    except FileNotFoundError as exc:
        error = CliError(f"{exc.filename}: no such file or directory", code="usage_error")
        return report_error(error, as_json=args.json, command="scan")
    finally:
        if progress is not None:
            progress.clear()
    for path, problem in problems:  # links to directories and unlistable ones, when selected
        report.files += 1
        report.failures.append(ScanFailure(path, "file", None, problem))
    if args.json:
        result: dict[str, Any] = {
            **report.to_dict(),
            "filters": {"include": path_filter.include, "exclude": path_filter.exclude},
        }
        failure = None
        if report.failures:
            failure = error_object(
                kind="failed",
                code="scan_failures",
                message=f"{report.failed} of {report.files} files did not parse",
            )
        write_envelope("scan", result, failure)
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
