"""Every verification error code is documented in docs/errors.md."""

from __future__ import annotations

from conftest import REPO_ROOT

from tdxquote.errors import INTEL_ERRORS
from tdxquote.ratls import RATLS_ERROR_CODES


def test_every_error_code_is_documented() -> None:
    text = (REPO_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [code for code in INTEL_ERRORS if f"`{code}`" not in text]
    assert not missing, f"undocumented error codes: {missing}"


def test_every_ratls_error_code_is_documented() -> None:
    text = (REPO_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [code for code in RATLS_ERROR_CODES if f"`{code}`" not in text]
    assert not missing, f"undocumented RA-TLS error codes: {missing}"
