"""The verified-collateral cache: work that depends only on exact bytes is done once.

Keys are content digests (never names or serials: Intel re-issued the TCB
Signing certificate with the same serial).  Only successes are stored, so a
failure is always recomputed and reported afresh.

The digests themselves are cheap to get for objects the caller keeps:
:func:`cert_digest` and :func:`held_digest` remember the digest of an
immutable object (a certificate, a CRL, the signed bytes of a TCB Info) for
as long as they hold it, so that verifying many quotes against the same
parsed collateral does not re-serialize and re-hash it on every call.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = [
    "IdentityMemo",
    "VerifiedCache",
    "cert_digest",
    "clear_identity_memos",
    "clear_process_memos",
    "crl_digest",
    "digest",
    "held_digest",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


def digest(data: bytes) -> bytes:
    """SHA-256 of ``data``: the key material of the cache."""
    return hashlib.sha256(data).digest()


class IdentityMemo(Generic[K, V]):
    """``compute(obj)`` remembered per object, for immutable objects only.

    An entry holds a strong reference to its object, so the object's ``id``
    cannot be reused by another object while the entry exists; at
    ``max_entries`` the memo starts afresh.  Use it only for objects whose
    value cannot change (``bytes``, ``cryptography`` certificates and CRLs).
    """

    def __init__(self, compute: Callable[[K], V], max_entries: int = 1024) -> None:
        self._compute = compute
        self._entries: dict[int, tuple[K, V]] = {}
        self._max = max_entries
        _MEMOS.append(self)

    def __call__(self, obj: K) -> V:
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = self._compute(obj)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[id(obj)] = (obj, value)
        return value

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()


_MEMOS: list[IdentityMemo[Any, Any]] = []


def clear_identity_memos() -> None:
    """Forget every remembered digest (a benchmark's "fresh process" state)."""
    for memo in _MEMOS:
        memo.clear()


def clear_process_memos() -> None:
    """Forget everything remembered process-wide, as in a fresh process.

    Decoded PCK chains and extensions, digests of held objects, collateral
    keys, TCB evaluations and supplemental data; a :class:`VerifiedCache` is
    per verifier and is not touched.  For benchmarks of cold verification.
    """
    from .. import _pem_chain, pck
    from . import _platform, _tcb, _verifier

    _pem_chain.clear_decoded_chains()
    pck.clear_parsed_extensions()
    clear_identity_memos()
    _platform.clear_collateral_keys()
    _tcb.clear_evaluations()
    _verifier._supplementals.clear()


def _cert_sha256(cert: x509.Certificate) -> bytes:
    return digest(cert.public_bytes(Encoding.DER))


def _crl_sha256(crl: x509.CertificateRevocationList) -> bytes:
    return digest(crl.public_bytes(Encoding.DER))


cert_digest: IdentityMemo[x509.Certificate, bytes] = IdentityMemo(_cert_sha256)
"""SHA-256 of a certificate's DER encoding (remembered per certificate object)."""

crl_digest: IdentityMemo[x509.CertificateRevocationList, bytes] = IdentityMemo(_crl_sha256, 64)
"""SHA-256 of a CRL's DER encoding (remembered per CRL object)."""

held_digest: IdentityMemo[bytes, bytes] = IdentityMemo(digest)
"""SHA-256 of a ``bytes`` object the caller keeps (collateral's signed bytes).

For bytes made afresh on every call (slices of a quote) use :func:`digest`.
"""


class VerifiedCache:
    """A bounded, thread-safe map from content digests to verified results.

    QE report signatures that verified are remembered too (unless
    ``remember_qe_reports=False``), keyed by the digests of the report, its
    signature and the PCK leaf: every quote of a platform carries the same QE
    report, so a stream of quotes from known platforms costs one ECDSA check
    per quote (its own signature) instead of two.  Like every entry here, it
    stands for a check of exactly those bytes; the QE report's binding to each
    quote's attestation key is checked on every call either way.
    """

    def __init__(self, max_entries: int = 4096, *, remember_qe_reports: bool = True) -> None:
        self._entries: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.hits = 0
        self.misses = 0
        #: Whether QE report signatures are remembered (see the class documentation).
        self.remembers_qe_reports = remember_qe_reports

    def get_or_compute(self, key: tuple[object, ...], compute: Callable[[], T]) -> T:
        """The stored result for ``key``, or ``compute()`` stored if it returns."""
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is not _MISSING:
                self._entries.move_to_end(key)
                self.hits += 1
                return value  # type: ignore[return-value]
        value = compute()
        with self._lock:
            self.misses += 1
            self._entries[key] = value
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return value

    def get(self, key: tuple[object, ...]) -> object | None:
        """The stored result for ``key``, or None (a summary of results stored before)."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            return value

    def put(self, key: tuple[object, ...], value: object) -> None:
        """Store ``value`` (not None) for ``key``: only ever what has succeeded."""
        with self._lock:
            self.misses += 1
            self._entries[key] = value
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_MISSING = object()
