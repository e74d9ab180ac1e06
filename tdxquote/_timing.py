"""Timing helpers shared by ``tdxquote bench`` and the scripts of ``benchmarks/``.

The clocks a benchmark may read, the percentile its summaries use and the
Markdown table its reports print.  ``benchmarks/`` is not installed, so
what both need lives here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

__all__ = ["CLOCKS", "markdown_table_lines", "percentile"]

CLOCKS: dict[str, Callable[[], int]] = {
    "perf": time.perf_counter_ns,
    "thread": time.thread_time_ns,
}
"""``perf``: wall time; ``thread``: CPU time of the calling thread."""


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile ``q`` (0 to 100) of already sorted values."""
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def markdown_table_lines(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table, padded to line up in a terminal too, line by line.

    Columns after the first are right-aligned (they hold numbers).
    """
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)
        )
        + "|"
    )
    return [line(headers), rule, *(line(row) for row in rows)]
