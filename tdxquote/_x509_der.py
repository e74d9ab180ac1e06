"""Certificates and CRLs read from their DER bytes: :class:`CertView` and :class:`CrlView`.

Verification needs little of an X.509 certificate: the exact signed bytes
(``tbsCertificate``), the signature, the serial number, the raw issuer and
subject names (compared byte for byte, as Intel's QVL does), the validity
dates, the P-256 public key and a few extensions.  :func:`parse_certificate`
reads exactly these with the strict DER reader :mod:`tdxquote._der`, so a
signature is checked over the bytes as received (``cryptography``'s
``verify_directly_issued_by`` and ``is_signature_valid`` re-encode what they
verify) and no ``x509.Name`` object is ever built.  Names are decoded only to
match a common name, to write an error message, or to show them
(:func:`name_rfc4514`, the RFC 4514 text ``cryptography`` would print).

Nothing here imports ``cryptography``: ``tdxquote parse`` reads a PCK chain
with this module alone, and the ECDSA checks live in
:mod:`tdxquote._x509_verify`.  Everything here is a pure function of its
input bytes; malformed input raises :class:`X509FormatError` (a
``ValueError``) and nothing else.
"""

from __future__ import annotations

import struct
from datetime import datetime, timezone

from . import _der
from .errors import QuoteParseError

__all__ = [
    "CertView",
    "CrlView",
    "X509FormatError",
    "AUTHORITY_KEY_IDENTIFIER",
    "BASIC_CONSTRAINTS",
    "CRL_NUMBER",
    "KEY_USAGE",
    "describe_name",
    "name_common_name",
    "name_rfc4514",
    "parse_certificate",
    "parse_crl",
]

# OBJECT IDENTIFIER content octets.
_ECDSA_WITH_SHA256 = bytes.fromhex("2a8648ce3d040302")
_COMMON_NAME = bytes.fromhex("550403")
BASIC_CONSTRAINTS = bytes.fromhex("551d13")
KEY_USAGE = bytes.fromhex("551d0f")
CRL_NUMBER = bytes.fromhex("551d14")
AUTHORITY_KEY_IDENTIFIER = bytes.fromhex("551d23")
# The whole AlgorithmIdentifier of ecdsa-with-SHA256 (no parameters, RFC 5758), of a
# P-256 public key (id-ecPublicKey, prime256v1), and the v3 version field.
_ECDSA_SHA256_ALGORITHM = bytes.fromhex("300a06082a8648ce3d040302")
_P256_ALGORITHM = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")
_VERSION_3 = bytes.fromhex("a003020102")

_BIT_STRING = 0x03
_SET = 0x31
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_EXPLICIT_0 = 0xA0
_EXPLICIT_3 = 0xA3
_KEY_CERT_SIGN = 0x04  # KeyUsage bit 5 in the first content octet


class X509FormatError(ValueError):
    """A certificate or CRL whose DER does not have the expected structure."""


class CertView:
    """What verification reads from a certificate, sliced from its DER (read-only).

    ``tbs`` and ``signature`` are the signed bytes and the DER ECDSA
    signature exactly as encoded; ``issuer`` and ``subject`` are the raw DER
    of the names; ``public_point`` is the 65-byte uncompressed point of a
    P-256 key (``None`` for any other key).  The extensions and the common
    name are read when first asked for (a verifier needs them of a few
    certificates only).
    """

    __slots__ = (
        "_common_name",
        "_digest",
        "_extensions",
        "_extensions_der",
        "_is_ca",
        "der",
        "ecdsa_sha256",
        "issuer",
        "not_after",
        "not_before",
        "public_point",
        "serial",
        "signature",
        "subject",
        "tbs",
    )

    def __init__(
        self,
        *,
        der: bytes,
        tbs: bytes,
        signature: bytes,
        ecdsa_sha256: bool,
        serial: int,
        issuer: bytes,
        subject: bytes,
        not_before: datetime,
        not_after: datetime,
        public_point: bytes | None,
        extensions_der: bytes,
    ) -> None:
        self.der = der
        self._digest: bytes | None = None
        self.tbs = tbs
        self.signature = signature
        self.ecdsa_sha256 = ecdsa_sha256
        self.serial = serial
        self.issuer = issuer
        self.subject = subject
        self.not_before = not_before
        self.not_after = not_after
        self.public_point = public_point
        self._extensions_der = extensions_der
        self._extensions: dict[bytes, tuple[bool, bytes]] | None = None
        self._common_name: str | None = None
        self._is_ca: bool | None = None

    def __repr__(self) -> str:
        return f"<CertView {describe_name(self.subject)} serial={self.serial:x}>"

    @property
    def digest(self) -> bytes:
        """SHA-256 of the certificate's DER (computed when first asked for)."""
        digest = self._digest
        if digest is None:
            digest = self._digest = _sha256(self.der)
        return digest

    @property
    def self_issued(self) -> bool:
        """Issuer and subject are the same name (byte for byte)."""
        return self.issuer == self.subject

    @property
    def common_name(self) -> str:
        """The subject's first common name, decoded leniently (for matching and messages)."""
        if self._common_name is None:
            self._common_name = name_common_name(self.subject)
        return self._common_name

    @property
    def extensions(self) -> dict[bytes, tuple[bool, bytes]]:
        """Each extension's OID content octets -> ``(critical, value)``.

        Raises :class:`X509FormatError` for a malformed extensions field.
        """
        if self._extensions is None:
            found: dict[bytes, tuple[bool, bytes]] = {}
            if self._extensions_der:
                data = self._extensions_der
                try:
                    found = _extensions(data, _read(data, 0, len(data)))
                except QuoteParseError as exc:
                    raise X509FormatError(
                        f"certificate extensions: {exc.reason} (byte {exc.offset})"
                    ) from None
            self._extensions = found
        return self._extensions

    def is_ca(self) -> bool:
        """BasicConstraints CA=true and KeyUsage keyCertSign (both present and readable)."""
        if self._is_ca is None:
            try:
                extensions = self.extensions
                basic = extensions.get(BASIC_CONSTRAINTS)
                usage = extensions.get(KEY_USAGE)
                self._is_ca = (
                    basic is not None
                    and usage is not None
                    and _basic_constraints_ca(basic[1])
                    and _key_cert_sign(usage[1])
                )
            except (QuoteParseError, X509FormatError):
                self._is_ca = False
        return self._is_ca


class CrlView:
    """What verification reads from a CRL, sliced from its DER (read-only).

    ``revoked`` holds the serial numbers of the revoked certificates;
    ``crl_number`` is ``None`` without a CRL Number extension.  Two views are
    equal when their DER is.
    """

    __slots__ = (
        "crl_number",
        "der",
        "digest",
        "ecdsa_sha256",
        "has_authority_key_identifier",
        "issuer",
        "next_update",
        "revoked",
        "signature",
        "tbs",
        "this_update",
    )

    def __init__(
        self,
        *,
        der: bytes,
        digest: bytes,
        tbs: bytes,
        signature: bytes,
        ecdsa_sha256: bool,
        issuer: bytes,
        this_update: datetime,
        next_update: datetime | None,
        revoked: frozenset[int],
        crl_number: int | None,
        has_authority_key_identifier: bool,
    ) -> None:
        self.der = der
        self.digest = digest
        self.tbs = tbs
        self.signature = signature
        self.ecdsa_sha256 = ecdsa_sha256
        self.issuer = issuer
        self.this_update = this_update
        self.next_update = next_update
        self.revoked = revoked
        self.crl_number = crl_number
        self.has_authority_key_identifier = has_authority_key_identifier

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CrlView) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)

    def __repr__(self) -> str:
        return f"<CrlView {describe_name(self.issuer)} revoked={len(self.revoked)}>"

    @property
    def issuer_common_name(self) -> str:
        """The issuer's first common name, decoded leniently."""
        return name_common_name(self.issuer)


# --- reading -------------------------------------------------------------------------------


def parse_certificate(der: bytes) -> CertView:
    """Read a DER X.509 v3 certificate; :class:`X509FormatError` if malformed."""
    try:
        return _parse_certificate(der)
    except QuoteParseError as exc:
        raise X509FormatError(f"certificate: {exc.reason} (byte {exc.offset})") from None


def parse_crl(der: bytes) -> CrlView:
    """Read a DER X.509 v2 CRL; :class:`X509FormatError` if malformed."""
    try:
        return _parse_crl(der)
    except QuoteParseError as exc:
        raise X509FormatError(f"CRL: {exc.reason} (byte {exc.offset})") from None


def _fail(message: str, offset: int) -> QuoteParseError:
    return QuoteParseError(message, offset=offset, field="x509")


# An element as (tag, offset, start, end): a plain tuple, cheaper than _der.Tlv here.
_Element = tuple[int, int, int, int]


def _read(data: bytes, pos: int, end: int) -> _Element:
    """The element at ``pos``, which must end by ``end`` (1- and 2-octet lengths inline)."""
    if pos + 2 > end:
        raise _fail("truncated: expected a DER element", pos)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _fail("high-tag-number form is not supported", pos)
    length = data[pos + 1]
    start = pos + 2
    if length >= 0x80:
        if length == 0x81 and pos + 3 <= end:
            length = data[pos + 2]
            start = pos + 3
            if length < 0x80:
                raise _fail(f"non-minimal length encoding (long form for length {length})", pos)
        elif length == 0x82 and pos + 4 <= end:
            length = (data[pos + 2] << 8) | data[pos + 3]
            start = pos + 4
            if length < 0x100:
                raise _fail(f"non-minimal length encoding (2 octets for length {length})", pos)
        else:
            tlv = _der.read_tlv(data, pos, end, field="x509")
            return tlv.tag, tlv.offset, tlv.start, tlv.end
    stop = start + length
    if stop > end:
        raise _fail(f"truncated: length {length} exceeds the element", pos)
    return tag, pos, start, stop


def _children(data: bytes, element: _Element, tag: int = _der.SEQUENCE) -> list[_Element]:
    if element[0] != tag:
        raise _fail(f"expected tag 0x{tag:02x}, found 0x{element[0]:02x}", element[1])
    children = []
    pos, end = element[2], element[3]
    while pos < end:
        # A short-form element inline (most are); anything else through _read.
        if pos + 2 <= end:
            child_tag = data[pos]
            length = data[pos + 1]
            stop = pos + 2 + length
            if length < 0x80 and child_tag & 0x1F != 0x1F and stop <= end:
                children.append((child_tag, pos, pos + 2, stop))
                pos = stop
                continue
        child = _read(data, pos, end)
        children.append(child)
        pos = child[3]
    return children


def _signed(der: bytes) -> tuple[_Element, bytes, bool]:
    """The outer SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING }: tbs, signature, alg ok."""
    outer = _read(der, 0, len(der))
    if outer[3] != len(der):
        raise _fail(f"{len(der) - outer[3]} trailing bytes after the DER element", outer[3])
    parts = _children(der, outer)
    if len(parts) != 3 or parts[0][0] != _der.SEQUENCE:
        raise _fail("expected SEQUENCE { signed part, algorithm, signature }", 0)
    tbs, algorithm, bits = parts
    ecdsa = der[algorithm[1] : algorithm[3]] == _ECDSA_SHA256_ALGORITHM
    return tbs, _bit_string(der, bits), ecdsa


def _bit_string(data: bytes, element: _Element) -> bytes:
    tag, offset, start, end = element
    if tag != _BIT_STRING:
        raise _fail("expected a BIT STRING", offset)
    if start == end or data[start] != 0:
        raise _fail("BIT STRING with unused bits", offset)
    return data[start + 1 : end]


def _time(data: bytes, element: _Element) -> datetime:
    tag, offset, start, end = element
    text = data[start:end]
    if tag == _UTC_TIME and len(text) == 13:
        digits, year_digits = text[:12], 2
    elif tag == _GENERALIZED_TIME and len(text) == 15:
        digits, year_digits = text[:14], 4
    else:
        raise _fail("expected UTCTime or GeneralizedTime in DER form", offset)
    if text[-1:] != b"Z" or not digits.isdigit() or not digits.isascii():
        raise _fail("malformed time", offset)
    # One conversion, then two digits at a time from the right (cheaper than six ints).
    value, second = divmod(int(digits), 100)
    value, minute = divmod(value, 100)
    value, hour = divmod(value, 100)
    value, day = divmod(value, 100)
    year, month = divmod(value, 100)
    if year_digits == 2:
        year += 2000 if year < 50 else 1900
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        raise _fail("impossible date", offset) from None


def _is_time(element: _Element) -> bool:
    tag, _, start, end = element
    return (tag == _UTC_TIME and end - start == 13) or (
        tag == _GENERALIZED_TIME and end - start == 15
    )


def _integer(data: bytes, element: _Element) -> int:
    tag, offset, start, end = element
    if tag != _der.INTEGER or start == end:
        raise _fail("expected an INTEGER", offset)
    return int.from_bytes(data[start:end], "big", signed=True)


def _public_point(data: bytes, spki: _Element) -> bytes | None:
    parts = _children(data, spki)
    if len(parts) != 2:
        raise _fail("SubjectPublicKeyInfo must hold an algorithm and a key", spki[1])
    algorithm, key = parts
    key_bits = _bit_string(data, key)
    if (
        data[algorithm[1] : algorithm[3]] == _P256_ALGORITHM
        and len(key_bits) == 65
        and key_bits[0] == 4
    ):
        return key_bits
    _children(data, algorithm)
    return None


def _extensions(data: bytes, wrapper: _Element) -> dict[bytes, tuple[bool, bytes]]:
    inner = _read(data, wrapper[2], wrapper[3])
    if inner[3] != wrapper[3]:
        raise _fail("trailing bytes after the extensions", inner[3])
    if inner[0] == _der.SEQUENCE:
        inline = _extensions_inline(data, inner[2], inner[3])
        if inline is not None:
            return inline
    found: dict[bytes, tuple[bool, bytes]] = {}
    for extension in _children(data, inner):
        parts = _children(data, extension)
        if len(parts) == 3:
            oid, flag, value = parts
            if flag[0] != _der.BOOLEAN or flag[3] - flag[2] != 1 or data[flag[2]] not in (0, 255):
                raise _fail("malformed extension flag", flag[1])
            critical = data[flag[2]] == 255
        elif len(parts) == 2:
            oid, value = parts
            critical = False
        else:
            raise _fail("an extension must hold an OID, a flag and a value", extension[1])
        if oid[0] != _der.OBJECT_IDENTIFIER or value[0] != _der.OCTET_STRING:
            raise _fail("malformed extension", extension[1])
        key = data[oid[2] : oid[3]]
        if key in found:
            raise _fail("duplicate extension", extension[1])
        found[key] = (critical, data[value[2] : value[3]])
    return found


def _length(data: bytes, at: int) -> tuple[int, int]:
    """The DER length at ``at`` (short form, or 1 or 2 octets, minimal) and where the content
    starts; (-1, 0) for any other form."""
    size = data[at]
    if size < 0x80:
        return size, at + 1
    if size == 0x81 and data[at + 1] >= 0x80:
        return data[at + 1], at + 2
    if size == 0x82 and data[at + 1]:
        return data[at + 1] << 8 | data[at + 2], at + 3
    return -1, 0


def _extensions_inline(data: bytes, pos: int, end: int) -> dict[bytes, tuple[bool, bytes]] | None:
    """The extensions ``SEQUENCE { OID, BOOLEAN OPTIONAL, OCTET STRING }`` read inline; None
    for anything the element-by-element reader must judge (it accepts all this accepts)."""
    found: dict[bytes, tuple[bool, bytes]] = {}
    try:
        while pos < end:
            if data[pos] != 0x30:
                return None
            size, at = _length(data, pos + 1)
            stop = at + size
            if size < 0 or stop > end or data[at] != _der.OBJECT_IDENTIFIER:
                return None
            oid_end = at + 2 + data[at + 1]
            value_at = oid_end
            critical = False
            if data[oid_end] == _der.BOOLEAN:
                if data[oid_end + 1] != 1 or data[oid_end + 2] not in (0, 0xFF):
                    return None
                critical = data[oid_end + 2] == 0xFF
                value_at = oid_end + 3
            value_size, content = _length(data, value_at + 1)
            key = data[at + 2 : oid_end]
            if (
                data[at + 1] >= 0x80
                or data[value_at] != _der.OCTET_STRING
                or value_size < 0
                or content + value_size != stop
                or key in found
            ):
                return None
            found[key] = (critical, data[content:stop])
            pos = stop
    except IndexError:
        return None
    return found


def _basic_constraints_ca(value: bytes) -> bool:
    top = _der.read_one(value, tag=_der.SEQUENCE, field="x509")
    parts = _der.sequence_children(value, top, field="x509")
    if parts and parts[0].tag == _der.BOOLEAN:
        return _der.decode_boolean(value, parts[0], field="x509")
    return False


def _key_cert_sign(value: bytes) -> bool:
    tlv = _der.read_one(value, field="x509")
    if tlv.tag != _BIT_STRING or tlv.start == tlv.end or value[tlv.start] > 7:
        raise _fail("expected a BIT STRING", tlv.offset)
    bits = value[tlv.start + 1 : tlv.end]
    return bool(bits) and bool(bits[0] & _KEY_CERT_SIGN)


# Attribute values a name may hold, and how their bytes must decode.  Anything else (a BIT
# STRING, an INTEGER, NULL...) is refused: a verifier never matches or reports a name it
# cannot read exactly, and cryptography, which other code paths use, refuses them too.
_NAME_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "ascii",  # T61String: ASCII only (its other code points are not Unicode)
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


def _plain_name(data: bytes, name: _Element) -> bool:
    """True when every RDN of ``name`` is one attribute with short lengths and a string
    value that decodes: what :func:`_check_name` accepts, read inline (names are most of
    a certificate's elements).  False sends the name to the element-by-element check."""
    pos, end = name[2], name[3]
    codecs = _NAME_STRING_CODECS
    try:
        while pos < end:
            # SET { SEQUENCE { OBJECT IDENTIFIER, string } }, every length in short form
            size = data[pos + 1]
            rdn_end = pos + 2 + size
            oid_size = data[pos + 5]
            value_at = pos + 6 + oid_size
            value_size = data[value_at + 1]
            if not (
                data[pos] == 0x31
                and size < 0x80
                and rdn_end <= end
                and data[pos + 2] == 0x30
                and data[pos + 3] == size - 2
                and data[pos + 4] == 0x06
                and oid_size < 0x80
                and value_size < 0x80
                and value_at + 2 + value_size == rdn_end
            ):
                return False
            codec = codecs.get(data[value_at])
            if codec is None:
                return False
            data[value_at + 2 : rdn_end].decode(codec)
            pos = rdn_end
    except (IndexError, UnicodeDecodeError):
        return False
    return True


def _check_name(data: bytes, name: _Element, what: str) -> None:
    """Refuse a ``Name`` that does not read exactly: empty RDNs, non-string or
    undecodable values, an attribute type twice in one RDN."""
    if _plain_name(data, name):
        return
    for rdn in _children(data, name):
        attributes = _children(data, rdn, _SET)
        if not attributes:
            raise _fail(f"the {what} name has an empty RDN", rdn[1])
        types = set()
        for attribute in attributes:
            parts = _children(data, attribute)
            if len(parts) != 2 or parts[0][0] != _der.OBJECT_IDENTIFIER:
                raise _fail(f"the {what} name has a malformed attribute", attribute[1])
            oid = data[parts[0][2] : parts[0][3]]
            if oid in types:
                raise _fail(f"the {what} name repeats an attribute in one RDN", attribute[1])
            types.add(oid)
            value = parts[1]
            codec = _NAME_STRING_CODECS.get(value[0])
            if codec is None:
                raise _fail(
                    f"the {what} name holds a value of tag 0x{value[0]:02x}, not a string",
                    value[1],
                )
            try:
                data[value[2] : value[3]].decode(codec)
            except UnicodeDecodeError:
                raise _fail(
                    f"the {what} name holds a string that does not decode", value[1]
                ) from None


def _parse_certificate(der: bytes) -> CertView:
    der = bytes(der)
    tbs, signature, ecdsa = _signed(der)
    fields = _children(der, tbs)
    if len(fields) < 7 or der[fields[0][1] : fields[0][3]] != _VERSION_3:
        raise _fail("not an X.509 v3 certificate", tbs[1])
    serial, algorithm, issuer, validity, subject, spki = fields[1:7]
    ecdsa = ecdsa and der[algorithm[1] : algorithm[3]] == _ECDSA_SHA256_ALGORITHM
    if issuer[0] != _der.SEQUENCE or subject[0] != _der.SEQUENCE:
        raise _fail("a name must be a SEQUENCE", issuer[1])
    _check_name(der, issuer, "issuer")
    _check_name(der, subject, "subject")
    dates = _children(der, validity)
    if len(dates) != 2:
        raise _fail("validity must hold two times", validity[1])
    extensions = b""
    for optional in fields[7:]:
        if optional[0] == _EXPLICIT_3 and not extensions:
            extensions = der[optional[1] : optional[3]]
        elif optional[0] not in (0x81, 0x82, 0xA1, 0xA2) or extensions:
            raise _fail("unexpected element in tbsCertificate", optional[1])
    return CertView(
        der=der,
        tbs=der[tbs[1] : tbs[3]],
        signature=signature,
        ecdsa_sha256=ecdsa,
        serial=_integer(der, serial),
        issuer=der[issuer[1] : issuer[3]],
        subject=der[subject[1] : subject[3]],
        not_before=_time(der, dates[0]),
        not_after=_time(der, dates[1]),
        public_point=_public_point(der, spki),
        extensions_der=extensions,
    )


_ENTRY_HEAD = struct.Struct("4B").unpack_from
_DATE_HEAD = struct.Struct("2B").unpack_from


def _revoked_serials(data: bytes, element: _Element) -> frozenset[int]:
    """The serial of each ``SEQUENCE { INTEGER, Time, Extensions OPTIONAL }`` entry.

    A PCK CRL lists dozens to hundreds of entries: the usual encoding (short
    lengths) is read inline, anything else element by element; both accept
    the same DER.
    """
    if element[0] != _der.SEQUENCE:
        raise _fail("expected the revoked certificates SEQUENCE", element[1])
    serials: list[int] = []
    append = serials.append
    from_bytes = int.from_bytes
    head = _ENTRY_HEAD
    pos, end = element[2], element[3]
    while pos < end:
        try:
            # SEQUENCE { INTEGER, UTCTime or GeneralizedTime, [SEQUENCE] }, short lengths
            tag, size, int_tag, serial_size = head(data, pos)
            entry_end = pos + 2 + size
            serial_end = pos + 4 + serial_size
            date_tag, date_size = _DATE_HEAD(data, serial_end)
            date_end = serial_end + 2 + date_size
            if (
                tag == 0x30
                and size < 0x80
                and int_tag == 2
                and 0 < serial_size < 0x80
                and entry_end <= end
                and (
                    (date_tag == _UTC_TIME and date_size == 13)
                    or (date_tag == _GENERALIZED_TIME and date_size == 15)
                )
                and (
                    date_end == entry_end
                    or (
                        date_end + 2 <= entry_end
                        and data[date_end] == 0x30
                        and date_end + 2 + data[date_end + 1] == entry_end
                    )
                )
            ):
                append(from_bytes(data[pos + 4 : serial_end], "big", signed=True))
                pos = entry_end
                continue
        except (IndexError, struct.error):
            pass
        entry = _read(data, pos, end)
        parts = _children(data, entry)
        if (
            len(parts) not in (2, 3)
            or not _is_time(parts[1])
            or (len(parts) == 3 and parts[2][0] != _der.SEQUENCE)
        ):
            raise _fail("malformed revoked certificate entry", pos)
        append(_integer(data, parts[0]))
        pos = entry[3]
    return frozenset(serials)


def _parse_crl(der: bytes) -> CrlView:
    der = bytes(der)
    tbs, signature, ecdsa = _signed(der)
    fields = _children(der, tbs)
    index = 0
    if fields and fields[0][0] == _der.INTEGER:
        if der[fields[0][1] : fields[0][3]] != b"\x02\x01\x01":
            raise _fail("unsupported CRL version", fields[0][1])
        index = 1
    if len(fields) < index + 3:
        raise _fail("truncated tbsCertList", tbs[1])
    algorithm, issuer, this_update = fields[index : index + 3]
    ecdsa = ecdsa and der[algorithm[1] : algorithm[3]] == _ECDSA_SHA256_ALGORITHM
    if issuer[0] != _der.SEQUENCE:
        raise _fail("a name must be a SEQUENCE", issuer[1])
    _check_name(der, issuer, "CRL issuer")
    rest = fields[index + 3 :]
    next_update: datetime | None = None
    if rest and rest[0][0] in (_UTC_TIME, _GENERALIZED_TIME):
        next_update = _time(der, rest[0])
        rest = rest[1:]
    revoked: frozenset[int] = frozenset()
    if rest and rest[0][0] == _der.SEQUENCE:
        revoked = _revoked_serials(der, rest[0])
        rest = rest[1:]
    extensions: dict[bytes, tuple[bool, bytes]] = {}
    if rest and rest[0][0] == _EXPLICIT_0:
        extensions = _extensions(der, rest[0])
        rest = rest[1:]
    if rest:
        raise _fail("unexpected element in tbsCertList", rest[0][1])
    crl_number: int | None = None
    number = extensions.get(CRL_NUMBER)
    if number is not None:
        value = number[1]
        crl_number = _der.decode_integer(value, _der.read_one(value, field="x509"), field="x509")
    return CrlView(
        der=der,
        digest=_sha256(der),
        tbs=der[tbs[1] : tbs[3]],
        signature=signature,
        ecdsa_sha256=ecdsa,
        issuer=der[issuer[1] : issuer[3]],
        this_update=_time(der, this_update),
        next_update=next_update,
        revoked=revoked,
        crl_number=crl_number,
        has_authority_key_identifier=AUTHORITY_KEY_IDENTIFIER in extensions,
    )


def _sha256(data: bytes) -> bytes:
    from hashlib import sha256  # not at import: tdxquote parse needs no digest

    return sha256(data).digest()


# --- names, for matching and messages ------------------------------------------------------

_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "ascii",  # PrintableString
    0x16: "ascii",  # IA5String
    0x14: "latin-1",  # T61String (read as Latin-1)
    0x1E: "utf-16-be",  # BMPString
    0x1C: "utf-32-be",  # UniversalString
}


def name_common_name(name: bytes) -> str:
    """The first common name of a DER ``Name``, ``""`` if none or unreadable.

    Decoding never fails: undecodable characters become U+FFFD, so a hostile
    name can neither raise nor match a name it does not spell.
    """
    # Single-attribute RDNs with short lengths are read inline, up to the common name; any
    # other shape is read element by element from the start (same answer, slower).
    if len(name) > 2 and name[0] == 0x30 and name[1] < 0x80 and name[1] + 2 == len(name):
        pos, end = 2, len(name)
        try:
            while pos < end:
                size = name[pos + 1]
                rdn_end = pos + 2 + size
                oid_size = name[pos + 5]
                value_at = pos + 6 + oid_size
                if not (
                    name[pos] == 0x31
                    and size < 0x80
                    and rdn_end <= end
                    and name[pos + 2] == 0x30
                    and name[pos + 3] == size - 2
                    and name[pos + 4] == 0x06
                    and oid_size < 0x80
                    and name[value_at] & 0x1F != 0x1F  # (no high-tag-number form)
                    and name[value_at + 1] < 0x80
                    and value_at + 2 + name[value_at + 1] == rdn_end
                ):
                    break
                if name[pos + 6 : value_at] == _COMMON_NAME:
                    codec = _STRING_CODECS.get(name[value_at], "latin-1")
                    return name[value_at + 2 : rdn_end].decode(codec, "replace")
                pos = rdn_end
            else:
                return ""
        except IndexError:
            pass
    try:
        top = _der.read_one(name, tag=_der.SEQUENCE, field="x509")
        for rdn in _der.iter_children(name, top, field="x509"):
            for attribute in _der.iter_children(name, rdn, field="x509"):
                parts = _der.sequence_children(name, attribute, field="x509")
                if (
                    len(parts) == 2
                    and parts[0].tag == _der.OBJECT_IDENTIFIER
                    and name[parts[0].start : parts[0].end] == _COMMON_NAME
                ):
                    codec = _STRING_CODECS.get(parts[1].tag, "latin-1")
                    return name[parts[1].start : parts[1].end].decode(codec, "replace")
    except QuoteParseError:
        return ""
    return ""


# The short names cryptography's Name.rfc4514_string() uses (RFC 4514 section 3, and DC and UID);
# any other attribute type is written as its dotted OID.
_RFC4514_KEYS = {
    _der.encode_oid_content(oid): key
    for oid, key in (
        ("2.5.4.3", "CN"),
        ("2.5.4.7", "L"),
        ("2.5.4.8", "ST"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.6", "C"),
        ("2.5.4.9", "STREET"),
        ("0.9.2342.19200300.100.1.25", "DC"),
        ("0.9.2342.19200300.100.1.1", "UID"),
    )
}
_RFC4514_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        '"': '\\"',
        "+": "\\+",
        ",": "\\,",
        ";": "\\;",
        "<": "\\<",
        ">": "\\>",
        "\0": "\\00",
    }
)


def _rfc4514_value(text: str) -> str:
    """An attribute value escaped as RFC 4514 section 2.4 says (cryptography's rules)."""
    if not text:
        return ""
    text = text.translate(_RFC4514_ESCAPES)
    if text[0] == "#" or (text[0] == " " and len(text) > 1):
        text = "\\" + text
    if text[-1] == " ":
        text = text[:-1] + "\\ "
    return text


def name_rfc4514(name: bytes) -> str:
    """A DER ``Name`` as RFC 4514 text, exactly as ``cryptography``'s ``rfc4514_string()``.

    RDNs last to first, separated by ``,``; the attributes of one RDN in their
    DER order, separated by ``+``; the short key (``CN``, ``O``, ...) or the
    dotted OID, ``=``, and the escaped value.  Only a name that reads exactly
    is rendered (as :func:`parse_certificate` requires of a certificate's
    names); any other raises :class:`X509FormatError`.
    """
    try:
        top = _read(name, 0, len(name))
        if top[3] != len(name):
            raise _fail("trailing bytes after the name", top[3])
        if top[0] != _der.SEQUENCE:
            raise _fail("a name must be a SEQUENCE", 0)
        _check_name(name, top, "given")
        rdns = []
        for rdn in _children(name, top):
            attributes = []
            for attribute in _children(name, rdn, _SET):
                oid, value = _children(name, attribute)
                content = name[oid[2] : oid[3]]
                key = _RFC4514_KEYS.get(content)
                if key is None:
                    key = _der.decode_oid(name, _der.Tlv(*oid), field="x509")
                text = name[value[2] : value[3]].decode(_NAME_STRING_CODECS[value[0]])
                attributes.append(f"{key}={_rfc4514_value(text)}")
            rdns.append("+".join(attributes))
    except QuoteParseError as exc:
        raise X509FormatError(f"name: {exc.reason} (byte {exc.offset})") from None
    return ",".join(reversed(rdns))


def describe_name(name: bytes) -> str:
    """A short human description of a DER ``Name`` for error messages (its CN)."""
    common_name = name_common_name(name)
    return f"CN={common_name}" if common_name else f"<name {_sha256(name).hex()[:12]}>"
