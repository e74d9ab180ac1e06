"""Every quote in the shared corpus: where it is, how it is encoded, what parsing it must give.

The corpus holds quotes as raw binary files, as hex text, as hex strings inside
JSON documents (dstack GetQuote responses and reports) and inside dstack's
SCALE-encoded ``VersionedAttestation::V0`` envelope.  :data:`QUOTE_FILES` lists
each one with its expected parse outcome; :func:`discover` scans the corpus for
anything that looks like a quote, so a test can prove the list is complete.

RA-TLS certificates and the ``UNVERIFIED_*`` msgpack attestations also carry
quotes; they belong to the RA-TLS tests and are not listed here.  Nor are the 250
quotes of ``realworld/``, which come with their own index (``realworld/quotes.json``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Encoding = Literal["binary", "hex", "json-hex", "scale-v0", "json-scale-v0"]

# What ``Quote.pck_chain`` must do: decode a PEM chain, or raise QuoteParseError because
# the type-5 data holds DER certificates, or because the certification data is not type 5.
PckChainOutcome = Literal["pem", "der", "not-type-5"]


@dataclass(frozen=True)
class QuoteFile:
    """One quote of the corpus and the outcome its parse must have.

    Every listed quote must parse; ``version``, ``body_type`` (None for v3/v4),
    ``certification_type`` (the PCK certification data type) and ``pck_chain``
    say what the parse must give.  ``json_key`` names the JSON member holding
    the hex for the ``json-*`` encodings.
    """

    path: str
    encoding: Encoding
    version: int
    body_type: int | None
    certification_type: int
    json_key: str | None = None
    pck_chain: PckChainOutcome = "pem"

    @property
    def id(self) -> str:
        """A short pytest id."""
        return self.path if self.json_key is None else f"{self.path}#{self.json_key}"

    def text(self, vectors: Path) -> str:
        """The hex text of a ``hex`` or ``json-hex`` quote, exactly as stored."""
        if self.encoding == "hex":
            return (vectors / self.path).read_text(encoding="ascii")
        if self.encoding == "json-hex":
            return str(_json_member(vectors / self.path, self.json_key))
        raise ValueError(f"{self.id} is not stored as hex text")

    def read(self, vectors: Path) -> bytes:
        """The quote's bytes, decoded from its encoding without using tdxquote."""
        file = vectors / self.path
        if self.encoding == "binary":
            return file.read_bytes()
        if self.encoding in ("hex", "json-hex"):
            return _unhex(self.text(vectors))
        if self.encoding == "scale-v0":
            return scale_v0_quote(file.read_bytes())
        return scale_v0_quote(_unhex(str(_json_member(file, self.json_key))))


QUOTE_FILES: tuple[QuoteFile, ...] = (
    QuoteFile("dcap-qvl/tdx_quote", "binary", 4, None, 5),
    QuoteFile("dcap-qvl/sgx_quote", "binary", 3, None, 5),
    QuoteFile("dcap-qvl/tdx_quote_outdated", "binary", 5, 3, 5),
    QuoteFile("dcap-qvl/tdx-quote.hex", "hex", 4, None, 5),
    QuoteFile("dcap-qvl/quote-from-tappd.hex", "hex", 4, None, 5),
    QuoteFile("dcap-qvl/near/quote_hex.txt", "hex", 4, None, 5),
    QuoteFile("go-tdx-guest/quotes/tdx_prod_quote_SPR_E4.dat", "binary", 4, None, 5),
    QuoteFile("go-tdx-guest/quotes/quote_v5_sample.dat", "binary", 5, 3, 5),
    QuoteFile("go-tdx-guest/quotes/cos-113-tdx-quote.dat", "binary", 4, None, 5),
    QuoteFile(
        "intel-dcap/qvl-sampleData/sgx/quote.dat", "binary", 3, None, 1, pck_chain="not-type-5"
    ),
    QuoteFile("intel-dcap/qvl-sampleData/tdx/quote.dat", "binary", 4, None, 5, pck_chain="der"),
    QuoteFile("peers/intel-sgx-ra/quote.dat", "binary", 3, None, 5),
    QuoteFile("peers/dstack-sdk/verifier_quote-report.quote.bin", "binary", 4, None, 5),
    QuoteFile("peers/dstack-sdk/verifier_tdx-lite-getquote.quote.bin", "binary", 4, None, 5),
    QuoteFile("dstack/upstream/kms-pr538_tdx_quote.bin", "binary", 4, None, 5),
    QuoteFile("dstack/upstream/ratls_assets_tdx_quote.bin", "binary", 4, None, 5),
    QuoteFile("dstack/upstream/old-simulator_quote.hex", "hex", 4, None, 5),
    QuoteFile("dstack/upstream/verifier_quote-report.json", "json-hex", 4, None, 5, "quote"),
    QuoteFile("dstack/upstream/verifier_tdx-lite-getquote.json", "json-hex", 4, None, 5, "quote"),
    QuoteFile("dstack/upstream/nearai-pmlsdk_dstack_quote.json", "json-hex", 4, None, 5, "quote"),
    QuoteFile(
        "dstack/upstream/example-2025-01_attestation_report.json", "json-hex", 4, None, 5, "quote"
    ),
    QuoteFile(
        "dstack/upstream/verifier_tdx-lite-attestation.json",
        "json-scale-v0",
        4,
        None,
        5,
        "attestation",
    ),
    QuoteFile("dstack/upstream/simulator_attestation.bin", "scale-v0", 4, None, 5),
    QuoteFile("dstack/synthetic/attestation_v0_stripped_keyA.bin", "scale-v0", 4, None, 5),
    QuoteFile("dstack/synthetic/neg_attestation_v0_trailing_byte.bin", "scale-v0", 4, None, 5),
)

BY_PATH: dict[str, QuoteFile] = {entry.path: entry for entry in QUOTE_FILES}


def unique_quotes(vectors: Path) -> dict[bytes, QuoteFile]:
    """Each distinct quote once (several files hold the same bytes), first listing wins."""
    found: dict[bytes, QuoteFile] = {}
    for entry in QUOTE_FILES:
        found.setdefault(entry.read(vectors), entry)
    return found


# --- decoding helpers, independent of tdxquote ---------------------------------------------

_HEX_TEXT = re.compile(r"\s*(?:0[xX])?[0-9a-fA-F\s]+")


def _unhex(text: str) -> bytes:
    cleaned = re.sub(r"\s+", "", text)
    return bytes.fromhex(cleaned[2:] if cleaned[:2] in ("0x", "0X") else cleaned)


def _json_member(file: Path, key: str | None) -> Any:
    document = json.loads(file.read_text(encoding="utf-8"))
    return document[key]


def scale_compact(data: bytes, at: int) -> tuple[int, int]:
    """Decode a SCALE ``Compact<u32>`` at ``at``; return (value, offset after it)."""
    mode = data[at] & 3
    if mode == 0:
        return data[at] >> 2, at + 1
    if mode == 1:
        return int.from_bytes(data[at : at + 2], "little") >> 2, at + 2
    if mode == 2:
        return int.from_bytes(data[at : at + 4], "little") >> 2, at + 4
    size = (data[at] >> 2) + 4
    return int.from_bytes(data[at + 1 : at + 1 + size], "little"), at + 1 + size


def scale_v0_quote(envelope: bytes) -> bytes:
    """The quote inside a dstack ``VersionedAttestation::V0`` (SCALE) envelope.

    Byte 0 is the version (0 = V0), byte 1 the ``AttestationQuote`` variant
    (0 = ``DstackTdx``), then the quote as a compact-length byte vector.
    """
    if envelope[:2] != b"\x00\x00":
        raise ValueError(f"not a V0 DstackTdx attestation (starts {envelope[:2].hex()})")
    size, at = scale_compact(envelope, 2)
    if at + size > len(envelope):
        raise ValueError("quote runs past the end of the envelope")
    return envelope[at : at + size]


# --- discovering quotes in the corpus ------------------------------------------------------


def looks_like_quote(data: bytes) -> bool:
    """A DCAP quote header: version 3, 4 or 5 and attestation key type 2 or 3."""
    return (
        len(data) >= 48
        and data[1] == 0
        and data[0] in (3, 4, 5)
        and data[2:4]
        in (
            b"\x02\x00",
            b"\x03\x00",
        )
    )


def _looks_like_v0_envelope(data: bytes) -> bool:
    if data[:2] != b"\x00\x00" or len(data) < 6:
        return False
    try:
        return looks_like_quote(scale_v0_quote(data))
    except (ValueError, IndexError):
        return False


def _hex_quote_kind(text: str) -> Literal["hex", "scale-v0"] | None:
    if len(text) < 96 or _HEX_TEXT.fullmatch(text) is None:
        return None
    try:
        data = _unhex(text)
    except ValueError:
        return None
    if looks_like_quote(data):
        return "hex"
    return "scale-v0" if _looks_like_v0_envelope(data) else None


def _strings(value: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)
    elif isinstance(value, str):
        yield key, value


def discover(vectors: Path) -> set[tuple[str, Encoding, str | None]]:
    """Scan the corpus for every file that is, or carries, a DCAP quote.

    Returns (path, encoding, json key) triples in the form :data:`QUOTE_FILES` uses.
    """
    found: set[tuple[str, Encoding, str | None]] = set()
    for file in sorted(vectors.rglob("*")):
        if not file.is_file():
            continue
        path = file.relative_to(vectors).as_posix()
        if path.startswith("realworld/"):
            continue  # indexed by realworld/quotes.json; tests/test_realworld.py reads it
        data = file.read_bytes()
        if looks_like_quote(data):
            found.add((path, "binary", None))
            continue
        if _looks_like_v0_envelope(data):
            found.add((path, "scale-v0", None))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        kind = _hex_quote_kind(text)
        if kind == "hex":
            found.add((path, "hex", None))
        if file.suffix != ".json":
            continue
        try:
            document = json.loads(text)
        except ValueError:
            continue
        for key, value in _strings(document):
            kind = _hex_quote_kind(value)
            if kind == "hex":
                found.add((path, "json-hex", key))
            elif kind == "scale-v0":
                found.add((path, "json-scale-v0", key))
    return found
