"""The attestation a certificate carries, in either of dstack's forms.

dstack's reader prefers ``.1.8`` (a ``VersionedAttestation``) and falls back
to the legacy pair ``.1.1`` (raw quote) + ``.1.2`` (JSON event log), from
which it takes the runtime events (type 0x08000001, in order), the quote's
REPORTDATA as the report data, and an empty config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._quote import Quote, parse_quote
from .._reports import SgxReport, TdReport
from ..errors import QuoteParseError
from ._envelope import decode_attestation
from ._errors import NoAttestationError, RaTlsFormatError, UnsupportedAttestationError
from ._eventlog import RuntimeEvent, TdxEvent, parse_event_log_json
from ._extensions import OID_ATTESTATION, OID_EVENT_LOG, OID_TDX_QUOTE, RaTlsExtensions
from ._msgpack_v1 import AttestationV1

__all__ = ["Attestation", "AttestationFormat", "attestation_from_extensions", "parse_tdx_quote"]

AttestationFormat = Literal["1.8-v0", "1.8-v1", "1.1-legacy"]


@dataclass(frozen=True)
class Attestation:
    """A decoded TDX attestation: the quote, its event logs, report data and config.

    ``format`` is ``"1.8-v0"`` (SCALE ``VersionedAttestation::V0``),
    ``"1.8-v1"`` (msgpack V1) or ``"1.1-legacy"`` (``.1.1`` quote + ``.1.2``
    JSON log).  ``report_data`` is the envelope's (for the legacy form, the
    quote's).  ``config`` (the VM configuration JSON) is *not* attested by the
    quote.  ``stack`` is ``"dstack"``, or ``"dstack-pod"`` (V1 only), whose
    report data must be SHA-512(``"app-data:"`` || ``report_data_payload``).
    """

    format: AttestationFormat
    quote: Quote
    event_log: tuple[TdxEvent, ...]
    runtime_events: tuple[RuntimeEvent, ...]
    report_data: bytes
    config: str
    stack: Literal["dstack", "dstack-pod"] = "dstack"
    report_data_payload: str | None = None

    @property
    def body(self) -> TdReport:
        """The quote's TD report."""
        body = self.quote.body
        assert not isinstance(body, SgxReport)
        return body


def parse_tdx_quote(data: bytes, *, field: str) -> Quote:
    """Parse the quote an attestation carries; it must be a TDX quote."""
    try:
        quote = parse_quote(data)
    except QuoteParseError as exc:
        raise RaTlsFormatError(
            f"the quote is malformed: {exc.reason}", offset=exc.offset, field=f"{field}.{exc.field}"
        ) from None
    if not quote.is_tdx:
        raise UnsupportedAttestationError(
            "the attestation carries an SGX quote, not a TDX quote", found="SGX quote"
        )
    return quote


def attestation_from_extensions(extensions: RaTlsExtensions) -> Attestation:
    """Decode the attestation of a certificate's dstack extensions.

    Raises :class:`~tdxquote.ratls.NoAttestationError` when there is none (or
    a legacy quote without its event log),
    :class:`~tdxquote.ratls.UnsupportedAttestationError` for a form or TEE
    tdxquote does not verify, and :class:`~tdxquote.ratls.RaTlsFormatError`
    for malformed bytes.
    """
    if extensions.attestation is not None:
        decoded = decode_attestation(extensions.attestation)
        form: AttestationFormat = "1.8-v0"
        stack: Literal["dstack", "dstack-pod"] = "dstack"
        payload: str | None = None
        if isinstance(decoded, AttestationV1):
            form, stack, payload = "1.8-v1", decoded.stack, decoded.report_data_payload
        return Attestation(
            format=form,
            quote=parse_tdx_quote(decoded.quote, field=f"{OID_ATTESTATION}.quote"),
            event_log=decoded.event_log,
            runtime_events=decoded.runtime_events,
            report_data=decoded.report_data,
            config=decoded.config,
            stack=stack,
            report_data_payload=payload,
        )
    if extensions.tdx_quote is None:
        raise NoAttestationError(
            "the certificate carries no dstack attestation (neither OID "
            f"{OID_ATTESTATION} nor {OID_TDX_QUOTE})"
        )
    if extensions.event_log is None:
        raise NoAttestationError(
            f"the certificate carries a legacy quote ({OID_TDX_QUOTE}) without its event log "
            f"({OID_EVENT_LOG})"
        )
    quote = parse_tdx_quote(extensions.tdx_quote, field=OID_TDX_QUOTE)
    event_log = parse_event_log_json(extensions.event_log, field=OID_EVENT_LOG)
    body = quote.body
    assert not isinstance(body, SgxReport)
    return Attestation(
        format="1.1-legacy",
        quote=quote,
        event_log=event_log,
        runtime_events=tuple(
            RuntimeEvent(e.event, e.event_payload, e.version) for e in event_log if e.is_runtime
        ),
        report_data=body.report_data,
        config="",
    )
