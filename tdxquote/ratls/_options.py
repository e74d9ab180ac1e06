"""The options of an RA-TLS verifier, and one reader for every way callers spell them.

TeeSQL's clients hand their verifier a ``VerifyOptions`` of their own (the
Python ``ra_tls_verify`` one, the Rust and TypeScript ones have the same two
fields), and some callers pass a mapping.  :meth:`VerifyOptions.coerce`
reads any of them, or fails: every key must be a known spelling with a value
of the right type, because an option that cannot be read must never mean
"no pin".  Any verifier backend (DCAP here, others later) calls it first.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .._measurements import MeasurementInput, body_field_size, measurement
from ..collateral import TcbStatus
from ._verify import EventPins, normalize_event_pins

__all__ = [
    "CONNECTION_OPTION_NAMES",
    "DEFAULT_TCB_STATUSES",
    "OPTION_SPELLINGS",
    "VerifyOptions",
]

DEFAULT_TCB_STATUSES: tuple[str, ...] = ("UpToDate", "SWHardeningNeeded")
"""The TCB statuses every TeeSQL verifier accepts."""

OPTION_SPELLINGS: Mapping[str, str] = MappingProxyType(
    {
        # ours, and ra_tls_verify's / sqlx-ra-tls's VerifyOptions
        "allowed_mr_td": "allowed_mr_td",
        "allow_debug_mode": "allow_debug_mode",
        "allowed_tcb_statuses": "allowed_tcb_statuses",
        "require_key_binding": "require_key_binding",
        "expect_events": "expect_events",
        "allowed_mr_aggregated": "allowed_mr_aggregated",
        # sqlx-ra-tls's RaTlsOptions (the connection options' MRTD list)
        "allowed_mrtds": "allowed_mr_td",
        # prisma-ra-tls's VerifyOptions (TypeScript), and camelCase for ours
        "allowedMrTd": "allowed_mr_td",
        "allowDebugMode": "allow_debug_mode",
        "allowedTcbStatuses": "allowed_tcb_statuses",
        "requireKeyBinding": "require_key_binding",
        "expectEvents": "expect_events",
        "allowedMrAggregated": "allowed_mr_aggregated",
    }
)
"""Every accepted option name -> the :class:`VerifyOptions` field it sets."""

CONNECTION_OPTION_NAMES: frozenset[str] = frozenset(
    {
        "allow_simulator",
        "client_cert_override",
        "allowSimulator",
        "clientAttestation",
        "dstackSocket",
        "cacheTtlMs",
        "schema",
        "verifier",
    }
)
"""Options of the TeeSQL connections (not of a verifier): refused with a pointed message."""

_MR_TD_SIZE = body_field_size("mr_td")
_MR_AGGREGATED_SIZE = 32  # SHA-256, dstack's mr_aggregated


def _flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{key}: expected True or False, got {type(value).__name__} {value!r}")
    return value


def _sequence(value: object, key: str, what: str) -> tuple[object, ...]:
    if isinstance(value, (str, bytes, bytearray, memoryview)) or not isinstance(value, Iterable):
        raise TypeError(
            f"{key}: expected a list of {what}, got {type(value).__name__}"
            + (" (wrap a single value in a list)" if isinstance(value, (str, bytes)) else "")
        )
    return tuple(value)


def _mr_tds(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = _sequence(value, key, "MRTDs")
    out = []
    for item in items:
        if not isinstance(item, (str, bytes, bytearray, memoryview)):
            raise TypeError(f"{key}: an MRTD is hex text or bytes, got {type(item).__name__}")
        out.append(measurement(item, field=key, size=_MR_TD_SIZE).hex())
    return tuple(out)


def _mr_aggregated(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = _sequence(value, key, "mr_aggregated values")
    out = []
    for item in items:
        if not isinstance(item, (str, bytes, bytearray, memoryview)):
            raise TypeError(
                f"{key}: an mr_aggregated value is hex text or bytes, got {type(item).__name__}"
            )
        out.append(measurement(item, field=key, size=_MR_AGGREGATED_SIZE).hex())
    return tuple(out)


def _statuses(value: object, key: str) -> tuple[str, ...]:
    items = _sequence(value, key, "TCB statuses")
    if not items:
        raise ValueError(f"{key}: an empty list accepts no server; give at least one status")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{key}: a TCB status is text, got {type(item).__name__}")
        try:
            out.append(str(TcbStatus(item)))
        except ValueError:
            known = ", ".join(s.value for s in TcbStatus)
            raise ValueError(f"{key}: unknown TCB status {item!r} (known: {known})") from None
    return tuple(out)


def _pins(value: object, key: str) -> Mapping[str, tuple[bytes, ...]] | None:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"{key}: expected a mapping of event name -> payload(s)")
    return normalize_event_pins(value, field=key)


_READERS = {
    "allowed_mr_td": _mr_tds,
    "allow_debug_mode": _flag,
    "allowed_tcb_statuses": _statuses,
    "require_key_binding": _flag,
    "expect_events": _pins,
    "allowed_mr_aggregated": _mr_aggregated,
}


@dataclass(frozen=True)
class VerifyOptions:
    """TeeSQL's ``VerifyOptions`` plus tdxquote's additions (all optional), checked when made.

    ``allowed_mr_td``: MRTDs, each hex text (any case, ``0x`` and whitespace
    allowed) or bytes, 48 bytes long; empty accepts any MRTD.  Stored as
    lowercase hex.  ``allow_debug_mode``: accept a debug TD.
    ``allowed_tcb_statuses``: TeeSQL's default; never empty.
    ``require_key_binding``: refuse a bare quote (no certificate to bind).
    ``expect_events``: runtime-event pins, e.g. ``{"compose-hash": ["c143..."]}``.
    ``allowed_mr_aggregated``: dstack's ``mr_aggregated`` values (32 bytes each)
    accepted; empty accepts any (needs the certificate's runtime events).

    A wrong type is a ``TypeError``, a wrong value (an MRTD that is not 48
    bytes, an unknown status) a ``ValueError``, both naming the option.
    :meth:`coerce` reads other clients' option objects and mappings.
    """

    allowed_mr_td: Sequence[MeasurementInput] = ()
    allow_debug_mode: bool = False
    allowed_tcb_statuses: Sequence[str] = DEFAULT_TCB_STATUSES
    require_key_binding: bool = True
    expect_events: EventPins | None = field(default=None, hash=False)
    allowed_mr_aggregated: Sequence[MeasurementInput] = ()

    def __post_init__(self) -> None:
        for name, read in _READERS.items():
            object.__setattr__(self, name, read(getattr(self, name), name))

    @classmethod
    def coerce(cls, options: object) -> VerifyOptions:
        """Read ``options`` as a :class:`VerifyOptions`, or raise.

        Accepted: None (the defaults), a :class:`VerifyOptions`, a mapping,
        or an object (a dataclass, pydantic model, named tuple,
        ``SimpleNamespace``, any object with attributes) whose every public
        key is one of :data:`OPTION_SPELLINGS` (snake_case, the Rust
        connector's ``allowed_mrtds``, the TypeScript camelCase names).  An
        unknown key, a key given twice under two spellings, or a value of the
        wrong type is a ``TypeError`` naming it; a wrong value a ``ValueError``.
        """
        if options is None:
            return cls()
        if isinstance(options, cls):
            return options
        values: dict[str, object] = {}
        given_as: dict[str, str] = {}
        for key, value in _entries(options):
            target = OPTION_SPELLINGS.get(key)
            if target is None:
                raise TypeError(_unknown(key, options))
            if target in given_as:
                raise TypeError(
                    f"verify options: {target} is given twice, as {given_as[target]!r} "
                    f"and as {key!r}"
                )
            given_as[target] = key
            values[target] = _READERS[target](value, key)
        return cls(**values)  # type: ignore[arg-type]


def _unknown(key: str, options: object) -> str:
    where = f"verify options ({type(options).__name__})"
    if key in CONNECTION_OPTION_NAMES:
        return (
            f"{where}: {key!r} is an option of the TeeSQL connection, not of the verifier "
            "(for the dstack simulator use DcapVerifier(unsafe_simulator=True))"
        )
    close = difflib.get_close_matches(key, list(OPTION_SPELLINGS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = ", ".join(OPTION_SPELLINGS)
    return f"{where}: unknown option {key!r}{hint}; known: {known}"


def _entries(options: object) -> list[tuple[str, object]]:
    """The (key, value) pairs an options object carries; TypeError if it cannot say."""
    if isinstance(options, Mapping):
        pairs = list(options.items())
        for key, _ in pairs:
            if not isinstance(key, str):
                raise TypeError(f"verify options: keys are text, got {type(key).__name__}")
        return pairs
    if isinstance(options, type) or not (
        hasattr(options, "__dict__") or hasattr(type(options), "__slots__")
    ):
        raise TypeError(
            "verify options: expected VerifyOptions, a mapping or an options object, "
            f"got {type(options).__name__}"
        )
    declared = _declared_names(options)
    names = declared if declared is not None else dir(options)
    pairs = []
    for name in names:
        if name.startswith("_"):
            continue
        try:
            value = getattr(options, name)
        except Exception as exc:  # a property that fails: the option cannot be read
            raise TypeError(f"verify options: cannot read {name!r}: {exc}") from exc
        if declared is None and callable(value) and name not in OPTION_SPELLINGS:
            continue  # a method of a plain object, not an option
        pairs.append((name, value))
    return pairs


def _declared_names(options: object) -> list[str] | None:
    """The field names of a pydantic model or dataclass (with any extra attributes)."""
    model_fields = getattr(type(options), "model_fields", None)
    if isinstance(model_fields, Mapping):  # a pydantic model
        extra = getattr(options, "model_extra", None) or {}
        return [*model_fields, *extra]
    if dataclasses.is_dataclass(options):
        names = [f.name for f in dataclasses.fields(options)]
        extra_attributes = vars(options) if hasattr(options, "__dict__") else {}
        return names + [n for n in extra_attributes if n not in names]
    return None
