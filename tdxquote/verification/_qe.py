"""The Quoting Enclave: its report signature, its binding to the attestation key, its identity."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .._quote import Quote
from .._x509_verify import verify_raw_signature
from ..collateral import EnclaveIdentity, EnclaveIdentityTcbLevel, TcbStatus
from ..errors import QeIdentityError, QeReportError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

__all__ = [
    "check_qe_identity",
    "check_qe_report_data",
    "check_qe_report_signature",
    "qe_status_of",
    "qe_tcb_level",
]


def check_qe_report_signature(quote: Quote, pck_leaf_key: EllipticCurvePublicKey) -> None:
    """Step 4.1.2.4.12: the PCK leaf key signs the QE report."""
    if not verify_raw_signature(pck_leaf_key, quote.qe_report_signature, quote.qe_report_bytes):
        raise QeReportError("the QE report signature does not verify with the PCK leaf key")


_ZERO_HALF = bytes(32)


def check_qe_report_data(quote: Quote) -> None:
    """Step 4.1.2.4.13: QE REPORTDATA = SHA-256(attestation key || QE auth data) || 32 zeros.

    Intel's QVL compares the first 32 bytes only; the zero upper half is
    go-tdx-guest's rule, which every genuine QE report meets.
    """
    expected = hashlib.sha256(quote.attestation_key + quote.qe_auth_data).digest()
    report_data = quote.qe_report.report_data
    if report_data[:32] != expected:
        raise QeReportError(
            "the QE report data is not SHA-256(attestation key || QE auth data): the "
            "attestation key is not the one the QE certified",
            code="qe_report_data_mismatch",
        )
    if report_data[32:] != _ZERO_HALF:
        raise QeReportError(
            "the upper 32 bytes of the QE report data are not zero",
            code="qe_report_data_not_zero",
        )


def _masked(value: bytes, mask: bytes) -> bytes:
    if len(value) != len(mask):
        raise ValueError(f"cannot mask {len(value)} bytes with a {len(mask)}-byte mask")
    masked = int.from_bytes(value, "big") & int.from_bytes(mask, "big")
    return masked.to_bytes(len(value), "big")


def check_qe_identity(quote: Quote, identity: EnclaveIdentity) -> None:
    """Steps 4.1.2.4.14-15: identity kind, then MISCSELECT, ATTRIBUTES, MRSIGNER, ISVPRODID."""
    wanted = "TD_QE" if quote.is_tdx else "QE"
    if identity.id != wanted or identity.version != 2:
        raise QeIdentityError(
            f"a {quote.tee_type.name} quote needs a version 2 {wanted} identity, "
            f"got {identity.id} version {identity.version}",
            code="qe_identity_version",
        )
    report = quote.qe_report
    problems = []
    if report.misc_select & identity.miscselect_mask != identity.miscselect:
        problems.append(f"MISCSELECT {report.misc_select:08x}")
    if _masked(report.attributes, identity.attributes_mask) != identity.attributes:
        problems.append(f"ATTRIBUTES {report.attributes.hex()}")
    if report.mr_signer != identity.mrsigner:
        problems.append(f"MRSIGNER {report.mr_signer.hex()}")
    if report.isv_prod_id != identity.isvprodid:
        problems.append(f"ISVPRODID {report.isv_prod_id}")
    if problems:
        raise QeIdentityError(
            f"the QE report does not match the {identity.id} identity: " + ", ".join(problems)
        )


def qe_tcb_level(quote: Quote, identity: EnclaveIdentity) -> EnclaveIdentityTcbLevel | None:
    """The first identity level (JSON order) whose ISVSVN the QE meets; None if none."""
    isv_svn = quote.qe_report.isv_svn
    for level in identity.tcb_levels:
        if level.isvsvn <= isv_svn:
            return level
    return None


def qe_status_of(level: EnclaveIdentityTcbLevel) -> TcbStatus:
    """Intel's reading of a QE level: UpToDate, Revoked, or else OutOfDate."""
    if level.tcb_status in (TcbStatus.UP_TO_DATE, TcbStatus.REVOKED):
        return level.tcb_status
    return TcbStatus.OUT_OF_DATE
