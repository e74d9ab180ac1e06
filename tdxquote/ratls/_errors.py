"""The RA-TLS errors: malformed certificates parse-fail, refusals carry a stable ``code``.

Malformed input (a certificate, a dstack extension, the SCALE envelope, the
JSON event log) raises :class:`RaTlsFormatError`, a
:class:`~tdxquote.errors.QuoteParseError`.  A well-formed certificate that
fails a check raises a :class:`RaTlsError`, a
:class:`~tdxquote.errors.VerificationError` whose ``code`` is listed in
:data:`RATLS_ERROR_CODES` and documented in ``docs/errors.md``.
"""

from __future__ import annotations

from ..errors import QuoteParseError, VerificationError

__all__ = [
    "RATLS_ERROR_CODES",
    "BindingMismatchError",
    "BindingUnavailableError",
    "KeyUsageError",
    "NoAttestationError",
    "RaTlsError",
    "RaTlsFormatError",
    "RtmrMismatchError",
    "UnsupportedAttestationError",
]

RATLS_ERROR_CODES: dict[str, str] = {
    "ratls_no_attestation": "the certificate carries no dstack attestation",
    "ratls_unsupported_attestation": (
        "the attestation is well formed but not a TDX form tdxquote verifies"
    ),
    "ratls_binding_mismatch": 'REPORTDATA is not SHA-512("ratls-cert:" || the certificate\'s SPKI)',
    "ratls_rtmr_mismatch": "replaying the event log does not give the quoted RTMR",
    "ratls_binding_unavailable": "only a quote was given: nothing binds it to the TLS key",
    "ratls_key_usage": (
        "the certificate's extended key usage does not allow its TLS role "
        "(clientAuth for a client, serverAuth for a server)"
    ),
}
"""Every ``code`` an RA-TLS refusal can carry, with its meaning."""


class RaTlsFormatError(QuoteParseError):
    """A certificate, dstack extension, attestation envelope or event log is malformed.

    ``field`` names what was being read (an OID, ``attestation.event_log[3].digest``,
    ...); ``offset`` is the byte offset inside that item.
    """

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_format_error, (self.reason, self.offset, self.field))


def _rebuild_format_error(reason: str, offset: int, field: str) -> RaTlsFormatError:
    return RaTlsFormatError(reason, offset=offset, field=field)


class RaTlsError(VerificationError):
    """Base of the RA-TLS refusals; ``code`` is one of :data:`RATLS_ERROR_CODES`."""

    code = "ratls_no_attestation"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.intel_error = None

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.message, self.code))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: code, message (no Intel equivalent)."""
        return {"code": self.code, "message": self.message, "intel_error": None}


def _rebuild(cls: type[RaTlsError], message: str, code: str) -> RaTlsError:
    return cls(message, code=code)


class NoAttestationError(RaTlsError):
    """The certificate has neither ``.1.8`` nor the legacy ``.1.1`` + ``.1.2`` extensions."""

    code = "ratls_no_attestation"


class UnsupportedAttestationError(RaTlsError):
    """A well-formed attestation tdxquote does not verify: a non-TDX TEE, an unknown version.

    ``found`` names what the certificate carries (e.g. ``"sev-snp"``,
    ``"DstackAmdSevSnp"``).
    """

    code = "ratls_unsupported_attestation"

    def __init__(self, message: str, *, found: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.found = found

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_unsupported, (self.message, self.found))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description including what was found."""
        return {**super().to_dict(), "found": self.found}


def _rebuild_unsupported(message: str, found: str) -> UnsupportedAttestationError:
    return UnsupportedAttestationError(message, found=found)


class BindingMismatchError(RaTlsError):
    """The attestation is not bound to the certificate's key.

    ``expected`` is SHA-512(``b"ratls-cert:"`` || SubjectPublicKeyInfo DER);
    ``quote_report_data`` and ``envelope_report_data`` are what the quote and
    the attestation envelope carry.
    """

    code = "ratls_binding_mismatch"

    def __init__(
        self,
        message: str,
        *,
        expected: bytes = b"",
        quote_report_data: bytes = b"",
        envelope_report_data: bytes = b"",
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.expected = expected
        self.quote_report_data = quote_report_data
        self.envelope_report_data = envelope_report_data

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_binding,
            (self.message, self.expected, self.quote_report_data, self.envelope_report_data),
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description including the three report data values (hex)."""
        return {
            **super().to_dict(),
            "expected": self.expected.hex(),
            "quote_report_data": self.quote_report_data.hex(),
            "envelope_report_data": self.envelope_report_data.hex(),
        }


def _rebuild_binding(
    message: str, expected: bytes, quote: bytes, envelope: bytes
) -> BindingMismatchError:
    return BindingMismatchError(
        message, expected=expected, quote_report_data=quote, envelope_report_data=envelope
    )


class RtmrMismatchError(RaTlsError):
    """Replaying the event log for RTMR ``index`` does not give the quoted value."""

    code = "ratls_rtmr_mismatch"

    def __init__(
        self,
        message: str,
        *,
        index: int = 0,
        quoted: bytes = b"",
        replayed: bytes = b"",
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.index = index
        self.quoted = quoted
        self.replayed = replayed

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_rtmr, (self.message, self.index, self.quoted, self.replayed))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description including the register and both values (hex)."""
        return {
            **super().to_dict(),
            "rtmr": self.index,
            "quoted": self.quoted.hex(),
            "replayed": self.replayed.hex(),
        }


def _rebuild_rtmr(message: str, index: int, quoted: bytes, replayed: bytes) -> RtmrMismatchError:
    return RtmrMismatchError(message, index=index, quoted=quoted, replayed=replayed)


class BindingUnavailableError(RaTlsError):
    """Only a quote was given, so nothing ties it to the TLS key: refused by default.

    Raised by :class:`~tdxquote.ratls.DcapVerifier` for a bare quote; pass the
    certificate, or set ``require_key_binding=False`` in the options.
    """

    code = "ratls_binding_unavailable"


class KeyUsageError(RaTlsError):
    """The certificate's extended key usage does not name its TLS role.

    ``role`` is ``"client"`` or ``"server"``; ``found`` lists the extended key
    usage OIDs the certificate carries (empty when it has no such extension).
    """

    code = "ratls_key_usage"

    def __init__(
        self,
        message: str,
        *,
        role: str = "",
        found: tuple[str, ...] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.role = role
        self.found = found

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_key_usage, (self.message, self.role, self.found))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description including the role and the usages found."""
        return {**super().to_dict(), "role": self.role, "found": list(self.found)}


def _rebuild_key_usage(message: str, role: str, found: tuple[str, ...]) -> KeyUsageError:
    return KeyUsageError(message, role=role, found=found)
