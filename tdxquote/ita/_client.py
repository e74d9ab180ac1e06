"""The ITA REST client (sync and async) and the one-shot :func:`verify_quote`.

``GET {api}/appraisal/v2/nonce`` and ``POST {api}/appraisal/v2/attest``
carry the API key (``x-api-key``, only to the API's origin); the token is
then verified against the configured portal's keys and appraised against
the quote (:mod:`._token`, :mod:`._claims`, :mod:`._result`).  Requests
and responses are built and read here without I/O; both clients run the
same flows on their transport.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tdxquote._quote import Quote, parse_quote
from tdxquote.errors import ItaFetchError
from tdxquote.verification import Policy, QuoteFormatError
from tdxquote.verification._verifier import to_datetime

from ._cache import ItaKeyCache
from ._config import ItaConfig, check_policy_ids, parse_spki_pins
from ._constants import (
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY,
    ITA_ISSUER,
    MAX_NONCE_SIZE,
    MAX_TOKEN_RESPONSE_SIZE,
)
from ._result import ItaVerifiedQuote, appraise_token
from ._token import ItaToken, token_flow
from ._transport import (
    AsyncHttpTransport,
    Flow,
    HttpRequest,
    HttpResponse,
    HttpSettings,
    HttpTransport,
    run_flow,
    run_flow_async,
)

__all__ = [
    "ATTEST_PATH",
    "NONCE_PATH",
    "AsyncItaClient",
    "ItaClient",
    "VerifierNonce",
    "appraise_flow",
    "attest_request",
    "nonce_request",
    "read_attest_response",
    "read_nonce_response",
    "verify_quote",
    "verify_quote_async",
]

NONCE_PATH = "/appraisal/v2/nonce"
ATTEST_PATH = "/appraisal/v2/attest"


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


@dataclass(frozen=True)
class VerifierNonce:
    """A nonce from ITA (``val``, ``iat``, ``signature``), returned verbatim to attest."""

    val: bytes
    iat: bytes
    signature: bytes

    def to_json(self) -> dict[str, str]:
        """The JSON object ITA expects back (standard base64)."""
        return {"val": _b64(self.val), "iat": _b64(self.iat), "signature": _b64(self.signature)}


def _malformed(message: str, response: HttpResponse) -> ItaFetchError:
    return ItaFetchError(
        message,
        code="ita_response_malformed",
        url=response.url,
        status=response.status,
        request_id=response.request_id,
    )


def _json_object(response: HttpResponse, what: str) -> dict[str, Any]:
    try:
        document = json.loads(response.body)
    except (ValueError, RecursionError):
        raise _malformed(f"{what}: the response is not JSON", response) from None
    if not isinstance(document, dict):
        raise _malformed(f"{what}: the response is not a JSON object", response)
    return document


def nonce_request(config: ItaConfig) -> HttpRequest:
    """``GET {api}/appraisal/v2/nonce`` (carries the API key)."""
    return HttpRequest(
        "GET", config.api_url + NONCE_PATH, "the ITA nonce", MAX_NONCE_SIZE, secret=True
    )


def read_nonce_response(response: HttpResponse) -> VerifierNonce:
    """The nonce: exactly ``val``, ``iat`` and ``signature``, each standard base64."""
    document = _json_object(response, "nonce")
    if set(document) != {"val", "iat", "signature"}:
        raise _malformed(
            f"nonce: expected the fields val, iat, signature, got {sorted(document)[:10]}",
            response,
        )
    parts = {}
    for name in ("val", "iat", "signature"):
        value = document[name]
        try:
            if not isinstance(value, str):
                raise ValueError
            parts[name] = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            raise _malformed(f"nonce: {name} is not base64", response) from None
    return VerifierNonce(parts["val"], parts["iat"], parts["signature"])


def attest_request(
    config: ItaConfig,
    quote: bytes,
    *,
    runtime_data: bytes | None = None,
    user_data: bytes | None = None,
    verifier_nonce: VerifierNonce | None = None,
    event_log: bytes | None = None,
    policy_ids: Iterable[str] | None = None,
    policy_must_match: bool | None = None,
) -> HttpRequest:
    """``POST {api}/appraisal/v2/attest`` with the flat body (byte fields standard base64).

    ``policy_ids`` defaults to the configuration's.
    """
    body: dict[str, Any] = {"quote": _b64(quote)}
    if runtime_data is not None:
        body["runtime_data"] = _b64(runtime_data)
    if user_data is not None:
        body["user_data"] = _b64(user_data)
    if verifier_nonce is not None:
        body["verifier_nonce"] = verifier_nonce.to_json()
    if event_log is not None:
        body["event_log"] = _b64(event_log)
    ids = config.policy_ids if policy_ids is None else check_policy_ids(policy_ids)
    if ids:
        body["policy_ids"] = list(ids)
    if policy_must_match is not None:
        body["policy_must_match"] = bool(policy_must_match)
    body["token_signing_alg"] = config.token_signing_alg
    return HttpRequest(
        "POST",
        config.api_url + ATTEST_PATH,
        "the ITA attestation",
        MAX_TOKEN_RESPONSE_SIZE,
        body=json.dumps(body).encode("ascii"),
        secret=True,
    )


def read_attest_response(response: HttpResponse) -> str:
    """The token of an attest response (``{"token": "<JWS>"}``)."""
    document = _json_object(response, "attest")
    token = document.get("token")
    if not isinstance(token, str) or not token:
        raise _malformed('attest: the response has no "token" string', response)
    return token


def _tdx_quote(quote: Quote | bytes | bytearray | memoryview) -> Quote:
    parsed = quote if isinstance(quote, Quote) else parse_quote(bytes(quote))
    if not parsed.is_tdx:
        raise QuoteFormatError("ITA appraisal here is for TDX quotes; this is an SGX quote")
    return parsed


def appraise_flow(
    quote: Quote,
    *,
    config: ItaConfig,
    cache: ItaKeyCache,
    now: datetime,
    policy: Policy | None,
    attest_options: dict[str, Any],
) -> Flow[ItaVerifiedQuote]:
    """Attest ``quote``, verify the token, hold its claims against the quote, apply ``policy``."""
    response = yield attest_request(config, quote.to_bytes(), **attest_options)
    token = yield from token_flow(
        read_attest_response(response), config=config, cache=cache, now=now
    )
    return appraise_token(token, quote, now=now, policy=policy)


class _ClientBase:
    def __init__(self, config: ItaConfig, cache: ItaKeyCache | None) -> None:
        if not isinstance(config, ItaConfig):
            raise TypeError("pass an ItaConfig")
        self.config = config
        self.cache = cache if cache is not None else ItaKeyCache.memory()


class ItaClient(_ClientBase):
    """A synchronous ITA client.

    ``cache`` keeps the portal's keys and CRLs (default: in memory, for
    this client).  ``transport``, ``sleep`` and the clocks are for tests.
    """

    def __init__(
        self,
        config: ItaConfig,
        *,
        cache: ItaKeyCache | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, cache)
        self.http = HttpTransport(
            config.http,
            api_key=config.secret(),
            transport=transport,
            sleep=sleep,
            monotonic=monotonic,
            clock=clock,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> ItaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def nonce(self) -> VerifierNonce:
        """A fresh verifier nonce."""
        return read_nonce_response(self.http.send(nonce_request(self.config)))

    def attest(self, quote: Quote | bytes, **options: Any) -> str:
        """The raw token for ``quote`` (not verified: see :meth:`verify_token`).

        ``options``: ``runtime_data``, ``user_data``, ``verifier_nonce``,
        ``event_log``, ``policy_ids``, ``policy_must_match``.
        """
        data = quote.to_bytes() if isinstance(quote, Quote) else bytes(quote)
        response = self.http.send(attest_request(self.config, data, **options))
        return read_attest_response(response)

    def verify_token(self, token: str, *, now: datetime | int | float) -> ItaToken:
        """Verify ``token`` (signature, key, chain, CRLs, times, issuer) at ``now``."""
        flow = token_flow(token, config=self.config, cache=self.cache, now=to_datetime(now))
        return run_flow(flow, self.http)

    def appraise(
        self,
        quote: Quote | bytes,
        *,
        now: datetime | int | float,
        policy: Policy | None = None,
        **options: Any,
    ) -> ItaVerifiedQuote:
        """Attest ``quote`` and return the verdict, checked as :func:`verify_quote` says."""
        flow = appraise_flow(
            _tdx_quote(quote),
            config=self.config,
            cache=self.cache,
            now=to_datetime(now),
            policy=policy,
            attest_options=options,
        )
        return run_flow(flow, self.http)


class AsyncItaClient(_ClientBase):
    """The asynchronous twin of :class:`ItaClient` (``sleep`` is awaited)."""

    def __init__(
        self,
        config: ItaConfig,
        *,
        cache: ItaKeyCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, cache)
        self.http = AsyncHttpTransport(
            config.http,
            api_key=config.secret(),
            transport=transport,
            sleep=sleep,
            monotonic=monotonic,
            clock=clock,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def __aenter__(self) -> AsyncItaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def nonce(self) -> VerifierNonce:
        """A fresh verifier nonce."""
        return read_nonce_response(await self.http.send(nonce_request(self.config)))

    async def attest(self, quote: Quote | bytes, **options: Any) -> str:
        """The raw token for ``quote`` (not verified)."""
        data = quote.to_bytes() if isinstance(quote, Quote) else bytes(quote)
        response = await self.http.send(attest_request(self.config, data, **options))
        return read_attest_response(response)

    async def verify_token(self, token: str, *, now: datetime | int | float) -> ItaToken:
        """Verify ``token`` at ``now``."""
        flow = token_flow(token, config=self.config, cache=self.cache, now=to_datetime(now))
        return await run_flow_async(flow, self.http)

    async def appraise(
        self,
        quote: Quote | bytes,
        *,
        now: datetime | int | float,
        policy: Policy | None = None,
        **options: Any,
    ) -> ItaVerifiedQuote:
        """Attest ``quote`` and return the verdict."""
        flow = appraise_flow(
            _tdx_quote(quote),
            config=self.config,
            cache=self.cache,
            now=to_datetime(now),
            policy=policy,
            attest_options=options,
        )
        return await run_flow_async(flow, self.http)


def _one_shot_config(
    api_url: str,
    portal_url: str,
    api_key: str | None,
    root_spki_sha256: str | bytes | Sequence[str | bytes] | None,
    algorithms: Sequence[str],
    leeway: float,
    issuer: str | None,
    http: HttpSettings | None,
) -> ItaConfig:
    return ItaConfig(
        api_url=api_url,
        portal_url=portal_url,
        api_key=api_key,
        root_spki_sha256=parse_spki_pins(root_spki_sha256),
        algorithms=tuple(algorithms),
        leeway=leeway,
        issuer=issuer,
        http=http if http is not None else HttpSettings(),
    )


def verify_quote(
    quote: Quote | bytes,
    *,
    api_url: str,
    portal_url: str,
    api_key: str | None,
    now: datetime | int | float,
    root_spki_sha256: str | bytes | Sequence[str | bytes] | None = None,
    policy: Policy | None = None,
    cache: ItaKeyCache | None = None,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    leeway: float = DEFAULT_LEEWAY,
    issuer: str | None = ITA_ISSUER,
    http: HttpSettings | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ItaVerifiedQuote:
    """Verify a TDX quote with Intel Trust Authority; the CLI's ``--ita-*`` entry point.

    Sends the quote to ``api_url`` (``x-api-key``: ``api_key``, to that
    origin only), verifies the token against ``portal_url``'s keys (chain,
    ``root_spki_sha256`` pins, CRLs, algorithm, times at ``now`` with
    ``leeway``, issuer), requires every TDX claim to equal the quote's
    field, and applies ``policy`` (default ``Policy()``: UpToDate only, no
    debug TD) as :func:`tdxquote.verify` does.

    Raises :class:`~tdxquote.errors.ItaFetchError` when a service cannot be
    asked (not a verdict), :class:`~tdxquote.errors.ItaTokenError` /
    :class:`~tdxquote.errors.ItaClaimsError` when the token or its claims
    are refused, :class:`~tdxquote.PolicyError` when the policy refuses,
    :class:`~tdxquote.QuoteParseError` for bytes that are not a quote.
    """
    config = _one_shot_config(
        api_url, portal_url, api_key, root_spki_sha256, algorithms, leeway, issuer, http
    )
    with ItaClient(config, cache=cache, transport=transport) as client:
        return client.appraise(quote, now=now, policy=policy)


async def verify_quote_async(
    quote: Quote | bytes,
    *,
    api_url: str,
    portal_url: str,
    api_key: str | None,
    now: datetime | int | float,
    root_spki_sha256: str | bytes | Sequence[str | bytes] | None = None,
    policy: Policy | None = None,
    cache: ItaKeyCache | None = None,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    leeway: float = DEFAULT_LEEWAY,
    issuer: str | None = ITA_ISSUER,
    http: HttpSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ItaVerifiedQuote:
    """The asynchronous :func:`verify_quote`."""
    config = _one_shot_config(
        api_url, portal_url, api_key, root_spki_sha256, algorithms, leeway, issuer, http
    )
    async with AsyncItaClient(config, cache=cache, transport=transport) as client:
        return await client.appraise(quote, now=now, policy=policy)
