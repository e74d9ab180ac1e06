"""Test helpers for code that handles DCAP quotes.

Submodules (imported on first use, so ``import tdxquote.testing`` stays cheap and
does not import Hypothesis):

``tdxquote.testing.strategies``
    Hypothesis strategies: report bodies, certification data, structurally valid
    quotes and hostile mutations of them.
``tdxquote.testing.pki``
    A synthetic Intel-like PKI: root, PCK CAs, PCK leaves, TCB Signing, CRLs and
    signed TCB Info / QE identity.
``tdxquote.testing.forge``
    A quote forge: signed quotes of every version and body type, and scenarios
    (quote, collateral, trust root, time) that break one check at a time.
``tdxquote.testing.ratls``
    An RA-TLS certificate forge: dstack-style server certificates whose quote binds
    the certificate key and whose event log replays.
``tdxquote.testing.pccs``
    A PCCS-compatible HTTP server on loopback with fault injection.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import forge, pccs, pki, ratls, strategies

__all__ = ["forge", "pccs", "pki", "ratls", "strategies"]

_SUBMODULES = frozenset(__all__)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
