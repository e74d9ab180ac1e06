"""AsyncPcsClient and AsyncPcsSource against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from _helpers import serving

from tdxquote.collateral import (
    ArtifactValidator,
    AsyncPcsClient,
    AsyncPcsSource,
    CollateralCache,
    CollateralParameters,
)
from tdxquote.errors import CollateralFetchError
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import Fault, PccsServer
from tdxquote.verification import Verifier

TCB = "/tdx/certification/v4/tcb"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"pcs async tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


class AsyncSleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_the_four_artifacts_are_fetched_concurrently(
    server: PccsServer, scenario: Scenario
) -> None:
    # Each request is held until all four are in the server at once: a client that
    # fetched one after the other would break the barrier (503) and fail.
    server.inject(Fault.concurrent(4, timeout=10), times=4)
    params = CollateralParameters.from_quote(scenario.quote)

    async def fetch() -> dict[str, bytes]:
        async with AsyncPcsClient(server.url, retries=0) as client:
            responses = await client.fetch(params)
        return {name: response.body for name, response in responses.items()}

    bodies = asyncio.run(fetch())
    assert set(bodies) == {"tcb_info", "qe_identity", "pck_crl", "root_ca_crl"}
    assert server.count() == 4


def test_async_retry_after(server: PccsServer, scenario: Scenario) -> None:
    sleeps = AsyncSleeps()
    server.inject(Fault.http_status(429, headers={"Retry-After": "5"}), path=TCB)
    server.inject(Fault.http_status(500), path=TCB)
    params = CollateralParameters.from_quote(scenario.quote)

    async def fetch() -> bytes:
        async with AsyncPcsClient(server.url, sleep=sleeps, backoff=0.25) as client:
            return (await client.get("tcb_info", params)).body

    assert asyncio.run(fetch()).startswith(b'{"tcbInfo":')
    assert sleeps.calls == [5.0, 0.5]


def test_async_fault_is_a_fetch_error(server: PccsServer, scenario: Scenario) -> None:
    server.inject(Fault.http_status(404), path="/tdx/certification/v4/qe")
    params = CollateralParameters.from_quote(scenario.quote)

    async def fetch() -> None:
        async with AsyncPcsClient(server.url, retries=0) as client:
            await client.fetch(params)

    with pytest.raises(CollateralFetchError) as raised:
        asyncio.run(fetch())
    assert raised.value.status == 404
    assert raised.value.url == f"{server.url}/tdx/certification/v4/qe/identity"


def test_async_source_caches_and_verifies(server: PccsServer, scenario: Scenario) -> None:
    cache = CollateralCache.memory()
    verifier = Verifier(trust_root=scenario.trust_root_der)
    validator = ArtifactValidator(verifier.trust_root, verifier.cache)

    async def run() -> None:
        source = AsyncPcsSource(AsyncPcsClient(server.url, retries=0), cache)
        try:
            for _ in range(3):
                collateral = await source.collateral_for(
                    scenario.quote, now=scenario.now, validator=validator
                )
                verified = verifier.verify(scenario.quote, collateral, now=scenario.now)
                assert str(verified.status) == "UpToDate"
        finally:
            await source.aclose()

    asyncio.run(run())
    assert server.count() == 4
    assert len(cache.entries()) == 4


def test_async_source_nothing_cached_from_a_failed_exchange(
    server: PccsServer, scenario: Scenario
) -> None:
    cache = CollateralCache.memory()
    server.inject(Fault.dropped(50), path="/sgx/certification/v4/pckcrl")

    async def run() -> None:
        source = AsyncPcsSource(AsyncPcsClient(server.url, retries=0), cache)
        try:
            await source.collateral_for(
                scenario.quote,
                now=scenario.now,
                validator=ArtifactValidator(scenario.trust_root_der),
            )
        finally:
            await source.aclose()

    with pytest.raises(CollateralFetchError, match="peer closed"):
        asyncio.run(run())
    assert "pck_crl" not in {entry.artifact for entry in cache.entries()}
