"""The Intel Trust Authority flags of ``verify``, ``cert`` and ``probe`` (``--ita-*``).

ITA is the other backend: the quote goes to ITA's API, the signed token that
comes back is verified against the portal's keys, and its claims must equal
the quote's fields (``docs/ita.md``).  It replaces a collateral source, so
the flags exclude ``--collateral``, ``--pccs`` and ``--intel-pcs`` and the
options that only those use.  The API key is never printed.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from .common import CliError, print_error
from .output import error_object, write_envelope, zulu

if TYPE_CHECKING:
    from ..errors import ItaFetchError
    from ..ita import ItaClient, ItaConfig

__all__ = [
    "API_KEY_ENV",
    "add_ita_arguments",
    "ita_client",
    "ita_client_from_args",
    "ita_config_from_args",
    "ita_fetch_failed",
    "uses_ita",
]

API_KEY_ENV = "INTEL_TRUST_AUTHORITY_API_KEY"
"""Where the API key comes from without ``--ita-api-key`` (TeeSQL's clients read it too)."""

REGIONS = ("us", "eu")


_ITA_FLAGS = (
    ("ita_region", "--ita-region"),
    ("ita_api_url", "--ita-api-url"),
    ("ita_portal_url", "--ita-portal-url"),
    ("ita_api_key", "--ita-api-key"),
    ("ita_root_spki_sha256", "--ita-root-spki-sha256"),
)

# Options of the DCAP path that mean nothing with ITA: refused rather than ignored.
_DCAP_ONLY = (
    ("collateral", "--collateral"),
    ("pccs", "--pccs"),
    ("intel_pcs", "--intel-pcs"),
    ("trust_root", "--trust-root"),
    ("api_key", "--api-key"),
    ("update", "--update"),
    ("tcb_eval", "--tcb-eval"),
    ("root_ca_crl_url", "--root-ca-crl-url"),
    ("cache_dir", "--cache-dir"),
)
_WHY_NOT = {
    "--trust-root": "pin the token signing root with --ita-root-spki-sha256",
    "--api-key": "it is the Intel PCS key; ITA's is --ita-api-key",
    "--cache-dir": (
        "it is the collateral cache; ITA keeps its keys in $TDXQUOTE_ITA_CACHE_DIR (or --no-cache)"
    ),
}


def add_ita_arguments(
    parser: argparse.ArgumentParser, sources: argparse._MutuallyExclusiveGroup
) -> None:
    """Register the ``--ita-*`` flags.

    ``--ita-region`` and ``--ita-api-url`` select the backend, so they join
    the collateral ``sources`` group: argparse refuses them with
    ``--collateral``, ``--pccs`` or ``--intel-pcs`` (and with each other).
    """
    sources.add_argument(
        "--ita-region",
        choices=REGIONS,
        help=(
            "have Intel Trust Authority of this region appraise the quote: %(choices)s, "
            "shorthand for its API and portal URLs (not with --ita-api-url/--ita-portal-url); "
            "default: no ITA (DCAP with a collateral source)"
        ),
    )
    sources.add_argument(
        "--ita-api-url",
        metavar="URL",
        help=(
            "have the Intel Trust Authority API at URL appraise the quote, e.g. "
            "https://api.trustauthority.intel.com (https, or http to a loopback address only); "
            "needs --ita-portal-url; default: none"
        ),
    )
    group = parser.add_argument_group(
        "Intel Trust Authority (with --ita-region or --ita-api-url; see docs/ita.md)",
        "--fetch-timeout, --deadline, --fetch-retries and --no-cache apply to ITA's requests too.",
    )
    group.add_argument(
        "--ita-portal-url",
        metavar="URL",
        help=(
            "ITA portal base URL whose /certs holds the token signing keys (never the "
            "token's jku), e.g. https://portal.trustauthority.intel.com; default: none"
        ),
    )
    group.add_argument(
        "--ita-api-key",
        metavar="KEY",
        help=(
            "ITA attestation API key, sent as x-api-key to the API URL's origin only and "
            f"never printed; default: ${API_KEY_ENV} (safer than the command line)"
        ),
    )
    group.add_argument(
        "--ita-root-spki-sha256",
        action="append",
        default=[],
        metavar="HEX",
        help=(
            "the token signing chain's root must have this SubjectPublicKeyInfo SHA-256 "
            "(64 hex digits, ':' allowed; repeatable: any of them); default: no pin "
            "(the key set's own root, trusted through TLS to the portal)"
        ),
    )


def uses_ita(args: argparse.Namespace) -> bool:
    """True when any ``--ita-*`` flag was given: ITA is the backend."""
    return any(getattr(args, dest, None) for dest, _ in _ITA_FLAGS)


def _usage(message: str) -> CliError:
    return CliError(message, code="usage_error")


def ita_config_from_args(args: argparse.Namespace) -> ItaConfig:
    """The :class:`~tdxquote.ita.ItaConfig` the flags describe; CliError for unusable flags."""
    from ..ita import REGIONS as URLS
    from ..ita import HttpSettings, ItaConfig

    # argparse already refuses --collateral, --pccs and --intel-pcs with the selecting flags.
    for dest, flag in _DCAP_ONLY:
        if getattr(args, dest, None):
            why = _WHY_NOT.get(flag, "it belongs to DCAP verification")
            raise _usage(
                f"{flag} cannot be combined with Intel Trust Authority (--ita-*): {why}; "
                "ITA verifies without collateral"
            )
    if args.ita_region is not None:
        if args.ita_api_url or args.ita_portal_url:
            raise _usage("--ita-region names both URLs: not with --ita-api-url/--ita-portal-url")
        api_url, portal_url = URLS[args.ita_region]
    elif args.ita_api_url and args.ita_portal_url:
        api_url, portal_url = args.ita_api_url, args.ita_portal_url
    else:
        raise _usage(
            "Intel Trust Authority needs --ita-region us|eu, or both --ita-api-url and "
            "--ita-portal-url (the keys are never taken from the token)"
        )
    api_key = args.ita_api_key or os.environ.get(API_KEY_ENV) or None
    if api_key is None:
        raise _usage(f"Intel Trust Authority needs an API key: --ita-api-key, or ${API_KEY_ENV}")
    try:
        http = HttpSettings(
            timeout=args.fetch_timeout, deadline=args.deadline, retries=args.fetch_retries
        )
        return ItaConfig(
            api_url=api_url,
            portal_url=portal_url,
            api_key=api_key,
            root_spki_sha256=tuple(args.ita_root_spki_sha256),
            http=http,
        )
    except ValueError as exc:
        # ItaConfig's messages name URLs and pins, never the key.
        raise _usage(f"bad Intel Trust Authority option: {exc}") from None


def ita_client(config: ItaConfig, *, no_cache: bool) -> ItaClient:
    """An :class:`~tdxquote.ita.ItaClient` for ``config``; its keys on disk unless ``no_cache``."""
    from ..ita import ItaClient, ItaKeyCache

    cache = ItaKeyCache.memory() if no_cache else ItaKeyCache()
    try:
        return ItaClient(config, cache=cache)
    except ValueError as exc:  # a proxy of the environment that cannot be used
        raise _usage(f"bad Intel Trust Authority option: {exc}") from None


def ita_client_from_args(args: argparse.Namespace) -> ItaClient:
    """:func:`ita_client` for the flags (``--no-cache``: keys kept in memory only)."""
    return ita_client(ita_config_from_args(args), no_cache=args.no_cache)


def ita_fetch_failed(error: ItaFetchError, as_json: bool, *, command: str) -> int:
    """ITA could not be asked: no verdict, exit 2 (the JSON error, kind ``unavailable``)."""
    from .common import EXIT_USAGE

    if as_json:
        details: dict[str, Any] = {
            "backend": "ita",
            "url": error.url,
            "status": error.status,
            "request_id": error.request_id,
        }
        write_envelope(
            command,
            None,
            error_object(
                kind="unavailable",
                code=error.code,
                message=zulu(str(error)),
                details=details,
            ),
        )
    else:
        print_error(f"Intel Trust Authority could not be asked: {error} [{error.code}]")
    return EXIT_USAGE
