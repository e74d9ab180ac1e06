"""The one JSON contract every reporting command follows with ``--json``.

Every document is::

    {"schema": "tdxquote/1", "command": "verify", "ok": true|false,
     "result": {...} | null, "error": null | {...}}

``result`` is the command's result: present on success and whenever the
command got far enough to have one (a refused quote keeps the verdict it
reached), null when nothing could be read.  ``error`` is null when ``ok``;
otherwise ``kind`` tells the exit code apart (``refused`` and ``failed``:
exit 1, a negative answer; ``bad_input`` and ``unavailable``: exit 2, no
answer), ``code`` is stable, ``field`` and ``offset`` locate a parse error
(null when unknown), and ``details`` carries what the code has beside
(``intel_error``, a policy's ``rule``, a fetch's ``url``...).

The JSON Schemas are in ``docs/json/``; ``docs/cli.md`` documents them.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Literal

__all__ = [
    "EXIT_FOR_KIND",
    "SCHEMA_VERSION",
    "ErrorKind",
    "envelope",
    "error_object",
    "write_envelope",
    "zulu",
]

SCHEMA_VERSION = "tdxquote/1"
"""The ``schema`` member of every JSON document; bumped on an incompatible change."""

ErrorKind = Literal["refused", "failed", "bad_input", "unavailable"]

EXIT_FOR_KIND: dict[str, int] = {"refused": 1, "failed": 1, "bad_input": 2, "unavailable": 2}
"""Exit code of each error kind: 1 a negative answer, 2 no answer."""

_UTC_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)\+00:00\b")


def zulu(text: str) -> str:
    """``text`` with every ``...+00:00`` timestamp written with ``Z`` (RFC 3339 UTC)."""
    return _UTC_OFFSET.sub(r"\1Z", text)


def _zulu_all(value: Any) -> Any:
    if isinstance(value, str):
        return zulu(value) if "+00:00" in value else value
    if isinstance(value, dict):
        return {key: _zulu_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_zulu_all(item) for item in value]
    return value


def error_object(
    *,
    kind: ErrorKind,
    code: str,
    message: str,
    field: str | None = None,
    offset: int | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``error`` member: ``kind``, ``code``, ``message``, ``field``, ``offset``, ``details``."""
    return {
        "kind": kind,
        "code": code,
        "message": message,
        "field": field,
        "offset": offset,
        "details": details or {},
    }


def envelope(command: str, result: Any, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole document: ``schema``, ``command``, ``ok``, ``result``, ``error``."""
    return {
        "schema": SCHEMA_VERSION,
        "command": command,
        "ok": error is None,
        "result": result,
        "error": error,
    }


def write_envelope(command: str, result: Any, error: dict[str, Any] | None = None) -> None:
    """Print :func:`envelope` as indented JSON on standard output (timestamps with ``Z``)."""
    document = _zulu_all(envelope(command, result, error))
    import json  # not at import: the text output needs none

    sys.stdout.write(json.dumps(document, indent=2) + "\n")
