"""Strict PEM splitting: blocks of one label, nothing but whitespace around them."""

from __future__ import annotations

import base64
import binascii
import re

from tdxquote.errors import CollateralFormatError

__all__ = ["ascii_text", "pem_blocks"]

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL)
_WHITESPACE = re.compile(r"[ \t\r\n]*")
_SPACE = re.compile(r"[ \t\r\n]")


def ascii_text(data: bytes | str, *, what: str, not_ascii: str, code: str) -> str:
    """``data`` as text: ``str`` as is, ``bytes`` decoded as ASCII.

    Raises :class:`CollateralFormatError` (with ``code``): ``not_ascii`` for
    bytes that are not ASCII, a message naming ``what`` for any other type.
    """
    if isinstance(data, bytes):
        try:
            return data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise CollateralFormatError(not_ascii, code=code) from exc
    if isinstance(data, str):
        return data
    raise CollateralFormatError(
        f"{what}: expected bytes or str, got {type(data).__name__}", code=code
    )


def pem_blocks(text: str, label: str, *, code: str) -> list[bytes]:
    """Decode every PEM block of ``text``; each must carry ``label``.

    Raises :class:`CollateralFormatError` (with ``code``) on text outside the
    blocks, another label, bad base64, or when there is no block at all.
    """
    blocks: list[bytes] = []
    position = 0
    for match in _BLOCK.finditer(text):
        _whitespace_only(text[position : match.start()], code)
        begin, body, end = match.groups()
        if begin != label or end != label:
            raise CollateralFormatError(
                f"PEM block {len(blocks)}: expected {label}, got {begin}/{end}", code=code
            )
        compact = _SPACE.sub("", body)
        try:
            der = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CollateralFormatError(
                f"PEM block {len(blocks)}: bad base64: {exc}", code=code
            ) from exc
        if not der:
            raise CollateralFormatError(f"PEM block {len(blocks)}: empty", code=code)
        blocks.append(der)
        position = match.end()
    _whitespace_only(text[position:], code)
    if not blocks:
        raise CollateralFormatError(f"no PEM {label} block found", code=code)
    return blocks


def _whitespace_only(gap: str, code: str) -> None:
    if not _WHITESPACE.fullmatch(gap):
        raise CollateralFormatError(
            f"unexpected text outside PEM blocks: {gap.strip()[:60]!r}", code=code
        )
