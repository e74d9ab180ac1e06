"""Helpers every CLI command shares: the command protocol, input, output, errors.

Exit codes used by every command: 0 success, 1 a negative result (a failed
check, some files of a scan failed), 2 unusable input or usage (bad
arguments, a missing or unreadable file, bytes that are not a quote), or no
answer (collateral or a server that could not be reached).  With ``--json``
every outcome is one document of the contract in :mod:`.output`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Protocol

from .output import EXIT_FOR_KIND, ErrorKind, error_object, write_envelope, zulu

if TYPE_CHECKING:
    from .._input import QuoteInput
    from .._quote import Quote

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_QUOTE_INPUT",
    "CliError",
    "Command",
    "ParsedInput",
    "display_name",
    "error_dict",
    "load_quote",
    "print_error",
    "print_note",
    "quote_to_dict",
    "read_input",
    "report_error",
    "write_json",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

STDIN = "-"

MAX_QUOTE_INPUT = 64 << 20
"""Largest quote input read (64 MiB, hex included); real quotes are a few KiB."""


class Command(Protocol):
    """What a command module exposes; ``tdxquote.cli.COMMANDS`` lists them."""

    def add_parser(self, subparsers: Subparsers) -> argparse.ArgumentParser:
        """Add the command's subparser (name, help, arguments) and return it."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Run the command with its parsed arguments; return the exit code."""
        ...


class CliError(Exception):
    """Input or usage the command cannot work with: reported without traceback.

    ``code`` is the JSON error code (``input_error``, ``usage_error``,
    ``parse_error``, ...); ``field`` and ``offset`` are set for parse errors;
    ``kind`` is the error kind of the JSON contract (``bad_input`` by default,
    ``unavailable`` when collateral or a server could not be had), which sets
    the exit code (2 for both); ``details`` go to the JSON error's ``details``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "input_error",
        field: str | None = None,
        offset: int | None = None,
        kind: ErrorKind = "bad_input",
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.field = field
        self.offset = offset
        self.kind: ErrorKind = kind
        self.details = details or {}
        super().__init__(message)


def display_name(source: str) -> str:
    """``source`` as messages name it: ``<stdin>`` for ``-``, else the path."""
    return "<stdin>" if source == STDIN else source


def read_input(source: str, *, max_size: int | None = None) -> bytes:
    """All bytes of the file ``source``, or of standard input when it is ``-``.

    Raises :class:`CliError` for a missing file, a directory, an unreadable
    file, or (with ``max_size``) more bytes than ``max_size``.
    """
    limit = -1 if max_size is None else max_size + 1
    name = display_name(source)
    try:
        if source == STDIN:
            data = sys.stdin.buffer.read(limit)
        else:
            if os.path.isdir(source):
                raise CliError(f"{name}: is a directory, not a quote file")
            with open(source, "rb") as handle:
                data = handle.read(limit)
    except FileNotFoundError:
        raise CliError(f"{name}: no such file") from None
    except PermissionError:
        raise CliError(f"{name}: permission denied") from None
    except OSError as exc:
        raise CliError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if max_size is not None and len(data) > max_size:
        raise CliError(f"{name}: more than {max_size} bytes, too large for a quote")
    return data


class ParsedInput:
    """A quote read from a file or stdin, and how it was handed over (binary, base64, JSON...)."""

    __slots__ = ("input", "quote")

    def __init__(self, quote: Quote, how: QuoteInput) -> None:
        self.quote = quote
        self.input = how

    @property
    def input_format(self) -> str:
        """The encoding: ``binary``, ``hex``, ``base64``, ``base64url`` or ``byte-array``."""
        return self.input.encoding


def load_quote(source: str, *, max_size: int = MAX_QUOTE_INPUT) -> ParsedInput:
    """Read ``source`` (a path or ``-``) and parse the quote it holds, in whatever form.

    Raises :class:`CliError` (code ``input_error`` or ``parse_error``, with
    the parse error's field and offset, and a hint at what the input is when
    it is not a quote) instead of any other exception.
    """
    # The parser loads here, not with the CLI: ``tdxquote --help`` does not need it.
    from .._input import parse_sniffed, sniff_quote
    from ..errors import QuoteParseError

    data = read_input(source, max_size=max_size)
    how: QuoteInput | None = None
    try:
        raw, how = sniff_quote(data)
        quote = parse_sniffed(raw, how)
    except QuoteParseError as exc:
        decoded = how is not None and how.encoding != "binary"
        where = f" (offset in the {how.encoding}-decoded bytes)" if how and decoded else ""
        raise CliError(
            f"{display_name(source)}: not a valid quote: {exc}{where}",
            code="parse_error",
            field=exc.field,
            offset=exc.offset,
            details={} if how is None else {"input": how.to_dict()},
        ) from None
    return ParsedInput(quote, how)


def quote_to_dict(quote: Quote, *, include_pck: bool = True) -> dict[str, Any]:
    """:func:`tdxquote._json.quote_to_dict` (imported on first use)."""
    from .._json import quote_to_dict as to_dict

    return to_dict(quote, include_pck=include_pck)


def error_dict(error: CliError) -> dict[str, Any]:
    """The ``error`` member of the JSON contract for ``error``."""
    return error_object(
        kind=error.kind,
        code=error.code,
        message=zulu(error.message),
        field=error.field,
        offset=error.offset,
        details=error.details,
    )


def print_error(message: str) -> None:
    """Print ``tdxquote: error: message`` to standard error."""
    print(f"tdxquote: error: {zulu(message)}", file=sys.stderr)


def print_note(message: str) -> None:
    """Print ``tdxquote: note: message`` to standard error."""
    print(f"tdxquote: note: {zulu(message)}", file=sys.stderr)


def report_error(error: CliError, *, as_json: bool, command: str, result: object = None) -> int:
    """Report ``error`` (the JSON document with ``as_json``, else a line on stderr).

    Returns the exit code of its kind (2 for bad input and for no answer).
    """
    if as_json:
        write_envelope(command, result, error_dict(error))
    else:
        print_error(error.message)
    return EXIT_FOR_KIND[error.kind]


def write_json(value: object) -> None:
    """Write ``value`` to standard output as indented JSON and a newline."""
    import json  # not at import: the text output needs none

    sys.stdout.write(json.dumps(value, indent=2) + "\n")
