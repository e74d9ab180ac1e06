"""``now`` given as unix seconds: out-of-range values are a ValueError, never OverflowError.

Regression: ``now=1e20``, ``now=float("inf")`` (OverflowError) and ``now=float("nan")``
(a bare ValueError from datetime) escaped from ``Verifier.verify`` and the RA-TLS report.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tdxquote._time import to_datetime
from tdxquote.ratls import certificate_report
from tdxquote.testing.forge import QuoteForge
from tdxquote.verification import Verifier

OUT_OF_RANGE = [1e20, -1e20, float("inf"), float("-inf"), float("nan"), 10**30]


@pytest.mark.parametrize("now", OUT_OF_RANGE, ids=repr)
def test_regression_now_out_of_range_is_a_value_error(now: float) -> None:
    with pytest.raises(ValueError, match="now"):
        to_datetime(now)


@pytest.mark.parametrize("now", OUT_OF_RANGE, ids=repr)
def test_regression_verify_refuses_an_unusable_now(now: float) -> None:
    forge = QuoteForge.create(seed=b"now out of range")
    scenario = forge.scenario()
    verifier = Verifier(trust_root=scenario.trust_root_der)
    with pytest.raises(ValueError, match="now"):
        verifier.verify(scenario.quote_bytes, scenario.to_collateral(), now=now)


def test_regression_certificate_report_refuses_an_unusable_now() -> None:
    with pytest.raises(ValueError, match="now"):
        certificate_report(b"not read", now=float("inf"), unsafe_simulator=True)


def test_in_range_seconds_still_read() -> None:
    assert to_datetime(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert to_datetime(1751624191.5).microsecond == 500000
