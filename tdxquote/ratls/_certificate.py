"""An RA-TLS certificate read and measured, before any verdict: :class:`RaTlsCertificate`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509

from .._quote import Quote
from .._reports import TdReport
from ._app_info import AppInfo, app_info_consistency, decode_app_info
from ._attestation import Attestation, attestation_from_extensions
from ._binding import KeyBinding
from ._chain import CertificateInput, chain_links_verify, load_chain
from ._events import DstackEvents
from ._extensions import (
    CertificateParts,
    RaTlsExtensions,
    certificate_parts,
    extensions_of_parts,
)
from ._measurements import DstackMeasurements, dstack_measurements, qe_device_id
from ._replay import RtmrReplay, replay_rtmrs

__all__ = ["RaTlsCertificate", "parse_certificate"]


@dataclass(frozen=True)
class RaTlsCertificate:
    """What an RA-TLS certificate carries, and whether its parts agree.

    Nothing here is verified against Intel: :attr:`binding` and :attr:`replay`
    say whether the attestation binds this certificate's key and whether its
    event log replays to the quote's RTMRs.  Use
    :func:`~tdxquote.ratls.verify_certificate` for a verdict.
    """

    chain: tuple[x509.Certificate, ...]
    der: bytes
    """The leaf certificate's DER."""
    spki: bytes
    """The leaf's SubjectPublicKeyInfo DER, as the binding hashes it."""
    extensions: RaTlsExtensions
    attestation: Attestation
    binding: KeyBinding
    replay: RtmrReplay
    events: DstackEvents
    app_info: AppInfo | None = None
    """The ``.1.9`` issuer claim, decoded (None without the extension); not attested."""

    @cached_property
    def measurements(self) -> DstackMeasurements:
        """dstack's ``mr_system`` / ``mr_aggregated`` (runtime and boot-time) of this TD.

        Attested only when the certificate verifies (RTMR3 replays, quote verified).
        """
        return dstack_measurements(self.body, self.attestation.runtime_events)

    @property
    def mr_aggregated(self) -> bytes:
        """dstack's runtime ``mr_aggregated`` (the guest agent's ``tcb_info.mr_aggregated``)."""
        return self.measurements.mr_aggregated

    @property
    def mr_system(self) -> bytes:
        """dstack's runtime ``mr_system``."""
        return self.measurements.mr_system

    @property
    def device_id(self) -> bytes:
        """SHA-256 of the quote header's QE identity (see :func:`qe_device_id`); informational."""
        return qe_device_id(self.quote)

    @property
    def app_info_consistency(self) -> dict[str, bool | None] | None:
        """Each ``.1.9`` claim against the recomputed value (None without ``.1.9``)."""
        if self.app_info is None:
            return None
        return app_info_consistency(self.app_info, self.events, self.measurements)

    @property
    def leaf(self) -> x509.Certificate:
        """The certificate that carries the attestation (the first of the chain)."""
        return self.chain[0]

    @property
    def chain_root(self) -> x509.Certificate:
        """The last certificate of the chain (the leaf itself when it is alone)."""
        return self.chain[-1]

    @property
    def chain_links_verify(self) -> bool:
        """Each certificate is signed by the next, the last by itself (informational)."""
        return chain_links_verify(self.chain)

    @property
    def sha256(self) -> str:
        """SHA-256 of the leaf's DER, lowercase hex."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def format(self) -> str:
        """``"1.8-v0"``, ``"1.8-v1"`` or ``"1.1-legacy"``."""
        return self.attestation.format

    @property
    def quote(self) -> Quote:
        """The attestation's quote (not verified by this object)."""
        return self.attestation.quote

    @property
    def body(self) -> TdReport:
        """The quote's TD report."""
        return self.attestation.body


def parse_certificate(cert_or_chain: CertificateInput) -> RaTlsCertificate:
    """Read an RA-TLS certificate (or chain, leaf first) and measure its attestation.

    Decodes the attestation, computes the key binding and replays the event
    log, but refuses nothing that is well formed: check :attr:`binding` and
    :attr:`replay`, or call :func:`~tdxquote.ratls.verify_certificate`.
    Raises :class:`~tdxquote.ratls.RaTlsFormatError` (a ``QuoteParseError``)
    for malformed input, :class:`~tdxquote.ratls.NoAttestationError` and
    :class:`~tdxquote.ratls.UnsupportedAttestationError`.
    """
    chain = load_chain(cert_or_chain)
    parts = certificate_parts(chain[0])
    return certificate_from_parts(chain, parts, extensions_of_parts(parts))


def certificate_from_parts(
    chain: tuple[x509.Certificate, ...], parts: CertificateParts, extensions: RaTlsExtensions
) -> RaTlsCertificate:
    """:func:`parse_certificate` for a chain whose leaf is already split into ``parts``.

    The leaf's DER and extension values are not read twice (they may be
    megabytes).
    """
    attestation = attestation_from_extensions(extensions)
    body = attestation.body
    return RaTlsCertificate(
        chain=chain,
        der=parts.der,
        spki=parts.spki,
        extensions=extensions,
        attestation=attestation,
        binding=KeyBinding.of(parts.spki, body.report_data, attestation.report_data),
        replay=replay_rtmrs(attestation.event_log, attestation.runtime_events, body.rtmrs),
        events=DstackEvents(attestation.runtime_events),
        app_info=None if extensions.app_info is None else decode_app_info(extensions.app_info),
    )
