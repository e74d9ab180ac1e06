"""Verifying an RA-TLS certificate: binding, event log, DCAP, then the caller's pins.

The order is dstack's: the attestation must bind the certificate's key
(``ratls_binding_mismatch``), the event log must replay to the quoted RTMRs
(``ratls_rtmr_mismatch``), the quote must pass Intel's DCAP verification
and the :class:`~tdxquote.Policy`, and the runtime events the caller pins
must hold (``policy``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeAlias

from .._measurements import MeasurementInput, measurements
from ..errors import VerificationError
from ..verification import PolicyError, Verifier
from ._certificate import RaTlsCertificate, parse_certificate
from ._chain import CertificateInput
from ._errors import BindingMismatchError
from ._key_usage import Role, check_key_usage
from ._msgpack_v1 import app_data_report_data

if TYPE_CHECKING:
    from cryptography import x509

    from .._quote import Quote
    from .._reports import TdReport
    from ..collateral import Collateral
    from ..verification import Policy, TrustRoot, VerifiedQuote
    from ._binding import KeyBinding
    from ._events import DstackEvents
    from ._replay import RtmrReplay

__all__ = [
    "EVENT_PAYLOAD_SIZES",
    "EventPins",
    "MeasurementPin",
    "UnattestedWarning",
    "VerifiedCertificate",
    "attestation_checks",
    "check_event_pins",
    "check_mr_aggregated",
    "has_collateral",
    "normalize_event_pins",
    "unsafe_check_simulator_certificate",
    "verify_certificate",
]

EventPins: TypeAlias = Mapping[str, MeasurementInput | Iterable[MeasurementInput]]
"""Runtime event name -> the payload(s) accepted (bytes or hex), e.g.
``{"compose-hash": ["c143...83a"], "app-id": "5bb4...6c56"}``."""

EVENT_PAYLOAD_SIZES: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "app-id": (20,),
        "compose-hash": (32,),
        "instance-id": (0, 20),
        "os-image-hash": (32,),
        "mr-kms": (32,),
    }
)
"""The payload lengths of the dstack events whose size is fixed; a pin of another
length is a ``ValueError`` when given.  Other events' pins may have any length."""


MeasurementPin: TypeAlias = bytes | str | Iterable[bytes | str]
"""Accepted ``mr_aggregated`` value(s): bytes or hex (any of several)."""


class UnattestedWarning(UserWarning):
    """Issued by :func:`unsafe_check_simulator_certificate`: nothing was attested."""


SIMULATOR_WARNING = (
    "UNSAFE simulator mode: the quote's signature, PCK chain and TCB were NOT verified; "
    "this certificate is NOT attested (only its key binding and event log were checked)"
)


@dataclass(frozen=True)
class VerifiedCertificate:
    """An RA-TLS certificate whose attestation binds its key, replays, and verified.

    ``verified_quote`` is the DCAP verdict (TCB status, advisories, ...);
    ``certificate`` holds what the certificate carries.  ``checks`` lists
    every check passed, in order.
    """

    certificate: RaTlsCertificate
    verified_quote: VerifiedQuote
    checks: tuple[str, ...]

    @property
    def binding(self) -> KeyBinding:
        """The key binding (always :attr:`~KeyBinding.ok` here)."""
        return self.certificate.binding

    @property
    def replay(self) -> RtmrReplay:
        """The RTMR replay result."""
        return self.certificate.replay

    @property
    def replayed_rtmrs(self) -> tuple[int, ...]:
        """RTMRs replayed from the event log and equal to the quote's (RTMR3 always)."""
        return self.certificate.replay.replayed_rtmrs

    @property
    def unreplayable_rtmrs(self) -> tuple[int, ...]:
        """RTMRs the certificate's (stripped) event log cannot replay."""
        return self.certificate.replay.unreplayable_rtmrs

    @property
    def events(self) -> DstackEvents:
        """The runtime events, attested through RTMR3."""
        return self.certificate.events

    @property
    def chain_root(self) -> x509.Certificate:
        """The last certificate of the chain the peer sent (not a trust anchor)."""
        return self.certificate.chain_root

    @property
    def quote(self) -> Quote:
        """The verified quote."""
        return self.verified_quote.quote

    @property
    def body(self) -> TdReport:
        """The verified TD report."""
        return self.certificate.body


def normalize_event_pins(
    pins: EventPins | None, *, field: str = "expect_events"
) -> Mapping[str, tuple[bytes, ...]] | None:
    """``pins`` with every payload as bytes of its event's length; None stays None.

    Each value is bytes or hex text (optional ``0x``, any case, whitespace),
    one or a list of them; events of :data:`EVENT_PAYLOAD_SIZES` must have
    that length.  ``TypeError`` / ``ValueError`` name ``field`` and the event otherwise.
    """
    if pins is None:
        return None
    if not isinstance(pins, Mapping):
        raise TypeError(f"{field}: expected a mapping of event names, got {type(pins).__name__}")
    out: dict[str, tuple[bytes, ...]] = {}
    for name, values in pins.items():
        if not isinstance(name, str):
            raise TypeError(f"{field}: event names are text, got {type(name).__name__}")
        if isinstance(values, (str, bytes, bytearray, memoryview)):
            values = (values,)
        out[name] = measurements(
            values, field=f"{field}[{name!r}]", size=EVENT_PAYLOAD_SIZES.get(name)
        )
    return MappingProxyType(out)


def check_event_pins(events: DstackEvents, pins: EventPins | None) -> None:
    """Raise :class:`~tdxquote.verification.PolicyError` unless each pinned event has a
    permitted payload.

    Only system events (up to ``system-ready``) count: an application cannot
    emit a value that satisfies a pin.  Malformed pins raise as
    :func:`normalize_event_pins` says.
    """
    normalized = normalize_event_pins(pins)
    if not normalized:
        return
    for name, accepted in normalized.items():
        actual = events.find(name)
        if actual is None:
            raise PolicyError(
                f"no {name!r} runtime event before system-ready, expected "
                + " or ".join(v.hex() for v in accepted),
                rule=f"expect_event:{name}",
                expected=accepted,
                actual=None,
            )
        if actual not in accepted:
            raise PolicyError(
                f"runtime event {name!r} is {actual.hex()}, expected "
                + " or ".join(v.hex() for v in accepted),
                rule=f"expect_event:{name}",
                expected=accepted,
                actual=actual,
            )


def check_mr_aggregated(certificate: RaTlsCertificate, pin: MeasurementPin | None) -> None:
    """Raise :class:`~tdxquote.verification.PolicyError` unless dstack's runtime
    ``mr_aggregated`` of ``certificate`` is one of ``pin`` (bytes or hex).

    Meaningful once RTMR3 replays and the quote verifies (the order
    :func:`verify_certificate` checks them in).
    """
    if pin is None:
        return
    values = (pin,) if isinstance(pin, (str, bytes, bytearray, memoryview)) else pin
    accepted = measurements(values, field="expect_mr_aggregated", size=32)
    actual = certificate.mr_aggregated
    if actual not in accepted:
        raise PolicyError(
            f"mr_aggregated is {actual.hex()}, expected " + " or ".join(v.hex() for v in accepted),
            rule="expect_mr_aggregated",
            expected=accepted,
            actual=actual,
        )


def _check_pod(certificate: RaTlsCertificate) -> None:
    attestation = certificate.attestation
    if attestation.report_data_payload is None:
        return
    expected = app_data_report_data(attestation.report_data_payload)
    if attestation.report_data != expected:
        raise BindingMismatchError(
            'a dstack-pod attestation\'s report data must be SHA-512("app-data:" || '
            "report_data_payload), and this one is not: a pod attestation cannot also bind a "
            "certificate key",
            expected=expected,
            quote_report_data=certificate.body.report_data,
            envelope_report_data=attestation.report_data,
        )


def has_collateral(verifier: Verifier | None, collateral: Collateral | None) -> bool:
    """True when a verification has collateral: given, the verifier's, or its source's."""
    if collateral is not None:
        return True
    if verifier is None:
        return False
    return verifier.collateral is not None or verifier.source is not None


def _check_attestation(
    certificate: RaTlsCertificate, checks: list[str], role: Role | None = None
) -> None:
    checks.append("ratls_attestation")
    certificate.binding.check()
    _check_pod(certificate)
    checks.append("ratls_binding")
    certificate.replay.check()
    checks.append("ratls_rtmr_replay")
    if role is not None:
        check_key_usage(certificate.leaf, role)
        checks.append("ratls_key_usage")


def _check_pins(
    certificate: RaTlsCertificate,
    checks: list[str],
    expect_events: EventPins | None,
    expect_mr_aggregated: MeasurementPin | None,
) -> None:
    check_event_pins(certificate.events, expect_events)
    if expect_events:
        checks.append("ratls_event_pins")
    check_mr_aggregated(certificate, expect_mr_aggregated)
    if expect_mr_aggregated is not None:
        checks.append("ratls_mr_aggregated")


def verify_certificate(
    cert_or_chain: CertificateInput | RaTlsCertificate,
    *,
    now: datetime | int | float,
    collateral: Collateral | None = None,
    verifier: Verifier | None = None,
    policy: Policy | None = None,
    trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
    role: Role | None = None,
) -> VerifiedCertificate:
    """Verify an RA-TLS certificate (or chain, leaf first) end to end.

    1. the attestation (``.1.8`` V0, or legacy ``.1.1`` + ``.1.2``) decodes;
    2. the quote's REPORTDATA and the attestation's report data both equal
       SHA-512(``"ratls-cert:"`` || the leaf's SubjectPublicKeyInfo DER);
    3. the event log replays to the quoted RTMRs (RTMR3 from the runtime
       events; RTMR0-2 when the log is complete);
    4. the quote passes DCAP verification against ``collateral`` (or the
       ``verifier``'s own, or what its collateral source fetches) at
       ``now``, and ``policy``;
    5. each runtime event in ``expect_events`` has an accepted payload, and
       dstack's ``mr_aggregated`` is one of ``expect_mr_aggregated``.

    ``role`` (``"server"`` or ``"client"``) also requires the leaf's extended
    key usage to name ``serverAuth`` / ``clientAuth`` (check
    ``ratls_key_usage``, after the replay); None checks no key usage.

    The chain is not a trust anchor and is not verified.  ``verifier``
    (reuse one for its cache) defaults to ``Verifier(trust_root=trust_root)``
    (Intel's root when None).  Raises a
    :class:`~tdxquote.VerificationError` with the failing check's ``code``,
    :class:`~tdxquote.QuoteParseError` for malformed input, or
    :class:`~tdxquote.CollateralFetchError` when a source cannot fetch.
    """
    expect_events = normalize_event_pins(expect_events)
    certificate = (
        cert_or_chain
        if isinstance(cert_or_chain, RaTlsCertificate)
        else parse_certificate(cert_or_chain)
    )
    if verifier is None:
        verifier = Verifier(trust_root=trust_root)
    elif trust_root is not None:
        raise TypeError("pass trust_root to the Verifier, not with one")
    if not has_collateral(verifier, collateral):
        raise TypeError("no collateral: pass one, or a Verifier with collateral or a source")
    checks: list[str] = []
    try:
        _check_attestation(certificate, checks, role)
        verified = verifier.verify(certificate.quote, collateral, now=now, policy=policy)
        checks += [*verified.checks, "policy"]
        _check_pins(certificate, checks, expect_events, expect_mr_aggregated)
    except VerificationError as error:
        error.checks_passed = (*checks, *error.checks_passed)
        raise
    return VerifiedCertificate(
        certificate=certificate, verified_quote=verified, checks=tuple(checks)
    )


def attestation_checks(
    certificate: RaTlsCertificate,
    expect_events: EventPins | None = None,
    *,
    expect_mr_aggregated: MeasurementPin | None = None,
    role: Role | None = None,
) -> tuple[str, ...]:
    """The checks that need no Intel collateral: binding, replay, key usage, pins.

    Returns the checks passed; raises the first failure with ``checks_passed`` set.
    This alone attests nothing.
    """
    expect_events = normalize_event_pins(expect_events)
    checks: list[str] = []
    try:
        _check_attestation(certificate, checks, role)
        _check_pins(certificate, checks, expect_events, expect_mr_aggregated)
    except VerificationError as error:
        error.checks_passed = tuple(checks)
        raise
    return tuple(checks)


def unsafe_check_simulator_certificate(
    cert_or_chain: CertificateInput | RaTlsCertificate,
    *,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
    role: Role | None = None,
) -> RaTlsCertificate:
    """UNSAFE development mode for the dstack simulator: checks everything but Intel's part.

    The simulator patches REPORTDATA into a fixed quote, so its signature
    never verifies.  This decodes the certificate, checks the key binding,
    the event-log replay and the pinned events, and warns
    (:class:`UnattestedWarning`) that **nothing was attested**: anyone can
    make a certificate that passes.  Never use it outside development.
    """
    expect_events = normalize_event_pins(expect_events)
    certificate = (
        cert_or_chain
        if isinstance(cert_or_chain, RaTlsCertificate)
        else parse_certificate(cert_or_chain)
    )
    warnings.warn(SIMULATOR_WARNING, UnattestedWarning, stacklevel=2)
    attestation_checks(
        certificate, expect_events, expect_mr_aggregated=expect_mr_aggregated, role=role
    )
    return certificate
