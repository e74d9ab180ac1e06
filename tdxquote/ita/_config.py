"""What an ITA client needs to know: where, with which key, trusting what."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ._constants import (
    API_KEY_ENV,
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY,
    DEFAULT_TOKEN_SIGNING_ALG,
    ITA_ISSUER,
    ITA_US_API_URL,
    ITA_US_PORTAL_URL,
    REGIONS,
    SUPPORTED_ALGORITHMS,
)
from ._transport import ApiKey, HttpSettings, check_service_url, origin_of

__all__ = ["ItaConfig", "check_policy_ids", "parse_spki_pins"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MAX_POLICY_IDS = 10


def parse_spki_pins(pins: str | bytes | Iterable[str | bytes] | None) -> tuple[bytes, ...]:
    """Root pins as 32-byte digests, from hex text (``:`` separators allowed) or bytes.

    None or an empty collection means "no pin"; anything unreadable is a
    ``ValueError`` (a pin that cannot be read never means "no pin").
    """
    if pins is None:
        return ()
    if isinstance(pins, (str, bytes, bytearray)):
        pins = [pins]
    out = []
    for pin in pins:
        if isinstance(pin, str):
            text = pin.strip().replace(":", "").removeprefix("sha256/")
            if not _HEX64.fullmatch(text):
                raise ValueError(f"a root SPKI pin is 64 hex digits (SHA-256), not {pin!r}")
            out.append(bytes.fromhex(text))
        elif isinstance(pin, (bytes, bytearray)) and len(pin) == 32:
            out.append(bytes(pin))
        else:
            raise ValueError(f"a root SPKI pin is 32 bytes or 64 hex digits, not {pin!r}")
    return tuple(out)


def check_policy_ids(policy_ids: Iterable[str]) -> tuple[str, ...]:
    """At most 10 ITA policy UUIDs, or ``ValueError``."""
    ids = tuple(policy_ids)
    if len(ids) > _MAX_POLICY_IDS or not all(
        isinstance(p, str) and _UUID.fullmatch(p) for p in ids
    ):
        raise ValueError(f"policy_ids: at most {_MAX_POLICY_IDS} UUIDs")
    return ids


@dataclass(frozen=True)
class ItaConfig:
    """An ITA deployment and how far to trust it.

    ``api_url`` (attest, nonce) and ``portal_url`` (``/certs``) default to
    the US region (:meth:`region` for ``"eu"``).  ``api_key`` is sent only
    to ``api_url``'s origin.  ``root_spki_sha256``: pinned roots of the token
    signing chain (hex or bytes; none: the chain's own root, as Intel's
    clients do).  ``algorithms``: the token algorithms accepted (RSA only);
    ``token_signing_alg``: what attest asks for.  ``leeway``: seconds of
    clock skew on ``exp``/``nbf``/``iat``.  ``issuer``: the required ``iss``
    (None: not checked).  ``policy_ids``: ITA appraisal policies to run.
    """

    api_url: str = ITA_US_API_URL
    portal_url: str = ITA_US_PORTAL_URL
    api_key: str | None = field(default=None, repr=False)
    root_spki_sha256: tuple[bytes, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    token_signing_alg: str = DEFAULT_TOKEN_SIGNING_ALG
    leeway: float = DEFAULT_LEEWAY
    issuer: str | None = ITA_ISSUER
    policy_ids: tuple[str, ...] = ()
    http: HttpSettings = field(default_factory=HttpSettings)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "api_url", check_service_url(self.api_url, "ITA API URL"))
        set_(self, "portal_url", check_service_url(self.portal_url, "ITA portal URL"))
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ValueError("api_key must be a non-empty string (or None for no key)")
        if self.api_key is not None and any(c in self.api_key for c in "\r\n\x00"):
            raise ValueError("api_key must not contain line breaks or NUL")
        set_(self, "root_spki_sha256", parse_spki_pins(self.root_spki_sha256))
        algorithms = (
            (self.algorithms,) if isinstance(self.algorithms, str) else tuple(self.algorithms)
        )
        if not algorithms:
            raise ValueError("algorithms: give at least one (e.g. 'PS384')")
        unknown = [a for a in algorithms if a not in SUPPORTED_ALGORITHMS]
        if unknown:
            raise ValueError(
                f"algorithms {unknown} not accepted: only "
                f"{', '.join(sorted(SUPPORTED_ALGORITHMS))} (never none or HMAC)"
            )
        set_(self, "algorithms", algorithms)
        if self.token_signing_alg not in ("PS384", "RS256"):
            raise ValueError("token_signing_alg must be 'PS384' or 'RS256' (what ITA signs with)")
        if isinstance(self.leeway, bool) or not 0 <= self.leeway <= 600:
            raise ValueError("leeway must be 0 to 600 seconds")
        set_(self, "policy_ids", check_policy_ids(self.policy_ids))

    @classmethod
    def region(cls, name: str = "us", **options: Any) -> ItaConfig:
        """The configuration of region ``"us"`` or ``"eu"`` (other options as keywords)."""
        if name not in REGIONS:
            raise ValueError(f"region must be one of {sorted(REGIONS)}, not {name!r}")
        api_url, portal_url = REGIONS[name]
        return cls(api_url=api_url, portal_url=portal_url, **options)

    @classmethod
    def from_env(cls, **options: Any) -> ItaConfig:
        """As the constructor, the API key read from ``$INTEL_TRUST_AUTHORITY_API_KEY``."""
        return cls(api_key=os.environ.get(API_KEY_ENV) or None, **options)

    def replace(self, **changes: Any) -> ItaConfig:
        """A copy with some options changed."""
        return replace(self, **changes)

    def secret(self) -> ApiKey | None:
        """The API key, bound to the API's origin (None without a key)."""
        if self.api_key is None:
            return None
        return ApiKey(origin_of(self.api_url), "x-api-key", self.api_key)
