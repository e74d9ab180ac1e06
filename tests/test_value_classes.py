"""Small immutable values that are plain classes (cheaper to import than dataclasses).

``QvResult``, ``QuoteInput`` and ``CrlView`` compare and hash by value, refuse
changes and pickle, as the dataclasses they replace did.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tdxquote._input import QuoteInput, sniff_quote
from tdxquote._intel_codes import QV_RESULT_UNSPECIFIED, QvResult
from tdxquote._x509_der import parse_crl
from tdxquote.collateral import Collateral


def test_qv_result_is_a_value() -> None:
    result = QvResult("SGX_QL_QV_RESULT_UNSPECIFIED", 0xA006)
    assert result == QV_RESULT_UNSPECIFIED
    assert hash(result) == hash(QV_RESULT_UNSPECIFIED)
    assert result != QvResult("SGX_QL_QV_RESULT_OK", 0)
    assert result != ("SGX_QL_QV_RESULT_UNSPECIFIED", 0xA006)
    assert repr(result) == "QvResult(name='SGX_QL_QV_RESULT_UNSPECIFIED', value=40966)"
    assert (result.code, result.to_dict()["code"]) == ("0xA006", "0xA006")
    assert pickle.loads(pickle.dumps(result)) == result
    with pytest.raises(AttributeError, match="immutable"):
        result.value = 1  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del result.name  # type: ignore[misc]


def test_quote_input_is_a_value() -> None:
    _, how = sniff_quote(b"0x" + bytes(64).hex().encode())
    assert how == QuoteInput("hex")
    assert how == QuoteInput(encoding="hex", container=None, location=None)
    assert how != QuoteInput("hex", "json", "")
    assert {how, QuoteInput("hex")} == {how}
    assert repr(how) == "QuoteInput(encoding='hex', container=None, location=None)"
    assert pickle.loads(pickle.dumps(how)) == how
    with pytest.raises(AttributeError, match="immutable"):
        how.encoding = "binary"  # type: ignore[misc]


def test_crl_views_are_equal_when_their_der_is(vectors: Path) -> None:
    raw = Collateral.from_json((vectors / "dcap-qvl/tdx_quote_collateral.json").read_text()).raw
    first, second = parse_crl(raw.pck_crl), parse_crl(bytes(raw.pck_crl))
    assert first is not second
    assert first == second
    assert hash(first) == hash(second)
    assert first != parse_crl(raw.root_ca_crl)
    assert "revoked=" in repr(first)
