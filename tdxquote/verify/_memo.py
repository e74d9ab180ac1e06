"""The verified-collateral cache: work that depends only on exact bytes is done once.

Keys are content digests (never names or serials: Intel re-issued the TCB
Signing certificate with the same serial).  Only successes are stored, so a
failure is always recomputed and reported afresh.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes

__all__ = ["VerifiedCache", "cert_digest", "digest"]

T = TypeVar("T")


def digest(data: bytes) -> bytes:
    """SHA-256 of ``data``: the key material of the cache."""
    return hashlib.sha256(data).digest()


def cert_digest(cert: x509.Certificate) -> bytes:
    """SHA-256 of a certificate's DER encoding."""
    return cert.fingerprint(_SHA256)


_SHA256 = hashes.SHA256()


class VerifiedCache:
    """A bounded, thread-safe map from content digests to verified results."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """The stored result for ``key``, or ``compute()`` stored if it returns."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self.misses += 1
            self._entries[key] = value
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
