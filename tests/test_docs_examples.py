"""The Python in the README and docs type-checks as users' code would, and names public API.

Every ```python block of README.md and docs/*.md is checked with mypy --strict.  A block
may use names the reader supplies (``quote_bytes``, ``collateral``): mypy's
``name-defined`` error is off, so those are ``Any``, and everything else is checked.
Blocks with a top-level ``await`` are checked inside an ``async def``.  Docs name public
modules only: ``tdxquote._scan`` and the like are private and may change.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from conftest import REPO_ROOT

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]

MISSING_OK = ("psycopg_ratls",)
"""Modules of other projects that docs show for comparison; not installed here."""


def python_blocks(path: Path) -> list[str]:
    """The ```python blocks of a Markdown file."""
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


def _as_module(code: str) -> str:
    if re.search(r"\bawait\b|\basync (with|for)\b", code):
        return "async def _example() -> None:\n" + textwrap.indent(code, "    ") + "\n"
    return code


def test_there_are_examples_to_check() -> None:
    assert len(python_blocks(REPO_ROOT / "README.md")) == 1
    assert sum(len(python_blocks(path)) for path in DOCUMENTS) >= 10


@pytest.mark.slow
def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api", reason="mypy is a test dependency")
    files = []
    for path in DOCUMENTS:
        for index, code in enumerate(python_blocks(path)):
            name = f"{path.stem.replace('-', '_')}_example_{index}.py"
            (tmp_path / name).write_text(_as_module(code), encoding="utf-8")
            files.append(str(tmp_path / name))
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\n"
        "strict = True\n"
        "disable_error_code = name-defined\n"
        # dask (the Dask example of performance.md) ships untyped functions
        "untyped_calls_exclude = dask,distributed\n"
        f"mypy_path = {REPO_ROOT}\n"
        "follow_imports = silent\n"
        + "".join(f"[mypy-{name}.*]\nignore_missing_imports = True\n" for name in MISSING_OK)
        + "[mypy-construct.*,diskcache.*,dcap_qvl.*]\nignore_missing_imports = True\n",
        encoding="utf-8",
    )
    out, err, status = api.run(
        ["--config-file", str(config), "--cache-dir", str(tmp_path / "cache"), *files]
    )
    assert status == 0, out + err


def test_docs_name_only_public_modules() -> None:
    # A developer command (`python -m tdxquote._layout_derive`) is not an API reference.
    private = re.compile(r"(?<!python -m )\btdxquote\.(?:[a-z_]+\.)*_[a-z]\w*")
    found = [
        f"{path.name}: {match.group(0)}"
        for path in [*DOCUMENTS, REPO_ROOT / "vectors" / "README.md"]
        for match in private.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found, found
