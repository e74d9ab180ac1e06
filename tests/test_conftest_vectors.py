"""Tests that need the shared vectors are counted when they cannot run, and can be required.

A small suite with the project's conftest runs in a subprocess without the vectors: its
run ends with one line naming how many tests could not run and how to provide the folder;
with ``TDXQUOTE_REQUIRE_VECTORS=1`` those tests fail.  Parametrized cases listed from the
vectors collect as one placeholder that is counted the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

SUITE = """
import pytest
from conftest import vector_cases


def test_uses_the_fixture(vectors):
    assert vectors.is_dir()


@pytest.mark.parametrize("case", vector_cases([]))
def test_listed_from_the_vectors(case, vectors):
    assert case is not None


def test_runs_anyway():
    assert True
"""


def _run_suite(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    shutil.copyfile(REPO_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_suite.py").write_text(SUITE)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TDXQUOTE_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_missing_vectors_are_counted_in_one_line(tmp_path: Path) -> None:
    done = _run_suite(tmp_path, TDXQUOTE_VECTORS=str(tmp_path / "absent"))
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    summary = [line for line in lines if "could not run" in line]
    assert summary == [
        "2 tests could not run, skipped: they need the shared real-vector folder, not found at "
        f"{tmp_path / 'absent'}. Point TDXQUOTE_VECTORS at it (or place it at "
        "../shared/vectors) to run them; with TDXQUOTE_REQUIRE_VECTORS=1 its absence is a "
        "failure."
    ]
    assert lines.index(summary[0]) == len(lines) - 2  # just before the totals
    assert lines[-1].startswith("1 passed, 2 skipped")


def test_required_vectors_turn_the_skips_into_failures(tmp_path: Path) -> None:
    done = _run_suite(
        tmp_path, TDXQUOTE_VECTORS=str(tmp_path / "absent"), TDXQUOTE_REQUIRE_VECTORS="1"
    )
    assert done.returncode == 1, done.stdout
    assert "2 tests could not run, failed (TDXQUOTE_REQUIRE_VECTORS is set)" in done.stdout
    assert "1 passed, 2 errors" in done.stdout.splitlines()[-1]


def test_no_line_when_the_vectors_are_there(tmp_path: Path) -> None:
    (tmp_path / "vectors").mkdir()
    done = _run_suite(tmp_path, TDXQUOTE_VECTORS=str(tmp_path / "vectors"))
    assert "could not run" not in done.stdout
    # With the folder there but nothing listed from it, the placeholder runs and fails:
    # an empty listing is never a silent pass.
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1].startswith("1 failed, 2 passed")
