"""Decoded flag words of TD and SGX reports."""

from __future__ import annotations

import enum
from typing import TypeVar

__all__ = ["SgxAttributes", "TdAttributes", "Xfam"]

_F = TypeVar("_F", bound=enum.IntFlag)


def _decode(cls: type[_F], value: int) -> _F:
    # Calling an IntFlag class costs ~0.4 us; a value seen before is in its member map.
    member = cls._value2member_map_.get(value)
    return member if member is not None else cls(value)  # type: ignore[return-value]


class TdAttributes(enum.IntFlag):
    """TD_ATTRIBUTES (8 bytes, little-endian) as the TDX module defines it."""

    DEBUG = 1 << 0
    SEPT_VE_DISABLE = 1 << 28
    PKS = 1 << 30
    KL = 1 << 31
    PERFMON = 1 << 63

    @classmethod
    def decode(cls, raw: bytes) -> TdAttributes:
        """Decode the raw 8-byte field, keeping unnamed bits."""
        return _decode(cls, int.from_bytes(raw, "little"))


class Xfam(enum.IntFlag):
    """XFAM: the extended features (XCR0 and IA32_XSS bits) a TD may use."""

    FP = 1 << 0
    SSE = 1 << 1
    AVX = 1 << 2
    MPX_BNDREGS = 1 << 3
    MPX_BNDCSR = 1 << 4
    AVX512_OPMASK = 1 << 5
    AVX512_ZMM_HI256 = 1 << 6
    AVX512_HI16_ZMM = 1 << 7
    PT = 1 << 8
    PKRU = 1 << 9
    PASID = 1 << 10
    CET_U = 1 << 11
    CET_S = 1 << 12
    HDC = 1 << 13
    ULI = 1 << 14
    LBR = 1 << 15
    HWP = 1 << 16
    AMX_TILECFG = 1 << 17
    AMX_TILEDATA = 1 << 18

    @classmethod
    def decode(cls, raw: bytes) -> Xfam:
        """Decode the raw 8-byte field, keeping unnamed bits."""
        return _decode(cls, int.from_bytes(raw, "little"))


class SgxAttributes(enum.IntFlag):
    """The flags half (first 8 bytes) of an SGX enclave's ATTRIBUTES."""

    INIT = 1 << 0
    DEBUG = 1 << 1
    MODE64BIT = 1 << 2
    PROVISION_KEY = 1 << 4
    EINITTOKEN_KEY = 1 << 5
    CET = 1 << 6
    KSS = 1 << 7
    AEX_NOTIFY = 1 << 10

    @classmethod
    def decode(cls, raw: bytes) -> SgxAttributes:
        """Decode the flags from the 16-byte ATTRIBUTES field (first 8 bytes)."""
        return _decode(cls, int.from_bytes(raw[:8], "little"))
