"""Typed, immutable report bodies: the TD reports (TDX 1.0, 1.5, 1.5 ex) and the SGX report.

Each class is a ``NamedTuple`` whose fields are exactly the fields of its
``construct`` schema, in order; ``struct`` formats come from the layout table
generated from the schemas (:mod:`tdxquote._layout_table`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, NamedTuple

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


class _TdReport15Fields(NamedTuple):
    """TD report body of TDX 1.5 (648 bytes): quote v5 body type 3."""

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
    tee_tcb_svn2: bytes
    mr_service_td: bytes


class _TdReport15ExFields(NamedTuple):
    """TD report body "TDX 1.5 ex" (885 bytes): quote v5 body type 4.

    The layout is dcap-qvl 0.7.0's; no real quote of this type is public yet.
    """

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
    tee_tcb_svn2: bytes
    mr_service_td: bytes
    vmid: int
    td_id: bytes
    dev_info: bytes
    init_service_td_hash: bytes
    init_service_td_attributes: bytes
    init_cpu_svn: bytes
    init_tee_tcb_svn: bytes
    init_tee_fmspc: bytes
    cur_service_td_hash: bytes
    cur_service_td_attributes: bytes


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


class TdReport15(_TdReport15Fields, _TdReportMixin):
    """TD report body of TDX 1.5 (648 bytes): quote v5 body type 3."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        """The body's exact wire bytes."""
        return _TD15.pack(*self)


class TdReport15Ex(_TdReport15ExFields, _TdReportMixin):
    """TD report body "TDX 1.5 ex" (885 bytes): quote v5 body type 4.

    The layout is dcap-qvl 0.7.0's; no real quote of this type is public yet.
    """

    __slots__ = ()

    def to_bytes(self) -> bytes:
        """The body's exact wire bytes."""
        return _TD15EX.pack(*self)


TdReport = TdReport10 | TdReport15 | TdReport15Ex
Report = TdReport10 | TdReport15 | TdReport15Ex | SgxReport

_SGX = struct.Struct(REPORT_FORMATS[1])
_TD10 = struct.Struct(REPORT_FORMATS[2])
_TD15 = struct.Struct(REPORT_FORMATS[3])
_TD15EX = struct.Struct(REPORT_FORMATS[4])

# (class, struct) per schema: the fast parser decodes a body with one unpack.
REPORT_CODECS: dict[int, tuple[type[Report], struct.Struct]] = {
    1: (SgxReport, _SGX),
    2: (TdReport10, _TD10),
    3: (TdReport15, _TD15),
    4: (TdReport15Ex, _TD15EX),
}
