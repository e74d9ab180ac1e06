"""Real Intel PCS responses served over real HTTP on 127.0.0.1, fetched, cached and verified.

* teepot's responses (captured from Intel's PCS on 2025-05-27, verbatim bodies,
  issuer chains sent URL-encoded as Intel sends them) verify the go-tdx-guest
  COS-113 quote, as a PCCS and in Intel-PCS mode (Root CA CRL from its
  distribution point);
* dcap-qvl's collateral bundles, served by the PCCS server, verify dcap-qvl's
  TDX and SGX quotes with their golden verdicts;
* ``update=early`` and ``tcbEvaluationDataNumber`` select other real TCB Infos.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tdxquote import parse_quote
from tdxquote.collateral import (
    ArtifactValidator,
    Collateral,
    CollateralCache,
    CollateralParameters,
    PcsClient,
    PcsSource,
    TcbStatus,
)
from tdxquote.collateral._source import parse_response
from tdxquote.collateral.pcs import PcsResponse
from tdxquote.errors import CollateralFetchError
from tdxquote.testing.pccs import PccsServer
from tdxquote.verification import Policy, Verifier

TEEPOT_NOW = datetime(2025, 6, 10, tzinfo=timezone.utc)
COS_113 = "go-tdx-guest/quotes/cos-113-tdx-quote.dat"
ALLOW_ALL = Policy().allow_statuses(*TcbStatus)


def teepot(vectors: Path, name: str) -> dict[str, str]:
    document: dict[str, str] = json.loads(
        (vectors / "teepot-intel-pcs" / name).read_text(encoding="utf-8")
    )
    return document


def dcap_qvl_bundle(vectors: Path, name: str) -> Collateral:
    return Collateral.from_json((vectors / "dcap-qvl" / name).read_bytes())


@pytest.fixture
def teepot_server(vectors: Path) -> Iterator[PccsServer]:
    tcb = teepot(vectors, "tdx_tcb_info.json")
    identity = teepot(vectors, "tdx_qe_identity.json")
    crl = teepot(vectors, "pck_crl_platform.json")
    root_crl = dcap_qvl_bundle(vectors, "tdx_quote_collateral.json").raw.root_ca_crl
    with PccsServer() as server:
        server.add_response(
            ("tcb", "tdx", "00806F050000"), tcb["tcb_info_json"], issuer_chain=tcb["issuer_chain"]
        )
        server.add_response(
            ("qe", "tdx"), identity["enclave_identity_json"], issuer_chain=identity["issuer_chain"]
        )
        server.add_response(
            ("pckcrl", "platform"),
            crl["crl_data"],
            issuer_chain=crl["issuer_chain"],
            content_type="application/x-pem-file",
        )
        server.add_response(("rootcacrl",), root_crl, content_type="application/pkix-crl")
        yield server


def test_teepot_responses_verify_a_real_quote_through_a_pccs(
    vectors: Path, teepot_server: PccsServer, tmp_path: Path
) -> None:
    quote = parse_quote((vectors / COS_113).read_bytes())
    verifier = Verifier.pccs(teepot_server.url, cache=tmp_path, retries=0)
    verified = verifier.verify(quote, now=TEEPOT_NOW)
    assert verified.status is TcbStatus.UP_TO_DATE
    assert verified.supplemental.tcb_evaluation_data_number == 17
    assert teepot_server.count() == 4
    # The exact signed bytes survive transport: the TCB Info is Intel's, byte for byte.
    source = verifier.source
    assert isinstance(source, PcsSource)
    collateral = source.collateral(
        CollateralParameters.from_quote(quote), now=TEEPOT_NOW, validator=verifier._validator()
    )
    tcb_json = teepot(vectors, "tdx_tcb_info.json")["tcb_info_json"].encode()
    assert collateral.raw.tcb_info in tcb_json
    assert teepot_server.count() == 4  # all from the cache
    # A second verifier on the same directory: no request at all.
    again = Verifier.pccs(teepot_server.url, cache=tmp_path, retries=0)
    assert again.verify(quote, now=TEEPOT_NOW).status is TcbStatus.UP_TO_DATE
    assert teepot_server.count() == 4


def test_teepot_responses_in_intel_pcs_mode(vectors: Path, teepot_server: PccsServer) -> None:
    quote = parse_quote((vectors / COS_113).read_bytes())
    client = PcsClient(teepot_server.url, root_ca_crl_url=teepot_server.root_ca_crl_url)
    verifier = Verifier(source=PcsSource(client, CollateralCache.memory()))
    assert verifier.verify(quote, now=TEEPOT_NOW).status is TcbStatus.UP_TO_DATE
    paths = [request.path for request in teepot_server.requests]
    assert "/IntelSGXRootCA.der" in paths
    assert "/sgx/certification/v4/rootcacrl" not in paths


def test_intel_pcs_constructor_uses_intel_urls(
    vectors: Path, teepot_server: PccsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tdxquote.collateral import pcs

    monkeypatch.setattr(pcs, "INTEL_PCS_URL", teepot_server.url)
    monkeypatch.setattr(pcs, "INTEL_ROOT_CA_CRL_URL", teepot_server.root_ca_crl_url)
    quote = parse_quote((vectors / COS_113).read_bytes())
    verifier = Verifier.intel_pcs(cache=CollateralCache.memory(), api_key="k", retries=0)
    assert verifier.verify(quote, now=TEEPOT_NOW).status is TcbStatus.UP_TO_DATE
    assert teepot_server.requests[0].headers["Ocp-Apim-Subscription-Key"] == "k"
    assert teepot_server.requests[-1].path == "/IntelSGXRootCA.der"


def test_teepot_collateral_is_expired_after_its_window(
    vectors: Path, teepot_server: PccsServer
) -> None:
    quote = parse_quote((vectors / COS_113).read_bytes())
    verifier = Verifier.pccs(teepot_server.url, cache=CollateralCache.memory(), retries=0)
    with pytest.raises(CollateralFetchError, match="already expired"):
        verifier.verify(quote, now=datetime(2025, 7, 1, tzinfo=timezone.utc))
    # An explicit policy accepting expired collateral gets Intel's verdict with the flag.
    expired = verifier.verify(
        quote,
        now=datetime(2025, 7, 1, tzinfo=timezone.utc),
        policy=Policy().unsafe_allow_expired_collateral(),
    )
    assert expired.supplemental.collateral_expired


def fetched(server: PccsServer, params: CollateralParameters, **options: object) -> PcsResponse:
    client = PcsClient(server.url, retries=0, **options)  # type: ignore[arg-type]
    with client:
        response = client.get("tcb_info", params)
    parsed = parse_response(response)
    ArtifactValidator().check(parsed)  # Intel's root
    return response


def test_update_early_and_evaluation_numbers(vectors: Path) -> None:
    standard = teepot(vectors, "sgx_tcb_info_00906ED50000.json")
    early = teepot(vectors, "sgx_tcb_info_early.json")
    eval17 = teepot(vectors, "tdx_tcb_info_eval17.json")
    params = CollateralParameters(tee="sgx", fmspc="00906ED50000", ca="processor")
    with PccsServer() as server:
        route = ("tcb", "sgx", "00906ED50000")
        server.add_response(route, standard["tcb_info_json"], issuer_chain=standard["issuer_chain"])
        server.add_response(
            (*route, "update=early"), early["tcb_info_json"], issuer_chain=early["issuer_chain"]
        )
        server.add_response(
            ("tcb", "tdx", "00806F050000", "eval=17"),
            eval17["tcb_info_json"],
            issuer_chain=eval17["issuer_chain"],
        )

        def number(response: PcsResponse) -> int:
            info = parse_response(response).tcb_info
            assert info is not None
            return info.tcb_evaluation_data_number

        assert number(fetched(server, params)) == 17
        assert number(fetched(server, params, update="standard")) == 17
        assert number(fetched(server, params, update="early")) == 19
        tdx = CollateralParameters(tee="tdx", fmspc="00806F050000", ca="platform")
        assert number(fetched(server, tdx, tcb_evaluation_data_number=17)) == 17
        with pytest.raises(CollateralFetchError) as raised:
            fetched(server, tdx, tcb_evaluation_data_number=18)
        assert raised.value.status == 410
        assert [r.query.get("update") for r in server.requests[:3]] == [
            None,
            ["standard"],
            ["early"],
        ]


@pytest.fixture
def dcap_qvl_server(vectors: Path) -> Iterator[PccsServer]:
    with PccsServer() as server:
        for name in ("tdx_quote_collateral.json", "sgx_quote_collateral.json"):
            server.add_collateral(dcap_qvl_bundle(vectors, name))
        yield server


@pytest.mark.parametrize(
    ("quote_name", "now", "status", "advisories"),
    [
        ("tdx_quote", 1751624191, TcbStatus.UP_TO_DATE, ()),
        (
            "sgx_quote",
            1751624924,
            TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
            ("INTEL-SA-00289", "INTEL-SA-00615"),
        ),
    ],
)
def test_dcap_qvl_collateral_served_over_http(
    vectors: Path,
    dcap_qvl_server: PccsServer,
    quote_name: str,
    now: int,
    status: TcbStatus,
    advisories: tuple[str, ...],
) -> None:
    quote = parse_quote((vectors / "dcap-qvl" / quote_name).read_bytes())
    verifier = Verifier.pccs(
        dcap_qvl_server.url, cache=CollateralCache.memory(), retries=0, policy=ALLOW_ALL
    )
    verified = verifier.verify(quote, now=now)
    assert (verified.status, verified.advisory_ids) == (status, advisories)
    tee = "tdx" if quote.is_tdx else "sgx"
    ca = "platform" if quote.is_tdx else "processor"
    assert dcap_qvl_server.requests[0].path.startswith(f"/{tee}/certification/v4/tcb?fmspc=")
    assert dcap_qvl_server.requests[2].path == (
        f"/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"
    )


def test_offline_directory_of_real_bundles(vectors: Path, tmp_path: Path) -> None:
    for name in ("tdx_quote_collateral.json", "sgx_quote_collateral.json"):
        shutil.copy(vectors / "dcap-qvl" / name, tmp_path / name)
    verifier = Verifier.offline(tmp_path, policy=ALLOW_ALL)
    tdx = parse_quote((vectors / "dcap-qvl" / "tdx_quote").read_bytes())
    sgx = parse_quote((vectors / "dcap-qvl" / "sgx_quote").read_bytes())
    assert verifier.verify(tdx, now=1751624191).status is TcbStatus.UP_TO_DATE
    assert verifier.verify(sgx, now=1751624924).status is (
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED
    )
    near = parse_quote(bytes.fromhex((vectors / "dcap-qvl/near/quote_hex.txt").read_text()))
    with pytest.raises(CollateralFetchError, match="no offline collateral for TDX FMSPC 20A06F"):
        verifier.verify(near, now=1758093775)
