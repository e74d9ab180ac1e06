"""``tdxquote cert FILE``: what a dstack RA-TLS certificate carries, and its verdict.

The flags and the output are shared with the other commands that verify an
RA-TLS certificate: :func:`add_certificate_arguments` registers them,
:func:`report_options` turns them into :func:`tdxquote.ratls.certificate_report`
keyword arguments, and :func:`emit_report` prints a report and returns the
exit code (0 verified, or in simulator mode binding and replay hold; 1
refused; 2 unusable input).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from .collateral import (
    add_collateral_argument,
    add_source_arguments,
    collateral_from_args,
    trust_root_from_args,
)
from .common import CliError, display_name, print_error, read_input, report_error
from .ita_options import add_ita_arguments, ita_config_from_args, uses_ita
from .output import ErrorKind, error_object, write_envelope, zulu
from .verify import AT_HELP, add_policy_arguments, parse_time, policy_from_args

if TYPE_CHECKING:
    from ..ratls._chain import CertificateInput
    from .common import Subparsers

__all__ = [
    "add_certificate_arguments",
    "add_parser",
    "check_certificate_input",
    "emit_report",
    "make_report",
    "report_options",
    "run",
]

MAX_CERTIFICATE_INPUT = 16 << 20
"""Largest certificate file read (16 MiB; real RA-TLS chains are a few tens of KiB)."""

_NAMED_PINS = (
    ("expect_app_id", "app-id"),
    ("expect_compose_hash", "compose-hash"),
    ("expect_instance_id", "instance-id"),
    ("expect_os_image_hash", "os-image-hash"),
)


def add_certificate_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the flags every RA-TLS verifying command shares (all but the input).

    Collateral comes from ``--collateral FILE|DIR``, ``--pccs URL`` or
    ``--intel-pcs`` (with the cache and fetch options of ``verify``); without
    any, the certificate is shown and the verdict is ``no_collateral``.  The
    ``--ita-*`` flags have Intel Trust Authority appraise the quote instead.
    """
    sources = add_source_arguments(parser)
    add_collateral_argument(sources)
    add_ita_arguments(parser, sources)
    parser.add_argument("--at", metavar="TIME", help=f"verification time: {AT_HELP}; default: now")
    parser.add_argument(
        "--trust-root",
        metavar="PEM",
        help=(
            "trust this root CA instead of Intel's (a synthetic PKI): a file holding exactly "
            "one CA certificate, PEM or DER; default: Intel's root"
        ),
    )
    parser.add_argument(
        "--unsafe-simulator",
        action="store_true",
        help=(
            "dstack simulator development mode: check the key binding and the event log only; "
            "the quote is NOT verified and NOTHING is attested (default: off)"
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON (the tdxquote/1 document)"
    )
    add_policy_arguments(parser)
    pins = parser.add_argument_group("runtime events (attested through RTMR3)")
    for dest, name in _NAMED_PINS:
        pins.add_argument(
            "--" + dest.replace("_", "-"),
            dest=dest,
            action="append",
            default=[],
            metavar="HEX",
            help=f"the {name} event must be one of these (hex; repeatable; default: any)",
        )
    pins.add_argument(
        "--expect-mr-aggregated",
        action="append",
        default=[],
        metavar="HEX",
        help=(
            "dstack's mr_aggregated (as the guest agent reports it) must be one of these "
            "(64 hex digits; repeatable; default: any)"
        ),
    )
    pins.add_argument(
        "--expect-event",
        action="append",
        default=[],
        metavar="NAME=HEX",
        help=(
            "runtime event NAME must have payload HEX (repeatable; any of, per name; "
            "default: no pin)"
        ),
    )


def _pins(args: argparse.Namespace) -> dict[str, list[str]]:
    pins: dict[str, list[str]] = {}
    for dest, name in _NAMED_PINS:
        for value in getattr(args, dest):
            pins.setdefault(name, []).append(value)
    for spec in args.expect_event:
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise CliError(f"--expect-event {spec!r}: expected NAME=HEX", code="usage_error")
        pins.setdefault(name, []).append(value)
    from ..ratls import normalize_event_pins

    try:
        normalize_event_pins(pins)
    except ValueError as exc:
        raise CliError(f"bad runtime-event pin: {exc}", code="usage_error") from None
    return pins


def _hex_values(flag: str, values: list[str]) -> list[str]:
    for value in values:
        try:
            bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            raise CliError(f"{flag} {value!r}: not hex", code="usage_error") from None
    return values


def _uses_source(args: argparse.Namespace) -> bool:
    return bool(args.collateral or args.pccs or args.intel_pcs)


def report_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`make_report` from the flags.

    Those of :func:`tdxquote.ratls.certificate_report`, or with ``--ita-*``
    the ITA report's (``ita``: the validated configuration, ``no_cache``).
    Raises :class:`~tdxquote._cli.common.CliError` for unusable flags or files.
    """
    from ..verification import Policy, Verifier

    policy = policy_from_args(args)
    pins = _pins(args)
    options: dict[str, Any] = {"now": parse_time(args.at), "expect_events": pins or None}
    if args.expect_mr_aggregated:
        options["expect_mr_aggregated"] = _hex_values(
            "--expect-mr-aggregated", args.expect_mr_aggregated
        )
    if args.unsafe_simulator:
        if _uses_source(args) or uses_ita(args) or args.trust_root or policy != Policy():
            raise CliError(
                "--unsafe-simulator verifies no quote: it takes no collateral source, "
                "--ita-* flag, --trust-root or policy flag",
                code="usage_error",
            )
        options["unsafe_simulator"] = True
        return options
    if uses_ita(args):
        options.update(ita=ita_config_from_args(args), no_cache=args.no_cache, policy=policy)
        return options
    collateral, source = collateral_from_args(args)
    trust_root = trust_root_from_args(args)
    try:
        options["verifier"] = Verifier(trust_root=trust_root, policy=policy, source=source)
    except ValueError as exc:
        raise CliError(f"--trust-root: not a certificate: {exc}") from None
    options["collateral"] = collateral
    return options


_BAD_INPUT_CODES = frozenset({"parse_error", "input_error", "usage_error"})


def make_report(cert_or_chain: CertificateInput, options: dict[str, Any]) -> dict[str, Any]:
    """The certificate report for :func:`report_options`'s ``options``, with its ``backend``.

    ``backend`` is ``"dcap"``, ``"ita"`` (Intel Trust Authority appraised the
    quote), or None (``--unsafe-simulator``: nothing was verified).
    """
    options = dict(options)
    ita = options.pop("ita", None)
    if ita is None:
        from ..ratls import certificate_report

        report = certificate_report(cert_or_chain, **options)
        report["backend"] = None if options.get("unsafe_simulator") else "dcap"
        return report
    from ..ita._report import certificate_report as ita_report
    from .ita_options import ita_client

    try:
        with ita_client(ita, no_cache=options.pop("no_cache")) as client:
            report = ita_report(cert_or_chain, client=client, **options)
    except OSError as exc:
        raise CliError(f"ITA key cache: {exc.strerror or exc}") from None
    report["backend"] = "ita"
    return report


def _verdict_error(report: dict[str, Any], exit_code: int) -> dict[str, Any] | None:
    """The JSON contract's ``error`` for a report's verdict (None when it is ok).

    Exit 2 is ``bad_input`` for unusable input, else ``unavailable``: no
    collateral, or a service (PCS/PCCS, Intel Trust Authority) not asked.
    """
    verdict = report.get("verdict") or {}
    if verdict.get("ok"):
        return None
    found = verdict.get("error") or {}
    code = str(found.get("code"))
    kind: ErrorKind = (
        "refused"
        if exit_code == 1
        else ("bad_input" if code in _BAD_INPUT_CODES else "unavailable")
    )
    skip = {"code", "message", "field", "offset", "checks_passed"}
    return error_object(
        kind=kind,
        code=code,
        message=zulu(str(found.get("message", ""))),
        field=found.get("field"),
        offset=found.get("offset"),
        details={key: value for key, value in found.items() if key not in skip},
    )


def check_certificate_input(data: bytes, source: str) -> None:
    """Refuse input that is no certificate, saying what it is (a private key, a quote...).

    A quote carries its PCK chain as PEM blocks: read as a certificate file it
    would be that chain, so a quote is refused first.
    """
    from .._input import read_quote
    from .._sniff import describe_pem, pem_block_types
    from ..errors import QuoteParseError

    try:
        how = read_quote(data)[1]
    except QuoteParseError:
        pass
    else:
        raise CliError(
            f"{display_name(source)}: this is a quote ({how.describe()}), not a certificate: "
            "'tdxquote verify' verifies a quote",
            code="parse_error",
            field="certificate",
            offset=0,
        )
    types = pem_block_types(data[: 1 << 20])
    if types and not any("CERTIFICATE" in kind and "REQUEST" not in kind for kind in types):
        raise CliError(
            f"{display_name(source)}: this is {describe_pem(types)}, not a certificate",
            code="parse_error",
            field="certificate",
            offset=0,
        )


def _unread_message(report: dict[str, Any], data: bytes | None, source: str) -> str:
    """Why no certificate could be read, with what the bytes look like when known."""
    from .._sniff import describe_bytes

    error = (report.get("verdict") or {}).get("error") or {}
    what = None if data is None else describe_bytes(data)
    looks_like_certificates = what is not None and (
        what in ("a PEM certificate", "a DER certificate")
        or (what.startswith("a PEM file of") and what.endswith("certificates"))
    )
    if what is not None and not looks_like_certificates:
        return f"{display_name(source)}: not a certificate: this is {what}"
    return f"{display_name(source)}: {error.get('message')}"


def emit_report(
    report: dict[str, Any],
    *,
    as_json: bool,
    command: str = "cert",
    data: bytes | None = None,
    source: str = "-",
) -> int:
    """Print ``report`` (the JSON document or text) and return the exit code it calls for.

    When no certificate could be read at all (``report["sha256"]`` is None)
    there is no report to show: the error alone is printed (``result`` null).
    """
    from ..ratls import format_report, report_exit_code

    verdict = report.get("verdict") or {}
    if verdict.get("mode") == "unsafe-simulator":
        print(
            "tdxquote: WARNING: --unsafe-simulator: the quote's signature, PCK chain and TCB "
            "were NOT verified; NOTHING is attested",
            file=sys.stderr,
        )
    exit_code = report_exit_code(report)
    error = _verdict_error(report, exit_code)
    read = report.get("sha256") is not None
    if not read and error is not None:
        error["message"] = zulu(_unread_message(report, data, source))
    if as_json:
        write_envelope(command, report if read else None, error)
    elif read:
        print(zulu(format_report(report)))
        if report.get("backend") == "ita":
            print(_ita_line(report))
    else:
        print_error(error["message"] if error else "no certificate")
    return exit_code


def _ita_line(report: dict[str, Any]) -> str:
    """Which backend answered, in the report's text form."""
    token = (report.get("verdict") or {}).get("token")
    detail = f" (token {token['alg']}, key {token['kid']})" if token else ""
    return f"{'backend:':<16}Intel Trust Authority{detail}"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``cert``."""
    parser = subparsers.add_parser(
        "cert",
        help="show and verify a dstack RA-TLS certificate",
        description=(
            "Read a dstack RA-TLS certificate (PEM or DER, one certificate or a chain, leaf "
            "first), decode its attestation, check that it binds the certificate's key, "
            "replay its event log into the RTMRs, and verify the quote against the "
            "collateral, or have Intel Trust Authority appraise it (--ita-*). Exit 0 verified "
            "(or, with --unsafe-simulator, binding and replay hold), 1 refused, 2 bad input, "
            "usage, or no verdict (no collateral, a service that could not be asked)."
        ),
    )
    parser.add_argument(
        "certificate", metavar="FILE", help="certificate or chain (PEM or DER), or - for stdin"
    )
    parser.add_argument(
        "--client",
        action="store_true",
        help=(
            "the certificate is a mutual RA-TLS client's: its extended key usage must "
            "include clientAuth (checked as ratls_key_usage)"
        ),
    )
    add_certificate_arguments(parser)
    parser.set_defaults(_command="cert")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``cert``."""
    try:
        data = read_input(args.certificate, max_size=MAX_CERTIFICATE_INPUT)
        check_certificate_input(data, args.certificate)
        options = report_options(args)
    except CliError as error:
        return report_error(error, as_json=args.json, command="cert")
    if args.client:
        options["role"] = "client"
    try:
        report = make_report(data, options)
    except CliError as error:
        return report_error(error, as_json=args.json, command="cert")
    return emit_report(
        report, as_json=args.json, command="cert", data=data, source=args.certificate
    )
