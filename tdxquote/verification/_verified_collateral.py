"""Collateral verified once against a trust root: an immutable :class:`VerifiedCollateral`.

Everything in a :class:`~tdxquote.collateral.Collateral` that can be checked
without a quote is checked here, in Intel's order (``PckCertVerifier``,
``TCBInfoVerifier``, ``EnclaveIdentityVerifier``): the Root CA CRL (issuer,
extensions, signature by the trust root), the PCK CRL's form, the TCB Signing
chains of the TCB Info and the QE identity, their revocation by the Root CA
CRL and their signatures over the exact signed bytes.  The result keeps what
quote verification needs: the decoded TCB Info and QE identity, the CRLs'
revoked serial sets and the dates of every item (expiry is judged per call,
from ``now``).

The PCK CRL's issuer and signature depend on the PCK CA of each quote's
chain, so they are checked with the platform (:mod:`._platform`), which is
also why the checks run in stages: the verifier interleaves them with the
platform's in Intel's order, and a failure is raised at its step.  Only a
collateral whose every stage passed becomes a :class:`VerifiedCollateral`
and is remembered (keyed by the collateral's digest and the trust root).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._chain_checks import (
    SigningChain,
    check_crl,
    check_not_revoked,
    check_signed_json,
    check_signing_chain,
    pem_certificate_ders,
    view_of,
)
from .._x509_verify import CertView, CrlView, X509FormatError, parse_crl
from ..errors import CollateralFormatError
from ._windows import Validity, Windows

if TYPE_CHECKING:
    from .._trust import TrustRoot
    from .._verified_cache import VerifiedCache
    from ..collateral import Collateral, EnclaveIdentity, TcbInfo

__all__ = ["CollateralCheck", "VerifiedCollateral"]

_CHAIN_ERRORS = {
    "pck_crl_issuer_chain": "SGX_QL_PCK_CERT_CHAIN_ERROR",
    "tcb_info_issuer_chain": "SGX_QL_TCBINFO_CHAIN_ERROR",
    "qe_identity_issuer_chain": "SGX_QL_QEIDENTITY_CHAIN_ERROR",
    "pck_certificate_chain": "SGX_QL_PCK_CERT_CHAIN_ERROR",
}


@dataclass(frozen=True, slots=True)
class VerifiedCollateral:
    """A collateral that verified against a trust root (everything but the time).

    ``pck_crl`` is well formed; its issuer and signature are checked against
    each platform's PCK CA.  ``validity`` holds the validity dates of every item
    but the quote's own PCK chain.  ``pck_certificate_chain`` is the
    collateral's PCK chain (for quotes that carry none), read but not yet
    verified: it is verified as the platform's chain.
    """

    digest: bytes
    trust_digest: bytes
    tcb_info: TcbInfo
    qe_identity: EnclaveIdentity
    root_crl: CrlView
    pck_crl: CrlView
    tcb_signing: SigningChain
    qe_identity_signing: SigningChain
    pck_certificate_chain: tuple[CertView, ...] | None
    validity: Validity


def chain_views(
    text: str,
    name: str,
    known: dict[bytes, CertView] | None = None,
    chains: dict[str, tuple[CertView, ...]] | None = None,
) -> tuple[CertView, ...]:
    """The certificates of a collateral issuer chain (PEM text), read from their DER.

    ``known`` maps DER to views already read; ``chains`` PEM text to chains
    already read (the TCB Info and QE identity chains are usually one text).
    """
    if chains is not None:
        found = chains.get(text)
        if found is None:
            found = chains[text] = chain_views(text, name, known)
        return found
    try:
        return tuple(view_of(der, known) for der in pem_certificate_ders(text))
    except (UnicodeError, ValueError, X509FormatError) as exc:
        raise CollateralFormatError(
            f"{name}: {exc}", code="issuer_chain_format", intel_error=_CHAIN_ERRORS[name]
        ) from None


def crl_view(der: bytes, what: str) -> CrlView:
    """A collateral CRL read from its DER; a CRL without nextUpdate is refused (as on load)."""
    try:
        crl = parse_crl(der)
    except X509FormatError as exc:
        raise CollateralFormatError(f"{what}: malformed DER: {exc}", code="crl_format") from None
    if crl.next_update is None:
        raise CollateralFormatError(f"{what}: no nextUpdate", code="crl_format")
    return crl


class CollateralCheck:
    """The checks of one collateral against one trust root, run stage by stage.

    If the verifier already holds the :class:`VerifiedCollateral` (``verified``
    is set), every stage is a no-op.  Otherwise :meth:`crls`,
    :meth:`tcb_info` and :meth:`qe_identity` run in that order, each raising
    its step's error; :meth:`finish` then stores and returns the result.
    """

    def __init__(self, collateral: Collateral, trust: TrustRoot, cache: VerifiedCache) -> None:
        self.collateral = collateral
        self.trust = trust
        self.cache = cache
        self.key = ("collateral", collateral.digest, trust.digest)
        found = cache.get(self.key)
        self.verified: VerifiedCollateral | None = (
            found if isinstance(found, VerifiedCollateral) else None
        )
        self._windows = Windows()
        self._root_crl: CrlView | None = None
        self._pck_crl: CrlView | None = None
        self._tcb_signing: SigningChain | None = None
        self._qe_signing: SigningChain | None = None
        self._pck_chain: tuple[CertView, ...] | None = None
        #: Certificates read during these checks, by DER (chains share their root).
        self.known: dict[bytes, CertView] = {trust.der: trust.view}
        self._chains: dict[str, tuple[CertView, ...]] = {}

    # --- what the platform checks need, from the result or the stages --------------------
    @property
    def root_crl(self) -> CrlView:
        """The verified Root CA CRL (after :meth:`crls`)."""
        if self.verified is not None:
            return self.verified.root_crl
        assert self._root_crl is not None, "crls() runs first"
        return self._root_crl

    @property
    def pck_crl(self) -> CrlView:
        """The PCK CRL, well formed (after :meth:`crls`)."""
        if self.verified is not None:
            return self.verified.pck_crl
        assert self._pck_crl is not None, "crls() runs first"
        return self._pck_crl

    def pck_certificate_chain(self) -> tuple[CertView, ...] | None:
        """The collateral's own PCK chain, if it has one (read, not verified)."""
        if self.verified is not None:
            return self.verified.pck_certificate_chain
        if self._pck_chain is None and self.collateral.raw.pck_certificate_chain is not None:
            self._pck_chain = chain_views(
                self.collateral.raw.pck_certificate_chain, "pck_certificate_chain", self.known
            )
        return self._pck_chain

    # --- the stages, in Intel's order -----------------------------------------------------
    def crls(self) -> None:
        """Root CA CRL: form, issuer (the trust root), CRL Number and AKI, signature.

        The PCK CRL is read here; the PCK CA checks it (:mod:`._platform`).  The
        PCK CRL issuer chain is not verified (Intel's QvE does not either) but
        its dates count for expiry.
        """
        if self.verified is not None:
            return
        raw, trust, windows = self.collateral.raw, self.trust, self._windows
        root_crl = crl_view(raw.root_ca_crl, "root CA CRL")
        pck_crl = crl_view(raw.pck_crl, "PCK CRL")
        check_crl(
            root_crl,
            trust.subject,
            trust.public_key_bytes,
            trust.public_key,
            self.cache,
            what="root CA CRL",
        )
        for crl in (root_crl, pck_crl):
            assert crl.next_update is not None  # crl_view refuses a CRL without one
            windows.add(crl.this_update, crl.next_update)
        windows.certs(chain_views(raw.pck_crl_issuer_chain, "pck_crl_issuer_chain", self.known))
        self._root_crl, self._pck_crl = root_crl, pck_crl

    def tcb_info(self) -> None:
        """The TCB Info: decoded, its signing chain, not revoked, its signature."""
        if self.verified is not None:
            return
        info = self.collateral.tcb_info
        self._tcb_signing = self._signed(
            "tcb_info_issuer_chain",
            "tcb_signing_chain_invalid",
            "TCB Info",
            info.signed_body,
            info.signature,
            "tcb_info_signature_invalid",
        )
        self._windows.add(info.issue_date, info.next_update, start_checked=False)

    def qe_identity(self) -> None:
        """The QE identity: decoded, its signing chain, not revoked, its signature."""
        if self.verified is not None:
            return
        identity = self.collateral.qe_identity
        self._qe_signing = self._signed(
            "qe_identity_issuer_chain",
            "qe_identity_chain_invalid",
            "QE identity",
            identity.signed_body,
            identity.signature,
            "qe_identity_signature_invalid",
        )
        self._windows.add(identity.issue_date, identity.next_update, start_checked=False)

    def _signed(
        self,
        chain_name: str,
        chain_code: str,
        what: str,
        body: bytes,
        signature: bytes,
        signature_code: str,
    ) -> SigningChain:
        chain = chain_views(
            getattr(self.collateral.raw, chain_name), chain_name, self.known, self._chains
        )
        signing = check_signing_chain(chain, self.trust, self.cache, code=chain_code, what=what)
        check_not_revoked(
            signing.signer,
            self.root_crl.revoked,
            code="tcb_signing_revoked",
            what="TCB Signing certificate",
        )
        check_signed_json(signing, body, signature, self.cache, what=what, code=signature_code)
        self._windows.certs(chain)
        return signing

    def finish(self) -> VerifiedCollateral:
        """The verified collateral (stored in the verifier's cache); every stage ran."""
        if self.verified is not None:
            return self.verified
        assert self._tcb_signing is not None
        assert self._qe_signing is not None
        collateral = self.collateral
        verified = VerifiedCollateral(
            digest=collateral.digest,
            trust_digest=self.trust.digest,
            tcb_info=collateral.tcb_info,
            qe_identity=collateral.qe_identity,
            root_crl=self.root_crl,
            pck_crl=self.pck_crl,
            tcb_signing=self._tcb_signing,
            qe_identity_signing=self._qe_signing,
            pck_certificate_chain=self.pck_certificate_chain(),
            validity=self._windows.frozen(),
        )
        self.cache.put(self.key, verified)
        self.verified = verified
        return verified
