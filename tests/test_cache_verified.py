"""Verified collateral as a value: one bounded LRU per Verifier, keyed by content digests.

A collateral is verified once per trust root, a platform (PCK chain) once
against it, a platform's QE report once; a warm verification is then the
quote's own ECDSA check.  Counted here by instrumenting the one function every
ECDSA verification goes through.  Also: trust roots never share an entry, time
is judged per call, failures are never stored, the LRU is bounded and safe
under threads, and the one-shot ``tdxquote.verify`` has the same warm path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _helpers import serving

import tdxquote
from tdxquote import _chain_checks, _x509_verify
from tdxquote.collateral import Collateral, CollateralCache, PcsClient, PcsSource, TcbStatus
from tdxquote.errors import CertificateChainError, CollateralExpiredError, VerificationError
from tdxquote.testing.forge import QuoteForge, Scenario, td_report
from tdxquote.testing.pccs import PccsServer
from tdxquote.testing.pki import (
    DEFAULT_NEXT_UPDATE,
    DEFAULT_TEE_TCB_SVN,
    SyntheticPki,
    tcb_info,
    tcb_level,
)
from tdxquote.verification import (
    Policy,
    VerifiedCache,
    Verifier,
    default_verifier,
)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"verified cache tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


class Ecdsa:
    """Every ECDSA verification: (signature, data) as checked, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, bytes]] = []
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.calls)


@pytest.fixture
def ecdsa(monkeypatch: pytest.MonkeyPatch) -> Ecdsa:
    record = Ecdsa()
    original = _x509_verify.verify_der_signature

    def counted(key: Any, signature: bytes, data: bytes) -> bool:
        with record.lock:
            record.calls.append((bytes(signature), bytes(data)))
        return original(key, signature, data)

    # verify_raw_signature calls the module's verify_der_signature; _chain_checks imported it.
    monkeypatch.setattr(_x509_verify, "verify_der_signature", counted)
    monkeypatch.setattr(_chain_checks, "verify_der_signature", counted)
    return record


def _stream(scenario: Scenario, count: int) -> list[bytes]:
    forge = scenario.forge
    return [forge.quote(td_report(report_data=bytes([n]) * 64)).to_bytes() for n in range(count)]


# --- reuse across quotes -----------------------------------------------------------------


def test_a_warm_verification_is_the_quotes_own_signature(scenario: Scenario, ecdsa: Ecdsa) -> None:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()
    verifier.verify(scenario.quote_bytes, collateral, now=scenario.now)
    # Cold: root CRL, PCK CRL, TCB Signing certificate (once for both chains), TCB Info,
    # QE identity, PCK CA, PCK leaf, QE report, quote. The pinned root's self-signature is
    # not checked: the chains carry the trust root's own certificate.
    assert len(ecdsa) == 9
    assert len(set(ecdsa.calls)) == 9
    for quote in _stream(scenario, 5):
        before = len(ecdsa)
        assert verifier.verify(quote, collateral, now=scenario.now).status is TcbStatus.UP_TO_DATE
        assert len(ecdsa) - before == 1
        assert ecdsa.calls[-1][1] == tdxquote.parse_quote(quote).signed_bytes


def test_a_new_collateral_object_with_the_same_bytes_is_the_same_entry(
    scenario: Scenario, ecdsa: Ecdsa
) -> None:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=scenario.now)
    before = len(ecdsa)
    again = Collateral.from_json(scenario.collateral.to_collateral_json())
    verifier.verify(scenario.quote_bytes, again, now=scenario.now)
    assert len(ecdsa) - before == 1


def test_a_new_platform_reuses_the_verified_collateral(scenario: Scenario, ecdsa: Ecdsa) -> None:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()
    verifier.verify(scenario.quote_bytes, collateral, now=scenario.now)
    kinds = verifier.cache.kinds()
    assert kinds.count("collateral") == 1
    # Another PCK leaf of the same CA: its chain, CRL and QE report; not the collateral.
    other = scenario.forge.replace(leaf=scenario.forge.pki.issue_pck(key_label="other pck"))
    before = len(ecdsa)
    verifier.verify(other.quote(), collateral, now=scenario.now)
    assert len(ecdsa) - before == 3  # the leaf's signature, the QE report, the quote
    assert verifier.cache.kinds().count("collateral") == 1
    assert verifier.cache.kinds().count("platform") == 2


def test_the_collateral_digest_is_computed_once(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tdxquote.collateral import _bundle

    collateral = scenario.to_collateral()
    calls = []
    original = _bundle._raw_digest
    monkeypatch.setattr(_bundle, "_raw_digest", lambda raw: calls.append(1) or original(raw))
    verifier = Verifier(trust_root=scenario.trust_root_der)
    for quote in _stream(scenario, 3):
        verifier.verify(quote, collateral, now=scenario.now)
    assert calls == []
    assert collateral.digest == original(collateral.raw)


# --- the one-shot verify() ---------------------------------------------------------------


def test_one_shot_verify_is_warm_after_the_first_call(scenario: Scenario, ecdsa: Ecdsa) -> None:
    collateral = scenario.to_collateral()
    root = scenario.trust_root_der
    tdxquote.verify(scenario.quote_bytes, collateral, now=scenario.now, trust_root=root)
    for quote in _stream(scenario, 3):
        before = len(ecdsa)
        tdxquote.verify(quote, collateral, now=scenario.now, trust_root=root)
        assert len(ecdsa) - before == 1
    assert default_verifier(root) is default_verifier(root)
    assert default_verifier() is default_verifier(None)
    assert default_verifier(root) is not default_verifier()


def test_default_verifiers_are_bounded() -> None:
    roots = [SyntheticPki.create(f"root {n}".encode()).root.der for n in range(12)]
    intel = default_verifier()
    made = [default_verifier(root) for root in roots]
    assert default_verifier(roots[-1]) is made[-1]
    assert default_verifier(roots[0]) is not made[0]  # dropped, made again
    assert default_verifier() is intel  # the pinned root's verifier stays
    from tdxquote.verification import _verifier

    assert len(_verifier._defaults) <= _verifier._MAX_DEFAULT_VERIFIERS


# --- trust roots, time, failures -----------------------------------------------------------


def test_the_same_collateral_under_two_roots_shares_no_entry(scenario: Scenario) -> None:
    shared = VerifiedCache()
    collateral = scenario.to_collateral()
    trusted = Verifier(trust_root=scenario.trust_root_der, cache=shared)
    trusted.verify(scenario.quote_bytes, collateral, now=scenario.now)
    entries = len(shared)
    other = Verifier(trust_root=SyntheticPki.create(b"another root").root.der, cache=shared)
    with pytest.raises(CertificateChainError) as caught:
        other.verify(scenario.quote_bytes, collateral, now=scenario.now)
    assert caught.value.code == "pck_chain_untrusted"
    keys = list(shared._entries)
    roots = {key[2] for key in keys if key[0] in ("collateral", "platform", "quote")}
    assert roots == {trusted.trust_root.digest}
    assert len(shared) == entries


def test_time_is_judged_on_every_call(scenario: Scenario) -> None:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()
    allow = Policy().unsafe_allow_expired_collateral()
    fresh = verifier.verify(scenario.quote_bytes, collateral, now=scenario.now, policy=allow)
    entries = dict(verifier.cache._entries)
    late = verifier.verify(scenario.quote_bytes, collateral, now=DEFAULT_NEXT_UPDATE, policy=allow)
    again = verifier.verify(scenario.quote_bytes, collateral, now=scenario.now, policy=allow)
    assert (fresh.collateral_expired, late.collateral_expired, again.collateral_expired) == (
        False,
        True,
        False,
    )
    with pytest.raises(CollateralExpiredError):
        verifier.verify(scenario.quote_bytes, collateral, now=DEFAULT_NEXT_UPDATE)
    # The same verified objects answered every call.
    assert all(verifier.cache._entries[key] is value for key, value in entries.items())
    assert len(verifier.cache) == len(entries)


def test_a_failure_is_never_stored(scenario: Scenario, ecdsa: Ecdsa) -> None:
    forge = scenario.forge
    revoked = forge.scenario(
        tcb_info=tcb_info(tcb_levels=[tcb_level(tdx=DEFAULT_TEE_TCB_SVN, status="Revoked")])
    )
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = revoked.to_collateral()
    counts = []
    for _ in range(2):
        before = len(ecdsa)
        with pytest.raises(VerificationError) as caught:
            verifier.verify(revoked.quote_bytes, collateral, now=revoked.now)
        assert caught.value.code == "tcb_revoked"
        counts.append(len(ecdsa) - before)
    # The collateral and the platform verified and are kept; the failing quote context is
    # not: the second attempt checks the QE report and the quote again, and fails again.
    assert "quote" not in verifier.cache.kinds()
    assert counts[1] == 2


# --- the LRU -----------------------------------------------------------------------------


def test_the_cache_is_bounded(scenario: Scenario) -> None:
    cache = VerifiedCache(max_entries=4)
    verifier = Verifier(trust_root=scenario.trust_root_der, cache=cache)
    collaterals = [
        scenario.forge.scenario(tcb_info=tcb_info(tcb_evaluation_data_number=n)).to_collateral()
        for n in range(17, 21)
    ]
    for collateral in collaterals * 2:
        verifier.verify(scenario.quote_bytes, collateral, now=scenario.now)
        assert len(cache) <= 4
    assert cache.kinds()[-1] == "quote"
    with pytest.raises(ValueError, match="at least 1"):
        VerifiedCache(max_entries=0)


def test_keys_are_content_digests_not_names(scenario: Scenario, server: PccsServer) -> None:
    source = PcsSource(PcsClient(server.url, retries=0), CollateralCache.memory())
    verifier = Verifier(trust_root=scenario.trust_root_der, source=source)
    verifier.verify(scenario.quote, now=scenario.now)
    serials = {
        cert.serial_number.to_bytes(20, "big")
        for cert in (scenario.forge.pki.tcb_signing.cert, scenario.forge.pki.root.cert)
    }
    for key in verifier.cache._entries:
        assert isinstance(key[0], str)
        for part in key[1:]:
            assert isinstance(part, bytes)
            assert part not in serials
            assert len(part) in (32, 64, 65)  # SHA-256 digests; a raw signature; a P-256 point


def test_fetch_time_checks_and_the_verifier_share_entries(
    server: PccsServer, scenario: Scenario, ecdsa: Ecdsa
) -> None:
    source = PcsSource(PcsClient(server.url, retries=0), CollateralCache.memory())
    verifier = Verifier(trust_root=scenario.trust_root_der, source=source)
    verifier.verify(scenario.quote, now=scenario.now)
    # Each exact signed thing was verified once, by the source or by the verifier.
    assert len(ecdsa.calls) == len(set(ecdsa.calls))
    for quote in _stream(scenario, 3):
        before = len(ecdsa)
        verifier.verify(quote, now=scenario.now)
        assert len(ecdsa) - before == 1
    assert server.count() == 4


# --- threads -----------------------------------------------------------------------------


def test_four_threads_share_one_verifier(scenario: Scenario) -> None:
    other = scenario.forge.replace(leaf=scenario.forge.pki.issue_pck(key_label="thread pck"))
    quotes = _stream(scenario, 12) + [
        other.quote(td_report(report_data=bytes([n]) * 64)).to_bytes() for n in range(12)
    ]
    bad = scenario.forge.quote(bad_quote_signature=True).to_bytes()
    collateral = scenario.to_collateral()
    verifier = Verifier(trust_root=scenario.trust_root_der, cache=VerifiedCache(max_entries=3))
    expected = {
        quote: Verifier(trust_root=scenario.trust_root_der)
        .verify(quote, collateral, now=scenario.now)
        .to_dict()
        for quote in quotes
    }
    barrier = threading.Barrier(4)

    def run(offset: int) -> list[object]:
        barrier.wait()
        out: list[object] = []
        for n in range(len(quotes)):
            quote = quotes[(n + offset) % len(quotes)]
            out.append((quote, verifier.verify(quote, collateral, now=scenario.now).to_dict()))
            try:
                verifier.verify(bad, collateral, now=scenario.now)
            except VerificationError as error:
                out.append(error.code)
        return out

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(0, 24, 6)))
    for result in results:
        for item in result:
            if isinstance(item, tuple):
                assert item[1] == expected[item[0]]
            else:
                assert item == "quote_signature_invalid"
    assert len(verifier.cache) <= 3


def test_a_warm_verdict_is_the_same_as_a_cold_one(scenario: Scenario) -> None:
    import dataclasses

    from tdxquote.verification import VerifiedQuote

    collateral = scenario.to_collateral()
    warm = Verifier(trust_root=scenario.trust_root_der)
    for quote in _stream(scenario, 3):
        cold = Verifier(trust_root=scenario.trust_root_der).verify(
            quote, collateral, now=scenario.now
        )
        again = warm.verify(quote, collateral, now=scenario.now)
        assert again == cold
        assert again.to_dict() == cold.to_dict()
        assert set(vars(again)) == {field.name for field in dataclasses.fields(VerifiedQuote)}
        with pytest.raises(dataclasses.FrozenInstanceError):
            again.status = TcbStatus.REVOKED  # type: ignore[misc]
