"""The pinned Intel SGX Root CA and explicit alternative trust roots."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["INTEL_SGX_ROOT_CA_SHA256", "TrustRoot", "intel_sgx_root_ca", "load_trust_root"]

INTEL_SGX_ROOT_CA_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"


class TrustRoot:
    """A root certificate the verifier trusts, with its DER and digest precomputed."""

    __slots__ = ("certificate", "der", "key_id", "public_key_bytes", "sha256")

    def __init__(self, certificate: x509.Certificate) -> None:
        self.certificate = certificate
        self.der = certificate.public_bytes(Encoding.DER)
        self.sha256 = hashlib.sha256(self.der).hexdigest()
        self.public_key_bytes = certificate.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        #: The QvE's ``root_key_id``: SHA-384 of the root's public key as the 65-byte
        #: uncompressed point ``04 || X || Y`` (the SPKI BIT STRING contents).
        self.key_id = hashlib.sha384(self.public_key_bytes).digest()

    def __repr__(self) -> str:
        return f"<TrustRoot {self.certificate.subject.rfc4514_string()} sha256={self.sha256}>"


@lru_cache(maxsize=1)
def intel_sgx_root_ca() -> TrustRoot:
    """The Intel SGX Root CA shipped with tdxquote, checked against its pinned SHA-256."""
    pem = resources.files(__package__).joinpath("intel_sgx_root_ca.pem").read_bytes()
    root = TrustRoot(x509.load_pem_x509_certificate(pem))
    if root.sha256 != INTEL_SGX_ROOT_CA_SHA256:
        raise RuntimeError("the packaged Intel SGX Root CA does not match its pinned SHA-256")
    return root


def load_trust_root(root: TrustRoot | x509.Certificate | bytes | str | None) -> TrustRoot:
    """The pinned Intel root for ``None``; otherwise the given root (PEM/DER bytes or text)."""
    if root is None:
        return intel_sgx_root_ca()
    if isinstance(root, TrustRoot):
        return root
    if isinstance(root, x509.Certificate):
        return TrustRoot(root)
    data = root.encode("ascii") if isinstance(root, str) else bytes(root)
    if b"-----BEGIN CERTIFICATE-----" in data:
        return TrustRoot(x509.load_pem_x509_certificate(data))
    return TrustRoot(x509.load_der_x509_certificate(data))
