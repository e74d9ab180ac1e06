"""The synchronous PCS and ITA clients use the environment's proxies, as httpx's
asynchronous clients do, and keep their deadline through them.

A forwarding proxy on 127.0.0.1 (``tests/_proxy.py``) logs what it forwards; the
targets are the PCCS and ITA test servers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from _helpers import serving
from _proxy import ForwardProxy

from tdxquote._http_deadline import environment_proxies
from tdxquote.collateral import CollateralParameters, PcsClient
from tdxquote.errors import CollateralFetchError
from tdxquote.ita import ItaClient
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.ita import ItaServer
from tdxquote.testing.pccs import Fault, PccsServer

TCB = "/tdx/certification/v4/tcb"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"proxy tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


@pytest.fixture
def params(scenario: Scenario) -> CollateralParameters:
    return CollateralParameters.from_quote(scenario.quote)


def test_environment_patterns_follow_curls_no_proxy_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "proxy.example:3128")
    monkeypatch.setenv("ALL_PROXY", "http://all.example:8080")
    monkeypatch.setenv(
        "NO_PROXY", "10.0.0.1, ::1,localhost,.sub.example,plain.example,http://scheme.example"
    )
    assert environment_proxies() == {
        "https://": "http://proxy.example:3128",
        "all://": "http://all.example:8080",
        "all://10.0.0.1": None,
        "all://[::1]": None,
        "all://localhost": None,
        "all://*.sub.example": None,
        "all://*plain.example": None,
        "http://scheme.example": None,
    }
    monkeypatch.setenv("NO_PROXY", "internal.example,*")
    assert environment_proxies() == {}


def test_pcs_client_goes_through_the_environment_proxy(
    monkeypatch: pytest.MonkeyPatch,
    server: PccsServer,
    proxy: ForwardProxy,
    params: CollateralParameters,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with PcsClient(server.url) as pcs:
        response = pcs.get("tcb_info", params)
    assert b'"tcbInfo"' in response.body
    assert [method for method, _ in proxy.log] == ["GET"]
    assert proxy.log[0][1].startswith(f"{server.url}{TCB}?fmspc=")
    assert server.count(TCB) == 1


def test_no_proxy_hosts_are_reached_directly(
    monkeypatch: pytest.MonkeyPatch,
    server: PccsServer,
    proxy: ForwardProxy,
    params: CollateralParameters,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with PcsClient(server.url) as pcs:
        assert b'"tcbInfo"' in pcs.get("tcb_info", params).body
    assert proxy.log == []
    assert server.count(TCB) == 1


def test_the_deadline_holds_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
    server: PccsServer,
    proxy: ForwardProxy,
    params: CollateralParameters,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    server.inject(Fault.trickled(0.05), path=TCB)
    with (
        PcsClient(server.url, timeout=1, deadline=0.3, retries=3) as pcs,
        pytest.raises(CollateralFetchError, match=r"0\.3 s deadline"),
    ):
        pcs.get("tcb_info", params)
    assert len(proxy.log) == 1
    assert server.trickled_bytes < 200  # of ~1 KiB: the client gave up


def test_an_explicit_transport_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    server: PccsServer,
    proxy: ForwardProxy,
    params: CollateralParameters,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with PcsClient(server.url, transport=httpx.HTTPTransport()) as pcs:
        assert b'"tcbInfo"' in pcs.get("tcb_info", params).body
    assert proxy.log == []


def test_ita_client_goes_through_the_environment_proxy(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with ItaServer() as ita_server, ItaClient(ita_server.config()) as ita:
        nonce = ita.nonce()
    assert nonce.val
    assert [method for method, _ in proxy.log] == ["GET"]
    assert proxy.log[0][1].startswith(ita_server.config().api_url)


def test_a_socks_proxy_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(ValueError, match="socks5:// is not supported by the synchronous") as caught:
        PcsClient("https://pccs.example")
    assert "from the environment (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY)" in str(caught.value)


def test_a_dead_proxy_is_named_without_its_credentials(
    monkeypatch: pytest.MonkeyPatch, params: CollateralParameters
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://user:secret@127.0.0.1:{port}")
    with (
        PcsClient("http://pccs.example", retries=0) as pcs,
        pytest.raises(CollateralFetchError) as caught,
    ):
        pcs.get("tcb_info", params)
    message = str(caught.value)
    assert f"(through proxy http://127.0.0.1:{port})" in message
    assert "secret" not in message


@pytest.mark.parametrize(
    ("proxy", "message"),
    [
        ("http://user:secret@host:abc", "a proxy URL is malformed: Invalid port"),
        ("http://", "a proxy URL names no host"),
        ("http://host\x01", "a proxy URL is malformed"),
    ],
)
def test_a_malformed_proxy_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, proxy: str, message: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with pytest.raises(ValueError, match=message) as caught:
        PcsClient("https://pccs.example")
    assert "from the environment" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    "source", [["--pccs", "http://127.0.0.1:9"], ["--ita-region", "us", "--ita-api-key", "k"]]
)
def test_the_cli_refuses_a_malformed_proxy_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], source: list[str]
) -> None:
    from conftest import REPO_ROOT

    from tdxquote.cli import main

    monkeypatch.setenv("HTTP_PROXY", "http://user:secret@host:abc")
    quote = str(REPO_ROOT / "vectors" / "synthetic" / "tdx_v4.quote")
    assert main(["verify", quote, *source]) == 2
    err = capsys.readouterr().err
    assert "a proxy URL is malformed" in err
    assert "Traceback" not in err
    assert "secret" not in err
