"""The caller's policy: every option accepts and refuses, on forged scenarios.

A refusal is a :class:`PolicyError` whose ``rule``, ``expected`` and ``actual``
say why (or, for expired collateral, a :class:`CollateralExpiredError`).  Each
option can be set once.  Time is always pinned (``REFERENCE_TIME``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tdxquote.collateral import TcbStatus
from tdxquote.errors import VerificationError
from tdxquote.testing.forge import (
    DEFAULT_MR_SEAM,
    DEFAULT_MR_TD,
    DEFAULT_TD_ATTRIBUTES,
    DEFAULT_XFAM,
    ENCLAVE_ATTRIBUTES,
    QuoteForge,
    Scenario,
    sgx_report,
    td_report,
)
from tdxquote.testing.pki import (
    DEFAULT_NEXT_UPDATE,
    DEFAULT_QE_ISVSVN,
    DEFAULT_TCB_DATE,
    DEFAULT_TEE_TCB_SVN,
    REFERENCE_TIME,
    isv_tcb_level,
    qe_identity,
    tcb_info,
    tcb_level,
    tdx_module,
    tdx_module_identity,
)
from tdxquote.verification import (
    AllOf,
    AnyOf,
    CollateralExpiredError,
    ExpectField,
    ExpectMrTd,
    ExpectReportData,
    ExpectRtmr,
    Policy,
    PolicyError,
    VerifiedQuote,
    Verifier,
    verify,
)

SECOND = timedelta(seconds=1)
QE_TCB_DATE = datetime(2024, 11, 12, tzinfo=timezone.utc)
ADVISORIES = ("INTEL-SA-00615", "INTEL-SA-00289")
OTHER = bytes.fromhex("11") * 48
RTMR2 = bytes.fromhex("22") * 48
REPORT_DATA = b"policy nonce".ljust(64, b"\0")
# TD_ATTRIBUTES and XFAM as the policy reads them: little-endian integers.
SEPT_VE_DISABLE = 1 << 28
DEBUG = 1
XFAM = int.from_bytes(DEFAULT_XFAM, "little")
AMX_TILEDATA = 1 << 18


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(b"test_policy")


def _verify(scenario: Scenario, policy: Policy | None = None) -> VerifiedQuote:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    return verifier.verify(
        scenario.quote_bytes, scenario.to_collateral(), now=scenario.now, policy=policy
    )


def _refused(scenario: Scenario, policy: Policy | None, rule: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        _verify(scenario, policy)
    error = caught.value
    assert (error.code, error.rule) == ("policy", rule), error.message
    assert error.checks_passed[-1] in ("tcb_level", "td_relaunch")
    return error


def _with_status(
    forge: QuoteForge,
    status: str,
    *,
    qe_status: str = "UpToDate",
    advisories: tuple[str, ...] = (),
    body: Any = None,
) -> Scenario:
    info = tcb_info(
        tcb_levels=[
            tcb_level(tdx=DEFAULT_TEE_TCB_SVN, status=status, advisories=advisories),
        ]
    )
    identity = qe_identity(
        tcb_levels=[
            isv_tcb_level(DEFAULT_QE_ISVSVN + 1),
            isv_tcb_level(DEFAULT_QE_ISVSVN, status=qe_status, date=QE_TCB_DATE),
        ]
    )
    return forge.scenario(forge.quote(body), tcb_info=info, qe_identity=identity)


# --- the default ---------------------------------------------------------------------------


def test_default_accepts_up_to_date(forge: QuoteForge) -> None:
    verified = _verify(forge.scenario(), Policy())
    assert verified.status is TcbStatus.UP_TO_DATE
    assert verified.checks[-1] == "tcb_level"


def test_default_refuses_other_statuses(forge: QuoteForge) -> None:
    error = _refused(_with_status(forge, "SWHardeningNeeded"), Policy(), "accepted_statuses")
    assert error.expected == ["UpToDate"]
    assert error.actual == "SWHardeningNeeded"


def test_verifier_policy_and_per_call_policy(forge: QuoteForge) -> None:
    scenario = _with_status(forge, "SWHardeningNeeded")
    lenient = Policy().allow_statuses(TcbStatus.SW_HARDENING_NEEDED)
    verifier = Verifier(trust_root=scenario.trust_root_der, policy=lenient)
    collateral = scenario.to_collateral()
    assert verifier.verify(scenario.quote, collateral, now=scenario.now).status is (
        TcbStatus.SW_HARDENING_NEEDED
    )
    with pytest.raises(PolicyError):
        verifier.verify(scenario.quote, collateral, now=scenario.now, policy=Policy())


# --- TCB --------------------------------------------------------------------------------------


def test_allow_statuses(forge: QuoteForge) -> None:
    scenario = _with_status(forge, "ConfigurationNeeded")
    for allowed in (TcbStatus.CONFIGURATION_NEEDED, "ConfigurationNeeded"):
        policy = Policy().allow_statuses(allowed)
        assert _verify(scenario, policy).status is TcbStatus.CONFIGURATION_NEEDED
        # UpToDate stays accepted
        assert _verify(forge.scenario(), policy).status is TcbStatus.UP_TO_DATE
    error = _refused(scenario, Policy().allow_statuses("OutOfDate"), "accepted_statuses")
    assert error.expected == ["OutOfDate", "UpToDate"]
    assert error.actual == "ConfigurationNeeded"
    with pytest.raises(ValueError, match="Bogus"):
        Policy().allow_statuses("Bogus")


def test_reject_advisories(forge: QuoteForge) -> None:
    scenario = _with_status(forge, "UpToDate", advisories=ADVISORIES)
    verified = _verify(scenario, Policy().reject_advisories("INTEL-SA-00001"))
    assert verified.advisory_ids == tuple(sorted(ADVISORIES))
    error = _refused(
        scenario,
        Policy().reject_advisories("INTEL-SA-00289", "INTEL-SA-00001"),
        "rejected_advisory_ids",
    )
    assert error.expected == ["INTEL-SA-00001", "INTEL-SA-00289"]
    assert error.actual == sorted(ADVISORIES)


def _platform_out_of_date(forge: QuoteForge, qe_status: str = "UpToDate") -> Scenario:
    return _with_status(forge, "OutOfDate", qe_status=qe_status)


PLATFORM_GRACE = REFERENCE_TIME - DEFAULT_TCB_DATE
QE_GRACE = REFERENCE_TIME - QE_TCB_DATE


def test_platform_grace_period_boundary(forge: QuoteForge) -> None:
    scenario = _platform_out_of_date(forge)
    # accepted while now <= tcbDate + period
    verified = _verify(scenario, Policy().platform_grace_period(PLATFORM_GRACE))
    assert verified.status is TcbStatus.OUT_OF_DATE
    error = _refused(
        scenario, Policy().platform_grace_period(PLATFORM_GRACE - SECOND), "accepted_statuses"
    )
    assert error.actual == "OutOfDate"
    # the QE's grace does not excuse the platform
    _refused(scenario, Policy().qe_grace_period(timedelta(days=10_000)), "accepted_statuses")


def test_platform_grace_covers_out_of_date_configuration_needed(forge: QuoteForge) -> None:
    scenario = _with_status(forge, "OutOfDateConfigurationNeeded")
    policy = Policy().platform_grace_period(PLATFORM_GRACE)
    assert _verify(scenario, policy).status is TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED


@pytest.mark.parametrize(
    "status", ["SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"]
)
def test_grace_periods_do_not_excuse_other_statuses(status: str, forge: QuoteForge) -> None:
    long = timedelta(days=10_000)
    policy = Policy().platform_grace_period(long).qe_grace_period(long)
    _refused(_with_status(forge, status), policy, "accepted_statuses")


def test_qe_grace_period_boundary(forge: QuoteForge) -> None:
    scenario = _with_status(forge, "UpToDate", qe_status="OutOfDate")
    verified = _verify(scenario, Policy().qe_grace_period(QE_GRACE))
    assert (verified.status, verified.qe_status) == (TcbStatus.OUT_OF_DATE, TcbStatus.OUT_OF_DATE)
    _refused(scenario, Policy().qe_grace_period(QE_GRACE - SECOND), "accepted_statuses")


def test_qe_grace_applies_to_every_level_intel_reads_as_out_of_date(forge: QuoteForge) -> None:
    # Regression: a QE level "ConfigurationNeeded" is OutOfDate to Intel (and converges so),
    # but the QE grace period only looked for the literal OutOfDate statuses.
    scenario = _with_status(forge, "UpToDate", qe_status="ConfigurationNeeded")
    verified = _verify(scenario, Policy().qe_grace_period(QE_GRACE))
    assert verified.status is TcbStatus.OUT_OF_DATE
    _refused(scenario, Policy().qe_grace_period(QE_GRACE - SECOND), "accepted_statuses")


def test_platform_grace_does_not_excuse_an_out_of_date_qe(forge: QuoteForge) -> None:
    # Regression: with the platform within its grace, an OutOfDate QE was accepted without
    # any QE grace period.
    scenario = _platform_out_of_date(forge, qe_status="OutOfDate")
    _refused(scenario, Policy().platform_grace_period(PLATFORM_GRACE), "accepted_statuses")
    _refused(scenario, Policy().qe_grace_period(QE_GRACE), "accepted_statuses")
    both = Policy().platform_grace_period(PLATFORM_GRACE).qe_grace_period(QE_GRACE)
    assert _verify(scenario, both).status is TcbStatus.OUT_OF_DATE
    late_qe = Policy().platform_grace_period(PLATFORM_GRACE).qe_grace_period(QE_GRACE - SECOND)
    _refused(scenario, late_qe, "accepted_statuses")


def test_min_tcb_evaluation_data_number(forge: QuoteForge) -> None:
    # The smaller of the TCB Info's (18) and the QE identity's (17).
    scenario = forge.scenario(
        tcb_info=tcb_info(tcb_evaluation_data_number=18),
        qe_identity=qe_identity(tcb_evaluation_data_number=17),
    )
    verified = _verify(scenario, Policy().min_tcb_evaluation_data_number(17))
    assert verified.supplemental.tcb_evaluation_data_number == 17
    error = _refused(
        scenario, Policy().min_tcb_evaluation_data_number(18), "min_tcb_evaluation_data_number"
    )
    assert (error.expected, error.actual) == (18, 17)


# --- platform -----------------------------------------------------------------------------


def test_accept_sgx_types(forge: QuoteForge) -> None:
    scenario = forge.scenario()  # Platform CA leaf: Scalable (1)
    assert _verify(scenario, Policy().accept_sgx_types(1, 2)).supplemental.sgx_type == 1
    error = _refused(scenario, Policy().accept_sgx_types(2, 0), "accepted_sgx_types")
    assert (error.expected, error.actual) == ([0, 2], 1)


CONFIGURATION_OPTIONS: dict[str, Callable[[Policy, bool], Policy]] = {
    "dynamic_platform": Policy.allow_dynamic_platform,
    "cached_keys": Policy.allow_cached_keys,
    "smt": Policy.allow_smt,
}


@pytest.mark.parametrize("rule", list(CONFIGURATION_OPTIONS))
def test_platform_configuration_flags(rule: str, forge: QuoteForge) -> None:
    option = CONFIGURATION_OPTIONS[rule]
    flags_set = forge.scenario()  # the default Platform CA leaf: every flag True
    assert _verify(flags_set, option(Policy(), True)).status is TcbStatus.UP_TO_DATE
    error = _refused(flags_set, option(Policy(), False), rule)
    assert (error.expected, error.actual) == (False, True)
    flags_clear = forge.replace(leaf=forge.pki.issue_pck(configuration=(False, False, False)))
    assert _verify(flags_clear.scenario(), option(Policy(), False)).status is TcbStatus.UP_TO_DATE
    # A Processor CA leaf has no configuration: unknown is refused too.
    processor = QuoteForge.create(b"test_policy", ca="processor")
    error = _refused(processor.scenario(), option(Policy(), False), rule)
    assert error.actual is None


# --- the TD -------------------------------------------------------------------------------


def _td(forge: QuoteForge, **fields: Any) -> Scenario:
    return forge.scenario(forge.quote(td_report(**fields)))


def test_expect_mr_td(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    for policy in (
        Policy().expect_mr_td(DEFAULT_MR_TD),
        Policy().expect_mr_td(OTHER.hex(), DEFAULT_MR_TD.hex().upper()),
    ):
        assert _verify(scenario, policy).body.mr_td == DEFAULT_MR_TD  # type: ignore[union-attr]
    error = _refused(scenario, Policy().expect_mr_td(OTHER, bytes(48)), "expect_mr_td")
    assert (error.expected, error.actual) == ((OTHER, bytes(48)), DEFAULT_MR_TD)
    assert error.to_dict()["expected"] == [OTHER.hex(), bytes(48).hex()]
    assert error.to_dict()["actual"] == DEFAULT_MR_TD.hex()


def test_expect_mr_seam(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    assert _verify(scenario, Policy().expect_mr_seam(OTHER, DEFAULT_MR_SEAM))
    error = _refused(scenario, Policy().expect_mr_seam(OTHER), "expect_mr_seam")
    assert (error.expected, error.actual) == ((OTHER,), DEFAULT_MR_SEAM)


@pytest.mark.parametrize("index", range(4))
def test_expect_rtmr(index: int, forge: QuoteForge) -> None:
    rtmrs = [bytes(48)] * 4
    rtmrs[index] = RTMR2
    scenario = _td(forge, rtmrs=rtmrs)
    assert _verify(scenario, Policy().expect_rtmr(index, RTMR2.hex()))
    error = _refused(scenario, Policy().expect_rtmr(index, bytes(48)), f"expect_rtmr{index}")
    assert (error.expected, error.actual) == ((bytes(48),), RTMR2)


def test_expect_rtmr_several_indexes(forge: QuoteForge) -> None:
    scenario = _td(forge, rtmrs=[bytes(48), bytes(48), RTMR2, bytes(48)])
    policy = Policy().expect_rtmr(0, bytes(48)).expect_rtmr(2, RTMR2)
    assert _verify(scenario, policy)
    _refused(scenario, Policy().expect_rtmr(0, bytes(48)).expect_rtmr(1, RTMR2), "expect_rtmr1")
    for index in (-1, 4):
        with pytest.raises(ValueError, match="RTMR index"):
            Policy().expect_rtmr(index, bytes(48))


@pytest.mark.parametrize(
    ("option", "field", "value"),
    [
        ("expect_mr_config_id", "mr_config_id", bytes.fromhex("33") * 48),
        ("expect_mr_owner", "mr_owner", bytes.fromhex("44") * 48),
        ("expect_report_data", "report_data", REPORT_DATA),
    ],
)
def test_exact_field_expectations(option: str, field: str, value: bytes, forge: QuoteForge) -> None:
    scenario = _td(forge, **{field: value})
    assert _verify(scenario, getattr(Policy(), option)(value.hex()))
    wrong = bytes(len(value))
    error = _refused(scenario, getattr(Policy(), option)(wrong), f"expect_{field}")
    assert (error.expected, error.actual) == ((wrong,), value)


def test_an_expectation_on_a_field_the_body_lacks_refuses(forge: QuoteForge) -> None:
    scenario = forge.scenario(forge.quote(sgx_report()))
    error = _refused(scenario, Policy().expect_mr_td(DEFAULT_MR_TD), "expect_mr_td")
    assert error.actual is None


def test_expectation_values_are_checked_when_built() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        Policy().expect_mr_td()
    with pytest.raises(ValueError, match=r"mr_td: 'not hex' is not hex"):
        Policy().expect_mr_td("not hex")
    with pytest.raises(ValueError, match="at least one value"):
        ExpectField("mr_td")


def test_xfam_rule(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    assert _verify(scenario, Policy().xfam_rule(required=AMX_TILEDATA, forbidden=1 << 40))
    error = _refused(scenario, Policy().xfam_rule(forbidden=AMX_TILEDATA), "xfam_rule")
    assert (error.expected, error.actual) == ({"required": 0, "forbidden": AMX_TILEDATA}, XFAM)
    error = _refused(scenario, Policy().xfam_rule(required=1 << 40), "xfam_rule")
    assert (error.expected, error.actual) == ({"required": 1 << 40, "forbidden": 0}, XFAM)


def test_td_attributes_rule(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    attributes = int.from_bytes(DEFAULT_TD_ATTRIBUTES, "little")
    assert attributes == SEPT_VE_DISABLE
    assert _verify(scenario, Policy().td_attributes_rule(required=SEPT_VE_DISABLE, forbidden=DEBUG))
    error = _refused(
        scenario, Policy().td_attributes_rule(forbidden=SEPT_VE_DISABLE), "td_attributes_rule"
    )
    assert error.actual == SEPT_VE_DISABLE
    _refused(scenario, Policy().td_attributes_rule(required=1 << 30), "td_attributes_rule")


@pytest.mark.parametrize(
    ("policy", "rule"),
    [
        (Policy().xfam_rule(required=1), "xfam_rule"),
        (Policy().td_attributes_rule(forbidden=DEBUG), "td_attributes_rule"),
    ],
    ids=["xfam", "td_attributes"],
)
def test_td_bit_rules_refuse_an_sgx_quote(policy: Policy, rule: str, forge: QuoteForge) -> None:
    # Regression: the bit rules were skipped for SGX quotes, so a policy requiring XFAM bits
    # accepted an enclave's quote.
    scenario = forge.scenario(forge.quote(sgx_report()))
    error = _refused(scenario, policy, rule)
    assert error.actual is None
    assert _verify(scenario, Policy())


# --- debug and the Intel TDX module ---------------------------------------------------------


def test_debug_td_refused_by_default(forge: QuoteForge) -> None:
    attributes = bytes([DEFAULT_TD_ATTRIBUTES[0] | DEBUG]) + DEFAULT_TD_ATTRIBUTES[1:]
    scenario = _td(forge, td_attributes=attributes)
    error = _refused(scenario, Policy(), "debug")
    assert (error.expected, error.actual) == (False, True)
    verified = _verify(scenario, Policy().unsafe_allow_debug())
    assert verified.body.is_debug


def test_debug_enclave_refused_by_default(forge: QuoteForge) -> None:
    attributes = bytes([ENCLAVE_ATTRIBUTES[0] | 0x02]) + ENCLAVE_ATTRIBUTES[1:]
    scenario = forge.scenario(forge.quote(sgx_report(attributes=attributes)))
    _refused(scenario, Policy(), "debug")
    assert _verify(scenario, Policy().unsafe_allow_debug()).body.is_debug


def _svn(*head: int) -> bytes:
    return bytes(head) + bytes(16 - len(head))


def test_non_intel_tdx_module_refused(forge: QuoteForge) -> None:
    # TEE_TCB_SVN[1] == 0 with a non-zero MRSIGNERSEAM that the TCB Info's tdxModule
    # expects: the pipeline's module check passes, only the policy refuses.
    signer = bytes.fromhex("5a") * 48
    svn = _svn(6, 0, 3)
    info = tcb_info(tcb_levels=[tcb_level(tdx=svn)], tdx_module=tdx_module(mrsigner=signer))
    scenario = forge.scenario(
        forge.quote(td_report(tee_tcb_svn=svn, mr_signer_seam=signer)), tcb_info=info
    )
    error = _refused(scenario, Policy(), "intel_tdx_module")
    assert (error.expected, error.actual) == (bytes(48), signer)
    assert "tdx_module_identity" in error.checks_passed
    _refused(scenario, Policy().unsafe_allow_debug().allow_statuses(*TcbStatus), "intel_tdx_module")


def test_module_identity_signer_is_not_the_policys_concern(forge: QuoteForge) -> None:
    # TEE_TCB_SVN[1] > 0: the TDX_01 identity vouches for the signer; the policy rule is
    # for TDX 1.0-style modules only.
    signer = bytes.fromhex("5a") * 48
    info = tcb_info(tdx_module_identities=[tdx_module_identity(mrsigner=signer)])
    scenario = forge.scenario(forge.quote(td_report(mr_signer_seam=signer)), tcb_info=info)
    assert _verify(scenario, Policy()).status is TcbStatus.UP_TO_DATE


# --- expired collateral ---------------------------------------------------------------------


def test_expired_collateral_refused_by_default_and_flagged_when_allowed(forge: QuoteForge) -> None:
    scenario = forge.scenario(tcb_info=tcb_info(next_update=REFERENCE_TIME))
    with pytest.raises(CollateralExpiredError) as caught:
        _verify(scenario, Policy())
    assert caught.value.code == "collateral_expired"
    verified = _verify(scenario, Policy().unsafe_allow_expired_collateral())
    assert verified.collateral_expired
    assert verified.supplemental.earliest_expiration_date == REFERENCE_TIME
    assert verified.to_dict()["supplemental"]["collateral_expired"] is True


def test_expiry_is_judged_before_the_status(forge: QuoteForge) -> None:
    scenario = _with_status(forge, "SWHardeningNeeded").replace(now=DEFAULT_NEXT_UPDATE)
    with pytest.raises(CollateralExpiredError):
        _verify(scenario, Policy())
    # allowing expiry loosens nothing else
    _refused(scenario, Policy().unsafe_allow_expired_collateral(), "accepted_statuses")


# --- time ----------------------------------------------------------------------------------


def test_now_as_unix_seconds_and_naive_datetimes(forge: QuoteForge) -> None:
    scenario = forge.scenario(tcb_info=tcb_info(next_update=REFERENCE_TIME + SECOND))
    quote, collateral, root = (
        scenario.quote_bytes,
        scenario.to_collateral(),
        scenario.trust_root_der,
    )
    reference = verify(quote, collateral, now=REFERENCE_TIME, trust_root=root).to_dict()
    naive = REFERENCE_TIME.replace(tzinfo=None)
    for now in (scenario.now_timestamp, float(scenario.now_timestamp), naive):
        assert verify(quote, collateral, now=now, trust_root=root).to_dict() == reference
    # a naive datetime is UTC: one second later is exactly the TCB Info's nextUpdate
    for now in (naive + SECOND, scenario.now_timestamp + 1):
        with pytest.raises(CollateralExpiredError):
            verify(quote, collateral, now=now, trust_root=root)
    # another time zone is the same instant
    paris = REFERENCE_TIME.astimezone(timezone(timedelta(hours=2)))
    assert verify(quote, collateral, now=paris, trust_root=root).to_dict() == reference


@pytest.mark.parametrize("now", [True, "1748736000", None])
def test_now_of_another_type_is_a_type_error(now: Any, forge: QuoteForge) -> None:
    scenario = forge.scenario()
    with pytest.raises(TypeError):
        verify(
            scenario.quote_bytes,
            scenario.to_collateral(),
            now=now,
            trust_root=scenario.trust_root_der,
        )


# --- composition and custom checks ----------------------------------------------------------


def _refuse_with(rule: str) -> Callable[[VerifiedQuote], None]:
    def check(verified: VerifiedQuote) -> None:
        raise PolicyError(f"{rule} says no", rule=rule, expected="yes", actual="no")

    return check


def _accept(verified: VerifiedQuote) -> None:
    assert verified.status is TcbStatus.UP_TO_DATE


def test_custom_callables(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    seen: list[VerifiedQuote] = []
    verified = _verify(scenario, Policy().with_check(seen.append).with_check(_accept))
    assert seen == [verified]
    error = _refused(
        scenario, Policy().with_check(_accept).with_check(_refuse_with("mine")), "mine"
    )
    assert (error.expected, error.actual) == ("yes", "no")
    assert error.checks_passed[-1] == "tcb_level"


def test_all_of(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    with pytest.raises(ValueError, match="accepts anything"):
        AllOf()
    assert _verify(scenario, Policy().with_check(AllOf(_accept, ExpectMrTd(DEFAULT_MR_TD))))
    both = AllOf(ExpectMrTd(DEFAULT_MR_TD), _refuse_with("second"), _refuse_with("third"))
    _refused(scenario, Policy().with_check(both), "second")


def test_any_of(forge: QuoteForge) -> None:
    scenario = _td(forge, report_data=REPORT_DATA)
    with pytest.raises(ValueError, match="at least one check"):
        AnyOf()
    one = AnyOf(ExpectMrTd(OTHER), ExpectReportData(REPORT_DATA), _refuse_with("never reached"))
    assert _verify(scenario, Policy().with_check(one))
    none = AnyOf(ExpectMrTd(OTHER), ExpectRtmr(3, OTHER), _refuse_with("custom"))
    error = _refused(scenario, Policy().with_check(none), "any_of")
    assert "mr_td is" in error.message
    assert "rtmr3 is" in error.message
    assert "custom says no" in error.message


def test_nested_composition(forge: QuoteForge) -> None:
    scenario = forge.scenario()
    check = AllOf(AnyOf(ExpectMrTd(OTHER), ExpectMrTd(DEFAULT_MR_TD)), ExpectRtmr(0, bytes(48)))
    assert _verify(scenario, Policy().with_check(check))
    check = AnyOf(AllOf(ExpectMrTd(DEFAULT_MR_TD), ExpectRtmr(0, OTHER)), ExpectMrTd(OTHER))
    _refused(scenario, Policy().with_check(check), "any_of")


# --- building policies ------------------------------------------------------------------------

SET_ONCE: dict[str, Callable[[Policy], Policy]] = {
    "allow_statuses": lambda p: p.allow_statuses(TcbStatus.OUT_OF_DATE),
    "reject_advisories": lambda p: p.reject_advisories("INTEL-SA-00615"),
    "platform_grace_period": lambda p: p.platform_grace_period(timedelta(days=1)),
    "qe_grace_period": lambda p: p.qe_grace_period(timedelta(days=1)),
    "min_tcb_evaluation_data_number": lambda p: p.min_tcb_evaluation_data_number(17),
    "accept_sgx_types": lambda p: p.accept_sgx_types(0),
    "allow_dynamic_platform": lambda p: p.allow_dynamic_platform(False),
    "allow_cached_keys": lambda p: p.allow_cached_keys(False),
    "allow_smt": lambda p: p.allow_smt(False),
    "expect_mr_td": lambda p: p.expect_mr_td(DEFAULT_MR_TD),
    "expect_mr_seam": lambda p: p.expect_mr_seam(DEFAULT_MR_SEAM),
    "expect_rtmr": lambda p: p.expect_rtmr(1, bytes(48)),
    "expect_mr_config_id": lambda p: p.expect_mr_config_id(bytes(48)),
    "expect_mr_owner": lambda p: p.expect_mr_owner(bytes(48)),
    "expect_report_data": lambda p: p.expect_report_data(bytes(64)),
    "xfam_rule": lambda p: p.xfam_rule(required=1),
    "td_attributes_rule": lambda p: p.td_attributes_rule(forbidden=1),
    "unsafe_allow_debug": lambda p: p.unsafe_allow_debug(),
    "unsafe_allow_expired_collateral": lambda p: p.unsafe_allow_expired_collateral(),
}


@pytest.mark.parametrize("option", list(SET_ONCE))
def test_each_option_can_be_set_once(option: str) -> None:
    set_option = SET_ONCE[option]
    policy = set_option(Policy())
    with pytest.raises(ValueError, match="already set"):
        set_option(policy)
    # the builder is immutable: a fresh policy is unaffected, other options still compose
    set_option(Policy())
    for other, set_other in SET_ONCE.items():
        if other != option:
            set_other(policy)


def test_set_once_covers_every_option() -> None:
    methods = {
        name
        for name in vars(Policy)
        if not name.startswith("_") and callable(getattr(Policy, name))
    }
    assert methods - set(SET_ONCE) == {"apply", "with_check"}


def test_policy_error_survives_pickling() -> None:
    error = PolicyError("no", rule="expect_mr_td", expected=(OTHER,), actual=DEFAULT_MR_TD)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.rule, copy.expected, copy.actual, copy.code) == (
        "expect_mr_td",
        (OTHER,),
        DEFAULT_MR_TD,
        "policy",
    )
    assert isinstance(copy, VerificationError)
