"""What a certificate carries and the verdict, as one JSON-ready dict (``cert --json``).

:func:`certificate_report` never raises for anything about the certificate:
whatever can be read is reported, and the first failure is the verdict's
error with its ``code``.  :func:`report_exit_code` maps a report to the CLI's
exit code and :func:`format_report` renders it as text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .._reports import SgxReport
from .._time import to_datetime
from .._x509_read import name_text, names
from ..errors import CollateralFetchError, QuoteParseError, VerificationError
from ..verification import Verifier
from ._attestation import parse_tdx_quote
from ._binding import expected_report_data
from ._certificate import RaTlsCertificate, certificate_from_parts
from ._chain import CertificateInput, chain_links_verify, load_chain
from ._errors import RaTlsFormatError, UnsupportedAttestationError
from ._extensions import (
    EXTENSION_NAMES,
    OID_ATTESTATION,
    OID_TDX_QUOTE,
    RaTlsExtensions,
    certificate_parts,
    extensions_of_parts,
)
from ._key_usage import Role, extended_key_usage, usage_names
from ._msgpack_v1 import is_msgpack_map
from ._verify import (
    SIMULATOR_WARNING,
    EventPins,
    MeasurementPin,
    attestation_checks,
    has_collateral,
    verify_certificate,
)

if TYPE_CHECKING:
    from ..collateral import Collateral
    from ..verification import Policy, TrustRoot

__all__ = ["certificate_report", "format_report", "report_exit_code"]

ITA_FETCH_ERROR_CODES = frozenset(
    {
        "ita_fetch_failed",
        "ita_deadline_exceeded",
        "ita_response_too_large",
        "ita_response_malformed",
        "ita_redirect_refused",
    }
)
"""The codes of ``tdxquote.ita``'s ``ItaFetchError``: Intel Trust Authority could not be asked."""

USAGE_ERROR_CODES = frozenset(
    {
        "parse_error",
        "no_collateral",
        "collateral_fetch_failed",
        "input_error",
        "usage_error",
        *ITA_FETCH_ERROR_CODES,
    }
)
"""Verdict error codes that mean unusable input or no verdict (exit 2), not a refusal (exit 1)."""

_MODE_DCAP = "dcap"
_MODE_SIMULATOR = "unsafe-simulator"


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _cert_summary(cert: x509.Certificate) -> dict[str, Any]:
    # load_chain has decoded every name already; this only keeps warnings quiet.
    read = names(cert, _name_error)
    return {
        "subject": name_text(read.subject),
        "issuer": name_text(read.issuer),
        "sha256": hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest(),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
    }


def _name_error(reason: str) -> RaTlsFormatError:
    return RaTlsFormatError(reason, offset=0, field="certificate")


def _empty() -> dict[str, Any]:
    return {
        "format": None,
        "sha256": None,
        "subject": None,
        "issuer": None,
        "not_before": None,
        "not_after": None,
        "chain": [],
        "chain_root": None,
        "chain_links_verify": None,
        "extensions": {},
        "usage": None,
        "issuer_app_id": None,
        "expected_report_data": None,
        "quote_report_data": None,
        "envelope_report_data": None,
        "report_data_binding": None,
        "rtmr_replay": {f"rtmr{i}": None for i in range(4)},
        "replayed_rtmrs": {f"rtmr{i}": None for i in range(4)},
        "quote": None,
        "mr_td": None,
        "mr_config_id": None,
        "td_attributes": None,
        "is_debug": None,
        "rtmrs": None,
        "app_id": None,
        "compose_hash": None,
        "instance_id": None,
        "os_image_hash": None,
        "key_provider": None,
        "runtime_events": None,
        "event_log_entries": None,
        "config": None,
        "stack": None,
        "report_data_payload": None,
        "extended_key_usage": None,
        "role": None,
        "mr_system": None,
        "mr_aggregated": None,
        "measurements": None,
        "device_id": None,
        "app_info": None,
        "verdict": None,
    }


def _failure(mode: str, error: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "attested": False, "mode": mode, "error": error}


def _parse_failure(mode: str, exc: QuoteParseError) -> dict[str, Any]:
    return _failure(
        mode,
        {
            "code": "parse_error",
            "field": exc.field,
            "offset": exc.offset,
            "message": str(exc),
            "checks_passed": [],
        },
    )


def _refusal(mode: str, error: VerificationError) -> dict[str, Any]:
    to_dict = getattr(error, "to_dict", None)
    payload: dict[str, Any] = to_dict() if callable(to_dict) else {"code": error.code}
    payload.setdefault("message", str(error))
    payload["checks_passed"] = list(error.checks_passed)
    return _failure(mode, payload)


def _text(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.hex()


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _fill_extensions(report: dict[str, Any], extensions: RaTlsExtensions) -> None:
    sizes = {
        "tdx_quote": extensions.tdx_quote,
        "event_log": extensions.event_log,
        "app_id": extensions.app_id,
        "attestation": extensions.attestation,
        "app_info": extensions.app_info,
    }
    for oid in extensions.oids:
        name = EXTENSION_NAMES[oid]
        entry: dict[str, Any] = {"name": name}
        if name == "usage":
            entry["value"] = extensions.usage
        else:
            payload = sizes[name]
            entry["size"] = None if payload is None else len(payload)
        report["extensions"][oid] = entry
    for oid in extensions.unknown:
        report["extensions"][oid] = {"name": None}
    report["usage"] = extensions.usage
    report["issuer_app_id"] = _hex(extensions.app_id)


def _fill_certificate(report: dict[str, Any], certificate: RaTlsCertificate) -> None:
    attestation = certificate.attestation
    body = certificate.body
    quote = certificate.quote
    events = certificate.events
    replay = certificate.replay
    report.update(
        format=attestation.format,
        quote_report_data=body.report_data.hex(),
        envelope_report_data=attestation.report_data.hex(),
        report_data_binding=certificate.binding.ok,
        rtmr_replay=replay.to_dict(),
        replayed_rtmrs={f"rtmr{i}": _hex(v) for i, v in enumerate(replay.replayed)},
        quote={
            "version": quote.version,
            "body_type": quote.body_type,
            "size": len(quote),
            "tee_tcb_svn": body.tee_tcb_svn.hex(),
        },
        mr_td=body.mr_td.hex(),
        mr_config_id=body.mr_config_id.hex(),
        td_attributes=body.td_attributes.hex(),
        is_debug=body.is_debug,
        rtmrs={f"rtmr{i}": v.hex() for i, v in enumerate(body.rtmrs)},
        app_id=_hex(events.app_id),
        compose_hash=_hex(events.compose_hash),
        instance_id=_hex(events.instance_id),
        os_image_hash=_hex(events.os_image_hash),
        key_provider=_text(events.key_provider),
        runtime_events=[{"event": e.event, "payload": e.payload.hex()} for e in events.events],
        event_log_entries=len(attestation.event_log),
        config=attestation.config,
    )
    _fill_dstack_identity(report, certificate)


def _fill_dstack_identity(report: dict[str, Any], certificate: RaTlsCertificate) -> None:
    """The V1 stack, dstack's derived measurements and the ``.1.9`` claim."""
    attestation = certificate.attestation
    measurements = certificate.measurements
    report.update(
        stack=attestation.stack,
        report_data_payload=attestation.report_data_payload,
        mr_system=measurements.mr_system.hex(),
        mr_aggregated=measurements.mr_aggregated.hex(),
        measurements=measurements.to_dict(),
        device_id=certificate.device_id.hex(),
    )
    if certificate.app_info is not None:
        consistency = certificate.app_info_consistency or {}
        report["app_info"] = {
            "claims": certificate.app_info.to_dict(),
            "matches_attestation": consistency,
            "consistent": all(v is not False for v in consistency.values()),
            "attested": False,  # set once the verdict is known
        }


def _settle_app_info(report: dict[str, Any]) -> None:
    """The ``.1.9`` claim counts as attested only when consistent and the verdict attests."""
    app_info = report.get("app_info")
    verdict = report.get("verdict") or {}
    if app_info is not None:
        app_info["attested"] = bool(
            app_info["consistent"] and verdict.get("ok") and verdict.get("attested")
        )


def _fill_legacy_quote(report: dict[str, Any], extensions: RaTlsExtensions, spki: bytes) -> None:
    """When a legacy certificate fails to decode, still report its quote and binding."""
    if extensions.attestation is not None or extensions.tdx_quote is None:
        return
    report["format"] = "1.1-legacy"
    try:
        quote = parse_tdx_quote(extensions.tdx_quote, field=OID_TDX_QUOTE)
    except (QuoteParseError, VerificationError):
        return
    body = quote.body
    assert not isinstance(body, SgxReport)
    report.update(
        quote_report_data=body.report_data.hex(),
        report_data_binding=body.report_data == expected_report_data(spki),
        mr_td=body.mr_td.hex(),
        mr_config_id=body.mr_config_id.hex(),
        td_attributes=body.td_attributes.hex(),
        is_debug=body.is_debug,
        rtmrs={f"rtmr{i}": v.hex() for i, v in enumerate(body.rtmrs)},
    )


def _unsupported_format(report: dict[str, Any], extensions: RaTlsExtensions | None) -> None:
    payload = None if extensions is None else extensions.attestation
    if payload:
        report["format"] = "1.8-v1" if is_msgpack_map(payload[0]) else "1.8-v0"
    elif report["extensions"].get(OID_ATTESTATION) is not None:
        report["format"] = "1.8-v0"


def _verdict(
    certificate: RaTlsCertificate,
    *,
    mode: str,
    now: datetime,
    collateral: Collateral | None,
    verifier: Verifier | None,
    policy: Policy | None,
    expect_events: EventPins | None,
    expect_mr_aggregated: MeasurementPin | None = None,
    role: Role | None = None,
) -> dict[str, Any]:
    simulator = mode == _MODE_SIMULATOR
    try:
        checks = attestation_checks(
            certificate,
            expect_events if simulator else None,
            expect_mr_aggregated=expect_mr_aggregated if simulator else None,
            role=role,
        )
    except VerificationError as error:
        return _refusal(mode, error)
    if mode == _MODE_SIMULATOR:
        return {
            "ok": True,
            "attested": False,
            "mode": mode,
            "warning": SIMULATOR_WARNING,
            "checks": list(checks),
        }
    if not has_collateral(verifier, collateral):
        return _failure(
            mode,
            {
                "code": "no_collateral",
                "message": "no collateral given: the quote was not verified",
                "checks_passed": list(checks),
            },
        )
    try:
        verified = verify_certificate(
            certificate,
            now=now,
            collateral=collateral,
            verifier=verifier,
            policy=policy,
            expect_events=expect_events,
            expect_mr_aggregated=expect_mr_aggregated,
            role=role,
        )
    except VerificationError as error:
        return _refusal(mode, error)
    except CollateralFetchError as error:
        return _failure(
            mode,
            {
                "code": "collateral_fetch_failed",
                "message": str(error),
                "url": error.url,
                "status": error.status,
                "checks_passed": list(checks),
            },
        )
    quote = verified.verified_quote
    return {
        "ok": True,
        "attested": True,
        "mode": mode,
        "at": _iso(now),
        "status": str(quote.status),
        "advisory_ids": list(quote.advisory_ids),
        "qv_result": {"name": quote.qv_result.name, "value": quote.qv_result.value},
        "collateral_expired": quote.collateral_expired,
        "checks": list(verified.checks),
    }


def certificate_report(
    cert_or_chain: CertificateInput,
    *,
    now: datetime | int | float | None = None,
    collateral: Collateral | None = None,
    verifier: Verifier | None = None,
    policy: Policy | None = None,
    trust_root: TrustRoot | x509.Certificate | bytes | str | None = None,
    expect_events: EventPins | None = None,
    unsafe_simulator: bool = False,
    expect_mr_aggregated: MeasurementPin | None = None,
    role: Role | None = None,
) -> dict[str, Any]:
    """Everything ``cert_or_chain`` carries and the verdict, JSON-ready (lowercase hex).

    Keys include ``format`` (``"1.8-v0"``, ``"1.1-legacy"``, ``"1.8-v1"`` or
    None), ``sha256`` (of the leaf's DER), ``report_data_binding``,
    ``rtmr_replay`` (``{"rtmr0": true|false|null, ...}``, null where the log
    cannot replay that register), ``mr_td``, ``app_id``, ``compose_hash``,
    ``instance_id`` and ``verdict``: ``{"ok": true, "attested": true,
    "status": ...}``, ``{"ok": true, "attested": false, "mode":
    "unsafe-simulator", "warning": ...}``, or ``{"ok": false, "error":
    {"code": ..., "message": ..., "checks_passed": [...]}}``.

    ``now`` defaults to the current time; without ``collateral`` (or a
    ``verifier`` with collateral or a collateral source) the verdict is
    ``no_collateral`` unless ``unsafe_simulator``; a source that cannot fetch
    gives ``collateral_fetch_failed``.  Never raises for a bad certificate.

    ``role`` (``"client"`` for ``cert --client``, or ``"server"``) adds the
    extended key usage check; ``expect_mr_aggregated`` pins dstack's
    ``mr_aggregated``.  ``mr_system``, ``mr_aggregated``, ``measurements``,
    ``device_id``, ``extended_key_usage`` and ``app_info`` (the ``.1.9``
    claim, its ``matches_attestation`` per field, ``attested``) are reported.
    """
    mode = _MODE_SIMULATOR if unsafe_simulator else _MODE_DCAP
    if unsafe_simulator and (collateral is not None or verifier is not None):
        raise TypeError("unsafe_simulator verifies nothing: do not pass collateral or a verifier")
    when = datetime.now(timezone.utc) if now is None else to_datetime(now)
    if verifier is not None and trust_root is not None:
        raise TypeError("pass trust_root to the Verifier, not with one")
    if verifier is None and not unsafe_simulator:
        verifier = Verifier(trust_root=trust_root)
    report = _empty()
    report["role"] = role
    extensions: RaTlsExtensions | None = None
    spki = b""
    try:
        chain = load_chain(cert_or_chain)
        leaf = chain[0]
        report.update(_cert_summary(leaf))
        report["chain"] = [_cert_summary(c) for c in chain]
        report["chain_root"] = _cert_summary(chain[-1])
        report["chain_links_verify"] = chain_links_verify(chain)
        report["extended_key_usage"] = usage_names(extended_key_usage(leaf))
        parts = certificate_parts(leaf)
        spki = parts.spki
        report["expected_report_data"] = expected_report_data(spki).hex()
        extensions = extensions_of_parts(parts)
        _fill_extensions(report, extensions)
        certificate = certificate_from_parts(chain, parts, extensions)
    except QuoteParseError as exc:
        if extensions is not None:
            _fill_legacy_quote(report, extensions, spki)
        report["verdict"] = _parse_failure(mode, exc)
        return report
    except VerificationError as error:
        if isinstance(error, UnsupportedAttestationError):
            _unsupported_format(report, extensions)
        report["verdict"] = _refusal(mode, error)
        return report
    _fill_certificate(report, certificate)
    report["verdict"] = _verdict(
        certificate,
        mode=mode,
        now=when,
        collateral=collateral,
        verifier=verifier,
        policy=policy,
        expect_events=expect_events,
        expect_mr_aggregated=expect_mr_aggregated,
        role=role,
    )
    _settle_app_info(report)
    return report


def report_exit_code(report: dict[str, Any]) -> int:
    """0 verified (or simulator checks held), 1 refused, 2 unusable input (parse, no collateral)."""
    verdict = report.get("verdict") or {}
    if verdict.get("ok"):
        return 0
    code = (verdict.get("error") or {}).get("code")
    return 2 if code in USAGE_ERROR_CODES else 1


def _mark(value: bool | None) -> str:
    return "n/a" if value is None else ("ok" if value else "MISMATCH")


def _line(label: str, value: object) -> str:
    return f"{label + ':':<16}{value}"


def format_report(report: dict[str, Any]) -> str:
    """The report as text lines (what ``tdxquote cert`` prints without ``--json``)."""
    lines: list[str] = []
    if report.get("sha256"):
        lines.append(_line("certificate", f"sha256 {report['sha256']}"))
        lines.append(_line("subject", report["subject"]))
        lines.append(_line("issuer", report["issuer"]))
        lines.append(_line("valid", f"{report['not_before']} .. {report['not_after']}"))
        chain: Sequence[dict[str, Any]] = report["chain"]
        root = report["chain_root"]
        links = "links verify" if report["chain_links_verify"] else "links do NOT verify"
        lines.append(
            _line(
                "chain",
                f"{len(chain)} certificate(s), root {root['subject']} ({links}; "
                "not a trust anchor)",
            )
        )
    for oid, entry in report["extensions"].items():
        detail = entry.get("value") if "value" in entry else f"{entry.get('size')} bytes"
        lines.append(_line("extension", f"{oid} {entry.get('name') or 'unknown'}: {detail}"))
    if report.get("format"):
        lines.append(_line("format", report["format"]))
    if report.get("report_data_binding") is not None:
        state = "ok" if report["report_data_binding"] else "MISMATCH"
        lines.append(_line("key binding", f'{state} (REPORTDATA = SHA-512("ratls-cert:" || SPKI))'))
    if report.get("mr_td"):
        replay = report["rtmr_replay"]
        lines.append(
            _line(
                "rtmr replay", "  ".join(f"RTMR{i} {_mark(replay[f'rtmr{i}'])}" for i in range(4))
            )
        )
        lines.append(_line("MRTD", report["mr_td"]))
        for i in range(4):
            lines.append(_line(f"RTMR{i}", report["rtmrs"][f"rtmr{i}"]))
        lines.append(_line("debug TD", "YES" if report["is_debug"] else "no"))
        for key, label in (
            ("app_id", "app id"),
            ("compose_hash", "compose hash"),
            ("instance_id", "instance id"),
            ("os_image_hash", "os image hash"),
            ("key_provider", "key provider"),
        ):
            if report.get(key) is not None:
                lines.append(_line(label, report[key]))
        names = ", ".join(e["event"] for e in report["runtime_events"] or [])
        lines.append(_line("runtime events", names or "none"))
        lines.extend(_identity_lines(report))
    lines.append(_verdict_line(report["verdict"] or {}))
    return "\n".join(lines)


def _identity_lines(report: dict[str, Any]) -> list[str]:
    """dstack's measurements, the key usage and the ``.1.9`` claim, as text lines."""
    lines: list[str] = []
    if report.get("stack") == "dstack-pod":
        lines.append(_line("stack", f"dstack-pod (payload {report['report_data_payload']!r})"))
    for key, label in (
        ("mr_system", "mr_system"),
        ("mr_aggregated", "mr_aggregated"),
        ("device_id", "device id"),
    ):
        if report.get(key) is not None:
            lines.append(_line(label, report[key]))
    usages = report.get("extended_key_usage")
    if usages is not None or report.get("role"):
        text = ", ".join(usages) if usages else "none"
        if report.get("role"):
            text += f" (checked for a TLS {report['role']})"
        lines.append(_line("key usage", text))
    app_info = report.get("app_info")
    if app_info is not None:
        differ = [k for k, ok in app_info["matches_attestation"].items() if ok is False]
        unchecked = [k for k, ok in app_info["matches_attestation"].items() if ok is None]
        if differ:
            state = "issuer claim, DIFFERS from the attestation: " + ", ".join(differ)
        elif app_info["attested"]:
            state = "issuer claim, matches the verified attestation"
        else:
            state = "issuer claim, matches the attestation (not attested: no verified quote)"
        if unchecked:
            state += f"; not recomputable: {', '.join(unchecked)}"
        encoding = app_info["claims"]["encoding"]
        lines.append(_line("app info", f"{state} (.1.9, {encoding})"))
    return lines


def _verdict_line(verdict: dict[str, Any]) -> str:
    if verdict.get("ok") and verdict.get("attested"):
        return _line(
            "verdict",
            f"VERIFIED {verdict['status']} ({verdict['qv_result']['name']})"
            + (
                f", advisories {', '.join(verdict['advisory_ids'])}"
                if verdict["advisory_ids"]
                else ""
            ),
        )
    if verdict.get("ok"):
        return _line(
            "verdict",
            "UNATTESTED (unsafe simulator mode): key binding and event log hold, "
            "but NOTHING WAS ATTESTED",
        )
    error = verdict.get("error") or {}
    outcome = "NOT VERIFIED" if error.get("code") in USAGE_ERROR_CODES else "REFUSED"
    return _line("verdict", f"{outcome} {error.get('code')}: {error.get('message')}")
