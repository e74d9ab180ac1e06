"""The DCAP verification pipeline, in Intel's order, and the :class:`Verifier` that runs it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from cryptography import x509

from .._quote import Quote, parse_quote
from .._reports import SgxReport, TdReport15, TdReport15Ex
from ..collateral import Collateral, TcbInfo, TcbStatus
from ..errors import VerificationError
from ..pck import PckExtension
from ..schema import INTEL_QE_VENDOR_ID
from ._crypto import p256_key_memo, verify_p256
from ._errors import (
    QeIdentityError,
    QuoteFormatError,
    QuoteSignatureError,
    TcbError,
)
from ._memo import IdentityMemo, VerifiedCache
from ._platform import Windows, check_platform
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


def to_datetime(now: datetime | int | float) -> datetime:
    """``now`` as an aware UTC datetime (unix seconds accepted; naive means UTC)."""
    if isinstance(now, datetime):
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
    if isinstance(now, bool) or not isinstance(now, (int, float)):
        raise TypeError(f"now must be a datetime or unix seconds, not {type(now).__name__}")
    return datetime.fromtimestamp(now, tz=timezone.utc)


def _read_crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value
    except x509.ExtensionNotFound:
        return None
    return int(number.crl_number)


_crl_number = IdentityMemo(_read_crl_number, 64)

_MAX_SUPPLEMENTALS = 256
# Supplemental data by its inputs; the entry holds the objects whose ids are in the key.
_supplementals: dict[
    tuple[object, ...],
    tuple[
        x509.CertificateRevocationList, x509.CertificateRevocationList, PckExtension, Supplemental
    ],
] = {}


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
        deadline: float = 60.0,
        retries: int = 3,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        policy: Policy | None = None,
    ) -> Verifier:
        """A verifier that fetches collateral from Intel's PCS, cached in ``cache``.

        ``cache``: a :class:`~tdxquote.collateral.cache.CollateralCache`, a
        directory, or ``None`` for the default directory
        (:func:`~tdxquote.collateral.cache.default_cache_dir`);
        ``CollateralCache.memory()`` keeps nothing on disk.  ``timeout`` bounds
        each network operation, ``deadline`` each artifact's whole fetch
        (retries and waits included), in seconds.
        """
        return cls.pccs(
            None,
            cache=cache,
            api_key=api_key,
            update=update,
            tcb_evaluation_data_number=tcb_evaluation_data_number,
            timeout=timeout,
            deadline=deadline,
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
        deadline: float = 60.0,
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
            deadline=deadline,
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
        windows = Windows()

        if quote.qe_vendor_id != INTEL_QE_VENDOR_ID:
            raise QuoteFormatError(
                f"QE vendor ID {quote.qe_vendor_id.hex()} is not Intel's", code="qe_vendor_unknown"
            )
        # The PCK certificate, the CRLs, the TCB Info and the QE identity (Intel's order),
        # remembered for the exact bytes of the chain, the collateral and the trust root.
        pck, extension = check_platform(quote, collateral, trust, cache, checks, windows)
        tcb_info = collateral.tcb_info
        identity = collateral.qe_identity

        # The quote (sgxAttestationVerifyQuote)
        self._check_tcb_info_matches(quote, extension, tcb_info)
        checks.append("tcb_info_matches")
        body = quote.body
        if not isinstance(body, SgxReport):
            check_tdx_module_identity(
                tcb_info, body.tee_tcb_svn, body.mr_signer_seam, body.seam_attributes
            )
            checks.append("tdx_module_identity")
        check_qe_report_signature(quote, pck.leaf, cache)
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
            key: EllipticCurvePublicKey = p256_key_memo(quote.attestation_key, self.cache)
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
        windows: Windows,
        now: datetime,
        tcb_date: datetime,
        collateral: Collateral,
        ext: PckExtension,
        ca_type: str,
    ) -> Supplemental:
        # Supplemental data is immutable and repeats for every quote of a platform: equal
        # inputs give the one remembered instance.
        tcb_info, identity = collateral.tcb_info, collateral.qe_identity
        pck_crl, root_crl = collateral.pck_crl, collateral.root_ca_crl
        key = (
            windows.earliest_start,
            windows.latest_start,
            windows.earliest_end,
            windows.expired(now),
            tcb_date,
            tcb_info.tcb_evaluation_data_number,
            identity.tcb_evaluation_data_number,
            id(pck_crl),
            id(root_crl),
            id(ext),
            ca_type,
            self.trust_root.key_id,
        )
        entry = _supplementals.get(key)
        if entry is not None and entry[0] is pck_crl and entry[1] is root_crl and entry[2] is ext:
            return entry[3]
        supplemental = self._new_supplemental(windows, now, tcb_date, collateral, ext, ca_type)
        if len(_supplementals) >= _MAX_SUPPLEMENTALS:
            _supplementals.clear()
        _supplementals[key] = (pck_crl, root_crl, ext, supplemental)
        return supplemental

    def _new_supplemental(
        self,
        windows: Windows,
        now: datetime,
        tcb_date: datetime,
        collateral: Collateral,
        ext: PckExtension,
        ca_type: str,
    ) -> Supplemental:
        config = ext.configuration
        return Supplemental(
            earliest_issue_date=windows.earliest_start,
            latest_issue_date=windows.latest_start,
            earliest_expiration_date=windows.earliest_end,
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
            root_key_id=self.trust_root.key_id,
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
