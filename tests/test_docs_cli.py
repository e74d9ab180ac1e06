"""docs/cli.md shows the real top-level help, and names every command."""

from __future__ import annotations

import pytest
from conftest import REPO_ROOT

from tdxquote.cli import COMMANDS, main


def test_help_block_is_the_real_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    start = text.index("$ tdxquote --help\n") + len("$ tdxquote --help\n")
    end = text.index("$ tdxquote --version")
    assert text[start:end] == out


def test_every_command_is_in_the_overview() -> None:
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in COMMANDS:
        name = command.__name__.rsplit(".", 1)[-1]
        assert f"`{name}" in text, name
