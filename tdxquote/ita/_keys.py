"""The token signing key: from the configured portal's JWKS, its x5c chain verified.

Trust decisions (see ``docs/ita.md``):

* The key set comes from ``{portal}/certs`` of the configured portal,
  never from the token's ``jku`` (which is not even read here).
* The JWK must be an RSA signing key of at least 2048 bits with an ``x5c``
  chain whose leaf holds that very key (RFC 7517 4.7; Intel's clients
  never compare them).  ``alg``, ``use`` and ``key_ops``, when the JWK has
  them, restrict what it may verify.
* The chain is built from the ``x5c`` certificates by name and signature,
  leaf to a self-signed root, using every certificate once (at most 10;
  their order in ``x5c`` does not matter, as for Intel's clients):
  each certificate valid at ``now``, each issuer a CA (basic constraints,
  path length, ``keyCertSign`` when key usage is present), the leaf not a
  CA (``digitalSignature`` when key usage is present).  When the caller
  pins roots (SHA-256 of the root's SubjectPublicKeyInfo), the root must be
  one of them; Intel's clients accept whatever root the JWKS names.
* The CRL of every certificate but the root (leaf and intermediates) is
  fetched from its first http(s) distribution point, must be signed by the
  certificate's issuer, be current at ``now`` and not list it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from tdxquote._x509_read import (
    crl_issuer,
    extensions,
    load_der_certificate,
    name_text,
    names,
    public_key,
    quiet_name_warnings,
)
from tdxquote.errors import ItaTokenError

from ._cache import ItaKeyCache
from ._constants import MAX_CRL_SIZE, MAX_JWKS_SIZE
from ._transport import Flow, HttpRequest

__all__ = [
    "MAX_CHAIN_LENGTH",
    "MIN_RSA_BITS",
    "SigningKey",
    "build_chain",
    "check_crl",
    "crl_distribution_point",
    "jwks_url",
    "key_flow",
    "read_jwks",
    "revocation_flow",
    "signing_key",
    "spki_sha256",
]

MAX_CHAIN_LENGTH = 10
"""At most this many certificates in ``x5c`` (Intel's Go client's limit)."""
MIN_RSA_BITS = 2048
"""The smallest RSA modulus accepted for the token key."""
_MAX_KEYS = 64


def jwks_url(portal_url: str) -> str:
    """Where the portal serves its token signing keys."""
    return f"{portal_url.rstrip('/')}/certs"


def spki_sha256(certificate: x509.Certificate) -> bytes:
    """SHA-256 of the certificate's SubjectPublicKeyInfo DER: what a root pin holds."""
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


@dataclass(frozen=True)
class SigningKey:
    """A verified token signing key.

    ``algorithms``: what it may verify (the allow-list, narrowed by the
    JWK's ``alg``).  ``chain``: leaf first, root last, verified at the time
    it was resolved; ``root_spki_sha256`` identifies the root.
    """

    kid: str
    jwk: RSAKey
    algorithms: tuple[str, ...]
    chain: tuple[x509.Certificate, ...]

    @property
    def root_spki_sha256(self) -> bytes:
        """SHA-256 of the chain root's SubjectPublicKeyInfo."""
        return spki_sha256(self.chain[-1])


def _jwks_error(message: str) -> ItaTokenError:
    return ItaTokenError(message, code="ita_jwks_invalid")


def _chain_error(message: str) -> ItaTokenError:
    return ItaTokenError(message, code="ita_chain_invalid")


def _name(certificate: x509.Certificate) -> str:
    with quiet_name_warnings():
        return name_text(certificate.subject)[:200] or "(empty subject)"


# --- the key set ------------------------------------------------------------------------------


def read_jwks(body: bytes) -> list[Mapping[str, Any]]:
    """The ``keys`` of a JWKS document (each a JSON object); ``ita_jwks_invalid`` otherwise."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _jwks_error("the JWKS is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _jwks_error('the JWKS is not an object with a "keys" list')
    keys = document["keys"]
    if len(keys) > _MAX_KEYS:
        raise _jwks_error(f"the JWKS holds {len(keys)} keys, more than {_MAX_KEYS}")
    return [key for key in keys if isinstance(key, dict)]


class _KidMissing(Exception):
    pass


def _find(keys: Sequence[Mapping[str, Any]], kid: str) -> Mapping[str, Any]:
    found = [key for key in keys if key.get("kid") == kid]
    if not found:
        raise _KidMissing
    if len(found) > 1:
        raise _jwks_error(f"the JWKS holds {len(found)} keys with kid {kid!r}")
    return found[0]


def _x5c(entry: Mapping[str, Any]) -> list[x509.Certificate]:
    encoded = entry.get("x5c")
    if not isinstance(encoded, list) or not encoded:
        raise _jwks_error("the key has no x5c certificate chain")
    if len(encoded) > MAX_CHAIN_LENGTH:
        raise _jwks_error(f"x5c holds {len(encoded)} certificates, more than {MAX_CHAIN_LENGTH}")
    certificates = []
    for index, item in enumerate(encoded):
        if not isinstance(item, str):
            raise _jwks_error(f"x5c[{index}] is not a string")
        try:
            # RFC 7517 4.7: standard base64 (not base64url) of the DER.
            der = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _jwks_error(f"x5c[{index}] is not base64: {exc}") from None

        def fail(reason: str, index: int = index) -> ItaTokenError:
            return _jwks_error(f"x5c[{index}] is not a usable DER certificate: {reason}")

        # Bytes from the network: every part read later is decoded here, through the
        # guarded reader, so that a hostile name or extension is this error and nothing else.
        certificate = load_der_certificate(der, fail)
        names(certificate, fail)
        extensions(certificate, fail)
        public_key(certificate, fail)
        certificates.append(certificate)
    return certificates


def _rsa_key(entry: Mapping[str, Any], allowed: Sequence[str]) -> tuple[RSAKey, tuple[str, ...]]:
    if entry.get("kty") != "RSA":
        raise _jwks_error(f"the key is not an RSA key (kty {entry.get('kty')!r})")
    use = entry.get("use")
    if use is not None and use != "sig":
        raise _jwks_error(f"the key's use is {use!r}, not 'sig'")
    key_ops = entry.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise _jwks_error("the key's key_ops do not include 'verify'")
    alg = entry.get("alg")
    if alg is not None and not isinstance(alg, str):
        raise _jwks_error("the key's alg is not a string")
    if any(name in entry for name in ("d", "p", "q", "dp", "dq", "qi", "oth")):
        raise _jwks_error("the JWKS publishes a private key")
    try:
        jwk = RSAKey.import_key(dict(entry))
    except (JoseError, ValueError, TypeError) as exc:
        raise _jwks_error(f"the key does not import: {exc}") from None
    public = jwk.public_key
    if not isinstance(public, rsa.RSAPublicKey) or public.key_size < MIN_RSA_BITS:
        raise _jwks_error(f"the key is smaller than {MIN_RSA_BITS} bits")
    algorithms = tuple(a for a in allowed if alg is None or a == alg)
    return jwk, algorithms


# --- the chain --------------------------------------------------------------------------------


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _extension(certificate: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except ValueError as exc:
        raise _chain_error(f"{_name(certificate)}: malformed extensions ({exc})") from None


def build_chain(
    certificates: Sequence[x509.Certificate], leaf: x509.Certificate
) -> tuple[x509.Certificate, ...]:
    """Order ``certificates`` from ``leaf`` to a self-signed root, by name and signature.

    Every certificate must be used exactly once; a missing issuer, a cycle
    or an unused certificate is ``ita_chain_invalid``.
    """
    remaining = [c for c in certificates if c is not leaf]
    chain = [leaf]
    current = leaf
    while not (current.issuer == current.subject and _issued_by(current, current)):
        parent = next(
            (c for c in remaining if c.subject == current.issuer and _issued_by(current, c)),
            None,
        )
        if parent is None:
            raise _chain_error(
                f"no certificate in x5c issued {_name(current)} (or its signature fails)"
            )
        remaining.remove(parent)
        chain.append(parent)
        current = parent
    if remaining:
        raise _chain_error(f"x5c holds {len(remaining)} certificate(s) outside the chain")
    if len(chain) < 2:
        raise _chain_error("the signing certificate is self-signed: no CA vouches for it")
    return tuple(chain)


def _check_certificate(certificate: x509.Certificate, index: int, now: datetime) -> None:
    name = _name(certificate)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise _chain_error(
            f"{name} is not valid at {now.isoformat()} (valid "
            f"{certificate.not_valid_before_utc.isoformat()} to "
            f"{certificate.not_valid_after_utc.isoformat()})"
        )
    constraints = _extension(certificate, x509.BasicConstraints)
    usage = _extension(certificate, x509.KeyUsage)
    if index == 0:
        if constraints is not None and constraints.ca:
            raise _chain_error(f"the signing certificate {name} is a CA certificate")
        if usage is not None and not usage.digital_signature:
            raise _chain_error(f"the signing certificate {name} may not sign (key usage)")
        return
    if constraints is None or not constraints.ca:
        raise _chain_error(f"{name} issues certificates but is not a CA (basic constraints)")
    below = index - 1  # CA certificates between this one and the leaf
    if constraints.path_length is not None and below > constraints.path_length:
        raise _chain_error(f"{name}: path length {constraints.path_length} exceeded")
    if usage is not None and not usage.key_cert_sign:
        raise _chain_error(f"{name} issues certificates without keyCertSign (key usage)")


def _check_pin(root: x509.Certificate, pins: Sequence[bytes]) -> None:
    if not pins:
        return
    digest = spki_sha256(root)
    if digest not in pins:
        raise ItaTokenError(
            f"the token signing chain ends in {_name(root)} (SPKI SHA-256 {digest.hex()}), "
            "which is not a pinned root",
            code="ita_chain_untrusted",
        )


def signing_key(
    keys: Sequence[Mapping[str, Any]],
    kid: str,
    *,
    now: datetime,
    pins: Sequence[bytes],
    algorithms: Sequence[str],
) -> SigningKey:
    """The key ``kid`` with its chain verified at ``now`` (CRLs not yet checked).

    Raises :class:`_KidMissing` when the set has no such key.
    """
    entry = _find(keys, kid)
    jwk, allowed = _rsa_key(entry, algorithms)
    certificates = _x5c(entry)
    public = jwk.public_key.public_numbers()
    leaf = next(
        (
            c
            for c in certificates
            if isinstance(c.public_key(), rsa.RSAPublicKey)
            and c.public_key().public_numbers() == public  # type: ignore[union-attr]
        ),
        None,
    )
    if leaf is None:
        raise _jwks_error("no x5c certificate holds the JWK's key (n, e)")
    with quiet_name_warnings():
        chain = build_chain(certificates, leaf)
        for index, certificate in enumerate(chain):
            _check_certificate(certificate, index, now)
    _check_pin(chain[-1], pins)
    return SigningKey(kid=kid, jwk=jwk, algorithms=allowed, chain=chain)


# --- CRLs -------------------------------------------------------------------------------------


def crl_distribution_point(certificate: x509.Certificate) -> str:
    """The first http(s) URL of the certificate's CRL distribution points."""
    points = _extension(certificate, x509.CRLDistributionPoints)
    for point in points or ():
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier):
                url = str(name.value)
                if url.lower().startswith(("http://", "https://")):
                    return url
    raise _chain_error(f"{_name(certificate)} has no http(s) CRL distribution point")


def _load_crl(body: bytes) -> x509.CertificateRevocationList:
    try:
        if body.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(body.strip())
        return x509.load_der_x509_crl(body)
    except ValueError as exc:
        raise ItaTokenError(f"not a CRL: {exc}", code="ita_crl_invalid") from None


def check_crl(
    body: bytes, certificate: x509.Certificate, issuer: x509.Certificate, now: datetime
) -> x509.CertificateRevocationList:
    """The CRL in ``body``, checked: issued and signed by ``issuer``, current at ``now``.

    Does not look for ``certificate`` in it (see :func:`_check_revoked`).
    """
    crl = _load_crl(body)
    name = _name(issuer)

    def fail(reason: str) -> ItaTokenError:
        return ItaTokenError(f"the CRL for {_name(certificate)}: {reason}", code="ita_crl_invalid")

    with quiet_name_warnings():
        crl_issuer_name = crl_issuer(crl, fail)
        issuer_name = issuer.subject
    if crl_issuer_name != issuer_name:
        raise ItaTokenError(
            f"the CRL for {_name(certificate)} is not {name}'s", code="ita_crl_invalid"
        )
    try:
        valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        valid = False
    if not valid:
        raise ItaTokenError(f"the CRL of {name} is not signed by it", code="ita_crl_invalid")
    next_update = crl.next_update_utc
    if next_update is None or not crl.last_update_utc <= now < next_update:
        raise ItaTokenError(
            f"the CRL of {name} is not current at {now.isoformat()} (this update "
            f"{crl.last_update_utc.isoformat()}, next update "
            f"{'none' if next_update is None else next_update.isoformat()})",
            code="ita_crl_invalid",
        )
    return crl


def _check_revoked(crl: x509.CertificateRevocationList, certificate: x509.Certificate) -> None:
    if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
        raise ItaTokenError(
            f"{_name(certificate)} (serial {certificate.serial_number:x}) is revoked",
            code="ita_certificate_revoked",
        )


def revocation_flow(
    chain: Sequence[x509.Certificate], cache: ItaKeyCache, now: datetime
) -> Flow[None]:
    """Check every certificate but the root against its issuer's CRL (cached until stale)."""
    for certificate, issuer in itertools.pairwise(chain):
        url = crl_distribution_point(certificate)
        crl = None
        cached = cache.load("crl", url)
        if cached is not None:
            try:
                crl = check_crl(cached, certificate, issuer, now)
            except ItaTokenError:
                cache.evict("crl", url)
        if crl is None:
            response = yield HttpRequest(
                "GET", url, f"the CRL of {_name(issuer)}", MAX_CRL_SIZE, signed=True
            )
            crl = check_crl(response.body, certificate, issuer, now)
            cache.store("crl", url, response.body)
        _check_revoked(crl, certificate)


# --- the whole resolution ----------------------------------------------------------------------


def key_flow(
    kid: str,
    *,
    portal_url: str,
    cache: ItaKeyCache,
    now: datetime,
    pins: Sequence[bytes],
    algorithms: Sequence[str],
    use_cache: bool = True,
) -> Flow[tuple[SigningKey, bool]]:
    """Resolve ``kid`` to a key whose chain verifies at ``now``, and whether it was cached.

    A cached key set is used while it has ``kid`` and that key's chain and
    pin hold; otherwise (or with ``use_cache=False``) the portal's set is
    fetched once and stored, and its verdict is final.  CRLs are checked
    separately (:func:`revocation_flow`), once the key has verified the token.
    """
    url = jwks_url(portal_url)
    cached = cache.load("jwks", url) if use_cache else None
    if cached is not None:
        try:
            keys = read_jwks(cached)
            return signing_key(keys, kid, now=now, pins=pins, algorithms=algorithms), True
        except (_KidMissing, ItaTokenError):
            pass  # rotated, expired or tampered with: ask the portal once
    response = yield HttpRequest("GET", url, "the ITA token signing keys", MAX_JWKS_SIZE)
    try:
        keys = read_jwks(response.body)
    except ItaTokenError:
        cache.evict("jwks", url)
        raise
    cache.store("jwks", url, response.body)
    try:
        return signing_key(keys, kid, now=now, pins=pins, algorithms=algorithms), False
    except _KidMissing:
        raise ItaTokenError(
            f"the portal's key set ({url}) has no key {kid!r}", code="ita_token_key_unknown"
        ) from None
