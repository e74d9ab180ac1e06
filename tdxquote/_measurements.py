"""One reader for every measurement a caller pins: MRTD, RTMRs, REPORTDATA, event payloads.

A measurement comes as ``bytes`` (taken as-is) or as hex text: an optional
``0x`` prefix, either case, and whitespace anywhere (as copied from a
terminal or a JSON file).  Its length is checked against the field's when the
pin is made, so a truncated or mistyped value is a ``ValueError`` naming the
field, never a policy that silently refuses (or accepts) everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from ._layout_table import REPORT_FIELDS, REPORT_FORMATS
from .schema._constants import BODY_TYPE_SGX, BODY_TYPE_TD15EX

__all__ = ["BODY_FIELD_SIZES", "MeasurementInput", "body_field_size", "measurement", "measurements"]

MeasurementInput = bytes | bytearray | memoryview | str
"""What a measurement may be given as: bytes, or hex text."""

_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")
_STRUCT_ITEM = re.compile(r"(\d*)([a-zA-Z])")


def _byte_fields() -> Mapping[str, int]:
    # From the generated layout table (no construct import): the widest TD body and the
    # SGX report; a byte array is an "Ns" item of the report's struct format.
    sizes: dict[str, int] = {}
    for body_type in (BODY_TYPE_TD15EX, BODY_TYPE_SGX):
        items = _STRUCT_ITEM.findall(REPORT_FORMATS[body_type].lstrip("<"))
        for name, (count, code) in zip(REPORT_FIELDS[body_type], items, strict=True):
            if name.startswith("reserved") or code != "s":
                continue
            size = int(count)
            if sizes.setdefault(name, size) != size:
                raise AssertionError(f"body field {name} has two sizes")  # a schema bug
    return MappingProxyType(sizes)


BODY_FIELD_SIZES: Mapping[str, int] = _byte_fields()
"""Byte length of every byte-array field of a report body (TD 1.0/1.5/1.5ex, SGX).

Derived from the layout table generated from :mod:`tdxquote.schema`: ``mr_td``, ``rtmr0``-``rtmr3``,
``mr_seam``, ``mr_config_id``, ``mr_owner`` ... 48; ``report_data`` 64;
``mr_enclave``, ``mr_signer`` 32; ``xfam``, ``td_attributes`` 8 ...
"""


def body_field_size(name: str) -> int:
    """The byte length of body field ``name``; ``ValueError`` if no body has such a field."""
    try:
        return BODY_FIELD_SIZES[name]
    except KeyError:
        known = ", ".join(sorted(BODY_FIELD_SIZES))
        raise ValueError(f"no report body has a byte field {name!r} (known: {known})") from None


def _describe_sizes(sizes: tuple[int, ...]) -> str:
    return " or ".join(f"{n} bytes ({2 * n} hex digits)" for n in sizes)


def measurement(
    value: MeasurementInput, *, field: str, size: int | tuple[int, ...] | None
) -> bytes:
    """``value`` as bytes, checked to be ``size`` bytes long (any length when None).

    ``size`` may be a tuple of the accepted lengths.  Raises ``TypeError`` for
    a value that is neither bytes nor text, and ``ValueError`` naming
    ``field`` for text that is not hex or a value of the wrong length.
    """
    if isinstance(value, str):
        digits = _WHITESPACE.sub("", value)
        if digits[:2] in ("0x", "0X"):
            digits = digits[2:]
        if not _HEX_DIGITS.fullmatch(digits) or len(digits) % 2:
            raise ValueError(f"{field}: {_shorten(value)} is not hex (an even number of 0-9a-f)")
        data = bytes.fromhex(digits)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"{field}: expected bytes or hex text, got {type(value).__name__}")
    sizes = (size,) if isinstance(size, int) else size
    if sizes is not None and len(data) not in sizes:
        raise ValueError(
            f"{field}: expected {_describe_sizes(sizes)}, got {len(data)} bytes ({_shorten(value)})"
        )
    return data


def measurements(
    values: Iterable[MeasurementInput], *, field: str, size: int | tuple[int, ...] | None
) -> tuple[bytes, ...]:
    """Each of ``values`` through :func:`measurement`; at least one is required.

    A single text or bytes value where several are expected is a ``TypeError``
    (iterating a string would pin its characters).
    """
    if isinstance(values, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"{field}: expected a list of values, got a single {type(values).__name__}")
    try:
        items = tuple(values)
    except TypeError:
        raise TypeError(
            f"{field}: expected a list of values, got {type(values).__name__}"
        ) from None
    if not items:
        raise ValueError(f"{field}: give at least one value")
    return tuple(measurement(item, field=field, size=size) for item in items)


def _shorten(value: object, limit: int = 40) -> str:
    text = value.hex() if isinstance(value, (bytes, bytearray, memoryview)) else str(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return repr(text)
