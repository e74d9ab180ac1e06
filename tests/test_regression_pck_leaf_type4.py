"""Regression: a quote with certification data type 4 (Intel's PCK_CLEARTEXT, the PCK leaf
itself) verified with any payload at all, junk included, when the collateral carried a PCK
chain: the payload was never compared. It must be the collateral's leaf, as DER or as one
PEM block; anything else is ``pck_cert_mismatch``, warm or cold.
"""

from __future__ import annotations

import pytest

from tdxquote import CertificationData
from tdxquote.errors import CertificateChainError
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pki import SyntheticPki
from tdxquote.verification import Verifier


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(seed=b"pck leaf type 4")


def _scenario(forge: QuoteForge, payload: bytes) -> Scenario:
    quote = forge.quote(certification_data=CertificationData(4, payload))
    return forge.scenario(quote, pck_certificate_chain=True)


def _verify(verifier: Verifier, scenario: Scenario) -> str:
    try:
        verified = verifier.verify(scenario.quote, scenario.to_collateral(), now=scenario.now)
    except CertificateChainError as error:
        return error.code
    assert "pck_identifier" in verified.checks
    return str(verified.status)


def test_the_leaf_as_der_or_pem_verifies(forge: QuoteForge) -> None:
    for payload in (forge.leaf.der, forge.leaf.pem, b"\n" + forge.leaf.pem + b"\n"):
        scenario = _scenario(forge, payload)
        assert _verify(Verifier(trust_root=scenario.trust_root_der), scenario) == "UpToDate"


@pytest.mark.parametrize(
    "payload",
    [
        b"junk",
        b"",
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    ],
    ids=["junk", "empty", "bad-pem"],
)
def test_anything_else_is_a_mismatch(forge: QuoteForge, payload: bytes) -> None:
    scenario = _scenario(forge, payload)
    assert _verify(Verifier(trust_root=scenario.trust_root_der), scenario) == "pck_cert_mismatch"


def test_the_whole_chain_or_another_leaf_is_a_mismatch(forge: QuoteForge) -> None:
    other = SyntheticPki.create(b"another pki").issue_pck()
    for payload in (forge.leaf.pem + forge.pki.intermediate.pem, other.der, other.pem):
        scenario = _scenario(forge, payload)
        verdict = _verify(Verifier(trust_root=scenario.trust_root_der), scenario)
        assert verdict == "pck_cert_mismatch"


def test_a_warm_verifier_compares_the_payload_too(forge: QuoteForge) -> None:
    good = _scenario(forge, forge.leaf.der)
    verifier = Verifier(trust_root=good.trust_root_der)
    assert _verify(verifier, good) == "UpToDate"
    # The same size as the leaf: the quote context's key is the same, its payload is not.
    altered = forge.leaf.der[:-1] + bytes([forge.leaf.der[-1] ^ 1])
    assert _verify(verifier, _scenario(forge, altered)) == "pck_cert_mismatch"
    assert _verify(verifier, good) == "UpToDate"
