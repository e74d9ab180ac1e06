"""The ``tdxquote`` command line (also ``python -m tdxquote``).

A small dispatcher: each command is a module of :mod:`tdxquote._cli` exposing
``add_parser(subparsers) -> ArgumentParser`` and ``run(args) -> int``, and is
listed once in :data:`COMMANDS` by name and one-line help.  Only the module of
the command that runs is imported, and command modules keep heavy imports
inside ``run``, so that ``--help`` and ``parse`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import TYPE_CHECKING

from . import __version__
from ._cli.common import EXIT_FAILED, EXIT_USAGE, CliError, print_error, report_error

if TYPE_CHECKING:
    from ._cli.common import Command, Subparsers

__all__ = ["COMMANDS", "LazyCommand", "build_parser", "main"]


class LazyCommand:
    """A registered command: its name and one-line help, its module imported on first use.

    ``tdxquote --help`` lists every command from these two strings alone, and
    ``tdxquote parse FILE`` imports the ``parse`` module only, so the start-up
    of the CLI does not grow with the number of commands.
    """

    __slots__ = ("help", "name")

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help

    @property
    def __name__(self) -> str:
        """The command module's name, ``tdxquote._cli.<name>``."""
        return f"{__package__}._cli.{self.name}"

    def module(self) -> Command:
        """The command module (imported now if it was not yet)."""
        module: Command = importlib.import_module(self.__name__)
        return module

    def add_parser(self, subparsers: Subparsers) -> argparse.ArgumentParser:
        """The command's full subparser (imports the module)."""
        return self.module().add_parser(subparsers)

    def run(self, args: argparse.Namespace) -> int:
        """Run the command (imports the module)."""
        return self.module().run(args)


COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("parse", "print a readable summary of a quote (or every field with --json)"),
    LazyCommand("verify", "verify a quote against its collateral"),
    LazyCommand("cert", "show and verify a dstack RA-TLS certificate"),
    LazyCommand("probe", "fetch a Postgres server's RA-TLS certificate and verify it"),
    LazyCommand(
        "demo", "forge a quote with a synthetic PKI, verify it, and show a tampered copy refused"
    ),
    LazyCommand(
        "scan", "parse every file of a corpus and count versions, TEEs, body types, FMSPCs"
    ),
    LazyCommand("collateral", "fetch, inspect and serve collateral bundles (offline mirror)"),
    LazyCommand("cache", "show or clear the collateral cache"),
    LazyCommand("bench", "time tdxquote against dcap-qvl on this machine (parse, verify, scan)"),
)
"""The registered commands, in the order ``--help`` lists them.  ``help`` must be the
module's own ``help=`` (a test compares them)."""

_EXIT_INTERRUPTED = 130


def build_parser(
    only: LazyCommand | bool | None = True, *, siblings: bool = True
) -> argparse.ArgumentParser:
    """The top-level parser, with one subparser per registered command.

    By default every command's full subparser is built (every command module
    is imported).  With ``only`` a command (or None), that command's
    subparser is the full one and the others are stand-ins carrying their
    name and help, which is all ``--help`` and a usage error show; with
    ``siblings=False`` they are left out (the command line names ``only``
    first, so no other command can be reached or listed).
    """
    parser = argparse.ArgumentParser(
        prog="tdxquote",
        description="Parse and verify Intel TDX and SGX DCAP quotes.",
        epilog="Run 'tdxquote COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"tdxquote {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        if only is True or command is only:
            sub = command.add_parser(subparsers)
        elif not siblings:
            continue
        else:
            sub = subparsers.add_parser(command.name, help=command.help)
        sub.set_defaults(_run=command.run)
    return parser


def _chosen_command(argv: list[str]) -> LazyCommand | None:
    """The command ``argv`` names: its first word that is not a top-level option."""
    by_name = {command.name: command for command in COMMANDS}
    for word in argv:
        if not word.startswith("-"):
            return by_name.get(word)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Never raises for bad input or usage: argparse errors, ``--help`` and
    ``--version`` return their exit code instead of leaving the interpreter.
    """
    words = sys.argv[1:] if argv is None else list(argv)
    chosen = _chosen_command(words)
    # ``tdxquote parse FILE``: the other commands' stand-ins would only cost start-up time
    # (argparse looks its messages up in the gettext catalogues for each).
    first = chosen is not None and words[0] == chosen.name
    parser = build_parser(only=chosen, siblings=not first)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # argparse exits on --help, --version and usage errors
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = run(args)
    except CliError as error:
        command = getattr(args, "_command", "tdxquote")
        return report_error(error, as_json=getattr(args, "json", False), command=command)
    except KeyboardInterrupt:
        print_error("interrupted")
        return _EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_FAILED
    return code


def _silence_stdout() -> None:
    """After the reader of stdout went away, keep interpreter shutdown from complaining."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
