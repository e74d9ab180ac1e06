"""Forged dstack RA-TLS certificates whose quotes verify against the synthetic PKI, for tests.

:class:`RaTlsForge` wraps a :class:`~tdxquote.testing.forge.QuoteForge`: it
builds an event log (synthetic boot events for RTMR0-2 and dstack's runtime
events for RTMR3), replays it into the RTMRs of a TD report whose REPORTDATA
is SHA-512(``"ratls-cert:"`` || the certificate's SubjectPublicKeyInfo),
signs the quote with the synthetic PKI and puts it in a certificate the way
dstack does (``.1.8`` V0 or V1 msgpack envelope, or the legacy ``.1.1`` quote
+ ``.1.2`` JSON log)::

    forge = RaTlsForge.create()
    made = forge.certificate()                      # self-signed, .1.8 V0, stripped log
    verify_certificate(made.chain_pem, verifier=made.verifier(), now=made.now)

    cert_pem, key_pem = server_certificate(key)     # for a TLS server

Knobs break exactly one property: ``bind_key`` (the attestation binds
another key), ``envelope_report_data`` (only the envelope's report data
differs), ``break_rtmr`` (the quote's RTMR i differs from the log's replay),
``strip_log`` (keep or strip the boot events), ``form`` and ``issuer``
(which extensions, which chain).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tdxquote._der import encode_octet_string
from tdxquote.ratls._app_info import AppInfo, encode_app_info
from tdxquote.ratls._binding import expected_report_data
from tdxquote.ratls._envelope import encode_attestation_v0
from tdxquote.ratls._eventlog import RUNTIME_EVENT_TYPE, RuntimeEvent, TdxEvent
from tdxquote.ratls._extensions import (
    OID_APP_ID,
    OID_APP_INFO,
    OID_ATTESTATION,
    OID_CERT_USAGE,
    OID_EVENT_LOG,
    OID_TDX_QUOTE,
)
from tdxquote.ratls._msgpack_v1 import encode_attestation_v1
from tdxquote.ratls._replay import ACPI_DATA_EVENT_TYPE, replay

from .forge import DEFAULT_MR_TD, DEFAULT_TD_ATTRIBUTES, QuoteForge, Scenario, td_report
from .pki import DEFAULT_SEED, REFERENCE_TIME, derive_key

if TYPE_CHECKING:
    from tdxquote._quote import Quote
    from tdxquote.collateral import Collateral
    from tdxquote.verification import Verifier

__all__ = [
    "DEFAULT_APP_ID",
    "DEFAULT_COMPOSE_HASH",
    "DEFAULT_CONFIG",
    "DEFAULT_INSTANCE_ID",
    "DEFAULT_KEY_PROVIDER",
    "DEFAULT_NOT_AFTER",
    "DEFAULT_NOT_BEFORE",
    "DEFAULT_OS_IMAGE_HASH",
    "ForgedCertificate",
    "RaTlsForge",
    "boot_event_log",
    "full_event_log",
    "runtime_events",
    "server_certificate",
    "server_scenario",
    "strip_event_log",
]

DEFAULT_APP_ID = hashlib.sha256(b"tdxquote synthetic app id").digest()[:20]
DEFAULT_COMPOSE_HASH = hashlib.sha256(b"tdxquote synthetic app-compose.json").digest()
DEFAULT_INSTANCE_ID = hashlib.sha256(b"tdxquote synthetic instance id").digest()[:20]
DEFAULT_OS_IMAGE_HASH = hashlib.sha256(b"tdxquote synthetic OS image").digest()
DEFAULT_KEY_PROVIDER = json.dumps(
    {"name": "kms", "id": hashlib.sha256(b"tdxquote synthetic KMS root").hexdigest()},
    separators=(",", ":"),
).encode()
DEFAULT_CONFIG = json.dumps(
    {"vm_config": json.dumps({"os_image_hash": DEFAULT_OS_IMAGE_HASH.hex()})},
    separators=(",", ":"),
)
DEFAULT_NOT_BEFORE = datetime(2025, 1, 1, tzinfo=timezone.utc)
DEFAULT_NOT_AFTER = datetime(2035, 1, 1, tzinfo=timezone.utc)

Form = Literal["1.8-v0", "1.8-v1", "1.1-legacy", "both"]
Issuer = Literal["self", "ca", "kms"]
PrivateKey = CertificateIssuerPrivateKeyTypes

_ACPI_DATA = b"ACPI DATA"


# --- event logs --------------------------------------------------------------------------


def runtime_events(
    *,
    app_id: bytes = DEFAULT_APP_ID,
    compose_hash: bytes = DEFAULT_COMPOSE_HASH,
    instance_id: bytes = DEFAULT_INSTANCE_ID,
    os_image_hash: bytes | None = DEFAULT_OS_IMAGE_HASH,
    key_provider: bytes = DEFAULT_KEY_PROVIDER,
    storage_fs: bytes = b"zfs",
    application: Sequence[tuple[str, bytes]] = (),
    version: int = 1,
) -> tuple[RuntimeEvent, ...]:
    """dstack's runtime events in the order it emits them; ``application`` follows system-ready.

    ``version`` 2 gives event-log version 2 events (JCS digests; only the V1
    envelope and JSON logs can carry them).
    """
    events = [
        RuntimeEvent("system-preparing", b""),
        RuntimeEvent("app-id", app_id),
        RuntimeEvent("compose-hash", compose_hash),
        RuntimeEvent("instance-id", instance_id),
        RuntimeEvent("boot-mr-done", b""),
    ]
    if os_image_hash is not None:
        events.append(RuntimeEvent("os-image-hash", os_image_hash))
    events += [
        RuntimeEvent("key-provider", key_provider),
        RuntimeEvent("storage-fs", storage_fs),
        RuntimeEvent("system-ready", b""),
    ]
    events += [RuntimeEvent(name, payload) for name, payload in application]
    return tuple(e._replace(version=version) for e in events)


def _boot_event(imr: int, event_type: int, name: str, payload: bytes) -> TdxEvent:
    digest = hashlib.sha384(b"tdxquote synthetic boot event" + payload).digest()
    return TdxEvent(imr, event_type, digest, name, payload)


def boot_event_log() -> tuple[TdxEvent, ...]:
    """Synthetic firmware events for RTMR0-2, with the three RTMR0 ``ACPI DATA`` markers."""
    return (
        _boot_event(0, 0x8000000B, "", b"TdxTable synthetic"),
        _boot_event(0, 0x8000000A, "", b"TD HOB synthetic"),
        _boot_event(0, 0x80000001, "", b"SecureBoot synthetic"),
        _boot_event(0, ACPI_DATA_EVENT_TYPE, "acpi-loader", _ACPI_DATA),
        _boot_event(0, ACPI_DATA_EVENT_TYPE, "acpi-rsdp", _ACPI_DATA),
        _boot_event(0, ACPI_DATA_EVENT_TYPE, "acpi-tables", _ACPI_DATA),
        _boot_event(1, 0x80000003, "", b"boot loader synthetic"),
        _boot_event(1, 0x80000007, "", b"EFI action synthetic"),
        _boot_event(2, 0x6, "", b"kernel command line synthetic"),
        _boot_event(2, 0x6, "", b"initrd synthetic"),
    )


def full_event_log(
    boot: Sequence[TdxEvent], events: Sequence[RuntimeEvent]
) -> tuple[TdxEvent, ...]:
    """The boot events then one RTMR3 entry per runtime event, digests present."""
    return (
        *boot,
        *(TdxEvent(3, RUNTIME_EVENT_TYPE, e.digest, e.event, e.payload, e.version) for e in events),
    )


def strip_event_log(log: Sequence[TdxEvent]) -> tuple[TdxEvent, ...]:
    """What dstack embeds in certificates: the RTMR0 ACPI DATA markers and RTMR3 events.

    Runtime events lose their digest; the markers keep theirs, with payload ``ACPI DATA``.
    """
    out: list[TdxEvent] = []
    for event in log:
        if event.imr == 3:
            runtime = event.event_type == RUNTIME_EVENT_TYPE
            out.append(event._replace(digest=b"") if runtime else event._replace(event_payload=b""))
        elif (
            event.imr == 0
            and event.event_type == ACPI_DATA_EVENT_TYPE
            and event.event_payload == _ACPI_DATA
        ):
            out.append(event)
    return tuple(out)


def _log_entry(event: TdxEvent) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "imr": event.imr,
        "event_type": event.event_type,
        "digest": event.digest.hex(),
        "event": event.event,
        "event_payload": event.event_payload.hex(),
    }
    if event.version != 1:
        entry["version"] = event.version
    return entry


def _log_json(log: Sequence[TdxEvent]) -> bytes:
    return json.dumps([_log_entry(e) for e in log], separators=(",", ":")).encode()


# --- certificates ------------------------------------------------------------------------


def _spki(key: PrivateKey | bytes) -> bytes:
    if isinstance(key, bytes):
        return key
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return builder.sign(key, None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    return builder.sign(key, hashes.SHA256())


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tdxquote synthetic"),
        ]
    )


def _serial(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha256(b"|".join(parts)).digest()[:16], "big") | 1


def _builder(
    cn: str, issuer_name: x509.Name, key: PrivateKey, not_before: datetime, not_after: datetime
) -> x509.CertificateBuilder:
    """Subject ``cn``, its key, a serial derived from both, the validity window."""
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(_serial(cn.encode(), _spki(key)))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Signatures only; a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class _Ca:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _ca(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: _Ca | None,
    not_before: datetime,
    not_after: datetime,
) -> _Ca:
    issuer_name = _name(cn) if issuer is None else issuer.cert.subject
    issuer_key = key if issuer is None else issuer.key
    builder = (
        _builder(cn, issuer_name, key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return _Ca(_sign(builder, issuer_key), key)


@dataclass(frozen=True)
class ForgedCertificate:
    """A forged RA-TLS certificate chain, its key, and what verifying it needs.

    ``chain`` is leaf first; ``scenario`` holds the quote's collateral, the
    synthetic trust root and the time (``now``) at which it verifies.
    ``event_log`` is the full log (before stripping); ``attestation`` the
    ``.1.8`` payload (None for the legacy form).
    """

    chain: tuple[x509.Certificate, ...]
    key: PrivateKey
    quote: Quote
    attestation: bytes | None
    event_log: tuple[TdxEvent, ...]
    runtime_events: tuple[RuntimeEvent, ...]
    scenario: Scenario

    @property
    def leaf(self) -> x509.Certificate:
        """The RA-TLS leaf certificate."""
        return self.chain[0]

    @property
    def leaf_der(self) -> bytes:
        """The leaf in DER."""
        return self.leaf.public_bytes(serialization.Encoding.DER)

    @property
    def chain_der(self) -> list[bytes]:
        """Each certificate in DER, leaf first (what a TLS peer sends)."""
        return [c.public_bytes(serialization.Encoding.DER) for c in self.chain]

    @property
    def chain_pem(self) -> bytes:
        """The chain in PEM, leaf first (a server's certificate file)."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    @property
    def key_pem(self) -> bytes:
        """The leaf's private key, PKCS#8 PEM, unencrypted."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def now(self) -> datetime:
        """A time at which the quote's collateral is valid."""
        return self.scenario.now

    @property
    def trust_root_pem(self) -> bytes:
        """The synthetic root the quote's PCK chain ends in."""
        return self.scenario.trust_root_pem

    def collateral(self) -> Collateral:
        """The quote's collateral."""
        return self.scenario.to_collateral()

    def collateral_json(self) -> str:
        """The quote's collateral as ``QuoteCollateralV3`` JSON (for ``--collateral``)."""
        return self.scenario.collateral_json()

    def verifier(self) -> Verifier:
        """A :class:`~tdxquote.Verifier` trusting the synthetic root, with the collateral."""
        from tdxquote.verification import Verifier

        return Verifier(trust_root=self.scenario.trust_root_der, collateral=self.collateral())


@dataclass(frozen=True, kw_only=True)
class RaTlsForge:
    """Makes RA-TLS certificates whose quotes the synthetic PKI signs.

    Build with :meth:`create`; ``quote_forge`` signs the quotes and its
    scenarios carry the collateral.
    """

    quote_forge: QuoteForge
    seed: bytes = DEFAULT_SEED

    @classmethod
    def create(
        cls, seed: bytes = DEFAULT_SEED, *, quote_forge: QuoteForge | None = None
    ) -> RaTlsForge:
        """A forge from ``seed`` (``QuoteForge.create(seed)`` unless given)."""
        return cls(quote_forge=quote_forge or QuoteForge.create(seed), seed=seed)

    def leaf_key(self, label: str = "ratls-leaf") -> ec.EllipticCurvePrivateKey:
        """A P-256 key derived from the seed (the default certificate key)."""
        return derive_key(self.seed, label)

    def certificate(
        self,
        key: PrivateKey | bytes | None = None,
        *,
        form: Form = "1.8-v0",
        issuer: Issuer = "self",
        events: Sequence[RuntimeEvent] | None = None,
        boot_log: Sequence[TdxEvent] | None = None,
        strip_log: bool | None = None,
        bind_key: PrivateKey | bytes | None = None,
        envelope_report_data: bytes | None = None,
        break_rtmr: int | None = None,
        body_type: int = 2,
        mr_td: bytes | None = None,
        td_attributes: bytes = DEFAULT_TD_ATTRIBUTES,
        mr_config_id: bytes | None = None,
        config: str = DEFAULT_CONFIG,
        subject: str = "tdxquote-synthetic-ratls",
        sans: Sequence[str] = ("localhost",),
        usage: str | None = None,
        app_id_extension: bytes | None = None,
        not_before: datetime = DEFAULT_NOT_BEFORE,
        not_after: datetime = DEFAULT_NOT_AFTER,
        quote_options: dict[str, Any] | None = None,
        report_data_payload: str | None = None,
        extended_key_usage: Sequence[x509.ObjectIdentifier] | None = (
            ExtendedKeyUsageOID.SERVER_AUTH,
            ExtendedKeyUsageOID.CLIENT_AUTH,
        ),
        app_info: AppInfo | bytes | None = None,
        quote_report_data: bytes | None = None,
    ) -> ForgedCertificate:
        """Forge an RA-TLS certificate for ``key`` (a private key, PEM bytes, or derived).

        ``form``: ``"1.8-v0"`` (the SCALE envelope), ``"1.8-v1"`` (the msgpack
        envelope, as dstack's v0.5.9-v0.5.11 simulator and later versions with
        event-log version 2 write it), ``"1.1-legacy"`` (quote + JSON log) or
        ``"both"`` (V0 and legacy).  ``issuer``: ``"self"`` (self-signed), ``"ca"``
        (leaf + self-signed CA, like the dstack simulator) or ``"kms"``
        (leaf, app CA, KMS root).  ``strip_log`` defaults to True for
        ``.1.8`` (only ACPI DATA markers and RTMR3, runtime digests emptied,
        as dstack embeds it) and False for the legacy form (full log).
        ``events`` defaults to :func:`runtime_events`, ``boot_log`` to
        :func:`boot_event_log`.  ``mr_config_id`` defaults to dstack's
        ``0x01 || compose-hash``.  ``quote_options`` go to
        :meth:`QuoteForge.quote`.

        Knobs: ``bind_key`` (another private key or SPKI DER) is bound
        instead of ``key``; ``envelope_report_data`` replaces only the
        envelope's report data; ``quote_report_data`` replaces only the
        quote's REPORTDATA; ``break_rtmr`` flips a bit of that RTMR in the
        quote.  ``report_data_payload`` (``"1.8-v1"`` only) makes the stack
        ``dstack-pod``.  ``extended_key_usage`` is the leaf's (None: no
        extension; default serverAuth + clientAuth).  ``app_info`` adds the
        ``.1.9`` extension (an :class:`~tdxquote.ratls.AppInfo` or raw bytes).
        """
        if isinstance(key, bytes):
            key = cast("PrivateKey", serialization.load_pem_private_key(key, password=None))
        if key is None:
            key = self.leaf_key()
        if events is None:
            events = runtime_events()
        if boot_log is None:
            boot_log = boot_event_log()
        full_log = full_event_log(boot_log, events)
        rtmrs = [replay(e.digest for e in full_log if e.imr == i) for i in range(3)]
        rtmrs.append(replay(e.digest for e in events))
        if break_rtmr is not None:
            flipped = bytearray(rtmrs[break_rtmr])
            flipped[-1] ^= 1
            rtmrs[break_rtmr] = bytes(flipped)
        binding = expected_report_data(_spki(key if bind_key is None else bind_key))
        if mr_config_id is None:
            compose = next((e.payload for e in events if e.event == "compose-hash"), b"")
            mr_config_id = (b"\x01" + compose + bytes(48))[:48]
        body = td_report(
            body_type,
            rtmrs=rtmrs,
            report_data=binding if quote_report_data is None else quote_report_data,
            td_attributes=td_attributes,
            mr_config_id=mr_config_id,
            mr_td=DEFAULT_MR_TD if mr_td is None else mr_td,
        )
        quote = self.quote_forge.quote(body, **(quote_options or {}))
        if strip_log is None:
            strip_log = form != "1.1-legacy"
        embedded_log = strip_event_log(full_log) if strip_log else full_log

        extensions: list[tuple[str, bytes]] = []
        if app_id_extension is not None:
            extensions.append((OID_APP_ID, app_id_extension))
        if usage is not None:
            extensions.append((OID_CERT_USAGE, usage.encode()))
        attestation: bytes | None = None
        if form in ("1.1-legacy", "both"):
            extensions.append((OID_TDX_QUOTE, quote.to_bytes()))
            extensions.append((OID_EVENT_LOG, _log_json(embedded_log)))
        if form == "1.8-v1":
            attestation = encode_attestation_v1(
                quote=quote.to_bytes(),
                event_log=embedded_log,
                runtime_events=tuple(events),
                report_data=binding if envelope_report_data is None else envelope_report_data,
                config=config,
                report_data_payload=report_data_payload,
            )
            extensions.append((OID_ATTESTATION, attestation))
        elif report_data_payload is not None:
            raise ValueError("report_data_payload (dstack-pod) needs form='1.8-v1'")
        if form in ("1.8-v0", "both"):
            attestation = encode_attestation_v0(
                quote=quote.to_bytes(),
                event_log=embedded_log,
                runtime_events=tuple(events),
                report_data=binding if envelope_report_data is None else envelope_report_data,
                config=config,
            )
            extensions.append((OID_ATTESTATION, attestation))
        if app_info is not None:
            raw = app_info if isinstance(app_info, bytes) else encode_app_info(app_info)
            extensions.append((OID_APP_INFO, raw))

        chain = self._chain(
            key, issuer, subject, sans, extensions, not_before, not_after, extended_key_usage
        )
        return ForgedCertificate(
            chain=chain,
            key=key,
            quote=quote,
            attestation=attestation,
            event_log=full_log,
            runtime_events=tuple(events),
            scenario=self.quote_forge.scenario(quote),
        )

    def _chain(
        self,
        key: PrivateKey,
        issuer: Issuer,
        subject: str,
        sans: Sequence[str],
        extensions: list[tuple[str, bytes]],
        not_before: datetime,
        not_after: datetime,
        extended_key_usage: Sequence[x509.ObjectIdentifier] | None,
    ) -> tuple[x509.Certificate, ...]:
        cas: list[_Ca] = []
        if issuer == "ca":
            cas = [
                _ca("Dstack KMS CA", derive_key(self.seed, "ratls-ca"), None, not_before, not_after)
            ]
        elif issuer == "kms":
            root = _ca(
                "Dstack KMS CA",
                derive_key(self.seed, "ratls-kms-root"),
                None,
                not_before,
                not_after,
            )
            app = _ca(
                "Dstack App CA", derive_key(self.seed, "ratls-app-ca"), root, not_before, not_after
            )
            cas = [app, root]
        elif issuer != "self":
            raise ValueError(f"issuer must be 'self', 'ca' or 'kms', not {issuer!r}")
        signer_key: PrivateKey = key if not cas else cas[0].key
        issuer_name = _name(subject) if not cas else cas[0].cert.subject
        builder = (
            _builder(subject, issuer_name, key, not_before, not_after)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]), critical=False
            )
            .add_extension(_key_usage(ca=False), critical=True)
        )
        if extended_key_usage is not None:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(list(extended_key_usage)), critical=False
            )
        for oid, payload in extensions:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(
                    x509.ObjectIdentifier(oid), encode_octet_string(payload)
                ),
                critical=False,
            )
        leaf = _sign(builder, signer_key)
        return (leaf, *(ca.cert for ca in cas))


@lru_cache(maxsize=4)
def _default_forge(seed: bytes) -> RaTlsForge:
    return RaTlsForge.create(seed)


def server_certificate(
    key: PrivateKey | bytes | None = None,
    *,
    seed: bytes = DEFAULT_SEED,
    **options: Any,
) -> tuple[bytes, bytes]:
    """``(certificate chain PEM, private key PEM)`` of a forged RA-TLS server certificate.

    ``key`` is the server's private key (object or PEM; derived from ``seed``
    when None).  ``options`` go to :meth:`RaTlsForge.certificate`.  The quote
    verifies at :data:`~tdxquote.testing.pki.REFERENCE_TIME` against the
    synthetic PKI of ``seed``: :func:`server_scenario` gives its collateral.
    """
    made = _default_forge(seed).certificate(key, **options)
    return made.chain_pem, made.key_pem


def server_scenario(seed: bytes = DEFAULT_SEED) -> Scenario:
    """Collateral, trust root and time that verify the quotes of ``server_certificate(seed=seed)``.

    The collateral describes the synthetic platform, not one quote, so it
    verifies every certificate forged with this seed; ``now`` is
    :data:`~tdxquote.testing.pki.REFERENCE_TIME`.
    """
    forge = _default_forge(seed).quote_forge
    return forge.scenario(forge.quote(td_report()), now=REFERENCE_TIME)
