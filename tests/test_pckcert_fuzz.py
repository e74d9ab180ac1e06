"""Fuzz target: PCK certificate responses -> client -> source.

Hypothesis builds ``/pckcert`` responses: statuses, ``Content-Type``, the issuer-chain
header (real, with hostile URL-encoding edits, or another root's), the ``SGX-TCBm``,
``SGX-FMSPC`` and ``SGX-PCK-Certificate-CA-Type`` hints (right, wrong, malformed, twice)
and bodies (the real leaf, mutated or truncated, two leaves, random bytes).  Each goes
through the sans-IO response handling both clients share, then through everything the
source does before using a certificate (parse, match against the quote, chain check).
Only :class:`CollateralFetchError` may come out, and a response that is accepted is the
real certificate.  ``HYPOTHESIS_PROFILE=fuzz`` runs it for 100,000 examples.
"""

from __future__ import annotations

import httpx
from _helpers import budget
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from tdxquote.collateral import PckCertificateQuery, PcsClient, PcsSource
from tdxquote.collateral._exchange import READ_BODY, Fetch, FetchOptions, Redirect, Wait
from tdxquote.collateral._source import ArtifactValidator
from tdxquote.errors import CollateralFetchError
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.pccs import encode_issuer_chain
from tdxquote.testing.pki import SyntheticPki

_FORGE = QuoteForge.create(seed=b"pckcert fuzz")
_QUOTE = _FORGE.quote(certification_data=_FORGE.pck_identifier_data(3))
_QUERY = PckCertificateQuery.from_quote(_QUOTE)
_LEAF = _FORGE.leaf.pem
_CHAIN = encode_issuer_chain(_FORGE.pki.intermediate.pem + _FORGE.pki.root.pem)
_OTHER = SyntheticPki.create(b"pckcert fuzz other root")
_OTHER_CHAIN = encode_issuer_chain(_OTHER.intermediate.pem + _OTHER.root.pem)
_SOURCE = PcsSource(PcsClient("https://pccs.example", retries=0))
_VALIDATOR = ArtifactValidator(_FORGE.pki.trust_root_der)


@st.composite
def chains(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from([_CHAIN, _CHAIN, _OTHER_CHAIN, encode_issuer_chain(_LEAF)]))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["%", "%ZZ", "%00", "%FF%FE", "+", "%0A", "\xe9", ""]))
        text = text[:at] + edit + text[at + draw(st.integers(0, 3)) :]
    return text.encode("latin-1", "replace")


_HINTS = {
    b"SGX-TCBm": [_QUERY.tcbm.encode(), b"00" * 18, b"zz", b""],
    b"SGX-FMSPC": [b"B0C06F000000", b"b0c06f000000", b"00906ED50000", b"\xff"],
    b"SGX-PCK-Certificate-CA-Type": [b"PLATFORM", b"processor", b"other"],
    b"Content-Type": [
        b"application/x-pem-file",
        b"application/pem-certificate-chain; charset=utf-8",
        b"application/json",
        b"text/html",
        b"\x00",
    ],
}


@st.composite
def headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    found: list[tuple[bytes, bytes]] = []
    if draw(st.integers(0, 4)):
        found.append((b"SGX-PCK-Certificate-Issuer-Chain", draw(chains())))
    for name, values in _HINTS.items():
        for _ in range(draw(st.integers(0, 2))):
            found.append((name, draw(st.sampled_from(values))))
    return found


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(st.binary(max_size=300))
    if choice == 1:
        return _LEAF
    if choice == 2:
        return _LEAF + draw(st.sampled_from([_LEAF, b"\n", b"x", _OTHER.root.pem]))
    data = bytearray(_LEAF)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if choice == 4:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@budget(300)
@given(data=st.data())
def test_hostile_pck_certificate_responses_give_the_certificate_or_a_fetch_error(
    data: st.DataObject,
) -> None:
    fetch = Fetch(
        FetchOptions(retries=0),
        "pck_certificate",
        "https://pccs.example/sgx/certification/v4/pckcert",
        origin=("https", "pccs.example", 443),
        origin_headers={},
        monotonic=lambda: 0.0,
    )
    status = data.draw(st.sampled_from([200, 200, 200, 200, 404, 400, 503]))
    body = data.draw(bodies())
    try:
        fetch.request()
        action = fetch.head(httpx.Response(status, headers=data.draw(headers())))
        if isinstance(action, (Redirect, Wait)):
            return
        assert action == READ_BODY
        fetch.chunk(body)
        response = fetch.done()
        fetched = _SOURCE._accept(response, _SOURCE._pck_matches(_QUERY), _VALIDATOR)
    except CollateralFetchError:
        return
    # Accepted: the very certificate registered for this quote, under the trust root.
    assert fetched.chain[0].public_bytes(Encoding.PEM) == _LEAF
    assert fetched.pck_extension == _FORGE.leaf.extension
