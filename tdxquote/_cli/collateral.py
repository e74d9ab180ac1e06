"""``tdxquote collateral fetch|show|serve``: an offline mirror of PCS / PCCS collateral.

Also the collateral-source options that ``verify`` and ``cert`` share
(:func:`add_source_arguments`, :func:`add_collateral_argument`,
:func:`pcs_source_from_args`, :func:`collateral_from_args`,
:func:`trust_root_from_args`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .common import EXIT_OK, EXIT_USAGE, CliError, print_error, read_input, report_error
from .output import error_object, write_envelope, zulu

if TYPE_CHECKING:
    from ..collateral import Collateral
    from ..collateral._source import ArtifactValidator, CollateralSource, PcsSource
    from ..collateral.pcs import Artifact, CollateralParameters, RetryNotice
    from ..errors import CollateralFetchError
    from .common import Subparsers

__all__ = [
    "add_collateral_argument",
    "checked_bundle",
    "add_parser",
    "add_source_arguments",
    "collateral_from_args",
    "fetch_failed",
    "pcs_source_from_args",
    "run",
    "trust_root_from_args",
]

_API_KEY_ENV = "TDXQUOTE_PCS_API_KEY"
_DEFAULT_PORT = 8081
_MAX_SECONDS = 86400.0
_MAX_RETRIES = 100


# --- options shared with verify -------------------------------------------------------


def add_source_arguments(parser: argparse.ArgumentParser) -> argparse._MutuallyExclusiveGroup:
    """``--pccs``/``--intel-pcs`` and the fetch and cache options; returns the source group."""
    group = parser.add_argument_group("collateral source")
    sources = group.add_mutually_exclusive_group()
    sources.add_argument(
        "--pccs",
        metavar="URL",
        help=(
            "fetch collateral from the PCCS at URL, e.g. https://pccs.example:8081 (its base: "
            "the /sgx/certification/v4/... paths are added); default: no PCCS"
        ),
    )
    sources.add_argument(
        "--intel-pcs",
        action="store_true",
        help="fetch collateral from Intel's PCS (api.trustedservices.intel.com; default: off)",
    )
    group.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="collateral cache directory (default: $TDXQUOTE_CACHE_DIR, else "
        "$XDG_CACHE_HOME/tdxquote/collateral)",
    )
    group.add_argument(
        "--no-cache", action="store_true", help="keep no collateral on disk (default: cache)"
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"Intel PCS subscription key (default: ${_API_KEY_ENV}, else none)",
    )
    group.add_argument(
        "--update",
        choices=("standard", "early"),
        help="TCB Info generation to fetch: %(choices)s (default: the server's, standard)",
    )
    group.add_argument(
        "--tcb-eval",
        type=int,
        metavar="N",
        help="fetch TCB evaluation data number N, an integer (default: the current one)",
    )
    group.add_argument(
        "--root-ca-crl-url",
        metavar="URL",
        help=(
            "fetch the Root CA CRL from this URL (default: Intel's CRL distribution point with "
            "--intel-pcs, the PCCS's /sgx/certification/v4/rootcacrl with --pccs)"
        ),
    )
    group.add_argument(
        "--fetch-timeout",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="for each connect and each read from the PCS/PCCS, in seconds (default 30)",
    )
    group.add_argument(
        "--deadline",
        type=_seconds,
        default=60.0,
        metavar="SECONDS",
        help=(
            "for each artifact's whole fetch, retries, redirects and waits included, "
            "in seconds (default 60)"
        ),
    )
    group.add_argument(
        "--fetch-retries",
        type=_retries,
        default=3,
        metavar="N",
        help="retries on 429, 5xx, timeouts and dropped connections (default 3)",
    )
    return sources


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > _MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {_MAX_SECONDS:g} seconds, not {text!r}"
        )
    return value


def _retries(text: str) -> int:
    """An integer from 0 to :data:`_MAX_RETRIES` (argparse type)."""
    if not text.strip().isdigit() or not text.isascii() or int(text) > _MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {_MAX_RETRIES}")
    return int(text)


def _retry_progress(notice: RetryNotice) -> None:
    print(f"tdxquote: {notice}", file=sys.stderr, flush=True)


def pcs_source_from_args(args: argparse.Namespace, *, default_intel: bool) -> PcsSource | None:
    """The source ``--pccs``/``--intel-pcs`` describe (Intel's PCS when ``default_intel``)."""
    from ..collateral._source import PcsSource
    from ..collateral.cache import CollateralCache
    from ..collateral.pcs import PcsClient

    if args.pccs is None and not args.intel_pcs and not default_intel:
        return None
    if args.no_cache and args.cache_dir:
        raise CliError("--no-cache and --cache-dir exclude each other", code="usage_error")
    api_key = args.api_key or os.environ.get(_API_KEY_ENV) or None
    try:
        client = PcsClient(
            args.pccs,
            root_ca_crl_url=args.root_ca_crl_url,
            api_key=api_key,
            update=args.update,
            tcb_evaluation_data_number=args.tcb_eval,
            timeout=args.fetch_timeout,
            deadline=args.deadline,
            retries=args.fetch_retries,
            # Progress for people watching; logs and pipes stay quiet.
            on_retry=_retry_progress if sys.stderr.isatty() else None,
        )
    except ValueError as exc:
        raise CliError(f"bad collateral source option: {exc}", code="usage_error") from None
    try:
        cache = CollateralCache.memory() if args.no_cache else CollateralCache(args.cache_dir)
    except OSError as exc:
        client.close()
        raise CliError(f"cache directory: {exc}") from None
    return PcsSource(client, cache)


def fetch_failed(error: CollateralFetchError, as_json: bool, *, command: str) -> int:
    """Report a fetch failure: no answer, exit 2 (the JSON error with ``as_json``)."""
    if as_json:
        details = {
            "url": error.url,
            "status": error.status,
            "request_id": error.request_id,
            "error_code": error.error_code,
        }
        write_envelope(
            command,
            None,
            error_object(
                kind="unavailable",
                code="collateral_fetch_failed",
                message=zulu(str(error)),
                details=details,
            ),
        )
    else:
        print_error(f"collateral fetch failed: {error}")
    return EXIT_USAGE


def add_collateral_argument(sources: argparse._MutuallyExclusiveGroup) -> None:
    """``--collateral FILE|DIR``, added to the source group :func:`add_source_arguments` returns."""
    sources.add_argument(
        "--collateral",
        metavar="FILE|DIR",
        help=(
            "collateral as a dcap-qvl QuoteCollateralV3 JSON file, or a folder of such "
            "bundles (*.json; other files are skipped with a note); default: none"
        ),
    )


def collateral_from_args(
    args: argparse.Namespace,
) -> tuple[Collateral | None, CollateralSource | None]:
    """``--collateral FILE`` gives a bundle; a directory or ``--pccs``/``--intel-pcs`` a source."""
    from ..collateral import Collateral
    from ..errors import VerificationError
    from .bundles import offline_source

    if args.collateral is None:
        return None, pcs_source_from_args(args, default_intel=False)
    try:
        if os.path.isdir(args.collateral):
            return None, offline_source(args.collateral)
        return Collateral.from_json(read_input(args.collateral)).decoded(), None
    except VerificationError as exc:
        raise CliError(f"{args.collateral}: {exc}", code=exc.code) from None
    except OSError as exc:
        raise CliError(f"{args.collateral}: cannot read: {exc.strerror or exc}") from None


def trust_root_from_args(args: argparse.Namespace) -> bytes | None:
    """The DER of ``--trust-root`` (exactly one CA certificate), or None (Intel's root)."""
    from .trust import read_trust_root

    return None if args.trust_root is None else read_trust_root(args.trust_root)


# --- the command ----------------------------------------------------------------------


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``collateral`` and its subcommands."""
    from .verify import AT_HELP

    parser = subparsers.add_parser(
        "collateral",
        help="fetch, inspect and serve collateral bundles (offline mirror)",
        description=(
            "Fetch a quote's collateral into a bundle on a connected host, inspect it, and "
            "serve bundles as a PCCS on loopback for air-gapped verification."
        ),
    )
    commands = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND")

    fetch = commands.add_parser(
        "fetch",
        help="fetch a quote's (or an FMSPC's) collateral into a bundle",
        description=(
            "Fetch TCB Info, QE identity, PCK CRL and Root CA CRL from Intel's PCS (default) "
            "or a PCCS, check their signatures, and write a QuoteCollateralV3 JSON bundle. "
            "A quote with an encrypted PPID instead of its PCK chain gets its PCK certificate "
            "first (Intel's PCS needs --api-key for it); the bundle records the chain. "
            "Exit 0 written, 2 bad input or fetch failure."
        ),
    )
    fetch.add_argument(
        "quote",
        nargs="?",
        metavar="QUOTE",
        help="quote file (binary, hex, base64 or JSON: detected); or give --fmspc instead",
    )
    fetch.add_argument(
        "--fmspc",
        metavar="HEX",
        help=(
            "the platform's FMSPC, 12 hex digits (e.g. 90c06f000000), instead of a quote "
            "(default: the quote's)"
        ),
    )
    fetch.add_argument(
        "--tee",
        choices=("tdx", "sgx"),
        default="tdx",
        help="with --fmspc: the TEE, %(choices)s (default: tdx)",
    )
    fetch.add_argument(
        "--ca",
        choices=("platform", "processor"),
        default="platform",
        help="with --fmspc: the PCK CA, %(choices)s (default: platform)",
    )
    fetch.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="bundle file to write, or - for standard output (required)",
    )
    fetch.add_argument(
        "--at",
        metavar="TIME",
        help=f"the collateral must be valid at TIME: {AT_HELP}; default: now",
    )
    fetch.add_argument(
        "--trust-root",
        metavar="PEM",
        help=(
            "trust this root CA instead of Intel's: a file holding exactly one CA "
            "certificate, PEM or DER; default: Intel's root"
        ),
    )
    fetch.add_argument(
        "--json",
        action="store_true",
        help="print what was fetched as JSON (the tdxquote/1 document; not with --out -)",
    )
    add_source_arguments(fetch)
    fetch.set_defaults(_collateral=_fetch, _command="collateral fetch")

    show = commands.add_parser(
        "show",
        help="what a bundle (or a directory of bundles) holds and when it is valid",
        description=(
            "Show each bundle's platform, artifacts, evaluation numbers and validity. In a "
            "folder, every *.json file is read; files that are not bundles are skipped with "
            "a note."
        ),
    )
    show.add_argument(
        "path", metavar="BUNDLE|DIR", help="a QuoteCollateralV3 JSON file, or a folder of them"
    )
    show.add_argument(
        "--at",
        metavar="TIME",
        help=f"say whether each bundle is valid at TIME: {AT_HELP}; default: now",
    )
    show.add_argument(
        "--json", action="store_true", help="print the bundles as JSON (the tdxquote/1 document)"
    )
    show.set_defaults(_collateral=_show, _command="collateral show")

    serve = commands.add_parser(
        "serve",
        help="serve bundles as a PCCS on loopback",
        description=(
            "Serve the bundles of a file or directory with the PCS v4 / PCCS routes on "
            "127.0.0.1 (verify with --pccs http://127.0.0.1:PORT). Stop with Ctrl-C."
        ),
    )
    serve.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="DIR|BUNDLE",
        help="the bundle file, or a folder of bundles, to serve (required)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=_DEFAULT_PORT,
        metavar="PORT",
        help=f"TCP port on 127.0.0.1, 0 for any free port (default {_DEFAULT_PORT})",
    )
    serve.add_argument(
        "--at",
        metavar="TIME",
        help=(
            "choose bundles valid at TIME for clients that do not say when: "
            + AT_HELP
            + " (default: now)"
        ),
    )
    serve.add_argument(
        "--verbose", action="store_true", help="log each request to stderr (default: quiet)"
    )
    serve.set_defaults(_collateral=_serve, _command="collateral serve")
    parser.set_defaults(_collateral=None, _parser=parser, _command="collateral")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``collateral``."""
    if args._collateral is None:
        args._parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args._collateral(args)
    except CliError as error:
        return report_error(error, as_json=getattr(args, "json", False), command=args._command)
    return code


def _fetch(args: argparse.Namespace) -> int:
    from ..collateral._source import ArtifactValidator
    from ..collateral.pcs import CollateralParameters, PckCertificateQuery
    from ..errors import CollateralFetchError, VerificationError
    from .common import load_quote
    from .verify import parse_time

    if (args.quote is None) == (args.fmspc is None):
        raise CliError("give a QUOTE or --fmspc (one of them)", code="usage_error")
    if args.json and args.out == "-":
        raise CliError(
            "--json prints its report on standard output, where --out - writes the bundle: "
            "give --out FILE",
            code="usage_error",
        )
    when = parse_time(args.at)
    quote = None
    params: CollateralParameters | None = None
    try:
        if args.quote is not None:
            quote = load_quote(args.quote).quote
            if quote.pck_chain_pem is None:
                # An encrypted PPID: the PCK certificate fetched first names FMSPC and CA.
                PckCertificateQuery.from_quote(quote)
            else:
                params = CollateralParameters.from_quote(quote)
        else:
            params = CollateralParameters(tee=args.tee, fmspc=args.fmspc, ca=args.ca)
    except ValueError as exc:
        raise CliError(f"--fmspc: {exc}", code="usage_error") from None
    except VerificationError as exc:
        raise CliError(f"{args.quote}: cannot tell which collateral it needs: {exc}") from None
    try:
        validator = ArtifactValidator(trust_root_from_args(args))
    except ValueError as exc:
        raise CliError(f"--trust-root: not a certificate: {exc}") from None
    source = pcs_source_from_args(args, default_intel=True)
    assert source is not None
    try:
        if params is None:
            assert quote is not None
            collateral = source.collateral_for(quote, now=when, validator=validator)
            params = CollateralParameters.from_quote(
                quote, pck_certificate_chain=collateral.raw.pck_certificate_chain
            )
        else:
            collateral = source.collateral(params, now=when, validator=validator)
        collateral = checked_bundle(collateral, params, when, validator)
    except CollateralFetchError as exc:
        return fetch_failed(exc, args.json, command="collateral fetch")
    except VerificationError as exc:
        raise CliError(f"{args.quote}: cannot tell which collateral it needs: {exc}") from None
    finally:
        source.close()
    text = collateral.to_json() + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        try:
            with open(args.out, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise CliError(f"{args.out}: cannot write: {exc.strerror or exc}") from None
    summary = describe(collateral, when)
    if args.out == "-":
        return EXIT_OK
    if args.json:
        write_envelope("collateral fetch", {"out": args.out, "bundle": summary})
    else:
        print(f"wrote {args.out}")
        _print_summary(summary)
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    from ..collateral import Collateral
    from ..errors import CollateralFormatError
    from .bundles import load_bundle_folder
    from .verify import iso_z, parse_time

    when = parse_time(args.at)
    skipped: list[tuple[Any, str]] = []
    if os.path.isdir(args.path):
        folder = load_bundle_folder(args.path)
        bundles, skipped = folder.bundles, folder.skipped
    else:
        try:
            bundles = [(args.path, Collateral.from_json(read_input(args.path)))]
        except CollateralFormatError as exc:
            raise CliError(
                f"{args.path}: not a collateral bundle: {exc.message}", code=exc.code
            ) from None
    described = [{"file": str(path), **describe(bundle, when)} for path, bundle in bundles]
    if args.json:
        result = {
            "path": args.path,
            "at": iso_z(when),
            "bundles": described,
            "skipped": [{"file": str(path), "reason": reason} for path, reason in skipped],
        }
        write_envelope("collateral show", result)
        return EXIT_OK
    for index, summary in enumerate(described):
        if index:
            print()
        print(summary["file"])
        _print_summary(summary)
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from ..errors import CollateralFormatError
    from ..testing.pccs import PccsServer
    from .verify import parse_time

    at = None if args.at is None else parse_time(args.at)
    try:
        server = PccsServer.from_path(args.source, port=args.port, at=at)
    except FileNotFoundError:
        raise CliError(f"{args.source}: no such file") from None
    except CollateralFormatError as exc:
        raise CliError(f"not a collateral bundle: {exc}", code=exc.code) from None
    except OSError as exc:
        raise CliError(f"cannot serve on port {args.port}: {exc.strerror or exc}") from None
    server.verbose = args.verbose
    routes = server.routes()
    platforms = sorted({" ".join(r[1:3]) for r in routes if r[0] == "tcb"})
    print(f"serving {', '.join(platforms) or 'nothing'} at {server.url}", flush=True)
    print(f"verify with: tdxquote verify QUOTE --pccs {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return EXIT_OK


# --- checking and describing a bundle -------------------------------------------------


def checked_bundle(
    collateral: Collateral,
    params: CollateralParameters,
    when: datetime,
    validator: ArtifactValidator,
) -> Collateral:
    """The bundle as it will be written, read back and checked as a whole at ``when``.

    It must be for ``params`` (TEE, FMSPC, PCK CA), every signature and
    issuer (and the PCK chain's, when the bundle carries one) must verify
    under ``validator``'s trust root, and every validity window
    (certificates, CRLs, TCB Info, QE identity) must hold ``when``: pieces
    fetched one by one could come from different dates.  Raises
    :class:`~tdxquote.errors.CollateralFetchError` saying what is wrong.
    """
    from ..collateral import Collateral
    from ..collateral._source import bundle_parameters, parse_response
    from ..collateral.pcs import PcsResponse
    from ..errors import CollateralFetchError, CollateralFormatError, VerificationError
    from ..testing.pccs import bundle_replies

    try:
        bundle = Collateral.from_json(collateral.to_json())
    except CollateralFormatError as exc:
        raise CollateralFetchError(f"the bundle assembled does not read back: {exc}") from exc
    found = bundle_parameters(bundle)
    if found != params:
        raise CollateralFetchError(
            f"the bundle assembled is for {found.tee.upper()} FMSPC {found.fmspc} "
            f"({found.ca} CA), asked {params.tee.upper()} FMSPC {params.fmspc} ({params.ca} CA)"
        )
    replies = bundle_replies(bundle)
    for artifact, kind in _REPLY_KINDS:
        reply = replies[kind]
        chain = reply.headers[0][1] if reply.headers else None
        try:
            validator.check(parse_response(PcsResponse(artifact, "bundle", reply.body, chain)))
        except VerificationError as exc:
            raise CollateralFetchError(
                f"the bundle assembled does not verify ({exc.code}): {exc}"
            ) from exc
    if bundle.raw.pck_certificate_chain is not None:
        try:
            validator.check_pck_chain(bundle.raw.pck_certificate_chain)
        except VerificationError as exc:
            raise CollateralFetchError(
                f"the bundle's PCK certificate chain does not verify ({exc.code}): {exc}"
            ) from exc
    early = [
        f"{what} valid from {_iso(start)}" for what, start, _ in _windows(bundle) if when < start
    ]
    late = [f"{what} expired {_iso(end)}" for what, _, end in _windows(bundle) if end <= when]
    if early or late:
        state = "not yet valid" if early else "expired"
        raise CollateralFetchError(
            f"the collateral fetched is {state} at {_iso(when)}: " + ", ".join(early + late)
        )
    return bundle


_REPLY_KINDS: tuple[tuple[Artifact, str], ...] = (
    ("tcb_info", "tcb"),
    ("qe_identity", "qe"),
    ("pck_crl", "pckcrl"),
    ("root_ca_crl", "rootcacrl"),
)


def _windows(collateral: Collateral) -> list[tuple[str, datetime, datetime]]:
    """Each item's validity window: ``(what, from, until)`` (until exclusive)."""
    tcb, identity = collateral.tcb_info, collateral.qe_identity
    items = [
        ("TCB Info", tcb.issue_date, tcb.next_update),
        ("QE identity", identity.issue_date, identity.next_update),
    ]
    for what, crl in (("PCK CRL", collateral.pck_crl), ("Root CA CRL", collateral.root_ca_crl)):
        next_update = crl.next_update_utc
        assert next_update is not None  # load_crl refuses CRLs without one
        items.append((what, crl.last_update_utc, next_update))
    chains = [
        ("TCB Info issuer chain", collateral.tcb_info_issuer_chain),
        ("QE identity issuer chain", collateral.qe_identity_issuer_chain),
        ("PCK CRL issuer chain", collateral.pck_crl_issuer_chain),
    ]
    if collateral.pck_certificate_chain is not None:
        chains.append(("PCK certificate chain", collateral.pck_certificate_chain))
    for what, chain in chains:
        for cert in chain:
            items.append((what, cert.not_valid_before_utc, cert.not_valid_after_utc))
    return items


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(collateral: Collateral, now: datetime) -> dict[str, Any]:
    """What a bundle holds and its validity window, as a JSON-able dict."""
    from cryptography import x509

    from ..collateral._source import bundle_expiry, bundle_parameters, bundle_start

    params = bundle_parameters(collateral)
    tcb, identity = collateral.tcb_info, collateral.qe_identity

    def crl(item: x509.CertificateRevocationList) -> dict[str, Any]:
        try:
            number: int | None = item.extensions.get_extension_for_class(
                x509.CRLNumber
            ).value.crl_number
        except x509.ExtensionNotFound:
            number = None
        next_update = item.next_update_utc
        return {
            "issuer": _crl_issuer_text(item),
            "this_update": _iso(item.last_update_utc),
            "next_update": None if next_update is None else _iso(next_update),
            "crl_number": number,
            "revoked": sum(1 for _ in item),
        }

    pck_crl, root_crl = crl(collateral.pck_crl), crl(collateral.root_ca_crl)
    start, end = bundle_start(collateral), bundle_expiry(collateral)
    state = "valid" if start <= now < end else ("expired" if now >= end else "not yet valid")
    return {
        "tee": params.tee,
        "fmspc": params.fmspc,
        "pce_id": tcb.pce_id.hex(),
        "ca": params.ca,
        "tcb_info": {
            "id": tcb.id,
            "version": tcb.version,
            "tcb_evaluation_data_number": tcb.tcb_evaluation_data_number,
            "issue_date": _iso(tcb.issue_date),
            "next_update": _iso(tcb.next_update),
            "tcb_levels": len(tcb.tcb_levels),
        },
        "qe_identity": {
            "id": identity.id,
            "version": identity.version,
            "tcb_evaluation_data_number": identity.tcb_evaluation_data_number,
            "issue_date": _iso(identity.issue_date),
            "next_update": _iso(identity.next_update),
        },
        "pck_crl": pck_crl,
        "root_ca_crl": root_crl,
        "signing_certificate_not_after": _iso(
            min(c.not_valid_after_utc for c in collateral.tcb_info_issuer_chain)
        ),
        "pck_certificate": _pck_certificate(collateral),
        "valid_from": _iso(start),
        "valid_until": _iso(end),
        "at": _iso(now),
        "state": state,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    tcb, identity = summary["tcb_info"], summary["qe_identity"]
    print(
        f"  platform:    {summary['tee'].upper()} FMSPC {summary['fmspc']}, "
        f"PCE ID {summary['pce_id']}, {summary['ca']} CA"
    )
    print(
        f"  TCB Info:    {tcb['id']} v{tcb['version']}, eval {tcb['tcb_evaluation_data_number']}, "
        f"{tcb['issue_date']} .. {tcb['next_update']}, {tcb['tcb_levels']} levels"
    )
    print(
        f"  QE identity: {identity['id']} v{identity['version']}, "
        f"eval {identity['tcb_evaluation_data_number']}, "
        f"{identity['issue_date']} .. {identity['next_update']}"
    )
    for name, label in (("pck_crl", "PCK CRL:    "), ("root_ca_crl", "Root CA CRL:")):
        item = summary[name]
        print(
            f"  {label} {item['this_update']} .. {item['next_update']}, "
            f"CRL number {item['crl_number']}, {item['revoked']} revoked"
        )
    print(f"  TCB Signing certificate valid until {summary['signing_certificate_not_after']}")
    pck = summary["pck_certificate"]
    if pck is not None and "error" in pck:
        print(f"  PCK cert:    unreadable: {pck['error']}")
    elif pck is not None:
        print(
            f"  PCK cert:    FMSPC {pck['fmspc']}, PCE ID {pck['pce_id']}, CPUSVN "
            f"{pck['cpu_svn']}, PCESVN {pck['pce_svn']}, valid until {pck['not_after']}"
        )
    print(
        f"  valid:       {summary['valid_from']} .. {summary['valid_until']} "
        f"({summary['state']} at {summary['at']})"
    )


def _pck_certificate(collateral: Collateral) -> dict[str, Any] | None:
    """The bundle's own PCK certificate (for quotes that carry none), or None."""
    from ..collateral.pcs import pck_chain_of
    from ..errors import VerificationError

    text = collateral.raw.pck_certificate_chain
    if text is None:
        return None
    try:
        chain, extension = pck_chain_of(text)
    except VerificationError as exc:
        return {"error": exc.message}
    return {
        "fmspc": extension.fmspc_hex,
        "pce_id": extension.pce_id.hex(),
        "cpu_svn": extension.cpu_svn.hex(),
        "pce_svn": extension.pce_svn,
        "not_after": _iso(min(c.not_valid_after_utc for c in chain)),
    }


def _crl_issuer_text(crl: Any) -> str:
    """A CRL's issuer for display; the guarded reader keeps a hostile name from raising."""
    from .._x509_read import crl_issuer, name_text
    from ..errors import CollateralFormatError

    def fail(reason: str) -> CollateralFormatError:
        return CollateralFormatError(f"a CRL of the bundle: {reason}", code="crl_format")

    return name_text(crl_issuer(crl, fail))
