"""Test helpers for code that handles DCAP quotes.

Submodules (imported on first use, so ``import tdxquote.testing`` stays cheap and
does not import Hypothesis):

``tdxquote.testing.strategies``
    Hypothesis strategies: report bodies, certification data, structurally valid
    quotes and hostile mutations of them.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import forge, pki, strategies

__all__ = ["forge", "pki", "strategies"]

_SUBMODULES = frozenset(__all__)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
