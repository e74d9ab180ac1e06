"""The caller's policy: an immutable builder applied after every DCAP check passed.

Each option can be set once (a second call raises ``ValueError``); every
loosening has a name that says so (``unsafe_allow_*``).  Every value is
checked when the policy is built: a measurement of the wrong length, a grace
period that is not a non-negative ``timedelta``, a check that is not callable
raise ``ValueError`` / ``TypeError`` there, never a policy that quietly
refuses or accepts everything.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from .._measurements import MeasurementInput, body_field_size, measurements
from .._reports import SgxReport
from ..collateral import TcbStatus
from ..errors import CollateralExpiredError, PolicyError
from ._qe import qe_status_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._result import VerifiedQuote

__all__ = [
    "AllOf",
    "AnyOf",
    "Check",
    "ExpectField",
    "ExpectMrTd",
    "ExpectReportData",
    "ExpectRtmr",
    "Policy",
    "run_check",
]

_OUT_OF_DATE = frozenset({TcbStatus.OUT_OF_DATE, TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED})


class Check(Protocol):
    """A custom policy check: return None to pass, raise :class:`PolicyError` to refuse.

    Any ordinary ``def my_check(verified: VerifiedQuote) -> None`` matches
    (the parameter is positional-only, so its name is free).  A check that
    returns anything but None (``False``, ``True``, a coroutine) refuses the
    quote: see :func:`run_check`.
    """

    def __call__(self, verified: VerifiedQuote, /) -> None: ...


CUSTOM_CHECK_RULE = "custom_check"
"""The ``rule`` of the :class:`PolicyError` raised when a check returns something."""


def _check_name(check: object) -> str:
    name = getattr(check, "__qualname__", None)
    return name if isinstance(name, str) else type(check).__qualname__


def _validated_check(check: object, where: str) -> Check:
    if not callable(check):
        raise TypeError(f"{where}: a check must be callable, got {type(check).__name__}")
    if inspect.iscoroutinefunction(check) or inspect.iscoroutinefunction(check.__call__):
        raise TypeError(f"{where}: {_check_name(check)} is async; a check must be synchronous")
    return cast(Check, check)


def _shown(result: object) -> str:
    text = repr(result)
    return text if len(text) <= 80 else text[:77] + "..."


def run_check(check: Check, verified: VerifiedQuote) -> None:
    """Run one check; a raised :class:`PolicyError` refuses, and so does any return but None.

    A check that returns a value (``False`` meaning "no", ``True``, a
    coroutine that was never awaited, ...) is refused with rule
    ``custom_check``: a check whose answer cannot be read never passes.
    """
    # Typed as returning None, but user code may return anything: read it as an object.
    result = cast("Callable[[VerifiedQuote], object]", check)(verified)
    if result is None:
        return
    if inspect.iscoroutine(result):
        result.close()  # never awaited: close it so Python does not warn
    shown = _shown(result)
    raise PolicyError(
        f"the check {_check_name(check)} returned {shown} instead of None: a check passes "
        "by returning None and refuses by raising PolicyError",
        rule=CUSTOM_CHECK_RULE,
        expected=None,
        actual=result if isinstance(result, (bool, int, float, str)) else shown,
    )


class AllOf:
    """Every check must pass.  An empty ``AllOf`` is an error (it would accept anything)."""

    def __init__(self, *checks: Check) -> None:
        if not checks:
            raise ValueError("AllOf() needs at least one check: an empty AllOf accepts anything")
        self.checks = tuple(_validated_check(c, "AllOf") for c in checks)

    def __call__(self, verified: VerifiedQuote, /) -> None:
        for check in self.checks:
            run_check(check, verified)


class AnyOf:
    """At least one check must pass; the refusal lists why each one failed."""

    def __init__(self, *checks: Check) -> None:
        if not checks:
            raise ValueError("AnyOf() needs at least one check")
        self.checks = tuple(_validated_check(c, "AnyOf") for c in checks)

    def __call__(self, verified: VerifiedQuote, /) -> None:
        reasons = []
        for check in self.checks:
            try:
                run_check(check, verified)
            except PolicyError as exc:
                reasons.append(exc.message)
            else:
                return
        raise PolicyError("no alternative of AnyOf holds: " + "; ".join(reasons), rule="any_of")


class ExpectField:
    """A body field must equal one of the given values (bytes, or hex text).

    ``field_name`` is a byte field of the report body (``mr_td``, ``rtmr3``,
    ``report_data``, ``mr_enclave`` ...); each value must have that field's
    exact length, checked here (``ValueError`` naming the field otherwise).
    """

    def __init__(self, field_name: str, *values: MeasurementInput) -> None:
        size = body_field_size(field_name)
        self.field_name = field_name
        self.values = measurements(values, field=field_name, size=size)

    def __call__(self, verified: VerifiedQuote, /) -> None:
        actual = getattr(verified.quote.body, self.field_name, None)
        if actual is None:
            raise PolicyError(
                f"the quote body has no {self.field_name}",
                rule=f"expect_{self.field_name}",
                expected=self.values,
                actual=None,
            )
        if actual not in self.values:
            expected = " or ".join(v.hex() for v in self.values)
            raise PolicyError(
                f"{self.field_name} is {actual.hex()}, expected {expected}",
                rule=f"expect_{self.field_name}",
                expected=self.values,
                actual=actual,
            )


def ExpectMrTd(*values: MeasurementInput) -> ExpectField:
    """MRTD must equal one of ``values`` (48 bytes each)."""
    return ExpectField("mr_td", *values)


def ExpectReportData(value: MeasurementInput) -> ExpectField:
    """REPORTDATA must equal ``value`` (64 bytes)."""
    return ExpectField("report_data", value)


def ExpectRtmr(index: int, value: MeasurementInput) -> ExpectField:
    """RTMR ``index`` (0 to 3) must equal ``value`` (48 bytes)."""
    if isinstance(index, bool) or not isinstance(index, int) or index not in range(4):
        raise ValueError(f"RTMR index must be 0 to 3, got {index!r}")
    return ExpectField(f"rtmr{index}", value)


def _grace(option: str, period: object) -> timedelta:
    if not isinstance(period, timedelta):
        raise TypeError(f"{option}: expected a datetime.timedelta, got {type(period).__name__}")
    if period < timedelta(0):
        raise ValueError(f"{option}: a grace period cannot be negative, got {period}")
    return period


def within_grace(now: datetime, tcb_date: datetime, grace: timedelta) -> bool:
    """``now <= tcb_date + grace``, exactly, for every representable value.

    Computed as ``now - grace <= tcb_date`` so a ``tcbDate`` near year 9999
    cannot overflow; when ``now - grace`` falls before year 1 every
    ``tcb_date`` is later, so the answer is True (the bound the caller set is
    simply beyond the calendar).  ``grace`` is never negative (the builder
    refuses it).
    """
    try:
        return now - grace <= tcb_date
    except OverflowError:
        return True


def _refuse(rule: str, message: str, expected: object, actual: object) -> PolicyError:
    return PolicyError(message, rule=rule, expected=expected, actual=actual)


@dataclass(frozen=True)
class Policy:
    """What the caller accepts, beyond Intel's verdict.

    The default accepts only ``UpToDate``, refuses debug TDs and enclaves,
    refuses a TD 1.0 whose MRSIGNERSEAM is not Intel's (all zero), and refuses
    expired collateral.  Build variations with the methods; each returns a new
    policy and each option can be set once.
    """

    accepted_statuses: frozenset[TcbStatus] = frozenset({TcbStatus.UP_TO_DATE})
    rejected_advisory_ids: frozenset[str] = frozenset()
    platform_grace: timedelta | None = None
    qe_grace: timedelta | None = None
    min_tcb_eval: int | None = None
    accepted_sgx_types: frozenset[int] | None = None
    dynamic_platform_allowed: bool = True
    cached_keys_allowed: bool = True
    smt_allowed: bool = True
    debug_allowed: bool = False
    expired_collateral_allowed: bool = False
    xfam_required: int = 0
    xfam_forbidden: int = 0
    td_attributes_required: int = 0
    td_attributes_forbidden: int = 0
    checks: tuple[Check, ...] = ()
    _set: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        # Also guards policies built with the constructor or dataclasses.replace.
        for name in ("platform_grace", "qe_grace"):
            value = getattr(self, name)
            if value is not None:
                _grace(name, value)
        minimum = self.min_tcb_eval
        if minimum is not None and (isinstance(minimum, bool) or not isinstance(minimum, int)):
            raise TypeError(
                f"min_tcb_evaluation_data_number: expected an int, got {type(minimum).__name__}"
            )
        for check in self.checks:
            _validated_check(check, "Policy check")

    def _with(self, option: str, **changes: Any) -> Policy:
        if option in self._set:
            raise ValueError(f"policy option {option!r} is already set")
        return replace(self, _set=self._set | {option}, **changes)

    # --- TCB ------------------------------------------------------------------------
    def allow_statuses(self, *statuses: TcbStatus | str) -> Policy:
        """Accept these TCB statuses in addition to ``UpToDate``."""
        extra = frozenset(TcbStatus(s) for s in statuses)
        return self._with("allow_statuses", accepted_statuses=self.accepted_statuses | extra)

    def reject_advisories(self, *advisory_ids: str) -> Policy:
        """Refuse a quote whose matched levels carry any of these advisory IDs."""
        return self._with("reject_advisories", rejected_advisory_ids=frozenset(advisory_ids))

    def platform_grace_period(self, period: timedelta) -> Policy:
        """Accept an OutOfDate platform while ``now`` <= its matched level's tcbDate + period.

        ``period`` must be a non-negative ``timedelta`` (``TypeError`` /
        ``ValueError`` otherwise); see :func:`within_grace` for bounds past year 9999.
        """
        period = _grace("platform_grace_period", period)
        return self._with("platform_grace_period", platform_grace=period)

    def qe_grace_period(self, period: timedelta) -> Policy:
        """Accept an OutOfDate QE while ``now`` <= its identity level's tcbDate + period.

        ``period`` must be a non-negative ``timedelta``, as for :meth:`platform_grace_period`.
        """
        return self._with("qe_grace_period", qe_grace=_grace("qe_grace_period", period))

    def min_tcb_evaluation_data_number(self, number: int) -> Policy:
        """Refuse collateral older than this TCB evaluation data number (an int)."""
        return self._with("min_tcb_evaluation_data_number", min_tcb_eval=number)

    # --- platform -------------------------------------------------------------------
    def accept_sgx_types(self, *sgx_types: int) -> Policy:
        """Accept only these PCK SGX types (0 Standard, 1 Scalable, 2 ScalableWithIntegrity)."""
        return self._with("accept_sgx_types", accepted_sgx_types=frozenset(sgx_types))

    def allow_dynamic_platform(self, allowed: bool) -> Policy:
        """Whether a dynamic platform (PCK configuration) is acceptable."""
        return self._with("allow_dynamic_platform", dynamic_platform_allowed=allowed)

    def allow_cached_keys(self, allowed: bool) -> Policy:
        """Whether cached platform keys (PCK configuration) are acceptable."""
        return self._with("allow_cached_keys", cached_keys_allowed=allowed)

    def allow_smt(self, allowed: bool) -> Policy:
        """Whether SMT (hyper-threading, PCK configuration) is acceptable."""
        return self._with("allow_smt", smt_allowed=allowed)

    # --- TD -------------------------------------------------------------------------
    def expect_mr_td(self, *values: MeasurementInput) -> Policy:
        """MRTD must equal one of ``values`` (48 bytes each: bytes, or hex text)."""
        return self._with("expect_mr_td", checks=(*self.checks, ExpectMrTd(*values)))

    def expect_mr_seam(self, *values: MeasurementInput) -> Policy:
        """MRSEAM must equal one of ``values`` (48 bytes each)."""
        return self._with("expect_mr_seam", checks=(*self.checks, ExpectField("mr_seam", *values)))

    def expect_rtmr(self, index: int, value: MeasurementInput) -> Policy:
        """RTMR ``index`` must equal ``value`` (48 bytes; each index can be set once)."""
        check = ExpectRtmr(index, value)
        return self._with(f"expect_rtmr{index}", checks=(*self.checks, check))

    def expect_mr_config_id(self, value: MeasurementInput) -> Policy:
        """MRCONFIGID must equal ``value`` (48 bytes)."""
        check = ExpectField("mr_config_id", value)
        return self._with("expect_mr_config_id", checks=(*self.checks, check))

    def expect_mr_owner(self, value: MeasurementInput) -> Policy:
        """MROWNER must equal ``value`` (48 bytes)."""
        return self._with("expect_mr_owner", checks=(*self.checks, ExpectField("mr_owner", value)))

    def expect_report_data(self, value: MeasurementInput) -> Policy:
        """REPORTDATA must equal ``value`` (64 bytes)."""
        return self._with("expect_report_data", checks=(*self.checks, ExpectReportData(value)))

    def xfam_rule(self, *, required: int = 0, forbidden: int = 0) -> Policy:
        """XFAM must have every ``required`` bit and no ``forbidden`` bit."""
        return self._with("xfam_rule", xfam_required=required, xfam_forbidden=forbidden)

    def td_attributes_rule(self, *, required: int = 0, forbidden: int = 0) -> Policy:
        """TD_ATTRIBUTES must have every ``required`` bit and no ``forbidden`` bit."""
        return self._with(
            "td_attributes_rule", td_attributes_required=required, td_attributes_forbidden=forbidden
        )

    def with_check(self, check: Check) -> Policy:
        """Add a custom check (compose several with :class:`AllOf` / :class:`AnyOf`).

        ``check(verified)`` passes by returning None and refuses by raising
        :class:`PolicyError`; any other return value refuses too (rule
        ``custom_check``, see :func:`run_check`).  A non-callable or async
        check is a ``TypeError`` here.
        """
        check = _validated_check(check, "with_check")
        return replace(self, checks=(*self.checks, check))

    # --- unsafe ---------------------------------------------------------------------
    def unsafe_allow_debug(self) -> Policy:
        """Accept debug TDs and enclaves: their memory is NOT confidential."""
        return self._with("unsafe_allow_debug", debug_allowed=True)

    def unsafe_allow_expired_collateral(self) -> Policy:
        """Accept collateral outside its validity window (Intel's non-fatal expiry)."""
        return self._with("unsafe_allow_expired_collateral", expired_collateral_allowed=True)

    # --- application ----------------------------------------------------------------
    def apply(self, verified: VerifiedQuote, now: datetime) -> None:
        """Raise :class:`PolicyError` (or :class:`CollateralExpiredError`) unless acceptable."""
        supplemental = verified.supplemental
        if supplemental.collateral_expired and not self.expired_collateral_allowed:
            state = (
                "is expired" if supplemental.earliest_expiration_date <= now else "is not yet valid"
            )
            raise CollateralExpiredError(
                f"collateral {state} at "
                f"{now.isoformat()} (earliest expiration "
                f"{supplemental.earliest_expiration_date.isoformat()}, latest issue "
                f"{supplemental.latest_issue_date.isoformat()})"
            )
        self._apply_tcb(verified, now)
        self._apply_platform(verified)
        self._apply_body(verified)
        for check in self.checks:
            run_check(check, verified)

    def _apply_tcb(self, verified: VerifiedQuote, now: datetime) -> None:
        status = verified.status
        if status not in self.accepted_statuses:
            # Each out-of-date part needs its own grace: a platform grace never excuses the QE.
            platform_late = verified.platform_status in _OUT_OF_DATE
            qe_late = qe_status_of(verified.qe_tcb_level) is TcbStatus.OUT_OF_DATE
            platform_ok = not platform_late or (
                self.platform_grace is not None
                and within_grace(now, verified.tcb_level.tcb_date, self.platform_grace)
            )
            qe_ok = not qe_late or (
                self.qe_grace is not None
                and within_grace(now, verified.qe_tcb_level.tcb_date, self.qe_grace)
            )
            graced = (platform_late or qe_late) and platform_ok and qe_ok
            if not graced:
                accepted = sorted(str(s) for s in self.accepted_statuses)
                raise _refuse(
                    "accepted_statuses",
                    f"TCB status {status} is not accepted (accepted: {', '.join(accepted)})",
                    accepted,
                    str(status),
                )
        bad = self.rejected_advisory_ids.intersection(verified.advisory_ids)
        if bad:
            raise _refuse(
                "rejected_advisory_ids",
                f"the TCB carries rejected advisories: {', '.join(sorted(bad))}",
                sorted(self.rejected_advisory_ids),
                list(verified.advisory_ids),
            )
        number = verified.supplemental.tcb_evaluation_data_number
        minimum = self.min_tcb_eval
        if minimum is not None and number < minimum:
            raise _refuse(
                "min_tcb_evaluation_data_number",
                f"TCB evaluation data number {number} is below the minimum {minimum}",
                minimum,
                number,
            )

    def _apply_platform(self, verified: VerifiedQuote) -> None:
        supplemental = verified.supplemental
        if (
            self.accepted_sgx_types is not None
            and supplemental.sgx_type not in self.accepted_sgx_types
        ):
            raise _refuse(
                "accepted_sgx_types",
                f"SGX type {supplemental.sgx_type} is not accepted",
                sorted(self.accepted_sgx_types),
                supplemental.sgx_type,
            )
        for allowed, flag, name in (
            (self.dynamic_platform_allowed, supplemental.dynamic_platform, "dynamic platform"),
            (self.cached_keys_allowed, supplemental.cached_keys, "cached keys"),
            (self.smt_allowed, supplemental.smt_enabled, "SMT"),
        ):
            if not allowed and flag is not False:
                raise _refuse(
                    name.replace(" ", "_").lower(),
                    f"{name} is not allowed by the policy (the PCK says {flag})",
                    False,
                    flag,
                )

    def _apply_body(self, verified: VerifiedQuote) -> None:
        body = verified.quote.body
        if isinstance(body, SgxReport):
            if body.is_debug and not self.debug_allowed:
                raise _refuse("debug", "the enclave is a debug enclave", False, True)
            # An enclave has no XFAM or TD_ATTRIBUTES: a rule about them cannot hold.
            for name, required, forbidden in (
                ("xfam", self.xfam_required, self.xfam_forbidden),
                ("td_attributes", self.td_attributes_required, self.td_attributes_forbidden),
            ):
                if required or forbidden:
                    raise _refuse(
                        f"{name}_rule",
                        f"the quote is an SGX enclave's: it has no {name.upper()}",
                        {"required": required, "forbidden": forbidden},
                        None,
                    )
            return
        if body.is_debug and not self.debug_allowed:
            raise _refuse("debug", "the TD is a debug TD (TD_ATTRIBUTES.DEBUG is set)", False, True)
        if body.tee_tcb_svn[1] == 0 and any(body.mr_signer_seam):
            raise _refuse(
                "intel_tdx_module",
                "MRSIGNERSEAM is not zero: the TDX module is not signed by Intel",
                bytes(48),
                body.mr_signer_seam,
            )
        for value, required, forbidden, name in (
            (int.from_bytes(body.xfam, "little"), self.xfam_required, self.xfam_forbidden, "xfam"),
            (
                int.from_bytes(body.td_attributes, "little"),
                self.td_attributes_required,
                self.td_attributes_forbidden,
                "td_attributes",
            ),
        ):
            if value & required != required or value & forbidden:
                raise _refuse(
                    f"{name}_rule",
                    f"{name.upper()} {value:016x} breaks the rule (required {required:016x}, "
                    f"forbidden {forbidden:016x})",
                    {"required": required, "forbidden": forbidden},
                    value,
                )
