"""The DCAP verification pipeline, in Intel's order, and the :class:`Verifier` that runs it.

A verification has three parts, each verified once and remembered in the
verifier's one bounded LRU (:class:`~tdxquote.verification.VerifiedCache`):

* the collateral against the trust root (:mod:`._verified_collateral`), under
  the collateral's digest and the trust root's;
* the quote's platform, its PCK chain, against that (:mod:`._platform`), under
  the chain's digest too;
* the quote context: the platform's QE report (signature, binding, QE
  identity), the TDX module identity and the TCB evaluation, under the digest
  of the QE report and the body's TCB fields.

A warm verification is then the quote's own ECDSA signature check, the
comparison of its attestation key with the context's, and the expiry of the
remembered dates at ``now``.  A failure is never remembered.
"""

from __future__ import annotations

import hashlib
import inspect
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._layout_table import BODY_DESCRIPTOR_SIZE, HEADER_SIZE
from .._quote import PckIdentifier, Quote, TeeType, parse_quote
from .._reports import SgxReport, TdReport15, TdReport15Ex
from .._time import to_datetime
from .._trust import TrustRoot, load_trust_root
from .._verified_cache import VerifiedCache
from .._x509_verify import p256_key_from_xy, verify_raw_signature
from ..collateral import Collateral, EnclaveIdentityTcbLevel, TcbInfo, TcbStatus
from ..errors import (
    CertificateChainError,
    QeIdentityError,
    QuoteFormatError,
    QuoteParseError,
    QuoteSignatureError,
    TcbError,
    VerificationError,
)
from ..pck import PckExtension
from ..schema import INTEL_QE_VENDOR_ID
from ..schema._constants import CERT_TYPE_PCK_LEAF
from ._platform import VerifiedPlatform, platform_for
from ._policy import Policy
from ._qe import (
    check_qe_identity,
    check_qe_report_data,
    check_qe_report_signature,
    qe_status_of,
    qe_tcb_level,
)
from ._result import Supplemental, VerifiedQuote
from ._tcb import TcbEvaluation, check_tdx_module_identity, evaluate_tcb

if TYPE_CHECKING:
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

    from ..collateral._source import ArtifactValidator, CollateralSource
    from ..collateral.cache import CollateralCache
    from ..collateral.pcs import UpdateType

__all__ = ["Verifier", "default_verifier", "to_datetime", "verify"]

_DEFAULT_POLICY = Policy()
_SGX, _TDX, _TD15 = b"\x01", b"\x02", b"\x03"


@dataclass(frozen=True, slots=True)
class QuoteContext:
    """What passed for one platform, QE report and set of body TCB fields.

    Everything a quote of this platform needs beyond its own signature: the
    attestation key the QE report binds (loaded), the QE's level, the TCB
    evaluation, and the supplemental data for both answers of the expiry
    check (which is made per call, from ``now``).
    """

    platform: VerifiedPlatform
    certification_payload: bytes
    attestation_key_bytes: bytes
    qe_auth_data: bytes
    attestation_key: EllipticCurvePublicKey
    qe_level: EnclaveIdentityTcbLevel
    evaluation: TcbEvaluation
    advisory_ids: tuple[str, ...]
    checks: tuple[str, ...]
    checks_before_signature: tuple[str, ...]
    checks_before_qe_report: tuple[str, ...]
    supplementals: tuple[Supplemental, Supplemental]
    verdict_fields: dict[str, object]


_TEE_TDX = TeeType.TDX
_BODY_AT = HEADER_SIZE
_V5_BODY_AT = HEADER_SIZE + BODY_DESCRIPTOR_SIZE
_sha256 = hashlib.sha256
_TD_TCB_FIELDS = 0x78  # TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAMATTRIBUTES: the body's start
_TD15_SVN2 = slice(0x248, 0x258)  # TEE_TCB_SVN2 in TD 1.5 bodies (types 3 and 4)


def _context_id(quote: Quote) -> tuple[bytes, bytes]:
    """The digest of what a quote context depends on in the quote, and its PCK payload.

    The digest covers the quote's kind, the body's TCB fields (not its
    measurements or report data), and the signature data after the quote's
    own signature up to the PCK certification data's payload: the
    attestation key, the QE report and its signature, the QE auth data and
    the certification data's type and size.  The payload itself (the PEM
    chain, the same kilobytes in every quote of a platform) is returned
    apart: the context keeps it and a quote uses the context only when its
    payload is the same, byte for byte (a comparison costs far less than
    hashing it on every call).  Two quotes with the same digest and payload
    differ only in what the quote signature alone decides.
    """
    layout = quote._layout
    data, version, tee, body_type = layout[0], layout[1], layout[2], layout[3]
    body_end, auth_end, cert_at = layout[4], layout[5], layout[9]
    kind = bytes((version, 1 if tee == _TEE_TDX else 0, body_type if version == 5 else 0))
    region = data[body_end + 68 : cert_at]
    payload = data[cert_at:auth_end]
    if tee != _TEE_TDX:
        return _sha256(kind + region).digest(), payload
    at = _V5_BODY_AT if version == 5 else _BODY_AT
    tcb = data[at : at + _TD_TCB_FIELDS]
    if body_type in (3, 4):
        tcb += data[at + _TD15_SVN2.start : at + _TD15_SVN2.stop]
    return _sha256(b"".join((kind, tcb, region))).digest(), payload


def _verdict(quote: Quote, context: QuoteContext, expired: bool) -> VerifiedQuote:
    # A VerifiedQuote is a frozen dataclass; its fields but two repeat for every quote of a
    # context, so the instance is filled from the context's template in one update.
    verified: VerifiedQuote = object.__new__(VerifiedQuote)
    fields = verified.__dict__
    fields.update(context.verdict_fields)
    fields["quote"] = quote
    fields["supplemental"] = context.supplementals[expired]
    return verified


def _verdict_fields(
    evaluation: TcbEvaluation,
    qe_level: EnclaveIdentityTcbLevel,
    advisories: tuple[str, ...],
    checks: tuple[str, ...],
) -> dict[str, object]:
    module_level = evaluation.module_level
    return {
        "status": evaluation.status,
        "advisory_ids": advisories,
        "platform_status": evaluation.platform_status,
        "module_status": None if module_level is None else module_level.tcb_status,
        "qe_status": qe_level.tcb_status,
        "tcb_level": evaluation.platform_level,
        "sgx_tcb_level": evaluation.sgx_level,
        "module_tcb_level": module_level,
        "qe_tcb_level": qe_level,
        "relaunch_advised": evaluation.relaunch_advised,
        "checks": checks,
    }


class Verifier:
    """Verifies quotes against collateral; reuse it to reuse verified collateral.

    A collateral is verified once against the trust root, a platform (PCK
    chain) once against that, and a platform's QE report once: all are kept in
    :attr:`cache`, one bounded, thread-safe LRU keyed by content digests.
    Verifying many quotes of known platforms then costs each quote its own
    signature check.  Safe to share between threads.
    """

    def __init__(
        self,
        *,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        policy: Policy | None = None,
        collateral: Collateral | None = None,
        cache: VerifiedCache | None = None,
        source: CollateralSource | Any | None = None,
    ) -> None:
        self.trust_root = load_trust_root(trust_root)
        self.policy = policy if policy is not None else _DEFAULT_POLICY
        self.collateral = collateral
        #: The verified collateral, platforms and quote contexts (see the class documentation).
        self.cache = cache if cache is not None else VerifiedCache()
        #: Where :meth:`verify` gets collateral when given none (see :mod:`tdxquote.collateral`).
        #: An asynchronous source (``AsyncPcsSource``) is used by :meth:`averify`.
        self.source = source
        self._source_is_async = source is not None and inspect.iscoroutinefunction(
            getattr(source, "collateral_for", None)
        )
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
        bundle = Collateral.from_json(Path(collateral).read_bytes()).decoded()
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

    # --- entry points ----------------------------------------------------------------
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
        when = to_datetime(now)
        active = policy if policy is not None else self.policy
        if collateral is None:
            collateral = self.collateral
        if collateral is None:
            if self.source is None:
                raise TypeError("no collateral: pass one, or build the Verifier with collateral")
            if self._source_is_async:
                raise TypeError(
                    "this Verifier's collateral source is asynchronous: "
                    "use `await verifier.averify(...)`"
                )
            try:
                collateral = self.source.collateral_for(
                    quote,
                    now=when,
                    validator=self._validator(),
                    allow_expired=active.expired_collateral_allowed,
                )
            except VerificationError as error:
                error.checks_passed = ()
                raise
        assert collateral is not None
        return self._verify(quote, collateral, when, active)

    async def averify(
        self,
        quote: Quote | bytes | bytearray | memoryview,
        collateral: Collateral | None = None,
        *,
        now: datetime | int | float,
        policy: Policy | None = None,
    ) -> VerifiedQuote:
        """:meth:`verify` for asyncio: an asynchronous source is awaited.

        With an ``AsyncPcsSource`` the missing collateral is fetched
        concurrently without blocking the event loop; a synchronous source
        is run in a worker thread.  The checks themselves take microseconds
        once the collateral is verified and run on the loop.
        """
        if not isinstance(quote, Quote):
            quote = parse_quote(quote)
        when = to_datetime(now)
        active = policy if policy is not None else self.policy
        if collateral is None:
            collateral = self.collateral
        if collateral is None:
            source = self.source
            if source is None:
                raise TypeError("no collateral: pass one, or build the Verifier with collateral")
            options: dict[str, Any] = {
                "now": when,
                "validator": self._validator(),
                "allow_expired": active.expired_collateral_allowed,
            }
            fetch: Any = source.collateral_for
            if self._source_is_async:
                collateral = await fetch(quote, **options)
            else:
                import asyncio  # only here: importing asyncio costs more than a verification

                collateral = await asyncio.to_thread(fetch, quote, **options)
        assert collateral is not None
        return self._verify(quote, collateral, when, active)

    # --- the pipeline ---------------------------------------------------------------
    def _verify(
        self, quote: Quote, collateral: Collateral, now: datetime, policy: Policy
    ) -> VerifiedQuote:
        if quote.qe_vendor_id != INTEL_QE_VENDOR_ID:
            raise QuoteFormatError(
                f"QE vendor ID {quote.qe_vendor_id.hex()} is not Intel's", code="qe_vendor_unknown"
            )
        trust = self.trust_root
        cache = self.cache
        signed = quote.signed_bytes
        digest, payload = _context_id(quote)
        key = ("quote", collateral.digest, trust.digest, digest)
        context = cache.get(key)
        if isinstance(context, QuoteContext) and context.certification_payload == payload:
            # The key covers the attestation key and QE auth data: the binding holds.
            leaf_key = context.platform.chain.leaf_key
            if not cache.remembers_qe_reports and leaf_key is not None:
                try:
                    check_qe_report_signature(quote, leaf_key)
                except VerificationError as error:
                    error.checks_passed = context.checks_before_qe_report
                    raise
            if not verify_raw_signature(context.attestation_key, quote.signature, signed):
                refusal = QuoteSignatureError(
                    "the quote signature does not verify with the attestation key"
                )
                refusal.checks_passed = context.checks_before_signature
                raise refusal
        else:
            checks: list[str] = []
            try:
                context = self._check(quote, collateral, checks, payload)
            except VerificationError as error:
                error.checks_passed = tuple(checks)
                raise
            cache.put(key, context)
        verified = _verdict(quote, context, context.platform.validity.expired(now))
        try:
            policy.apply(verified, now)
        except VerificationError as error:
            # A refusal after the verdict: Intel's QvE would have reported the verdict.
            error.checks_passed = context.checks
            error.qv_result = verified.qv_result
            raise
        return verified

    def _check(
        self, quote: Quote, collateral: Collateral, checks: list[str], payload: bytes
    ) -> QuoteContext:
        """Every check in Intel's order; the context of this platform and QE report."""
        identifier = _pck_identifier(quote)
        # The PCK certificate, the CRLs, the TCB Info and the QE identity.
        platform = platform_for(quote, collateral, self.trust_root, self.cache, checks)
        extension = platform.extension
        if identifier is not None:
            # Certification data types 1-3 name the TCB of the PCK key that signed the QE
            # report: the collateral's PCK certificate must be for exactly that TCB.
            _check_pck_identifier(identifier, extension)
            checks.append("pck_identifier")
        elif quote.certification_data.type == CERT_TYPE_PCK_LEAF:
            # Type 4 carries the PCK leaf itself: it must be the collateral's.
            _check_pck_leaf(quote.certification_data.data, platform.chain.leaf.der)
            checks.append("pck_identifier")
        tcb_info = platform.collateral.tcb_info
        identity = platform.collateral.qe_identity

        # The quote (sgxAttestationVerifyQuote)
        _check_tcb_info_matches(quote, extension, tcb_info)
        checks.append("tcb_info_matches")
        body = quote.body
        if not isinstance(body, SgxReport):
            check_tdx_module_identity(
                tcb_info, body.tee_tcb_svn, body.mr_signer_seam, body.seam_attributes
            )
            checks.append("tdx_module_identity")
        before_qe_report = tuple(checks)
        leaf_key = platform.chain.leaf_key
        if leaf_key is None:
            from ..errors import QeReportError

            raise QeReportError("the QE report signature does not verify with the PCK leaf key")
        check_qe_report_signature(quote, leaf_key)
        checks.append("qe_report_signature")
        check_qe_report_data(quote)
        checks.append("qe_report_data")
        check_qe_identity(quote, identity)
        checks.append("qe_identity")
        qe_level = qe_tcb_level(quote, identity)
        try:
            attestation_key = p256_key_from_xy(quote.attestation_key)
        except ValueError:
            raise QuoteSignatureError(
                "the attestation key is not a P-256 point", code="attestation_key_invalid"
            ) from None
        before_signature = tuple(checks)
        if not verify_raw_signature(attestation_key, quote.signature, quote.signed_bytes):
            raise QuoteSignatureError(
                "the quote signature does not verify with the attestation key"
            )
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

        # DCAP 1.25: one sorted set of the platform, QE and module levels' advisories.
        module_level = evaluation.module_level
        advisories = tuple(
            sorted(
                {
                    *evaluation.platform_level.advisory_ids,
                    *(() if module_level is None else module_level.advisory_ids),
                    *qe_level.advisory_ids,
                }
            )
        )
        supplementals = (
            self._supplemental(platform, evaluation, expired=False),
            self._supplemental(platform, evaluation, expired=True),
        )
        checks_done = tuple(checks)
        return QuoteContext(
            platform=platform,
            certification_payload=payload,
            attestation_key_bytes=quote.attestation_key,
            qe_auth_data=quote.qe_auth_data,
            attestation_key=attestation_key,
            qe_level=qe_level,
            evaluation=evaluation,
            advisory_ids=advisories,
            checks=checks_done,
            checks_before_signature=before_signature,
            checks_before_qe_report=before_qe_report,
            supplementals=supplementals,
            verdict_fields=_verdict_fields(evaluation, qe_level, advisories, checks_done),
        )

    def _supplemental(
        self, platform: VerifiedPlatform, evaluation: TcbEvaluation, *, expired: bool
    ) -> Supplemental:
        verified = platform.collateral
        validity = platform.validity
        ext = platform.extension
        config = ext.configuration
        return Supplemental(
            earliest_issue_date=validity.earliest_start,
            latest_issue_date=validity.latest_start,
            earliest_expiration_date=validity.earliest_end,
            collateral_expired=expired,
            tcb_level_date=evaluation.platform_level.tcb_date,
            tcb_evaluation_data_number=min(
                verified.tcb_info.tcb_evaluation_data_number,
                verified.qe_identity.tcb_evaluation_data_number,
            ),
            pck_crl_number=verified.pck_crl.crl_number,
            root_ca_crl_number=verified.root_crl.crl_number,
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
            pck_ca=platform.chain.ca_type,
        )


def _pck_identifier(quote: Quote) -> PckIdentifier | None:
    """The quote's PCK identifier (certification data types 1-3); malformed is ``quote_format``."""
    try:
        return quote.pck_identifier
    except QuoteParseError as exc:
        raise QuoteFormatError(f"the quote's certification data: {exc.reason}") from None


def _check_pck_leaf(data: bytes, leaf_der: bytes) -> None:
    """A type-4 payload must be the verified chain's leaf, as one PEM block or as DER."""
    from .._chain_checks import pem_certificate_ders

    der: bytes | None = data
    if data.lstrip()[:5] == b"-----":
        try:
            blocks = pem_certificate_ders(data)
        except ValueError:
            blocks = []
        der = blocks[0] if len(blocks) == 1 else None
    if der != leaf_der:
        raise CertificateChainError(
            "the PCK leaf the quote carries (certification data type 4) is not the "
            "collateral's PCK certificate",
            code="pck_cert_mismatch",
        )


def _check_pck_identifier(identifier: PckIdentifier, extension: PckExtension) -> None:
    from ..collateral._pck_certificate import quote_identifier_mismatch

    problem = quote_identifier_mismatch(extension, identifier)
    if problem is not None:
        raise CertificateChainError(
            f"{problem}: not the certificate of the key that signed the QE report",
            code="pck_cert_mismatch",
        )


def _check_tcb_info_matches(quote: Quote, ext: PckExtension, tcb_info: TcbInfo) -> None:
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
            f"the PCK's PCE-ID {ext.pce_id.hex()} is not the TCB Info's {tcb_info.pce_id.hex()}",
            code="tcb_info_mismatch",
        )


# --- the one-shot verify() and its default verifiers -----------------------------------

_MAX_DEFAULT_VERIFIERS = 8
_defaults: OrderedDict[bytes, Verifier] = OrderedDict()
_defaults_lock = threading.Lock()


def _root_key(trust_root: TrustRoot | x509.Certificate | bytes | str | None) -> bytes:
    """Identifies a trust root as given, without reading it (cheap on every call)."""
    if trust_root is None:
        return b"intel"
    if isinstance(trust_root, TrustRoot):
        return b"root:" + trust_root.digest
    if isinstance(trust_root, str):
        return b"text:" + hashlib.sha256(trust_root.encode("utf-8", "surrogatepass")).digest()
    if isinstance(trust_root, (bytes, bytearray, memoryview)):
        return b"bytes:" + hashlib.sha256(trust_root).digest()
    from cryptography.hazmat.primitives.serialization import Encoding

    return b"bytes:" + hashlib.sha256(trust_root.public_bytes(Encoding.DER)).digest()


def default_verifier(
    trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
) -> Verifier:
    """The process-wide :class:`Verifier` :func:`verify` uses for ``trust_root``.

    One for the pinned Intel root, and one for each of the last 8 other roots
    given (least recently used dropped): each is thread-safe and its cache
    bounded, so a long-running process that calls :func:`verify` gets warm
    verifications without holding a :class:`Verifier` itself.
    """
    key = _root_key(trust_root)
    with _defaults_lock:
        found = _defaults.get(key)
        if found is not None:
            _defaults.move_to_end(key)
            return found
    verifier = Verifier(trust_root=trust_root)
    with _defaults_lock:
        found = _defaults.setdefault(key, verifier)
        _defaults.move_to_end(key)
        while len(_defaults) > _MAX_DEFAULT_VERIFIERS:
            oldest = next(iter(_defaults))
            if oldest == b"intel":  # the pinned root's verifier is never dropped
                _defaults.move_to_end(oldest)
                oldest = next(iter(_defaults))
            del _defaults[oldest]
    return found


def verify(
    quote: Quote | bytes | bytearray | memoryview,
    collateral: Collateral,
    *,
    now: datetime | int | float,
    policy: Policy | None = None,
    trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
) -> VerifiedQuote:
    """Verify a quote end to end against its collateral at ``now``, then apply ``policy``.

    Uses the process-wide verifier of ``trust_root`` (:func:`default_verifier`),
    so repeated calls reuse verified collateral and platforms.
    """
    return default_verifier(trust_root).verify(quote, collateral, now=now, policy=policy)
