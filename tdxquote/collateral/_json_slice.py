"""Find the exact bytes of a top-level member's value in raw JSON text.

Intel signs the ``tcbInfo`` / ``enclaveIdentity`` value exactly as it appears
in the response body, so the signed bytes must be cut out of the text, never
re-serialized.  This is a scanner, not a validator: callers also run
``json.loads`` on the whole document.  It is iterative, so deep nesting cannot
exhaust the stack.
"""

from __future__ import annotations

import json
import re

__all__ = ["JsonSliceError", "value_span"]


class JsonSliceError(ValueError):
    """The text is not a JSON object, or the member is missing or duplicated."""


_WS = frozenset(b" \t\n\r")
# A string token; escapes are only skipped here, json.loads checks them.
_STRING = re.compile(rb'"[^"\\\x00-\x1f]*(?:\\[\x20-\xff][^"\\\x00-\x1f]*)*"')
_SCALAR = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
# Inside containers: a whole string, a bracket, or (error) an unterminated string.
_CONTAINER_TOKEN = re.compile(_STRING.pattern + rb'|[{}\[\]]|"')
_CLOSER = {ord("}"): ord("{"), ord("]"): ord("[")}


def _skip_ws(doc: bytes, i: int) -> int:
    n = len(doc)
    while i < n and doc[i] in _WS:
        i += 1
    return i


def _string_end(doc: bytes, i: int) -> int:
    match = _STRING.match(doc, i)
    if match is None:
        raise JsonSliceError(f"malformed string at byte {i}")
    return match.end()


def _container_end(doc: bytes, i: int) -> int:
    stack: list[int] = []
    for match in _CONTAINER_TOKEN.finditer(doc, i):
        token = match.group()
        c = token[0]
        if c == ord('"'):
            if len(token) == 1:
                raise JsonSliceError(f"malformed string at byte {match.start()}")
            continue
        if c in _CLOSER:
            if not stack or stack.pop() != _CLOSER[c]:
                raise JsonSliceError(f"mismatched bracket at byte {match.start()}")
            if not stack:
                return match.end()
        else:
            stack.append(c)
    raise JsonSliceError("unterminated object or array")


def _value_end(doc: bytes, i: int) -> int:
    if i >= len(doc):
        raise JsonSliceError("unexpected end of text")
    c = doc[i]
    if c == ord('"'):
        return _string_end(doc, i)
    if c in (ord("{"), ord("[")):
        return _container_end(doc, i)
    match = _SCALAR.match(doc, i)
    if match is None:
        raise JsonSliceError(f"unexpected byte at {i}")
    return match.end()


def _expect(doc: bytes, i: int, char: bytes) -> int:
    if doc[i : i + 1] != char:
        raise JsonSliceError(f"expected {char.decode()!r} at byte {i}")
    return i + 1


def _decode_key(raw: bytes) -> str:
    try:
        key = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise JsonSliceError(f"malformed member name {raw[:40]!r}") from exc
    assert isinstance(key, str)
    return key


def value_span(doc: bytes, key: str) -> tuple[int, int]:
    """Return ``(start, end)`` of the value of member ``key`` of the top-level object.

    ``doc[start:end]`` is the value's exact text, without surrounding
    whitespace.  Raises :class:`JsonSliceError` when ``doc`` is not a single
    JSON object or when ``key`` is absent or appears more than once.
    """
    i = _expect(doc, _skip_ws(doc, 0), b"{")
    found: tuple[int, int] | None = None
    i = _skip_ws(doc, i)
    if doc[i : i + 1] == b"}":
        i += 1
    else:
        while True:
            key_start = i
            i = _string_end(doc, i)
            name = _decode_key(doc[key_start:i])
            i = _skip_ws(doc, _expect(doc, _skip_ws(doc, i), b":"))
            value_start = i
            i = _value_end(doc, i)
            if name == key:
                if found is not None:
                    raise JsonSliceError(f"member {key!r} appears more than once")
                found = (value_start, i)
            i = _skip_ws(doc, i)
            if doc[i : i + 1] == b"}":
                i += 1
                break
            i = _skip_ws(doc, _expect(doc, i, b","))
    if _skip_ws(doc, i) != len(doc):
        raise JsonSliceError(f"trailing data at byte {i}")
    if found is None:
        raise JsonSliceError(f"member {key!r} not found")
    return found
