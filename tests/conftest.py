"""Shared test fixtures: where the real-world vectors live, hypothesis profiles.

Tests that need the shared real-world corpus take the ``vectors`` fixture
(or, for cases listed from the corpus at collection time, use
:func:`vector_cases`).  Without the corpus they are skipped, and one line at
the end of the run says how many and how to provide it; with
``TDXQUOTE_REQUIRE_VECTORS=1`` (CI sets it) they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent

VECTORS_MISSING = "shared vectors not found"
"""Start of the skip (or failure) message of every test that needs the shared vectors."""

REQUIRE_VECTORS_ENV = "TDXQUOTE_REQUIRE_VECTORS"

settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def shared_vectors_dir() -> Path | None:
    """The shared real-world corpus: ``$TDXQUOTE_VECTORS`` or ``../shared/vectors``."""
    configured = os.environ.get("TDXQUOTE_VECTORS")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "vectors"
    return candidate if candidate.is_dir() else None


def _vectors_required() -> bool:
    return os.environ.get(REQUIRE_VECTORS_ENV, "") not in ("", "0")


def vectors_missing() -> None:
    """Skip the running test for lack of the shared vectors (fail it when they are required)."""
    configured = os.environ.get("TDXQUOTE_VECTORS")
    where = f"TDXQUOTE_VECTORS={configured}" if configured else "../shared/vectors"
    message = f"{VECTORS_MISSING} ({where} is not a folder; set TDXQUOTE_VECTORS)"
    if _vectors_required():
        pytest.fail(f"{message} and {REQUIRE_VECTORS_ENV} is set", pytrace=False)
    pytest.skip(message)


def vector_cases(cases: Iterable[Any], ids: Iterable[str] | None = None) -> list[Any]:
    """Parametrize values listed from the shared vectors; one placeholder case without them.

    The placeholder is a case like any other: the test's ``vectors`` fixture
    then skips it (or fails it under ``TDXQUOTE_REQUIRE_VECTORS=1``), so a
    missing corpus is counted instead of silently collecting nothing.
    """
    listed = list(cases)
    if listed:
        return (
            listed
            if ids is None
            else [pytest.param(c, id=i) for c, i in zip(listed, ids, strict=True)]
        )
    return [pytest.param(None, id="no-shared-vectors", marks=pytest.mark.needs_vectors)]


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to servers on 127.0.0.1: a developer's proxy settings must not reroute them
    (tests/test_http_proxy.py sets its own)."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="session")
def vectors() -> Path:
    """Path of the shared vectors; skips the test when they are absent."""
    found = shared_vectors_dir()
    if found is None:
        vectors_missing()
    assert found is not None
    return found


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_vectors: a placeholder case that runs only with the shared vectors"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("needs_vectors") is not None and shared_vectors_dir() is None:
        vectors_missing()


def _is_vector_outcome(report: pytest.TestReport) -> bool:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).startswith(f"Skipped: {VECTORS_MISSING}")
    if report.failed:
        return VECTORS_MISSING in str(report.longrepr)
    return False


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: Any, exitstatus: int, config: pytest.Config
) -> Generator[None, None, None]:
    """Last line before the totals: how many tests could not run without the shared vectors."""
    yield  # pytest's own summaries (failures, the short test summary) first
    stats = terminalreporter.stats
    reports = [r for key in ("skipped", "failed", "error") for r in stats.get(key, [])]
    missing = sum(1 for report in reports if _is_vector_outcome(report))
    if not missing:
        return
    required = _vectors_required()
    outcome = f"failed ({REQUIRE_VECTORS_ENV} is set)" if required else "skipped"
    terminalreporter.write_line(
        f"{missing} tests could not run, {outcome}: they need the shared real-vector folder, "
        f"not found at {os.environ.get('TDXQUOTE_VECTORS') or '../shared/vectors'}. Point "
        "TDXQUOTE_VECTORS at it (or place it at ../shared/vectors) to run them; "
        f"with {REQUIRE_VECTORS_ENV}=1 its absence is a failure.",
        yellow=not required,
        red=required,
        bold=True,
    )
