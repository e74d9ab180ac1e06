"""SCALE (parity-scale-codec 3.x) building blocks as ``construct`` constructs.

Only what dstack's attestation envelope needs, with the decoder's rules:

* ``Compact<u32>`` (:class:`Compact`): four modes selected by the low two bits
  of the first byte; the decoder rejects any value that a shorter mode could
  hold ("out of range" in Rust), and in big-integer mode accepts only the
  4-byte form of a value >= 2**30.
* ``Vec<T>`` (:func:`Vec`), ``Vec<u8>`` (:data:`ByteVec`, :func:`byte_vec`)
  and ``String`` (:data:`String`, :func:`string`, valid UTF-8 only): a
  compact length, then the elements.  Lengths are checked before anything
  is read or allocated: a length can never exceed what the bytes that
  remain can hold (each element of a ``Vec`` takes at least ``min_size``
  bytes), nor the caller's cap (``max_count``, ``max_size``).  A hostile
  count therefore costs nothing; without these checks a 10 MiB input of
  5 million empty elements decodes, slowly, into gigabytes of objects.
* ``bool`` (:data:`Bool`, ``00``/``01`` only), ``Option<T>`` (:class:`Option`,
  ``00`` = None, ``01`` + T = Some), enums as a variant byte
  (:func:`Enum`): one tag byte in declaration order, then the variant's fields.

Every violation raises :class:`ScaleError`, a ``construct.ConstructError``
with a reason; callers turn it into a parse error with the stream offset.
"""

from __future__ import annotations

from typing import Any

import construct as c

__all__ = [
    "Bool",
    "ByteVec",
    "Compact",
    "End",
    "Enum",
    "Option",
    "ScaleError",
    "String",
    "Vec",
    "byte_vec",
    "compact_bytes",
    "string",
]

_MAX_U32 = 0xFFFF_FFFF


class ScaleError(c.ConstructError):  # type: ignore[misc]
    """Bytes that break a SCALE decoding rule; ``reason`` says which."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        super().__init__(reason, path=path)
        self.reason = reason


def compact_bytes(value: int) -> bytes:
    """The canonical (shortest) SCALE encoding of the ``Compact<u32>`` ``value``."""
    if not 0 <= value <= _MAX_U32:
        raise ValueError(f"Compact<u32> holds 0 to 2**32-1, not {value}")
    if value < 1 << 6:
        return bytes((value << 2,))
    if value < 1 << 14:
        return ((value << 2) | 1).to_bytes(2, "little")
    if value < 1 << 30:
        return ((value << 2) | 2).to_bytes(4, "little")
    return b"\x03" + value.to_bytes(4, "little")


class Compact(c.Construct):  # type: ignore[misc]
    """``Compact<u32>``; parsing rejects non-canonical encodings."""

    def _parse(self, stream: Any, context: Any, path: str) -> int:
        first: int = c.stream_read(stream, 1, path)[0]
        mode = first & 3
        if mode == 0:
            return first >> 2
        if mode == 1:
            value = int.from_bytes(bytes((first,)) + c.stream_read(stream, 1, path), "little") >> 2
            if value < 1 << 6:
                raise ScaleError(f"non-canonical compact integer: {value} in the 2-byte mode", path)
            return value
        if mode == 2:
            value = int.from_bytes(bytes((first,)) + c.stream_read(stream, 3, path), "little") >> 2
            if value < 1 << 14:
                raise ScaleError(f"non-canonical compact integer: {value} in the 4-byte mode", path)
            return value
        extra = first >> 2
        if extra != 0:
            raise ScaleError(
                f"compact integer of {extra + 4} bytes: a Compact<u32> allows only 4 in "
                "big-integer mode",
                path,
            )
        value = int.from_bytes(c.stream_read(stream, 4, path), "little")
        if value < 1 << 30:
            raise ScaleError(f"non-canonical compact integer: {value} in big-integer mode", path)
        return value

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> int:
        if not isinstance(obj, int) or isinstance(obj, bool):
            raise ScaleError(f"a compact integer must be an int, not {type(obj).__name__}", path)
        try:
            data = compact_bytes(obj)
        except ValueError as exc:
            raise ScaleError(str(exc), path) from None
        c.stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("a compact integer has no fixed size", path=path)


class _Utf8(c.Adapter):  # type: ignore[misc]
    """Bytes <-> str; decoding rejects invalid UTF-8 as Rust's ``String`` does."""

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        try:
            return obj.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScaleError(f"invalid UTF-8 at byte {exc.start} of the string", path) from None

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        if not isinstance(obj, str):
            raise ScaleError(f"a string must be str, not {type(obj).__name__}", path)
        return obj.encode("utf-8")


class _Bool(c.Construct):  # type: ignore[misc]
    def _parse(self, stream: Any, context: Any, path: str) -> bool:
        octet: int = c.stream_read(stream, 1, path)[0]
        if octet > 1:
            raise ScaleError(f"a bool must be 0x00 or 0x01, found 0x{octet:02x}", path)
        return octet == 1

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> bool:
        c.stream_write(stream, b"\x01" if obj else b"\x00", 1, path)
        return bool(obj)

    def _sizeof(self, context: Any, path: str) -> int:
        return 1


class Option(c.Subconstruct):  # type: ignore[misc]
    """``Option<T>``: ``00`` is None, ``01`` followed by ``T`` is Some; other tags are errors."""

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        tag = c.stream_read(stream, 1, path)[0]
        if tag == 0:
            return None
        if tag != 1:
            raise ScaleError(f"an Option tag must be 0x00 or 0x01, found 0x{tag:02x}", path)
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        if obj is None:
            c.stream_write(stream, b"\x00", 1, path)
            return None
        c.stream_write(stream, b"\x01", 1, path)
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("an Option has no fixed size", path=path)


class _End(c.Construct):  # type: ignore[misc]
    """Zero bytes; parsing fails when bytes remain (the offset stays at the first of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
        if end != here:
            raise ScaleError(f"{end - here} trailing byte(s) after the value", path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        return None

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


Bool = _Bool()
"""SCALE ``bool``."""

End = _End()
"""Nothing may follow (parity-scale-codec's ``decode_all``)."""


def _remaining(stream: Any) -> int:
    here: int = stream.tell()
    end: int = stream.seek(0, 2)
    stream.seek(here)
    return end - here


_COMPACT = Compact()


class _SizedBytes(c.Construct):  # type: ignore[misc]
    """``Vec<u8>``: a compact length, at most the bytes left and ``max_size``; then the bytes."""

    def __init__(self, max_size: int | None) -> None:
        super().__init__()
        self.max_size = max_size

    def _parse(self, stream: Any, context: Any, path: str) -> bytes:
        length: int = _COMPACT._parsereport(stream, context, path)
        if self.max_size is not None and length > self.max_size:
            raise ScaleError(f"{length} bytes: more than the {self.max_size} allowed", path)
        left = _remaining(stream)
        if length > left:
            raise ScaleError(f"a length of {length} runs past the end ({left} byte(s) left)", path)
        data: bytes = c.stream_read(stream, length, path)
        return data

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> bytes:
        if not isinstance(obj, (bytes, bytearray, memoryview)):
            raise ScaleError(f"a byte vector must be bytes, not {type(obj).__name__}", path)
        data = bytes(obj)
        _COMPACT._build(len(data), stream, context, path)
        c.stream_write(stream, data, len(data), path)
        return data

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("a byte vector has no fixed size", path=path)


class _BoundedVec(c.Subconstruct):  # type: ignore[misc]
    """``Vec<T>`` whose count is checked against ``max_count`` and the bytes left first."""

    def __init__(self, subcon: c.Construct, max_count: int | None, min_size: int) -> None:
        super().__init__(subcon)
        self.max_count = max_count
        self.min_size = min_size

    def _parse(self, stream: Any, context: Any, path: str) -> c.ListContainer:
        count: int = _COMPACT._parsereport(stream, context, path)
        if self.max_count is not None and count > self.max_count:
            raise ScaleError(f"{count} elements: more than the {self.max_count} allowed", path)
        left = _remaining(stream)
        if count * self.min_size > left:
            raise ScaleError(
                f"{count} elements of at least {self.min_size} byte(s) cannot fit in the "
                f"{left} byte(s) left",
                path,
            )
        items = c.ListContainer()
        for index in range(count):
            context._index = index
            items.append(self.subcon._parsereport(stream, context, path))
        return items

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> list[Any]:
        items = list(obj)
        _COMPACT._build(len(items), stream, context, path)
        built = []
        for index, item in enumerate(items):
            context._index = index
            built.append(self.subcon._build(item, stream, context, path))
        return built

    def _sizeof(self, context: Any, path: str) -> int:
        raise c.SizeofError("a vector has no fixed size", path=path)


def byte_vec(max_size: int | None = None) -> c.Construct:
    """SCALE ``Vec<u8>`` of at most ``max_size`` bytes (and never more than remain)."""
    return _SizedBytes(max_size)


def string(max_size: int | None = None) -> c.Construct:
    """SCALE ``String`` of at most ``max_size`` UTF-8 bytes (and never more than remain)."""
    return _Utf8(_SizedBytes(max_size))


ByteVec = byte_vec()
"""SCALE ``Vec<u8>``: a compact length, then the bytes."""

String = string()
"""SCALE ``String``: a compact byte length, then valid UTF-8."""


def Vec(subcon: c.Construct, *, max_count: int | None = None, min_size: int = 1) -> c.Construct:
    """SCALE ``Vec<T>``: a compact element count, then the elements.

    The count is refused before any element is read when it exceeds
    ``max_count`` or when ``count * min_size`` exceeds the bytes left;
    ``min_size`` is the fewest bytes one encoded element takes (0 for a
    zero-sized ``T``, which only ``max_count`` then bounds).
    """
    return _BoundedVec(subcon, max_count, min_size)


class _Refuse(c.Construct):  # type: ignore[misc]
    """Parses nothing: raises the error its factory makes (an unsupported enum variant)."""

    def __init__(self, error: type[c.ConstructError], *error_args: Any) -> None:
        super().__init__()
        self.error = error
        self.error_args = error_args
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        raise self.error(*self.error_args)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        raise self.error(*self.error_args)

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


class _UnknownVariant(c.Construct):  # type: ignore[misc]
    """The default case of an enum: an undeclared tag."""

    def __init__(self, enum: str) -> None:
        super().__init__()
        self.enum = enum
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        raise ScaleError(f"unknown {self.enum} variant tag {int(context.variant)}", path)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        raise ScaleError(f"unknown {self.enum} variant {context.variant!r}", path)

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


class UnsupportedVariant(c.ConstructError):  # type: ignore[misc]
    """A known enum variant whose payload the schema does not decode."""

    def __init__(self, enum: str, variant: str, tag: int) -> None:
        super().__init__(f"{enum}::{variant} (tag {tag}) is not supported")
        self.enum = enum
        self.variant = variant
        self.tag = tag


def Enum(
    name: str,
    variants: dict[str, int],
    payloads: dict[str, c.Construct],
) -> c.Construct:
    """A SCALE enum: a tag byte (declaration index) and the payload of that variant.

    ``variants`` maps every declared variant name to its tag; ``payloads``
    gives the schema of the variants this decoder reads.  A declared variant
    without a payload schema raises :class:`UnsupportedVariant`; an undeclared
    tag raises :class:`ScaleError`.
    """
    cases: dict[str, c.Construct] = {}
    for variant, tag in variants.items():
        cases[variant] = payloads.get(variant, _Refuse(UnsupportedVariant, name, variant, tag))
    return c.Struct(
        "variant" / c.Enum(c.Int8ul, **variants),
        "value"
        / c.Switch(
            c.this.variant,
            cases,
            default=_UnknownVariant(name),
        ),
    )
