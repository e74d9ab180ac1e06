"""Grace periods: exact date arithmetic that never overflows, and values checked when given.

A signed ``tcbDate`` of 9999-12-31 plus a grace period, or a grace of
``timedelta.max``, used to end in ``OverflowError``; ``--platform-grace-days
1e400`` too.  The policy now compares ``now - grace <= tcbDate`` (exact, and a
bound beyond the calendar is simply later than every ``now``), the builder
refuses a negative or non-``timedelta`` grace, and the CLI refuses a number of
days that is not finite, negative or above 100 years (exit 2).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdxquote.cli import main
from tdxquote.collateral import TcbStatus
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pki import (
    DEFAULT_QE_ISVSVN,
    DEFAULT_TEE_TCB_SVN,
    isv_tcb_level,
    qe_identity,
    tcb_info,
    tcb_level,
)
from tdxquote.verification import Policy, PolicyError, VerifiedQuote, Verifier
from tdxquote.verification._policy import within_grace

END_OF_CALENDAR = datetime(9999, 12, 31, tzinfo=timezone.utc)
UTC = timezone.utc


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(b"test_policy_grace")


def _out_of_date(
    forge: QuoteForge, *, platform_date: datetime | None = None, qe_date: datetime | None = None
) -> Scenario:
    """A platform (or QE) level OutOfDate, dated ``platform_date`` (or ``qe_date``)."""
    platform = {"status": "OutOfDate", "date": platform_date} if platform_date else {}
    info = tcb_info(tcb_levels=[tcb_level(tdx=DEFAULT_TEE_TCB_SVN, **platform)])
    qe = {"status": "OutOfDate", "date": qe_date} if qe_date else {}
    identity = qe_identity(
        tcb_levels=[isv_tcb_level(DEFAULT_QE_ISVSVN + 1), isv_tcb_level(DEFAULT_QE_ISVSVN, **qe)]
    )
    return forge.scenario(forge.quote(), tcb_info=info, qe_identity=identity)


def _verify(scenario: Scenario, policy: Policy) -> VerifiedQuote:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    return verifier.verify(
        scenario.quote_bytes, scenario.to_collateral(), now=scenario.now, policy=policy
    )


@pytest.mark.parametrize("grace", [timedelta(days=1), timedelta.max], ids=["1 day", "max"])
def test_regression_a_tcb_date_at_the_end_of_the_calendar_plus_grace(
    forge: QuoteForge, grace: timedelta
) -> None:
    # tcbDate + grace is past datetime.max: the bound is later than now, so within grace.
    platform = _out_of_date(forge, platform_date=END_OF_CALENDAR)
    verified = _verify(platform, Policy().platform_grace_period(grace))
    assert verified.status is TcbStatus.OUT_OF_DATE
    qe = _out_of_date(forge, qe_date=END_OF_CALENDAR)
    assert _verify(qe, Policy().qe_grace_period(grace)).qe_status is TcbStatus.OUT_OF_DATE
    # the grace of the other part still does not excuse it
    with pytest.raises(PolicyError, match="not accepted"):
        _verify(qe, Policy().platform_grace_period(grace))


def test_the_largest_grace_with_an_old_tcb_date(forge: QuoteForge) -> None:
    # now - timedelta.max is before year 1: every tcbDate is within such a grace.
    scenario = _out_of_date(forge, platform_date=datetime(2019, 1, 1, tzinfo=UTC))
    policy = Policy().platform_grace_period(timedelta.max)
    assert _verify(scenario, policy).status is TcbStatus.OUT_OF_DATE
    with pytest.raises(PolicyError):
        _verify(scenario, Policy().platform_grace_period(timedelta(days=1)))


@pytest.mark.parametrize("option", ["platform_grace_period", "qe_grace_period"])
def test_the_builder_refuses_a_grace_it_cannot_use(option: str) -> None:
    build = getattr(Policy(), option)
    with pytest.raises(ValueError, match="cannot be negative"):
        build(timedelta(seconds=-1))
    for bad in (30, 30.0, "30 days", None, datetime(2030, 1, 1, tzinfo=UTC)):
        with pytest.raises(TypeError, match=f"{option}: expected a datetime.timedelta"):
            build(bad)
    assert build(timedelta(0))  # zero is a grace that ends on the tcbDate itself


def test_a_policy_built_directly_is_checked_too() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        Policy(platform_grace=timedelta(days=-1))
    with pytest.raises(TypeError, match="qe_grace"):
        Policy(qe_grace=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="min_tcb_evaluation_data_number"):
        Policy().min_tcb_evaluation_data_number("17")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="min_tcb_evaluation_data_number"):
        Policy().min_tcb_evaluation_data_number(True)


_ALL_DATES = st.datetimes(timezones=st.just(UTC))
_GRACES = st.timedeltas(min_value=timedelta(0))
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def _microseconds(value: datetime | timedelta) -> int:
    delta = value - _EPOCH if isinstance(value, datetime) else value
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@given(now=_ALL_DATES, tcb_date=_ALL_DATES, grace=_GRACES)
def test_within_grace_is_exact_and_never_raises(
    now: datetime, tcb_date: datetime, grace: timedelta
) -> None:
    exact = _microseconds(now) <= _microseconds(tcb_date) + _microseconds(grace)
    assert within_grace(now, tcb_date, grace) is exact


# --- the CLI -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def out_of_date_files(
    forge: QuoteForge, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[str], Scenario]:
    scenario = _out_of_date(forge, platform_date=END_OF_CALENDAR, qe_date=END_OF_CALENDAR)
    folder = tmp_path_factory.mktemp("grace")
    (folder / "quote.bin").write_bytes(scenario.quote_bytes)
    (folder / "collateral.json").write_text(scenario.collateral_json())
    (folder / "root.pem").write_bytes(scenario.trust_root_pem)
    args = [
        str(folder / "quote.bin"),
        "--collateral",
        str(folder / "collateral.json"),
        "--trust-root",
        str(folder / "root.pem"),
        "--at",
        str(int(scenario.now.timestamp())),
    ]
    return args, scenario


@pytest.mark.parametrize("flag", ["--platform-grace-days", "--qe-grace-days"])
@pytest.mark.parametrize(
    "days", ["1e400", "inf", "-inf", "nan", "-1", "-0.5", "36500.5", "1e9", "soon"]
)
def test_regression_cli_grace_days_are_checked(
    out_of_date_files: tuple[list[str], Scenario],
    capsys: pytest.CaptureFixture[str],
    flag: str,
    days: str,
) -> None:
    args, _ = out_of_date_files
    assert main(["verify", *args, f"{flag}={days}"]) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err
    assert "Traceback" not in err


def test_cli_grace_days_in_range_work_past_the_end_of_the_calendar(
    out_of_date_files: tuple[list[str], Scenario], capsys: pytest.CaptureFixture[str]
) -> None:
    args, _ = out_of_date_files
    both = ["--platform-grace-days", "36500", "--qe-grace-days", "0"]
    assert main(["verify", *args, *both]) == 0
    assert "OutOfDate" in capsys.readouterr().out
    assert main(["verify", *args, "--platform-grace-days", "0.5"]) == 1  # the QE has no grace
    capsys.readouterr()
