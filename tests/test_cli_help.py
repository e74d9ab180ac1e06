"""Every option explains itself: help text with its value format and its default.

The test walks the whole argparse tree (every command and subcommand) and fails on an
option without help, an option taking a value without a metavar or choices, a help that
does not say its default, and choices not listed in the help.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from tdxquote import TcbStatus
from tdxquote._cli.verify import AT_HELP, TCB_STATUSES
from tdxquote.cli import build_parser, main


def _parsers(
    parser: argparse.ArgumentParser, name: str = "tdxquote"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub}")


def _options() -> Iterator[tuple[str, argparse.Action]]:
    for name, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if isinstance(action, argparse._VersionAction):
                continue
            yield name, action


OPTIONS = list(_options())


def _label(item: tuple[str, argparse.Action]) -> str:
    name, action = item
    return f"{name} {'/'.join(action.option_strings) or action.dest}"


def test_the_walk_finds_every_command() -> None:
    commands = {name for name, _ in _parsers(build_parser())}
    assert {"tdxquote verify", "tdxquote collateral fetch", "tdxquote cache"} <= commands
    assert len(OPTIONS) > 100


@pytest.mark.parametrize("item", OPTIONS, ids=[_label(item) for item in OPTIONS])
def test_every_option_explains_itself(item: tuple[str, argparse.Action]) -> None:
    _, action = item
    help_text = action.help or ""
    assert help_text.strip(), "no help"
    takes_value = action.nargs != 0
    if not takes_value:
        return
    assert action.metavar is not None or action.choices is not None, "no value format"
    expanded = help_text % {"choices": ", ".join(map(str, action.choices or ())), **vars(action)}
    if action.choices is not None:
        missing = [str(choice) for choice in action.choices if str(choice) not in expanded]
        assert not missing, f"choices not in the help: {missing}"
    if action.option_strings and not action.required:
        assert "default" in expanded.lower(), f"no default in: {expanded}"


def test_at_says_what_it_accepts() -> None:
    helps = [action.help or "" for _, action in OPTIONS if "--at" in action.option_strings]
    assert len(helps) >= 5  # verify, cert, probe, collateral fetch, collateral show
    assert all(AT_HELP in text for text in helps)
    assert "unix seconds" in AT_HELP
    assert "RFC 3339" in AT_HELP


def test_the_status_list_is_tdxquotes() -> None:
    assert tuple(status.value for status in TcbStatus) == TCB_STATUSES


def test_allow_status_help_lists_every_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for status in TCB_STATUSES:
        assert status in out


def test_a_wrong_status_prints_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "q", "--collateral", "c", "--allow-status", "UpToDat"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'UpToDat'" in err
    assert all(f"'{status}'" in err for status in TCB_STATUSES)
