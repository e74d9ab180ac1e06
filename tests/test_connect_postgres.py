"""End to end: ``tdxquote.ratls.connect`` / ``connect_async`` against real PostgreSQL servers.

Throwaway clusters (module scope, see ``pg_server.py``) serve forged RA-TLS
chains whose quotes the synthetic PKI signs:

* ``kms``: a V1 msgpack attestation (event-log version 2 runtime events) in a
  leaf under an app CA and a KMS root, the chain dstack presents;
* ``wrong_key``: an attestation that binds another key than the server's;
* ``swap``: restarted with another certificate (another app under the same
  KMS root) between verification and connection, by the ``on_verified`` hook.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pg_server import PgServer, start_or_skip

from tdxquote import VerificationError, Verifier
from tdxquote.ratls import (
    BindingMismatchError,
    ProbeError,
    VerifiedCertificate,
    connect,
    connect_async,
    open_session,
)
from tdxquote.testing.pki import derive_key
from tdxquote.testing.ratls import (
    DEFAULT_COMPOSE_HASH,
    runtime_events,
    server_certificate,
    server_scenario,
)

psycopg = pytest.importorskip("psycopg", reason="psycopg[binary] is a test dependency")

SEED = b"tdxquote connect tests"
KMS_KEY = derive_key(SEED, "kms server")
SWAP_KEY = derive_key(SEED, "swap server")
OTHER_APP_KEY = derive_key(SEED, "another app under the same KMS")
WRONG_KEY = derive_key(SEED, "wrong-key server")
BOUND_KEY = derive_key(SEED, "the key the attestation binds")
OTHER_COMPOSE_HASH = hashlib.sha256(b"another app-compose.json").digest()
V2_EVENTS = runtime_events(version=2)


def _leaf_sha256(chain_pem: bytes) -> str:
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    return hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()


def _kms_root_pem(chain_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificates(chain_pem)[-1].public_bytes(Encoding.PEM)


CERTIFICATES = {
    "kms": server_certificate(KMS_KEY, issuer="kms", form="1.8-v1", events=V2_EVENTS),
    "wrong_key": server_certificate(WRONG_KEY, bind_key=BOUND_KEY),
    "swap": server_certificate(SWAP_KEY, issuer="kms"),
}
OTHER_APP = server_certificate(
    OTHER_APP_KEY, issuer="kms", events=runtime_events(compose_hash=OTHER_COMPOSE_HASH)
)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, PgServer]]:
    started: dict[str, PgServer] = {}
    try:
        for name, (cert_pem, key_pem) in CERTIFICATES.items():
            started[name] = start_or_skip(name, cert_pem, key_pem)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    scenario = server_scenario()
    return Verifier.offline(scenario.to_collateral(), trust_root=scenario.trust_root_der)


NOW = server_scenario().now
PINS = {"compose-hash": DEFAULT_COMPOSE_HASH}


def _options(verifier: Verifier) -> dict[str, Any]:
    return {"verifier": verifier, "now": NOW, "expect_events": PINS, "connect_timeout": 10}


def test_connect_verifies_then_queries(servers: dict[str, PgServer], verifier: Verifier) -> None:
    server = servers["kms"]
    seen: list[VerifiedCertificate] = []
    with connect(server.conninfo(), on_verified=seen.append, **_options(verifier)) as conn:
        assert conn.execute("SELECT 40 + 2").fetchone() == (42,)
        # libpq talks to tdxquote's socket; the TLS session is the verified one.
        assert conn.pgconn.ssl_in_use is False
        (ssl_row,) = conn.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
        assert ssl_row is True, "the server sees a TLS connection"
    (verified,) = seen
    assert verified.certificate.format == "1.8-v1"
    assert {e.version for e in verified.events.events} == {2}
    assert verified.certificate.sha256 == _leaf_sha256(CERTIFICATES["kms"][0])
    assert verified.checks[-1] == "ratls_event_pins"


def test_connect_accepts_a_dsn_with_libpq_tls_parameters(
    servers: dict[str, PgServer], verifier: Verifier
) -> None:
    # libpq's own TLS settings are superseded by the verified session, not obeyed or leaked.
    dsn = servers["kms"].conninfo(sslmode="verify-full", sslrootcert="/nonexistent.pem")
    with connect(dsn, **_options(verifier)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


def test_connect_pins_mr_aggregated(servers: dict[str, PgServer], verifier: Verifier) -> None:
    dsn = servers["kms"].conninfo()
    with pytest.raises(VerificationError) as refused:
        connect(dsn, expect_mr_aggregated=bytes(32), **_options(verifier))
    assert refused.value.code == "policy"
    assert refused.value.rule == "expect_mr_aggregated"  # type: ignore[attr-defined]


def test_unbound_server_is_refused_before_libpq_connects(
    servers: dict[str, PgServer], verifier: Verifier
) -> None:
    called: list[object] = []
    with pytest.raises(BindingMismatchError):
        connect(servers["wrong_key"].conninfo(), on_verified=called.append, **_options(verifier))
    assert called == [], "nothing may follow a refused verification"


def test_pin_mismatch_is_refused(servers: dict[str, PgServer], verifier: Verifier) -> None:
    options = {**_options(verifier), "expect_events": {"compose-hash": OTHER_COMPOSE_HASH}}
    with pytest.raises(VerificationError) as refused:
        connect(servers["kms"].conninfo(), **options)
    assert refused.value.code == "policy"


def test_a_certificate_swapped_after_verification_is_refused(
    servers: dict[str, PgServer], verifier: Verifier, tmp_path: Path
) -> None:
    """The server restarts with another app's certificate between verification and libpq.

    A second TLS session pinned to the chain's KMS root (``sslmode=verify-ca``)
    accepts the new certificate; ``connect`` has only the verified session, so
    libpq's connection fails instead of reaching the new server.
    """
    server = servers["swap"]
    root = tmp_path / "kms-root.pem"
    root.write_bytes(_kms_root_pem(CERTIFICATES["swap"][0]))

    def swap(_verified: VerifiedCertificate) -> None:
        server.restart_with(*OTHER_APP)

    try:
        with pytest.raises(psycopg.OperationalError):
            connect(server.conninfo(), on_verified=swap, **_options(verifier))
        # What the pin prevented: a new session through the KMS root reaches the other app.
        naive = server.conninfo(sslmode="verify-ca", sslrootcert=str(root))
        with psycopg.connect(naive, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        # And connect() itself, asked again, refuses the other app by its compose hash.
        with pytest.raises(VerificationError) as refused:
            connect(server.conninfo(), **_options(verifier))
        assert refused.value.code == "policy"
    finally:
        server.restart_with(*CERTIFICATES["swap"])


def test_connect_async(servers: dict[str, PgServer], verifier: Verifier) -> None:
    async def run() -> tuple[Any, ...]:
        conn = await connect_async(servers["kms"].conninfo(), **_options(verifier))
        async with conn:
            cursor = await conn.execute("SELECT 'async'")
            return await cursor.fetchone()  # type: ignore[no-any-return]

    assert asyncio.run(run()) == ("async",)


def test_connect_async_refuses(servers: dict[str, PgServer], verifier: Verifier) -> None:
    async def run() -> None:
        await connect_async(servers["wrong_key"].conninfo(), **_options(verifier))

    with pytest.raises(BindingMismatchError):
        asyncio.run(run())


def test_session_socket_is_private_and_single_use(
    servers: dict[str, PgServer], verifier: Verifier
) -> None:
    params = {"host": "127.0.0.1", "port": str(servers["kms"].port)}
    session = open_session(params, verifier=verifier, now=NOW)
    try:
        assert session.socket_path.exists()
        assert os.stat(session.socket_dir).st_mode & 0o777 == 0o700
        libpq = session.libpq_params({**params, "user": "postgres", "sslmode": "require"})
        assert libpq["host"] == str(session.socket_dir)
        assert (libpq["sslmode"], libpq["gssencmode"]) == ("disable", "disable")
        assert "hostaddr" not in libpq
        session.start(10)
        with psycopg.connect(**libpq, dbname="postgres", connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert not session.socket_dir.exists(), "the socket is removed once libpq connected"
    finally:
        session.close()


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="Linux SO_PEERCRED")
def test_another_process_cannot_take_libpqs_place(
    servers: dict[str, PgServer], verifier: Verifier
) -> None:
    params = {"host": "127.0.0.1", "port": str(servers["kms"].port)}
    session = open_session(params, verifier=verifier, now=NOW)
    try:
        session.start(10)
        # Another process (same user) connects first and writes: it is closed unheard.
        intruder = subprocess.run(
            [
                sys.executable,
                "-c",
                "import socket, sys\n"
                "s = socket.socket(socket.AF_UNIX)\n"
                "s.connect(sys.argv[1])\n"
                "try:\n"
                "    s.sendall(b'X' * 8)\n"
                "    print(repr(s.recv(10)))\n"
                "except OSError:\n"
                "    print(repr(b''))\n",
                str(session.socket_path),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert intruder.stdout.strip() == "b''"
        libpq = session.libpq_params({**params, "user": "postgres", "dbname": "postgres"})
        with psycopg.connect(**libpq, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        session.close()


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"host": "/var/run/postgresql"}, "Unix socket"),
        ({"host": "a,b"}, "one host"),
        ({"host": "h", "sslmode": "disable"}, "needs TLS"),
        ({"host": "h", "sslcert": "c.pem"}, "client certificate"),
        ({"host": "h", "port": "x"}, "not a number"),
    ],
)
def test_unusable_parameters_are_refused(params: dict[str, str], text: str) -> None:
    with pytest.raises(ValueError, match=text):
        open_session(params, verifier=None, now=NOW)


def test_unreachable_server_is_a_probe_error(verifier: Verifier) -> None:
    from probe_servers import refused_port

    with refused_port() as holder:
        port = holder.getsockname()[1]
        with pytest.raises(ProbeError) as info:
            connect(f"host=127.0.0.1 port={port}", verifier=verifier, now=NOW, timeout=5)
    assert info.value.code == "probe_connect"
