"""``tdxquote verify``: verdicts, refusals, JSON shapes, policy flags, time and bad input.

Forged scenarios are written to ``tmp_path`` and verified with ``--trust-root``
(the synthetic root); the real dcap-qvl vectors are verified against the pinned
Intel root.  Exit codes: 0 verified and accepted, 1 refused, 2 unusable input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _helpers
import pytest

from tdxquote.cli import main
from tdxquote.collateral import TcbStatus
from tdxquote.testing.forge import DEFAULT_MR_TD, QuoteForge, Scenario, td_report
from tdxquote.testing.pki import (
    DEFAULT_NEXT_UPDATE,
    DEFAULT_TEE_TCB_SVN,
    REFERENCE_TIME,
    tcb_info,
    tcb_level,
)

TDX_PIPELINE = list(_helpers.TDX_PIPELINE)
NOW = str(int(REFERENCE_TIME.timestamp()))
OTHER = "11" * 48
RTMR1 = bytes.fromhex("22") * 48
ADVISORIES = ["INTEL-SA-00615", "INTEL-SA-00289"]

# The real dcap-qvl vectors, each at a time inside its collateral's validity.
DCAP_QVL_TDX = ("tdx_quote", "tdx_quote_collateral.json", "1751624191")
DCAP_QVL_SGX = ("sgx_quote", "sgx_quote_collateral.json", "1751624924")
DCAP_QVL_OUTDATED = ("tdx_quote_outdated", "tdx_quote_outdated_collateral.json", "1772707803")
DCAP_QVL_NEAR_HEX = ("near/quote_hex.txt", "near/quote_collateral.json", "1758093775")


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(b"test_cli_verify")


def _write(tmp_path: Path, scenario: Scenario, name: str = "quote.bin") -> list[str]:
    """The scenario's files in ``tmp_path``; returns the QUOTE and file arguments."""
    quote = tmp_path / name
    quote.write_bytes(scenario.quote_bytes)
    collateral = tmp_path / "collateral.json"
    collateral.write_text(scenario.collateral_json())
    root = tmp_path / "root.pem"
    root.write_bytes(scenario.trust_root_pem)
    return [str(quote), "--collateral", str(collateral), "--trust-root", str(root)]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["verify", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _document(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and the whole ``--json`` document (the tdxquote/1 contract)."""
    code, out, err = _cli(capsys, *args, "--json")
    assert err == ""
    document: dict[str, Any] = json.loads(out)
    assert (document["schema"], document["command"]) == ("tdxquote/1", "verify")
    assert document["ok"] is (code == 0)
    return code, document


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Exit code and Intel's verdict when accepted (else the whole document)."""
    code, document = _document(capsys, *args)
    if not document["ok"]:
        return code, document
    result = document["result"]
    assert (result["accepted"], result["failed_check"]) == (True, None)
    assert result["checks_passed"] == [*result["verdict"]["checks"], "policy"]
    verdict: dict[str, Any] = result["verdict"]
    return code, verdict


def _refusal(capsys: pytest.CaptureFixture[str], *args: str, code: str) -> dict[str, Any]:
    """The refusal (exit 1): its code, message, details and the checks that passed."""
    exit_code, document = _document(capsys, *args)
    assert exit_code == 1
    error = document["error"]
    assert error["kind"] == "refused"
    assert error["code"] == code, error["message"]
    result = document["result"]
    assert result["accepted"] is False
    assert result["failed_check"] == (
        "policy" if code in ("policy", "collateral_expired") else code
    )
    flat: dict[str, Any] = {"code": error["code"], "message": error["message"], **error["details"]}
    flat["checks_passed"] = result["checks_passed"]
    flat["verdict"] = result["verdict"]
    return flat


def _usage(capsys: pytest.CaptureFixture[str], *args: str, code: str) -> dict[str, Any]:
    """Exit 2 with the error document on stdout (JSON) and one line on stderr (text)."""
    exit_code, document = _document(capsys, *args)
    assert exit_code == 2
    assert document["result"] is None
    error: dict[str, Any] = document["error"]
    assert error["code"] == code, error["message"]
    assert error["kind"] == "bad_input"
    assert set(error) == {"kind", "code", "field", "offset", "message", "details"}
    exit_code, out, err = _cli(capsys, *args)
    assert (exit_code, out) == (2, "")
    assert err.startswith("tdxquote: error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return error


def _with_status(forge: QuoteForge, status: str, advisories: list[str] | None = None) -> Scenario:
    level = tcb_level(tdx=DEFAULT_TEE_TCB_SVN, status=status, advisories=advisories or ())
    return forge.scenario(tcb_info=tcb_info(tcb_levels=[level]))


# --- verdicts -------------------------------------------------------------------------------


def test_verified_text_lists_the_status_and_every_check(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, *_write(tmp_path, forge.scenario()), "--at", NOW)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "verdict: UpToDate (SGX_QL_QV_RESULT_OK)"
    assert lines[1] == "at: 2025-06-01T00:00:00Z"
    assert lines[2 : 2 + len(TDX_PIPELINE) + 1] == [
        f"  pass  {check}" for check in (*TDX_PIPELINE, "policy")
    ]
    assert "advisories: none" in lines
    assert f"MRTD: {DEFAULT_MR_TD.hex()}" in lines


def test_verified_json(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _with_status(forge, "SWHardeningNeeded", ADVISORIES)
    args = (*_write(tmp_path, scenario), "--at", NOW, "--allow-status", "SWHardeningNeeded")
    code, document = _json(capsys, *args)
    assert code == 0
    assert document["status"] == "SWHardeningNeeded"
    assert document["advisory_ids"] == sorted(ADVISORIES)
    assert document["qv_result"] == {
        "name": "SGX_QL_QV_RESULT_SW_HARDENING_NEEDED",
        "value": 0xA007,
    }
    assert document["checks"] == TDX_PIPELINE
    assert document["body"]["mr_td"] == DEFAULT_MR_TD.hex()
    assert document["supplemental"]["collateral_expired"] is False


def test_td15_quote_lists_the_relaunch_check(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = forge.scenario(forge.quote(td_report(3)))
    code, document = _json(capsys, *_write(tmp_path, scenario), "--at", NOW)
    assert code == 0
    assert document["checks"] == [*TDX_PIPELINE, "td_relaunch"]
    assert document["quote"] == {"version": 5, "tee_type": "TDX", "body_type": 3}


def test_hex_quote_from_stdin(
    forge: QuoteForge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = forge.scenario()
    args = _write(tmp_path, scenario)
    stdin = tmp_path / "stdin"
    stdin.write_bytes(scenario.quote_bytes.hex().encode() + b"\n")
    with stdin.open("rb") as handle:
        monkeypatch.setattr("sys.stdin", type("Stdin", (), {"buffer": handle})())
        code, document = _json(capsys, "-", *args[1:], "--at", NOW)
    assert (code, document["status"]) == (0, "UpToDate")


def test_refused_text_lists_the_passed_checks_and_the_failure(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = forge.scenario(forge.quote(bad_quote_signature=True))
    code, out, err = _cli(capsys, *_write(tmp_path, scenario), "--at", NOW)
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[0] == "verdict: REFUSED"
    assert lines[1] == "at: 2025-06-01T00:00:00Z"
    passed = TDX_PIPELINE[: TDX_PIPELINE.index("quote_signature")]
    assert lines[2 : 2 + len(passed)] == [f"  pass  {check}" for check in passed]
    assert lines[2 + len(passed)].startswith("  FAIL  quote_signature_invalid: ")
    assert lines[3 + len(passed)].startswith("Intel equivalent: STATUS_INVALID_QUOTE_SIGNATURE")
    assert lines[-1] == "input: binary"


def test_refused_json(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = forge.replace(pki=forge.pki.with_revoked_pck(forge.leaf.serial_number)).scenario()
    error = _refusal(capsys, *_write(tmp_path, scenario), "--at", NOW, code="pck_revoked")
    assert set(error) == {"code", "message", "intel_error", "checks_passed", "verdict"}
    assert error["verdict"] is None  # the chain failed: Intel's verdict was never reached
    assert error["checks_passed"] == ["quote_format", "pck_chain", "crls"]
    assert "SGX_QL_PCK_REVOKED" in error["intel_error"]


def test_untrusted_root_without_trust_root(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _write(tmp_path, forge.scenario())[:3]  # no --trust-root: Intel's root
    error = _refusal(capsys, *args, "--at", NOW, code="pck_chain_untrusted")
    assert error["checks_passed"] == ["quote_format"]


# --- policy flags -----------------------------------------------------------------------------


def test_allow_status(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (*_write(tmp_path, _with_status(forge, "ConfigurationNeeded")), "--at", NOW)
    error = _refusal(capsys, *args, code="policy")
    assert error["rule"] == "accepted_statuses"
    assert (error["expected"], error["actual"]) == (["UpToDate"], "ConfigurationNeeded")
    assert error["checks_passed"] == TDX_PIPELINE
    for allowed in (["ConfigurationNeeded"], ["OutOfDate", "ConfigurationNeeded"], ["any"]):
        flags = [flag for status in allowed for flag in ("--allow-status", status)]
        code, document = _json(capsys, *args, *flags)
        assert (code, document["status"]) == (0, "ConfigurationNeeded")
    code, out, err = _cli(capsys, *args, "--allow-status", "Bogus")
    assert (code, out) == (2, "")
    assert "invalid choice: 'Bogus'" in err
    assert all(status in err for status in ("'SWHardeningNeeded'", "'Revoked'", "'any'"))


def test_reject_advisory(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (*_write(tmp_path, _with_status(forge, "UpToDate", ADVISORIES)), "--at", NOW)
    code, document = _json(capsys, *args, "--reject-advisory", "INTEL-SA-00001")
    assert (code, document["advisory_ids"]) == (0, sorted(ADVISORIES))
    error = _refusal(capsys, *args, "--reject-advisory", "INTEL-SA-00289", code="policy")
    assert error["rule"] == "rejected_advisory_ids"
    assert error["actual"] == sorted(ADVISORIES)


def test_expect_mr_td(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (*_write(tmp_path, forge.scenario()), "--at", NOW)
    assert _json(capsys, *args, "--expect-mr-td", DEFAULT_MR_TD.hex())[0] == 0
    any_of = ("--expect-mr-td", OTHER, "--expect-mr-td", DEFAULT_MR_TD.hex().upper())
    assert _json(capsys, *args, *any_of)[0] == 0
    error = _refusal(capsys, *args, "--expect-mr-td", OTHER, code="policy")
    assert (error["rule"], error["expected"], error["actual"]) == (
        "expect_mr_td",
        [OTHER],
        DEFAULT_MR_TD.hex(),
    )
    _usage(capsys, *args, "--expect-mr-td", "xyz", code="usage_error")


def test_expect_rtmr(forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = forge.scenario(
        forge.quote(td_report(rtmrs=[bytes(48), RTMR1, bytes(48), bytes(48)]))
    )
    args = (*_write(tmp_path, scenario), "--at", NOW)
    flags = ("--expect-rtmr", f"1:{RTMR1.hex()}", "--expect-rtmr", f"3:{'00' * 48}")
    assert _json(capsys, *args, *flags)[0] == 0
    error = _refusal(capsys, *args, "--expect-rtmr", f"0:{OTHER}", code="policy")
    assert (error["rule"], error["actual"]) == ("expect_rtmr0", "00" * 48)
    for bad in ("x:00", f"4:{OTHER}", "1:zz"):
        _usage(capsys, *args, "--expect-rtmr", bad, code="usage_error")
    twice = ("--expect-rtmr", f"1:{OTHER}", "--expect-rtmr", f"1:{OTHER}")
    _usage(capsys, *args, *twice, code="usage_error")


@pytest.mark.parametrize("spec", ["1", "1:", ":00"])
def test_expect_rtmr_without_index_or_value_is_a_usage_error(
    spec: str, forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: "--expect-rtmr 1" expected RTMR1 to be empty and refused every quote
    # (exit 1) instead of reporting the bad option.
    args = (*_write(tmp_path, forge.scenario()), "--at", NOW)
    error = _usage(capsys, *args, "--expect-rtmr", spec, code="usage_error")
    assert "--expect-rtmr" in error["message"]


def test_expect_report_data(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = b"cli nonce".ljust(64, b"\0")
    args = (
        *_write(tmp_path, forge.scenario(forge.quote(td_report(report_data=nonce)))),
        "--at",
        NOW,
    )
    assert _json(capsys, *args, "--expect-report-data", nonce.hex())[0] == 0
    error = _refusal(capsys, *args, "--expect-report-data", "00" * 64, code="policy")
    assert error["rule"] == "expect_report_data"


@pytest.mark.parametrize(
    ("flag", "rule"),
    [
        ("--disallow-dynamic-platform", "dynamic_platform"),
        ("--disallow-cached-keys", "cached_keys"),
        ("--disallow-smt", "smt"),
    ],
)
def test_platform_flags(
    flag: str, rule: str, forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (*_write(tmp_path, forge.scenario()), "--at", NOW)
    assert _refusal(capsys, *args, flag, code="policy")["rule"] == rule


def test_grace_and_tcb_evaluation_flags(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (*_write(tmp_path, _with_status(forge, "OutOfDate")), "--at", NOW)
    _refusal(capsys, *args, "--platform-grace-days", "1", code="policy")
    assert _json(capsys, *args, "--platform-grace-days", "1000")[0] == 0
    assert _json(capsys, *args, "--platform-grace-days", "1000", "--min-tcb-eval", "17")[0] == 0
    error = _refusal(
        capsys, *args, "--platform-grace-days", "1000", "--min-tcb-eval", "18", code="policy"
    )
    assert (error["rule"], error["expected"], error["actual"]) == (
        "min_tcb_evaluation_data_number",
        18,
        17,
    )


def test_unsafe_allow_debug(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    debug_td = td_report(td_attributes=bytes.fromhex("0100001000000000"))
    args = (*_write(tmp_path, forge.scenario(forge.quote(debug_td))), "--at", NOW)
    assert _refusal(capsys, *args, code="policy")["rule"] == "debug"
    assert _json(capsys, *args, "--unsafe-allow-debug")[0] == 0


def test_unsafe_allow_expired_collateral(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (*_write(tmp_path, forge.scenario()), "--at", DEFAULT_NEXT_UPDATE.isoformat())
    error = _refusal(capsys, *args, code="collateral_expired")
    assert error["checks_passed"] == TDX_PIPELINE
    code, document = _json(capsys, *args, "--unsafe-allow-expired-collateral")
    assert (code, document["supplemental"]["collateral_expired"]) == (0, True)


# --- --at ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [
        NOW,
        f"{NOW}.5",
        "2025-06-01T00:00:00Z",
        "2025-06-01T00:00:00+00:00",
        "2025-06-01T02:00:00+02:00",
        "2025-06-01T00:00:00",  # naive: UTC
        "2025-06-01",
    ],
)
def test_at_as_unix_seconds_or_iso_8601(
    at: str, forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The TCB Info expires one second after REFERENCE_TIME: only that instant verifies.
    scenario = forge.scenario(tcb_info=tcb_info(next_update="2025-06-01T00:00:01Z"))
    code, out, err = _cli(capsys, *_write(tmp_path, scenario), "--at", at)
    assert (code, err) == (0, "")
    assert "verdict: UpToDate" in out


@pytest.mark.parametrize("at", ["2025-06-01T00:00:01Z", str(int(NOW) + 1)])
def test_at_is_the_verification_time(
    at: str, forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = forge.scenario(tcb_info=tcb_info(next_update="2025-06-01T00:00:01Z"))
    _refusal(capsys, *_write(tmp_path, scenario), "--at", at, code="collateral_expired")


@pytest.mark.parametrize("at", ["yesterday", "", "2025-13-01", "nan", "inf", "1e20", "-1e20"])
def test_bad_at(
    at: str, forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: "inf" and "1e20" escaped as OverflowError tracebacks.
    error = _usage(capsys, *_write(tmp_path, forge.scenario()), f"--at={at}", code="usage_error")
    assert "--at" in error["message"]


# --- unusable input ----------------------------------------------------------------------------


def test_unusable_input_is_reported_as_json_with_json(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Regression: verify raised its input errors to the dispatcher, which printed text on
    # stderr even with --json.
    args = _write(tmp_path, forge.scenario())
    Path(args[0]).write_bytes(b"\x04\x00")
    code, out, err = _cli(capsys, *args, "--at", NOW, "--json")
    assert (code, err) == (2, "")
    assert json.loads(out)["error"]["code"] == "parse_error"


def test_missing_collateral_file(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _write(tmp_path, forge.scenario())
    args[2] = str(tmp_path / "absent.json")
    error = _usage(capsys, *args, "--at", NOW, code="input_error")
    assert "no such file" in error["message"]


def test_missing_quote_and_trust_root_files(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _write(tmp_path, forge.scenario())
    _usage(capsys, str(tmp_path / "absent.bin"), *args[1:], "--at", NOW, code="input_error")
    args[4] = str(tmp_path / "absent.pem")
    _usage(capsys, *args, "--at", NOW, code="input_error")


def test_trust_root_not_a_certificate(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _write(tmp_path, forge.scenario())
    Path(args[4]).write_bytes(b"not a certificate")
    error = _usage(capsys, *args, "--at", NOW, code="trust_root_invalid")
    assert "--trust-root" in error["message"]


def test_trust_root_in_der(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = forge.scenario()
    args = _write(tmp_path, scenario)
    Path(args[4]).write_bytes(scenario.trust_root_der)
    assert _json(capsys, *args, "--at", NOW)[0] == 0


def _malformed_collateral(scenario: Scenario) -> dict[str, str]:
    good = json.loads(scenario.collateral_json())
    tcb = json.loads(good["tcb_info"])
    tcb["tcbLevels"][0]["tcbStatus"] = "Bogus"
    return {
        "not_json": "{",
        "not_an_object": "[]",
        "missing_member": json.dumps({k: v for k, v in good.items() if k != "pck_crl"}),
        "crl_not_hex": json.dumps({**good, "pck_crl": "zz"}),
        "bad_tcb_status": json.dumps({**good, "tcb_info": json.dumps(tcb)}),
    }


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("not_json", "collateral_format"),
        ("not_an_object", "collateral_format"),
        ("missing_member", "collateral_format"),
        ("crl_not_hex", "collateral_format"),
        ("bad_tcb_status", "tcb_info_format"),
    ],
)
def test_malformed_collateral_json(
    kind: str, code: str, forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = forge.scenario()
    args = _write(tmp_path, scenario)
    Path(args[2]).write_text(_malformed_collateral(scenario)[kind])
    error = _usage(capsys, *args, "--at", NOW, code=code)
    assert error["message"].startswith(args[2])


def test_malformed_quote(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _write(tmp_path, forge.scenario())
    Path(args[0]).write_bytes(forge.scenario().quote_bytes[:100])
    error = _usage(capsys, *args, "--at", NOW, code="parse_error")
    assert error["field"] is not None
    assert error["offset"] is not None


def test_collateral_flag_is_required(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _write(tmp_path, forge.scenario())
    code, out, err = _cli(capsys, args[0], "--at", NOW)
    assert (code, out) == (2, "")
    assert "usage:" in err


# --- the real dcap-qvl vectors -----------------------------------------------------------------


def _vector(vectors: Path, row: tuple[str, str, str]) -> list[str]:
    quote, collateral, now = row
    folder = vectors / "dcap-qvl"
    return [str(folder / quote), "--collateral", str(folder / collateral), "--at", now]


def test_real_tdx_quote(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, *_vector(vectors, DCAP_QVL_TDX))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "verdict: UpToDate (SGX_QL_QV_RESULT_OK)"
    assert "  pass  tdx_module_identity" in out.splitlines()
    code, document = _json(capsys, *_vector(vectors, DCAP_QVL_TDX))
    assert (code, document["status"], document["advisory_ids"]) == (0, "UpToDate", [])


def test_real_hex_tdx_quote(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _json(capsys, *_vector(vectors, DCAP_QVL_NEAR_HEX))
    assert (code, document["status"]) == (0, "UpToDate")


def test_real_sgx_quote(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _vector(vectors, DCAP_QVL_SGX)
    status = str(TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED)
    error = _refusal(capsys, *args, code="policy")
    assert (error["rule"], error["actual"]) == ("accepted_statuses", status)
    code, document = _json(capsys, *args, "--allow-status", status)
    assert code == 0
    assert document["status"] == status
    assert document["advisory_ids"] == ["INTEL-SA-00289", "INTEL-SA-00615"]
    assert document["qv_result"]["name"] == "SGX_QL_QV_RESULT_CONFIG_AND_SW_HARDENING_NEEDED"
    rejected = ("--allow-status", status, "--reject-advisory", "INTEL-SA-00615")
    assert _refusal(capsys, *args, *rejected, code="policy")["rule"] == "rejected_advisory_ids"


def test_real_outdated_quote_is_tcb_not_supported(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    error = _refusal(capsys, *_vector(vectors, DCAP_QVL_OUTDATED), code="tcb_not_supported")
    assert "quote_signature" in error["checks_passed"]


def test_real_quote_after_its_collateral_expired(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*_vector(vectors, DCAP_QVL_TDX)[:-1], "2025-08-01T00:00:00Z"]
    _refusal(capsys, *args, code="collateral_expired")
    code, document = _json(capsys, *args, "--unsafe-allow-expired-collateral")
    assert (code, document["status"]) == (0, "UpToDate")
    assert document["supplemental"]["collateral_expired"] is True


def test_real_quote_with_another_trust_root(
    vectors: Path, forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(forge.scenario().trust_root_pem)
    args = (*_vector(vectors, DCAP_QVL_TDX), "--trust-root", str(root))
    _refusal(capsys, *args, code="pck_chain_untrusted")


def test_real_quote_with_the_other_tees_collateral(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quote, _, _ = DCAP_QVL_TDX
    _, collateral, now = DCAP_QVL_SGX
    # The SGX set's PCK CRL is the Processor CA's; the TDX quote's chain has the Platform CA.
    error = _refusal(
        capsys, *_vector(vectors, (quote, collateral, now)), code="crl_issuer_mismatch"
    )
    assert error["checks_passed"] == ["quote_format", "pck_chain"]
