"""Parse every file of a quote corpus and count what it holds.

The unit of work is :func:`scan_batch`: a batch of paths (or of in-memory
``(name, bytes)`` pairs) in, one :class:`ScanReport` out.  It is a plain
module-level function of picklable arguments, so any process pool or cluster
engine can run it; :meth:`ScanReport.merge` adds the reports of consecutive
batches up in order, and the result is the same however the corpus was cut.

:func:`scan_paths` is the engine of ``tdxquote scan``: it walks files and
directories (recursively, in sorted order), cuts the list into batches of
:data:`CHUNK_SIZE` files, runs :func:`scan_batch` on them in this process or
in ``jobs`` worker processes, and merges the reports in corpus order.
Memory stays flat with corpus size: files are listed lazily, read one at a
time, and at most a few batches are in flight.
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
from ._quote import parse_quote
from .errors import QuoteParseError

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_SIZE",
    "PlatformCache",
    "ScanFailure",
    "ScanItem",
    "ScanReport",
    "iter_corpus",
    "scan_batch",
    "scan_paths",
]

DEFAULT_MAX_SIZE = 1 << 20
"""Files larger than this (1 MiB) are failures, not read."""

CHUNK_SIZE = 512
"""Files per batch handed to a process (and per progress report)."""

ProgressCallback = Callable[[int, int | None], None]
"""``progress(done, total)``: files processed so far and the total (None if not counted)."""

ScanItem = str | os.PathLike[str] | tuple[str, bytes] | tuple[str, str | None]
"""What :func:`scan_batch` takes: a file path, a ``(name, quote bytes)`` pair, or a
``(path, problem)`` entry as :func:`iter_corpus` yields them."""


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
    They are not failures.  Reports pickle, and :meth:`merge` adds one to
    another, so the reports of a corpus' batches can be computed anywhere.
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

    def merge(self, other: ScanReport) -> ScanReport:
        """Add ``other`` (the report of the files after this report's) to this one.

        Counters add up; failures and PCK errors of ``other`` follow this
        report's.  Returns this report.
        """
        self.files += other.files
        self.parsed += other.parsed
        self.by_version.update(other.by_version)
        self.by_tee.update(other.by_tee)
        self.by_body_type.update(other.by_body_type)
        self.by_input_format.update(other.by_input_format)
        self.by_fmspc.update(other.by_fmspc)
        self.pck_errors.extend(other.pck_errors)
        self.failures.extend(other.failures)
        return self

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


# --- the FMSPC of a PCK chain, remembered by the chain's exact bytes -------------------


class _Platform(NamedTuple):
    """What a PCK chain gives a scan: the FMSPC, or why it cannot be read."""

    fmspc: str | None
    error: tuple[str, int | None, str] | None  # (field, offset, reason)


class PlatformCache:
    """FMSPCs of PCK chains, keyed by the chain's exact PEM bytes and its offset.

    A corpus holds many quotes of few platforms (every quote of a platform
    carries the same chain), so each distinct chain is decoded once.  Bounded
    by entries and by the bytes of the keys (the oldest entries go first), it
    holds tens of thousands of platforms by default.  Decoding errors are
    remembered too: they depend on those bytes and that offset alone.
    """

    __slots__ = ("_buckets", "_key_bytes", "_last", "_order", "max_entries", "max_key_bytes")

    # Chains are found by their first bytes (the leaf certificate's serial number is
    # there), which hash in a tenth of the time of a whole chain, then compared whole.
    _HEAD = 256

    def __init__(self, max_entries: int = 65_536, max_key_bytes: int = 64 << 20) -> None:
        if max_entries < 1 or max_key_bytes < 1:
            raise ValueError("a platform cache needs room for at least one entry")
        self.max_entries = max_entries
        self.max_key_bytes = max_key_bytes
        self._buckets: dict[tuple[bytes, int], list[tuple[bytes, _Platform]]] = {}
        self._order: deque[tuple[tuple[bytes, int], bytes]] = deque()  # oldest first
        self._key_bytes = 0
        # The last lookup: consecutive quotes are often of one platform, and comparing
        # the chain's bytes costs much less than hashing them.
        self._last: tuple[bytes, int, _Platform] = (b"", -1, _Platform(None, None))

    def __len__(self) -> int:
        return len(self._order)

    def lookup(self, pem: bytes, offset: int) -> _Platform:
        """The FMSPC (lowercase hex) of the chain ``pem`` found at ``offset`` in a quote."""
        last_pem, last_offset, found = self._last
        if offset == last_offset and pem == last_pem:
            return found
        head = (pem[: self._HEAD], offset)
        bucket = self._buckets.get(head)
        if bucket is not None:
            for known, platform in bucket:
                if known == pem:
                    self._last = (pem, offset, platform)
                    return platform
        platform = _decode_platform(pem, offset)
        self._remember(head, pem, platform)
        self._last = (pem, offset, platform)
        return platform

    def _remember(self, head: tuple[bytes, int], pem: bytes, platform: _Platform) -> None:
        size = len(pem)
        if size > self.max_key_bytes:
            return
        order = self._order
        while order and (
            len(order) >= self.max_entries or self._key_bytes + size > self.max_key_bytes
        ):
            old_head, old_pem = order.popleft()
            old_bucket = self._buckets[old_head]
            old_bucket[:] = [entry for entry in old_bucket if entry[0] is not old_pem]
            if not old_bucket:
                del self._buckets[old_head]
            self._key_bytes -= len(old_pem)
        self._buckets.setdefault(head, []).append((pem, platform))
        order.append((head, pem))
        self._key_bytes += size


def _decode_platform(pem: bytes | None, offset: int) -> _Platform:
    """What :attr:`Quote.pck_extension` gives for this chain: the FMSPC, or its error."""
    from ._pck_read import read_pck_extension_fields, read_pck_leaf

    try:
        fields = read_pck_extension_fields(read_pck_leaf(pem, offset))
        return _Platform(fields[5].hex(), None)  # the FMSPC
    except QuoteParseError as exc:
        return _Platform(None, (exc.field, exc.offset, exc.reason))


# --- one batch ------------------------------------------------------------------------------

_TEE_NAMES = {0x00000000: "SGX", 0x00000081: "TDX"}
_BODY_KEYS = {1: "sgx", 2: "td10", 3: "td15", 4: "td15ex"}
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)

# One parsed quote's counters but its FMSPC: (version, TEE, body kind, input format).
_Key = tuple[str, str, str, str]


def _read(path: str, max_size: int) -> bytes | str:
    """The bytes of the file at ``path``, or why they cannot be read.

    ``stat`` first: only a regular file within ``max_size`` is opened (without
    blocking, in case it was swapped for a FIFO meanwhile) and read with one
    ``read`` of its size plus one byte; a file that grew past the limit
    while read is refused, never read whole.
    """
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        size = info.st_size
        if size > max_size:
            return f"{size} bytes, over the {max_size}-byte size limit"
        fd = os.open(path, _OPEN_FLAGS)
        try:
            data = os.read(fd, size + 1)
            if len(data) != size:  # a short read, or the file changed since stat
                data = _read_rest(fd, data, max_size)
        finally:
            os.close(fd)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    except ValueError as exc:  # a path with a NUL character
        return f"cannot read: {exc}"
    if len(data) > max_size:
        return f"grew over the {max_size}-byte size limit while read"
    return data


def _read_rest(fd: int, data: bytes, max_size: int) -> bytes:
    parts = [data]
    total = len(data)
    while total <= max_size:
        more = os.read(fd, max_size + 1 - total)
        if not more:
            break
        parts.append(more)
        total += len(more)
    return b"".join(parts)


def _item_bytes(item: tuple[str, object], max_size: int) -> tuple[str, bytes | str]:
    """A pair's name, and its bytes or why there are none.

    ``(path, None)`` is a file to read, ``(path, "problem")`` one the walk
    found unreadable, ``(name, bytes)`` a quote in memory.
    """
    name, second = item
    name = os.fspath(name)
    if second is None:
        return name, _read(name, max_size)
    if isinstance(second, str):
        return name, second
    if not isinstance(second, (bytes, bytearray, memoryview)):
        return name, f"expected bytes, got {type(second).__name__}"
    if len(second) > max_size:
        return name, f"{len(second)} bytes, over the {max_size}-byte size limit"
    return name, bytes(second)


def scan_batch(
    items: Iterable[ScanItem],
    *,
    max_size: int = DEFAULT_MAX_SIZE,
    platforms: PlatformCache | None = None,
) -> ScanReport:
    """Parse a batch of quote files (or in-memory quotes) and count what they hold.

    Each item is a path (read here: a regular file of at most ``max_size``
    bytes), a ``(name, data)`` pair, or a ``(path, problem)`` entry of
    :func:`iter_corpus` (read when ``problem`` is None, else a failure with
    that reason); binary and hex quotes are told apart as ``tdxquote parse``
    does.  Every problem with an item is a failure in the report (named by
    its path or name), never an exception.  FMSPCs are looked up in
    ``platforms``, so a worker that passes one cache to all its batches reads
    each platform's PCK leaf once (default: a new cache for this batch).

    The function and its arguments pickle, so process pools and cluster
    engines can run it; merge the reports of consecutive batches in order
    with :meth:`ScanReport.merge` to get the report of the whole corpus.
    """
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1, not {max_size}")
    cache = PlatformCache() if platforms is None else platforms
    report = ScanReport()
    failures = report.failures
    pck_errors = report.pck_errors
    counts: dict[_Key, int] = {}
    # FMSPCs apart: a batch of many platforms has as many keys as quotes, and a plain
    # dict goes into an empty Counter at C speed.
    fmspcs: dict[str, int] = {}
    files = 0
    for item in items:
        files += 1
        try:
            if isinstance(item, tuple):
                name, read = _item_bytes(item, max_size)
            else:
                name = os.fspath(item)
                read = _read(name, max_size)
        except (TypeError, ValueError) as exc:  # not an item at all
            name, read = repr(item)[:200], f"not a path or a (name, bytes) pair: {exc}"
        if type(read) is str:
            failures.append(ScanFailure(name, "file", None, read))
            continue
        try:
            key, fmspc, pck_error = _scan_quote(read, cache)  # type: ignore[arg-type]
        except QuoteParseError as exc:
            failures.append(ScanFailure(name, exc.field, exc.offset, exc.reason))
            continue
        except Exception as exc:  # a bug must not end the whole scan; it is reported
            failures.append(
                ScanFailure(name, "internal", None, f"unexpected {type(exc).__name__}: {exc}")
            )
            continue
        counts[key] = counts.get(key, 0) + 1
        fmspcs[fmspc] = fmspcs.get(fmspc, 0) + 1
        if pck_error is not None:
            pck_errors.append(ScanFailure(name, *pck_error))
    report.files = files
    parsed = 0
    for (version, tee, body, input_format), count in counts.items():
        parsed += count
        report.by_version[version] += count
        report.by_tee[tee] += count
        report.by_body_type[body] += count
        report.by_input_format[input_format] += count
    report.parsed = parsed
    report.by_fmspc.update(fmspcs)
    return report


def _scan_quote(
    data: bytes, cache: PlatformCache
) -> tuple[_Key, str, tuple[str, int | None, str] | None]:
    """One quote's counter key, its FMSPC, and the PCK problem (field, offset, reason) if any."""
    raw, input_format = decode_quote_input(data)
    quote = parse_quote(raw)
    layout = quote._layout  # version, TEE and effective body type, as parsed
    cert_at = layout[9]
    pem = quote.pck_chain_pem
    fmspc: str | None = None
    error: tuple[str, int | None, str] | None = None
    if pem is None:  # not type 5: the error Quote.pck_extension raises, nothing to remember
        fmspc, error = _decode_platform(None, cert_at)
    else:
        fmspc, error = cache.lookup(pem, cert_at)
    key = (
        str(layout[1]),
        _TEE_NAMES[layout[2]],
        _BODY_KEYS[layout[3]],
        input_format,
    )
    return key, fmspc or "unknown", error


# --- the corpus -----------------------------------------------------------------------------

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
                is_link = is_dir and entry.is_symlink()
            except OSError:
                is_dir = is_link = False
            if is_link:
                yield entry.path, "symbolic link to a directory (not followed)"
            elif is_dir:
                subdirs.append(entry.path)
            else:
                yield entry.path, None
        # Files of a directory first, then its subdirectories in name order.
        stack.extend(reversed(subdirs))


def _batches(entries: Iterator[_Entry]) -> Iterator[list[_Entry]]:
    while batch := list(islice(entries, CHUNK_SIZE)):
        yield batch


# A worker process of scan_paths' pool: its platform cache, made by the pool's initializer
# when the process starts and used by every batch the process runs for that scan.
_worker_platforms: PlatformCache | None = None


def _start_worker() -> None:
    global _worker_platforms
    _worker_platforms = PlatformCache()


def _scan_in_worker(batch: list[_Entry], max_size: int) -> ScanReport:
    return scan_batch(batch, max_size=max_size, platforms=_worker_platforms)


def _reports(entries: Iterator[_Entry], jobs: int, max_size: int) -> Iterator[ScanReport]:
    """Batch reports in corpus order; with ``jobs`` > 1, at most ``3 * jobs`` in flight.

    The run owns its platform caches: one here with one job, else one in each
    worker process (made by the pool's initializer, gone with the pool).
    """
    if jobs == 1:
        platforms = PlatformCache()
        for batch in _batches(entries):
            yield scan_batch(batch, max_size=max_size, platforms=platforms)
        return
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker)
    try:
        pending: deque[Future[ScanReport]] = deque()
        for batch in _batches(entries):
            pending.append(pool.submit(_scan_in_worker, batch, max_size))
            if len(pending) >= 3 * jobs:
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

    ``jobs`` processes share the work (1: in this process), in batches of
    :data:`CHUNK_SIZE` files run by :func:`scan_batch`.  ``progress``, when
    given, is called as ``progress(done, total)`` after each batch (the files
    are counted first for ``total``).  Files over ``max_size`` bytes are
    failures.  Raises :class:`FileNotFoundError` when one of ``paths`` does
    not exist and :class:`ValueError` for ``jobs`` or ``max_size`` < 1; every
    problem with a file is a failure in the report, never an exception.
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
    for batch in _reports(iter_corpus(tops), jobs, max_size):
        report.merge(batch)
        if progress is not None:
            progress(report.files, total)
    return report
