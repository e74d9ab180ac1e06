"""The TD 1.5 report bodies (quote v5 body types 3 and 4), made on first use.

:mod:`tdxquote._reports` gives them (``from tdxquote._reports import
TdReport15``) and imports this module only when one is asked for: making a
NamedTuple class costs as much as parsing a few quotes, and most quotes are
TDX 1.0 or SGX.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ._layout_table import REPORT_FORMATS
from ._reports import _TdReportMixin

__all__ = ["CODECS", "TdReport15", "TdReport15Ex"]


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


_TD15 = struct.Struct(REPORT_FORMATS[3])
_TD15EX = struct.Struct(REPORT_FORMATS[4])

CODECS: dict[int, tuple[type[TdReport15] | type[TdReport15Ex], struct.Struct]] = {
    3: (TdReport15, _TD15),
    4: (TdReport15Ex, _TD15EX),
}
"""(class, struct) of body types 3 and 4."""
