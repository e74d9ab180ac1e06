"""``await verifier.averify(...)``: verification with an asynchronous collateral source.

Against a real PCCS-compatible HTTP server on 127.0.0.1 (``tdxquote.testing.pccs``).
Before ``averify``, ``Verifier(source=AsyncPcsSource(...)).verify(...)`` called the
source's coroutine function without awaiting it and failed at run time on the
coroutine object; now the synchronous ``verify`` says to use ``averify`` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from _helpers import TDX_PIPELINE, serving

from tdxquote.collateral import (
    AsyncPcsClient,
    AsyncPcsSource,
    CollateralCache,
    PcsClient,
    PcsSource,
)
from tdxquote.errors import CollateralFetchError, QuoteSignatureError
from tdxquote.testing.forge import QuoteForge, Scenario, td_report
from tdxquote.testing.pccs import Fault, PccsServer
from tdxquote.verification import VerifiedQuote, Verifier


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return QuoteForge.create(seed=b"verify async tests").scenario()


@pytest.fixture
def server(scenario: Scenario) -> Iterator[PccsServer]:
    yield from serving(scenario)


def _async_verifier(server: PccsServer, scenario: Scenario) -> tuple[Verifier, AsyncPcsSource]:
    source = AsyncPcsSource(AsyncPcsClient(server.url, retries=0), CollateralCache.memory())
    return Verifier(trust_root=scenario.trust_root_der, source=source), source


def test_averify_fetches_with_the_async_source(server: PccsServer, scenario: Scenario) -> None:
    verifier, source = _async_verifier(server, scenario)
    quotes = [scenario.forge.quote(td_report(report_data=bytes([n]) * 64)) for n in range(3)]

    async def run() -> list[VerifiedQuote]:
        try:
            return [await verifier.averify(quote, now=scenario.now) for quote in quotes]
        finally:
            await source.aclose()

    verdicts = asyncio.run(run())
    assert [str(v.status) for v in verdicts] == ["UpToDate"] * 3
    assert [v.body.report_data for v in verdicts] == [q.body.report_data for q in quotes]
    assert server.count() == 4  # the collateral cache answered the second and third
    assert verifier.cache.kinds().count("collateral") == 1


def test_averify_concurrent_calls_share_the_verifier(
    server: PccsServer, scenario: Scenario
) -> None:
    verifier, source = _async_verifier(server, scenario)
    quotes = [scenario.forge.quote(td_report(report_data=bytes([n]) * 64)) for n in range(6)]

    async def run() -> list[VerifiedQuote]:
        try:
            await verifier.averify(quotes[0], now=scenario.now)
            return await asyncio.gather(
                *(verifier.averify(quote, now=scenario.now) for quote in quotes)
            )
        finally:
            await source.aclose()

    assert all(str(v.status) == "UpToDate" for v in asyncio.run(run()))


def test_averify_refusal_names_the_check(server: PccsServer, scenario: Scenario) -> None:
    verifier, source = _async_verifier(server, scenario)
    bad = scenario.forge.quote(bad_quote_signature=True)

    async def run() -> None:
        try:
            await verifier.averify(bad, now=scenario.now)
        finally:
            await source.aclose()

    with pytest.raises(QuoteSignatureError) as caught:
        asyncio.run(run())
    assert caught.value.checks_passed == TDX_PIPELINE[: TDX_PIPELINE.index("quote_signature")]


def test_averify_fetch_failure_is_not_a_verdict(server: PccsServer, scenario: Scenario) -> None:
    verifier, source = _async_verifier(server, scenario)
    server.inject(Fault.http_status(404), path="/tdx/certification/v4/tcb")

    async def run() -> None:
        try:
            await verifier.averify(scenario.quote, now=scenario.now)
        finally:
            await source.aclose()

    with pytest.raises(CollateralFetchError) as caught:
        asyncio.run(run())
    assert caught.value.status == 404


def test_sync_verify_with_an_async_source_says_to_await_averify(
    server: PccsServer, scenario: Scenario
) -> None:
    verifier, source = _async_verifier(server, scenario)
    with pytest.raises(TypeError, match=r"averify"):
        verifier.verify(scenario.quote, now=scenario.now)
    assert server.count() == 0  # refused before asking the source anything
    asyncio.run(source.aclose())


def test_averify_with_a_sync_source_or_explicit_collateral(
    server: PccsServer, scenario: Scenario
) -> None:
    sync_source = PcsSource(PcsClient(server.url, retries=0), CollateralCache.memory())
    with_source = Verifier(trust_root=scenario.trust_root_der, source=sync_source)
    plain = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()

    async def run() -> tuple[VerifiedQuote, VerifiedQuote]:
        return (
            await with_source.averify(scenario.quote, now=scenario.now),
            await plain.averify(scenario.quote_bytes, collateral, now=scenario.now),
        )

    fetched, given = asyncio.run(run())
    assert fetched.to_dict() == given.to_dict()
    sync_source.close()
