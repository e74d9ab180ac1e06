"""Encrypted-PPID quotes (certification data types 2 and 3) verified end to end: the PCK
certificate fetched from ``/sgx/certification/v4/pckcert`` of a PCCS on 127.0.0.1, then the
collateral of the FMSPC and CA it names; sync, async and the CLI; refusals of unknown
platforms, certificates for another TCB and hostile responses; the cache; the API key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tdxquote import Quote
from tdxquote.cli import main
from tdxquote.collateral import (
    AsyncPcsClient,
    AsyncPcsSource,
    Collateral,
    CollateralCache,
    PckCertificateQuery,
    PcsClient,
    PcsSource,
)
from tdxquote.errors import CollateralFetchError, QuoteFormatError, VerificationError
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import Fault, PccsServer
from tdxquote.testing.pki import PckLeaf, SyntheticPki
from tdxquote.verification import Policy, VerifiedQuote, Verifier

PCKCERT = "/sgx/certification/v4/pckcert"


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    return QuoteForge.create(seed=b"pckcert fetch tests")


@pytest.fixture(scope="module")
def scenario(forge: QuoteForge) -> Scenario:
    return forge.scenario()


def encrypted_quote(forge: QuoteForge, cert_type: int = 2) -> Quote:
    return forge.quote(certification_data=forge.pck_identifier_data(cert_type))


def register(
    server: PccsServer, forge: QuoteForge, quote: Quote, leaf: PckLeaf | None = None
) -> PckCertificateQuery:
    """Map the quote's encrypted PPID and TCB to ``leaf`` (default: the forge's)."""
    query = PckCertificateQuery.from_quote(quote)
    server.add_pck_certificate(
        (forge.leaf if leaf is None else leaf).pem,
        forge.pki.intermediate.pem + forge.pki.root.pem,
        encrypted_ppid=query.encrypted_ppid,
        cpu_svn=query.cpu_svn,
        pce_svn=query.pce_svn,
        pce_id=query.pce_id,
        qe_id=query.qe_id,
    )
    return query


@pytest.fixture
def server(scenario: Scenario, forge: QuoteForge) -> Iterator[PccsServer]:
    with PccsServer() as running:
        running.add_collateral(scenario.to_collateral())
        for cert_type in (2, 3):
            register(running, forge, encrypted_quote(forge, cert_type))
        yield running


def source(
    server: PccsServer, cache: CollateralCache | Path | None = None, **options: object
) -> PcsSource:
    store = (
        cache if isinstance(cache, CollateralCache) else CollateralCache(cache) if cache else None
    )
    options.setdefault("retries", 0)
    return PcsSource(PcsClient(server.url, **options), store)  # type: ignore[arg-type]


def verifier(
    server: PccsServer, scenario: Scenario, cache: object = None, **options: object
) -> Verifier:
    return Verifier(
        trust_root=scenario.trust_root_der,
        source=source(server, cache if cache is not None else CollateralCache.memory(), **options),  # type: ignore[arg-type]
    )


def pck_entries(cache: CollateralCache) -> list[str]:
    return [e.key for e in cache.entries() if e.artifact == "pck_certificate"]


# --- end to end ------------------------------------------------------------------------


@pytest.mark.parametrize("cert_type", [2, 3])
def test_an_encrypted_ppid_quote_verifies_end_to_end(
    server: PccsServer, scenario: Scenario, forge: QuoteForge, cert_type: int
) -> None:
    quote = encrypted_quote(forge, cert_type)
    verified = verifier(server, scenario).verify(quote, now=scenario.now)
    assert str(verified.status) == "UpToDate"
    assert "pck_identifier" in verified.checks
    assert verified.supplemental.fmspc.hex().upper() == "B0C06F000000"
    # The PCK certificate first (it names the FMSPC), then the FMSPC's collateral.
    paths = [r.path.split("?")[0] for r in server.requests]
    assert paths == [
        PCKCERT,
        "/tdx/certification/v4/tcb",
        "/tdx/certification/v4/qe/identity",
        "/sgx/certification/v4/pckcrl",
        "/sgx/certification/v4/rootcacrl",
    ]
    asked = server.requests[0].query
    assert asked["encrypted_ppid"] == [forge.encrypted_ppid(cert_type).hex().upper()]
    assert asked["qeid"] == [quote.user_data[:16].hex().upper()]
    assert asked["cpusvn"] == [quote.pck_identifier.cpu_svn.hex().upper()]  # type: ignore[union-attr]
    assert asked["pcesvn"] == ["0B00"]  # PCESVN 11, little-endian
    assert asked["pceid"] == ["0000"]


def test_the_collateral_carries_the_fetched_chain(
    server: PccsServer, scenario: Scenario, forge: QuoteForge
) -> None:
    quote = encrypted_quote(forge)
    collateral = source(server).collateral_for(
        quote, now=scenario.now, validator=verifier(server, scenario)._validator()
    )
    assert collateral.raw.pck_certificate_chain is not None
    chain = collateral.pck_certificate_chain
    assert chain is not None
    assert [c.subject for c in chain] == [
        forge.leaf.cert.subject,
        forge.pki.intermediate.cert.subject,
        forge.pki.root.cert.subject,
    ]
    # The same collateral verifies the quote offline (it round-trips through JSON).
    offline = Verifier(trust_root=scenario.trust_root_der)
    again = Collateral.from_json(collateral.to_json())
    assert str(offline.verify(quote, again, now=scenario.now).status) == "UpToDate"


@pytest.mark.parametrize("cert_type", [2, 3])
def test_averify_fetches_the_pck_certificate_first(
    server: PccsServer, scenario: Scenario, forge: QuoteForge, cert_type: int
) -> None:
    client = AsyncPcsClient(server.url, retries=0)
    async_source = AsyncPcsSource(client, CollateralCache.memory())
    checker = Verifier(trust_root=scenario.trust_root_der, source=async_source)
    quote = encrypted_quote(forge, cert_type)

    async def run() -> list[VerifiedQuote]:
        try:
            return [await checker.averify(quote, now=scenario.now) for _ in range(2)]
        finally:
            await async_source.aclose()

    verdicts = asyncio.run(run())
    assert [str(v.status) for v in verdicts] == ["UpToDate", "UpToDate"]
    assert server.requests[0].path.startswith(PCKCERT)
    assert server.count() == 5  # the second verification came from the cache


@pytest.mark.parametrize("cert_type", [2, 3])
def test_cli_verify_pccs(
    server: PccsServer,
    scenario: Scenario,
    forge: QuoteForge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    cert_type: int,
) -> None:
    quote = tmp_path / "quote.bin"
    quote.write_bytes(encrypted_quote(forge, cert_type).to_bytes())
    root = tmp_path / "root.pem"
    root.write_bytes(scenario.trust_root_pem)
    args = ["verify", str(quote), "--pccs", server.url, "--at", scenario.now.isoformat()]
    args += ["--trust-root", str(root), "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert main(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["result"]["verdict"]["status"] == "UpToDate"
    assert server.count(PCKCERT) == 1


# --- refusals ----------------------------------------------------------------------------


def test_an_unknown_platform_is_a_clear_fetch_error(server: PccsServer, scenario: Scenario) -> None:
    stranger = QuoteForge.create(seed=b"a platform the PCCS does not know")
    quote = encrypted_quote(stranger)
    with pytest.raises(CollateralFetchError) as raised:
        verifier(server, scenario).verify(quote, now=scenario.now)
    error = raised.value
    assert error.status == 404
    assert "no PCK certificate for this platform and TCB" in str(error)
    assert error.url is not None
    assert PCKCERT in error.url
    assert error.error_code == "NotFound"
    assert server.count() == 1  # nothing else was asked


@pytest.mark.parametrize(
    ("leaf_options", "named"),
    [
        ({"pce_id": "0100"}, "PCE-ID 0100"),
        ({"cpu_svn": "ff" * 16}, "CPUSVN " + "ff" * 16),
        ({"pce_svn": 10}, "PCESVN 10"),  # the PCS answers with a lower TCB level's certificate
    ],
)
def test_a_certificate_for_another_tcb_is_refused(
    scenario: Scenario,
    forge: QuoteForge,
    tmp_path: Path,
    leaf_options: dict[str, object],
    named: str,
) -> None:
    quote = encrypted_quote(forge)
    other = forge.pki.issue_pck(key_label="other tcb", **leaf_options)  # type: ignore[arg-type]
    cache = CollateralCache(tmp_path)
    with PccsServer() as server:
        server.add_collateral(scenario.to_collateral())
        register(server, forge, quote, leaf=other)
        with pytest.raises(CollateralFetchError) as raised:
            verifier(server, scenario, cache).verify(quote, now=scenario.now)
        assert server.count() == 1
    message = str(raised.value)
    assert "the server answered with the PCK certificate is for" in message
    assert named in message
    assert pck_entries(cache) == []  # never cached


@pytest.mark.parametrize(
    ("leaf_options", "named"),
    [({"pce_id": "0100"}, "PCE-ID 0100"), ({"cpu_svn": "ff" * 16}, "CPUSVN")],
)
def test_offline_a_collateral_chain_for_another_tcb_is_refused(
    forge: QuoteForge, leaf_options: dict[str, object], named: str
) -> None:
    other = forge.pki.issue_pck(key_label="other tcb", **leaf_options)  # type: ignore[arg-type]
    chain = (other.pem + forge.pki.intermediate.pem + forge.pki.root.pem).decode()
    scenario = forge.scenario(encrypted_quote(forge), pck_certificate_chain=chain)
    with pytest.raises(VerificationError) as raised:
        Verifier(trust_root=scenario.trust_root_der).verify(
            scenario.quote, scenario.to_collateral(), now=scenario.now
        )
    assert raised.value.code == "pck_cert_mismatch"
    assert named in str(raised.value)
    assert raised.value.checks_passed[-1] == "qe_identity_signature"


def test_a_clear_ppid_must_match_the_certificate(forge: QuoteForge) -> None:
    good = forge.scenario(
        forge.quote(certification_data=forge.pck_identifier_data(1)), pck_certificate_chain=True
    )
    checker = Verifier(trust_root=good.trust_root_der)
    assert str(checker.verify(good.quote, good.to_collateral(), now=good.now).status) == "UpToDate"
    bad = forge.quote(certification_data=forge.pck_identifier_data(1, ppid=bytes(16)))
    with pytest.raises(VerificationError) as raised:
        checker.verify(bad, good.to_collateral(), now=good.now)
    assert raised.value.code == "pck_cert_mismatch"
    assert "PPID" in str(raised.value)


def test_a_clear_ppid_quote_has_no_pcs_route(
    server: PccsServer, scenario: Scenario, forge: QuoteForge
) -> None:
    quote = forge.quote(certification_data=forge.pck_identifier_data(1))
    with pytest.raises(QuoteFormatError) as raised:
        verifier(server, scenario).verify(quote, now=scenario.now)
    assert raised.value.code == "quote_format"
    assert server.count() == 0


def _two_certificates(body: bytes) -> bytes:
    return body + body


def _other_root_chain() -> str:
    other = SyntheticPki.create(b"another root")
    from tdxquote.testing.pccs import encode_issuer_chain

    return encode_issuer_chain(other.intermediate.pem + other.root.pem)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.header("Content-Type", "application/json"), "Content-Type 'application/json'"),
        (Fault.header("Content-Type", "text/html"), "is not application/x-pem-file"),
        (Fault.header("SGX-PCK-Certificate-Issuer-Chain", None), "no SGX-PCK-Certificate-Issuer"),
        (
            Fault.header(
                "SGX-PCK-Certificate-Issuer-Chain", "-----BEGIN%20CERTIFICATE-----garbage"
            ),
            "malformed PCK certificate response (issuer-chain header)",
        ),
        (
            Fault.header("SGX-PCK-Certificate-Issuer-Chain", "%FF%FE"),
            "malformed PCK certificate response (issuer-chain header)",
        ),
        (Fault.body_transform(_two_certificates), "2 certificates, not 1"),
        (Fault.body_transform(lambda body: b'{"pckCert": "none"}'), "response (body)"),
        (Fault.truncated(100), "response (body)"),
        (Fault.header("SGX-TCBm", "00" * 18), "SGX-TCBm"),
        (Fault.header("SGX-TCBm", "not hex"), "SGX-TCBm"),
        (Fault.header("SGX-FMSPC", "00906ED50000"), "SGX-FMSPC"),
        (Fault.header("SGX-PCK-Certificate-CA-Type", "PROCESSOR"), "CA-Type"),
        (Fault(headers=(("SGX-FMSPC", "B0C06F000000"),), status=None), None),
    ],
)
def test_hostile_pck_certificate_responses_are_refused(
    server: PccsServer,
    scenario: Scenario,
    forge: QuoteForge,
    tmp_path: Path,
    fault: Fault,
    message: str | None,
) -> None:
    cache = CollateralCache(tmp_path)
    server.inject(fault, path=PCKCERT)
    checker = verifier(server, scenario, cache)
    if message is None:  # a control: a fault that changes nothing
        assert str(checker.verify(encrypted_quote(forge), now=scenario.now).status) == "UpToDate"
        return
    with pytest.raises(CollateralFetchError) as raised:
        checker.verify(encrypted_quote(forge), now=scenario.now)
    assert message in str(raised.value)
    assert pck_entries(cache) == []


def test_a_duplicated_hint_header_is_refused(scenario: Scenario, forge: QuoteForge) -> None:
    quote = encrypted_quote(forge)
    with PccsServer() as server:
        server.add_collateral(scenario.to_collateral())
        register(server, forge, quote)
        # A second SGX-FMSPC header after the first (the server writes the value as is).
        server.inject(
            Fault.header("SGX-FMSPC", "B0C06F000000\r\nSGX-FMSPC: B0C06F000000"), path=PCKCERT
        )
        with pytest.raises(CollateralFetchError, match="2 SGX-FMSPC headers"):
            verifier(server, scenario).verify(quote, now=scenario.now)


def test_a_chain_under_another_root_does_not_verify(
    server: PccsServer, scenario: Scenario, forge: QuoteForge
) -> None:
    server.inject(
        Fault.header("SGX-PCK-Certificate-Issuer-Chain", _other_root_chain()), path=PCKCERT
    )
    with pytest.raises(CollateralFetchError) as raised:
        verifier(server, scenario).verify(encrypted_quote(forge), now=scenario.now)
    assert "the PCK certificate response does not verify (pck_chain_untrusted)" in str(raised.value)


def test_a_pem_content_type_with_parameters_is_accepted(
    server: PccsServer, scenario: Scenario, forge: QuoteForge
) -> None:
    server.inject(
        Fault.header("Content-Type", "application/x-pem-file; charset=UTF-8"), path=PCKCERT
    )
    verified = verifier(server, scenario).verify(encrypted_quote(forge), now=scenario.now)
    assert str(verified.status) == "UpToDate"


def test_an_expired_pck_certificate(scenario: Scenario, forge: QuoteForge) -> None:
    quote = encrypted_quote(forge)
    expired = forge.pki.issue_pck(not_after=scenario.now - timedelta(days=1))
    with PccsServer() as server:
        server.add_collateral(scenario.to_collateral())
        register(server, forge, quote, leaf=expired)
        with pytest.raises(CollateralFetchError, match="PCK certificate served is already expired"):
            verifier(server, scenario).verify(quote, now=scenario.now)
        # A policy that accepts expired collateral gets Intel's verdict, flagged.
        lenient = Policy().unsafe_allow_expired_collateral()
        verified = verifier(server, scenario).verify(quote, now=scenario.now, policy=lenient)
        assert verified.collateral_expired
        assert str(verified.status) == "UpToDate"


# --- transport: retries, deadline ------------------------------------------------------


def test_pckcert_is_retried_like_the_other_artifacts(
    server: PccsServer, scenario: Scenario, forge: QuoteForge
) -> None:
    server.inject(Fault.http_status(503, headers={"Retry-After": "0"}), path=PCKCERT)
    verified = verifier(server, scenario, retries=1).verify(
        encrypted_quote(forge), now=scenario.now
    )
    assert str(verified.status) == "UpToDate"
    assert server.count(PCKCERT) == 2


def test_pckcert_has_the_same_deadline(
    server: PccsServer, scenario: Scenario, forge: QuoteForge
) -> None:
    server.inject(Fault.trickled(0.05), path=PCKCERT)
    with pytest.raises(CollateralFetchError, match="PCK certificate: no complete response within"):
        verifier(server, scenario, deadline=0.3).verify(encrypted_quote(forge), now=scenario.now)


# --- the cache ----------------------------------------------------------------------------


def test_the_pck_certificate_is_cached_by_its_query(
    server: PccsServer, scenario: Scenario, forge: QuoteForge, tmp_path: Path
) -> None:
    for cert_type in (2, 2, 3, 3):
        # A new verifier each time: the disk cache answers, not the verifier's memory.
        checker = verifier(server, scenario, tmp_path)
        verified = checker.verify(encrypted_quote(forge, cert_type), now=scenario.now)
        assert str(verified.status) == "UpToDate"
    assert server.count(PCKCERT) == 2  # one per query (types 2 and 3 differ in their PPID)
    assert server.count() == 6  # + the four collateral artifacts, once
    keys = pck_entries(CollateralCache(tmp_path))
    assert len(keys) == 2
    assert all(
        forge.encrypted_ppid(2).hex().upper() in k or forge.encrypted_ppid(3).hex().upper() in k
        for k in keys
    )


def test_a_tampered_cached_certificate_is_fetched_again(
    server: PccsServer, scenario: Scenario, forge: QuoteForge, tmp_path: Path
) -> None:
    quote = encrypted_quote(forge)
    verifier(server, scenario, tmp_path).verify(quote, now=scenario.now)
    cache = CollateralCache(tmp_path)
    (key,) = pck_entries(cache)
    stored = cache.load(key)
    assert stored is not None
    # A certificate for another TCB, written behind the cache's back: not trusted, evicted.
    other = forge.pki.issue_pck(key_label="tampered", pce_svn=3)
    from dataclasses import replace

    cache.store(key, replace(stored, body=other.pem), scenario.now + timedelta(days=1))
    server.reset_log()
    verified = verifier(server, scenario, tmp_path).verify(quote, now=scenario.now)
    assert str(verified.status) == "UpToDate"
    assert [r.path.split("?")[0] for r in server.requests] == [PCKCERT]
    refetched = CollateralCache(tmp_path).load(key)
    assert refetched is not None
    assert refetched.body == stored.body


# --- the API key -------------------------------------------------------------------------


def test_the_api_key_goes_to_the_configured_origin_only(
    scenario: Scenario, forge: QuoteForge
) -> None:
    quote = encrypted_quote(forge)
    with PccsServer() as configured, PccsServer() as elsewhere:
        configured.add_collateral(scenario.to_collateral())
        register(elsewhere, forge, quote)
        query = PckCertificateQuery.from_quote(quote)
        target = (
            elsewhere.url
            + PCKCERT
            + "?"
            + "&".join(f"{k}={v}" for k, v in query.query(pccs=True).items())
        )
        configured.inject(Fault.redirect(target), path=PCKCERT)
        verified = verifier(configured, scenario, api_key="secret-key").verify(
            quote, now=scenario.now
        )
        assert str(verified.status) == "UpToDate"
        assert all(
            r.headers.get("Ocp-Apim-Subscription-Key") == "secret-key" for r in configured.requests
        )
        assert configured.count(PCKCERT) == 1
        assert elsewhere.count(PCKCERT) == 1
        assert "Ocp-Apim-Subscription-Key" not in elsewhere.requests[0].headers


def test_intel_pcs_needs_an_api_key_for_pckcert(forge: QuoteForge) -> None:
    query = PckCertificateQuery.from_quote(encrypted_quote(forge))
    with PcsClient(retries=0) as intel:  # Intel's PCS; this refuses before any request
        with pytest.raises(CollateralFetchError, match="requires an API key") as raised:
            intel.get_pck_certificate(query)
        assert intel.requests_sent == 0
        assert raised.value.url == intel.pck_certificate_url(query)
    # Intel's PCS takes no qeid; a PCCS is given one.
    url = PcsClient(api_key="k").pck_certificate_url(query)
    assert url.startswith("https://api.trustedservices.intel.com/sgx/certification/v4/pckcert?")
    assert "qeid=" not in url
    assert "encrypted_ppid=" in url
    assert "qeid=" in PcsClient("https://pccs.example:8081").pck_certificate_url(query)


# --- collateral fetch, show, and verify --collateral -------------------------------------


def test_collateral_fetch_records_the_pck_certificate(
    server: PccsServer,
    scenario: Scenario,
    forge: QuoteForge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    quote = encrypted_quote(forge, 3)
    quote_file = tmp_path / "quote.bin"
    quote_file.write_bytes(quote.to_bytes())
    root = tmp_path / "root.pem"
    root.write_bytes(scenario.trust_root_pem)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bundle = mirror / "tdx.json"
    at = scenario.now.isoformat()
    common = ["--at", at, "--trust-root", str(root)]
    fetch = ["collateral", "fetch", str(quote_file), "--pccs", server.url, "--no-cache"]
    assert main([*fetch, "--out", str(bundle), *common, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    pck = document["result"]["bundle"]["pck_certificate"]
    extension = forge.leaf.extension
    assert extension is not None
    assert pck["fmspc"] == "B0C06F000000"
    assert pck["cpu_svn"] == extension.cpu_svn.hex()
    assert pck["pce_svn"] == extension.pce_svn
    assert server.requests[0].path.startswith(PCKCERT)
    written = Collateral.from_json(bundle.read_bytes())
    assert written.raw.pck_certificate_chain is not None
    assert main(["collateral", "show", str(bundle), "--at", at]) == 0
    assert "PCK cert:    FMSPC B0C06F000000" in capsys.readouterr().out
    # The bundle verifies the quote offline: as a file, and chosen from a directory.
    for collateral in (str(bundle), str(mirror)):
        assert main(["verify", str(quote_file), "--collateral", collateral, *common]) == 0
        capsys.readouterr()
    # Another platform's encrypted-PPID quote finds no bundle in the directory.
    stranger = tmp_path / "stranger.bin"
    stranger.write_bytes(encrypted_quote(QuoteForge.create(seed=b"stranger")).to_bytes())
    assert main(["verify", str(stranger), "--collateral", str(mirror), *common]) == 2
    assert "no offline collateral with a PCK certificate" in capsys.readouterr().err


def test_collateral_fetch_of_an_unknown_platform_fails(
    server: PccsServer, scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quote_file = tmp_path / "quote.bin"
    quote_file.write_bytes(encrypted_quote(QuoteForge.create(seed=b"unknown")).to_bytes())
    out = tmp_path / "bundle.json"
    args = ["collateral", "fetch", str(quote_file), "--pccs", server.url, "--no-cache"]
    assert main([*args, "--out", str(out), "--at", scenario.now.isoformat()]) == 2
    assert "no PCK certificate for this platform" in capsys.readouterr().err
    assert not out.exists()


def test_collateral_fetch_of_a_clear_ppid_quote_says_why(
    server: PccsServer,
    scenario: Scenario,
    forge: QuoteForge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    quote_file = tmp_path / "quote.bin"
    quote_file.write_bytes(forge.quote(certification_data=forge.pck_identifier_data(1)).to_bytes())
    args = ["collateral", "fetch", str(quote_file), "--pccs", server.url, "--no-cache"]
    assert main([*args, "--out", str(tmp_path / "b.json")]) == 2
    assert "carries no encrypted PPID" in capsys.readouterr().err
    assert server.count() == 0
