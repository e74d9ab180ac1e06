"""The ITA client's HTTP rules: retries, deadline, size caps, redirects, the origin-bound key."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tdxquote._quote import Quote
from tdxquote.errors import ItaFetchError, ItaTokenError, VerificationError
from tdxquote.ita import (
    MAX_NONCE_SIZE,
    AsyncItaClient,
    HttpSettings,
    ItaClient,
    ItaConfig,
)
from tdxquote.ita._transport import (
    ApiKey,
    HttpRequest,
    HttpTransport,
    check_service_url,
    origin_of,
    retry_after_seconds,
)
from tdxquote.testing.forge import QuoteForge, td_report
from tdxquote.testing.ita import ITA_TEST_API_KEY, ItaFault, ItaServer

ATTEST = "/appraisal/v2/attest"
NONCE = "/appraisal/v2/nonce"


@pytest.fixture(scope="module")
def quote() -> Quote:
    return QuoteForge.create(seed=b"ita transport tests").quote(td_report(report_data=b"t"))


@pytest.fixture
def server() -> Iterator[ItaServer]:
    with ItaServer() as running:
        yield running


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class AsyncSleeps(Sleeps):
    async def __call__(self, seconds: float) -> None:  # type: ignore[override]
        self.calls.append(seconds)


def client(server: ItaServer, sleep: Sleeps | None = None, **http: float) -> ItaClient:
    settings = HttpSettings(**http)  # type: ignore[arg-type]
    return ItaClient(server.config(http=settings), sleep=sleep or Sleeps())


def fetch_error(call: object) -> ItaFetchError:
    with pytest.raises(ItaFetchError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- retries ----------------------------------------------------------------------------------


def test_500s_are_retried_with_backoff(server: ItaServer, quote: Quote) -> None:
    sleeps = Sleeps()
    server.inject(ItaFault.http_status(500), path=ATTEST, times=2)
    with client(server, sleeps, backoff=0.5) as ita:
        assert ita.attest(quote)
    assert sleeps.calls == [0.5, 1.0]
    assert server.count(ATTEST) == 3


def test_a_persistent_500_is_a_fetch_error_not_a_verdict(server: ItaServer, quote: Quote) -> None:
    server.inject(ItaFault.http_status(500, body=b"appraisal failed"), path=ATTEST, times=None)
    with client(server, retries=2) as ita:
        error = fetch_error(lambda: ita.attest(quote))
    assert error.code == "ita_fetch_failed"
    assert error.status == 500
    assert "appraisal failed" in error.message
    assert error.request_id
    assert not isinstance(error, VerificationError)
    assert server.count(ATTEST) == 3


def test_a_400_is_not_retried(server: ItaServer) -> None:
    with client(server) as ita:
        error = fetch_error(lambda: ita.attest(b"not a quote"))
    assert error.status == 400
    assert "invalid quote" in error.message
    assert server.count(ATTEST) == 1


def test_a_wrong_api_key_is_a_401(server: ItaServer, quote: Quote) -> None:
    config = server.config(api_key="wrong")
    with ItaClient(config) as ita:
        error = fetch_error(lambda: ita.attest(quote))
    assert error.status == 401


def test_retry_after_is_honoured(server: ItaServer, quote: Quote) -> None:
    sleeps = Sleeps()
    server.inject(ItaFault.http_status(429, headers={"Retry-After": "7"}), path=ATTEST)
    with client(server, sleeps) as ita:
        ita.attest(quote)
    assert sleeps.calls == [7.0]


@pytest.mark.parametrize("value", ["\u00b2", "-5", "1e3", "3.5", " ", "x" * 500, "Mon, 99 Foo"])
def test_an_unreadable_retry_after_means_the_normal_backoff(
    server: ItaServer, quote: Quote, value: str
) -> None:
    sleeps = Sleeps()
    server.inject(ItaFault.http_status(503, headers={"Retry-After": value}), path=ATTEST)
    with client(server, sleeps, backoff=0.25) as ita:
        ita.attest(quote)
    assert sleeps.calls == [0.25]


@pytest.mark.parametrize("value", ["999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_huge_retry_after_gives_up_at_once(server: ItaServer, quote: Quote, value: str) -> None:
    sleeps = Sleeps()
    server.inject(ItaFault.http_status(503, headers={"Retry-After": value}), path=ATTEST)
    with client(server, sleeps) as ita:
        error = fetch_error(lambda: ita.attest(quote))
    assert "retry after" in error.message
    assert sleeps.calls == []
    assert server.count(ATTEST) == 1


def test_a_retry_past_the_deadline_is_not_waited_for(server: ItaServer, quote: Quote) -> None:
    sleeps = Sleeps()
    server.inject(ItaFault.http_status(503, headers={"Retry-After": "30"}), path=ATTEST)
    with client(server, sleeps, deadline=10) as ita:
        error = fetch_error(lambda: ita.attest(quote))
    assert error.code == "ita_deadline_exceeded"
    assert sleeps.calls == []


def test_a_refused_connection_fails_at_once() -> None:
    sleeps = Sleeps()
    config = ItaConfig(
        api_url=f"http://127.0.0.1:{closed_port()}",
        portal_url="http://127.0.0.1:9",
        api_key="k",
    )
    with ItaClient(config, sleep=sleeps) as ita:
        error = fetch_error(ita.nonce)
    assert error.code == "ita_fetch_failed"
    assert "ConnectError" in error.message
    assert sleeps.calls == []


def test_retry_after_seconds() -> None:
    assert retry_after_seconds("12", now=0) == 12.0
    assert retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", now=40) == 60.0
    assert retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", now=400) == 0.0
    for bad in (None, "", "1" * 13, "\u0661", "+1", "Thu, 01 Jan 1970 00:01:40"):
        assert retry_after_seconds(bad, now=0) is None


# --- deadline and timeouts --------------------------------------------------------------------


def test_a_trickling_server_is_cut_off_at_the_deadline(server: ItaServer, quote: Quote) -> None:
    # One byte every 50 ms: no read ever times out, the total deadline ends it.
    server.inject(ItaFault.trickle(0.05), path=ATTEST)
    with client(server, deadline=0.5, timeout=5) as ita:
        error = fetch_error(lambda: ita.attest(quote))
    assert error.code == "ita_deadline_exceeded"
    assert "still arriving" in error.message


def test_a_hung_server_times_out_and_is_retried(server: ItaServer, quote: Quote) -> None:
    sleeps = Sleeps()
    server.inject(ItaFault.hung(), path=NONCE)
    with client(server, sleeps, timeout=0.2, backoff=0) as ita:
        assert ita.nonce().val
    assert sleeps.calls == [0.0]
    assert server.count(NONCE) == 2


def test_a_hung_server_past_the_deadline(server: ItaServer) -> None:
    server.inject(ItaFault.hung(), path=NONCE, times=None)
    with client(server, timeout=5, deadline=0.3) as ita:
        error = fetch_error(ita.nonce)
    assert error.code == "ita_deadline_exceeded"


# --- sizes and malformed responses ------------------------------------------------------------


def test_an_oversized_nonce_is_refused(server: ItaServer) -> None:
    server.inject(ItaFault.replace_body(b"{" + b" " * MAX_NONCE_SIZE + b"}"), path=NONCE)
    with client(server) as ita:
        error = fetch_error(ita.nonce)
    assert error.code == "ita_response_too_large"


def test_an_oversized_streamed_body_is_refused_while_reading() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=iter([b"x" * 1024] * 100))  # no Content-Length

    request = HttpRequest("GET", "https://ita.example/x", "test", max_size=10_000)
    with HttpTransport(transport=httpx.MockTransport(handler)) as http:
        error = fetch_error(lambda: http.send(request))
    assert error.code == "ita_response_too_large"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (ATTEST, b"not json"),
        (ATTEST, b'{"token": 5}'),
        (ATTEST, b"[1]"),
        (ATTEST, b"[" * 50_000),
        (NONCE, b'{"val": "AA==", "iat": "AA==", "signature": "AA==", "extra": 1}'),
        (NONCE, b'{"val": "@@", "iat": "AA==", "signature": "AA=="}'),
    ],
)
def test_malformed_responses_are_fetch_errors(
    server: ItaServer, quote: Quote, path: str, body: bytes
) -> None:
    server.inject(ItaFault.replace_body(body), path=path)
    with client(server) as ita:
        error = fetch_error(lambda: ita.attest(quote) if path == ATTEST else ita.nonce())
    assert error.code == "ita_response_malformed"


# --- the API key and redirects ---------------------------------------------------------------


def test_the_api_key_goes_to_the_api_only(server: ItaServer, quote: Quote) -> None:
    with client(server) as ita:
        ita.appraise(quote, now=server.now + timedelta(seconds=1))
    api = [r for r in server.requests if r.role == "api"]
    portal = [r for r in server.requests if r.role == "portal"]
    assert api
    assert portal
    assert all(r.header("x-api-key") == ITA_TEST_API_KEY for r in api)
    assert all(r.header("x-api-key") is None for r in portal)


def test_a_cross_origin_redirect_loses_the_api_key(server: ItaServer, quote: Quote) -> None:
    with ItaServer(api_key=None, root_label="ita-redirected") as other:
        server.inject(ItaFault.redirect(f"{other.api_url}{ATTEST}", 307), path=ATTEST)
        # The other server's token is not signed by this portal's keys: refused.
        with client(server) as ita, pytest.raises(ItaTokenError):
            ita.appraise(quote, now=server.now + timedelta(seconds=1))
        (followed,) = other.requests
    assert followed.method == "POST"
    assert followed.body  # 307 keeps the body
    assert followed.header("x-api-key") is None


def test_a_same_origin_redirect_keeps_the_api_key(server: ItaServer, quote: Quote) -> None:
    server.inject(ItaFault.redirect(f"{server.api_url}{ATTEST}?again=1", 308), path=ATTEST)
    with client(server) as ita:
        assert ita.attest(quote)
    first, second = (r for r in server.requests if r.role == "api")
    assert first.header("x-api-key") == second.header("x-api-key") == ITA_TEST_API_KEY


def test_a_redirect_to_the_portal_loses_the_api_key(server: ItaServer) -> None:
    server.inject(ItaFault.redirect(f"{server.portal_url}/certs", 302), path=NONCE)
    with client(server) as ita:
        fetch_error(ita.nonce)  # the key set is not a nonce
    (portal,) = [r for r in server.requests if r.role == "portal"]
    assert portal.header("x-api-key") is None


def test_a_post_is_never_turned_into_a_get(server: ItaServer, quote: Quote) -> None:
    server.inject(ItaFault.redirect(f"{server.api_url}/elsewhere", 302), path=ATTEST)
    with client(server) as ita:
        error = fetch_error(lambda: ita.attest(quote))
    assert error.code == "ita_redirect_refused"
    assert server.count("/elsewhere") == 0


def test_redirect_loops_end(server: ItaServer) -> None:
    server.inject(ItaFault.redirect(f"{server.api_url}{NONCE}", 302), path=NONCE, times=None)
    with client(server, max_redirects=3) as ita:
        error = fetch_error(ita.nonce)
    assert error.code == "ita_redirect_refused"
    assert server.count(NONCE) == 4


def test_https_to_http_redirects_only_for_signed_content() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.scheme == "https":
            return httpx.Response(302, headers={"Location": "http://ita.example/next"})
        return httpx.Response(200, content=b"{}")

    key = ApiKey(origin_of("https://ita.example"), "x-api-key", "secret")
    with HttpTransport(api_key=key, transport=httpx.MockTransport(handler)) as http:
        secret = HttpRequest("GET", "https://ita.example/a", "nonce", 100, secret=True)
        error = fetch_error(lambda: http.send(secret))
        assert error.code == "ita_redirect_refused"
        crl = HttpRequest("GET", "https://ita.example/b", "crl", 100, signed=True)
        assert http.send(crl).url == "http://ita.example/next"
    assert seen[0].headers["x-api-key"] == "secret"
    assert all("x-api-key" not in r.headers for r in seen[1:])


def test_the_key_is_bound_to_scheme_host_and_port() -> None:
    key = ApiKey(origin_of("https://api.example"), "x-api-key", "k3y")
    assert key.headers_for(httpx.URL("https://API.example:443/x")) == {"x-api-key": "k3y"}
    for other in ("http://api.example/x", "https://api.example:8443/x", "https://x.example/"):
        assert key.headers_for(httpx.URL(other)) == {}
    assert "k3y" not in repr(key)
    assert "secret" not in repr(ItaConfig(api_key="secret"))


@pytest.mark.parametrize(
    "url",
    [
        "http://ita.example",
        "ftp://127.0.0.1",
        "https://user:pw@ita.example",
        "https://ita.example/?q=1",
        "",
        "https://",
    ],
)
def test_service_urls_are_https_or_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="test"):
        check_service_url(url, "test")


def test_loopback_http_is_allowed() -> None:
    for url in ("http://127.0.0.1:8080/", "http://[::1]:1", "http://localhost"):
        assert not check_service_url(url, "test").endswith("/")


# --- async ------------------------------------------------------------------------------------


def test_async_retries_and_trickle(server: ItaServer, quote: Quote) -> None:
    sleeps = AsyncSleeps()
    server.inject(ItaFault.http_status(502), path=ATTEST)
    server.inject(ItaFault.trickle(0.05), path=NONCE)
    config = server.config(http=HttpSettings(deadline=0.5, backoff=0.125))

    async def run() -> tuple[str, ItaFetchError]:
        async with AsyncItaClient(config, sleep=sleeps) as ita:
            token = await ita.attest(quote)
            try:
                await ita.nonce()
            except ItaFetchError as error:
                return token, error
        raise AssertionError("the trickle was not cut off")

    token, error = asyncio.run(run())
    assert token.count(".") == 2
    assert sleeps.calls == [0.125]
    assert error.code == "ita_deadline_exceeded"


def test_async_refused_connection_and_redirect(server: ItaServer) -> None:
    sleeps = AsyncSleeps()
    dead = ItaConfig(api_url=f"http://127.0.0.1:{closed_port()}", api_key="k")

    async def refused() -> None:
        async with AsyncItaClient(dead, sleep=sleeps) as ita:
            await ita.nonce()

    assert fetch_error(lambda: asyncio.run(refused())).code == "ita_fetch_failed"
    assert sleeps.calls == []

    server.inject(ItaFault.redirect(f"{server.portal_url}/certs", 307), path=NONCE)

    async def redirected() -> None:
        async with AsyncItaClient(server.config()) as ita:
            await ita.nonce()

    fetch_error(lambda: asyncio.run(redirected()))
    (portal,) = [r for r in server.requests if r.role == "portal"]
    assert portal.header("x-api-key") is None
