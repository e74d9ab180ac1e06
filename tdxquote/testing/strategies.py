"""Hypothesis strategies for DCAP quotes: report bodies, certification data, whole quotes
and hostile mutations of them.

The quotes these strategies generate are *structurally* valid: every size and
type field is right, so :func:`tdxquote.parse_quote` accepts them, but the
signatures, keys and certificates are random bytes, so no verifier will.  Use
them to test code that parses, stores, displays or forwards quotes, and
:func:`mutated_quotes` to test that it rejects malformed ones cleanly::

    from hypothesis import given
    from tdxquote.testing import strategies as tq

    @given(tq.mutated_quotes())
    def test_my_service_rejects_garbage(data: bytes) -> None:
        ...

Every strategy here is deterministic given Hypothesis' choices and shrinks
towards small, zero-filled quotes.
"""

from __future__ import annotations

import base64
import functools
import random
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

import construct as c
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from .._build import build_quote
from .._layout_derive import prefix_layout
from .._quote import CertificationData, Quote, parse_quote
from .._reports import Report, SgxReport, TdReport10, TdReport15, TdReport15Ex
from ..errors import QuoteParseError
from ..schema import (
    ATTESTATION_KEY_TYPE_ECDSA_P256,
    AUTH_DATA_V3,
    AUTH_DATA_V4,
    BODY_DESCRIPTOR,
    BODY_SCHEMAS,
    BODY_TYPE_SGX,
    BODY_TYPE_TD10,
    BODY_TYPE_TD15,
    BODY_TYPE_TD15EX,
    CERT_TYPE_PCK_CERT_CHAIN,
    CERT_TYPE_PCK_LEAF,
    CERT_TYPE_PPID_CLEARTEXT,
    CERT_TYPE_PPID_RSA2048,
    CERT_TYPE_PPID_RSA3072,
    CERTIFICATION_DATA,
    HEADER,
    INTEL_QE_VENDOR_ID,
    QE_REPORT_CERTIFICATION_DATA,
    SGX_REPORT,
    TD_REPORT_10,
    TD_REPORT_15,
    TD_REPORT_15EX,
    TEE_TYPE_SGX,
    TEE_TYPE_TDX,
    field_layout,
)

__all__ = [
    "FIELD_WIDTHS",
    "QUOTE_LAYOUTS",
    "certification_data",
    "mutated_quotes",
    "quotes",
    "reports",
    "sgx_report",
    "structural_offsets",
    "td_report10",
    "td_report15",
    "td_report15ex",
]

_T = TypeVar("_T")

QUOTE_LAYOUTS: tuple[tuple[int, int], ...] = (
    (3, BODY_TYPE_SGX),
    (4, BODY_TYPE_SGX),
    (4, BODY_TYPE_TD10),
    (5, BODY_TYPE_SGX),
    (5, BODY_TYPE_TD10),
    (5, BODY_TYPE_TD15),
    (5, BODY_TYPE_TD15EX),
)
"""Every (quote version, body type) pair the format allows; v3/v4 imply the body type."""

_HEADER_FIELDS = field_layout(HEADER)
_DESCRIPTOR_FIELDS = field_layout(BODY_DESCRIPTOR)
_HEADER_SIZE = HEADER.sizeof()
_V3 = prefix_layout(AUTH_DATA_V3)
_V4 = prefix_layout(AUTH_DATA_V4)
_QECD = prefix_layout(QE_REPORT_CERTIFICATION_DATA)
_CD = prefix_layout(CERTIFICATION_DATA)
_SIGNED_DATA_SIZE_WIDTH = 4  # the Int32ul prefix of QUOTE.signed_data
if _V3.length_size != _QECD.length_size:
    raise ImportError("QE auth data size fields of v3 and v4 differ in the schemas")

FIELD_WIDTHS: Mapping[str, int] = MappingProxyType(
    {
        "header.version": _HEADER_FIELDS["version"][1],
        "header.attestation_key_type": _HEADER_FIELDS["attestation_key_type"][1],
        "header.tee_type": _HEADER_FIELDS["tee_type"][1],
        "body_descriptor.body_type": _DESCRIPTOR_FIELDS["body_type"][1],
        "body_descriptor.body_size": _DESCRIPTOR_FIELDS["body_size"][1],
        "signed_data_size": _SIGNED_DATA_SIZE_WIDTH,
        "certification_data_type": _V4.fields["certification_data_type"][1],
        "qe_report_certification_data.size": _V4.length_size,
        "qe_auth_data.size": _QECD.length_size,
        "certification_data.type": _CD.fields["type"][1],
        "certification_data.size": _CD.length_size,
    }
)
"""Width in bytes of every little-endian length or type field :func:`structural_offsets` names."""

_LENGTH_FIELDS = (
    "signed_data_size",
    "qe_report_certification_data.size",
    "qe_auth_data.size",
    "certification_data.size",
)
_TYPE_FIELDS = (
    "header.version",
    "header.attestation_key_type",
    "header.tee_type",
    "body_descriptor.body_type",
    "body_descriptor.body_size",
    "certification_data_type",
    "certification_data.type",
)


# --- report bodies ----------------------------------------------------------------------


def _field_strategy(sub: Any) -> st.SearchStrategy[Any]:
    inner = sub.subcon if isinstance(sub, c.Renamed) else sub
    size = int(inner.sizeof())
    if isinstance(inner, c.FormatField):
        return st.integers(0, (1 << (8 * size)) - 1)
    return st.binary(min_size=size, max_size=size)


def _set_bit(raw: bytes, bit: int, value: bool | None) -> bytes:
    if value is None:
        return raw
    first = raw[0] | (1 << bit) if value else raw[0] & ~(1 << bit)
    return bytes([first]) + raw[1:]


@functools.cache
def _report(
    cls: type[Report], schema: c.Struct, flag_field: str, debug_bit: int, debug: bool | None
) -> st.SearchStrategy[Any]:
    # Cached: building and validating these strategies costs more than drawing from them.
    fields = {sub.name: _field_strategy(sub) for sub in schema.subcons}
    fields[flag_field] = fields[flag_field].map(lambda raw: _set_bit(raw, debug_bit, debug))
    return st.builds(cls, **fields)


def td_report10(*, debug: bool | None = None) -> st.SearchStrategy[TdReport10]:
    """TD 1.0 report bodies (584 bytes) with random fields.

    ``debug`` forces TD_ATTRIBUTES.DEBUG on (True) or off (False); None leaves it random.
    """
    return _report(TdReport10, TD_REPORT_10, "td_attributes", 0, debug)


def td_report15(*, debug: bool | None = None) -> st.SearchStrategy[TdReport15]:
    """TD 1.5 report bodies (648 bytes) with random fields; ``debug`` as in :func:`td_report10`."""
    return _report(TdReport15, TD_REPORT_15, "td_attributes", 0, debug)


def td_report15ex(*, debug: bool | None = None) -> st.SearchStrategy[TdReport15Ex]:
    """TD 1.5 ex report bodies (885 bytes) with random fields.

    ``debug`` as in :func:`td_report10`.
    """
    return _report(TdReport15Ex, TD_REPORT_15EX, "td_attributes", 0, debug)


def sgx_report(*, debug: bool | None = None) -> st.SearchStrategy[SgxReport]:
    """SGX report bodies (384 bytes): SGX quote bodies and QE reports.

    ``debug`` forces ATTRIBUTES.DEBUG (bit 1) on or off; None leaves it random.
    """
    return _report(SgxReport, SGX_REPORT, "attributes", 1, debug)


_REPORT_STRATEGIES: dict[int, Callable[..., st.SearchStrategy[Any]]] = {
    BODY_TYPE_SGX: sgx_report,
    BODY_TYPE_TD10: td_report10,
    BODY_TYPE_TD15: td_report15,
    BODY_TYPE_TD15EX: td_report15ex,
}


def _check_subset(name: str, given: Iterable[int], allowed: Iterable[int]) -> tuple[int, ...]:
    values = tuple(given)
    allowed_set = set(allowed)
    if not values:
        raise InvalidArgument(f"{name} must not be empty")
    wrong = [v for v in values if v not in allowed_set]
    if wrong:
        raise InvalidArgument(
            f"{name}: unsupported values {wrong} (allowed: {sorted(allowed_set)})"
        )
    return values


def reports(
    body_types: Iterable[int] = (1, 2, 3, 4), *, debug: bool | None = None
) -> st.SearchStrategy[Report]:
    """Report bodies of the given body types (1 SGX, 2 TD 1.0, 3 TD 1.5, 4 TD 1.5 ex)."""
    types = _check_subset("body_types", body_types, BODY_SCHEMAS)
    return st.one_of(*(_REPORT_STRATEGIES[t](debug=debug) for t in types))


# --- certification data -----------------------------------------------------------------

_PPID_SIZES = {
    CERT_TYPE_PPID_CLEARTEXT: 16,
    CERT_TYPE_PPID_RSA2048: 256,
    CERT_TYPE_PPID_RSA3072: 384,
}
_U16 = st.integers(0, 0xFFFF)
_U16_LE = _U16.map(lambda v: struct.pack("<H", v))


def _fixed(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


def _pem_block(der: bytes) -> bytes:
    text = base64.b64encode(der)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def _seeded_bytes(size_and_seed: tuple[int, int]) -> bytes:
    size, seed = size_and_seed
    return random.Random(seed).randbytes(size)


def _der_header(content: bytes) -> bytes:
    return b"\x30\x82" + len(content).to_bytes(2, "big") + content


# Real PCK chain certificates are 0.6 to 1.3 kB of DER opening with SEQUENCE 30 82; large
# contents come from a drawn seed so they cost Hypothesis a few choices only.
_DER_LOOKING = st.one_of(
    st.binary(max_size=96),
    st.tuples(st.integers(500, 1300), st.integers(0, 2**32 - 1)).map(_seeded_bytes),
).map(_der_header)


def _pem_chain(blocks_and_nul: tuple[list[bytes], bool]) -> bytes:
    blocks, nul = blocks_and_nul
    chain = b"".join(_pem_block(der) for der in blocks)
    return chain + b"\x00" if nul else chain


_PAYLOADS: dict[int, st.SearchStrategy[bytes]] = {
    # PPID (cleartext or RSA-OAEP encrypted), CPUSVN, PCESVN (LE) and, usually, PCEID (LE);
    # Intel's own sample quote leaves the PCEID out.
    **{
        cert_type: st.tuples(_fixed(size), _fixed(16), _U16_LE, st.just(b"") | _U16_LE).map(
            b"".join
        )
        for cert_type, size in _PPID_SIZES.items()
    },
    CERT_TYPE_PCK_LEAF: st.binary(max_size=2048),
    CERT_TYPE_PCK_CERT_CHAIN: st.tuples(
        st.lists(_DER_LOOKING, min_size=1, max_size=3), st.booleans()
    ).map(_pem_chain),
}


@functools.cache
def _certification_data(types: tuple[int, ...]) -> st.SearchStrategy[CertificationData]:
    return st.one_of(*(st.builds(CertificationData, st.just(t), _PAYLOADS[t]) for t in types))


def certification_data(
    types: Iterable[int] = (CERT_TYPE_PCK_CERT_CHAIN,),
) -> st.SearchStrategy[CertificationData]:
    """PCK certification data of the given types (1 to 5) with realistic-looking payloads.

    Type 5: one to three PEM ``CERTIFICATE`` blocks of random DER-looking bytes (they do
    not decode as certificates), with or without the trailing NUL real quotes carry.
    Types 1 to 3: PPID (16, 256 or 384 bytes), CPUSVN, PCESVN and optionally PCEID.
    Type 4: arbitrary bytes (up to 2 kB).
    """
    chosen = _check_subset("types", types, _PAYLOADS)
    # Real quotes carry type 5, so it comes first: Hypothesis favours (and shrinks towards)
    # the first branch.
    return _certification_data(tuple(sorted(set(chosen), key=lambda t: (t != 5, t))))


# --- quotes -----------------------------------------------------------------------------

_TRAILING = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=64),
    st.integers(1, 4096).map(bytes),  # zero padding, as some cloud quote providers add
)
_BLOB64 = _fixed(64)
_QE_AUTH_DATA = st.binary(max_size=64)
_VENDOR_ID = st.just(INTEL_QE_VENDOR_ID) | _fixed(16)
_USER_DATA = _fixed(20)


@st.composite
def _quote(
    draw: st.DrawFn,
    layouts: st.SearchStrategy[tuple[int, int]],
    certification: st.SearchStrategy[CertificationData],
    trailing: bool,
) -> bytes:
    version, body_type = draw(layouts)
    quote = build_quote(
        body=draw(_REPORT_STRATEGIES[body_type]()),
        signature=draw(_BLOB64),
        attestation_key=draw(_BLOB64),
        qe_report=draw(sgx_report()),
        qe_report_signature=draw(_BLOB64),
        qe_auth_data=draw(_QE_AUTH_DATA),
        certification_data=draw(certification),
        version=version,
        qe_svn=draw(_U16),
        pce_svn=draw(_U16),
        qe_vendor_id=draw(_VENDOR_ID),
        user_data=draw(_USER_DATA),
        attestation_key_type=ATTESTATION_KEY_TYPE_ECDSA_P256,
        trailing_bytes=draw(_TRAILING) if trailing else b"",
    )
    return quote.to_bytes()


def quotes(
    versions: Iterable[int] = (3, 4, 5),
    body_types: Iterable[int] = (1, 2, 3, 4),
    *,
    cert_types: Iterable[int] = (1, 2, 3, 4, 5),
    trailing: bool = True,
) -> st.SearchStrategy[bytes]:
    """Structurally valid quote bytes (built with the library's own quote builder).

    Covers every layout in :data:`QUOTE_LAYOUTS` allowed by ``versions`` and
    ``body_types`` (v3 SGX; v4 SGX and TDX; v5 body types 1 to 4), QE
    authentication data of 0 to 64 bytes, certification data of ``cert_types``
    (see :func:`certification_data`) and, when ``trailing``, unsigned trailing
    bytes (random or zero padding).  Signatures, keys and the QE report are
    random: these quotes parse but never verify.
    """
    wanted_versions = _check_subset("versions", versions, (3, 4, 5))
    wanted_types = _check_subset("body_types", body_types, BODY_SCHEMAS)
    layouts = tuple((v, t) for v, t in QUOTE_LAYOUTS if v in wanted_versions and t in wanted_types)
    if not layouts:
        raise InvalidArgument(
            f"no quote layout has a version in {wanted_versions} and a body type in "
            f"{wanted_types} (v3 carries body type 1 only, v4 body types 1 and 2)"
        )
    certification = certification_data(cert_types)
    return _quote(st.sampled_from(layouts), certification, trailing)


# --- structural offsets -----------------------------------------------------------------


def structural_offsets(quote: Quote | bytes) -> dict[str, int]:
    """The offset of every length and type field of a parsed quote, and of each section.

    Keys are the field names :class:`~tdxquote.QuoteParseError` uses: the
    fields of :data:`FIELD_WIDTHS` (``header.version``, ``signed_data_size``,
    ``qe_auth_data.size``, ``certification_data.size``, ...; the
    ``body_descriptor.*`` keys only for v5, ``certification_data_type`` and
    ``qe_report_certification_data.size`` only for v4/v5) plus the sections
    ``body``, ``signature``, ``attestation_key``, ``qe_report``,
    ``qe_report_signature``, ``qe_auth_data``, ``certification_data`` (its
    payload) and ``trailing_bytes`` (the end of the signed data).  Bytes are
    parsed first (raising :class:`~tdxquote.QuoteParseError`).
    """
    if not isinstance(quote, Quote):
        quote = parse_quote(quote)
    offsets = {
        "header.version": _HEADER_FIELDS["version"][0],
        "header.attestation_key_type": _HEADER_FIELDS["attestation_key_type"][0],
        "header.tee_type": _HEADER_FIELDS["tee_type"][0],
    }
    if quote.version == 5:
        offsets["body_descriptor.body_type"] = _HEADER_SIZE + _DESCRIPTOR_FIELDS["body_type"][0]
        offsets["body_descriptor.body_size"] = _HEADER_SIZE + _DESCRIPTOR_FIELDS["body_size"][0]
    offsets["body"] = quote.body_offset
    signed_end = len(quote.signed_bytes)
    offsets["signed_data_size"] = signed_end
    auth_at = signed_end + _SIGNED_DATA_SIZE_WIDTH
    if quote.version == 3:
        fixed = _V3.fields
        auth_size_at = auth_at + _V3.variable_offset
    else:
        fixed = {**_V4.fields}
        qecd_at = auth_at + _V4.variable_offset + _V4.length_size
        offsets["certification_data_type"] = auth_at + fixed.pop("certification_data_type")[0]
        offsets["qe_report_certification_data.size"] = auth_at + _V4.variable_offset
        fixed.update({name: (qecd_at - auth_at + at, n) for name, (at, n) in _QECD.fields.items()})
        auth_size_at = qecd_at + _QECD.variable_offset
    for name in ("signature", "attestation_key", "qe_report", "qe_report_signature"):
        offsets[name] = auth_at + fixed[name][0]
    offsets["qe_auth_data.size"] = auth_size_at
    offsets["qe_auth_data"] = auth_size_at + _QECD.length_size
    cert_type_at = offsets["qe_auth_data"] + len(quote.qe_auth_data)
    offsets["certification_data.type"] = cert_type_at + _CD.fields["type"][0]
    offsets["certification_data.size"] = cert_type_at + _CD.variable_offset
    offsets["certification_data"] = offsets["certification_data.size"] + _CD.length_size
    offsets["trailing_bytes"] = offsets["certification_data"] + len(quote.certification_data.data)
    return offsets


# --- hostile mutations ------------------------------------------------------------------

_BODY_SIZES = sorted({schema.sizeof() for schema in BODY_SCHEMAS.values()})
# Interesting values for each type field, beyond "anything else".
_TYPE_VALUES: dict[str, tuple[int, ...]] = {
    "header.version": (0, 1, 2, 3, 4, 5, 6, 0xFFFF),
    "header.attestation_key_type": (0, 1, 2, 3, 4, 0xFFFF),
    "header.tee_type": (TEE_TYPE_SGX, TEE_TYPE_TDX, 0x80, 0x82, 1, 0xFFFFFFFF),
    "body_descriptor.body_type": (0, 1, 2, 3, 4, 5, 0xFFFF),
    "body_descriptor.body_size": (0, *_BODY_SIZES, 0xFFFFFFFF),
    "certification_data_type": (0, 1, 4, 5, 6, 7, 0xFFFF),
    "certification_data.type": (0, 1, 2, 3, 4, 5, 6, 7, 0xFFFF),
}


def _boundaries(offsets: dict[str, int], size: int) -> list[int]:
    points = {0, size}
    for name, at in offsets.items():
        width = FIELD_WIDTHS.get(name, 0)
        points.update((at - 1, at, at + 1, at + width // 2, at + width))
    return sorted(p for p in points if 0 <= p <= size)


@functools.lru_cache(maxsize=4096)
def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    # Mutations draw from many small ranges; building a strategy costs more than a draw.
    return st.integers(low, high)


_BOOLEANS = st.booleans()


def _pick(draw: st.DrawFn, choices: Sequence[_T]) -> _T:
    return choices[draw(_ints(0, len(choices) - 1))]


def _position(draw: st.DrawFn, points: list[int], size: int) -> int:
    """A structural boundary (from ``points``) or a random point in ``[0, size]``."""
    at_boundary = draw(_BOOLEANS)
    if points and at_boundary:
        return _pick(draw, points)
    return draw(_ints(0, size))


def _write(data: bytes, at: int, width: int, value: int) -> bytes:
    return data[:at] + value.to_bytes(width, "little") + data[at + width :]


def _read(data: bytes, at: int, width: int) -> int:
    return int.from_bytes(data[at : at + width], "little")


def _fields_in(offsets: dict[str, int], names: tuple[str, ...], size: int) -> list[str]:
    return [n for n in names if n in offsets and offsets[n] + FIELD_WIDTHS[n] <= size]


def _rewrite_field(draw: st.DrawFn, data: bytes, offsets: dict[str, int], name: str) -> bytes:
    at, width = offsets[name], FIELD_WIDTHS[name]
    current = _read(data, at, width)
    top = (1 << (8 * width)) - 1
    if name in _TYPE_VALUES:
        candidates = list(_TYPE_VALUES[name])
    else:
        size = len(data)
        candidates = [0, current - 1, current + 1, top, top - 1, current + size, current // 2]
    candidates = [v for v in candidates if 0 <= v <= top]
    use_candidate = draw(_BOOLEANS)
    value = _pick(draw, candidates) if use_candidate else draw(_ints(0, top))
    if value == current:
        value = current ^ 1
    return _write(data, at, width, value)


def _mutate_once(draw: st.DrawFn, data: bytes, offsets: dict[str, int]) -> bytes:
    size = len(data)
    points = _boundaries(offsets, size)
    inner = [p for p in points if p < size]
    # One entry per length or type field, so each is rewritten about as often as a
    # truncation happens; blind edits come on top.
    actions = ["insert"]
    if size:
        actions += ["truncate", "truncate", "flip", "flip", "delete"]
    actions += _fields_in(offsets, _LENGTH_FIELDS + _TYPE_FIELDS, size)
    action = _pick(draw, actions)
    if action == "truncate":
        return data[: _position(draw, inner, size - 1)]
    if action == "flip":
        out = bytearray(data)
        for _ in range(draw(_ints(1, 4))):
            out[_position(draw, inner, size - 1)] ^= draw(_ints(1, 255))
        return bytes(out)
    if action == "delete":
        at = _position(draw, inner, size - 1)
        count = draw(_ints(1, max(1, min(64, size - at))))
        return data[:at] + data[at + count :]
    if action == "insert":
        at = _position(draw, points, size)
        return data[:at] + draw(_INSERTED) + data[at:]
    return _rewrite_field(draw, data, offsets, action)


_INSERTED = st.binary(min_size=1, max_size=16)
_MUTATION_COUNT = st.sampled_from((1, 1, 1, 2, 3))


@st.composite
def _mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    original = draw(base)
    try:
        offsets = structural_offsets(parse_quote(original))
    except QuoteParseError:  # any base is allowed; unparsable ones get blind mutations
        offsets = {}
    data = original
    # Mostly one precise mutation (it reaches one check), sometimes a few stacked.
    for _ in range(draw(_MUTATION_COUNT)):
        data = _mutate_once(draw, data, offsets)
    if data == original:  # stacked mutations can cancel out
        data = data + b"\x00" if not data else bytes([data[0] ^ 0xFF]) + data[1:]
    return data


def mutated_quotes(base: st.SearchStrategy[bytes] | None = None) -> st.SearchStrategy[bytes]:
    """Hostile variants of the quotes ``base`` generates (default: :func:`quotes`).

    Each example applies one to three mutations, aimed with
    :func:`structural_offsets` at the quote's real fields: truncation at every
    structural boundary or at a random point; a length field
    (:data:`FIELD_WIDTHS`: signed data size, QE certification data size, QE auth
    data size, PCK certification data size) set to 0, its value ±1, all ones or
    anything; a type field (version, attestation key type, TEE type, v5 body
    type and body size, certification data types) set to a wrong value; byte
    flips; inserted or deleted bytes.  The result always differs from the base
    quote; it may still parse (e.g. a flipped byte inside a signature).  A base
    that does not parse gets the blind mutations only.
    """
    return _mutated(quotes() if base is None else base)
