"""The key binding: REPORTDATA = SHA-512(``"ratls-cert:"`` || SubjectPublicKeyInfo DER).

dstack binds an RA-TLS certificate's key to its attestation by putting this
hash in REPORTDATA; the hashed bytes are the certificate's whole
SubjectPublicKeyInfo (algorithm identifier and BIT STRING), exactly as
encoded in the certificate.  dstack checks it twice: the attestation
envelope's ``report_data`` must equal it, and so must the quote's REPORTDATA.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ._errors import BindingMismatchError

__all__ = ["RATLS_CERT_TAG", "KeyBinding", "expected_report_data"]

RATLS_CERT_TAG = b"ratls-cert"
"""dstack's ``QuoteContentType::RaTlsCert`` tag."""


def expected_report_data(spki_der: bytes) -> bytes:
    """SHA-512(``b"ratls-cert:"`` || ``spki_der``): the REPORTDATA that binds this key."""
    return hashlib.sha512(RATLS_CERT_TAG + b":" + bytes(spki_der)).digest()


@dataclass(frozen=True)
class KeyBinding:
    """What the certificate's key requires (``expected``) and what the attestation says."""

    expected: bytes
    quote_report_data: bytes
    envelope_report_data: bytes

    @classmethod
    def of(
        cls, spki_der: bytes, quote_report_data: bytes, envelope_report_data: bytes
    ) -> KeyBinding:
        """The binding of the key ``spki_der`` to the given report data values."""
        return cls(expected_report_data(spki_der), quote_report_data, envelope_report_data)

    @property
    def quote_ok(self) -> bool:
        """The quote's REPORTDATA binds the certificate's key."""
        return self.quote_report_data == self.expected

    @property
    def envelope_ok(self) -> bool:
        """The attestation envelope's report data binds the certificate's key."""
        return self.envelope_report_data == self.expected

    @property
    def ok(self) -> bool:
        """Both bind the certificate's key."""
        return self.quote_ok and self.envelope_ok

    def check(self) -> None:
        """Raise :class:`~tdxquote.ratls.BindingMismatchError` unless :attr:`ok`."""
        if self.ok:
            return
        if not self.quote_ok and not self.envelope_ok:
            what = "neither the quote's REPORTDATA nor the attestation's report data binds"
        elif not self.quote_ok:
            what = "the quote's REPORTDATA does not bind"
        else:
            what = "the attestation's report data does not bind"
        raise BindingMismatchError(
            f'{what} the certificate\'s key: SHA-512("ratls-cert:" || SPKI) is '
            f"{self.expected.hex()[:32]}...",
            expected=self.expected,
            quote_report_data=self.quote_report_data,
            envelope_report_data=self.envelope_report_data,
        )
