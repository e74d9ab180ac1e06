"""Regressions in choosing collateral by time (``tdxquote/collateral/_source.py``).

* A cached artifact was used whenever ``now < expires``, even when it was not yet valid at
  ``now``: verifying at a 2026 time and then at a 2025 time reused the 2026 PCK CRL (and
  TCB Info, QE identity) and was refused with ``collateral_expired``.
* ``OfflineSource`` ranked bundles by (not expired, evaluation number, expiry) and ignored
  when a bundle starts being valid: of two bundles for one platform it picked one not yet
  valid at ``now`` because its TCB evaluation data number was higher.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tdxquote.collateral import Collateral, CollateralCache, OfflineSource, PcsClient, PcsSource
from tdxquote.collateral._source import bundle_rank
from tdxquote.collateral.pcs import CollateralParameters
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import PccsServer
from tdxquote.testing.pki import REFERENCE_TIME, qe_identity, tcb_info
from tdxquote.verification import Verifier

DAY = timedelta(days=1)
LATER = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(seed=b"collateral time regressions")


def bundle_at(forge: QuoteForge, start: datetime, *, number: int = 17) -> Collateral:
    """The platform's collateral issued at ``start``, valid for 29 days."""
    pki = forge.pki.replace(crl_this_update=start, crl_next_update=start + 29 * DAY)
    documents = {"issue_date": start, "next_update": start + 29 * DAY}
    collateral = pki.collateral(
        tcb_info(tcb_evaluation_data_number=number, **documents),
        qe_identity(tcb_evaluation_data_number=number, **documents),
    )
    return forge.scenario(collateral=collateral).to_collateral()


def test_regression_a_cached_artifact_not_yet_valid_at_now_is_not_used(
    forge: QuoteForge, tmp_path: Path
) -> None:
    scenario: Scenario = forge.scenario()
    now_2025 = REFERENCE_TIME
    with PccsServer() as server:
        server.add_collateral(bundle_at(forge, now_2025 - DAY))
        server.add_collateral(bundle_at(forge, LATER - DAY))

        def verify_at(when: datetime) -> str:
            source = PcsSource(PcsClient(server.url, retries=0), CollateralCache(tmp_path))
            verifier = Verifier(trust_root=scenario.trust_root_der, source=source)
            return str(verifier.verify(scenario.quote, now=when).status)

        assert verify_at(LATER) == "UpToDate"
        assert server.count() == 4
        # Before the fix: the 2026 artifacts, cached and not expired in 2025, were used
        # (their thisUpdate / issueDate is after now) and refused as collateral_expired.
        assert verify_at(now_2025) == "UpToDate"
        assert server.count() == 8
        assert verify_at(now_2025) == "UpToDate"
        assert server.count() == 8  # valid at that time: from the cache


def test_regression_offline_source_prefers_a_bundle_valid_at_now(forge: QuoteForge) -> None:
    now = REFERENCE_TIME
    current = bundle_at(forge, now - DAY, number=17)
    upcoming = bundle_at(forge, now + 10 * DAY, number=18)  # a higher number, not yet valid
    source = OfflineSource([upcoming, current])
    quote = forge.quote()
    # Before the fix the higher evaluation number won and the verification was refused.
    assert source.collateral_for(quote, now=now) is current
    assert source.collateral_for(quote, now=now + 12 * DAY) is upcoming
    verifier = Verifier(trust_root=forge.pki.trust_root_der, source=source)
    assert str(verifier.verify(quote, now=now).status) == "UpToDate"


def test_the_pccs_server_chooses_as_the_offline_source(forge: QuoteForge) -> None:
    bundles = [
        bundle_at(forge, REFERENCE_TIME - DAY, number=17),
        bundle_at(forge, REFERENCE_TIME + 10 * DAY, number=18),
        bundle_at(forge, REFERENCE_TIME + 5 * DAY, number=16),
    ]
    source = OfflineSource(bundles)
    quote = forge.quote()
    params = CollateralParameters.from_quote(quote)
    with PccsServer() as server, PcsClient(server.url, retries=0) as client:
        for bundle in bundles:
            server.add_collateral(bundle)
        for offset in (0, 6, 12, 40, -3):
            when = REFERENCE_TIME + offset * DAY
            served = client.get("tcb_info", params, at=when).body
            chosen = source.collateral_for(quote, now=when)
            assert chosen.raw.tcb_info in served, offset


def test_bundle_rank() -> None:
    start, end = REFERENCE_TIME, REFERENCE_TIME + 29 * DAY
    assert bundle_rank(start, end, 17, start) == (True, 17, end)
    assert bundle_rank(start, end, 17, start - timedelta(seconds=1))[0] is False
    assert bundle_rank(start, end, 17, end)[0] is False  # the end is exclusive
