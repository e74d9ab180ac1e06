"""The verified-collateral cache with a collateral source: one VerifiedCache for every call,
shared by the fetch-time checks and the verifier, keyed by content digests; many quotes of a
known platform cost only their own signatures.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from _helpers import serving

from tdxquote.collateral import CollateralCache, PcsClient, PcsSource
from tdxquote.testing.forge import QuoteForge, Scenario, td_report
from tdxquote.testing.pccs import PccsServer
from tdxquote.verification import Verifier


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"verified cache tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


@pytest.fixture
def ecdsa(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every P-256 signature check and every CRL / certificate signature check."""
    from cryptography import x509

    chains, crypto, qe, verifier_module = (
        importlib.import_module(f"tdxquote.verification.{name}")
        for name in ("_chains", "_crypto", "_qe", "_verifier")
    )

    calls = [0]
    original = crypto.verify_p256

    def counted(*args: Any) -> bool:
        calls[0] += 1
        return original(*args)

    for module in (crypto, qe, verifier_module):
        if hasattr(module, "verify_p256"):
            monkeypatch.setattr(module, "verify_p256", counted)
    issued = chains._issued_by

    def counted_issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
        calls[0] += 1
        return issued(child, parent)

    monkeypatch.setattr(chains, "_issued_by", counted_issued)
    return calls


def test_one_cache_across_calls(server: PccsServer, scenario: Scenario, ecdsa: list[int]) -> None:
    source = PcsSource(PcsClient(server.url, retries=0), CollateralCache.memory())
    verifier = Verifier(trust_root=scenario.trust_root_der, source=source)
    cache = verifier.cache
    verifier.verify(scenario.quote, now=scenario.now)
    first = ecdsa[0]
    keys = list(cache._entries)
    # Fetch-time checks and the verifier's own share entries: each signed document once.
    assert sum(1 for key in keys if key[0] == "signed_json") == 2
    assert sum(1 for key in keys if key[0] == "crl") == 2
    misses = cache.misses

    # More quotes of the same platform: no collateral check is repeated.
    forge = scenario.forge
    for nonce in (b"one", b"two", b"three"):
        quote = forge.quote(td_report(report_data=nonce))
        before = ecdsa[0]
        verified = verifier.verify(quote, now=scenario.now)
        assert str(verified.status) == "UpToDate"
        # The quote's own signature; its QE report (the platform's) verified on the first call.
        assert ecdsa[0] - before == 1
    assert verifier.cache is cache
    assert cache.misses == misses
    assert first > 2
    assert server.count() == 4


def test_keys_are_content_digests_not_names(scenario: Scenario, server: PccsServer) -> None:
    source = PcsSource(PcsClient(server.url, retries=0), CollateralCache.memory())
    verifier = Verifier(trust_root=scenario.trust_root_der, source=source)
    verifier.verify(scenario.quote, now=scenario.now)
    serials = {
        cert.serial_number.to_bytes(20, "big")
        for cert in (scenario.forge.pki.tcb_signing.cert, scenario.forge.pki.root.cert)
    }
    for key in verifier.cache._entries:
        for part in key[1:]:
            assert not isinstance(part, int)
            if isinstance(part, bytes):
                assert len(part) == 32  # SHA-256
                assert part not in serials
