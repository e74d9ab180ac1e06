"""The README's first ten minutes: its two commands, its Python example, CI's command.

The README starts with two commands: the first installs tdxquote and runs it on what the
repository holds (the demo, and a verification of ``vectors/synthetic``), the second
installs the test dependencies and runs the tests, exactly as ``.ci/run`` does.  The slow
test clones the repository (committed files only) into a temporary folder with no
``../shared`` beside it and runs the first command there, in a fresh virtual environment.
That environment is made with ``python -m venv --system-site-packages`` and pip runs with
``PIP_NO_INDEX=1`` and no build isolation: the installed dependencies (and hatchling, a
test dependency) are used instead of downloads, so the test needs no network.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

README = REPO_ROOT / "README.md"


def readme_commands() -> list[str]:
    """The commands of the README's first ``sh`` block (comment lines left out)."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, "the README has no sh block"
    return [
        line
        for line in block.group(1).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_readme_starts_with_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.index("```sh") < text.index("## "), "the commands come before any section"
    install_and_run, install_and_test = readme_commands()
    assert install_and_run.startswith("python -m pip install . && tdxquote demo && ")
    assert "tdxquote verify vectors/" in install_and_run
    assert install_and_test == "python -m pip install -e '.[test]' && python -m pytest -q"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines()]
    assert readme_commands()[1] in lines
    assert "export TDXQUOTE_REQUIRE_VECTORS=1" in lines
    assert lines.index("export TDXQUOTE_REQUIRE_VECTORS=1") < lines.index(readme_commands()[1])


def _repository_files() -> set[str]:
    done = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    return set(done.stdout.splitlines())


def test_the_first_command_reads_only_committed_files() -> None:
    tracked = _repository_files()
    words = shlex.split(readme_commands()[0].replace('"$(cat ', " ").replace(')"', " "))
    paths = [word for word in words if "/" in word and not word.startswith("-")]
    assert paths, "the first command names the repository's vectors"
    assert all(path.startswith("vectors/") for path in paths)
    missing = [path for path in paths if path not in tracked]
    assert not missing, f"not committed: {missing}"


def test_the_readme_python_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    monkeypatch.chdir(REPO_ROOT)
    exec(compile(block.group(1), "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 TDX b0c06f000000"
    assert out[1].startswith("MRTD ")
    assert out[2] == "UpToDate ()"


def _clean_environment(venv: Path) -> dict[str, str]:
    """The environment of a stranger's shell in the venv: nothing of this checkout's."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
        and not key.startswith(("TDXQUOTE_", "PIP_", "PYTEST_"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    # Offline: the venv sees the installed dependencies (--system-site-packages) and
    # builds the package with the installed hatchling instead of downloading it.
    env["PIP_NO_INDEX"] = "1"
    env["PIP_NO_BUILD_ISOLATION"] = "0"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["TDXQUOTE_CACHE_DIR"] = str(venv / "cache")
    return env


@pytest.mark.slow
def test_the_first_command_works_in_a_clean_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    pytest.importorskip("hatchling", reason="hatchling (a test dependency) builds offline")
    _repository_files()
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = tmp_path / "tdxquote"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-checkout", str(REPO_ROOT), str(clone)], check=True
    )
    subprocess.run(["git", "checkout", "--quiet", head], cwd=clone, check=True)
    assert not (clone.parent / "shared").exists()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    done = subprocess.run(
        ["sh", "-c", readme_commands()[0]],
        cwd=clone,
        env=_clean_environment(venv),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "refused: quote_signature_invalid" in done.stdout  # the demo's tampered copy
    assert done.stdout.rstrip().splitlines()[-1] == "input: binary"
    assert "verdict: UpToDate (SGX_QL_QV_RESULT_OK)" in done.stdout.split("3. Flipped")[1]
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tdxquote; print(tdxquote.__file__)"],
        cwd=tmp_path,
        env=_clean_environment(venv),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in installed, f"tdxquote was not installed into the venv: {installed}"
