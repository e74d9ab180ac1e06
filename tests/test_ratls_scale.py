"""The SCALE decoder of dstack's attestation envelope: rules, dstack's vectors, and fuzzing.

For any bytes, :func:`decode_attestation` returns an attestation or raises
:class:`RaTlsFormatError` (a ``QuoteParseError``) or
:class:`UnsupportedAttestationError`, never anything else; every encoding
it accepts is canonical (re-encoding gives the same bytes).
"""

from __future__ import annotations

from pathlib import Path

import construct as c
import pytest
from _helpers import budget
from hypothesis import example, given
from hypothesis import strategies as st

from tdxquote import QuoteParseError
from tdxquote.ratls import (
    AttestationV0,
    RaTlsFormatError,
    RuntimeEvent,
    TdxEvent,
    UnsupportedAttestationError,
    decode_attestation,
    encode_attestation_v0,
)
from tdxquote.ratls._scale import (
    Bool,
    ByteVec,
    Compact,
    Enum,
    Option,
    ScaleError,
    String,
    Vec,
    compact_bytes,
)

# --- compact integers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded", "value"),
    [
        ("00", 0),
        ("24", 9),
        ("30", 12),
        ("c0", 48),
        ("fc", 63),
        ("0101", 64),
        ("494e", 5010),
        ("3103", 204),
        ("a508", 553),
        ("fdff", 16383),
        ("02000100", 16384),
        ("feffffff", (1 << 30) - 1),
        ("0300000040", 1 << 30),
        ("03ffffffff", (1 << 32) - 1),
    ],
)
def test_compact_known_encodings(encoded: str, value: int) -> None:
    data = bytes.fromhex(encoded)
    assert Compact().parse(data) == value
    assert compact_bytes(value) == data
    assert Compact().build(value) == data


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        ("0100", "non-canonical"),  # 0 in the 2-byte mode
        ("fd00", "non-canonical"),  # 63 in the 2-byte mode
        ("02000000", "non-canonical"),
        ("feff0000", "non-canonical"),  # 16383 in the 4-byte mode
        ("03ffffff3f", "non-canonical"),  # 2**30 - 1 in big-integer mode
        ("0700000000ff", "only 4"),  # 5-byte big integer: not a Compact<u32>
        ("01", "stream read"),
        ("03000000", "stream read"),
    ],
)
def test_compact_rejects_non_canonical_and_truncated(encoded: str, reason: str) -> None:
    with pytest.raises(c.ConstructError, match=reason):
        Compact().parse(bytes.fromhex(encoded))


@given(st.integers(0, (1 << 32) - 1))
def test_compact_round_trips_every_u32(value: int) -> None:
    data = compact_bytes(value)
    assert Compact().parse(data) == value
    assert len(data) == (1 if value < 64 else 2 if value < 1 << 14 else 4 if value < 1 << 30 else 5)


@budget(2000)
@given(st.binary(min_size=1, max_size=6))
def test_compact_accepts_only_canonical_bytes(data: bytes) -> None:
    try:
        value = Compact().parse(data)
    except c.ConstructError:
        return
    encoded = compact_bytes(value)
    assert data.startswith(encoded)


def test_compact_refuses_to_build_out_of_range() -> None:
    for value in (-1, 1 << 32):
        with pytest.raises(ValueError, match="Compact"):
            compact_bytes(value)
        with pytest.raises(ScaleError):
            Compact().build(value)


# --- vectors, strings, bool, option, enum ----------------------------------------------------


def test_strings_are_length_prefixed_utf8() -> None:
    assert String.build("ACPI DATA") == bytes.fromhex("24") + b"ACPI DATA"
    assert String.parse(bytes.fromhex("40") + b"system-preparing") == "system-preparing"
    with pytest.raises(ScaleError, match="UTF-8"):
        String.parse(b"\x08\xff\xfe")
    with pytest.raises(ScaleError, match="UTF-8"):
        String.parse(b"\x0c\xed\xa0\x80")  # a UTF-16 surrogate: invalid in Rust too


def test_vectors_count_elements() -> None:
    events = Vec(c.Struct("event" / String, "payload" / ByteVec))
    data = bytes.fromhex("08") + b"\x0cabc\x04\x09" + b"\x00\x00"
    parsed = events.parse(data)
    assert [(e.event, e.payload) for e in parsed] == [("abc", b"\x09"), ("", b"")]
    assert (
        events.build([{"event": "abc", "payload": b"\x09"}, {"event": "", "payload": b""}]) == data
    )
    with pytest.raises(c.ConstructError):
        events.parse(bytes.fromhex("0c") + b"\x00\x00")  # 3 elements announced, 1 present


def test_bool_and_option() -> None:
    assert Bool.parse(b"\x00") is False
    assert Bool.parse(b"\x01") is True
    with pytest.raises(ScaleError, match="bool"):
        Bool.parse(b"\x02")
    maybe = Option(String)
    assert maybe.parse(b"\x00") is None
    assert maybe.parse(b"\x01\x0cabc") == "abc"
    assert maybe.build(None) == b"\x00"
    assert maybe.build("abc") == b"\x01\x0cabc"
    with pytest.raises(ScaleError, match="Option tag"):
        maybe.parse(b"\x02")
    wide = Option(c.Int64ul)
    assert wide.parse(b"\x01" + (5).to_bytes(8, "little")) == 5


def test_enum_reads_known_variants_and_names_unsupported_ones() -> None:
    from tdxquote.ratls._scale import UnsupportedVariant

    schema = Enum("Shape", {"Dot": 0, "Line": 1, "Blob": 2}, {"Dot": c.Pass, "Line": c.Int8ul})
    assert schema.parse(b"\x00").variant == "Dot"
    assert schema.parse(b"\x01\x07").value == 7
    assert schema.build({"variant": "Line", "value": 7}) == b"\x01\x07"
    with pytest.raises(UnsupportedVariant, match="Shape::Blob"):
        schema.parse(b"\x02")
    with pytest.raises(ScaleError, match="unknown Shape variant tag 9"):
        schema.parse(b"\x09")


# --- the envelope ----------------------------------------------------------------------------

# dstack's own unit-test vectors (test_csr_v2_scale_encoding_stable*): the attestation part.
EMPTY_V0 = bytes.fromhex("0000000000") + bytes(64) + b"\x00"
QUOTE_9_V0 = bytes.fromhex("000004090000") + bytes(64) + b"\x00"


def test_format_errors_are_parse_errors() -> None:
    assert issubclass(RaTlsFormatError, QuoteParseError)


def test_dstack_unit_test_vectors() -> None:
    assert len(QUOTE_9_V0) == 71
    for data, quote in ((EMPTY_V0, b""), (QUOTE_9_V0, b"\x09")):
        decoded = decode_attestation(data)
        assert decoded.quote == quote
        assert decoded.event_log == ()
        assert decoded.runtime_events == ()
        assert decoded.report_data == bytes(64)
        assert decoded.config == ""
        assert encode_attestation_v0(quote=quote) == data


@pytest.mark.parametrize(
    ("data", "error", "text"),
    [
        (b"", RaTlsFormatError, "empty"),
        (b"\x01", RaTlsFormatError, "unknown attestation wire format"),
        # A msgpack map is V1 (tests/test_ratls_msgpack_v1.py): these are truncated ones.
        (b"\x83\xa7version", RaTlsFormatError, "truncated"),
        (b"\xde\x00\x03", RaTlsFormatError, "remaining bytes"),
        (b"\x00\x01", UnsupportedAttestationError, "DstackGcpTdx"),
        (b"\x00\x02", UnsupportedAttestationError, "DstackNitroEnclave"),
        (b"\x00\x04", UnsupportedAttestationError, "DstackAwsNitroTpm"),
        (b"\x00\x05", RaTlsFormatError, "unknown AttestationQuote variant tag 5"),
        (b"\x00\x00\x04", RaTlsFormatError, "runs past the end"),
        (b"\x00\x00\x01\x00", RaTlsFormatError, "non-canonical"),
        (EMPTY_V0[:-1], RaTlsFormatError, "stream read"),
        (EMPTY_V0 + b"\x00", RaTlsFormatError, "trailing"),
    ],
)
def test_envelope_errors_name_what_was_found(
    data: bytes, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        decode_attestation(data)


def test_envelope_size_limit() -> None:
    with pytest.raises(RaTlsFormatError, match="10 MiB"):
        decode_attestation(b"\x00" * ((10 << 20) + 1))


def test_envelope_errors_locate_the_problem() -> None:
    event = TdxEvent(3, 0x08000001, b"", "app-id", b"\x01" * 20)
    good = encode_attestation_v0(quote=b"q", event_log=(event,), runtime_events=())
    broken = bytearray(good)
    name_at = good.index(b"app-id") - 1
    broken[name_at + 1] = 0xFF  # invalid UTF-8 in the event name
    with pytest.raises(RaTlsFormatError) as info:
        decode_attestation(bytes(broken))
    assert "UTF-8" in info.value.reason
    assert info.value.field.startswith("attestation.quote.event_log")
    assert info.value.offset >= name_at


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_events = st.builds(
    TdxEvent,
    st.integers(0, 3),
    st.sampled_from([0x08000001, 0x0A, 0x80000001, 0]),
    st.sampled_from([b"", bytes(48)]),
    _names,
    st.binary(max_size=80),
    version=st.just(1),  # V0 SCALE has no event-log version: always 1
    preimage=st.none(),
)
_runtime = st.builds(RuntimeEvent, _names, st.binary(max_size=80), version=st.just(1))


@budget(300)
@given(
    quote=st.binary(max_size=300),
    events=st.lists(_events, max_size=6),
    runtime=st.lists(_runtime, max_size=6),
    report_data=st.binary(min_size=64, max_size=64),
    config=_names,
)
def test_envelope_round_trips(
    quote: bytes,
    events: list[TdxEvent],
    runtime: list[RuntimeEvent],
    report_data: bytes,
    config: str,
) -> None:
    data = encode_attestation_v0(
        quote=quote,
        event_log=events,
        runtime_events=runtime,
        report_data=report_data,
        config=config,
    )
    decoded = decode_attestation(data)
    assert decoded.quote == quote
    assert list(decoded.event_log) == events
    assert list(decoded.runtime_events) == runtime
    assert decoded.report_data == report_data
    assert decoded.config == config


def _outcome(data: bytes) -> AttestationV0 | Exception:
    try:
        return decode_attestation(data)
    except (RaTlsFormatError, UnsupportedAttestationError) as exc:
        return exc


def _check_contract(data: bytes) -> None:
    decoded = _outcome(data)
    if isinstance(decoded, Exception):
        if isinstance(decoded, RaTlsFormatError):
            assert 0 <= decoded.offset <= len(data)
        return
    again = encode_attestation_v0(
        quote=decoded.quote,
        event_log=decoded.event_log,
        runtime_events=decoded.runtime_events,
        report_data=decoded.report_data,
        config=decoded.config,
    )
    assert again == data, "an accepted encoding must be canonical"


@budget(1000)
@given(st.binary(max_size=200))
@example(EMPTY_V0)
@example(QUOTE_9_V0)
def test_random_bytes_raise_only_parse_or_unsupported_errors(data: bytes) -> None:
    _check_contract(data)


@budget(300)
@given(st.binary(max_size=200))
def test_random_v0_bodies_raise_only_parse_or_unsupported_errors(body: bytes) -> None:
    _check_contract(b"\x00\x00" + body)


@pytest.fixture(scope="module")
def real_envelope(vectors: Path) -> bytes:
    return (vectors / "dstack/synthetic/attestation_v0_stripped_keyA.bin").read_bytes()


@budget(300)
@given(data=st.data())
def test_mutated_real_envelopes_raise_only_parse_or_unsupported_errors(
    real_envelope: bytes, data: st.DataObject
) -> None:
    buffer = bytearray(real_envelope)
    # Mutate around the structure (past the quote the changes land in lengths and names).
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(buffer) - 1))
        buffer[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buffer)))
    _check_contract(bytes(buffer[:cut]) if data.draw(st.booleans()) else bytes(buffer))
