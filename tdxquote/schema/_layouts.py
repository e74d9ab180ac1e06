"""The quote layouts as ``construct`` schemas, with Intel QVL's structural rules.

Field names are the snake_case names of the public API.  All integers are
little-endian; everything else is a raw byte array.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import construct as c

from ._constants import (
    BODY_TYPE_SGX,
    BODY_TYPE_TD10,
    BODY_TYPE_TD15,
    BODY_TYPE_TD15EX,
    CERT_TYPE_PCK_CERT_CHAIN,
    CERT_TYPE_PPID_CLEARTEXT,
    CERT_TYPE_QE_REPORT,
    TEE_TYPE_SGX,
    TEE_TYPE_TDX,
)
from ._rules import check_header as _check_header


class RuleViolation(c.ConstructError):  # type: ignore[misc]
    """A structural rule of the format does not hold (raised by :class:`Rule`)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class Rule(c.Construct):  # type: ignore[misc]
    """A zero-size construct that checks a predicate on the context.

    Unlike ``construct.Check`` it says which field is wrong and why, and it
    runs when building too, so a built quote obeys the same rules.
    """

    def __init__(self, field: str, check: Callable[[Any], str | None]) -> None:
        super().__init__()
        self.field = field
        self.check = check
        self.flagbuildnone = True

    def _run(self, context: Any) -> None:
        problem = self.check(context)
        if problem is not None:
            raise RuleViolation(self.field, problem)

    def _parse(self, stream: Any, context: Any, path: str) -> None:
        self._run(context)

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> None:
        self._run(context)

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


HEADER = c.Struct(
    "version" / c.Int16ul,
    "attestation_key_type" / c.Int16ul,
    "tee_type" / c.Int32ul,
    # QVL names 0x08 qeSvn and 0x0A pceSvn; both are reserved (zero) for TDX.
    "qe_svn" / c.Int16ul,
    "pce_svn" / c.Int16ul,
    "qe_vendor_id" / c.Bytes(16),
    "user_data" / c.Bytes(20),
)

SGX_REPORT = c.Struct(
    "cpu_svn" / c.Bytes(16),
    "misc_select" / c.Int32ul,
    "reserved1" / c.Bytes(28),
    "attributes" / c.Bytes(16),
    "mr_enclave" / c.Bytes(32),
    "reserved2" / c.Bytes(32),
    "mr_signer" / c.Bytes(32),
    "reserved3" / c.Bytes(96),
    "isv_prod_id" / c.Int16ul,
    "isv_svn" / c.Int16ul,
    "reserved4" / c.Bytes(60),
    "report_data" / c.Bytes(64),
)

_TD_REPORT_10_FIELDS = (
    "tee_tcb_svn" / c.Bytes(16),
    "mr_seam" / c.Bytes(48),
    "mr_signer_seam" / c.Bytes(48),
    "seam_attributes" / c.Bytes(8),
    "td_attributes" / c.Bytes(8),
    "xfam" / c.Bytes(8),
    "mr_td" / c.Bytes(48),
    "mr_config_id" / c.Bytes(48),
    "mr_owner" / c.Bytes(48),
    "mr_owner_config" / c.Bytes(48),
    "rtmr0" / c.Bytes(48),
    "rtmr1" / c.Bytes(48),
    "rtmr2" / c.Bytes(48),
    "rtmr3" / c.Bytes(48),
    "report_data" / c.Bytes(64),
)
_TD_REPORT_15_FIELDS = (
    *_TD_REPORT_10_FIELDS,
    "tee_tcb_svn2" / c.Bytes(16),
    "mr_service_td" / c.Bytes(48),
)
# Layout of dcap-qvl 0.7.0's TdReport15Ex (quote v5 body type 4).
_TD_REPORT_15EX_FIELDS = (
    *_TD_REPORT_15_FIELDS,
    "vmid" / c.Int8ul,
    "td_id" / c.Bytes(32),
    "dev_info" / c.Bytes(48),
    "init_service_td_hash" / c.Bytes(48),
    "init_service_td_attributes" / c.Bytes(8),
    "init_cpu_svn" / c.Bytes(16),
    "init_tee_tcb_svn" / c.Bytes(16),
    "init_tee_fmspc" / c.Bytes(12),
    "cur_service_td_hash" / c.Bytes(48),
    "cur_service_td_attributes" / c.Bytes(8),
)
TD_REPORT_10 = c.Struct(*_TD_REPORT_10_FIELDS)
TD_REPORT_15 = c.Struct(*_TD_REPORT_15_FIELDS)
TD_REPORT_15EX = c.Struct(*_TD_REPORT_15EX_FIELDS)

BODY_SCHEMAS: dict[int, c.Struct] = {
    BODY_TYPE_SGX: SGX_REPORT,
    BODY_TYPE_TD10: TD_REPORT_10,
    BODY_TYPE_TD15: TD_REPORT_15,
    BODY_TYPE_TD15EX: TD_REPORT_15EX,
}

BODY_DESCRIPTOR = c.Struct(
    "body_type" / c.Int16ul,
    "body_size" / c.Int32ul,
)


def _body_type_of(ctx: Any) -> int:
    """The body type a quote carries: explicit in v5, implied by the TEE in v3/v4."""
    header = ctx.header
    if header.version == 5:
        return int(ctx.body_descriptor.body_type)
    if header.version == 4 and header.tee_type == TEE_TYPE_TDX:
        return BODY_TYPE_TD10
    return BODY_TYPE_SGX


def _check_descriptor(ctx: Any) -> str | None:
    body_type = ctx.body_type
    expected = BODY_SCHEMAS.get(body_type)
    if expected is None:
        return f"unsupported body type {body_type} (supported: 1, 2, 3, 4)"
    size = expected.sizeof()
    if ctx.body_size != size:
        return f"body size {ctx.body_size} does not match body type {body_type} (expected {size})"
    tee = ctx._.header.tee_type
    wanted_tee = TEE_TYPE_SGX if body_type == BODY_TYPE_SGX else TEE_TYPE_TDX
    if tee != wanted_tee:
        return f"body type {body_type} does not match the TEE type 0x{tee:08x}"
    return None


def _check_pck_cert_type(ctx: Any) -> str | None:
    cert_type = ctx.type
    if not CERT_TYPE_PPID_CLEARTEXT <= cert_type <= CERT_TYPE_PCK_CERT_CHAIN:
        return f"unsupported certification data type {cert_type} (expected 1 to 5)"
    return None


def _check_qe_cert_type(ctx: Any) -> str | None:
    if ctx.certification_data_type != CERT_TYPE_QE_REPORT:
        return (
            f"certification data type {ctx.certification_data_type} is not 6 "
            "(QE report certification data), as quote versions 4 and 5 require"
        )
    return None


# Certification data carrying PCK information (types 1 to 5), exactly sized.
CERTIFICATION_DATA = c.Struct(
    "type" / c.Int16ul,
    Rule("certification_data.type", _check_pck_cert_type),
    "data" / c.Prefixed(c.Int32ul, c.GreedyBytes),
)

QE_REPORT_CERTIFICATION_DATA = c.Struct(
    "qe_report" / SGX_REPORT,
    "qe_report_signature" / c.Bytes(64),
    "qe_auth_data" / c.Prefixed(c.Int16ul, c.GreedyBytes),
    "certification_data" / CERTIFICATION_DATA,
    c.Terminated,
)

# Quote v3 signature data.
AUTH_DATA_V3 = c.Struct(
    "signature" / c.Bytes(64),
    "attestation_key" / c.Bytes(64),
    "qe_report" / SGX_REPORT,
    "qe_report_signature" / c.Bytes(64),
    "qe_auth_data" / c.Prefixed(c.Int16ul, c.GreedyBytes),
    "certification_data" / CERTIFICATION_DATA,
    c.Terminated,
)

# Quote v4 / v5 signature data: the PCK data nests inside type-6 certification data.
AUTH_DATA_V4 = c.Struct(
    "signature" / c.Bytes(64),
    "attestation_key" / c.Bytes(64),
    "certification_data_type" / c.Int16ul,
    Rule("certification_data_type", _check_qe_cert_type),
    "qe_report_certification_data" / c.Prefixed(c.Int32ul, QE_REPORT_CERTIFICATION_DATA),
    c.Terminated,
)

QUOTE = c.Struct(
    "header" / HEADER,
    Rule("header", lambda ctx: _check_header(ctx.header)),
    "body_descriptor"
    / c.If(
        c.this.header.version == 5,
        c.Struct(*BODY_DESCRIPTOR.subcons, Rule("body_descriptor", _check_descriptor)),
    ),
    "body" / c.Switch(_body_type_of, BODY_SCHEMAS),
    # The quote signature covers every byte before this size field.
    "signed_data"
    / c.Prefixed(
        c.Int32ul,
        c.Switch(c.this.header.version == 3, {True: AUTH_DATA_V3, False: AUTH_DATA_V4}),
    ),
    "trailing_bytes" / c.GreedyBytes,
)


def struct_format(schema: c.Struct) -> str:
    """The ``struct`` module format of a fixed-size schema (little-endian)."""
    codes = []
    for sub in schema.subcons:
        codes.append(_format_code(sub))
    fmt = "<" + "".join(codes)
    return fmt


def _format_code(sub: c.Subconstruct) -> str:
    inner = sub.subcon if isinstance(sub, c.Renamed) else sub
    if isinstance(inner, c.FormatField):
        return str(inner.fmtstr[1:])
    if isinstance(inner, c.Bytes):
        return f"{inner.sizeof()}s"
    raise TypeError(f"no struct format for {inner!r}")


def field_layout(schema: c.Struct) -> dict[str, tuple[int, int]]:
    """Map each named field of a fixed-size schema to its (offset, size)."""
    layout: dict[str, tuple[int, int]] = {}
    offset = 0
    for sub in schema.subcons:
        size = sub.sizeof()
        if sub.name is not None:
            layout[sub.name] = (offset, size)
        offset += size
    return layout
