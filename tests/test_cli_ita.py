"""``verify``, ``cert`` and ``probe`` with the Intel Trust Authority backend (``--ita-*``).

Everything runs against the ITA-compatible server of ``tdxquote.testing.ita`` on
127.0.0.1: success, refusals (claims that disagree with the quote, the policy, a pin that
does not hold, an expired token), no verdict (HTTP errors, a trickling server, nothing
listening) and unusable flags.  The JSON documents are validated against the published
schemas by ``tests/test_cli_json_contract.py``; here the values are checked.  The API key
must never be printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT
from probe_servers import refused_port

from tdxquote import Quote
from tdxquote._cli import ita_options
from tdxquote.cli import build_parser, main
from tdxquote.errors import ITA_ERROR_CODES
from tdxquote.ita import (
    API_KEY_ENV,
    ITA_CHECKS,
    ITA_EU_API_URL,
    ITA_EU_PORTAL_URL,
    REGIONS,
    _client,
    _transport,
)
from tdxquote.ratls._report import ITA_FETCH_ERROR_CODES, USAGE_ERROR_CODES
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.ita import ItaFault, ItaServer, TokenOptions
from tdxquote.testing.ratls import RaTlsForge

SYNTHETIC = REPO_ROOT / "vectors" / "synthetic"
QUOTE = str(SYNTHETIC / "tdx_v4.quote")
SGX_QUOTE = str(SYNTHETIC / "sgx_v3.quote")
ATTEST = "/appraisal/v2/attest"
SECRET = "a-secret-ita-key-never-printed"
QUOTE_MRTD = Quote.from_text(Path(QUOTE).read_bytes()).body.mr_td.hex()  # type: ignore[union-attr]


@pytest.fixture
def server() -> Iterator[ItaServer]:
    with ItaServer(api_key=SECRET) as running:
        yield running


def ita_flags(server: ItaServer, *, key: str | None = SECRET) -> list[str]:
    flags = ["--ita-api-url", server.api_url, "--ita-portal-url", server.portal_url]
    if key is not None:
        flags += ["--ita-api-key", key]
    return [*flags, "--no-cache", "--at", server.now.isoformat()]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert SECRET not in out + err, "the API key was printed"
    return code, out, err


def document(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--json")
    parsed: dict[str, Any] = json.loads(out)
    assert parsed["ok"] is (code == 0)
    return code, parsed


# --- verify -----------------------------------------------------------------------------------


def test_verify_accepts_with_itas_verdict(
    server: ItaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    pin = server.pki.root_spki_sha256.hex()
    args = ["verify", QUOTE, *ita_flags(server), "--ita-root-spki-sha256", pin]
    code, doc = document(capsys, *args)
    assert code == 0
    result = doc["result"]
    assert result["backend"] == "ita"
    assert result["accepted"] is True
    assert result["checks_passed"] == [*ITA_CHECKS, "policy"]
    verdict = result["verdict"]
    assert (verdict["backend"], verdict["status"]) == ("ita", "UpToDate")
    assert verdict["token"]["kid"] == server.kid
    assert verdict["token"]["root_spki_sha256"] == pin
    assert verdict["body"]["mr_td"] == QUOTE_MRTD
    code, out, _ = run(capsys, *args)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "verdict: UpToDate (SGX_QL_QV_RESULT_OK)"
    assert lines[-2].startswith(f"backend: Intel Trust Authority (token PS384, key {server.kid}")
    assert server.count(ATTEST) == 2


def test_the_key_goes_to_the_api_only_and_may_come_from_the_environment(
    server: ItaServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, SECRET)
    code, _, _ = run(capsys, "verify", QUOTE, *ita_flags(server, key=None))
    assert code == 0
    api = [r for r in server.requests if r.role == "api"]
    portal = [r for r in server.requests if r.role == "portal"]
    assert api
    assert portal
    assert all(r.header("x-api-key") == SECRET for r in api)
    assert all(r.header("x-api-key") is None for r in portal)


def test_no_key_is_a_usage_error(
    server: ItaServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    code, doc = document(capsys, "verify", QUOTE, *ita_flags(server, key=None))
    assert code == 2
    assert (doc["error"]["kind"], doc["error"]["code"]) == ("bad_input", "usage_error")
    assert API_KEY_ENV in doc["error"]["message"]
    assert server.count() == 0


def test_a_wrong_key_is_no_verdict(server: ItaServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = document(capsys, "verify", QUOTE, *ita_flags(server, key="wrong-key"))
    assert code == 2
    error = doc["error"]
    assert (error["kind"], error["code"], error["details"]["status"]) == (
        "unavailable",
        "ita_fetch_failed",
        401,
    )
    assert doc["result"] is None


def test_claims_that_disagree_with_the_quote_are_refused(
    server: ItaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.token_options = TokenOptions(claims={"tdx_rtmr3": "11" * 48})
    code, doc = document(capsys, "verify", QUOTE, *ita_flags(server))
    assert code == 1
    error, result = doc["error"], doc["result"]
    assert (error["kind"], error["code"]) == ("refused", "ita_claims_mismatch")
    assert error["details"]["claim"] == "tdx_rtmr3"
    assert result["failed_check"] == "ita_claims_mismatch"
    assert result["checks_passed"] == list(ITA_CHECKS[:-1])
    assert result["verdict"] is None
    assert result["backend"] == "ita"


def test_a_policy_refusal_keeps_itas_verdict(
    server: ItaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.token_options = TokenOptions(tcb_status="OutOfDate", advisory_ids=("INTEL-SA-00837",))
    code, doc = document(capsys, "verify", QUOTE, *ita_flags(server))
    assert code == 1
    result = doc["result"]
    assert (doc["error"]["code"], result["failed_check"]) == ("policy", "policy")
    assert result["checks_passed"] == list(ITA_CHECKS)
    assert result["verdict"]["status"] == "OutOfDate"
    assert result["verdict"]["advisory_ids"] == ["INTEL-SA-00837"]
    code, out, _ = run(capsys, "verify", QUOTE, *ita_flags(server))
    assert code == 1
    assert "ITA's verdict, refused by the policy: OutOfDate" in out
    assert server.count(ATTEST) == 2  # one appraisal per run, the verdict kept all the same
    code, _ = document(capsys, "verify", QUOTE, *ita_flags(server), "--allow-status", "OutOfDate")
    assert code == 0


def test_a_policy_on_what_ita_does_not_report_refuses(
    server: ItaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = document(capsys, "verify", QUOTE, *ita_flags(server), "--disallow-smt")
    assert (code, doc["error"]["code"]) == (1, "policy")


def test_a_root_pin_that_does_not_hold_is_refused(
    server: ItaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["verify", QUOTE, *ita_flags(server), "--ita-root-spki-sha256", "ab" * 32]
    code, doc = document(capsys, *args)
    assert (code, doc["error"]["code"]) == (1, "ita_chain_untrusted")
    assert doc["result"]["checks_passed"] == ["ita_token_header"]


def test_an_expired_token_is_refused(server: ItaServer, capsys: pytest.CaptureFixture[str]) -> None:
    later = (server.now + timedelta(minutes=10)).isoformat()
    code, doc = document(capsys, "verify", QUOTE, *ita_flags(server), "--at", later)
    assert (code, doc["error"]["code"]) == (1, "ita_token_expired")


@pytest.mark.parametrize("status", [500, 503])
def test_http_errors_are_no_verdict_and_the_retries_are_the_flags(
    server: ItaServer, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    server.inject(ItaFault.http_status(status, body=b"appraisal failed"), path=ATTEST, times=None)
    args = ["verify", QUOTE, *ita_flags(server), "--fetch-retries", "1", "--deadline", "30"]
    code, doc = document(capsys, *args)
    assert code == 2
    error = doc["error"]
    assert (error["kind"], error["code"], error["details"]["status"]) == (
        "unavailable",
        "ita_fetch_failed",
        status,
    )
    assert error["details"]["url"].endswith(ATTEST)
    assert server.count(ATTEST) == 2  # --fetch-retries 1
    code, _, err = run(capsys, *args)
    assert code == 2
    assert err.startswith("tdxquote: error: Intel Trust Authority could not be asked: ")


def test_a_trickling_server_is_cut_off_by_deadline(
    server: ItaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.inject(ItaFault.trickle(0.05), path=ATTEST)
    args = ["verify", QUOTE, *ita_flags(server), "--deadline", "0.3", "--fetch-timeout", "5"]
    code, doc = document(capsys, *args)
    assert (code, doc["error"]["code"]) == (2, "ita_deadline_exceeded")
    assert "0.3 s deadline" in doc["error"]["message"]


def test_nothing_listening_is_no_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    with refused_port() as closed:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        argv = ["verify", QUOTE, "--ita-api-url", url, "--ita-portal-url", url]
        code, doc = document(capsys, *argv, "--ita-api-key", SECRET, "--fetch-retries", "0")
    assert (code, doc["error"]["kind"]) == (2, "unavailable")


def test_an_sgx_quote_is_not_sent(server: ItaServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = document(capsys, "verify", SGX_QUOTE, *ita_flags(server))
    assert (code, doc["error"]["code"]) == (2, "usage_error")
    assert "TDX quotes only" in doc["error"]["message"]
    assert server.count() == 0


# --- flags ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--trust-root", str(SYNTHETIC / "trust_root.pem")], "--ita-root-spki-sha256"),
        (["--api-key", "pcs-key"], "Intel PCS key"),
        (["--cache-dir", "somewhere"], "TDXQUOTE_ITA_CACHE_DIR"),
        (["--tcb-eval", "17"], "--tcb-eval"),
        (["--ita-root-spki-sha256", "not-hex"], "64 hex digits"),
    ],
)
def test_options_that_mean_nothing_with_ita_are_refused(
    server: ItaServer, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    code, doc = document(capsys, "verify", QUOTE, *ita_flags(server), *extra)
    assert (code, doc["error"]["code"]) == (2, "usage_error")
    assert says in doc["error"]["message"]
    assert server.count() == 0


def test_the_portal_is_never_guessed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["verify", QUOTE, "--ita-api-url", "https://api.example", "--ita-api-key", SECRET]
    code, doc = document(capsys, *argv)
    assert (code, doc["error"]["code"]) == (2, "usage_error")
    assert "--ita-portal-url" in doc["error"]["message"]
    both = ["verify", QUOTE, "--ita-region", "eu", "--ita-portal-url", "https://p.example"]
    code, doc = document(capsys, *both, "--ita-api-key", SECRET)
    assert (code, doc["error"]["code"]) == (2, "usage_error")


@pytest.mark.parametrize(
    "conflict",
    [
        ["--ita-region", "us", "--pccs", "https://pccs.example"],
        ["--ita-region", "us", "--intel-pcs"],
        ["--ita-api-url", "https://api.example", "--collateral", "bundle.json"],
        ["--ita-region", "us", "--ita-api-url", "https://api.example"],
    ],
)
def test_ita_excludes_collateral_sources(
    capsys: pytest.CaptureFixture[str], conflict: list[str]
) -> None:
    # argparse refuses these before anything runs: usage on stderr, exit 2, also with --json.
    assert main(["verify", QUOTE, *conflict, "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "not allowed with argument" in err


def test_the_region_names_both_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, SECRET)
    args = build_parser().parse_args(["verify", QUOTE, "--ita-region", "eu", "--deadline", "7"])
    config = ita_options.ita_config_from_args(args)
    assert (config.api_url, config.portal_url) == (ITA_EU_API_URL, ITA_EU_PORTAL_URL)
    assert config.api_key == SECRET
    assert SECRET not in repr(config)
    assert (config.http.deadline, config.http.timeout, config.http.retries) == (7.0, 30.0, 3)


def test_the_cli_constants_are_the_librarys() -> None:
    # Spelled out in the CLI so that --help does not import tdxquote.ita.
    assert tuple(REGIONS) == ita_options.REGIONS
    assert API_KEY_ENV == ita_options.API_KEY_ENV


def test_every_fetch_error_code_is_no_verdict() -> None:
    import re

    raised = set()
    for module in (_client, _transport):
        source = Path(str(module.__file__)).read_text(encoding="utf-8")
        raised |= set(re.findall(r'"(ita_[a-z_]+)"', source))
    # ita_fetch_failed is ItaFetchError's default code, never spelled out where it is raised.
    assert raised | {"ita_fetch_failed"} == set(ITA_FETCH_ERROR_CODES)
    assert ITA_FETCH_ERROR_CODES <= USAGE_ERROR_CODES
    assert set(ITA_ERROR_CODES) >= ITA_FETCH_ERROR_CODES


# --- cert and probe ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made_cert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    forge = RaTlsForge.create(b"cli ita certificates")
    folder = tmp_path_factory.mktemp("ita-cert")
    (folder / "cert.pem").write_bytes(forge.certificate(issuer="kms").chain_pem)
    (folder / "unbound.pem").write_bytes(
        forge.certificate(bind_key=forge.leaf_key("other")).chain_pem
    )
    return folder


def test_cert_with_ita(
    server: ItaServer, made_cert: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = document(capsys, "cert", str(made_cert / "cert.pem"), *ita_flags(server))
    assert code == 0
    report = doc["result"]
    assert report["backend"] == "ita"
    verdict = report["verdict"]
    assert (verdict["mode"], verdict["status"], verdict["token"]["kid"]) == (
        "ita",
        "UpToDate",
        server.kid,
    )
    assert verdict["checks"][:3] == ["ratls_attestation", "ratls_binding", "ratls_rtmr_replay"]
    assert verdict["checks"][-1] == "ita_token_binds_key"
    code, out, _ = run(capsys, "cert", str(made_cert / "cert.pem"), *ita_flags(server))
    assert code == 0
    assert "verdict:        VERIFIED UpToDate" in out
    assert "backend:        Intel Trust Authority (token PS384" in out


def test_cert_refusals_with_ita(
    server: ItaServer, made_cert: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A key the quote does not bind: refused before ITA is asked.
    code, doc = document(capsys, "cert", str(made_cert / "unbound.pem"), *ita_flags(server))
    assert (code, doc["error"]["kind"]) == (1, "refused")
    assert doc["result"]["verdict"]["mode"] == "ita"
    assert server.count() == 0
    # Claims that describe another TD.
    server.token_options = TokenOptions(claims={"tdx_mrtd": "00" * 48})
    code, doc = document(capsys, "cert", str(made_cert / "cert.pem"), *ita_flags(server))
    assert (code, doc["error"]["code"]) == (1, "ita_claims_mismatch")
    passed = doc["result"]["verdict"]["error"]["checks_passed"]
    assert passed[:3] == ["ratls_attestation", "ratls_binding", "ratls_rtmr_replay"]
    assert passed[-1] == "ita_claims"


def test_cert_with_ita_unreachable_keeps_the_report(
    server: ItaServer, made_cert: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.inject(ItaFault.http_status(502), path=ATTEST, times=None)
    argv = ["cert", str(made_cert / "cert.pem"), *ita_flags(server), "--fetch-retries", "0"]
    code, doc = document(capsys, *argv)
    assert (code, doc["error"]["kind"], doc["error"]["code"]) == (
        2,
        "unavailable",
        "ita_fetch_failed",
    )
    assert doc["result"]["mr_td"] is not None  # what the certificate carries is still reported
    code, out, _ = run(capsys, *argv)
    assert code == 2
    assert "verdict:        NOT VERIFIED ita_fetch_failed" in out


def test_cert_simulator_mode_takes_no_ita(
    server: ItaServer, made_cert: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cert", str(made_cert / "cert.pem"), *ita_flags(server), "--unsafe-simulator"]
    code, doc = document(capsys, *argv)
    assert (code, doc["error"]["code"]) == (2, "usage_error")


def test_the_dcap_path_says_its_backend(
    made_cert: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = document(capsys, "cert", str(made_cert / "cert.pem"))
    assert (code, doc["result"]["backend"]) == (2, "dcap")  # no collateral: no verdict
    code, doc = document(capsys, "cert", str(made_cert / "cert.pem"), "--unsafe-simulator")
    assert (code, doc["result"]["backend"]) == (0, None)
    forged = QuoteForge.create(seed=b"cli ita dcap").scenario()
    folder = made_cert / "dcap"
    folder.mkdir(exist_ok=True)
    (folder / "q").write_bytes(forged.quote_bytes)
    (folder / "c.json").write_text(forged.collateral_json())
    (folder / "r.pem").write_bytes(forged.trust_root_pem)
    argv = ["verify", str(folder / "q"), "--collateral", str(folder / "c.json")]
    argv += ["--trust-root", str(folder / "r.pem"), "--at", forged.now.isoformat()]
    code, doc = document(capsys, *argv)
    assert (code, doc["result"]["backend"]) == (0, "dcap")
    code, out, _ = run(capsys, *argv)
    assert out.splitlines()[-2] == "backend: DCAP (Intel's collateral, verified locally)"


# --- the library piece the CLI uses ------------------------------------------------------------


def test_ita_quote_verifier_serves_verify_certificate(made_cert: Path) -> None:
    import asyncio

    from tdxquote.ita import ItaClient, ItaQuoteVerifier, ItaVerifiedQuote
    from tdxquote.ratls import verify_certificate

    chain = (made_cert / "cert.pem").read_bytes()
    with ItaServer() as server, ItaClient(server.config()) as client:
        verifier = ItaQuoteVerifier(client)
        verified = verify_certificate(chain, verifier=verifier, now=server.now)
        assert isinstance(verified.verified_quote, ItaVerifiedQuote)
        assert verified.checks[-1] == "policy"
        with pytest.raises(TypeError, match="without collateral"):
            verifier.verify(verified.certificate.quote, object(), now=server.now)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="synchronous"):
            asyncio.run(verifier.averify(verified.certificate.quote, now=server.now))
