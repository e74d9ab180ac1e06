"""The collateral bundle, and dcap-qvl's ``QuoteCollateralV3`` JSON form of it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from tdxquote._sniff import explain_wrong_collateral_json
from tdxquote.errors import CollateralFormatError

from ._chain import chain_pem_text, load_chain
from ._crl import crl_der, load_crl
from ._fields import Obj, as_bytes, load_json
from ._identity import EnclaveIdentity
from ._tcb_info import TcbInfo

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["Collateral", "RawCollateral"]

_CODE = "collateral_format"
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_CHAIN_ERRORS = {
    "pck_crl_issuer_chain": "SGX_QL_PCK_CERT_CHAIN_ERROR",
    "tcb_info_issuer_chain": "SGX_QL_TCBINFO_CHAIN_ERROR",
    "qe_identity_issuer_chain": "SGX_QL_QEIDENTITY_CHAIN_ERROR",
    "pck_certificate_chain": "SGX_QL_PCK_CERT_CHAIN_ERROR",
}


@dataclass(frozen=True)
class RawCollateral:
    """Collateral exactly as received, field for field dcap-qvl's ``QuoteCollateralV3``.

    Chains are PEM text (URL-decoded), CRLs are DER, ``tcb_info`` and
    ``qe_identity`` are the exact signed JSON bytes, signatures are 64-byte
    ``r || s``.  Nothing is validated by the constructor; use
    :meth:`Collateral.from_raw`.
    """

    pck_crl_issuer_chain: str
    root_ca_crl: bytes
    pck_crl: bytes
    tcb_info_issuer_chain: str
    tcb_info: bytes
    tcb_info_signature: bytes
    qe_identity_issuer_chain: str
    qe_identity: bytes
    qe_identity_signature: bytes
    pck_certificate_chain: str | None = None

    @classmethod
    def from_json(cls, text: bytes | str) -> RawCollateral:
        """Read dcap-qvl ``QuoteCollateralV3`` JSON (bytes as hex strings).

        As in dcap-qvl, every field but ``pck_certificate_chain`` is required
        and unknown members are ignored.
        """
        raw = as_bytes(text, code=_CODE, what="collateral JSON")
        top = Obj(load_json(raw, code=_CODE, what="collateral JSON"), "collateral", _CODE)
        chain = None
        if top.has("pck_certificate_chain") and top.get("pck_certificate_chain") is not None:
            chain = top.string("pck_certificate_chain")
        return cls(
            pck_crl_issuer_chain=top.string("pck_crl_issuer_chain"),
            root_ca_crl=_hex(top, "root_ca_crl"),
            pck_crl=_hex(top, "pck_crl"),
            tcb_info_issuer_chain=top.string("tcb_info_issuer_chain"),
            tcb_info=_utf8(top, "tcb_info"),
            tcb_info_signature=_hex(top, "tcb_info_signature"),
            qe_identity_issuer_chain=top.string("qe_identity_issuer_chain"),
            qe_identity=_utf8(top, "qe_identity"),
            qe_identity_signature=_hex(top, "qe_identity_signature"),
            pck_certificate_chain=chain,
        )

    def to_json(self) -> str:
        """Write dcap-qvl ``QuoteCollateralV3`` JSON, formatted as dcap-qvl's ``to_json``."""
        members: dict[str, str] = {
            "pck_crl_issuer_chain": self.pck_crl_issuer_chain,
            "root_ca_crl": self.root_ca_crl.hex(),
            "pck_crl": self.pck_crl.hex(),
            "tcb_info_issuer_chain": self.tcb_info_issuer_chain,
            "tcb_info": self.tcb_info.decode("utf-8"),
            "tcb_info_signature": self.tcb_info_signature.hex(),
            "qe_identity_issuer_chain": self.qe_identity_issuer_chain,
            "qe_identity": self.qe_identity.decode("utf-8"),
            "qe_identity_signature": self.qe_identity_signature.hex(),
        }
        if self.pck_certificate_chain is not None:
            members["pck_certificate_chain"] = self.pck_certificate_chain
        return json.dumps(members, indent=2, ensure_ascii=False)


def _raw_digest(raw: RawCollateral) -> bytes:
    """SHA-256 over every member of ``raw``, each length-prefixed: the collateral's identity."""
    digest = hashlib.sha256()
    chain = raw.pck_certificate_chain
    for part in (
        raw.pck_crl_issuer_chain.encode("utf-8", "surrogatepass"),
        raw.root_ca_crl,
        raw.pck_crl,
        raw.tcb_info_issuer_chain.encode("utf-8", "surrogatepass"),
        raw.tcb_info,
        raw.tcb_info_signature,
        raw.qe_identity_issuer_chain.encode("utf-8", "surrogatepass"),
        raw.qe_identity,
        raw.qe_identity_signature,
        b"" if chain is None else b"chain:" + chain.encode("utf-8", "surrogatepass"),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


_PARTS = (
    "pck_crl_issuer_chain",
    "root_ca_crl",
    "pck_crl",
    "tcb_info_issuer_chain",
    "tcb_info",
    "qe_identity_issuer_chain",
    "qe_identity",
    "pck_certificate_chain",
)


@dataclass(frozen=True)
class Collateral:
    """Everything needed to verify a quote's collateral, as received (not verified).

    Built from the exact bytes (:meth:`from_json`, :meth:`from_raw`,
    :meth:`from_pcs_responses`), which ``raw`` keeps, so :meth:`to_json`
    writes back exactly what was read.  ``digest`` is the SHA-256 of those
    bytes, computed once when the collateral is built: a
    :class:`~tdxquote.verification.Verifier` remembers the verified form of
    this collateral under it.

    Each part (``tcb_info``, ``pck_crl``, ``tcb_info_issuer_chain``, ...) is
    decoded when first read and kept; a malformed part raises
    :class:`CollateralFormatError` then (verification reads every part, and
    :meth:`decoded` reads them all at once).  Equal collaterals are those
    built from equal bytes.
    """

    raw: RawCollateral = field(repr=False)
    digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", _raw_digest(self.raw))

    def __repr__(self) -> str:
        return f"<Collateral sha256={self.digest.hex()[:16]}>"

    @classmethod
    def from_raw(cls, raw: RawCollateral) -> Collateral:
        """The collateral of ``raw``; its parts decode on first use."""
        return cls(raw)

    @classmethod
    @explain_wrong_collateral_json
    def from_json(cls, text: bytes | str) -> Collateral:
        """Read dcap-qvl ``QuoteCollateralV3`` JSON (see :meth:`RawCollateral.from_json`).

        Only the bundle's own shape (JSON, members, hex) is checked here; each
        part decodes on first use.
        """
        return cls(RawCollateral.from_json(text))

    def decoded(self) -> Collateral:
        """Decode every part now; raise the first :class:`CollateralFormatError`.  Returns self."""
        for name in _PARTS:
            getattr(self, name)
        return self

    def to_json(self) -> str:
        """Write dcap-qvl ``QuoteCollateralV3`` JSON from the original forms."""
        return self.raw.to_json()

    # --- the parts, decoded on first use ------------------------------------------------
    @cached_property
    def pck_crl_issuer_chain(self) -> tuple[x509.Certificate, ...]:
        """The PCK CRL's issuer chain (PCK CA, root)."""
        return _chain(self.raw.pck_crl_issuer_chain, "pck_crl_issuer_chain")

    @cached_property
    def root_ca_crl(self) -> x509.CertificateRevocationList:
        """The Root CA CRL."""
        return load_crl(self.raw.root_ca_crl)

    @cached_property
    def pck_crl(self) -> x509.CertificateRevocationList:
        """The PCK CRL of the PCK CA."""
        return load_crl(self.raw.pck_crl)

    @cached_property
    def tcb_info_issuer_chain(self) -> tuple[x509.Certificate, ...]:
        """The TCB Info's issuer chain (TCB Signing certificate, root)."""
        return _chain(self.raw.tcb_info_issuer_chain, "tcb_info_issuer_chain")

    @cached_property
    def tcb_info(self) -> TcbInfo:
        """The TCB Info, parsed from its exact signed bytes."""
        return TcbInfo.from_signed_body(self.raw.tcb_info, self.raw.tcb_info_signature)

    @cached_property
    def qe_identity_issuer_chain(self) -> tuple[x509.Certificate, ...]:
        """The QE identity's issuer chain (TCB Signing certificate, root)."""
        return _chain(self.raw.qe_identity_issuer_chain, "qe_identity_issuer_chain")

    @cached_property
    def qe_identity(self) -> EnclaveIdentity:
        """The QE identity, parsed from its exact signed bytes."""
        return EnclaveIdentity.from_signed_body(
            self.raw.qe_identity, self.raw.qe_identity_signature
        )

    @cached_property
    def pck_certificate_chain(self) -> tuple[x509.Certificate, ...] | None:
        """The PCK chain for quotes that carry none (certification data types 1-4), if given."""
        if self.raw.pck_certificate_chain is None:
            return None
        return _chain(self.raw.pck_certificate_chain, "pck_certificate_chain")

    @classmethod
    def _with_parts(cls, raw: RawCollateral, **parts: object) -> Collateral:
        """A collateral whose given parts are already decoded (by a source, from these bytes)."""
        collateral = cls(raw)
        for name, value in parts.items():
            if name not in _PARTS:
                raise TypeError(f"unknown collateral part {name!r}")
            collateral.__dict__[name] = value
        return collateral

    @classmethod
    def from_pcs_responses(
        cls,
        *,
        tcb_info: tuple[bytes | str, bytes | str],
        qe_identity: tuple[bytes | str, bytes | str],
        pck_crl: tuple[bytes | str, bytes | str],
        root_ca_crl: bytes | str,
        pck_certificate_chain: bytes | str | None = None,
    ) -> Collateral:
        """Build from raw PCS/PCCS responses; every part is decoded (and checked) here.

        Each pair is ``(response body, issuer-chain header value)``; the header
        may be URL-encoded (as sent) or already PEM.  CRLs may be DER, PEM or
        hex text.  ``pck_certificate_chain`` is optional PEM.
        """
        tcb_body, tcb_chain = tcb_info
        identity_body, identity_chain = qe_identity
        crl_body, crl_chain = pck_crl
        parsed_tcb = TcbInfo.from_response(tcb_body)
        parsed_identity = EnclaveIdentity.from_response(identity_body)
        raw = RawCollateral(
            pck_crl_issuer_chain=chain_pem_text(crl_chain),
            root_ca_crl=crl_der(root_ca_crl),
            pck_crl=crl_der(crl_body),
            tcb_info_issuer_chain=chain_pem_text(tcb_chain),
            tcb_info=parsed_tcb.signed_body,
            tcb_info_signature=parsed_tcb.signature,
            qe_identity_issuer_chain=chain_pem_text(identity_chain),
            qe_identity=parsed_identity.signed_body,
            qe_identity_signature=parsed_identity.signature,
            pck_certificate_chain=(
                None if pck_certificate_chain is None else chain_pem_text(pck_certificate_chain)
            ),
        )
        return cls._with_parts(raw, tcb_info=parsed_tcb, qe_identity=parsed_identity).decoded()


def _chain(text: str, name: str) -> tuple[x509.Certificate, ...]:
    try:
        return load_chain(text)
    except CollateralFormatError as exc:
        raise CollateralFormatError(
            f"{name}: {exc.message}", code=exc.code, intel_error=_CHAIN_ERRORS[name]
        ) from exc


def _hex(top: Obj, key: str) -> bytes:
    text = top.string(key)
    if not _HEX.fullmatch(text):
        top.fail("expected hex digits", key)
    return bytes.fromhex(text)


def _utf8(top: Obj, key: str) -> bytes:
    try:
        return top.string(key).encode("utf-8")
    except UnicodeEncodeError:
        top.fail("not encodable as UTF-8", key)
