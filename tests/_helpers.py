"""Helpers several test modules share: the verifier's check names, a PCCS serving a
scenario, a Hypothesis example budget.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from hypothesis import settings

from tdxquote.testing.forge import Scenario
from tdxquote.testing.pccs import PccsServer

# The checks a TDX quote passes, in the verifier's order.
TDX_PIPELINE = (
    "quote_format",
    "pck_chain",
    "crls",
    "pck_not_revoked",
    "tcb_info_signature",
    "qe_identity_signature",
    "tcb_info_matches",
    "tdx_module_identity",
    "qe_report_signature",
    "qe_report_data",
    "qe_identity",
    "quote_signature",
    "tcb_level",
)


def serving(scenario: Scenario) -> Iterator[PccsServer]:
    """A PCCS on 127.0.0.1 serving ``scenario``'s collateral; ``yield from`` it in a fixture."""
    with PccsServer() as running:
        running.add_collateral(scenario.to_collateral())
        yield running


T = TypeVar("T")

# The ci profile (loaded by conftest) is bounded; under "fuzz" every test gets its budget.
_BOUNDED = settings.default.max_examples < 10_000


def budget(ci_examples: int) -> Callable[[T], T]:
    """Cap a test at ``ci_examples`` under a bounded profile; no cap under "fuzz"."""

    def apply(test: T) -> T:
        if _BOUNDED:
            return settings(max_examples=ci_examples)(test)  # type: ignore[no-any-return]
        return test

    return apply


# The fields tdxquote._reference.reference_fields returns, named as on Quote.
REFERENCE_FIELDS = (
    "header",
    "body_type",
    "body",
    "signed_bytes",
    "signature",
    "attestation_key",
    "qe_report",
    "qe_report_signature",
    "qe_auth_data",
    "qe_report_certification_type",
    "certification_data",
    "trailing_bytes",
)
