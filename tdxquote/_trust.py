"""The pinned Intel SGX Root CA and explicit alternative trust roots.

A :class:`TrustRoot` is read once from its DER bytes: its SHA-256 (the key
of every verified result that depends on it), its P-256 public key (loaded
once), and the QvE's ``root_key_id``.  The Intel root is a bytes constant
(:mod:`tdxquote._intel_root`) checked against its pinned SHA-256 the first
time it is loaded.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING

from ._intel_root import INTEL_SGX_ROOT_CA_DER
from ._x509_verify import CertView, X509FormatError, describe_name, p256_key, parse_certificate

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

__all__ = ["INTEL_SGX_ROOT_CA_SHA256", "TrustRoot", "intel_sgx_root_ca", "load_trust_root"]

INTEL_SGX_ROOT_CA_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"


class TrustRoot:
    """A root certificate the verifier trusts, read once from its DER.

    ``der``, ``digest`` (SHA-256 bytes) and ``sha256`` (hex), ``public_key_bytes``
    (the 65-byte point ``04 || X || Y``), ``public_key`` (loaded once) and
    ``key_id``, the QvE's ``root_key_id``: SHA-384 of that point.  Accepts a
    ``cryptography`` certificate or DER bytes; the key must be P-256, as Intel's.
    """

    __slots__ = (
        "_certificate",
        "der",
        "digest",
        "key_id",
        "public_key",
        "public_key_bytes",
        "sha256",
        "view",
    )

    def __init__(self, certificate: x509.Certificate | bytes) -> None:
        if isinstance(certificate, (bytes, bytearray, memoryview)):
            der = bytes(certificate)
            self._certificate: x509.Certificate | None = None
        else:
            from cryptography.hazmat.primitives.serialization import Encoding

            der = certificate.public_bytes(Encoding.DER)
            self._certificate = certificate
        try:
            view = parse_certificate(der)
        except X509FormatError as exc:
            raise ValueError(f"the trust root is not a readable certificate: {exc}") from None
        if view.public_point is None:
            raise ValueError("the trust root's key is not a P-256 key")
        self.view: CertView = view
        self.der = der
        self.digest = view.digest
        self.sha256 = view.digest.hex()
        self.public_key_bytes = view.public_point
        #: The QvE's ``root_key_id``: SHA-384 of the root's public key as the 65-byte
        #: uncompressed point ``04 || X || Y`` (the SPKI BIT STRING contents).
        self.key_id = hashlib.sha384(view.public_point).digest()
        self.public_key: EllipticCurvePublicKey = p256_key(view.public_point)

    @property
    def certificate(self) -> x509.Certificate:
        """The root as a ``cryptography`` certificate (decoded on first use)."""
        if self._certificate is None:
            from cryptography import x509

            self._certificate = x509.load_der_x509_certificate(self.der)
        return self._certificate

    @property
    def subject(self) -> bytes:
        """The raw DER of the root's subject name."""
        return self.view.subject

    def __repr__(self) -> str:
        return f"<TrustRoot {describe_name(self.view.subject)} sha256={self.sha256}>"


@functools.cache
def intel_sgx_root_ca() -> TrustRoot:
    """The Intel SGX Root CA shipped with tdxquote, checked once against its pinned SHA-256."""
    if hashlib.sha256(INTEL_SGX_ROOT_CA_DER).hexdigest() != INTEL_SGX_ROOT_CA_SHA256:
        raise RuntimeError("the packaged Intel SGX Root CA does not match its pinned SHA-256")
    return TrustRoot(INTEL_SGX_ROOT_CA_DER)


def load_trust_root(root: TrustRoot | x509.Certificate | bytes | str | None) -> TrustRoot:
    """The pinned Intel root for ``None``; otherwise the given root (PEM/DER bytes or text)."""
    if root is None:
        return intel_sgx_root_ca()
    if isinstance(root, TrustRoot):
        return root
    if isinstance(root, (str, bytes, bytearray, memoryview)):
        data = root.encode("ascii") if isinstance(root, str) else bytes(root)
        if b"-----BEGIN CERTIFICATE-----" in data:
            from cryptography import x509

            return TrustRoot(x509.load_pem_x509_certificate(data))
        return TrustRoot(data)
    return TrustRoot(root)
