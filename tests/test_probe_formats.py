"""``tdxquote probe`` against real PostgreSQL servers presenting the other dstack forms.

``test_probe_postgres.py`` covers the ``.1.8`` V0 form.  Here (module-scoped
clusters, forged chains the synthetic PKI signs, leaf, app CA and KMS root):

* ``v1``: the V1 msgpack envelope with event-log version 2 runtime events, as
  dstack writes it after v0.5.11 (and its v0.5.9-v0.5.11 simulator with version 1);
* ``legacy``: ``.1.1`` quote + ``.1.2`` JSON log, the form of the one real bound
  chain in the corpus (``nearai-pmlsdk_app_cert_chain.pem``), whose private key is
  not published, so no server can present that chain itself;
* ``app_info``: a V0 leaf that also carries a ``.1.9`` AppInfo claim.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_server import PgServer, start_or_skip
from probe_servers import verification_args

from tdxquote.cli import main
from tdxquote.ratls import AppInfo, parse_certificate
from tdxquote.testing.pki import derive_key
from tdxquote.testing.ratls import (
    DEFAULT_APP_ID,
    DEFAULT_COMPOSE_HASH,
    DEFAULT_INSTANCE_ID,
    DEFAULT_KEY_PROVIDER,
    DEFAULT_OS_IMAGE_HASH,
    runtime_events,
    server_certificate,
)

SEED = b"tdxquote probe format tests"
V1 = server_certificate(
    derive_key(SEED, "v1"), issuer="kms", form="1.8-v1", events=runtime_events(version=2)
)
LEGACY = server_certificate(derive_key(SEED, "legacy"), issuer="kms", form="1.1-legacy")
_V0 = parse_certificate(server_certificate(derive_key(SEED, "app info"))[0])
CLAIM = AppInfo(
    app_id=DEFAULT_APP_ID,
    compose_hash=DEFAULT_COMPOSE_HASH,
    instance_id=DEFAULT_INSTANCE_ID,
    device_id=b"",
    mr_system=_V0.mr_system,
    mr_aggregated=_V0.mr_aggregated,
    os_image_hash=DEFAULT_OS_IMAGE_HASH,
    key_provider_info=DEFAULT_KEY_PROVIDER,
)
APP_INFO = server_certificate(derive_key(SEED, "app info"), app_info=CLAIM)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, PgServer]]:
    started: dict[str, PgServer] = {}
    try:
        for name, (cert_pem, key_pem) in {"v1": V1, "legacy": LEGACY, "app_info": APP_INFO}.items():
            started[name] = start_or_skip(name, cert_pem, key_pem)
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def verify_args(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return verification_args(tmp_path_factory.mktemp("synthetic-pki"))


def _probe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["probe", "--json", *args])
    return code, json.loads(capsys.readouterr().out)["result"]


@pytest.mark.parametrize(("name", "form"), [("v1", "1.8-v1"), ("legacy", "1.1-legacy")])
def test_probe_verifies_each_form(
    servers: dict[str, PgServer],
    verify_args: list[str],
    capsys: pytest.CaptureFixture[str],
    name: str,
    form: str,
) -> None:
    code, report = _probe(capsys, servers[name].target, *verify_args)
    assert code == 0, report["verdict"]
    assert report["format"] == form
    assert report["probe"]["chain_length"] == 3
    assert report["report_data_binding"] is True
    expected_replay = {"1.8-v1": None, "1.1-legacy": True}[form]
    assert report["rtmr_replay"]["rtmr0"] is expected_replay
    assert report["rtmr_replay"]["rtmr3"] is True
    assert report["compose_hash"] == DEFAULT_COMPOSE_HASH.hex()
    certificate = parse_certificate((V1 if name == "v1" else LEGACY)[0])
    assert report["mr_aggregated"] == certificate.mr_aggregated.hex()
    assert report["verdict"]["status"] == "UpToDate"


def test_probe_pins_mr_aggregated(
    servers: dict[str, PgServer], verify_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    server = servers["v1"]
    good = parse_certificate(V1[0]).mr_aggregated.hex()
    code, report = _probe(capsys, server.target, "--expect-mr-aggregated", good, *verify_args)
    assert code == 0, report["verdict"]
    assert report["verdict"]["checks"][-1] == "ratls_mr_aggregated"
    code, report = _probe(capsys, server.target, "--expect-mr-aggregated", "ab" * 32, *verify_args)
    assert code == 1
    assert report["verdict"]["error"]["rule"] == "expect_mr_aggregated"
    code = main(["probe", server.target, "--expect-mr-aggregated", "xyz", *verify_args])
    capsys.readouterr()
    assert code == 2


def test_probe_shows_the_app_info_claim(
    servers: dict[str, PgServer],
    verify_args: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, report = _probe(capsys, servers["app_info"].target, *verify_args)
    assert code == 0, report["verdict"]
    app_info = report["app_info"]
    assert app_info["attested"] is True
    assert app_info["claims"]["compose_hash"] == DEFAULT_COMPOSE_HASH.hex()
    assert app_info["matches_attestation"]["device_id"] is None
    assert main(["probe", servers["app_info"].target, *verify_args]) == 0
    out = capsys.readouterr().out
    assert "app info:       issuer claim, matches the verified attestation" in out
