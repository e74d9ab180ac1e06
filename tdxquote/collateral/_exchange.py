"""One artifact's fetch over HTTP, sans I/O: every decision the sync and async clients share.

The clients only move bytes.  They ask a :class:`Fetch` for the next
:class:`Request`, hand it the response head (:meth:`Fetch.head`), each body
chunk (:meth:`Fetch.chunk`) or the transport error (:meth:`Fetch.transport_error`),
and do what it answers: read the body, follow a redirect, or wait and retry.
Every byte from the server is hostile input here: statuses, ``Retry-After``,
``Location``, ``Content-Length``, ``Content-Encoding``, issuer-chain headers
and bodies either lead to a :class:`PcsResponse` or to a
:class:`~tdxquote.errors.CollateralFetchError`, never to another exception,
a wait past the deadline, or more than ``max_response_size`` bytes held.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import httpx

from tdxquote._http import (
    REDIRECT_STATUSES,
    RETRY_STATUSES,
    Deadline,
    HttpRefusal,
    Origin,
    RetrySchedule,
    check_count,
    check_retry_options,
    clean,
    declared_length,
    headers_for,
    origin_of,
    redirect_target,
    retry_after_seconds,
    retry_delay,
    status_line,
    transport_failure,
)
from tdxquote._http import header_text as _header
from tdxquote.errors import CollateralFetchError

__all__ = [
    "API_KEY_HEADER",
    "ARTIFACTS",
    "DEFAULT_DEADLINE",
    "HINT_HEADER",
    "ISSUER_CHAIN_HEADERS",
    "MAX_REDIRECTS",
    "PCK_CERTIFICATE_HEADERS",
    "PCK_CERTIFICATE_TYPES",
    "READ_BODY",
    "Artifact",
    "Fetch",
    "FetchOptions",
    "PcsResponse",
    "Redirect",
    "Request",
    "RetryNotice",
    "Wait",
    "clean",
    "origin_of",
    "retry_after_seconds",
]

Artifact = Literal["tcb_info", "qe_identity", "pck_crl", "root_ca_crl", "pck_certificate"]

ARTIFACTS: tuple[Artifact, ...] = ("tcb_info", "qe_identity", "pck_crl", "root_ca_crl")
"""The four fetched artifacts of a quote's collateral, in fetch order."""

#: Issuer-chain response headers, by artifact, in order of preference.
ISSUER_CHAIN_HEADERS: Mapping[Artifact, tuple[str, ...]] = {
    "tcb_info": ("TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"),
    "qe_identity": ("SGX-Enclave-Identity-Issuer-Chain", "Enclave-Identity-Issuer-Chain"),
    "pck_crl": ("SGX-PCK-CRL-Issuer-Chain",),
    "root_ca_crl": (),
    "pck_certificate": ("SGX-PCK-Certificate-Issuer-Chain",),
}

#: What a PCK certificate response says of the certificate besides it (unsigned hints,
#: checked against the certificate by the source): kept in :attr:`PcsResponse.headers`.
PCK_CERTIFICATE_HEADERS = ("SGX-TCBm", "SGX-FMSPC", "SGX-PCK-Certificate-CA-Type")
#: The media types a PCK certificate response may declare (Intel's PCS and PCCS send the first).
PCK_CERTIFICATE_TYPES = frozenset({"application/x-pem-file", "application/pem-certificate-chain"})

API_KEY_HEADER = "Ocp-Apim-Subscription-Key"
HINT_HEADER = "TDXQuote-Collateral-For"
"""Tells a PCCS what the request is for (``tee=..; fmspc=..; ca=..; at=..``), see
:class:`tdxquote.testing.pccs.PccsServer`; sent to the configured origin only."""

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 60.0
DEFAULT_RETRIES = 3
DEFAULT_MAX_RETRY_AFTER = 120.0
DEFAULT_MAX_RESPONSE = 4 << 20
MAX_REDIRECTS = 5
"""Redirect hops followed per request (each hop checked for origin, see :meth:`Fetch.request`)."""

_WHAT: Mapping[Artifact, str] = {
    "tcb_info": "TCB Info",
    "qe_identity": "QE identity",
    "pck_crl": "PCK CRL",
    "root_ca_crl": "Root CA CRL",
    "pck_certificate": "PCK certificate",
}


@dataclass(frozen=True)
class PcsResponse:
    """One successful response, exactly as received.

    ``issuer_chain`` is the issuer-chain header value as sent (URL-encoded
    PEM), ``None`` for the Root CA CRL, which has none.  ``request_id`` is
    Intel's ``Request-ID`` header when present.  ``url`` is the URL asked
    for (before any redirect).  ``headers`` holds a PCK certificate
    response's :data:`PCK_CERTIFICATE_HEADERS` as received (empty otherwise,
    and for a response read from a cache).
    """

    artifact: Artifact
    url: str
    body: bytes
    issuer_chain: str | None
    request_id: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RetryNotice:
    """What a client tells its ``on_retry`` hook before waiting to retry.

    ``attempt`` is the number of the attempt about to be made (2 for the
    first retry), ``attempts`` the most there will be; ``str(notice)`` reads
    ``PCS answered 503, retrying in 2 s (attempt 2 of 4)``.
    """

    artifact: Artifact
    url: str
    reason: str
    delay: float
    attempt: int
    attempts: int

    def __str__(self) -> str:
        return (
            f"{self.reason}, retrying in {self.delay:g} s "
            f"(attempt {self.attempt} of {self.attempts})"
        )


@dataclass(frozen=True)
class FetchOptions:
    """The limits of one artifact's fetch (validated: finite, non-negative numbers).

    ``timeout`` bounds each connect, read and write; ``deadline`` bounds the
    whole fetch of one artifact: every attempt, redirect, body byte and wait
    between attempts.  ``retries`` more attempts are made after a 429, a 5xx,
    a timeout or a dropped connection, waiting ``Retry-After`` (at most
    ``max_retry_after`` seconds) or ``backoff * 2**n`` (at most
    ``max_backoff``).  Bodies over ``max_response_size`` bytes are refused.
    """

    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE
    retries: int = DEFAULT_RETRIES
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER
    max_response_size: int = DEFAULT_MAX_RESPONSE

    def __post_init__(self) -> None:
        check_retry_options(self)
        check_count("max_response_size", self.max_response_size, minimum=1)

    @property
    def schedule(self) -> RetrySchedule:
        """The retry rules (a malformed ``Retry-After`` is a failure)."""
        return RetrySchedule(self.retries, self.backoff, self.max_backoff, self.max_retry_after)


# --- one fetch --------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """The next request to send: ``url``, extra ``headers``, and ``timeout`` for each step."""

    url: str
    headers: Mapping[str, str]
    timeout: float


@dataclass(frozen=True)
class Wait:
    """Wait ``seconds`` (never past the deadline), then ask for the next request."""

    seconds: float
    notice: RetryNotice


@dataclass(frozen=True)
class Redirect:
    """Ask for the next request: it goes to ``url``."""

    url: str


READ_BODY: Literal["read_body"] = "read_body"

Action = Literal["read_body"] | Redirect | Wait


class Fetch:
    """The state of one artifact's fetch: attempts, redirect hops, deadline, body so far.

    ``origin`` is the configured server's origin: ``origin_headers`` (the API
    key, the PCCS hint) go with a request only when its URL has exactly that
    scheme, host and port, on every attempt and every redirect hop.
    ``server`` names the server in retry notices (``PCS``, ``PCCS``).
    """

    def __init__(
        self,
        options: FetchOptions,
        artifact: Artifact,
        url: str,
        *,
        origin: Origin | None,
        origin_headers: Mapping[str, str],
        server: str = "PCS",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self.artifact = artifact
        self.url = url
        self.current = url
        self.origin = origin
        self.origin_headers = dict(origin_headers)
        self.server = server
        self._clock = clock
        self._monotonic = monotonic
        self._deadline = Deadline(options.deadline, monotonic)
        self.retries_used = 0
        self.hops = 0
        self.requests = 0
        self._head: httpx.Response | None = None
        self._chunks: list[bytes] = []
        self._size = 0
        self._last_failure: str | None = None

    # --- time -----------------------------------------------------------------------

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once passed)."""
        return self._deadline.remaining()

    def deadline_error(self) -> CollateralFetchError:
        """The error a fetch that ran out of time raises (naming the last failure seen)."""
        last = self._last_failure
        detail = f" (last failure: {last})" if last is not None else ""
        return self._error(
            f"{_WHAT[self.artifact]}: no complete response within the "
            f"{self.options.deadline:g} s deadline{detail}"
        )

    # --- the steps ------------------------------------------------------------------

    def request(self) -> Request:
        """The next request; raises the deadline error once the deadline has passed."""
        timeout = self._deadline.timeout(self.options.timeout)
        if timeout is None:
            raise self.deadline_error()
        self._head, self._chunks, self._size = None, [], 0
        self.requests += 1
        headers = headers_for(self.current, self.origin, self.origin_headers)
        return Request(self.current, headers, timeout)

    def head(self, response: httpx.Response) -> Action:
        """What to do with a response head: read the body, follow a redirect, or wait."""
        self._head = response
        status = response.status_code
        if status in REDIRECT_STATUSES:
            return self._redirect(response)
        if status != 200:
            message = self._status_message(response)
            if status in RETRY_STATUSES:
                return self._retry(message, response)
            raise self._error(message, response)
        encodings = [e.strip().lower() for e in response.headers.get_list("Content-Encoding")]
        if any(e not in ("", "identity") for e in encodings):
            raise self._error(
                f"{_WHAT[self.artifact]}: compressed response (Content-Encoding "
                f"{clean(', '.join(encodings), 40)!r}) that was not asked for",
                response,
            )
        declared = declared_length(response.headers)
        if declared is not None:
            self._check_size(declared)
        return READ_BODY

    def chunk(self, data: bytes) -> None:
        """One more body chunk; raises past the size limit or the deadline."""
        self._check_size(self._size + len(data))
        if self.remaining() <= 0:
            raise self.deadline_error()
        self._size += len(data)
        self._chunks.append(data)

    def done(self) -> PcsResponse:
        """The response, once the whole body is in; checks the issuer-chain header."""
        response = self._head
        if response is None:
            raise RuntimeError("done() before head()")
        chain = None
        names = ISSUER_CHAIN_HEADERS[self.artifact]
        if names:
            for name in names:
                values = [v for v in response.headers.get_list(name) if v.strip()]
                if len(values) > 1:
                    raise self._error(f"the response has {len(values)} {name} headers", response)
                if values:
                    chain = values[0]
                    break
            if chain is None:
                raise self._error(f"the response has no {names[0]} header", response)
        hints: list[tuple[str, str]] = []
        if self.artifact == "pck_certificate":
            self._check_pem_type(response)
            for name in PCK_CERTIFICATE_HEADERS:
                values = response.headers.get_list(name)
                if len(values) > 1:
                    raise self._error(f"the response has {len(values)} {name} headers", response)
                hints.extend((name, value) for value in values)
        return PcsResponse(
            artifact=self.artifact,
            url=self.url,
            body=b"".join(self._chunks),
            issuer_chain=chain,
            request_id=_header(response.headers, "Request-ID"),
            headers=tuple(hints),
        )

    def _check_pem_type(self, response: httpx.Response) -> None:
        """A PCK certificate comes as PEM: a declared media type must say so."""
        declared = response.headers.get_list("Content-Type")
        kinds = {value.split(";")[0].strip().lower() for value in declared}
        if declared and (len(declared) > 1 or not kinds <= PCK_CERTIFICATE_TYPES):
            raise self._error(
                f"PCK certificate: Content-Type {clean(', '.join(declared), 60)!r} is not "
                "application/x-pem-file",
                response,
            )

    def transport_error(self, exc: httpx.HTTPError) -> Wait:
        """A transport failure: wait and retry (timeouts, dropped connections) or raise.

        A connection that cannot be made (refused, unreachable, unknown
        host, TLS handshake refused) is not retried (:func:`tdxquote._http.transport_failure`).
        """
        failure = transport_failure(exc)
        if self.remaining() <= 0:
            self._last_failure = failure.message
            raise self.deadline_error() from None
        if not failure.retryable:
            raise self._error(failure.message) from None
        return self._retry(failure.message, None)

    # --- helpers --------------------------------------------------------------------

    def _retry(self, message: str, response: httpx.Response | None) -> Wait:
        self._last_failure = message
        try:
            delay = retry_delay(
                self.options.schedule,
                retries_used=self.retries_used,
                retry_after=None if response is None else response.headers.get_list("Retry-After"),
                now=self._clock(),
                deadline=self._deadline,
                last_failure=message,
            )
        except HttpRefusal as refusal:
            raise self._error(refusal.message, response) from None
        self.retries_used += 1
        if response is not None:
            reason = f"{self.server} answered {response.status_code}"
        elif message.startswith("timed out"):
            reason = f"{self.server} {message}"
        else:
            reason = f"{self.server} connection failed ({message})"
        notice = RetryNotice(
            self.artifact,
            self.current,
            reason,
            delay,
            self.retries_used + 1,
            self.options.retries + 1,
        )
        return Wait(delay, notice)

    def _redirect(self, response: httpx.Response) -> Redirect:
        try:
            # GET only, and everything fetched is signed: an https -> http hop is allowed.
            target = redirect_target(
                self.current, response, hops=self.hops, max_redirects=MAX_REDIRECTS
            )
        except HttpRefusal as refusal:
            raise self._error(refusal.message, response) from None
        self.hops += 1
        self.current = str(target)
        return Redirect(self.current)

    def _check_size(self, size: float) -> None:
        if size > self.options.max_response_size:
            raise self._error(
                f"response larger than {self.options.max_response_size} bytes", self._head
            )

    def _status_message(self, response: httpx.Response) -> str:
        status = response.status_code
        reason = clean(response.reason_phrase or "error", 60)
        what = _WHAT[self.artifact]
        if status == 404 and self.artifact == "tcb_info":
            return f"no TCB Info for this FMSPC (HTTP 404 {reason}: unknown FMSPC?)"
        if status == 404 and self.artifact == "pck_certificate":
            return (
                f"no PCK certificate for this platform and TCB (HTTP 404 {reason}: "
                "a platform the server does not know, or not registered at this TCB?)"
            )
        if status == 410:
            return f"{what}: this TCB evaluation data number is no longer available (HTTP 410)"
        return f"{what}: {status_line(response)}"

    def _error(self, message: str, response: httpx.Response | None = None) -> CollateralFetchError:
        if response is None:
            return CollateralFetchError(message, url=self.current)
        headers = response.headers
        intel_message = _header(headers, "Error-Message")
        if intel_message:
            message = f"{message}: {intel_message}"
        return CollateralFetchError(
            message,
            url=self.current,
            status=response.status_code,
            request_id=_header(headers, "Request-ID"),
            error_code=_header(headers, "Error-Code"),
        )
