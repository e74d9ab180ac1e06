"""The runtime events people pin: app id, compose hash, instance id, key provider, OS image.

dstack extends these into RTMR3 while the TD boots, in this order:
``system-preparing``, ``app-id``, ``compose-hash``, (``init-script-hash``),
``instance-id``, ``boot-mr-done``, (``os-image-hash``), ``key-provider``,
``storage-fs``, ``system-ready``.  Anything after ``system-ready`` is emitted
by the application, so lookups stop there (as dstack's ``find_event`` does):
an application cannot spoof a system value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._eventlog import RuntimeEvent

__all__ = ["SYSTEM_READY", "DstackEvents"]

SYSTEM_READY = "system-ready"


@dataclass(frozen=True)
class DstackEvents:
    """The runtime events of an attestation, with lookups for the system values.

    Only meaningful once RTMR3 replays from these events: then the quote
    attests each name and payload.
    """

    events: tuple[RuntimeEvent, ...]

    @property
    def system_events(self) -> tuple[RuntimeEvent, ...]:
        """The events up to and including ``system-ready`` (all of them if it is absent)."""
        for index, event in enumerate(self.events):
            if event.event == SYSTEM_READY:
                return self.events[: index + 1]
        return self.events

    @property
    def application_events(self) -> tuple[RuntimeEvent, ...]:
        """The events after ``system-ready``: emitted by the application, not by dstack."""
        return self.events[len(self.system_events) :]

    def find(self, name: str) -> bytes | None:
        """The payload of the first system event called ``name``, or None."""
        for event in self.system_events:
            if event.event == name:
                return event.payload
        return None

    def find_all(self, name: str) -> tuple[bytes, ...]:
        """The payloads of every system event called ``name`` (e.g. ``init-script-hash``)."""
        return tuple(e.payload for e in self.system_events if e.event == name)

    @property
    def app_id(self) -> bytes | None:
        """The ``app-id`` event (20 bytes)."""
        return self.find("app-id")

    @property
    def compose_hash(self) -> bytes | None:
        """The ``compose-hash`` event: SHA-256 of the app compose file."""
        return self.find("compose-hash")

    @property
    def instance_id(self) -> bytes | None:
        """The ``instance-id`` event (20 bytes; may be empty)."""
        return self.find("instance-id")

    @property
    def os_image_hash(self) -> bytes | None:
        """The ``os-image-hash`` event (32 bytes), when the image emits it."""
        return self.find("os-image-hash")

    @property
    def key_provider(self) -> bytes | None:
        """The ``key-provider`` event: JSON ``{"name": ..., "id": ...}`` as bytes."""
        return self.find("key-provider")

    @property
    def key_provider_info(self) -> dict[str, Any] | None:
        """The ``key-provider`` JSON decoded, or None when absent or not a JSON object."""
        raw = self.key_provider
        if raw is None:
            return None
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None
