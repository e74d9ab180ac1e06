"""A verifier's quote context is reused only for the exact PCK certification data.

The context's key digests everything a context depends on but the PCK chain's
PEM (the same kilobytes in every quote of a platform), which the context keeps
and compares byte for byte.  A quote that differs from a verified one only in
its chain must be verified afresh, never passed on the remembered context.
"""

from __future__ import annotations

import pytest

from tdxquote import parse_quote
from tdxquote.errors import CertificateChainError
from tdxquote.testing.forge import QuoteForge, td_report
from tdxquote.verification import Verifier


def _with_damaged_leaf_signature(raw: bytes) -> bytes:
    """``raw`` with one base64 character of the PCK leaf's signature changed (same length)."""
    pem = parse_quote(raw).pck_chain_pem
    assert pem is not None
    end = pem.index(b"-----END CERTIFICATE-----")
    at = end - 12  # inside the last line of the leaf's block: its signature
    assert pem[at : at + 1].isalnum()
    replacement = b"B" if pem[at : at + 1] == b"A" else b"A"
    damaged = pem[:at] + replacement + pem[at + 1 :]
    return raw.replace(pem, damaged)


def test_a_quote_with_another_chain_is_not_verified_by_the_remembered_context() -> None:
    forge = QuoteForge.create(seed=b"tests context payload")
    scenario = forge.scenario(forge.quote(td_report(2)))
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()
    good = scenario.quote_bytes
    assert verifier.verify(good, collateral, now=scenario.now).status is not None
    bad = _with_damaged_leaf_signature(good)
    assert bad != good
    assert len(bad) == len(good)
    with pytest.raises(CertificateChainError):
        verifier.verify(bad, collateral, now=scenario.now)
    # And the other way round: the good quote still verifies after the refusal.
    assert verifier.verify(good, collateral, now=scenario.now).status is not None
