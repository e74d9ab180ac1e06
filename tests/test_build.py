"""``build_quote`` and ``signed_bytes_for``, and the immutability of what they return.

Every real quote is rebuilt byte for byte from its parsed fields; every layout
(v3, v4 TDX and SGX, v5 body types 1 to 4) is built from scratch and read back
by both parsers (and by dcap-qvl when it is installed).
"""

from __future__ import annotations

import copy
import pickle
import random
import struct
from pathlib import Path
from typing import Any

import pytest
from _quote_files import QUOTE_FILES, QuoteFile

from tdxquote import (
    CertificationData,
    Header,
    Quote,
    QuoteParseError,
    SgxReport,
    TdReport10,
    TdReport15,
    TdReport15Ex,
    TeeType,
    parse_quote,
)
from tdxquote._build import build_quote, signed_bytes_for
from tdxquote._reference import reference_fields
from tdxquote.schema import (
    INTEL_QE_VENDOR_ID,
    SGX_REPORT,
    TD_REPORT_10,
    TD_REPORT_15,
    TD_REPORT_15EX,
)

_SCHEMAS: dict[type, Any] = {
    SgxReport: SGX_REPORT,
    TdReport10: TD_REPORT_10,
    TdReport15: TD_REPORT_15,
    TdReport15Ex: TD_REPORT_15EX,
}


def report(cls: Any, rng: random.Random) -> Any:
    """A report of class ``cls`` with random contents."""
    parsed = _SCHEMAS[cls].parse(rng.randbytes(_SCHEMAS[cls].sizeof()))
    return cls(**{k: v for k, v in parsed.items() if not k.startswith("_")})


def fields_of(quote: Quote) -> dict[str, Any]:
    """The keyword arguments that rebuild ``quote``."""
    return {
        "body": quote.body,
        "signature": quote.signature,
        "attestation_key": quote.attestation_key,
        "qe_report": quote.qe_report,
        "qe_report_signature": quote.qe_report_signature,
        "qe_auth_data": quote.qe_auth_data,
        "certification_data": quote.certification_data,
        "version": quote.version,
        "qe_svn": quote.qe_svn,
        "pce_svn": quote.pce_svn,
        "qe_vendor_id": quote.qe_vendor_id,
        "user_data": quote.user_data,
        "attestation_key_type": quote.attestation_key_type,
        "trailing_bytes": quote.trailing_bytes,
    }


def header_of(quote: Quote) -> dict[str, Any]:
    """The keyword arguments of ``signed_bytes_for`` for ``quote``."""
    return {
        "version": quote.version,
        "qe_svn": quote.qe_svn,
        "pce_svn": quote.pce_svn,
        "qe_vendor_id": quote.qe_vendor_id,
        "user_data": quote.user_data,
        "attestation_key_type": quote.attestation_key_type,
    }


# (name, body class, explicit version or None, expected version, v5 body type, TEE)
LAYOUTS = [
    ("v3", SgxReport, None, 3, None, TeeType.SGX),
    ("v4-tdx", TdReport10, None, 4, None, TeeType.TDX),
    ("v4-sgx", SgxReport, 4, 4, None, TeeType.SGX),
    ("v5-type1", SgxReport, 5, 5, 1, TeeType.SGX),
    ("v5-type2", TdReport10, 5, 5, 2, TeeType.TDX),
    ("v5-type3", TdReport15, None, 5, 3, TeeType.TDX),
    ("v5-type4", TdReport15Ex, None, 5, 4, TeeType.TDX),
]


def scratch_fields(body_cls: Any, version: int | None, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    return {
        "body": report(body_cls, rng),
        "version": version,
        "signature": rng.randbytes(64),
        "attestation_key": rng.randbytes(64),
        "qe_report": report(SgxReport, rng),
        "qe_report_signature": rng.randbytes(64),
        "qe_auth_data": rng.randbytes(rng.randrange(0, 100)),
        "certification_data": CertificationData(rng.randrange(1, 6), rng.randbytes(77)),
        "qe_svn": rng.randrange(1 << 16),
        "pce_svn": rng.randrange(1 << 16),
        "qe_vendor_id": rng.randbytes(16),
        "user_data": rng.randbytes(20),
        "trailing_bytes": rng.randbytes(seed % 4),
    }


def _entry_id(entry: QuoteFile) -> str:
    return entry.id


# --- real quotes -------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", QUOTE_FILES, ids=_entry_id)
def test_every_real_quote_rebuilds_byte_for_byte(vectors: Path, entry: QuoteFile) -> None:
    data = entry.read(vectors)
    quote = parse_quote(data)
    rebuilt = build_quote(**fields_of(quote))
    assert rebuilt.to_bytes() == data
    assert rebuilt == quote
    assert signed_bytes_for(quote.body, **header_of(quote)) == quote.signed_bytes


# --- from scratch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body_cls", "version", "expected_version", "body_type", "tee"),
    [layout[1:] for layout in LAYOUTS],
    ids=[layout[0] for layout in LAYOUTS],
)
def test_build_from_scratch(
    body_cls: Any, version: int | None, expected_version: int, body_type: int | None, tee: TeeType
) -> None:
    for seed in range(4):
        given = scratch_fields(body_cls, version, seed)
        quote = build_quote(**given)
        data = quote.to_bytes()
        assert quote.version == expected_version
        assert quote.body_type == body_type
        assert quote.tee_type is tee
        assert quote.attestation_key_type == 2
        for name, value in given.items():
            if name != "version":
                assert getattr(quote, name) == value, name
        assert quote.header == Header(
            expected_version,
            2,
            int(tee),
            given["qe_svn"],
            given["pce_svn"],
            given["qe_vendor_id"],
            given["user_data"],
        )
        # The layout, by the specification's sizes.
        body = given["body"].to_bytes()
        body_at = 54 if expected_version == 5 else 48
        assert struct.unpack_from("<HHI", data) == (expected_version, 2, int(tee))
        if expected_version == 5:
            assert struct.unpack_from("<HI", data, 48) == (body_type, len(body))
        assert data[body_at : body_at + len(body)] == body
        assert quote.signed_bytes == data[: body_at + len(body)]
        signed_end = len(data) - len(given["trailing_bytes"])
        size_at = body_at + len(body)
        assert struct.unpack_from("<I", data, size_at)[0] == signed_end - size_at - 4
        assert data[signed_end:] == given["trailing_bytes"]
        assert data[size_at + 4 : size_at + 68] == given["signature"]
        # Both parsers read it back.
        assert parse_quote(data) == quote
        assert reference_fields(data)["body"] == given["body"]._asdict()
        assert signed_bytes_for(given["body"], **header_of(quote)) == quote.signed_bytes


def test_default_header_fields() -> None:
    quote = build_quote(**{**scratch_fields(TdReport10, None, 9), "trailing_bytes": b""})
    defaults = build_quote(
        body=quote.body,
        signature=quote.signature,
        attestation_key=quote.attestation_key,
        qe_report=quote.qe_report,
        qe_report_signature=quote.qe_report_signature,
        qe_auth_data=quote.qe_auth_data,
        certification_data=quote.certification_data,
    )
    assert (defaults.qe_svn, defaults.pce_svn) == (0, 0)
    assert defaults.qe_vendor_id == INTEL_QE_VENDOR_ID
    assert defaults.user_data == bytes(20)
    assert defaults.trailing_bytes == b""
    assert defaults.version == 4


@pytest.mark.parametrize(
    ("body_cls", "version"),
    [layout[1:3] for layout in LAYOUTS],
    ids=[layout[0] for layout in LAYOUTS],
)
def test_built_quotes_parse_identically_in_dcap_qvl(body_cls: Any, version: int | None) -> None:
    dcap_qvl = pytest.importorskip("dcap_qvl")
    quote = build_quote(**scratch_fields(body_cls, version, 5))
    theirs = dcap_qvl.parse_quote(quote.to_bytes())
    for name, value in quote.header._asdict().items():
        assert getattr(theirs.header, name) == value, name
    body = quote.body._asdict()
    names = [n for n in dir(theirs.report) if not n.startswith("_")]
    for name in names:
        assert getattr(theirs.report, name) == body[name.replace("rt_mr", "rtmr")], name
    if quote.is_tdx:
        # dcap-qvl's TD report layouts, TD 1.5 ex included, have exactly our fields.
        assert {n.replace("rt_mr", "rtmr") for n in names} == set(body)
    assert theirs.is_tdx() == quote.is_tdx


# --- rule violations -------------------------------------------------------------------------

# name: (changed build arguments, body class, expected error field or None for any)
_BAD_BUILDS: dict[str, tuple[dict[str, Any], type, str | None]] = {
    "v3-with-td10-body": ({"version": 3}, TdReport10, "header"),
    "v3-with-td15-body": ({"version": 3}, TdReport15, "header"),
    "v4-with-td15-body": ({"version": 4}, TdReport15, "body"),
    "v4-with-td15ex-body": ({"version": 4}, TdReport15Ex, "body"),
    "version-2": ({"version": 2}, SgxReport, "header"),
    "version-6": ({"version": 6}, TdReport10, "header"),
    "p384-key": ({"attestation_key_type": 3}, TdReport10, "header"),
    "cert-type-0": ({"certification_data": CertificationData(0, b"")}, TdReport10, None),
    "cert-type-6": ({"certification_data": CertificationData(6, b"")}, TdReport10, None),
    "cert-type-7": ({"certification_data": CertificationData(7, b"")}, SgxReport, None),
    "short-signature": ({"signature": bytes(63)}, TdReport10, None),
    "long-attestation-key": ({"attestation_key": bytes(65)}, TdReport10, None),
    "short-qe-report-signature": ({"qe_report_signature": bytes(1)}, SgxReport, None),
    "short-vendor-id": ({"qe_vendor_id": bytes(15)}, TdReport10, None),
    "long-user-data": ({"user_data": bytes(21)}, TdReport15, None),
    "qe-svn-out-of-range": ({"qe_svn": 1 << 16}, SgxReport, None),
    "negative-pce-svn": ({"pce_svn": -1}, SgxReport, None),
    "qe-auth-data-too-long": ({"qe_auth_data": bytes(1 << 16)}, TdReport10, None),
}


@pytest.mark.parametrize("name", list(_BAD_BUILDS))
def test_build_rule_violation_raises_quote_parse_error(name: str) -> None:
    changes, body_cls, field = _BAD_BUILDS[name]
    fields = {**scratch_fields(body_cls, None, 3), **changes}
    with pytest.raises(QuoteParseError) as info:
        build_quote(**fields)
    assert type(info.value) is QuoteParseError
    if field is not None:
        assert info.value.field == field


def test_build_with_a_wrong_size_body_field_raises_quote_parse_error() -> None:
    fields = scratch_fields(TdReport10, None, 1)
    fields["body"] = fields["body"]._replace(mr_td=bytes(47))
    with pytest.raises(QuoteParseError, match="mr_td"):
        build_quote(**fields)


def test_build_with_a_non_report_body_raises_type_error() -> None:
    fields = scratch_fields(TdReport10, None, 1)
    fields["body"] = fields["body"]._asdict()
    with pytest.raises(TypeError, match="body must be"):
        build_quote(**fields)


def test_regression_td15_body_with_version_4_is_refused() -> None:
    # Bug fixed: build_quote(body=TdReport15, version=4) built a v4 quote with a TD 1.0
    # body, silently dropping tee_tcb_svn2 and mr_service_td.
    for body_cls in (TdReport15, TdReport15Ex):
        fields = scratch_fields(body_cls, 4, 2)
        with pytest.raises(QuoteParseError, match="needs quote version 5") as info:
            build_quote(**fields)
        assert info.value.field == "body"
        with pytest.raises(QuoteParseError, match="needs quote version 5"):
            signed_bytes_for(fields["body"], version=4)


# --- signed_bytes_for ---------------------------------------------------------------------------

# The arguments build_quote requires; the header ones have defaults.
_REQUIRED = {
    "body",
    "signature",
    "attestation_key",
    "qe_report",
    "qe_report_signature",
    "qe_auth_data",
    "certification_data",
}


@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout[0] for layout in LAYOUTS])
def test_signed_bytes_for_equals_quote_signed_bytes(layout: tuple[Any, ...]) -> None:
    _, body_cls, version, *_ = layout
    fields = scratch_fields(body_cls, version, 7)
    quote = build_quote(**fields)
    assert signed_bytes_for(fields["body"], **header_of(quote)) == quote.signed_bytes
    if version is None:
        # Without header arguments: the defaults build_quote uses.
        plain = build_quote(**{k: v for k, v in fields.items() if k in _REQUIRED})
        assert signed_bytes_for(fields["body"]) == plain.signed_bytes


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 3},
        {"version": 6},
        {"attestation_key_type": 3},
        {"qe_vendor_id": b"\x01"},
        {"user_data": bytes(19)},
        {"qe_svn": 70000},
        {"pce_svn": -1},
    ],
    ids=["v3-td", "v6", "p384", "vendor-id", "user-data", "qe-svn", "pce-svn"],
)
def test_regression_signed_bytes_for_raises_quote_parse_error(changes: dict[str, Any]) -> None:
    # Bug fixed: signed_bytes_for ran no header rule and let construct errors escape.
    body = report(TdReport10, random.Random(4))
    with pytest.raises(QuoteParseError) as info:
        signed_bytes_for(body, **changes)
    assert type(info.value) is QuoteParseError


def test_regression_signed_bytes_for_refuses_a_wrong_size_body_field() -> None:
    # Bug fixed: the body went through struct.pack, which pads or cuts a bytes field
    # to size, so the bytes to sign differed from any quote build_quote would make.
    body = report(TdReport15, random.Random(4))
    for wrong in (bytes(47), bytes(49)):
        with pytest.raises(QuoteParseError, match="mr_td"):
            signed_bytes_for(body._replace(mr_td=wrong))


# --- immutability, equality, pickling ------------------------------------------------------


@pytest.fixture
def quote() -> Quote:
    return build_quote(**scratch_fields(TdReport15, None, 11))


@pytest.mark.parametrize("name", ["version", "header", "body", "signature", "_layout", "extra"])
def test_quote_attributes_cannot_be_set_or_deleted(quote: Quote, name: str) -> None:
    _ = quote.header, quote.body, quote.qe_report  # populate the cached properties
    before = quote.to_bytes()
    with pytest.raises(AttributeError):
        setattr(quote, name, 1)
    with pytest.raises(AttributeError):
        delattr(quote, name)
    assert quote.to_bytes() == before
    assert getattr(quote, name, None) != 1


def test_reports_and_header_are_immutable_tuples(quote: Quote) -> None:
    for value in (quote.header, quote.body, quote.qe_report, quote.certification_data):
        assert isinstance(value, tuple)
        with pytest.raises(AttributeError):
            setattr(value, value._fields[0], value[0])
        with pytest.raises(TypeError):
            value[0] = 0  # type: ignore[index]
        assert hash(value) == hash(tuple(value))


def test_quote_equality_and_hash_are_by_bytes(quote: Quote) -> None:
    data = quote.to_bytes()
    same = parse_quote(bytearray(data))
    assert same == quote
    assert same is not quote
    assert hash(same) == hash(quote) == hash(data)
    assert len({quote, same}) == 1
    longer = parse_quote(data + b"\x00")
    assert longer != quote
    assert longer.body == quote.body
    assert quote != data
    assert (quote == data) is False


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_quote_pickles(quote: Quote, protocol: int) -> None:
    _ = quote.body  # a populated cache must not matter
    copied = pickle.loads(pickle.dumps(quote, protocol=protocol))
    assert type(copied) is Quote
    assert copied == quote
    assert copied.to_bytes() == quote.to_bytes()
    assert copied.body == quote.body
    assert copied.certification_data == quote.certification_data


def test_quote_copies(quote: Quote) -> None:
    for copied in (copy.copy(quote), copy.deepcopy(quote)):
        assert copied == quote
        assert copied.body == quote.body
