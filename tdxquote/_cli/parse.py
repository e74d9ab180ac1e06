"""``tdxquote parse FILE|-``: a readable summary of one quote, or every field as JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .._json import BODY_KIND_OF_TYPE, CERTIFICATION_TYPE_NAMES
from ..schema import INTEL_QE_VENDOR_ID
from .common import EXIT_OK, CliError, load_quote, quote_to_dict, report_error
from .output import write_envelope

if TYPE_CHECKING:
    from .common import Subparsers

__all__ = ["add_parser", "format_summary", "run"]

_KEY_TYPES = {2: "ECDSA-256-with-P-256", 3: "ECDSA-384-with-P-384"}

# Report fields as the Intel documents spell them; reserved fields are left to --json.
_LABELS = {
    "tee_tcb_svn": "TEE_TCB_SVN",
    "mr_seam": "MRSEAM",
    "mr_signer_seam": "MRSIGNERSEAM",
    "seam_attributes": "SEAMATTRIBUTES",
    "td_attributes": "TDATTRIBUTES",
    "xfam": "XFAM",
    "mr_td": "MRTD",
    "mr_config_id": "MRCONFIGID",
    "mr_owner": "MROWNER",
    "mr_owner_config": "MROWNERCONFIG",
    "rtmr0": "RTMR0",
    "rtmr1": "RTMR1",
    "rtmr2": "RTMR2",
    "rtmr3": "RTMR3",
    "report_data": "REPORTDATA",
    "tee_tcb_svn2": "TEE_TCB_SVN_2",
    "mr_service_td": "MRSERVICETD",
    "cpu_svn": "CPUSVN",
    "misc_select": "MISCSELECT",
    "attributes": "ATTRIBUTES",
    "mr_enclave": "MRENCLAVE",
    "mr_signer": "MRSIGNER",
    "isv_prod_id": "ISVPRODID",
    "isv_svn": "ISVSVN",
}
_FLAG_FIELDS = {
    "td_attributes": "td_attributes_flags",
    "xfam": "xfam_flags",
    "attributes": "attributes_flags",
}
_DEBUG_FIELDS = {"td_attributes", "attributes"}
_DERIVED = {"td_attributes_flags", "xfam_flags", "attributes_flags", "debug"}
_BODY_LABELS = {kind.key: kind.label for kind in BODY_KIND_OF_TYPE.values()}
_WIDTH = 16


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``parse`` to the CLI."""
    parser = subparsers.add_parser(
        "parse",
        help="print a readable summary of a quote (or every field with --json)",
        description=(
            "Parse one DCAP quote (v3, v4 or v5) and print a summary, or every field as JSON "
            "with --json. The quote may be raw bytes, hex, base64 (standard or URL-safe), a "
            "JSON byte array, or a JSON document holding one of them (dstack's GetQuote "
            'response, {"tdx": {"quote": ...}}, ...): the form is detected and reported. '
            "Exit 0 when the quote parsed, 2 otherwise."
        ),
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        help="the quote file, or - for standard input (binary, hex, base64 or JSON: detected)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print every field as JSON (the tdxquote/1 document; bytes as lowercase hex)",
    )
    parser.set_defaults(_command="parse")
    return parser


def run(args: argparse.Namespace) -> int:
    """Parse ``args.file``; exit 0 when it parsed, 2 when it is unreadable or not a quote."""
    try:
        loaded = load_quote(args.file)
    except CliError as error:
        return report_error(error, as_json=args.json, command="parse")
    fields = quote_to_dict(loaded.quote)
    if args.json:
        write_envelope("parse", {"input": loaded.input.to_dict(), "quote": fields})
    else:
        print(format_summary(fields, input_format=loaded.input.describe()))
    return EXIT_OK


def _line(label: str, value: object, indent: int = 2) -> str:
    return f"{' ' * indent}{label:<{_WIDTH}} {value}"


def _flags(names: list[str]) -> str:
    return " ".join(names) if names else "(none)"


def _report_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, value in report.items():
        if name in _DERIVED or name.startswith("reserved"):
            continue
        text = str(value)
        flag_field = _FLAG_FIELDS.get(name)
        if flag_field is not None:
            text += f" = {_flags(report[flag_field])}"
            if name in _DEBUG_FIELDS:
                text += f" (debug: {'YES' if report['debug'] else 'no'})"
        lines.append(_line(_LABELS.get(name, name), text))
    return lines


def format_summary(fields: dict[str, Any], *, input_format: str) -> str:
    """The readable summary of a quote from its :func:`quote_to_dict` fields.

    ``input_format`` says how the quote was handed over (``binary``, ``base64
    in JSON member quote``, ...).
    """
    body = _BODY_LABELS[fields["body_kind"]]
    header = fields["header"]
    vendor = header["qe_vendor_id"]
    descriptor = fields["body_descriptor"]
    body_type = "" if descriptor is None else f", body type {descriptor['body_type']}"
    lines = [
        f"Quote v{fields['version']} {fields['tee']} ({body}{body_type}), "
        f"{fields['size']} bytes, read as {input_format}",
        "Header",
        _line(
            "key type",
            f"{header['attestation_key_type']} "
            f"({_KEY_TYPES.get(header['attestation_key_type'], 'unknown')})",
        ),
        _line("TEE type", f"0x{header['tee_type']:08x}"),
        _line("QE SVN", header["qe_svn"]),
        _line("PCE SVN", header["pce_svn"]),
        _line("QE vendor ID", vendor + (" (Intel)" if vendor == INTEL_QE_VENDOR_ID.hex() else "")),
        _line("user data", header["user_data"]),
        f"Body: {body} at offset {fields['body_offset']}",
        *_report_lines(fields["body"]),
        f"Signature data: {fields['signed_data_size']} bytes "
        f"(the signature covers the first {fields['signed_size']} bytes)",
        _line("signature", fields["signature"]),
        _line("attestation key", fields["attestation_key"]),
        _line("QE auth data", f"{len(fields['qe_auth_data']) // 2} bytes"),
    ]
    cert = fields["certification_data"]
    cert_type = fields["qe_report_certification_type"]
    if cert_type is not None:
        lines.append(_line("outer cert data", f"type {cert_type} ({CERTIFICATION_TYPE_NAMES[6]})"))
    lines.append(
        _line("cert data", f"type {cert['type']} ({cert['type_name']}), {cert['size']} bytes")
    )
    identifier = cert["pck_identifier"]
    if identifier is not None:
        pce_id = identifier["pce_id"]
        ppid = (
            f"{len(identifier['ppid']) // 2} bytes, encrypted"
            if identifier["encrypted"]
            else identifier["ppid"]
        )
        lines += [
            _line("  PPID", ppid),
            _line("  CPUSVN", identifier["cpu_svn"]),
            _line("  PCESVN", identifier["pce_svn"]),
            _line("  PCE-ID", "(absent)" if pce_id is None else pce_id),
        ]
    lines.append("QE report")
    lines.extend(_report_lines(fields["qe_report"]))
    lines.extend(_pck_lines(fields))
    trailing = fields["trailing_size"]
    zero = trailing and not fields["trailing_bytes"].strip("0")
    lines.append(f"Trailing bytes: {trailing}" + (" (all zero)" if zero else ""))
    return "\n".join(lines)


def _pck_lines(fields: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    error = fields["pck_error"]
    ext = fields["pck_extension"]
    chain = fields["pck_chain"]
    if ext is not None:
        tcb = ext["tcb"]
        lines += [
            "PCK certificate SGX extension",
            _line("FMSPC", ext["fmspc"].upper()),
            _line("PCE-ID", ext["pce_id"]),
            _line("PCESVN", tcb["pce_svn"]),
            _line("CPUSVN", tcb["cpu_svn"]),
            _line("TCB components", " ".join(str(svn) for svn in tcb["sgx_components"])),
            _line("SGX type", ext["sgx_type"]),
            _line("issuing CA", ext["ca_type"]),
            _line("PPID", ext["ppid"]),
        ]
    if chain is not None:
        lines.append(f"PCK certificate chain: {len(chain)} certificates, leaf first")
        for index, cert in enumerate(chain):
            lines.append(f"  [{index}] {cert['subject']}")
            lines.append(f"      valid {cert['not_before']} to {cert['not_after']}")
    if error is not None:
        if error["field"].startswith("certification_data"):
            part = "identifier (PPID, CPUSVN, PCESVN, PCE-ID)"
        else:
            part = "certificate chain" if chain is None else "certificate SGX extension"
        lines.append(
            f"PCK {part} not decoded ({error['field']} at offset {error['offset']}): "
            f"{error['message']}"
        )
    return lines
