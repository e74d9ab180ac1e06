"""The collateral cache: raw PCS/PCCS responses on disk, kept until they expire.

Entries are the exact bytes received (body and issuer-chain header), keyed
by artifact and request URL (so by source, artifact and every parameter; a
PCK certificate by its whole ``/pckcert`` query).
Nothing in an entry is trusted: on every load the source parses it again and
checks its signatures against the verifier's trust root (free for unchanged
bytes, thanks to the verifier's digest-keyed cache), and a corrupt or
tampered entry is evicted and fetched again.  An entry is used while the
verification time is within its validity: from the latest of its issue date
(``issueDate``, ``thisUpdate``) and its certificates' ``notBefore``, to the
earliest of the artifact's ``nextUpdate`` and its certificates' ``notAfter``;
both are computed from the content, never read from the entry.

The store is :mod:`diskcache` (SQLite), safe for several processes and
threads sharing one directory, with a size limit (least recently stored
entries go first).  Values are bytes only: the cache never unpickles
anything it reads.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import diskcache
from diskcache.core import MODE_RAW, UNKNOWN

from .pcs import ARTIFACTS, PCK_CERTIFICATE, Artifact, PcsResponse

__all__ = [
    "DEFAULT_SIZE_LIMIT",
    "CacheEntry",
    "CollateralCache",
    "default_cache_dir",
]

DEFAULT_SIZE_LIMIT = 64 << 20
"""Default size limit of a cache directory (64 MiB; one platform's collateral is ~30 KiB)."""

_FORMAT = "tdxquote-collateral-cache/2"
_log = logging.getLogger(__name__)
_T = TypeVar("_T")


def default_cache_dir() -> Path:
    """``$TDXQUOTE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tdxquote/collateral``.

    Without ``XDG_CACHE_HOME`` (or with a relative one, which the XDG
    specification says to ignore) ``~/.cache`` stands in for it.
    """
    configured = os.environ.get("TDXQUOTE_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tdxquote" / "collateral"


class _Refused(OSError):
    """A stored value this cache did not write (diskcache treats OSError as a miss)."""


_DB_NAME = "cache.db"  # diskcache's database file in the cache directory
_MAX_ENTRY = 16 << 20  # a stored entry is at most this big (responses are capped at 4 MiB)
_NEVER_A_FILE = 1 << 40  # diskcache's "store in a file from this size on": never
_SETTINGS: dict[str, object] = {
    # Every diskcache setting, pinned: a tampered Settings table changes nothing.
    "statistics": 0,
    "tag_index": 0,
    "eviction_policy": "least-recently-stored",
    "cull_limit": 10,
    "sqlite_auto_vacuum": 1,
    "sqlite_cache_size": 8192,
    "sqlite_journal_mode": "wal",
    "sqlite_mmap_size": 0,
    "sqlite_synchronous": 1,
    "disk_min_file_size": _NEVER_A_FILE,
    "disk_pickle_protocol": 5,
}
_METADATA = ("count", "size", "hits", "misses")


class _BytesDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache storage for bytes held in the database row itself.

    diskcache keeps large or non-bytes values in files named by the row, and
    opens (:meth:`fetch`) or deletes (:meth:`remove`) whatever file a row
    names.  Rows are not trusted here: a value is accepted only as raw bytes
    in the row (never a file, never a pickle), and no path taken from a row
    is ever opened or deleted.  This disk writes no files at all.
    """

    def __init__(self, directory: str, **settings: object) -> None:
        # Settings read from the database are ignored: nothing in it is trusted.
        super().__init__(directory, min_file_size=_NEVER_A_FILE, pickle_protocol=5)

    def store(self, value: object, read: bool, key: object = UNKNOWN) -> Any:
        if type(value) is not bytes or read:
            raise TypeError("the collateral cache stores bytes only")
        if len(value) > _MAX_ENTRY:
            raise ValueError(f"a cache entry is at most {_MAX_ENTRY} bytes")
        return 0, MODE_RAW, None, sqlite3.Binary(value)

    def fetch(self, mode: int, filename: str | None, value: object, read: bool) -> Any:
        if mode != MODE_RAW or filename is not None or read or type(value) is not bytes:
            raise _Refused("not a raw bytes entry")
        if len(value) > _MAX_ENTRY:
            raise _Refused("an entry larger than this cache writes")
        return value

    def remove(self, file_path: str) -> None:
        """Never delete: this disk writes no file, so a row naming one was tampered with."""

    def filename(self, key: object = UNKNOWN, value: object = UNKNOWN) -> Any:
        raise TypeError("the collateral cache writes no files")

    def get(self, key: object, raw: bool) -> Any:
        # A key stored pickled was not written by this cache: never unpickle it.
        return super().get(key, raw) if raw else None


def _sanitize(database: Path) -> None:
    """Drop what this cache never writes from a database written by anyone.

    Rows that are not raw bytes in the database (file, text and pickle
    modes, a file name, another type, oversized) are deleted with SQL, never
    through diskcache, which would delete the file a row names.  Settings
    diskcache does not know are deleted, its counters reset: diskcache turns
    each setting into an attribute of the cache.
    """
    connection = sqlite3.connect(database, timeout=60, isolation_level=None)
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        with connection:
            if "Cache" in tables:
                connection.execute(
                    "DELETE FROM Cache WHERE mode IS NOT ? OR filename IS NOT NULL"
                    " OR typeof(value) != 'blob' OR length(value) > ? OR raw IS NOT 1",
                    (MODE_RAW, _MAX_ENTRY),
                )
                connection.execute("UPDATE Cache SET size = 0 WHERE size IS NOT 0")
            if "Settings" in tables:
                known = {*_SETTINGS, "size_limit", *_METADATA}
                for (name,) in connection.execute("SELECT key FROM Settings").fetchall():
                    if name not in known:
                        connection.execute("DELETE FROM Settings WHERE key IS ?", (name,))
                connection.execute(
                    "UPDATE Settings SET value = 0 WHERE key IN ('size', 'hits', 'misses')"
                )
                connection.execute(
                    "UPDATE Settings SET value = (SELECT count(*) FROM Cache) WHERE key = 'count'"
                    if "Cache" in tables
                    else "UPDATE Settings SET value = 0 WHERE key = 'count'"
                )
    finally:
        connection.close()


class _MemoryStore:
    """A dict with the diskcache methods the cache uses, for :meth:`CollateralCache.memory`."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._data.get(key)

    def set(self, key: str, value: bytes) -> None:
        with self._lock:
            self._data[key] = value

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def all_keys(self) -> list[str]:
        with self._lock:
            return list(self._data)

    def clear(self) -> int:
        with self._lock:
            count = len(self._data)
            self._data.clear()
            return count

    def volume(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._data.values())

    def close(self) -> None:
        """Nothing to close."""


class _DiskStore:
    """diskcache in ``directory``, opened on first use; created on the first write only.

    Reading a cache that does not exist finds nothing and creates nothing.
    A database that cannot be used (not SQLite, damaged tables) is a miss
    for every read and drops every write, with one logged warning; :meth:`clear`
    starts it afresh.
    """

    def __init__(self, directory: Path, size_limit: int) -> None:
        self.directory = directory
        self.size_limit = size_limit
        self._cache: diskcache.Cache | None = None
        self._lock = threading.Lock()
        #: Why the database cannot be used, once it was found so.
        self.broken: str | None = None

    def _open(self, *, create: bool) -> diskcache.Cache | None:
        with self._lock:
            if self._cache is not None or self.broken is not None:
                return self._cache
            database = self.directory / _DB_NAME
            if not database.is_file():
                if not create:
                    return None
                self.directory.mkdir(parents=True, exist_ok=True)
            try:
                if database.is_file():
                    _sanitize(database)
                self._cache = diskcache.Cache(
                    str(self.directory),
                    disk=_BytesDisk,
                    size_limit=self.size_limit,
                    **_SETTINGS,
                )
            except sqlite3.Error as exc:
                self._broken(exc)
            return self._cache

    def _broken(self, exc: Exception) -> None:
        if self.broken is None:
            self.broken = f"{type(exc).__name__}: {exc}"
            _log.warning(
                "collateral cache %s is unusable (%s); fetching without it "
                "(tdxquote cache clear starts it afresh)",
                self.directory,
                self.broken,
            )

    def _run(self, default: _T, action: Callable[[diskcache.Cache], _T], create: bool) -> _T:
        cache = self._open(create=create)
        if cache is None:
            return default
        try:
            return action(cache)
        except sqlite3.Error as exc:
            self._broken(exc)
            return default

    def get(self, key: str) -> bytes | None:
        value = self._run(None, lambda c: c.get(key, default=None, retry=True), create=False)
        return value if type(value) is bytes else None

    def set(self, key: str, value: bytes) -> None:
        self._run(None, lambda c: c.set(key, value, retry=True), create=True)

    def delete(self, key: str) -> None:
        self._run(None, lambda c: c.delete(key, retry=True), create=False)

    def all_keys(self) -> list[str]:
        keys: list[object] = self._run([], lambda c: list(c.iterkeys()), create=False)
        return [key for key in keys if isinstance(key, str)]

    def clear(self) -> int:
        count = int(self._run(0, lambda c: c.clear(retry=True), create=False))
        if self.broken is not None:
            self._start_afresh()
        return count

    def _start_afresh(self) -> int:
        """Delete this cache's own database files (names chosen here, never read from a row)."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / (_DB_NAME + suffix)).unlink()
        self.broken = None
        return 0

    def volume(self) -> int:
        return int(self._run(0, lambda c: c.volume(), create=False))

    def close(self) -> None:
        with self._lock:
            if self._cache is not None:
                self._cache.close()
                self._cache = None


@dataclass(frozen=True)
class CacheEntry:
    """What ``tdxquote cache info`` shows of one entry.

    ``expires`` and ``stored_at`` are as recorded when stored (informative
    only: a loaded entry's expiry is recomputed from its content);
    ``valid`` is false for an entry that does not decode.
    """

    key: str
    size: int
    valid: bool
    artifact: str | None = None
    url: str | None = None
    expires: datetime | None = None
    stored_at: datetime | None = None


class CollateralCache:
    """Raw collateral responses in ``directory`` (default :func:`default_cache_dir`).

    ``size_limit`` bounds the directory in bytes.  :meth:`memory` gives a
    cache without a directory (for one process's lifetime).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        size_limit: int = DEFAULT_SIZE_LIMIT,
    ) -> None:
        self.directory: Path | None = Path(directory) if directory is not None else None
        if self.directory is None:
            self.directory = default_cache_dir()
        self.size_limit = size_limit
        self._store: _DiskStore | _MemoryStore = _DiskStore(self.directory, size_limit)

    @classmethod
    def memory(cls) -> CollateralCache:
        """A cache held in memory only."""
        cache = cls.__new__(cls)
        cache.directory = None
        cache.size_limit = 0
        cache._store = _MemoryStore()
        return cache

    def __repr__(self) -> str:
        where = "memory" if self.directory is None else str(self.directory)
        return f"<CollateralCache {where}>"

    @property
    def problem(self) -> str | None:
        """Why the database was found unusable (every read then misses), else ``None``."""
        return self._store.broken if isinstance(self._store, _DiskStore) else None

    # --- entries ----------------------------------------------------------------------

    def load(self, key: str) -> PcsResponse | None:
        """The response stored under ``key``; ``None`` when absent or undecodable (evicted)."""
        data = self._store.get(key)
        if data is None:
            return None
        decoded = _decode(data, key)
        if decoded is None:
            self._store.delete(key)
            return None
        return decoded[0]

    def store(self, key: str, response: PcsResponse, expires: datetime) -> None:
        """Store ``response`` under ``key``; ``expires`` is recorded for display and pruning."""
        entry = {
            "format": _FORMAT,
            "key": key,
            "artifact": response.artifact,
            "url": response.url,
            "request_id": response.request_id,
            "issuer_chain": response.issuer_chain,
            "body": base64.b64encode(response.body).decode("ascii"),
            "expires": _iso(expires),
            "stored_at": _iso(datetime.now(timezone.utc)),
        }
        self._store.set(key, json.dumps(entry, sort_keys=True).encode("utf-8"))

    def evict(self, key: str) -> None:
        """Forget ``key``."""
        self._store.delete(key)

    def entries(self) -> list[CacheEntry]:
        """Every entry, decoded as far as possible."""
        found = []
        for key in self._store.all_keys():
            data = self._store.get(key)
            if data is None:
                continue
            decoded = _decode(data, key)
            if decoded is None:
                found.append(CacheEntry(key=key, size=len(data), valid=False))
                continue
            response, expires, stored_at = decoded
            found.append(
                CacheEntry(
                    key=key,
                    size=len(data),
                    valid=True,
                    artifact=response.artifact,
                    url=response.url,
                    expires=expires,
                    stored_at=stored_at,
                )
            )
        return found

    def prune(self, now: datetime) -> int:
        """Delete entries recorded as expired at ``now`` and undecodable ones; return how many."""
        removed = 0
        for entry in self.entries():
            if not entry.valid or (entry.expires is not None and entry.expires <= now):
                self._store.delete(entry.key)
                removed += 1
        return removed

    def clear(self) -> int:
        """Delete every entry; return how many there were."""
        return self._store.clear()

    def volume(self) -> int:
        """Bytes used (on disk, or by values in memory)."""
        return self._store.volume()

    def close(self) -> None:
        """Close the underlying store (it reopens on next use for diskcache)."""
        self._store.close()

    def __enter__(self) -> CollateralCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(data: bytes, key: str) -> tuple[PcsResponse, datetime | None, datetime | None] | None:
    """An entry's response and recorded dates; ``None`` for anything this cache did not
    write under ``key`` (another format, another key, a malformed field)."""
    try:
        entry = json.loads(data)
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
            return None
        if entry.get("key") != key:
            return None  # a valid entry copied under another key
        artifact = entry["artifact"]
        if artifact not in ARTIFACTS and artifact != PCK_CERTIFICATE:
            return None
        chain = entry["issuer_chain"]
        request_id = entry["request_id"]
        url = entry["url"]
        if not isinstance(url, str) or not isinstance(chain, (str, type(None))):
            return None
        if not isinstance(request_id, (str, type(None))):
            return None
        body = base64.b64decode(entry["body"], validate=True)
        expires = _parse_time(entry.get("expires"))
        stored_at = _parse_time(entry.get("stored_at"))
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        return None
    kind: Artifact = artifact
    response = PcsResponse(
        artifact=kind, url=url, body=body, issuer_chain=chain, request_id=request_id
    )
    return response, expires, stored_at


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
