"""The names of the checks a quote passes on the ITA path (``checks`` / ``checks_passed``)."""

from __future__ import annotations

__all__ = [
    "CLAIMS",
    "CLAIMS_MATCH_QUOTE",
    "CRLS",
    "ITA_CHECKS",
    "SIGNING_CHAIN",
    "SIGNING_KEY",
    "BINDS_KEY",
    "TOKEN_CHECKS",
    "HEADER",
    "ISSUER",
    "SIGNATURE",
    "TIMES",
]

HEADER = "ita_token_header"
SIGNING_KEY = "ita_signing_key"
SIGNING_CHAIN = "ita_signing_chain"
SIGNATURE = "ita_token_signature"
CRLS = "ita_crls"
TIMES = "ita_token_times"
ISSUER = "ita_token_issuer"
CLAIMS = "ita_claims"
CLAIMS_MATCH_QUOTE = "ita_claims_match_quote"
BINDS_KEY = "ita_token_binds_key"
"""An RA-TLS certificate's check: the token's ``tdx_report_data`` binds its key."""

TOKEN_CHECKS: tuple[str, ...] = (
    HEADER,
    SIGNING_KEY,
    SIGNING_CHAIN,
    SIGNATURE,
    CRLS,
    TIMES,
    ISSUER,
)
"""What verifying the token checks, in order."""

ITA_CHECKS: tuple[str, ...] = (*TOKEN_CHECKS, CLAIMS, CLAIMS_MATCH_QUOTE)
"""The checks a quote passes on the ITA path, in order (before the policy).

A refusal's ``checks_passed`` holds those it passed; a policy refusal all of them.
"""
