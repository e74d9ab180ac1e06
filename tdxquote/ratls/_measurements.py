"""dstack's derived measurements: ``mr_system``, ``mr_aggregated``, ``mr_key_provider``.

dstack's guest agent and KMS (``decode_app_info_ex``) summarise a TD in two
SHA-256 values computed from the quote and the runtime events::

    key_provider_info = payload of the "key-provider" event (empty in boot-time mode)
    mr_key_provider   = SHA-256(key_provider_info), or 32 zero bytes when it is empty
    mr_system         = SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2 || mr_key_provider)
    rtmr3'            = RTMR3 replayed from the runtime events
                        (boot-time mode: stop after "boot-mr-done")
    mr_aggregated     = SHA-256(MRTD || RTMR0 || RTMR1 || RTMR2 || rtmr3'
                                [|| MRCONFIGID || MROWNER || MROWNERCONFIG, when any is non-zero])

The *runtime* values (full RTMR3, the key provider) are what the guest agent's
``Info()`` reports as ``tcb_info.mr_aggregated``; the *boot-time* values are
what KMS authorisation pins (``kms.mrAggregated``).  Both are attested once
the quote verifies and RTMR3 replays from these events.

``device_id`` is not pinned by anything here.  The reference describes it as
SHA-256 of the PPID from the verified DCAP report, but the one real sample
with a dstack-reported ``device_id`` (``nearai-pmlsdk_dstack_info.json``) does
not follow that rule; it equals SHA-256 of the quote header's 20-byte
``user_data`` (the QE identity), which :func:`qe_device_id` computes.  One
sample, one dstack version: reported, never used for a verdict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._quote import Quote
from .._reports import TdReport
from ._eventlog import RuntimeEvent
from ._replay import replay

__all__ = [
    "BOOT_MR_DONE",
    "DstackMeasurements",
    "MeasurementSet",
    "dstack_measurements",
    "qe_device_id",
]

BOOT_MR_DONE = "boot-mr-done"
"""The runtime event after which dstack's boot-time measurement stops."""
_SYSTEM_READY = "system-ready"
_ZERO32 = bytes(32)


@dataclass(frozen=True)
class MeasurementSet:
    """One mode's values: ``mr_system``, ``mr_aggregated`` and what went into them."""

    mr_system: bytes
    mr_aggregated: bytes
    mr_key_provider: bytes
    rtmr3: bytes
    """The RTMR3 value hashed into ``mr_aggregated`` (boot-time: a partial replay)."""

    def to_dict(self) -> dict[str, str]:
        """Lowercase hex of every value."""
        return {
            "mr_system": self.mr_system.hex(),
            "mr_aggregated": self.mr_aggregated.hex(),
            "mr_key_provider": self.mr_key_provider.hex(),
            "rtmr3": self.rtmr3.hex(),
        }


@dataclass(frozen=True)
class DstackMeasurements:
    """The runtime and boot-time measurement sets of one TD."""

    runtime: MeasurementSet
    boottime: MeasurementSet

    @property
    def mr_system(self) -> bytes:
        """Runtime ``mr_system`` (with the key provider)."""
        return self.runtime.mr_system

    @property
    def mr_aggregated(self) -> bytes:
        """Runtime ``mr_aggregated``: the guest agent's ``tcb_info.mr_aggregated``."""
        return self.runtime.mr_aggregated

    def to_dict(self) -> dict[str, Any]:
        """``{"mr_system", "mr_aggregated", "runtime": {...}, "boottime": {...}}`` in hex."""
        return {
            "mr_system": self.mr_system.hex(),
            "mr_aggregated": self.mr_aggregated.hex(),
            "runtime": self.runtime.to_dict(),
            "boottime": self.boottime.to_dict(),
        }


def _key_provider(events: Sequence[RuntimeEvent]) -> bytes:
    for event in events:
        if event.event == _SYSTEM_READY:
            break
        if event.event == "key-provider":
            return event.payload
    return b""


def _rtmr3(events: Sequence[RuntimeEvent], *, stop_after: str | None) -> bytes:
    digests: list[bytes] = []
    for event in events:
        digests.append(event.digest)
        if stop_after is not None and event.event == stop_after:
            break
    return replay(digests)


def _measure(body: TdReport, key_provider_info: bytes, rtmr3: bytes) -> MeasurementSet:
    mr_key_provider = hashlib.sha256(key_provider_info).digest() if key_provider_info else _ZERO32
    system = hashlib.sha256(
        body.mr_td + body.rtmr0 + body.rtmr1 + body.rtmr2 + mr_key_provider
    ).digest()
    aggregated = hashlib.sha256()
    aggregated.update(body.mr_td + body.rtmr0 + body.rtmr1 + body.rtmr2 + rtmr3)
    tail = body.mr_config_id + body.mr_owner + body.mr_owner_config
    if any(tail):
        aggregated.update(tail)
    return MeasurementSet(system, aggregated.digest(), mr_key_provider, rtmr3)


def dstack_measurements(body: TdReport, events: Sequence[RuntimeEvent]) -> DstackMeasurements:
    """dstack's ``mr_system`` / ``mr_aggregated`` of the TD ``body`` with these runtime events.

    The values describe the quote only when RTMR3 replays from ``events``
    (check :class:`~tdxquote.ratls.RtmrReplay` first, as verification does).
    """
    return DstackMeasurements(
        runtime=_measure(body, _key_provider(events), _rtmr3(events, stop_after=None)),
        boottime=_measure(body, b"", _rtmr3(events, stop_after=BOOT_MR_DONE)),
    )


def qe_device_id(quote: Quote) -> bytes:
    """SHA-256 of the quote header's ``user_data`` (20 bytes: the QE identity, zero-padded).

    Reproduces the ``device_id`` the dstack guest agent reported in the one real
    sample available; not confirmed as dstack's rule in general (see the module
    docstring).  The header is covered by the quote's signature.
    """
    return hashlib.sha256(quote.header.user_data).digest()
