"""``tdxquote probe``: usage errors, servers that fail, and a TLS-first server with ALPN."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT
from probe_servers import FakeServer, refused_port, verification_args

from tdxquote.cli import main
from tdxquote.ratls._probe import ALPN_POSTGRESQL, PROBE_ERROR_CODES, SSL_REQUEST
from tdxquote.testing.pki import derive_key
from tdxquote.testing.ratls import server_certificate

SERVER_KEY = derive_key(b"tdxquote probe cli tests", "server")


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["probe", *args])
    out, err = capsys.readouterr()
    return code, out, err


def probe_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and the report; with no report, ``{"error": ...}`` (details merged in)."""
    code, out, _ = probe(capsys, "--json", *args)
    document = json.loads(out)
    assert (document["schema"], document["command"]) == ("tdxquote/1", "probe")
    assert document["ok"] is (code == 0)
    if document["result"] is not None:
        report: dict[str, Any] = document["result"]
        return code, report
    error = document["error"]
    assert error["kind"] == ("unavailable" if error["code"].startswith("probe_") else "bad_input")
    flat = {key: value for key, value in error.items() if key != "details"}
    return code, {"error": {**error["details"], **flat}}


@pytest.fixture(scope="module")
def verify_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return verification_args(tmp_path_factory.mktemp("synthetic-pki"))


# usage: exit 2 before any connection


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["db:notaport"], "bad HOST[:PORT]"),
        (["db:70000"], "out of range"),
        (["127.0.0.1:5433", "--connect-timeout", "0"], "--connect-timeout must be positive"),
        (["127.0.0.1:5433", "--unsafe-simulator", "--collateral", "x"], "--unsafe-simulator"),
        (["127.0.0.1:5433", "--expect-event", "app-id"], "NAME=HEX"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], needle: str) -> None:
    code, report = probe_json(capsys, *args)
    assert code == 2
    assert report["error"]["code"] == "usage_error"
    assert needle in report["error"]["message"]


def test_unreadable_collateral_is_reported_before_connecting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The port refuses connections: an input_error (not probe_connect) shows none was tried.
    with refused_port() as holder:
        target = f"127.0.0.1:{holder.getsockname()[1]}"
        code, report = probe_json(capsys, target, "--collateral", str(tmp_path / "missing.json"))
    assert code == 2
    assert report["error"]["code"] == "input_error"
    assert "no such file" in report["error"]["message"]


# servers that refuse, close, stay silent, or are not there: no verdict, exit 2


def _answer_n(conn: socket.socket, server: FakeServer) -> None:
    server.read_exactly(conn, len(SSL_REQUEST))
    conn.sendall(b"N")


def test_server_answering_n(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer(_answer_n) as server:
        code, report = probe_json(capsys, server.target)
    assert code == 2
    error = report["error"]
    assert error["code"] == "probe_refused_ssl"
    assert (error["host"], error["port"]) == ("127.0.0.1", server.port)
    assert "answered 'N'" in error["message"]


def test_server_answering_n_text(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer(_answer_n) as server:
        code, out, err = probe(capsys, server.target)
    assert code == 2
    assert out == ""
    assert err.startswith(f"tdxquote: error: 127.0.0.1:{server.port}: the server answered 'N'")
    assert err.rstrip().endswith("[probe_refused_ssl]")


def test_server_closing(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer(lambda conn, server: None) as server:
        code, report = probe_json(capsys, server.target)
    assert code == 2
    assert report["error"]["code"] == "probe_closed"


def test_server_never_answering(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer(lambda conn, server: server.release.wait(10)) as server:
        code, report = probe_json(capsys, server.target, "--connect-timeout", "0.3")
    assert code == 2
    assert report["error"]["code"] == "probe_timeout"
    assert "timed out after 0.3 s" in report["error"]["message"]


def test_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with refused_port() as holder:
        code, report = probe_json(capsys, f"127.0.0.1:{holder.getsockname()[1]}")
    assert code == 2
    assert report["error"]["code"] == "probe_connect"


# a TLS-first server (PostgreSQL 17 sslnegotiation=direct, or a TLS proxy)


def _direct_tls_server(cert_pem: bytes, key_pem: bytes, directory: Path) -> FakeServer:
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    context.set_alpn_protocols([ALPN_POSTGRESQL])

    def handler(conn: socket.socket, server: FakeServer) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            server.received.append((tls.selected_alpn_protocol() or "").encode())
            tls.recv(1)

    return FakeServer(handler)


def test_direct_tls_server_verified(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verify_args: list[str]
) -> None:
    cert_pem, key_pem = server_certificate(SERVER_KEY, issuer="ca")
    root = tmp_path / "root.pem"
    with _direct_tls_server(cert_pem, key_pem, tmp_path) as server:
        code, report = probe_json(
            capsys, server.target, "--direct-tls", "--save-root", str(root), *verify_args
        )
    assert code == 0, report["verdict"]
    assert server.received == [ALPN_POSTGRESQL.encode()]
    assert report["probe"]["mode"] == "direct-tls"
    assert report["probe"]["alpn"] == ALPN_POSTGRESQL
    assert report["probe"]["chain_length"] == 2
    assert root.read_bytes() == cert_pem[cert_pem.index(b"-----BEGIN", 1) :]


def test_direct_tls_server_with_another_key_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verify_args: list[str]
) -> None:
    other = derive_key(b"tdxquote probe cli tests", "another key")
    cert_pem, key_pem = server_certificate(SERVER_KEY, bind_key=other)
    with _direct_tls_server(cert_pem, key_pem, tmp_path) as server:
        code, out, _ = probe(capsys, server.target, "--direct-tls", *verify_args)
    assert code == 1
    assert "REFUSED ratls_binding_mismatch" in out


def test_every_probe_error_code_is_documented() -> None:
    text = (REPO_ROOT / "docs" / "postgres.md").read_text(encoding="utf-8")
    missing = [code for code in PROBE_ERROR_CODES if f"`{code}`" not in text]
    assert not missing, f"undocumented probe error codes: {missing}"
