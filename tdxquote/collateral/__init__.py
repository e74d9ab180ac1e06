"""DCAP collateral models: TCB Info, enclave identities, CRLs, issuer chains.

Parsing only.  Signatures, chains and CRLs are not verified here; the parsed
objects keep the exact signed bytes (``signed_body``, ``signature``) so that
the verifier can check them.  Every parse failure is a
:class:`~tdxquote.errors.CollateralFormatError`.
"""

from __future__ import annotations

from tdxquote.errors import CollateralFormatError

from ._bundle import Collateral, RawCollateral
from ._chain import load_chain
from ._crl import load_crl
from ._identity import EnclaveIdentity, EnclaveIdentityTcbLevel
from ._status import TcbStatus
from ._tcb_info import TcbInfo, TcbLevel, TdxModule, TdxModuleIdentity, TdxModuleTcbLevel

__all__ = [
    "Collateral",
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
