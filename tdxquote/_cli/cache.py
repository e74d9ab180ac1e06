"""``tdxquote cache info|clear``: the collateral cache directory."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .common import EXIT_OK, EXIT_USAGE, CliError, report_error
from .output import write_envelope

if TYPE_CHECKING:
    from ..collateral.cache import CollateralCache
    from .common import Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Register ``cache``."""
    parser = subparsers.add_parser(
        "cache",
        help="show or clear the collateral cache",
        description=(
            "The collateral cache holds raw PCS/PCCS responses until they expire "
            "(directory: --cache-dir, else $TDXQUOTE_CACHE_DIR, else "
            "$XDG_CACHE_HOME/tdxquote/collateral)."
        ),
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("info", "clear"),
        metavar="info|clear",
        help="info: what the cache holds; clear: remove every entry",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=(
            "the cache directory (default: $TDXQUOTE_CACHE_DIR, else "
            "$XDG_CACHE_HOME/tdxquote/collateral)"
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as JSON (the tdxquote/1 document)"
    )
    parser.set_defaults(_parser=parser, _command="cache")
    return parser


def _open(directory: str | None) -> CollateralCache:
    from ..collateral.cache import CollateralCache

    try:
        cache = CollateralCache(directory)
    except OSError as exc:
        raise CliError(f"cache directory: {exc.strerror or exc}") from None
    # Nothing is created until the first write, so say now what would fail then.
    if cache.directory is not None and cache.directory.exists() and not cache.directory.is_dir():
        raise CliError(f"cache directory {cache.directory}: not a directory")
    return cache


def run(args: argparse.Namespace) -> int:
    """Run ``cache``."""
    if args.action is None:
        args._parser.print_help(sys.stderr)
        return EXIT_USAGE
    command = f"cache {args.action}"
    try:
        cache = _open(args.cache_dir)
    except CliError as error:
        return report_error(error, as_json=args.json, command=command)
    try:
        if args.action == "clear":
            removed = cache.clear()
            if args.json:
                write_envelope(command, {"directory": str(cache.directory), "removed": removed})
            else:
                print(f"removed {removed} entries from {cache.directory}")
            return EXIT_OK
        entries = sorted(cache.entries(), key=lambda e: (e.url or "", e.key))
        volume = cache.volume()
        problem = cache.problem
    finally:
        cache.close()
    if args.json:
        write_envelope(
            command,
            {
                "directory": str(cache.directory),
                "entries": [
                    {
                        "artifact": e.artifact,
                        "url": e.url,
                        "size": e.size,
                        "valid": e.valid,
                        "expires": None if e.expires is None else _iso(e.expires),
                        "stored_at": None if e.stored_at is None else _iso(e.stored_at),
                    }
                    for e in entries
                ],
                "volume": volume,
                "size_limit": cache.size_limit,
                "problem": problem,
            },
        )
        return EXIT_OK
    print(f"directory: {cache.directory}")
    if problem is not None:
        print(f"unusable, bypassed: {problem} (tdxquote cache clear starts it afresh)")
    print(f"entries: {len(entries)}, {volume} bytes on disk (limit {cache.size_limit})")
    width = max((len(e.artifact or "") for e in entries if e.valid), default=0)
    for entry in entries:
        if not entry.valid:
            print(f"  corrupt entry ({entry.size} bytes): {entry.key[:80]}")
            continue
        expires = "?" if entry.expires is None else _iso(entry.expires)
        print(f"  {entry.artifact or '?':<{width}} expires {expires}  {_short_url(entry.url)}")
    return EXIT_OK


def _short_url(url: str | None, limit: int = 120) -> str:
    """A URL for one line of text: a PCK certificate query carries a 768-digit PPID."""
    if url is None:
        return "?"
    return url if len(url) <= limit else f"{url[: limit - 3]}..."


def _iso(value: object) -> str:
    from datetime import datetime

    assert isinstance(value, datetime)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
