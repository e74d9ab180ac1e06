"""``tdxquote verify QUOTE --collateral FILE|--pccs URL|--intel-pcs``: the verdict, each check."""

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
from .common import EXIT_FAILED, EXIT_OK, CliError, load_quote, report_error, write_json

if TYPE_CHECKING:
    from ..verification import Policy
    from .common import Subparsers

__all__ = [
    "MAX_GRACE_DAYS",
    "add_parser",
    "add_policy_arguments",
    "grace_days",
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


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """The policy flags shared by every command that verifies."""
    group = parser.add_argument_group("policy")
    group.add_argument(
        "--allow-status",
        action="append",
        default=[],
        metavar="STATUS",
        help="accept this TCB status too (repeatable), e.g. SWHardeningNeeded; 'any' accepts all",
    )
    group.add_argument("--reject-advisory", action="append", default=[], metavar="ID")
    group.add_argument("--platform-grace-days", type=grace_days, metavar="DAYS")
    group.add_argument("--qe-grace-days", type=grace_days, metavar="DAYS")
    group.add_argument("--min-tcb-eval", type=int, metavar="N")
    group.add_argument(
        "--expect-mr-td", action="append", default=[], metavar="HEX", help="any of (repeatable)"
    )
    group.add_argument(
        "--expect-rtmr", action="append", default=[], metavar="I:HEX", help="RTMR I must equal HEX"
    )
    group.add_argument("--expect-report-data", metavar="HEX")
    group.add_argument("--disallow-dynamic-platform", action="store_true")
    group.add_argument("--disallow-cached-keys", action="store_true")
    group.add_argument("--disallow-smt", action="store_true")
    group.add_argument(
        "--unsafe-allow-debug", action="store_true", help="accept debug TDs (not confidential)"
    )
    group.add_argument(
        "--unsafe-allow-expired-collateral",
        action="store_true",
        help="accept collateral outside its validity window",
    )


def policy_from_args(args: argparse.Namespace) -> Policy:
    """Build the :class:`~tdxquote.Policy` the flags describe; CliError on a bad value."""
    from ..collateral import TcbStatus
    from ..verification import Policy

    policy = Policy()
    try:
        if args.allow_status:
            names = args.allow_status
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
    """``--at``: unix seconds or ISO 8601 (``Z`` allowed); the current time when absent."""
    if text is None:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):  # not a number, or out of datetime's range
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--at {text!r}: expected unix seconds or ISO 8601", code="usage_error"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``verify``."""
    parser = subparsers.add_parser(
        "verify",
        help="verify a quote against its collateral",
        description=(
            "Verify a quote end to end as Intel's QVL does, then apply the policy. "
            "Exit 0 verified and accepted, 1 refused, 2 bad input or usage."
        ),
    )
    parser.add_argument("quote", metavar="QUOTE", help="quote file (binary or hex), or - for stdin")
    sources = add_source_arguments(parser)
    sources.required = True
    add_collateral_argument(sources)
    parser.add_argument("--at", metavar="TIME", help="verification time (default: now)")
    parser.add_argument("--trust-root", metavar="PEM", help="trust this root instead of Intel's")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    add_policy_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``verify``; unusable input is reported (as JSON with ``--json``) with exit 2."""
    try:
        return _run(args)
    except CliError as error:
        return report_error(error, as_json=args.json)


def _run(args: argparse.Namespace) -> int:
    from ..errors import CollateralFetchError, VerificationError
    from ..verification import Verifier

    quote = load_quote(args.quote).quote
    collateral, source = collateral_from_args(args)
    trust_root = trust_root_from_args(args)
    try:
        verifier = Verifier(trust_root=trust_root, policy=policy_from_args(args), source=source)
    except ValueError as exc:
        raise CliError(f"--trust-root: not a certificate: {exc}") from None
    when = parse_time(args.at)
    try:
        verified = verifier.verify(quote, collateral, now=when)
    except VerificationError as error:
        return _refused(error, args.json)
    except CollateralFetchError as error:
        return fetch_failed(error, args.json)
    if args.json:
        write_json(verified.to_dict())
        return EXIT_OK
    print(f"verdict: {verified.status} ({verified.qv_result.name})")
    print(f"at: {when.isoformat()}")
    for check in verified.checks:
        print(f"  pass  {check}")
    print("  pass  policy")
    advisories = ", ".join(verified.advisory_ids) or "none"
    print(f"advisories: {advisories}")
    print(f"platform: {verified.platform_status}  QE: {verified.qe_status}", end="")
    print(f"  TDX module: {verified.module_status}" if verified.module_status else "")
    body: Any = verified.body
    if hasattr(body, "mr_td"):
        print(f"MRTD: {body.mr_td.hex()}")
    return EXIT_OK


def _refused(error: Any, as_json: bool) -> int:
    payload = error.to_dict() if hasattr(error, "to_dict") else {"code": error.code}
    payload.setdefault("message", str(error))
    payload["checks_passed"] = list(error.checks_passed)
    if as_json:
        write_json({"error": payload})
        return _EXIT_REFUSED
    print("verdict: REFUSED")
    for check in error.checks_passed:
        print(f"  pass  {check}")
    print(f"  FAIL  {error.code}: {error}")
    if getattr(error, "intel_error", None):
        print(f"Intel equivalent: {error.intel_error}")
    return _EXIT_REFUSED
