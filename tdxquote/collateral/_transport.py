"""The deadline-capped httpx transport (:mod:`tdxquote._http_deadline`, shared with ITA)."""

from __future__ import annotations

from tdxquote._http_deadline import DeadlineTransport, deadline_client, deadline_scope

__all__ = ["DeadlineTransport", "deadline_client", "deadline_scope"]
