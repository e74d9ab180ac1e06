"""Intel Trust Authority hosts, defaults and limits (see ``docs/ita.md``)."""

from __future__ import annotations

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "DEFAULT_TOKEN_SIGNING_ALG",
    "ITA_EU_API_URL",
    "ITA_EU_PORTAL_URL",
    "ITA_ISSUER",
    "ITA_US_API_URL",
    "ITA_US_PORTAL_URL",
    "MAX_CRL_SIZE",
    "MAX_JWKS_SIZE",
    "MAX_NONCE_SIZE",
    "MAX_TOKEN_RESPONSE_SIZE",
    "REGIONS",
    "SUPPORTED_ALGORITHMS",
]

ITA_US_API_URL = "https://api.trustauthority.intel.com"
"""ITA's API (attest, nonce), US region."""
ITA_US_PORTAL_URL = "https://portal.trustauthority.intel.com"
"""ITA's portal (token signing keys at ``/certs``), US region."""
ITA_EU_API_URL = "https://api.eu.trustauthority.intel.com"
"""ITA's API, EU region."""
ITA_EU_PORTAL_URL = "https://portal.eu.trustauthority.intel.com"
"""ITA's portal, EU region."""

REGIONS: dict[str, tuple[str, str]] = {
    "us": (ITA_US_API_URL, ITA_US_PORTAL_URL),
    "eu": (ITA_EU_API_URL, ITA_EU_PORTAL_URL),
}
"""Region name -> (API URL, portal URL)."""

API_KEY_ENV = "INTEL_TRUST_AUTHORITY_API_KEY"
"""The environment variable TeeSQL's clients read the attestation API key from."""

ITA_ISSUER = "Intel Trust Authority"
"""The ``iss`` claim of ITA's tokens."""

DEFAULT_TOKEN_SIGNING_ALG = "PS384"  # noqa: S105 (an algorithm name)
"""What the client asks ITA to sign with (ITA's own default)."""
DEFAULT_ALGORITHMS: tuple[str, ...] = ("PS384", "RS256")
"""The token algorithms accepted by default: the two ITA signs with."""
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(
    {"PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}
)
"""What an allow-list may name: RSA signatures only (never ``none`` or HMAC)."""

DEFAULT_LEEWAY = 60
"""Seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat`` (ITA tokens live 300 s)."""

MAX_NONCE_SIZE = 4 << 10
"""Cap on a nonce response (Intel's Go client: 4 KiB)."""
MAX_TOKEN_RESPONSE_SIZE = 64 << 10
"""Cap on an attest response (Intel's Go client: 64 KiB)."""
MAX_JWKS_SIZE = 256 << 10
"""Cap on the portal's JWKS."""
MAX_CRL_SIZE = 1 << 20
"""Cap on one CRL of the token signing chain."""
