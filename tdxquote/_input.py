"""Quote input as people hand it over: raw bytes, hex, base64, byte arrays, JSON documents.

Two readers live here.

:func:`decode_quote_input` is the narrow rule ``scan`` counts by: the input
is hex when its bytes decode as ASCII and, once every whitespace character
and one optional ``0x``/``0X`` prefix are removed, what remains is a
non-empty run of hex digits; anything else is binary.  A binary quote never
looks like hex: its first byte is the version (3, 4 or 5), not a hex digit.

:func:`read_quote` (behind :meth:`tdxquote.Quote.from_text` and every CLI
command that reads a quote) sniffs more forms, in this order:

1. binary: the bytes start like a quote (version 3, 4 or 5, key type 2),
   or are not UTF-8 text;
2. PEM blocks (certificates, keys): refused, naming what they are;
3. JSON: a byte array (``[4, 0, 2, ...]``), a string holding hex or
   base64, or an object with a quote member (``quote``, ``td_quote``,
   ``tdx_quote``, ``quote_hex``, ... in any case, with ``_`` or ``-``),
   found breadth first up to 8 levels deep: dstack's GetQuote response
   ``{"quote": "<hex>", "event_log": ...}``, Intel Trust Authority and
   Google Cloud's ``{"tdx": {"quote": "<base64>"}}``, a Node.js
   ``{"type": "Buffer", "data": [...]}``;
4. hex text (the rule above);
5. base64 text, standard or URL-safe, padding optional, whitespace ignored;
6. ``name: value`` lines with a quote line (``Quote: <base64>``).

When the input is none of them, or decodes to bytes that are not a quote,
the :class:`~tdxquote.errors.QuoteParseError` says what the bytes look like
instead (a PEM certificate, a private key, a collateral bundle, a TCB Info
response, a token, text, ...).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import deque
from typing import Any, Literal

from ._quote import Quote, parse_quote
from ._sniff import describe_bytes, describe_json, describe_pem, load_json_document, pem_block_types
from .errors import QuoteParseError

__all__ = [
    "ENCODINGS",
    "InputFormat",
    "QuoteInput",
    "decode_quote_input",
    "parse_quote_input",
    "parse_sniffed",
    "read_quote",
    "sniff_quote",
]

InputFormat = Literal["binary", "hex"]

ENCODINGS = ("binary", "hex", "base64", "base64url", "byte-array")
"""How the quote's bytes were written, as :attr:`QuoteInput.encoding` names it."""

_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_LABELLED = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_ .-]{0,40}?)\s*[:=]\s*(\S+)\s*$")

_QUOTE_STARTS = (b"\x03\x00\x02\x00", b"\x04\x00\x02\x00", b"\x05\x00\x02\x00")

_QUOTE_MEMBERS = frozenset(
    {
        "quote",
        "tdquote",
        "tdxquote",
        "sgxquote",
        "rawquote",
        "teequote",
        "quotehex",
        "quotebase64",
        "quoteb64",
        "quotebytes",
        "quotedata",
    }
)
"""JSON member and label names that hold a quote, lowercase without ``_`` and ``-``."""

_MAX_JSON_NODES = 2000
_MAX_JSON_DEPTH = 8


class QuoteInput:
    """How a quote was handed over.

    ``encoding`` is one of :data:`ENCODINGS`; ``container`` is None, ``"json"``
    (``location`` is the member's path, ``tdx.quote``, or ``""`` for the whole
    document) or ``"labelled-text"`` (``location`` is the label, ``Quote``).
    Immutable, compared and hashed by value (a plain class: importing
    ``dataclasses`` would cost ``tdxquote parse`` more than the rest of its
    start-up).
    """

    __slots__ = ("container", "encoding", "location")
    encoding: str
    container: str | None
    location: str | None

    def __init__(
        self, encoding: str, container: str | None = None, location: str | None = None
    ) -> None:
        object.__setattr__(self, "encoding", encoding)
        object.__setattr__(self, "container", container)
        object.__setattr__(self, "location", location)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"QuoteInput is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"QuoteInput is immutable (cannot delete {name!r})")

    def _key(self) -> tuple[str, str | None, str | None]:
        return (self.encoding, self.container, self.location)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuoteInput):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"QuoteInput(encoding={self.encoding!r}, container={self.container!r}, "
            f"location={self.location!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (QuoteInput, self._key())

    def describe(self) -> str:
        """``base64``, ``hex in JSON member quote``, ``JSON byte array``, ..."""
        if self.container == "json":
            if self.encoding == "byte-array" and not self.location:
                return "JSON byte array"
            what = "byte array" if self.encoding == "byte-array" else self.encoding
            if not self.location:
                return f"{what} in a JSON string"
            return f"{what} in JSON member {self.location}"
        if self.container == "labelled-text":
            return f"{self.encoding} after '{self.location}:'"
        return self.encoding

    def to_dict(self) -> dict[str, str | None]:
        """``{"encoding", "container", "location"}``."""
        return {"encoding": self.encoding, "container": self.container, "location": self.location}


def _fail(reason: str, field: str = "input") -> QuoteParseError:
    return QuoteParseError(reason, offset=0, field=field)


def _hex_digits(data: bytes) -> bytes | None:
    """The hex digits of ``data`` when it is hex text by the rule above, else None."""
    if not data.isascii():
        return None
    cleaned = b"".join(data.split())  # bytes.split() splits at the ASCII whitespace \s is
    if cleaned[:2] in (b"0x", b"0X"):
        cleaned = cleaned[2:]
    if _HEX_DIGITS.fullmatch(cleaned) is None:
        return None
    return cleaned


def _unhex(digits: bytes) -> bytes:
    if len(digits) % 2:
        raise _fail(f"hex text has an odd number of hex digits ({len(digits)})", "hex")
    return bytes.fromhex(digits.decode("ascii"))


def decode_quote_input(data: bytes) -> tuple[bytes, InputFormat]:
    """Return the quote bytes of ``data`` and whether it was ``"binary"`` or ``"hex"``.

    Hex text with an odd number of digits raises
    :class:`~tdxquote.errors.QuoteParseError` (field ``hex``, offset 0).
    """
    digits = _hex_digits(data)
    if digits is None:
        return data, "binary"
    return _unhex(digits), "hex"


def parse_quote_input(data: bytes) -> tuple[Quote, InputFormat]:
    """Parse binary or hex ``data`` (detected as :func:`decode_quote_input` does).

    Offsets in a :class:`~tdxquote.errors.QuoteParseError` are offsets in the
    decoded quote bytes, for hex input too.
    """
    raw, kind = decode_quote_input(data)
    return parse_quote(raw), kind


def _base64(text: str) -> tuple[bytes, str] | None:
    """``text`` decoded as base64 (standard or URL-safe, padding optional), or None."""
    cleaned = "".join(text.split())
    if not cleaned or _BASE64.fullmatch(cleaned) is None:
        return None
    urlsafe = "-" in cleaned or "_" in cleaned
    if urlsafe and ("+" in cleaned or "/" in cleaned):
        return None
    body = cleaned.rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        raw = base64.b64decode(padded, altchars=b"-_" if urlsafe else None, validate=True)
    except (binascii.Error, ValueError):
        return None
    return (raw, "base64url" if urlsafe else "base64") if raw else None


def _decode_string(text: str) -> tuple[bytes, str] | None:
    """A string that holds a quote: hex first (the stricter alphabet), then base64."""
    if not text.isascii():
        return None
    digits = _hex_digits(text.encode("ascii"))
    if digits is not None:
        return _unhex(digits), "hex"
    return _base64(text)


def _byte_array(value: object) -> bytes | None:
    if not isinstance(value, list) or not value:
        return None
    if not all(type(item) is int and 0 <= item <= 255 for item in value):
        return None
    return bytes(value)


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _find_quote_member(document: Any) -> tuple[str, Any] | None:
    """The first quote member of ``document``, breadth first: ``(path, value)`` or None."""
    queue: deque[tuple[str, Any, int]] = deque([("", document, 0)])
    visited = 0
    while queue and visited < _MAX_JSON_NODES:
        path, node, depth = queue.popleft()
        visited += 1
        if isinstance(node, dict):
            for key, value in node.items():
                child = f"{path}.{key}" if path else str(key)
                if _normal(str(key)) in _QUOTE_MEMBERS:
                    return child, value
            if depth < _MAX_JSON_DEPTH:
                queue.extend(
                    (f"{path}.{key}" if path else str(key), value, depth + 1)
                    for key, value in node.items()
                    if isinstance(value, (dict, list))
                )
        elif isinstance(node, list) and depth < _MAX_JSON_DEPTH:
            queue.extend(
                (f"{path}[{index}]", value, depth + 1)
                for index, value in enumerate(node[:64])
                if isinstance(value, (dict, list))
            )
    return None


def _member_bytes(value: Any, where: str) -> tuple[bytes, str]:
    """The quote bytes of a JSON member: hex or base64 text, a byte array, a Node Buffer."""
    if isinstance(value, str):
        decoded = _decode_string(value)
        if decoded is None:
            raise _fail(f"JSON member {where} is neither hex nor base64 text")
        return decoded
    if isinstance(value, dict) and value.get("type") == "Buffer":
        value = value.get("data")
    array = _byte_array(value)
    if array is None:
        raise _fail(f"JSON member {where} is neither hex nor base64 text, nor a byte array")
    return array, "byte-array"


def _from_json(document: Any) -> tuple[bytes, QuoteInput]:
    array = _byte_array(document)
    if array is not None:
        return array, QuoteInput("byte-array", "json", "")
    if isinstance(document, str):
        raw, encoding = _member_bytes(document, "(the whole document)")
        return raw, QuoteInput(encoding, "json", "")
    found = _find_quote_member(document) if isinstance(document, (dict, list)) else None
    if found is None:
        what = describe_json(document) or "a JSON document without a quote"
        raise _fail(f"this is {what}, not a quote")
    path, value = found
    raw, encoding = _member_bytes(value, path)
    return raw, QuoteInput(encoding, "json", path)


def _from_labelled(text: str) -> tuple[bytes, QuoteInput] | None:
    """``Quote: <base64>`` among ``name: value`` lines, or None."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    matches = [_LABELLED.match(line) for line in lines]
    if not all(matches):
        return None
    for match in matches:
        assert match is not None
        label, value = match.group(1), match.group(2)
        if _normal(label) in _QUOTE_MEMBERS:
            decoded = _decode_string(value)
            if decoded is None:
                raise _fail(f"the value after '{label}:' is neither hex nor base64 text")
            return decoded[0], QuoteInput(decoded[1], "labelled-text", label)
    return None


def _from_text(data: bytes, text: str) -> tuple[bytes, QuoteInput]:
    stripped = text.strip()
    if not stripped:
        raise _fail("the input is only whitespace: no quote in it")
    if stripped[0] in '{["':
        try:
            document = load_json_document(data)
        except ValueError as exc:
            raise _fail(f"this starts like JSON but is not a JSON document: {exc}") from None
        return _from_json(document)
    types = pem_block_types(data[: 1 << 16])
    if types:
        raise _fail(f"this is {describe_pem(types)}, not a quote")
    digits = _hex_digits(data)
    if digits is not None:
        return _unhex(digits), QuoteInput("hex")
    decoded = _base64(stripped)
    if decoded is not None:
        return decoded[0], QuoteInput(decoded[1])
    labelled = _from_labelled(text)
    if labelled is not None:
        return labelled
    raise _fail("this is text that is neither hex, base64 nor JSON: not a quote")


def _as_text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return text if "\x00" not in text else None


def sniff_quote(data: bytes | bytearray | memoryview | str) -> tuple[bytes, QuoteInput]:
    """The quote bytes inside ``data`` and how they were handed over (see the module doc).

    Raises :class:`~tdxquote.errors.QuoteParseError` (field ``input``, or
    ``hex`` for an odd number of hex digits; offset 0) for input that holds no
    quote bytes, saying what the input looks like.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not raw:
        raise _fail("the input is empty")
    if raw[:4] in _QUOTE_STARTS:
        return raw, QuoteInput("binary")
    text = _as_text(raw)
    if text is None:
        return raw, QuoteInput("binary")
    return _from_text(raw, text)


def parse_sniffed(raw: bytes, how: QuoteInput) -> Quote:
    """Parse the quote bytes :func:`sniff_quote` found; a failure says what they look like."""
    try:
        return parse_quote(raw)
    except QuoteParseError as exc:
        if raw[:4] in _QUOTE_STARTS:
            raise
        what = describe_bytes(raw)
        if what is None:
            raise
        source = "the bytes" if how.encoding == "binary" else f"the {how.encoding}-decoded bytes"
        verb = "are" if what in ("text", "empty") else "look like"
        raise QuoteParseError(
            f"{exc.reason}; {source} {verb} {what}, not a quote", offset=exc.offset, field=exc.field
        ) from None


def read_quote(data: bytes | bytearray | memoryview | str) -> tuple[Quote, QuoteInput]:
    """Parse a quote handed over in any form :func:`sniff_quote` knows; say which form.

    Offsets in a :class:`~tdxquote.errors.QuoteParseError` are offsets in the
    decoded quote bytes.  When the decoded bytes are not a quote and look
    like something else, the error's reason says what.
    """
    raw, how = sniff_quote(data)
    return parse_sniffed(raw, how), how
