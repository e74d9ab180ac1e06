"""Reading the names, extensions and key of a certificate nobody has verified yet.

``cryptography`` checks a certificate's structure when it loads it, but
builds the Python objects for its subject, issuer, extensions and key only
when they are read, and that can fail in many ways for hostile bytes: a
UTF8String that is not UTF-8, a T61String or IA5String with high bytes, a
BIT STRING or an INTEGER where a string belongs, an empty or repeated RDN
(``ValueError``, ``TypeError``, ``KeyError``, and its own classes for
extensions and keys).  A country name of the wrong length decodes, with a
``UserWarning`` written to the user's stderr.

Every read of an unverified certificate in tdxquote goes through this module.
Each function takes ``fail``, which turns a reason into the caller's own
documented error (:class:`~tdxquote.errors.QuoteParseError` while parsing a
quote, ``CertificateChainError`` while verifying,
``RaTlsFormatError`` for an RA-TLS certificate), and raises what it returns.
The name-length warning is silenced around the read and nowhere else.

``cryptography`` decodes a name again on every access, so read it once here
and keep the :class:`~cryptography.x509.Name` it returns: operations on that
object (comparison, :func:`common_name`, :func:`name_text`) decode nothing.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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

# catch_warnings() swaps the process-wide warning state; serialize tdxquote's own uses of it so
# that two threads reading certificates cannot restore each other's.  Blocks nest: an inner
# block inside an outer one on the same thread costs nothing.
_warnings_lock = threading.Lock()
_depth = threading.local()

_T = TypeVar("_T")


@contextmanager
def quiet_name_warnings() -> Iterator[None]:
    """Drop ``cryptography``'s name-length ``UserWarning`` (only that one) raised in the block.

    Warnings are recorded rather than filtered (cheaper than installing a
    filter), and any other warning is issued again after the block, as it
    was.  Wrap several reads in one block to pay for it once.
    """
    if getattr(_depth, "value", 0):
        yield
        return
    with _warnings_lock:
        caught: list[warnings.WarningMessage] = []
        _depth.value = 1
        try:
            with warnings.catch_warnings(record=True) as caught:
                yield
        finally:
            _depth.value = 0
            for warning in caught:
                if not _is_name_length_warning(warning):
                    warnings.warn_explicit(
                        warning.message, warning.category, warning.filename, warning.lineno
                    )


def _is_name_length_warning(warning: warnings.WarningMessage) -> bool:
    return issubclass(warning.category, UserWarning) and str(warning.message).startswith(
        _NAME_LENGTH_WARNING
    )


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
