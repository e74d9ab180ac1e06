"""``_x509_der`` reads names and extensions inline as it would element by element.

Names and extensions are most of a certificate's elements, so their common
shapes (short lengths, one attribute per RDN; OID, flag, value) are read
inline; anything else goes element by element.  Both must accept, refuse and
return exactly the same, on generated and damaged input.  (Revoked CRL
entries: ``test_x509_verify``.)
"""

from __future__ import annotations

from _helpers import budget
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import _der, _x509_der
from tdxquote.errors import QuoteParseError

_OIDS = st.sampled_from(["2.5.4.3", "2.5.4.10", "2.5.4.6", "1.2.3", "2.5.4.3.1"])
_TAGS = st.sampled_from([0x0C, 0x13, 0x16, 0x1E, 0x1C, 0x02, 0x03, 0x1F, 0x5F])


@st.composite
def _value(draw: st.DrawFn) -> bytes:
    """A short element of any tag (strings, non-strings, high-tag-number forms)."""
    content = draw(st.binary(max_size=6))
    return bytes((draw(_TAGS),)) + _der.encode_length(len(content)) + content


@st.composite
def _names(draw: st.DrawFn) -> bytes:
    rdns = []
    for _ in range(draw(st.integers(0, 4))):
        attributes = [
            _der.encode_sequence(_der.encode_oid(draw(_OIDS)), draw(_value()))
            for _ in range(draw(st.sampled_from([1, 1, 1, 2, 0])))
        ]
        rdns.append(_der.encode_tlv(_der.SET, b"".join(attributes)))
    name = bytearray(_der.encode_sequence(*rdns))
    for _ in range(draw(st.integers(0, 2))):  # damage a byte or two
        name[draw(st.integers(0, len(name) - 1))] = draw(st.integers(0, 255))
    return bytes(name)


def _common_name_element_by_element(name: bytes) -> str:
    try:
        top = _der.read_one(name, tag=_der.SEQUENCE, field="x509")
        for rdn in _der.iter_children(name, top, field="x509"):
            for attribute in _der.iter_children(name, rdn, field="x509"):
                parts = _der.sequence_children(name, attribute, field="x509")
                if (
                    len(parts) == 2
                    and parts[0].tag == _der.OBJECT_IDENTIFIER
                    and name[parts[0].start : parts[0].end] == _x509_der._COMMON_NAME
                ):
                    codec = _x509_der._STRING_CODECS.get(parts[1].tag, "latin-1")
                    return name[parts[1].start : parts[1].end].decode(codec, "replace")
    except QuoteParseError:
        return ""
    return ""


@budget(2000)
@given(_names())
def test_common_name_is_read_inline_as_element_by_element(name: bytes) -> None:
    assert _x509_der.name_common_name(name) == _common_name_element_by_element(name)


def _check(name: bytes) -> str | None:
    """The error message of the name check, or None when the name reads exactly."""
    try:
        element = _x509_der._read(name, 0, len(name))
        if element[0] != _der.SEQUENCE:
            return "not a sequence"
        _x509_der._check_name(name, element, "subject")
    except QuoteParseError as exc:
        return f"{exc.reason} @{exc.offset}"
    return None


@budget(2000)
@given(_names())
def test_names_are_checked_inline_as_element_by_element(name: bytes) -> None:
    inline = _check(name)
    plain = _x509_der._plain_name
    _x509_der._plain_name = lambda data, element: False  # element by element only
    try:
        assert _check(name) == inline
    finally:
        _x509_der._plain_name = plain


def test_the_inline_name_check_is_taken_for_real_names() -> None:
    # The comparison above is only worth something if the inline path does accept names.
    name = _der.encode_sequence(
        _der.encode_tlv(
            _der.SET, _der.encode_sequence(_der.encode_oid("2.5.4.3"), _der.encode_tlv(0x0C, b"x"))
        )
    )
    assert _x509_der._plain_name(name, _x509_der._read(name, 0, len(name)))


_EXTENSION_PARTS = st.sampled_from(
    [
        bytes.fromhex("0603551d13"),  # basicConstraints
        bytes.fromhex("0603551d0f"),
        bytes.fromhex("06092a864886f84d010d01"),
        bytes.fromhex("0101ff"),
        bytes.fromhex("010100"),
        bytes.fromhex("010101"),  # a BOOLEAN that is neither 0 nor 255
        bytes.fromhex("0500"),
    ]
)


@st.composite
def _extension_lists(draw: st.DrawFn) -> bytes:
    extensions = []
    for _ in range(draw(st.integers(0, 5))):
        parts = draw(st.lists(_EXTENSION_PARTS, max_size=2))
        value = draw(st.binary(max_size=draw(st.sampled_from([4, 200, 300]))))
        parts.append(_der.encode_octet_string(value))
        extensions.append(_der.encode_sequence(*parts))
    data = bytearray(_der.encode_sequence(*extensions))
    for _ in range(draw(st.integers(0, 2))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _read_extensions(data: bytes) -> object:
    try:
        wrapper = (0xA3, 0, 0, len(data))
        return _x509_der._extensions(data, wrapper)
    except QuoteParseError as exc:
        return f"{exc.reason} @{exc.offset}"


@budget(2000)
@given(_extension_lists())
def test_extensions_are_read_inline_as_element_by_element(data: bytes) -> None:
    inline = _read_extensions(data)
    fast = _x509_der._extensions_inline
    _x509_der._extensions_inline = lambda data, pos, end: None  # element by element only
    try:
        assert _read_extensions(data) == inline
    finally:
        _x509_der._extensions_inline = fast


def test_the_inline_extension_reader_reads_real_extensions() -> None:
    data = _der.encode_sequence(
        _der.encode_sequence(bytes.fromhex("0603551d13"), bytes.fromhex("0101ff"), b"\x04\x00"),
        _der.encode_sequence(bytes.fromhex("0603551d0f"), _der.encode_octet_string(bytes(300))),
    )
    found = _x509_der._extensions_inline(data, 4, len(data))
    assert found == {
        bytes.fromhex("551d13"): (True, b""),
        bytes.fromhex("551d0f"): (False, bytes(300)),
    }
