"""``tdxquote probe HOST[:PORT]``: fetch a Postgres server's RA-TLS certificate and verify it.

The connection is the one TeeSQL clients make: the Postgres ``SSLRequest``
then TLS (``--direct-tls``: TLS first, ALPN ``postgresql``), with no CA
check, since the attestation inside the certificate is the trust.  The chain
the server sent then goes through exactly what ``tdxquote cert`` does, with
the same flags and the same report (plus a ``probe`` member describing the
connection).

Exit codes: 0 verified (or, with ``--unsafe-simulator``, binding and replay
hold), 1 refused, 2 bad input or usage, or no verdict (the server could not
be reached, would not do TLS, or collateral or ITA could not be had).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cert import add_certificate_arguments, emit_report, make_report, report_options
from .common import EXIT_OK, EXIT_USAGE, CliError, print_error, report_error
from .output import error_object, write_envelope, zulu

if TYPE_CHECKING:
    from ..ratls._probe import PeerChain, ProbeError
    from .common import Subparsers

__all__ = ["add_parser", "run"]

_DEFAULT_PORT = 5433
_DEFAULT_TIMEOUT = 10.0


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``probe``."""
    parser = subparsers.add_parser(
        "probe",
        help="fetch a Postgres server's RA-TLS certificate and verify it",
        description=(
            "Connect to a Postgres server as TeeSQL clients do (SSLRequest, then TLS with no "
            "CA check), take the certificate chain it presents and verify it as 'tdxquote "
            "cert' does (DCAP, or Intel Trust Authority with --ita-*). Exit 0 verified (or, "
            "with --unsafe-simulator, binding and replay hold), 1 refused, 2 bad input or "
            "usage, or no verdict (server unreachable, no TLS, no collateral, ITA not "
            "reachable)."
        ),
    )
    parser.add_argument(
        "target",
        metavar="HOST[:PORT]",
        help=f"the server (default port {_DEFAULT_PORT}; [ADDR]:PORT for IPv6)",
    )
    connection = parser.add_argument_group("connection")
    connection.add_argument(
        "--direct-tls",
        action="store_true",
        help=(
            "start TLS at once with ALPN 'postgresql' (PostgreSQL 17 sslnegotiation=direct; "
            "default: SSLRequest first)"
        ),
    )
    connection.add_argument(
        "--connect-timeout",
        type=float,
        default=_DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=(
            f"seconds for the whole connection, SSLRequest and TLS handshake (default "
            f"{_DEFAULT_TIMEOUT:g}; --fetch-timeout is the collateral fetch's)"
        ),
    )
    connection.add_argument(
        "--server-name", metavar="NAME", help="TLS SNI host name to send (default: HOST)"
    )
    saving = parser.add_argument_group("saving (only when the verdict is exit 0)")
    saving.add_argument(
        "--save-chain",
        metavar="FILE",
        help="write the chain the server sent (PEM, leaf first); default: not written",
    )
    saving.add_argument(
        "--save-root",
        metavar="FILE",
        help=(
            "write the chain's last certificate (PEM): libpq's sslrootcert for verify-ca/-full; "
            "default: not written"
        ),
    )
    add_certificate_arguments(parser)
    parser.set_defaults(_command="probe")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``probe``."""
    from ..ratls import report_exit_code
    from ..ratls._probe import ProbeError, fetch_chain, parse_target

    try:
        try:
            host, port = parse_target(args.target, _DEFAULT_PORT)
        except ValueError as exc:
            raise CliError(f"bad HOST[:PORT]: {exc}", code="usage_error") from None
        if not args.connect_timeout > 0:
            raise CliError("--connect-timeout must be positive", code="usage_error")
        # Flags and local files are checked before any connection is made.
        options = report_options(args)
    except CliError as error:
        return report_error(error, as_json=args.json, command="probe")
    try:
        chain = fetch_chain(
            host,
            port,
            direct_tls=args.direct_tls,
            timeout=args.connect_timeout,
            server_hostname=args.server_name,
        )
    except ProbeError as error:
        return _unreachable(error, as_json=args.json)
    try:
        report = make_report(list(chain.certificates), options)
    except CliError as error:
        return report_error(error, as_json=args.json, command="probe")
    report["probe"] = chain.to_dict()
    if report_exit_code(report) == EXIT_OK:
        try:
            _save(chain, args, report["probe"])
        except CliError as error:
            return report_error(error, as_json=args.json, command="probe")
    if not args.json:
        print(_connection_line(chain))
    code = emit_report(report, as_json=args.json, command="probe")
    if not args.json:
        for kind in ("chain", "root"):
            saved = report["probe"].get(f"saved_{kind}")
            if saved:
                print(f"{'saved ' + kind + ':':<16}{saved}")
    return code


def _connection_line(chain: PeerChain) -> str:
    mode = "direct TLS" if chain.direct_tls else "SSLRequest"
    alpn = f", ALPN {chain.alpn}" if chain.alpn else ""
    count = len(chain.certificates)
    return (
        f"{'server:':<16}{chain.host}:{chain.port} via {mode}, {chain.tls_version} "
        f"{chain.cipher}{alpn}, {count} certificate{'s' if count != 1 else ''}"
    )


def _save(chain: PeerChain, args: argparse.Namespace, probe: dict[str, Any]) -> None:
    for kind, target, data in (
        ("chain", args.save_chain, chain.chain_pem),
        ("root", args.save_root, chain.root_pem),
    ):
        if target is None:
            continue
        try:
            Path(target).write_bytes(data())
        except OSError as exc:
            raise CliError(f"{target}: cannot write: {exc.strerror or exc}") from None
        probe[f"saved_{kind}"] = target


def _unreachable(error: ProbeError, *, as_json: bool) -> int:
    """No certificate to verify: no verdict, exit 2."""
    if as_json:
        found = error.to_dict()
        details = {k: v for k, v in found.items() if k not in ("code", "message")}
        write_envelope(
            "probe",
            None,
            error_object(
                kind="unavailable",
                code=str(found.get("code", error.code)),
                message=zulu(str(found.get("message", error))),
                details=details,
            ),
        )
    else:
        print_error(f"{error} [{error.code}]")
    return EXIT_USAGE
