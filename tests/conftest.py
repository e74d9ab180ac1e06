"""Shared test fixtures: where the real-world vectors live, hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent

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


@pytest.fixture(scope="session")
def vectors() -> Path:
    """Path of the shared vectors; skips the test when they are absent."""
    found = shared_vectors_dir()
    if found is None:
        pytest.skip("shared vectors not found (set TDXQUOTE_VECTORS or place ../shared/vectors)")
    return found
