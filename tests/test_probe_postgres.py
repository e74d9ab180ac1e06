"""End to end: ``tdxquote probe`` against real PostgreSQL servers, then psycopg pinned to it.

Three throwaway clusters (module scope, see ``pg_server.py``), each with
``ssl = on`` and a forged RA-TLS certificate whose quote the synthetic PKI
signs and whose event log replays:

* ``good``: self-signed, REPORTDATA bound to the server's own key;
* ``kms``: the same kind of leaf issued by an app CA under a KMS root, the
  chain dstack servers present;
* ``wrong_key``: the attestation binds another key than the server's.

The tests skip when PostgreSQL cannot be run here, except under CI, where
``.ci/run`` installs it and a skip would hide a missing server: there they fail.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pg_server import PgServer, start_or_skip
from probe_servers import verification_args

from tdxquote import VerificationError, Verifier
from tdxquote.cli import main
from tdxquote.testing.pki import derive_key
from tdxquote.testing.ratls import (
    DEFAULT_APP_ID,
    DEFAULT_COMPOSE_HASH,
    DEFAULT_INSTANCE_ID,
    server_certificate,
    server_scenario,
)

REPORT_KEYS = {
    "format",
    "report_data_binding",
    "rtmr_replay",
    "mr_td",
    "app_id",
    "compose_hash",
    "instance_id",
    "sha256",
    "verdict",
}

SERVER_KEY = derive_key(b"tdxquote probe tests", "server")
KMS_SERVER_KEY = derive_key(b"tdxquote probe tests", "kms server")
WRONG_SERVER_KEY = derive_key(b"tdxquote probe tests", "wrong-key server")
OTHER_KEY = derive_key(b"tdxquote probe tests", "the key the attestation binds")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, PgServer]]:
    """The three servers by name, started once for the module."""
    certificates = {
        "good": server_certificate(SERVER_KEY),
        "kms": server_certificate(KMS_SERVER_KEY, issuer="kms"),
        "wrong_key": server_certificate(WRONG_SERVER_KEY, bind_key=OTHER_KEY),
    }
    started: dict[str, PgServer] = {}
    try:
        for name, (cert_pem, key_pem) in certificates.items():
            started[name] = start_or_skip(name, cert_pem, key_pem)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def verify_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return verification_args(tmp_path_factory.mktemp("synthetic-pki"))


def probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["probe", *args])
    out, err = capsys.readouterr()
    return code, out, err


def probe_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and the report (the ``result`` of the tdxquote/1 document)."""
    code, out, _ = probe(capsys, "--json", *args)
    document = json.loads(out)
    assert (document["command"], document["ok"]) == ("probe", code == 0)
    if document["result"] is None:  # no certificate to report: the error alone
        return code, {"error": document["error"]}
    report: dict[str, Any] = document["result"]
    return code, report


def _leaf_der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificates(pem)[0].public_bytes(Encoding.DER)


def test_probe_verifies_a_real_server(
    servers: dict[str, PgServer], verify_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    server = servers["good"]
    code, report = probe_json(capsys, server.target, *verify_args)
    assert code == 0, report["verdict"]
    assert set(report) >= REPORT_KEYS
    assert report["format"] == "1.8-v0"
    assert report["report_data_binding"] is True
    assert report["rtmr_replay"]["rtmr3"] is True
    assert report["app_id"] == DEFAULT_APP_ID.hex()
    assert report["compose_hash"] == DEFAULT_COMPOSE_HASH.hex()
    assert report["instance_id"] == DEFAULT_INSTANCE_ID.hex()
    assert re.fullmatch("[0-9a-f]{96}", report["mr_td"])
    verdict = report["verdict"]
    assert (verdict["ok"], verdict["attested"], verdict["status"]) == (True, True, "UpToDate")
    assert report["probe"]["mode"] == "sslrequest"
    assert report["probe"]["port"] == server.port
    assert report["probe"]["chain_length"] == 1
    served = server_certificate(SERVER_KEY)[0]
    assert report["sha256"] == hashlib.sha256(_leaf_der(served)).hexdigest()


def test_probe_report_equals_cert_report(
    servers: dict[str, PgServer],
    verify_args: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    chain_file = tmp_path / "chain.pem"
    code, probed = probe_json(
        capsys, servers["kms"].target, "--save-chain", str(chain_file), *verify_args
    )
    assert code == 0, probed["verdict"]
    assert main(["cert", "--json", str(chain_file), *verify_args]) == 0
    from_file = json.loads(capsys.readouterr().out)["result"]
    probe_info = probed.pop("probe")
    assert probed == from_file
    assert probe_info["chain_length"] == 3
    assert probe_info["saved_chain"] == str(chain_file)


def test_probe_text_output(
    servers: dict[str, PgServer], verify_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = probe(capsys, servers["good"].target, *verify_args)
    assert code == 0, out + err
    assert re.search(r"^server: +127\.0\.0\.1:\d+ via SSLRequest, TLSv1\.[23] ", out, re.M)
    assert re.search(r"^verdict: +VERIFIED UpToDate", out, re.M)


def test_wrong_key_server_is_refused(
    servers: dict[str, PgServer],
    verify_args: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    root = tmp_path / "root.pem"
    code, report = probe_json(
        capsys, servers["wrong_key"].target, "--save-root", str(root), *verify_args
    )
    assert code == 1
    assert report["report_data_binding"] is False
    assert report["verdict"]["ok"] is False
    assert report["verdict"]["error"]["code"] == "ratls_binding_mismatch"
    assert "saved_root" not in report["probe"]
    assert not root.exists(), "a refused server's root must not be saved"


def test_unsafe_simulator_mode(
    servers: dict[str, PgServer], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = probe_json(capsys, servers["good"].target, "--unsafe-simulator")
    assert code == 0
    assert report["verdict"]["attested"] is False
    assert report["verdict"]["mode"] == "unsafe-simulator"
    code, report = probe_json(capsys, servers["wrong_key"].target, "--unsafe-simulator")
    assert code == 1
    assert report["verdict"]["error"]["code"] == "ratls_binding_mismatch"


def test_no_collateral_is_no_verdict(
    servers: dict[str, PgServer], capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = probe_json(capsys, servers["good"].target)
    assert code == 2
    assert report["verdict"]["error"]["code"] == "no_collateral"
    assert report["verdict"]["error"]["checks_passed"] == [
        "ratls_attestation",
        "ratls_binding",
        "ratls_rtmr_replay",
    ]


def _server_major(server: PgServer) -> int:
    version = subprocess.run(
        [str(server.bin_dir / "pg_ctl"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    match = re.search(r"(\d+)", version)
    assert match, version
    return int(match.group(1))


def test_direct_tls_against_postgres(
    servers: dict[str, PgServer], verify_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    server = servers["good"]
    code, report = probe_json(capsys, server.target, "--direct-tls", *verify_args)
    if _server_major(server) >= 17:
        assert code == 0, report
        assert report["probe"]["alpn"] == "postgresql"
    else:  # PostgreSQL 15 and 16 read a ClientHello as a bad startup packet and hang up
        assert code == 2
        assert report["error"]["code"] == "probe_closed"
        assert "without --direct-tls" in report["error"]["message"]


# psycopg, pinned to what the probe verified


@pytest.fixture
def psycopg() -> Any:
    """The psycopg module (a test dependency); the test skips without it."""
    return pytest.importorskip("psycopg", reason="psycopg[binary] is a test dependency")


def _select_one(psycopg: Any, conninfo: str) -> tuple[Any, bool]:
    with psycopg.connect(conninfo, connect_timeout=10) as conn:
        row = conn.execute("SELECT 1").fetchone()
        return row, conn.pgconn.ssl_in_use


def test_psycopg_verify_full_with_the_saved_root(
    psycopg: Any,
    servers: dict[str, PgServer],
    verify_args: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    server = servers["good"]
    root, chain = tmp_path / "root.pem", tmp_path / "chain.pem"
    code, report = probe_json(
        capsys,
        server.target,
        "--save-root",
        str(root),
        "--save-chain",
        str(chain),
        *verify_args,
    )
    assert code == 0, report["verdict"]
    # The self-signed leaf is its own root: the pin is exactly the verified certificate.
    assert hashlib.sha256(_leaf_der(root.read_bytes())).hexdigest() == report["sha256"]
    assert _leaf_der(chain.read_bytes()) == _leaf_der(root.read_bytes())
    pinned = server.conninfo(
        sslmode="verify-full", sslrootcert=str(root), host="localhost", hostaddr="127.0.0.1"
    )
    assert _select_one(psycopg, pinned) == ((1,), True)
    # The same pin refuses another server (another certificate), before any query.
    other = servers["kms"].conninfo(sslmode="verify-ca", sslrootcert=str(root))
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        _select_one(psycopg, other)


def test_psycopg_verify_ca_through_a_kms_chain(
    psycopg: Any,
    servers: dict[str, PgServer],
    verify_args: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    server = servers["kms"]
    root = tmp_path / "kms-root.pem"
    code, report = probe_json(capsys, server.target, "--save-root", str(root), *verify_args)
    assert code == 0, report["verdict"]
    assert report["probe"]["saved_root"] == str(root)
    saved = x509.load_pem_x509_certificate(root.read_bytes())
    assert saved.subject.rfc4514_string() == report["chain_root"]["subject"]
    assert "CN=Dstack KMS CA" in report["chain_root"]["subject"]
    assert report["subject"] != report["chain_root"]["subject"]
    assert _select_one(psycopg, server.conninfo(sslmode="verify-ca", sslrootcert=str(root))) == (
        (1,),
        True,
    )


def _docs_snippet() -> str:
    """The first Python block of docs/postgres.md's psycopg section: ``connect_attested``."""
    text = (REPO_ROOT / "docs" / "postgres.md").read_text(encoding="utf-8")
    section = text[text.index("## From a psycopg client") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the psycopg section"
    return match.group(1)


def test_docs_connect_attested(psycopg: Any, servers: dict[str, PgServer]) -> None:
    import tdxquote.ratls

    if not hasattr(tdxquote.ratls, "fetch_chain"):
        pytest.skip("tdxquote.ratls does not export fetch_chain yet")
    namespace: dict[str, Any] = {}
    exec(compile(_docs_snippet(), "docs/postgres.md", "exec"), namespace)
    connect_attested = namespace["connect_attested"]
    scenario = server_scenario()
    verifier = Verifier.offline(scenario.to_collateral(), trust_root=scenario.trust_root_der)
    pins = {"compose-hash": DEFAULT_COMPOSE_HASH.hex(), "app-id": DEFAULT_APP_ID}
    good = servers["good"]
    # "localhost" is the name the forged certificate carries, as verify-full requires.
    options = {"verifier": verifier, "expect_events": pins, "now": scenario.now}
    with connect_attested(
        "localhost", good.port, user="postgres", dbname="postgres", **options
    ) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.pgconn.ssl_in_use
    with pytest.raises(VerificationError) as refused:
        connect_attested("localhost", servers["wrong_key"].port, **options)
    assert refused.value.code == "ratls_binding_mismatch"
