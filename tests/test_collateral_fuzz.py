"""Property tests: untrusted collateral input raises CollateralFormatError and nothing else."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tdxquote.collateral import (
    Collateral,
    CollateralFormatError,
    EnclaveIdentity,
    TcbInfo,
    load_chain,
    load_crl,
)

_TDX_LEVEL = {
    "tcb": {
        "sgxtcbcomponents": [{"svn": 2, "category": "BIOS"}] * 16,
        "pcesvn": 11,
        "tdxtcbcomponents": [{"svn": 1}] * 16,
    },
    "tcbDate": "2024-03-13T00:00:00Z",
    "tcbStatus": "UpToDate",
    "advisoryIDs": ["INTEL-SA-00615"],
}
TCB_INFO: dict[str, Any] = {
    "id": "TDX",
    "version": 3,
    "issueDate": "2025-05-27T19:31:43Z",
    "nextUpdate": "2025-06-26T19:31:43Z",
    "fmspc": "00806F050000",
    "pceId": "0000",
    "tcbType": 0,
    "tcbEvaluationDataNumber": 17,
    "tdxModule": {"mrsigner": "00" * 48, "attributes": "00" * 8, "attributesMask": "FF" * 8},
    "tdxModuleIdentities": [
        {
            "id": "TDX_01",
            "mrsigner": "00" * 48,
            "attributes": "00" * 8,
            "attributesMask": "FF" * 8,
            "tcbLevels": [
                {"tcb": {"isvsvn": 4}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "UpToDate"}
            ],
        }
    ],
    "tcbLevels": [_TDX_LEVEL],
}
IDENTITY: dict[str, Any] = {
    "id": "TD_QE",
    "version": 2,
    "issueDate": "2025-05-27T19:05:27Z",
    "nextUpdate": "2025-06-26T19:05:27Z",
    "tcbEvaluationDataNumber": 17,
    "miscselect": "00000000",
    "miscselectMask": "FFFFFFFF",
    "attributes": "11" + "00" * 15,
    "attributesMask": "FB" + "FF" * 7 + "00" * 8,
    "mrsigner": "DC" * 32,
    "isvprodid": 2,
    "tcbLevels": [
        {"tcb": {"isvsvn": 4}, "tcbDate": "2024-03-13T00:00:00Z", "tcbStatus": "UpToDate"}
    ],
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        ["UpToDate", "Revoked", "SWHardeningNeeded", "2025-05-27T19:31:43Z", "00" * 6]
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutations(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(json_values)
    return doc


def _only_format_errors(parse: Callable[[], object]) -> None:
    with contextlib.suppress(CollateralFormatError):
        parse()


@given(st.text() | st.binary())
def test_arbitrary_input_to_from_response(data: str | bytes) -> None:
    _only_format_errors(lambda: TcbInfo.from_response(data))
    _only_format_errors(lambda: EnclaveIdentity.from_response(data))
    _only_format_errors(lambda: TcbInfo.from_signed_body(data, bytes(64)))
    _only_format_errors(lambda: EnclaveIdentity.from_signed_body(data, bytes(64)))


@given(json_values, st.sampled_from(["tcbInfo", "enclaveIdentity", "signature"]))
def test_arbitrary_json_to_from_response(value: object, key: str) -> None:
    text = json.dumps({key: value, "signature": "ab" * 64})
    _only_format_errors(lambda: TcbInfo.from_response(text))
    _only_format_errors(lambda: EnclaveIdentity.from_response(text))


@given(mutations(TCB_INFO))
def test_mutated_tcb_info(doc: dict[str, Any]) -> None:
    text = json.dumps({"tcbInfo": doc, "signature": "ab" * 64})
    _only_format_errors(lambda: TcbInfo.from_response(text))


@given(mutations(IDENTITY))
def test_mutated_identity(doc: dict[str, Any]) -> None:
    text = json.dumps({"enclaveIdentity": doc, "signature": "ab" * 64})
    _only_format_errors(lambda: EnclaveIdentity.from_response(text))


def test_unmutated_bases_parse() -> None:
    assert TcbInfo.from_signed_body(json.dumps(TCB_INFO), bytes(64)).id == "TDX"
    assert EnclaveIdentity.from_signed_body(json.dumps(IDENTITY), bytes(64)).id == "TD_QE"


@given(st.text() | st.binary())
def test_arbitrary_crl_and_chain_input(data: str | bytes) -> None:
    _only_format_errors(lambda: load_crl(data))
    _only_format_errors(lambda: load_chain(data))
    _only_format_errors(lambda: Collateral.from_json(data).decoded())


@given(
    st.binary(min_size=1, max_size=3),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from(["crl", "chain"]),
)
def test_corrupted_real_crl_and_chain(vectors: Path, patch: bytes, offset: int, kind: str) -> None:
    base = vectors / "go-tdx-guest" / "collateral"
    if kind == "crl":
        data = bytearray((base / "pckcrl").read_bytes())
        offset %= len(data)
        data[offset : offset + len(patch)] = patch
        _only_format_errors(lambda: load_crl(bytes(data)))
    else:
        text = bytearray((base / "TCB-Info-Issuer-Chain.header.txt").read_bytes())
        offset %= len(text)
        text[offset : offset + len(patch)] = patch
        _only_format_errors(lambda: load_chain(bytes(text)))


@given(
    st.sampled_from(
        [
            "root_ca_crl",
            "pck_crl",
            "tcb_info",
            "tcb_info_signature",
            "qe_identity",
            "qe_identity_issuer_chain",
            "pck_certificate_chain",
        ]
    ),
    json_values,
)
def test_mutated_collateral_json(vectors: Path, key: str, value: object) -> None:
    data = json.loads((vectors / "dcap-qvl" / "tdx_quote_collateral.json").read_text())
    data[key] = value
    _only_format_errors(lambda: Collateral.from_json(json.dumps(data)).decoded())
