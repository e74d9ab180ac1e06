"""The ``tdxquote`` command line (also ``python -m tdxquote``).

A small dispatcher: each command is a module of :mod:`tdxquote._cli` exposing
``add_parser(subparsers) -> ArgumentParser`` and ``run(args) -> int``, and is
listed once in :data:`COMMANDS`.  Adding a command is one import and one entry
there.  Command modules keep heavy imports inside ``run`` so that ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from ._cli import bench, cache, cert, collateral, demo, parse, probe, scan, verify
from ._cli.common import EXIT_FAILED, EXIT_USAGE, CliError, Command, print_error, report_error

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[Command, ...] = (
    parse,
    verify,
    cert,
    probe,
    demo,
    scan,
    collateral,
    cache,
    bench,
)
"""The registered commands, in the order ``--help`` lists them."""

_EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser, with one subparser per registered command."""
    parser = argparse.ArgumentParser(
        prog="tdxquote",
        description="Parse and verify Intel TDX and SGX DCAP quotes.",
        epilog="Run 'tdxquote COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"tdxquote {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers).set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    Never raises for bad input or usage: argparse errors, ``--help`` and
    ``--version`` return their exit code instead of leaving the interpreter.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
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
