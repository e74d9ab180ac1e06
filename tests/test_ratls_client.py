"""Mutual RA-TLS, server side: a loopback TLS server that requires and verifies client certificates.

Clients present forged RA-TLS chains (leaf, app CA, KMS root; quotes signed
by the synthetic PKI).  The server's context comes from
:func:`tdxquote.ratls.client_auth_context` (the KMS root as the client CA);
after each handshake it calls :func:`tdxquote.ratls.verify_client_connection`
and answers ``ok`` or the refusal's code.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from probe_servers import TestCa

from tdxquote import QuoteParseError, VerificationError, Verifier
from tdxquote.ratls import (
    KeyUsageError,
    client_auth_context,
    verify_certificate,
    verify_client_certificate,
    verify_client_connection,
)
from tdxquote.testing.pki import derive_key
from tdxquote.testing.ratls import DEFAULT_COMPOSE_HASH, ForgedCertificate, RaTlsForge

SEED = b"tdxquote mutual ra-tls tests"
FORGE = RaTlsForge.create(SEED)
CLIENT_AUTH = (ExtendedKeyUsageOID.CLIENT_AUTH,)
SERVER_AUTH = (ExtendedKeyUsageOID.SERVER_AUTH,)


def _client(label: str, **options: object) -> ForgedCertificate:
    return FORGE.certificate(derive_key(SEED, label), issuer="kms", **options)  # type: ignore[arg-type]


GOOD = _client("good client", extended_key_usage=CLIENT_AUTH)
SERVER_ONLY = _client("server-only client", extended_key_usage=SERVER_AUTH)
NO_EKU = _client("no-eku client", extended_key_usage=None)
UNBOUND = _client(
    "unbound client", extended_key_usage=CLIENT_AUTH, bind_key=derive_key(SEED, "other")
)
FOREIGN = RaTlsForge.create(b"another KMS").certificate(
    issuer="kms", extended_key_usage=CLIENT_AUTH
)


def _verifier() -> Verifier:
    return GOOD.verifier()


def _kms_root(made: ForgedCertificate) -> x509.Certificate:
    return made.chain[-1]


@dataclass
class Outcome:
    answer: bytes
    checks: tuple[str, ...] = ()


class MutualServer:
    """A loopback TLS server: requires a client certificate, then verifies it with tdxquote."""

    def __init__(self, directory: Path) -> None:
        ca = TestCa()
        ca.server_context(directory)  # writes chain.pem and key.pem
        self.context = client_auth_context(
            directory / "chain.pem", directory / "key.pem", client_cas=[_kms_root(GOOD)]
        )
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.outcomes: list[Outcome] = []
        self.handshake_errors: list[ssl.SSLError] = []

    def serve_one(self) -> threading.Thread:
        def run() -> None:
            conn, _ = self.listener.accept()
            conn.settimeout(10)
            try:
                tls = self.context.wrap_socket(conn, server_side=True)
            except ssl.SSLError as exc:
                self.handshake_errors.append(exc)
                conn.close()
                return
            with tls:
                try:
                    verified = verify_client_connection(tls, verifier=_verifier(), now=GOOD.now)
                except (VerificationError, QuoteParseError) as exc:
                    code = getattr(exc, "code", "parse_error").encode()
                    self.outcomes.append(Outcome(code))
                    tls.sendall(b"refused:" + code)
                    return
                self.outcomes.append(Outcome(b"ok", verified.checks))
                tls.sendall(b"ok")

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MutualServer]:
    running = MutualServer(tmp_path)
    try:
        yield running
    finally:
        running.listener.close()


def _client_context(tmp_path: Path, made: ForgedCertificate | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server side is not what these tests check
    if made is not None:
        chain, key = tmp_path / "client-chain.pem", tmp_path / "client-key.pem"
        chain.write_bytes(made.chain_pem)
        key.write_bytes(made.key_pem)
        context.load_cert_chain(chain, key)
    return context


def _talk(server: MutualServer, tmp_path: Path, made: ForgedCertificate | None) -> bytes:
    thread = server.serve_one()
    try:
        context = _client_context(tmp_path, made)
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            # TLS 1.3: a refused client certificate shows up at the first read.
            return tls.recv(100)
    except (ssl.SSLError, ConnectionError):
        return b"<handshake failed>"
    finally:
        thread.join(10)


def test_attested_client_is_accepted(server: MutualServer, tmp_path: Path) -> None:
    assert _talk(server, tmp_path, GOOD) == b"ok"
    (outcome,) = server.outcomes
    assert outcome.checks[:4] == (
        "ratls_attestation",
        "ratls_binding",
        "ratls_rtmr_replay",
        "ratls_key_usage",
    )
    assert outcome.checks[-1] == "policy"


@pytest.mark.parametrize(
    ("made", "code"),
    # No extended key usage is "any purpose" to OpenSSL; dstack always writes one.
    [(NO_EKU, b"ratls_key_usage"), (UNBOUND, b"ratls_binding_mismatch")],
)
def test_unfit_client_is_refused_after_the_handshake(
    server: MutualServer, tmp_path: Path, made: ForgedCertificate, code: bytes
) -> None:
    assert _talk(server, tmp_path, made) == b"refused:" + code
    assert server.handshake_errors == []


@pytest.mark.parametrize(
    "made",
    [FOREIGN, None, SERVER_ONLY],
    # OpenSSL checks the client purpose too: a serverAuth-only leaf fails the handshake.
    ids=["another-kms-root", "no-certificate", "server-auth-only"],
)
def test_handshake_refuses_clients_outside_the_ca(
    server: MutualServer, tmp_path: Path, made: ForgedCertificate | None
) -> None:
    assert _talk(server, tmp_path, made) == b"<handshake failed>"
    assert server.outcomes == []
    assert len(server.handshake_errors) == 1


def test_asyncio_server(tmp_path: Path) -> None:
    ca = TestCa()
    ca.server_context(tmp_path)
    context = client_auth_context(
        tmp_path / "chain.pem",
        tmp_path / "key.pem",
        client_cas=_kms_root(GOOD).public_bytes(Encoding.PEM),
    )
    results: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            verified = verify_client_connection(
                writer.get_extra_info("ssl_object"), verifier=_verifier(), now=GOOD.now
            )
            results.append(verified.events.compose_hash.hex())  # type: ignore[union-attr]
            writer.write(b"ok")
        except VerificationError as exc:
            results.append(exc.code)
            writer.write(b"refused")
        await writer.drain()
        writer.close()

    async def run() -> list[bytes]:
        listener = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = listener.sockets[0].getsockname()[1]
        answers = []
        for made in (GOOD, NO_EKU):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=_client_context(tmp_path, made)
            )
            answers.append(await reader.read(100))
            writer.close()
        listener.close()
        await listener.wait_closed()
        return answers

    assert asyncio.run(run()) == [b"ok", b"refused"]
    assert results == [DEFAULT_COMPOSE_HASH.hex(), "ratls_key_usage"]


def test_client_verification_is_role_specific() -> None:
    collateral = {"verifier": _verifier(), "now": GOOD.now}
    verified = verify_client_certificate(GOOD.chain_der, **collateral)  # type: ignore[arg-type]
    assert "ratls_key_usage" in verified.checks
    with pytest.raises(KeyUsageError) as info:
        verify_client_certificate(SERVER_ONLY.chain_der, **collateral)  # type: ignore[arg-type]
    assert info.value.role == "client"
    assert info.value.found == (ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,)
    assert info.value.checks_passed == ("ratls_attestation", "ratls_binding", "ratls_rtmr_replay")
    # The server role wants serverAuth; no role checks no usage (the default).
    with pytest.raises(KeyUsageError):
        verify_certificate(GOOD.chain_der, role="server", **collateral)  # type: ignore[arg-type]
    assert "ratls_key_usage" not in verify_certificate(GOOD.chain_der, **collateral).checks  # type: ignore[arg-type]
    with pytest.raises(KeyUsageError, match="no extended key usage"):
        verify_client_certificate(NO_EKU.chain_der, **collateral)  # type: ignore[arg-type]
