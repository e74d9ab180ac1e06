"""Collateral sources: "the collateral for this quote at this time".

A :class:`CollateralSource` is what a :class:`~tdxquote.verification.Verifier` asks
when it is given a quote without collateral.  Two kinds exist:

* :class:`PcsSource` / :class:`AsyncPcsSource`: a PCS or PCCS client and an
  optional :class:`~tdxquote.collateral.cache.CollateralCache`.  Each artifact
  (TCB Info, QE identity, PCK CRL, Root CA CRL) is taken from the cache while
  it is valid at ``now`` (issued by then, not yet expired), else fetched.
  A quote that carries an encrypted PPID instead of its PCK chain
  (certification data types 2 and 3) first gets its PCK certificate the same
  way (``/pckcert``): it names the FMSPC and CA of the rest, and goes into
  the collateral as its ``pck_certificate_chain``.  Every response, fresh or
  cached, is parsed and its signatures checked against the verifier's trust
  root before use; a fresh one is cached only then, and only if it has not
  expired.
* :class:`OfflineSource`: bundles (``QuoteCollateralV3`` JSON) on disk,
  picked by TEE, FMSPC and CA type (for a quote without a PCK chain: by the
  bundle's ``pck_certificate_chain``), among those valid at ``now`` first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from tdxquote._chain_checks import (
    check_crl,
    check_pck_crl_issuer_chain,
    check_signed_json,
    check_signing_chain,
    pem_certificate_ders,
    public_key,
)
from tdxquote._time import to_datetime
from tdxquote._trust import TrustRoot, load_trust_root
from tdxquote._verified_cache import VerifiedCache
from tdxquote._x509_verify import (
    CertView,
    X509FormatError,
    parse_certificate,
    parse_crl,
    verify_raw_signature,
)
from tdxquote.errors import (
    CertificateChainError,
    CollateralFetchError,
    CollateralFormatError,
    CrlError,
    VerificationError,
)

from ._bundle import Collateral, RawCollateral
from ._chain import chain_pem_text, load_chain
from ._crl import crl_der, load_crl
from ._identity import EnclaveIdentity
from ._pck_certificate import (
    check_pck_chain_issuers,
    header_mismatch,
    identifier_mismatch,
    quote_identifier_mismatch,
)
from ._pem import ascii_text, pem_blocks
from ._tcb_info import TcbInfo
from .pcs import (
    ARTIFACTS,
    PCK_CERTIFICATE,
    Artifact,
    AsyncPcsClient,
    CaType,
    CollateralParameters,
    PckCertificateQuery,
    PcsClient,
    PcsResponse,
    Tee,
    ca_of,
    is_pck_leaf,
    pck_chain_of,
    quote_pck_identifier,
)

if TYPE_CHECKING:
    from tdxquote._quote import PckIdentifier, Quote
    from tdxquote.pck import PckExtension

    from .cache import CollateralCache

__all__ = [
    "ArtifactValidator",
    "AsyncPcsSource",
    "CollateralSource",
    "FetchedArtifact",
    "OfflineSource",
    "PcsSource",
    "bundle_expiry",
    "bundle_parameters",
    "bundle_rank",
    "bundle_start",
    "load_bundles",
    "parse_response",
]

_PARSED_MEMO = 256
_WHAT: dict[Artifact, str] = {
    "tcb_info": "TCB Info",
    "qe_identity": "QE identity",
    "pck_crl": "PCK CRL",
    "root_ca_crl": "Root CA CRL",
    "pck_certificate": "PCK certificate",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _when(now: datetime | int | float) -> datetime:
    return to_datetime(now)


def _crl_issuer_cn(crl: x509.CertificateRevocationList) -> str:
    """The CRL issuer's common name (unverified bytes: read through the guarded reader)."""
    from tdxquote._x509_read import common_name, crl_issuer

    def fail(reason: str) -> CollateralFormatError:
        return CollateralFormatError(f"the PCK CRL: {reason}", code="crl_format")

    return common_name(crl_issuer(crl, fail))


def _crl_ca(crl: x509.CertificateRevocationList) -> CaType:
    return "processor" if "Processor" in _crl_issuer_cn(crl) else "platform"


# --- one parsed response ---------------------------------------------------------------


@dataclass(frozen=True)
class FetchedArtifact:
    """A response parsed: the artifact, its issuer chain and when it is usable.

    ``expires`` is the earliest of the artifact's ``nextUpdate`` and its
    issuer chain's ``notAfter`` dates; ``start`` the latest of its issue date
    (``issueDate``, ``thisUpdate``) and the chain's ``notBefore``: a cached
    artifact is used at a time in ``[start, expires)`` only.  Exactly one of
    ``tcb_info``, ``qe_identity``, ``crl`` and ``pck_extension`` is set.  For
    a PCK certificate, ``chain`` and ``chain_pem`` are the whole PCK chain
    (leaf, PCK CA, root) and ``pck_extension`` is the leaf's SGX extension.
    """

    response: PcsResponse
    chain: tuple[x509.Certificate, ...]
    chain_pem: str
    expires: datetime
    tcb_info: TcbInfo | None = None
    qe_identity: EnclaveIdentity | None = None
    crl: x509.CertificateRevocationList | None = None
    crl_der: bytes = b""
    start: datetime = _EPOCH
    pck_extension: PckExtension | None = None

    @property
    def artifact(self) -> Artifact:
        """Which artifact this is."""
        return self.response.artifact

    def valid_at(self, when: datetime) -> bool:
        """``start <= when < expires``."""
        return self.start <= when < self.expires


def parse_response(response: PcsResponse) -> FetchedArtifact:
    """Parse a response body and its issuer-chain header; nothing is verified here.

    A malformed body or header raises :class:`CollateralFetchError` naming the
    URL and Intel's ``Request-ID``.
    """
    artifact = response.artifact
    try:
        chain: tuple[x509.Certificate, ...] = ()
        chain_pem = ""
        if response.issuer_chain is not None:
            chain_pem = chain_pem_text(response.issuer_chain)
            chain = load_chain(chain_pem)
        ends = [cert.not_valid_after_utc for cert in chain]
        starts = [cert.not_valid_before_utc for cert in chain]
        if artifact == "tcb_info":
            info = TcbInfo.from_response(response.body)
            return FetchedArtifact(
                response,
                chain,
                chain_pem,
                min([info.next_update, *ends]),
                tcb_info=info,
                start=max([info.issue_date, *starts]),
            )
        if artifact == "qe_identity":
            identity = EnclaveIdentity.from_response(response.body)
            return FetchedArtifact(
                response,
                chain,
                chain_pem,
                min([identity.next_update, *ends]),
                qe_identity=identity,
                start=max([identity.issue_date, *starts]),
            )
        if artifact == "pck_certificate":
            return _parse_pck_certificate(response, chain, chain_pem)
        der = crl_der(response.body)
        crl = load_crl(der)
        next_update = crl.next_update_utc
        assert next_update is not None  # load_crl refuses CRLs without one
        return FetchedArtifact(
            response,
            chain,
            chain_pem,
            min([next_update, *ends]),
            crl=crl,
            crl_der=der,
            start=max([crl.last_update_utc, *starts]),
        )
    except CollateralFormatError as exc:
        what = "issuer-chain header" if exc.code == "issuer_chain_format" else "body"
        raise CollateralFetchError(
            f"malformed {_WHAT[artifact]} response ({what}): {exc.message}",
            url=response.url,
            request_id=response.request_id,
        ) from exc


def _parse_pck_certificate(
    response: PcsResponse, issuers: tuple[x509.Certificate, ...], issuers_pem: str
) -> FetchedArtifact:
    """The body is one PEM certificate, the issuer chain its PCK CA and root."""
    text = ascii_text(
        response.body,
        what="PCK certificate",
        not_ascii="not ASCII text",
        code="collateral_format",
    )
    count = len(pem_blocks(text, "CERTIFICATE", code="collateral_format"))
    if count != 1:
        raise CollateralFormatError(f"{count} certificates, not 1", code="collateral_format")
    if len(issuers) != 2:
        raise CollateralFormatError(
            f"{len(issuers)} certificates, not 2 (PCK CA and root)", code="issuer_chain_format"
        )
    pem = text.strip() + "\n" + issuers_pem.strip() + "\n"
    try:
        chain, extension = pck_chain_of(pem)
    except CertificateChainError as exc:
        raise CollateralFormatError(exc.message, code="collateral_format") from None
    return FetchedArtifact(
        response,
        chain,
        pem,
        min(cert.not_valid_after_utc for cert in chain),
        start=max(cert.not_valid_before_utc for cert in chain),
        pck_extension=extension,
    )


def _check_matches(
    fetched: FetchedArtifact, params: CollateralParameters, evaluation_number: int | None
) -> None:
    """A well-formed response for something else than what was asked is a fetch failure."""
    problem = None
    if fetched.tcb_info is not None:
        info = fetched.tcb_info
        if info.id != params.tee.upper():
            problem = f"TCB Info id {info.id}, expected {params.tee.upper()}"
        elif info.fmspc.hex().upper() != params.fmspc:
            problem = f"TCB Info for FMSPC {info.fmspc.hex().upper()}, asked {params.fmspc}"
        elif evaluation_number is not None and info.tcb_evaluation_data_number != evaluation_number:
            problem = (
                f"TCB Info evaluation data number {info.tcb_evaluation_data_number}, "
                f"asked {evaluation_number}"
            )
    elif fetched.qe_identity is not None:
        identity = fetched.qe_identity
        expected = "TD_QE" if params.tee == "tdx" else "QE"
        if identity.id != expected:
            problem = f"enclave identity id {identity.id}, expected {expected}"
        elif (
            evaluation_number is not None
            and identity.tcb_evaluation_data_number != evaluation_number
        ):
            problem = (
                f"QE identity evaluation data number {identity.tcb_evaluation_data_number}, "
                f"asked {evaluation_number}"
            )
    elif fetched.artifact == "pck_crl":
        assert fetched.crl is not None
        if _crl_ca(fetched.crl) != params.ca:
            issuer = _crl_issuer_cn(fetched.crl)
            problem = f"a PCK CRL issued by {issuer!r}, asked the {params.ca} CA's"
    if problem is not None:
        raise CollateralFetchError(
            f"the server answered with {problem}",
            url=fetched.response.url,
            request_id=fetched.response.request_id,
        )


def _check_pck_matches(fetched: FetchedArtifact, query: PckCertificateQuery) -> None:
    """The certificate must be for the quote's TCB and PCE; its hint headers must agree.

    The PCS answers with the certificate of the best TCB level the platform
    is registered at, at or below the one asked: its key signed the QE report
    only if it is exactly the quote's CPUSVN, PCESVN and PCE-ID.
    """
    extension = fetched.pck_extension
    assert extension is not None
    response = fetched.response
    problem = identifier_mismatch(
        extension, cpu_svn=query.cpu_svn, pce_svn=query.pce_svn, pce_id=query.pce_id
    )
    if problem is not None:
        problem += " (is the platform registered at this TCB?)"
    elif response.headers:
        try:
            ca = ca_of(fetched.chain, "the PCK certificate")
        except VerificationError as exc:
            raise CollateralFetchError(
                f"malformed PCK certificate response (body): {exc.message}",
                url=response.url,
                request_id=response.request_id,
            ) from None
        hint = header_mismatch(response.headers, extension, ca)
        if hint is not None:
            problem = f"a PCK certificate served with {hint}"
    if problem is not None:
        raise CollateralFetchError(
            f"the server answered with {problem}",
            url=response.url,
            request_id=response.request_id,
        )


# --- signatures ------------------------------------------------------------------------


class ArtifactValidator:
    """Checks one artifact's chain and signature against a trust root.

    ``cache`` is a :class:`~tdxquote.verification.VerifiedCache`; give the
    verifier's (as :class:`~tdxquote.verification.Verifier` does) and the
    verifier's own checks of the same bytes become cache hits (the same
    checks, the same keys).  Revocation and time are not judged here: the
    verifier does that with the whole collateral.
    """

    def __init__(
        self,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        cache: VerifiedCache | None = None,
    ) -> None:
        self.trust_root = load_trust_root(trust_root)
        self.cache = cache if cache is not None else VerifiedCache()

    def check(self, fetched: FetchedArtifact) -> None:
        """Raise a :class:`~tdxquote.VerificationError` unless ``fetched`` verifies."""
        trust, cache = self.trust_root, self.cache
        if fetched.artifact == "pck_certificate":
            self.check_pck_chain(fetched.chain_pem)
            return
        signed = fetched.tcb_info if fetched.tcb_info is not None else fetched.qe_identity
        if signed is not None:
            is_tcb = fetched.tcb_info is not None
            what = "TCB Info" if is_tcb else "QE identity"
            code = "tcb_signing_chain_invalid" if is_tcb else "qe_identity_chain_invalid"
            signing = check_signing_chain(_views(fetched, code), trust, cache, code=code, what=what)
            check_signed_json(
                signing,
                signed.signed_body,
                signed.signature,
                cache,
                what=what,
                code="tcb_info_signature_invalid" if is_tcb else "qe_identity_signature_invalid",
            )
            return
        try:
            crl = parse_crl(fetched.crl_der)
        except X509FormatError as exc:
            raise CrlError(f"the CRL does not decode: {exc}") from None
        if fetched.artifact == "root_ca_crl":
            check_crl(
                crl,
                trust.subject,
                trust.public_key_bytes,
                trust.public_key,
                cache,
                what="root CA CRL",
            )
            return
        issuer = check_pck_crl_issuer_chain(_views(fetched, "crl_invalid"), trust, cache)
        issuer_key = public_key(issuer)
        if issuer_key is None or issuer.public_point is None:
            raise CertificateChainError("the PCK CRL issuer's key is not P-256", code="crl_invalid")
        check_crl(crl, issuer.subject, issuer.public_point, issuer_key, cache, what="PCK CRL")

    def check_pck_chain(self, pem: str) -> None:
        """A PCK chain (PEM leaf, PCK CA, root) issued under the trust root (names,
        signatures, CA constraints; revocation and dates are the verifier's)."""
        check_pck_chain_issuers(_views(pem, "pck_chain_invalid"), self.trust_root, self.cache)


def _views(pem: str | FetchedArtifact, code: str) -> tuple[CertView, ...]:
    """The certificates of a chain, read from their DER (for the checks)."""
    issuers = isinstance(pem, FetchedArtifact)
    text = pem.chain_pem if isinstance(pem, FetchedArtifact) else pem
    if not text:
        return ()
    try:
        return tuple(parse_certificate(der) for der in pem_certificate_ders(text))
    except (ValueError, X509FormatError) as exc:
        what = "an issuer chain certificate" if issuers else "a PCK chain certificate"
        raise CertificateChainError(f"{what}: {exc}", code=code) from None


# --- the protocol ----------------------------------------------------------------------


class CollateralSource(Protocol):
    """Collateral for a quote at a time: what a :class:`~tdxquote.verification.Verifier` asks."""

    def collateral_for(
        self,
        quote: Quote,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> Collateral:
        """The collateral to verify ``quote`` with at ``now``.

        ``validator`` checks fetched or cached artifacts (the verifier passes
        its trust root and verified cache).  With ``allow_expired`` a response
        already expired at ``now`` is returned (never cached) instead of
        raising.  Fetch failures raise :class:`CollateralFetchError`.
        """
        ...


def assemble(
    artifacts: dict[Artifact, FetchedArtifact], pck_certificate: FetchedArtifact | None = None
) -> Collateral:
    """A :class:`Collateral` from the four parsed artifacts (no re-parsing).

    ``pck_certificate`` (a fetched PCK certificate) becomes the collateral's
    ``pck_certificate_chain``.
    """
    tcb, identity = artifacts["tcb_info"], artifacts["qe_identity"]
    pck, root = artifacts["pck_crl"], artifacts["root_ca_crl"]
    assert tcb.tcb_info is not None
    assert identity.qe_identity is not None
    assert pck.crl is not None
    assert root.crl is not None
    raw = RawCollateral(
        pck_crl_issuer_chain=pck.chain_pem,
        root_ca_crl=root.crl_der,
        pck_crl=pck.crl_der,
        tcb_info_issuer_chain=tcb.chain_pem,
        tcb_info=tcb.tcb_info.signed_body,
        tcb_info_signature=tcb.tcb_info.signature,
        qe_identity_issuer_chain=identity.chain_pem,
        qe_identity=identity.qe_identity.signed_body,
        qe_identity_signature=identity.qe_identity.signature,
        pck_certificate_chain=None if pck_certificate is None else pck_certificate.chain_pem,
    )
    return Collateral._with_parts(
        raw,
        pck_crl_issuer_chain=pck.chain,
        root_ca_crl=root.crl,
        pck_crl=pck.crl,
        tcb_info_issuer_chain=tcb.chain,
        tcb_info=tcb.tcb_info,
        qe_identity_issuer_chain=identity.chain,
        qe_identity=identity.qe_identity,
        pck_certificate_chain=None if pck_certificate is None else pck_certificate.chain,
    )


# --- PCS / PCCS with a cache -----------------------------------------------------------

_Matches = Callable[[FetchedArtifact], None]


class _FetchingSource:
    """The cache and acceptance logic shared by the sync and async sources."""

    def __init__(
        self,
        client: PcsClient | AsyncPcsClient,
        cache: CollateralCache | None,
        validator: ArtifactValidator | None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.validator = validator
        self._parsed: OrderedDict[bytes, FetchedArtifact] = OrderedDict()
        self._lock = threading.Lock()

    def _validator(self, validator: ArtifactValidator | None) -> ArtifactValidator:
        if validator is not None:
            return validator
        if self.validator is None:
            self.validator = ArtifactValidator()
        return self.validator

    def cache_key(self, artifact: Artifact, params: CollateralParameters) -> str:
        """The cache key: artifact and full request URL (source and every parameter)."""
        return f"{artifact} {self.client.url(artifact, params)}"

    def pck_certificate_key(self, query: PckCertificateQuery) -> str:
        """The cache key of a PCK certificate: the exact ``/pckcert`` request URL."""
        return f"{PCK_CERTIFICATE} {self.client.pck_certificate_url(query)}"

    def _parse(self, response: PcsResponse) -> FetchedArtifact:
        # Parsing is memoized by the exact response bytes, like verification is.
        digest = hashlib.sha256()
        for part in (response.artifact, response.url, response.issuer_chain or ""):
            data = part.encode()
            digest.update(len(data).to_bytes(8, "big") + data)
        digest.update(response.body)
        key = digest.digest()
        with self._lock:
            found = self._parsed.get(key)
            if found is not None:
                self._parsed.move_to_end(key)
                return (
                    found
                    if found.response == response
                    else dataclasses.replace(found, response=response)
                )
        fetched = parse_response(response)
        with self._lock:
            self._parsed[key] = fetched
            if len(self._parsed) > _PARSED_MEMO:
                self._parsed.popitem(last=False)
        return fetched

    def _matches(self, params: CollateralParameters) -> _Matches:
        number = self.client.endpoints.tcb_evaluation_data_number
        return lambda fetched: _check_matches(fetched, params, number)

    def _accept(
        self, response: PcsResponse, matches: _Matches, validator: ArtifactValidator
    ) -> FetchedArtifact:
        """Parse, check it is what was asked, check its signatures."""
        fetched = self._parse(response)
        matches(fetched)
        try:
            validator.check(fetched)
        except VerificationError as exc:
            raise CollateralFetchError(
                f"the {_WHAT[response.artifact]} response does not verify ({exc.code}): {exc}",
                url=response.url,
                request_id=response.request_id,
            ) from exc
        return fetched

    def _cached(
        self,
        key: str,
        artifact: Artifact,
        matches: _Matches,
        now: datetime,
        validator: ArtifactValidator,
    ) -> FetchedArtifact | None:
        """A cached artifact valid at ``now`` (issued by then, not expired); bad entries go."""
        if self.cache is None:
            return None
        response = self.cache.load(key)
        if response is None or response.artifact != artifact:
            return None
        try:
            fetched = self._accept(response, matches, validator)
        except CollateralFetchError:
            # Corrupt or tampered: forget it and fetch again.
            self.cache.evict(key)
            return None
        return fetched if fetched.valid_at(now) else None

    def _fresh(
        self,
        response: PcsResponse,
        key: str,
        matches: _Matches,
        now: datetime,
        validator: ArtifactValidator,
        allow_expired: bool,
    ) -> FetchedArtifact:
        fetched = self._accept(response, matches, validator)
        if fetched.expires <= now:
            if allow_expired:
                return fetched
            raise CollateralFetchError(
                f"the {_WHAT[response.artifact]} served is already expired at "
                f"{now.isoformat()} (it expires {fetched.expires.isoformat()})",
                url=response.url,
                request_id=response.request_id,
            )
        if self.cache is not None:
            self.cache.store(key, response, fetched.expires)
        return fetched

    def _cached_artifact(
        self,
        artifact: Artifact,
        params: CollateralParameters,
        now: datetime,
        checker: ArtifactValidator,
    ) -> FetchedArtifact | None:
        key = self.cache_key(artifact, params)
        return self._cached(key, artifact, self._matches(params), now, checker)

    def _fresh_artifact(
        self,
        response: PcsResponse,
        params: CollateralParameters,
        now: datetime,
        checker: ArtifactValidator,
        allow_expired: bool,
    ) -> FetchedArtifact:
        key = self.cache_key(response.artifact, params)
        return self._fresh(response, key, self._matches(params), now, checker, allow_expired)

    def _pck_query(self, quote: Quote) -> PckCertificateQuery | None:
        """The ``/pckcert`` query of a quote without a PCK chain; None for a type-5 quote."""
        if quote.pck_chain_pem is not None:
            return None
        return PckCertificateQuery.from_quote(quote)

    def _pck_matches(self, query: PckCertificateQuery) -> _Matches:
        return lambda fetched: _check_pck_matches(fetched, query)

    @staticmethod
    def _parameters(quote: Quote, pck: FetchedArtifact | None) -> CollateralParameters:
        chain = None if pck is None else pck.chain_pem
        return CollateralParameters.from_quote(quote, pck_certificate_chain=chain)


class PcsSource(_FetchingSource):
    """Collateral from a PCS or PCCS :class:`~tdxquote.collateral.pcs.PcsClient`, cached.

    ``cache`` (a :class:`~tdxquote.collateral.cache.CollateralCache`) keeps raw
    responses between runs; without one every call fetches.  ``validator``
    is used when :meth:`collateral_for` is not given one (default: Intel's
    root).
    """

    client: PcsClient

    def __init__(
        self,
        client: PcsClient,
        cache: CollateralCache | None = None,
        *,
        validator: ArtifactValidator | None = None,
    ) -> None:
        super().__init__(client, cache, validator)

    def collateral_for(
        self,
        quote: Quote,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> Collateral:
        """See :meth:`CollateralSource.collateral_for`.

        A quote with an encrypted PPID (certification data type 2 or 3) gets
        its PCK certificate first (:meth:`pck_certificate`); the collateral
        carries it as ``pck_certificate_chain``.
        """
        when = _when(now)
        query = self._pck_query(quote)
        pck = None
        if query is not None:
            pck = self.pck_certificate(
                query, now=when, validator=validator, allow_expired=allow_expired
            )
        params = self._parameters(quote, pck)
        return self._collateral(params, when, self._validator(validator), allow_expired, pck)

    def pck_certificate(
        self,
        query: PckCertificateQuery,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> FetchedArtifact:
        """The PCK certificate of ``query`` (cached while valid at ``now``, else fetched).

        It must verify under the trust root and be for the query's CPUSVN,
        PCESVN and PCE-ID; anything else is a :class:`CollateralFetchError`.
        """
        when = _when(now)
        checker = self._validator(validator)
        key, matches = self.pck_certificate_key(query), self._pck_matches(query)
        fetched = self._cached(key, PCK_CERTIFICATE, matches, when, checker)
        if fetched is None:
            response = self.client.get_pck_certificate(query)
            fetched = self._fresh(response, key, matches, when, checker, allow_expired)
        return fetched

    def collateral(
        self,
        params: CollateralParameters,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> Collateral:
        """The collateral for ``params``: cached artifacts valid at ``now``, the rest fetched."""
        return self._collateral(params, _when(now), self._validator(validator), allow_expired)

    def _collateral(
        self,
        params: CollateralParameters,
        when: datetime,
        checker: ArtifactValidator,
        allow_expired: bool,
        pck: FetchedArtifact | None = None,
    ) -> Collateral:
        artifacts: dict[Artifact, FetchedArtifact] = {}
        for artifact in ARTIFACTS:
            fetched = self._cached_artifact(artifact, params, when, checker)
            if fetched is None:
                response = self.client.get(artifact, params, at=when)
                fetched = self._fresh_artifact(response, params, when, checker, allow_expired)
            artifacts[artifact] = fetched
        return assemble(artifacts, pck)

    def close(self) -> None:
        """Close the client."""
        self.client.close()


class AsyncPcsSource(_FetchingSource):
    """The asynchronous twin of :class:`PcsSource`: missing artifacts are fetched concurrently."""

    client: AsyncPcsClient

    def __init__(
        self,
        client: AsyncPcsClient,
        cache: CollateralCache | None = None,
        *,
        validator: ArtifactValidator | None = None,
    ) -> None:
        super().__init__(client, cache, validator)

    async def collateral_for(
        self,
        quote: Quote,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> Collateral:
        """As :meth:`PcsSource.collateral_for`, awaited (the PCK certificate first)."""
        when = _when(now)
        query = self._pck_query(quote)
        pck = None
        if query is not None:
            pck = await self.pck_certificate(
                query, now=when, validator=validator, allow_expired=allow_expired
            )
        params = self._parameters(quote, pck)
        return await self._collateral(params, when, self._validator(validator), allow_expired, pck)

    async def pck_certificate(
        self,
        query: PckCertificateQuery,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> FetchedArtifact:
        """As :meth:`PcsSource.pck_certificate`, awaited."""
        when = _when(now)
        checker = self._validator(validator)
        key, matches = self.pck_certificate_key(query), self._pck_matches(query)
        fetched = self._cached(key, PCK_CERTIFICATE, matches, when, checker)
        if fetched is None:
            response = await self.client.get_pck_certificate(query)
            fetched = self._fresh(response, key, matches, when, checker, allow_expired)
        return fetched

    async def collateral(
        self,
        params: CollateralParameters,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> Collateral:
        """As :meth:`PcsSource.collateral`; the missing artifacts are fetched concurrently."""
        return await self._collateral(params, _when(now), self._validator(validator), allow_expired)

    async def _collateral(
        self,
        params: CollateralParameters,
        when: datetime,
        checker: ArtifactValidator,
        allow_expired: bool,
        pck: FetchedArtifact | None = None,
    ) -> Collateral:
        artifacts: dict[Artifact, FetchedArtifact] = {}
        missing: list[Artifact] = []
        for artifact in ARTIFACTS:
            fetched = self._cached_artifact(artifact, params, when, checker)
            if fetched is None:
                missing.append(artifact)
            else:
                artifacts[artifact] = fetched
        responses = await self.client.fetch_many(
            [(artifact, params) for artifact in missing], at=when
        )
        for response in responses:
            artifacts[response.artifact] = self._fresh_artifact(
                response, params, when, checker, allow_expired
            )
        return assemble(artifacts, pck)

    async def aclose(self) -> None:
        """Close the client."""
        await self.client.aclose()


# --- offline bundles -------------------------------------------------------------------


def bundle_parameters(collateral: Collateral) -> CollateralParameters:
    """What a bundle is for: TEE and FMSPC of its TCB Info, CA of its PCK CRL."""
    tee: Tee = "tdx" if collateral.tcb_info.id == "TDX" else "sgx"
    return CollateralParameters(
        tee=tee, fmspc=collateral.tcb_info.fmspc.hex().upper(), ca=_crl_ca(collateral.pck_crl)
    )


def _bundle_chains(collateral: Collateral) -> list[tuple[x509.Certificate, ...]]:
    chains = [
        collateral.tcb_info_issuer_chain,
        collateral.qe_identity_issuer_chain,
        collateral.pck_crl_issuer_chain,
    ]
    if collateral.pck_certificate_chain is not None:
        chains.append(collateral.pck_certificate_chain)
    return chains


def bundle_expiry(collateral: Collateral) -> datetime:
    """The earliest nextUpdate / notAfter of everything in the bundle."""
    ends = [collateral.tcb_info.next_update, collateral.qe_identity.next_update]
    for crl in (collateral.pck_crl, collateral.root_ca_crl):
        if crl.next_update_utc is not None:
            ends.append(crl.next_update_utc)
    for chain in _bundle_chains(collateral):
        ends.extend(cert.not_valid_after_utc for cert in chain)
    return min(ends)


def bundle_start(collateral: Collateral) -> datetime:
    """The latest issue date of anything in the bundle (its validity window's start)."""
    starts = [collateral.tcb_info.issue_date, collateral.qe_identity.issue_date]
    starts += [crl.last_update_utc for crl in (collateral.pck_crl, collateral.root_ca_crl)]
    for chain in _bundle_chains(collateral):
        starts.extend(cert.not_valid_before_utc for cert in chain)
    return max(starts)


def bundle_rank(
    start: datetime, end: datetime, evaluation_number: int, when: datetime
) -> tuple[bool, int, datetime]:
    """How to choose among bundles for one platform at ``when``: the greatest rank wins.

    A bundle valid at ``when`` (``start <= when < end``) first, then the
    highest TCB evaluation data number (the lower of TCB Info's and QE
    identity's), then the latest expiry.  ``--collateral DIR``
    (:class:`OfflineSource`) and ``collateral serve`` choose by this rule.
    """
    return (start <= when < end, evaluation_number, end)


def load_bundles(path: str | os.PathLike[str]) -> list[tuple[Path, Collateral]]:
    """Bundles (``QuoteCollateralV3`` JSON) from a file, or every ``*.json`` of a directory.

    Every part of each bundle is decoded here, so a file that is not a well-formed
    bundle raises :class:`~tdxquote.errors.CollateralFormatError` naming it; an
    unreadable path raises :class:`OSError`.
    """
    where = Path(path)
    files = sorted(where.glob("*.json")) if where.is_dir() else [where]
    bundles = []
    for file in files:
        data = file.read_bytes()
        try:
            bundles.append((file, Collateral.from_json(data).decoded()))
        except CollateralFormatError as exc:
            raise CollateralFormatError(
                f"{file}: {exc.message}", code=exc.code, intel_error=exc.intel_error
            ) from exc
    return bundles


class OfflineSource:
    """Collateral from bundles: a :class:`Collateral`, several, or a file or directory of them.

    For each quote the bundle for its TEE, FMSPC and PCK CA is chosen (for a
    quote that carries no PCK chain, a bundle whose ``pck_certificate_chain``
    is for its PCE-ID, CPUSVN and PCESVN); among several, by
    :func:`bundle_rank`: one valid at ``now``, then the highest TCB evaluation
    data number.  No network, no cache.
    """

    def __init__(
        self,
        bundles: Collateral | Iterable[Collateral] | str | os.PathLike[str],
    ) -> None:
        if isinstance(bundles, Collateral):
            found: list[Collateral] = [bundles]
            self.where = "the given collateral"
        elif isinstance(bundles, (str, os.PathLike)):
            found = [collateral for _, collateral in load_bundles(bundles)]
            self.where = os.fspath(bundles)
        else:
            found = list(bundles)
            self.where = "the given collateral"
        self.bundles = tuple(found)
        self._index = [
            _Indexed(
                bundle_parameters(b),
                bundle_start(b),
                bundle_expiry(b),
                min(
                    b.tcb_info.tcb_evaluation_data_number, b.qe_identity.tcb_evaluation_data_number
                ),
                *_bundle_leaf(b),
                b,
            )
            for b in self.bundles
        ]

    def collateral_for(
        self,
        quote: Quote,
        *,
        now: datetime | int | float,
        validator: ArtifactValidator | None = None,
        allow_expired: bool = False,
    ) -> Collateral:
        """See :meth:`CollateralSource.collateral_for`; the verifier checks the bundle."""
        when = _when(now)
        if quote.pck_chain_pem is None:
            candidates = self._for_identifier(quote)
        else:
            params = CollateralParameters.from_quote(quote)
            candidates = [item for item in self._index if item.params == params]
            if not candidates:
                raise CollateralFetchError(
                    f"no offline collateral for {params.tee.upper()} FMSPC {params.fmspc} "
                    f"({params.ca} CA) in {self.where}"
                )
        best = max(
            candidates,
            key=lambda item: bundle_rank(item.start, item.end, item.evaluation_number, when),
        )
        return best.collateral

    def _for_identifier(self, quote: Quote) -> list[_Indexed]:
        identifier = quote_pck_identifier(quote)
        if identifier is None:
            # No PCK identifier (type 4): the verdict an offline verification gives.
            CollateralParameters.from_quote(quote)
        assert identifier is not None
        tee: Tee = "tdx" if quote.is_tdx else "sgx"
        found = [
            item
            for item in self._index
            if item.leaf is not None
            and item.params.tee == tee
            and item.leaf.fmspc_hex == item.params.fmspc
            and _identifies(identifier, item.leaf)
            and _signed_qe_report(item.leaf_key, quote)
        ]
        if not found:
            raise CollateralFetchError(
                f"no offline collateral with a PCK certificate for this quote's platform "
                f"({tee.upper()}, CPUSVN {identifier.cpu_svn.hex()}, PCESVN "
                f"{identifier.pce_svn}, a key that signed its QE report) in {self.where}"
            )
        return found


@dataclass(frozen=True)
class _Indexed:
    params: CollateralParameters
    start: datetime
    end: datetime
    evaluation_number: int
    leaf: PckExtension | None
    leaf_key: EllipticCurvePublicKey | None
    collateral: Collateral


def _bundle_leaf(
    collateral: Collateral,
) -> tuple[PckExtension | None, EllipticCurvePublicKey | None]:
    """The SGX extension and P-256 key of a bundle's ``pck_certificate_chain`` leaf, if any.

    ``(None, None)`` without a chain or for one that does not read: never chosen
    for a quote (a type-5 quote ignores it).
    """
    text = collateral.raw.pck_certificate_chain
    if text is None:
        return None, None
    try:
        chain, extension = pck_chain_of(text)
        leaf = next(cert for cert in chain if is_pck_leaf(cert))
        key = leaf.public_key()
    except (VerificationError, ValueError):
        return None, None
    return extension, key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _signed_qe_report(key: EllipticCurvePublicKey | None, quote: Quote) -> bool:
    """Whether ``key`` signed the quote's QE report: the PCK certificate is this platform's.

    Platforms of one model at one TCB share PCE-ID, CPUSVN and PCESVN, and an
    encrypted PPID cannot be compared with a certificate's PPID.
    """
    if key is None:
        return False
    return verify_raw_signature(key, quote.qe_report_signature, quote.qe_report_bytes)


def _identifies(identifier: PckIdentifier, extension: PckExtension) -> bool:
    return quote_identifier_mismatch(extension, identifier) is None
