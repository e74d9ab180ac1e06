"""What a file or document looks like, for messages: "this is a private key, not a quote".

Used when input is not what a command or constructor expected, to say what
it is instead and where it belongs.  Nothing here decides anything about a
quote's validity: every function returns a short phrase for people, or None
when the input looks like nothing it knows.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from .errors import CollateralFormatError

__all__ = [
    "describe_bytes",
    "describe_json",
    "describe_pem",
    "explain_wrong_collateral_json",
    "load_json_document",
    "pem_block_types",
    "wrong_collateral_json_hint",
]

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")

_PEM_KINDS = {
    "CERTIFICATE": "a PEM certificate",
    "TRUSTED CERTIFICATE": "a PEM certificate",
    "X509 CERTIFICATE": "a PEM certificate",
    "PRIVATE KEY": "a private key",
    "RSA PRIVATE KEY": "a private key",
    "EC PRIVATE KEY": "a private key",
    "DSA PRIVATE KEY": "a private key",
    "ENCRYPTED PRIVATE KEY": "a private key",
    "OPENSSH PRIVATE KEY": "a private key",
    "PUBLIC KEY": "a public key",
    "RSA PUBLIC KEY": "a public key",
    "X509 CRL": "a certificate revocation list (CRL)",
    "CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    "NEW CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    "EC PARAMETERS": "EC key parameters",
}

_QUOTE_STARTS = (b"\x03\x00\x02\x00", b"\x04\x00\x02\x00", b"\x05\x00\x02\x00")
"""The first 4 bytes of a v3, v4 or v5 quote (version, attestation key type 2)."""


def pem_block_types(data: bytes) -> list[str]:
    """The types of the PEM blocks in ``data`` (``CERTIFICATE``, ``PRIVATE KEY``, ...), in order."""
    return [match.group(1).decode("ascii") for match in _PEM_BEGIN.finditer(data)]


def describe_pem(types: list[str]) -> str:
    """A phrase for PEM blocks of these ``types``: private keys win, then certificates."""
    kinds = [_PEM_KINDS.get(kind, f"a PEM block of type {kind}") for kind in types]
    if "a private key" in kinds:
        return "a private key"
    certificates = kinds.count("a PEM certificate")
    if certificates > 1:
        return f"a PEM file of {certificates} certificates"
    return kinds[0]


def load_json_document(data: bytes) -> Any:
    """``data`` decoded as a JSON document, or raise ValueError (also for nesting too deep)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    try:
        return json.loads(text)
    except RecursionError:  # a document nested deeper than the decoder recurses
        raise ValueError("JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None


def _keys(document: Mapping[str, Any]) -> set[str]:
    return {str(key) for key in document}


def describe_json(document: Any) -> str | None:
    """A noun phrase for a JSON document that is not a quote (collateral, a token, ...)."""
    if isinstance(document, list):
        if document and all(isinstance(item, dict) for item in document[:16]):
            first = _keys(document[0])
            if {"imr", "event_type"} <= first or {"imr", "digest"} <= first:
                return "an event log (a JSON list of measured events)"
        return None
    if not isinstance(document, dict):
        return None
    keys = _keys(document)
    if str(document.get("schema", "")).startswith("tdxquote/"):
        return "a report that tdxquote printed with --json"
    if {"tcb_info", "qe_identity", "pck_crl"} <= keys:
        return "a collateral bundle (dcap-qvl QuoteCollateralV3 JSON)"
    if {"tcbInfo", "signature"} <= keys:
        return "a PCS TCB Info response (collateral)"
    if {"enclaveIdentity", "signature"} <= keys:
        return "a PCS QE identity response (collateral)"
    if "tcb_info_json" in keys or "tcbInfo" in keys or {"tcbLevels", "fmspc"} <= keys:
        return "a TCB Info document (collateral)"
    if "enclave_identity_json" in keys or "enclaveIdentity" in keys:
        return "a QE identity document (collateral)"
    if "crl_data" in keys or "crl_data_base64" in keys:
        return "a CRL response (collateral)"
    if "token" in keys and isinstance(document.get("token"), str):
        return "a token response (a JWT, as Intel Trust Authority returns)"
    if "attestation" in keys and isinstance(document.get("attestation"), str):
        return "a dstack attestation envelope (the quote is inside, SCALE- or msgpack-encoded)"
    shown = ", ".join(sorted(keys)[:8]) + (", ..." if len(keys) > 8 else "")
    return f"a JSON document without a quote member (keys: {shown or 'none'})"


def _looks_der(data: bytes) -> str | None:
    """A phrase for DER-encoded certificates, CRLs and keys."""
    if len(data) < 4 or data[0] != 0x30 or data[1] not in (0x81, 0x82, 0x83):
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    loaders: tuple[tuple[str, Any], ...] = (
        ("a DER certificate", x509.load_der_x509_certificate),
        ("a DER certificate revocation list (CRL)", x509.load_der_x509_crl),
        ("a DER certificate signing request (CSR)", x509.load_der_x509_csr),
        ("a private key (DER)", lambda raw: serialization.load_der_private_key(raw, None)),
        ("a public key (DER)", serialization.load_der_public_key),
    )
    for phrase, load in loaders:
        try:
            load(data)
        except Exception:  # noqa: S112 (any failure only means "not this kind")
            continue
        return phrase
    return "DER-encoded ASN.1 (a certificate, key or CRL?)"


def describe_bytes(data: bytes) -> str | None:
    """A phrase for what ``data`` is when it is not a quote, or None when it looks like nothing.

    Knows PEM blocks (certificates, keys, CRLs), DER certificates, CRLs and
    keys, JSON collateral, TCB Info and QE identity documents, tokens, dstack
    envelopes and event logs, and plain text.
    """
    if not data:
        return "empty"
    if data[:4] in _QUOTE_STARTS:
        return "a quote"
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    types = pem_block_types(data[: 1 << 16]) if text is not None else []
    if types:
        return describe_pem(types)
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        try:
            document = load_json_document(data)
        except ValueError:
            return "text that starts like JSON but is not valid JSON"
        return describe_json(document)
    der = _looks_der(data)
    if der is not None:
        return der
    if text is None:
        return None
    if all(char.isprintable() or char.isspace() for char in text[:4096]):
        return "text"
    return None


def wrong_collateral_json_hint(text: bytes | str) -> str | None:
    """Which constructor reads ``text`` when it is collateral JSON of another shape, or None.

    Called by :meth:`tdxquote.Collateral.from_json` when it cannot read a
    document, so that the error names the constructor that can.
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    try:
        document = load_json_document(data)
    except ValueError:
        document = None
    if isinstance(document, dict):
        keys = _keys(document)
        if {"tcbInfo", "signature"} <= keys or "tcb_info_json" in keys:
            return (
                "this is a PCS TCB Info response, not a QuoteCollateralV3 bundle: read it with "
                "tdxquote.collateral.TcbInfo.from_response(body), or build a bundle with "
                "Collateral.from_pcs_responses(tcb_info=(body, issuer_chain), ...)"
            )
        if {"enclaveIdentity", "signature"} <= keys or "enclave_identity_json" in keys:
            return (
                "this is a PCS QE identity response, not a QuoteCollateralV3 bundle: read it "
                "with tdxquote.collateral.EnclaveIdentity.from_response(body), or build a bundle "
                "with Collateral.from_pcs_responses(qe_identity=(body, issuer_chain), ...)"
            )
        if "crl_data" in keys or "crl_data_base64" in keys:
            return (
                "this is a CRL response, not a QuoteCollateralV3 bundle: pass it to "
                "Collateral.from_pcs_responses(pck_crl=(body, issuer_chain), ...)"
            )
        if {"tcbLevels", "fmspc"} <= keys:
            return (
                "this is the inner TCB Info object without its signature: a bundle needs the "
                "whole PCS response, see Collateral.from_pcs_responses"
            )
        return None
    if document is None and data[:4] in _QUOTE_STARTS:
        return "this looks like a quote, not collateral: read it with tdxquote.Quote.from_text"
    return None


_P = ParamSpec("_P")
_R = TypeVar("_R")


def explain_wrong_collateral_json(read: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorate a bundle reader ``read(cls, text)``: its format errors name the right reader.

    When ``text`` is a PCS response or another document a different
    constructor reads, the :class:`~tdxquote.errors.CollateralFormatError`
    says which one (see :func:`wrong_collateral_json_hint`).
    """

    @functools.wraps(read)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return read(*args, **kwargs)
        except CollateralFormatError as exc:
            text = kwargs.get("text", args[1] if len(args) > 1 else None)
            hint = wrong_collateral_json_hint(text) if isinstance(text, (bytes, str)) else None
            if hint is None:
                raise
            raise CollateralFormatError(
                f"{exc.message}; {hint}", code=exc.code, intel_error=exc.intel_error
            ) from exc

    return wrapper
