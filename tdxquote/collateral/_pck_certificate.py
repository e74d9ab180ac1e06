"""A PCK certificate fetched for a quote that carries none: its chain, and whether it fits.

A quote with certification data type 1 to 3 names its platform by PPID and
the TCB its PCK key was derived for (CPUSVN, PCESVN, PCE-ID); the PCS answers
``/pckcert`` with the leaf certificate of that platform and TCB and, in
headers, its PCK CA and root.  The certificate, not the headers, is what
counts: the QE report is signed by the key of exactly that certificate, so
its SGX extension must name the quote's CPUSVN, PCESVN and PCE-ID (and the
PPID, when the quote carries it in clear).  The headers (``SGX-TCBm``,
``SGX-FMSPC``, ``SGX-PCK-Certificate-CA-Type``) are unsigned hints: one that
contradicts the certificate marks a response not to be trusted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tdxquote._chain_checks import check_root, issued_by_cached, public_key, require_ca
from tdxquote.errors import CertificateChainError

if TYPE_CHECKING:
    from tdxquote._quote import PckIdentifier
    from tdxquote._trust import TrustRoot
    from tdxquote._verified_cache import VerifiedCache
    from tdxquote._x509_verify import CertView
    from tdxquote.pck import PckExtension

__all__ = [
    "check_pck_chain_issuers",
    "header_mismatch",
    "identifier_mismatch",
    "quote_identifier_mismatch",
]

_TCBM = re.compile(r"[0-9A-Fa-f]{36}")
_FMSPC = re.compile(r"[0-9A-Fa-f]{12}")


def identifier_mismatch(
    extension: PckExtension,
    *,
    cpu_svn: bytes,
    pce_svn: int,
    pce_id: bytes | None,
    ppid: bytes | None = None,
) -> str | None:
    """What differs between a PCK leaf's SGX extension and a quote's PCK identifier, or None.

    ``pce_id`` (absent from Intel's first reference layout) and ``ppid`` (a
    clear PPID, certification data type 1) are compared only when given.
    """
    found = []
    if pce_id is not None and extension.pce_id != pce_id:
        found.append(f"PCE-ID {extension.pce_id.hex()} (the quote's {pce_id.hex()})")
    if extension.cpu_svn != cpu_svn:
        found.append(f"CPUSVN {extension.cpu_svn.hex()} (the quote's {cpu_svn.hex()})")
    if extension.pce_svn != pce_svn:
        found.append(f"PCESVN {extension.pce_svn} (the quote's {pce_svn})")
    if ppid is not None and extension.ppid != ppid:
        found.append(f"PPID {extension.ppid.hex()} (the quote's {ppid.hex()})")
    return None if not found else "the PCK certificate is for " + ", ".join(found)


def quote_identifier_mismatch(extension: PckExtension, identifier: PckIdentifier) -> str | None:
    """:func:`identifier_mismatch` for a quote's identifier (its PPID compared when in clear)."""
    return identifier_mismatch(
        extension,
        cpu_svn=identifier.cpu_svn,
        pce_svn=identifier.pce_svn,
        pce_id=identifier.pce_id,
        ppid=None if identifier.encrypted else identifier.ppid,
    )


def header_mismatch(
    headers: Sequence[tuple[str, str]], extension: PckExtension, ca: str
) -> str | None:
    """What a PCK certificate response's hint headers say that its certificate does not."""
    for name, value in headers:
        text = value.strip()
        lowered = name.lower()
        if lowered == "sgx-tcbm":
            mine = (extension.cpu_svn + extension.pce_svn.to_bytes(2, "little")).hex()
            if not _TCBM.fullmatch(text) or text.lower() != mine:
                return f"SGX-TCBm {text[:40]!r}, while the certificate's TCB is {mine.upper()}"
        elif lowered == "sgx-fmspc":
            if not _FMSPC.fullmatch(text) or text.upper() != extension.fmspc_hex:
                return f"SGX-FMSPC {text[:20]!r}, while the certificate's is {extension.fmspc_hex}"
        elif lowered == "sgx-pck-certificate-ca-type" and text.lower() != ca:
            return f"SGX-PCK-Certificate-CA-Type {text[:20]!r}, while the certificate's CA is {ca}"
    return None


def check_pck_chain_issuers(
    chain: tuple[CertView, ...], trust: TrustRoot, cache: VerifiedCache
) -> None:
    """A fetched PCK chain (leaf, PCK CA, root in any order) issued under ``trust``.

    Names, signatures, the root's key and the CA constraints, as the
    verifier checks a quote's chain; revocation and dates are the verifier's
    (with the whole collateral).  Raises :class:`CertificateChainError`.
    """
    if len(chain) != 3:
        raise CertificateChainError(f"the PCK chain holds {len(chain)} certificates, not 3")
    roots = [c for c in chain if c.self_issued]
    leaves = [c for c in chain if "SGX PCK Certificate" in c.common_name]
    if len(roots) != 1 or len(leaves) != 1 or roots[0] is leaves[0]:
        raise CertificateChainError(
            "the PCK chain must hold one self-issued root and one 'SGX PCK Certificate' leaf"
        )
    root, leaf = roots[0], leaves[0]
    intermediate = next(c for c in chain if c is not root and c is not leaf)
    if "CA" not in intermediate.common_name:
        raise CertificateChainError("the PCK chain has no PCK Platform or Processor CA")
    check_root(root, trust, cache, code="pck_chain_invalid", what="PCK chain")
    if not issued_by_cached(intermediate, root, trust.public_key, cache):
        raise CertificateChainError("the PCK CA certificate is not issued by the root")
    intermediate_key = public_key(intermediate)
    if intermediate_key is None or not issued_by_cached(
        leaf, intermediate, intermediate_key, cache
    ):
        raise CertificateChainError("the PCK leaf certificate is not issued by the PCK CA")
    require_ca(intermediate, "the PCK CA certificate")
    require_ca(root, "the PCK chain's root")
