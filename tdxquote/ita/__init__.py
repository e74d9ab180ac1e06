"""Intel Trust Authority (ITA) as a second verification backend (see ``docs/ita.md``).

ITA appraises a TDX quote and returns a signed token (a JWS).  tdxquote asks
for it over httpx, verifies the token more strictly than Intel's own
clients (keys only from the configured portal, the ``x5c`` chain to a root
you can pin, CRLs, the algorithm from the key, times against ``now``), then
requires every TDX claim to equal the quote's own field and returns the
same :class:`~tdxquote.VerifiedQuote` the DCAP path does, so one
:class:`~tdxquote.Policy` serves both::

    from tdxquote import Policy
    from tdxquote.ita import ITA_US_API_URL, ITA_US_PORTAL_URL, verify_quote

    verified = verify_quote(
        quote_bytes,
        api_url=ITA_US_API_URL,
        portal_url=ITA_US_PORTAL_URL,
        api_key=key,
        now=now,
        policy=Policy().expect_mr_td(mrtd),
    )
    verified.status, verified.advisory_ids, verified.token.kid

:class:`ItaVerifier` / :class:`IntelApiVerifier` serve the TeeSQL clients'
verifier interface like :class:`tdxquote.ratls.DcapVerifier`, with the
RA-TLS key binding checked; :class:`CompositeVerifier` requires several
backends to agree; :class:`ItaQuoteVerifier` is a :class:`~tdxquote.Verifier`
whose quotes ITA appraises (for :func:`tdxquote.ratls.verify_certificate`).
"""

from __future__ import annotations

from tdxquote.errors import (
    ITA_ERROR_CODES,
    ItaClaimsError,
    ItaError,
    ItaFetchError,
    ItaTokenError,
    VerifiersDisagreeError,
)

from ._cache import DEFAULT_ITA_CACHE_SIZE, ItaKeyCache, default_ita_cache_dir
from ._claims import BYTE_CLAIMS, REQUIRED_CLAIMS, TdxClaims, match_quote, read_claims
from ._client import (
    ATTEST_PATH,
    NONCE_PATH,
    AsyncItaClient,
    ItaClient,
    VerifierNonce,
    verify_quote,
    verify_quote_async,
)
from ._config import ItaConfig, parse_spki_pins
from ._constants import (
    API_KEY_ENV,
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY,
    DEFAULT_TOKEN_SIGNING_ALG,
    ITA_EU_API_URL,
    ITA_EU_PORTAL_URL,
    ITA_ISSUER,
    ITA_US_API_URL,
    ITA_US_PORTAL_URL,
    MAX_CRL_SIZE,
    MAX_JWKS_SIZE,
    MAX_NONCE_SIZE,
    MAX_TOKEN_RESPONSE_SIZE,
    REGIONS,
    SUPPORTED_ALGORITHMS,
)
from ._keys import MAX_CHAIN_LENGTH, MIN_RSA_BITS, SigningKey, jwks_url, spki_sha256
from ._result import ITA_CHECKS, ItaVerifiedQuote, appraise_token
from ._token import ItaToken, check_times
from ._transport import HttpSettings
from ._verifiers import (
    STATUS_ORDER,
    CompositeVerifier,
    IntelApiVerifier,
    ItaQuoteVerifier,
    ItaVerifier,
    RaTlsVerifier,
)

__all__ = [
    "API_KEY_ENV",
    "ATTEST_PATH",
    "BYTE_CLAIMS",
    "DEFAULT_ALGORITHMS",
    "DEFAULT_ITA_CACHE_SIZE",
    "DEFAULT_LEEWAY",
    "DEFAULT_TOKEN_SIGNING_ALG",
    "ITA_CHECKS",
    "ITA_ERROR_CODES",
    "ITA_EU_API_URL",
    "ITA_EU_PORTAL_URL",
    "ITA_ISSUER",
    "ITA_US_API_URL",
    "ITA_US_PORTAL_URL",
    "MAX_CHAIN_LENGTH",
    "MAX_CRL_SIZE",
    "MAX_JWKS_SIZE",
    "MAX_NONCE_SIZE",
    "MAX_TOKEN_RESPONSE_SIZE",
    "MIN_RSA_BITS",
    "NONCE_PATH",
    "REGIONS",
    "REQUIRED_CLAIMS",
    "STATUS_ORDER",
    "SUPPORTED_ALGORITHMS",
    "AsyncItaClient",
    "CompositeVerifier",
    "HttpSettings",
    "IntelApiVerifier",
    "ItaClaimsError",
    "ItaClient",
    "ItaConfig",
    "ItaError",
    "ItaFetchError",
    "ItaKeyCache",
    "ItaQuoteVerifier",
    "ItaToken",
    "ItaTokenError",
    "ItaVerifiedQuote",
    "ItaVerifier",
    "RaTlsVerifier",
    "SigningKey",
    "TdxClaims",
    "VerifierNonce",
    "VerifiersDisagreeError",
    "appraise_token",
    "check_times",
    "default_ita_cache_dir",
    "jwks_url",
    "match_quote",
    "parse_spki_pins",
    "read_claims",
    "spki_sha256",
    "verify_quote",
    "verify_quote_async",
]
