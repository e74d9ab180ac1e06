"""The deadline-capped httpx transport, shared with the ITA client: see :mod:`tdxquote._http`."""

from __future__ import annotations

from tdxquote._http import DeadlineTransport, deadline_scope

__all__ = ["DeadlineTransport", "deadline_scope"]
