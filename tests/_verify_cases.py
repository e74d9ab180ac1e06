"""Helpers for the verification tests on real data.

* loading the real quotes and collateral sets of the shared corpus (dcap-qvl's
  ``QuoteCollateralV3`` JSON files, the go-tdx-guest 2023 PCS responses, the
  teepot 2025 PCS responses);
* the byte mutations of ``dcap-qvl/expected.json``;
* :class:`Outcome`, one comparable shape for a verdict of tdxquote or of dcap-qvl;
* :data:`DCAP_QVL_ERRORS`, the table from dcap-qvl's error text to tdxquote's
  error ``code``;
* :data:`DIFFERENCES`, the documented places where Intel's QVL (which tdxquote
  follows) and dcap-qvl 0.7.0 disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from _quote_files import BY_PATH
from cryptography import x509

from tdxquote import parse_quote
from tdxquote.collateral import Collateral, TcbStatus
from tdxquote.errors import QuoteParseError, VerificationError
from tdxquote.verification import Policy, TrustRoot, Verifier, load_trust_root

PARSE = "quote_parse"
"""The pseudo error code of :class:`~tdxquote.QuoteParseError` (bytes that are not a quote)."""

ALLOW_ALL = Policy().allow_statuses(*TcbStatus)
"""Accept every TCB status, so that a verdict is Intel's status, not the default policy's."""

ALLOW_ALL_EXPIRED = ALLOW_ALL.unsafe_allow_expired_collateral()
"""Also accept expired collateral: the verdict Intel's QvE returns with its expiry flag."""


# --- outcomes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """A verdict: a TCB status with advisory IDs, or an error code.

    ``collateral_expired`` and ``detail`` do not take part in equality.
    """

    code: str | None = None
    status: str | None = None
    advisory_ids: tuple[str, ...] = ()
    collateral_expired: bool = field(default=False, compare=False)
    detail: str = field(default="", compare=False)

    @classmethod
    def ok(cls, status: str | TcbStatus, *advisory_ids: str) -> Outcome:
        """A verified quote with this status and these advisories (in this order)."""
        return cls(status=str(status), advisory_ids=advisory_ids)

    @classmethod
    def error(cls, code: str) -> Outcome:
        """A refusal with this tdxquote error code (or :data:`PARSE`)."""
        return cls(code=code)

    @property
    def verified(self) -> bool:
        """Whether this is a verdict rather than an error."""
        return self.code is None

    def __str__(self) -> str:
        if self.code is not None:
            return f"error {self.code}" + (f" ({self.detail})" if self.detail else "")
        return f"{self.status} {list(self.advisory_ids)}"


_VERIFIERS: dict[str | None, Verifier] = {}


def _verifier(trust_root: TrustRoot | None) -> Verifier:
    key = None if trust_root is None else trust_root.sha256
    if key not in _VERIFIERS:
        _VERIFIERS[key] = Verifier(trust_root=trust_root)
    return _VERIFIERS[key]


def ours(
    quote: bytes,
    collateral: Collateral | str,
    now: int | datetime,
    *,
    policy: Policy = ALLOW_ALL,
    trust_root: bytes | str | x509.Certificate | None = None,
) -> Outcome:
    """tdxquote's verdict.  ``collateral`` may be ``QuoteCollateralV3`` JSON text.

    Only :class:`QuoteParseError` and :class:`VerificationError` become
    outcomes; anything else propagates and fails the test.
    """
    root = None if trust_root is None else load_trust_root(trust_root)
    try:
        if isinstance(collateral, str):
            collateral = Collateral.from_json(collateral)
        verified = _verifier(root).verify(quote, collateral, now=now, policy=policy)
    except QuoteParseError as exc:
        return Outcome(code=PARSE, detail=str(exc))
    except VerificationError as exc:
        return Outcome(code=exc.code, detail=exc.message)
    return Outcome(
        status=str(verified.status),
        advisory_ids=verified.advisory_ids,
        collateral_expired=verified.collateral_expired,
    )


# --- dcap-qvl -------------------------------------------------------------------------

# dcap-qvl error text (a substring of its full ``Verification failed: ...`` message,
# causes included) -> tdxquote error code.  First match wins.  ``None``: tdxquote has
# no such check, following Intel's QVL; a case that hits it must name a difference.
DCAP_QVL_ERRORS: tuple[tuple[str, str | None], ...] = (
    ("Failed to decode quote", PARSE),
    ("Failed to parse quote", PARSE),
    # tdxquote refuses a key type other than 2 while parsing (QVL: UNSUPPORTED_QUOTE_FORMAT).
    ("Unsupported DCAP attestation key type", PARSE),
    ("Unknown QE vendor ID", "qe_vendor_unknown"),
    ("Unsupported DCAP PCK cert format", "quote_format"),
    ("issue date is in the future", None),
    ("CrlExpired", "collateral_expired"),
    ("CertExpired", "collateral_expired"),
    # tdxquote flags a certificate not yet valid like expired collateral (QVL ignores notBefore).
    ("CertNotValidYet", "collateral_expired"),
    ("TCBInfo expired", "collateral_expired"),
    ("QE Identity expired", "collateral_expired"),
    ("InvalidCrlSignatureForPublicKey", "crl_invalid"),
    # webpki finds no CRL of the leaf's issuer: the PCK CRL is another CA's.
    ("UnknownRevocationStatus", "crl_issuer_mismatch"),
    ("Failed to parse root CA CRL", "crl_format"),
    ("UnknownIssuer", "pck_chain_invalid"),
    ("CaUsedAsEndEntity", "pck_chain_invalid"),
    ("Certificate chain is too short in quote", "pck_chain_invalid"),
    # An empty issuer chain: tdxquote refuses it when loading the collateral.
    ("Certificate chain is too short for", "issuer_chain_format"),
    ("Signature is invalid for tcb_info", "tcb_info_signature_invalid"),
    ("Signature is invalid for qe_identity", "qe_identity_signature_invalid"),
    ("Signature is invalid for qe_report", "qe_report_signature_invalid"),
    ("QE report hash mismatch", "qe_report_data_mismatch"),
    ("ISV enclave report signature is invalid", "quote_signature_invalid"),
    ("Unsupported QE Identity id/version", "qe_identity_version"),
    ("Fmspc mismatch", "tcb_info_mismatch"),
    ("No matching TCB level found", "tcb_not_supported"),
    ("TCB status is invalid: Revoked", "tcb_revoked"),
    ("TDX module identity check", "tdx_module_mismatch"),
    # tdxquote's default policy refuses debug TDs and enclaves too.
    ("Debug mode is enabled", "policy"),
    # dcap-qvl's own rules, which QVL does not have (tdxquote: a caller's policy).
    ("Invalid QE auth data length", None),
    ("SEPT_VE_DISABLE is not enabled", None),
    ("Invalid MR service TD", None),
)

# Codes naming the same refusal (Intel's SGX_QL_TCB_REVOKED): tdxquote says the QE's
# level is the revoked one, dcap-qvl only that the converged status is Revoked.
SAME_REFUSAL = frozenset({("qe_tcb_revoked", "tcb_revoked")})


class UnmappedError(LookupError):
    """A dcap-qvl error text that :data:`DCAP_QVL_ERRORS` does not know."""


def code_for_dcap_qvl_error(text: str) -> str | None:
    """tdxquote's code for a dcap-qvl error message (``None``: no tdxquote equivalent)."""
    for fragment, code in DCAP_QVL_ERRORS:
        if fragment in text:
            return code
    raise UnmappedError(f"dcap-qvl error text not in DCAP_QVL_ERRORS: {text!r}")


NO_EQUIVALENT = "no_tdxquote_equivalent"


def dcap_qvl_outcome(
    *, ok: bool, status: str = "", advisory_ids: Any = (), error: str = ""
) -> Outcome:
    """A dcap-qvl verdict as an :class:`Outcome` with tdxquote's code."""
    if ok:
        return Outcome(status=status, advisory_ids=tuple(advisory_ids))
    code = code_for_dcap_qvl_error(error)
    return Outcome(code=NO_EQUIVALENT if code is None else code, detail=error)


def run_dcap_qvl(
    dcap_qvl: Any, quote: bytes, collateral_json: str, now: int, root_der: bytes | None = None
) -> Outcome:
    """dcap-qvl's verdict (``dcap_qvl`` is the imported module)."""
    try:
        collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_json)
        if root_der is None:
            report = dcap_qvl.verify(quote, collateral, now)
        else:
            report = dcap_qvl.verify_with_root_ca(quote, collateral, root_der, now)
    except ValueError as exc:
        return dcap_qvl_outcome(ok=False, error=str(exc))
    return dcap_qvl_outcome(ok=True, status=report.status, advisory_ids=report.advisory_ids)


# --- where Intel's QVL and dcap-qvl differ --------------------------------------------

DIFFERENCES: dict[str, str] = {
    "issue_date_unchecked": (
        "dcap-qvl refuses a TCB Info or QE identity whose issueDate is after now; "
        "Intel's QVL never checks issueDate"
    ),
    "expiry_at_next_update": (
        "Intel's QvE counts collateral as expired when its earliest expiration <= now; "
        "dcap-qvl still accepts now == tcbInfo/qeIdentity nextUpdate"
    ),
    "expiry_not_fatal": (
        "Intel's QvE reports expired collateral with a flag and carries on, so a terminal "
        "failure found later decides the verdict; dcap-qvl stops at the first expired item "
        "(tdxquote treats a certificate not yet valid the same way; QVL ignores notBefore)"
    ),
    "check_order": (
        "both refuse, but Intel's order finds another failure first: the QvE checks the PCK "
        "chain and CRLs before the TCB Info and QE identity, and QVL matches the TCB Info "
        "(4.1.2.4.9-10) before the QE identity (4.1.2.4.14) and the quote signature "
        "(4.1.2.4.16); dcap-qvl checks the QE identity id first and the FMSPC last"
    ),
    "outer_cert_type": (
        "dcap-qvl ignores the outer certification data type of v4/v5 quotes; QVL and "
        "go-tdx-guest require type 6 (tdxquote refuses it when parsing)"
    ),
    "auth_data_trailing_bytes": (
        "dcap-qvl accepts bytes inside the signature data beyond the certification data; "
        "QVL and go-tdx-guest require exact sizes (tdxquote refuses it when parsing)"
    ),
    "signing_chain_leaf_only": (
        "dcap-qvl accepts a TCB Info / QE identity issuer chain holding only the TCB "
        "Signing certificate; QVL requires the signing certificate and the root"
    ),
    "empty_pck_crl_issuer_chain": (
        "dcap-qvl never reads pck_crl_issuer_chain; Intel's QvE parses it "
        "(empty: SGX_QL_PCK_CERT_CHAIN_ERROR)"
    ),
    "qe_identity_v3": (
        "dcap-qvl accepts a version 3 TD_QE identity; QVL requires version 2 "
        "(tdxquote refuses other versions when parsing)"
    ),
    "qe_auth_data_length": (
        "dcap-qvl requires 32 bytes of QE authentication data; QVL accepts any length"
    ),
    "td_attribute_policy": (
        "dcap-qvl refuses TD attributes without SEPT_VE_DISABLE and a non-zero MRSERVICETD; "
        "QVL has no such rule (tdxquote leaves it to Policy.td_attributes_rule / "
        "expect_field)"
    ),
}
# Not differences with dcap-qvl 0.7.0, although the reference lists them from the 0.5.2
# source: the TDX components compared from index 2 when TEE_TCB_SVN[1] > 0, Intel's
# convergence of a ConfigurationNeeded platform with an OutOfDate QE or module, and the
# TD relaunch statuses.  test_verify_differential.py asserts agreement on each.


# --- real quotes and collateral -------------------------------------------------------


def read_quote(vectors: Path, path: str) -> bytes:
    """A corpus quote's bytes (``path`` as in ``tests/_quote_files.py``)."""
    return BY_PATH[path].read(vectors)


def dcap_qvl_quote(vectors: Path, name: str) -> bytes:
    """A quote named as ``dcap-qvl/expected.json`` names it (relative to ``dcap-qvl/``)."""
    return read_quote(vectors, f"dcap-qvl/{name}")


def dcap_qvl_collateral_json(vectors: Path, name: str) -> str:
    """A ``QuoteCollateralV3`` JSON file of ``dcap-qvl/``."""
    return (vectors / "dcap-qvl" / name).read_text(encoding="utf-8")


@lru_cache(maxsize=64)
def collateral_from_json(text: str) -> Collateral:
    """Parsed collateral, once per distinct text."""
    return Collateral.from_json(text)


@lru_cache(maxsize=4)
def gtg_2023_collateral(vectors: Path) -> Collateral:
    """go-tdx-guest's 2023 PCS set (FMSPC 50806f000000), from raw bodies and header values."""
    folder = vectors / "go-tdx-guest" / "collateral"
    return Collateral.from_pcs_responses(
        tcb_info=(
            (folder / "sample_tcbInfo_response").read_bytes(),
            (folder / "TCB-Info-Issuer-Chain.header.txt").read_text(encoding="ascii"),
        ),
        qe_identity=(
            (folder / "sample_qeIdentity_response").read_bytes(),
            (folder / "SGX-Enclave-Identity-Issuer-Chain.header.txt").read_text(encoding="ascii"),
        ),
        pck_crl=(
            (folder / "pckcrl").read_bytes(),
            (folder / "SGX-PCK-CRL-Issuer-Chain.header.txt").read_text(encoding="ascii"),
        ),
        root_ca_crl=(folder / "rootcrl.der").read_bytes(),
    )


@lru_cache(maxsize=4)
def teepot_collateral(vectors: Path) -> Collateral:
    """teepot's 2025-05-27 PCS responses (TDX, FMSPC 00806F050000), platform PCK CRL.

    The Root CA CRL (which teepot did not capture) is dcap-qvl's, valid
    2025-03-20..2026-04-03.
    """
    folder = vectors / "teepot-intel-pcs"

    def load(name: str) -> dict[str, str]:
        document: dict[str, str] = json.loads((folder / name).read_text(encoding="utf-8"))
        return document

    tcb, identity, crl = (
        load("tdx_tcb_info.json"),
        load("tdx_qe_identity.json"),
        load("pck_crl_platform.json"),
    )
    root_crl = collateral_from_json(dcap_qvl_collateral_json(vectors, "tdx_quote_collateral.json"))
    return Collateral.from_pcs_responses(
        tcb_info=(tcb["tcb_info_json"], tcb["issuer_chain"]),
        qe_identity=(identity["enclave_identity_json"], identity["issuer_chain"]),
        pck_crl=(crl["crl_data"], crl["issuer_chain"]),
        root_ca_crl=root_crl.raw.root_ca_crl,
    )


@dataclass(frozen=True)
class Validity:
    """When a quote's collateral is valid, in unix seconds.

    ``issued``: the latest issue date of the TCB Info, QE identity and both
    CRLs (dcap-qvl refuses earlier times).  ``checked_start``: the latest CRL
    thisUpdate or certificate notBefore (tdxquote flags earlier times as
    expiry; TCB Info / QE identity issueDate is not checked, as in QVL).
    ``end``: the earliest nextUpdate or notAfter of anything, which Intel's
    QvE counts as expired from ``end`` on (``end <= now``).
    """

    issued: int
    checked_start: int
    end: int

    def intel_valid_at(self, now: int) -> bool:
        """Whether tdxquote leaves the collateral unflagged at ``now``.

        That is Intel's QvE reading (nothing expired, no CRL issued later), plus
        tdxquote's own flag for a certificate not yet valid, which QVL ignores.
        """
        return self.checked_start <= now < self.end


def validity(collateral: Collateral, quote: bytes | None = None) -> Validity:
    """The :class:`Validity` of ``collateral`` (with the quote's PCK chain, if it has one)."""
    crls = (collateral.root_ca_crl, collateral.pck_crl)
    certs = [*collateral.tcb_info_issuer_chain, *collateral.qe_identity_issuer_chain]
    if quote is not None:
        certs += _pck_chain(quote)
    signed = (collateral.tcb_info, collateral.qe_identity)
    issued = max([*(s.issue_date for s in signed), *(c.last_update_utc for c in crls)])
    checked = max([*(c.last_update_utc for c in crls), *(c.not_valid_before_utc for c in certs)])
    end = min(
        [
            *(s.next_update for s in signed),
            *(_next_update(c) for c in crls),
            *(c.not_valid_after_utc for c in certs),
        ]
    )
    return Validity(int(issued.timestamp()), int(checked.timestamp()), int(end.timestamp()))


def _pck_chain(quote: bytes) -> list[x509.Certificate]:
    try:
        return list(parse_quote(quote).pck_chain)
    except QuoteParseError:
        return []


def _next_update(crl: x509.CertificateRevocationList) -> datetime:
    end = crl.next_update_utc
    assert end is not None
    return end


# --- byte mutations of dcap-qvl/expected.json -----------------------------------------


def mutate(data: bytes, mutation: dict[str, Any]) -> bytes:
    """Apply one ``{"op": ...}`` mutation of ``dcap-qvl/expected.json``."""
    op = mutation["op"]
    if op == "truncate":
        return data[: mutation["len"]]
    if op == "append":
        return data + bytes.fromhex(mutation["hex"])
    out = bytearray(data)
    offset = mutation["offset"]
    if op == "xor":
        out[offset] ^= mutation["mask"]
    elif op == "set_u16le":
        out[offset : offset + 2] = mutation["value"].to_bytes(2, "little")
    elif op == "set_u32le":
        out[offset : offset + 4] = mutation["value"].to_bytes(4, "little")
    else:
        raise ValueError(f"unknown mutation op {op!r}")
    return bytes(out)
