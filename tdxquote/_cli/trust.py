"""``--trust-root FILE``: exactly one CA certificate, or a clear refusal (exit 2)."""

from __future__ import annotations

from .common import CliError, display_name, read_input

__all__ = ["MAX_TRUST_ROOT_INPUT", "read_trust_root"]

MAX_TRUST_ROOT_INPUT = 1 << 20
"""Largest ``--trust-root`` file read (1 MiB; a root certificate is about 1 KiB)."""

_CERTIFICATE_BLOCKS = frozenset({"CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE"})


def _refuse(name: str, problem: str) -> CliError:
    return CliError(
        f"--trust-root {name}: {problem}; give a file holding exactly one CA certificate "
        "(PEM or DER), the root the chains must end in",
        code="trust_root_invalid",
    )


def _what_is(data: bytes) -> str | None:
    from .._input import read_quote
    from .._sniff import describe_bytes
    from ..errors import QuoteParseError

    try:
        return f"a quote ({read_quote(data)[1].describe()})"
    except QuoteParseError:
        return describe_bytes(data)


def read_trust_root(source: str) -> bytes:
    """The DER of the one CA certificate in the file ``source`` (``-``: standard input).

    Raises :class:`~tdxquote._cli.common.CliError` (code ``trust_root_invalid``)
    for a file with no certificate, several certificates, anything beside a
    certificate (a private key, a quote), or a certificate that is not a CA.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from .._sniff import describe_pem, pem_block_types

    name = display_name(source)
    data = read_input(source, max_size=MAX_TRUST_ROOT_INPUT)
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    types = pem_block_types(data) if text is not None else []
    if types:
        others = [kind for kind in types if kind not in _CERTIFICATE_BLOCKS]
        if others:
            raise _refuse(name, f"it holds {describe_pem(others)}")
        if len(types) != 1:
            raise _refuse(name, f"it holds {len(types)} certificates")
        try:
            certificate = x509.load_pem_x509_certificate(data)
        except ValueError as exc:
            raise _refuse(name, f"its PEM certificate does not decode ({exc})") from None
    else:
        try:
            certificate = x509.load_der_x509_certificate(data)
        except ValueError:
            what = _what_is(data)
            raise _refuse(name, "not a certificate" + (f": it is {what}" if what else "")) from None
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    if not is_ca:
        raise _refuse(name, "the certificate is not a CA (no BasicConstraints with CA=true)")
    return certificate.public_bytes(Encoding.DER)
