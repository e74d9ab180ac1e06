"""Typed, immutable report bodies: the TD reports (TDX 1.0, 1.5, 1.5 ex) and the SGX report.

The TD 1.5 reports live in :mod:`tdxquote._reports_td15` and are imported from
here on first use (quote v5 body types 3 and 4 only).

Each class is a ``NamedTuple`` whose fields are exactly the fields of its
``construct`` schema, in order; ``struct`` formats come from the layout table
generated from the schemas (:mod:`tdxquote._layout_table`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from ._flags import SgxAttributes, TdAttributes, Xfam
from ._layout_table import REPORT_FORMATS

__all__ = ["Report", "SgxReport", "TdReport", "TdReport10", "TdReport15", "TdReport15Ex"]


class _TdReportMixin:
    """Derived views shared by every TD report."""

    __slots__ = ()

    if TYPE_CHECKING:

        @property
        def td_attributes(self) -> bytes: ...
        @property
        def xfam(self) -> bytes: ...
        @property
        def rtmr0(self) -> bytes: ...
        @property
        def rtmr1(self) -> bytes: ...
        @property
        def rtmr2(self) -> bytes: ...
        @property
        def rtmr3(self) -> bytes: ...

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        """RTMR0 to RTMR3."""
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    @property
    def td_attributes_flags(self) -> TdAttributes:
        """TD_ATTRIBUTES decoded (DEBUG, SEPT_VE_DISABLE, PKS, KL, PERFMON)."""
        return TdAttributes.decode(self.td_attributes)

    @property
    def xfam_flags(self) -> Xfam:
        """XFAM decoded."""
        return Xfam.decode(self.xfam)

    @property
    def is_debug(self) -> bool:
        """True for a debug TD (its memory and state are not confidential)."""
        return bool(self.td_attributes[0] & 1)


class _TdReport10Fields(NamedTuple):
    """TD report body of TDX 1.0 (584 bytes): quote v4, or v5 body type 2."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes
    report_data: bytes


class _SgxReportFields(NamedTuple):
    """An SGX enclave report body (384 bytes): the QE report, or an SGX quote's body."""

    cpu_svn: bytes
    misc_select: int
    reserved1: bytes
    attributes: bytes
    mr_enclave: bytes
    reserved2: bytes
    mr_signer: bytes
    reserved3: bytes
    isv_prod_id: int
    isv_svn: int
    reserved4: bytes
    report_data: bytes


class SgxReport(_SgxReportFields):
    """An SGX enclave report body (384 bytes): the QE report, or an SGX quote's body."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        """The report's exact wire bytes."""
        return _SGX.pack(*self)

    @property
    def attributes_flags(self) -> SgxAttributes:
        """The flags half of ATTRIBUTES decoded."""
        return SgxAttributes.decode(self.attributes)

    @property
    def is_debug(self) -> bool:
        """True for a debug enclave."""
        return bool(self.attributes[0] & 2)


class TdReport10(_TdReport10Fields, _TdReportMixin):
    """TD report body of TDX 1.0 (584 bytes): quote v4, or v5 body type 2."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        """The body's exact wire bytes."""
        return _TD10.pack(*self)


_SGX = struct.Struct(REPORT_FORMATS[1])
_TD10 = struct.Struct(REPORT_FORMATS[2])

# The TD 1.5 reports (quote v5 body types 3 and 4) are made when first asked for
# (``tdxquote._reports_td15``): a class costs as much to make as parsing a few quotes.
if TYPE_CHECKING:
    from ._reports_td15 import TdReport15, TdReport15Ex

    TdReport: TypeAlias = TdReport10 | TdReport15 | TdReport15Ex
    Report: TypeAlias = TdReport10 | TdReport15 | TdReport15Ex | SgxReport
    REPORT_CODECS: dict[int, tuple[type[Report], struct.Struct]]

_CODECS: dict[int, tuple[type[Any], struct.Struct]] = {1: (SgxReport, _SGX), 2: (TdReport10, _TD10)}


def report_codec(body_type: int) -> tuple[type[Report], struct.Struct]:
    """The report class and ``struct`` of a body type (1 to 4); KeyError for any other."""
    found = _CODECS.get(body_type)
    if found is None:
        if body_type not in (3, 4):
            raise KeyError(body_type)
        from ._reports_td15 import CODECS

        _CODECS.update(CODECS)
        found = _CODECS[body_type]
    return found


def __getattr__(name: str) -> Any:
    if name in ("TdReport15", "TdReport15Ex"):
        from . import _reports_td15

        return getattr(_reports_td15, name)
    if name in ("TdReport", "Report", "REPORT_CODECS"):
        from ._reports_td15 import TdReport15, TdReport15Ex

        values = {
            "TdReport": TdReport10 | TdReport15 | TdReport15Ex,
            "Report": TdReport10 | TdReport15 | TdReport15Ex | SgxReport,
            "REPORT_CODECS": {body_type: report_codec(body_type) for body_type in (1, 2, 3, 4)},
        }
        globals().update(values)
        return values[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
