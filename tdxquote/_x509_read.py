"""Reading the names, extensions and key of a certificate nobody has verified yet.

``cryptography`` checks a certificate's structure when it loads it, but
builds the Python objects for its subject, issuer, extensions and key only
when they are read, and that can fail in many ways for hostile bytes: a
UTF8String that is not UTF-8, a T61String or IA5String with high bytes, a
BIT STRING or an INTEGER where a string belongs, an empty or repeated RDN
(``ValueError``, ``TypeError``, ``KeyError``, and its own classes for
extensions and keys).  A country name of other than two characters or a
common name longer than 64 decodes, with a ``UserWarning`` written to the
user's stderr; so does loading a certificate whose serial number is zero or
negative (a ``CryptographyDeprecationWarning``: RFC 5280 forbids it, and a
future ``cryptography`` will refuse it).

Every load and every read of an unverified certificate in tdxquote goes
through this module.  Each function takes ``fail``, which turns a reason into
the caller's own documented error (:class:`~tdxquote.errors.QuoteParseError`
while parsing a quote, ``CertificateChainError`` while verifying,
``RaTlsFormatError`` for an RA-TLS certificate, ``CollateralFormatError`` for
collateral), and raises what it returns.  The name-length warning is dropped
around the reads; a non-positive serial number is refused, as the next
``cryptography`` will; any other warning is passed on.

``cryptography`` decodes a name again on every access, so read it once here
and keep the :class:`~cryptography.x509.Name` it returns: operations on that
object (comparison, :func:`common_name`, :func:`name_text`) decode nothing.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from .errors import TdxQuoteError

__all__ = [
    "DECODE_ERRORS",
    "CertificateNames",
    "Fail",
    "common_name",
    "crl_issuer",
    "extensions",
    "load_der_certificate",
    "load_pem_certificates",
    "name_text",
    "names",
    "public_key",
    "quiet_name_warnings",
]

Fail = Callable[[str], TdxQuoteError]
"""Makes the caller's error from a reason (``"the subject does not decode: ..."``)."""


DECODE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    UnsupportedAlgorithm,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)
"""What ``cryptography`` raises for a name, extension or key it cannot decode."""

# NameAttribute's warning for an attribute outside its length limits (country names of other
# than 2 characters, common names longer than 64).
_NAME_LENGTH_WARNING = "Attribute's length must be"

# A CryptographyDeprecationWarning when a certificate is loaded.
_SERIAL_WARNING = "Parsed a serial number which wasn't positive"

# catch_warnings() swaps the process-wide warning state; serialize tdxquote's own uses of it so
# that two threads reading certificates cannot restore each other's.  Blocks nest on a thread.
_warnings_lock = threading.Lock()
_depth = threading.local()

_T = TypeVar("_T")


def _is_warning(warning: warnings.WarningMessage, prefix: str) -> bool:
    return issubclass(warning.category, UserWarning) and str(warning.message).startswith(prefix)


@contextmanager
def _recording() -> Iterator[list[warnings.WarningMessage]]:
    """Record the warnings of the block; after it, issue again those still in the list
    except the name-length warning."""
    depth = getattr(_depth, "value", 0)
    with _warnings_lock if depth == 0 else nullcontext():
        _depth.value = depth + 1
        caught: list[warnings.WarningMessage] = []
        try:
            with warnings.catch_warnings(record=True) as recorded:
                # Record every warning, even under -W error: the ones not dropped are issued
                # again below, under the caller's own filters.
                warnings.simplefilter("always")
                caught = recorded
                yield caught
        finally:
            _depth.value = depth
            for warning in caught:
                if not _is_warning(warning, _NAME_LENGTH_WARNING):
                    warnings.warn_explicit(
                        warning.message, warning.category, warning.filename, warning.lineno
                    )


@contextmanager
def quiet_name_warnings() -> Iterator[None]:
    """Drop ``cryptography``'s name-length ``UserWarning`` (only that one) raised in the block.

    Warnings are recorded rather than filtered (cheaper than installing a
    filter), and any other warning is issued again after the block, as it
    was.  Wrap several reads in one block to pay for it once: inside a block,
    another costs nothing.
    """
    if getattr(_depth, "value", 0):
        yield
        return
    with _recording():
        yield


def _load(load: Callable[[], _T], fail: Fail) -> _T:
    with _recording() as caught:
        try:
            loaded = load()
        except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is not a ValueError
            raise fail(str(exc)) from None
        negative = [w for w in caught if _is_warning(w, _SERIAL_WARNING)]
        for warning in negative:
            caught.remove(warning)
    if negative:
        raise fail("a serial number is zero or negative, which RFC 5280 forbids")
    return loaded


def load_der_certificate(data: bytes, fail: Fail) -> x509.Certificate:
    """One DER certificate; ``fail``'s error when it does not load or its serial is not positive."""
    return _load(lambda: x509.load_der_x509_certificate(data), fail)


def load_pem_certificates(data: bytes, fail: Fail) -> list[x509.Certificate]:
    """The PEM certificates in ``data``; ``fail``'s error as for :func:`load_der_certificate`."""
    return _load(lambda: x509.load_pem_x509_certificates(data), fail)


def _decode(read: Callable[[], _T], what: str, fail: Fail) -> _T:
    try:
        return read()
    except DECODE_ERRORS as exc:
        raise fail(f"{what}: {_reason(exc)}") from None


def _read(read: Callable[[], _T], what: str, fail: Fail) -> _T:
    with quiet_name_warnings():
        return _decode(read, what, fail)


def _reason(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


@dataclass(frozen=True, slots=True)
class CertificateNames:
    """A certificate's subject and issuer, decoded once."""

    subject: x509.Name
    issuer: x509.Name

    @property
    def subject_cn(self) -> str:
        """The subject's first common name, ``""`` when it has none."""
        return common_name(self.subject)

    @property
    def issuer_cn(self) -> str:
        """The issuer's first common name, ``""`` when it has none."""
        return common_name(self.issuer)

    @property
    def self_issued(self) -> bool:
        """Subject and issuer are the same name."""
        return self.subject == self.issuer


def names(cert: x509.Certificate, fail: Fail) -> CertificateNames:
    """The subject and issuer of ``cert``; ``fail``'s error when either does not decode."""
    with quiet_name_warnings():
        subject = _decode(lambda: cert.subject, "the subject does not decode", fail)
        issuer = _decode(lambda: cert.issuer, "the issuer does not decode", fail)
    return CertificateNames(subject, issuer)


def extensions(cert: x509.Certificate, fail: Fail) -> x509.Extensions:
    """The extensions of ``cert``; ``fail``'s error when one does not decode."""
    return _read(lambda: cert.extensions, "the extensions do not decode", fail)


def public_key(cert: x509.Certificate, fail: Fail) -> CertificatePublicKeyTypes:
    """The public key of ``cert``; ``fail``'s error when it does not decode or is unsupported."""
    return _read(cert.public_key, "the public key does not decode", fail)


def crl_issuer(crl: x509.CertificateRevocationList, fail: Fail) -> x509.Name:
    """The issuer name of ``crl``; ``fail``'s error when it does not decode."""
    return _read(lambda: crl.issuer, "the CRL issuer does not decode", fail)


def common_name(name: x509.Name) -> str:
    """The first common name of an already decoded ``name``, ``""`` when it has none."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return ""
    value = values[0].value
    return value if isinstance(value, str) else value.hex()


def name_text(name: x509.Name) -> str:
    """``name`` as an RFC 4514 string, for display; never raises."""
    try:
        return name.rfc4514_string()
    except DECODE_ERRORS:
        return "<unrenderable name>"
