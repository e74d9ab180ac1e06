"""A small, strict DER reader and the matching minimal encoders.

The reader works on a bytes-like buffer and absolute offsets: a :class:`Tlv`
records where an element starts (``offset``), where its content starts
(``start``) and where it ends (``end``), so nested elements are read in place
without copying.  Every offset in an error is an offset into the buffer the
caller passed.

Only what DER allows is accepted: low-tag-number identifiers, definite
lengths in their minimal form, lengths within the enclosing element, minimal
INTEGER / ENUMERATED encodings, BOOLEAN as ``00`` or ``ff``, OBJECT IDENTIFIER
sub-identifiers without ``0x80`` padding.  Malformed input raises
:class:`~tdxquote.errors.QuoteParseError` and nothing else.

The encoders produce DER for trusted, well-formed arguments; they raise
:class:`ValueError` when asked to encode something that has no DER form.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple, TypeAlias

from tdxquote.errors import QuoteParseError

__all__ = [
    "BOOLEAN",
    "ENUMERATED",
    "INTEGER",
    "NULL",
    "OBJECT_IDENTIFIER",
    "OCTET_STRING",
    "SEQUENCE",
    "SET",
    "Buffer",
    "Tlv",
    "decode_boolean",
    "decode_enumerated",
    "decode_integer",
    "decode_octet_string",
    "decode_oid",
    "encode_boolean",
    "encode_enumerated",
    "encode_integer",
    "encode_length",
    "encode_octet_string",
    "encode_oid",
    "encode_oid_content",
    "encode_sequence",
    "encode_tlv",
    "expect_tag",
    "iter_children",
    "read_one",
    "read_tlv",
    "sequence_children",
    "unwrap_octet_string",
]

Buffer: TypeAlias = bytes | bytearray | memoryview

# Identifier octets (universal class).
BOOLEAN = 0x01
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
ENUMERATED = 0x0A
SEQUENCE = 0x30
SET = 0x31

_CONSTRUCTED = 0x20
# Longest OID sub-identifier accepted (20 octets = 140 bits, enough for 2.25.<uuid>).
_MAX_OID_ARC_OCTETS = 20

_TAG_NAMES = {
    BOOLEAN: "BOOLEAN",
    INTEGER: "INTEGER",
    OCTET_STRING: "OCTET STRING",
    NULL: "NULL",
    OBJECT_IDENTIFIER: "OBJECT IDENTIFIER",
    ENUMERATED: "ENUMERATED",
    SEQUENCE: "SEQUENCE",
    SET: "SET",
}


def _tag_name(tag: int) -> str:
    name = _TAG_NAMES.get(tag)
    return f"{name} (0x{tag:02x})" if name else f"tag 0x{tag:02x}"


class Tlv(NamedTuple):
    """One DER element located in a buffer.

    ``tag`` is the identifier octet, ``offset`` the offset of that octet,
    ``start`` the offset of the first content octet and ``end`` the offset
    just past the content (where the next element begins).
    """

    tag: int
    offset: int
    start: int
    end: int

    @property
    def length(self) -> int:
        """Number of content octets."""
        return self.end - self.start


_new_tlv = tuple.__new__


def read_tlv(data: Buffer, offset: int = 0, end: int | None = None, *, field: str = "der") -> Tlv:
    """Read the element that starts at ``offset`` and must end by ``end``.

    ``end`` defaults to the end of ``data``.  Raises ``QuoteParseError`` if the
    identifier or length is malformed or the content runs past ``end``.
    """
    if end is None or end > len(data):
        end = len(data)
    if offset < 0 or offset >= end:
        raise QuoteParseError("truncated: expected a DER element", offset=offset, field=field)
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise QuoteParseError("high-tag-number form is not supported", offset=offset, field=field)
    pos = offset + 2
    if pos > end:
        raise QuoteParseError("truncated: missing length octet", offset=pos - 1, field=field)
    length = data[pos - 1]
    if length >= 0x80:
        if length == 0x80:
            raise QuoteParseError(
                "indefinite length form is not allowed in DER", offset=pos - 1, field=field
            )
        if length == 0xFF:
            raise QuoteParseError("reserved length octet 0xff", offset=pos - 1, field=field)
        count = length & 0x7F
        if count > end - pos:
            raise QuoteParseError("truncated: length octets", offset=pos - 1, field=field)
        if data[pos] == 0:
            raise QuoteParseError(
                "non-minimal length encoding (leading zero octet)", offset=pos - 1, field=field
            )
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80:
            raise QuoteParseError(
                f"non-minimal length encoding (long form for length {length})",
                offset=pos - 1,
                field=field,
            )
        pos += count
    if length > end - pos:
        raise QuoteParseError(
            f"truncated: length {length} exceeds the {end - pos} bytes available",
            offset=offset,
            field=field,
        )
    return _new_tlv(Tlv, (tag, offset, pos, pos + length))


def read_one(data: Buffer, *, tag: int | None = None, field: str = "der") -> Tlv:
    """Read the single element that must fill all of ``data``.

    When ``tag`` is given the element must carry it.  Trailing bytes are an error.
    """
    tlv = read_tlv(data, 0, field=field)
    if tag is not None and tlv.tag != tag:
        expect_tag(tlv, tag, field=field)
    if tlv.end != len(data):
        raise QuoteParseError(
            f"{len(data) - tlv.end} trailing bytes after the DER element",
            offset=tlv.end,
            field=field,
        )
    return tlv


def expect_tag(tlv: Tlv, tag: int, *, field: str) -> None:
    """Raise ``QuoteParseError`` unless ``tlv`` carries identifier octet ``tag``."""
    if tlv.tag != tag:
        raise QuoteParseError(
            f"expected {_tag_name(tag)}, found {_tag_name(tlv.tag)}",
            offset=tlv.offset,
            field=field,
        )


def iter_children(data: Buffer, tlv: Tlv, *, field: str = "der") -> Iterator[Tlv]:
    """Yield the elements inside the constructed element ``tlv``, in order."""
    if not tlv.tag & _CONSTRUCTED:
        raise QuoteParseError(
            f"expected a constructed element, found {_tag_name(tlv.tag)}",
            offset=tlv.offset,
            field=field,
        )
    pos = tlv.start
    end = tlv.end
    while pos < end:
        child = read_tlv(data, pos, end, field=field)
        yield child
        pos = child.end


def sequence_children(data: Buffer, tlv: Tlv, *, field: str = "der") -> list[Tlv]:
    """Return the elements of the SEQUENCE ``tlv`` (which must be a SEQUENCE)."""
    if tlv.tag != SEQUENCE:
        expect_tag(tlv, SEQUENCE, field=field)
    children: list[Tlv] = []
    pos = tlv.start
    end = tlv.end
    while pos < end:
        child = read_tlv(data, pos, end, field=field)
        children.append(child)
        pos = child.end
    return children


def decode_oid(data: Buffer, tlv: Tlv, *, field: str = "der") -> str:
    """Decode the OBJECT IDENTIFIER ``tlv`` to its dotted form, e.g. ``"1.2.840"``."""
    if tlv.tag != OBJECT_IDENTIFIER:
        expect_tag(tlv, OBJECT_IDENTIFIER, field=field)
    start, end = tlv.start, tlv.end
    if start == end:
        raise QuoteParseError("empty OBJECT IDENTIFIER", offset=tlv.offset, field=field)
    if data[end - 1] & 0x80:
        raise QuoteParseError(
            "truncated OBJECT IDENTIFIER sub-identifier", offset=end - 1, field=field
        )
    arcs: list[int] = []
    value = 0
    arc_start = start
    for pos in range(start, end):
        octet = data[pos]
        if pos == arc_start:
            if octet == 0x80:
                raise QuoteParseError(
                    "non-minimal OBJECT IDENTIFIER sub-identifier (0x80 padding)",
                    offset=pos,
                    field=field,
                )
        elif pos - arc_start >= _MAX_OID_ARC_OCTETS:
            raise QuoteParseError(
                "OBJECT IDENTIFIER sub-identifier too large", offset=arc_start, field=field
            )
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
            arc_start = pos + 1
    first = arcs[0]
    if first < 40:
        head = f"0.{first}"
    elif first < 80:
        head = f"1.{first - 40}"
    else:
        head = f"2.{first - 80}"
    if len(arcs) == 1:
        return head
    return head + "." + ".".join(map(str, arcs[1:]))


def _unsigned(data: Buffer, tlv: Tlv, tag: int, field: str) -> int:
    if tlv.tag != tag:
        expect_tag(tlv, tag, field=field)
    start, end = tlv.start, tlv.end
    if start == end:
        raise QuoteParseError(f"empty {_tag_name(tag)}", offset=tlv.offset, field=field)
    first = data[start]
    if first & 0x80:
        raise QuoteParseError(f"negative {_tag_name(tag)}", offset=start, field=field)
    if end - start == 1:
        return first
    if first == 0 and not data[start + 1] & 0x80:
        raise QuoteParseError(
            f"non-minimal {_tag_name(tag)} encoding (leading zero octet)",
            offset=start,
            field=field,
        )
    return int.from_bytes(data[start:end], "big")


def decode_integer(data: Buffer, tlv: Tlv, *, field: str = "der") -> int:
    """Decode a non-negative, minimally encoded INTEGER."""
    return _unsigned(data, tlv, INTEGER, field)


def decode_enumerated(data: Buffer, tlv: Tlv, *, field: str = "der") -> int:
    """Decode a non-negative, minimally encoded ENUMERATED."""
    return _unsigned(data, tlv, ENUMERATED, field)


def decode_boolean(data: Buffer, tlv: Tlv, *, field: str = "der") -> bool:
    """Decode a BOOLEAN; DER allows only the content octets ``00`` and ``ff``."""
    if tlv.tag != BOOLEAN:
        expect_tag(tlv, BOOLEAN, field=field)
    if tlv.end - tlv.start != 1:
        raise QuoteParseError(
            f"BOOLEAN must have 1 content octet, found {tlv.end - tlv.start}",
            offset=tlv.offset,
            field=field,
        )
    octet = data[tlv.start]
    if octet == 0xFF:
        return True
    if octet == 0x00:
        return False
    raise QuoteParseError(
        f"BOOLEAN content must be 0x00 or 0xff in DER, found 0x{octet:02x}",
        offset=tlv.start,
        field=field,
    )


def decode_octet_string(
    data: Buffer, tlv: Tlv, *, field: str = "der", size: int | None = None
) -> bytes:
    """Return the content of the (primitive) OCTET STRING ``tlv``.

    When ``size`` is given the content must have exactly that many octets.
    """
    if tlv.tag != OCTET_STRING:
        expect_tag(tlv, OCTET_STRING, field=field)
    if size is not None and tlv.end - tlv.start != size:
        raise QuoteParseError(
            f"OCTET STRING must be {size} bytes, found {tlv.end - tlv.start}",
            offset=tlv.offset,
            field=field,
        )
    return bytes(data[tlv.start : tlv.end])


def unwrap_octet_string(data: Buffer, *, field: str = "der") -> bytes:
    """Return the content of the single OCTET STRING that fills all of ``data``.

    This is how X.509 extension payloads wrapped in a DER OCTET STRING (such as
    RA-TLS extensions) are unwrapped.
    """
    tlv = read_one(data, tag=OCTET_STRING, field=field)
    return bytes(data[tlv.start : tlv.end])


# --------------------------------------------------------------------------- encoders


def encode_length(length: int) -> bytes:
    """Encode a definite length in its minimal DER form."""
    if length < 0:
        raise ValueError("DER length must be non-negative")
    if length < 0x80:
        return bytes((length,))
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    if len(body) > 126:
        raise ValueError("DER length too large")
    return bytes((0x80 | len(body),)) + body


def encode_tlv(tag: int, value: bytes | bytearray | memoryview) -> bytes:
    """Encode one element: identifier octet ``tag``, minimal length, ``value``."""
    if not 0 <= tag <= 0xFF or tag & 0x1F == 0x1F:
        raise ValueError(f"unsupported identifier octet {tag!r}")
    return bytes((tag,)) + encode_length(len(value)) + bytes(value)


def encode_oid_content(dotted: str) -> bytes:
    """Encode the content octets (no identifier or length) of an OBJECT IDENTIFIER."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError:
        raise ValueError(f"malformed OID {dotted!r}") from None
    if len(arcs) < 2 or any(arc < 0 for arc in arcs) or arcs[0] > 2:
        raise ValueError(f"malformed OID {dotted!r}")
    if arcs[0] < 2 and arcs[1] >= 40:
        raise ValueError(f"malformed OID {dotted!r}")
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def encode_oid(dotted: str) -> bytes:
    """Encode an OBJECT IDENTIFIER given in dotted form."""
    return encode_tlv(OBJECT_IDENTIFIER, encode_oid_content(dotted))


def _int_content(value: int) -> bytes:
    size = (value if value >= 0 else ~value).bit_length() // 8 + 1
    return value.to_bytes(size, "big", signed=True)


def encode_integer(value: int) -> bytes:
    """Encode an INTEGER (two's complement, minimal; negative values allowed)."""
    return encode_tlv(INTEGER, _int_content(value))


def encode_enumerated(value: int) -> bytes:
    """Encode an ENUMERATED (two's complement, minimal)."""
    return encode_tlv(ENUMERATED, _int_content(value))


def encode_boolean(value: bool) -> bytes:
    """Encode a BOOLEAN as DER requires (``ff`` for true, ``00`` for false)."""
    return b"\x01\x01\xff" if value else b"\x01\x01\x00"


def encode_octet_string(value: bytes | bytearray | memoryview) -> bytes:
    """Encode a primitive OCTET STRING."""
    return encode_tlv(OCTET_STRING, value)


def encode_sequence(*children: bytes) -> bytes:
    """Encode a SEQUENCE whose content is the already-encoded ``children``."""
    return encode_tlv(SEQUENCE, b"".join(children))
