"""A quote's platform verified against a verified collateral: :class:`VerifiedPlatform`.

The platform is the PCK chain (the quote's own, or the collateral's for
certification data types 1-4).  Its checks, in Intel's order interleaved
with the collateral's stages (:class:`~._verified_collateral.CollateralCheck`):
the chain (names, signatures, trust root, CA constraints), both CRLs (the PCK
CRL against this chain's PCK CA), revocation of the PCK CA and the leaf, the
TCB Info and QE identity, then the PCK leaf's SGX extension.  The result is
remembered under the collateral's digest, the trust root and the chain's
digest; a failure never is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._chain_checks import (
    chain_digest,
    check_crl,
    check_not_revoked,
    check_root,
    issued_by,
    issued_by_cached,
    parse_pem_chain,
    public_key,
    require_ca,
)
from .._der import encode_oid_content
from .._x509_verify import CertView, X509FormatError
from ..errors import CertificateChainError, QuoteFormatError, QuoteParseError
from ..pck import SGX_EXTENSION_OID, PckExtension, parse_pck_extension
from ._verified_collateral import CollateralCheck, VerifiedCollateral
from ._windows import Validity, Windows

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from .._quote import Quote
    from .._trust import TrustRoot
    from .._verified_cache import VerifiedCache
    from ..collateral import Collateral

__all__ = ["PLATFORM_CHECKS", "PckChain", "VerifiedPlatform", "check_pck_chain", "platform_for"]

PLATFORM_CHECKS = (
    "quote_format",
    "pck_chain",
    "crls",
    "pck_not_revoked",
    "tcb_info_signature",
    "qe_identity_signature",
)
"""The check names the platform step passes, in order."""

_SGX_EXTENSION = encode_oid_content(SGX_EXTENSION_OID)
_COLLATERAL_CHAIN = b"collateral pck_certificate_chain"


@dataclass(frozen=True, slots=True)
class PckChain:
    """A PCK chain whose names, signatures and CA constraints verified under a trust root.

    ``leaf_key`` is ``None`` when the leaf's key is not a P-256 key (its QE
    report signature then cannot verify).
    """

    leaf: CertView
    intermediate: CertView
    root: CertView
    intermediate_key: EllipticCurvePublicKey
    leaf_key: EllipticCurvePublicKey | None

    @property
    def ca_type(self) -> str:
        """``platform`` or ``processor``: which PCK CA issued the leaf."""
        return "processor" if "Processor" in self.intermediate.common_name else "platform"


@dataclass(frozen=True, slots=True)
class VerifiedPlatform:
    """A PCK chain verified against a :class:`VerifiedCollateral`; the leaf's SGX extension.

    ``validity`` holds the dates of every collateral item and of the chain.
    """

    collateral: VerifiedCollateral
    chain: PckChain
    extension: PckExtension
    validity: Validity


def check_pck_chain(
    chain: tuple[CertView, ...], trust: TrustRoot, cache: VerifiedCache
) -> PckChain:
    """Order-independent PCK chain check (names, signatures, trust root, CA constraints)."""
    if len(chain) != 3:
        raise CertificateChainError(
            f"the PCK chain holds {len(chain)} certificates; Intel's QVL requires 3"
        )
    key = ("pck_chain", chain_digest(chain), trust.digest)
    found = cache.get(key)
    if isinstance(found, PckChain):
        return found
    roots = [c for c in chain if c.self_issued]
    leaves = [c for c in chain if "SGX PCK Certificate" in c.common_name]
    if len(roots) != 1 or len(leaves) != 1:
        raise CertificateChainError(
            "the PCK chain must hold one self-issued root and one 'SGX PCK Certificate' leaf"
        )
    root, leaf = roots[0], leaves[0]
    others = [c for c in chain if c is not root and c is not leaf]
    if len(others) != 1 or "CA" not in others[0].common_name:
        raise CertificateChainError("the PCK chain has no PCK Platform or Processor CA")
    intermediate = others[0]
    check_root(root, trust, cache, code="pck_chain_invalid", what="PCK chain")
    if not issued_by_cached(intermediate, root, trust.public_key, cache):
        raise CertificateChainError("the PCK CA certificate is not issued by the root")
    intermediate_key = public_key(intermediate)
    if intermediate_key is None or not issued_by(leaf, intermediate, intermediate_key):
        raise CertificateChainError("the PCK leaf certificate is not issued by the PCK CA")
    require_ca(intermediate, "the PCK CA certificate")
    require_ca(root, "the PCK chain's root")
    verified = PckChain(leaf, intermediate, root, intermediate_key, public_key(leaf))
    cache.put(key, verified)
    return verified


def platform_for(
    quote: Quote,
    collateral: Collateral,
    trust: TrustRoot,
    cache: VerifiedCache,
    checks: list[str],
) -> VerifiedPlatform:
    """The quote's platform, verified with the collateral (remembered, or checked now).

    Appends :data:`PLATFORM_CHECKS` to ``checks`` as they pass; raises the
    first failing check's error.
    """
    pem = quote.pck_chain_pem
    chain_id = _COLLATERAL_CHAIN if pem is None else hashlib.sha256(pem).digest()
    key = ("platform", collateral.digest, trust.digest, chain_id)
    found = cache.get(key)
    if isinstance(found, VerifiedPlatform):
        checks.extend(PLATFORM_CHECKS)
        return found
    platform = _check_platform(quote, pem, collateral, trust, cache, checks)
    cache.put(key, platform)
    return platform


def _check_platform(
    quote: Quote,
    pem: bytes | None,
    collateral: Collateral,
    trust: TrustRoot,
    cache: VerifiedCache,
    checks: list[str],
) -> VerifiedPlatform:
    staged = CollateralCheck(collateral, trust, cache)
    views = _chain_views(quote, pem, staged)
    checks.append("quote_format")

    # PCK certificate (sgxAttestationVerifyPCKCertificate)
    pck = check_pck_chain(views, trust, cache)
    checks.append("pck_chain")
    # PckCertVerifier's order: both CRLs, then the intermediate, then the leaf.
    staged.crls()
    pck_crl = staged.pck_crl
    intermediate = pck.intermediate
    assert intermediate.public_point is not None  # check_pck_chain loaded its key
    check_crl(
        pck_crl,
        intermediate.subject,
        intermediate.public_point,
        pck.intermediate_key,
        cache,
        what="PCK CRL",
    )
    checks.append("crls")
    check_not_revoked(
        intermediate,
        staged.root_crl.revoked,
        code="intermediate_revoked",
        what="PCK CA certificate",
    )
    check_not_revoked(pck.leaf, pck_crl.revoked, code="pck_revoked", what="PCK leaf certificate")
    checks.append("pck_not_revoked")

    # TCB Info and QE identity (sgxAttestationVerifyTCBInfo / VerifyEnclaveIdentity)
    staged.tcb_info()
    checks.append("tcb_info_signature")
    staged.qe_identity()
    checks.append("qe_identity_signature")
    verified = staged.finish()

    extension = _pck_extension(pck.leaf)
    windows = Windows()
    windows.certs((pck.leaf, pck.intermediate, pck.root))
    return VerifiedPlatform(verified, pck, extension, verified.validity.merge(windows.frozen()))


def _chain_views(quote: Quote, pem: bytes | None, staged: CollateralCheck) -> tuple[CertView, ...]:
    if quote.certification_data.type == 5:
        if pem is None:  # pragma: no cover - type 5 always carries PEM bytes
            raise CertificateChainError("the quote's PCK chain is missing")
        return parse_pem_chain(
            pem, code="pck_chain_invalid", what="the quote's PCK chain", known=staged.known
        )
    chain = staged.pck_certificate_chain()
    if chain is not None:
        return chain
    raise QuoteFormatError(
        f"certification data type {quote.certification_data.type} carries no PCK chain, "
        "and the collateral provides none"
    )


def _pck_extension(leaf: CertView) -> PckExtension:
    try:
        found = leaf.extensions.get(_SGX_EXTENSION)
    except X509FormatError as exc:
        raise CertificateChainError(
            f"the PCK leaf's extensions: {exc}", code="pck_cert_format"
        ) from None
    if found is None:
        raise CertificateChainError(
            f"the PCK leaf's SGX extension: certificate has no SGX extension ({SGX_EXTENSION_OID})",
            code="pck_cert_format",
        )
    try:
        return parse_pck_extension(found[1])
    except QuoteParseError as exc:
        raise CertificateChainError(
            f"the PCK leaf's SGX extension: {exc}", code="pck_cert_format"
        ) from None
