"""Verifying an ITA attestation token (a compact JWS) with :mod:`joserfc`.

Order: the header is read (``kid``, ``alg``; ``jku`` is ignored), ``alg``
must be on the allow-list, the key is resolved from the configured portal
(:func:`~._keys.key_flow`: chain and pin), ``alg`` must be one the key
allows, joserfc verifies the signature with that key and that algorithm
only (a key from the cache that fails is fetched again once), the chain's
CRLs are checked, then the claims are read: ``exp`` and ``iat`` are
required, ``nbf`` checked when present, all against ``now`` with the
leeway, and ``iss`` must be the configured issuer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError

from tdxquote.errors import ItaTokenError

from . import _checks as check
from ._cache import ItaKeyCache
from ._config import ItaConfig
from ._constants import MAX_TOKEN_RESPONSE_SIZE
from ._keys import SigningKey, key_flow, revocation_flow
from ._transport import Flow

__all__ = ["ItaToken", "read_header", "token_flow"]

_MAX_KID = 256


@dataclass(frozen=True)
class ItaToken:
    """A verified ITA token: its header, claims and the key that signed it.

    ``jku`` is what the header advertised (never used to fetch keys).
    ``layout`` is ``"v2"`` when the TDX claims sit in a ``"tdx"`` object,
    ``"v1"`` when they are at the top level.
    """

    raw: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    key: SigningKey
    issued_at: datetime
    expires_at: datetime
    not_before: datetime | None

    @property
    def kid(self) -> str:
        """The signing key's id."""
        return self.key.kid

    @property
    def alg(self) -> str:
        """The verified signature algorithm."""
        return str(self.header["alg"])

    @property
    def jku(self) -> str | None:
        """The header's advisory ``jku`` (ignored)."""
        value = self.header.get("jku")
        return value if isinstance(value, str) else None

    @property
    def layout(self) -> str:
        """``"v2"`` (claims in ``"tdx"``) or ``"v1"`` (claims at the top level)."""
        return "v2" if "tdx" in self.claims else "v1"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: header, key, times and the claims as signed."""
        return {
            "kid": self.kid,
            "alg": self.alg,
            "jku": self.jku,
            "layout": self.layout,
            "iat": _iso(self.issued_at),
            "exp": _iso(self.expires_at),
            "nbf": None if self.not_before is None else _iso(self.not_before),
            "root_spki_sha256": self.key.root_spki_sha256.hex(),
            "signing_chain": [c.subject.rfc4514_string() for c in self.key.chain],
            "claims": dict(self.claims),
        }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _malformed(message: str) -> ItaTokenError:
    return ItaTokenError(message, code="ita_token_malformed")


def read_header(token: str) -> Mapping[str, Any]:
    """The token's protected header, checked: string ``kid`` and ``alg``, ``typ`` JWT."""
    if not isinstance(token, str):
        raise _malformed("the token is not a string")
    if len(token) > MAX_TOKEN_RESPONSE_SIZE:
        raise _malformed(f"the token is longer than {MAX_TOKEN_RESPONSE_SIZE} characters")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, RecursionError) as exc:
        raise _malformed(f"not a compact JWS: {exc}") from None
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str):
        raise _malformed("the header has no alg string")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID:
        raise _malformed("the header has no kid string")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
        raise _malformed(f"the header's typ is {typ!r}, not JWT")
    for name in ("crit", "b64"):
        if name in header:
            raise _malformed(f"the header carries {name!r}: no JWS extension is accepted")
    return header


def _algorithm_error(message: str) -> ItaTokenError:
    return ItaTokenError(message, code="ita_token_algorithm")


def _verify_with(token: str, key: SigningKey, alg: str) -> bytes:
    if alg not in key.algorithms:
        raise _algorithm_error(
            f"the token's alg {alg!r} is not one key {key.kid!r} allows "
            f"({', '.join(key.algorithms) or 'none of the accepted ones'})"
        )
    return _verify_signature(token, key, alg)


def _verify_signature(token: str, key: SigningKey, alg: str) -> bytes:
    try:
        signed = jws.deserialize_compact(token, key.jwk, algorithms=[alg])
    except BadSignatureError:
        raise ItaTokenError(
            f"the token's {alg} signature does not verify with key {key.kid!r}",
            code="ita_token_signature_invalid",
        ) from None
    except JoseError as exc:
        raise _malformed(f"the token does not verify: {exc}") from None
    return bytes(signed.payload)


def _numeric(claims: Mapping[str, Any], name: str, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise _malformed(f"the token has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _malformed(f"the {name} claim is not a NumericDate")
    if not 0 <= value < 253402300800:  # year 10000
        raise _malformed(f"the {name} claim is out of range")
    return float(value)


def _when(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.utc)


def _read_claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload)
    except (ValueError, RecursionError):
        raise _malformed("the token's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise _malformed("the token's payload is not a JSON object")
    return claims


def check_times(
    claims: Mapping[str, Any], now: datetime, leeway: float
) -> tuple[datetime, datetime, datetime | None]:
    """``(iat, exp, nbf)``, or the refusal: expired, not yet valid, or malformed.

    The token is refused when ``now >= exp + leeway``, ``nbf > now +
    leeway`` or ``iat > now + leeway`` (issued in the future).
    """
    exp = _numeric(claims, "exp", True)
    iat = _numeric(claims, "iat", True)
    nbf = _numeric(claims, "nbf", False)
    assert exp is not None
    assert iat is not None
    if exp <= iat:
        raise _malformed("the token expires before it is issued (exp <= iat)")
    moment = now.timestamp()
    if moment >= exp + leeway:
        raise ItaTokenError(
            f"the token expired at {_iso(_when(exp))} (now {_iso(now)}, leeway {leeway:g} s)",
            code="ita_token_expired",
        )
    for name, value in (("nbf", nbf), ("iat", iat)):
        if value is not None and value > moment + leeway:
            raise ItaTokenError(
                f"the token's {name} is {_iso(_when(value))}, after now ({_iso(now)}, "
                f"leeway {leeway:g} s)",
                code="ita_token_not_yet_valid",
            )
    return _when(iat), _when(exp), None if nbf is None else _when(nbf)


def token_flow(
    token: str, *, config: ItaConfig, cache: ItaKeyCache, now: datetime
) -> Flow[ItaToken]:
    """Verify ``token`` at ``now``; yields the key set and CRL fetches it needs.

    A refusal carries the checks that passed before it (``checks_passed``,
    names of :data:`~tdxquote.ita.ITA_CHECKS`).
    """
    passed: list[str] = []
    try:
        return (yield from _token_checks(token, config, cache, now, passed))
    except ItaTokenError as error:
        error.checks_passed = tuple(passed)
        raise


def _token_checks(
    token: str, config: ItaConfig, cache: ItaKeyCache, now: datetime, passed: list[str]
) -> Flow[ItaToken]:
    header = read_header(token)
    alg, kid = str(header["alg"]), str(header["kid"])
    if alg not in config.algorithms:
        raise _algorithm_error(
            f"the token's alg {alg!r} is not accepted (accepted: {', '.join(config.algorithms)})"
        )
    passed.append(check.HEADER)

    def resolve(use_cache: bool) -> Flow[tuple[SigningKey, bool]]:
        return key_flow(
            kid,
            portal_url=config.portal_url,
            cache=cache,
            now=now,
            pins=config.root_spki_sha256,
            algorithms=config.algorithms,
            use_cache=use_cache,
        )

    key, cached = yield from resolve(True)
    try:
        payload = _verify_with(token, key, alg)
    except ItaTokenError:
        if not cached:
            raise
        # The cached set may be stale or tampered with: the portal's own set decides.
        key, _ = yield from resolve(False)
        payload = _verify_with(token, key, alg)
    passed += [check.SIGNING_KEY, check.SIGNING_CHAIN, check.SIGNATURE]
    yield from revocation_flow(key.chain, cache, now)
    passed.append(check.CRLS)
    claims = _read_claims(payload)
    issued, expires, not_before = check_times(claims, now, config.leeway)
    passed.append(check.TIMES)
    if config.issuer is not None and claims.get("iss") != config.issuer:
        raise ItaTokenError(
            f"the token's iss is {claims.get('iss')!r}, not {config.issuer!r}",
            code="ita_token_issuer",
        )
    return ItaToken(
        raw=token,
        header=header,
        claims=claims,
        key=key,
        issued_at=issued,
        expires_at=expires,
        not_before=not_before,
    )
