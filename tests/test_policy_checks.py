"""Custom policy checks: None passes, a raised PolicyError or any other return refuses.

``Policy().with_check(check)`` used to ignore what the check returned, so a
check written as a predicate (``return v.status == ...``) passed every quote.
Now a check passes only by returning None; anything else refuses with rule
``custom_check``, naming the check, also inside ``AllOf`` / ``AnyOf``.  The
``Check`` protocol takes its argument positionally, so an ordinary
``def my_check(v: VerifiedQuote) -> None`` type-checks under ``mypy --strict``
(``tests/typed_usage/`` is checked here).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

from tdxquote.testing.forge import DEFAULT_MR_TD, QuoteForge, Scenario
from tdxquote.verification import (
    AllOf,
    AnyOf,
    ExpectMrTd,
    Policy,
    PolicyError,
    VerifiedQuote,
    Verifier,
)

TYPED_USAGE = REPO_ROOT / "tests" / "typed_usage"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(b"test_policy_checks").scenario()


def _verify(scenario: Scenario, policy: Policy) -> VerifiedQuote:
    verifier = Verifier(trust_root=scenario.trust_root_der)
    return verifier.verify(
        scenario.quote_bytes, scenario.to_collateral(), now=scenario.now, policy=policy
    )


def _refused(scenario: Scenario, policy: Policy) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        _verify(scenario, policy)
    return caught.value


def _returning(value: object) -> Callable[[VerifiedQuote], Any]:
    def predicate(verified: VerifiedQuote) -> Any:
        return value

    return predicate


RETURNED = [False, True, 0, 1, "", "no", [], {"ok": False}, object()]


@pytest.mark.parametrize("value", RETURNED, ids=repr)
def test_regression_a_check_that_returns_a_value_refuses(scenario: Scenario, value: object) -> None:
    error = _refused(scenario, Policy().with_check(_returning(value)))
    assert (error.code, error.rule) == ("policy", "custom_check")
    assert "predicate" in error.message  # the check is named
    assert "instead of None" in error.message
    assert error.expected is None
    assert error.checks_passed[-1] == "tcb_level"
    error.to_dict()  # JSON-ready whatever was returned


@pytest.mark.parametrize("value", RETURNED, ids=repr)
def test_regression_a_returned_value_refuses_inside_any_of_and_all_of(
    scenario: Scenario, value: object
) -> None:
    # AnyOf used to take a check that returned False as one that held.
    any_of = AnyOf(ExpectMrTd(bytes(48)), _returning(value))
    error = _refused(scenario, Policy().with_check(any_of))
    assert error.rule == "any_of"
    assert "instead of None" in error.message
    all_of = AllOf(ExpectMrTd(DEFAULT_MR_TD), _returning(value))
    assert _refused(scenario, Policy().with_check(all_of)).rule == "custom_check"


def test_a_check_returning_none_passes_and_a_raised_policy_error_refuses(
    scenario: Scenario,
) -> None:
    def refuse(verified: VerifiedQuote) -> None:
        raise PolicyError("mine says no", rule="mine")

    assert _verify(scenario, Policy().with_check(_returning(None)).with_check(lambda v: None))
    assert _refused(scenario, Policy().with_check(refuse)).rule == "mine"
    assert _verify(scenario, Policy().with_check(AnyOf(refuse, _returning(None))))


def test_a_check_that_returns_a_coroutine_refuses_without_a_warning(scenario: Scenario) -> None:
    async def later() -> None:
        return None

    def starts_a_coroutine(verified: VerifiedQuote) -> Any:
        return later()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would be an error
        error = _refused(scenario, Policy().with_check(starts_a_coroutine))
    assert error.rule == "custom_check"


def test_a_check_that_is_not_a_synchronous_callable_is_refused_when_added() -> None:
    async def async_check(verified: VerifiedQuote) -> None:
        return None

    class AsyncCheck:
        async def __call__(self, verified: VerifiedQuote) -> None:
            return None

    for bad in ("not a check", None, 42):
        with pytest.raises(TypeError, match="must be callable"):
            Policy().with_check(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be callable"):
            AllOf(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be callable"):
            AnyOf(ExpectMrTd(DEFAULT_MR_TD), bad)  # type: ignore[arg-type]
    for coroutine_function in (async_check, AsyncCheck()):
        with pytest.raises(TypeError, match="is async"):
            Policy().with_check(coroutine_function)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be callable"):
        Policy(checks=("not a check",))  # type: ignore[arg-type]


# --- typing ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ordinary_checks_type_check_under_mypy_strict(tmp_path: Path) -> None:
    """Regression: ``def my_check(v: VerifiedQuote) -> None`` did not match ``Check``."""
    from mypy import api

    files = sorted(TYPED_USAGE.glob("*.py"))
    assert files
    out, err, _ = api.run(
        ["--strict", "--cache-dir", str(tmp_path / "mypy"), "--no-error-summary", *map(str, files)]
    )
    assert not err, err
    reported = set()
    for line in out.splitlines():
        match = re.match(r"(.+?):(\d+): error:", line)
        if match:
            reported.add((Path(match.group(1)).name, int(match.group(2))))
    expected = {
        (path.name, number)
        for path in files
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if text.rstrip().endswith("# mypy-error")
    }
    assert expected  # the snippet proves mypy can refuse, so a pass means something
    assert reported == expected, out
