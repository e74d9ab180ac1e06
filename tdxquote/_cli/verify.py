"""``tdxquote verify QUOTE --collateral FILE|--pccs URL|--intel-pcs|--ita-*``: the verdict.

DCAP (a collateral source) or Intel Trust Authority (``--ita-*``) gives the
verdict; the output says which (``backend``), in the same JSON contract.
"""

from __future__ import annotations

import argparse
import math
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .collateral import (
    add_collateral_argument,
    add_source_arguments,
    collateral_from_args,
    fetch_failed,
    trust_root_from_args,
)
from .common import EXIT_FAILED, EXIT_OK, CliError, load_quote, report_error
from .ita_options import add_ita_arguments, uses_ita
from .output import error_object, write_envelope, zulu

if TYPE_CHECKING:
    from .._quote import Quote
    from ..collateral import Collateral
    from ..errors import VerificationError
    from ..verification import Policy, VerifiedQuote, Verifier
    from .common import ParsedInput, Subparsers

Backend = str  # "dcap" or "ita"

__all__ = [
    "AT_HELP",
    "MAX_GRACE_DAYS",
    "TCB_STATUSES",
    "add_parser",
    "add_policy_arguments",
    "grace_days",
    "iso_z",
    "parse_time",
    "policy_from_args",
    "run",
]

_EXIT_REFUSED = EXIT_FAILED

MAX_GRACE_DAYS = 36_500
"""Largest ``--platform-grace-days`` / ``--qe-grace-days`` (100 years)."""


def grace_days(text: str) -> float:
    """argparse type of the grace flags: a finite number of days, 0 to MAX_GRACE_DAYS."""
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not math.isfinite(days) or not 0 <= days <= MAX_GRACE_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number of days from 0 to {MAX_GRACE_DAYS}"
        )
    return days


TCB_STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "Revoked",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
)
"""Every TCB status name (``tdxquote.TcbStatus`` values; a test keeps them equal).

Spelled out here so that ``--help`` does not import the collateral models.
"""

AT_HELP = (
    "unix seconds (1751624191) or RFC 3339 / ISO 8601 (2025-07-04T10:16:31Z; "
    "a time without a zone is UTC)"
)
"""What ``--at TIME`` accepts (the help of every command that takes it)."""


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """The policy flags shared by every command that verifies."""
    group = parser.add_argument_group(
        "policy (what to accept beyond Intel's verdict; the default accepts only UpToDate)"
    )
    group.add_argument(
        "--allow-status",
        action="append",
        default=[],
        choices=(*TCB_STATUSES, "any"),
        metavar="STATUS",
        help=(
            "accept this TCB status too (repeatable; 'any' accepts every status); one of: "
            "%(choices)s; default: UpToDate only"
        ),
    )
    group.add_argument(
        "--reject-advisory",
        action="append",
        default=[],
        metavar="ID",
        help=(
            "refuse a quote whose TCB carries this advisory, e.g. INTEL-SA-00615 "
            "(repeatable; default: none refused)"
        ),
    )
    group.add_argument(
        "--platform-grace-days",
        type=grace_days,
        metavar="DAYS",
        help=(
            "accept an OutOfDate platform TCB until DAYS days (a number, fractions allowed) "
            "after its TCB date (0 to 36500); default: no grace"
        ),
    )
    group.add_argument(
        "--qe-grace-days",
        type=grace_days,
        metavar="DAYS",
        help=(
            "accept an OutOfDate QE until DAYS days (a number, 0 to 36500) after its TCB "
            "date; default: no grace"
        ),
    )
    group.add_argument(
        "--min-tcb-eval",
        type=int,
        metavar="N",
        help=(
            "refuse collateral whose TCB evaluation data number (an integer, e.g. 17) is "
            "below N; default: no minimum"
        ),
    )
    group.add_argument(
        "--expect-mr-td",
        action="append",
        default=[],
        metavar="HEX",
        help="MRTD must equal one of these (96 hex digits; repeatable; default: any MRTD)",
    )
    group.add_argument(
        "--expect-rtmr",
        action="append",
        default=[],
        metavar="I:HEX",
        help=(
            "RTMR I (0 to 3) must equal HEX (96 hex digits), e.g. 3:ab12...; repeatable, "
            "one per index; default: any"
        ),
    )
    group.add_argument(
        "--expect-report-data",
        metavar="HEX",
        help="REPORTDATA must equal HEX (128 hex digits); default: any",
    )
    group.add_argument(
        "--disallow-dynamic-platform",
        action="store_true",
        help="refuse a platform whose PCK says it is dynamic (default: allowed)",
    )
    group.add_argument(
        "--disallow-cached-keys",
        action="store_true",
        help="refuse a platform whose PCK says its keys are cached (default: allowed)",
    )
    group.add_argument(
        "--disallow-smt",
        action="store_true",
        help="refuse a platform with SMT (hyper-threading) enabled (default: allowed)",
    )
    group.add_argument(
        "--unsafe-allow-debug",
        action="store_true",
        help="accept debug TDs and enclaves: their memory is NOT confidential (default: refused)",
    )
    group.add_argument(
        "--unsafe-allow-expired-collateral",
        action="store_true",
        help="accept collateral outside its validity window (default: refused)",
    )


def policy_from_args(args: argparse.Namespace) -> Policy:
    """Build the :class:`~tdxquote.Policy` the flags describe; CliError on a bad value."""
    from ..collateral import TcbStatus
    from ..verification import Policy

    policy = Policy()
    try:
        if args.allow_status:
            names = args.allow_status
            if not set(names) <= {*TCB_STATUSES, "any"}:  # argparse checks; callers may not
                raise ValueError(f"--allow-status: choose from {', '.join(TCB_STATUSES)}, any")
            statuses = list(TcbStatus) if "any" in names else [TcbStatus(s) for s in names]
            policy = policy.allow_statuses(*statuses)
        if args.reject_advisory:
            policy = policy.reject_advisories(*args.reject_advisory)
        if args.platform_grace_days is not None:
            policy = policy.platform_grace_period(timedelta(days=args.platform_grace_days))
        if args.qe_grace_days is not None:
            policy = policy.qe_grace_period(timedelta(days=args.qe_grace_days))
        if args.min_tcb_eval is not None:
            policy = policy.min_tcb_evaluation_data_number(args.min_tcb_eval)
        if args.expect_mr_td:
            policy = policy.expect_mr_td(*args.expect_mr_td)
        for spec in args.expect_rtmr:
            index, colon, value = spec.partition(":")
            if not colon or not value or not index.isdecimal():
                raise ValueError(f"--expect-rtmr {spec!r}: expected I:HEX, I from 0 to 3")
            policy = policy.expect_rtmr(int(index), value)
        if args.expect_report_data:
            policy = policy.expect_report_data(args.expect_report_data)
        if args.disallow_dynamic_platform:
            policy = policy.allow_dynamic_platform(False)
        if args.disallow_cached_keys:
            policy = policy.allow_cached_keys(False)
        if args.disallow_smt:
            policy = policy.allow_smt(False)
        if args.unsafe_allow_debug:
            policy = policy.unsafe_allow_debug()
        if args.unsafe_allow_expired_collateral:
            policy = policy.unsafe_allow_expired_collateral()
    except ValueError as exc:
        raise CliError(f"bad policy option: {exc}", code="usage_error") from None
    return policy


def parse_time(text: str | None) -> datetime:
    """``--at``: unix seconds or RFC 3339 / ISO 8601 (``Z`` allowed); now when absent."""
    if text is None:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):  # not a number, or out of datetime's range
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--at {text!r}: expected {AT_HELP}", code="usage_error") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def iso_z(when: datetime) -> str:
    """``when`` as RFC 3339 UTC with ``Z`` (seconds, and microseconds when not zero)."""
    return zulu(when.astimezone(timezone.utc).isoformat())


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``verify``."""
    parser = subparsers.add_parser(
        "verify",
        help="verify a quote against its collateral",
        description=(
            "Verify a quote end to end as Intel's QVL does, then apply the policy. The quote "
            "may be raw bytes, hex, base64 or JSON (detected). Collateral comes from a bundle "
            "(--collateral), a PCCS (--pccs) or Intel's PCS (--intel-pcs); or Intel Trust "
            "Authority appraises a TDX quote instead (--ita-region or --ita-api-url and "
            "--ita-portal-url), its signed token checked against the quote. "
            "Exit 0 verified and accepted, 1 refused, 2 bad input, usage, or collateral (or "
            "ITA) that could not be had."
        ),
    )
    parser.add_argument(
        "quote",
        metavar="QUOTE",
        help="quote file (binary, hex, base64 or JSON: detected), or - for standard input",
    )
    sources = add_source_arguments(parser)
    sources.required = True
    add_collateral_argument(sources)
    add_ita_arguments(parser, sources)
    parser.add_argument("--at", metavar="TIME", help=f"verification time: {AT_HELP}; default: now")
    parser.add_argument(
        "--trust-root",
        metavar="PEM",
        help=(
            "trust this root CA instead of Intel's SGX Root CA: a file holding exactly one CA "
            "certificate, PEM or DER; default: Intel's root, built in"
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print the verdict as JSON (the tdxquote/1 document)"
    )
    add_policy_arguments(parser)
    parser.set_defaults(_command="verify")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``verify``; unusable input is reported (as JSON with ``--json``) with exit 2."""
    try:
        return _run(args)
    except CliError as error:
        return report_error(error, as_json=args.json, command="verify")


def _run(args: argparse.Namespace) -> int:
    from ..errors import CollateralFetchError, VerificationError
    from ..verification import Verifier

    loaded = load_quote(args.quote)
    if uses_ita(args):
        return _run_ita(args, loaded)
    collateral, source = collateral_from_args(args)
    trust_root = trust_root_from_args(args)
    policy = policy_from_args(args)
    try:
        verifier = Verifier(trust_root=trust_root, policy=policy, source=source)
    except ValueError as exc:
        raise CliError(f"--trust-root: not a certificate: {exc}") from None
    when = parse_time(args.at)
    try:
        verified = verifier.verify(loaded.quote, collateral, now=when)
    except VerificationError as error:
        reached = _verdict_reached(verifier, loaded.quote, collateral, when, error)
        return _refused(loaded, when, error, reached, "dcap", as_json=args.json)
    except CollateralFetchError as error:
        return fetch_failed(error, args.json, command="verify")
    return _accepted(loaded, when, verified, "dcap", as_json=args.json)


def _run_ita(args: argparse.Namespace, loaded: ParsedInput) -> int:
    """Have Intel Trust Authority appraise the quote; the same output, backend ``ita``."""
    from ..errors import ItaFetchError, VerificationError
    from .ita_options import ita_client_from_args, ita_fetch_failed

    if not loaded.quote.is_tdx:
        raise CliError(
            "Intel Trust Authority appraises TDX quotes only: verify this SGX quote with a "
            "collateral source (--collateral, --pccs or --intel-pcs)",
            code="usage_error",
        )
    policy = policy_from_args(args)
    when = parse_time(args.at)
    with ita_client_from_args(args) as client:
        try:
            # ITA's verdict with every status allowed, then the policy here: a refused quote
            # keeps the verdict it reached, with one appraisal.
            verified = client.appraise(loaded.quote, now=when, policy=_permissive())
        except ItaFetchError as error:
            return ita_fetch_failed(error, args.json, command="verify")
        except VerificationError as error:
            return _refused(loaded, when, error, None, "ita", as_json=args.json)
        except OSError as exc:
            raise CliError(f"ITA key cache: {exc.strerror or exc}") from None
    try:
        policy.apply(verified, when)
    except VerificationError as error:
        error.checks_passed = verified.checks
        return _refused(loaded, when, error, verified, "ita", as_json=args.json)
    return _accepted(loaded, when, verified, "ita", as_json=args.json)


def _permissive() -> Policy:
    """A policy that accepts Intel's verdict whatever it is: the checks alone decide."""
    from ..verification import Policy

    return (
        Policy()
        .allow_statuses(*TCB_STATUSES)
        .unsafe_allow_debug()
        .unsafe_allow_expired_collateral()
    )


def _accepted(
    loaded: ParsedInput, when: datetime, verified: VerifiedQuote, backend: Backend, *, as_json: bool
) -> int:
    checks = [*verified.checks, "policy"]
    result = _result(loaded, when, verified, backend, accepted=True, checks=checks)
    if as_json:
        write_envelope("verify", result)
        return EXIT_OK
    print(f"verdict: {verified.status} ({verified.qv_result.name})")
    print(f"at: {result['at']}")
    for check in result["checks_passed"]:
        print(f"  pass  {check}")
    _print_verdict_details(verified)
    _print_backend(verified, backend)
    print(f"input: {loaded.input.describe()}")
    return EXIT_OK


def _is_ita(verified: VerifiedQuote | None) -> bool:
    # The attribute, not isinstance: the DCAP path does not import tdxquote.ita.
    return getattr(verified, "backend", None) == "ita"


def _print_backend(verified: VerifiedQuote | None, backend: Backend) -> None:
    if backend == "dcap":
        print("backend: DCAP (Intel's collateral, verified locally)")
        return
    line = "backend: Intel Trust Authority"
    if _is_ita(verified):
        from ..ita import ItaVerifiedQuote

        assert isinstance(verified, ItaVerifiedQuote)
        token = verified.token
        line += f" (token {token.alg}, key {token.kid}, issued {iso_z(token.issued_at)})"
    print(line)


_POLICY_STAGE_CODES = frozenset({"policy", "collateral_expired"})
"""Refusals raised by the policy, after Intel's verdict was reached."""


def _verdict_reached(
    verifier: Verifier,
    quote: Quote,
    collateral: Collateral | None,
    when: datetime,
    error: VerificationError,
) -> VerifiedQuote | None:
    """Intel's verdict when the policy (not a check) refused the quote, else None.

    The policy refuses after every check passed; verifying again with a policy
    that accepts any status, debug and expired collateral gives the verdict
    the refusal hid.  Rules that cannot be turned off still refuse: None.
    """
    from ..errors import CollateralFetchError
    from ..errors import VerificationError as Refused

    if error.code not in _POLICY_STAGE_CODES:
        return None
    try:
        return verifier.verify(quote, collateral, now=when, policy=_permissive())
    except (Refused, CollateralFetchError):
        return None


def _result(
    loaded: ParsedInput,
    when: datetime,
    verified: VerifiedQuote | None,
    backend: Backend,
    *,
    accepted: bool,
    checks: list[str],
    failed_check: str | None = None,
) -> dict[str, Any]:
    return {
        "input": loaded.input.to_dict(),
        "backend": backend,
        "at": iso_z(when),
        "accepted": accepted,
        "verdict": None if verified is None else verified.to_dict(),
        "checks_passed": checks,
        "failed_check": failed_check,
    }


def _print_verdict_details(verified: VerifiedQuote) -> None:
    from .. import TdReport

    advisories = ", ".join(verified.advisory_ids) or "none"
    print(f"advisories: {advisories}")
    if _is_ita(verified):
        from ..ita import ItaVerifiedQuote

        assert isinstance(verified, ItaVerifiedQuote)
        # ITA reports one converged status: no platform, QE or module part.
        date = verified.claims.tcb_date
        print(f"TCB date: {'not reported' if date is None else iso_z(date)}")
    else:
        print(f"platform: {verified.platform_status}  QE: {verified.qe_status}", end="")
        print(f"  TDX module: {verified.module_status}" if verified.module_status else "")
    body = verified.body
    if isinstance(body, TdReport):
        print(f"MRTD: {body.mr_td.hex()}")


def _refused(
    loaded: ParsedInput,
    when: datetime,
    error: VerificationError,
    reached: VerifiedQuote | None,
    backend: Backend,
    *,
    as_json: bool,
) -> int:
    """A refusal: the checks that passed, the one that failed, Intel's verdict when reached."""
    payload: dict[str, Any] = dict(error.to_dict()) if hasattr(error, "to_dict") else {}
    details = {k: v for k, v in payload.items() if k not in ("code", "message")}
    details.setdefault("intel_error", error.intel_error)
    checks = list(error.checks_passed)
    failed = "policy" if error.code in _POLICY_STAGE_CODES else error.code
    if as_json:
        result = _result(
            loaded, when, reached, backend, accepted=False, checks=checks, failed_check=failed
        )
        refusal = error_object(
            kind="refused", code=error.code, message=zulu(str(error)), details=details
        )
        write_envelope("verify", result, refusal)
        return _EXIT_REFUSED
    print("verdict: REFUSED")
    print(f"at: {iso_z(when)}")
    for check in checks:
        print(f"  pass  {check}")
    print(f"  FAIL  {error.code}: {zulu(str(error))}")
    if error.intel_error:
        print(f"Intel equivalent: {error.intel_error}")
    if reached is not None:
        name = reached.qv_result.name
        whose = "ITA's" if backend == "ita" else "Intel's"
        print(f"{whose} verdict, refused by the policy: {reached.status} ({name})")
        _print_verdict_details(reached)
    _print_backend(reached, backend)
    print(f"input: {loaded.input.describe()}")
    return _EXIT_REFUSED
