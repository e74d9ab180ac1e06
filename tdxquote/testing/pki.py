"""A synthetic Intel SGX PKI and the collateral it signs, for tests.

Everything Intel's PCS would serve, made from a seed: the root CA, the PCK
Platform or Processor CA, the TCB Signing certificate, both CRLs, PCK leaf
certificates with the SGX extension, and signed TCB Info / Enclave Identity
documents.  Keys are derived from the seed and every signature is
deterministic (RFC 6979), so the same arguments always give the same bytes.
Dates are explicit arguments with defaults around :data:`REFERENCE_TIME`,
never "now".

The certificates copy the profile of Intel's (subject CNs, extensions and
their criticality, key usages, path lengths); only the organization reads
``"tdxquote synthetic"``, so no synthetic certificate can pass for Intel's::

    pki = SyntheticPki.create(seed=b"demo")
    leaf = pki.issue_pck(fmspc="B0C06F000000")
    revoked = pki.with_revoked_pck(leaf.serial_number)   # new PKI, new PCK CRL
    signed = pki.sign_tcb_info(tcb_info())                # {"tcbInfo":...,"signature":...}

:class:`SyntheticPki` is an immutable dataclass of parameters; the
certificates, CRLs and chains are computed on first use.  ``pki.replace(...)``
changes parameters (e.g. a CRL's ``next_update``) while keeping every other
artifact byte-identical.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from tdxquote.pck import (
    SGX_EXTENSION_OID,
    PckConfiguration,
    PckExtension,
    PckTcb,
    SgxType,
    encode_pck_extension,
)

if TYPE_CHECKING:
    from tdxquote.collateral import Collateral

__all__ = [
    "DEFAULT_CRL_NEXT_UPDATE",
    "DEFAULT_CRL_THIS_UPDATE",
    "DEFAULT_FMSPC",
    "DEFAULT_ISSUE_DATE",
    "DEFAULT_NEXT_UPDATE",
    "DEFAULT_NOT_AFTER",
    "DEFAULT_NOT_BEFORE",
    "DEFAULT_PCE_ID",
    "DEFAULT_PCE_SVN",
    "DEFAULT_QE_ISVSVN",
    "DEFAULT_SEED",
    "DEFAULT_SGX_COMPONENTS",
    "DEFAULT_TCB_DATE",
    "DEFAULT_TCB_EVALUATION_DATA_NUMBER",
    "DEFAULT_TEE_TCB_SVN",
    "PCK_CN",
    "PLATFORM_CA_CN",
    "PROCESSOR_CA_CN",
    "QE_ATTRIBUTES_MASK",
    "QE_IDENTITY_ATTRIBUTES",
    "QE_REPORT_ATTRIBUTES",
    "REFERENCE_TIME",
    "ROOT_CA_CN",
    "SGX_QE_ISVPRODID",
    "SGX_QE_MRSIGNER",
    "SYNTHETIC_ORGANIZATION",
    "TCB_SIGNING_CN",
    "TD_QE_ISVPRODID",
    "TD_QE_MRSIGNER",
    "CaType",
    "CertifiedKey",
    "PckLeaf",
    "SignedJson",
    "SyntheticCollateral",
    "SyntheticPki",
    "build_crl",
    "derive_key",
    "intel_name",
    "isv_tcb_level",
    "public_key_bytes",
    "qe_identity",
    "sign_json",
    "sign_raw",
    "tcb_info",
    "tcb_level",
    "tdx_module",
    "tdx_module_identity",
    "verify_raw",
]

CaType = Literal["platform", "processor"]

# --- fixed points in time and default values ---------------------------------------

REFERENCE_TIME = datetime(2025, 6, 1, tzinfo=timezone.utc)
"""The instant every default artifact is valid at; pass it as the verifier's ``now``."""
DEFAULT_NOT_BEFORE = datetime(2024, 1, 1, tzinfo=timezone.utc)
DEFAULT_NOT_AFTER = datetime(2034, 1, 1, tzinfo=timezone.utc)
DEFAULT_CRL_THIS_UPDATE = REFERENCE_TIME - timedelta(days=1)
DEFAULT_CRL_NEXT_UPDATE = REFERENCE_TIME + timedelta(days=29)
DEFAULT_ISSUE_DATE = REFERENCE_TIME - timedelta(days=1)
"""Default ``issueDate`` of TCB Info and QE Identity documents."""
DEFAULT_NEXT_UPDATE = REFERENCE_TIME + timedelta(days=29)
"""Default ``nextUpdate`` of TCB Info and QE Identity documents."""
DEFAULT_TCB_DATE = datetime(2024, 3, 13, tzinfo=timezone.utc)
DEFAULT_TCB_EVALUATION_DATA_NUMBER = 17
DEFAULT_SEED = b"tdxquote"

SYNTHETIC_ORGANIZATION = "tdxquote synthetic"
ROOT_CA_CN = "Intel SGX Root CA"
PLATFORM_CA_CN = "Intel SGX PCK Platform CA"
PROCESSOR_CA_CN = "Intel SGX PCK Processor CA"
PCK_CN = "Intel SGX PCK Certificate"
TCB_SIGNING_CN = "Intel SGX TCB Signing"

# The default platform (the values of a real SPR PCK certificate).
DEFAULT_FMSPC = bytes.fromhex("B0C06F000000")
DEFAULT_PCE_ID = bytes(2)
DEFAULT_SGX_COMPONENTS: tuple[int, ...] = (3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0)
DEFAULT_PCE_SVN = 11
DEFAULT_TEE_TCB_SVN = bytes((6, 1, 3)) + bytes(13)
"""Default TEE_TCB_SVN: module SVN 6, module major version 1 (so ``TDX_01``), microcode 3."""

# The default quoting enclaves: synthetic signers, Intel's product ids and masks.
TD_QE_MRSIGNER = hashlib.sha256(b"tdxquote synthetic TD_QE MRSIGNER").digest()
SGX_QE_MRSIGNER = hashlib.sha256(b"tdxquote synthetic QE MRSIGNER").digest()
TD_QE_ISVPRODID = 2
SGX_QE_ISVPRODID = 1
DEFAULT_QE_ISVSVN = 4
QE_REPORT_ATTRIBUTES = bytes.fromhex("1500000000000000e700000000000000")
"""ATTRIBUTES of the default QE report (INIT, MODE64BIT, PROVISIONKEY; XFRM e7)."""
QE_IDENTITY_ATTRIBUTES = bytes.fromhex("11000000000000000000000000000000")
QE_ATTRIBUTES_MASK = bytes.fromhex("FBFFFFFFFFFFFFFF0000000000000000")

_ROOT_CRL_URL = "https://tdxquote.invalid/IntelSGXRootCA.der"
_PCK_CRL_URL = "https://tdxquote.invalid/sgx/certification/v4/pckcrl?ca={ca}&encoding=der"

# --- keys and raw signatures ----------------------------------------------------------

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _digest(*parts: bytes | str) -> bytes:
    h = hashlib.sha512(b"tdxquote.testing")
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(4, "big") + data)
    return h.digest()


@lru_cache(maxsize=1024)
def derive_key(seed: bytes, label: str = "") -> ec.EllipticCurvePrivateKey:
    """The P-256 private key for ``(seed, label)``: same inputs, same key."""
    scalar = int.from_bytes(_digest("key", seed, label), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _derive_bytes(seed: bytes, label: str, size: int) -> bytes:
    return _digest("bytes", seed, label)[:size]


def _serial(*parts: bytes | str) -> int:
    # 19 bytes: positive and at most 20 DER octets, like Intel's serials.
    return int.from_bytes(_digest("serial", *parts)[:19], "big") | 1


def sign_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA-P256-SHA256 signature of ``data`` as 64 bytes ``r || s`` (deterministic)."""
    der = key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_raw(
    key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey | bytes,
    signature: bytes,
    data: bytes,
) -> bool:
    """True when the 64-byte ``r || s`` ``signature`` of ``data`` verifies under ``key``.

    ``key`` may be a public or private key, or 64 raw bytes ``x || y``.
    """
    if isinstance(key, bytes):
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + key)
        except ValueError:
            return False
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        public = key.public_key()
    else:
        public = key
    if len(signature) != 64:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def public_key_bytes(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> bytes:
    """The 64 bytes ``x || y`` of a P-256 key, as quotes carry the attestation key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        key = key.public_key()
    point = key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]


# --- certificates ------------------------------------------------------------------


def intel_name(cn: str, organization: str = SYNTHETIC_ORGANIZATION) -> x509.Name:
    """A distinguished name shaped like Intel's: CN, O, L=Santa Clara, ST=CA, C=US."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        """The certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        """The certificate in DER."""
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The certified public key."""
        return self.key.public_key()

    @property
    def serial_number(self) -> int:
        """The certificate's serial number."""
        return self.cert.serial_number


@dataclass(frozen=True)
class PckLeaf(CertifiedKey):
    """A PCK leaf certificate, its key, and the SGX extension it carries.

    ``extension`` is ``None`` only when the leaf was issued with raw extension
    bytes (``issue_pck(extension=b"...")``).
    """

    extension: PckExtension | None


def _issue(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None,
    is_ca: bool,
    crl_url: str,
    sgx_extension: bytes | None = None,
) -> x509.Certificate:
    """Sign a certificate with Intel's extension profile (AKI, CRL DP, SKI, KU, BC)."""
    public = key.public_key()
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if is_ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        usage.update(digital_signature=True, content_commitment=True)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(crl_url)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
    )
    if sgx_extension is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_EXTENSION_OID), sgx_extension),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


def build_crl(
    issuer: CertifiedKey,
    *,
    this_update: datetime,
    next_update: datetime,
    revoked: Iterable[int] = (),
    crl_number: int | None = 1,
    authority_key_identifier: bool = True,
    signing_key: ec.EllipticCurvePrivateKey | None = None,
) -> x509.CertificateRevocationList:
    """A CRL shaped like Intel's, issued by ``issuer``.

    Each revoked serial gets reason keyCompromise and revocation date
    ``this_update``.  ``crl_number=None`` or ``authority_key_identifier=False``
    omit the extensions Intel's verifier requires; ``signing_key`` signs with
    another key than the issuer's (an invalid CRL signature).
    """
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(this_update)
        .next_update(next_update)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(this_update)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    if crl_number is not None:
        builder = builder.add_extension(x509.CRLNumber(crl_number), critical=False)
    if authority_key_identifier:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key),
            critical=False,
        )
    key = issuer.key if signing_key is None else signing_key
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


def _hex(value: bytes | str, size: int, name: str) -> bytes:
    data = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(data) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(data)}")
    return data


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


ConfigurationLike = PckConfiguration | tuple[bool | None, bool | None, bool | None]


# --- signed JSON --------------------------------------------------------------------


class SignedJson(NamedTuple):
    """A signed PCS JSON response: ``text`` is ``{"<member>":<body>,"signature":"<hex>"}``.

    ``signature`` is the raw 64-byte ``r || s`` over the exact UTF-8 bytes of
    :attr:`body`, the member value as it appears in ``text``.  Unpacks as
    ``(text, signature)``.
    """

    text: str
    signature: bytes

    @property
    def member(self) -> str:
        """The signed member's name (``tcbInfo`` or ``enclaveIdentity``)."""
        return self.text[2 : self.text.index('"', 2)]

    @property
    def body(self) -> str:
        """The exact signed text: the member's value, sliced out of :attr:`text`."""
        start = len(self.member) + 4
        return self.text[start : self.text.rindex(',"signature":"')]

    @property
    def signature_hex(self) -> str:
        """The signature as 128 lower-case hex digits, as in :attr:`text`."""
        return self.signature.hex()

    @property
    def value(self) -> Any:
        """The signed body decoded with :func:`json.loads`."""
        return json.loads(self.body)

    def with_signature(self, signature: bytes) -> SignedJson:
        """The same body with another signature (e.g. ``bytes(64)``) in the text too."""
        return _signed_text(self.member, self.body, signature)


def _signed_text(member: str, body: str, signature: bytes) -> SignedJson:
    text = f'{{"{member}":{body},"signature":"{signature.hex()}"}}'
    return SignedJson(text, signature)


def sign_json(
    member: str, body: Mapping[str, Any] | str, key: ec.EllipticCurvePrivateKey
) -> SignedJson:
    """Sign ``body`` (a mapping, serialized compactly in its key order, or exact text).

    The signature covers the UTF-8 bytes of the body text, as Intel's does.
    """
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return _signed_text(member, text, sign_raw(key, text.encode()))


# --- TCB Info and Enclave Identity documents ---------------------------------------------

DateLike = datetime | str


def _date(value: DateLike) -> str:
    if isinstance(value, str):
        return value
    return _aware(value, "date").astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hex_text(value: bytes | str) -> str:
    return value.upper() if isinstance(value, str) else bytes(value).hex().upper()


def _level_tail(
    level: dict[str, Any], status: str, date: DateLike, advisories: Sequence[str]
) -> dict[str, Any]:
    level["tcbDate"] = _date(date)
    level["tcbStatus"] = status
    if advisories:
        level["advisoryIDs"] = list(advisories)
    return level


def tcb_level(
    *,
    sgx: Sequence[int] = DEFAULT_SGX_COMPONENTS,
    pce_svn: int = DEFAULT_PCE_SVN,
    tdx: Sequence[int] | None = None,
    status: str = "UpToDate",
    date: DateLike = DEFAULT_TCB_DATE,
    advisories: Sequence[str] = (),
) -> dict[str, Any]:
    """One TCB Info v3 ``tcbLevels`` entry; ``tdx`` (e.g. a TEE_TCB_SVN) for TDX levels.

    Component counts are not checked, so tests can write malformed levels.
    """
    tcb: dict[str, Any] = {
        "sgxtcbcomponents": [{"svn": svn} for svn in sgx],
        "pcesvn": pce_svn,
    }
    if tdx is not None:
        tcb["tdxtcbcomponents"] = [{"svn": svn} for svn in tdx]
    return _level_tail({"tcb": tcb}, status, date, advisories)


def isv_tcb_level(
    isvsvn: int,
    *,
    status: str = "UpToDate",
    date: DateLike = DEFAULT_TCB_DATE,
    advisories: Sequence[str] = (),
) -> dict[str, Any]:
    """A ``{"tcb":{"isvsvn":n},...}`` level (QE Identity and TDX module identities)."""
    return _level_tail({"tcb": {"isvsvn": isvsvn}}, status, date, advisories)


def tdx_module(
    *,
    mrsigner: bytes | str = bytes(48),
    attributes: bytes | str = bytes(8),
    attributes_mask: bytes | str = b"\xff" * 8,
) -> dict[str, Any]:
    """The ``tdxModule`` member (expected MRSIGNERSEAM and SEAMATTRIBUTES)."""
    return {
        "mrsigner": _hex_text(mrsigner),
        "attributes": _hex_text(attributes),
        "attributesMask": _hex_text(attributes_mask),
    }


def tdx_module_identity(
    id: str = "TDX_01",
    *,
    mrsigner: bytes | str = bytes(48),
    attributes: bytes | str = bytes(8),
    attributes_mask: bytes | str = b"\xff" * 8,
    tcb_levels: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One ``tdxModuleIdentities`` entry; levels default to ``isvsvn`` = TEE_TCB_SVN[0]."""
    if tcb_levels is None:
        tcb_levels = [isv_tcb_level(DEFAULT_TEE_TCB_SVN[0])]
    return {
        "id": id,
        **tdx_module(mrsigner=mrsigner, attributes=attributes, attributes_mask=attributes_mask),
        "tcbLevels": [dict(level) for level in tcb_levels],
    }


def tcb_info(
    *,
    id: str = "TDX",
    version: int = 3,
    fmspc: bytes | str = DEFAULT_FMSPC,
    pce_id: bytes | str = DEFAULT_PCE_ID,
    tcb_levels: Sequence[Mapping[str, Any]] | None = None,
    tdx_module: Mapping[str, Any] | None = None,
    tdx_module_identities: Sequence[Mapping[str, Any]] | None = None,
    issue_date: DateLike = DEFAULT_ISSUE_DATE,
    next_update: DateLike = DEFAULT_NEXT_UPDATE,
    tcb_evaluation_data_number: int = DEFAULT_TCB_EVALUATION_DATA_NUMBER,
    tcb_type: int = 0,
) -> dict[str, Any]:
    """A TCB Info v3 body (the value of ``tcbInfo``), members in Intel's order.

    Defaults describe the default platform: one ``UpToDate`` level equal to
    :data:`DEFAULT_SGX_COMPONENTS` / :data:`DEFAULT_PCE_SVN` (and, for TDX,
    :data:`DEFAULT_TEE_TCB_SVN`), a zero ``tdxModule`` and one ``TDX_01``
    identity.  ``None`` means "the default" for the TDX members; delete keys
    from the returned dict to omit them.
    """
    is_tdx = id == "TDX"
    if tcb_levels is None:
        tcb_levels = [tcb_level(tdx=DEFAULT_TEE_TCB_SVN if is_tdx else None)]
    info: dict[str, Any] = {
        "id": id,
        "version": version,
        "issueDate": _date(issue_date),
        "nextUpdate": _date(next_update),
        "fmspc": _hex_text(fmspc),
        "pceId": _hex_text(pce_id),
        "tcbType": tcb_type,
        "tcbEvaluationDataNumber": tcb_evaluation_data_number,
    }
    if is_tdx:
        module = _default_tdx_module() if tdx_module is None else tdx_module
        info["tdxModule"] = dict(module)
        if tdx_module_identities is None:
            tdx_module_identities = [tdx_module_identity()]
        info["tdxModuleIdentities"] = [dict(identity) for identity in tdx_module_identities]
    else:
        if tdx_module is not None:
            info["tdxModule"] = dict(tdx_module)
        if tdx_module_identities is not None:
            info["tdxModuleIdentities"] = [dict(identity) for identity in tdx_module_identities]
    info["tcbLevels"] = [dict(level) for level in tcb_levels]
    return info


_default_tdx_module = tdx_module


def _miscselect_hex(value: bytes | str | int) -> str:
    # An int is MISCSELECT as the report holds it: hex of its little-endian bytes.
    if isinstance(value, int):
        return value.to_bytes(4, "little").hex().upper()
    return _hex_text(value)


def qe_identity(
    *,
    id: str = "TD_QE",
    version: int = 2,
    issue_date: DateLike = DEFAULT_ISSUE_DATE,
    next_update: DateLike = DEFAULT_NEXT_UPDATE,
    tcb_evaluation_data_number: int = DEFAULT_TCB_EVALUATION_DATA_NUMBER,
    miscselect: bytes | str | int = 0,
    miscselect_mask: bytes | str | int = 0xFFFFFFFF,
    attributes: bytes | str = QE_IDENTITY_ATTRIBUTES,
    attributes_mask: bytes | str = QE_ATTRIBUTES_MASK,
    mrsigner: bytes | str | None = None,
    isvprodid: int | None = None,
    tcb_levels: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """An Enclave Identity v2 body (the value of ``enclaveIdentity``).

    ``mrsigner`` and ``isvprodid`` default by ``id``: ``TD_QE`` gets
    :data:`TD_QE_MRSIGNER` / 2, anything else :data:`SGX_QE_MRSIGNER` / 1.
    Levels default to one ``UpToDate`` level at :data:`DEFAULT_QE_ISVSVN`.
    An ``int`` MISCSELECT is written as its little-endian bytes, as the report
    holds it.
    """
    is_td = id == "TD_QE"
    if mrsigner is None:
        mrsigner = TD_QE_MRSIGNER if is_td else SGX_QE_MRSIGNER
    if isvprodid is None:
        isvprodid = TD_QE_ISVPRODID if is_td else SGX_QE_ISVPRODID
    if tcb_levels is None:
        tcb_levels = [isv_tcb_level(DEFAULT_QE_ISVSVN)]
    return {
        "id": id,
        "version": version,
        "issueDate": _date(issue_date),
        "nextUpdate": _date(next_update),
        "tcbEvaluationDataNumber": tcb_evaluation_data_number,
        "miscselect": _miscselect_hex(miscselect),
        "miscselectMask": _miscselect_hex(miscselect_mask),
        "attributes": _hex_text(attributes),
        "attributesMask": _hex_text(attributes_mask),
        "mrsigner": _hex_text(mrsigner),
        "isvprodid": isvprodid,
        "tcbLevels": [dict(level) for level in tcb_levels],
    }


# --- the PKI -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SyntheticPki:
    """An Intel-shaped PKI derived from ``seed``; see the module docstring.

    Parameters (all keyword-only; build with :meth:`create` or the constructor):

    ``seed``
        Derives every key and serial number.  Another seed is another root.
    ``ca``
        ``"platform"`` (Intel SGX PCK Platform CA, 7-entry SGX extension) or
        ``"processor"`` (Processor CA, 5 entries).
    ``not_before`` / ``not_after``
        Validity of every certificate; ``root_not_after``,
        ``intermediate_not_after`` and ``tcb_signing_not_after`` override
        ``not_after`` for one certificate (expire exactly one).
    ``crl_this_update`` / ``crl_next_update``
        Validity of both CRLs; ``root_crl_*`` and ``pck_crl_*`` override one.
    ``revoked_pck_serials`` / ``revoked_ca_serials``
        Listed in the PCK CRL / the root CA CRL (e.g. the intermediate's or
        the TCB Signing certificate's serial).
    ``organization``, ``root_cn``, ``intermediate_cn``, ``tcb_signing_cn``
        Subject names; ``intermediate_cn=None`` picks Platform or Processor CA.
    """

    seed: bytes = DEFAULT_SEED
    ca: CaType = "platform"
    not_before: datetime = DEFAULT_NOT_BEFORE
    not_after: datetime = DEFAULT_NOT_AFTER
    root_not_after: datetime | None = None
    intermediate_not_after: datetime | None = None
    tcb_signing_not_after: datetime | None = None
    crl_this_update: datetime = DEFAULT_CRL_THIS_UPDATE
    crl_next_update: datetime = DEFAULT_CRL_NEXT_UPDATE
    root_crl_this_update: datetime | None = None
    root_crl_next_update: datetime | None = None
    pck_crl_this_update: datetime | None = None
    pck_crl_next_update: datetime | None = None
    revoked_pck_serials: tuple[int, ...] = ()
    revoked_ca_serials: tuple[int, ...] = ()
    organization: str = SYNTHETIC_ORGANIZATION
    root_cn: str = ROOT_CA_CN
    intermediate_cn: str | None = None
    tcb_signing_cn: str = TCB_SIGNING_CN

    def __post_init__(self) -> None:
        if self.ca not in ("platform", "processor"):
            raise ValueError(f"ca must be 'platform' or 'processor', not {self.ca!r}")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, datetime):
                _aware(value, field.name)
        object.__setattr__(self, "revoked_pck_serials", tuple(self.revoked_pck_serials))
        object.__setattr__(self, "revoked_ca_serials", tuple(self.revoked_ca_serials))
        # The names are made on first use: a bad one fails here, naming its parameter.
        for name in ("root_cn", "intermediate_cn", "tcb_signing_cn"):
            cn = getattr(self, name)
            try:
                intel_name(ROOT_CA_CN if cn is None else cn, self.organization)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"{name} / organization: {exc}") from None

    @classmethod
    def create(cls, seed: bytes = DEFAULT_SEED, **options: Any) -> SyntheticPki:
        """``SyntheticPki(seed=seed, **options)``; see the class docstring for options."""
        return cls(seed=seed, **options)

    def replace(self, **changes: Any) -> SyntheticPki:
        """A copy with some parameters changed; unchanged artifacts stay byte-identical."""
        return dataclasses.replace(self, **changes)

    def with_revoked_pck(self, *serials: int) -> SyntheticPki:
        """A PKI whose PCK CRL also lists ``serials`` (e.g. ``leaf.serial_number``)."""
        return self.replace(revoked_pck_serials=(*self.revoked_pck_serials, *serials))

    def with_revoked_ca(self, *serials: int) -> SyntheticPki:
        """A PKI whose root CA CRL also lists ``serials`` (intermediate, TCB Signing)."""
        return self.replace(revoked_ca_serials=(*self.revoked_ca_serials, *serials))

    # --- certificates ----------------------------------------------------------------

    def _name(self, cn: str) -> x509.Name:
        return intel_name(cn, self.organization)

    @cached_property
    def root(self) -> CertifiedKey:
        """The self-signed root CA (path length 1)."""
        key = derive_key(self.seed, "root")
        name = self._name(self.root_cn)
        cert = _issue(
            subject=name,
            key=key,
            issuer=name,
            issuer_key=key,
            serial=_serial(self.seed, "root"),
            not_before=self.not_before,
            not_after=self.root_not_after or self.not_after,
            path_length=1,
            is_ca=True,
            crl_url=_ROOT_CRL_URL,
        )
        return CertifiedKey(cert, key)

    @property
    def intermediate_cn_resolved(self) -> str:
        """The intermediate's CN: ``intermediate_cn`` or Intel's Platform/Processor CA."""
        if self.intermediate_cn is not None:
            return self.intermediate_cn
        return PLATFORM_CA_CN if self.ca == "platform" else PROCESSOR_CA_CN

    @cached_property
    def intermediate(self) -> CertifiedKey:
        """The PCK Platform or Processor CA (path length 0), issued by the root."""
        key = derive_key(self.seed, f"{self.ca}-ca")
        cert = _issue(
            subject=self._name(self.intermediate_cn_resolved),
            key=key,
            issuer=self.root.cert.subject,
            issuer_key=self.root.key,
            serial=_serial(self.seed, f"{self.ca}-ca"),
            not_before=self.not_before,
            not_after=self.intermediate_not_after or self.not_after,
            path_length=0,
            is_ca=True,
            crl_url=_ROOT_CRL_URL,
        )
        return CertifiedKey(cert, key)

    @cached_property
    def tcb_signing(self) -> CertifiedKey:
        """The TCB Signing certificate, issued by the root; it signs TCB Info and QE Identity."""
        key = derive_key(self.seed, "tcb-signing")
        cert = _issue(
            subject=self._name(self.tcb_signing_cn),
            key=key,
            issuer=self.root.cert.subject,
            issuer_key=self.root.key,
            serial=_serial(self.seed, "tcb-signing"),
            not_before=self.not_before,
            not_after=self.tcb_signing_not_after or self.not_after,
            path_length=None,
            is_ca=False,
            crl_url=_ROOT_CRL_URL,
        )
        return CertifiedKey(cert, key)

    # --- CRLs ------------------------------------------------------------------------

    @cached_property
    def root_crl(self) -> x509.CertificateRevocationList:
        """The root CA CRL (CRL Number 1, AKI), listing ``revoked_ca_serials``."""
        return build_crl(
            self.root,
            this_update=self.root_crl_this_update or self.crl_this_update,
            next_update=self.root_crl_next_update or self.crl_next_update,
            revoked=self.revoked_ca_serials,
        )

    @cached_property
    def pck_crl(self) -> x509.CertificateRevocationList:
        """The PCK CRL, issued by the intermediate, listing ``revoked_pck_serials``."""
        return build_crl(
            self.intermediate,
            this_update=self.pck_crl_this_update or self.crl_this_update,
            next_update=self.pck_crl_next_update or self.crl_next_update,
            revoked=self.revoked_pck_serials,
        )

    @property
    def root_crl_der(self) -> bytes:
        """The root CA CRL in DER."""
        return self.root_crl.public_bytes(serialization.Encoding.DER)

    @property
    def pck_crl_der(self) -> bytes:
        """The PCK CRL in DER."""
        return self.pck_crl.public_bytes(serialization.Encoding.DER)

    # --- chains ----------------------------------------------------------------------

    @property
    def trust_root_der(self) -> bytes:
        """The root certificate in DER: what a verifier takes as ``trust_root``."""
        return self.root.der

    @property
    def pck_crl_issuer_chain(self) -> str:
        """PEM intermediate then root (PCS header ``SGX-PCK-CRL-Issuer-Chain``)."""
        return (self.intermediate.pem + self.root.pem).decode()

    @property
    def tcb_signing_chain(self) -> str:
        """PEM TCB Signing then root (``TCB-Info-Issuer-Chain``, ``SGX-Enclave-Identity-...``)."""
        return (self.tcb_signing.pem + self.root.pem).decode()

    # --- PCK leaves ------------------------------------------------------------------

    def issue_pck(
        self,
        *,
        fmspc: bytes | str = DEFAULT_FMSPC,
        pce_id: bytes | str = DEFAULT_PCE_ID,
        sgx_components: Sequence[int] = DEFAULT_SGX_COMPONENTS,
        pce_svn: int = DEFAULT_PCE_SVN,
        cpu_svn: bytes | str | None = None,
        sgx_type: SgxType | int | None = None,
        ppid: bytes | str | None = None,
        platform_instance_id: bytes | str | None = None,
        configuration: ConfigurationLike | None = None,
        key_label: str = "pck",
        serial: int | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        cn: str = PCK_CN,
        extension: PckExtension | bytes | None = None,
        issuer: CertifiedKey | None = None,
    ) -> PckLeaf:
        """Issue a PCK leaf certificate carrying the SGX extension.

        ``cpu_svn`` defaults to the bytes of ``sgx_components``; ``sgx_type`` to
        Scalable (Platform CA) or Standard (Processor CA); ``ppid`` and
        ``platform_instance_id`` are derived from the seed.  With a Platform CA
        the extension has 7 entries (``configuration`` defaults to all
        ``True``); with a Processor CA 5, unless ``platform_instance_id`` or
        ``configuration`` is given.  ``extension`` replaces the whole
        extension (a :class:`PckExtension`, or raw DER bytes written as is).
        ``key_label`` picks the leaf key; ``issuer`` signs instead of the
        intermediate (its subject becomes the issuer name).  Dates default to
        the PKI's.
        """
        if extension is None:
            components = tuple(sgx_components)
            platform = self.ca == "platform"
            if platform_instance_id is None and platform:
                platform_instance_id = _derive_bytes(self.seed, f"{key_label}/instance", 16)
            if configuration is None and platform:
                configuration = PckConfiguration(True, True, True)
            if isinstance(configuration, tuple):
                configuration = PckConfiguration(*configuration)
            if sgx_type is None:
                sgx_type = SgxType.SCALABLE if platform else SgxType.STANDARD
            extension = PckExtension(
                ppid=_derive_bytes(self.seed, f"{key_label}/ppid", 16)
                if ppid is None
                else _hex(ppid, 16, "ppid"),
                tcb=PckTcb(
                    components,
                    pce_svn,
                    bytes(components) if cpu_svn is None else _hex(cpu_svn, 16, "cpu_svn"),
                ),
                pce_id=_hex(pce_id, 2, "pce_id"),
                fmspc=_hex(fmspc, 6, "fmspc"),
                sgx_type=SgxType(sgx_type),
                platform_instance_id=None
                if platform_instance_id is None
                else _hex(platform_instance_id, 16, "platform_instance_id"),
                configuration=configuration,
            )
        if isinstance(extension, PckExtension):
            parsed: PckExtension | None = extension
            extension_der = encode_pck_extension(extension)
        else:
            parsed, extension_der = None, bytes(extension)
        signer = self.intermediate if issuer is None else issuer
        key = derive_key(self.seed, key_label)
        valid_from = _aware(not_before or self.not_before, "not_before")
        valid_to = _aware(not_after or self.not_after, "not_after")
        if serial is None:
            serial = _serial(
                self.seed,
                key_label,
                extension_der,
                cn,
                valid_from.isoformat(),
                valid_to.isoformat(),
            )
        cert = _issue(
            subject=self._name(cn),
            key=key,
            issuer=signer.cert.subject,
            issuer_key=signer.key,
            serial=serial,
            not_before=valid_from,
            not_after=valid_to,
            path_length=None,
            is_ca=False,
            crl_url=_PCK_CRL_URL.format(ca=self.ca),
            sgx_extension=extension_der,
        )
        return PckLeaf(cert, key, parsed)

    # --- signed collateral -----------------------------------------------------------

    def sign_tcb_info(
        self, info: Mapping[str, Any] | str, *, key: ec.EllipticCurvePrivateKey | None = None
    ) -> SignedJson:
        """``{"tcbInfo":<info>,"signature":...}`` signed by the TCB Signing key (or ``key``)."""
        return sign_json("tcbInfo", info, self.tcb_signing.key if key is None else key)

    def sign_qe_identity(
        self, identity: Mapping[str, Any] | str, *, key: ec.EllipticCurvePrivateKey | None = None
    ) -> SignedJson:
        """``{"enclaveIdentity":<identity>,"signature":...}`` signed by the TCB Signing key."""
        return sign_json("enclaveIdentity", identity, self.tcb_signing.key if key is None else key)

    def collateral(
        self,
        tcb_info: Mapping[str, Any] | SignedJson | None = None,
        qe_identity: Mapping[str, Any] | SignedJson | None = None,
        *,
        pck_certificate_chain: str | None = None,
    ) -> SyntheticCollateral:
        """The full collateral of this PKI; mappings are signed, :class:`SignedJson` kept.

        ``None`` gives the default TDX documents (:func:`tcb_info`,
        :func:`qe_identity`).
        """
        return SyntheticCollateral(
            pck_crl_issuer_chain=self.pck_crl_issuer_chain,
            root_ca_crl=self.root_crl_der,
            pck_crl=self.pck_crl_der,
            tcb_info_issuer_chain=self.tcb_signing_chain,
            tcb_info=self._signed(tcb_info, "tcbInfo", _default_tcb_info),
            qe_identity_issuer_chain=self.tcb_signing_chain,
            qe_identity=self._signed(qe_identity, "enclaveIdentity", _default_qe_identity),
            pck_certificate_chain=pck_certificate_chain,
        )

    def _signed(
        self, value: Mapping[str, Any] | SignedJson | None, member: str, default: Any
    ) -> SignedJson:
        if isinstance(value, SignedJson):
            return value
        return sign_json(member, default() if value is None else value, self.tcb_signing.key)


_default_tcb_info = tcb_info
_default_qe_identity = qe_identity


@dataclass(frozen=True, kw_only=True)
class SyntheticCollateral:
    """Collateral as dcap-qvl's ``QuoteCollateralV3`` holds it, with the signed texts.

    ``tcb_info`` and ``qe_identity`` are the whole signed responses; the JSON
    form carries their exact signed bodies and hex signatures.
    """

    pck_crl_issuer_chain: str
    root_ca_crl: bytes
    pck_crl: bytes
    tcb_info_issuer_chain: str
    tcb_info: SignedJson
    qe_identity_issuer_chain: str
    qe_identity: SignedJson
    pck_certificate_chain: str | None = None

    def replace(self, **changes: Any) -> SyntheticCollateral:
        """A copy with some members changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, str]:
        """The ``QuoteCollateralV3`` JSON object (CRLs and signatures in hex)."""
        data = {
            "pck_crl_issuer_chain": self.pck_crl_issuer_chain,
            "root_ca_crl": self.root_ca_crl.hex(),
            "pck_crl": self.pck_crl.hex(),
            "tcb_info_issuer_chain": self.tcb_info_issuer_chain,
            "tcb_info": self.tcb_info.body,
            "tcb_info_signature": self.tcb_info.signature_hex,
            "qe_identity_issuer_chain": self.qe_identity_issuer_chain,
            "qe_identity": self.qe_identity.body,
            "qe_identity_signature": self.qe_identity.signature_hex,
        }
        if self.pck_certificate_chain is not None:
            data["pck_certificate_chain"] = self.pck_certificate_chain
        return data

    def to_collateral_json(self) -> str:
        """The ``QuoteCollateralV3`` JSON text (dcap-qvl ``QuoteCollateralV3.from_json``)."""
        return json.dumps(self.to_dict(), indent=2)

    def to_collateral(self) -> Collateral:
        """``tdxquote.collateral.Collateral.from_json(self.to_collateral_json())``."""
        from tdxquote.collateral import Collateral

        return Collateral.from_json(self.to_collateral_json())
