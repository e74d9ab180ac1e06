"""vectors/synthetic: reproducible from the forge, and verifying as documented."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT

import tdxquote
from tdxquote.verification import Verifier

SYNTHETIC = REPO_ROOT / "vectors" / "synthetic"

EXPECTED = {
    "tdx_v4": "UpToDate",
    "tdx_v5_td10": "UpToDate",
    "tdx_v5_td15": "UpToDate",
    "tdx_v4_bad_signature": "quote_signature_invalid",
    "tdx_v4_swapped_attestation_key": "qe_report_data_mismatch",
}


def test_files_equal_a_fresh_generation() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "vectors" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("name", "verdict"), sorted(EXPECTED.items()))
def test_tdx_vectors_verify_as_documented(name: str, verdict: str) -> None:
    collateral = tdxquote.Collateral.from_json((SYNTHETIC / "tdx_collateral.json").read_text())
    verifier = Verifier(trust_root=(SYNTHETIC / "trust_root.pem").read_bytes())
    now = int((SYNTHETIC / "now.txt").read_text())
    quote = (SYNTHETIC / f"{name}.quote").read_bytes()
    try:
        outcome = str(verifier.verify(quote, collateral, now=now).status)
    except tdxquote.VerificationError as error:
        outcome = error.code
    assert outcome == verdict


def test_sgx_vector_verifies() -> None:
    collateral = tdxquote.Collateral.from_json((SYNTHETIC / "sgx_collateral.json").read_text())
    verified = tdxquote.verify(
        (SYNTHETIC / "sgx_v3.quote").read_bytes(),
        collateral,
        now=int((SYNTHETIC / "now.txt").read_text()),
        trust_root=(SYNTHETIC / "trust_root.pem").read_bytes(),
    )
    assert str(verified.status) == "UpToDate"
    assert verified.quote.version == 3


def test_synthetic_root_is_not_intel() -> None:
    collateral = tdxquote.Collateral.from_json((SYNTHETIC / "tdx_collateral.json").read_text())
    with pytest.raises(tdxquote.VerificationError) as caught:
        tdxquote.verify(
            (SYNTHETIC / "tdx_v4.quote").read_bytes(),
            collateral,
            now=int((SYNTHETIC / "now.txt").read_text()),
        )
    assert caught.value.code == "pck_chain_untrusted"
