"""TeeSQL-style verifiers backed by Intel Trust Authority, and a composite of backends.

:class:`ItaVerifier` serves the same calls as
:class:`tdxquote.ratls.DcapVerifier` (``await verify(quote, options)``,
``verify_with_pubkey``, ``verify_cert``) with the same
:class:`~tdxquote.ratls.VerifyOptions` handling and the same
:class:`~tdxquote.ratls.VerificationResult`, so either can be handed to a
TeeSQL client.  Like ``DcapVerifier`` it refuses a bare quote by default
(``require_key_binding``), checks the certificate's key binding and event
log, and additionally requires the token's ``tdx_report_data`` to bind the
certificate's key: TeeSQL's own ITA verifier checks neither.

:class:`IntelApiVerifier` is the TeeSQL name and constructor
(``api_key``, ``region``, ``base_url``); :class:`CompositeVerifier` runs
several backends and requires every one to accept and all to agree.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import httpx

from tdxquote._quote import Quote
from tdxquote.collateral import Collateral
from tdxquote.errors import VerifiersDisagreeError
from tdxquote.ratls._certificate import parse_certificate
from tdxquote.ratls._chain import CertificateInput
from tdxquote.ratls._errors import BindingMismatchError
from tdxquote.ratls._options import VerifyOptions
from tdxquote.ratls._teesql import (
    _PERMISSIVE,
    TeeSqlCalls,
    VerificationResult,
    _now,
    apply_options,
)
from tdxquote.ratls._verify import attestation_checks
from tdxquote.verification import Policy, VerifiedQuote, Verifier

from ._cache import ItaKeyCache
from ._client import AsyncItaClient, ItaClient
from ._config import ItaConfig
from ._constants import API_KEY_ENV, REGIONS
from ._result import ItaVerifiedQuote

__all__ = [
    "STATUS_ORDER",
    "CompositeVerifier",
    "IntelApiVerifier",
    "ItaQuoteVerifier",
    "ItaVerifier",
    "RaTlsVerifier",
]

STATUS_ORDER: tuple[str, ...] = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
)
"""TCB statuses from best to worst: a composite reports its backends' worst."""


class RaTlsVerifier(Protocol):
    """The verifier interface of the TeeSQL clients (and of tdxquote's backends)."""

    async def verify(self, quote: bytes, options: Any = None) -> VerificationResult: ...

    async def verify_with_pubkey(
        self, quote: bytes, options: Any, cert_der: bytes
    ) -> VerificationResult: ...

    async def verify_cert(
        self, cert: CertificateInput, options: Any = None
    ) -> VerificationResult: ...


def _check_token_binding(verified: ItaVerifiedQuote, expected: bytes) -> None:
    """The token's ``tdx_report_data`` must bind the certificate's key (TeeSQL never checks)."""
    token_report_data = verified.claims.value("tdx_report_data") or b""
    if token_report_data != expected:
        raise BindingMismatchError(
            "the ITA token's tdx_report_data does not bind the certificate's key",
            expected=expected,
            quote_report_data=token_report_data,
            envelope_report_data=token_report_data,
        )


class ItaVerifier(TeeSqlCalls):
    """A TeeSQL ``RaTlsVerifier`` that has Intel Trust Authority appraise the quote.

    ``config``: where ITA is and how far to trust it (default
    :meth:`ItaConfig.from_env`: the US region, the key from
    ``$INTEL_TRUST_AUTHORITY_API_KEY``).  ``cache``: the portal's keys and
    CRLs (default: in memory, for this verifier).  ``now``: the time to
    check the token and its chain at, or a function returning it (default:
    the current time; ITA's tokens live five minutes).  ``transport``: an
    httpx transport, for tests.

    TeeSQL's options apply (:class:`~tdxquote.ratls.VerifyOptions`) exactly
    as for :class:`~tdxquote.ratls.DcapVerifier`; each call opens its own
    connections, so one verifier may serve several event loops.
    """

    def __init__(
        self,
        config: ItaConfig | None = None,
        *,
        cache: ItaKeyCache | None = None,
        now: Callable[[], datetime] | datetime | int | float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config if config is not None else ItaConfig.from_env()
        if self.config.api_key is None:
            raise ValueError(
                f"no ITA API key: pass one, or set ${API_KEY_ENV} (an attestation key)"
            )
        self.cache = cache if cache is not None else ItaKeyCache.memory()
        self.now = now
        self.transport = transport

    async def appraise(self, quote: Quote) -> ItaVerifiedQuote:
        """ITA's verdict on ``quote``: token verified, claims equal to the quote's fields.

        No policy beyond that (Revoked is still refused); the TeeSQL options
        are applied by the ``verify*`` methods.
        """
        async with AsyncItaClient(self.config, cache=self.cache, transport=self.transport) as ita:
            return await ita.appraise(quote, now=_now(self.now), policy=_PERMISSIVE)

    # --- TeeSQL's interface (verify and verify_with_pubkey: TeeSqlCalls) -----------------
    async def _verdict(self, quote: Quote, expected: bytes | None) -> ItaVerifiedQuote:
        verified = await self.appraise(quote)
        if expected is not None:
            _check_token_binding(verified, expected)
        return verified

    async def verify_cert(self, cert: CertificateInput, options: Any = None) -> VerificationResult:
        """Verify an RA-TLS certificate: binding, event log, ITA, token binding, the options."""
        options = VerifyOptions.coerce(options)
        certificate = parse_certificate(cert)
        attestation_checks(certificate)
        verified = await self._verdict(certificate.quote, certificate.binding.expected)
        return apply_options(certificate.quote, verified, options, certificate, key_binding=True)


class IntelApiVerifier(ItaVerifier):
    """TeeSQL's ``IntelApiVerifier(api_key=..., region="us"|"eu", base_url=...)``.

    Same defaults as TeeSQL's: the key from ``$INTEL_TRUST_AUTHORITY_API_KEY``
    when none is given, the US region, PS384 tokens.  Unlike TeeSQL's, keys
    come from the region's portal (``portal_url``, required with a
    ``base_url`` that is not one of ITA's API hosts), never from the token's
    ``jku``; the chain, CRLs, times and claims are checked, and the key
    binding too.  Other keywords go to :class:`ItaConfig`
    (``root_spki_sha256``, ``algorithms``, ``leeway``, ...) or to
    :class:`ItaVerifier` (``cache``, ``now``, ``transport``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        region: str = "us",
        base_url: str | None = None,
        *,
        portal_url: str | None = None,
        cache: ItaKeyCache | None = None,
        now: Callable[[], datetime] | datetime | int | float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **config_options: Any,
    ) -> None:
        if region not in REGIONS:
            raise ValueError(f"region must be one of {sorted(REGIONS)}, not {region!r}")
        api_url, region_portal = REGIONS[region]
        if base_url is not None:
            api_url = base_url.rstrip("/")
            known = dict(REGIONS.values())
            if portal_url is None and api_url not in known:
                raise ValueError(
                    f"base_url {base_url!r} is not an ITA API host: give portal_url= too (the "
                    "token signing keys are never taken from the token's jku)"
                )
            region_portal = known.get(api_url, region_portal)
        config = ItaConfig(
            api_url=api_url,
            portal_url=portal_url if portal_url is not None else region_portal,
            api_key=api_key if api_key is not None else (os.environ.get(API_KEY_ENV) or None),
            **config_options,
        )
        super().__init__(config, cache=cache, now=now, transport=transport)


class ItaQuoteVerifier(Verifier):
    """A :class:`~tdxquote.Verifier` whose :meth:`verify` has ITA appraise the quote.

    For code written against ``Verifier`` (RA-TLS certificate verification):
    no collateral is used or accepted; ``policy`` applies as it does to
    :meth:`ItaClient.appraise`.  Synchronous only.
    """

    def __init__(self, client: ItaClient, *, policy: Policy | None = None) -> None:
        # The client stands where a collateral source would: it gives the verdict.
        super().__init__(policy=policy, source=client)
        self.client = client

    def verify(
        self,
        quote: Quote | bytes | bytearray | memoryview,
        collateral: Collateral | None = None,
        *,
        now: datetime | int | float,
        policy: Policy | None = None,
    ) -> VerifiedQuote:
        """ITA's verdict on ``quote`` at ``now``, then ``policy`` (default: the verifier's)."""
        if collateral is not None:
            raise TypeError("Intel Trust Authority verifies without collateral")
        data = quote if isinstance(quote, Quote) else bytes(quote)
        return self.client.appraise(
            data, now=now, policy=policy if policy is not None else self.policy
        )

    async def averify(self, *args: Any, **kwargs: Any) -> VerifiedQuote:
        """Not available: use :class:`~tdxquote.ita.AsyncItaClient` or ``ItaVerifier``."""
        raise TypeError("ItaQuoteVerifier is synchronous: use AsyncItaClient or ItaVerifier")


def _status_rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


_AGREEING_FIELDS = (
    "mr_td",
    "rtmr0",
    "rtmr1",
    "rtmr2",
    "rtmr3",
    "report_data",
    "is_debug_mode",
    "key_binding",
    "app_id",
    "compose_hash",
    "instance_id",
    "mr_aggregated",
    "mr_system",
)


class CompositeVerifier:
    """Several backends (e.g. a ``DcapVerifier`` and an ``ItaVerifier``) that must all accept.

    Each call runs every backend concurrently with the same arguments;
    the first refusal (in backend order) is raised.  When all accept, their
    results must agree on MRTD, the RTMRs, REPORTDATA, debug, key binding
    and the runtime events, and every one must be attested; otherwise
    :class:`~tdxquote.errors.VerifiersDisagreeError`.  Each backend applies
    the options, so every status is within them; the result carries the
    worst status (:data:`STATUS_ORDER`) and every advisory ID, or, with
    ``require_same_status``, statuses must be equal.
    """

    def __init__(self, *verifiers: RaTlsVerifier, require_same_status: bool = False) -> None:
        if len(verifiers) < 2:
            raise ValueError("a CompositeVerifier needs at least two backends")
        self.verifiers = verifiers
        self.require_same_status = require_same_status

    async def verify(self, quote: bytes, options: Any = None) -> VerificationResult:
        """Every backend's ``verify(quote, options)``, combined."""
        return self._combine(await self._run(lambda v: v.verify(quote, options)))

    async def verify_with_pubkey(
        self, quote: bytes, options: Any, cert_der: bytes
    ) -> VerificationResult:
        """Every backend's ``verify_with_pubkey``, combined."""
        return self._combine(
            await self._run(lambda v: v.verify_with_pubkey(quote, options, cert_der))
        )

    async def verify_cert(self, cert: CertificateInput, options: Any = None) -> VerificationResult:
        """Every backend's ``verify_cert``, combined."""
        return self._combine(await self._run(lambda v: v.verify_cert(cert, options)))

    async def _run(self, call: Callable[[RaTlsVerifier], Any]) -> list[VerificationResult]:
        outcomes = await asyncio.gather(
            *(call(verifier) for verifier in self.verifiers), return_exceptions=True
        )
        results = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
        return results

    def _combine(self, results: Sequence[VerificationResult]) -> VerificationResult:
        for result in results:
            if not result.attested:
                raise VerifiersDisagreeError(
                    "a backend accepted without attesting (unsafe simulator mode)",
                    field="attested",
                    values=tuple(r.attested for r in results),
                )
        first = results[0]
        for name in _AGREEING_FIELDS:
            values = tuple(getattr(r, name) for r in results)
            if len(set(values)) > 1:
                raise VerifiersDisagreeError(
                    f"the backends disagree on {name}: {', '.join(map(str, values))}",
                    field=name,
                    values=values,
                )
        statuses = tuple(r.tcb_status for r in results)
        if self.require_same_status and len(set(statuses)) > 1:
            raise VerifiersDisagreeError(
                f"the backends disagree on the TCB status: {', '.join(statuses)}",
                field="tcb_status",
                values=statuses,
            )
        worst = max(statuses, key=_status_rank)
        advisories = tuple(dict.fromkeys(a for r in results for a in r.advisory_ids))
        # Every other field agreed (or is the certificate's own): keep the first backend's.
        return dataclasses.replace(first, tcb_status=worst, advisory_ids=advisories, attested=True)
