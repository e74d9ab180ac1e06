"""Intel TCB Info (v3 ``TDX`` / ``SGX``, v2 SGX), parsed from the signed PCS body.

Parsing follows Intel's QVL (``AttestationParsers/src/Json/TcbInfo.cpp``,
``TcbLevel.cpp``, ``TdxModuleIdentity.cpp``) and is stricter where QVL is
silently lossy: SVNs above 255 are rejected rather than truncated to a byte.
Unknown members are ignored, as Intel does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from ._fields import U8, U16, U32, Obj
from ._signed import check_signature, load_signed_body, split_response
from ._status import TCB_LEVEL_STATUSES, TDX_MODULE_LEVEL_STATUSES, TcbStatus

__all__ = ["TcbInfo", "TcbLevel", "TdxModule", "TdxModuleIdentity", "TdxModuleTcbLevel"]

_CODE = "tcb_info_format"
_COMPONENTS = 16
_VERSIONS = (2, 3)
_IDS = ("SGX", "TDX")


@dataclass(frozen=True)
class TcbLevel:
    """One platform TCB level.

    ``sgx_components`` and ``tdx_components`` hold the 16 component SVNs
    (``tdx_components`` is ``None`` for SGX TCB Info).
    """

    sgx_components: tuple[int, ...]
    pce_svn: int
    tdx_components: tuple[int, ...] | None
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...]

    def sort_key(self) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
        """Intel's level order key: SGX SVNs, then PCESVN, then TDX SVNs."""
        return (self.sgx_components, self.pce_svn, self.tdx_components or ())


@dataclass(frozen=True)
class TdxModule:
    """The base TDX module identity (``tdxModule``)."""

    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes


@dataclass(frozen=True)
class TdxModuleTcbLevel:
    """A TCB level of a TDX module identity."""

    isvsvn: int
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True)
class TdxModuleIdentity:
    """A TDX module identity (``tdxModuleIdentities[]``, e.g. ``TDX_01``).

    ``tcb_levels`` are sorted by descending ``isvsvn``.
    """

    id: str
    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes
    tcb_levels: tuple[TdxModuleTcbLevel, ...]


@dataclass(frozen=True)
class TcbInfo:
    """Intel TCB Info for one FMSPC.

    ``tcb_levels`` are sorted as Intel's QVL sorts them: descending, by the
    SGX component SVNs, then PCESVN, then the TDX component SVNs.  For v2
    (SGX only, no ``id`` in the JSON) ``id`` is ``"SGX"``.  ``tdx_module`` is
    set for ``TDX`` only; ``tdx_module_identities`` is empty when absent.

    ``signed_body`` is the exact text of the ``tcbInfo`` value that
    ``signature`` (64-byte ECDSA P-256 ``r || s``) covers.
    """

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
    tcb_evaluation_data_number: int
    tdx_module: TdxModule | None
    tdx_module_identities: tuple[TdxModuleIdentity, ...]
    tcb_levels: tuple[TcbLevel, ...]
    signed_body: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    @classmethod
    def from_response(cls, body: bytes | str) -> TcbInfo:
        """Parse a PCS TCB Info response ``{"tcbInfo": {...}, "signature": "<hex>"}``."""
        signed_body, signature = split_response(body, "tcbInfo", code=_CODE)
        return cls.from_signed_body(signed_body, signature)

    @classmethod
    def from_signed_body(cls, signed_body: bytes | str, signature: bytes) -> TcbInfo:
        """Parse the exact ``tcbInfo`` JSON text and its 64-byte ``r || s`` signature."""
        check_signature(signature, code=_CODE)
        raw, info = load_signed_body(signed_body, "tcbInfo", code=_CODE)
        return _parse(raw, info, signature)

    def module_identity(self, identity_id: str) -> TdxModuleIdentity | None:
        """The module identity named ``identity_id`` (case-insensitive, as QVL matches)."""
        wanted = identity_id.upper()
        for identity in self.tdx_module_identities:
            if identity.id.upper() == wanted:
                return identity
        return None


def _parse(raw: bytes, info: Obj, signature: bytes) -> TcbInfo:
    version = info.uint("version", U32)
    if version not in _VERSIONS:
        info.fail(f"unsupported version {version} (supported: 2, 3)", "version")
    if version == 3:
        tcb_id = info.string("id")
        if tcb_id not in _IDS:
            info.fail(f"unknown id {tcb_id[:100]!r} (supported: SGX, TDX)", "id")
    else:
        tcb_id = "SGX"
    tcb_type = info.uint("tcbType", U32)
    if tcb_type != 0:
        info.fail(f"unsupported tcbType {tcb_type} (supported: 0)", "tcbType")

    tdx_module: TdxModule | None = None
    identities: tuple[TdxModuleIdentity, ...] = ()
    if version == 3 and tcb_id == "TDX":
        tdx_module = _tdx_module(info.obj("tdxModule"))
        if info.has("tdxModuleIdentities"):
            identities = _module_identities(info)
    elif version == 3:
        info.absent("tdxModule", "in SGX TCB Info")
        info.absent("tdxModuleIdentities", "in SGX TCB Info")

    return TcbInfo(
        id=tcb_id,
        version=version,
        issue_date=info.date("issueDate"),
        next_update=info.date("nextUpdate"),
        fmspc=info.hex_bytes("fmspc", 6),
        pce_id=info.hex_bytes("pceId", 2),
        tcb_type=tcb_type,
        tcb_evaluation_data_number=info.uint("tcbEvaluationDataNumber", U32),
        tdx_module=tdx_module,
        tdx_module_identities=identities,
        tcb_levels=_tcb_levels(info, version, tcb_id),
        signed_body=raw,
        signature=signature,
    )


def _tdx_module(module: Obj) -> TdxModule:
    return TdxModule(
        mrsigner=module.hex_bytes("mrsigner", 48),
        attributes=module.hex_bytes("attributes", 8),
        attributes_mask=module.hex_bytes("attributesMask", 8),
    )


def _module_identities(info: Obj) -> tuple[TdxModuleIdentity, ...]:
    identities = tuple(_module_identity(obj) for obj in info.objects("tdxModuleIdentities"))
    seen: set[str] = set()
    for identity in identities:
        if identity.id.upper() in seen:
            info.fail(f"duplicate module identity {identity.id!r}", "tdxModuleIdentities")
        seen.add(identity.id.upper())
    return identities


def _module_identity(obj: Obj) -> TdxModuleIdentity:
    identity_id = obj.string("id")
    if not identity_id:
        obj.fail("empty identity id", "id")
    levels = [
        TdxModuleTcbLevel(
            isvsvn=level.obj("tcb").uint("isvsvn", U16),
            tcb_date=level.date("tcbDate"),
            tcb_status=level.status("tcbStatus", TDX_MODULE_LEVEL_STATUSES),
            advisory_ids=level.string_list("advisoryIDs"),
        )
        for level in obj.objects("tcbLevels")
    ]
    levels.sort(key=lambda level: level.isvsvn, reverse=True)
    for higher, lower in pairwise(levels):
        if higher.isvsvn == lower.isvsvn:
            obj.fail(f"duplicate TCB level for isvsvn {lower.isvsvn}", "tcbLevels")
    return TdxModuleIdentity(
        id=identity_id,
        mrsigner=obj.hex_bytes("mrsigner", 48),
        attributes=obj.hex_bytes("attributes", 8),
        attributes_mask=obj.hex_bytes("attributesMask", 8),
        tcb_levels=tuple(levels),
    )


def _tcb_levels(info: Obj, version: int, tcb_id: str) -> tuple[TcbLevel, ...]:
    levels = [_tcb_level(level, version, tcb_id) for level in info.objects("tcbLevels")]
    levels.sort(key=TcbLevel.sort_key, reverse=True)
    for higher, lower in pairwise(levels):
        if higher.sort_key() == lower.sort_key():
            info.fail("duplicate TCB level (same component SVNs and PCESVN)", "tcbLevels")
    return tuple(levels)


def _tcb_level(level: Obj, version: int, tcb_id: str) -> TcbLevel:
    tcb = level.obj("tcb")
    tdx_components: tuple[int, ...] | None = None
    if version == 2:
        sgx_components = tuple(
            tcb.uint(f"sgxtcbcomp{i:02d}svn", U8) for i in range(1, _COMPONENTS + 1)
        )
    else:
        sgx_components = _components(tcb, "sgxtcbcomponents")
        # Intel ignores tdxtcbcomponents in SGX TCB Info (its own PCKCertSelection
        # sample carries them), so do we.
        if tcb_id == "TDX":
            tdx_components = _components(tcb, "tdxtcbcomponents")
    return TcbLevel(
        sgx_components=sgx_components,
        pce_svn=tcb.uint("pcesvn", U16),
        tdx_components=tdx_components,
        tcb_date=level.date("tcbDate"),
        tcb_status=level.status("tcbStatus", TCB_LEVEL_STATUSES),
        advisory_ids=level.string_list("advisoryIDs"),
    )


def _components(tcb: Obj, key: str) -> tuple[int, ...]:
    # Every TCB level has 16 (twice for TDX): read well-formed ones without an Obj each;
    # anything else goes the general way below, which names the first problem.
    svns = []
    for item in tcb.array(key, length=_COMPONENTS):
        if not isinstance(item, dict):
            break
        svn = item.get("svn")
        if not (
            type(svn) is int
            and 0 <= svn <= U8
            and isinstance(item.get("category", ""), str)
            and isinstance(item.get("type", ""), str)
        ):
            break
        svns.append(svn)
    else:
        return tuple(svns)
    components = tcb.objects(key, length=_COMPONENTS)
    for component in components:
        component.optional_string("category")
        component.optional_string("type")
    return tuple(component.uint("svn", U8) for component in components)
