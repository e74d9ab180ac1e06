"""Quote input as people store it: raw binary, or hex text, told apart automatically.

The rule (shared by every CLI command and by :func:`tdxquote._scan.scan_paths`):
the input is hex when its bytes decode as ASCII and, once every whitespace
character and one optional ``0x``/``0X`` prefix are removed, what remains is a
non-empty run of hex digits.  Anything else is binary.  A binary quote never
looks like hex: its first byte is the version (3, 4 or 5), not a hex digit.
"""

from __future__ import annotations

import re
from typing import Literal

from ._quote import Quote, parse_quote
from .errors import QuoteParseError

__all__ = ["InputFormat", "decode_quote_input", "parse_quote_input"]

InputFormat = Literal["binary", "hex"]

_HEX_DIGITS = re.compile(rb"[0-9A-Fa-f]+")


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


def decode_quote_input(data: bytes) -> tuple[bytes, InputFormat]:
    """Return the quote bytes of ``data`` and whether it was ``"binary"`` or ``"hex"``.

    Hex text with an odd number of digits raises
    :class:`~tdxquote.errors.QuoteParseError` (field ``hex``, offset 0).
    """
    digits = _hex_digits(data)
    if digits is None:
        return data, "binary"
    if len(digits) % 2:
        raise QuoteParseError(
            f"hex text has an odd number of hex digits ({len(digits)})", offset=0, field="hex"
        )
    return bytes.fromhex(digits.decode("ascii")), "hex"


def parse_quote_input(data: bytes) -> tuple[Quote, InputFormat]:
    """Parse binary or hex ``data`` (detected as :func:`decode_quote_input` does).

    Offsets in a :class:`~tdxquote.errors.QuoteParseError` are offsets in the
    decoded quote bytes, for hex input too.
    """
    raw, kind = decode_quote_input(data)
    return parse_quote(raw), kind
