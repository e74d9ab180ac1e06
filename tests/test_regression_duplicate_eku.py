"""Regression (found by ``test_fuzz_certificate_report``): a duplicated extension.

An RA-TLS leaf carrying the SubjectAltName twice made the client-role check
(``role="client"``, ``tdxquote cert --client``) raise ``cryptography``'s
``DuplicateExtension`` from ``extended_key_usage``: it read the unverified
certificate's extensions directly instead of through the guarded reader.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tdxquote import _der
from tdxquote.ratls import RaTlsFormatError, certificate_report, extended_key_usage, load_chain
from tdxquote.testing.ratls import server_certificate

_EXTENSIONS_TAG = 0xA3  # [3] EXPLICIT Extensions in the TBSCertificate


def _with_first_extension_twice(der: bytes) -> bytes:
    """``der`` with its first extension repeated (the signature no longer matters here)."""
    outer = _der.sequence_children(der, _der.read_one(der))
    tbs = outer[0]
    parts = _der.sequence_children(der, tbs)
    rebuilt = []
    for part in parts:
        raw = der[part.offset : part.end]
        if part.tag == _EXTENSIONS_TAG:
            inner = _der.read_tlv(der, part.start, part.end)
            extensions = _der.sequence_children(der, inner)
            items = [der[e.offset : e.end] for e in extensions]
            raw = _der.encode_tlv(_EXTENSIONS_TAG, _der.encode_sequence(items[0], *items))
        rebuilt.append(raw)
    return _der.encode_sequence(
        _der.encode_sequence(*rebuilt), *(der[p.offset : p.end] for p in outer[1:])
    )


@pytest.fixture(scope="module")
def duplicated() -> bytes:
    chain_pem, _ = server_certificate(seed=b"duplicate extension")
    leaf = load_chain(chain_pem)[0].public_bytes(serialization.Encoding.DER)
    return _with_first_extension_twice(leaf)


def test_regression_duplicate_extension_is_a_format_error(duplicated: bytes) -> None:
    certificate = x509.load_der_x509_certificate(duplicated)
    with pytest.raises(x509.DuplicateExtension):
        certificate.extensions  # noqa: B018 - what the old code let escape
    with pytest.raises(RaTlsFormatError, match="extended key usage"):
        extended_key_usage(certificate)


def test_regression_duplicate_extension_report_refuses_cleanly(duplicated: bytes) -> None:
    report = certificate_report(duplicated, unsafe_simulator=True, role="client")
    assert report["verdict"]["ok"] is False
    assert report["verdict"]["error"]["code"]
