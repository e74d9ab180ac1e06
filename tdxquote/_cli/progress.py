"""Progress on standard error for long work: shown on a terminal, silent otherwise.

``scan`` and ``bench`` use it.  Output is one line redrawn with ``\\r`` (at
most ten times a second) and erased at the end, so it never mixes with
what the command prints on standard output, and nothing at all is written
when standard error is not a terminal (a pipe, a file, CI logs).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "progress_on_stderr"]

_WIDTH = 30


class Progress:
    """A one-line ``\\r`` progress display on ``stream`` (no dependency).

    Call it as ``progress(done, total)`` for a bar (or a count when ``total``
    is None) of ``unit``; :meth:`step` shows a phrase (``timing parse v4``).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str = "scanning",
        unit: str = "files",
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.label = label
        self.unit = unit
        self.shown = False
        self.interval = interval
        self.clock = clock
        self.last = -interval
        self._width = 0

    def _draw(self, text: str) -> None:
        pad = " " * max(0, self._width - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._width = len(text)
        self.shown = True

    def __call__(self, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` (a bar when ``total`` is known), ten times a second."""
        now = self.clock()
        if now - self.last < self.interval and done != total:
            return
        self.last = now
        if total:
            filled = _WIDTH * done // total
            bar = "#" * filled + "." * (_WIDTH - filled)
            self._draw(f"{self.label} [{bar}] {done}/{total} {self.unit}")
        else:
            self._draw(f"{self.label}: {done} {self.unit}")

    def step(self, text: str) -> None:
        """Show a phrase saying what is being done now (always drawn)."""
        self.last = self.clock()
        self._draw(f"{self.label}: {text}")

    def clear(self) -> None:
        """Erase the progress line, if one was shown."""
        if self.shown:
            self.stream.write("\r" + " " * max(self._width, 60) + "\r")
            self.stream.flush()
            self.shown = False
            self._width = 0


def progress_on_stderr(*, label: str, unit: str = "files") -> Progress | None:
    """A :class:`Progress` on standard error when it is a terminal, else None."""
    stream = sys.stderr
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return Progress(stream, label=label, unit=unit) if interactive else None
