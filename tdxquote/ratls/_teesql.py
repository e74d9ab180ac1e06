"""The verifier interface of the TeeSQL RA-TLS clients, backed by tdxquote.

TeeSQL's clients (psycopg-ra-tls, sqlx-ra-tls, prisma-ra-tls) call
``await verifier.verify(quote, VerifyOptions(allowed_mr_td=..., allow_debug_mode=...))``
and read ``mr_td``, ``rtmr0``-``rtmr3``, ``tcb_status`` and ``is_debug_mode``
(lowercase hex) from the result.  :class:`DcapVerifier` serves that call with
tdxquote's DCAP verification, and closes the gap those clients leave open:
the key binding.  Given the whole certificate (``verify_cert``, or
``verify`` with certificate bytes) it checks the binding and the event log
too, and by default it refuses a bare quote, whose binding nobody checked.

Policy order is TeeSQL's: debug TD, then TCB status (default accepted:
``UpToDate`` and ``SWHardeningNeeded``, as TeeSQL hard-codes), then the MRTD
allowlist, then tdxquote's runtime-event pins.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeAlias

from cryptography import x509

from .._quote import Quote, parse_quote
from .._reports import SgxReport
from ..collateral import Collateral, TcbStatus
from ..verification import Policy, PolicyError, Verifier
from ._attestation import parse_tdx_quote
from ._binding import expected_report_data
from ._certificate import RaTlsCertificate, parse_certificate
from ._chain import CertificateInput, load_chain
from ._envelope import decode_attestation
from ._errors import BindingMismatchError, BindingUnavailableError
from ._extensions import certificate_parts, read_extensions
from ._options import DEFAULT_TCB_STATUSES, VerifyOptions
from ._verify import (
    check_event_pins,
    has_collateral,
    unsafe_check_simulator_certificate,
    verify_certificate,
)

if TYPE_CHECKING:
    from ..verification import TrustRoot, VerifiedQuote

__all__ = [
    "DEFAULT_TCB_STATUSES",
    "CollateralSource",
    "DcapVerifier",
    "VerificationResult",
    "VerifyOptions",
    "apply_options",
    "extract_attested_certificate",
    "extract_tdx_quote",
]

CollateralSource: TypeAlias = Collateral | Callable[[Quote], Collateral | Awaitable[Collateral]]
"""Collateral for every quote, or a function (sync or async) that fetches it for one."""

_UNATTESTED = "Unattested"
_PERMISSIVE = Policy().allow_statuses(*TcbStatus).unsafe_allow_debug()


@dataclass(frozen=True)
class VerificationResult:
    """TeeSQL's ``VerificationResult`` (lowercase hex, no ``0x``) plus tdxquote's additions.

    ``key_binding`` is True when the certificate's key binding was checked
    (it always holds when a result is returned); ``attested`` is False only
    in the unsafe simulator mode.  ``app_id``, ``compose_hash`` and
    ``instance_id`` are the attested runtime events, ``mr_aggregated`` and
    ``mr_system`` dstack's derived measurements (None without a certificate).
    """

    mr_td: str
    rtmr0: str
    rtmr1: str
    rtmr2: str
    rtmr3: str
    tcb_status: str
    is_debug_mode: bool
    report_data: str = ""
    advisory_ids: tuple[str, ...] = ()
    key_binding: bool = False
    attested: bool = True
    app_id: str | None = None
    compose_hash: str | None = None
    instance_id: str | None = None
    mr_aggregated: str | None = None
    mr_system: str | None = None


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def extract_tdx_quote(der_cert: bytes | str | x509.Certificate) -> bytes | None:
    """The raw TDX quote a dstack certificate carries, or None when it carries none.

    Unlike TeeSQL's extractors this prefers ``.1.8`` (as dstack does) and
    decodes its envelope (V0 SCALE or V1 msgpack) fully; a non-TDX attestation
    raises :class:`~tdxquote.ratls.UnsupportedAttestationError` and malformed
    bytes :class:`~tdxquote.ratls.RaTlsFormatError`.
    """
    leaf = load_chain(der_cert)[0]
    extensions = read_extensions(leaf)
    if extensions.attestation is not None:
        return decode_attestation(extensions.attestation).quote
    return extensions.tdx_quote


def extract_attested_certificate(der_cert: bytes) -> bytes | None:
    """``der_cert`` itself when it carries a dstack attestation, else None.

    A drop-in for psycopg-ra-tls's ``extract_tdx_quote``: the forwarder then
    hands :meth:`DcapVerifier.verify` the whole certificate, so the key
    binding and the event log are checked (see ``docs/ra-tls.md``).
    """
    leaf = load_chain(der_cert)[0]
    return bytes(der_cert) if read_extensions(leaf).has_attestation else None


def _now(source: Callable[[], datetime] | datetime | int | float | None) -> datetime | int | float:
    if source is None:
        return datetime.now(timezone.utc)
    if callable(source):
        return source()
    return source


class TeeSqlCalls(ABC):
    """TeeSQL's ``verify`` and ``verify_with_pubkey``, the same for every verifier backend.

    A backend (:class:`DcapVerifier`, :class:`~tdxquote.ita.ItaVerifier`)
    gives :meth:`verify_cert` and ``_verdict``, its verdict on a parsed quote
    (with the expected REPORTDATA when the call binds a key, for checks of
    its own); both calls end with :func:`apply_options`.
    """

    @abstractmethod
    async def _verdict(self, quote: Quote, expected: bytes | None) -> VerifiedQuote: ...

    @abstractmethod
    async def verify_cert(
        self, cert: CertificateInput, options: object = None
    ) -> VerificationResult:
        """Verify an RA-TLS certificate (the backend's)."""

    async def verify(self, quote: bytes, options: object = None) -> VerificationResult:
        """Verify ``quote`` (or a DER certificate, which :meth:`verify_cert` handles).

        A bare quote is refused with ``ratls_binding_unavailable`` unless
        ``options.require_key_binding`` is False.
        """
        options = VerifyOptions.coerce(options)
        data = bytes(quote)
        if data[:1] == b"\x30":
            return await self.verify_cert(data, options)
        if options.require_key_binding:
            raise BindingUnavailableError(
                "only a quote was given: nothing binds it to the TLS key (pass the certificate, "
                "or set require_key_binding=False)"
            )
        parsed = parse_quote(data)
        verified = await self._verdict(parsed, None)
        return apply_options(parsed, verified, options, None, key_binding=False)

    async def verify_with_pubkey(
        self, quote: bytes, options: object, cert_der: bytes
    ) -> VerificationResult:
        """sqlx-ra-tls's call: ``quote`` must bind the key of the certificate ``cert_der``.

        With Intel Trust Authority, the token's ``tdx_report_data`` must bind it too.
        """
        options = VerifyOptions.coerce(options)
        leaf = load_chain(cert_der)[0]
        expected = expected_report_data(certificate_parts(leaf).spki)
        parsed = parse_tdx_quote(bytes(quote), field="quote")
        body = parsed.body
        assert not isinstance(body, SgxReport)
        if body.report_data != expected:
            raise BindingMismatchError(
                "the quote's REPORTDATA does not bind the certificate's key",
                expected=expected,
                quote_report_data=body.report_data,
                envelope_report_data=body.report_data,
            )
        verified = await self._verdict(parsed, expected)
        return apply_options(parsed, verified, options, None, key_binding=True)


class DcapVerifier(TeeSqlCalls):
    """A TeeSQL ``RaTlsVerifier`` that verifies with tdxquote (offline DCAP).

    ``collateral``: a :class:`~tdxquote.Collateral` for every quote, or a
    function of the quote returning one (or an awaitable of one), e.g. a
    PCCS fetcher.  ``verifier``: a :class:`~tdxquote.Verifier` to reuse
    (its cache); else one trusting ``trust_root`` (Intel's by default).
    ``now``: the verification time, or a function returning it (default:
    the current time).  ``unsafe_simulator``: the dstack simulator's mode,
    where the quote is not verified at all (see
    :func:`~tdxquote.ratls.unsafe_check_simulator_certificate`).

    Verification itself is synchronous (a few milliseconds of CPU); a
    ``Verifier`` with a fetching source fetches synchronously too, so in an
    event loop prefer an async ``collateral`` function.  TeeSQL's policy
    (:class:`VerifyOptions`) applies, not the ``Verifier``'s.

    ``options`` may be a :class:`VerifyOptions`, TeeSQL's own options object
    or a mapping: :meth:`VerifyOptions.coerce` reads it before anything else,
    and raises ``TypeError`` / ``ValueError`` for one it cannot read.
    """

    def __init__(
        self,
        collateral: CollateralSource | None = None,
        *,
        verifier: Verifier | None = None,
        trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
        now: Callable[[], datetime] | datetime | int | float | None = None,
        unsafe_simulator: bool = False,
    ) -> None:
        if verifier is not None and trust_root is not None:
            raise TypeError("pass trust_root to the Verifier, not with one")
        self.verifier = verifier if verifier is not None else Verifier(trust_root=trust_root)
        self.collateral = collateral
        self.now = now
        self.unsafe_simulator = unsafe_simulator

    # --- TeeSQL's interface (verify and verify_with_pubkey: TeeSqlCalls) -------------------
    async def verify_cert(
        self, cert: CertificateInput, options: object = None
    ) -> VerificationResult:
        """Verify an RA-TLS certificate: binding, event log, DCAP, then the options."""
        options = VerifyOptions.coerce(options)
        certificate = parse_certificate(cert)
        pins = options.expect_events
        if self.unsafe_simulator:
            unsafe_check_simulator_certificate(certificate, expect_events=pins)
            return apply_options(certificate.quote, None, options, certificate, key_binding=True)
        collateral = await self._collateral(certificate.quote)
        verified = verify_certificate(
            certificate,
            now=_now(self.now),
            collateral=collateral,
            verifier=self.verifier,
            policy=_PERMISSIVE,
        )
        return apply_options(
            certificate.quote, verified.verified_quote, options, certificate, key_binding=True
        )

    def verify_with_collateral(
        self,
        quote: bytes,
        collateral: Collateral,
        now_secs: int | float | datetime,
        options: object = None,
    ) -> VerificationResult:
        """sqlx-ra-tls's offline call (synchronous): ``quote`` or certificate bytes."""
        options = VerifyOptions.coerce(options)
        data = bytes(quote)
        if data[:1] == b"\x30":
            certificate = parse_certificate(data)
            verified = verify_certificate(
                certificate,
                now=now_secs,
                collateral=collateral,
                verifier=self.verifier,
                policy=_PERMISSIVE,
            )
            return apply_options(
                certificate.quote, verified.verified_quote, options, certificate, key_binding=True
            )
        if options.require_key_binding:
            raise BindingUnavailableError("only a quote was given: nothing binds it to the TLS key")
        parsed = parse_quote(data)
        result = self.verifier.verify(parsed, collateral, now=now_secs, policy=_PERMISSIVE)
        return apply_options(parsed, result, options, None, key_binding=False)

    # --- internals ------------------------------------------------------------------------
    async def _collateral(self, quote: Quote) -> Collateral | None:
        """The quote's collateral; None lets the verifier use its own (or its source)."""
        source = self.collateral
        if source is None:
            if not has_collateral(self.verifier, None):
                raise TypeError(
                    "DcapVerifier has no collateral: pass one, a fetch function, or a Verifier "
                    "with collateral or a source"
                )
            return None
        if isinstance(source, Collateral):
            return source
        result = source(quote)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _verdict(self, quote: Quote, expected: bytes | None) -> VerifiedQuote:
        # The key binding (expected) is the quote's REPORTDATA alone, checked by the caller.
        collateral = await self._collateral(quote)
        return self.verifier.verify(quote, collateral, now=_now(self.now), policy=_PERMISSIVE)


def apply_options(
    quote: Quote,
    verified: VerifiedQuote | None,
    options: VerifyOptions,
    certificate: RaTlsCertificate | None,
    *,
    key_binding: bool,
) -> VerificationResult:
    """TeeSQL's policy on a verified quote (debug, TCB status, MRTD, ``mr_aggregated``,
    event pins), in TeeSQL's order, and the :class:`VerificationResult`.

    Every verifier backend (DCAP here, Intel Trust Authority in
    :mod:`tdxquote.ita`) ends with this call, so they refuse and report alike.
    ``verified`` is None only in the unsafe simulator mode.
    """
    body = quote.body
    if isinstance(body, SgxReport):
        raise PolicyError("an SGX quote is not a TD quote", rule="tdx")
    debug = body.is_debug
    if debug and not options.allow_debug_mode:
        raise PolicyError(
            "the TD is a debug TD (TD_ATTRIBUTES.DEBUG is set)",
            rule="debug",
            expected=False,
            actual=True,
        )
    status = _UNATTESTED if verified is None else str(verified.status)
    if verified is not None:
        accepted = options.allowed_tcb_statuses
        if status not in accepted:
            raise PolicyError(
                f"TCB status {status} is not accepted (accepted: {', '.join(accepted)})",
                rule="accepted_statuses",
                expected=list(accepted),
                actual=status,
            )
    allowed = list(options.allowed_mr_td)  # lowercase hex, checked by VerifyOptions
    mr_td = body.mr_td.hex()
    if allowed and mr_td not in allowed:
        raise PolicyError(
            f"MRTD {mr_td} is not in the allowlist",
            rule="allowed_mr_td",
            expected=allowed,
            actual=mr_td,
        )
    allowed_aggregated = list(options.allowed_mr_aggregated)  # lowercase hex, checked
    if allowed_aggregated:
        if certificate is None:
            raise PolicyError(
                "an mr_aggregated allowlist needs the certificate (its runtime events)",
                rule="allowed_mr_aggregated",
            )
        aggregated = certificate.mr_aggregated.hex()
        if aggregated not in allowed_aggregated:
            raise PolicyError(
                f"mr_aggregated {aggregated} is not in the allowlist",
                rule="allowed_mr_aggregated",
                expected=allowed_aggregated,
                actual=aggregated,
            )
    events = None if certificate is None else certificate.events
    pins = options.expect_events
    if pins:
        if events is None:
            raise PolicyError(
                "runtime-event pins need the certificate (its event log)",
                rule="expect_events",
            )
        check_event_pins(events, pins)
    return VerificationResult(
        mr_td=mr_td,
        rtmr0=body.rtmr0.hex(),
        rtmr1=body.rtmr1.hex(),
        rtmr2=body.rtmr2.hex(),
        rtmr3=body.rtmr3.hex(),
        tcb_status=status,
        is_debug_mode=debug,
        report_data=body.report_data.hex(),
        advisory_ids=() if verified is None else verified.advisory_ids,
        key_binding=key_binding,
        attested=verified is not None,
        app_id=None if events is None else _hex(events.app_id),
        compose_hash=None if events is None else _hex(events.compose_hash),
        instance_id=None if events is None else _hex(events.instance_id),
        mr_aggregated=None if certificate is None else certificate.mr_aggregated.hex(),
        mr_system=None if certificate is None else certificate.mr_system.hex(),
    )
