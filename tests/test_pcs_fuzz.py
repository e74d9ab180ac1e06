"""Fuzz target: HTTP responses -> client.

Hypothesis builds status codes, headers (Retry-After, Content-Type, Content-Length,
Content-Encoding, Location, the PCS issuer-chain headers with hostile URL-encoding,
Intel's error headers) and bodies (random, or real responses mutated), and feeds them to
the sans-IO response handling the sync and async clients share, then to the parser of
what it returns.  Only CollateralFetchError may come out (parse errors are wrapped in it).
A handful go through a real loopback server and the real client.

``HYPOTHESIS_PROFILE=fuzz`` runs the sans-IO target for 100,000 examples.
"""

from __future__ import annotations

import email.utils

import httpx
from _helpers import budget
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxquote.collateral import CollateralParameters, PcsClient
from tdxquote.collateral._exchange import (
    ARTIFACTS,
    ISSUER_CHAIN_HEADERS,
    READ_BODY,
    Artifact,
    Fetch,
    FetchOptions,
    PcsResponse,
    Redirect,
    Wait,
)
from tdxquote.collateral._source import parse_response
from tdxquote.errors import CollateralFetchError
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.pccs import ScriptedServer, bundle_replies, encode_issuer_chain

_SCENARIO = QuoteForge.create(seed=b"pcs fuzz").scenario()
_REPLIES = bundle_replies(_SCENARIO.to_collateral())
_KINDS: dict[Artifact, str] = {
    "tcb_info": "tcb",
    "qe_identity": "qe",
    "pck_crl": "pckcrl",
    "root_ca_crl": "rootcacrl",
}
_CHAIN = encode_issuer_chain(_SCENARIO.collateral.tcb_info_issuer_chain)
_PARAMS = CollateralParameters("tdx", "B0C06F000000", "platform")

_NAMES = [
    "Retry-After",
    "Content-Type",
    "Content-Length",
    "Content-Encoding",
    "Location",
    "Request-ID",
    "Error-Code",
    "Error-Message",
    *{name for names in ISSUER_CHAIN_HEADERS.values() for name in names},
]


@st.composite
def hostile_chain(draw: st.DrawFn) -> bytes:
    """A real issuer-chain header value with hostile percent-encoding edits."""
    text = _CHAIN
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(
            st.sampled_from(
                [
                    "%",
                    "%Z",
                    "%ZZ",
                    "%2",
                    "%00",
                    "%FF%FE",
                    "%C3%28",
                    "+",
                    "%0A%0A",
                    "%25",
                    "\xe9",
                    "",
                ]
            )
        )
        cut = draw(st.integers(0, 3))
        text = text[:at] + edit + text[at + cut :]
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode("latin-1", "replace")


_VALUES = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
    st.sampled_from(
        [
            b"\xc2\xb2",
            b"\xd9\xa3",
            b"-5",
            b"NaN",
            b"1e400",
            b"9" * 400,
            b"0",
            b"gzip",
            b"identity",
            b"application/json",
            b"http://[::1/x",
            b"file:///etc/passwd",
            b"/tdx/certification/v4/tcb?fmspc=B0C06F000000",
            b"https://elsewhere.example/x",
            b"Fri, 31 Dec 99999999999999999999 23:59:59 GMT",
            b"Fri, 31 Dec 9999 23:59:59 GMT",
            b"\x1b[2J",
        ]
    ),
    st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()),
    st.datetimes().map(lambda d: email.utils.format_datetime(d).encode()),
    hostile_chain(),
)


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    name = st.one_of(
        st.sampled_from(_NAMES),
        st.text("abcdefghijklmnopqrstuvwxyz-ABC", min_size=1, max_size=12),
    )
    return draw(st.lists(st.tuples(name.map(str.encode), _VALUES), max_size=8))


@st.composite
def bodies(draw: st.DrawFn, artifact: Artifact) -> bytes:
    real = _REPLIES[_KINDS[artifact]].body
    if artifact == "root_ca_crl" and draw(st.booleans()):
        real = real.hex().encode()  # as a PCCS serves it
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=300))
    if choice == 1:
        return real
    data = bytearray(real)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if choice == 3:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


_STATUSES = st.one_of(
    st.sampled_from([200, 200, 200, 301, 302, 303, 307, 308, 404, 410, 429, 500, 503]),
    st.integers(100, 999),
)


def _options(data: st.DataObject) -> FetchOptions:
    return FetchOptions(
        retries=data.draw(st.integers(0, 3)),
        max_response_size=data.draw(st.sampled_from([64, 4096, 4 << 20])),
    )


@budget(300)
@given(data=st.data())
def test_hostile_responses_give_a_response_or_a_fetch_error(data: st.DataObject) -> None:
    artifact = data.draw(st.sampled_from(ARTIFACTS))
    fetch = Fetch(
        _options(data),
        artifact,
        "https://pccs.example/x",
        origin=("https", "pccs.example", 443),
        origin_headers={"Ocp-Apim-Subscription-Key": "secret"},
        clock=lambda: 1_750_000_000.0,
        monotonic=lambda: 0.0,
    )
    raw_headers = data.draw(headers())
    if data.draw(st.booleans()):
        names = ISSUER_CHAIN_HEADERS[artifact]
        if names:
            raw_headers.append((data.draw(st.sampled_from(names)).encode(), _CHAIN.encode()))
    body = data.draw(bodies(artifact))
    try:
        fetch.request()
        action = fetch.head(httpx.Response(data.draw(_STATUSES), headers=raw_headers))
        if isinstance(action, (Redirect, Wait)):
            assert fetch.request().url.startswith(("http://", "https://"))
            return
        assert action == READ_BODY
        cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=4)))
        for start, end in zip([0, *cuts], [*cuts, len(body)], strict=True):
            fetch.chunk(body[start:end])
        response = fetch.done()
        assert isinstance(response, PcsResponse)
        parse_response(response)
    except CollateralFetchError:
        pass


@budget(200)
@given(
    error=st.sampled_from(
        [
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.ReadTimeout,
            httpx.WriteTimeout,
            httpx.PoolTimeout,
            httpx.ReadError,
            httpx.WriteError,
            httpx.CloseError,
            httpx.RemoteProtocolError,
            httpx.LocalProtocolError,
            httpx.UnsupportedProtocol,
            httpx.ProxyError,
            httpx.DecodingError,
            httpx.TooManyRedirects,
        ]
    ),
    text=st.text(max_size=60),
    retries=st.integers(0, 2),
)
def test_transport_errors_give_a_wait_or_a_fetch_error(
    error: type[httpx.HTTPError], text: str, retries: int
) -> None:
    fetch = Fetch(
        FetchOptions(retries=retries),
        "tcb_info",
        "https://pccs.example/x",
        origin=None,
        origin_headers={},
        monotonic=lambda: 0.0,
    )
    for _ in range(retries + 1):
        fetch.request()
        try:
            wait = fetch.transport_error(error(text))
        except CollateralFetchError as exc:
            message = str(exc)
            break
        assert isinstance(wait, Wait)
        assert wait.seconds >= 0
    else:
        raise AssertionError("more attempts than retries allowed")
    assert message.isprintable()


@st.composite
def raw_responses(draw: st.DrawFn) -> bytes:
    status = draw(st.integers(100, 999))
    lines = [b"HTTP/1.1 %d Fuzz" % status]
    for name, value in draw(headers()):
        if name.lower() in (b"content-length", b"transfer-encoding", b"connection"):
            continue
        if name.lower() == b"location" and b"//" in value:
            continue  # no network beyond loopback: redirects stay on this server
        lines.append(name + b": " + value.strip())
    body = draw(bodies("tcb_info"))
    lines.append(b"Content-Length: %d" % len(body))
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(response=raw_responses())
def test_hostile_responses_over_loopback(response: bytes) -> None:
    with ScriptedServer([response]) as server:
        client = PcsClient(
            server.url, retries=1, timeout=0.3, deadline=0.6, sleep=lambda _: None, api_key="k"
        )
        try:
            got = client.get("tcb_info", _PARAMS)
            parse_response(got)
        except CollateralFetchError:
            pass
        finally:
            client.close()
        assert 1 <= len(server.requests) <= 8  # retries and redirect hops are bounded
