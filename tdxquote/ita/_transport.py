"""HTTP for the ITA client: retries, a total deadline, size caps and an origin-bound API key.

Everything that decides (which header goes where, what is retried, how long
to wait, when the deadline is passed, which redirect is followed) lives in
:class:`_Exchange`, which does no I/O; :class:`HttpTransport` and
:class:`AsyncHttpTransport` only move bytes.  The rules are the PCS
client's (:mod:`tdxquote.collateral.pcs`), plus what a secret-bearing client
needs:

* 429, 500, 502, 503 and 504 responses, timeouts and dropped connections
  are retried up to ``retries`` times, after ``Retry-After`` when the server
  sends a sane one (digits or an HTTP date; more than ``max_retry_after``
  seconds: give up at once), else ``backoff * 2**attempt`` capped at
  ``max_backoff``.  A refused connection (or an unknown host) fails at once.
* ``deadline`` bounds one fetch in total: every attempt, redirect, body
  chunk and wait.  A server that trickles bytes is cut off there.
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
import email.utils
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

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

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BODY_KEEPING_REDIRECTS = frozenset({307, 308})
_ERROR_SNIPPET = 1024
_RETRY_AFTER_DIGITS = re.compile(r"[0-9]{1,12}")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, deadline and retry schedule (the PCS client's defaults).

    ``timeout``: seconds for each connect, read or write.  ``deadline``:
    seconds for a whole fetch, retries, redirects and waits included.
    """

    timeout: float = 30.0
    deadline: float = 120.0
    retries: int = 3
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_retry_after: float = 120.0
    max_redirects: int = 5

    def __post_init__(self) -> None:
        for name in ("timeout", "deadline"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must not be negative")
        if self.retries < 0 or self.max_redirects < 0:
            raise ValueError("retries and max_redirects must not be negative")


@dataclass(frozen=True)
class ApiKey:
    """A secret header sent only to one origin (its value never appears in a repr)."""

    origin: tuple[str, str, int]
    header: str
    value: str = field(repr=False)

    def headers_for(self, url: httpx.URL) -> dict[str, str]:
        """``{header: value}`` when ``url`` is on the key's origin, else nothing."""
        return {self.header: self.value} if _origin(url) == self.origin else {}


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
        """The server's ``Request-Id`` header, when it sent one."""
        return self.headers.get("request-id") or None


Flow = Generator[HttpRequest, HttpResponse, T]
"""A sans-I/O flow: yields the requests it needs, receives their responses, returns T."""


# --- URLs --------------------------------------------------------------------------------


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(scheme, 0)
    return (scheme, url.host.lower(), port)


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, with the scheme's default port filled in."""
    return _origin(httpx.URL(url))


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

    Only ASCII digits (at most 12) or an HTTP date with a zone are read;
    anything else (signs, decimals, other scripts' digits, junk) counts as
    absent, so the normal backoff applies.  A date in the past is 0.
    """
    if value is None:
        return None
    value = value.strip()
    if _RETRY_AFTER_DIGITS.fullmatch(value):
        return float(value)
    if len(value) > 64:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _printable(data: bytes) -> str:
    text = _UNPRINTABLE.sub(" ", data.decode("utf-8", "replace")).strip()
    return text[:200]


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; ``error`` is raised if none is left."""

    def __init__(self, error: ItaFetchError, retry_after: str | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass
class _Redirect:
    url: httpx.URL
    method: str
    body: bytes | None


class _Exchange:
    """The state and every decision of one fetch (sans I/O)."""

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
        self.monotonic = monotonic
        self.clock = clock
        self.started = monotonic()
        self.attempt = 0
        self.start_attempt()

    # --- per attempt --------------------------------------------------------------------
    def start_attempt(self) -> None:
        self.url = httpx.URL(self.request.url)
        self.method = self.request.method
        self.body = self.request.body
        self.redirects = 0
        self.size = 0

    def remaining(self) -> float:
        return self.settings.deadline - (self.monotonic() - self.started)

    def _deadline_error(self, detail: str = "") -> ItaFetchError:
        extra = f" ({detail})" if detail else ""
        return ItaFetchError(
            f"{self.request.what}: no answer within the {self.settings.deadline:g} s deadline"
            + extra,
            code="ita_deadline_exceeded",
            url=str(self.url),
        )

    def check_deadline(self) -> None:
        if self.remaining() <= 0:
            raise self._deadline_error()

    def timeout(self) -> httpx.Timeout:
        """The per-operation timeout, never beyond the deadline."""
        remaining = self.remaining()
        if remaining <= 0:
            raise self._deadline_error()
        return httpx.Timeout(min(self.settings.timeout, remaining))

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
            request_id=None if response is None else (response.headers.get("request-id") or None),
        )

    def on_head(self, response: httpx.Response) -> _Redirect | None:
        """What the head says: a redirect to follow, or None to read a 200 body.

        Raises :class:`_Retryable` or :class:`ItaFetchError` for anything else.
        """
        status = response.status_code
        if status in _REDIRECTS:
            return self._redirect(response)
        declared = response.headers.get("content-length")
        if status == 200 and declared is not None and declared.isdigit():
            self.check_size(int(declared), response)
        return None

    def failure(self, response: httpx.Response, snippet: bytes) -> Exception:
        """The error for a non-200, non-redirect response (retryable or final)."""
        reason = response.reason_phrase or "error"
        message = f"HTTP {response.status_code} {reason}"
        detail = _printable(snippet)
        if detail:
            message += f": {detail}"
        error = self.error(message, response)
        if response.status_code in RETRY_STATUSES:
            return _Retryable(error, response.headers.get("retry-after"))
        return error

    def _redirect(self, response: httpx.Response) -> _Redirect:
        status = response.status_code
        location = response.headers.get("location")
        if not location:
            raise self.error(f"HTTP {status} without a Location", response, "ita_redirect_refused")
        if self.redirects >= self.settings.max_redirects:
            raise self.error(
                f"more than {self.settings.max_redirects} redirects",
                response,
                "ita_redirect_refused",
            )
        try:
            target = self.url.join(location)
        except (httpx.InvalidURL, ValueError):
            raise self.error(
                f"redirect to an invalid URL {location[:200]!r}", response, "ita_redirect_refused"
            ) from None
        if target.scheme not in ("http", "https") or not target.host:
            raise self.error(
                f"redirect to a non-http(s) URL {str(target)[:200]!r}",
                response,
                "ita_redirect_refused",
            )
        if self.url.scheme == "https" and target.scheme == "http" and not self.request.signed:
            raise self.error(
                f"redirect from https to http ({str(target)[:200]}) refused",
                response,
                "ita_redirect_refused",
            )
        if self.method != "GET" and status not in _BODY_KEEPING_REDIRECTS:
            raise self.error(
                f"HTTP {status} would turn the {self.method} into a GET: refused",
                response,
                "ita_redirect_refused",
            )
        self.redirects += 1
        return _Redirect(target, self.method, self.body)

    def follow(self, redirect: _Redirect) -> None:
        self.url, self.method, self.body = redirect.url, redirect.method, redirect.body
        self.size = 0

    # --- the body ------------------------------------------------------------------------
    def check_size(self, size: int, response: httpx.Response) -> None:
        if size > self.request.max_size:
            raise self.error(
                f"response larger than {self.request.max_size} bytes",
                response,
                "ita_response_too_large",
            )

    def on_chunk(self, chunk: bytes, response: httpx.Response) -> None:
        self.size += len(chunk)
        self.check_size(self.size, response)
        if self.remaining() <= 0:
            raise self._deadline_error("the response was still arriving")

    def success(self, response: httpx.Response, body: bytes) -> HttpResponse:
        return HttpResponse(str(self.url), response.status_code, response.headers, body)

    # --- transport errors and retries -----------------------------------------------------
    def on_transport_error(self, exc: httpx.HTTPError) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            if self.remaining() <= 0:
                return self._deadline_error(f"timed out: {type(exc).__name__}")
            return _Retryable(self.error(f"timed out ({type(exc).__name__})"))
        text = str(exc) or type(exc).__name__
        error = self.error(f"{type(exc).__name__}: {text}")
        # Nothing listens there, or the name does not resolve: waiting will not help.
        if isinstance(exc, httpx.ConnectError):
            return error
        return _Retryable(error) if isinstance(exc, _RETRYABLE_TRANSPORT) else error

    def retry_delay(self, retry: _Retryable) -> float:
        """Seconds to wait before the next attempt; raises when giving up."""
        settings = self.settings
        if self.attempt >= settings.retries:
            raise retry.error
        asked = retry_after_seconds(retry.retry_after, self.clock())
        if asked is not None and asked > settings.max_retry_after:
            raise self.error(
                f"the server asks to retry after {asked:.0f} s, more than the "
                f"{settings.max_retry_after:.0f} s allowed ({retry.error.message})",
                code=retry.error.code,
            ) from None
        delay = (
            asked
            if asked is not None
            else float(min(settings.max_backoff, settings.backoff * (2**self.attempt)))
        )
        if delay >= self.remaining():
            raise self._deadline_error(
                f"a retry in {delay:g} s would pass it; last error: {retry.error.message}"
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
        self._http = httpx.Client(transport=transport, follow_redirects=False)

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
                return await self._attempt(exchange)
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
