"""``no_user_warning()``: fail when a block lets a ``UserWarning`` out.

``cryptography`` reports malformed names and serial numbers with ``UserWarning``
subclasses; hostile input must never put one on the user's stderr.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["no_user_warning"]


@contextmanager
def no_user_warning() -> Iterator[None]:
    """Record every warning of the block; fail if any is a ``UserWarning``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    shown = [
        f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, UserWarning)
    ]
    assert not shown, shown
