"""The ITA error family: documented codes, the fetch/verdict split, pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from tdxquote.errors import (
    ITA_ERROR_CODES,
    CollateralFetchError,
    ItaClaimsError,
    ItaError,
    ItaFetchError,
    ItaTokenError,
    TdxQuoteError,
    VerificationError,
    VerifiersDisagreeError,
)


def test_every_ita_error_code_is_documented() -> None:
    text = (REPO_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [code for code in ITA_ERROR_CODES if f"`{code}`" not in text]
    assert not missing, f"undocumented ITA error codes: {missing}"


def test_fetch_failures_are_not_verdicts() -> None:
    fetch = ItaFetchError("down", url="https://x", status=503)
    assert isinstance(fetch, ItaError)
    assert isinstance(fetch, TdxQuoteError)
    assert not isinstance(fetch, VerificationError)
    assert not isinstance(fetch, CollateralFetchError)
    for verdict in (ItaTokenError("x"), ItaClaimsError("x"), VerifiersDisagreeError("x")):
        assert isinstance(verdict, VerificationError)
        assert isinstance(verdict, ItaError)


@pytest.mark.parametrize(
    "error",
    [
        ItaFetchError("down", code="ita_deadline_exceeded", url="https://x", status=None),
        ItaFetchError("bad", url="https://x", status=500, request_id="abc"),
        ItaTokenError("expired", code="ita_token_expired"),
        ItaClaimsError(
            "differs", claim="tdx_mrtd", expected="aa", actual="bb", code="ita_claims_mismatch"
        ),
        VerifiersDisagreeError("differ", field="mr_td", values=("a", "b")),
    ],
)
def test_errors_survive_pickling(error: ItaError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.code == error.code
    assert str(copy) == str(error)
    assert {**vars(copy), "code": copy.code} == {**vars(error), "code": error.code}


def test_every_code_used_is_registered() -> None:
    import re

    from tdxquote.ita import _claims, _client, _keys, _token, _transport, _verifiers

    used = set()
    for module in (_claims, _client, _keys, _token, _transport, _verifiers):
        source = Path(module.__file__).read_text(encoding="utf-8")
        used |= set(re.findall(r'"(ita_[a-z_]+)"', source))
    used -= {"ita_claims", "ita_claims_match_quote"}  # check names, not codes
    assert used <= set(ITA_ERROR_CODES), used - set(ITA_ERROR_CODES)
