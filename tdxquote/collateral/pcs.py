"""Fetching collateral from Intel's PCS (API v4) or a PCCS, over httpx, sync and async.

The clients only transport: they build the URLs, send the requests, retry
what is worth retrying and return each successful response exactly as
received (:class:`PcsResponse`).  Parsing, signature checks, expiry and
caching are the job of :mod:`tdxquote.collateral._source` and
:mod:`tdxquote.collateral.cache`.  Every failure is a
:class:`~tdxquote.errors.CollateralFetchError` naming the URL, the HTTP status
and Intel's ``Request-ID`` / ``Error-Code`` when the server sent them; it is
never a :class:`~tdxquote.errors.VerificationError`, because it says nothing
about the quote.  What to make of each response (retry, redirect, limits,
deadline) is decided without I/O in :mod:`tdxquote.collateral._exchange`,
shared by both clients.

::

    with PcsClient("https://pccs.example:8081") as client:
        responses = client.fetch(CollateralParameters.from_quote(quote))

A quote whose certification data carries an encrypted PPID (types 2 and 3)
instead of its PCK chain names its platform by a :class:`PckCertificateQuery`;
``client.get_pck_certificate(query)`` asks ``/sgx/certification/v4/pckcert``
for the certificate, which then names the FMSPC and CA of the rest.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode, urlsplit

import httpx

from ._exchange import (
    API_KEY_HEADER,
    ARTIFACTS,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_RESPONSE,
    DEFAULT_MAX_RETRY_AFTER,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    HINT_HEADER,
    ISSUER_CHAIN_HEADERS,
    MAX_REDIRECTS,
    READ_BODY,
    Artifact,
    Fetch,
    FetchOptions,
    PcsResponse,
    Redirect,
    Request,
    RetryNotice,
    Wait,
    origin_of,
)
from ._transport import deadline_client, deadline_scope

if TYPE_CHECKING:
    from cryptography import x509

    from tdxquote._quote import PckIdentifier, Quote
    from tdxquote.pck import PckExtension

__all__ = [
    "ARTIFACTS",
    "DEFAULT_DEADLINE",
    "INTEL_PCS_URL",
    "INTEL_ROOT_CA_CRL_URL",
    "ISSUER_CHAIN_HEADERS",
    "MAX_REDIRECTS",
    "PCK_CERTIFICATE",
    "Artifact",
    "AsyncPcsClient",
    "CaType",
    "CollateralParameters",
    "PckCertificateQuery",
    "PcsClient",
    "PcsResponse",
    "RetryNotice",
    "Tee",
    "UpdateType",
]

INTEL_PCS_URL = "https://api.trustedservices.intel.com"
"""Intel's Provisioning Certification Service."""
INTEL_ROOT_CA_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
"""The CRL distribution point of the Intel SGX Root CA (DER)."""

Tee = Literal["tdx", "sgx"]
CaType = Literal["platform", "processor"]
UpdateType = Literal["standard", "early"]

_FMSPC = re.compile(r"[0-9A-Fa-f]{12}")

PCK_CERTIFICATE: Artifact = "pck_certificate"
"""The artifact a quote without a PCK chain needs first: its PCK certificate (``/pckcert``)."""


@dataclass(frozen=True)
class CollateralParameters:
    """What a quote's collateral depends on: TEE, FMSPC and PCK CA type.

    ``fmspc`` is 12 upper-case hex digits, as Intel's PCS wants it.
    """

    tee: Tee
    fmspc: str
    ca: CaType

    def __post_init__(self) -> None:
        if self.tee not in ("tdx", "sgx"):
            raise ValueError(f"tee must be 'tdx' or 'sgx', not {self.tee!r}")
        if self.ca not in ("platform", "processor"):
            raise ValueError(f"ca must be 'platform' or 'processor', not {self.ca!r}")
        if not isinstance(self.fmspc, str) or not _FMSPC.fullmatch(self.fmspc):
            raise ValueError(f"fmspc must be 12 hex digits, not {self.fmspc!r}")
        object.__setattr__(self, "fmspc", self.fmspc.upper())

    @classmethod
    def from_quote(
        cls, quote: Quote, *, pck_certificate_chain: str | bytes | None = None
    ) -> CollateralParameters:
        """TEE from the quote header; FMSPC and CA type from its PCK leaf certificate.

        The leaf is the quote's own (certification data type 5) or, for a quote
        that carries none (types 1 to 4), the one of ``pck_certificate_chain``
        (PEM: the chain a PCS fetched for its :class:`PckCertificateQuery`, or
        a bundle's ``pck_certificate_chain``); a type-5 quote's own chain wins.

        A quote whose PCK chain cannot be read, or that carries none when no
        ``pck_certificate_chain`` is given, raises the
        :class:`~tdxquote.VerificationError` that verifying it offline would
        (``quote_format``, ``pck_chain_invalid`` or ``pck_cert_format``): that
        is a verdict on the quote, not a fetch failure.
        """
        from cryptography import x509

        from tdxquote.errors import CertificateChainError, QuoteFormatError, QuoteParseError

        tee: Tee = "tdx" if quote.is_tdx else "sgx"
        if quote.pck_chain_pem is not None:
            try:
                chain = quote.pck_chain
                extension = quote.pck_extension
            except QuoteParseError as exc:
                code = "pck_cert_format" if exc.field != "pck_chain" else "pck_chain_invalid"
                raise CertificateChainError(
                    f"the quote's PCK chain: {exc.reason}", code=code
                ) from None
            except x509.InvalidVersion as exc:
                raise CertificateChainError(f"the quote's PCK chain: {exc}") from None
            return cls(tee=tee, fmspc=extension.fmspc_hex, ca=ca_of(chain, "the quote's PCK chain"))
        if pck_certificate_chain is None:
            hint = (
                "; its PCK certificate can be fetched by its encrypted PPID (PcsClient."
                "get_pck_certificate, or a PcsSource)"
                if quote.certification_data.type in (2, 3)
                else ""
            )
            raise QuoteFormatError(
                f"certification data type {quote.certification_data.type} carries no PCK "
                f"chain, so the collateral it needs (FMSPC, CA) is unknown{hint}"
            )
        chain, extension = pck_chain_of(pck_certificate_chain)
        return cls(tee=tee, fmspc=extension.fmspc_hex, ca=ca_of(chain, "the PCK chain"))


def ca_of(chain: tuple[x509.Certificate, ...], what: str) -> CaType:
    """``platform`` or ``processor``: which PCK CA issued the chain's leaf (by its issuer CN)."""
    from tdxquote._x509_read import names, quiet_name_warnings
    from tdxquote.errors import CertificateChainError

    def fail(reason: str) -> CertificateChainError:
        return CertificateChainError(f"{what}: {reason}")

    with quiet_name_warnings():
        read = [names(c, fail) for c in chain]
    leaf = next((n for n in read if "SGX PCK Certificate" in n.subject_cn), read[0])
    return "processor" if "Processor" in leaf.issuer_cn else "platform"


def pck_chain_of(
    pem: str | bytes,
) -> tuple[tuple[x509.Certificate, ...], PckExtension]:
    """A PCK chain given as PEM (leaf, PCK CA, root in any order) and its leaf's SGX extension.

    Nothing is verified here.  Raises :class:`~tdxquote.errors.CertificateChainError`:
    ``pck_chain_invalid`` for text that is not a chain of certificates with
    one ``SGX PCK Certificate`` leaf, ``pck_cert_format`` for a leaf whose
    SGX extension is malformed.
    """
    from tdxquote.errors import CertificateChainError, CollateralFormatError, QuoteParseError
    from tdxquote.pck import pck_extension_from_certificate

    from ._chain import load_chain

    try:
        chain = load_chain(pem)
    except CollateralFormatError as exc:
        raise CertificateChainError(f"the PCK chain: {exc.message}") from None
    leaves = [cert for cert in chain if is_pck_leaf(cert)]
    if len(leaves) != 1:
        raise CertificateChainError(
            f"the PCK chain holds {len(leaves)} 'SGX PCK Certificate' leaves, not 1"
        )
    try:
        extension = pck_extension_from_certificate(leaves[0])
    except QuoteParseError as exc:
        raise CertificateChainError(
            f"the PCK leaf's SGX extension: {exc.reason}", code="pck_cert_format"
        ) from None
    return chain, extension


def is_pck_leaf(cert: x509.Certificate) -> bool:
    from tdxquote._x509_read import names, quiet_name_warnings
    from tdxquote.errors import CertificateChainError

    def fail(reason: str) -> CertificateChainError:
        return CertificateChainError(f"the PCK chain: {reason}")

    with quiet_name_warnings():
        return "SGX PCK Certificate" in names(cert, fail).subject_cn


_PPID_SIZES = (256, 384)


@dataclass(frozen=True)
class PckCertificateQuery:
    """What ``GET /sgx/certification/v4/pckcert`` asks for a platform's PCK certificate.

    ``encrypted_ppid`` is the PPID encrypted with RSA-OAEP to Intel's key (256
    or 384 bytes), ``cpu_svn`` (16 bytes) and ``pce_svn`` the TCB the PCK key
    was derived for, ``pce_id`` the 2 bytes the quote carries.  ``qe_id``
    (the quote header's first 16 user-data bytes) is sent to a PCCS, which
    indexes the platforms it knows by QE ID and PCE-ID; Intel's PCS takes no
    ``qeid``.  Build one with :meth:`from_quote`.
    """

    encrypted_ppid: bytes
    cpu_svn: bytes
    pce_svn: int
    pce_id: bytes
    qe_id: bytes | None = None

    def __post_init__(self) -> None:
        for name, sizes in (
            ("encrypted_ppid", _PPID_SIZES),
            ("cpu_svn", (16,)),
            ("pce_id", (2,)),
            ("qe_id", (16,)),
        ):
            value = getattr(self, name)
            if value is None and name == "qe_id":
                continue
            if not isinstance(value, bytes) or len(value) not in sizes:
                shown = " or ".join(str(size) for size in sizes)
                raise ValueError(f"{name} must be {shown} bytes")
        if isinstance(self.pce_svn, bool) or not isinstance(self.pce_svn, int):
            raise ValueError("pce_svn must be an integer")
        if not 0 <= self.pce_svn <= 0xFFFF:
            raise ValueError(f"pce_svn must be 0 to 65535, not {self.pce_svn}")

    @classmethod
    def from_quote(cls, quote: Quote) -> PckCertificateQuery:
        """The query of a quote with an encrypted PPID (certification data type 2 or 3).

        Any other quote raises :class:`~tdxquote.errors.QuoteFormatError`
        (``quote_format``): a type-5 quote carries its chain, no PCS route
        takes a clear PPID (type 1) or a leaf certificate (type 4), and none
        works without the PCE-ID (a type 2 written without it).
        """
        from tdxquote.errors import QuoteFormatError

        identifier = quote_pck_identifier(quote)
        if identifier is None or not identifier.encrypted:
            raise QuoteFormatError(
                f"certification data type {quote.certification_data.type} carries no "
                "encrypted PPID to ask a PCS for the PCK certificate with"
            )
        if identifier.pce_id is None:
            raise QuoteFormatError(
                "the certification data carries no PCE-ID (Intel's first reference layout), "
                "which a PCS needs to find the PCK certificate"
            )
        return cls(
            encrypted_ppid=identifier.ppid,
            cpu_svn=identifier.cpu_svn,
            pce_svn=identifier.pce_svn,
            pce_id=identifier.pce_id,
            qe_id=quote.user_data[:16],
        )

    def query(self, *, pccs: bool) -> dict[str, str]:
        """The query parameters, upper-case hex (PCESVN little-endian); ``qeid`` for a PCCS."""
        params: dict[str, str] = {}
        if pccs and self.qe_id is not None:
            params["qeid"] = self.qe_id.hex().upper()
        params["encrypted_ppid"] = self.encrypted_ppid.hex().upper()
        params["cpusvn"] = self.cpu_svn.hex().upper()
        params["pcesvn"] = self.pce_svn.to_bytes(2, "little").hex().upper()
        params["pceid"] = self.pce_id.hex().upper()
        return params

    @property
    def tcbm(self) -> str:
        """The ``SGX-TCBm`` a certificate for exactly this TCB is served with: CPUSVN ‖ PCESVN."""
        return (self.cpu_svn + self.pce_svn.to_bytes(2, "little")).hex().upper()


def quote_pck_identifier(quote: Quote) -> PckIdentifier | None:
    """``quote.pck_identifier``; malformed certification data is ``quote_format``."""
    from tdxquote.errors import QuoteFormatError, QuoteParseError

    try:
        return quote.pck_identifier
    except QuoteParseError as exc:
        raise QuoteFormatError(f"the quote's certification data: {exc.reason}") from None


# --- URLs ------------------------------------------------------------------------------


class _Endpoints:
    """The URL of each artifact for one server and one set of query options."""

    def __init__(
        self,
        base_url: str,
        root_ca_crl_url: str | None,
        update: UpdateType | None,
        tcb_evaluation_data_number: int | None,
    ) -> None:
        base = base_url.rstrip("/")
        for suffix in ("/sgx/certification/v4", "/tdx/certification/v4"):
            base = base.removesuffix(suffix)
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        if update is not None and update not in ("standard", "early"):
            raise ValueError(f"update must be 'standard' or 'early', not {update!r}")
        if update is not None and tcb_evaluation_data_number is not None:
            raise ValueError("update and tcb_evaluation_data_number cannot be combined (PCS: 400)")
        if tcb_evaluation_data_number is not None and tcb_evaluation_data_number < 0:
            raise ValueError("tcb_evaluation_data_number must not be negative")
        self.base = base
        self.is_intel = base == INTEL_PCS_URL
        if root_ca_crl_url is None:
            # Intel PCS has no Root CA CRL route: the CRL lives at the root's distribution
            # point.  A PCCS serves it (as hex) under its own base URL.
            root_ca_crl_url = (
                INTEL_ROOT_CA_CRL_URL if self.is_intel else f"{base}/sgx/certification/v4/rootcacrl"
            )
        self.root_ca_crl_url = root_ca_crl_url
        self.update = update
        self.tcb_evaluation_data_number = tcb_evaluation_data_number

    def _options(self) -> dict[str, str]:
        if self.tcb_evaluation_data_number is not None:
            return {"tcbEvaluationDataNumber": str(self.tcb_evaluation_data_number)}
        if self.update is not None:
            return {"update": self.update}
        return {}

    def url(self, artifact: Artifact, params: CollateralParameters) -> str:
        if artifact == "tcb_info":
            query = {"fmspc": params.fmspc, **self._options()}
            return f"{self.base}/{params.tee}/certification/v4/tcb?{urlencode(query)}"
        if artifact == "qe_identity":
            options = self._options()
            suffix = f"?{urlencode(options)}" if options else ""
            return f"{self.base}/{params.tee}/certification/v4/qe/identity{suffix}"
        if artifact == "pck_crl":
            query = {"ca": params.ca, "encoding": "der"}
            return f"{self.base}/sgx/certification/v4/pckcrl?{urlencode(query)}"
        if artifact == "root_ca_crl":
            return self.root_ca_crl_url
        raise ValueError(f"unknown artifact {artifact!r}")

    def pck_certificate_url(self, query: PckCertificateQuery) -> str:
        params = urlencode(query.query(pccs=not self.is_intel))
        return f"{self.base}/sgx/certification/v4/pckcert?{params}"


# --- configuration shared by both clients ---------------------------------------------


class _ClientBase:
    """Configuration shared by :class:`PcsClient` and :class:`AsyncPcsClient`."""

    def __init__(
        self,
        base_url: str | None,
        *,
        root_ca_crl_url: str | None,
        api_key: str | None,
        update: UpdateType | None,
        tcb_evaluation_data_number: int | None,
        options: FetchOptions,
        on_retry: Callable[[RetryNotice], None] | None,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
    ) -> None:
        self.endpoints = _Endpoints(
            INTEL_PCS_URL if base_url is None else base_url,
            root_ca_crl_url,
            update,
            tcb_evaluation_data_number,
        )
        self.options = options
        self.on_retry = on_retry
        self._clock = clock
        self._monotonic = monotonic
        self._origin = origin_of(self.endpoints.base)
        self._api_key = api_key or None
        #: Headers every request carries, whatever its origin.
        self.headers = {"Accept": "*/*", "Accept-Encoding": "identity", "User-Agent": "tdxquote"}
        #: How many HTTP requests this client sent (retries and redirect hops included).
        self.requests_sent = 0

    @property
    def base_url(self) -> str:
        """The server's base URL (without ``/sgx|tdx/certification/v4``)."""
        return self.endpoints.base

    @property
    def root_ca_crl_url(self) -> str:
        """Where the Root CA CRL is fetched from."""
        return self.endpoints.root_ca_crl_url

    @property
    def timeout(self) -> float:
        """Seconds allowed for each connect, read and write."""
        return self.options.timeout

    @property
    def deadline(self) -> float:
        """Seconds allowed for each artifact's whole fetch (attempts, waits, body)."""
        return self.options.deadline

    @property
    def max_response_size(self) -> int:
        """Largest body accepted, in bytes."""
        return self.options.max_response_size

    def url(self, artifact: Artifact, params: CollateralParameters) -> str:
        """The URL of ``artifact`` for ``params``."""
        return self.endpoints.url(artifact, params)

    def pck_certificate_url(self, query: PckCertificateQuery) -> str:
        """The ``/pckcert`` URL of ``query`` (with ``qeid`` for a server other than Intel's PCS)."""
        return self.endpoints.pck_certificate_url(query)

    def _start(
        self, artifact: Artifact, params: CollateralParameters, at: datetime | None
    ) -> Fetch:
        """A new fetch of ``artifact``; headers for the configured origin only."""
        hint = None if self.endpoints.is_intel else _hint(params, at)
        return self._fetch_of(artifact, self.url(artifact, params), hint)

    def _start_pck_certificate(self, query: PckCertificateQuery) -> Fetch:
        """A new fetch of the PCK certificate of ``query`` (Intel's PCS wants an API key)."""
        url = self.pck_certificate_url(query)
        if self.endpoints.is_intel and self._api_key is None:
            from tdxquote.errors import CollateralFetchError

            raise CollateralFetchError(
                "Intel's PCS requires an API key for PCK certificates (/pckcert): pass "
                "api_key= (CLI: --api-key or TDXQUOTE_PCS_API_KEY); a subscription key comes "
                "from https://api.portal.trustedservices.intel.com",
                url=url,
            )
        return self._fetch_of(PCK_CERTIFICATE, url, None)

    def _fetch_of(self, artifact: Artifact, url: str, hint: str | None) -> Fetch:
        origin_headers: dict[str, str] = {}
        if self._api_key is not None:
            origin_headers[API_KEY_HEADER] = self._api_key
        if hint is not None:
            origin_headers[HINT_HEADER] = hint
        return Fetch(
            self.options,
            artifact,
            url,
            origin=self._origin,
            origin_headers=origin_headers,
            server="PCS" if self.endpoints.is_intel else "PCCS",
            clock=self._clock,
            monotonic=self._monotonic,
        )

    def _waiting(self, wait: Wait) -> float:
        if self.on_retry is not None:
            self.on_retry(wait.notice)
        return wait.seconds


def _hint(params: CollateralParameters, at: datetime | None) -> str:
    """The :data:`HINT_HEADER` value: what the request is for, and when."""
    value = f"tee={params.tee}; fmspc={params.fmspc}; ca={params.ca}"
    if at is not None:
        value += f"; at={at.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    return value


_CLIENT_DOC_OPTIONS = """
    ``timeout`` bounds each connect, read and write; ``deadline`` (default
    60 s) bounds each artifact's whole fetch: attempts, redirects, the body
    and the waits between attempts.  429 and 5xx responses, timeouts and
    dropped connections are retried up to ``retries`` times, waiting
    ``Retry-After`` when the server sends it (more than ``max_retry_after``
    seconds, or past the deadline: give up at once; a malformed one is a
    failure), else ``backoff * 2**attempt`` seconds capped at
    ``max_backoff``.  A connection that cannot be made (refused, unknown
    host, TLS failure) is not retried.  ``on_retry`` is called with a
    :class:`RetryNotice` before each wait.  ``sleep``, ``clock`` (wall
    clock, for ``Retry-After`` dates) and ``monotonic`` (for the deadline)
    are injectable for tests.  Responses over ``max_response_size`` bytes
    and compressed responses are refused.  Redirects are followed (at most
    :data:`MAX_REDIRECTS` hops); the API key (and the PCCS hint header) go
    only to the configured server's origin (scheme, host, port), never to
    another host a redirect or ``root_ca_crl_url`` points at.
"""


class PcsClient(_ClientBase):
    """A synchronous client of Intel's PCS v4 or of a PCCS.

    ``base_url`` defaults to Intel's PCS.  The Root CA CRL comes from
    ``root_ca_crl_url``: by default Intel's distribution point for Intel's
    PCS, ``{base_url}/sgx/certification/v4/rootcacrl`` (hex) for any other
    server.  ``update`` (``"standard"``/``"early"``) or
    ``tcb_evaluation_data_number`` select the TCB Info and QE identity
    generation; ``api_key`` is sent as ``Ocp-Apim-Subscription-Key``.
    """

    __doc__ = (__doc__ or "") + _CLIENT_DOC_OPTIONS

    def __init__(
        self,
        base_url: str | None = None,
        *,
        root_ca_crl_url: str | None = None,
        api_key: str | None = None,
        update: UpdateType | None = None,
        tcb_evaluation_data_number: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retries: int = DEFAULT_RETRIES,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        max_response_size: int = DEFAULT_MAX_RESPONSE,
        on_retry: Callable[[RetryNotice], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = FetchOptions(
            timeout, deadline, retries, backoff, max_backoff, max_retry_after, max_response_size
        )
        super().__init__(
            base_url,
            root_ca_crl_url=root_ca_crl_url,
            api_key=api_key,
            update=update,
            tcb_evaluation_data_number=tcb_evaluation_data_number,
            options=options,
            on_retry=on_retry,
            clock=clock,
            monotonic=monotonic,
        )
        self._sleep = sleep
        self._http = deadline_client(
            transport, timeout=options.timeout, headers=self.headers, follow_redirects=False
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> PcsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(
        self, artifact: Artifact, params: CollateralParameters, *, at: datetime | None = None
    ) -> PcsResponse:
        """Fetch one artifact; retries and redirects as the class describes.

        ``at`` (the verification time) is told to a PCCS with the request
        (header ``TDXQuote-Collateral-For``, with TEE, FMSPC and CA), so that a
        mirror of bundles from several dates answers with the one valid then.
        """
        return self._run(self._start(artifact, params, at))

    def get_pck_certificate(self, query: PckCertificateQuery) -> PcsResponse:
        """Fetch the PCK certificate of ``query`` (``/sgx/certification/v4/pckcert``).

        The body is the PEM leaf, the ``SGX-PCK-Certificate-Issuer-Chain``
        header its PCK CA and root; retries, redirects, deadline and API key
        as for :meth:`get`.  Intel's PCS requires an API key for this route:
        without one a :class:`~tdxquote.errors.CollateralFetchError` is raised
        before any request.
        """
        return self._run(self._start_pck_certificate(query))

    def _run(self, fetch: Fetch) -> PcsResponse:
        while True:
            request = fetch.request()
            self.requests_sent += 1
            try:
                action = self._attempt(fetch, request)
            except httpx.HTTPError as exc:
                action = fetch.transport_error(exc)
            if isinstance(action, PcsResponse):
                return action
            if isinstance(action, Wait):
                self._sleep(self._waiting(action))

    def _attempt(self, fetch: Fetch, request: Request) -> PcsResponse | Wait | Redirect:
        with (
            deadline_scope(fetch.remaining),
            self._http.stream(
                "GET", request.url, headers=request.headers, timeout=request.timeout
            ) as response,
        ):
            action = fetch.head(response)
            if action != READ_BODY:
                assert not isinstance(action, str)
                return action
            for chunk in response.iter_raw():
                fetch.chunk(chunk)
            return fetch.done()

    def fetch(
        self, params: CollateralParameters, *, at: datetime | None = None
    ) -> dict[Artifact, PcsResponse]:
        """Fetch the four artifacts of ``params``, one after the other."""
        return {artifact: self.get(artifact, params, at=at) for artifact in ARTIFACTS}


class AsyncPcsClient(_ClientBase):
    """The asynchronous twin of :class:`PcsClient` (same options; ``sleep`` is awaited).

    :meth:`fetch` requests a quote's four artifacts concurrently.  The
    deadline bounds each attempt with :func:`asyncio.wait_for`, whatever the
    transport.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        root_ca_crl_url: str | None = None,
        api_key: str | None = None,
        update: UpdateType | None = None,
        tcb_evaluation_data_number: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        retries: int = DEFAULT_RETRIES,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        max_response_size: int = DEFAULT_MAX_RESPONSE,
        on_retry: Callable[[RetryNotice], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        options = FetchOptions(
            timeout, deadline, retries, backoff, max_backoff, max_retry_after, max_response_size
        )
        super().__init__(
            base_url,
            root_ca_crl_url=root_ca_crl_url,
            api_key=api_key,
            update=update,
            tcb_evaluation_data_number=tcb_evaluation_data_number,
            options=options,
            on_retry=on_retry,
            clock=clock,
            monotonic=monotonic,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            timeout=options.timeout,
            headers=self.headers,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPcsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def get(
        self, artifact: Artifact, params: CollateralParameters, *, at: datetime | None = None
    ) -> PcsResponse:
        """Fetch one artifact; retries and redirects as :class:`PcsClient` does."""
        return await self._run(self._start(artifact, params, at))

    async def get_pck_certificate(self, query: PckCertificateQuery) -> PcsResponse:
        """Fetch the PCK certificate of ``query``, as :meth:`PcsClient.get_pck_certificate`."""
        return await self._run(self._start_pck_certificate(query))

    async def _run(self, fetch: Fetch) -> PcsResponse:
        while True:
            request = fetch.request()
            self.requests_sent += 1
            try:
                action = await asyncio.wait_for(
                    self._attempt(fetch, request), timeout=max(fetch.remaining(), 0.0)
                )
            except asyncio.TimeoutError:
                raise fetch.deadline_error() from None
            except httpx.HTTPError as exc:
                action = fetch.transport_error(exc)
            if isinstance(action, PcsResponse):
                return action
            if isinstance(action, Wait):
                await self._sleep(self._waiting(action))

    async def _attempt(self, fetch: Fetch, request: Request) -> PcsResponse | Wait | Redirect:
        async with self._http.stream(
            "GET", request.url, headers=request.headers, timeout=request.timeout
        ) as response:
            action = fetch.head(response)
            if action != READ_BODY:
                assert not isinstance(action, str)
                return action
            async for chunk in response.aiter_raw():
                fetch.chunk(chunk)
            return fetch.done()

    async def fetch_many(
        self,
        wanted: list[tuple[Artifact, CollateralParameters]],
        *,
        at: datetime | None = None,
    ) -> list[PcsResponse]:
        """Fetch several artifacts concurrently; the first failure is raised."""
        tasks = [asyncio.ensure_future(self.get(a, p, at=at)) for a, p in wanted]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def fetch(
        self, params: CollateralParameters, *, at: datetime | None = None
    ) -> dict[Artifact, PcsResponse]:
        """Fetch the four artifacts of ``params`` concurrently."""
        responses = await self.fetch_many([(artifact, params) for artifact in ARTIFACTS], at=at)
        return dict(zip(ARTIFACTS, responses, strict=True))
