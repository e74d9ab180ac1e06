"""DCAP collateral models: TCB Info, enclave identities, CRLs, issuer chains.

Parsing only.  Signatures, chains and CRLs are not verified here; the parsed
objects keep the exact signed bytes (``signed_body``, ``signature``) so that
the verifier can check them.  Every parse failure is a
:class:`~tdxquote.errors.CollateralFormatError`.

Fetching and caching (imported on first use, so that ``import tdxquote``
does not import httpx or diskcache): :class:`PcsClient` /
:class:`AsyncPcsClient` (:mod:`.pcs`), :class:`CollateralCache`
(:mod:`.cache`), and the sources a :class:`~tdxquote.verification.Verifier` asks
(:class:`PcsSource`, :class:`AsyncPcsSource`, :class:`OfflineSource`);
:class:`PckCertificateQuery` asks for the PCK certificate of a quote that
carries an encrypted PPID instead of its chain.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tdxquote.errors import CollateralFormatError

from ._bundle import Collateral, RawCollateral
from ._chain import load_chain
from ._crl import load_crl
from ._identity import EnclaveIdentity, EnclaveIdentityTcbLevel
from ._status import TcbStatus
from ._tcb_info import TcbInfo, TcbLevel, TdxModule, TdxModuleIdentity, TdxModuleTcbLevel

if TYPE_CHECKING:
    from ._source import (
        ArtifactValidator,
        AsyncPcsSource,
        CollateralSource,
        OfflineSource,
        PcsSource,
    )
    from .cache import CollateralCache, default_cache_dir
    from .pcs import (
        AsyncPcsClient,
        CollateralParameters,
        PckCertificateQuery,
        PcsClient,
        PcsResponse,
    )

_LAZY = {
    "ArtifactValidator": "._source",
    "AsyncPcsSource": "._source",
    "CollateralSource": "._source",
    "OfflineSource": "._source",
    "PcsSource": "._source",
    "CollateralCache": ".cache",
    "default_cache_dir": ".cache",
    "AsyncPcsClient": ".pcs",
    "CollateralParameters": ".pcs",
    "PckCertificateQuery": ".pcs",
    "PcsClient": ".pcs",
    "PcsResponse": ".pcs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)


__all__ = [
    "ArtifactValidator",
    "AsyncPcsClient",
    "AsyncPcsSource",
    "Collateral",
    "CollateralCache",
    "CollateralParameters",
    "CollateralSource",
    "OfflineSource",
    "PckCertificateQuery",
    "PcsClient",
    "PcsResponse",
    "PcsSource",
    "default_cache_dir",
    "CollateralFormatError",
    "EnclaveIdentity",
    "EnclaveIdentityTcbLevel",
    "RawCollateral",
    "TcbInfo",
    "TcbLevel",
    "TcbStatus",
    "TdxModule",
    "TdxModuleIdentity",
    "TdxModuleTcbLevel",
    "load_chain",
    "load_crl",
]
