"""The one bounded, thread-safe LRU a :class:`~tdxquote.verification.Verifier` keeps.

Every entry is an immutable result of checks that passed, keyed by the
content digests (SHA-256) of the exact bytes checked and by the trust root:
never by names, serial numbers or object identity (Intel re-issued the TCB
Signing certificate with the same serial).  A failure is never stored, so it
is recomputed and reported afresh every time.  Nothing that depends on the
verification time is stored: expiry is judged on every call from the dates
an entry keeps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

__all__ = ["VerifiedCache"]

T = TypeVar("T")
_MISSING = object()


class VerifiedCache:
    """A bounded, thread-safe map from content-digest keys to verified results.

    ``max_entries`` bounds it (least recently used first out).  What it holds
    (see ``docs/architecture.md``): verified collateral, verified platforms
    (a PCK chain checked against a verified collateral), quote contexts (a
    platform's QE report checked against it), and the parts a collateral
    source verifies when it fetches (signing chains, signed documents, CRL
    signatures), so that the verifier does not check them twice.

    ``remember_qe_reports=False`` makes every verification check the QE
    report signature again (two ECDSA checks per quote instead of one).
    """

    def __init__(self, max_entries: int = 4096, *, remember_qe_reports: bool = True) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._entries: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        #: Whether QE report signatures are remembered (see the class documentation).
        self.remembers_qe_reports = remember_qe_reports

    def get(self, key: tuple[object, ...]) -> object | None:
        """The stored result for ``key``, or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[object, ...], value: object) -> None:
        """Store ``value`` (a result of checks that passed) for ``key``."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_compute(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """The stored result for ``key``, or ``compute()`` stored if it returns (not raises)."""
        value = self.get(key)
        if value is not None:
            return value  # type: ignore[return-value]
        computed = compute()
        self.put(key, computed)
        return computed

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def kinds(self) -> list[str]:
        """The kind of each entry (the first element of its key), oldest first."""
        with self._lock:
            return [str(key[0]) for key in self._entries]

    def __len__(self) -> int:
        return len(self._entries)
