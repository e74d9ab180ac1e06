"""The TLS role a certificate's extended key usage allows: ``serverAuth`` or ``clientAuth``.

dstack's ``get_tls_key`` sets the extended key usage from its flags
(``usage_server_auth`` defaults to True, ``usage_client_auth`` to False); a
client certificate for mutual RA-TLS carries ``clientAuth``.  A check for a
role requires the extension to be present and to name that role: an absent
extension (which X.509 reads as "any purpose") is refused, since dstack
always writes one.
"""

from __future__ import annotations

from typing import Literal

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from .._x509_read import extensions
from ._errors import KeyUsageError, RaTlsFormatError

__all__ = ["ROLE_USAGES", "Role", "check_key_usage", "extended_key_usage", "usage_names"]

Role = Literal["server", "client"]
"""The TLS side a certificate is presented by."""

ROLE_USAGES: dict[str, x509.ObjectIdentifier] = {
    "server": ExtendedKeyUsageOID.SERVER_AUTH,
    "client": ExtendedKeyUsageOID.CLIENT_AUTH,
}
"""The extended key usage each role needs."""

_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "clientAuth",
}


def extended_key_usage(certificate: x509.Certificate) -> tuple[str, ...] | None:
    """The extended key usage OIDs (dotted) of ``certificate``, or None without the extension.

    Raises :class:`~tdxquote.ratls.RaTlsFormatError` when the extension is malformed.
    """

    def fail(reason: str) -> RaTlsFormatError:
        return RaTlsFormatError(
            f"the extended key usage extension is malformed: {reason}",
            offset=0,
            field="certificate.extended_key_usage",
        )

    # Unverified bytes: read through the guarded reader (duplicate or undecodable extensions).
    try:
        extension = extensions(certificate, fail).get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return None
    return tuple(oid.dotted_string for oid in extension.value)


def usage_names(oids: tuple[str, ...] | None) -> list[str] | None:
    """``["serverAuth", "clientAuth", "<dotted OID>", ...]`` for display."""
    return None if oids is None else [_NAMES.get(oid, oid) for oid in oids]


def check_key_usage(certificate: x509.Certificate, role: Role) -> None:
    """Raise :class:`~tdxquote.ratls.KeyUsageError` unless the EKU names ``role``'s usage."""
    if role not in ROLE_USAGES:
        raise ValueError(f"role must be 'server' or 'client', not {role!r}")
    needed = ROLE_USAGES[role]
    found = extended_key_usage(certificate)
    name = _NAMES[needed.dotted_string]
    if found is None:
        raise KeyUsageError(
            f"the certificate has no extended key usage extension: a {role} certificate "
            f"must name {name}",
            role=role,
        )
    if needed.dotted_string not in found:
        raise KeyUsageError(
            f"the certificate's extended key usage ({', '.join(usage_names(found) or [])}) "
            f"does not include {name}: it is not a TLS {role} certificate",
            role=role,
            found=found,
        )
