"""Forged, correctly signed DCAP quotes and complete verification scenarios, for tests.

A :class:`QuoteForge` holds a :class:`~tdxquote.testing.pki.SyntheticPki`, a PCK
leaf it issued and an attestation key, and signs quotes the way a quoting
enclave does: the QE report binds the attestation key
(``REPORTDATA[0:32] = SHA-256(attestation_key || qe_auth_data)``) and is signed
by the PCK leaf key; the quote is signed by the attestation key; the
certification data is the PEM chain leaf, intermediate, root::

    forge = QuoteForge.create(seed=b"demo")
    quote = forge.quote(td_report(mr_td=bytes(48), report_data=b"nonce"))   # TDX, v4
    v5 = forge.quote(td_report(3), version=5)                                 # TD 1.5 body
    scenario = forge.scenario(quote)          # + collateral, trust root and "now"
    encrypted = forge.quote(certification_data=forge.pck_identifier_data(3))  # no PCK chain

Knobs break exactly one property at a time (see :meth:`QuoteForge.quote`):
``bad_quote_signature``, ``bad_qe_report_signature``, ``bad_qe_report_data``
and ``swapped_attestation_key``; the PKI, leaf, collateral, trust root and
time are chosen separately.  The default collateral describes the default
platform (see :func:`~tdxquote.testing.pki.tcb_info`), so whatever a test
changes in the leaf, the body or the QE report is a deviation from it;
:func:`matching_tcb_info` and :func:`matching_qe_identity` describe a
non-default platform instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tdxquote._build import build_quote, signed_bytes_for
from tdxquote._quote import CertificationData, Quote
from tdxquote._reports import REPORT_CODECS, Report, SgxReport, TdReport
from tdxquote.pck import PckExtension
from tdxquote.schema import (
    ATTESTATION_KEY_TYPE_ECDSA_P256,
    CERT_TYPE_PCK_CERT_CHAIN,
    CERT_TYPE_PPID_CLEARTEXT,
    CERT_TYPE_PPID_RSA2048,
    CERT_TYPE_PPID_RSA3072,
    INTEL_QE_VENDOR_ID,
)

from .pki import (
    DEFAULT_PCE_SVN,
    DEFAULT_QE_ISVSVN,
    DEFAULT_SEED,
    DEFAULT_SGX_COMPONENTS,
    DEFAULT_TEE_TCB_SVN,
    QE_ATTRIBUTES_MASK,
    QE_REPORT_ATTRIBUTES,
    REFERENCE_TIME,
    SGX_QE_ISVPRODID,
    SGX_QE_MRSIGNER,
    TD_QE_ISVPRODID,
    TD_QE_MRSIGNER,
    CaType,
    PckLeaf,
    SignedJson,
    SyntheticCollateral,
    SyntheticPki,
    derive_key,
    isv_tcb_level,
    public_key_bytes,
    qe_identity,
    sign_raw,
    tcb_info,
    tcb_level,
    tdx_module,
    tdx_module_identity,
)

if TYPE_CHECKING:
    from tdxquote.collateral import Collateral

__all__ = [
    "DEFAULT_MR_ENCLAVE",
    "DEFAULT_MR_SEAM",
    "DEFAULT_MR_SIGNER",
    "DEFAULT_MR_TD",
    "DEFAULT_QE_AUTH_DATA",
    "DEFAULT_TD_ATTRIBUTES",
    "DEFAULT_XFAM",
    "ENCLAVE_ATTRIBUTES",
    "QE_MR_ENCLAVE",
    "QuoteForge",
    "Scenario",
    "matching_qe_identity",
    "matching_tcb_info",
    "qe_report",
    "sgx_report",
    "td_report",
]

DEFAULT_QE_AUTH_DATA = bytes(range(32))
"""The QE authentication data real quotes carry (32 bytes 00..1f)."""
DEFAULT_TD_ATTRIBUTES = bytes.fromhex("0000001000000000")
"""TD_ATTRIBUTES with SEPT_VE_DISABLE set and DEBUG clear, as in real quotes."""
DEFAULT_XFAM = bytes.fromhex("e702060000000000")
DEFAULT_MR_SEAM = hashlib.sha384(b"tdxquote synthetic MRSEAM").digest()
DEFAULT_MR_TD = hashlib.sha384(b"tdxquote synthetic MRTD").digest()
DEFAULT_MR_ENCLAVE = hashlib.sha256(b"tdxquote synthetic MRENCLAVE").digest()
DEFAULT_MR_SIGNER = hashlib.sha256(b"tdxquote synthetic enclave MRSIGNER").digest()
QE_MR_ENCLAVE = hashlib.sha256(b"tdxquote synthetic QE MRENCLAVE").digest()
ENCLAVE_ATTRIBUTES = bytes.fromhex("0500000000000000e700000000000000")
"""ATTRIBUTES of the default SGX enclave body (INIT, MODE64BIT; not debug)."""

_TD_BODY_TYPES = (2, 3, 4)
_TD15_ONLY = ("tee_tcb_svn2", "mr_service_td")


# --- report bodies -----------------------------------------------------------------------


def _report(body_type: int, fields: Mapping[str, Any]) -> Report:
    """A report of ``body_type``: zero bytes, then ``fields``; sizes are checked."""
    cls, codec = REPORT_CODECS[body_type]
    template = cls._make(codec.unpack(bytes(codec.size)))
    unknown = set(fields) - set(cls._fields)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
    report = template._replace(**fields)
    # struct pads short and truncates long byte strings: insist on a round trip.
    for name, value, zero in zip(cls._fields, report, template, strict=True):
        if isinstance(zero, bytes) and (not isinstance(value, bytes) or len(value) != len(zero)):
            raise ValueError(f"{cls.__name__}.{name} must be {len(zero)} bytes")
    return report


def _report_data(value: bytes) -> bytes:
    if len(value) > 64:
        raise ValueError("report_data is at most 64 bytes")
    return bytes(value) + bytes(64 - len(value))


def td_report(
    body_type: int = 2,
    *,
    tee_tcb_svn: bytes = DEFAULT_TEE_TCB_SVN,
    mr_seam: bytes = DEFAULT_MR_SEAM,
    mr_signer_seam: bytes = bytes(48),
    seam_attributes: bytes = bytes(8),
    td_attributes: bytes = DEFAULT_TD_ATTRIBUTES,
    xfam: bytes = DEFAULT_XFAM,
    mr_td: bytes = DEFAULT_MR_TD,
    mr_config_id: bytes = bytes(48),
    mr_owner: bytes = bytes(48),
    mr_owner_config: bytes = bytes(48),
    rtmrs: Sequence[bytes] = (bytes(48),) * 4,
    report_data: bytes = b"",
    tee_tcb_svn2: bytes | None = None,
    mr_service_td: bytes | None = None,
    **extra: Any,
) -> TdReport:
    """A TD report body: 2 = TDX 1.0 (584 bytes), 3 = TDX 1.5 (648), 4 = 1.5 ex (885).

    ``report_data`` shorter than 64 bytes is zero-padded.  ``tee_tcb_svn2``
    (TDX 1.5 and later; default ``tee_tcb_svn``) and ``mr_service_td`` are
    rejected for body type 2.  ``extra`` sets body type 4's other fields
    (``vmid``, ``td_id``, ...), which default to zero.
    """
    if body_type not in _TD_BODY_TYPES:
        raise ValueError(f"TD body type must be 2, 3 or 4, not {body_type}")
    if len(rtmrs) != 4:
        raise ValueError("rtmrs must hold RTMR0..RTMR3")
    fields: dict[str, Any] = {
        "tee_tcb_svn": tee_tcb_svn,
        "mr_seam": mr_seam,
        "mr_signer_seam": mr_signer_seam,
        "seam_attributes": seam_attributes,
        "td_attributes": td_attributes,
        "xfam": xfam,
        "mr_td": mr_td,
        "mr_config_id": mr_config_id,
        "mr_owner": mr_owner,
        "mr_owner_config": mr_owner_config,
        "rtmr0": rtmrs[0],
        "rtmr1": rtmrs[1],
        "rtmr2": rtmrs[2],
        "rtmr3": rtmrs[3],
        "report_data": _report_data(report_data),
    }
    if body_type == 2:
        given = [
            name
            for name, value in zip(_TD15_ONLY, (tee_tcb_svn2, mr_service_td), strict=True)
            if value
        ]
        if given:
            raise TypeError(f"TDX 1.0 bodies have no {', '.join(given)}")
    else:
        fields["tee_tcb_svn2"] = tee_tcb_svn if tee_tcb_svn2 is None else tee_tcb_svn2
        fields["mr_service_td"] = bytes(48) if mr_service_td is None else mr_service_td
    fields.update(extra)
    report = _report(body_type, fields)
    assert not isinstance(report, SgxReport)
    return report


def sgx_report(
    *,
    cpu_svn: bytes = bytes(DEFAULT_SGX_COMPONENTS),
    misc_select: int = 0,
    attributes: bytes = ENCLAVE_ATTRIBUTES,
    mr_enclave: bytes = DEFAULT_MR_ENCLAVE,
    mr_signer: bytes = DEFAULT_MR_SIGNER,
    isv_prod_id: int = 0,
    isv_svn: int = 0,
    report_data: bytes = b"",
    **extra: Any,
) -> SgxReport:
    """An SGX enclave report body (384 bytes): an SGX quote's body, or a QE report.

    ``report_data`` shorter than 64 bytes is zero-padded; ``extra`` sets the
    reserved fields.
    """
    fields: dict[str, Any] = {
        "cpu_svn": cpu_svn,
        "misc_select": misc_select,
        "attributes": attributes,
        "mr_enclave": mr_enclave,
        "mr_signer": mr_signer,
        "isv_prod_id": isv_prod_id,
        "isv_svn": isv_svn,
        "report_data": _report_data(report_data),
        **extra,
    }
    report = _report(1, fields)
    assert isinstance(report, SgxReport)
    return report


def qe_report(
    tee: Literal["tdx", "sgx"] = "tdx",
    *,
    cpu_svn: bytes = bytes(DEFAULT_SGX_COMPONENTS),
    misc_select: int = 0,
    attributes: bytes = QE_REPORT_ATTRIBUTES,
    mr_enclave: bytes = QE_MR_ENCLAVE,
    mr_signer: bytes | None = None,
    isv_prod_id: int | None = None,
    isv_svn: int = DEFAULT_QE_ISVSVN,
    report_data: bytes = b"",
) -> SgxReport:
    """A quoting enclave's report; MRSIGNER and ISVPRODID default by ``tee``.

    ``"tdx"``: :data:`~tdxquote.testing.pki.TD_QE_MRSIGNER`, ISVPRODID 2;
    ``"sgx"``: :data:`~tdxquote.testing.pki.SGX_QE_MRSIGNER`, ISVPRODID 1.
    :meth:`QuoteForge.quote` overwrites ``report_data`` with the key binding.
    """
    if mr_signer is None:
        mr_signer = TD_QE_MRSIGNER if tee == "tdx" else SGX_QE_MRSIGNER
    if isv_prod_id is None:
        isv_prod_id = TD_QE_ISVPRODID if tee == "tdx" else SGX_QE_ISVPRODID
    return sgx_report(
        cpu_svn=cpu_svn,
        misc_select=misc_select,
        attributes=attributes,
        mr_enclave=mr_enclave,
        mr_signer=mr_signer,
        isv_prod_id=isv_prod_id,
        isv_svn=isv_svn,
        report_data=report_data,
    )


# --- collateral describing a given platform ----------------------------------------------


def matching_tcb_info(
    extension: PckExtension,
    body: Report | None = None,
    *,
    status: str = "UpToDate",
    module_status: str = "UpToDate",
    **options: Any,
) -> dict[str, Any]:
    """A TCB Info body with one level that exactly matches this platform.

    FMSPC, PCE-ID, SGX components and PCESVN come from the PCK ``extension``.
    For a TD ``body`` (default: TDX with :data:`DEFAULT_TEE_TCB_SVN`) the TDX
    components are its TEE_TCB_SVN, ``tdxModule`` takes its MRSIGNERSEAM and
    SEAMATTRIBUTES, and the ``TDX_%02X`` identity for TEE_TCB_SVN[1] gets one
    level at TEE_TCB_SVN[0] with ``module_status``.  An SGX body gives an
    ``"SGX"`` TCB Info.  ``options`` go to :func:`~tdxquote.testing.pki.tcb_info`.
    """
    common: dict[str, Any] = {
        "fmspc": extension.fmspc,
        "pce_id": extension.pce_id,
    }
    if isinstance(body, SgxReport):
        level = tcb_level(sgx=extension.sgx_components, pce_svn=extension.pce_svn, status=status)
        return tcb_info(id="SGX", **common, tcb_levels=[level], **options)
    svn = DEFAULT_TEE_TCB_SVN if body is None else body.tee_tcb_svn
    signer = bytes(48) if body is None else body.mr_signer_seam
    seam_attributes = bytes(8) if body is None else body.seam_attributes
    level = tcb_level(
        sgx=extension.sgx_components, pce_svn=extension.pce_svn, tdx=svn, status=status
    )
    identities = [
        tdx_module_identity(
            f"TDX_{svn[1]:02X}",
            mrsigner=signer,
            attributes=seam_attributes,
            tcb_levels=[isv_tcb_level(svn[0], status=module_status)],
        )
    ]
    return tcb_info(
        id="TDX",
        **common,
        tcb_levels=[level],
        tdx_module=tdx_module(mrsigner=signer, attributes=seam_attributes),
        tdx_module_identities=identities,
        **options,
    )


def matching_qe_identity(
    report: SgxReport,
    *,
    id: str = "TD_QE",
    status: str = "UpToDate",
    **options: Any,
) -> dict[str, Any]:
    """A QE Identity body that this QE ``report`` satisfies, with one level at its ISVSVN.

    ``options`` go to :func:`~tdxquote.testing.pki.qe_identity`.
    """
    mask = QE_ATTRIBUTES_MASK
    return qe_identity(
        id=id,
        miscselect=report.misc_select,
        attributes=bytes(a & m for a, m in zip(report.attributes, mask, strict=True)),
        attributes_mask=mask,
        mrsigner=report.mr_signer,
        isvprodid=report.isv_prod_id,
        tcb_levels=[isv_tcb_level(report.isv_svn, status=status)],
        **options,
    )


# --- the forge ---------------------------------------------------------------------------


def _flip_last_bit(data: bytes) -> bytes:
    return data[:-1] + bytes((data[-1] ^ 1,))


@dataclass(frozen=True, kw_only=True)
class QuoteForge:
    """Signs quotes for one platform: a PKI, its PCK leaf and an attestation key.

    Build with :meth:`create`.  ``qe_auth_data`` is the default QE
    authentication data; ``nul_terminated_chain`` ends the PEM certification
    data with a NUL byte, as real quotes do.
    """

    pki: SyntheticPki
    leaf: PckLeaf
    attestation_key: ec.EllipticCurvePrivateKey
    qe_auth_data: bytes = DEFAULT_QE_AUTH_DATA
    nul_terminated_chain: bool = True

    @classmethod
    def create(
        cls,
        seed: bytes = DEFAULT_SEED,
        *,
        ca: CaType = "platform",
        pki: SyntheticPki | None = None,
        leaf: PckLeaf | None = None,
        attestation_key: ec.EllipticCurvePrivateKey | None = None,
        qe_auth_data: bytes = DEFAULT_QE_AUTH_DATA,
        nul_terminated_chain: bool = True,
    ) -> QuoteForge:
        """A forge from ``seed``: ``SyntheticPki.create(seed, ca=ca)``, its default leaf.

        ``pki``, ``leaf`` (e.g. ``pki.issue_pck(...)``) and ``attestation_key``
        replace the derived ones.
        """
        if pki is None:
            pki = SyntheticPki.create(seed, ca=ca)
        if leaf is None:
            leaf = pki.issue_pck()
        if attestation_key is None:
            attestation_key = derive_key(pki.seed, "attestation-key")
        return cls(
            pki=pki,
            leaf=leaf,
            attestation_key=attestation_key,
            qe_auth_data=qe_auth_data,
            nul_terminated_chain=nul_terminated_chain,
        )

    def replace(self, **changes: Any) -> QuoteForge:
        """A copy with some fields changed (``pki``, ``leaf``, ``attestation_key``, ...)."""
        return dataclasses.replace(self, **changes)

    @property
    def attestation_public_key(self) -> bytes:
        """The attestation key as quotes carry it: 64 bytes ``x || y``."""
        return public_key_bytes(self.attestation_key)

    @property
    def swapped_attestation_key(self) -> ec.EllipticCurvePrivateKey:
        """The other key ``swapped_attestation_key=True`` carries and signs with."""
        return derive_key(self.attestation_public_key, "swapped-attestation-key")

    @property
    def pck_chain_pem(self) -> bytes:
        """PEM leaf, intermediate, root (no NUL)."""
        return self.leaf.pem + self.pki.intermediate.pem + self.pki.root.pem

    def binding(
        self, attestation_key: bytes | None = None, qe_auth_data: bytes | None = None
    ) -> bytes:
        """The QE REPORTDATA binding: SHA-256(key || auth data) followed by 32 zero bytes."""
        key = self.attestation_public_key if attestation_key is None else attestation_key
        auth = self.qe_auth_data if qe_auth_data is None else qe_auth_data
        return hashlib.sha256(key + auth).digest() + bytes(32)

    def _certification_data(
        self, pck_chain: bytes | Sequence[x509.Certificate] | None
    ) -> CertificationData:
        if pck_chain is None:
            pem = self.pck_chain_pem
        elif isinstance(pck_chain, bytes):
            pem = pck_chain
        else:
            pem = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in pck_chain)
        if self.nul_terminated_chain:
            pem += b"\x00"
        return CertificationData(CERT_TYPE_PCK_CERT_CHAIN, pem)

    def encrypted_ppid(self, cert_type: int = CERT_TYPE_PPID_RSA2048) -> bytes:
        """This platform's "encrypted PPID": 256 (type 2) or 384 (type 3) bytes from the seed.

        Only Intel could decrypt a real one; a PCS uses it as a key, and so does
        :meth:`~tdxquote.testing.pccs.PccsServer.add_pck_certificate`.
        """
        size = _ENCRYPTED_PPID_SIZES.get(cert_type)
        if size is None:
            raise ValueError(
                f"an encrypted PPID is for certification data type 2 or 3, not {cert_type}"
            )
        stream = b"".join(
            hashlib.sha256(
                b"tdxquote encrypted PPID %d %d " % (cert_type, block) + self.pki.seed
            ).digest()
            for block in range(size // 32)
        )
        return stream[:size]

    def pck_identifier_data(
        self,
        cert_type: int = CERT_TYPE_PPID_RSA2048,
        *,
        ppid: bytes | None = None,
        cpu_svn: bytes | None = None,
        pce_svn: int | None = None,
        pce_id: bytes | None = None,
    ) -> CertificationData:
        """Certification data of type 1 (clear PPID), 2 or 3 (encrypted PPID): no PCK chain.

        PPID || CPUSVN || PCESVN || PCE-ID, as Intel's quoting enclave writes it;
        by default the leaf's CPUSVN, PCESVN and PCE-ID, its PPID in clear for
        type 1 and :meth:`encrypted_ppid` for types 2 and 3.  ``ppid`` (any
        length: a wrong one makes malformed data) and the others replace them;
        ``pce_id=b""`` leaves the PCE-ID out (Intel's first reference layout,
        valid for types 1 and 2).
        """
        extension = self.leaf.extension
        if extension is None:
            raise ValueError("the leaf carries no readable SGX extension to take the TCB from")
        if ppid is None:
            ppid = (
                extension.ppid
                if cert_type == CERT_TYPE_PPID_CLEARTEXT
                else self.encrypted_ppid(cert_type)
            )
        data = (
            ppid
            + (extension.cpu_svn if cpu_svn is None else cpu_svn)
            + (extension.pce_svn if pce_svn is None else pce_svn).to_bytes(2, "little")
            + (extension.pce_id if pce_id is None else pce_id)
        )
        return CertificationData(cert_type, data)

    def quote(
        self,
        body: Report | None = None,
        *,
        version: int | None = None,
        qe_report: SgxReport | None = None,
        qe_auth_data: bytes | None = None,
        qe_svn: int | None = None,
        pce_svn: int | None = None,
        user_data: bytes | None = None,
        qe_vendor_id: bytes = INTEL_QE_VENDOR_ID,
        attestation_key_type: int = ATTESTATION_KEY_TYPE_ECDSA_P256,
        pck_chain: bytes | Sequence[x509.Certificate] | None = None,
        certification_data: CertificationData | None = None,
        qe_report_data: bytes | None = None,
        trailing_bytes: bytes = b"",
        bad_quote_signature: bool = False,
        bad_qe_report_signature: bool = False,
        bad_qe_report_data: bool = False,
        swapped_attestation_key: bool = False,
    ) -> Quote:
        """Build and sign a quote.

        ``body`` defaults to :func:`td_report` (TDX); the version defaults from
        the body (SGX report 3, TD 1.0 4, TD 1.5 and 1.5 ex 5); ``version=5``
        with a TD 1.0 or SGX body gives v5 body type 2 or 1.  ``qe_report``
        defaults to :func:`qe_report` for the body's TEE with the leaf's
        CPUSVN; its REPORTDATA is replaced by :meth:`binding` unless
        ``qe_report_data`` (64 bytes) is given.  The header's QE SVN and PCE
        SVN default to the QE report's ISVSVN and the leaf's PCESVN.
        ``pck_chain`` (PEM bytes or certificates, leaf first) or a whole
        ``certification_data`` replace the leaf, intermediate, root chain.

        Each knob breaks one property and keeps the others:

        ``bad_quote_signature``
            The quote signature is the attestation key's over the signed
            bytes with one bit flipped: only the quote signature fails.
        ``bad_qe_report_signature``
            Likewise for the QE report signature (PCK leaf key, one bit of
            the report flipped): only the QE report signature fails.
        ``bad_qe_report_data``
            REPORTDATA[0] of the binding is flipped, and the QE report
            signature covers the flipped report: only the binding fails.
        ``swapped_attestation_key``
            The quote carries, and is signed by,
            :attr:`swapped_attestation_key`, while the QE report still binds
            :attr:`attestation_public_key`: the quote signature verifies
            under the carried key, only the binding fails (the substitution
            attack the binding defeats).
        """
        if body is None:
            body = td_report()
        is_sgx = isinstance(body, SgxReport)
        extension = self.leaf.extension
        if qe_report is None:
            cpu_svn = bytes(DEFAULT_SGX_COMPONENTS) if extension is None else extension.cpu_svn
            qe_report = _qe_report("sgx" if is_sgx else "tdx", cpu_svn=cpu_svn)
        auth_data = self.qe_auth_data if qe_auth_data is None else qe_auth_data
        if qe_report_data is None:
            qe_report_data = self.binding(qe_auth_data=auth_data)
            if bad_qe_report_data:
                qe_report_data = bytes((qe_report_data[0] ^ 1,)) + qe_report_data[1:]
        qe_report = qe_report._replace(report_data=qe_report_data)

        report_bytes = qe_report.to_bytes()
        qe_signed = _flip_last_bit(report_bytes) if bad_qe_report_signature else report_bytes
        qe_report_signature = sign_raw(self.leaf.key, qe_signed)

        signer = self.swapped_attestation_key if swapped_attestation_key else self.attestation_key
        if pce_svn is None:
            pce_svn = DEFAULT_PCE_SVN if extension is None else extension.pce_svn
        header: dict[str, Any] = {
            "version": version,
            "qe_svn": qe_report.isv_svn if qe_svn is None else qe_svn,
            "pce_svn": pce_svn,
            "qe_vendor_id": qe_vendor_id,
            "user_data": self._user_data() if user_data is None else user_data,
            "attestation_key_type": attestation_key_type,
        }
        signed = signed_bytes_for(body, **header)
        if bad_quote_signature:
            signed = _flip_last_bit(signed)
        if certification_data is None:
            certification_data = self._certification_data(pck_chain)
        return build_quote(
            body=body,
            signature=sign_raw(signer, signed),
            attestation_key=public_key_bytes(signer),
            qe_report=qe_report,
            qe_report_signature=qe_report_signature,
            qe_auth_data=auth_data,
            certification_data=certification_data,
            trailing_bytes=trailing_bytes,
            **header,
        )

    def _user_data(self) -> bytes:
        # A QE-ID-like 16 bytes and 4 zero bytes, as real quotes carry.
        return hashlib.sha256(b"tdxquote synthetic QE ID" + self.pki.seed).digest()[:16] + bytes(4)

    def scenario(
        self,
        quote: Quote | None = None,
        *,
        tcb_info: Mapping[str, Any] | SignedJson | None = None,
        qe_identity: Mapping[str, Any] | SignedJson | None = None,
        collateral: SyntheticCollateral | None = None,
        trust_root: x509.Certificate | SyntheticPki | None = None,
        now: datetime = REFERENCE_TIME,
        pck_certificate_chain: bool | str = False,
    ) -> Scenario:
        """A quote with its collateral, trust root and verification time.

        ``quote`` defaults to ``self.quote()``.  The default TCB Info and QE
        Identity are the default platform's documents for the quote's TEE
        (``"TDX"``/``"TD_QE"`` or ``"SGX"``/``"QE"``), signed by this PKI;
        mappings are signed by it too, :class:`SignedJson` is used as is.
        ``collateral`` replaces all of it.  ``trust_root`` defaults to this
        PKI's root (another PKI or certificate: an untrusted chain).
        ``pck_certificate_chain=True`` also puts the forge's PCK chain in the
        collateral (a string: that text).
        """
        if quote is None:
            quote = self.quote()
        if collateral is None:
            sgx = not quote.is_tdx
            if tcb_info is None:
                tcb_info = _tcb_info(id="SGX" if sgx else "TDX")
            if qe_identity is None:
                qe_identity = _qe_identity(id="QE" if sgx else "TD_QE")
            chain: str | None = None
            if pck_certificate_chain is True:
                chain = self.pck_chain_pem.decode()
            elif isinstance(pck_certificate_chain, str):
                chain = pck_certificate_chain
            collateral = self.pki.collateral(tcb_info, qe_identity, pck_certificate_chain=chain)
        if trust_root is None:
            trust_root = self.pki
        if isinstance(trust_root, SyntheticPki):
            trust_root = trust_root.root.cert
        return Scenario(
            quote=quote, collateral=collateral, trust_root=trust_root, now=now, forge=self
        )


_ENCRYPTED_PPID_SIZES = {CERT_TYPE_PPID_RSA2048: 256, CERT_TYPE_PPID_RSA3072: 384}
_qe_report = qe_report
_tcb_info = tcb_info
_qe_identity = qe_identity


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Everything one verification needs: quote, collateral, trust root and ``now``.

    ``forge`` is the forge that made it (its PKI, leaf and keys).
    """

    quote: Quote
    collateral: SyntheticCollateral
    trust_root: x509.Certificate
    now: datetime
    forge: QuoteForge

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some members changed (``now``, ``trust_root``, ``collateral``...)."""
        return dataclasses.replace(self, **changes)

    @property
    def quote_bytes(self) -> bytes:
        """The quote's wire bytes."""
        return self.quote.to_bytes()

    @property
    def trust_root_der(self) -> bytes:
        """The trust root certificate in DER (pass as ``trust_root=``)."""
        return self.trust_root.public_bytes(serialization.Encoding.DER)

    @property
    def trust_root_pem(self) -> bytes:
        """The trust root certificate in PEM."""
        return self.trust_root.public_bytes(serialization.Encoding.PEM)

    @property
    def now_timestamp(self) -> int:
        """``now`` in whole seconds since the epoch (dcap-qvl's ``now_secs``)."""
        return int(self.now.timestamp())

    def collateral_json(self) -> str:
        """The collateral as ``QuoteCollateralV3`` JSON text."""
        return self.collateral.to_collateral_json()

    def to_collateral(self) -> Collateral:
        """The collateral as :class:`tdxquote.collateral.Collateral`."""
        return self.collateral.to_collateral()
