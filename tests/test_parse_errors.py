"""One test per structural rule of the quote format.

Each asserts the exact ``field``, a meaningful ``offset``, and that nothing
but :class:`QuoteParseError` is raised.  The quotes are built from scratch (no
shared vectors needed); offsets are computed from the layout in Intel's quote
specification, independently of the parser.  Every rejected input is also
rejected by the ``construct`` reference.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any, NamedTuple

import pytest

from tdxquote import (
    CertificationData,
    Quote,
    QuoteParseError,
    SgxReport,
    TdReport10,
    TdReport15,
    TdReport15Ex,
    TdxQuoteError,
    parse_quote,
)
from tdxquote._build import build_quote
from tdxquote._reference import reference_fields
from tdxquote.schema import SGX_REPORT, TD_REPORT_10, TD_REPORT_15, TD_REPORT_15EX

# --- quotes to break ---------------------------------------------------------------------------

_SCHEMAS: dict[type, Any] = {
    SgxReport: SGX_REPORT,
    TdReport10: TD_REPORT_10,
    TdReport15: TD_REPORT_15,
    TdReport15Ex: TD_REPORT_15EX,
}


def report(cls: Any, fill: int = 0x5A) -> Any:
    """A report body of class ``cls`` whose bytes are all ``fill``."""
    parsed = _SCHEMAS[cls].parse(bytes([fill]) * _SCHEMAS[cls].sizeof())
    return cls(**{k: v for k, v in parsed.items() if not k.startswith("_")})


def make(body_cls: Any, version: int | None = None, qe_auth: bytes = bytes(range(32))) -> bytes:
    return build_quote(
        body=report(body_cls),
        version=version,
        signature=b"\x11" * 64,
        attestation_key=b"\x22" * 64,
        qe_report=report(SgxReport, 0x33),
        qe_report_signature=b"\x44" * 64,
        qe_auth_data=qe_auth,
        certification_data=CertificationData(5, b"-----BEGIN CERTIFICATE-----\n"),
    ).to_bytes()


V3 = make(SgxReport)
V4 = make(TdReport10)
V5 = make(TdReport15)
V5_SGX = make(SgxReport, version=5)
ALL = {"v3": V3, "v4": V4, "v5": V5}


class Offsets(NamedTuple):
    """Where each structural field sits, from the specification's sizes."""

    body_end: int  # the signed data size field
    auth_at: int  # the signature data
    outer_type_at: int | None  # v4/v5: certification data type (6)
    qecd_size_at: int | None  # v4/v5: QE report certification data size
    qe_report_at: int
    qe_auth_size_at: int
    cert_type_at: int
    cert_size_at: int
    auth_end: int


def offsets(data: bytes) -> Offsets:
    version = struct.unpack_from("<H", data)[0]
    if version == 5:
        body_end = 54 + struct.unpack_from("<I", data, 50)[0]
    else:
        body_end = 48 + (584 if struct.unpack_from("<I", data, 4)[0] == 0x81 else 384)
    auth_at = body_end + 4
    auth_end = auth_at + struct.unpack_from("<I", data, body_end)[0]
    outer_type_at = qecd_size_at = None
    qe_report_at = auth_at + 64 + 64
    if version != 3:
        outer_type_at, qecd_size_at = qe_report_at, qe_report_at + 2
        qe_report_at += 6
    qe_auth_size_at = qe_report_at + 384 + 64
    cert_type_at = qe_auth_size_at + 2 + struct.unpack_from("<H", data, qe_auth_size_at)[0]
    return Offsets(
        body_end,
        auth_at,
        outer_type_at,
        qecd_size_at,
        qe_report_at,
        qe_auth_size_at,
        cert_type_at,
        cert_type_at + 2,
        auth_end,
    )


def put(data: bytes, at: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, at, value)
    return bytes(out)


def expect_error(data: Any, field: str, offset: int, reason: str = "") -> QuoteParseError:
    """``data`` is refused with exactly this field and offset, by both parsers."""
    with pytest.raises(QuoteParseError) as info:
        parse_quote(data)
    error = info.value
    assert type(error) is QuoteParseError
    assert (error.field, error.offset) == (field, offset), str(error)
    assert field in str(error)
    assert f"offset {offset}" in str(error)
    assert reason in error.reason
    if isinstance(data, bytes):
        with pytest.raises(QuoteParseError):
            reference_fields(data)
    return error


def test_built_quotes_are_valid() -> None:
    for data in [*ALL.values(), V5_SGX]:
        assert parse_quote(data).to_bytes() == data
        reference_fields(data)


# --- header ---------------------------------------------------------------------------------


def test_empty_input() -> None:
    expect_error(b"", "header", 0, "shorter than the 48-byte header")


@pytest.mark.parametrize("size", [1, 2, 8, 47])
def test_shorter_than_the_header(size: int) -> None:
    expect_error(V4[:size], "header", size, "shorter than the 48-byte header")


@pytest.mark.parametrize("version", [0, 1, 2, 6, 0xFFFF])
def test_unsupported_version(version: int) -> None:
    expect_error(put(V4, 0, "H", version), "header.version", 0, f"quote version {version}")


@pytest.mark.parametrize("data", [V3, V4, V5], ids=["v3", "v4", "v5"])
def test_p384_attestation_key_type_is_unsupported(data: bytes) -> None:
    expect_error(put(data, 2, "H", 3), "header.attestation_key_type", 2, "key type 3")


@pytest.mark.parametrize("key_type", [0, 1, 4])
def test_unknown_attestation_key_type(key_type: int) -> None:
    expect_error(put(V4, 2, "H", key_type), "header.attestation_key_type", 2)


@pytest.mark.parametrize("tee", [1, 0x80, 0x82, 0x81000000])
def test_unknown_tee_type(tee: int) -> None:
    expect_error(put(V4, 4, "I", tee), "header.tee_type", 4, "unknown TEE type")


def test_version_3_with_tdx_tee_type() -> None:
    expect_error(put(V3, 4, "I", 0x81), "header.tee_type", 4, "SGX only")


def test_regression_tee_type_errors_point_at_the_tee_type() -> None:
    # Bug fixed: header TEE-type errors reported offset 2 (the attestation key type).
    assert expect_error(put(V4, 4, "I", 7), "header.tee_type", 4).offset == 4
    assert expect_error(put(V3, 4, "I", 0x81), "header.tee_type", 4).offset == 4


# --- v5 body descriptor -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [48, 49, 53])
def test_v5_quote_ends_inside_the_body_descriptor(size: int) -> None:
    expect_error(V5[:size], "body_descriptor", size)


@pytest.mark.parametrize("body_type", [0, 5, 0xFFFF])
def test_v5_unsupported_body_type(body_type: int) -> None:
    expect_error(
        put(V5, 48, "H", body_type),
        "body_descriptor.body_type",
        48,
        f"unsupported body type {body_type}",
    )


def test_v5_body_type_4_is_accepted() -> None:
    body = report(TdReport15Ex, 0x77)._replace(vmid=3, td_id=bytes(range(32)))
    data = build_quote(
        body=body,
        signature=b"\x11" * 64,
        attestation_key=b"\x22" * 64,
        qe_report=report(SgxReport),
        qe_report_signature=b"\x44" * 64,
        qe_auth_data=b"",
        certification_data=CertificationData(3, b"encrypted ppid"),
    ).to_bytes()
    assert struct.unpack_from("<HHI", data, 0)[0] == 5
    assert struct.unpack_from("<HI", data, 48) == (4, 885)
    quote = parse_quote(data)
    assert quote.body_type == 4
    assert quote.body == body
    assert isinstance(quote.body, TdReport15Ex)
    assert reference_fields(data)["body"] == body._asdict()


@pytest.mark.parametrize(("data", "wrong"), [(V5, 649), (V5, 584), (V5, 0), (V5_SGX, 648)])
def test_v5_body_size_mismatch(data: bytes, wrong: int) -> None:
    expect_error(put(data, 50, "I", wrong), "body_descriptor.body_size", 50, f"body size {wrong}")


def test_v5_sgx_body_type_with_tdx_tee() -> None:
    expect_error(
        put(V5_SGX, 4, "I", 0x81),
        "body_descriptor.body_type",
        48,
        "body type 1 does not match the TEE type 0x00000081",
    )


def test_v5_td_body_type_with_sgx_tee() -> None:
    expect_error(
        put(V5, 4, "I", 0),
        "body_descriptor.body_type",
        48,
        "body type 3 does not match the TEE type 0x00000000",
    )


# --- body and signed data size --------------------------------------------------------------


@pytest.mark.parametrize("name", list(ALL))
def test_quote_ends_inside_the_body_or_the_size_field(name: str) -> None:
    data = ALL[name]
    at = offsets(data)
    for size in (at.body_end - 1, at.body_end, at.auth_at - 1):
        expect_error(data[:size], "body", size)


@pytest.mark.parametrize("name", list(ALL))
def test_signed_data_size_past_the_end(name: str) -> None:
    data = ALL[name]
    at = offsets(data)
    remaining = len(data) - at.auth_at
    for size in (remaining + 1, 0xFFFFFFFF):
        expect_error(
            put(data, at.body_end, "I", size), "signed_data_size", at.body_end, "exceeds the"
        )
    expect_error(data[:-1], "signed_data_size", at.body_end)


@pytest.mark.parametrize("name", ["v4", "v5"])
def test_signed_data_too_short_for_its_fixed_fields(name: str) -> None:
    data = ALL[name]
    at = offsets(data)
    for size in (0, 133):
        # The rest of the signature data becomes trailing bytes.
        expect_error(put(data, at.body_end, "I", size), "signed_data", at.auth_at + size)


def test_v3_signed_data_too_short_for_the_qe_report() -> None:
    at = offsets(V3)
    expect_error(put(V3, at.body_end, "I", 100), "qe_report", at.auth_at + 100)


# --- QE report certification data (v4/v5) ------------------------------------------------------


@pytest.mark.parametrize("name", ["v4", "v5"])
@pytest.mark.parametrize("cert_type", [0, 1, 5, 7])
def test_outer_certification_data_type_must_be_6(name: str, cert_type: int) -> None:
    data = ALL[name]
    at = offsets(data)
    assert at.outer_type_at is not None
    expect_error(
        put(data, at.outer_type_at, "H", cert_type),
        "certification_data_type",
        at.outer_type_at,
        f"certification data type {cert_type} is not 6",
    )


@pytest.mark.parametrize("name", ["v4", "v5"])
@pytest.mark.parametrize("delta", [-1, 1], ids=["one-short", "one-long"])
def test_qe_report_certification_data_size_not_exact(name: str, delta: int) -> None:
    data = ALL[name]
    at = offsets(data)
    assert at.qecd_size_at is not None
    size = struct.unpack_from("<I", data, at.qecd_size_at)[0]
    expect_error(
        put(data, at.qecd_size_at, "I", size + delta),
        "qe_report_certification_data.size",
        at.qecd_size_at,
        "does not fill the signed data exactly",
    )


# --- QE auth data, PCK certification data ----------------------------------------------------


@pytest.mark.parametrize("name", list(ALL))
def test_qe_auth_data_size_overflows(name: str) -> None:
    data = ALL[name]
    at = offsets(data)
    room = at.auth_end - at.qe_auth_size_at - 2
    for size in (room - 5, room, 0xFFFF):  # the 6-byte certification data head no longer fits
        expect_error(
            put(data, at.qe_auth_size_at, "H", size),
            "qe_auth_data.size",
            at.qe_auth_size_at,
            "leaves no room for the certification data",
        )


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("cert_type", [0, 6, 7, 0xFFFF])
def test_unsupported_pck_certification_data_type(name: str, cert_type: int) -> None:
    data = ALL[name]
    at = offsets(data)
    expect_error(
        put(data, at.cert_type_at, "H", cert_type),
        "certification_data.type",
        at.cert_type_at,
        f"unsupported certification data type {cert_type}",
    )


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("delta", [-1, 1, 1 << 20], ids=["one-short", "one-long", "huge"])
def test_pck_certification_data_size_not_exact(name: str, delta: int) -> None:
    data = ALL[name]
    at = offsets(data)
    size = struct.unpack_from("<I", data, at.cert_size_at)[0]
    expect_error(
        put(data, at.cert_size_at, "I", size + delta),
        "certification_data.size",
        at.cert_size_at,
        "does not end where the signed data ends",
    )


# --- input types ------------------------------------------------------------------------------


def test_str_input_points_to_from_hex() -> None:
    error = expect_error(V4.hex(), "quote", 0, "Quote.from_hex")
    assert "str" in error.reason


@pytest.mark.parametrize("value", [None, 0, 4, 3.5, [4, 0], object()])
def test_non_bytes_input(value: object) -> None:
    error = expect_error(value, "quote", 0, "expected bytes")
    assert type(value).__name__ in error.reason


def test_released_memoryview() -> None:
    view = memoryview(V4)
    view.release()
    expect_error(view, "quote", 0, "unreadable buffer")


def test_bytearray_and_memoryview_inputs_are_accepted() -> None:
    expected = parse_quote(V4)
    padded = b"xx" + V4 + b"yy"
    for value in (
        bytearray(V4),
        memoryview(V4),
        memoryview(bytearray(V4)),
        memoryview(padded)[2:-2],
        memoryview(bytes(b for pair in zip(V4, V4, strict=True) for b in pair))[::2],
    ):
        quote = parse_quote(value)
        assert quote == expected
        assert type(quote.to_bytes()) is bytes
        assert Quote(value) == expected
        assert Quote.parse(value) == expected


def test_a_bytearray_changed_after_parsing_does_not_change_the_quote() -> None:
    buffer = bytearray(V4)
    quote = parse_quote(buffer)
    buffer[100] ^= 0xFF
    assert quote.to_bytes() == V4
    assert quote.body == parse_quote(V4).body


# --- Quote.from_hex ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        V4.hex(),
        "0x" + V4.hex(),
        "0X" + V4.hex(),
        V4.hex().upper(),
        "0x" + V4.hex().upper(),
        "  \n" + V4.hex() + "\n",
        "\t".join(V4.hex()[i : i + 64] for i in range(0, len(V4) * 2, 64)),
        " ".join(V4.hex()[i : i + 2] for i in range(0, len(V4) * 2, 2)),
        "0x\n" + "\r\n".join(V4.hex()[i : i + 80] for i in range(0, len(V4) * 2, 80)),
    ],
    ids=["plain", "0x", "0X", "upper", "0x-upper", "padded", "tabs", "spaced", "crlf-lines"],
)
def test_from_hex_accepts(text: str) -> None:
    assert Quote.from_hex(text).to_bytes() == V4
    assert Quote.from_hex(text.encode("ascii")).to_bytes() == V4
    assert Quote.from_hex(bytearray(text.encode("ascii"))).to_bytes() == V4  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [V4.hex()[:-1], V4.hex() + "g", "zz" + V4.hex(), "0x0x" + V4.hex(), "0x", "x" + V4.hex()],
    ids=["odd-length", "non-hex-suffix", "non-hex-prefix", "double-prefix", "prefix-only", "x"],
)
def test_from_hex_rejects_invalid_hex(text: str) -> None:
    with pytest.raises(QuoteParseError) as info:
        Quote.from_hex(text)
    assert type(info.value) is QuoteParseError
    if text == "0x":  # valid (empty) hex: the quote is what is wrong
        assert info.value.field == "header"
    else:
        assert (info.value.field, info.value.offset) == ("quote", 0)
        assert "not valid hex" in info.value.reason


def test_from_hex_rejects_non_ascii_bytes() -> None:
    with pytest.raises(QuoteParseError) as info:
        Quote.from_hex(b"\xff" + V4.hex().encode())
    assert (info.value.field, info.value.reason) == ("quote", "hex text is not ASCII")


@pytest.mark.parametrize("value", [None, 12, memoryview(b"00")])
def test_from_hex_rejects_non_text(value: object) -> None:
    with pytest.raises(QuoteParseError) as info:
        Quote.from_hex(value)  # type: ignore[arg-type]
    assert info.value.field == "quote"
    assert "expected hex text" in info.value.reason


def test_from_hex_of_a_broken_quote_reports_the_quote_offset() -> None:
    expect_error(put(V4, 4, "I", 5), "header.tee_type", 4)
    with pytest.raises(QuoteParseError) as info:
        Quote.from_hex("0x" + put(V4, 4, "I", 5).hex())
    assert (info.value.field, info.value.offset) == ("header.tee_type", 4)


# --- the error type itself ----------------------------------------------------------------------


def test_quote_parse_error_is_a_value_error_and_survives_pickling() -> None:
    error = expect_error(b"", "header", 0)
    assert isinstance(error, TdxQuoteError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.offset, copy.field, str(copy)) == (
        error.reason,
        error.offset,
        error.field,
        str(error),
    )
