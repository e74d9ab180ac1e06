"""The fast, validated quote parser and the immutable :class:`Quote`.

Parsing checks every length and every structural rule up front (nothing is
trusted, nothing is sliced before its bounds are known) and records offsets;
fields are decoded lazily from the original bytes on first access.  The
offsets and ``struct`` formats come from the ``construct`` schemas in
:mod:`tdxquote.schema`, and the tests hold this parser to the plain
``construct`` parse on every vector and on hypothesis-generated inputs.
"""

from __future__ import annotations

import enum
import re
import struct
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, overload

from . import _layout_table as table
from ._lazy import cached_property
from ._reports import SgxReport, report_codec
from .errors import QuoteParseError
from .schema._constants import (
    ATTESTATION_KEY_TYPE_ECDSA_P256,
    BODY_TYPE_SGX,
    BODY_TYPE_TD10,
    CERT_TYPE_PCK_CERT_CHAIN,
    CERT_TYPE_PPID_CLEARTEXT,
    CERT_TYPE_PPID_RSA2048,
    CERT_TYPE_PPID_RSA3072,
    CERT_TYPE_QE_REPORT,
    TEE_TYPE_SGX,
    TEE_TYPE_TDX,
)
from .schema._rules import check_header

if TYPE_CHECKING:
    from cryptography import x509

    from ._reports import Report
    from .pck import PckExtension

__all__ = ["CertificationData", "Header", "PckIdentifier", "Quote", "TeeType", "parse_quote"]


class TeeType(enum.IntEnum):
    """The TEE a quote attests."""

    SGX = TEE_TYPE_SGX
    TDX = TEE_TYPE_TDX


class Header(NamedTuple):
    """The 48-byte quote header."""

    version: int
    attestation_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes


class CertificationData(NamedTuple):
    """Certification data: its type (1 to 5 here) and its payload bytes."""

    type: int
    data: bytes


class PckIdentifier(NamedTuple):
    """What certification data types 1 to 3 carry instead of a PCK chain.

    The PPID (16 bytes in clear for type 1; encrypted with RSA-2048-OAEP, 256
    bytes, for type 2, or RSA-3072-OAEP, 384 bytes, for type 3), then the TCB
    the PCK key that signed the QE report was derived for: ``cpu_svn`` (16
    bytes) and ``pce_svn``, and the PCE's ``pce_id`` (2 bytes as the quote
    carries them, little-endian, as the PCS query and the PCK certificate
    write it).  Intel's ``sgx_ql_ppid_*_cert_info_t``; types 1 and 2 built
    without ``USE_PCEID`` (Intel's first reference layout, 2 bytes shorter)
    have no PCE-ID: ``pce_id`` is None.
    """

    type: int
    ppid: bytes
    cpu_svn: bytes
    pce_svn: int
    pce_id: bytes | None

    @property
    def encrypted(self) -> bool:
        """True for an encrypted PPID (types 2 and 3)."""
        return self.type != CERT_TYPE_PPID_CLEARTEXT


# PPID size by certification data type; CPUSVN and PCESVN follow (18 bytes), then the
# PCE-ID (2), which Intel's header makes optional for types 1 and 2 (USE_PCEID).
_PPID_SIZES = {
    CERT_TYPE_PPID_CLEARTEXT: 16,
    CERT_TYPE_PPID_RSA2048: 256,
    CERT_TYPE_PPID_RSA3072: 384,
}
_PCE_ID_OPTIONAL = frozenset({CERT_TYPE_PPID_CLEARTEXT, CERT_TYPE_PPID_RSA2048})
_PCK_ID_TAIL = 20


# --- offsets derived from the schemas (through the generated _layout_table) ----------

_HEADER = struct.Struct(table.HEADER_FORMAT)
_HEADER_SIZE = table.HEADER_SIZE
_HEADER_FIELDS = table.HEADER_FIELDS
_VENDOR_AT = _HEADER_FIELDS["qe_vendor_id"][0]
_VENDOR_END = _VENDOR_AT + _HEADER_FIELDS["qe_vendor_id"][1]
_DESCRIPTOR = struct.Struct(table.BODY_DESCRIPTOR_FORMAT)
_V5_BODY_OFFSET = _HEADER_SIZE + _DESCRIPTOR.size
_BODY_SIZES = table.REPORT_SIZES
_SGX_REPORT_SIZE = table.REPORT_SIZES[BODY_TYPE_SGX]

_V4_SIG = table.AUTH_DATA_V4_FIELDS["signature"]
_V4_KEY = table.AUTH_DATA_V4_FIELDS["attestation_key"]
_V4_CERT_TYPE_AT = table.AUTH_DATA_V4_FIELDS["certification_data_type"][0]
_, _V4_CERT_SIZE_AT, _V4_LENGTH_SIZE = table.AUTH_DATA_V4_VARIABLE
_V4_QE_CERT_DATA_AT = _V4_CERT_SIZE_AT + _V4_LENGTH_SIZE
_QECD_REPORT_AT = table.QE_REPORT_CERTIFICATION_DATA_FIELDS["qe_report"][0]
_QECD_REPORT_SIG_AT = table.QE_REPORT_CERTIFICATION_DATA_FIELDS["qe_report_signature"][0]
_QECD_AUTH_SIZE_AT = table.QE_REPORT_CERTIFICATION_DATA_VARIABLE[1]

_V3_SIG = table.AUTH_DATA_V3_FIELDS["signature"]
_V3_KEY = table.AUTH_DATA_V3_FIELDS["attestation_key"]
_V3_REPORT_AT = table.AUTH_DATA_V3_FIELDS["qe_report"][0]
_V3_REPORT_SIG_AT = table.AUTH_DATA_V3_FIELDS["qe_report_signature"][0]
_V3_AUTH_SIZE_AT = table.AUTH_DATA_V3_VARIABLE[1]

_, _CD_SIZE_AT, _CD_LENGTH_SIZE = table.CERTIFICATION_DATA_VARIABLE
_CD_HEAD = _CD_SIZE_AT + _CD_LENGTH_SIZE  # type + size

if (_V3_SIG, _V3_KEY) != (_V4_SIG, _V4_KEY) or _V4_SIG[1] != 64 or _V4_KEY[1] != 64:
    raise ImportError("signature data layout derived from the schemas is inconsistent")

_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U16U32 = struct.Struct("<HI").unpack_from
_HHI = struct.Struct("<HHI").unpack_from

# --- fast path (parse_quote): every fixed field of a valid quote in two unpacks ----
if _V4_CERT_SIZE_AT != _V4_CERT_TYPE_AT + 2:
    raise ImportError("certification data header layout derived from the schemas is inconsistent")
_V4_QE_AUTH_SIZE_AT = _V4_QE_CERT_DATA_AT + _QECD_AUTH_SIZE_AT
# From the signed data size to the QE auth data size (v4/v5: through the type-6 header).
_V4_FIXED = struct.Struct(f"<I{_V4_CERT_TYPE_AT}xHI{_QECD_AUTH_SIZE_AT}xH").unpack_from
_V3_FIXED = struct.Struct(f"<I{_V3_AUTH_SIZE_AT}xH").unpack_from
_V5_PREFIX = struct.Struct(
    "<HHI" + f"{_HEADER_SIZE - 8}x" + _DESCRIPTOR.format.lstrip("<")
).unpack_from
_V5 = (5, 0)  # marks a v5 header: the descriptor decides

# A plan for each valid header triple, or (header triple, v5 body type, v5 body size):
# (version, TEE type, body type, body end, least size, the fixed-field unpack,
#  QE report offset, QE auth data offset).  Offsets are absolute.
_Plan = tuple[int, int, int, int, int, Any, int, int]
_PLANS: dict[tuple[int, ...], _Plan | tuple[int, int]] = {}


def _plan(version: int, tee_value: int, body_type: int, body_end: int) -> _Plan:
    tee = TeeType(tee_value)
    auth_at = body_end + 4
    if version == 3:
        qe_report_at = auth_at + _V3_REPORT_AT
        qe_auth_at = auth_at + _V3_AUTH_SIZE_AT + 2
        return (version, tee, body_type, body_end, qe_auth_at, _V3_FIXED, qe_report_at, qe_auth_at)
    qe_report_at = auth_at + _V4_QE_CERT_DATA_AT + _QECD_REPORT_AT
    qe_auth_at = auth_at + _V4_QE_AUTH_SIZE_AT + 2
    return (version, tee, body_type, body_end, qe_auth_at, _V4_FIXED, qe_report_at, qe_auth_at)


for _version, _tee in ((3, TEE_TYPE_SGX), (4, TEE_TYPE_SGX), (4, TEE_TYPE_TDX)):
    _type = BODY_TYPE_TD10 if _tee == TEE_TYPE_TDX else BODY_TYPE_SGX
    _PLANS[(_version, 2, _tee)] = _plan(_version, _tee, _type, _HEADER_SIZE + _BODY_SIZES[_type])
for _tee in (TEE_TYPE_SGX, TEE_TYPE_TDX):
    _PLANS[(5, 2, _tee)] = _V5
    for _type, _size in _BODY_SIZES.items():
        if (_tee == TEE_TYPE_SGX) == (_type == BODY_TYPE_SGX):
            _PLANS[(5, 2, _tee, _type, _size)] = _plan(5, _tee, _type, _V5_BODY_OFFSET + _size)

_HEX_NOISE = re.compile(r"\s+")

# The layout _scan returns: (data, version, tee_type, body_type, body_end, auth_end,
# qe_report_at, qe_auth_at, qe_auth_size, cert_at, cert_size).
_Layout = tuple[bytes, int, int, int, int, int, int, int, int, int, int]
# A Quote holds it as a list, followed by four slots for the decoded header, body,
# QE report and certification data (None until first read): reading a part costs a
# list lookup, and no per-instance dict is created for it.
# (Properties index it with literals: a global name lookup per read costs more.)
if TYPE_CHECKING:

    class _QuoteState(Protocol):
        """How the type checker sees ``Quote._layout``: each index with its type."""

        @overload
        def __getitem__(self, index: Literal[0]) -> bytes: ...
        @overload
        def __getitem__(self, index: Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) -> int: ...
        @overload
        def __getitem__(self, index: Literal[11]) -> Header | None: ...
        @overload
        def __getitem__(self, index: Literal[12]) -> Report | None: ...
        @overload
        def __getitem__(self, index: Literal[13]) -> SgxReport | None: ...
        @overload
        def __getitem__(self, index: Literal[14]) -> CertificationData | None: ...
        def __setitem__(self, index: int, value: object) -> None: ...


def _fail(reason: str, offset: int, field: str) -> QuoteParseError:
    return QuoteParseError(reason, offset=offset, field=field)


def _as_bytes(data: object) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            return bytes(data)
        except (TypeError, ValueError, BufferError) as exc:
            raise _fail(f"unreadable buffer: {exc}", 0, "quote") from None
    if isinstance(data, str):
        raise _fail("expected bytes, got str (use Quote.from_hex for hex text)", 0, "quote")
    raise _fail(f"expected bytes, bytearray or memoryview, got {type(data).__name__}", 0, "quote")


def _scan(data: bytes) -> _Layout:
    """Validate the structure of ``data`` and return its layout.

    Layout: (data, version, tee_type, body_type, body_end, auth_end,
    qe_report_at, qe_auth_at, qe_auth_size, cert_at, cert_size).
    ``body_type`` is the effective body type (1 to 4) for every version.
    """
    size = len(data)
    if size < _HEADER_SIZE:
        raise _fail(f"quote is {size} bytes, shorter than the 48-byte header", size, "header")
    head = _HHI(data, 0)
    version, key_type, tee = head
    if head not in _VALID_HEADERS:
        raise _header_error(
            check_header(_HeaderView(version, key_type, tee)) or "invalid quote header"
        )
    if version == 4 and tee == TEE_TYPE_TDX:
        body_type = BODY_TYPE_TD10
        body_at = _HEADER_SIZE
    else:
        if version == 5:
            if size < _V5_BODY_OFFSET:
                raise _fail("quote ends inside the v5 body descriptor", size, "body_descriptor")
            body_type, body_size = _DESCRIPTOR.unpack_from(data, _HEADER_SIZE)
            expected = _BODY_SIZES.get(body_type)
            if expected is None:
                raise _fail(
                    f"unsupported body type {body_type} (supported: 1, 2, 3, 4)",
                    _HEADER_SIZE,
                    "body_descriptor.body_type",
                )
            if body_size != expected:
                raise _fail(
                    f"body size {body_size} does not match body type {body_type} "
                    f"(expected {expected})",
                    _HEADER_SIZE + 2,
                    "body_descriptor.body_size",
                )
            if (tee == TEE_TYPE_SGX) != (body_type == BODY_TYPE_SGX):
                raise _fail(
                    f"body type {body_type} does not match the TEE type 0x{tee:08x}",
                    _HEADER_SIZE,
                    "body_descriptor.body_type",
                )
            body_at = _V5_BODY_OFFSET
        else:
            body_type = BODY_TYPE_TD10 if tee == TEE_TYPE_TDX else BODY_TYPE_SGX
            body_at = _HEADER_SIZE
    body_end = body_at + _BODY_SIZES[body_type]
    auth_at = body_end + 4
    if auth_at > size:
        raise _fail("quote ends inside the report body or the signed data size", size, "body")
    (auth_size,) = _U32(data, body_end)
    auth_end = auth_at + auth_size
    if auth_end > size:
        raise _fail(
            f"signed data size {auth_size} exceeds the {size - auth_at} bytes that remain",
            body_end,
            "signed_data_size",
        )
    if version == 3:
        qe_report_at = auth_at + _V3_REPORT_AT
        qe_auth_size_at = auth_at + _V3_AUTH_SIZE_AT
    else:
        if auth_at + _V4_QE_CERT_DATA_AT > auth_end:
            raise _fail("signed data too short for its fixed fields", auth_end, "signed_data")
        cert_type, qecd_size = _U16U32(data, auth_at + _V4_CERT_TYPE_AT)
        if cert_type != CERT_TYPE_QE_REPORT:
            raise _fail(
                f"certification data type {cert_type} is not 6 (QE report certification "
                "data), as quote versions 4 and 5 require",
                auth_at + _V4_CERT_TYPE_AT,
                "certification_data_type",
            )
        qecd_at = auth_at + _V4_QE_CERT_DATA_AT
        if qecd_at + qecd_size != auth_end:
            raise _fail(
                f"QE report certification data size {qecd_size} does not fill the signed "
                f"data exactly ({auth_end - qecd_at} bytes)",
                auth_at + _V4_CERT_SIZE_AT,
                "qe_report_certification_data.size",
            )
        qe_report_at = qecd_at + _QECD_REPORT_AT
        qe_auth_size_at = qecd_at + _QECD_AUTH_SIZE_AT
    if qe_auth_size_at + 2 > auth_end:
        raise _fail("signed data too short for the QE report", auth_end, "qe_report")
    (qe_auth_size,) = _U16(data, qe_auth_size_at)
    qe_auth_at = qe_auth_size_at + 2
    cert_head_at = qe_auth_at + qe_auth_size
    if cert_head_at + _CD_HEAD > auth_end:
        raise _fail(
            f"QE auth data size {qe_auth_size} leaves no room for the certification data",
            qe_auth_size_at,
            "qe_auth_data.size",
        )
    pck_type, cert_size = _U16U32(data, cert_head_at)
    if not CERT_TYPE_PPID_CLEARTEXT <= pck_type <= CERT_TYPE_PCK_CERT_CHAIN:
        raise _fail(
            f"unsupported certification data type {pck_type} (expected 1 to 5)",
            cert_head_at,
            "certification_data.type",
        )
    cert_at = cert_head_at + _CD_HEAD
    if cert_at + cert_size != auth_end:
        raise _fail(
            f"certification data size {cert_size} does not end where the signed data "
            f"ends ({auth_end - cert_at} bytes remain)",
            cert_head_at + 2,
            "certification_data.size",
        )
    return (
        data,
        version,
        tee,
        body_type,
        body_end,
        auth_end,
        qe_report_at,
        qe_auth_at,
        qe_auth_size,
        cert_at,
        cert_size,
    )


def _header_error(problem: str) -> QuoteParseError:
    """The error for a header rule, pointing at the header field it is about."""
    if problem.startswith("unsupported quote version"):
        name = "version"
    elif "attestation key" in problem:
        name = "attestation_key_type"
    else:  # an unknown TEE type, or a TEE type the version does not allow
        name = "tee_type"
    return _fail(problem, _HEADER_FIELDS[name][0], f"header.{name}")


class _HeaderView:
    """The three header fields :func:`check_header` reads (a NamedTuple costs more to make)."""

    __slots__ = ("attestation_key_type", "tee_type", "version")

    def __init__(self, version: int, attestation_key_type: int, tee_type: int) -> None:
        self.version = version
        self.attestation_key_type = attestation_key_type
        self.tee_type = tee_type


# Every (version, attestation key type, TEE type) the schema's header rule accepts.
_VALID_HEADERS = frozenset(
    (version, key_type, tee)
    for version in (3, 4, 5)
    for key_type in (ATTESTATION_KEY_TYPE_ECDSA_P256,)
    for tee in (TEE_TYPE_SGX, TEE_TYPE_TDX)
    if check_header(_HeaderView(version, key_type, tee)) is None
)


_new_quote: Any = object.__new__
_set: Any = object.__setattr__


def parse_quote(data: bytes | bytearray | memoryview) -> Quote:
    """Parse a DCAP quote (v3 SGX, v4 SGX/TDX, v5) from its binary form.

    Every length and structural rule is checked before anything is sliced;
    fields are decoded lazily.  Raises :class:`~tdxquote.QuoteParseError`
    (with ``offset``, ``field`` and ``reason``) and nothing else.
    """
    # Valid quotes take this fast path, which reads every fixed field in two
    # unpacks; anything unusual or invalid goes to _parse_slow, which accepts it
    # or raises the precise error.  Every condition _scan checks is checked here.
    if type(data) is not bytes:
        data = _as_bytes(data)
    size = len(data)
    if size < _V5_BODY_OFFSET:
        return _parse_slow(data)
    plan = _PLANS.get(_HHI(data, 0))
    if plan is _V5:
        plan = _PLANS.get(_V5_PREFIX(data, 0))
    if plan is None:
        return _parse_slow(data)
    version, tee, body_type, body_end, least, fixed, qe_report_at, qe_auth_at = plan  # type: ignore[misc]
    if size < least:
        return _parse_slow(data)
    if version == 3:
        auth_size, qe_auth_size = fixed(data, body_end)
    else:
        auth_size, cert_type, qecd_size, qe_auth_size = fixed(data, body_end)
        if cert_type != CERT_TYPE_QE_REPORT or qecd_size + _V4_QE_CERT_DATA_AT != auth_size:
            return _parse_slow(data)
    auth_end = body_end + 4 + auth_size
    cert_head_at = qe_auth_at + qe_auth_size
    if auth_end > size or cert_head_at + _CD_HEAD > auth_end:
        return _parse_slow(data)
    pck_type, cert_size = _U16U32(data, cert_head_at)
    cert_at = cert_head_at + _CD_HEAD
    if cert_at + cert_size != auth_end or not (
        CERT_TYPE_PPID_CLEARTEXT <= pck_type <= CERT_TYPE_PCK_CERT_CHAIN
    ):
        return _parse_slow(data)
    quote = _new_quote(Quote)
    _set_version(quote, version)
    _set_tee_type(quote, tee)
    _set_layout(
        quote,
        [
            data,
            version,
            tee,
            body_type,
            body_end,
            auth_end,
            qe_report_at,
            qe_auth_at,
            qe_auth_size,
            cert_at,
            cert_size,
            None,
            None,
            None,
            None,
        ],
    )
    return quote  # type: ignore[no-any-return]


def _parse_slow(data: bytes) -> Quote:
    """Parse with :func:`_scan`: any valid quote, or the precise error for an invalid one."""
    quote = _new_quote(Quote)
    _fill(quote, _scan(data))
    return quote  # type: ignore[no-any-return]


class Quote:
    """An immutable, parsed DCAP quote.

    Create one with :func:`parse_quote`, :meth:`Quote.parse` or
    :meth:`Quote.from_hex`.  Every field is decoded from the original bytes on
    first access; :meth:`to_bytes` returns those bytes exactly.
    """

    # The version and the TEE are read so often that they are slots, set by the parser:
    # reading a slot costs a fraction of a property call.
    __slots__ = {
        "__dict__": None,
        "_layout": None,
        "tee_type": "The TEE: :attr:`TeeType.SGX` or :attr:`TeeType.TDX`.",
        "version": "Quote format version: 3, 4 or 5.",
    }
    _layout: _QuoteState
    version: int
    tee_type: TeeType

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        _fill(self, _scan(_as_bytes(data)))

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Quote:
        """Same as :func:`parse_quote`."""
        return parse_quote(data)

    @classmethod
    def from_hex(cls, text: str | bytes) -> Quote:
        """Parse a quote given as hex text (``0x`` prefix and whitespace allowed)."""
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("ascii")
            except UnicodeDecodeError:
                raise _fail("hex text is not ASCII", 0, "quote") from None
        if not isinstance(text, str):
            raise _fail(f"expected hex text, got {type(text).__name__}", 0, "quote")
        cleaned = _HEX_NOISE.sub("", text)
        if cleaned[:2] in ("0x", "0X"):
            cleaned = cleaned[2:]
        try:
            raw = bytes.fromhex(cleaned)
        except ValueError:
            raise _fail("not valid hex text", 0, "quote") from None
        return parse_quote(raw)

    @classmethod
    def from_text(cls, data: str | bytes | bytearray | memoryview) -> Quote:
        """Parse a quote however it was handed over; the form is detected.

        Raw bytes, hex, base64 (standard or URL-safe), a JSON byte array, or a
        JSON document holding one of them (dstack's GetQuote response
        ``{"quote": ...}``, ``{"tdx": {"quote": ...}}``, ...).  Raises
        :class:`~tdxquote.errors.QuoteParseError`, saying what the input looks
        like when it is not a quote (a certificate, a private key, collateral).
        """
        from ._input import read_quote

        return read_quote(data)[0]

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Quote is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Quote is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Quote):
            return NotImplemented
        return self._layout[0] == other._layout[0]

    def __hash__(self) -> int:
        return hash(self._layout[0])

    def __repr__(self) -> str:
        body = "none" if self.body_type is None else str(self.body_type)
        return (
            f"<Quote v{self.version} {self.tee_type.name} body_type={body} "
            f"{len(self._layout[0])} bytes>"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (parse_quote, (self._layout[0],))

    # --- header ---------------------------------------------------------------------
    @property
    def header(self) -> Header:
        """The 48-byte header, decoded."""
        layout = self._layout
        header: Header | None = layout[11]
        if header is None:
            header = layout[11] = _tuple_new(Header, _HEADER.unpack_from(layout[0], 0))
        return header

    @property
    def attestation_key_type(self) -> int:
        """Attestation key type (2: ECDSA-256-with-P-256)."""
        return int(_U16(self._layout[0], 2)[0])

    @property
    def is_tdx(self) -> bool:
        """True for a TDX quote."""
        return self._layout[2] == TEE_TYPE_TDX

    @property
    def qe_svn(self) -> int:
        """QE security version (header 0x08; reserved for TDX)."""
        return self.header.qe_svn

    @property
    def pce_svn(self) -> int:
        """PCE security version (header 0x0A; reserved for TDX)."""
        return self.header.pce_svn

    @property
    def qe_vendor_id(self) -> bytes:
        """QE vendor ID (Intel: 939a7233f79c4ca9940a0db3957f0607)."""
        return self._layout[0][_VENDOR_AT:_VENDOR_END]

    @property
    def user_data(self) -> bytes:
        """Header user data (20 bytes; the first 16 are the QE ID)."""
        return self.header.user_data

    # --- body -----------------------------------------------------------------------
    @property
    def body_type(self) -> int | None:
        """The v5 descriptor's body type (1 SGX, 2 TD 1.0, 3 TD 1.5, 4 TD 1.5 ex); None in v3/v4."""
        return self._layout[3] if self._layout[1] == 5 else None

    @property
    def body_offset(self) -> int:
        """Offset of the report body in the quote."""
        return _V5_BODY_OFFSET if self._layout[1] == 5 else _HEADER_SIZE

    @property
    def body(self) -> Report:
        """The report body: a :class:`TdReport10`, :class:`TdReport15`, :class:`TdReport15Ex`
        or :class:`SgxReport`."""
        layout = self._layout
        body: Report | None = layout[12]
        if body is None:
            cls, unpack_from = _REPORT_DECODERS[layout[3]]
            at = _V5_BODY_OFFSET if layout[1] == 5 else _HEADER_SIZE
            body = layout[12] = _tuple_new(cls, unpack_from(layout[0], at))
        return body

    # --- signature data -------------------------------------------------------------
    @property
    def signed_bytes(self) -> bytes:
        """The exact bytes the quote signature covers (header, [descriptor,] body)."""
        return self._layout[0][: self._layout[4]]

    @property
    def signed_data_size(self) -> int:
        """The size field that follows the body: the length of the signature data."""
        return self._layout[5] - self._layout[4] - 4

    @property
    def signature(self) -> bytes:
        """The quote signature (ECDSA P-256, raw r||s, 64 bytes)."""
        at = self._layout[4] + 4
        return self._layout[0][at : at + 64]

    @property
    def attestation_key(self) -> bytes:
        """The attestation public key (P-256, raw X||Y, 64 bytes)."""
        at = self._layout[4] + 4 + 64
        return self._layout[0][at : at + 64]

    @property
    def qe_report_bytes(self) -> bytes:
        """The exact 384 bytes of the QE report (what the PCK key signs)."""
        at = self._layout[6]
        return self._layout[0][at : at + _SGX_REPORT_SIZE]

    @property
    def qe_report(self) -> SgxReport:
        """The Quoting Enclave's report."""
        layout = self._layout
        report: SgxReport | None = layout[13]
        if report is None:
            report = layout[13] = _tuple_new(SgxReport, _SGX_UNPACK_FROM(layout[0], layout[6]))
        return report

    @property
    def qe_report_signature(self) -> bytes:
        """The QE report signature by the PCK key (raw r||s, 64 bytes)."""
        at = self._layout[6] + _SGX_REPORT_SIZE
        return self._layout[0][at : at + 64]

    @property
    def qe_auth_data(self) -> bytes:
        """QE authentication data (hashed with the attestation key into the QE report)."""
        at = self._layout[7]
        return self._layout[0][at : at + self._layout[8]]

    @property
    def qe_report_certification_type(self) -> int | None:
        """6 (QE report certification data) for v4/v5 quotes; None for v3."""
        return None if self._layout[1] == 3 else CERT_TYPE_QE_REPORT

    @property
    def certification_data(self) -> CertificationData:
        """The PCK certification data (type 1 to 5; nested in type 6 for v4/v5)."""
        layout = self._layout
        cert: CertificationData | None = layout[14]
        if cert is None:
            data, at = layout[0], layout[9]
            cert = layout[14] = _tuple_new(
                CertificationData, (_U16(data, at - _CD_HEAD)[0], data[at : at + layout[10]])
            )
        return cert

    @property
    def trailing_bytes(self) -> bytes:
        """Bytes after the signature data (legal, not signed, kept as they are)."""
        return self._layout[0][self._layout[5] :]

    def to_bytes(self) -> bytes:
        """The quote's exact input bytes."""
        return self._layout[0]

    def __bytes__(self) -> bytes:
        return self._layout[0]

    def __len__(self) -> int:
        return len(self._layout[0])

    # --- PCK certificate chain ------------------------------------------------------
    @property
    def pck_chain_pem(self) -> bytes | None:
        """The PEM chain of type-5 certification data (a trailing NUL removed), else None."""
        data, at, size = self._layout[0], self._layout[9], self._layout[10]
        if _U16(data, at - _CD_HEAD)[0] != CERT_TYPE_PCK_CERT_CHAIN:
            return None
        end = at + size
        if size and data[end - 1] == 0:
            end -= 1
        return data[at:end]

    @cached_property
    def pck_chain(self) -> tuple[x509.Certificate, ...]:
        """The PCK chain as ``cryptography`` certificates (leaf first, as in the quote).

        Decoded on first access (``cryptography.x509`` is imported then, not
        with the parser); malformed PEM raises :class:`QuoteParseError`.
        """
        from ._pem_chain import decode_pck_chain

        return decode_pck_chain(self.pck_chain_pem, self._layout[9])

    @cached_property
    def pck_identifier(self) -> PckIdentifier | None:
        """The PPID, CPUSVN, PCESVN and PCE-ID of certification data types 1 to 3, else None.

        Decoded on first access; certification data of another length than
        its type's (36, 276 or 404 bytes; 34 or 274 for types 1 and 2 without
        PCE-ID) raises :class:`QuoteParseError`.
        """
        data, at, size = self._layout[0], self._layout[9], self._layout[10]
        cert_type = _U16(data, at - _CD_HEAD)[0]
        ppid_size = _PPID_SIZES.get(cert_type)
        if ppid_size is None:
            return None
        full = ppid_size + _PCK_ID_TAIL
        short = full - 2 if cert_type in _PCE_ID_OPTIONAL else full
        if size not in (full, short):
            expected = f"{full}" if short == full else f"{full} (or {short} without PCE-ID)"
            raise _fail(
                f"certification data type {cert_type} is {size} bytes, not {expected}: a "
                f"{ppid_size}-byte PPID, CPUSVN, PCESVN, PCE-ID",
                at - _CD_HEAD + 2,
                "certification_data.size",
            )
        tail = at + ppid_size
        return PckIdentifier(
            cert_type,
            data[at:tail],
            data[tail : tail + 16],
            _U16(data, tail + 16)[0],
            data[tail + 18 : tail + 20] if size == full else None,
        )

    @cached_property
    def pck_extension(self) -> PckExtension:
        """The SGX extension of the PCK leaf certificate (FMSPC, TCB components, ...).

        Read from the leaf's DER (the chain's first certificate) without
        ``cryptography``; the other certificates of the chain are checked as
        PEM only.  Raises :class:`QuoteParseError` (field ``pck_chain`` for
        the chain or the leaf, ``pck_extension...`` for the extension).
        """
        from ._pck_read import read_pck_extension, read_pck_leaf

        return read_pck_extension(read_pck_leaf(self.pck_chain_pem, self._layout[9]))


_tuple_new: Any = tuple.__new__
_set_layout: Any = Quote.__dict__["_layout"].__set__
_set_version: Any = Quote.__dict__["version"].__set__
_set_tee_type: Any = Quote.__dict__["tee_type"].__set__
_TEE_TYPES = {member.value: member for member in TeeType}


def _fill(quote: Quote, layout: _Layout) -> None:
    """Set a new quote's state from the layout _scan returned."""
    _set_version(quote, layout[1])
    _set_tee_type(quote, _TEE_TYPES[layout[2]])
    _set_layout(quote, [*layout, None, None, None, None])


class _Decoders(dict[int, tuple[Any, Any]]):
    """Body type -> (report class, its unpack): the TD 1.5 ones are added when first needed."""

    def __missing__(self, body_type: int) -> tuple[Any, Any]:
        cls, codec = report_codec(body_type)
        found = self[body_type] = (cls, codec.unpack_from)
        return found


_REPORT_DECODERS = _Decoders()
_SGX_UNPACK_FROM = _REPORT_DECODERS[BODY_TYPE_SGX][1]  # (the QE report's: every quote has one)
_REPORT_DECODERS[BODY_TYPE_TD10]  # made now: TD 1.0 quotes are the common ones
