"""PcsClient against a real HTTP server on 127.0.0.1: URLs, headers, retries, every fault.

Each fault has its own test: it raises CollateralFetchError (never a
VerificationError) naming the URL, the status and Intel's Request-ID /
Error-Code, and nothing from the failed exchange is cached.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from datetime import timedelta

import pytest
from _helpers import serving

from tdxquote.collateral import (
    ArtifactValidator,
    CollateralCache,
    CollateralParameters,
    PcsClient,
    PcsSource,
)
from tdxquote.collateral.pcs import INTEL_PCS_URL, INTEL_ROOT_CA_CRL_URL
from tdxquote.errors import CollateralFetchError, VerificationError
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import Fault, PccsServer, encode_issuer_chain
from tdxquote.testing.pki import REFERENCE_TIME, tcb_info

TCB = "/tdx/certification/v4/tcb"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"pcs client tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


@pytest.fixture
def params(scenario: Scenario) -> CollateralParameters:
    return CollateralParameters.from_quote(scenario.quote)


class Sleeps:
    """Records requested sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(server: PccsServer, **options: object) -> PcsClient:
    options.setdefault("sleep", Sleeps())
    return PcsClient(server.url, **options)  # type: ignore[arg-type]


def source_of(
    server: PccsServer, scenario: Scenario, **options: object
) -> tuple[PcsSource, CollateralCache, ArtifactValidator]:
    cache = CollateralCache.memory()
    validator = ArtifactValidator(scenario.trust_root_der)
    return PcsSource(client(server, **options), cache), cache, validator


# --- parameters and URLs --------------------------------------------------------------


def test_parameters_from_the_quote(scenario: Scenario, params: CollateralParameters) -> None:
    assert params == CollateralParameters(tee="tdx", fmspc="b0c06f000000", ca="platform")
    assert params.fmspc == "B0C06F000000"
    processor = QuoteForge.create(seed=b"pcs client tests", ca="processor")
    assert CollateralParameters.from_quote(processor.quote()).ca == "processor"


@pytest.mark.parametrize(
    ("tee", "fmspc", "ca"),
    [
        ("tdx", "B0C06F00000", "platform"),
        ("sev", "B0C06F000000", "platform"),
        ("tdx", "B0C06F00000G", "platform"),
        ("tdx", "B0C06F000000", "intel"),
    ],
)
def test_parameters_are_checked(tee: str, fmspc: str, ca: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        CollateralParameters(tee=tee, fmspc=fmspc, ca=ca)  # type: ignore[arg-type]


def test_a_quote_without_pck_chain_is_a_verdict_not_a_fetch_error(scenario: Scenario) -> None:
    from tdxquote._quote import CertificationData

    quote = scenario.forge.quote(certification_data=CertificationData(1, bytes(16)))
    with pytest.raises(VerificationError) as raised:
        CollateralParameters.from_quote(quote)
    assert raised.value.code == "quote_format"


def test_requests_sent(server: PccsServer, params: CollateralParameters) -> None:
    with client(server, api_key="secret-key") as pcs:
        responses = pcs.fetch(params)
    assert [r.path for r in server.requests] == [
        f"{TCB}?fmspc=B0C06F000000",
        "/tdx/certification/v4/qe/identity",
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
        "/sgx/certification/v4/rootcacrl",
    ]
    assert all(r.headers["Ocp-Apim-Subscription-Key"] == "secret-key" for r in server.requests)
    assert set(responses) == {"tcb_info", "qe_identity", "pck_crl", "root_ca_crl"}
    assert responses["root_ca_crl"].issuer_chain is None
    assert responses["tcb_info"].request_id == "00000000000000000000000000000001"
    # PCCS serves the Root CA CRL as hex text of the DER.
    assert bytes.fromhex(responses["root_ca_crl"].body.decode())[:1] == b"\x30"


@pytest.mark.parametrize(
    ("options", "query"),
    [
        ({"update": "early"}, "update=early"),
        ({"update": "standard"}, "update=standard"),
        ({"tcb_evaluation_data_number": 17}, "tcbEvaluationDataNumber=17"),
    ],
)
def test_update_and_evaluation_number(
    server: PccsServer, scenario: Scenario, options: dict[str, object], query: str
) -> None:
    source, _, validator = source_of(server, scenario, **options)
    source.collateral(
        CollateralParameters.from_quote(scenario.quote), now=scenario.now, validator=validator
    )
    paths = [r.path for r in server.requests]
    assert paths[0] == f"{TCB}?fmspc=B0C06F000000&{query}"
    assert paths[1] == f"/tdx/certification/v4/qe/identity?{query}"
    assert query not in paths[2]


def test_update_and_evaluation_number_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        PcsClient("http://127.0.0.1:1", update="early", tcb_evaluation_data_number=17)
    with pytest.raises(ValueError, match="update"):
        PcsClient("http://127.0.0.1:1", update="late")  # type: ignore[arg-type]


def test_base_urls() -> None:
    intel = PcsClient()
    assert intel.base_url == INTEL_PCS_URL
    assert intel.root_ca_crl_url == INTEL_ROOT_CA_CRL_URL
    pccs = PcsClient("https://pccs.example:8081/tdx/certification/v4/")
    assert pccs.base_url == "https://pccs.example:8081"
    assert pccs.root_ca_crl_url == "https://pccs.example:8081/sgx/certification/v4/rootcacrl"
    with pytest.raises(ValueError, match="http"):
        PcsClient("ftp://example")


def test_issuer_chain_header_is_url_decoded_plus_stays_plus(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    pem = scenario.collateral.tcb_info_issuer_chain
    encoded = encode_issuer_chain(pem)
    assert "%2B" in encoded
    assert "+" not in encoded
    source, _, validator = source_of(server, scenario)
    collateral = source.collateral(params, now=scenario.now, validator=validator)
    assert collateral.raw.tcb_info_issuer_chain == pem
    # A server that leaves '+' unencoded: '+' must not become a space.
    server.inject(Fault.header("TCB-Info-Issuer-Chain", encoded.replace("%2B", "+")), path=TCB)
    fresh = PcsSource(client(server)).collateral(params, now=scenario.now, validator=validator)
    assert fresh.raw.tcb_info_issuer_chain == pem


# --- faults ---------------------------------------------------------------------------


def fails(
    server: PccsServer, scenario: Scenario, params: CollateralParameters, **options: object
) -> tuple[CollateralFetchError, CollateralCache]:
    source, cache, validator = source_of(server, scenario, **options)
    with pytest.raises(CollateralFetchError) as raised:
        source.collateral(params, now=scenario.now, validator=validator)
    assert not isinstance(raised.value, VerificationError)
    assert not [e for e in cache.entries() if e.artifact == "tcb_info"]
    return raised.value, cache


def test_unknown_fmspc_is_404(server: PccsServer, scenario: Scenario) -> None:
    params = CollateralParameters(tee="tdx", fmspc="00906ED50000", ca="platform")
    error, _ = fails(server, scenario, params)
    assert error.status == 404
    assert error.url == f"{server.url}{TCB}?fmspc=00906ED50000"
    assert error.request_id == "00000000000000000000000000000001"
    assert error.error_code == "NotFound"
    assert "unknown FMSPC" in str(error)
    assert server.count() == 1  # 404 is not retried


def test_server_error_500(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    server.inject(Fault.http_status(500, headers={"Error-Code": "InternalError"}), path=TCB)
    error, _ = fails(server, scenario, params, retries=0)
    assert (error.status, error.error_code) == (500, "InternalError")
    assert "HTTP 500" in str(error)
    assert "request-id=" in str(error)


def test_5xx_is_retried_with_exponential_backoff(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    sleeps = Sleeps()
    server.inject(Fault.http_status(503), path=TCB, times=2)
    pcs = client(server, retries=3, backoff=0.5, sleep=sleeps)
    response = pcs.get("tcb_info", params)
    assert response.body.startswith(b'{"tcbInfo":')
    assert sleeps.calls == [0.5, 1.0]
    assert server.count(TCB) == 3


def test_retries_exhausted(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    sleeps = Sleeps()
    server.inject(Fault.http_status(502), path=TCB, times=None)
    error, _ = fails(
        server, scenario, params, retries=2, backoff=1.0, max_backoff=1.5, sleep=sleeps
    )
    assert error.status == 502
    assert sleeps.calls == [1.0, 1.5]
    assert server.count(TCB) == 3


def test_429_honours_retry_after_seconds(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    sleeps = Sleeps()
    server.inject(Fault.http_status(429, headers={"Retry-After": "7"}), path=TCB)
    client(server, sleep=sleeps).get("tcb_info", params)
    assert sleeps.calls == [7.0]


def test_429_honours_retry_after_date(server: PccsServer, params: CollateralParameters) -> None:
    sleeps = Sleeps()
    now = REFERENCE_TIME.timestamp()
    when = email.utils.format_datetime(REFERENCE_TIME + timedelta(seconds=12), usegmt=True)
    server.inject(Fault.http_status(429, headers={"Retry-After": when}), path=TCB)
    client(server, sleep=sleeps, clock=lambda: now).get("tcb_info", params)
    assert sleeps.calls == [12.0]


def test_429_asking_too_long_fails_at_once(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    sleeps = Sleeps()
    server.inject(Fault.http_status(429, headers={"Retry-After": "3600"}), path=TCB)
    error, _ = fails(server, scenario, params, sleep=sleeps, max_retry_after=60)
    assert error.status == 429
    assert "retry after 3600 s" in str(error)
    assert sleeps.calls == []


def test_429_retries_exhausted(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    server.inject(Fault.http_status(429, headers={"Retry-After": "2"}), path=TCB, times=None)
    error, _ = fails(server, scenario, params, retries=1)
    assert (error.status, error.error_code) == (429, "TooManyRequests")


def test_timeout(server: PccsServer, scenario: Scenario, params: CollateralParameters) -> None:
    server.inject(Fault.hung(), path=TCB)
    error, _ = fails(server, scenario, params, retries=0, timeout=0.2)
    assert "timed out" in str(error)
    assert error.url is not None
    assert error.url.startswith(f"{server.url}{TCB}")
    assert error.status is None


def test_truncated_body(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    server.inject(Fault.truncated(120), path=TCB)
    error, _ = fails(server, scenario, params, retries=0)
    assert "malformed TCB Info response (body)" in str(error)
    assert error.request_id is not None


def test_connection_dropped_mid_body(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    server.inject(Fault.dropped(100), path=TCB)
    error, _ = fails(server, scenario, params, retries=0)
    assert "peer closed connection" in str(error)


def test_connection_dropped_once_is_retried(
    server: PccsServer, params: CollateralParameters
) -> None:
    sleeps = Sleeps()
    server.inject(Fault.dropped(100), path=TCB)
    response = client(server, retries=1, sleep=sleeps).get("tcb_info", params)
    assert response.body.endswith(b'"}')
    assert sleeps.calls == [1.0]


@pytest.mark.parametrize(
    "value",
    [
        "%ZZ-----BEGIN%20CERTIFICATE-----",
        "-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----%0A",
        "%FF%FE",
        "not a chain",
    ],
)
def test_malformed_issuer_chain_header(
    server: PccsServer, scenario: Scenario, params: CollateralParameters, value: str
) -> None:
    server.inject(Fault.header("TCB-Info-Issuer-Chain", value), path=TCB)
    error, _ = fails(server, scenario, params)
    assert "issuer-chain header" in str(error)
    assert server.count(TCB) == 1  # a malformed response is not retried


def test_missing_issuer_chain_header(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    server.inject(Fault.header("TCB-Info-Issuer-Chain", None), path=TCB)
    error, _ = fails(server, scenario, params)
    assert "no TCB-Info-Issuer-Chain header" in str(error)


def test_tampered_signature(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    def flip(body: bytes) -> bytes:
        at = body.rindex(b'"signature":"') + len(b'"signature":"')
        digit = b"1" if body[at : at + 1] != b"1" else b"2"
        return body[:at] + digit + body[at + 1 :]

    server.inject(Fault.body_transform(flip), path=TCB)
    error, _ = fails(server, scenario, params)
    assert "does not verify (tcb_info_signature_invalid)" in str(error)
    assert isinstance(error.__cause__, VerificationError)


def test_tampered_crl(server: PccsServer, scenario: Scenario, params: CollateralParameters) -> None:
    def flip(body: bytes) -> bytes:
        return body[:-1] + bytes([body[-1] ^ 1])

    server.inject(Fault.body_transform(flip), path="/sgx/certification/v4/pckcrl")
    source, cache, validator = source_of(server, scenario)
    with pytest.raises(CollateralFetchError, match="PCK CRL response does not verify"):
        source.collateral(params, now=scenario.now, validator=validator)
    assert not [e for e in cache.entries() if e.artifact == "pck_crl"]


def test_untrusted_signer(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    source, cache, _ = source_of(server, scenario)
    with pytest.raises(CollateralFetchError, match="does not verify"):
        source.collateral(params, now=scenario.now, validator=ArtifactValidator())  # Intel's root
    assert cache.entries() == []


def test_expired_on_arrival(scenario: Scenario, params: CollateralParameters) -> None:
    stale = scenario.forge.pki.collateral(
        tcb_info(next_update=scenario.now - timedelta(seconds=1))
    ).to_collateral()
    with PccsServer() as server:
        server.add_collateral(stale)
        error, cache = fails(server, scenario, params)
        assert "already expired" in str(error)
        assert error.url is not None
        assert TCB in error.url
        # A policy that accepts expired collateral gets it, still not cached.
        source = PcsSource(client(server), cache)
        validator = ArtifactValidator(scenario.trust_root_der)
        collateral = source.collateral(
            params, now=scenario.now, validator=validator, allow_expired=True
        )
        assert collateral.tcb_info.next_update < scenario.now
        assert {e.artifact for e in cache.entries()} == {"qe_identity", "pck_crl", "root_ca_crl"}


def test_answer_for_another_fmspc(scenario: Scenario, params: CollateralParameters) -> None:
    other = scenario.forge.pki.collateral(tcb_info(fmspc="00906ED50000")).to_collateral()
    with PccsServer() as server:
        server.add_collateral(scenario.to_collateral())
        server.add_response(
            ("tcb", "tdx", "B0C06F000000"),
            b'{"tcbInfo":'
            + other.raw.tcb_info
            + b',"signature":"'
            + other.raw.tcb_info_signature.hex().encode()
            + b'"}',
            issuer_chain=other.raw.tcb_info_issuer_chain,
        )
        error, _ = fails(server, scenario, params)
    assert "TCB Info for FMSPC 00906ED50000, asked B0C06F000000" in str(error)


def test_evaluation_number_not_available_is_410(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    error, _ = fails(server, scenario, params, tcb_evaluation_data_number=3)
    assert error.status == 410
    assert "no longer available" in str(error)


def test_response_too_large(
    server: PccsServer, scenario: Scenario, params: CollateralParameters
) -> None:
    error, _ = fails(server, scenario, params, max_response_size=256)
    assert "larger than 256 bytes" in str(error)


def test_connection_refused(scenario: Scenario, params: CollateralParameters) -> None:
    server = PccsServer()
    url = server.url
    server.stop()  # the port is closed now
    source = PcsSource(PcsClient(url, retries=0))
    with pytest.raises(CollateralFetchError) as raised:
        source.collateral(
            params, now=scenario.now, validator=ArtifactValidator(scenario.trust_root_der)
        )
    assert raised.value.url is not None
    assert raised.value.url.startswith(url)
    assert "ConnectError" in str(raised.value)
