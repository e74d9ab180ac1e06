"""Hostile HTTP answers against real servers on 127.0.0.1: Retry-After, trickles, deadlines,
refused connections, redirects and where the API key goes.

Every failure is a CollateralFetchError; no test sleeps: waits are recorded by an injected
``sleep`` (advancing an injected clock where the deadline matters), and the trickle tests
use deadlines of a fraction of a second against servers that would otherwise take minutes.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from _helpers import serving

from tdxquote.collateral import (
    ArtifactValidator,
    AsyncPcsClient,
    CollateralParameters,
    PcsClient,
    PcsSource,
)
from tdxquote.collateral._exchange import (
    READ_BODY,
    Fetch,
    FetchOptions,
    Redirect,
    RetryNotice,
    Wait,
    origin_of,
    retry_after_seconds,
)
from tdxquote.errors import CollateralFetchError
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import Fault, PccsServer, ScriptedServer
from tdxquote.verification import Verifier

TCB = "/tdx/certification/v4/tcb"
KEY = "Ocp-Apim-Subscription-Key"
HINT = "TDXQuote-Collateral-For"
NOW = 1_750_000_000.0


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"pcs hostile tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


@pytest.fixture
def other(scenario: Scenario) -> Iterator[PccsServer]:
    """A second server: another origin (another port)."""
    yield from serving(scenario)


@pytest.fixture
def params(scenario: Scenario) -> CollateralParameters:
    return CollateralParameters.from_quote(scenario.quote)


class Clock:
    """A monotonic clock that only moves when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(
    server: PccsServer | ScriptedServer, clock: Clock | None = None, **options: object
) -> PcsClient:
    clock = clock or Clock()
    options.setdefault("sleep", clock.sleep)
    options.setdefault("monotonic", clock)
    options.setdefault("clock", lambda: NOW)
    return PcsClient(server.url, **options)  # type: ignore[arg-type]


def fails(action: object) -> CollateralFetchError:
    assert callable(action)
    with pytest.raises(CollateralFetchError) as raised:
        action()
    return raised.value


# --- Retry-After ------------------------------------------------------------------------

HOSTILE_RETRY_AFTER = [
    "²",  # str.isdigit() says yes, float() says no
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "-5",
    "NaN",
    "inf",
    "1.5",
    "5, 7",
    "",
    "Fri, 31 Dec 99999 23:59:59 GMT",  # year out of range
    "Tue, 01 Jan 2030 00:00:00 +9999",  # offset out of range
    "Fri, 31 Dec 99999999999999999999 23:59:59 GMT",  # OverflowError in email.utils
    "Fri, 31 Dec 2025 23:59:59 +99999999999999999999",
    "Sun, 06 Nov 1994 08:49:37",  # no zone
    "x" * 10_000,
]


@pytest.mark.parametrize("value", HOSTILE_RETRY_AFTER)
def test_malformed_retry_after_is_a_fetch_error(value: str) -> None:
    with pytest.raises(ValueError, match="Retry-After"):
        retry_after_seconds([value], NOW)


def test_retry_after_values() -> None:
    assert retry_after_seconds([], NOW) is None
    assert retry_after_seconds(["7"], NOW) == 7.0
    assert retry_after_seconds([" 7 "], NOW) == 7.0
    assert retry_after_seconds(["9" * 5000], NOW) == math.inf  # int() would refuse 5000 digits
    past = email.utils.formatdate(NOW - 60, usegmt=True)
    assert retry_after_seconds([past], NOW) == 0.0
    soon = email.utils.formatdate(NOW + 12, usegmt=True)
    assert retry_after_seconds([soon], NOW) == 12.0
    with pytest.raises(ValueError, match="2 Retry-After headers"):
        retry_after_seconds(["1", "2"], NOW)


@pytest.mark.parametrize(
    "value",
    [
        "²",
        "-5",
        "NaN",
        "Fri, 31 Dec 99999 23:59:59 GMT",
        "Fri, 31 Dec 99999999999999999999 0:0:0 GMT",
    ],
)
def test_retry_after_regression_over_http(
    server: PccsServer, params: CollateralParameters, value: str
) -> None:
    # Before: ValueError ("²") and OverflowError (far-future date) tracebacks.
    server.inject(Fault.http_status(503, headers={"Retry-After": value}), path=TCB)
    clock = Clock()
    error = fails(lambda: client(server, clock).get("tcb_info", params))
    assert error.status == 503
    assert "malformed Retry-After header" in str(error)
    assert clock.sleeps == []
    assert server.count(TCB) == 1


@pytest.mark.parametrize("value", ["Fri, 31 Dec 9999 23:59:59 GMT", "9" * 400])
def test_far_future_retry_after_is_refused_not_awaited(
    server: PccsServer, params: CollateralParameters, value: str
) -> None:
    server.inject(Fault.http_status(429, headers={"Retry-After": value}), path=TCB)
    clock = Clock()
    error = fails(lambda: client(server, clock).get("tcb_info", params))
    assert "more than the 120 s allowed" in str(error)
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 503 Busy\r\nRetry-After: \xd9\xa3\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["non-ascii-digit", "repeated"],
)
def test_non_ascii_and_repeated_retry_after_over_raw_http(
    params: CollateralParameters, response: bytes
) -> None:
    with ScriptedServer([response]) as raw:
        clock = Clock()
        error = fails(lambda: client(raw, clock).get("tcb_info", params))
        assert "malformed Retry-After header" in str(error)
        assert clock.sleeps == []
        assert len(raw.requests) == 1


# --- deadline ---------------------------------------------------------------------------


def test_trickled_body_ends_at_the_deadline(
    server: PccsServer, params: CollateralParameters
) -> None:
    # One byte every 0.05 s of a ~1 KiB body: about a minute, never a read timeout.
    server.inject(Fault.trickled(0.05), path=TCB)
    pcs = PcsClient(server.url, timeout=1, deadline=0.3, retries=3)
    error = fails(lambda: pcs.get("tcb_info", params))
    assert "no complete response within the 0.3 s deadline" in str(error)
    assert server.count(TCB) == 1  # no retry after the deadline
    assert server.trickled_bytes < 200  # of ~1 KiB: the client gave up


def test_trickled_head_ends_at_the_deadline(params: CollateralParameters) -> None:
    # The status line and headers themselves trickle: no body chunk is ever seen.
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 4000 + b"\r\nContent-Length: 0\r\n\r\n"
    with ScriptedServer([head], trickle=0.05) as raw:
        pcs = PcsClient(raw.url, timeout=1, deadline=0.3, retries=3)
        error = fails(lambda: pcs.get("tcb_info", params))
        assert "deadline" in str(error)
        assert len(raw.requests) == 1
        assert raw.sent < 100


def test_async_trickles_end_at_the_deadline(
    server: PccsServer, params: CollateralParameters
) -> None:
    server.inject(Fault.trickled(0.05), path=TCB)
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 4000 + b"\r\nContent-Length: 0\r\n\r\n"

    async def fetch(url: str) -> None:
        async with AsyncPcsClient(url, timeout=1, deadline=0.3, retries=3) as pcs:
            await pcs.get("tcb_info", params)

    with pytest.raises(CollateralFetchError, match=r"within the 0\.3 s deadline"):
        asyncio.run(fetch(server.url))
    assert server.trickled_bytes < 200  # of ~1 KiB: the client gave up
    with ScriptedServer([head], trickle=0.05) as raw:
        with pytest.raises(CollateralFetchError, match=r"within the 0\.3 s deadline"):
            asyncio.run(fetch(raw.url))
        assert raw.sent < 100


def test_a_wait_past_the_deadline_fails_at_once(
    server: PccsServer, params: CollateralParameters
) -> None:
    server.inject(Fault.http_status(503, headers={"Retry-After": "50"}), path=TCB)
    clock = Clock()
    error = fails(lambda: client(server, clock, deadline=30).get("tcb_info", params))
    assert "waiting 50 s to retry would pass the 30 s deadline" in str(error)
    assert error.status == 503
    assert clock.sleeps == []


def test_the_deadline_counts_the_waits(server: PccsServer, params: CollateralParameters) -> None:
    server.inject(Fault.http_status(503), path=TCB, times=None)
    clock = Clock()
    pcs = client(server, clock, deadline=25, backoff=10, retries=5)
    error = fails(lambda: pcs.get("tcb_info", params))
    # 10 s waited; the next wait (20 s) would end past the deadline (15 s left).
    assert clock.sleeps == [10.0]
    assert "waiting 20 s to retry would pass the 25 s deadline" in str(error)
    assert server.count(TCB) == 2
    assert pcs.requests_sent == 2


def test_deadline_option_everywhere(server: PccsServer) -> None:
    assert PcsClient(server.url).deadline == 60.0
    assert PcsClient(server.url, deadline=5).deadline == 5.0
    verifier = Verifier.pccs(server.url, deadline=7, cache=None)
    assert verifier.source is not None
    assert verifier.source.client.deadline == 7.0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "options",
    [
        {"deadline": 0},
        {"deadline": math.nan},
        {"timeout": math.inf},
        {"timeout": -1},
        {"retries": -1},
        {"backoff": math.nan},
        {"max_retry_after": -1.0},
        {"max_response_size": 0},
    ],
)
def test_options_are_validated(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        PcsClient("http://127.0.0.1:1", **options)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PcsClient("http://127.0.0.1:1", retries=True)


# --- connection refused ---------------------------------------------------------------


def test_connection_refused_fails_fast(params: CollateralParameters) -> None:
    # Before: retried with backoff, 1 + 2 + 4 s of sleeping on a closed local port.
    closed = PccsServer()
    closed.stop()
    clock = Clock()
    pcs = client(closed, clock, retries=3)
    error = fails(lambda: pcs.get("tcb_info", params))
    assert "ConnectError" in str(error)
    assert "Connection refused" in str(error)
    assert clock.sleeps == []
    assert pcs.requests_sent == 1


def test_a_dropped_connection_is_still_retried(
    server: PccsServer, params: CollateralParameters
) -> None:
    server.inject(Fault.dropped(10), path=TCB)
    clock = Clock()
    assert client(server, clock, retries=1).get("tcb_info", params).body.endswith(b'"}')
    assert clock.sleeps == [1.0]


# --- where the API key goes -----------------------------------------------------------


def headers_seen(server: PccsServer) -> list[dict[str, str]]:
    return [{k.lower(): v for k, v in r.headers.items()} for r in server.requests]


def test_cross_origin_redirect_does_not_carry_the_api_key(
    server: PccsServer, other: PccsServer, params: CollateralParameters
) -> None:
    # Before: httpx forwarded Ocp-Apim-Subscription-Key to the other host.
    server.inject(Fault.redirect(f"{other.url}{TCB}?fmspc=B0C06F000000"), path=TCB)
    response = client(server, api_key="secret").get("tcb_info", params)
    assert response.body.startswith(b'{"tcbInfo"')
    assert response.url == f"{server.url}{TCB}?fmspc=B0C06F000000"
    (asked,) = headers_seen(server)
    (redirected,) = headers_seen(other)
    assert asked[KEY.lower()] == "secret"
    assert KEY.lower() not in redirected
    assert HINT.lower() not in redirected
    assert redirected["accept-encoding"] == "identity"


def test_same_origin_redirect_keeps_the_api_key(
    server: PccsServer, params: CollateralParameters
) -> None:
    server.inject(Fault.redirect(f"{TCB}?fmspc=B0C06F000000&again=1", status=307), path=TCB)
    client(server, api_key="secret").get("tcb_info", params)
    assert [h[KEY.lower()] for h in headers_seen(server)] == ["secret", "secret"]
    assert server.requests[1].path.endswith("&again=1")


def test_another_port_or_host_is_another_origin(
    server: PccsServer, params: CollateralParameters
) -> None:
    # localhost is not 127.0.0.1, even on the same port.
    alias = server.url.replace("127.0.0.1", "localhost")
    server.inject(Fault.redirect(f"{alias}{TCB}?fmspc=B0C06F000000"), path=TCB)
    client(server, api_key="secret").get("tcb_info", params)
    assert [KEY.lower() in h for h in headers_seen(server)] == [True, False]


def test_root_ca_crl_from_another_origin_gets_no_api_key(
    server: PccsServer, other: PccsServer, params: CollateralParameters
) -> None:
    # Before: the key went with the Root CA CRL request to the user-supplied URL.
    pcs = client(server, api_key="secret", root_ca_crl_url=other.root_ca_crl_url)
    pcs.fetch(params)
    assert [h[KEY.lower()] for h in headers_seen(server)] == ["secret"] * 3
    assert [r.path for r in other.requests] == ["/IntelSGXRootCA.der"]
    assert KEY.lower() not in headers_seen(other)[0]


def test_origins() -> None:
    assert origin_of("HTTP://PCCS.example/x") == ("http", "pccs.example", 80)
    assert origin_of("https://pccs.example:443/") == ("https", "pccs.example", 443)
    assert origin_of("https://pccs.example:8081") == ("https", "pccs.example", 8081)
    assert origin_of("file:///etc/passwd") is None
    assert origin_of("http://[::1") is None


def test_the_hint_tells_a_pccs_what_and_when(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    source = PcsSource(client(server))
    when = datetime(2025, 6, 2, 3, 4, 5, tzinfo=timezone.utc)
    validator = ArtifactValidator(scenario.trust_root_der)
    source.collateral(params, now=when, validator=validator)
    hints = {h[HINT.lower()] for h in headers_seen(server)}
    assert hints == {"tee=tdx; fmspc=B0C06F000000; ca=platform; at=2025-06-02T03:04:05Z"}


# --- redirects --------------------------------------------------------------------------


def test_endless_redirects(server: PccsServer, params: CollateralParameters) -> None:
    server.inject(Fault.redirect(f"{TCB}?fmspc=B0C06F000000"), path=TCB, times=None)
    error = fails(lambda: client(server).get("tcb_info", params))
    assert "more than 5 redirects" in str(error)
    assert server.count(TCB) == 6


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("file:///etc/passwd", "non-http(s) URL"),
        ("ftp://127.0.0.1/x", "non-http(s) URL"),
    ],
)
def test_redirect_elsewhere_is_refused(
    server: PccsServer, params: CollateralParameters, location: str, message: str
) -> None:
    server.inject(Fault.redirect(location), path=TCB)
    error = fails(lambda: client(server).get("tcb_info", params))
    assert message in str(error)
    assert error.status == 302


def test_redirect_to_an_invalid_url(server: PccsServer, params: CollateralParameters) -> None:
    # httpx itself refuses the Location (RemoteProtocolError) before the client sees it.
    server.inject(Fault.redirect("http://[::1/x"), path=TCB)
    error = fails(lambda: client(server, retries=0).get("tcb_info", params))
    assert "location" in str(error).lower()
    fetch = fetch_of()
    fetch.request()
    with pytest.raises(CollateralFetchError, match="redirect to an invalid URL"):
        fetch.head(httpx.Response(302, headers={"Location": "http://[::1/x"}))


def test_redirect_without_location(server: PccsServer, params: CollateralParameters) -> None:
    server.inject(Fault.http_status(301), path=TCB)
    assert "0 Location headers" in str(fails(lambda: client(server).get("tcb_info", params)))


# --- bodies and headers ---------------------------------------------------------------


def test_compressed_response_is_refused(server: PccsServer, params: CollateralParameters) -> None:
    server.inject(Fault.header("Content-Encoding", "gzip"), path=TCB)
    error = fails(lambda: client(server).get("tcb_info", params))
    assert "compressed response" in str(error)
    assert headers_seen(server)[0]["accept-encoding"] == "identity"


def test_body_without_length_is_bounded(params: CollateralParameters) -> None:
    endless = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 300_000
    with ScriptedServer([endless]) as raw:
        error = fails(lambda: client(raw, max_response_size=100_000).get("tcb_info", params))
        assert "larger than 100000 bytes" in str(error)


def fetch_of(**options: object) -> Fetch:
    return Fetch(
        FetchOptions(**options),  # type: ignore[arg-type]
        "tcb_info",
        "https://pccs.example/tdx/certification/v4/tcb?fmspc=B0C06F000000",
        origin=("https", "pccs.example", 443),
        origin_headers={KEY: "secret"},
        server="PCS",
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def test_repeated_issuer_chain_header_is_refused() -> None:
    fetch = fetch_of()
    fetch.request()
    head = httpx.Response(
        200, headers=[(b"TCB-Info-Issuer-Chain", b"a"), (b"TCB-Info-Issuer-Chain", b"b")]
    )
    assert fetch.head(head) == READ_BODY
    with pytest.raises(CollateralFetchError, match="2 TCB-Info-Issuer-Chain headers"):
        fetch.done()


def test_server_text_in_messages_is_printable_and_bounded() -> None:
    fetch = fetch_of()
    fetch.request()
    head = httpx.Response(
        404,
        headers=[
            (b"Error-Message", b"\x1b[2J\x1b[31mgone" + b"!" * 5000),
            (b"Request-ID", b"\xff\xfe\x07id"),
        ],
    )
    with pytest.raises(CollateralFetchError) as raised:
        fetch.head(head)
    text = str(raised.value)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert len(text) < 700
    assert raised.value.request_id is not None
    assert raised.value.request_id.isprintable()


def test_retry_notices(server: PccsServer, params: CollateralParameters) -> None:
    notices: list[RetryNotice] = []
    server.inject(Fault.http_status(503), path=TCB, times=2)
    client(server, backoff=2, on_retry=notices.append).get("tcb_info", params)
    assert [str(n) for n in notices] == [
        "PCCS answered 503, retrying in 2 s (attempt 2 of 4)",
        "PCCS answered 503, retrying in 4 s (attempt 3 of 4)",
    ]
    assert notices[0].artifact == "tcb_info"
    # Intel's PCS is named PCS, and transport failures say what happened.
    fetch = fetch_of(retries=1)
    fetch.request()
    wait = fetch.transport_error(httpx.ReadTimeout("slow"))
    assert isinstance(wait, Wait)
    assert str(wait.notice) == "PCS timed out (ReadTimeout), retrying in 1 s (attempt 2 of 2)"


def test_the_key_goes_to_the_configured_origin_only_sans_io() -> None:
    fetch = fetch_of()
    assert fetch.request().headers == {KEY: "secret"}
    hop = httpx.Response(302, headers={"Location": "https://pccs.example:8443/elsewhere"})
    assert fetch.head(hop) == Redirect("https://pccs.example:8443/elsewhere")
    assert fetch.request().headers == {}
    back = httpx.Response(301, headers={"Location": "https://PCCS.example/back"})
    assert isinstance(fetch.head(back), Redirect)
    assert fetch.request().headers == {KEY: "secret"}
    downgrade = httpx.Response(308, headers={"Location": "http://pccs.example/plain"})
    fetch.head(downgrade)
    assert fetch.request().headers == {}


def test_clock_overflow_in_dates_is_contained() -> None:
    # A Retry-After date computed against a wall clock far in the past or future.
    when = email.utils.format_datetime(
        datetime(2030, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=5), usegmt=True
    )
    assert retry_after_seconds([when], -1e300) == 1e300
    assert retry_after_seconds([when], 1e300) == 0.0
    assert retry_after_seconds([when], math.inf) == 0.0
    assert retry_after_seconds([when], math.nan) == math.inf


def test_the_deadline_transport_still_verifies_tls() -> None:
    import ssl

    pcs = PcsClient()  # Intel's PCS over https; nothing is sent here
    pool = pcs._http._transport._pool  # type: ignore[attr-defined]
    assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert pool._ssl_context.check_hostname
    pcs.close()
