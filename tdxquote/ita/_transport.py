"""HTTP for the ITA client: retries, a total deadline, size caps and an origin-bound API key.

:class:`_Exchange` holds one fetch's state and asks the rules it shares
with the PCS client (:mod:`tdxquote._http`) for every decision, without
I/O; :class:`HttpTransport` and :class:`AsyncHttpTransport` only move bytes.
The rules, with what this client sets:

* 429, 500, 502, 503 and 504 responses, timeouts and dropped connections
  are retried up to ``retries`` times, after ``Retry-After`` when the server
  sends a readable one (ASCII digits, here at most 12, or an HTTP date; more
  than ``max_retry_after`` seconds: give up at once; an unreadable one means
  the normal backoff, where the PCS client fails), else
  ``backoff * 2**attempt`` capped at ``max_backoff``.  A refused connection
  (or an unknown host) fails at once.
* ``deadline`` bounds one fetch in total: every attempt, redirect, byte of
  the head and the body, and wait.  A server that trickles bytes is cut off
  there (the synchronous transport caps every socket operation, the
  asynchronous one bounds each attempt).
* Responses over the request's ``max_size`` are refused (by their declared
  length before reading, else while reading).
* The API key goes only to its own origin (scheme, host and port), on the
  first request and on any redirect back to that origin; never elsewhere,
  whatever redirects say.  Redirects are followed by hand for that reason
  (httpx keeps custom headers on a cross-origin redirect): GET on 301, 302,
  303, 307 and 308; POST only on 307 and 308 (body resent); never from
  https to http unless the content is signed (CRLs); at most
  ``max_redirects``.

Flows written as generators (yield an :class:`HttpRequest`, receive an
:class:`HttpResponse`) run on either transport with :func:`run_flow` and
:func:`run_flow_async`, so the sync and async clients share every step.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

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
    declared_length,
    header_text,
    headers_for,
    origin_of,
    redirect_target,
    retry_delay,
    status_line,
    transport_failure,
)
from tdxquote._http import retry_after_seconds as _read_retry_after
from tdxquote._http_deadline import deadline_client, deadline_scope
from tdxquote.errors import ItaFetchError

__all__ = [
    "ApiKey",
    "AsyncHttpTransport",
    "Flow",
    "HttpRequest",
    "HttpResponse",
    "HttpSettings",
    "HttpTransport",
    "check_service_url",
    "origin_of",
    "retry_after_seconds",
    "run_flow",
    "run_flow_async",
]

T = TypeVar("T")

_ERROR_SNIPPET = 1024
_RETRY_AFTER_DIGITS = 12
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, deadline and retry schedule (the PCS client's rules, a longer deadline).

    ``timeout``: seconds for each connect, read or write.  ``deadline``:
    seconds for a whole fetch, retries, redirects and waits included.
    Checked as the PCS client's options are (finite, non-negative numbers;
    ``timeout`` and ``deadline`` positive).
    """

    timeout: float = 30.0
    deadline: float = 120.0
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    max_redirects: int = 5

    def __post_init__(self) -> None:
        check_retry_options(self)
        check_count("max_redirects", self.max_redirects, minimum=0)

    @property
    def schedule(self) -> RetrySchedule:
        """The retry rules: an unreadable ``Retry-After`` means the normal backoff."""
        return RetrySchedule(
            self.retries,
            self.backoff,
            self.max_backoff,
            self.max_retry_after,
            malformed_retry_after="backoff",
            retry_after_digits=_RETRY_AFTER_DIGITS,
        )


@dataclass(frozen=True)
class ApiKey:
    """A secret header sent only to one origin (its value never appears in a repr)."""

    origin: Origin | None
    header: str
    value: str = field(repr=False)

    def headers_for(self, url: httpx.URL) -> dict[str, str]:
        """``{header: value}`` when ``url`` is on the key's origin, else nothing."""
        return dict(headers_for(url, self.origin, {self.header: self.value}))


@dataclass(frozen=True)
class HttpRequest:
    """One fetch: ``what`` names it in errors; ``max_size`` caps the response body.

    ``secret``: the transport's :class:`ApiKey` may be attached (only on its
    origin).  ``signed``: the content carries its own signature (a CRL), so
    an https to http redirect is acceptable.
    """

    method: str
    url: str
    what: str
    max_size: int
    body: bytes | None = None
    secret: bool = False
    signed: bool = False


@dataclass(frozen=True)
class HttpResponse:
    """A 200 response: the final URL (after redirects), headers and body."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def request_id(self) -> str | None:
        """The server's ``Request-Id`` header (printable, bounded), when it sent one."""
        return header_text(self.headers, "request-id")


Flow = Generator[HttpRequest, HttpResponse, T]
"""A sans-I/O flow: yields the requests it needs, receives their responses, returns T."""


# --- URLs --------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_service_url(url: str, what: str) -> str:
    """``url`` without a trailing slash, or ``ValueError``.

    https only, except http to a loopback address (local test servers): an
    API key or a key set must not cross the network in the clear.  No user
    info, query or fragment.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"{what}: a URL is required")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{what}: not a URL: {url!r} ({exc})") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what}: not an http(s) URL: {url!r}")
    if parsed.scheme == "http" and not _is_loopback(parsed.host):
        raise ValueError(f"{what}: https is required (http only to a loopback address): {url!r}")
    if parsed.userinfo or parsed.query or parsed.fragment:
        raise ValueError(f"{what}: no user info, query or fragment allowed: {url!r}")
    return url.rstrip("/")


# --- the decisions, without I/O ----------------------------------------------------------


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` value asks for; None when absent or unreadable.

    The shared reading (:func:`tdxquote._http.retry_after_seconds`: ASCII
    digits, here at most 12, or an HTTP date with a zone; a date in the past
    is 0); anything else counts as absent, so the normal backoff applies.
    """
    try:
        return _read_retry_after(
            [] if value is None else [value], now, max_digits=_RETRY_AFTER_DIGITS
        )
    except ValueError:
        return None


def _printable(data: bytes) -> str:
    text = _UNPRINTABLE.sub(" ", data.decode("utf-8", "replace")).strip()
    return text[:200]


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; ``error`` is raised if none is left."""

    def __init__(self, error: ItaFetchError, retry_after: Sequence[str] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class _Redirect:
    url: httpx.URL
    method: str
    body: bytes | None


_REFUSAL_CODES = {
    "redirect": "ita_redirect_refused",
    "too_large": "ita_response_too_large",
    "deadline": "ita_deadline_exceeded",
}


class _Exchange:
    """The state of one fetch; every decision is a rule of :mod:`tdxquote._http`."""

    def __init__(
        self,
        request: HttpRequest,
        settings: HttpSettings,
        api_key: ApiKey | None,
        monotonic: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.request = request
        self.settings = settings
        self.api_key = api_key
        self.clock = clock
        self.deadline = Deadline(settings.deadline, monotonic)
        self.attempt = 0
        self.start_attempt()

    # --- per attempt --------------------------------------------------------------------
    def start_attempt(self) -> None:
        self.url = httpx.URL(self.request.url)
        self.method = self.request.method
        self.body = self.request.body
        self.redirects = 0
        self.size = 0
        self.reading_body = False

    def remaining(self) -> float:
        return self.deadline.remaining()

    def deadline_error(self, detail: str = "") -> ItaFetchError:
        extra = f" ({detail})" if detail else ""
        return ItaFetchError(
            f"{self.request.what}: no answer within the {self.settings.deadline:g} s deadline"
            + extra,
            code="ita_deadline_exceeded",
            url=str(self.url),
        )

    def check_deadline(self) -> None:
        if self.remaining() <= 0:
            raise self.deadline_error()

    def timeout(self) -> httpx.Timeout:
        """The per-operation timeout, never beyond the deadline."""
        timeout = self.deadline.timeout(self.settings.timeout)
        if timeout is None:
            raise self.deadline_error()
        return httpx.Timeout(timeout)

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "tdxquote"}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        if self.request.secret and self.api_key is not None:
            headers.update(self.api_key.headers_for(self.url))
        return headers

    # --- the response head ----------------------------------------------------------------
    def error(
        self, message: str, response: httpx.Response | None = None, code: str | None = None
    ) -> ItaFetchError:
        return ItaFetchError(
            f"{self.request.what}: {message}",
            code=code,
            url=str(self.url),
            status=None if response is None else response.status_code,
            request_id=None if response is None else header_text(response.headers, "request-id"),
        )

    def refused(self, refusal: HttpRefusal, response: httpx.Response | None) -> ItaFetchError:
        return self.error(refusal.message, response, _REFUSAL_CODES.get(refusal.reason))

    def on_head(self, response: httpx.Response) -> _Redirect | None:
        """What the head says: a redirect to follow, or None to read the body.

        Raises :class:`ItaFetchError` for a redirect that is not followed or
        a declared body over the cap.
        """
        if response.status_code in REDIRECT_STATUSES:
            return self._redirect(response)
        self.reading_body = True
        declared = declared_length(response.headers)
        if response.status_code == 200 and declared is not None:
            self.check_size(declared, response)
        return None

    def failure(self, response: httpx.Response, snippet: bytes) -> Exception:
        """The error for a non-200, non-redirect response (retryable or final)."""
        message = status_line(response)
        detail = _printable(snippet)
        if detail:
            message += f": {detail}"
        error = self.error(message, response)
        if response.status_code in RETRY_STATUSES:
            return _Retryable(error, response.headers.get_list("retry-after"))
        return error

    def _redirect(self, response: httpx.Response) -> _Redirect:
        try:
            target = redirect_target(
                self.url,
                response,
                hops=self.redirects,
                max_redirects=self.settings.max_redirects,
                method=self.method,
                downgrade_allowed=self.request.signed,
            )
        except HttpRefusal as refusal:
            raise self.refused(refusal, response) from None
        self.redirects += 1
        return _Redirect(target, self.method, self.body)

    def follow(self, redirect: _Redirect) -> None:
        self.url, self.method, self.body = redirect.url, redirect.method, redirect.body
        self.size = 0
        self.reading_body = False

    # --- the body ------------------------------------------------------------------------
    def check_size(self, size: float, response: httpx.Response) -> None:
        if size > self.request.max_size:
            raise self.refused(
                HttpRefusal("too_large", f"response larger than {self.request.max_size} bytes"),
                response,
            )

    def on_chunk(self, chunk: bytes, response: httpx.Response) -> None:
        self.size += len(chunk)
        self.check_size(self.size, response)
        if self.remaining() <= 0:
            raise self.deadline_error("the response was still arriving")

    def success(self, response: httpx.Response, body: bytes) -> HttpResponse:
        return HttpResponse(str(self.url), response.status_code, response.headers, body)

    # --- transport errors and retries -----------------------------------------------------
    def on_transport_error(self, exc: httpx.HTTPError) -> Exception:
        failure = transport_failure(exc)
        if self.remaining() <= 0:
            arriving = "the response was still arriving: " if self.reading_body else ""
            return self.deadline_error(arriving + failure.message)
        error = self.error(failure.message)
        return _Retryable(error) if failure.retryable else error

    def retry_delay(self, retry: _Retryable) -> float:
        """Seconds to wait before the next attempt; raises when giving up."""
        last = retry.error
        try:
            delay = retry_delay(
                self.settings.schedule,
                retries_used=self.attempt,
                retry_after=retry.retry_after,
                now=self.clock(),
                deadline=self.deadline,
                last_failure=last.message,
            )
        except HttpRefusal as refusal:
            if refusal.reason == "exhausted":
                raise last from None
            if refusal.reason == "deadline":
                message, code = refusal.message, "ita_deadline_exceeded"
            else:
                message, code = f"{last.message}; {refusal.message}", last.code
            raise ItaFetchError(
                message, code=code, url=last.url, status=last.status, request_id=last.request_id
            ) from None
        self.attempt += 1
        return delay


# --- the transports ----------------------------------------------------------------------


class _TransportBase:
    def __init__(
        self,
        settings: HttpSettings | None,
        api_key: ApiKey | None,
        monotonic: Callable[[], float],
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings if settings is not None else HttpSettings()
        self.api_key = api_key
        self.monotonic = monotonic
        self.clock = clock
        #: HTTP requests sent (retries and redirects included).
        self.requests_sent = 0

    def _exchange(self, request: HttpRequest) -> _Exchange:
        return _Exchange(request, self.settings, self.api_key, self.monotonic, self.clock)


class HttpTransport(_TransportBase):
    """Synchronous fetches with the module's rules; ``sleep`` and the clocks are injectable."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        api_key: ApiKey | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, api_key, monotonic, clock)
        self._sleep = sleep
        # Every socket operation ends by the deadline, so a trickled head is cut off too.
        self._http = deadline_client(transport, follow_redirects=False)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, request: HttpRequest) -> HttpResponse:
        """Fetch ``request``; raises :class:`~tdxquote.errors.ItaFetchError` on failure."""
        exchange = self._exchange(request)
        while True:
            try:
                with deadline_scope(exchange.remaining):
                    return self._attempt(exchange)
            except _Retryable as retry:
                self._sleep(exchange.retry_delay(retry))
                exchange.start_attempt()

    def _attempt(self, exchange: _Exchange) -> HttpResponse:
        while True:
            exchange.check_deadline()
            self.requests_sent += 1
            try:
                with self._http.stream(
                    exchange.method,
                    exchange.url,
                    content=exchange.body,
                    headers=exchange.headers(),
                    timeout=exchange.timeout(),
                ) as response:
                    redirect = exchange.on_head(response)
                    if redirect is not None:
                        exchange.follow(redirect)
                        continue
                    if response.status_code != 200:
                        raise exchange.failure(response, self._snippet(exchange, response))
                    chunks = []
                    for chunk in response.iter_bytes():
                        exchange.on_chunk(chunk, response)
                        chunks.append(chunk)
                    return exchange.success(response, b"".join(chunks))
            except httpx.HTTPError as exc:
                raise exchange.on_transport_error(exc) from None

    @staticmethod
    def _snippet(exchange: _Exchange, response: httpx.Response) -> bytes:
        data = b""
        try:
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) >= _ERROR_SNIPPET or exchange.remaining() <= 0:
                    break
        except httpx.HTTPError:
            pass
        return data[:_ERROR_SNIPPET]


class AsyncHttpTransport(_TransportBase):
    """The asynchronous twin of :class:`HttpTransport` (``sleep`` is awaited)."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        api_key: ApiKey | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, api_key, monotonic, clock)
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncHttpTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Fetch ``request``; raises :class:`~tdxquote.errors.ItaFetchError` on failure."""
        exchange = self._exchange(request)
        while True:
            try:
                # The whole attempt (head, redirects, body) ends by the deadline.
                return await asyncio.wait_for(
                    self._attempt(exchange), timeout=max(exchange.remaining(), 0.0)
                )
            except asyncio.TimeoutError:
                detail = "the response was still arriving" if exchange.reading_body else ""
                raise exchange.deadline_error(detail) from None
            except _Retryable as retry:
                await self._sleep(exchange.retry_delay(retry))
                exchange.start_attempt()

    async def _attempt(self, exchange: _Exchange) -> HttpResponse:
        while True:
            exchange.check_deadline()
            self.requests_sent += 1
            try:
                async with self._http.stream(
                    exchange.method,
                    exchange.url,
                    content=exchange.body,
                    headers=exchange.headers(),
                    timeout=exchange.timeout(),
                ) as response:
                    redirect = exchange.on_head(response)
                    if redirect is not None:
                        exchange.follow(redirect)
                        continue
                    if response.status_code != 200:
                        raise exchange.failure(response, await self._snippet(exchange, response))
                    chunks = []
                    async for chunk in response.aiter_bytes():
                        exchange.on_chunk(chunk, response)
                        chunks.append(chunk)
                    return exchange.success(response, b"".join(chunks))
            except httpx.HTTPError as exc:
                raise exchange.on_transport_error(exc) from None

    @staticmethod
    async def _snippet(exchange: _Exchange, response: httpx.Response) -> bytes:
        data = b""
        try:
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= _ERROR_SNIPPET or exchange.remaining() <= 0:
                    break
        except httpx.HTTPError:
            pass
        return data[:_ERROR_SNIPPET]


# --- running flows -----------------------------------------------------------------------


def run_flow(flow: Flow[T], http: HttpTransport) -> T:
    """Run a sans-I/O flow on a synchronous transport."""
    try:
        request = next(flow)
        while True:
            request = flow.send(http.send(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()


async def run_flow_async(flow: Flow[T], http: AsyncHttpTransport) -> T:
    """Run a sans-I/O flow on an asynchronous transport."""
    try:
        request = next(flow)
        while True:
            request = flow.send(await http.send(request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        flow.close()
