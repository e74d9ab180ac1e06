"""The collateral bundle, and dcap-qvl's ``QuoteCollateralV3`` JSON form of it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from cryptography import x509

from tdxquote._sniff import explain_wrong_collateral_json
from tdxquote.errors import CollateralFormatError

from ._chain import chain_pem_text, load_chain
from ._crl import crl_der, load_crl
from ._fields import Obj, as_bytes, load_json
from ._identity import EnclaveIdentity
from ._tcb_info import TcbInfo

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


@dataclass(frozen=True)
class Collateral:
    """Everything needed to verify a quote's collateral, parsed (not verified).

    ``raw`` keeps the original forms, so :meth:`to_json` writes back exactly
    what was read (signed JSON bytes untouched).
    """

    pck_crl_issuer_chain: tuple[x509.Certificate, ...]
    root_ca_crl: x509.CertificateRevocationList
    pck_crl: x509.CertificateRevocationList
    tcb_info_issuer_chain: tuple[x509.Certificate, ...]
    tcb_info: TcbInfo
    qe_identity_issuer_chain: tuple[x509.Certificate, ...]
    qe_identity: EnclaveIdentity
    pck_certificate_chain: tuple[x509.Certificate, ...] | None
    raw: RawCollateral = field(repr=False)

    @classmethod
    def from_raw(cls, raw: RawCollateral) -> Collateral:
        """Parse every part of ``raw``; errors are :class:`CollateralFormatError`."""
        pck_chain = None
        if raw.pck_certificate_chain is not None:
            pck_chain = _chain(raw.pck_certificate_chain, "pck_certificate_chain")
        return cls(
            pck_crl_issuer_chain=_chain(raw.pck_crl_issuer_chain, "pck_crl_issuer_chain"),
            root_ca_crl=load_crl(raw.root_ca_crl),
            pck_crl=load_crl(raw.pck_crl),
            tcb_info_issuer_chain=_chain(raw.tcb_info_issuer_chain, "tcb_info_issuer_chain"),
            tcb_info=TcbInfo.from_signed_body(raw.tcb_info, raw.tcb_info_signature),
            qe_identity_issuer_chain=_chain(
                raw.qe_identity_issuer_chain, "qe_identity_issuer_chain"
            ),
            qe_identity=EnclaveIdentity.from_signed_body(
                raw.qe_identity, raw.qe_identity_signature
            ),
            pck_certificate_chain=pck_chain,
            raw=raw,
        )

    @classmethod
    @explain_wrong_collateral_json
    def from_json(cls, text: bytes | str) -> Collateral:
        """Parse dcap-qvl ``QuoteCollateralV3`` JSON (see :meth:`RawCollateral.from_json`)."""
        return cls.from_raw(RawCollateral.from_json(text))

    def to_json(self) -> str:
        """Write dcap-qvl ``QuoteCollateralV3`` JSON from the original forms."""
        return self.raw.to_json()

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
        """Build from raw PCS/PCCS responses.

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
        return cls.from_raw(raw)


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
