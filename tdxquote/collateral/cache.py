"""The collateral cache: raw PCS/PCCS responses on disk, kept until they expire.

Entries are the exact bytes received (body and issuer-chain header), keyed
by artifact and request URL (so by source, artifact and every parameter).
Nothing in an entry is trusted: on every load the source parses it again and
checks its signatures against the verifier's trust root (free for unchanged
bytes, thanks to the verifier's digest-keyed cache), and a corrupt or
tampered entry is evicted and fetched again.  An entry is used while the
verification time is before its expiry: the earliest of the artifact's
``nextUpdate`` and its issuer chain's ``notAfter``; that expiry is computed
from the content, never read from the entry.

The store is :mod:`diskcache` (SQLite), safe for several processes and
threads sharing one directory, with a size limit (least recently stored
entries go first).  Values are bytes only: the cache never unpickles
anything it reads.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN

from .pcs import ARTIFACTS, Artifact, PcsResponse

__all__ = [
    "DEFAULT_SIZE_LIMIT",
    "CacheEntry",
    "CollateralCache",
    "default_cache_dir",
]

DEFAULT_SIZE_LIMIT = 64 << 20
"""Default size limit of a cache directory (64 MiB; one platform's collateral is ~30 KiB)."""

_FORMAT = "tdxquote-collateral-cache/1"


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


class _BytesDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache storage for bytes only: never pickles, never unpickles."""

    def store(self, value: object, read: bool, key: object = UNKNOWN) -> Any:
        if type(value) is not bytes or read:
            raise TypeError("the collateral cache stores bytes only")
        return super().store(value, read, key=key)

    def fetch(self, mode: int, filename: str | None, value: object, read: bool) -> Any:
        if mode not in (MODE_RAW, MODE_BINARY) or read:
            raise _Refused("not a bytes entry")
        return super().fetch(mode, filename, value, read)

    def get(self, key: object, raw: bool) -> Any:
        # A key stored pickled was not written by this cache: never unpickle it.
        return super().get(key, raw) if raw else None


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
    def __init__(self, directory: Path, size_limit: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._cache = diskcache.Cache(
            str(directory),
            disk=_BytesDisk,
            size_limit=size_limit,
            eviction_policy="least-recently-stored",
            statistics=False,
        )

    def get(self, key: str) -> bytes | None:
        value = self._cache.get(key, default=None, retry=True)
        return value if isinstance(value, bytes) else None

    def set(self, key: str, value: bytes) -> None:
        self._cache.set(key, value, retry=True)

    def delete(self, key: str) -> None:
        self._cache.delete(key, retry=True)

    def all_keys(self) -> list[str]:
        return [key for key in self._cache.iterkeys() if isinstance(key, str)]

    def clear(self) -> int:
        return int(self._cache.clear(retry=True))

    def volume(self) -> int:
        return int(self._cache.volume())

    def close(self) -> None:
        self._cache.close()


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

    # --- entries ----------------------------------------------------------------------

    def load(self, key: str) -> PcsResponse | None:
        """The response stored under ``key``; ``None`` when absent or undecodable (evicted)."""
        data = self._store.get(key)
        if data is None:
            return None
        decoded = _decode(data)
        if decoded is None:
            self._store.delete(key)
            return None
        return decoded[0]

    def store(self, key: str, response: PcsResponse, expires: datetime) -> None:
        """Store ``response`` under ``key``; ``expires`` is recorded for display and pruning."""
        entry = {
            "format": _FORMAT,
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
            decoded = _decode(data)
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


def _decode(data: bytes) -> tuple[PcsResponse, datetime | None, datetime | None] | None:
    try:
        entry = json.loads(data)
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
            return None
        artifact = entry["artifact"]
        if artifact not in ARTIFACTS:
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
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
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
