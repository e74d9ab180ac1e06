"""The collateral half of verification, remembered per exact bytes.

The checks of the PCK chain, both CRLs, revocation, the TCB Info and QE
identity signing chains and their signatures depend only on the quote's PCK
chain, the collateral and the trust root: never on the quote's body or
signatures, nor on ``now``.  :func:`check_platform` runs them in Intel's
order the first time and remembers the outcome (successes only) under the
content digests of every one of those inputs; quotes of a known platform
then skip straight to their own checks.  Validity windows are remembered as
dates, and expiry is judged on every call by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from cryptography import x509

from ..errors import QuoteParseError
from ..pck import PckExtension, pck_extension_from_certificate
from . import _crypto
from ._chains import PckChain, check_crl, check_not_revoked, check_pck_chain, check_signing_chain
from ._errors import CertificateChainError, CollateralSignatureError, QuoteFormatError
from ._memo import IdentityMemo, VerifiedCache, cert_digest, crl_digest, digest, held_digest
from ._trust import TrustRoot

if TYPE_CHECKING:
    from .._quote import Quote
    from ..collateral import Collateral

__all__ = ["PLATFORM_CHECKS", "Windows", "check_platform", "clear_collateral_keys"]

PLATFORM_CHECKS = (
    "quote_format",
    "pck_chain",
    "crls",
    "pck_not_revoked",
    "tcb_info_signature",
    "qe_identity_signature",
)
"""The check names :func:`check_platform` passes, in order."""


def _cert_window(cert: x509.Certificate) -> tuple[datetime, datetime]:
    return cert.not_valid_before_utc, cert.not_valid_after_utc


_cert_windows = IdentityMemo(_cert_window)


_NEVER = datetime.max.replace(tzinfo=timezone.utc)
_ALWAYS = datetime.min.replace(tzinfo=timezone.utc)


class Windows:
    """Validity windows of every collateral item, for expiry and supplemental dates.

    Kept as running extremes (earliest and latest start, earliest end, latest
    start that must have passed), which is all that expiry and the
    supplemental dates need.
    """

    __slots__ = ("earliest_end", "earliest_start", "latest_checked_start", "latest_start")

    def __init__(self) -> None:
        self.earliest_start = _NEVER
        self.latest_start = _ALWAYS
        self.earliest_end = _NEVER
        self.latest_checked_start = _ALWAYS

    def add(self, start: datetime, end: datetime, *, start_checked: bool = True) -> None:
        """One item valid from ``start`` to ``end`` (``start`` counts for expiry if checked)."""
        if start < self.earliest_start:
            self.earliest_start = start
        if start > self.latest_start:
            self.latest_start = start
        if end < self.earliest_end:
            self.earliest_end = end
        if start_checked and start > self.latest_checked_start:
            self.latest_checked_start = start

    def certs(self, certs: tuple[x509.Certificate, ...]) -> None:
        """Every certificate's notBefore and notAfter."""
        for cert in certs:
            start, end = _cert_windows(cert)
            self.add(start, end)

    def crl(self, crl: x509.CertificateRevocationList, what: str) -> None:
        """A CRL's thisUpdate and nextUpdate (a CRL without nextUpdate is refused)."""
        end = crl.next_update_utc
        if end is None:
            raise CertificateChainError(f"the {what} has no nextUpdate", code="crl_invalid")
        self.add(crl.last_update_utc, end)

    def merge(self, other: Windows) -> None:
        """Add every window of ``other`` (remembered from an earlier call)."""
        self.earliest_start = min(self.earliest_start, other.earliest_start)
        self.latest_start = max(self.latest_start, other.latest_start)
        self.earliest_end = min(self.earliest_end, other.earliest_end)
        self.latest_checked_start = max(self.latest_checked_start, other.latest_checked_start)

    def expired(self, now: datetime) -> bool:
        """Whether ``now`` is outside some window.

        Intel's QvE: expired when the earliest expiration <= now.  A
        certificate's notBefore or a CRL's thisUpdate after now also counts;
        TCB Info / QE identity issueDate does not (QVL never checks it; it
        only feeds the supplemental issue dates).
        """
        return self.earliest_end <= now or self.latest_checked_start > now


@dataclass(frozen=True)
class _Platform:
    """What passed for one PCK chain, collateral and trust root."""

    pck: PckChain
    extension: PckExtension
    windows: Windows


def _chain_key(quote: Quote, collateral: Collateral) -> tuple[object, ...]:
    pem = quote.pck_chain_pem
    if pem is not None:
        return ("pem", digest(pem))
    chain = collateral.pck_certificate_chain
    if chain is None:
        return ("no_chain",)
    return ("collateral_chain", *map(cert_digest, chain))


def _collateral_parts(collateral: Collateral) -> tuple[object, ...]:
    tcb_info = collateral.tcb_info
    identity = collateral.qe_identity
    return (
        collateral.root_ca_crl,
        collateral.pck_crl,
        collateral.pck_crl_issuer_chain,
        collateral.tcb_info_issuer_chain,
        tcb_info.signed_body,
        tcb_info.signature,
        collateral.qe_identity_issuer_chain,
        identity.signed_body,
        identity.signature,
    )


def _collateral_key(collateral: Collateral) -> tuple[object, ...]:
    tcb_info = collateral.tcb_info
    identity = collateral.qe_identity
    return (
        "crls",
        crl_digest(collateral.root_ca_crl),
        crl_digest(collateral.pck_crl),
        "crl_chain",
        *map(cert_digest, collateral.pck_crl_issuer_chain),
        "tcb_info",
        *map(cert_digest, collateral.tcb_info_issuer_chain),
        held_digest(tcb_info.signed_body),
        held_digest(tcb_info.signature),
        "qe_identity",
        *map(cert_digest, collateral.qe_identity_issuer_chain),
        held_digest(identity.signed_body),
        held_digest(identity.signature),
    )


# id(collateral) -> (collateral, its parts, their digests).  A hit needs the same parts (the
# same objects, or equal ones), so it holds even if a collateral object were changed in place.
_collateral_keys: dict[int, tuple[Collateral, tuple[object, ...], tuple[object, ...]]] = {}
_MAX_COLLATERALS = 64


def _platform_key(quote: Quote, collateral: Collateral, trust: TrustRoot) -> tuple[object, ...]:
    parts = _collateral_parts(collateral)
    entry = _collateral_keys.get(id(collateral))
    if entry is not None and entry[0] is collateral and entry[1] == parts:
        collateral_key = entry[2]
    else:
        collateral_key = _collateral_key(collateral)
        if len(_collateral_keys) >= _MAX_COLLATERALS:
            _collateral_keys.clear()
        _collateral_keys[id(collateral)] = (collateral, parts, collateral_key)
    return ("platform", *_chain_key(quote, collateral), *collateral_key, trust.sha256)


def clear_collateral_keys() -> None:
    """Forget the remembered collateral digests (a benchmark's "fresh process" state)."""
    _collateral_keys.clear()


def check_platform(
    quote: Quote,
    collateral: Collateral,
    trust: TrustRoot,
    cache: VerifiedCache,
    checks: list[str],
    windows: Windows,
) -> tuple[PckChain, PckExtension]:
    """Check the PCK chain and the collateral (Intel's order); the chain and its extension.

    Appends :data:`PLATFORM_CHECKS` to ``checks`` as they pass and the
    validity windows of every certificate, CRL and signed document to
    ``windows``.  Raises the first failing check's error.
    """
    key = _platform_key(quote, collateral, trust)
    platform = cache.get(key)
    if isinstance(platform, _Platform):
        checks.extend(PLATFORM_CHECKS)
    else:
        # Each check below is remembered on its own too: after a failure, only the failing
        # work is done again.
        platform = _check_platform(quote, collateral, trust, cache, checks)
        cache.put(key, platform)
    windows.merge(platform.windows)
    # Dates of the signed documents are read from the objects given on every call.
    for signed in (collateral.tcb_info, collateral.qe_identity):
        windows.add(signed.issue_date, signed.next_update, start_checked=False)
    return platform.pck, platform.extension


def _check_platform(
    quote: Quote,
    collateral: Collateral,
    trust: TrustRoot,
    cache: VerifiedCache,
    checks: list[str],
) -> _Platform:
    windows = Windows()
    chain = _pck_chain(quote, collateral)
    checks.append("quote_format")

    # PCK certificate (sgxAttestationVerifyPCKCertificate)
    pck = check_pck_chain(chain, trust, cache)
    checks.append("pck_chain")
    # PckCertVerifier's order: both CRLs, then the intermediate, then the leaf.
    root_revoked = check_crl(collateral.root_ca_crl, pck.root, cache, what="root CA CRL")
    pck_revoked = check_crl(collateral.pck_crl, pck.intermediate, cache, what="PCK CRL")
    windows.crl(collateral.root_ca_crl, "root CA CRL")
    windows.crl(collateral.pck_crl, "PCK CRL")
    checks.append("crls")
    check_not_revoked(
        pck.intermediate, root_revoked, code="intermediate_revoked", what="PCK CA certificate"
    )
    check_not_revoked(pck.leaf, pck_revoked, code="pck_revoked", what="PCK leaf certificate")
    windows.certs((pck.leaf, pck.intermediate, pck.root))
    # The QvE counts this chain's dates too (qve_get_collateral_dates), though it does not
    # verify it: the CRLs are checked against the PCK chain's own certificates.
    windows.certs(collateral.pck_crl_issuer_chain)
    checks.append("pck_not_revoked")

    # TCB Info and QE identity (sgxAttestationVerifyTCBInfo / VerifyEnclaveIdentity)
    tcb_info = collateral.tcb_info
    identity = collateral.qe_identity
    for signed, issuer_chain, code, what in (
        (tcb_info, collateral.tcb_info_issuer_chain, "tcb_signing_chain_invalid", "TCB Info"),
        (
            identity,
            collateral.qe_identity_issuer_chain,
            "qe_identity_chain_invalid",
            "QE identity",
        ),
    ):
        signer = check_signing_chain(issuer_chain, trust, cache, code=code, what=what)
        check_not_revoked(
            signer, root_revoked, code="tcb_signing_revoked", what="TCB Signing certificate"
        )
        _check_signed_json(signer, signed.signed_body, signed.signature, what, cache)
        windows.certs(issuer_chain)
        checks.append("tcb_info_signature" if signed is tcb_info else "qe_identity_signature")

    extension = _pck_extension(pck.leaf)
    return _Platform(pck, extension, windows)


def _pck_chain(quote: Quote, collateral: Collateral) -> tuple[x509.Certificate, ...]:
    if quote.certification_data.type == 5:
        try:
            return quote.pck_chain
        except QuoteParseError as exc:
            raise CertificateChainError(f"the quote's PCK chain: {exc.reason}") from None
    if collateral.pck_certificate_chain is not None:
        return collateral.pck_certificate_chain
    raise QuoteFormatError(
        f"certification data type {quote.certification_data.type} carries no PCK chain, "
        "and the collateral provides none"
    )


def _pck_extension(leaf: x509.Certificate) -> PckExtension:
    try:
        return pck_extension_from_certificate(leaf)
    except QuoteParseError as exc:
        raise CertificateChainError(
            f"the PCK leaf's SGX extension: {exc}", code="pck_cert_format"
        ) from None


def _check_signed_json(
    signer: x509.Certificate, body: bytes, signature: bytes, what: str, cache: VerifiedCache
) -> None:
    code = "tcb_info_signature_invalid" if what == "TCB Info" else "qe_identity_signature_invalid"

    def check() -> bool:
        # Looked up on the module, so that instrumentation of ``verify_p256`` sees it.
        if not _crypto.verify_p256(signer.public_key(), signature, body):
            raise CollateralSignatureError(
                f"the {what} signature does not verify over its exact bytes", code=code
            )
        return True

    # The same key as the collateral sources' ArtifactValidator, so that a document checked
    # when it was fetched is a cache hit here.
    key = ("signed_json", held_digest(body), held_digest(signature), cert_digest(signer))
    cache.get_or_compute(key, check)
