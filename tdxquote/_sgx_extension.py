"""Reading the SGX extension of PCK certificates: its values as plain tuples.

:mod:`tdxquote.pck` gives the extension as dataclasses (``PckExtension``);
this module only reads the DER into plain values, so that what shows or
counts a PCK leaf (``tdxquote parse``, ``tdxquote scan``) loads no class
machinery.  :func:`parse_fields` accepts exactly what
:func:`tdxquote.pck.parse_pck_extension` documents and raises the same
:class:`~tdxquote.errors.QuoteParseError`.
"""

from __future__ import annotations

from typing import TypeAlias

from tdxquote import _der
from tdxquote._der import Buffer, Tlv
from tdxquote.errors import QuoteParseError

__all__ = ["SGX_EXTENSION_OID", "SGX_TYPE_NAMES", "ExtensionFields", "parse_fields"]

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
"""OID of the SGX extension in PCK certificates."""

PPID_SIZE = 16
PCE_ID_SIZE = 2
FMSPC_SIZE = 6
CPU_SVN_SIZE = 16
PLATFORM_INSTANCE_ID_SIZE = 16

SGX_TYPE_NAMES = ("STANDARD", "SCALABLE", "SCALABLE_WITH_INTEGRITY")
"""The SGX types (entry ``.5``) by value: the names of :class:`tdxquote.pck.SgxType`."""
_MAX_SGX_TYPE = len(SGX_TYPE_NAMES) - 1

Configuration: TypeAlias = tuple[bool | None, bool | None, bool | None]
"""dynamic_platform, cached_keys, smt_enabled (each None when the certificate omits it)."""

ExtensionFields: TypeAlias = tuple[
    bytes, tuple[int, ...], int, bytes, bytes, bytes, int, bytes | None, Configuration | None
]
"""ppid, the 16 SGX TCB component SVNs, PCESVN, CPUSVN, PCE-ID, FMSPC, SGX type,
platform instance id and configuration (both None in the Processor CA's form)."""

_FIELD = "pck_extension"


# OIDs are matched on their encoded content octets; arcs below 128 are one octet.
_PREFIX = _der.encode_oid_content(SGX_EXTENSION_OID)
_PPID, _TCB, _PCE_ID, _FMSPC, _SGX_TYPE, _PLATFORM_INSTANCE_ID, _CONFIGURATION = range(1, 8)
_TOP_OIDS = {_PREFIX + bytes((arc,)): arc for arc in range(1, 8)}
_TOP_NAMES = {
    _PPID: "ppid",
    _TCB: "tcb",
    _PCE_ID: "pce_id",
    _FMSPC: "fmspc",
    _SGX_TYPE: "sgx_type",
    _PLATFORM_INSTANCE_ID: "platform_instance_id",
    _CONFIGURATION: "configuration",
}
_PROCESSOR_REQUIRED = (_PPID, _TCB, _PCE_ID, _FMSPC, _SGX_TYPE)
_PLATFORM_REQUIRED = (*_PROCESSOR_REQUIRED, _PLATFORM_INSTANCE_ID, _CONFIGURATION)

_TCB_PCESVN = 17
_TCB_CPUSVN = 18
_TCB_OIDS = {_PREFIX + bytes((_TCB, arc)): arc for arc in range(1, 19)}
_TCB_FIELDS = {
    **{arc: f"{_FIELD}.tcb.comp{arc:02d}" for arc in range(1, 17)},
    _TCB_PCESVN: f"{_FIELD}.tcb.pcesvn",
    _TCB_CPUSVN: f"{_FIELD}.tcb.cpusvn",
}

_PPID_FIELD = f"{_FIELD}.ppid"
_TCB_FIELD = f"{_FIELD}.tcb"
_PCE_ID_FIELD = f"{_FIELD}.pce_id"
_FMSPC_FIELD = f"{_FIELD}.fmspc"
_SGX_TYPE_FIELD = f"{_FIELD}.sgx_type"
_PLATFORM_INSTANCE_ID_FIELD = f"{_FIELD}.platform_instance_id"
_CONFIG_FIELD = f"{_FIELD}.configuration"

_CONFIG_NAMES = {1: "dynamic_platform", 2: "cached_keys", 3: "smt_enabled"}
_CONFIG_OIDS = {_PREFIX + bytes((_CONFIGURATION, arc)): arc for arc in _CONFIG_NAMES}


_new_tlv = tuple.__new__


def _entries(data: bytes, seq: Tlv, table: dict[bytes, int], field: str) -> dict[int, Tlv]:
    """Map each ``SEQUENCE {OID, value}`` entry of the SEQUENCE ``seq`` to its arc.

    Unknown and repeated OIDs are errors.  The common encoding (short lengths)
    is read inline; anything else goes through :func:`tdxquote._der.read_tlv`,
    which accepts exactly what the inline path accepts plus the long forms,
    and raises for everything malformed.
    """
    if seq.tag != _der.SEQUENCE:
        _der.expect_tag(seq, _der.SEQUENCE, field=field)
    found: dict[int, Tlv] = {}
    pos = seq.start
    end = seq.end
    read_tlv = _der.read_tlv
    while pos < end:
        inline = False
        if data[pos] == 0x30 and pos + 4 <= end:
            entry_length = data[pos + 1]
            oid_length = data[pos + 3]
            entry_end = pos + 2 + entry_length
            oid_start = pos + 4
            oid_end = oid_start + oid_length
            inline = (
                entry_length < 0x80
                and oid_length < 0x80
                and data[pos + 2] == 0x06
                and oid_end < entry_end <= end
            )
        if inline:
            entry_offset = pos
            oid_offset = pos + 2
        else:
            entry = read_tlv(data, pos, end, field=field)
            if entry.tag != _der.SEQUENCE:
                _der.expect_tag(entry, _der.SEQUENCE, field=field)
            oid = read_tlv(data, entry.start, entry.end, field=field)
            if oid.tag != _der.OBJECT_IDENTIFIER:
                _der.expect_tag(oid, _der.OBJECT_IDENTIFIER, field=field)
            entry_offset, entry_end = entry.offset, entry.end
            oid_offset, oid_start, oid_end = oid.offset, oid.start, oid.end
            if oid_end == entry_end:
                raise QuoteParseError(
                    "entry has an OID but no value", offset=entry_offset, field=field
                )
        value_length = data[oid_end + 1] if oid_end + 2 <= entry_end else 0x80
        if value_length < 0x80 and oid_end + 2 + value_length == entry_end:
            value_tag = data[oid_end]
            if value_tag & 0x1F == 0x1F:
                raise QuoteParseError(
                    "high-tag-number form is not supported", offset=oid_end, field=field
                )
            value = _new_tlv(Tlv, (value_tag, oid_end, oid_end + 2, entry_end))
        else:
            value = read_tlv(data, oid_end, entry_end, field=field)
            if value.end != entry_end:
                raise QuoteParseError(
                    "entry has more than two elements", offset=value.end, field=field
                )
        arc = table.get(data[oid_start:oid_end])
        if arc is None or arc in found:
            oid_tlv = Tlv(_der.OBJECT_IDENTIFIER, oid_offset, oid_start, oid_end)
            dotted = _der.decode_oid(data, oid_tlv, field=field)
            problem = "unknown" if arc is None else "duplicate"
            raise QuoteParseError(f"{problem} OID {dotted}", offset=oid_offset, field=field)
        found[arc] = value
        pos = entry_end
    return found


def _ranged(data: bytes, tlv: Tlv, field: str, maximum: int) -> int:
    """Decode a non-negative INTEGER no larger than ``maximum``."""
    start = tlv.start
    if tlv.tag == _der.INTEGER and tlv.end - start == 1 and data[start] < 0x80:
        return data[start]  # the common one-octet encoding, inline
    value = _der.decode_integer(data, tlv, field=field)
    if value > maximum:
        raise QuoteParseError(
            f"value {value} out of range 0..{maximum}", offset=tlv.offset, field=field
        )
    return value


def _parse_tcb(data: bytes, seq: Tlv) -> tuple[tuple[int, ...], int, bytes]:
    found = _entries(data, seq, _TCB_OIDS, _TCB_FIELD)
    if len(found) != 18:
        raise QuoteParseError(
            f"TCB must have 18 entries, found {len(found)}", offset=seq.offset, field=_TCB_FIELD
        )
    # 18 distinct known OIDs out of 18: every entry is present.
    components = tuple([_ranged(data, found[arc], _TCB_FIELDS[arc], 0xFF) for arc in range(1, 17)])
    pce_svn = _ranged(data, found[_TCB_PCESVN], _TCB_FIELDS[_TCB_PCESVN], 0xFFFF)
    cpu_svn = _der.decode_octet_string(
        data, found[_TCB_CPUSVN], field=_TCB_FIELDS[_TCB_CPUSVN], size=CPU_SVN_SIZE
    )
    return components, pce_svn, cpu_svn


def _parse_configuration(data: bytes, seq: Tlv) -> Configuration:
    found = _entries(data, seq, _CONFIG_OIDS, _CONFIG_FIELD)
    flags: list[bool | None] = [None, None, None]
    for arc, tlv in found.items():
        name = _CONFIG_NAMES[arc]
        flags[arc - 1] = _der.decode_boolean(data, tlv, field=f"{_CONFIG_FIELD}.{name}")
    return flags[0], flags[1], flags[2]


# --- Intel's own encoding, read by comparing its fixed bytes -------------------------------
#
# Intel encodes the extension one way: entries in arc order, every length in its shortest
# form, SVNs below 128 in one octet, all three configuration flags.  Everything but the
# values is then fixed, so it is compared a few bytes at a time instead of being walked
# element by element.  Whatever differs in the least (an SVN of 128 or more, another order,
# a missing flag, an error) is left to _parse_any_encoding, which reads every encoding the
# schema allows; what this path accepts is DER that path accepts with the same values.


def _sequence(arc_oid: str, content_size: int) -> bytes:
    """``SEQUENCE { OID arc_oid, ...`` up to the content that follows the OID."""
    oid = _der.encode_oid(arc_oid)
    return b"\x30" + _der.encode_length(len(oid) + content_size) + oid


def _head(arc_oid: str, value_tag: int, value_size: int) -> bytes:
    """The bytes of an entry ``SEQUENCE { OID, value }`` up to its value's content."""
    return _sequence(arc_oid, 2 + value_size) + bytes((value_tag, value_size))


_OID = SGX_EXTENSION_OID
_INTEL_PPID = _head(f"{_OID}.1", _der.OCTET_STRING, PPID_SIZE)
_INTEL_COMPONENTS = tuple(_head(f"{_OID}.2.{arc}", _der.INTEGER, 1) for arc in range(1, 18))
_INTEL_CPU_SVN = _head(f"{_OID}.2.18", _der.OCTET_STRING, CPU_SVN_SIZE)
_INTEL_TCB_SIZE = 17 * (len(_INTEL_COMPONENTS[0]) + 1) + len(_INTEL_CPU_SVN) + CPU_SVN_SIZE
_INTEL_TCB = (
    _sequence(f"{_OID}.2", 4 + _INTEL_TCB_SIZE) + b"\x30" + _der.encode_length(_INTEL_TCB_SIZE)
)
_INTEL_PCE_ID = _head(f"{_OID}.3", _der.OCTET_STRING, PCE_ID_SIZE)
_INTEL_FMSPC = _head(f"{_OID}.4", _der.OCTET_STRING, FMSPC_SIZE)
_INTEL_SGX_TYPE = _head(f"{_OID}.5", _der.ENUMERATED, 1)
_INTEL_INSTANCE_ID = _head(f"{_OID}.6", _der.OCTET_STRING, PLATFORM_INSTANCE_ID_SIZE)
_INTEL_FLAGS = tuple(_head(f"{_OID}.7.{arc}", _der.BOOLEAN, 1) for arc in (1, 2, 3))
_INTEL_CONFIG_SIZE = 3 * (len(_INTEL_FLAGS[0]) + 1)
_INTEL_CONFIG = (
    _sequence(f"{_OID}.7", 2 + _INTEL_CONFIG_SIZE)
    + b"\x30"
    + _der.encode_length(_INTEL_CONFIG_SIZE)
)
_FLAG_VALUES = {0x00: False, 0xFF: True}


def _parse_intel_encoding(data: bytes) -> ExtensionFields | None:
    """The extension in Intel's own encoding, or None for any other bytes."""
    size = len(data)
    if size < 4 or data[0] != 0x30 or data[1] != 0x82 or (data[2] << 8 | data[3]) != size - 4:
        return None
    at = 4
    end = at + len(_INTEL_PPID)
    if data[at:end] != _INTEL_PPID:
        return None
    ppid = data[end : end + PPID_SIZE]
    at = end + PPID_SIZE
    end = at + len(_INTEL_TCB)
    if data[at:end] != _INTEL_TCB:
        return None
    at = end
    svns = []
    for head in _INTEL_COMPONENTS:  # COMP01..16, then PCESVN
        end = at + len(head)
        if data[at:end] != head or end >= size or data[end] >= 0x80:
            return None
        svns.append(data[end])
        at = end + 1
    end = at + len(_INTEL_CPU_SVN)
    if data[at:end] != _INTEL_CPU_SVN:
        return None
    cpu_svn = data[end : end + CPU_SVN_SIZE]
    at = end + CPU_SVN_SIZE
    end = at + len(_INTEL_PCE_ID)
    if data[at:end] != _INTEL_PCE_ID:
        return None
    pce_id = data[end : end + PCE_ID_SIZE]
    at = end + PCE_ID_SIZE
    end = at + len(_INTEL_FMSPC)
    if data[at:end] != _INTEL_FMSPC:
        return None
    fmspc = data[end : end + FMSPC_SIZE]
    at = end + FMSPC_SIZE
    end = at + len(_INTEL_SGX_TYPE)
    if data[at:end] != _INTEL_SGX_TYPE or end >= size or data[end] > _MAX_SGX_TYPE:
        return None
    sgx_type = data[end]
    at = end + 1
    components = tuple(svns[:16])
    if at == size:  # the Processor CA's five entries
        return ppid, components, svns[16], cpu_svn, pce_id, fmspc, sgx_type, None, None
    end = at + len(_INTEL_INSTANCE_ID)
    if data[at:end] != _INTEL_INSTANCE_ID:
        return None
    instance_id = data[end : end + PLATFORM_INSTANCE_ID_SIZE]
    at = end + PLATFORM_INSTANCE_ID_SIZE
    end = at + len(_INTEL_CONFIG)
    if data[at:end] != _INTEL_CONFIG:
        return None
    at = end
    flags = []
    for head in _INTEL_FLAGS:
        end = at + len(head)
        flag = _FLAG_VALUES.get(data[end]) if data[at:end] == head and end < size else None
        if flag is None:
            return None
        flags.append(flag)
        at = end + 1
    if at != size:
        return None
    configuration = (flags[0], flags[1], flags[2])
    return ppid, components, svns[16], cpu_svn, pce_id, fmspc, sgx_type, instance_id, configuration


def parse_fields(value: Buffer) -> ExtensionFields:
    """The SGX extension's values, read as :func:`tdxquote.pck.parse_pck_extension` documents."""
    data = value if isinstance(value, bytes) else bytes(value)
    return _parse_intel_encoding(data) or _parse_any_encoding(data)


def _parse_any_encoding(data: bytes) -> ExtensionFields:
    """Entry by entry, in any order: every DER encoding the schema allows, or the error."""
    top = _der.read_one(data, tag=_der.SEQUENCE, field=_FIELD)
    found = _entries(data, top, _TOP_OIDS, _FIELD)
    count = len(found)
    if count != 5 and count != 7:
        raise QuoteParseError(
            f"SGX extension must have 5 (Processor CA) or 7 (Platform CA) entries, found {count}",
            offset=top.offset,
            field=_FIELD,
        )
    for arc in _PROCESSOR_REQUIRED if count == 5 else _PLATFORM_REQUIRED:
        if arc not in found:
            raise QuoteParseError(
                f"required entry {_TOP_NAMES[arc]} ({SGX_EXTENSION_OID}.{arc}) is missing",
                offset=top.offset,
                field=f"{_FIELD}.{_TOP_NAMES[arc]}",
            )

    ppid = _der.decode_octet_string(data, found[_PPID], field=_PPID_FIELD, size=PPID_SIZE)
    components, pce_svn, cpu_svn = _parse_tcb(data, found[_TCB])
    pce_id = _der.decode_octet_string(data, found[_PCE_ID], field=_PCE_ID_FIELD, size=PCE_ID_SIZE)
    fmspc = _der.decode_octet_string(data, found[_FMSPC], field=_FMSPC_FIELD, size=FMSPC_SIZE)
    type_tlv = found[_SGX_TYPE]
    sgx_type = _der.decode_enumerated(data, type_tlv, field=_SGX_TYPE_FIELD)
    if sgx_type > _MAX_SGX_TYPE:
        raise QuoteParseError(
            f"unknown SGX type {sgx_type}", offset=type_tlv.offset, field=_SGX_TYPE_FIELD
        )

    platform_instance_id: bytes | None = None
    configuration: Configuration | None = None
    if count == 7:
        platform_instance_id = _der.decode_octet_string(
            data,
            found[_PLATFORM_INSTANCE_ID],
            field=_PLATFORM_INSTANCE_ID_FIELD,
            size=PLATFORM_INSTANCE_ID_SIZE,
        )
        configuration = _parse_configuration(data, found[_CONFIGURATION])

    return (
        ppid,
        components,
        pce_svn,
        cpu_svn,
        pce_id,
        fmspc,
        sgx_type,
        platform_instance_id,
        configuration,
    )
