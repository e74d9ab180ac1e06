"""The byte layouts of the quote formats, as the fast parser reads them.

GENERATED from the ``construct`` schemas of :mod:`tdxquote.schema` by
``python -m tdxquote._layout_derive``; do not edit.  A test regenerates it and
compares it byte for byte.
"""

from __future__ import annotations

HEADER_FORMAT = "<HHLHH16s20s"
HEADER_SIZE = 48
HEADER_FIELDS: dict[str, tuple[int, int]] = {
    "version": (0, 2),
    "attestation_key_type": (2, 2),
    "tee_type": (4, 4),
    "qe_svn": (8, 2),
    "pce_svn": (10, 2),
    "qe_vendor_id": (12, 16),
    "user_data": (28, 20),
}
"""Header field name -> (offset, size)."""

BODY_DESCRIPTOR_FORMAT = "<HL"
BODY_DESCRIPTOR_SIZE = 6

REPORT_FORMATS: dict[int, str] = {
    1: "<16sL28s16s32s32s32s96sHH60s64s",
    2: "<16s48s48s8s8s8s48s48s48s48s48s48s48s48s64s",
    3: "<16s48s48s8s8s8s48s48s48s48s48s48s48s48s64s16s48s",
    4: "<16s48s48s8s8s8s48s48s48s48s48s48s48s48s64s16s48sB32s48s48s8s16s16s12s48s8s",
}
"""Body type -> ``struct`` format of its report (1: the SGX report, also the QE's)."""
REPORT_SIZES: dict[int, int] = {
    1: 384,
    2: 584,
    3: 648,
    4: 885,
}
REPORT_FIELDS: dict[int, tuple[str, ...]] = {
    1: (
        "cpu_svn",
        "misc_select",
        "reserved1",
        "attributes",
        "mr_enclave",
        "reserved2",
        "mr_signer",
        "reserved3",
        "isv_prod_id",
        "isv_svn",
        "reserved4",
        "report_data",
    ),
    2: (
        "tee_tcb_svn",
        "mr_seam",
        "mr_signer_seam",
        "seam_attributes",
        "td_attributes",
        "xfam",
        "mr_td",
        "mr_config_id",
        "mr_owner",
        "mr_owner_config",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "rtmr3",
        "report_data",
    ),
    3: (
        "tee_tcb_svn",
        "mr_seam",
        "mr_signer_seam",
        "seam_attributes",
        "td_attributes",
        "xfam",
        "mr_td",
        "mr_config_id",
        "mr_owner",
        "mr_owner_config",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "rtmr3",
        "report_data",
        "tee_tcb_svn2",
        "mr_service_td",
    ),
    4: (
        "tee_tcb_svn",
        "mr_seam",
        "mr_signer_seam",
        "seam_attributes",
        "td_attributes",
        "xfam",
        "mr_td",
        "mr_config_id",
        "mr_owner",
        "mr_owner_config",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "rtmr3",
        "report_data",
        "tee_tcb_svn2",
        "mr_service_td",
        "vmid",
        "td_id",
        "dev_info",
        "init_service_td_hash",
        "init_service_td_attributes",
        "init_cpu_svn",
        "init_tee_tcb_svn",
        "init_tee_fmspc",
        "cur_service_td_hash",
        "cur_service_td_attributes",
    ),
}
"""Body type -> its report's field names, in wire order."""

AUTH_DATA_V3_FIELDS: dict[str, tuple[int, int]] = {
    "signature": (0, 64),
    "attestation_key": (64, 64),
    "qe_report": (128, 384),
    "qe_report_signature": (512, 64),
}
"""Quote v3 signature data: fixed fields, name -> (offset, size)."""
AUTH_DATA_V3_VARIABLE = ("qe_auth_data", 576, 2)
"""Its first length-prefixed field: (name, offset of the length, length size)."""

AUTH_DATA_V4_FIELDS: dict[str, tuple[int, int]] = {
    "signature": (0, 64),
    "attestation_key": (64, 64),
    "certification_data_type": (128, 2),
}
"""Quote v4 / v5 signature data: fixed fields, name -> (offset, size)."""
AUTH_DATA_V4_VARIABLE = ("qe_report_certification_data", 130, 4)
"""Its first length-prefixed field: (name, offset of the length, length size)."""

QE_REPORT_CERTIFICATION_DATA_FIELDS: dict[str, tuple[int, int]] = {
    "qe_report": (0, 384),
    "qe_report_signature": (384, 64),
}
"""QE report certification data (type 6): fixed fields, name -> (offset, size)."""
QE_REPORT_CERTIFICATION_DATA_VARIABLE = ("qe_auth_data", 448, 2)
"""Its first length-prefixed field: (name, offset of the length, length size)."""

CERTIFICATION_DATA_FIELDS: dict[str, tuple[int, int]] = {
    "type": (0, 2),
}
"""PCK certification data (types 1 to 5): fixed fields, name -> (offset, size)."""
CERTIFICATION_DATA_VARIABLE = ("data", 2, 4)
"""Its first length-prefixed field: (name, offset of the length, length size)."""
