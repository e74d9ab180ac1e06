"""Hypothesis mutations for the fuzz targets: bytes, DER trees and JSON documents.

Each function takes a ``draw`` (from ``st.data()`` or ``@st.composite``) and returns a
mutated copy.  Byte mutations break anything; DER mutations keep the encoding well formed
(lengths are re-encoded) so that the hostile content reaches what reads it; JSON mutations
keep the document JSON so that the hostile values reach the model loaders.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from _hostile_certs import BROKEN_NAMES, WARNING_NAMES
from hypothesis import strategies as st

from tdxquote import _der
from tdxquote.errors import QuoteParseError

__all__ = ["JSON_VALUES", "mutate_bytes", "mutate_der", "mutate_der_payload", "mutate_json"]

_INTERESTING_U32 = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


def mutate_bytes(data: bytes, draw: st.DrawFn, *, hot: int = 1400) -> bytes:
    """1-4 edits: bit flips, bytes, little-endian u32s, cuts, insertions, deletions.

    Half the edits land in the first ``hot`` bytes (headers and length fields).
    """
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not buffer:
            buffer.extend(draw(st.binary(min_size=1, max_size=8)))
            continue
        kind = draw(st.sampled_from(["flip", "byte", "u32", "cut", "insert", "delete"]))
        limit = min(len(buffer), hot) if draw(st.booleans()) else len(buffer)
        at = draw(st.integers(0, limit - 1))
        if kind == "flip":
            buffer[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            buffer[at] = draw(st.integers(0, 255))
        elif kind == "u32":
            value = draw(st.sampled_from([*_INTERESTING_U32, len(buffer)]))
            buffer[at : at + 4] = value.to_bytes(4, "little")
        elif kind == "cut":
            del buffer[at:]
        elif kind == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            del buffer[at : at + draw(st.integers(1, 64))]
    return bytes(buffer)


# --- DER -------------------------------------------------------------------------------------


@dataclass
class _Node:
    tag: int
    content: bytes = b""
    children: list[_Node] | None = None
    wrapped: bool = field(default=False)  # an OCTET STRING whose content is DER

    def encode(self) -> bytes:
        if self.children is None:
            return _der.encode_tlv(self.tag, self.content)
        return _der.encode_tlv(self.tag, b"".join(child.encode() for child in self.children))


def _parse_all(data: bytes, depth: int) -> list[_Node] | None:
    if depth > 12:
        return None
    nodes = []
    offset = 0
    try:
        while offset < len(data):
            tlv = _der.read_tlv(data, offset)
            nodes.append(_node(tlv.tag, data[tlv.start : tlv.end], depth))
            offset = tlv.end
    except QuoteParseError:
        return None
    return nodes


def _node(tag: int, content: bytes, depth: int) -> _Node:
    if tag & 0x20 or tag == _der.OCTET_STRING:
        children = _parse_all(content, depth + 1) if content else None
        if children:
            return _Node(tag, content, children, wrapped=tag == _der.OCTET_STRING)
    return _Node(tag, content)


_Place = tuple[_Node, "_Node | None", int]


def _walk(node: _Node, out: list[_Place], parent: _Node | None, at: int) -> None:
    out.append((node, parent, at))
    for index, child in enumerate(node.children or ()):
        _walk(child, out, node, index)


def _name_node(der: bytes) -> _Node:
    parsed = _parse_all(der, 0)
    assert parsed is not None
    return parsed[0]


# Fresh nodes each time (a mutation edits nodes in place).
_HOSTILE_NODES = [
    lambda der=der: _name_node(der) for der in (*BROKEN_NAMES.values(), *WARNING_NAMES.values())
]


def mutate_der(data: bytes, draw: st.DrawFn) -> bytes:
    """Edit one to three elements of a DER structure and re-encode every length above them.

    Edits: new content for a primitive (random, or the old one byte-mutated), a child
    dropped, duplicated or swapped with a hostile name, a changed tag.  Input that is
    not DER is byte-mutated instead.
    """
    roots = _parse_all(data, 0)
    if not roots:
        return mutate_bytes(data, draw)
    for _ in range(draw(st.integers(1, 3))):
        nodes: list[_Place] = []
        for index, root in enumerate(roots):
            _walk(root, nodes, None, index)
        node, parent, at = draw(st.sampled_from(nodes))
        kind = draw(st.sampled_from(["content", "drop", "duplicate", "name", "tag"]))
        siblings = roots if parent is None else parent.children
        assert siblings is not None
        if kind == "drop" and len(siblings) > 1:
            del siblings[at]
        elif kind in ("content", "drop"):
            if node.children is None and node.content and draw(st.booleans()):
                node.content = mutate_bytes(node.content, draw, hot=64)
            else:
                node.content = draw(st.binary(max_size=40))
            node.children = None
        elif kind == "duplicate":
            siblings.insert(at, copy.deepcopy(node))
        elif kind == "name":
            siblings[at] = _HOSTILE_NODES[draw(st.integers(0, len(_HOSTILE_NODES) - 1))]()
        else:
            new_tag = draw(st.integers(0, 0xFE).filter(lambda t: t & 0x1F != 0x1F))
            node.tag = new_tag
            if node.children is not None and not new_tag & 0x20 and new_tag != _der.OCTET_STRING:
                node.content = b"".join(child.encode() for child in node.children)
                node.children = None
    return b"".join(root.encode() for root in roots)


def mutate_der_payload(data: bytes, draw: st.DrawFn, *, min_size: int = 200) -> bytes:
    """Byte-mutate the content of one large primitive element (an extension's payload: the
    attestation, the quote, the event log) and re-encode the lengths around it."""
    roots = _parse_all(data, 0)
    if not roots:
        return mutate_bytes(data, draw)
    nodes: list[_Place] = []
    for index, root in enumerate(roots):
        _walk(root, nodes, None, index)
    large = [
        node for node, _, _ in nodes if node.children is None and len(node.content) >= min_size
    ]
    if not large:
        return mutate_der(data, draw)
    node = draw(st.sampled_from(large))
    node.content = mutate_bytes(node.content, draw, hot=draw(st.sampled_from([64, 700, 6000])))
    return b"".join(root.encode() for root in roots)


# --- JSON ------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "UpToDate",
            "OutOfDate",
            "Revoked",
            "SWHardeningNeeded",
            "TDX",
            "SGX",
            "TD_QE",
            "QE",
            "2025-05-27T19:31:43Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "2025-02-30T00:00:00Z",
            "00" * 6,
            "FF" * 48,
            "zz",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""JSON values, with the strings and extremes collateral parsers meet."""


def _paths(value: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def mutate_json(document: Any, draw: st.DrawFn) -> Any:
    """1-3 structural edits of a JSON document: a member or element removed, replaced by
    another JSON value, duplicated (arrays), its type changed (numbers as strings and
    back), or a new member added."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            return draw(JSON_VALUES)
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        kind = draw(st.sampled_from(["delete", "replace", "duplicate", "retype", "add"]))
        if kind == "delete":
            del parent[key]
        elif kind == "replace":
            parent[key] = draw(JSON_VALUES)
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif kind == "retype":
            value = parent[key]
            if isinstance(value, bool):
                parent[key] = int(value)
            elif isinstance(value, int):
                parent[key] = str(value) if draw(st.booleans()) else float(value)
            elif isinstance(value, str):
                parent[key] = value.lower() if draw(st.booleans()) else [value]
            else:
                parent[key] = draw(JSON_VALUES)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
        else:
            parent.append(draw(JSON_VALUES))
    return doc
