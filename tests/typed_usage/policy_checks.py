"""Ordinary user code that ``mypy --strict`` must accept (checked by tests/test_policy_checks.py).

Lines that mypy must refuse end in ``# mypy-error``; every other line must pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from tdxquote import Policy, VerifiedQuote
from tdxquote.collateral import TcbStatus
from tdxquote.verification import AllOf, AnyOf, Check, ExpectMrTd, PolicyError


def my_check(v: VerifiedQuote) -> None:
    if v.status is not TcbStatus.UP_TO_DATE:
        raise PolicyError("not up to date", rule="mine")


def check_with_another_name(verified_quote: VerifiedQuote) -> None:
    del verified_quote


@dataclass(frozen=True)
class MinimumSvn:
    minimum: int

    def __call__(self, quote: VerifiedQuote) -> None:
        del quote


seen: list[VerifiedQuote] = []

policy = (
    Policy()
    .with_check(my_check)
    .with_check(check_with_another_name)
    .with_check(MinimumSvn(3))
    .with_check(seen.append)
    .with_check(lambda verified: None)
    .with_check(AllOf(my_check, ExpectMrTd("00" * 48)))
    .with_check(AnyOf(my_check, MinimumSvn(1)))
)
as_protocol: Check = my_check


def returns_a_bool(v: VerifiedQuote) -> bool:
    return v.status is TcbStatus.UP_TO_DATE


Policy().with_check(returns_a_bool)  # mypy-error
Policy().with_check(lambda verified: False)  # mypy-error
Policy().with_check("not a check")  # mypy-error
