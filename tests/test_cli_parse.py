"""The CLI foundation and ``tdxquote parse``: summary, JSON, hex/stdin input, errors."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from conftest import REPO_ROOT
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import Quote, QuoteParseError, __version__, parse_quote
from tdxquote._cli.common import MAX_QUOTE_INPUT
from tdxquote._input import decode_quote_input
from tdxquote._json import quote_to_dict
from tdxquote.cli import COMMANDS, build_parser, main

V3 = "dcap-qvl/sgx_quote"
V4 = "dcap-qvl/tdx_quote"
V5 = "go-tdx-guest/quotes/quote_v5_sample.dat"
V4_GCP = "go-tdx-guest/quotes/cos-113-tdx-quote.dat"
INTEL_TDX = "intel-dcap/qvl-sampleData/tdx/quote.dat"
INTEL_SGX = "intel-dcap/qvl-sampleData/sgx/quote.dat"
HEX_0X = "dcap-qvl/tdx-quote.hex"
HEX_PLAIN = "dcap-qvl/near/quote_hex.txt"
HEX_NEWLINE = "dcap-qvl/quote-from-tappd.hex"


def run_module(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m tdxquote ARGS`` in a fresh interpreter, importing this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "tdxquote", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``main(args)`` in-process; return (exit code, stdout, stderr)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def parse_json(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    code, out, err = cli(capsys, "parse", "--json", str(path))
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert (document["schema"], document["command"]) == ("tdxquote/1", "parse")
    assert (document["ok"], document["error"]) == (True, None)
    how = document["result"]["input"]
    assert set(how) == {"encoding", "container", "location"}
    result: dict[str, Any] = {"input_format": how["encoding"], **document["result"]["quote"]}
    return result


# --- the dispatcher -----------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--version")
    assert (code, out.strip()) == (0, f"tdxquote {__version__}")


def test_help_lists_every_registered_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    subparsers = build_parser()._subparsers
    assert subparsers is not None
    names = [action.dest for action in subparsers._group_actions[0]._choices_actions]
    assert len(names) == len(COMMANDS)
    assert {"parse", "scan"} <= set(names)
    for name in names:
        # argparse puts a long command name on a line of its own
        assert re.search(rf"^    {name}(\s|$)", out, re.M), name


def test_registry_modules_expose_add_parser_and_run() -> None:
    for command in COMMANDS:
        assert callable(command.add_parser)
        assert callable(command.run)


@pytest.mark.parametrize(
    "args", [[], ["frobnicate"], ["parse"], ["parse", "a", "b"], ["parse", "--bogus", "x"]]
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert out == ""
    assert "usage: tdxquote" in err
    assert "Traceback" not in err


def test_python_dash_m_runs_the_cli(vectors: Path) -> None:
    done = run_module("parse", str(vectors / V4))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith(
        "Quote v4 TDX (TD report 1.0), 5006 bytes, read as binary"
    )
    assert run_module("--version").stdout.decode().strip() == f"tdxquote {__version__}"


def test_console_script_target_is_main() -> None:
    text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'tdxquote = "tdxquote.cli:main"' in text


# --- JSON against the parsed quote --------------------------------------------------


@pytest.mark.parametrize("name", [V3, V4, V5, V4_GCP, "dcap-qvl/tdx_quote_outdated"])
def test_json_holds_every_field_of_the_parsed_quote(
    capsys: pytest.CaptureFixture[str], vectors: Path, name: str
) -> None:
    quote = parse_quote((vectors / name).read_bytes())
    data = parse_json(capsys, vectors / name)
    assert data["input_format"] == "binary"
    assert data["size"] == len(quote)
    assert data["version"] == quote.version
    assert data["tee"] == quote.tee_type.name
    header = quote.header
    assert data["header"] == {
        "version": header.version,
        "attestation_key_type": header.attestation_key_type,
        "tee_type": header.tee_type,
        "qe_svn": header.qe_svn,
        "pce_svn": header.pce_svn,
        "qe_vendor_id": header.qe_vendor_id.hex(),
        "user_data": header.user_data.hex(),
    }
    for field, value in quote.body._asdict().items():
        assert data["body"][field] == (value.hex() if isinstance(value, bytes) else value), field
    for field, value in quote.qe_report._asdict().items():
        assert data["qe_report"][field] == (value.hex() if isinstance(value, bytes) else value)
    assert data["body"]["debug"] is quote.body.is_debug
    assert data["body_offset"] == quote.body_offset
    assert data["signed_size"] == len(quote.signed_bytes)
    assert data["signed_data_size"] == quote.signed_data_size
    assert data["signature"] == quote.signature.hex()
    assert data["attestation_key"] == quote.attestation_key.hex()
    assert data["qe_report_signature"] == quote.qe_report_signature.hex()
    assert data["qe_auth_data"] == quote.qe_auth_data.hex()
    assert data["qe_report_certification_type"] == quote.qe_report_certification_type
    cert = quote.certification_data
    assert data["certification_data"]["type"] == cert.type
    assert data["certification_data"]["size"] == len(cert.data)
    assert data["trailing_size"] == len(quote.trailing_bytes)
    assert data["trailing_bytes"] == quote.trailing_bytes.hex()
    ext = quote.pck_extension
    assert data["pck_error"] is None
    assert data["pck_extension"]["fmspc"] == ext.fmspc.hex()
    assert data["pck_extension"]["pce_id"] == ext.pce_id.hex()
    assert data["pck_extension"]["tcb"]["sgx_components"] == list(ext.sgx_components)
    assert data["pck_extension"]["tcb"]["pce_svn"] == ext.pce_svn
    assert [c["subject"] for c in data["pck_chain"]] == [
        c.subject.rfc4514_string() for c in quote.pck_chain
    ]
    assert data == {"input_format": "binary", **quote_to_dict(quote)}


def test_json_bytes_are_lowercase_hex(capsys: pytest.CaptureFixture[str], vectors: Path) -> None:
    data = parse_json(capsys, vectors / V4)
    for value in (data["body"]["mr_td"], data["signature"], data["pck_extension"]["fmspc"]):
        assert value == value.lower()
        bytes.fromhex(value)


@pytest.mark.parametrize("name", ["tdx_prod_quote_SPR_E4", "quote_v5_sample", "cos-113-tdx-quote"])
def test_json_matches_go_tdx_guest_expected_values(
    capsys: pytest.CaptureFixture[str], vectors: Path, name: str
) -> None:
    expected = json.loads((vectors / "go-tdx-guest" / "expected.json").read_text())[name]
    data = parse_json(capsys, vectors / "go-tdx-guest" / expected["file"])
    assert data["size"] == expected["size"]
    assert data["header"]["user_data"] == expected["header"]["user_data"]
    body = expected["td_body"]
    assert data["body"]["mr_td"] == body["mr_td"]
    assert [data["body"][f"rtmr{i}"] for i in range(4)] == body["rtmrs"]
    assert data["body"]["report_data"] == body["report_data"]
    assert data["signed_size"] == expected["signed_message_len"]
    assert data["signed_data_size"] == expected["signed_data_size"]
    assert data["trailing_size"] == expected["trailing_bytes_after_signed_data"]
    assert data["signature"] == expected["auth"]["quote_signature"]
    assert data["certification_data"]["size"] == expected["auth"]["inner_cert_data_size"]
    assert data["qe_report"]["mr_enclave"] == expected["auth"]["qe_report"]["mr_enclave"]
    ext = expected["pck_sgx_extensions"]
    assert data["pck_extension"]["fmspc"] == ext["fmspc"]
    assert data["pck_extension"]["tcb"]["sgx_components"] == ext["sgx_tcb_comp_svns"]
    assert data["pck_extension"]["tcb"]["cpu_svn"] == ext["cpusvn"]
    for ours, theirs in zip(data["pck_chain"], expected["pck_chain"], strict=True):
        assert ours["subject"].endswith(f"CN={theirs['subject_cn']}")
        assert ours["serial_number"] == theirs["serial"][2:]
        assert ours["not_before"] == theirs["not_before"].replace("+00:00", "Z")
        assert ours["not_after"] == theirs["not_after"].replace("+00:00", "Z")
    if "body_descriptor" in expected:
        assert data["body_descriptor"] == {
            "body_type": expected["body_descriptor"]["type"],
            "body_size": expected["body_descriptor"]["size"],
        }


def test_td_attributes_and_xfam_are_decoded(
    capsys: pytest.CaptureFixture[str], vectors: Path
) -> None:
    data = parse_json(capsys, vectors / V4)
    # td_attributes 0000001000000000: bit 28 set, SEPT_VE_DISABLE; xfam e702060000000000.
    assert data["body"]["td_attributes_flags"] == ["SEPT_VE_DISABLE"]
    assert data["body"]["debug"] is False
    assert data["body"]["xfam_flags"][:3] == ["FP", "SSE", "AVX"]
    assert "AMX_TILEDATA" in data["body"]["xfam_flags"]


# --- the summary ----------------------------------------------------------------------


@pytest.mark.parametrize("name", [V3, V4, V5])
def test_summary_shows_the_key_values(
    capsys: pytest.CaptureFixture[str], vectors: Path, name: str
) -> None:
    quote = parse_quote((vectors / name).read_bytes())
    code, out, err = cli(capsys, "parse", str(vectors / name))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    kind = {1: "SGX enclave report", 2: "TD report 1.0", 3: "TD report 1.5"}
    body_kind = kind[quote.body_type or (2 if quote.is_tdx else 1)]
    assert lines[0].startswith(f"Quote v{quote.version} {quote.tee_type.name} ({body_kind}")
    body = quote.body
    assert f"  REPORTDATA       {body.report_data.hex()}" in lines
    if quote.is_tdx:
        assert f"  MRTD             {body.mr_td.hex()}" in lines  # type: ignore[union-attr]
        for index, rtmr in enumerate(body.rtmrs):  # type: ignore[union-attr]
            assert f"  RTMR{index}            {rtmr.hex()}" in lines
        assert any(line.startswith("  TDATTRIBUTES") and "(debug: no)" in line for line in lines)
        assert any(line.startswith("  XFAM") and "= FP SSE AVX" in line for line in lines)
    ext = quote.pck_extension
    assert f"  FMSPC            {ext.fmspc_hex}" in lines
    assert f"  PCE-ID           {ext.pce_id.hex()}" in lines
    components = " ".join(str(svn) for svn in ext.sgx_components)
    assert f"  TCB components   {components}" in lines
    for cert in quote.pck_chain:
        assert f"{cert.subject.rfc4514_string()}" in out
        assert cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ") in out
    assert lines[-1].startswith(f"Trailing bytes: {len(quote.trailing_bytes)}")


def test_summary_of_the_v4_vector_in_full(
    capsys: pytest.CaptureFixture[str], vectors: Path
) -> None:
    _, out, _ = cli(capsys, "parse", str(vectors / V4))
    assert "Quote v4 TDX (TD report 1.0), 5006 bytes, read as binary" in out
    assert "  FMSPC            B0C06F000000" in out
    assert "  TCB components   3 3 2 2 4 1 0 5 0 0 0 0 0 0 0 0" in out
    assert "      valid 2025-02-06T23:25:51Z to 2032-02-06T23:25:51Z" in out
    assert out.rstrip().endswith("Trailing bytes: 70 (all zero)")


def test_v5_summary_names_the_body_type(capsys: pytest.CaptureFixture[str], vectors: Path) -> None:
    _, out, _ = cli(capsys, "parse", str(vectors / V5))
    assert out.startswith("Quote v5 TDX (TD report 1.5, body type 3), 5006 bytes")
    assert "  MRSERVICETD      " in out


def test_undecodable_pck_chain_still_prints_the_quote(
    capsys: pytest.CaptureFixture[str], vectors: Path
) -> None:
    quote = parse_quote((vectors / INTEL_TDX).read_bytes())
    with pytest.raises(QuoteParseError) as caught:
        _ = quote.pck_chain
    code, out, err = cli(capsys, "parse", str(vectors / INTEL_TDX))
    assert (code, err) == (0, "")
    assert f"  MRTD             {quote.body.mr_td.hex()}" in out  # type: ignore[union-attr]
    assert (
        f"PCK certificate chain not decoded (pck_chain at offset {caught.value.offset}): "
        f"{caught.value.reason}"
    ) in out
    assert "FMSPC" not in out
    data = parse_json(capsys, vectors / INTEL_TDX)
    assert data["pck_chain"] is None
    assert data["pck_extension"] is None
    assert data["pck_error"] == {
        "field": "pck_chain",
        "offset": caught.value.offset,
        "message": caught.value.reason,
    }


def test_certification_data_type_1_is_reported(
    capsys: pytest.CaptureFixture[str], vectors: Path
) -> None:
    code, out, _ = cli(capsys, "parse", str(vectors / INTEL_SGX))
    assert code == 0
    assert "cert data        type 1 (PPID in cleartext), 34 bytes" in out
    # Intel's sample leaves the PCE-ID out (built without USE_PCEID): no chain, no error.
    assert "    PPID           8461863bb7ece31f64c8e9b77fd31cad" in out
    assert "    PCE-ID         (absent)" in out
    assert "not decoded" not in out


# --- input forms ------------------------------------------------------------------------


@pytest.mark.parametrize("name", [HEX_0X, HEX_PLAIN, HEX_NEWLINE])
def test_hex_files_are_detected(
    capsys: pytest.CaptureFixture[str], vectors: Path, name: str
) -> None:
    quote = Quote.from_hex((vectors / name).read_text())
    data = parse_json(capsys, vectors / name)
    assert data == {"input_format": "hex", **quote_to_dict(quote)}
    _, out, _ = cli(capsys, "parse", str(vectors / name))
    assert out.splitlines()[0].endswith(", read as hex")


@pytest.mark.parametrize("name", [V4, HEX_0X])
def test_stdin(vectors: Path, name: str) -> None:
    raw = (vectors / name).read_bytes()
    done = run_module("parse", "--json", "-", stdin=raw)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["result"]
    assert data["input"]["encoding"] == ("hex" if name == HEX_0X else "binary")
    data = data["quote"]
    quote = parse_quote(decode_quote_input(raw)[0])
    assert data["body"]["mr_td"] == quote.body.mr_td.hex()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"0x0a0B", b"\x0a\x0b"),
        (b"  0A 0b\r\n0c\t", b"\x0a\x0b\x0c"),
        (b"0X00ff\n", b"\x00\xff"),
    ],
)
def test_hex_detection_rule(text: bytes, expected: bytes) -> None:
    assert decode_quote_input(text) == (expected, "hex")


@pytest.mark.parametrize(
    "data", [b"", b"   ", b"0x", b"0xg0", b"\x04\x00\x02\x00", b"hello", "é0".encode(), b"0x0x00"]
)
def test_not_hex_is_binary(data: bytes) -> None:
    assert decode_quote_input(data) == (data, "binary")


def test_odd_length_hex_is_a_parse_error() -> None:
    with pytest.raises(QuoteParseError) as caught:
        decode_quote_input(b"0xabc")
    assert (caught.value.field, caught.value.offset) == ("hex", 0)


# --- errors -------------------------------------------------------------------------------


def test_truncated_quote_exits_2_with_field_and_offset(
    capsys: pytest.CaptureFixture[str], vectors: Path, tmp_path: Path
) -> None:
    path = tmp_path / "truncated.bin"
    path.write_bytes((vectors / V4).read_bytes()[:1000])
    code, out, err = cli(capsys, "parse", str(path))
    assert (code, out) == (2, "")
    assert err == (
        f"tdxquote: error: {path}: not a valid quote: signed_data_size at offset 632: "
        "signed data size 4300 exceeds the 364 bytes that remain\n"
    )


def test_json_error_shape(
    capsys: pytest.CaptureFixture[str], vectors: Path, tmp_path: Path
) -> None:
    path = tmp_path / "truncated.bin"
    path.write_bytes((vectors / V4).read_bytes()[:600])
    code, out, err = cli(capsys, "parse", "--json", str(path))
    assert (code, err) == (2, "")
    document = json.loads(out)
    assert (document["ok"], document["result"]) == (False, None)
    error = document["error"]
    assert set(error) == {"kind", "code", "field", "offset", "message", "details"}
    assert (error["kind"], error["code"]) == ("bad_input", "parse_error")
    assert (error["field"], error["offset"]) == ("body", 600)
    assert "body at offset 600" in error["message"]


def test_hex_input_errors_say_offsets_are_in_decoded_bytes(
    capsys: pytest.CaptureFixture[str], vectors: Path, tmp_path: Path
) -> None:
    path = tmp_path / "truncated.hex"
    path.write_text((vectors / V4).read_bytes()[:40].hex())
    code, _, err = cli(capsys, "parse", str(path))
    assert code == 2
    assert "header at offset 40" in err
    assert "(offset in the hex-decoded bytes)" in err


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.bin", "no such file"),
        (lambda tmp: tmp, "is a directory, not a quote file"),
        (lambda tmp: tmp / "file.bin" / "below", "cannot read: Not a directory"),
    ],
)
def test_bad_files_exit_2_without_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make: Any, message: str
) -> None:
    (tmp_path / "file.bin").write_bytes(b"x")
    path = make(tmp_path)
    code, out, err = cli(capsys, "parse", str(path))
    assert (code, out) == (2, "")
    assert err == f"tdxquote: error: {path}: {message}\n"
    code, out, err = cli(capsys, "parse", "--json", str(path))
    assert (code, err) == (2, "")
    assert json.loads(out) == {
        "schema": "tdxquote/1",
        "command": "parse",
        "ok": False,
        "result": None,
        "error": {
            "kind": "bad_input",
            "code": "input_error",
            "field": None,
            "offset": None,
            "message": f"{path}: {message}",
            "details": {},
        },
    }


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "secret.bin"
    path.write_bytes(b"\x04")
    path.chmod(0)
    code, _, err = cli(capsys, "parse", str(path))
    assert code == 2
    assert err == f"tdxquote: error: {path}: permission denied\n"


def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path: Path) -> None:
    done = run_module("parse", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stdout == b""
    assert b"Traceback" not in done.stderr
    done = run_module("parse", "-", stdin=b"\x05\x00garbage")
    assert done.returncode == 2
    assert done.stderr.startswith(b"tdxquote: error: <stdin>: not a valid quote: header")


def _parse_stdin(data: bytes, *extra: str) -> tuple[int, str]:
    stdin = io.TextIOWrapper(io.BytesIO(data))
    out = io.StringIO()
    with (
        mock.patch.object(sys, "stdin", stdin),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        code = main(["parse", *extra, "-"])
    return code, out.getvalue()


@given(data=st.data())
def test_mutated_quotes_never_raise(vectors: Path, data: st.DataObject) -> None:
    original = (vectors / V4).read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(original)), label="cut")
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(1, 255)), max_size=4),
        label="flips",
    )
    mutated = bytearray(original)
    for at, mask in flips:
        mutated[at] ^= mask
    quote_bytes = bytes(mutated[:cut])
    payload = quote_bytes.hex().encode() if data.draw(st.booleans(), label="hex") else quote_bytes
    code, out = _parse_stdin(payload, "--json")
    result = json.loads(out)
    if code == 0:
        assert result["result"]["quote"]["size"] == len(quote_bytes)
    else:
        assert code == 2
        assert result["error"]["code"] == "parse_error"
        assert isinstance(result["error"]["offset"], int)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_input_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "parse", "--json", "/dev/zero")
    assert (code, err) == (2, "")
    assert json.loads(out)["error"] == {
        "kind": "bad_input",
        "code": "input_error",
        "field": None,
        "offset": None,
        "message": f"/dev/zero: more than {MAX_QUOTE_INPUT} bytes, too large for a quote",
        "details": {},
    }


def _doc_example(command: str) -> str:
    """The output shown under ``$ COMMAND`` in docs/cli.md (up to the next prompt or fence)."""
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    start = text.index(f"$ {command}\n") + len(command) + 3
    end = min(text.index("\n```", start), text.find("\n$ ", start) % len(text))
    return text[start:end]


def test_docs_examples_are_real_output(capsys: pytest.CaptureFixture[str], vectors: Path) -> None:
    _, out, _ = cli(capsys, "parse", str(vectors / V4))
    assert _doc_example("tdxquote parse ../shared/vectors/dcap-qvl/tdx_quote") == out.rstrip("\n")
    paths = ["go-tdx-guest/quotes", "dcap-qvl/near", "intel-dcap/qvl-sampleData/tdx/quote.dat"]
    _, out, _ = cli(capsys, "scan", *(str(vectors / path) for path in paths))
    shown = "tdxquote scan " + " ".join(f"../shared/vectors/{path}" for path in paths)
    assert _doc_example(shown) == out.rstrip("\n").replace(str(vectors), "../shared/vectors")
