"""TCB status values, spelled as Intel spells them."""

from __future__ import annotations

from enum import Enum

__all__ = [
    "ENCLAVE_IDENTITY_LEVEL_STATUSES",
    "TCB_LEVEL_STATUSES",
    "TDX_MODULE_LEVEL_STATUSES",
    "TcbStatus",
]


class TcbStatus(str, Enum):
    """A TCB status: a level's ``tcbStatus`` or a verification verdict.

    ``str(status)`` and ``status.value`` are Intel's spelling (``"UpToDate"``).
    The two ``TDRelaunchAdvised*`` members never appear in collateral; they
    are verdicts of the TD-relaunch check on TDX 1.5 quotes.
    """

    UP_TO_DATE = "UpToDate"
    SW_HARDENING_NEEDED = "SWHardeningNeeded"
    CONFIGURATION_NEEDED = "ConfigurationNeeded"
    CONFIGURATION_AND_SW_HARDENING_NEEDED = "ConfigurationAndSWHardeningNeeded"
    OUT_OF_DATE = "OutOfDate"
    OUT_OF_DATE_CONFIGURATION_NEEDED = "OutOfDateConfigurationNeeded"
    REVOKED = "Revoked"
    TD_RELAUNCH_ADVISED = "TDRelaunchAdvised"
    TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED = "TDRelaunchAdvisedConfigurationNeeded"

    def __str__(self) -> str:
        return self.value

    def __format__(self, format_spec: str) -> str:
        return format(self.value, format_spec)


# Which statuses each kind of level may carry (Intel QVL TcbLevel.cpp,
# TdxModuleCheck.cpp, EnclaveIdentityV2 / TcbStatus.h); anything else is a
# format error.
TCB_LEVEL_STATUSES: frozenset[TcbStatus] = frozenset(
    {
        TcbStatus.UP_TO_DATE,
        TcbStatus.SW_HARDENING_NEEDED,
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
        TcbStatus.OUT_OF_DATE,
        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
        TcbStatus.REVOKED,
    }
)
TDX_MODULE_LEVEL_STATUSES: frozenset[TcbStatus] = frozenset(
    {TcbStatus.UP_TO_DATE, TcbStatus.OUT_OF_DATE, TcbStatus.REVOKED}
)
ENCLAVE_IDENTITY_LEVEL_STATUSES: frozenset[TcbStatus] = frozenset(
    {
        TcbStatus.UP_TO_DATE,
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.OUT_OF_DATE,
        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
        TcbStatus.REVOKED,
    }
)
