"""The HTTP rules the PCS and ITA clients share (``tdxquote._http``), and what sharing fixed.

Each rule exists once: both clients' modules hold the very same functions and transport.
The rules are checked here without I/O; the regressions at the end ran wrong on the ITA
client's former copy of them (a traceback for an absurd Content-Length, a redirect with
two Location headers followed to a mangled URL, a hostile Request-Id printed raw, a head
trickled past the deadline) and run through the real client on loopback.
"""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from tdxquote import _http, _http_deadline
from tdxquote._http import (
    Deadline,
    HttpRefusal,
    RetrySchedule,
    check_count,
    check_seconds,
    declared_length,
    headers_for,
    origin_of,
    redirect_target,
    retry_delay,
    transport_failure,
)
from tdxquote.collateral import _exchange, _transport
from tdxquote.collateral.pcs import PcsClient
from tdxquote.errors import ItaFetchError
from tdxquote.ita import AsyncItaClient, HttpSettings, ItaClient, ItaConfig
from tdxquote.ita import _transport as ita_transport
from tdxquote.ita._transport import HttpRequest, HttpTransport
from tdxquote.testing.pccs import ScriptedServer


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def response(status: int, headers: list[tuple[str, str]] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or [])


# --- one rule, one place ------------------------------------------------------------------


def test_both_clients_hold_the_same_rules() -> None:
    assert _exchange.retry_after_seconds is _http.retry_after_seconds
    assert _exchange.origin_of is ita_transport.origin_of is _http.origin_of
    assert _exchange.clean is _http.clean
    assert _transport.DeadlineTransport is _http_deadline.DeadlineTransport
    assert _transport.deadline_scope is _http_deadline.deadline_scope


def test_both_synchronous_clients_use_the_deadline_transport() -> None:
    with PcsClient("https://pccs.example") as pcs, HttpTransport() as ita:
        for client in (pcs._http, ita._http):
            assert isinstance(client._transport, _http_deadline.DeadlineTransport)


def test_the_clients_differ_only_where_documented() -> None:
    pcs = _exchange.FetchOptions().schedule
    ita = HttpSettings().schedule
    assert (pcs.retries, pcs.backoff, pcs.max_backoff, pcs.max_retry_after) == (
        ita.retries,
        ita.backoff,
        ita.max_backoff,
        ita.max_retry_after,
    )
    assert (pcs.malformed_retry_after, ita.malformed_retry_after) == ("fail", "backoff")
    assert (_exchange.DEFAULT_DEADLINE, HttpSettings().deadline) == (60.0, 120.0)


# --- retries ------------------------------------------------------------------------------

SCHEDULE = RetrySchedule(retries=3, backoff=1.0, max_backoff=5.0, max_retry_after=120.0)


def delay(
    retry_after: list[str] | None = None,
    *,
    retries_used: int = 0,
    schedule: RetrySchedule = SCHEDULE,
    left: float = 60.0,
) -> float:
    clock = Clock()
    return retry_delay(
        schedule,
        retries_used=retries_used,
        retry_after=retry_after,
        now=clock(),
        deadline=Deadline(left, clock),
        last_failure="HTTP 503 Busy",
    )


def refusal(**kwargs: object) -> HttpRefusal:
    with pytest.raises(HttpRefusal) as caught:
        delay(**kwargs)  # type: ignore[arg-type]
    return caught.value


def test_backoff_doubles_and_is_capped() -> None:
    assert [delay(retries_used=n) for n in range(3)] == [1.0, 2.0, 4.0]
    capped = RetrySchedule(retries=9, backoff=1.0, max_backoff=5.0, max_retry_after=120.0)
    assert delay(retries_used=5, schedule=capped) == 5.0


def test_retry_after_is_honoured_in_seconds_and_as_a_date() -> None:
    assert delay(["7"]) == 7.0
    assert delay(["Thu, 01 Jan 1970 00:16:50 GMT"]) == 10.0  # 1010 s; the clock says 1000


def test_giving_up() -> None:
    assert refusal(retries_used=3).reason == "exhausted"
    too_long = refusal(retry_after=["3600"])
    assert too_long.reason == "retry_after"
    assert "3600 s, more than the 120 s allowed" in too_long.message
    assert "unbounded" in refusal(retry_after=["9" * 40]).message
    past = refusal(retry_after=["30"], left=10.0)
    assert past.reason == "deadline"
    assert past.message == "HTTP 503 Busy; waiting 30 s to retry would pass the 10 s deadline"


@pytest.mark.parametrize("value", ["\u00b2", "-5", "1.5", "NaN", "", "Mon, 99 Foo"])
def test_a_malformed_retry_after_fails_or_backs_off_as_the_client_says(value: str) -> None:
    assert refusal(retry_after=[value]).reason == "retry_after_malformed"
    lenient = RetrySchedule(3, 0.25, 5.0, 120.0, malformed_retry_after="backoff")
    assert delay([value], schedule=lenient) == 0.25


def test_retry_after_digit_limit() -> None:
    limited = RetrySchedule(3, 0.25, 5.0, 120.0, "backoff", retry_after_digits=12)
    assert delay(["1" * 13], schedule=limited) == 0.25  # unreadable there: the backoff
    with pytest.raises(HttpRefusal, match="more than the 120 s allowed"):
        delay(["9" * 12], schedule=limited)


# --- time, sizes, origins, transport errors -----------------------------------------------


def test_the_deadline_caps_each_timeout_and_ends() -> None:
    clock = Clock()
    deadline = Deadline(10.0, clock)
    assert deadline.timeout(30.0) == 10.0
    clock.now += 8
    assert deadline.timeout(30.0) == pytest.approx(2.0)
    assert deadline.timeout(1.0) == 1.0
    clock.now += 2
    assert deadline.timeout(30.0) is None
    assert deadline.remaining() <= 0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["10"], 10),
        ([" 7 "], 7),
        (["9" * 21], math.inf),
        (["9" * 5000], math.inf),
        (["\u00b2".encode()], None),  # as bytes off the wire (UTF-8)
        (["-1"], None),
        (["1", "2"], None),
        ([], None),
    ],
)
def test_declared_length(values: list[str | bytes], expected: float | None) -> None:
    raw = [v if isinstance(v, bytes) else v.encode() for v in values]
    headers = httpx.Headers([(b"Content-Length", value) for value in raw])
    assert declared_length(headers) == expected


def test_secrets_go_to_their_origin_only() -> None:
    origin = origin_of("https://api.example")
    secret = {"x-api-key": "k"}
    assert headers_for("https://API.example:443/a", origin, secret) == secret
    for other in ("http://api.example/a", "https://api.example:8443/", "https://x.example/"):
        assert headers_for(other, origin, secret) == {}
    assert headers_for("https://api.example/", None, secret) == {}
    assert origin_of("ftp://api.example/") is None
    assert origin_of("not a url at all \x00") is None


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow"), True),
        (httpx.ReadTimeout("slow"), True),
        (httpx.ReadError("reset"), True),
        (httpx.RemoteProtocolError("garbage"), True),
        (httpx.UnsupportedProtocol("gopher"), False),
    ],
)
def test_which_transport_errors_are_retried(error: httpx.HTTPError, retryable: bool) -> None:
    assert transport_failure(error).retryable is retryable


def test_transport_error_messages_are_printable() -> None:
    failure = transport_failure(httpx.ReadError("bad\x1b[31m\nthing" + "x" * 500))
    assert failure.message.startswith("ReadError: bad?[31m?thing")
    assert failure.message.isprintable()
    assert len(failure.message) < 300


def test_configured_numbers_are_checked() -> None:
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError, match="finite positive number"):
            check_seconds("timeout", bad, positive=True)
    with pytest.raises(TypeError):
        check_seconds("timeout", True, positive=True)
    with pytest.raises(ValueError, match="retries must be an integer >= 0"):
        check_count("retries", -1, minimum=0)
    with pytest.raises(ValueError, match="timeout must be a finite positive"):
        HttpSettings(timeout=math.inf)
    with pytest.raises(TypeError):
        HttpSettings(retries=1.5)  # type: ignore[arg-type]


# --- redirects ----------------------------------------------------------------------------


def redirect(status: int, *locations: str) -> httpx.Response:
    return response(status, [("Location", location) for location in locations])


def target(resp: httpx.Response, **options: object) -> str:
    url = redirect_target("https://api.example/a/b", resp, hops=0, max_redirects=5, **options)  # type: ignore[arg-type]
    return str(url)


def refused_redirect(resp: httpx.Response, **options: object) -> str:
    with pytest.raises(HttpRefusal) as caught:
        target(resp, **options)
    assert caught.value.reason == "redirect"
    return caught.value.message


def test_redirect_targets() -> None:
    assert target(redirect(302, "c")) == "https://api.example/a/c"
    assert target(redirect(307, "https://other.example/x"), method="POST") == (
        "https://other.example/x"
    )
    assert target(redirect(302, "http://api.example/crl")) == "http://api.example/crl"


def test_redirects_refused() -> None:
    assert "0 Location headers" in refused_redirect(response(302))
    assert "2 Location headers" in refused_redirect(redirect(302, "/x", "/y"))
    assert "non-http(s)" in refused_redirect(redirect(302, "file:///etc/passwd"))
    assert "https to http" in refused_redirect(
        redirect(302, "http://api.example/"), downgrade_allowed=False
    )
    assert "turn the POST into a GET" in refused_redirect(redirect(303, "/x"), method="POST")
    with pytest.raises(HttpRefusal, match="more than 5 redirects"):
        redirect_target("https://api.example/", redirect(302, "/x"), hops=5, max_redirects=5)


# --- regressions: the ITA client's former copy of the rules ---------------------------------


def _mock(handler: object, *, retries: int = 0) -> HttpTransport:
    return HttpTransport(
        HttpSettings(retries=retries),
        transport=httpx.MockTransport(handler),  # type: ignore[arg-type]
    )


def _fetch_error(transport: HttpTransport, request: HttpRequest) -> ItaFetchError:
    with transport, pytest.raises(ItaFetchError) as caught:
        transport.send(request)
    return caught.value


def test_regression_ita_absurd_content_length_is_a_fetch_error_not_a_traceback() -> None:
    # int() of 5000 digits raised ValueError out of the client.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "9" * 5000}, content=b"{}")

    error = _fetch_error(_mock(handler), HttpRequest("GET", "https://ita.example/n", "nonce", 100))
    assert error.code == "ita_response_too_large"


def test_regression_ita_two_location_headers_are_refused() -> None:
    # httpx joins them with ", ": the client followed "https://ita.example/a,%20https://...".
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return redirect(302, "https://ita.example/a", "https://elsewhere.example/b")

    error = _fetch_error(_mock(handler), HttpRequest("GET", "https://ita.example/n", "nonce", 100))
    assert error.code == "ita_redirect_refused"
    assert seen == ["https://ita.example/n"]


def test_regression_ita_hostile_request_id_is_cleaned() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return response(500, [("Request-Id", "\x1b[31mred" + "z" * 5000)])

    error = _fetch_error(_mock(handler), HttpRequest("GET", "https://ita.example/n", "nonce", 100))
    assert error.request_id is not None
    assert error.request_id.startswith("?[31mred")
    assert error.request_id.isprintable()
    assert len(error.request_id) <= 203


HEAD = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 4000 + b"\r\nContent-Length: 2\r\n\r\n{}"


def _slow_config(url: str) -> ItaConfig:
    return ItaConfig(
        api_url=url,
        portal_url=url,
        api_key="k",
        http=HttpSettings(timeout=1, deadline=0.3, retries=3),
    )


def test_regression_ita_trickled_head_ends_at_the_deadline() -> None:
    # Each byte came within the read timeout, and the deadline was only checked between
    # body chunks: the client waited for the whole 200 s head.
    with ScriptedServer([HEAD], trickle=0.05) as raw:
        with ItaClient(_slow_config(raw.url)) as ita, pytest.raises(ItaFetchError) as caught:
            ita.nonce()
        assert caught.value.code == "ita_deadline_exceeded"
        assert len(raw.requests) == 1  # no retry once the deadline passed
        assert raw.sent < 100


def test_regression_ita_async_trickled_head_ends_at_the_deadline() -> None:
    async def nonce(url: str) -> None:
        async with AsyncItaClient(_slow_config(url)) as ita:
            await ita.nonce()

    with ScriptedServer([HEAD], trickle=0.05) as raw:
        with pytest.raises(ItaFetchError) as caught:
            asyncio.run(nonce(raw.url))
        assert caught.value.code == "ita_deadline_exceeded"
        assert raw.sent < 100
