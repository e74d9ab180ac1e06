"""``tdxquote demo``: forge, verify, tamper, refuse; no files, no network."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .common import EXIT_FAILED, EXIT_OK
from .output import error_object, write_envelope

if TYPE_CHECKING:
    from .common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``demo``."""
    parser = subparsers.add_parser(
        "demo",
        help="forge a quote with a synthetic PKI, verify it, and show a tampered copy refused",
        description=(
            "Forge a TDX quote and its collateral with tdxquote's synthetic Intel-like PKI, "
            "verify it end to end, then flip one byte of its MRTD and show the verification "
            "refuse it. Needs no files and no network. Exit 0 when both outcomes are as "
            "expected."
        ),
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print both outcomes as JSON (the tdxquote/1 document)",
    )
    parser.set_defaults(_command="demo")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``demo``."""
    from .. import TdReport, parse_quote
    from ..errors import VerificationError
    from ..testing.forge import QuoteForge, td_report
    from ..verification import Verifier
    from .verify import iso_z

    forge = QuoteForge.create(seed=b"tdxquote demo")
    scenario = forge.scenario(forge.quote(td_report(3, report_data=b"tdxquote demo nonce")))
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()
    verified = verifier.verify(scenario.quote_bytes, collateral, now=scenario.now)

    tampered = bytearray(scenario.quote_bytes)
    mr_td_at = parse_quote(tampered).body_offset + 0x88  # MRTD, inside the signed bytes
    tampered[mr_td_at] ^= 0x01
    try:
        verifier.verify(bytes(tampered), collateral, now=scenario.now)
    except VerificationError as error:
        refusal: VerificationError | None = error
    else:
        refusal = None

    expected = refusal is not None and refusal.code == "quote_signature_invalid"
    if args.json:
        failure = None
        if not expected:
            failure = error_object(
                kind="failed",
                code="demo_unexpected",
                message="the tampered quote was not refused for its signature",
            )
        write_envelope(
            "demo",
            {
                "forged": verified.to_dict(),
                "tampered": None
                if refusal is None
                else {"code": refusal.code, "message": str(refusal)},
            },
            failure,
        )
    else:
        quote = verified.quote
        body = quote.body
        assert isinstance(body, TdReport)
        print("1. Forged a TDX quote (v5, TD 1.5 body) with the synthetic PKI of tdxquote.testing")
        print(f"   {len(quote)} bytes, MRTD {body.mr_td.hex()[:32]}...")
        print(
            f"   trust root: synthetic (sha256 {verifier.trust_root.sha256[:16]}...), not Intel's"
        )
        print(f"2. Verified it at {iso_z(scenario.now)}:")
        for check in verified.checks:
            print(f"     pass  {check}")
        print(f"   verdict: {verified.status} ({verified.qv_result.name})")
        print("3. Flipped one bit of its MRTD and verified again:")
        if refusal is None:
            print("   UNEXPECTED: the tampered quote verified")
        else:
            print(f"   refused: {refusal.code}: {refusal}")
    return EXIT_OK if expected else EXIT_FAILED
