"""Quotes as people hand them over (``Quote.from_text`` and every CLI command), and hints.

Base64 (standard and URL-safe), hex, raw bytes, JSON byte arrays and JSON documents
holding a quote are read and the form is reported; input that is not a quote is refused
saying what it is.  Regression: base64 input used to fail with ``unsupported quote
version 16706``.
"""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from hypothesis import given
from hypothesis import strategies as st

import tdxquote
from tdxquote import Collateral, Quote, QuoteParseError
from tdxquote._input import ENCODINGS, read_quote, sniff_quote
from tdxquote.cli import main
from tdxquote.testing.strategies import quotes

SYNTHETIC = REPO_ROOT / "vectors" / "synthetic"
RAW = (SYNTHETIC / "tdx_v4.quote").read_bytes()
B64 = base64.b64encode(RAW).decode()


def _forms(raw: bytes) -> dict[str, tuple[bytes, str]]:
    """Each way the quote ``raw`` is handed over, and what describe() must say."""
    b64 = base64.b64encode(raw).decode()
    return {
        "binary": (raw, "binary"),
        "hex": (raw.hex().encode(), "hex"),
        "hex 0x, wrapped": (("0x" + raw.hex()[:100] + "\n" + raw.hex()[100:]).encode(), "hex"),
        "base64": (b64.encode(), "base64"),
        "base64 wrapped at 76": (base64.encodebytes(raw), "base64"),
        "base64url unpadded": (base64.urlsafe_b64encode(raw).rstrip(b"="), "base64url"),
        "dstack GetQuote": (
            json.dumps({"quote": raw.hex(), "event_log": "[]", "report_data": "00"}).encode(),
            "hex in JSON member quote",
        ),
        "tdx.quote (ITA, Google Cloud)": (
            json.dumps({"tdx": {"quote": b64, "runtime_data": ""}}).encode(),
            "base64 in JSON member tdx.quote",
        ),
        "camel case member": (
            json.dumps({"tdQuote": b64}).encode(),
            "base64 in JSON member tdQuote",
        ),
        "JSON byte array": (json.dumps(list(raw)).encode(), "JSON byte array"),
        "nested byte array": (
            json.dumps({"info": {"Dstack": {"quote": list(raw)}}}).encode(),
            "byte array in JSON member info.Dstack.quote",
        ),
        "Node Buffer": (
            json.dumps({"quote": {"type": "Buffer", "data": list(raw)}}).encode(),
            "byte array in JSON member quote",
        ),
        "JSON string": (json.dumps(raw.hex()).encode(), "hex in a JSON string"),
        "labelled text": (
            f"Quote: {b64}\nruntime_data: eyJrZXlzIjpbXX0=\n".encode(),
            "base64 after 'Quote:'",
        ),
        "UTF-8 BOM": (b"\xef\xbb\xbf" + b64.encode(), "base64"),
    }


@pytest.mark.parametrize(("data", "described"), _forms(RAW).values(), ids=list(_forms(RAW)))
def test_every_form_reads_the_same_quote(data: bytes, described: str) -> None:
    quote, how = read_quote(data)
    assert quote.to_bytes() == RAW
    assert how.describe() == described
    assert how.encoding in ENCODINGS
    assert Quote.from_text(data) == quote
    if data.isascii():  # text handed over as str reads the same
        assert Quote.from_text(data.decode("ascii")) == quote


def test_regression_base64_is_not_read_as_a_binary_quote() -> None:
    # Was: "unsupported quote version 16706" (b"BA" read as the version field).
    assert Quote.from_text(B64).version == 4


@given(
    quote=quotes(),
    form=st.sampled_from(
        [
            "binary",
            "hex",
            "base64",
            "base64url unpadded",
            "tdx.quote (ITA, Google Cloud)",
            "JSON byte array",
        ]
    ),
)
def test_generated_quotes_in_every_form(quote: bytes, form: str) -> None:
    data, _ = _forms(quote)[form]
    assert read_quote(data)[0].to_bytes() == quote


@given(st.binary(max_size=2048) | st.text(max_size=512).map(str.encode))
def test_anything_reads_or_raises_quote_parse_error(data: bytes) -> None:
    with contextlib.suppress(QuoteParseError):
        read_quote(data)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_document_reads_or_raises_quote_parse_error(document: object) -> None:
    with contextlib.suppress(QuoteParseError):
        read_quote(json.dumps(document).encode())


def test_deep_json_is_refused_without_recursion_error() -> None:
    with pytest.raises(QuoteParseError, match="nested too deeply"):
        read_quote(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ((SYNTHETIC / "trust_root.pem").read_bytes(), "this is a PEM certificate, not a quote"),
        ((SYNTHETIC / "tdx_collateral.json").read_bytes(), "this is a collateral bundle"),
        (
            b"-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n",
            "this is a private key",
        ),
        (b'{"tcbInfo": {"id": "TDX"}, "signature": "00"}', "a PCS TCB Info response"),
        (b'{"enclaveIdentity": {"id": "TD_QE"}, "signature": "00"}', "a PCS QE identity response"),
        (b'{"token": "eyJhbGciOi..."}', "a token response"),
        (b'{"attestation": "0000394e0400"}', "a dstack attestation envelope"),
        (b'[{"imr": 0, "event_type": 1, "digest": "00"}]', "an event log"),
        (b'{"name": "x", "size": 3}', "a JSON document without a quote member (keys: name, size)"),
        (b"# tdxquote\n\nA README.\n", "text that is neither hex, base64 nor JSON"),
        (b"", "the input is empty"),
        (b" \n\t", "only whitespace"),
        (b'{"quote": "not a quote at all!"}', "JSON member quote is neither hex nor base64"),
        (b"0xabc", "odd number of hex digits"),
    ],
)
def test_what_is_not_a_quote_is_named(data: bytes, says: str) -> None:
    with pytest.raises(QuoteParseError) as caught:
        Quote.from_text(data)
    assert says in str(caught.value)
    assert caught.value.offset == 0


def test_decoded_bytes_that_are_not_a_quote_are_named() -> None:
    pem = (SYNTHETIC / "trust_root.pem").read_bytes()
    with pytest.raises(QuoteParseError) as caught:
        Quote.from_text(base64.b64encode(pem))
    assert "the base64-decoded bytes look like a PEM certificate, not a quote" in str(caught.value)
    assert caught.value.field == "header.version"


def test_a_der_certificate_is_named() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate((SYNTHETIC / "trust_root.pem").read_bytes()).public_bytes(
        Encoding.DER
    )
    with pytest.raises(QuoteParseError, match="the bytes look like a DER certificate"):
        Quote.from_text(der)


def test_sniffing_keeps_the_decoded_bytes() -> None:
    raw, how = sniff_quote(B64)
    assert (raw, how.to_dict()) == (
        RAW,
        {"encoding": "base64", "container": None, "location": None},
    )


# --- the real shapes of the shared corpus ----------------------------------------------


@pytest.mark.parametrize(
    ("path", "described"),
    [
        ("dstack/upstream/verifier_quote-report.json", "hex in JSON member quote"),
        ("dstack/upstream/nearai-pmlsdk_dstack_quote.json", "hex in JSON member quote"),
        ("dstack/upstream/verifier_tdx-lite-getquote.json", "hex in JSON member quote"),
        (
            "realworld/near__mpc/collateral/orig/public_data.json",
            "byte array in JSON member tee_participant_info.Dstack.quote",
        ),
        ("dstack/upstream/old-simulator_quote.hex", "hex"),
    ],
)
def test_real_json_shapes(vectors: Path, path: str, described: str) -> None:
    quote, how = read_quote((vectors / path).read_bytes())
    assert quote.is_tdx
    assert how.describe() == described


def test_real_collateral_response_says_which_constructor_reads_it(vectors: Path) -> None:
    for path, constructor in (
        ("go-tdx-guest/collateral/sample_tcbInfo_response", "TcbInfo.from_response"),
        ("go-tdx-guest/collateral/sample_qeIdentity_response", "EnclaveIdentity.from_response"),
        ("teepot-intel-pcs/tdx_tcb_info.json", "TcbInfo.from_response"),
    ):
        with pytest.raises(tdxquote.VerificationError) as caught:
            Collateral.from_json((vectors / path).read_bytes())
        assert constructor in str(caught.value), path
        assert "Collateral.from_pcs_responses" in str(caught.value)


def test_collateral_from_json_names_the_reader_of_a_pcs_response() -> None:
    # Regression: a raw PCS TCB Info response gave only "missing required field".
    response = b'{"tcbInfo": {"id": "TDX", "version": 3}, "signature": "00"}'
    with pytest.raises(tdxquote.VerificationError) as caught:
        Collateral.from_json(response)
    assert caught.value.code == "collateral_format"
    assert "TcbInfo.from_response" in str(caught.value)
    with pytest.raises(tdxquote.VerificationError) as caught:
        Collateral.from_json(RAW)
    assert "Quote.from_text" in str(caught.value)


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_reads_base64_and_reports_the_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quote.json"
    path.write_text(json.dumps({"tdx": {"quote": B64}}))
    assert main(["parse", str(path)]) == 0
    assert (
        capsys.readouterr().out.splitlines()[0].endswith("read as base64 in JSON member tdx.quote")
    )
    assert main(["parse", "--json", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["result"]["input"] == {
        "encoding": "base64",
        "container": "json",
        "location": "tdx.quote",
    }


def test_cli_verify_reads_base64_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quote.b64"
    path.write_text(B64)
    args = [
        "verify",
        str(path),
        "--collateral",
        str(SYNTHETIC / "tdx_collateral.json"),
        "--trust-root",
        str(SYNTHETIC / "trust_root.pem"),
        "--at",
        (SYNTHETIC / "now.txt").read_text().strip(),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "verdict: UpToDate (SGX_QL_QV_RESULT_OK)"
    assert out[-1] == "input: base64"


def test_cli_names_what_is_not_a_quote(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(SYNTHETIC / "tdx_collateral.json")]) == 2
    err = capsys.readouterr().err
    assert "this is a collateral bundle (dcap-qvl QuoteCollateralV3 JSON), not a quote" in err


def test_cli_offsets_of_decoded_input_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "short.b64"
    path.write_bytes(base64.b64encode(RAW[:40]))
    assert main(["parse", str(path)]) == 2
    assert "header at offset 40" in capsys.readouterr().err
    assert main(["parse", "--json", str(path)]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["field"], error["offset"]) == ("header", 40)
    assert error["details"]["input"]["encoding"] == "base64"
