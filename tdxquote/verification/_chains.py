"""Certificate chains and CRLs, as Intel's QVL checks them (PckCertVerifier, TCBSigningChain).

Signatures and names are checked here and memoized by content digest; time
validity is checked separately (:mod:`._validity`) on every call, because it
depends on ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtensionOID

from .. import _x509_read
from ._errors import CertificateChainError, CrlError, RevokedError
from ._memo import VerifiedCache, cert_digest, crl_digest
from ._trust import TrustRoot

__all__ = [
    "PckChain",
    "check_crl",
    "check_not_revoked",
    "check_pck_chain",
    "check_signing_chain",
]


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


class _NotIssued(Exception):
    pass


def _issued_by_cached(
    child: x509.Certificate, parent: x509.Certificate, cache: VerifiedCache
) -> bool:
    """:func:`_issued_by`, remembered by the two certificates' digests when it holds.

    The root's self-signature and the TCB Signing certificate are shared by
    the PCK chain and both issuer chains: each signature is checked once.
    """

    def check() -> bool:
        if not _issued_by(child, parent):
            raise _NotIssued
        return True

    key = ("issued_by", cert_digest(child), cert_digest(parent))
    try:
        return cache.get_or_compute(key, check)
    except _NotIssued:
        return False


@dataclass(frozen=True)
class _Names:
    """A certificate with its names decoded once (cryptography decodes them on every access)."""

    cert: x509.Certificate
    subject: x509.Name
    issuer: x509.Name
    common_name: str

    @property
    def self_issued(self) -> bool:
        return self.issuer == self.subject


def _decoded(chain: tuple[x509.Certificate, ...], code: str, what: str) -> list[_Names]:
    """Every certificate's names, extensions and key decoded, or CertificateChainError."""
    decoded = []
    with _x509_read.quiet_name_warnings():
        for index, cert in enumerate(chain):

            def fail(reason: str, index: int = index) -> CertificateChainError:
                return CertificateChainError(f"{what}: certificate {index}: {reason}", code=code)

            read = _x509_read.names(cert, fail)
            _x509_read.extensions(cert, fail)
            _x509_read.public_key(cert, fail)
            decoded.append(_Names(cert, read.subject, read.issuer, read.subject_cn))
    return decoded


def _check_root(root: _Names, trust: TrustRoot, cache: VerifiedCache, code: str, what: str) -> None:
    if "SGX Root CA" not in root.common_name:
        raise CertificateChainError(
            f"{what}: the root's common name is not an SGX Root CA", code=code
        )
    if not _issued_by_cached(root.cert, root.cert, cache):
        raise CertificateChainError(f"{what}: the root is not validly self-signed", code=code)
    key = root.cert.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    if key != trust.public_key_bytes:
        untrusted = "pck_chain_untrusted" if code == "pck_chain_invalid" else code
        raise CertificateChainError(
            f"{what}: the chain's root is not the trusted root "
            f"({trust.certificate.subject.rfc4514_string()}, sha256 {trust.sha256})",
            code=untrusted,
        )


@dataclass(frozen=True)
class PckChain:
    """A PCK chain whose names and signatures verified: leaf, intermediate CA, root."""

    leaf: x509.Certificate
    intermediate: x509.Certificate
    root: x509.Certificate

    @cached_property
    def ca_type(self) -> str:
        """``platform`` or ``processor``: which PCK CA issued the leaf."""
        intermediate = _x509_read.names(self.intermediate, CertificateChainError)
        return "processor" if "Processor" in intermediate.subject_cn else "platform"


def check_pck_chain(
    chain: tuple[x509.Certificate, ...], trust: TrustRoot, cache: VerifiedCache
) -> PckChain:
    """Order-independent PCK chain check (names, signatures, trust root)."""
    if len(chain) != 3:
        raise CertificateChainError(
            f"the PCK chain holds {len(chain)} certificates; Intel's QVL requires 3"
        )
    key = ("pck_chain", *(cert_digest(c) for c in chain), trust.sha256)
    return cache.get_or_compute(key, lambda: _check_pck_chain(chain, trust, cache))


def _check_pck_chain(
    chain: tuple[x509.Certificate, ...], trust: TrustRoot, cache: VerifiedCache
) -> PckChain:
    decoded = _decoded(chain, "pck_chain_invalid", "the PCK chain")
    roots = [c for c in decoded if c.self_issued]
    leaves = [c for c in decoded if "SGX PCK Certificate" in c.common_name]
    if len(roots) != 1 or len(leaves) != 1:
        raise CertificateChainError(
            "the PCK chain must hold one self-issued root and one 'SGX PCK Certificate' leaf"
        )
    root, leaf = roots[0], leaves[0]
    others = [c for c in decoded if c is not root and c is not leaf]
    if len(others) != 1 or "CA" not in others[0].common_name:
        raise CertificateChainError("the PCK chain has no PCK Platform or Processor CA")
    intermediate = others[0]
    _check_root(root, trust, cache, "pck_chain_invalid", "PCK chain")
    if not _issued_by_cached(intermediate.cert, root.cert, cache):
        raise CertificateChainError("the PCK CA certificate is not issued by the root")
    if not _issued_by_cached(leaf.cert, intermediate.cert, cache):
        raise CertificateChainError("the PCK leaf certificate is not issued by the PCK CA")
    return PckChain(leaf=leaf.cert, intermediate=intermediate.cert, root=root.cert)


def check_signing_chain(
    chain: tuple[x509.Certificate, ...],
    trust: TrustRoot,
    cache: VerifiedCache,
    *,
    code: str,
    what: str,
) -> x509.Certificate:
    """TCB Signing chain check (signing certificate + root); returns the signing certificate."""
    if len(chain) != 2:
        raise CertificateChainError(
            f"{what} issuer chain holds {len(chain)} certificates; Intel's QVL requires 2 "
            "(TCB Signing certificate and root)",
            code=code,
        )
    # Not keyed by ``code``: the TCB Info and QE identity chains are usually the same
    # certificates, and what verified for one holds for the other.
    key = ("signing_chain", *(cert_digest(c) for c in chain), trust.sha256)
    return cache.get_or_compute(key, lambda: _check_signing_chain(chain, trust, cache, code, what))


def _check_signing_chain(
    chain: tuple[x509.Certificate, ...],
    trust: TrustRoot,
    cache: VerifiedCache,
    code: str,
    what: str,
) -> x509.Certificate:
    decoded = _decoded(chain, code, f"{what} issuer chain")
    roots = [c for c in decoded if c.self_issued]
    signers = [c for c in decoded if "SGX TCB Signing" in c.common_name]
    if len(roots) != 1 or len(signers) != 1 or roots[0] is signers[0]:
        raise CertificateChainError(
            f"{what} issuer chain must hold a self-issued root and an 'SGX TCB Signing' "
            "certificate",
            code=code,
        )
    root, signer = roots[0], signers[0]
    _check_root(root, trust, cache, code, f"{what} issuer chain")
    if not _issued_by_cached(signer.cert, root.cert, cache):
        raise CertificateChainError(
            f"{what}: the TCB Signing certificate is not issued by the root", code=code
        )
    return signer.cert


def check_crl(
    crl: x509.CertificateRevocationList,
    issuer: x509.Certificate,
    cache: VerifiedCache,
    *,
    what: str,
) -> frozenset[int]:
    """Check a CRL's issuer, signature and required extensions; return its revoked serials."""
    key = ("crl", crl_digest(crl), cert_digest(issuer))
    return cache.get_or_compute(key, lambda: _check_crl(crl, issuer, what))


def _check_crl(
    crl: x509.CertificateRevocationList, issuer: x509.Certificate, what: str
) -> frozenset[int]:
    crl_issuer = _x509_read.crl_issuer(crl, lambda reason: CrlError(f"the {what}: {reason}"))
    issuer_name = _x509_read.names(issuer, CertificateChainError).subject
    if crl_issuer != issuer_name:
        raise CrlError(
            f"the {what} is issued by {_x509_read.name_text(crl_issuer)}, "
            f"not by {_x509_read.name_text(issuer_name)}",
            code="crl_issuer_mismatch",
        )
    for oid, name in (
        (ExtensionOID.CRL_NUMBER, "CRL Number"),
        (ExtensionOID.AUTHORITY_KEY_IDENTIFIER, "Authority Key Identifier"),
    ):
        try:
            crl.extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            raise CrlError(f"the {what} lacks the required {name} extension") from None
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise CrlError(f"the {what} signature does not verify with its issuer's key")
    return frozenset(entry.serial_number for entry in crl)


def check_not_revoked(
    cert: x509.Certificate, revoked: frozenset[int], *, code: str, what: str
) -> None:
    """Raise :class:`RevokedError` when ``cert``'s serial is in ``revoked``."""
    if cert.serial_number in revoked:
        raise RevokedError(f"the {what} (serial {cert.serial_number:x}) is revoked", code=code)
