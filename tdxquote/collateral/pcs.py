"""Fetching collateral from Intel's PCS (API v4) or a PCCS, over httpx, sync and async.

The clients only transport: they build the URLs, send the requests, retry
what is worth retrying and return each successful response exactly as
received (:class:`PcsResponse`).  Parsing, signature checks, expiry and
caching are the job of :mod:`tdxquote.collateral._source` and
:mod:`tdxquote.collateral.cache`.  Every failure is a
:class:`~tdxquote.errors.CollateralFetchError` naming the URL, the HTTP status
and Intel's ``Request-ID`` / ``Error-Code`` when the server sent them; it is
never a :class:`~tdxquote.errors.VerificationError`, because it says nothing
about the quote.

::

    with PcsClient.pccs("https://pccs.example:8081") as client:
        responses = client.fetch(CollateralParameters.from_quote(quote))
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode, urlsplit

import httpx

from tdxquote.errors import CollateralFetchError

if TYPE_CHECKING:
    from tdxquote._quote import Quote

__all__ = [
    "ARTIFACTS",
    "INTEL_PCS_URL",
    "INTEL_ROOT_CA_CRL_URL",
    "Artifact",
    "AsyncPcsClient",
    "CaType",
    "CollateralParameters",
    "PcsClient",
    "PcsResponse",
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
Artifact = Literal["tcb_info", "qe_identity", "pck_crl", "root_ca_crl"]

ARTIFACTS: tuple[Artifact, ...] = ("tcb_info", "qe_identity", "pck_crl", "root_ca_crl")
"""The four fetched artifacts of a quote's collateral, in fetch order."""

#: Issuer-chain response headers, by artifact, in order of preference.
ISSUER_CHAIN_HEADERS: Mapping[Artifact, tuple[str, ...]] = {
    "tcb_info": ("TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
    "qe_identity": ("SGX-Enclave-Identity-Issuer-Chain", "Enclave-Identity-Issuer-Chain"),
    "pck_crl": ("SGX-PCK-CRL-Issuer-Chain",),
    "root_ca_crl": (),
}

_FMSPC = re.compile(r"[0-9A-Fa-f]{12}")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_API_KEY_HEADER = "Ocp-Apim-Subscription-Key"
_DEFAULT_MAX_RESPONSE = 4 << 20


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
    def from_quote(cls, quote: Quote) -> CollateralParameters:
        """TEE from the quote header; FMSPC and CA type from its PCK leaf certificate.

        A quote whose PCK chain cannot be read raises the
        :class:`~tdxquote.VerificationError` that verifying it offline would
        (``quote_format``, ``pck_chain_invalid`` or ``pck_cert_format``): that
        is a verdict on the quote, not a fetch failure.
        """
        from cryptography import x509

        from tdxquote._x509_read import names, quiet_name_warnings
        from tdxquote.errors import CertificateChainError, QuoteFormatError, QuoteParseError

        if quote.pck_chain_pem is None:
            raise QuoteFormatError(
                f"certification data type {quote.certification_data.type} carries no PCK "
                "chain, so the collateral it needs (FMSPC, CA) is unknown"
            )
        try:
            chain = quote.pck_chain
            extension = quote.pck_extension
        except QuoteParseError as exc:
            code = "pck_cert_format" if exc.field != "pck_chain" else "pck_chain_invalid"
            raise CertificateChainError(f"the quote's PCK chain: {exc.reason}", code=code) from None
        except x509.InvalidVersion as exc:
            raise CertificateChainError(f"the quote's PCK chain: {exc}") from None

        def fail(reason: str) -> CertificateChainError:
            return CertificateChainError(f"the quote's PCK chain: {reason}")

        with quiet_name_warnings():
            read = [names(c, fail) for c in chain]
        leaf = next((n for n in read if "SGX PCK Certificate" in n.subject_cn), read[0])
        ca: CaType = "processor" if "Processor" in leaf.issuer_cn else "platform"
        return cls(tee="tdx" if quote.is_tdx else "sgx", fmspc=extension.fmspc_hex, ca=ca)


@dataclass(frozen=True)
class PcsResponse:
    """One successful response, exactly as received.

    ``issuer_chain`` is the issuer-chain header value as sent (URL-encoded
    PEM), ``None`` for the Root CA CRL, which has none.  ``request_id`` is
    Intel's ``Request-ID`` header when present.
    """

    artifact: Artifact
    url: str
    body: bytes
    issuer_chain: str | None
    request_id: str | None = None


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


# --- one exchange, shared by both clients ---------------------------------------------


def _header(headers: httpx.Headers, name: str) -> str | None:
    value = headers.get(name)
    return value if value else None


def _error(message: str, url: str, response: httpx.Response | None = None) -> CollateralFetchError:
    if response is None:
        return CollateralFetchError(message, url=url)
    headers = response.headers
    intel_message = _header(headers, "Error-Message")
    if intel_message:
        message = f"{message}: {intel_message}"
    return CollateralFetchError(
        message,
        url=url,
        status=response.status_code,
        request_id=_header(headers, "Request-ID"),
        error_code=_header(headers, "Error-Code"),
    )


def _status_message(artifact: Artifact, response: httpx.Response) -> str:
    status = response.status_code
    reason = response.reason_phrase or "error"
    what = {
        "tcb_info": "TCB Info",
        "qe_identity": "QE identity",
        "pck_crl": "PCK CRL",
        "root_ca_crl": "Root CA CRL",
    }[artifact]
    if status == 404 and artifact == "tcb_info":
        return f"no TCB Info for this FMSPC (HTTP 404 {reason}: unknown FMSPC?)"
    if status == 410:
        return f"{what}: this TCB evaluation data number is no longer available (HTTP 410)"
    return f"{what}: HTTP {status} {reason}"


@dataclass(frozen=True)
class _Retry:
    """Retry schedule: exponential backoff, or the server's ``Retry-After``."""

    retries: int
    backoff: float
    max_backoff: float
    max_retry_after: float
    clock: Callable[[], float]

    def delay(self, attempt: int, response: httpx.Response | None, url: str) -> float:
        """Seconds to wait before attempt ``attempt + 1``; raises when the server asks too much."""
        if response is not None:
            asked = self._retry_after(response)
            if asked is not None:
                if asked > self.max_retry_after:
                    raise _error(
                        f"the server asks to retry after {asked:.0f} s, more than the "
                        f"{self.max_retry_after:.0f} s allowed",
                        url,
                        response,
                    )
                return asked
        return float(min(self.max_backoff, self.backoff * (2**attempt)))

    def _retry_after(self, response: httpx.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if value is None:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - self.clock())


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
        timeout: float,
        retries: int,
        backoff: float,
        max_backoff: float,
        max_retry_after: float,
        max_response_size: int,
        clock: Callable[[], float],
    ) -> None:
        if retries < 0:
            raise ValueError("retries must not be negative")
        self.endpoints = _Endpoints(
            INTEL_PCS_URL if base_url is None else base_url,
            root_ca_crl_url,
            update,
            tcb_evaluation_data_number,
        )
        self.timeout = timeout
        self.max_response_size = max_response_size
        self.retry = _Retry(retries, backoff, max_backoff, max_retry_after, clock)
        self.headers = {"Accept": "*/*", "User-Agent": "tdxquote"}
        if api_key:
            self.headers[_API_KEY_HEADER] = api_key
        #: How many HTTP requests this client sent (retries included).
        self.requests_sent = 0

    @property
    def base_url(self) -> str:
        """The server's base URL (without ``/sgx|tdx/certification/v4``)."""
        return self.endpoints.base

    @property
    def root_ca_crl_url(self) -> str:
        """Where the Root CA CRL is fetched from."""
        return self.endpoints.root_ca_crl_url

    def url(self, artifact: Artifact, params: CollateralParameters) -> str:
        """The URL of ``artifact`` for ``params``."""
        return self.endpoints.url(artifact, params)

    def _success(
        self, artifact: Artifact, url: str, response: httpx.Response, body: bytes
    ) -> PcsResponse:
        chain = None
        names = ISSUER_CHAIN_HEADERS[artifact]
        if names:
            chain = next((v for v in (_header(response.headers, n) for n in names) if v), None)
            if chain is None:
                raise _error(f"the response has no {names[0]} header", url, response)
        return PcsResponse(
            artifact=artifact,
            url=url,
            body=body,
            issuer_chain=chain,
            request_id=_header(response.headers, "Request-ID"),
        )

    def _check_length(self, url: str, response: httpx.Response, size: int) -> None:
        if size > self.max_response_size:
            raise _error(f"response larger than {self.max_response_size} bytes", url, response)

    def _refusal(self, artifact: Artifact, url: str, response: httpx.Response) -> Exception | None:
        """What to raise, from the head alone, once the response is closed (None: read on).

        A declared ``Content-Length`` over the limit raises at once.
        """
        declared = response.headers.get("Content-Length")
        if declared is not None and declared.isdigit():
            self._check_length(url, response, int(declared))
        if response.status_code != 200:
            return _status_failure(artifact, url, response)
        return None

    def _retry_delay(self, attempt: int, retry: _Retryable, url: str) -> float:
        """Seconds to wait before retrying after ``retry``; raises its error when none is left."""
        if attempt >= self.retry.retries:
            raise retry.error from None
        return self.retry.delay(attempt, retry.response, url)


class _Body:
    """A 200 response's body gathered chunk by chunk (sans I/O), refused past the limit."""

    def __init__(
        self, client: _ClientBase, artifact: Artifact, url: str, response: httpx.Response
    ) -> None:
        self.client, self.artifact, self.url, self.http = client, artifact, url, response
        self.chunks: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.client._check_length(self.url, self.http, self.size)
        self.chunks.append(chunk)

    def response(self) -> PcsResponse:
        return self.client._success(self.artifact, self.url, self.http, b"".join(self.chunks))


_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _transport_message(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def _transport_failure(exc: httpx.HTTPError, url: str) -> Exception:
    """A transport error as raised: retryable (timeouts, dropped connections) or final."""
    error = _error(_transport_message(exc), url)
    return _Retryable(error) if isinstance(exc, _RETRYABLE_TRANSPORT) else error


class PcsClient(_ClientBase):
    """A synchronous client of Intel's PCS v4 or of a PCCS.

    ``base_url`` defaults to Intel's PCS.  The Root CA CRL comes from
    ``root_ca_crl_url``: by default Intel's distribution point for Intel's
    PCS, ``{base_url}/sgx/certification/v4/rootcacrl`` (hex) for any other
    server.  ``update`` (``"standard"``/``"early"``) or
    ``tcb_evaluation_data_number`` select the TCB Info and QE identity
    generation; ``api_key`` is sent as ``Ocp-Apim-Subscription-Key``.

    429 and 5xx responses, timeouts and dropped connections are retried up
    to ``retries`` times, waiting ``Retry-After`` when the server sends it
    (more than ``max_retry_after`` seconds: give up at once), else
    ``backoff * 2**attempt`` seconds capped at ``max_backoff``.  ``sleep``
    and ``clock`` are injectable for tests.  Responses over
    ``max_response_size`` bytes are refused.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        root_ca_crl_url: str | None = None,
        api_key: str | None = None,
        update: UpdateType | None = None,
        tcb_evaluation_data_number: int | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        max_response_size: int = _DEFAULT_MAX_RESPONSE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            root_ca_crl_url=root_ca_crl_url,
            api_key=api_key,
            update=update,
            tcb_evaluation_data_number=tcb_evaluation_data_number,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
            max_response_size=max_response_size,
            clock=clock,
        )
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=timeout, headers=self.headers, transport=transport, follow_redirects=True
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> PcsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, artifact: Artifact, params: CollateralParameters) -> PcsResponse:
        """Fetch one artifact; retries as the class describes."""
        url = self.url(artifact, params)
        attempt = 0
        while True:
            try:
                return self._exchange(artifact, url)
            except _Retryable as retry:
                self._sleep(self._retry_delay(attempt, retry, url))
                attempt += 1

    def _exchange(self, artifact: Artifact, url: str) -> PcsResponse:
        self.requests_sent += 1
        try:
            with self._http.stream("GET", url) as response:
                failure = self._refusal(artifact, url, response)
                if failure is not None:
                    response.close()
                    raise failure
                body = _Body(self, artifact, url, response)
                for chunk in response.iter_bytes():
                    body.add(chunk)
                return body.response()
        except httpx.HTTPError as exc:
            raise _transport_failure(exc, url) from None

    def fetch(self, params: CollateralParameters) -> dict[Artifact, PcsResponse]:
        """Fetch the four artifacts of ``params``, one after the other."""
        return {artifact: self.get(artifact, params) for artifact in ARTIFACTS}


class AsyncPcsClient(_ClientBase):
    """The asynchronous twin of :class:`PcsClient` (same options; ``sleep`` is awaited).

    :meth:`fetch` requests a quote's four artifacts concurrently.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        root_ca_crl_url: str | None = None,
        api_key: str | None = None,
        update: UpdateType | None = None,
        tcb_evaluation_data_number: int | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        max_retry_after: float = 120.0,
        max_response_size: int = _DEFAULT_MAX_RESPONSE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            root_ca_crl_url=root_ca_crl_url,
            api_key=api_key,
            update=update,
            tcb_evaluation_data_number=tcb_evaluation_data_number,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
            max_response_size=max_response_size,
            clock=clock,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            timeout=timeout, headers=self.headers, transport=transport, follow_redirects=True
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPcsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def get(self, artifact: Artifact, params: CollateralParameters) -> PcsResponse:
        """Fetch one artifact; retries as :class:`PcsClient` does."""
        url = self.url(artifact, params)
        attempt = 0
        while True:
            try:
                return await self._exchange(artifact, url)
            except _Retryable as retry:
                await self._sleep(self._retry_delay(attempt, retry, url))
                attempt += 1

    async def _exchange(self, artifact: Artifact, url: str) -> PcsResponse:
        self.requests_sent += 1
        try:
            async with self._http.stream("GET", url) as response:
                failure = self._refusal(artifact, url, response)
                if failure is not None:
                    await response.aclose()
                    raise failure
                body = _Body(self, artifact, url, response)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
                return body.response()
        except httpx.HTTPError as exc:
            raise _transport_failure(exc, url) from None

    async def fetch_many(
        self, wanted: list[tuple[Artifact, CollateralParameters]]
    ) -> list[PcsResponse]:
        """Fetch several artifacts concurrently; the first failure is raised."""
        tasks = [asyncio.ensure_future(self.get(a, p)) for a, p in wanted]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def fetch(self, params: CollateralParameters) -> dict[Artifact, PcsResponse]:
        """Fetch the four artifacts of ``params`` concurrently."""
        responses = await self.fetch_many([(artifact, params) for artifact in ARTIFACTS])
        return dict(zip(ARTIFACTS, responses, strict=True))


class _Retryable(Exception):
    """An exchange failed in a way worth retrying; ``error`` is what to raise at the end."""

    def __init__(self, error: CollateralFetchError, response: httpx.Response | None = None):
        super().__init__(str(error))
        self.error = error
        self.response = response


def _status_failure(artifact: Artifact, url: str, response: httpx.Response) -> Exception:
    error = _error(_status_message(artifact, response), url, response)
    if response.status_code in _RETRY_STATUSES:
        return _Retryable(error, response)
    return error
