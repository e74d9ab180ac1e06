"""Strict JSON loading and typed field access for the collateral parsers.

Every failure is a :class:`CollateralFormatError` carrying the artifact's
``code`` and the JSON path of the offending field.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import NoReturn

from tdxquote.errors import CollateralFormatError

from ._status import TcbStatus

__all__ = ["Obj", "as_bytes", "load_json", "parse_datetime", "parse_hex"]

U8 = 0xFF
U16 = 0xFFFF
U32 = 0xFFFF_FFFF

_HEX = re.compile(r"[0-9A-Fa-f]*")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z"
)


def as_bytes(data: bytes | str, *, code: str, what: str) -> bytes:
    """``data`` as bytes; text is encoded as UTF-8."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CollateralFormatError(f"{what}: not encodable as UTF-8", code=code) from exc
    raise CollateralFormatError(
        f"{what}: expected bytes or str, got {type(data).__name__}", code=code
    )


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # Parsers disagree on which duplicate wins (rapidjson: first,
        # Python: last), so a signed body with duplicates is ambiguous.
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate member {key!r}")
            seen.add(key)
    return result


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


def load_json(data: bytes, *, code: str, what: str) -> object:
    """Parse strict JSON: UTF-8, no duplicate members, no NaN/Infinity."""
    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CollateralFormatError(f"{what}: not valid JSON: {exc}", code=code) from exc


def parse_hex(text: str, nbytes: int) -> bytes | None:
    """Decode exactly ``2 * nbytes`` hex digits (either case), else ``None``."""
    if len(text) != 2 * nbytes or not _HEX.fullmatch(text):
        return None
    return bytes.fromhex(text)


def parse_datetime(text: str) -> datetime | None:
    """Parse Intel's ``YYYY-MM-DDThh:mm:ss[.fraction]Z`` (UTC), else ``None``.

    Fractions of up to 9 digits are accepted and truncated to microseconds.
    """
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    micro = int((fraction + "000000")[:6])
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone.utc)
    except ValueError:
        return None


class Obj:
    """A JSON object being read, with its path for error messages."""

    __slots__ = ("_code", "_members", "path")

    def __init__(self, value: object, path: str, code: str) -> None:
        self.path = path
        self._code = code
        if not isinstance(value, dict):
            self.fail(f"expected an object, got {_kind(value)}")
        self._members: dict[str, object] = value

    def fail(self, message: str, key: str | None = None) -> NoReturn:
        """Raise a :class:`CollateralFormatError` about this object or its ``key``."""
        where = self.path if key is None else f"{self.path}.{key}"
        raise CollateralFormatError(f"{where}: {message}", code=self._code)

    def has(self, key: str) -> bool:
        """Whether member ``key`` is present (``null`` counts as present)."""
        return key in self._members

    def get(self, key: str) -> object:
        """The value of a required member."""
        if key not in self._members:
            self.fail("missing required field", key)
        return self._members[key]

    def string(self, key: str) -> str:
        """A required string member."""
        value = self.get(key)
        if not isinstance(value, str):
            self.fail(f"expected a string, got {_kind(value)}", key)
        return value

    def uint(self, key: str, maximum: int) -> int:
        """A required integer member in ``0..maximum`` (booleans and floats are rejected)."""
        value = self.get(key)
        if type(value) is not int:
            self.fail(f"expected an integer, got {_kind(value)}", key)
        if not 0 <= value <= maximum:
            self.fail(f"{value} is outside 0..{maximum}", key)
        return value

    def hex_bytes(self, key: str, nbytes: int) -> bytes:
        """A required member holding exactly ``nbytes`` bytes as hex text."""
        text = self.string(key)
        value = parse_hex(text, nbytes)
        if value is None:
            self.fail(f"expected {2 * nbytes} hex digits, got {text[:100]!r}", key)
        return value

    def date(self, key: str) -> datetime:
        """A required ``YYYY-MM-DDThh:mm:ss[.f]Z`` member, as an aware UTC datetime."""
        text = self.string(key)
        value = parse_datetime(text)
        if value is None:
            self.fail(f"expected a date like 2025-05-27T19:31:43Z, got {text[:100]!r}", key)
        return value

    def obj(self, key: str) -> Obj:
        """A required object member."""
        return Obj(self.get(key), f"{self.path}.{key}", self._code)

    def array(self, key: str, *, length: int | None = None) -> list[object]:
        """A required non-empty array member (of exactly ``length`` items if given)."""
        value = self.get(key)
        if not isinstance(value, list):
            self.fail(f"expected an array, got {_kind(value)}", key)
        if not value:
            self.fail("expected a non-empty array", key)
        if length is not None and len(value) != length:
            self.fail(f"expected {length} entries, got {len(value)}", key)
        return value

    def objects(self, key: str, *, length: int | None = None) -> list[Obj]:
        """A required non-empty array of objects."""
        items = self.array(key, length=length)
        return [Obj(item, f"{self.path}.{key}[{i}]", self._code) for i, item in enumerate(items)]

    def optional_string(self, key: str) -> str | None:
        """An optional string member."""
        return self.string(key) if self.has(key) else None

    def string_list(self, key: str) -> tuple[str, ...]:
        """An optional array of strings (absent means empty)."""
        if not self.has(key):
            return ()
        value = self.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail("expected an array of strings", key)
        return tuple(value)

    def status(self, key: str, allowed: frozenset[TcbStatus]) -> TcbStatus:
        """A required status member restricted to ``allowed``."""
        text = self.string(key)
        for status in allowed:
            if status.value == text:
                return status
        names = ", ".join(sorted(s.value for s in allowed))
        self.fail(f"unknown status {text[:100]!r} (allowed here: {names})", key)

    def absent(self, key: str, reason: str) -> None:
        """Fail if ``key`` is present."""
        if self.has(key):
            self.fail(f"not allowed {reason}", key)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "an array" if isinstance(value, list) else "an object"
    )
