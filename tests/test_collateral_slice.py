"""The raw-JSON value slicer that finds the exact signed bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdxquote.collateral._json_slice import JsonSliceError, value_span


def sliced(doc: bytes | str, key: str) -> bytes:
    raw = doc.encode() if isinstance(doc, str) else doc
    start, end = value_span(raw, key)
    return raw[start:end]


@pytest.mark.parametrize(
    ("doc", "key", "expected"),
    [
        ('{"a":1}', "a", "1"),
        ('  {  "a"  :  {"b" : [1, 2]}  ,"c":2 }  ', "a", '{"b" : [1, 2]}'),
        ('{"a":"x","b":[{"a":3}],"c":{"a":4}}', "b", '[{"a":3}]'),
        ('{"b":{"a":1},"a":2}', "a", "2"),
        ('{"x":"}]\\"{[","a":{"s":"\\\\"}}', "a", '{"s":"\\\\"}'),
        ('{"\\u0061":true}', "a", "true"),
        ('{"a":-1.5e+3}', "a", "-1.5e+3"),
        ('{"a":null}', "a", "null"),
        ('{"a":"caf\u00e9 \u2603"}', "a", '"caf\u00e9 \u2603"'),
        ('\t\r\n{"z":[],"a":{}}\n', "a", "{}"),
    ],
)
def test_value_span(doc: str, key: str, expected: str) -> None:
    assert sliced(doc, key) == expected.encode()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"b":1}', "not found"),
        ("{}", "not found"),
        ('{"a":1,"a":2}', "more than once"),
        ('{"a":1,"\\u0061":2}', "more than once"),
        ('{"a":1', "expected ','"),
        ('{"a":{"b":1', "unterminated"),
        ('{"a":{"b":1}', "expected ','"),
        ('{"a":[1}', "mismatched"),
        ('{"a":"x', "malformed string"),
        ('{"a":1,}', "malformed string"),
        ('{"a" 1}', "expected ':'"),
        ('{"a":1} {"a":2}', "trailing data"),
        ('[{"a":1}]', "expected '{'"),
        ("", "expected '{'"),
        ('{"a":tru}', "unexpected byte"),
        ('{"a":"\x01"}', "malformed string"),
        ('{"a":', "unexpected end"),
    ],
)
def test_value_span_errors(doc: str, message: str) -> None:
    with pytest.raises(JsonSliceError, match=message):
        value_span(doc.encode(), "a")


def test_deep_nesting_does_not_recurse() -> None:
    doc = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"
    assert len(sliced(doc, "a")) == 200_000


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    members=st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6),
    indent=st.none() | st.integers(min_value=0, max_value=3),
    separators=st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]),
    ensure_ascii=st.booleans(),
    data=st.data(),
)
def test_slice_matches_json_loads(
    members: dict[str, Any],
    indent: int | None,
    separators: tuple[str, str],
    ensure_ascii: bool,
    data: st.DataObject,
) -> None:
    text = json.dumps(members, indent=indent, separators=separators, ensure_ascii=ensure_ascii)
    key = data.draw(st.sampled_from(sorted(members)))
    value_text = sliced(text, key).decode()
    assert json.loads(value_text) == members[key]
    # The slice is verbatim text of the document, starting at a value token.
    assert value_text in text
    assert not value_text[0].isspace()
    assert not value_text[-1].isspace()
