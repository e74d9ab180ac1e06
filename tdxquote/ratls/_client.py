"""Mutual RA-TLS, server side: verify the RA-TLS certificate a *client* presents.

dstack issues client certificates with ``get_tls_key(usage_ra_tls=True,
usage_client_auth=True)``: the same attestation and key binding as a server
certificate, with ``clientAuth`` in the extended key usage.  A server (or a
sidecar or proxy in front of one) verifies such a certificate exactly as a
client verifies a server's, plus that usage:
:func:`verify_client_certificate`.

Python's :mod:`ssl` has no per-certificate verify callback, so the
attestation cannot be checked *inside* the handshake.  The pieces here
split the work:

* :func:`client_auth_context` builds a server :class:`ssl.SSLContext` that
  requires a client certificate (``CERT_REQUIRED``).  OpenSSL then checks, in
  the handshake, that the client holds the private key of the certificate it
  presents (the CertificateVerify signature) and that its chain reaches one of
  ``client_cas``: for dstack apps the KMS root certificate (the issuer of every
  app CA), or a self-signed client certificate itself.  OpenSSL cannot skip
  that chain check without a callback, which is why a CA must be given.
* :func:`verify_client_connection` runs after the handshake, before the
  server reads or answers anything: it takes the chain the client sent and
  verifies the leaf's attestation, key binding, event log, DCAP quote, policy,
  pins and ``clientAuth``.  Close the connection when it raises.

The key binding is what makes the second step worth having: the handshake
proved the client holds the leaf's key, and the attestation proves that key
was made inside the attested TD.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, cast

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ._chain import CertificateInput, load_chain
from ._errors import RaTlsFormatError
from ._probe import peer_chain_der
from ._verify import EventPins, MeasurementPin, VerifiedCertificate, verify_certificate

if TYPE_CHECKING:
    from os import PathLike

    from ..collateral import Collateral
    from ..verification import Policy, TrustRoot, Verifier

__all__ = [
    "client_auth_context",
    "peer_certificates",
    "verify_client_certificate",
    "verify_client_connection",
]


def verify_client_certificate(
    cert_or_chain: CertificateInput,
    *,
    now: datetime | int | float,
    collateral: Collateral | None = None,
    verifier: Verifier | None = None,
    policy: Policy | None = None,
    trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
) -> VerifiedCertificate:
    """Verify a mutual RA-TLS client's certificate (or chain, leaf first).

    :func:`~tdxquote.ratls.verify_certificate` with ``role="client"``: the
    attestation must bind the leaf's key, replay, verify with DCAP and the
    ``policy``, satisfy the pins, and the leaf's extended key usage must
    include ``clientAuth`` (``ratls_key_usage`` otherwise).  Raises what
    ``verify_certificate`` raises.
    """
    return verify_certificate(
        cert_or_chain,
        now=now,
        collateral=collateral,
        verifier=verifier,
        policy=policy,
        trust_root=trust_root,
        expect_events=expect_events,
        expect_mr_aggregated=expect_mr_aggregated,
        role="client",
    )


def _ca_data(cas: CertificateInput) -> str:
    certificates = load_chain(cas)
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)


def client_auth_context(
    certfile: str | PathLike[str],
    keyfile: str | PathLike[str] | None = None,
    *,
    client_cas: CertificateInput,
    password: str | bytes | None = None,
) -> ssl.SSLContext:
    """A TLS server context that requires a client certificate chaining to ``client_cas``.

    ``certfile``/``keyfile`` are the server's own certificate chain and key
    (as :meth:`ssl.SSLContext.load_cert_chain` takes them).  ``client_cas``
    (PEM or DER, one or several certificates) are the anchors OpenSSL checks
    the client's chain against during the handshake: a dstack KMS root, or
    the self-signed RA-TLS client certificates you expect.  TLS 1.2 or later.

    The handshake alone attests nothing: call :func:`verify_client_connection`
    on every accepted connection before using it.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile, password)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=_ca_data(client_cas))
    return context


def peer_certificates(tls: ssl.SSLSocket | ssl.SSLObject) -> list[bytes]:
    """The chain the peer sent (DER, leaf first), from an ``SSLSocket`` or an ``SSLObject``.

    For asyncio, the ``SSLObject`` is ``writer.get_extra_info("ssl_object")``.
    Raises :class:`~tdxquote.ratls.RaTlsFormatError` when the peer sent no
    certificate.
    """
    chain = peer_chain_der(cast("ssl.SSLSocket", tls))
    if not chain:
        raise RaTlsFormatError("the peer presented no certificate", offset=0, field="certificate")
    return chain


def verify_client_connection(
    tls: ssl.SSLSocket | ssl.SSLObject,
    *,
    now: datetime | int | float | None = None,
    collateral: Collateral | None = None,
    verifier: Verifier | None = None,
    policy: Policy | None = None,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
) -> VerifiedCertificate:
    """Verify the RA-TLS client certificate of an accepted TLS connection.

    Call it right after the handshake (``SSLSocket`` from
    :func:`client_auth_context`'s ``wrap_socket``, or asyncio's
    ``ssl_object``), before reading from the client; close the connection
    when it raises.  ``now`` defaults to the current time.
    """
    chain: Sequence[bytes] = peer_certificates(tls)
    return verify_client_certificate(
        list(chain),
        now=datetime.now(timezone.utc) if now is None else now,
        collateral=collateral,
        verifier=verifier,
        policy=policy,
        expect_events=expect_events,
        expect_mr_aggregated=expect_mr_aggregated,
    )
