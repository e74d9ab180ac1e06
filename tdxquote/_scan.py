"""Parse every file of a quote corpus and count what it holds.

:func:`scan_paths` walks files and directories (recursively, in sorted
order), parses each file as a binary or hex quote, and aggregates counters
(by version, TEE, body kind, input format, FMSPC) and the list of failures
into a :class:`ScanReport`.  Memory stays flat with corpus size: files are
listed lazily, read one at a time, and processed in small chunks, possibly
by several processes; the report is the same for any number of processes.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

from ._input import decode_quote_input
from ._json import body_kind
from ._quote import parse_quote
from .errors import QuoteParseError

__all__ = ["DEFAULT_MAX_SIZE", "ScanFailure", "ScanReport", "iter_corpus", "scan_paths"]

DEFAULT_MAX_SIZE = 1 << 20
"""Files larger than this (1 MiB) are failures, not read."""

CHUNK_SIZE = 16
"""Files per unit of work handed to a process."""

ProgressCallback = Callable[[int, int | None], None]
"""``progress(done, total)``: files processed so far and the total (None if not counted)."""


@dataclass(frozen=True)
class ScanFailure:
    """A file that did not parse (or whose PCK chain did not decode), and why.

    ``field`` and ``offset`` come from the :class:`~tdxquote.QuoteParseError`;
    they are ``"file"`` and None when the file could not be read at all.
    """

    path: str
    field: str
    offset: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"path", "field", "offset", "reason"}``."""
        return {
            "path": self.path,
            "field": self.field,
            "offset": self.offset,
            "reason": self.reason,
        }

    def describe(self) -> str:
        """``field at offset N: reason`` (or ``field: reason`` without an offset)."""
        where = self.field if self.offset is None else f"{self.field} at offset {self.offset}"
        return f"{where}: {self.reason}"


def _sorted_counts(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}


@dataclass
class ScanReport:
    """What a scan found: counters over the parsed quotes, and every failure.

    ``pck_errors`` lists quotes that parsed but whose PCK chain or its SGX
    extension could not be decoded; their FMSPC is counted as ``unknown``.
    They are not failures.
    """

    files: int = 0
    parsed: int = 0
    by_version: Counter[str] = field(default_factory=Counter)
    by_tee: Counter[str] = field(default_factory=Counter)
    by_body_type: Counter[str] = field(default_factory=Counter)
    by_input_format: Counter[str] = field(default_factory=Counter)
    by_fmspc: Counter[str] = field(default_factory=Counter)
    pck_errors: list[ScanFailure] = field(default_factory=list)
    failures: list[ScanFailure] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Number of files that did not parse."""
        return len(self.failures)

    @property
    def pck_errors_by_reason(self) -> dict[str, int]:
        """PCK decoding problems counted by ``field: reason``."""
        return _sorted_counts(Counter(f"{e.field}: {e.reason}" for e in self.pck_errors))

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (counters sorted by key)."""
        return {
            "files": self.files,
            "parsed": self.parsed,
            "failed": self.failed,
            "by_version": _sorted_counts(self.by_version),
            "by_tee": _sorted_counts(self.by_tee),
            "by_body_type": _sorted_counts(self.by_body_type),
            "by_input_format": _sorted_counts(self.by_input_format),
            "by_fmspc": _sorted_counts(self.by_fmspc),
            "pck_errors": {
                "count": len(self.pck_errors),
                "by_reason": self.pck_errors_by_reason,
                "files": [error.to_dict() for error in self.pck_errors],
            },
            "failures": [failure.to_dict() for failure in self.failures],
        }

    def _add(self, result: _FileResult) -> None:
        self.files += 1
        if result.failure is not None:
            self.failures.append(result.failure)
            return
        self.parsed += 1
        self.by_version[str(result.version)] += 1
        self.by_tee[result.tee] += 1
        self.by_body_type[result.body_type] += 1
        self.by_input_format[result.input_format] += 1
        self.by_fmspc[result.fmspc or "unknown"] += 1
        if result.pck_error is not None:
            self.pck_errors.append(result.pck_error)


class _FileResult(NamedTuple):
    """One file's outcome: small and picklable, sent back by worker processes."""

    failure: ScanFailure | None
    version: int = 0
    tee: str = ""
    body_type: str = ""
    input_format: str = ""
    fmspc: str | None = None
    pck_error: ScanFailure | None = None


# (path, reason it cannot be read, found while walking, or None)
_Entry = tuple[str, str | None]


def iter_corpus(paths: Iterable[str | os.PathLike[str]]) -> Iterator[_Entry]:
    """Yield ``(file path, problem)`` for every file under ``paths``, in sorted order.

    Directories are walked recursively (symbolic links to directories are
    not followed); ``problem`` is None, or why the entry cannot be read
    (an unlistable directory, a link to a directory).
    """
    for top in paths:
        top_path = os.fspath(top)
        if os.path.isdir(top_path):
            yield from _walk(top_path)
        else:
            yield top_path, None


def _walk(top: str) -> Iterator[_Entry]:
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            yield directory, f"cannot list directory: {exc.strerror or exc}"
            continue
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
                is_link = entry.is_symlink()
            except OSError:
                is_dir = is_link = False
            if is_dir and is_link:
                yield entry.path, "symbolic link to a directory (not followed)"
            elif is_dir:
                subdirs.append(entry.path)
            else:
                yield entry.path, None
        # Files of a directory first, then its subdirectories in name order.
        stack.extend(reversed(subdirs))


def _read_failure(path: str, reason: str) -> _FileResult:
    return _FileResult(ScanFailure(path, "file", None, reason))


def _scan_file(path: str, problem: str | None, max_size: int) -> _FileResult:
    if problem is not None:
        return _read_failure(path, problem)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return _read_failure(path, "not a regular file")
        if info.st_size > max_size:
            return _read_failure(path, f"{info.st_size} bytes, over the {max_size}-byte size limit")
        with open(path, "rb") as handle:
            data = handle.read(max_size + 1)
    except OSError as exc:
        return _read_failure(path, f"cannot read: {exc.strerror or exc}")
    if len(data) > max_size:
        return _read_failure(path, f"grew over the {max_size}-byte size limit while read")
    try:
        raw, input_format = decode_quote_input(data)
        quote = parse_quote(raw)
        kind = body_kind(quote).key
    except QuoteParseError as exc:
        return _FileResult(ScanFailure(path, exc.field, exc.offset, exc.reason))
    fmspc: str | None = None
    pck_error: ScanFailure | None = None
    try:
        fmspc = quote.pck_extension.fmspc.hex()
    except QuoteParseError as exc:
        pck_error = ScanFailure(path, exc.field, exc.offset, exc.reason)
    return _FileResult(
        None, quote.version, quote.tee_type.name, kind, input_format, fmspc, pck_error
    )


def _scan_chunk(chunk: list[_Entry], max_size: int) -> list[_FileResult]:
    """Scan a chunk of files (runs in a worker process when ``jobs > 1``)."""
    results = []
    for path, problem in chunk:
        try:
            result = _scan_file(path, problem, max_size)
        except Exception as exc:  # a bug must not end the whole scan; it is reported
            result = _FileResult(
                ScanFailure(path, "internal", None, f"unexpected {type(exc).__name__}: {exc}")
            )
        results.append(result)
    return results


def _chunks(entries: Iterator[_Entry]) -> Iterator[list[_Entry]]:
    while chunk := list(islice(entries, CHUNK_SIZE)):
        yield chunk


def _results(entries: Iterator[_Entry], jobs: int, max_size: int) -> Iterator[list[_FileResult]]:
    """Chunk results in corpus order; at most ``4 * jobs`` chunks in flight."""
    if jobs == 1:
        for chunk in _chunks(entries):
            yield _scan_chunk(chunk, max_size)
        return
    # Import what the workers need before they start, so that forked workers share it.
    from . import _pem_chain, pck  # noqa: F401

    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        pending: deque[Future[list[_FileResult]]] = deque()
        for chunk in _chunks(entries):
            pending.append(pool.submit(_scan_chunk, chunk, max_size))
            if len(pending) >= 4 * jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    *,
    max_size: int = DEFAULT_MAX_SIZE,
) -> ScanReport:
    """Parse every file under ``paths`` (files, or directories walked recursively).

    ``jobs`` processes share the work (1: in this process).  ``progress``,
    when given, is called as ``progress(done, total)`` after each chunk (the
    files are counted first for ``total``).  Files over ``max_size`` bytes
    are failures.  Raises :class:`FileNotFoundError` when one of ``paths``
    does not exist and :class:`ValueError` for ``jobs`` or ``max_size`` < 1;
    every problem with a file is a failure in the report, never an exception.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    tops = [os.fspath(path) for path in paths]
    for top in tops:
        if not os.path.lexists(top):
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", top)
    total = sum(1 for _ in iter_corpus(tops)) if progress is not None else None
    report = ScanReport()
    for results in _results(iter_corpus(tops), jobs, max_size):
        for result in results:
            report._add(result)
        if progress is not None:
            progress(report.files, total)
    return report
