"""The PCK identifier of certification data types 1-3, the /pckcert query built from it, and
the collateral parameters of a quote that carries no PCK chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tdxquote import CertificationData, PckIdentifier, parse_quote
from tdxquote.collateral import CollateralParameters, PckCertificateQuery
from tdxquote.collateral.pcs import pck_chain_of
from tdxquote.errors import CertificateChainError, QuoteFormatError, QuoteParseError
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.pki import SyntheticPki


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    pki = SyntheticPki.create(b"pckcert quote tests")
    leaf = pki.issue_pck(pce_id="0100", pce_svn=0x1234, cpu_svn="0f0e0d0c0b0a09080706050403020100")
    return QuoteForge.create(pki=pki, leaf=leaf)


@pytest.mark.parametrize(("cert_type", "ppid_size"), [(1, 16), (2, 256), (3, 384)])
def test_types_1_to_3_decode_ppid_cpusvn_pcesvn_pceid(
    forge: QuoteForge, cert_type: int, ppid_size: int
) -> None:
    ppid = bytes(range(256)) * 2
    data = ppid[:ppid_size] + bytes(range(16)) + b"\x34\x12" + b"\x01\x00"
    quote = forge.quote(certification_data=CertificationData(cert_type, data))
    assert quote.pck_chain_pem is None
    assert quote.pck_identifier == PckIdentifier(
        cert_type, ppid[:ppid_size], bytes(range(16)), 0x1234, b"\x01\x00"
    )
    assert quote.pck_identifier.encrypted is (cert_type != 1)


def test_the_forge_writes_the_leaf_tcb(forge: QuoteForge) -> None:
    extension = forge.leaf.extension
    assert extension is not None
    for cert_type in (1, 2, 3):
        identifier = forge.quote(
            certification_data=forge.pck_identifier_data(cert_type)
        ).pck_identifier
        assert identifier is not None
        assert identifier.cpu_svn == extension.cpu_svn
        assert identifier.pce_svn == extension.pce_svn == 0x1234
        assert identifier.pce_id == extension.pce_id == b"\x01\x00"
    clear = forge.quote(certification_data=forge.pck_identifier_data(1)).pck_identifier
    assert clear is not None
    assert clear.ppid == extension.ppid
    assert len(forge.encrypted_ppid(2)) == 256
    assert len(forge.encrypted_ppid(3)) == 384
    with pytest.raises(ValueError, match="type 2 or 3"):
        forge.encrypted_ppid(1)


@pytest.mark.parametrize("cert_type", [4, 5])
def test_types_4_and_5_have_no_identifier(forge: QuoteForge, cert_type: int) -> None:
    data = forge.pck_chain_pem if cert_type == 5 else forge.leaf.pem
    quote = forge.quote(certification_data=CertificationData(cert_type, data))
    assert quote.pck_identifier is None


@pytest.mark.parametrize(
    ("cert_type", "size"),
    [(1, 35), (1, 37), (2, 275), (2, 404), (3, 276), (3, 402), (3, 403), (3, 64), (2, 0)],
)
def test_a_wrong_length_parses_but_has_no_identifier(
    forge: QuoteForge, cert_type: int, size: int
) -> None:
    quote = forge.quote(certification_data=CertificationData(cert_type, bytes(size)))
    parsed = parse_quote(quote.to_bytes())  # the structure is valid: parsing accepts it
    with pytest.raises(QuoteParseError) as raised:
        parsed.pck_identifier  # noqa: B018
    assert raised.value.field == "certification_data.size"
    assert str(size) in raised.value.reason
    with pytest.raises(QuoteFormatError):
        PckCertificateQuery.from_quote(parsed)


@given(cert_type=st.sampled_from([1, 2, 3]), data=st.binary(max_size=500))
def test_any_certification_data_decodes_exactly_or_raises(cert_type: int, data: bytes) -> None:
    quote = _FORGE.quote(certification_data=CertificationData(cert_type, data))
    sizes = {1: (34, 36), 2: (274, 276), 3: (404,)}
    if len(data) not in sizes[cert_type]:
        with pytest.raises(QuoteParseError):
            quote.pck_identifier  # noqa: B018
        return
    identifier = quote.pck_identifier
    assert identifier is not None
    rebuilt = (
        identifier.ppid
        + identifier.cpu_svn
        + identifier.pce_svn.to_bytes(2, "little")
        + (identifier.pce_id or b"")
    )
    assert rebuilt == data
    assert (identifier.pce_id is None) is (len(data) == sizes[cert_type][0] != 404)


_FORGE = QuoteForge.create(seed=b"pckcert hypothesis")


def test_query_parameters_as_the_pcs_and_pccs_spell_them(forge: QuoteForge) -> None:
    quote = forge.quote(certification_data=forge.pck_identifier_data(2))
    query = PckCertificateQuery.from_quote(quote)
    assert query.encrypted_ppid == forge.encrypted_ppid(2)
    assert query.qe_id == quote.user_data[:16]
    pcs = query.query(pccs=False)
    assert list(pcs) == ["encrypted_ppid", "cpusvn", "pcesvn", "pceid"]
    assert pcs["encrypted_ppid"] == forge.encrypted_ppid(2).hex().upper()
    assert pcs["cpusvn"] == "0F0E0D0C0B0A09080706050403020100"
    assert pcs["pcesvn"] == "3412"  # little-endian, as the PCS wants it
    assert pcs["pceid"] == "0100"
    pccs = query.query(pccs=True)
    assert list(pccs) == ["qeid", "encrypted_ppid", "cpusvn", "pcesvn", "pceid"]
    assert pccs["qeid"] == quote.user_data[:16].hex().upper()
    assert query.tcbm == "0F0E0D0C0B0A090807060504030201003412"


@pytest.mark.parametrize(
    ("cert_type", "data"),
    [
        (1, None),  # clear PPID: no PCS route takes it
        (4, b"leaf"),
        (5, None),  # carries its chain
    ],
)
def test_only_an_encrypted_ppid_makes_a_query(
    forge: QuoteForge, cert_type: int, data: bytes | None
) -> None:
    if cert_type == 1:
        quote = forge.quote(certification_data=forge.pck_identifier_data(1))
    elif cert_type == 5:
        quote = forge.quote()
    else:
        quote = forge.quote(certification_data=CertificationData(cert_type, data or b""))
    with pytest.raises(QuoteFormatError, match="encrypted PPID") as raised:
        PckCertificateQuery.from_quote(quote)
    assert raised.value.code == "quote_format"


@pytest.mark.parametrize(
    "changes",
    [
        {"encrypted_ppid": bytes(255)},
        {"cpu_svn": bytes(15)},
        {"pce_id": bytes(3)},
        {"qe_id": bytes(15)},
        {"pce_svn": 65536},
        {"pce_svn": -1},
        {"pce_svn": True},
    ],
)
def test_a_query_checks_its_fields(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "encrypted_ppid": bytes(384),
        "cpu_svn": bytes(16),
        "pce_svn": 0,
        "pce_id": bytes(2),
        "qe_id": None,
        **changes,
    }
    with pytest.raises(ValueError, match="must be"):
        PckCertificateQuery(**fields)  # type: ignore[arg-type]


def test_parameters_from_the_fetched_chain(forge: QuoteForge) -> None:
    quote = forge.quote(certification_data=forge.pck_identifier_data(3))
    with pytest.raises(QuoteFormatError, match="can be fetched by its encrypted PPID"):
        CollateralParameters.from_quote(quote)
    params = CollateralParameters.from_quote(quote, pck_certificate_chain=forge.pck_chain_pem)
    assert params == CollateralParameters("tdx", "B0C06F000000", "platform")
    # A type-5 quote's own chain wins over one given.
    other = QuoteForge.create(seed=b"other", ca="processor")
    own = CollateralParameters.from_quote(forge.quote(), pck_certificate_chain=other.pck_chain_pem)
    assert own.ca == "platform"
    assert (
        CollateralParameters.from_quote(
            other.quote(certification_data=other.pck_identifier_data(2)),
            pck_certificate_chain=other.pck_chain_pem,
        ).ca
        == "processor"
    )


@pytest.mark.parametrize(
    ("chain", "code"),
    [
        ("not a chain", "pck_chain_invalid"),
        ("two leaves", "pck_chain_invalid"),
        ("no leaf", "pck_chain_invalid"),
        ("bad extension", "pck_cert_format"),
    ],
)
def test_parameters_from_a_bad_chain_are_a_verdict(
    forge: QuoteForge, chain: str, code: str
) -> None:
    quote = forge.quote(certification_data=forge.pck_identifier_data(2))
    pki = forge.pki
    texts = {
        "not a chain": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "two leaves": (forge.leaf.pem * 2 + pki.root.pem).decode(),
        "no leaf": (pki.intermediate.pem + pki.root.pem).decode(),
        "bad extension": (
            pki.issue_pck(extension=b"\x30\x00").pem + pki.intermediate.pem + pki.root.pem
        ).decode(),
    }
    with pytest.raises(CertificateChainError) as raised:
        CollateralParameters.from_quote(quote, pck_certificate_chain=texts[chain])
    assert raised.value.code == code


@pytest.mark.parametrize("cert_type", [1, 2])
def test_types_1_and_2_may_leave_the_pce_id_out(forge: QuoteForge, cert_type: int) -> None:
    # Intel's sgx_quote_3.h: the PCE-ID of types 1 and 2 is under #ifdef USE_PCEID.
    data = forge.pck_identifier_data(cert_type, pce_id=b"")
    quote = forge.quote(certification_data=data)
    identifier = quote.pck_identifier
    assert identifier is not None
    assert identifier.pce_id is None
    assert identifier.pce_svn == 0x1234
    if cert_type == 2:
        with pytest.raises(QuoteFormatError, match="no PCE-ID"):
            PckCertificateQuery.from_quote(quote)


def test_intel_sample_type_1_quote(vectors: Path) -> None:
    folder = vectors / "intel-dcap/qvl-sampleData/sgx"
    quote = parse_quote((folder / "quote.dat").read_bytes())
    identifier = quote.pck_identifier
    assert identifier is not None
    assert identifier.type == 1
    assert identifier.pce_id is None  # 34 bytes: Intel's first reference layout
    chain = (folder / "pckCert.pem").read_text() + (folder / "pckSignChain.pem").read_text()
    extension = pck_chain_of(chain)[1]
    assert (identifier.ppid, identifier.cpu_svn, identifier.pce_svn) == (
        extension.ppid,
        extension.cpu_svn,
        extension.pce_svn,
    )
