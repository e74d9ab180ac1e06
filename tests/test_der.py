"""The strict DER reader and the minimal encoders in ``tdxquote._der``."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import _der
from tdxquote._der import Tlv
from tdxquote.errors import QuoteParseError

# --------------------------------------------------------------------------- read_tlv


def test_read_tlv_short_form() -> None:
    data = bytes.fromhex("0403aabbcc")
    assert _der.read_tlv(data) == Tlv(0x04, 0, 2, 5)
    assert _der.read_tlv(data).length == 3


def test_read_tlv_long_form_and_offsets() -> None:
    body = bytes(range(200)) * 2  # 400 bytes
    data = b"\xff\xff" + _der.encode_octet_string(body) + b"\x05\x00"
    tlv = _der.read_tlv(data, 2)
    assert data[2:6] == bytes.fromhex("04820190")
    assert tlv == Tlv(0x04, 2, 6, 406)
    assert data[tlv.start : tlv.end] == body
    assert _der.read_tlv(data, tlv.end) == Tlv(0x05, 406, 408, 408)


def test_read_tlv_zero_length() -> None:
    assert _der.read_tlv(b"\x30\x00") == Tlv(0x30, 0, 2, 2)


@pytest.mark.parametrize(
    ("hex_data", "offset", "reason"),
    [
        ("", 0, "truncated: expected"),
        ("04", 1, "missing length"),
        ("0480", 1, "indefinite"),
        ("3080020100 0000", 1, "indefinite"),
        ("04ff", 1, "reserved"),
        ("0481", 1, "length octets"),
        ("048205", 1, "length octets"),
        ("048105" + "00" * 5, 1, "long form for length 5"),
        ("04817f" + "00" * 127, 1, "long form for length 127"),
        ("0482007f" + "00" * 127, 1, "leading zero"),
        ("04820080" + "00" * 128, 1, "leading zero"),
        ("0405aabb", 0, "exceeds the 2 bytes"),
        ("1f0100", 0, "high-tag-number"),
        ("3f2200", 0, "high-tag-number"),
    ],
)
def test_read_tlv_rejects(hex_data: str, offset: int, reason: str) -> None:
    data = bytes.fromhex(hex_data.replace(" ", ""))
    with pytest.raises(QuoteParseError) as info:
        _der.read_tlv(data, field="thing")
    assert reason in info.value.reason
    assert info.value.offset == offset
    assert info.value.field == "thing"


def test_read_tlv_respects_end() -> None:
    data = bytes.fromhex("0403aabbcc")
    with pytest.raises(QuoteParseError, match="exceeds the 2 bytes"):
        _der.read_tlv(data, 0, 4)
    with pytest.raises(QuoteParseError):
        _der.read_tlv(data, 5)
    with pytest.raises(QuoteParseError):
        _der.read_tlv(data, -1)


def test_read_tlv_accepts_memoryview_and_bytearray() -> None:
    data = bytes.fromhex("020180")
    with pytest.raises(QuoteParseError):  # 0x80 as INTEGER content is negative
        _der.decode_integer(memoryview(data), _der.read_tlv(memoryview(data)))
    data = bytes.fromhex("02020080")
    for view in (memoryview(data), bytearray(data)):
        assert _der.decode_integer(view, _der.read_tlv(view)) == 128


def test_read_one() -> None:
    assert _der.read_one(b"\x05\x00", tag=_der.NULL) == Tlv(0x05, 0, 2, 2)
    with pytest.raises(QuoteParseError, match="1 trailing bytes") as info:
        _der.read_one(b"\x05\x00\x00")
    assert info.value.offset == 2
    with pytest.raises(QuoteParseError, match=r"expected SEQUENCE \(0x30\), found NULL"):
        _der.read_one(b"\x05\x00", tag=_der.SEQUENCE)


# --------------------------------------------------------------------------- children


def test_children() -> None:
    inner = _der.encode_sequence(_der.encode_integer(1), _der.encode_boolean(True))
    data = _der.encode_sequence(inner, _der.encode_octet_string(b"xy"))
    top = _der.read_one(data)
    children = _der.sequence_children(data, top)
    assert [c.tag for c in children] == [0x30, 0x04]
    assert list(_der.iter_children(data, top)) == children
    grand = _der.sequence_children(data, children[0])
    assert _der.decode_integer(data, grand[0]) == 1
    assert _der.decode_boolean(data, grand[1]) is True
    assert _der.decode_octet_string(data, children[1]) == b"xy"


def test_children_of_set_via_iter_children() -> None:
    data = _der.encode_tlv(_der.SET, _der.encode_integer(7))
    top = _der.read_one(data)
    assert [_der.decode_integer(data, c) for c in _der.iter_children(data, top)] == [7]
    with pytest.raises(QuoteParseError, match="expected SEQUENCE"):
        _der.sequence_children(data, top)


def test_children_reject_primitive_parent() -> None:
    data = _der.encode_octet_string(_der.encode_integer(1))
    top = _der.read_one(data)
    with pytest.raises(QuoteParseError, match="constructed"):
        list(_der.iter_children(data, top))


def test_child_may_not_overrun_parent() -> None:
    # SEQUENCE of length 3 whose child claims 4 bytes; the buffer has them.
    data = bytes.fromhex("30030404aabbccdd")
    top = _der.read_tlv(data)
    with pytest.raises(QuoteParseError, match="length 4 exceeds the 1 bytes") as info:
        _der.sequence_children(data, top)
    assert info.value.offset == 2


# --------------------------------------------------------------------------- primitives

OID_VECTORS = [
    ("1.2.840.113549", "2a864886f70d"),
    ("1.2.840.113741.1.13.1", "2a864886f84d010d01"),
    ("1.2.840.113741.1.13.1.2.17", "2a864886f84d010d010211"),
    ("1.3.6.1.4.1.62397.1.8", "2b0601040183e73d0108"),
    ("2.999.3", "883703"),
    ("0.0", "00"),
    ("2.5.29.19", "551d13"),
]


@pytest.mark.parametrize(("dotted", "content"), OID_VECTORS)
def test_oid_vectors(dotted: str, content: str) -> None:
    encoded = _der.encode_oid(dotted)
    assert encoded[2:].hex() == content
    assert _der.encode_oid_content(dotted).hex() == content
    assert _der.decode_oid(encoded, _der.read_one(encoded)) == dotted


@pytest.mark.parametrize(
    ("hex_data", "reason"),
    [
        ("0600", "empty"),
        ("06022a86", "truncated"),
        ("0603 2a 80 01", "0x80 padding"),
        ("0602 80 01", "0x80 padding"),
        ("0616 2a" + "ff" * 20 + "7f", "too large"),
        ("0401 2a", "expected OBJECT IDENTIFIER"),
    ],
)
def test_oid_rejects(hex_data: str, reason: str) -> None:
    data = bytes.fromhex(hex_data.replace(" ", ""))
    with pytest.raises(QuoteParseError, match=reason):
        _der.decode_oid(data, _der.read_one(data))


def test_oid_accepts_uuid_arc() -> None:
    dotted = f"2.25.{(1 << 128) - 1}"
    encoded = _der.encode_oid(dotted)
    assert _der.decode_oid(encoded, _der.read_one(encoded)) == dotted


@pytest.mark.parametrize("dotted", ["1", "3.1", "1.40", "0.40.1", "1.-2", "a.b", ""])
def test_encode_oid_rejects(dotted: str) -> None:
    with pytest.raises(ValueError, match="malformed OID"):
        _der.encode_oid(dotted)


@pytest.mark.parametrize(
    ("value", "content"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "0080"),
        (255, "00ff"),
        (256, "0100"),
        (65535, "00ffff"),
        (-1, "ff"),
        (-128, "80"),
        (-129, "ff7f"),
    ],
)
def test_integer_encoding(value: int, content: str) -> None:
    encoded = _der.encode_integer(value)
    assert encoded == bytes((0x02, len(content) // 2)) + bytes.fromhex(content)
    assert _der.encode_enumerated(value)[2:] == encoded[2:]
    assert _der.encode_enumerated(value)[0] == 0x0A
    if value >= 0:
        assert _der.decode_integer(encoded, _der.read_one(encoded)) == value
    else:
        with pytest.raises(QuoteParseError, match="negative"):
            _der.decode_integer(encoded, _der.read_one(encoded))


@pytest.mark.parametrize(
    ("hex_data", "reason"),
    [
        ("0200", "empty"),
        ("02020001", "non-minimal"),
        ("02020000", "non-minimal"),
        ("0203000080", "non-minimal"),
        ("0201ff", "negative"),
        ("0a0101", "expected INTEGER"),
    ],
)
def test_integer_rejects(hex_data: str, reason: str) -> None:
    data = bytes.fromhex(hex_data)
    with pytest.raises(QuoteParseError, match=reason):
        _der.decode_integer(data, _der.read_one(data))


def test_enumerated() -> None:
    data = bytes.fromhex("0a0102")
    assert _der.decode_enumerated(data, _der.read_one(data)) == 2
    for bad in ("0a020002", "0a0180", "020102", "0a00"):
        raw = bytes.fromhex(bad)
        with pytest.raises(QuoteParseError):
            _der.decode_enumerated(raw, _der.read_one(raw))


def test_boolean() -> None:
    assert _der.encode_boolean(True) == b"\x01\x01\xff"
    assert _der.encode_boolean(False) == b"\x01\x01\x00"
    for raw, expected in ((b"\x01\x01\xff", True), (b"\x01\x01\x00", False)):
        assert _der.decode_boolean(raw, _der.read_one(raw)) is expected
    for bad, reason in (
        ("010101", "0x00 or 0xff"),
        ("01017f", "0x00 or 0xff"),
        ("0100", "1 content octet"),
        ("0102ffff", "1 content octet"),
        ("0201ff", "expected BOOLEAN"),
    ):
        raw = bytes.fromhex(bad)
        with pytest.raises(QuoteParseError, match=reason):
            _der.decode_boolean(raw, _der.read_one(raw))


def test_octet_string() -> None:
    data = _der.encode_octet_string(b"\x01\x02\x03")
    tlv = _der.read_one(data)
    assert _der.decode_octet_string(data, tlv) == b"\x01\x02\x03"
    assert _der.decode_octet_string(data, tlv, size=3) == b"\x01\x02\x03"
    with pytest.raises(QuoteParseError, match="must be 4 bytes, found 3") as info:
        _der.decode_octet_string(data, tlv, size=4, field="x.y")
    assert info.value.field == "x.y"
    # The constructed form (BER only) is refused.
    constructed = bytes.fromhex("24050403010203")
    with pytest.raises(QuoteParseError, match=r"expected OCTET STRING \(0x04\), found tag 0x24"):
        _der.decode_octet_string(constructed, _der.read_one(constructed))


def test_unwrap_octet_string_twice() -> None:
    # RA-TLS: the extnValue content is itself a DER OCTET STRING wrapping the payload.
    payload = bytes(range(256)) * 30
    ext_value = _der.encode_octet_string(payload)
    assert ext_value[:4] == bytes.fromhex("04821e00")
    assert _der.unwrap_octet_string(ext_value) == payload
    with pytest.raises(QuoteParseError, match="trailing"):
        _der.unwrap_octet_string(ext_value + b"\x00")
    with pytest.raises(QuoteParseError, match="expected OCTET STRING"):
        _der.unwrap_octet_string(_der.encode_sequence(ext_value))


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8180"),
        (255, "81ff"),
        (256, "820100"),
        (65535, "82ffff"),
        (65536, "83010000"),
    ],
)
def test_encode_length(length: int, encoded: str) -> None:
    assert _der.encode_length(length).hex() == encoded


def test_encoders_reject_what_der_cannot_hold() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        _der.encode_length(-1)
    with pytest.raises(ValueError, match="identifier"):
        _der.encode_tlv(0x1F, b"")
    with pytest.raises(ValueError, match="identifier"):
        _der.encode_tlv(0x100, b"")


# --------------------------------------------------------------------------- properties


def _walk(data: bytes, tlv: Tlv, depth: int = 0) -> None:
    """Read everything under ``tlv`` with every decoder; errors must be QuoteParseError."""
    decoders: tuple[Any, ...] = (
        _der.decode_oid,
        _der.decode_integer,
        _der.decode_enumerated,
        _der.decode_boolean,
        _der.decode_octet_string,
    )
    for decode in decoders:
        with contextlib.suppress(QuoteParseError):
            decode(data, tlv)
    if tlv.tag & 0x20 and depth < 20:
        for child in _der.iter_children(data, tlv):
            _walk(data, child, depth + 1)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    error: QuoteParseError | None = None
    try:
        _walk(data, _der.read_one(data))
    except QuoteParseError as exc:
        error = exc
    if error is not None:
        assert 0 <= error.offset <= len(data)
    offset = 0
    while offset < len(data):  # every starting point of the buffer
        try:
            tlv = _der.read_tlv(data, offset)
            _walk(data, tlv)
        except QuoteParseError:
            pass
        offset += 1
    with contextlib.suppress(QuoteParseError):
        _der.unwrap_octet_string(data)


# A tree is (tag, bytes) for a primitive or (tag, [children]) for a SEQUENCE/SET.
_primitive = st.one_of(
    st.builds(lambda n: ("int", n), st.integers(min_value=0, max_value=1 << 80)),
    st.builds(lambda b: ("bool", b), st.booleans()),
    st.builds(lambda b: ("octets", b), st.binary(max_size=300)),
    st.builds(
        lambda arcs: ("oid", ".".join(map(str, arcs))),
        st.tuples(st.integers(0, 2), st.integers(0, 39), *[st.integers(0, 1 << 64)] * 3),
    ),
)
_trees = st.recursive(
    _primitive,
    lambda inner: st.builds(lambda kids: ("seq", kids), st.lists(inner, max_size=5)),
    max_leaves=30,
)


def _encode(tree: tuple[str, Any]) -> bytes:
    kind, value = tree
    if kind == "int":
        return _der.encode_integer(value)
    if kind == "bool":
        return _der.encode_boolean(value)
    if kind == "octets":
        return _der.encode_octet_string(value)
    if kind == "oid":
        return _der.encode_oid(value)
    return _der.encode_sequence(*(_encode(kid) for kid in value))


def _decode(data: bytes, tlv: Tlv) -> tuple[str, Any]:
    if tlv.tag == _der.INTEGER:
        return ("int", _der.decode_integer(data, tlv))
    if tlv.tag == _der.BOOLEAN:
        return ("bool", _der.decode_boolean(data, tlv))
    if tlv.tag == _der.OCTET_STRING:
        return ("octets", _der.decode_octet_string(data, tlv))
    if tlv.tag == _der.OBJECT_IDENTIFIER:
        return ("oid", _der.decode_oid(data, tlv))
    return ("seq", [_decode(data, kid) for kid in _der.sequence_children(data, tlv)])


@given(_trees)
def test_encode_then_read_round_trips(tree: tuple[str, Any]) -> None:
    data = _encode(tree)
    assert _decode(data, _der.read_one(data)) == tree


@given(_trees, st.data())
def test_truncations_and_byte_flips_raise_only_parse_errors(
    tree: tuple[str, Any], data: st.DataObject
) -> None:
    encoded = _encode(tree)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(QuoteParseError):
        _decode(encoded[:cut], _der.read_one(encoded[:cut]))
    index = data.draw(st.integers(0, len(encoded) - 1))
    flipped = bytearray(encoded)
    flipped[index] = data.draw(st.integers(0, 255))
    with contextlib.suppress(QuoteParseError):
        _decode(bytes(flipped), _der.read_one(bytes(flipped)))


@given(st.integers(min_value=0, max_value=1 << 200))
def test_integer_round_trip(value: int) -> None:
    encoded = _der.encode_integer(value)
    assert _der.decode_integer(encoded, _der.read_one(encoded)) == value


@given(st.integers(min_value=0, max_value=1 << 40))
def test_length_round_trip(length: int) -> None:
    header = b"\x04" + _der.encode_length(length)
    if length == 0:
        assert _der.read_tlv(header) == Tlv(0x04, 0, 2, 2)
        return
    # The header alone declares more content than there is.
    with pytest.raises(QuoteParseError, match=f"length {length} exceeds the 0 bytes") as info:
        _der.read_tlv(header)
    assert info.value.offset == 0
    if length <= 4096:
        tlv = _der.read_one(header + b"\x00" * length)
        assert (tlv.start, tlv.end) == (len(header), len(header) + length)
