"""The request log and injected faults of the test HTTP servers (PCCS and ITA).

Both servers answer on handler threads; the log and the fault queue are
shared between them under one lock, which the servers use for their other
state too.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["RequestLog"]

FaultT = TypeVar("FaultT")
RequestT = TypeVar("RequestT")


@dataclass
class _Injected(Generic[FaultT]):
    fault: FaultT
    path: str | None
    remaining: int | None


class RequestLog(Generic[RequestT, FaultT]):
    """The requests a server received, and the faults to apply to the next ones."""

    def __init__(self) -> None:
        self.requests: list[RequestT] = []
        self._faults: list[_Injected[FaultT]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def reset_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self.requests.clear()

    def inject(self, fault: FaultT, *, path: str | None = None, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests (None: all) whose path starts with
        ``path``."""
        with self._lock:
            self._faults.append(_Injected(fault, path, times))

    def clear_faults(self) -> None:
        """Drop every injected fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> FaultT | None:
        with self._lock:
            for injected in self._faults:
                if injected.path is None or path.startswith(injected.path):
                    if injected.remaining is not None:
                        injected.remaining -= 1
                        if injected.remaining <= 0:
                            self._faults.remove(injected)
                    return injected.fault
        return None

    def _record(self, request: RequestT) -> None:
        with self._lock:
            self.requests.append(request)

    def _request_id(self) -> str:
        with self._lock:
            return f"{next(self._ids):032x}"
