"""``tdxquote cert FILE``: what a certificate carries, the verdict, exit codes 0 / 1 / 2."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tdxquote.cli import main
from tdxquote.testing.ratls import (
    DEFAULT_APP_ID,
    DEFAULT_COMPOSE_HASH,
    ForgedCertificate,
    RaTlsForge,
)

KMS_NOW = "1750400000"


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> tuple[ForgedCertificate, dict[str, str]]:
    forge = RaTlsForge.create(b"tdxquote cli cert tests")
    made = forge.certificate(issuer="ca")
    folder = tmp_path_factory.mktemp("cert")
    files = {
        "cert": folder / "server.pem",
        "der": folder / "server.der",
        "collateral": folder / "collateral.json",
        "root": folder / "root.pem",
        "bad_key": folder / "bad.pem",
    }
    files["cert"].write_bytes(made.chain_pem)
    files["der"].write_bytes(made.leaf_der)
    files["collateral"].write_text(made.collateral_json())
    files["root"].write_bytes(made.trust_root_pem)
    files["bad_key"].write_bytes(forge.certificate(bind_key=forge.leaf_key("other")).chain_pem)
    return made, {k: str(v) for k, v in files.items()}


def _verify_args(files: dict[str, str], made: ForgedCertificate) -> list[str]:
    return [
        "--collateral",
        files["collateral"],
        "--trust-root",
        files["root"],
        "--at",
        made.now.isoformat(),
    ]


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> dict[str, Any]:
    return _json_and_stderr(capsys, argv, code)[0]


def _json_and_stderr(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int
) -> tuple[dict[str, Any], str]:
    assert main(argv) == code
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert (document["schema"], document["command"]) == ("tdxquote/1", argv[0])
    report = document["result"]
    if report is None:  # nothing read: the document holds the error alone
        assert document["ok"] is False
        return document, captured.err
    verdict = report["verdict"]
    assert document["ok"] is verdict["ok"]
    if not verdict["ok"]:
        assert document["error"]["code"] == verdict["error"]["code"]
        assert document["error"]["kind"] == ("refused" if code == 1 else document["error"]["kind"])
    return report, captured.err


def test_a_forged_certificate_verifies(
    forged: tuple[ForgedCertificate, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    made, files = forged
    assert main(["cert", files["cert"], *_verify_args(files, made)]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED UpToDate (SGX_QL_QV_RESULT_OK)" in out
    assert "key binding:    ok" in out
    assert "RTMR0 n/a  RTMR1 n/a  RTMR2 n/a  RTMR3 ok" in out
    assert f"compose hash:   {DEFAULT_COMPOSE_HASH.hex()}" in out
    assert "not a trust anchor" in out


def test_json_report_fields(
    forged: tuple[ForgedCertificate, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    made, files = forged
    report = _json(capsys, ["cert", files["der"], "--json", *_verify_args(files, made)], 0)
    assert report["format"] == "1.8-v0"
    assert report["report_data_binding"] is True
    assert report["rtmr_replay"] == {"rtmr0": None, "rtmr1": None, "rtmr2": None, "rtmr3": True}
    assert report["mr_td"] == made.quote.body.mr_td.hex()
    assert report["app_id"] == DEFAULT_APP_ID.hex()
    assert report["compose_hash"] == DEFAULT_COMPOSE_HASH.hex()
    assert report["instance_id"] == report["instance_id"].lower()
    assert report["sha256"] == hashlib.sha256(made.leaf_der).hexdigest()
    verdict = report["verdict"]
    assert verdict["ok"] is True
    assert verdict["attested"] is True
    assert verdict["status"] == "UpToDate"
    assert "quote_signature" in verdict["checks"]


def test_binding_mismatch_is_refused(
    forged: tuple[ForgedCertificate, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    made, files = forged
    report = _json(capsys, ["cert", files["bad_key"], "--json", *_verify_args(files, made)], 1)
    assert report["report_data_binding"] is False
    assert report["verdict"]["error"]["code"] == "ratls_binding_mismatch"
    assert main(["cert", files["bad_key"], *_verify_args(files, made)]) == 1
    assert "REFUSED ratls_binding_mismatch" in capsys.readouterr().out


def test_event_pins_and_policy_flags(
    forged: tuple[ForgedCertificate, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    made, files = forged
    base = ["cert", files["cert"], "--json", *_verify_args(files, made)]
    ok = [
        *base,
        "--expect-compose-hash",
        DEFAULT_COMPOSE_HASH.hex(),
        "--expect-event",
        f"app-id={DEFAULT_APP_ID.hex()}",
    ]
    assert _json(capsys, ok, 0)["verdict"]["checks"][-1] == "ratls_event_pins"
    wrong = _json(capsys, [*base, "--expect-app-id", "00" * 20], 1)
    assert wrong["verdict"]["error"]["code"] == "policy"
    assert wrong["verdict"]["error"]["rule"] == "expect_event:app-id"
    mrtd = _json(capsys, [*base, "--expect-mr-td", "00" * 48], 1)
    assert mrtd["verdict"]["error"]["code"] == "policy"


def test_stdin(
    forged: tuple[ForgedCertificate, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made, files = forged
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(made.chain_pem)))
    assert _json(capsys, ["cert", "-", "--json", *_verify_args(files, made)], 0)["verdict"]["ok"]


def test_without_collateral_the_certificate_is_shown_but_not_verified(
    forged: tuple[ForgedCertificate, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, files = forged
    report = _json(capsys, ["cert", files["cert"], "--json"], 2)
    assert report["verdict"]["error"]["code"] == "no_collateral"
    assert report["report_data_binding"] is True
    assert main(["cert", files["cert"]]) == 2
    assert "NOT VERIFIED no_collateral" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--unsafe-simulator", "--collateral", "x.json"],
        ["--unsafe-simulator", "--expect-mr-td", "00"],
        ["--expect-event", "app-id"],
        ["--expect-app-id", "not-hex"],
        ["--trust-root", "__missing__.pem"],
        ["--at", "yesterday"],
    ],
)
def test_usage_errors_exit_2(
    forged: tuple[ForgedCertificate, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    _, files = forged
    report = _json(capsys, ["cert", files["cert"], "--json", *argv], 2)
    assert report["error"]["code"] in ("usage_error", "input_error")


def test_missing_file_and_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cert", str(tmp_path / "none.pem")]) == 2
    assert "no such file" in capsys.readouterr().err
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"not a certificate")
    document = _json(capsys, ["cert", str(garbage), "--json"], 2)
    assert document["result"] is None  # not a report full of nulls
    assert (document["error"]["kind"], document["error"]["code"]) == ("bad_input", "parse_error")


# --- the shared vectors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code", "error"),
    [
        ("ratls_v0_selfsigned.pem", 0, None),
        ("ratls_v0_simchain.pem", 0, None),
        ("ratls_legacy_selfsigned.pem", 0, None),
        ("neg_ratls_v0_wrong_key.pem", 1, "ratls_binding_mismatch"),
        ("neg_ratls_v0_bad_rtmr3.pem", 1, "ratls_rtmr_mismatch"),
        ("UNVERIFIED_ratls_v1_msgpack_selfsigned.pem", 0, None),
        ("UNVERIFIED_ratls_v1_msgpack_sim0511_chain.pem", 0, None),
    ],
)
def test_simulator_mode_on_the_synthetic_vectors(
    vectors: Path, capsys: pytest.CaptureFixture[str], name: str, code: int, error: str | None
) -> None:
    expected = json.loads((vectors / "dstack/synthetic/expected.json").read_text())[name]
    path = str(vectors / "dstack/synthetic" / name)
    report, err = _json_and_stderr(capsys, ["cert", path, "--json", "--unsafe-simulator"], code)
    assert "NOTHING is attested" in err
    verdict = report["verdict"]
    assert verdict["mode"] == "unsafe-simulator"
    assert verdict["attested"] is False
    if error is None:
        assert verdict["ok"] is True
        assert "NOT verified" in verdict["warning"]
    else:
        assert verdict["error"]["code"] == error
    assert report["report_data_binding"] is expected["binding_ok"]
    assert report["rtmr_replay"]["rtmr3"] is expected["rtmr3_ok"]
    for key in ("app_id", "compose_hash", "instance_id", "mr_td", "key_provider"):
        assert report[key] == expected[key], key
    assert report["expected_report_data"] == expected["expected_report_data"]


def test_simulator_text_output_is_loud(vectors: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["cert", str(vectors / "dstack/synthetic/ratls_v0_simchain.pem"), "--unsafe-simulator"]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "NOTHING WAS ATTESTED" in captured.out
    assert "WARNING" in captured.err


def test_dcap_refuses_the_patched_synthetic_quote(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    collateral = str(vectors / "dstack/upstream/kms-pr538_tdx_quote_collateral.json")
    path = str(vectors / "dstack/synthetic/ratls_legacy_selfsigned.pem")
    report = _json(capsys, ["cert", path, "--json", "--collateral", collateral, "--at", KMS_NOW], 1)
    assert report["format"] == "1.1-legacy"
    assert report["rtmr_replay"] == {f"rtmr{i}": True for i in range(4)}
    assert report["verdict"]["error"]["code"] == "quote_signature_invalid"
    assert report["verdict"]["error"]["checks_passed"][:3] == [
        "ratls_attestation",
        "ratls_binding",
        "ratls_rtmr_replay",
    ]


def test_legacy_2024_certificate_is_bad_input(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(vectors / "dstack/upstream/legacy2024_app.cert")
    report = _json(capsys, ["cert", path, "--json", "--unsafe-simulator"], 2)
    assert report["format"] == "1.1-legacy"
    assert report["report_data_binding"] is False
    assert report["verdict"]["error"]["code"] == "parse_error"
    assert report["verdict"]["error"]["field"] == "1.3.6.1.4.1.62397.1.2"


def test_certificate_without_attestation_is_refused(
    vectors: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(vectors / "dstack/upstream/legacy2024_ca.cert")
    report = _json(capsys, ["cert", path, "--json", "--unsafe-simulator"], 1)
    assert report["format"] is None
    assert report["verdict"]["error"]["code"] == "ratls_no_attestation"


def test_collateral_from_a_pccs(
    forged: tuple[ForgedCertificate, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    from tdxquote.testing.pccs import PccsServer

    made, files = forged
    common = ["cert", files["cert"], "--json", "--no-cache", "--fetch-retries", "0"]
    common += ["--trust-root", files["root"], "--at", made.now.isoformat()]
    with PccsServer() as server:
        server.add_collateral(made.collateral())
        report = _json(capsys, [*common, "--pccs", server.url], 0)
        assert report["verdict"]["status"] == "UpToDate"
        port = server.port
    # The server is gone: fetching fails, which is no verdict on the certificate.
    failed = _json(capsys, [*common, "--pccs", f"http://127.0.0.1:{port}"], 2)
    assert failed["verdict"]["error"]["code"] == "collateral_fetch_failed"
    assert failed["verdict"]["error"]["checks_passed"][-1] == "ratls_rtmr_replay"
