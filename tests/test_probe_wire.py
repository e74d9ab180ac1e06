"""``tdxquote.ratls._probe``: the SSLRequest exchange, TLS, the chain, and each failure's code."""

from __future__ import annotations

import pickle
import socket
import ssl
import time
from pathlib import Path

import pytest
from probe_servers import FakeServer, TestCa, refused_port

from tdxquote.errors import TdxQuoteError
from tdxquote.ratls._probe import (
    ALPN_POSTGRESQL,
    PROBE_ERROR_CODES,
    SSL_REQUEST,
    PeerChain,
    ProbeError,
    check_ssl_response,
    fetch_chain,
    parse_target,
)

SHORT = 5.0  # generous: only the timeout test waits for it, with its own shorter value


def test_ssl_request_bytes() -> None:
    # Int32 length 8, Int32 1234 << 16 | 5679 (PostgreSQL protocol, "SSLRequest").
    assert bytes.fromhex("0000000804d2162f") == SSL_REQUEST


@pytest.mark.parametrize(
    ("answer", "code", "needle"),
    [
        (b"N", "probe_refused_ssl", "answered 'N'"),
        (b"", "probe_closed", "closed the connection instead of answering"),
        (b"\x15", "probe_protocol", "try --direct-tls"),
        (b"\x16", "probe_protocol", "try --direct-tls"),
        (b"E", "probe_protocol", "does not understand SSLRequest"),
        (b"H", "probe_protocol", "expected 'S' or 'N'"),
    ],
)
def test_ssl_response_refusals(answer: bytes, code: str, needle: str) -> None:
    with pytest.raises(ProbeError) as caught:
        check_ssl_response(answer, host="db", port=5433)
    assert caught.value.code == code
    assert needle in str(caught.value)
    assert str(caught.value).startswith("db:5433: ")


def test_ssl_response_s_passes() -> None:
    check_ssl_response(b"S")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("db.example", ("db.example", 5433)),
        ("db.example:5432", ("db.example", 5432)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("[::1]:6543", ("::1", 6543)),
        ("[::1]", ("::1", 5433)),
        ("::1", ("::1", 5433)),
    ],
)
def test_parse_target(text: str, expected: tuple[str, int]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    "text", ["", ":5432", "db:", "db:0", "db:65536", "db:port", "[::1", "[::1]x", "[]:5432"]
)
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"port|host|IPv6|':PORT'"):
        parse_target(text)


def test_probe_error_is_a_tdxquote_error_and_pickles() -> None:
    error = ProbeError("db:1: nope", code="probe_timeout", host="db", port=1)
    assert isinstance(error, TdxQuoteError)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.code, clone.host, clone.port, str(clone)) == (
        "probe_timeout",
        "db",
        1,
        "db:1: nope",
    )
    assert clone.to_dict() == {
        "code": "probe_timeout",
        "message": "db:1: nope",
        "host": "db",
        "port": 1,
    }
    with pytest.raises(ValueError, match="unknown probe error code"):
        ProbeError("x", code="probe_whatever")
    assert set(PROBE_ERROR_CODES) >= {
        "probe_refused_ssl",
        "probe_closed",
        "probe_timeout",
        "probe_connect",
        "probe_tls",
    }


def test_peer_chain_root_and_pem() -> None:
    ca = TestCa()
    chain = PeerChain("h", 1, False, tuple(ca.chain_der))
    assert chain.leaf == ca.chain_der[0]
    assert chain.root == ca.chain_der[1]
    assert chain.chain_pem().count(b"-----BEGIN CERTIFICATE-----") == 2
    assert ssl.PEM_cert_to_DER_cert(chain.root_pem().decode()) == ca.chain_der[1]
    assert chain.to_dict()["mode"] == "sslrequest"
    assert chain.to_dict()["chain_length"] == 2


# servers that refuse, close, stay silent, or are not there


def _answer(reply: bytes) -> FakeServer:
    def handler(conn: socket.socket, server: FakeServer) -> None:
        server.read_exactly(conn, len(SSL_REQUEST))
        conn.sendall(reply)

    return FakeServer(handler)


def _probe_error(target_port: int, **options: object) -> ProbeError:
    with pytest.raises(ProbeError) as caught:
        fetch_chain("127.0.0.1", target_port, **options)  # type: ignore[arg-type]
    return caught.value


def test_server_answering_n() -> None:
    with _answer(b"N") as server:
        error = _probe_error(server.port, timeout=SHORT)
    assert error.code == "probe_refused_ssl"
    assert (error.host, error.port) == ("127.0.0.1", server.port)
    assert server.received == [SSL_REQUEST]


def test_server_closing_at_once() -> None:
    with FakeServer(lambda conn, server: None) as server:
        error = _probe_error(server.port, timeout=SHORT)
    assert error.code == "probe_closed"


def test_server_never_answering_times_out() -> None:
    with FakeServer(lambda conn, server: server.release.wait(10)) as server:
        started = time.monotonic()
        error = _probe_error(server.port, timeout=0.3)
        elapsed = time.monotonic() - started
    assert error.code == "probe_timeout"
    assert "timed out after 0.3 s waiting for the answer to the SSLRequest" in str(error)
    assert elapsed < 3


def test_server_silent_after_s_times_out_in_handshake() -> None:
    def handler(conn: socket.socket, server: FakeServer) -> None:
        server.read_exactly(conn, len(SSL_REQUEST))
        conn.sendall(b"S")
        server.release.wait(10)

    with FakeServer(handler) as server:
        error = _probe_error(server.port, timeout=0.3)
    assert error.code == "probe_timeout"
    assert "TLS handshake" in str(error)


def test_connection_refused() -> None:
    with refused_port() as holder:
        error = _probe_error(holder.getsockname()[1], timeout=SHORT)
    assert error.code == "probe_connect"
    assert "cannot connect" in str(error)


def test_bytes_after_s_are_refused() -> None:
    # CVE-2021-23222: whatever follows 'S' before the handshake could be injected.
    def handler(conn: socket.socket, server: FakeServer) -> None:
        server.read_exactly(conn, len(SSL_REQUEST))
        conn.sendall(b"SXXXX")
        server.release.wait(10)

    with FakeServer(handler) as server:
        error = _probe_error(server.port, timeout=SHORT)
    assert error.code == "probe_protocol"
    assert "after 'S'" in str(error)


def test_s_then_not_tls() -> None:
    def handler(conn: socket.socket, server: FakeServer) -> None:
        server.read_exactly(conn, len(SSL_REQUEST))
        conn.sendall(b"S")
        conn.recv(4096)  # the ClientHello
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    with FakeServer(handler) as server:
        error = _probe_error(server.port, timeout=SHORT)
    assert error.code == "probe_tls"
    assert "TLS handshake failed" in str(error)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        fetch_chain("127.0.0.1", 1, timeout=0)


# TLS servers: after 'S', and TLS first with ALPN


def _tls_server(
    context: ssl.SSLContext, *, ssl_request: bool, alpn_seen: list[str | None]
) -> FakeServer:
    def handler(conn: socket.socket, server: FakeServer) -> None:
        if ssl_request:
            server.read_exactly(conn, len(SSL_REQUEST))
            conn.sendall(b"S")
        with context.wrap_socket(conn, server_side=True) as tls:
            alpn_seen.append(tls.selected_alpn_protocol())
            tls.recv(1)  # until the client closes

    return FakeServer(handler)


def test_chain_after_ssl_request(tmp_path: Path) -> None:
    ca = TestCa()
    alpn: list[str | None] = []
    with _tls_server(ca.server_context(tmp_path), ssl_request=True, alpn_seen=alpn) as server:
        chain = fetch_chain("127.0.0.1", server.port, timeout=SHORT)
    assert server.received == [SSL_REQUEST]
    assert list(chain.certificates) == ca.chain_der
    assert chain.direct_tls is False
    assert chain.alpn is None
    assert alpn == [None]
    assert chain.tls_version in {"TLSv1.2", "TLSv1.3"}


def test_direct_tls_offers_alpn_postgresql(tmp_path: Path) -> None:
    ca = TestCa()
    alpn: list[str | None] = []
    context = ca.server_context(tmp_path, alpn=[ALPN_POSTGRESQL])
    with _tls_server(context, ssl_request=False, alpn_seen=alpn) as server:
        chain = fetch_chain("127.0.0.1", server.port, direct_tls=True, timeout=SHORT)
    assert list(chain.certificates) == ca.chain_der
    assert chain.alpn == ALPN_POSTGRESQL
    assert alpn == [ALPN_POSTGRESQL]
    assert chain.to_dict()["mode"] == "direct-tls"
    assert server.received == []


def test_ssl_request_to_a_direct_tls_server(tmp_path: Path) -> None:
    ca = TestCa()
    context = ca.server_context(tmp_path, alpn=[ALPN_POSTGRESQL])
    with _tls_server(context, ssl_request=False, alpn_seen=[]) as server:
        error = _probe_error(server.port, timeout=SHORT)
    # OpenSSL hangs up on the 8 bytes (a reset: it left some unread).
    assert error.code == "probe_closed"
    assert "during the SSLRequest" in str(error)
    assert "try --direct-tls" in str(error)
