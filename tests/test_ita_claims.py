"""ITA claims against the quote, and one Policy for the DCAP and ITA backends."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _helpers import budget
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import verify
from tdxquote._quote import Quote
from tdxquote.collateral import TcbStatus
from tdxquote.errors import ItaClaimsError, ItaFetchError, ItaTokenError
from tdxquote.ita import ItaClient, ItaVerifiedQuote, read_claims
from tdxquote.ita._token import read_header
from tdxquote.testing.forge import QuoteForge, Scenario, td_report
from tdxquote.testing.ita import ItaServer, TokenOptions, tdx_claims
from tdxquote.verification import Policy, PolicyError, TcbError, Verifier

DEBUG_ATTRIBUTES = bytes.fromhex("0100001000000000")


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(seed=b"ita claims tests")


@pytest.fixture(scope="module")
def scenario(forge: QuoteForge) -> Scenario:
    return forge.scenario(forge.quote(td_report(report_data=b"claims")))


@pytest.fixture
def server(scenario: Scenario) -> Iterator[ItaServer]:
    with ItaServer(now=scenario.now) as running:
        yield running


def appraise(server: ItaServer, quote: Quote, policy: Policy | None = None) -> ItaVerifiedQuote:
    with ItaClient(server.config()) as client:
        return client.appraise(quote, now=server.now + timedelta(seconds=2), policy=policy)


def claims_error(server: ItaServer, quote: Quote) -> ItaClaimsError:
    with pytest.raises(ItaClaimsError) as caught:
        appraise(server, quote)
    return caught.value


# --- every claim must be the quote's ---------------------------------------------------------


@pytest.mark.parametrize(
    "claim",
    ["tdx_mrtd", "tdx_mrseam", "tdx_rtmr0", "tdx_rtmr3", "tdx_mrconfigid", "tdx_mrowner"],
)
def test_a_measurement_claim_that_differs_is_refused(
    server: ItaServer, scenario: Scenario, claim: str
) -> None:
    server.token_options = TokenOptions(claims={claim: "ab" * 48})
    error = claims_error(server, scenario.quote)
    assert error.code == "ita_claims_mismatch"
    assert error.claim == claim
    assert error.actual == "ab" * 48


def test_an_unbound_tdx_report_data_is_refused(server: ItaServer, scenario: Scenario) -> None:
    server.token_options = TokenOptions(claims={"tdx_report_data": "00" * 64})
    error = claims_error(server, scenario.quote)
    assert error.claim == "tdx_report_data"
    assert error.expected == scenario.quote.body.report_data.hex()


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("tdx_td_attributes_debug", True),
        ("tdx_is_debuggable", True),
        ("tdx_td_attributes_septve_disable", False),
        ("dbgstat", "enabled"),
        ("tdx_seamsvn", 1),
        ("tdx_td_attributes", "0100001000000000"),
        ("tdx_xfam", "0000000000000000"),
    ],
)
def test_decoded_claims_must_agree_with_the_quote(
    server: ItaServer, scenario: Scenario, claim: str, value: Any
) -> None:
    server.token_options = TokenOptions(claims={claim: value})
    error = claims_error(server, scenario.quote)
    assert error.code == "ita_claims_mismatch"
    assert error.claim == claim


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("tdx_mrtd", None),
        ("tdx_report_data", None),
        ("attester_tcb_status", None),
        ("attester_type", "SGX"),
        ("attester_tcb_status", "Fine"),
        ("tdx_mrtd", "0x" + "00" * 47),
        ("tdx_rtmr1", "zz" * 48),
        ("tdx_rtmr2", 5),
        ("tdx_td_attributes_debug", "false"),
        ("attester_advisory_ids", "INTEL-SA-00001"),
        ("attester_tcb_date", "yesterday"),
        ("tdx_seamsvn", 1 << 20),
        ("dbgstat", "unknown-state"),
    ],
)
def test_missing_or_malformed_claims_are_refused(
    server: ItaServer, scenario: Scenario, claim: str, value: Any
) -> None:
    server.token_options = TokenOptions(claims={claim: value})
    error = claims_error(server, scenario.quote)
    assert error.code == "ita_claims_invalid"
    assert error.claim == claim


def test_a_tdx_claim_that_is_not_an_object_is_refused(
    server: ItaServer, scenario: Scenario
) -> None:
    server.token_options = TokenOptions(top_claims={"tdx": "nope"})
    assert claims_error(server, scenario.quote).claim == "tdx"


def test_unknown_claims_are_ignored(server: ItaServer, scenario: Scenario) -> None:
    server.token_options = TokenOptions(
        claims={"tdx_future_claim": {"x": 1}, "tdx_is_migratable": 7}
    )
    assert appraise(server, scenario.quote).status is TcbStatus.UP_TO_DATE


def test_claims_of_the_local_server_match_the_quote(scenario: Scenario) -> None:
    claims = read_claims({"tdx": tdx_claims(scenario.quote)})
    assert claims.layout == "v2"
    assert claims.value("tdx_mrtd") == scenario.quote.body.mr_td
    assert claims.flags["tdx_td_attributes_septve_disable"] is True
    assert claims.seam_svn == int.from_bytes(scenario.quote.body.tee_tcb_svn[:2], "little")


# --- the TCB part of the verdict --------------------------------------------------------------


def test_status_advisories_and_tcb_date_come_from_the_token(
    server: ItaServer, scenario: Scenario
) -> None:
    server.token_options = TokenOptions(
        tcb_status="SWHardeningNeeded",
        advisory_ids=("INTEL-SA-00615", "INTEL-SA-00657", "INTEL-SA-00615"),
        tcb_date=datetime(2023, 8, 9, tzinfo=timezone.utc),
    )
    policy = Policy().allow_statuses("SWHardeningNeeded")
    verified = appraise(server, scenario.quote, policy)
    assert verified.status is TcbStatus.SW_HARDENING_NEEDED
    assert verified.advisory_ids == ("INTEL-SA-00615", "INTEL-SA-00657")
    assert verified.tcb_level.tcb_date == datetime(2023, 8, 9, tzinfo=timezone.utc)
    document = json.loads(verified.to_json())
    assert document["backend"] == "ita"
    assert document["token"]["kid"] == server.kid
    assert document["supplemental"] is None
    assert document["body"]["mr_td"] == scenario.quote.body.mr_td.hex()


def test_the_default_policy_accepts_up_to_date_only(server: ItaServer, scenario: Scenario) -> None:
    server.token_options = TokenOptions(tcb_status="OutOfDate")
    with pytest.raises(PolicyError) as caught:
        appraise(server, scenario.quote)
    assert caught.value.rule == "accepted_statuses"


def test_revoked_is_refused_whatever_the_policy(server: ItaServer, scenario: Scenario) -> None:
    server.token_options = TokenOptions(tcb_status="Revoked")
    with pytest.raises(TcbError) as caught:
        appraise(server, scenario.quote, Policy().allow_statuses(*TcbStatus))
    assert caught.value.code == "tcb_revoked"


def test_a_grace_period_needs_both_graces_and_an_out_of_date_status(
    server: ItaServer, scenario: Scenario
) -> None:
    tcb_date = scenario.now - timedelta(days=10)
    grace = timedelta(days=30)
    server.token_options = TokenOptions(tcb_status="OutOfDate", tcb_date=tcb_date)
    with pytest.raises(PolicyError):
        appraise(server, scenario.quote, Policy().platform_grace_period(grace))
    both = Policy().platform_grace_period(grace).qe_grace_period(grace)
    assert appraise(server, scenario.quote, both).status is TcbStatus.OUT_OF_DATE
    server.token_options = TokenOptions(tcb_status="SWHardeningNeeded", tcb_date=tcb_date)
    with pytest.raises(PolicyError):
        appraise(server, scenario.quote, both)


def test_a_missing_tcb_date_never_satisfies_a_grace(server: ItaServer, scenario: Scenario) -> None:
    server.token_options = TokenOptions(tcb_status="OutOfDate", tcb_date=None)
    grace = timedelta(days=3650)
    with pytest.raises(PolicyError):
        appraise(
            server, scenario.quote, Policy().platform_grace_period(grace).qe_grace_period(grace)
        )


@pytest.mark.parametrize(
    "policy",
    [
        Policy().min_tcb_evaluation_data_number(1),
        Policy().accept_sgx_types(0, 1, 2),
        Policy().allow_smt(False),
        Policy().allow_dynamic_platform(False),
    ],
)
def test_policies_on_facts_ita_does_not_report_refuse(
    server: ItaServer, scenario: Scenario, policy: Policy
) -> None:
    with pytest.raises(PolicyError):
        appraise(server, scenario.quote, policy)


# --- one policy, either backend --------------------------------------------------------------


def both_verdicts(server: ItaServer, scenario: Scenario, policy: Policy) -> list[str]:
    outcomes = []
    for run in (
        lambda: verify(
            scenario.quote,
            scenario.to_collateral(),
            now=scenario.now,
            policy=policy,
            trust_root=scenario.trust_root_der,
        ),
        lambda: appraise(server, scenario.quote, policy),
    ):
        try:
            outcomes.append(str(run().status))
        except PolicyError as error:
            outcomes.append(f"refused:{error.rule}")
    return outcomes


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Policy(), "UpToDate"),
        (Policy().expect_mr_td("00" * 48), "refused:expect_mr_td"),
        (Policy().expect_report_data(b"claims".ljust(64, b"\0")), "UpToDate"),
        (Policy().expect_rtmr(3, "11" * 48), "refused:expect_rtmr3"),
        (Policy().xfam_rule(forbidden=1), "refused:xfam_rule"),
        (Policy().td_attributes_rule(required=1 << 28), "UpToDate"),
    ],
)
def test_a_policy_written_once_applies_to_both_backends(
    scenario: Scenario, policy: Policy, expected: str
) -> None:
    with ItaServer(
        now=scenario.now,
        verifier=Verifier(trust_root=scenario.trust_root_der, collateral=scenario.to_collateral()),
    ) as server:
        assert both_verdicts(server, scenario, policy) == [expected, expected]


def test_a_debug_td_is_refused_by_both_backends(forge: QuoteForge) -> None:
    debug = forge.scenario(forge.quote(td_report(td_attributes=DEBUG_ATTRIBUTES)))
    with ItaServer(now=debug.now) as server:
        assert both_verdicts(server, debug, Policy()) == ["refused:debug", "refused:debug"]
        allowed = Policy().unsafe_allow_debug()
        assert both_verdicts(server, debug, allowed) == ["UpToDate", "UpToDate"]


def test_a_server_verifying_with_dcap_refuses_a_forged_quote(forge: QuoteForge) -> None:
    bad = forge.scenario(forge.quote(td_report(), bad_quote_signature=True))
    verifier = Verifier(trust_root=bad.trust_root_der, collateral=bad.to_collateral())
    with (
        ItaServer(now=bad.now, verifier=verifier) as server,
        pytest.raises(ItaFetchError) as caught,
    ):
        appraise(server, bad.quote)
    assert caught.value.status == 400
    assert "quote_signature_invalid" in caught.value.message


def test_an_sgx_quote_is_refused_before_any_request(forge: QuoteForge) -> None:
    from tdxquote.testing.forge import sgx_report
    from tdxquote.verification import QuoteFormatError

    with ItaServer() as server:
        with pytest.raises(QuoteFormatError):
            appraise(server, forge.quote(sgx_report()))
        assert server.requests == []


# --- hostile input never escapes as anything else ---------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


_CLAIM_NAMES = [
    "tdx",
    "tdx_mrtd",
    "tdx_report_data",
    "attester_type",
    "attester_tcb_status",
    "attester_tcb_date",
    "attester_advisory_ids",
    "tdx_seamsvn",
    "dbgstat",
    "tdx_td_attributes_debug",
    "tdx_rtmr0",
]


@budget(100)
@given(st.dictionaries(st.sampled_from(_CLAIM_NAMES), _JSON, max_size=8))
def test_read_claims_raises_only_claims_errors(claims: dict[str, Any]) -> None:
    with contextlib.suppress(ItaClaimsError):
        read_claims(claims)


@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.hex()))
def test_read_header_raises_only_token_errors(token: str) -> None:
    with pytest.raises(ItaTokenError) as caught:
        read_header(token)
    assert caught.value.code == "ita_token_malformed"
