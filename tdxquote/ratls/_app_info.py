"""The ``.1.9`` extension: dstack's msgpack ``AppInfo``, an issuer claim.

A certificate made with ``with_app_info`` carries what the issuer (the
guest agent or the KMS) says about the app, in this order::

    app_id, compose_hash, instance_id, device_id, mr_system[32], mr_aggregated[32],
    os_image_hash, key_provider_info [, init_script_hashes: Option<Vec<bytes>>]

dstack v0.5.11 and later write it with ``rmp_serde::to_vec``: a **positional
array** (8 elements; 9 with ``init_script_hashes``, nil or an array, after
v0.5.11).  The branch that fixes dstack's msgpack encoding writes a **named
map** with the same keys.  Both are read.  Byte fields are msgpack ``bin``
(``serde_human_bytes``); integer arrays are accepted too.

Nothing in it is attested: :func:`app_info_consistency` compares each field
with the value recomputed from the attestation (runtime events and
:mod:`~tdxquote.ratls._measurements`), and only a field that matches is
worth anything, and then only once the certificate verifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgpack

from ._errors import RaTlsFormatError
from ._extensions import OID_APP_INFO
from ._msgpack_v1 import MAX_EVENTS, MsgpackReader

if TYPE_CHECKING:
    from ._events import DstackEvents
    from ._measurements import DstackMeasurements

__all__ = [
    "APP_INFO_FIELDS",
    "AppInfo",
    "app_info_consistency",
    "decode_app_info",
    "encode_app_info",
]

APP_INFO_FIELDS = (
    "app_id",
    "compose_hash",
    "instance_id",
    "device_id",
    "mr_system",
    "mr_aggregated",
    "os_image_hash",
    "key_provider_info",
)
"""``AppInfo`` fields in declaration order (``init_script_hashes`` may follow)."""

_MAX_APP_INFO_SIZE = 1 << 20


@dataclass(frozen=True)
class AppInfo:
    """A decoded ``.1.9`` ``AppInfo``: what the certificate's issuer claims (not attested)."""

    app_id: bytes
    compose_hash: bytes
    instance_id: bytes
    device_id: bytes
    mr_system: bytes
    mr_aggregated: bytes
    os_image_hash: bytes
    key_provider_info: bytes
    init_script_hashes: tuple[bytes, ...] | None = None
    encoding: Literal["array", "map"] = "array"
    """``"array"``: positional (dstack v0.5.11, HEAD); ``"map"``: named (the fix branch)."""

    def to_dict(self) -> dict[str, Any]:
        """Lowercase hex of every field, plus ``encoding``."""
        out: dict[str, Any] = {name: getattr(self, name).hex() for name in APP_INFO_FIELDS}
        out["init_script_hashes"] = (
            None if self.init_script_hashes is None else [h.hex() for h in self.init_script_hashes]
        )
        out["encoding"] = self.encoding
        return out


def _mr(reader: MsgpackReader, field: str) -> bytes:
    start = reader.offset
    value = reader.byte_string(field, cap=32)
    if len(value) != 32:
        raise reader.fail(f"must be 32 bytes, not {len(value)}", field, start)
    return value


def _init_scripts(reader: MsgpackReader, field: str) -> tuple[bytes, ...] | None:
    if reader.nil(field):
        return None
    count = reader.array_header(field, cap=MAX_EVENTS)
    return tuple(reader.byte_string(f"{field}[{i}]") for i in range(count))


def _readers(reader: MsgpackReader) -> dict[str, Callable[[str], Any]]:
    readers: dict[str, Callable[[str], Any]] = dict.fromkeys(APP_INFO_FIELDS, reader.byte_string)
    readers["mr_system"] = lambda f: _mr(reader, f)
    readers["mr_aggregated"] = lambda f: _mr(reader, f)
    readers["init_script_hashes"] = lambda f: _init_scripts(reader, f)
    return readers


def decode_app_info(payload: bytes | bytearray | memoryview) -> AppInfo:
    """Decode a ``.1.9`` payload (positional array or named map).

    Raises :class:`~tdxquote.ratls.RaTlsFormatError` for anything else:
    another element count, unknown or duplicate keys, wrong types, a
    ``mr_*`` that is not 32 bytes, trailing bytes.
    """
    data = bytes(payload)
    if len(data) > _MAX_APP_INFO_SIZE:
        raise RaTlsFormatError(
            f"{len(data)} bytes: larger than {_MAX_APP_INFO_SIZE}", offset=0, field=OID_APP_INFO
        )
    reader = MsgpackReader(data, root=OID_APP_INFO)
    readers = _readers(reader)
    first = reader.peek("")
    values: dict[str, Any]
    encoding: Literal["array", "map"]
    if 0x80 <= first <= 0x8F or first in (0xDE, 0xDF):
        encoding = "map"
        values = reader.fields("", readers, required=APP_INFO_FIELDS)
    else:
        encoding = "array"
        start = reader.offset
        count = reader.array_header("", cap=len(APP_INFO_FIELDS) + 1)
        if count not in (len(APP_INFO_FIELDS), len(APP_INFO_FIELDS) + 1):
            raise reader.fail(f"an AppInfo array has 8 or 9 elements, not {count}", "", start)
        names = [*APP_INFO_FIELDS, "init_script_hashes"][:count]
        values = {name: readers[name](f".{name}") for name in names}
    reader.end()
    return AppInfo(
        **{name: values[name] for name in APP_INFO_FIELDS},
        init_script_hashes=values.get("init_script_hashes"),
        encoding=encoding,
    )


def app_info_consistency(
    app_info: AppInfo, events: DstackEvents, measurements: DstackMeasurements
) -> dict[str, bool | None]:
    """Each claimed field against the value recomputed from the attestation.

    True: equal; False: different; None: tdxquote cannot recompute it
    (``device_id``; ``os_image_hash`` without an ``os-image-hash`` event;
    ``init_script_hashes`` when absent).  ``mr_system`` and ``mr_aggregated``
    match either dstack's runtime or its boot-time value; an empty
    ``key_provider_info`` matches the boot-time form (dstack empties it there).
    """

    def same(claimed: bytes, actual: bytes | None) -> bool | None:
        return None if actual is None else claimed == actual

    runtime, boot = measurements.runtime, measurements.boottime
    result: dict[str, bool | None] = {
        "app_id": same(app_info.app_id, events.app_id),
        "compose_hash": same(app_info.compose_hash, events.compose_hash),
        "instance_id": same(app_info.instance_id, events.instance_id),
        "device_id": None,
        "mr_system": app_info.mr_system in (runtime.mr_system, boot.mr_system),
        "mr_aggregated": app_info.mr_aggregated in (runtime.mr_aggregated, boot.mr_aggregated),
        "os_image_hash": same(app_info.os_image_hash, events.os_image_hash),
        "key_provider_info": app_info.key_provider_info == (events.key_provider or b"")
        or (app_info.key_provider_info == b"" and app_info.mr_system == boot.mr_system),
    }
    if app_info.init_script_hashes is not None:
        result["init_script_hashes"] = app_info.init_script_hashes == events.find_all(
            "init-script-hash"
        )
    return result


def encode_app_info(app_info: AppInfo) -> bytes:
    """Encode ``app_info`` as dstack does, in its ``encoding`` (array or map), bytes as bin.

    ``init_script_hashes`` is written (nil or an array) only when not None.
    """
    values: dict[str, Any] = {name: bytes(getattr(app_info, name)) for name in APP_INFO_FIELDS}
    if app_info.init_script_hashes is not None:
        values["init_script_hashes"] = [bytes(h) for h in app_info.init_script_hashes]
    document: Any = values if app_info.encoding == "map" else list(values.values())
    packed: bytes = msgpack.packb(document, use_bin_type=True)
    return packed
