"""``tdxquote demo``: a forged quote verifies, its tampered copy is refused."""

from __future__ import annotations

import json

import pytest

from tdxquote.cli import main


def test_demo_verifies_then_refuses_tampered_copy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "verdict: UpToDate (SGX_QL_QV_RESULT_OK)" in out
    assert "refused: quote_signature_invalid" in out
    assert "not Intel's" in out
    assert "Verified it at 2025-06-01T00:00:00Z:" in out  # RFC 3339 with Z


def test_demo_json_reports_both_outcomes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["command"], document["ok"], document["error"]) == ("demo", True, None)
    result = document["result"]
    assert result["forged"]["status"] == "UpToDate"
    assert result["forged"]["advisory_ids"] == []
    assert result["tampered"]["code"] == "quote_signature_invalid"
