"""The DCAP verification pipeline, in Intel's order, and the :class:`Verifier` that runs it."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .._quote import Quote, parse_quote
from .._reports import SgxReport, TdReport15, TdReport15Ex
from ..collateral import Collateral, TcbInfo, TcbStatus
from ..errors import QuoteParseError, VerificationError
from ..pck import PckExtension, pck_extension_from_certificate
from ..schema import INTEL_QE_VENDOR_ID
from ._chains import check_crl, check_not_revoked, check_pck_chain, check_signing_chain
from ._crypto import p256_key_from_xy, verify_p256
from ._errors import (
    CertificateChainError,
    CollateralSignatureError,
    QeIdentityError,
    QuoteFormatError,
    QuoteSignatureError,
    TcbError,
)
from ._memo import VerifiedCache, digest
from ._policy import Policy
from ._qe import (
    check_qe_identity,
    check_qe_report_data,
    check_qe_report_signature,
    qe_status_of,
    qe_tcb_level,
)
from ._result import Supplemental, VerifiedQuote
from ._tcb import check_tdx_module_identity, evaluate_tcb
from ._trust import TrustRoot, load_trust_root

if TYPE_CHECKING:
    import os

    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from ..collateral._source import ArtifactValidator, CollateralSource
    from ..collateral.cache import CollateralCache
    from ..collateral.pcs import UpdateType

__all__ = ["Verifier", "to_datetime", "verify"]

_DEFAULT_POLICY = Policy()
_SHA256 = hashes.SHA256()


def to_datetime(now: datetime | int | float) -> datetime:
    """``now`` as an aware UTC datetime (unix seconds accepted; naive means UTC)."""
    if isinstance(now, datetime):
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise TypeError(f"now must be a datetime or unix seconds, not {type(now).__name__}")
    return datetime.fromtimestamp(now, tz=timezone.utc)


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value
    except x509.ExtensionNotFound:
        return None
    return int(number.crl_number)


class _Windows:
    """Validity windows of every collateral item, for expiry and supplemental dates."""

    def __init__(self) -> None:
        self.starts: list[tuple[datetime, str]] = []
        self.ends: list[tuple[datetime, str]] = []
        self.not_before: list[datetime] = []

    def add(self, start: datetime, end: datetime, what: str, *, start_checked: bool = True) -> None:
        self.starts.append((start, what))
        self.ends.append((end, what))
        if start_checked:
            self.not_before.append(start)

    def certs(self, certs: tuple[x509.Certificate, ...], what: str) -> None:
        for cert in certs:
            self.add(cert.not_valid_before_utc, cert.not_valid_after_utc, what)

    def crl(self, crl: x509.CertificateRevocationList, what: str) -> None:
        end = crl.next_update_utc
        if end is None:
            raise CertificateChainError(f"the {what} has no nextUpdate", code="crl_invalid")
        self.add(crl.last_update_utc, end, what)

    def expired(self, now: datetime) -> bool:
        # Intel's QvE: expired when earliest expiration <= now.  A certificate's notBefore or a
        # CRL's thisUpdate after now also counts; TCB Info / QE identity issueDate does not
        # (QVL never checks it; it only feeds the supplemental issue dates).
        return any(end <= now for end, _ in self.ends) or any(s > now for s in self.not_before)


class Verifier:
    """Verifies quotes against collateral; reuse it to reuse verified collateral.

    Chains, CRL signatures and signed TCB Info / QE identity are verified once
    per exact bytes and remembered (keyed by content digest), so verifying
    many quotes of known platforms costs little more than the quote's own
    signatures.
    """

    def __init__(
        self,
        *,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        policy: Policy | None = None,
        collateral: Collateral | None = None,
        cache: VerifiedCache | None = None,
        source: CollateralSource | None = None,
    ) -> None:
        self.trust_root = load_trust_root(trust_root)
        self.policy = policy if policy is not None else _DEFAULT_POLICY
        self.collateral = collateral
        self.cache = cache if cache is not None else VerifiedCache()
        #: Where :meth:`verify` gets collateral when given none (see :mod:`tdxquote.collateral`).
        self.source = source
        self._artifact_validator: ArtifactValidator | None = None

    @classmethod
    def offline(
        cls,
        collateral: Collateral | str | os.PathLike[str],
        *,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        policy: Policy | None = None,
    ) -> Verifier:
        """A verifier that never fetches: the given collateral, a bundle file or a directory.

        A :class:`Collateral` or a bundle file (``QuoteCollateralV3`` JSON) is
        used for every quote; from a directory of bundles the one for each
        quote's TEE, FMSPC and PCK CA is chosen.
        """
        if isinstance(collateral, Collateral):
            return cls(trust_root=trust_root, policy=policy, collateral=collateral)
        from pathlib import Path

        from ..collateral._source import OfflineSource

        if Path(collateral).is_dir():
            return cls(trust_root=trust_root, policy=policy, source=OfflineSource(collateral))
        bundle = Collateral.from_json(Path(collateral).read_bytes())
        return cls(trust_root=trust_root, policy=policy, collateral=bundle)

    @classmethod
    def intel_pcs(
        cls,
        *,
        cache: CollateralCache | str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        update: UpdateType | None = None,
        tcb_evaluation_data_number: int | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        policy: Policy | None = None,
    ) -> Verifier:
        """A verifier that fetches collateral from Intel's PCS, cached in ``cache``.

        ``cache``: a :class:`~tdxquote.collateral.cache.CollateralCache`, a
        directory, or ``None`` for the default directory
        (:func:`~tdxquote.collateral.cache.default_cache_dir`);
        ``CollateralCache.memory()`` keeps nothing on disk.
        """
        return cls.pccs(
            None,
            cache=cache,
            api_key=api_key,
            update=update,
            tcb_evaluation_data_number=tcb_evaluation_data_number,
            timeout=timeout,
            retries=retries,
            trust_root=trust_root,
            policy=policy,
        )

    @classmethod
    def pccs(
        cls,
        url: str | None,
        *,
        cache: CollateralCache | str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        update: UpdateType | None = None,
        tcb_evaluation_data_number: int | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        root_ca_crl_url: str | None = None,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        policy: Policy | None = None,
    ) -> Verifier:
        """A verifier that fetches collateral from the PCCS at ``url`` (``None``: Intel's PCS).

        The Root CA CRL comes from ``{url}/sgx/certification/v4/rootcacrl``
        unless ``root_ca_crl_url`` says otherwise; ``cache`` as for
        :meth:`intel_pcs`.
        """
        from ..collateral._source import PcsSource
        from ..collateral.cache import CollateralCache
        from ..collateral.pcs import PcsClient

        client = PcsClient(
            url,
            root_ca_crl_url=root_ca_crl_url,
            api_key=api_key,
            update=update,
            tcb_evaluation_data_number=tcb_evaluation_data_number,
            timeout=timeout,
            retries=retries,
        )
        store = cache if isinstance(cache, CollateralCache) else CollateralCache(cache)
        return cls(trust_root=trust_root, policy=policy, source=PcsSource(client, store))

    def _validator(self) -> ArtifactValidator:
        if self._artifact_validator is None:
            from ..collateral._source import ArtifactValidator

            self._artifact_validator = ArtifactValidator(self.trust_root, self.cache)
        return self._artifact_validator

    def verify(
        self,
        quote: Quote | bytes | bytearray | memoryview,
        collateral: Collateral | None = None,
        *,
        now: datetime | int | float,
        policy: Policy | None = None,
    ) -> VerifiedQuote:
        """Verify ``quote`` against ``collateral`` at ``now``, then apply the policy.

        Without ``collateral`` the verifier's own is used, or its
        :attr:`source` is asked for the quote's collateral at ``now`` (cached
        artifacts still valid then, the rest fetched).

        Raises a :class:`~tdxquote.VerificationError` subclass naming the
        failing check, :class:`~tdxquote.QuoteParseError` for bytes that are
        not a quote, or :class:`~tdxquote.CollateralFetchError` when the
        source cannot provide collateral (never a verdict on the quote).
        """
        if not isinstance(quote, Quote):
            quote = parse_quote(quote)
        collateral = collateral if collateral is not None else self.collateral
        if collateral is None and self.source is None:
            raise TypeError("no collateral: pass one, or build the Verifier with collateral")
        when = to_datetime(now)
        active = policy if policy is not None else self.policy
        checks: list[str] = []
        try:
            if collateral is None:
                assert self.source is not None
                collateral = self.source.collateral_for(
                    quote,
                    now=when,
                    validator=self._validator(),
                    allow_expired=active.expired_collateral_allowed,
                )
            verified = self._verify(quote, collateral, when, checks)
            active.apply(verified, when)
        except VerificationError as error:
            error.checks_passed = tuple(checks)
            raise
        return verified

    # --- the pipeline ---------------------------------------------------------------
    def _verify(
        self, quote: Quote, collateral: Collateral, now: datetime, checks: list[str]
    ) -> VerifiedQuote:
        trust = self.trust_root
        cache = self.cache
        windows = _Windows()

        if quote.qe_vendor_id != INTEL_QE_VENDOR_ID:
            raise QuoteFormatError(
                f"QE vendor ID {quote.qe_vendor_id.hex()} is not Intel's", code="qe_vendor_unknown"
            )
        chain = self._pck_chain(quote, collateral)
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
        windows.certs((pck.leaf, pck.intermediate, pck.root), "PCK chain")
        # The QvE counts this chain's dates too (qve_get_collateral_dates), though it does not
        # verify it: the CRLs are checked against the PCK chain's own certificates.
        windows.certs(collateral.pck_crl_issuer_chain, "PCK CRL issuer chain")
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
            self._check_signed_json(signer, signed.signed_body, signed.signature, what)
            windows.certs(issuer_chain, f"{what} issuer chain")
            windows.add(signed.issue_date, signed.next_update, what, start_checked=False)
            checks.append("tcb_info_signature" if signed is tcb_info else "qe_identity_signature")

        # The quote (sgxAttestationVerifyQuote)
        extension = self._pck_extension(pck.leaf)
        self._check_tcb_info_matches(quote, extension, tcb_info)
        checks.append("tcb_info_matches")
        body = quote.body
        if not isinstance(body, SgxReport):
            check_tdx_module_identity(
                tcb_info, body.tee_tcb_svn, body.mr_signer_seam, body.seam_attributes
            )
            checks.append("tdx_module_identity")
        check_qe_report_signature(quote, pck.leaf)
        checks.append("qe_report_signature")
        check_qe_report_data(quote)
        checks.append("qe_report_data")
        check_qe_identity(quote, identity)
        checks.append("qe_identity")
        qe_level = qe_tcb_level(quote, identity)
        self._check_quote_signature(quote)
        checks.append("quote_signature")
        if qe_level is None:
            raise QeIdentityError(
                f"no QE identity TCB level is met by the QE's ISVSVN {quote.qe_report.isv_svn}",
                code="qe_tcb_not_supported",
            )
        qe_status = qe_status_of(qe_level)
        if qe_status is TcbStatus.REVOKED:
            raise QeIdentityError("the QE's TCB level is revoked", code="qe_tcb_revoked")

        tee_tcb_svn2 = body.tee_tcb_svn2 if isinstance(body, (TdReport15, TdReport15Ex)) else None
        evaluation = evaluate_tcb(
            tcb_info,
            sgx_components=extension.tcb.sgx_components,
            pce_svn=extension.tcb.pce_svn,
            tee_tcb_svn=None if isinstance(body, SgxReport) else body.tee_tcb_svn,
            tee_tcb_svn2=tee_tcb_svn2,
            qe_status=qe_status,
        )
        checks.append("tcb_level")
        if tee_tcb_svn2 is not None:
            checks.append("td_relaunch")

        advisories: dict[str, None] = {}
        for level_ids in (
            evaluation.platform_level.advisory_ids,
            () if evaluation.module_level is None else evaluation.module_level.advisory_ids,
            qe_level.advisory_ids,
        ):
            advisories.update(dict.fromkeys(level_ids))
        supplemental = self._supplemental(
            windows, now, evaluation.platform_level.tcb_date, collateral, extension, pck.ca_type
        )
        return VerifiedQuote(
            quote=quote,
            status=evaluation.status,
            advisory_ids=tuple(advisories),
            platform_status=evaluation.platform_status,
            module_status=None
            if evaluation.module_level is None
            else evaluation.module_level.tcb_status,
            qe_status=qe_level.tcb_status,
            tcb_level=evaluation.platform_level,
            sgx_tcb_level=evaluation.sgx_level,
            module_tcb_level=evaluation.module_level,
            qe_tcb_level=qe_level,
            relaunch_advised=evaluation.relaunch_advised,
            supplemental=supplemental,
            checks=tuple(checks),
        )

    def _pck_chain(self, quote: Quote, collateral: Collateral) -> tuple[x509.Certificate, ...]:
        if quote.certification_data.type == 5:
            try:
                return quote.pck_chain
            except QuoteParseError as exc:
                raise CertificateChainError(f"the quote's PCK chain: {exc.reason}") from None
            except x509.InvalidVersion as exc:
                # cryptography raises this outside ValueError; the parser does not wrap it.
                raise CertificateChainError(f"the quote's PCK chain: {exc}") from None
        if collateral.pck_certificate_chain is not None:
            return collateral.pck_certificate_chain
        raise QuoteFormatError(
            f"certification data type {quote.certification_data.type} carries no PCK chain, "
            "and the collateral provides none"
        )

    def _pck_extension(self, leaf: x509.Certificate) -> PckExtension:
        try:
            return pck_extension_from_certificate(leaf)
        except QuoteParseError as exc:
            raise CertificateChainError(
                f"the PCK leaf's SGX extension: {exc}", code="pck_cert_format"
            ) from None

    def _check_signed_json(
        self, signer: x509.Certificate, body: bytes, signature: bytes, what: str
    ) -> None:
        code = (
            "tcb_info_signature_invalid" if what == "TCB Info" else "qe_identity_signature_invalid"
        )

        def check() -> bool:
            if not verify_p256(signer.public_key(), signature, body):
                raise CollateralSignatureError(
                    f"the {what} signature does not verify over its exact bytes", code=code
                )
            return True

        key = ("signed_json", digest(body), digest(signature), signer.fingerprint(_SHA256))
        self.cache.get_or_compute(key, check)

    def _check_tcb_info_matches(self, quote: Quote, ext: PckExtension, tcb_info: TcbInfo) -> None:
        if quote.is_tdx:
            if tcb_info.id != "TDX" or tcb_info.version < 3:
                raise TcbError(
                    f"a TDX quote needs a version 3 TDX TCB Info, got {tcb_info.id or 'SGX'} "
                    f"version {tcb_info.version}",
                    code="tcb_info_mismatch",
                )
        elif tcb_info.id not in ("SGX", ""):
            raise TcbError(
                f"an SGX quote needs an SGX TCB Info, got {tcb_info.id}", code="tcb_info_mismatch"
            )
        if ext.fmspc != tcb_info.fmspc:
            raise TcbError(
                f"the PCK's FMSPC {ext.fmspc.hex()} is not the TCB Info's {tcb_info.fmspc.hex()}",
                code="tcb_info_mismatch",
            )
        if ext.pce_id != tcb_info.pce_id:
            raise TcbError(
                f"the PCK's PCE-ID {ext.pce_id.hex()} is not the TCB Info's "
                f"{tcb_info.pce_id.hex()}",
                code="tcb_info_mismatch",
            )

    def _check_quote_signature(self, quote: Quote) -> None:
        try:
            key: EllipticCurvePublicKey = p256_key_from_xy(quote.attestation_key)
        except ValueError:
            raise QuoteSignatureError(
                "the attestation key is not a P-256 point", code="attestation_key_invalid"
            ) from None
        if not verify_p256(key, quote.signature, quote.signed_bytes):
            raise QuoteSignatureError(
                "the quote signature does not verify with the attestation key"
            )

    def _supplemental(
        self,
        windows: _Windows,
        now: datetime,
        tcb_date: datetime,
        collateral: Collateral,
        ext: PckExtension,
        ca_type: str,
    ) -> Supplemental:
        root_xy = self.trust_root.public_key_bytes[1:]
        config = ext.configuration
        return Supplemental(
            earliest_issue_date=min(s for s, _ in windows.starts),
            latest_issue_date=max(s for s, _ in windows.starts),
            earliest_expiration_date=min(e for e, _ in windows.ends),
            collateral_expired=windows.expired(now),
            tcb_level_date=tcb_date,
            tcb_evaluation_data_number=min(
                collateral.tcb_info.tcb_evaluation_data_number,
                collateral.qe_identity.tcb_evaluation_data_number,
            ),
            pck_crl_number=_crl_number(collateral.pck_crl),
            root_ca_crl_number=_crl_number(collateral.root_ca_crl),
            fmspc=ext.fmspc,
            pce_id=ext.pce_id,
            ppid=ext.ppid,
            cpu_svn=ext.tcb.cpu_svn,
            pce_svn=ext.tcb.pce_svn,
            sgx_type=int(ext.sgx_type),
            platform_instance_id=ext.platform_instance_id,
            dynamic_platform=None if config is None else config.dynamic_platform,
            cached_keys=None if config is None else config.cached_keys,
            smt_enabled=None if config is None else config.smt_enabled,
            root_key_id=hashlib.sha384(root_xy).digest(),
            pck_ca=ca_type,
        )


def verify(
    quote: Quote | bytes | bytearray | memoryview,
    collateral: Collateral,
    *,
    now: datetime | int | float,
    policy: Policy | None = None,
    trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
) -> VerifiedQuote:
    """Verify a quote end to end against its collateral at ``now``, then apply ``policy``.

    A one-shot :class:`Verifier`; reuse a ``Verifier`` to verify many quotes.
    """
    return Verifier(trust_root=trust_root).verify(quote, collateral, now=now, policy=policy)
