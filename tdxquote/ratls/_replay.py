"""Replaying the event log into RTMR0 to RTMR3 and comparing with the quote.

``RTMR[i] = SHA-384(RTMR[i] || digest)`` for each event of register ``i`` in
order, from 48 zero bytes.  RTMR3 is replayed from the runtime events (the
authoritative RTMR3 log, as dstack's verifier does), with digests recomputed
from name and payload; the event log's own RTMR3 entries, when it has any,
must replay to the same register.

RTMR0 to RTMR2 can only be replayed from a complete boot log.  Certificates
embed a stripped log: no boot events at all (dstack v0.5.9 to v0.5.11), or
only the three RTMR0 ``ACPI DATA`` markers (later versions).  Such a register
is reported as not replayable (``None``), never as a match; a complete log
that does not replay is a mismatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._errors import RtmrMismatchError
from ._eventlog import DIGEST_SIZE, RuntimeEvent, TdxEvent

__all__ = ["ACPI_DATA_EVENT_TYPE", "RtmrReplay", "extend", "replay", "replay_rtmrs"]

ACPI_DATA_EVENT_TYPE = 0x0A
"""``EV_PLATFORM_CONFIG_FLAGS``: the type of the RTMR0 "ACPI DATA" markers a stripped log keeps."""
_ACPI_DATA = b"ACPI DATA"
_ZERO = bytes(DIGEST_SIZE)


def extend(register: bytes, digest: bytes) -> bytes:
    """One RTMR extension: SHA-384(register || digest)."""
    return hashlib.sha384(register + digest).digest()


def replay(digests: Iterable[bytes]) -> bytes:
    """The register value after extending ``digests`` in order, from zero."""
    register = _ZERO
    for digest in digests:
        register = extend(register, digest)
    return register


@dataclass(frozen=True)
class RtmrReplay:
    """RTMR0 to RTMR3 as quoted, as replayed (None: not replayable), and the outcome.

    ``matches[i]`` is True (replayed, equal), False (replayed, different) or
    None (the log cannot replay this register); ``reasons[i]`` says why it is
    not True.
    """

    quoted: tuple[bytes, bytes, bytes, bytes]
    replayed: tuple[bytes | None, bytes | None, bytes | None, bytes | None]
    matches: tuple[bool | None, bool | None, bool | None, bool | None]
    reasons: tuple[str, str, str, str]

    @property
    def replayed_rtmrs(self) -> tuple[int, ...]:
        """Indices of the registers replayed and equal to the quote."""
        return tuple(i for i, ok in enumerate(self.matches) if ok is True)

    @property
    def unreplayable_rtmrs(self) -> tuple[int, ...]:
        """Indices of the registers the log cannot replay (stripped boot events)."""
        return tuple(i for i, ok in enumerate(self.matches) if ok is None)

    @property
    def mismatched_rtmrs(self) -> tuple[int, ...]:
        """Indices of the registers whose replay differs from the quote."""
        return tuple(i for i, ok in enumerate(self.matches) if ok is False)

    @property
    def ok(self) -> bool:
        """No replayed register differs from the quote."""
        return not self.mismatched_rtmrs

    def to_dict(self) -> dict[str, bool | None]:
        """``{"rtmr0": True | False | None, ...}``."""
        return {f"rtmr{i}": ok for i, ok in enumerate(self.matches)}

    def check(self) -> None:
        """Raise :class:`~tdxquote.ratls.RtmrMismatchError` for the first mismatch."""
        for index in self.mismatched_rtmrs:
            replayed = self.replayed[index] or b""
            raise RtmrMismatchError(
                f"RTMR{index} mismatch: {self.reasons[index]}; quoted "
                f"{self.quoted[index].hex()}, replayed {replayed.hex()}",
                index=index,
                quoted=self.quoted[index],
                replayed=replayed,
            )


def _is_acpi_marker(event: TdxEvent) -> bool:
    return event.event_type == ACPI_DATA_EVENT_TYPE and event.event_payload == _ACPI_DATA


def _boot_register(
    events: Sequence[TdxEvent], index: int, quoted: bytes
) -> tuple[bytes | None, bool | None, str]:
    if not events:
        return None, None, f"the event log has no RTMR{index} events (stripped)"
    if all(_is_acpi_marker(e) for e in events):
        return None, None, f"the event log keeps only the RTMR{index} ACPI DATA markers (stripped)"
    digests = [e.replay_digest() for e in events]
    if any(d is None for d in digests):
        return None, None, f"an RTMR{index} boot event has no digest (stripped)"
    value = replay(d for d in digests if d is not None)
    if value == quoted:
        return value, True, ""
    return value, False, f"the event log's RTMR{index} events do not replay to the quoted value"


def _runtime_register(
    event_log: Sequence[TdxEvent], runtime_events: Sequence[RuntimeEvent], quoted: bytes
) -> tuple[bytes, bool, str]:
    value = replay(e.digest for e in runtime_events)
    if value != quoted:
        return value, False, "the runtime events do not replay to the quoted RTMR3"
    logged = [e.replay_digest() for e in event_log if e.imr == 3]
    if logged and all(d is not None for d in logged):
        from_log = replay(d for d in logged if d is not None)
        if from_log != quoted:
            return from_log, False, "the event log's RTMR3 entries do not replay to RTMR3"
    return value, True, ""


def replay_rtmrs(
    event_log: Sequence[TdxEvent],
    runtime_events: Sequence[RuntimeEvent],
    quoted: Sequence[bytes],
) -> RtmrReplay:
    """Replay every register the log allows and compare with the ``quoted`` RTMR0..3."""
    if len(quoted) != 4:
        raise ValueError("quoted must hold RTMR0 to RTMR3")
    replayed: list[bytes | None] = []
    matches: list[bool | None] = []
    reasons: list[str] = []
    for index in range(3):
        events = [e for e in event_log if e.imr == index]
        value, ok, reason = _boot_register(events, index, quoted[index])
        replayed.append(value)
        matches.append(ok)
        reasons.append(reason)
    value3, ok3, reason3 = _runtime_register(event_log, runtime_events, quoted[3])
    return RtmrReplay(
        quoted=(quoted[0], quoted[1], quoted[2], quoted[3]),
        replayed=(replayed[0], replayed[1], replayed[2], value3),
        matches=(matches[0], matches[1], matches[2], ok3),
        reasons=(reasons[0], reasons[1], reasons[2], reason3),
    )
