"""The ITA key cache: the portal's JWKS and the signing chain's CRLs, as received.

Entries are the exact bytes a server sent, keyed by kind and URL (the JWKS
by the portal's ``/certs`` URL, a CRL by its distribution point).  As in
the collateral cache (:mod:`tdxquote.collateral.cache`), nothing in an
entry is trusted: the JWKS is parsed again and its key's chain, pin and
CRLs checked on every use, and a CRL is verified against its issuer and
``now`` on every use.  The JWKS is kept until the token's ``kid`` is not in
it (or it stops verifying), then fetched again once; a CRL until its
``nextUpdate``.  An entry stored under another key, or that does not
decode, is ignored and replaced.

The store is the collateral cache's bytes-only :mod:`diskcache` store (it
never unpickles), or a dict for :meth:`ItaKeyCache.memory`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from tdxquote.collateral.cache import _DiskStore, _MemoryStore

__all__ = ["DEFAULT_ITA_CACHE_SIZE", "ItaKeyCache", "default_ita_cache_dir"]

DEFAULT_ITA_CACHE_SIZE = 16 << 20
"""Default size limit of an ITA cache directory (a JWKS and two CRLs are a few KiB)."""

_FORMAT = "tdxquote-ita-cache/1"
_KINDS = ("jwks", "crl")


def default_ita_cache_dir() -> Path:
    """``$TDXQUOTE_ITA_CACHE_DIR``, else ``$XDG_CACHE_HOME/tdxquote/ita`` (``~/.cache``)."""
    configured = os.environ.get("TDXQUOTE_ITA_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tdxquote" / "ita"


class ItaKeyCache:
    """JWKS and CRL bytes in ``directory`` (default :func:`default_ita_cache_dir`).

    :meth:`memory` gives a cache held by this process only (what the
    verifiers use when given none).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        size_limit: int = DEFAULT_ITA_CACHE_SIZE,
    ) -> None:
        self.directory: Path | None = (
            Path(directory) if directory is not None else default_ita_cache_dir()
        )
        self._store: _DiskStore | _MemoryStore = _DiskStore(self.directory, size_limit)

    @classmethod
    def memory(cls) -> ItaKeyCache:
        """A cache held in memory only."""
        cache = cls.__new__(cls)
        cache.directory = None
        cache._store = _MemoryStore()
        return cache

    def __repr__(self) -> str:
        where = "memory" if self.directory is None else str(self.directory)
        return f"<ItaKeyCache {where}>"

    @staticmethod
    def key(kind: str, url: str) -> str:
        """The store key of ``kind`` (``"jwks"`` or ``"crl"``) fetched from ``url``."""
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
        return f"ita:{kind}:{url}"

    def load(self, kind: str, url: str) -> bytes | None:
        """The bytes stored for ``kind`` at ``url``; None when absent or undecodable (evicted)."""
        key = self.key(kind, url)
        data = self._store.get(key)
        if data is None:
            return None
        body = _decode(data, kind, url)
        if body is None:
            self._store.delete(key)
        return body

    def store(self, kind: str, url: str, body: bytes) -> None:
        """Store ``body`` as received from ``url``."""
        entry = {
            "format": _FORMAT,
            "kind": kind,
            "url": url,
            "body": base64.b64encode(body).decode("ascii"),
            "stored_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self._store.set(self.key(kind, url), json.dumps(entry, sort_keys=True).encode())

    def evict(self, kind: str, url: str) -> None:
        """Forget what is stored for ``kind`` at ``url``."""
        self._store.delete(self.key(kind, url))

    def clear(self) -> int:
        """Delete every entry; return how many there were."""
        return self._store.clear()

    def close(self) -> None:
        """Close the underlying store."""
        self._store.close()


def _decode(data: bytes, kind: str, url: str) -> bytes | None:
    try:
        entry = json.loads(data)
        if not isinstance(entry, dict) or entry.get("format") != _FORMAT:
            return None
        # An entry copied under another key says so: it is not this URL's.
        if entry.get("kind") != kind or entry.get("url") != url:
            return None
        return base64.b64decode(entry["body"], validate=True)
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        return None
