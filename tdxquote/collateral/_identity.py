"""Intel Enclave Identity v2 (``TD_QE``, ``QE``, ``QVE``), parsed from the signed PCS body.

Parsing follows Intel's QVL (``Verifiers/EnclaveIdentityV2.cpp``).  Unknown
members are ignored, as Intel does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ._fields import U16, U32, Obj
from ._signed import check_signature, load_signed_body, split_response
from ._status import ENCLAVE_IDENTITY_LEVEL_STATUSES, TcbStatus

__all__ = ["EnclaveIdentity", "EnclaveIdentityTcbLevel"]

_CODE = "qe_identity_format"
_IDS = ("QE", "QVE", "TD_QE")
_VERSIONS = (2,)


@dataclass(frozen=True)
class EnclaveIdentityTcbLevel:
    """A TCB level of an enclave identity."""

    isvsvn: int
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True)
class EnclaveIdentity:
    """Intel Enclave Identity v2: the expected identity of the QE / TD_QE / QVE.

    ``miscselect`` and ``miscselect_mask`` are integers to compare with the
    report's MISCSELECT read as a little-endian u32: Intel writes the four
    report bytes in order as hex, and QVL byte-swaps the big-endian reading
    of that text (``EnclaveReportVerifier::vectorToUint32``).  So hex
    ``"01000000"`` is ``1``.  ``attributes``, ``attributes_mask`` (16 bytes)
    and ``mrsigner`` (32 bytes) are raw bytes in report order.

    ``tcb_levels`` keep JSON order: Intel takes the first level whose
    ``isvsvn`` is not above the report's ISVSVN.

    ``signed_body`` is the exact text of the ``enclaveIdentity`` value that
    ``signature`` (64-byte ECDSA P-256 ``r || s``) covers.
    """

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    tcb_evaluation_data_number: int
    miscselect: int
    miscselect_mask: int
    attributes: bytes
    attributes_mask: bytes
    mrsigner: bytes
    isvprodid: int
    tcb_levels: tuple[EnclaveIdentityTcbLevel, ...]
    signed_body: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @classmethod
    def from_response(cls, body: bytes | str) -> EnclaveIdentity:
        """Parse a PCS response ``{"enclaveIdentity": {...}, "signature": "<hex>"}``."""
        signed_body, signature = split_response(body, "enclaveIdentity", code=_CODE)
        return cls.from_signed_body(signed_body, signature)

    @classmethod
    def from_signed_body(cls, signed_body: bytes | str, signature: bytes) -> EnclaveIdentity:
        """Parse the exact ``enclaveIdentity`` JSON text and its 64-byte ``r || s`` signature."""
        check_signature(signature, code=_CODE)
        raw, identity = load_signed_body(signed_body, "enclaveIdentity", code=_CODE)
        return _parse(raw, identity, signature)


def _parse(raw: bytes, identity: Obj, signature: bytes) -> EnclaveIdentity:
    identity_id = identity.string("id")
    if identity_id not in _IDS:
        identity.fail(f"unknown id {identity_id[:100]!r} (supported: QE, QVE, TD_QE)", "id")
    version = identity.uint("version", U32)
    if version not in _VERSIONS:
        identity.fail(f"unsupported version {version} (supported: 2)", "version")
    levels = tuple(
        EnclaveIdentityTcbLevel(
            isvsvn=level.obj("tcb").uint("isvsvn", U16),
            tcb_date=level.date("tcbDate"),
            tcb_status=level.status("tcbStatus", ENCLAVE_IDENTITY_LEVEL_STATUSES),
            advisory_ids=level.string_list("advisoryIDs"),
        )
        for level in identity.objects("tcbLevels")
    )
    return EnclaveIdentity(
        id=identity_id,
        version=version,
        issue_date=identity.date("issueDate"),
        next_update=identity.date("nextUpdate"),
        tcb_evaluation_data_number=identity.uint("tcbEvaluationDataNumber", U32),
        miscselect=int.from_bytes(identity.hex_bytes("miscselect", 4), "little"),
        miscselect_mask=int.from_bytes(identity.hex_bytes("miscselectMask", 4), "little"),
        attributes=identity.hex_bytes("attributes", 16),
        attributes_mask=identity.hex_bytes("attributesMask", 16),
        mrsigner=identity.hex_bytes("mrsigner", 32),
        isvprodid=identity.uint("isvprodid", U16),
        tcb_levels=levels,
        signed_body=raw,
        signature=signature,
    )
