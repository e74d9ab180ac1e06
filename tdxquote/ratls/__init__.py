"""dstack RA-TLS certificates: decode, bind, replay, verify (see ``docs/ra-tls.md``).

A TeeSQL/dstack server presents a certificate whose extensions carry a TDX
attestation.  This package reads it (PEM or DER, one certificate or a chain,
leaf first), checks that the attestation binds the certificate's key
(REPORTDATA = SHA-512(``"ratls-cert:"`` || SubjectPublicKeyInfo)), replays
the event log into the quoted RTMRs, and verifies the quote with
:class:`tdxquote.Verifier`::

    from tdxquote import Collateral
    from tdxquote.ratls import verify_certificate

    verified = verify_certificate(peer_der_chain, collateral=collateral, now=now)
    verified.verified_quote.status, verified.events.compose_hash.hex()

:func:`certificate_report` is the same as one JSON-ready dict (``tdxquote
cert --json``); :class:`DcapVerifier` serves the TeeSQL clients' verifier
interface; :func:`verify_client_certificate` and :func:`client_auth_context`
serve the server side of mutual RA-TLS; :func:`connect` /
:func:`connect_async` open a psycopg connection pinned to the verified TLS
session; :func:`unsafe_check_simulator_certificate` is the dstack
simulator's development mode, which attests nothing.
"""

from __future__ import annotations

from ._app_info import APP_INFO_FIELDS, AppInfo, decode_app_info, encode_app_info
from ._attestation import Attestation, AttestationFormat
from ._binding import RATLS_CERT_TAG, KeyBinding, expected_report_data
from ._certificate import RaTlsCertificate, parse_certificate
from ._chain import CertificateInput, chain_links_verify, load_chain
from ._client import (
    client_auth_context,
    peer_certificates,
    verify_client_certificate,
    verify_client_connection,
)
from ._connect import RaTlsSession, connect, connect_async, open_session
from ._envelope import (
    ATTESTATION_QUOTE_VARIANTS,
    VERSIONED_ATTESTATION_V0,
    AttestationV0,
    decode_attestation,
    encode_attestation_v0,
)
from ._errors import (
    RATLS_ERROR_CODES,
    BindingMismatchError,
    BindingUnavailableError,
    KeyUsageError,
    NoAttestationError,
    RaTlsError,
    RaTlsFormatError,
    RtmrMismatchError,
    UnsupportedAttestationError,
)
from ._eventlog import (
    EVENT_LOG_VERSIONS,
    RUNTIME_EVENT_TYPE,
    RuntimeEvent,
    TdxEvent,
    parse_event_log_json,
    runtime_event_digest,
    runtime_event_preimage,
)
from ._events import DstackEvents
from ._extensions import (
    DSTACK_OID_ARC,
    OID_APP_ID,
    OID_APP_INFO,
    OID_ATTESTATION,
    OID_CERT_USAGE,
    OID_EVENT_LOG,
    OID_TDX_QUOTE,
    RaTlsExtensions,
    read_extensions,
)
from ._key_usage import Role, check_key_usage, extended_key_usage
from ._measurements import DstackMeasurements, MeasurementSet, dstack_measurements, qe_device_id
from ._msgpack_v1 import AttestationV1, decode_attestation_v1, encode_attestation_v1
from ._options import OPTION_SPELLINGS
from ._probe import (
    ALPN_POSTGRESQL,
    DEFAULT_PORT,
    PROBE_ERROR_CODES,
    PeerChain,
    ProbeError,
    fetch_chain,
)
from ._replay import RtmrReplay, replay, replay_rtmrs
from ._report import certificate_report, format_report, report_exit_code
from ._teesql import (
    DEFAULT_TCB_STATUSES,
    DcapVerifier,
    VerificationResult,
    VerifyOptions,
    extract_attested_certificate,
    extract_tdx_quote,
)
from ._verify import (
    EVENT_PAYLOAD_SIZES,
    EventPins,
    MeasurementPin,
    UnattestedWarning,
    VerifiedCertificate,
    attestation_checks,
    normalize_event_pins,
    unsafe_check_simulator_certificate,
    verify_certificate,
)

__all__ = [
    "APP_INFO_FIELDS",
    "EVENT_LOG_VERSIONS",
    "AppInfo",
    "AttestationV1",
    "DstackMeasurements",
    "KeyUsageError",
    "MeasurementPin",
    "MeasurementSet",
    "RaTlsSession",
    "Role",
    "check_key_usage",
    "client_auth_context",
    "connect",
    "connect_async",
    "decode_app_info",
    "decode_attestation_v1",
    "dstack_measurements",
    "encode_app_info",
    "encode_attestation_v1",
    "extended_key_usage",
    "open_session",
    "peer_certificates",
    "qe_device_id",
    "runtime_event_preimage",
    "verify_client_certificate",
    "verify_client_connection",
    "ALPN_POSTGRESQL",
    "DEFAULT_PORT",
    "PROBE_ERROR_CODES",
    "PeerChain",
    "ProbeError",
    "fetch_chain",
    "ATTESTATION_QUOTE_VARIANTS",
    "DEFAULT_TCB_STATUSES",
    "DSTACK_OID_ARC",
    "EVENT_PAYLOAD_SIZES",
    "OID_APP_ID",
    "OID_APP_INFO",
    "OID_ATTESTATION",
    "OID_CERT_USAGE",
    "OID_EVENT_LOG",
    "OID_TDX_QUOTE",
    "OPTION_SPELLINGS",
    "RATLS_CERT_TAG",
    "RATLS_ERROR_CODES",
    "RUNTIME_EVENT_TYPE",
    "VERSIONED_ATTESTATION_V0",
    "Attestation",
    "AttestationFormat",
    "AttestationV0",
    "BindingMismatchError",
    "BindingUnavailableError",
    "CertificateInput",
    "DcapVerifier",
    "DstackEvents",
    "EventPins",
    "KeyBinding",
    "NoAttestationError",
    "RaTlsCertificate",
    "RaTlsError",
    "RaTlsExtensions",
    "RaTlsFormatError",
    "RtmrMismatchError",
    "RtmrReplay",
    "RuntimeEvent",
    "TdxEvent",
    "UnattestedWarning",
    "UnsupportedAttestationError",
    "VerificationResult",
    "VerifiedCertificate",
    "VerifyOptions",
    "attestation_checks",
    "certificate_report",
    "chain_links_verify",
    "decode_attestation",
    "encode_attestation_v0",
    "expected_report_data",
    "extract_attested_certificate",
    "extract_tdx_quote",
    "format_report",
    "load_chain",
    "normalize_event_pins",
    "parse_certificate",
    "parse_event_log_json",
    "read_extensions",
    "replay",
    "replay_rtmrs",
    "report_exit_code",
    "runtime_event_digest",
    "unsafe_check_simulator_certificate",
    "verify_certificate",
]
