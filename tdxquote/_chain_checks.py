"""Certificate chain and CRL checks over DER views, shared by the verifier and the sources.

Intel's QVL rules (``PckCertVerifier``, ``TCBSigningChain``, ``CrlStore``):
names compared as raw DER, signatures checked over the exact signed bytes
with the issuer's P-256 key.  Each check that passes is remembered in the
caller's :class:`~tdxquote._verified_cache.VerifiedCache` under the digests
of what it checked and the trust root, so the fetch-time checks of a
collateral source and the verifier's own checks of the same bytes are one.
Time is never judged here: it depends on ``now`` and is the caller's.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._x509_verify import (
    CertView,
    CrlView,
    X509FormatError,
    describe_name,
    p256_key,
    parse_certificate,
    verify_der_signature,
    verify_raw_signature,
)
from .errors import CertificateChainError, CollateralSignatureError, CrlError, RevokedError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from ._trust import TrustRoot
    from ._verified_cache import VerifiedCache

__all__ = [
    "SigningChain",
    "check_crl",
    "check_not_revoked",
    "check_pck_crl_issuer_chain",
    "check_root",
    "check_signed_json",
    "check_signing_chain",
    "issued_by",
    "issued_by_cached",
    "parse_pem_chain",
    "pem_certificate_ders",
    "public_key",
    "require_ca",
    "view_of",
]

_BEGIN = b"-----BEGIN "
_END_CERTIFICATE = b"-----END CERTIFICATE-----"
_DASHES = b"-----"
_PEM_SPACE = b" \t\r\n"
_LABEL = re.compile(rb"[A-Z0-9 ]+")
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def pem_certificate_ders(text: str | bytes) -> list[bytes]:
    """The DER of every ``CERTIFICATE`` block of ``text``: only whitespace around them.

    ValueError for non-ASCII text, another label, bad base64, an empty block,
    text outside the blocks, or no block at all.
    """
    data = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if not data.isascii():
        raise ValueError("not ASCII text")
    ders: list[bytes] = []
    position = 0
    while True:
        begin = data.find(_BEGIN, position)
        gap = data[position:] if begin < 0 else data[position:begin]
        if gap.translate(None, _PEM_SPACE):
            raise ValueError(f"unexpected text outside PEM blocks: {gap.strip()[:60]!r}")
        if begin < 0:
            break
        label_end = data.find(_DASHES, begin + len(_BEGIN))
        label = data[begin + len(_BEGIN) : label_end] if label_end >= 0 else b""
        if not _LABEL.fullmatch(label):
            raise ValueError(f"PEM block {len(ders)}: malformed BEGIN line")
        if label != b"CERTIFICATE":
            raise ValueError(f"PEM block {len(ders)}: expected CERTIFICATE, got {label.decode()}")
        body_start = label_end + len(_DASHES)
        end = data.find(_END_CERTIFICATE, body_start)
        if end < 0:
            raise ValueError(f"PEM block {len(ders)}: no END CERTIFICATE line")
        body = data[body_start:end].translate(None, _PEM_SPACE)
        # base64 characters, then at most two "=" (a regular expression costs more)
        digits = body.rstrip(b"=")
        if len(body) - len(digits) > 2 or digits.translate(None, _BASE64_ALPHABET):
            raise ValueError(f"PEM block {len(ders)}: bad base64")
        try:
            der = binascii.a2b_base64(body)
        except binascii.Error as exc:
            raise ValueError(f"PEM block {len(ders)}: bad base64: {exc}") from None
        if not der:
            raise ValueError(f"PEM block {len(ders)}: empty")
        ders.append(der)
        position = end + len(_END_CERTIFICATE)
    if not ders:
        raise ValueError("no PEM CERTIFICATE block found")
    return ders


def parse_pem_chain(
    pem: bytes, *, code: str, what: str, known: dict[bytes, CertView] | None = None
) -> tuple[CertView, ...]:
    """The certificates of a PEM chain (only certificate blocks and whitespace), as views.

    ``known`` maps DER to views already read (and receives the new ones).
    """
    try:
        ders = pem_certificate_ders(pem)
    except (UnicodeError, ValueError) as exc:
        raise CertificateChainError(
            f"{what}: not a PEM certificate chain: {exc}", code=code
        ) from None
    views = []
    for index, der in enumerate(ders):
        try:
            views.append(view_of(der, known))
        except X509FormatError as exc:
            raise CertificateChainError(
                f"{what}: certificate {index} does not decode: {exc}", code=code
            ) from None
    return tuple(views)


def view_of(der: bytes, known: dict[bytes, CertView] | None = None) -> CertView:
    """:func:`parse_certificate`, or the view in ``known`` (which receives a new one)."""
    if known is None:
        return parse_certificate(der)
    view = known.get(der)
    if view is None:
        view = known[der] = parse_certificate(der)
    return view


def chain_digest(views: tuple[CertView, ...]) -> bytes:
    """One digest for an ordered chain (the digests of its certificates)."""
    return hashlib.sha256(b"".join(view.digest for view in views)).digest()


def issued_by(child: CertView, parent: CertView, parent_key: EllipticCurvePublicKey) -> bool:
    """``child`` names ``parent`` as issuer and carries its ECDSA-SHA256 signature."""
    return (
        child.issuer == parent.subject
        and child.ecdsa_sha256
        and verify_der_signature(parent_key, child.signature, child.tbs)
    )


def issued_by_cached(
    child: CertView, parent: CertView, parent_key: EllipticCurvePublicKey, cache: VerifiedCache
) -> bool:
    """:func:`issued_by`, remembered when it holds (a PCK CA is shared by many chains)."""
    key = ("issued", child.digest, parent.digest)
    if cache.get(key) is not None:
        return True
    if not issued_by(child, parent, parent_key):
        return False
    cache.put(key, True)
    return True


def public_key(cert: CertView) -> EllipticCurvePublicKey | None:
    """The certificate's P-256 key, or None (another kind of key, or a point off the curve)."""
    if cert.public_point is None:
        return None
    try:
        return p256_key(cert.public_point)
    except ValueError:
        return None


def require_ca(cert: CertView, what: str) -> None:
    """A certificate that issues others must say it is a CA (stricter than Intel's QVL)."""
    if not cert.is_ca():
        raise CertificateChainError(
            f"{what} ({cert.common_name!r}) issues certificates but lacks BasicConstraints "
            "CA=true or KeyUsage keyCertSign",
            code="ca_constraints_invalid",
        )


def check_root(
    root: CertView, trust: TrustRoot, cache: VerifiedCache, *, code: str, what: str
) -> None:
    """A chain's self-issued root: an SGX Root CA, validly self-signed, with the trusted key.

    The pinned trust root's own certificate is recognised by its bytes; its
    self-signature is not checked again on every chain.
    """
    if "SGX Root CA" not in root.common_name:
        raise CertificateChainError(
            f"{what}: the root's common name is not an SGX Root CA", code=code
        )
    if root.der != trust.der:
        key = ("root", root.digest, trust.digest)
        if cache.get(key) is None:
            own_key = public_key(root)
            if own_key is None or not issued_by(root, root, own_key):
                raise CertificateChainError(
                    f"{what}: the root is not validly self-signed", code=code
                )
            if root.public_point == trust.public_key_bytes:
                cache.put(key, True)
        if root.public_point != trust.public_key_bytes:
            untrusted = "pck_chain_untrusted" if code == "pck_chain_invalid" else code
            raise CertificateChainError(
                f"{what}: the chain's root is not the trusted root "
                f"({describe_name(trust.subject)}, sha256 {trust.sha256})",
                code=untrusted,
            )


@dataclass(frozen=True)
class SigningChain:
    """A TCB Signing chain that verified: the signing certificate and its loaded key."""

    signer: CertView
    key: EllipticCurvePublicKey


def check_signing_chain(
    chain: tuple[CertView, ...],
    trust: TrustRoot,
    cache: VerifiedCache,
    *,
    code: str,
    what: str,
) -> SigningChain:
    """TCB Signing chain (signing certificate + root, any order) issued under ``trust``.

    Remembered per chain and trust root; not keyed by ``code``: the TCB Info
    and QE identity chains are usually the same certificates.
    """
    if len(chain) != 2:
        raise CertificateChainError(
            f"{what} issuer chain holds {len(chain)} certificates; Intel's QVL requires 2 "
            "(TCB Signing certificate and root)",
            code=code,
        )
    key = ("signing_chain", chain_digest(chain), trust.digest)
    found = cache.get(key)
    if isinstance(found, SigningChain):
        return found
    roots = [c for c in chain if c.self_issued]
    signers = [c for c in chain if "SGX TCB Signing" in c.common_name]
    if len(roots) != 1 or len(signers) != 1 or roots[0] is signers[0]:
        raise CertificateChainError(
            f"{what} issuer chain must hold a self-issued root and an 'SGX TCB Signing' "
            "certificate",
            code=code,
        )
    root, signer = roots[0], signers[0]
    check_root(root, trust, cache, code=code, what=f"{what} issuer chain")
    if not issued_by(signer, root, trust.public_key):
        raise CertificateChainError(
            f"{what}: the TCB Signing certificate is not issued by the root", code=code
        )
    require_ca(root, f"the {what} issuer chain's root")
    signer_key = public_key(signer)
    if signer_key is None:
        raise CertificateChainError(f"{what}: the TCB Signing key is not a P-256 key", code=code)
    result = SigningChain(signer, signer_key)
    cache.put(key, result)
    return result


def check_crl(
    crl: CrlView,
    issuer_subject: bytes,
    issuer_point: bytes,
    issuer_key: EllipticCurvePublicKey,
    cache: VerifiedCache,
    *,
    what: str,
) -> None:
    """A CRL's issuer name, required extensions and signature (Intel's order)."""
    if crl.issuer != issuer_subject:
        raise CrlError(
            f"the {what} is issued by {describe_name(crl.issuer)}, "
            f"not by {describe_name(issuer_subject)}",
            code="crl_issuer_mismatch",
        )
    if crl.crl_number is None:
        raise CrlError(f"the {what} lacks the required CRL Number extension")
    if not crl.has_authority_key_identifier:
        raise CrlError(f"the {what} lacks the required Authority Key Identifier extension")
    key = ("crl", crl.digest, issuer_point)
    if cache.get(key) is None:
        if not (crl.ecdsa_sha256 and verify_der_signature(issuer_key, crl.signature, crl.tbs)):
            raise CrlError(f"the {what} signature does not verify with its issuer's key")
        cache.put(key, True)


def check_not_revoked(cert: CertView, revoked: frozenset[int], *, code: str, what: str) -> None:
    """Raise :class:`RevokedError` when ``cert``'s serial is in ``revoked``."""
    if cert.serial in revoked:
        raise RevokedError(f"the {what} (serial {cert.serial:x}) is revoked", code=code)


def check_signed_json(
    signing: SigningChain,
    body: bytes,
    signature: bytes,
    cache: VerifiedCache,
    *,
    what: str,
    code: str,
) -> None:
    """A TCB Info or QE identity signature (raw ``r || s``) over its exact bytes."""
    key = ("signed", hashlib.sha256(body).digest(), bytes(signature), signing.signer.digest)
    if cache.get(key) is None:
        if not verify_raw_signature(signing.key, signature, body):
            raise CollateralSignatureError(
                f"the {what} signature does not verify over its exact bytes", code=code
            )
        cache.put(key, True)


def check_pck_crl_issuer_chain(
    chain: tuple[CertView, ...], trust: TrustRoot, cache: VerifiedCache
) -> CertView:
    """The PCK CRL issuer chain a PCS answers with: the PCK CA and the trusted root."""
    roots = [c for c in chain if c.self_issued]
    others = [c for c in chain if not c.self_issued]
    if len(chain) != 2 or len(roots) != 1 or len(others) != 1:
        raise CertificateChainError(
            "the PCK CRL issuer chain must hold the PCK CA and the root", code="crl_invalid"
        )
    root, issuer = roots[0], others[0]
    if root.public_point != trust.public_key_bytes:
        raise CertificateChainError(
            "the PCK CRL issuer chain's root is not the trusted root", code="crl_invalid"
        )
    key = ("pck_crl_chain", chain_digest(chain), trust.digest)
    if cache.get(key) is None:
        self_signed = root.der == trust.der or issued_by(root, root, trust.public_key)
        if not (self_signed and issued_by_cached(issuer, root, trust.public_key, cache)):
            raise CertificateChainError(
                "the PCK CRL issuer chain does not verify", code="crl_invalid"
            )
        cache.put(key, True)
    return issuer
