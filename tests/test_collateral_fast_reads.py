"""The fast reads of TCB Info components and JSON objects give exactly what the general
reads give: the same values, or the same first error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdxquote.collateral._fields import U8, Obj, load_json
from tdxquote.collateral._tcb_info import _components
from tdxquote.errors import CollateralFormatError


def _general(tcb: Obj, key: str) -> tuple[int, ...]:
    # The general read, as _components does it when the fast read declines.
    components = tcb.objects(key, length=16)
    for component in components:
        component.optional_string("category")
        component.optional_string("type")
    return tuple(component.uint("svn", U8) for component in components)


def _outcome(read: object, value: object) -> tuple[str, object]:
    tcb = Obj({"sgxtcbcomponents": value}, "tcbInfo.tcbLevels[0].tcb", "tcb_info_format")
    try:
        return ("ok", read(tcb, "sgxtcbcomponents"))  # type: ignore[operator]
    except CollateralFormatError as error:
        return ("error", str(error))


_ODD = st.one_of(st.none(), st.booleans(), st.integers(-2, 300), st.text(max_size=3), st.floats())
_WELL_FORMED = st.fixed_dictionaries(
    {"svn": st.integers(0, 255)},
    optional={"category": st.text(max_size=5), "type": st.text(max_size=5), "x": _ODD},
)
_NEAR = st.one_of(st.integers(-1, 256), st.sampled_from([True, 1.0, "1", None]))
_LABEL = st.one_of(st.text(max_size=3), st.sampled_from([None, 1, True, ["a"]]))
_COMPONENT = st.one_of(
    _WELL_FORMED,
    # A component one member off: svn at and past its bounds or of another type, a label
    # of another type, a member missing.
    st.fixed_dictionaries({"svn": _NEAR}, optional={"category": _LABEL, "type": _LABEL}),
    st.fixed_dictionaries({}, optional={"svn": _ODD, "category": _ODD, "type": _ODD}),
    _ODD,
)


@st.composite
def _component_lists(draw: st.DrawFn) -> list[object]:
    """Sixteen well-formed components, up to two of them replaced by anything."""
    items: list[object] = draw(st.lists(_WELL_FORMED, min_size=16, max_size=16))
    for _ in range(draw(st.integers(0, 2))):
        items[draw(st.integers(0, 15))] = draw(_COMPONENT)
    return items


@given(
    st.one_of(
        _component_lists(),
        st.lists(_COMPONENT, max_size=18),
        _ODD,
    )
)
def test_components_read_as_the_general_read(value: object) -> None:
    assert _outcome(_components, value) == _outcome(_general, value)


@pytest.mark.parametrize(
    "odd",
    [
        {"svn": 256},
        {"svn": -1},
        {"svn": True},
        {"svn": 1.0},
        {"svn": 1, "type": None},
        {"svn": 1, "category": 7},
        {"category": "BIOS"},
        [1],
    ],
)
def test_one_odd_component_reads_as_the_general_read(odd: object) -> None:
    value: list[object] = [{"svn": 1, "category": "BIOS", "type": "t"} for _ in range(16)]
    value[5] = odd
    outcome = _outcome(_components, value)
    assert outcome[0] == "error"
    assert outcome == _outcome(_general, value)


def test_the_fast_read_takes_well_formed_components() -> None:
    value = [{"svn": i, "category": "BIOS", "type": "Early Microcode Update"} for i in range(16)]
    assert _outcome(_components, value) == ("ok", tuple(range(16)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "b": 2, "a": 3}', "duplicate member 'a'"),
        ('{"x": {"k": 1, "k": 1}}', "duplicate member 'k'"),
    ],
)
def test_duplicate_members_are_refused(text: str, message: str) -> None:
    with pytest.raises(CollateralFormatError, match=message):
        load_json(text.encode(), code="tcb_info_format", what="TCB Info")


def test_distinct_members_load() -> None:
    text = '{"a": 1, "b": {"c": [1, {"d": 2}]}}'
    assert load_json(text.encode(), code="c", what="w") == json.loads(text)
