"""An Intel Trust Authority-compatible server on loopback, with its own signing PKI.

Two listeners share one state, as ITA's two hosts do:

* the **API** (:attr:`ItaServer.api_url`)::

      GET  /appraisal/v2/nonce      -> {"val", "iat", "signature"}
      POST /appraisal/v2/attest     -> {"token": "<JWS>"}   (v2 token, claims in "tdx")
      POST /appraisal/v1/attest     -> {"token": "<JWS>"}   (v1 token, claims at the top)

  which require ``x-api-key`` (401 otherwise) and appraise the quote by
  parsing it, and, given a :class:`~tdxquote.Verifier` with collateral,
  by verifying it with tdxquote's DCAP pipeline;
* the **portal** (:attr:`ItaServer.portal_url`)::

      GET /certs                    -> the JWKS (RSA keys with x5c chains)
      GET /crl/root.crl             -> the root's CRL (DER), the signing CA's CDP
      GET /crl/signing-ca.crl       -> the signing CA's CRL (DER), the leaves' CDP

The PKI is RSA: root -> signing CA -> token signing leaf (``kid``), with
CRL distribution points on the portal.  Tokens are signed here with
``cryptography`` directly (not with the JOSE library the client uses), so
the two sides are independent.

Knobs for tests: :class:`TokenOptions` (layout, lifetime, times, header
``alg``/``kid``/``jku``, the algorithm actually used, claim overrides,
TCB status), :meth:`ItaServer.rotate_key`, :meth:`ItaServer.revoke_leaf`,
:meth:`ItaServer.revoke_signing_ca`, ``jwk_alg``, ``x5c_transform``,
``crl_next_update``, and HTTP faults (:class:`ItaFault`: a status, a
redirect, a trickle, a hang, a replaced body) by path.  Every request is
logged with its role and headers (:attr:`ItaServer.requests`).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import ipaddress
import itertools
import json
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tdxquote._quote import Quote, parse_quote
from tdxquote._reports import SgxReport
from tdxquote.collateral import TcbStatus
from tdxquote.errors import QuoteParseError, VerificationError
from tdxquote.testing._request_log import RequestLog
from tdxquote.verification import Policy, Verifier

from .pki import REFERENCE_TIME

if TYPE_CHECKING:
    from tdxquote.ita import ItaConfig

__all__ = [
    "ITA_TEST_API_KEY",
    "ItaFault",
    "ItaPki",
    "ItaServer",
    "RecordedRequest",
    "TokenOptions",
    "rsa_key",
    "tdx_claims",
]

ITA_TEST_API_KEY = "tdxquote-test-ita-key"
"""The API key an :class:`ItaServer` requires by default."""

_PERMISSIVE = Policy().allow_statuses(*TcbStatus).unsafe_allow_debug()
_B64URL = base64.urlsafe_b64encode


@lru_cache(maxsize=32)
def rsa_key(label: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key for ``label``, generated once per process (RSA keys cannot be derived)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _b64url(data: bytes) -> str:
    return _B64URL(data).rstrip(b"=").decode("ascii")


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tdxquote synthetic"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


# --- the signing PKI ---------------------------------------------------------------------------


@dataclass
class ItaPki:
    """Root -> signing CA -> leaves (one per ``kid``), with their CRLs.

    ``portal_url`` is where the CRL distribution points live.  Certificates
    are valid ``not_before`` .. ``not_after``; CRLs ``this_update`` ..
    ``next_update``.
    """

    portal_url: str
    root_label: str = "ita-root"
    not_before: datetime = REFERENCE_TIME - timedelta(days=365)
    not_after: datetime = REFERENCE_TIME + timedelta(days=5 * 365)
    root: x509.Certificate = field(init=False)
    signing_ca: x509.Certificate = field(init=False)
    leaves: dict[str, tuple[rsa.RSAPrivateKey, x509.Certificate]] = field(
        init=False, default_factory=dict
    )
    revoked_leaves: set[int] = field(init=False, default_factory=set)
    revoked_cas: set[int] = field(init=False, default_factory=set)
    _serials: itertools.count[int] = field(init=False, default_factory=lambda: itertools.count(2))

    def __post_init__(self) -> None:
        root_key = rsa_key(self.root_label)
        self.root = self._certificate(
            "tdxquote test ITA Root CA", root_key.public_key(), root_key, None, ca=True
        )
        ca_key = rsa_key(f"{self.root_label}/signing-ca")
        self.signing_ca = self._certificate(
            "tdxquote test ITA Signing CA",
            ca_key.public_key(),
            root_key,
            self.root,
            ca=True,
            crl_url=f"{self.portal_url}/crl/root.crl",
        )

    @property
    def root_key(self) -> rsa.RSAPrivateKey:
        """The root's private key."""
        return rsa_key(self.root_label)

    @property
    def signing_ca_key(self) -> rsa.RSAPrivateKey:
        """The signing CA's private key."""
        return rsa_key(f"{self.root_label}/signing-ca")

    @property
    def root_spki_sha256(self) -> bytes:
        """SHA-256 of the root's SubjectPublicKeyInfo (a pin for the client)."""
        spki = self.root.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).digest()

    def _certificate(
        self,
        cn: str,
        public_key: rsa.RSAPublicKey,
        issuer_key: rsa.RSAPrivateKey,
        issuer: x509.Certificate | None,
        *,
        ca: bool,
        crl_url: str | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn) if issuer is None else issuer.subject)
            .public_key(public_key)
            .serial_number(next(self._serials))
            .not_valid_before(not_before or self.not_before)
            .not_valid_after(not_after or self.not_after)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=not ca,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=ca,
                    crl_sign=ca,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        )
        if crl_url is not None:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            full_name=[x509.UniformResourceIdentifier(crl_url)],
                            relative_name=None,
                            reasons=None,
                            crl_issuer=None,
                        )
                    ]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA384())

    def add_leaf(
        self,
        kid: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        ca: bool = False,
    ) -> x509.Certificate:
        """Issue a token signing certificate for ``kid`` (a key of this PKI's own)."""
        key = rsa_key(f"{self.root_label}/leaf/{kid}")
        certificate = self._certificate(
            f"tdxquote test ITA Token Signing {kid}",
            key.public_key(),
            self.signing_ca_key,
            self.signing_ca,
            ca=ca,
            crl_url=f"{self.portal_url}/crl/signing-ca.crl",
            not_before=not_before,
            not_after=not_after,
        )
        self.leaves[kid] = (key, certificate)
        return certificate

    def crl(
        self,
        which: Literal["root", "signing-ca"],
        *,
        this_update: datetime,
        next_update: datetime,
        signer: rsa.RSAPrivateKey | None = None,
    ) -> bytes:
        """The DER CRL of the root (listing revoked CAs) or of the signing CA (leaves)."""
        issuer, key, revoked = (
            (self.root, self.root_key, self.revoked_cas)
            if which == "root"
            else (self.signing_ca, self.signing_ca_key, self.revoked_leaves)
        )
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.subject)
            .last_update(this_update)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(1), critical=False)
        )
        for serial in sorted(revoked):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(this_update)
                .build()
            )
        crl = builder.sign(signer or key, hashes.SHA384())
        return crl.public_bytes(serialization.Encoding.DER)


def _x5c(certificates: list[x509.Certificate]) -> list[str]:
    return [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
        for c in certificates
    ]


def _jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def encode(value: int) -> str:
        return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "n": encode(numbers.n), "e": encode(numbers.e)}


# --- tokens ------------------------------------------------------------------------------------


def _bit(attributes: int, bit: int) -> bool:
    return bool(attributes >> bit & 1)


def tdx_claims(
    quote: Quote,
    *,
    tcb_status: str = "UpToDate",
    tcb_date: datetime | None = datetime(2024, 3, 13, tzinfo=timezone.utc),
    advisory_ids: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The TDX claims ITA derives from ``quote`` (names and encodings of ITA's v2 tokens)."""
    body = quote.body
    if isinstance(body, SgxReport):
        raise ValueError("not a TD quote")
    attributes = int.from_bytes(body.td_attributes, "little")
    claims: dict[str, Any] = {
        "tdx_mrtd": body.mr_td.hex(),
        "tdx_mrseam": body.mr_seam.hex(),
        "tdx_mrsignerseam": body.mr_signer_seam.hex(),
        "tdx_mrconfigid": body.mr_config_id.hex(),
        "tdx_mrowner": body.mr_owner.hex(),
        "tdx_mrownerconfig": body.mr_owner_config.hex(),
        "tdx_rtmr0": body.rtmr0.hex(),
        "tdx_rtmr1": body.rtmr1.hex(),
        "tdx_rtmr2": body.rtmr2.hex(),
        "tdx_rtmr3": body.rtmr3.hex(),
        "tdx_report_data": body.report_data.hex(),
        "tdx_tee_tcb_svn": body.tee_tcb_svn.hex(),
        "tdx_td_attributes": body.td_attributes.hex(),
        "tdx_xfam": body.xfam.hex(),
        "tdx_seam_attributes": body.seam_attributes.hex(),
        "tdx_seamsvn": int.from_bytes(body.tee_tcb_svn[:2], "little"),
        "tdx_td_attributes_debug": _bit(attributes, 0),
        "tdx_td_attributes_septve_disable": _bit(attributes, 28),
        "tdx_td_attributes_protection_keys": _bit(attributes, 30),
        "tdx_td_attributes_key_locker": _bit(attributes, 31),
        "tdx_td_attributes_perfmon": _bit(attributes, 63),
        "tdx_is_debuggable": _bit(attributes, 0),
        "tdx_is_migratable": _bit(attributes, 29),
        "dbgstat": "enabled" if _bit(attributes, 0) else "disabled",
        "attester_type": "TDX",
        "attester_tcb_status": tcb_status,
        "attester_advisory_ids": list(advisory_ids),
        "tdx_collateral": {"quotehash": hashlib.sha256(quote.to_bytes()).hexdigest()},
    }
    if tcb_date is not None:
        claims["attester_tcb_date"] = tcb_date.strftime("%Y-%m-%dT%H:%M:%SZ")
    return claims


@dataclass(frozen=True)
class TokenOptions:
    """How the server makes tokens; the defaults are what ITA does.

    ``layout``: ``"v2"`` (claims in ``"tdx"``) or ``"v1"`` (top level);
    None follows the route (v2 for ``/appraisal/v2/attest``).
    ``issued_at``: default the server's ``now``; ``lifetime``: ``exp - iat``;
    ``not_before``: default ``iat`` (``omit_nbf`` drops it).
    ``header_alg`` / ``kid`` / ``jku``: what the header says (default: the
    signing algorithm, the current key, ``{portal}/certs``).  ``sign_alg``:
    what actually signs (default: the requested ``token_signing_alg``);
    ``"HS256"`` MACs with the leaf's public key PEM as the secret,
    ``"none"`` leaves the signature empty.  ``signing_kid`` picks the key.
    ``claims``: TDX claim overrides (a None value deletes the claim);
    ``top_claims``: the same for top-level claims.  ``tcb_status``,
    ``tcb_date``, ``advisory_ids``: the appraisal, when no verifier gives it.
    """

    layout: Literal["v1", "v2"] | None = None
    issued_at: datetime | None = None
    lifetime: int = 300
    not_before: datetime | None = None
    omit_nbf: bool = False
    header_alg: str | None = None
    kid: str | None = None
    jku: str | None = None
    sign_alg: str | None = None
    signing_kid: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    top_claims: Mapping[str, Any] = field(default_factory=dict)
    tcb_status: str = "UpToDate"
    tcb_date: datetime | None = datetime(2024, 3, 13, tzinfo=timezone.utc)
    advisory_ids: tuple[str, ...] = ()
    issuer: str = "Intel Trust Authority"


def _override(target: dict[str, Any], changes: Mapping[str, Any]) -> None:
    for name, value in changes.items():
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value


def _sign(alg: str, signing_input: bytes, key: rsa.RSAPrivateKey) -> bytes:
    if alg == "none":
        return b""
    if alg == "HS256":
        secret = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hmac.new(secret, signing_input, hashlib.sha256).digest()
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    if alg.startswith("PS"):
        scheme: padding.AsymmetricPadding = padding.PSS(
            mgf=padding.MGF1(digest), salt_length=digest.digest_size
        )
    elif alg.startswith("RS"):
        scheme = padding.PKCS1v15()
    else:
        raise ValueError(f"the test server cannot sign with {alg!r}")
    return key.sign(signing_input, scheme, digest)


# --- faults ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItaFault:
    """How a matching request fails; build with the class methods."""

    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    trickle_delay: float | None = None
    hang: bool = False

    @classmethod
    def http_status(
        cls, status: int, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> ItaFault:
        """Reply ``status`` (e.g. 500, or 429 with ``{"Retry-After": "3"}``)."""
        return cls(status=status, headers=tuple((headers or {}).items()), body=body)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> ItaFault:
        """Redirect to ``location``."""
        return cls(status=status, headers=(("Location", location),), body=b"")

    @classmethod
    def replace_body(cls, body: bytes, status: int = 200) -> ItaFault:
        """Serve ``body`` instead of the real reply."""
        return cls(status=status, body=body)

    @classmethod
    def trickle(cls, delay: float = 0.05) -> ItaFault:
        """Send the real reply one byte every ``delay`` seconds."""
        return cls(trickle_delay=delay)

    @classmethod
    def hung(cls) -> ItaFault:
        """Never answer (until the server stops)."""
        return cls(hang=True)


@dataclass(frozen=True)
class RecordedRequest:
    """One request: which listener (``"api"`` or ``"portal"``) got it, and what it was."""

    role: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value (case-insensitive), None when absent."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


def _json_reply(status: int, document: object) -> _Reply:
    return _Reply(status, json.dumps(document).encode())


# --- HTTP ---------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Listener
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._handle("GET", b"")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "0")
        size = int(length) if length.isdigit() else 0
        self._handle("POST", self.rfile.read(min(size, 1 << 22)))

    def _handle(self, method: str, body: bytes) -> None:
        owner = self.server.owner
        role = self.server.role
        path = urlsplit(self.path).path
        owner._record(RecordedRequest(role, method, self.path, dict(self.headers.items()), body))
        fault = owner._take_fault(path)
        if fault is not None and fault.hang:
            owner._stopping.wait(timeout=30)
            self.close_connection = True
            return
        if fault is not None and fault.status is not None:
            self._send(_Reply(fault.status, fault.body or b"", fault.headers, "text/plain"))
            return
        reply = owner._route(role, method, path, self.headers.get("x-api-key"), body)
        if fault is not None and fault.body is not None:
            reply = dataclasses.replace(reply, body=fault.body)
        if fault is not None and fault.trickle_delay is not None:
            self._trickle(reply, fault.trickle_delay)
            return
        self._send(reply)

    def _head(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Request-Id", self.server.owner._request_id())
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()

    def _send(self, reply: _Reply) -> None:
        self._head(reply)
        self.wfile.write(reply.body)

    def _trickle(self, reply: _Reply, delay: float) -> None:
        self._head(reply)
        self.wfile.flush()
        owner = self.server.owner
        for index in range(len(reply.body)):
            if owner._stopping.wait(delay):
                break
            try:
                self.wfile.write(reply.body[index : index + 1])
                self.wfile.flush()
            except OSError:
                break
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    owner: ItaServer
    role: str

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) and not self.owner.verbose:
            return
        super().handle_error(request, client_address)


class ItaServer(RequestLog[RecordedRequest, ItaFault]):
    """An ITA-compatible API and portal on ``host`` (loopback only), random ports.

    ``api_key``: the key the API requires (None: any).  ``verifier``: a
    :class:`~tdxquote.Verifier` with collateral (or a source) to appraise
    quotes with DCAP; without one the quote is only parsed and the status
    comes from :attr:`token_options`.  ``now``: the time tokens are issued
    at (default :data:`~tdxquote.testing.pki.REFERENCE_TIME`).
    Use as a context manager.
    """

    def __init__(
        self,
        *,
        api_key: str | None = ITA_TEST_API_KEY,
        verifier: Verifier | None = None,
        now: datetime = REFERENCE_TIME,
        host: str = "127.0.0.1",
        root_label: str = "ita-root",
        verbose: bool = False,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the ITA test server binds loopback addresses only, not {host}")
        RequestLog.__init__(self)
        self.api_key = api_key
        self.verifier = verifier
        self.now = now
        self.verbose = verbose
        self._host = host
        self.token_options = TokenOptions()
        #: The JWK ``alg`` member to publish (None: none, so the allow-list decides).
        self.jwk_alg: str | None = None
        #: A function applied to each key's x5c certificate list (leaf, CA, root).
        self.x5c_transform: Callable[[list[x509.Certificate]], list[x509.Certificate]] | None = None
        #: CRL validity (default: ``now`` - 1 day .. ``now`` + 30 days).
        self.crl_this_update: datetime | None = None
        self.crl_next_update: datetime | None = None
        #: Sign the CRLs with this key instead of the issuer's (a bad CRL signature).
        self.crl_signer: rsa.RSAPrivateKey | None = None
        self.nonces: list[dict[str, str]] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._api = self._listen(host, "api")
        self._portal = self._listen(host, "portal")
        self.pki = ItaPki(self.portal_url, root_label=root_label)
        self._kids = itertools.count(1)
        #: Keys published in the JWKS, oldest first; the last one signs.
        self.published: list[str] = []
        self.rotate_key(keep_old=False)

    def _listen(self, host: str, role: str) -> _Listener:
        listener = _Listener((host, 0), _Handler)
        listener.owner = self
        listener.role = role
        return listener

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the API."""
        return f"http://{self._host}:{self._api.server_address[1]}"

    @property
    def portal_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the portal (another origin than the API)."""
        return f"http://{self._host}:{self._portal.server_address[1]}"

    def start(self) -> ItaServer:
        """Serve both listeners in daemon threads."""
        for listener in (self._api, self._portal):
            thread = threading.Thread(
                target=listener.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving; hung and trickling replies end."""
        self._stopping.set()
        for listener in (self._api, self._portal):
            if self._threads:
                listener.shutdown()
            listener.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()

    def __enter__(self) -> ItaServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def config(self, **options: Any) -> ItaConfig:
        """An :class:`~tdxquote.ita.ItaConfig` for this server (its URLs and API key)."""
        from tdxquote.ita import ItaConfig

        options.setdefault("api_key", self.api_key)
        return ItaConfig(api_url=self.api_url, portal_url=self.portal_url, **options)

    # --- keys ------------------------------------------------------------------------------
    @property
    def kid(self) -> str:
        """The key that signs new tokens."""
        return self.published[-1]

    def rotate_key(
        self, *, keep_old: bool = True, kid: str | None = None, **leaf_options: Any
    ) -> str:
        """Issue a new signing key (a new ``kid``, or ``kid``) and publish it; returns the kid.

        ``keep_old=False`` drops the older keys from the JWKS.
        ``leaf_options`` go to :meth:`ItaPki.add_leaf` (validity, ``ca``).
        """
        kid = kid or f"tdxquote-ita-{next(self._kids)}"
        self.pki.add_leaf(kid, **leaf_options)
        with self._lock:
            self.published = [*self.published, kid] if keep_old else [kid]
        return kid

    def revoke_leaf(self, kid: str | None = None) -> None:
        """Put the signing certificate of ``kid`` (default: the current one) in the CA's CRL."""
        _, certificate = self.pki.leaves[kid or self.kid]
        self.pki.revoked_leaves.add(certificate.serial_number)

    def revoke_signing_ca(self) -> None:
        """Put the signing CA in the root's CRL."""
        self.pki.revoked_cas.add(self.pki.signing_ca.serial_number)

    def jwks(self) -> dict[str, Any]:
        """The JWKS the portal serves."""
        keys = []
        for kid in self.published:
            key, leaf = self.pki.leaves[kid]
            certificates = [leaf, self.pki.signing_ca, self.pki.root]
            if self.x5c_transform is not None:
                certificates = self.x5c_transform(certificates)
            entry: dict[str, Any] = {**_jwk(key), "kid": kid, "x5c": _x5c(certificates)}
            if self.jwk_alg is not None:
                entry["alg"] = self.jwk_alg
            keys.append(entry)
        return {"keys": keys}

    # --- tokens ----------------------------------------------------------------------------
    def issue_token(
        self,
        quote: Quote | bytes,
        *,
        algorithm: str = "PS384",
        layout: Literal["v1", "v2"] = "v2",
        options: TokenOptions | None = None,
        appraisal: tuple[str, datetime | None, tuple[str, ...]] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token for ``quote``, as the attest route makes it (no HTTP)."""
        parsed = quote if isinstance(quote, Quote) else parse_quote(bytes(quote))
        options = options or self.token_options
        status, tcb_date, advisories = appraisal or (
            options.tcb_status,
            options.tcb_date,
            options.advisory_ids,
        )
        tdx = tdx_claims(parsed, tcb_status=status, tcb_date=tcb_date, advisory_ids=advisories)
        _override(tdx, options.claims)
        issued = options.issued_at or self.now
        not_before = options.not_before or issued
        top: dict[str, Any] = {
            "iss": options.issuer,
            "iat": int(issued.timestamp()),
            "nbf": int(not_before.timestamp()),
            "exp": int(issued.timestamp()) + options.lifetime,
            "jti": str(uuid.uuid4()),
            "verifier_instance_ids": [str(uuid.uuid5(uuid.NAMESPACE_URL, self.api_url))],
            **(extra_claims or {}),
        }
        if options.omit_nbf:
            del top["nbf"]
        layout = options.layout or layout
        if layout == "v2":
            payload = {
                "ver": "2.0.0",
                "eat_profile": f"{self.portal_url}/eat_profile.html",
                "intuse": "generic",
                "policy_ids_matched": None,
                "policy_ids_unmatched": None,
                "policy_defined_claims": None,
                **top,
                "tdx": tdx,
            }
        else:
            payload = {"ver": "1.0", **top, **tdx}
        _override(payload, options.top_claims)
        sign_alg = options.sign_alg or algorithm
        signing_kid = options.signing_kid or self.kid
        header = {
            "alg": options.header_alg or sign_alg,
            "jku": options.jku or f"{self.portal_url}/certs",
            "kid": options.kid or signing_kid,
            "typ": "JWT",
        }
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(payload).encode())
        ).encode("ascii")
        key, _ = self.pki.leaves[signing_kid]
        return signing_input.decode("ascii") + "." + _b64url(_sign(sign_alg, signing_input, key))

    # --- routes ----------------------------------------------------------------------------
    def _route(self, role: str, method: str, path: str, api_key: str | None, body: bytes) -> _Reply:
        if role == "portal" and method == "GET":
            if path == "/certs":
                return _json_reply(200, self.jwks())
            if path in ("/crl/root.crl", "/crl/signing-ca.crl"):
                which: Literal["root", "signing-ca"] = "root" if "root" in path else "signing-ca"
                crl = self.pki.crl(
                    which,
                    this_update=self.crl_this_update or self.now - timedelta(days=1),
                    next_update=self.crl_next_update or self.now + timedelta(days=30),
                    signer=self.crl_signer,
                )
                return _Reply(200, crl, content_type="application/pkix-crl")
            return _json_reply(404, {"error": f"no route {path}"})
        if role != "api":
            return _json_reply(405, {"error": "method not allowed"})
        if self.api_key is not None and api_key != self.api_key:
            return _json_reply(401, {"error": "invalid or missing API key"})
        if method == "GET" and path == "/appraisal/v2/nonce":
            return _json_reply(200, self._nonce())
        if method == "POST" and path in ("/appraisal/v2/attest", "/appraisal/v1/attest"):
            return self._attest(body, "v2" if "/v2/" in path else "v1")
        return _json_reply(404, {"error": f"no route {method} {path}"})

    def _nonce(self) -> dict[str, str]:
        val = os.urandom(32)
        iat = self.now.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        key, _ = self.pki.leaves[self.kid]
        signature = _sign("PS384", val + iat, key)
        nonce = {
            "val": base64.b64encode(val).decode(),
            "iat": base64.b64encode(iat).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
        with self._lock:
            self.nonces.append(nonce)
        return nonce

    def _attest(self, body: bytes, layout: Literal["v1", "v2"]) -> _Reply:
        try:
            request = json.loads(body)
            if not isinstance(request, dict):
                raise ValueError("not an object")
            quote_bytes = base64.b64decode(request["quote"], validate=True)
        except (ValueError, KeyError, TypeError):
            return _json_reply(400, {"error": "the body needs a base64 quote"})
        algorithm = request.get("token_signing_alg", "PS384")
        if algorithm not in ("PS384", "RS256"):
            return _json_reply(400, {"error": "token_signing_alg must be PS384 or RS256"})
        nonce = request.get("verifier_nonce")
        if nonce is not None and nonce not in self.nonces:
            return _json_reply(400, {"error": "unknown verifier nonce"})
        try:
            quote = parse_quote(quote_bytes)
        except QuoteParseError as exc:
            return _json_reply(400, {"error": f"invalid quote: {exc}"})
        if not quote.is_tdx:
            return _json_reply(400, {"error": "not a TDX quote"})
        appraisal = None
        if self.verifier is not None:
            try:
                verified = self.verifier.verify(quote, now=self.now, policy=_PERMISSIVE)
            except VerificationError as exc:
                return _json_reply(400, {"error": f"quote verification failed: {exc.code}"})
            appraisal = (str(verified.status), verified.tcb_level.tcb_date, verified.advisory_ids)
        extra: dict[str, Any] = {}
        if nonce is not None:
            extra["verifier_nonce"] = nonce
        runtime = request.get("runtime_data")
        if isinstance(runtime, str):
            extra["attester_held_data"] = runtime
        token = self.issue_token(
            quote, algorithm=algorithm, layout=layout, appraisal=appraisal, extra_claims=extra
        )
        return _json_reply(200, {"token": token})

    # --- log and faults (the rest: RequestLog) ----------------------------------------------
    def count(self, path: str | None = None, *, role: str | None = None) -> int:
        """Requests received (on ``role``'s listener, whose path starts with ``path``)."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (path is None or r.path.startswith(path)) and (role is None or r.role == role)
            )
