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


# --- a mirror of bundles from several platforms and dates ------------------------------

MIRROR = ("tdx_quote_collateral.json", "sgx_quote_collateral.json")
OUTDATED = "tdx_quote_outdated_collateral.json"
TDX_AT, SGX_AT = "1751624191", "1751624924"


@pytest.fixture
def mirror(vectors: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in (*MIRROR, OUTDATED):
        (folder / name).write_bytes((vectors / "dcap-qvl" / name).read_bytes())
    return folder


def test_serve_answers_for_the_platform_and_time_asked(
    capsys: pytest.CaptureFixture[str], vectors: Path, mirror: Path
) -> None:
    # Before: the server answered with the newest QE identity and PCK CRL of any bundle
    # (the 2026 TD_QE of the outdated bundle), and the verification was refused.
    quote = str(vectors / "dcap-qvl" / "tdx_quote")
    with PccsServer.from_path(mirror) as server:
        code, out, err = cli(
            capsys, "verify", quote, "--pccs", server.url, "--at", TDX_AT, "--no-cache"
        )
        assert (code, err) == (0, "")
        assert "verdict: UpToDate" in out
        sgx = str(vectors / "dcap-qvl" / "sgx_quote")
        allow = ("--allow-status", "ConfigurationAndSWHardeningNeeded")
        args = ("verify", sgx, "--pccs", server.url, "--at", SGX_AT, "--no-cache", *allow)
        code, out, _ = cli(capsys, *args)
        assert code == 0
        assert "platform: ConfigurationAndSWHardeningNeeded" in out
        # The same answers as --collateral DIR gives.
        expected = Collateral.from_json((vectors / "dcap-qvl" / MIRROR[0]).read_bytes())
        out_file = mirror.parent / "fetched.json"
        code, _, _ = cli(
            capsys,
            *("collateral", "fetch", quote, "--pccs", server.url, "--at", TDX_AT),
            *("--no-cache", "--out", str(out_file)),
        )
        assert code == 0
        assert Collateral.from_json(out_file.read_bytes()).raw == expected.raw


def test_serve_for_clients_that_do_not_say_when(vectors: Path, mirror: Path) -> None:
    import httpx

    from tdxquote.testing.pki import REFERENCE_TIME

    qe = "/tdx/certification/v4/qe/identity"
    with PccsServer.from_path(mirror, at=REFERENCE_TIME.replace(year=2025, month=7)) as server:
        then = httpx.get(server.url + qe).json()["enclaveIdentity"]
    with PccsServer.from_path(mirror) as server:  # now: every bundle has expired
        latest = httpx.get(server.url + qe).json()["enclaveIdentity"]
        refused = httpx.get(server.url + qe, headers={"TDXQuote-Collateral-For": "tee=tdx"})
        # A platform the mirror does not hold: answered by what the route names, at the time.
        hint = "tee=tdx; fmspc=00000000AAAA; ca=platform; at=2025-07-04T10:16:31Z"
        other = httpx.get(server.url + qe, headers={"TDXQuote-Collateral-For": hint})
    assert then["tcbEvaluationDataNumber"] == 17
    assert latest["tcbEvaluationDataNumber"] == 18
    assert refused.status_code == 400
    assert other.json()["enclaveIdentity"]["tcbEvaluationDataNumber"] == 17


def test_collateral_serve_process_with_a_mixed_mirror(
    capsys: pytest.CaptureFixture[str], vectors: Path, mirror: Path
) -> None:
    process = run_module("collateral", "serve", "--from", str(mirror), "--port", "0")
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        assert first.startswith("serving sgx 00A067110000, tdx 90C06F000000, tdx B0C06F000000")
        url = first.split(" at ")[1].strip()
        quote = str(vectors / "dcap-qvl" / "tdx_quote")
        code, out, _ = cli(capsys, "verify", quote, "--pccs", url, "--at", TDX_AT, "--no-cache")
        assert code == 0
        assert "verdict: UpToDate" in out
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_fetch_refuses_a_bundle_not_valid_at_the_time(
    capsys: pytest.CaptureFixture[str], vectors: Path, tmp_path: Path
) -> None:
    # Before: the pieces were checked one by one and a bundle that was never valid as a
    # whole (a 2026 QE identity with 2025 TCB Info) was written.
    bundle = Collateral.from_json((vectors / "dcap-qvl" / MIRROR[0]).read_bytes())
    newer = Collateral.from_json((vectors / "dcap-qvl" / OUTDATED).read_bytes())
    out_file = tmp_path / "bundle.json"
    with PccsServer() as server:
        server.add_collateral(bundle)
        server.add_response(
            ("qe", "tdx"),
            b'{"enclaveIdentity":'
            + newer.raw.qe_identity
            + b',"signature":"'
            + newer.raw.qe_identity_signature.hex().encode()
            + b'"}',
            issuer_chain=newer.raw.qe_identity_issuer_chain,
        )
        args = ("collateral", "fetch", "--fmspc", "B0C06F000000", "--pccs", server.url)
        code, _, err = cli(capsys, *args, "--at", TDX_AT, "--no-cache", "--out", str(out_file))
    assert code == 2
    assert (
        "the collateral fetched is not yet valid at 2025-07-04T10:16:31Z: "
        "QE identity valid from 2026-02-18T10:42:15Z"
    ) in err
    assert not out_file.exists()


def test_verify_says_not_yet_valid(
    capsys: pytest.CaptureFixture[str], vectors: Path, tmp_path: Path
) -> None:
    mixed = json.loads((vectors / "dcap-qvl" / MIRROR[0]).read_text())
    newer = json.loads((vectors / "dcap-qvl" / OUTDATED).read_text())
    # The 2026 PCK CRL (thisUpdate 2026-02-18), as the server used to serve it.  (A QE
    # identity issued later would pass: Intel's QVL does not check its issueDate.)
    for field in ("pck_crl", "pck_crl_issuer_chain"):
        mixed[field] = newer[field]
    bundle = tmp_path / "mixed.json"
    bundle.write_text(json.dumps(mixed))
    quote = str(vectors / "dcap-qvl" / "tdx_quote")
    code, out, _ = cli(capsys, "verify", quote, "--collateral", str(bundle), "--at", TDX_AT)
    assert code == 1
    assert "collateral is not yet valid at 2025-07-04T10:16:31Z" in out
    good = str(vectors / "dcap-qvl" / MIRROR[0])
    code, out, _ = cli(capsys, "verify", quote, "--collateral", good, "--at", "2025-08-01")
    assert code == 1
    assert "collateral is expired at 2025-08-01T00:00:00Z" in out


# --- fetch options ----------------------------------------------------------------------


def test_deadline_flag(
    capsys: pytest.CaptureFixture[str], server: PccsServer, files: dict[str, str]
) -> None:
    server.inject(Fault.trickled(0.05), path="/tdx/certification/v4/tcb")
    args = verify_args(files, "--pccs", server.url, "--no-cache", "--fetch-timeout", "1")
    code, out, err = cli(capsys, *args, "--deadline", "0.3")
    assert code == 2
    assert "no complete response within the 0.3 s deadline" in err
    assert "verdict" not in out


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--deadline", "0"),
        ("--deadline", "nan"),
        ("--deadline", "-1"),
        ("--deadline", "1e400"),
        ("--fetch-timeout", "inf"),
        ("--fetch-timeout", "x"),
        ("--fetch-retries", "-1"),
        ("--fetch-retries", "1e3"),
        ("--fetch-retries", "\u0663"),
        ("--fetch-retries", "101"),
    ],
)
def test_fetch_numbers_are_validated(
    capsys: pytest.CaptureFixture[str], files: dict[str, str], option: str, value: str
) -> None:
    code, _, err = cli(capsys, *verify_args(files, "--pccs", "http://127.0.0.1:1"), option, value)
    assert code == 2
    assert f"argument {option}" in err
    assert "Traceback" not in err


def test_retry_progress_only_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
    server: PccsServer,
    files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy = Fault.http_status(503, headers={"Retry-After": "0"})
    args = verify_args(files, "--pccs", server.url, "--no-cache")
    server.inject(busy, path="/tdx/certification/v4/tcb")
    code, _, err = cli(capsys, *args)
    assert (code, err) == (0, "")  # not a terminal: quiet
    server.inject(busy, path="/tdx/certification/v4/tcb")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = cli(capsys, *args)
    assert code == 0
    assert err == "tdxquote: PCCS answered 503, retrying in 0 s (attempt 2 of 4)\n"
