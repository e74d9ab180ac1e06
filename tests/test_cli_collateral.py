"""``tdxquote collateral fetch|show|serve``, ``verify --pccs/--intel-pcs``, ``cache info|clear``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _helpers import serving
from conftest import REPO_ROOT

from tdxquote.cli import main
from tdxquote.collateral import Collateral, CollateralCache, PcsClient
from tdxquote.testing.forge import QuoteForge, Scenario, sgx_report
from tdxquote.testing.pccs import Fault, PccsServer
from tdxquote.testing.pki import tcb_info


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"cli collateral tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


@pytest.fixture
def files(scenario: Scenario, tmp_path: Path) -> dict[str, str]:
    quote = tmp_path / "quote.bin"
    quote.write_bytes(scenario.quote_bytes)
    root = tmp_path / "root.pem"
    root.write_bytes(scenario.trust_root_pem)
    return {
        "quote": str(quote),
        "root": str(root),
        "cache": str(tmp_path / "cache"),
        "bundle": str(tmp_path / "bundle.json"),
        "at": scenario.now.isoformat(),
    }


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def verify_args(files: dict[str, str], *extra: str) -> list[str]:
    return ["verify", files["quote"], "--at", files["at"], "--trust-root", files["root"], *extra]


def fetch_args(files: dict[str, str], *extra: str) -> list[str]:
    return [
        "collateral",
        "fetch",
        "--out",
        files["bundle"],
        "--at",
        files["at"],
        "--trust-root",
        files["root"],
        *extra,
    ]


# --- collateral fetch / show ------------------------------------------------------------


def test_fetch_a_quotes_collateral(
    capsys: pytest.CaptureFixture[str],
    server: PccsServer,
    scenario: Scenario,
    files: dict[str, str],
) -> None:
    code, out, err = cli(
        capsys, *fetch_args(files, files["quote"], "--pccs", server.url, "--no-cache")
    )
    assert (code, err) == (0, "")
    assert f"wrote {files['bundle']}" in out
    assert "TDX FMSPC B0C06F000000" in out
    bundle = Collateral.from_json(Path(files["bundle"]).read_bytes())
    assert bundle.raw == scenario.to_collateral().raw
    assert server.count() == 4


def test_fetch_by_fmspc_json(
    capsys: pytest.CaptureFixture[str], server: PccsServer, files: dict[str, str]
) -> None:
    code, out, _ = cli(
        capsys,
        *fetch_args(files, "--fmspc", "b0c06f000000", "--pccs", server.url, "--json"),
        "--cache-dir",
        files["cache"],
    )
    assert code == 0
    document = json.loads(out)
    assert (document["command"], document["ok"]) == ("collateral fetch", True)
    summary = {"out": document["result"]["out"], **document["result"]["bundle"]}
    assert (summary["fmspc"], summary["tee"], summary["ca"]) == ("B0C06F000000", "tdx", "platform")
    assert summary["state"] == "valid"
    assert summary["out"] == files["bundle"]
    assert len(CollateralCache(files["cache"]).entries()) == 4


def test_fetch_to_stdout(
    capsys: pytest.CaptureFixture[str], server: PccsServer, files: dict[str, str]
) -> None:
    files = {**files, "bundle": "-"}
    code, out, _ = cli(
        capsys, *fetch_args(files, files["quote"], "--pccs", server.url, "--no-cache")
    )
    assert code == 0
    assert Collateral.from_json(out).tcb_info.fmspc.hex() == "b0c06f000000"


def test_fetch_failure_is_reported_without_traceback(
    capsys: pytest.CaptureFixture[str], server: PccsServer, files: dict[str, str]
) -> None:
    args = fetch_args(files, "--fmspc", "00906ED50000", "--pccs", server.url, "--no-cache")
    code, out, err = cli(capsys, *args)
    assert (code, out) == (2, "")
    assert err.startswith("tdxquote: error: collateral fetch failed: ")
    assert "status=404" in err
    assert "Traceback" not in err
    code, out, err = cli(capsys, *args, "--json")
    assert (code, err) == (2, "")
    document = json.loads(out)
    assert (document["command"], document["result"]) == ("collateral fetch", None)
    assert (document["error"]["kind"], document["error"]["code"]) == (
        "unavailable",
        "collateral_fetch_failed",
    )
    error = document["error"]["details"]
    assert error["status"] == 404
    assert error["url"].endswith("/tdx/certification/v4/tcb?fmspc=00906ED50000")
    assert error["request_id"]
    assert error["error_code"] == "NotFound"
    assert not Path(files["bundle"]).exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "give a QUOTE or --fmspc"),
        (("--fmspc", "XYZ"), "--fmspc: fmspc must be 12 hex digits"),
        (("--fmspc", "B0C06F000000", "--update", "early", "--tcb-eval", "3"), "cannot be combined"),
    ],
)
def test_fetch_usage_errors(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], extra: tuple[str, ...], message: str
) -> None:
    code, _, err = cli(capsys, *fetch_args(files, *extra, "--pccs", "http://127.0.0.1:9"))
    assert code == 2
    assert message in err


def test_show(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, tmp_path: Path, files: dict[str, str]
) -> None:
    Path(files["bundle"]).write_text(scenario.collateral_json())
    code, out, _ = cli(capsys, "collateral", "show", files["bundle"], "--at", files["at"])
    assert code == 0
    assert "TDX FMSPC B0C06F000000" in out
    assert "eval 17" in out
    assert "(valid at 2025-06-01T00:00:00Z)" in out
    code, out, _ = cli(
        capsys, "collateral", "show", files["bundle"], "--at", "2025-07-01", "--json"
    )
    document = json.loads(out)
    assert document["result"]["skipped"] == []
    [shown] = document["result"]["bundles"]
    assert shown["state"] == "expired"
    assert shown["valid_until"] == "2025-06-30T00:00:00Z"
    assert shown["tcb_info"]["tcb_evaluation_data_number"] == 17
    assert shown["pck_crl"]["crl_number"] == 1


def test_show_a_directory(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.json").write_text(scenario.collateral_json())
    sgx = scenario.forge.scenario(scenario.forge.quote(sgx_report()))
    (mirror / "b.json").write_text(sgx.collateral_json())
    code, out, _ = cli(capsys, "collateral", "show", str(mirror), "--json")
    assert code == 0
    bundles = json.loads(out)["result"]["bundles"]
    assert [item["tee"] for item in bundles] == ["tdx", "sgx"]


def test_show_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{}")
    code, _, err = cli(capsys, "collateral", "show", str(tmp_path / "bad.json"))
    assert code == 2
    assert "not a collateral bundle" in err
    code, _, err = cli(capsys, "collateral", "show", str(tmp_path / "missing.json"))
    assert code == 2
    assert "no such file" in err
    assert cli(capsys, "collateral")[0] == 2


# --- verify with a source ---------------------------------------------------------------


def test_verify_through_a_pccs_with_a_cache(
    capsys: pytest.CaptureFixture[str], server: PccsServer, files: dict[str, str]
) -> None:
    args = verify_args(files, "--pccs", server.url, "--cache-dir", files["cache"])
    code, out, err = cli(capsys, *args)
    assert (code, err) == (0, "")
    assert "verdict: UpToDate" in out
    assert server.count() == 4
    code, out, _ = cli(capsys, *args, "--json")
    assert code == 0
    assert json.loads(out)["result"]["verdict"]["status"] == "UpToDate"
    assert server.count() == 4  # from the cache directory


def test_verify_cache_directory_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    server: PccsServer,
    files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TDXQUOTE_CACHE_DIR", files["cache"])
    assert cli(capsys, *verify_args(files, "--pccs", server.url))[0] == 0
    code, out, _ = cli(capsys, "cache", "info", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["command"] == "cache info"
    info = document["result"]
    assert info["directory"] == files["cache"]
    assert sorted(entry["artifact"] for entry in info["entries"]) == [
        "pck_crl",
        "qe_identity",
        "root_ca_crl",
        "tcb_info",
    ]
    code, out, _ = cli(capsys, "cache", "info")
    assert "entries: 4" in out
    assert "tcb_info" in out
    code, out, _ = cli(capsys, "cache", "clear")
    assert (code, out.strip()) == (0, f"removed 4 entries from {files['cache']}")
    assert CollateralCache(files["cache"]).entries() == []
    assert cli(capsys, "cache")[0] == 2


def test_verify_refused_is_exit_1(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, files: dict[str, str]
) -> None:
    revoked = scenario.forge.pki.with_revoked_pck(scenario.forge.leaf.serial_number)
    with PccsServer() as server:
        server.add_collateral(scenario.replace(collateral=revoked.collateral()).to_collateral())
        code, out, _ = cli(capsys, *verify_args(files, "--pccs", server.url, "--no-cache"))
    assert code == 1
    assert "FAIL  pck_revoked" in out


@pytest.mark.parametrize(
    "fault",
    [
        Fault.http_status(500),
        Fault.header("TCB-Info-Issuer-Chain", "%ZZ"),
        Fault.truncated(64),
        Fault.dropped(64),
    ],
    ids=["500", "bad-header", "truncated", "dropped"],
)
def test_verify_fetch_failure_is_exit_2_not_a_refusal(
    capsys: pytest.CaptureFixture[str], server: PccsServer, files: dict[str, str], fault: Fault
) -> None:
    server.inject(fault, path="/tdx/certification/v4/tcb")
    args = verify_args(files, "--pccs", server.url, "--no-cache", "--fetch-retries", "0")
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert "verdict" not in out
    assert "Traceback" not in err
    assert "collateral fetch failed" in err
    server.inject(fault, path="/tdx/certification/v4/tcb")
    code, out, _ = cli(capsys, *args, "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "collateral_fetch_failed"
    assert json.loads(out)["error"]["kind"] == "unavailable"


def test_verify_expired_on_arrival(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, files: dict[str, str]
) -> None:
    stale = scenario.forge.pki.collateral(tcb_info(next_update="2025-05-31T12:00:00Z"))
    with PccsServer() as server:
        server.add_collateral(scenario.replace(collateral=stale).to_collateral())
        code, _, err = cli(
            capsys, *verify_args(files, "--pccs", server.url, "--cache-dir", files["cache"])
        )
        assert code == 2
        assert "already expired" in err
        # Accepting expired collateral gets the verdict; nothing expired is cached.
        code, out, _ = cli(
            capsys,
            *verify_args(files, "--pccs", server.url, "--cache-dir", files["cache"]),
            "--unsafe-allow-expired-collateral",
        )
        assert code == 0
        assert "verdict: UpToDate" in out
    assert "tcb_info" not in {e.artifact for e in CollateralCache(files["cache"]).entries()}


def test_verify_intel_pcs(
    capsys: pytest.CaptureFixture[str],
    server: PccsServer,
    files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tdxquote.collateral import pcs

    monkeypatch.setattr(pcs, "INTEL_PCS_URL", server.url)
    monkeypatch.setattr(pcs, "INTEL_ROOT_CA_CRL_URL", server.root_ca_crl_url)
    monkeypatch.setenv("TDXQUOTE_PCS_API_KEY", "from-env")
    code, _, _ = cli(capsys, *verify_args(files, "--intel-pcs", "--no-cache"))
    assert code == 0
    assert [r.path for r in server.requests][-1] == "/IntelSGXRootCA.der"
    assert server.requests[0].headers["Ocp-Apim-Subscription-Key"] == "from-env"


def test_verify_offline_directory(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, files: dict[str, str], tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "platform.json").write_text(scenario.collateral_json())
    code, out, _ = cli(capsys, *verify_args(files, "--collateral", str(mirror)))
    assert code == 0
    assert "verdict: UpToDate" in out
    (mirror / "platform.json").unlink()
    code, _, err = cli(capsys, *verify_args(files, "--collateral", str(mirror)))
    assert code == 2
    assert "no offline collateral for TDX FMSPC B0C06F000000" in err


@pytest.mark.parametrize(
    "sources",
    [
        (),
        ("--pccs", "http://127.0.0.1:9", "--intel-pcs"),
        ("--pccs", "http://x", "--collateral", "f"),
    ],
)
def test_verify_needs_exactly_one_source(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], sources: tuple[str, ...]
) -> None:
    code, _, err = cli(capsys, *verify_args(files, *sources))
    assert code == 2
    assert "--pccs" in err


# --- collateral serve -------------------------------------------------------------------


def run_module(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "tdxquote", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def test_serve_a_bundle_to_an_air_gapped_verifier(
    capsys: pytest.CaptureFixture[str], scenario: Scenario, files: dict[str, str]
) -> None:
    Path(files["bundle"]).write_text(scenario.collateral_json())
    process = run_module("collateral", "serve", "--from", files["bundle"], "--port", "0")
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        assert first.startswith("serving tdx B0C06F000000 at http://127.0.0.1:")
        url = first.split(" at ")[1].strip()
        assert process.stdout.readline().decode().strip() == (
            f"verify with: tdxquote verify QUOTE --pccs {url}"
        )
        code, out, _ = cli(capsys, *verify_args(files, "--pccs", url, "--no-cache"))
        assert code == 0
        assert "verdict: UpToDate" in out
        with PcsClient(url) as client:
            crl = client.get("root_ca_crl", _params(scenario))
        assert bytes.fromhex(crl.body.decode()) == scenario.collateral.root_ca_crl
    finally:
        process.terminate()
        process.communicate(timeout=30)


def _params(scenario: Scenario) -> Any:
    from tdxquote.collateral import CollateralParameters

    return CollateralParameters.from_quote(scenario.quote)


def test_serve_bad_source(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(capsys, "collateral", "serve", "--from", str(tmp_path / "none.json"))
    assert code == 2
    assert "no such file" in err


def test_server_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        PccsServer(host="0.0.0.0")
