"""Fetch a Postgres server's TLS certificate chain, as RA-TLS clients see it.

Two ways in, as TeeSQL clients connect:

* **SSLRequest** (the default; every PostgreSQL version): send the 8-byte
  ``SSLRequest`` message (length 8, code 80877103); the server answers one
  byte, ``S`` (go ahead with TLS) or ``N`` (no TLS here); after ``S`` the TLS
  handshake runs on the same socket.
* **Direct TLS** (PostgreSQL 17's ``sslnegotiation=direct``, TLS proxies): the
  TLS handshake starts at once, offering ALPN ``postgresql``.

The handshake does not check the certificate against any CA and does not check
the host name: the trust comes from the attestation inside the certificate,
verified afterwards.  The whole chain the server sent is kept, leaf first.

Every failure raises :class:`ProbeError` with a stable ``code`` (see
:data:`PROBE_ERROR_CODES`), never a bare ``OSError`` or ``ssl.SSLError``.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import TdxQuoteError

__all__ = [
    "ALPN_POSTGRESQL",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "PROBE_ERROR_CODES",
    "SSL_REQUEST",
    "SSL_REQUEST_CODE",
    "PeerChain",
    "ProbeError",
    "check_ssl_response",
    "client_context",
    "fetch_chain",
    "parse_target",
    "peer_chain_der",
]

DEFAULT_PORT = 5433
"""The port TeeSQL's RA-TLS Postgres listens on."""

DEFAULT_TIMEOUT = 10.0
"""Seconds the whole probe (connect, SSLRequest, handshake) may take."""

SSL_REQUEST_CODE = 80877103
"""The SSLRequest code: 1234 in the high 16 bits, 5679 in the low 16 bits."""

SSL_REQUEST = struct.pack("!II", 8, SSL_REQUEST_CODE)
"""The whole SSLRequest message: ``00 00 00 08 04 d2 16 2f``."""

ALPN_POSTGRESQL = "postgresql"
"""The ALPN protocol PostgreSQL 17 requires for direct TLS."""

_DIRECT_TLS_HINT = " (a server that expects TLS first? try --direct-tls)"

_TLS_RECORD_TYPES = frozenset(range(0x14, 0x18))  # change_cipher_spec .. application_data

PROBE_ERROR_CODES: dict[str, str] = {
    "probe_connect": "the TCP connection could not be made (refused, unreachable, unknown host)",
    "probe_timeout": "the server did not answer within the timeout",
    "probe_closed": "the server closed the connection before the TLS handshake completed",
    "probe_refused_ssl": "the server answered the SSLRequest with 'N': it does not offer TLS",
    "probe_protocol": "the server's answer is neither 'S' nor 'N': not a Postgres server",
    "probe_tls": "the TLS handshake failed, or the server presented no certificate",
}
"""Every ``code`` a :class:`ProbeError` can carry, with its meaning."""


class ProbeError(TdxQuoteError):
    """The server's certificate chain could not be fetched.

    ``code`` is one of :data:`PROBE_ERROR_CODES`; ``host`` and ``port`` name
    the server.  Not a verdict on an attestation: there was none to verify.
    """

    def __init__(self, message: str, *, code: str, host: str = "", port: int = 0) -> None:
        if code not in PROBE_ERROR_CODES:
            raise ValueError(f"unknown probe error code {code!r}")
        self.message = message
        self.code = code
        self.host = host
        self.port = port
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.message, self.code, self.host, self.port))

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready description: code, message, host, port."""
        return {"code": self.code, "message": self.message, "host": self.host, "port": self.port}


def _rebuild(message: str, code: str, host: str, port: int) -> ProbeError:
    return ProbeError(message, code=code, host=host, port=port)


@dataclass(frozen=True)
class PeerChain:
    """The certificate chain a server presented, and how it was fetched.

    ``certificates`` holds DER certificates in the order the server sent them:
    the leaf first, then whatever the server added (for dstack, the app CA and
    the KMS root).  None of them was verified against anything.
    """

    host: str
    port: int
    direct_tls: bool
    certificates: tuple[bytes, ...]
    tls_version: str | None = None
    cipher: str | None = None
    alpn: str | None = None

    @property
    def leaf(self) -> bytes:
        """The server's own certificate (DER)."""
        return self.certificates[0]

    @property
    def root(self) -> bytes:
        """The last certificate of the chain (DER): the leaf itself when it came alone."""
        return self.certificates[-1]

    def chain_pem(self) -> bytes:
        """The whole chain as concatenated PEM, leaf first."""
        return b"".join(_pem(der) for der in self.certificates)

    def root_pem(self) -> bytes:
        """The last certificate as PEM: usable as libpq's ``sslrootcert``."""
        return _pem(self.root)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the connection (not of the certificates)."""
        return {
            "host": self.host,
            "port": self.port,
            "mode": "direct-tls" if self.direct_tls else "sslrequest",
            "tls_version": self.tls_version,
            "cipher": self.cipher,
            "alpn": self.alpn,
            "chain_length": len(self.certificates),
        }


def _pem(der: bytes) -> bytes:
    try:
        return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    except ValueError:
        # Not parseable by cryptography: still save the bytes the server sent.
        return ssl.DER_cert_to_PEM_cert(der).encode("ascii")


def parse_target(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """Split ``HOST[:PORT]`` (``[V6ADDR]:PORT`` for IPv6) into host and port.

    Raises :class:`ValueError` for an empty host or a port outside 1..65535.
    """
    host, port_text = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host:
        raise ValueError(f"{text!r}: no host")
    if port_text == "" and text.endswith(":"):
        raise ValueError(f"{text!r}: empty port")
    port = default_port
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()):
            raise ValueError(f"{text!r}: port {port_text!r} is not a number")
        port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"{text!r}: port {port} is out of range")
    return host, port


def check_ssl_response(answer: bytes, *, host: str = "", port: int = 0) -> None:
    """Accept the server's one-byte answer to the SSLRequest, or raise :class:`ProbeError`.

    ``b"S"`` passes; ``b""`` (the connection closed) raises ``probe_closed``,
    ``b"N"`` ``probe_refused_ssl`` and anything else ``probe_protocol``.
    """
    where = f"{host}:{port}"
    if answer == b"S":
        return
    if answer == b"":
        raise ProbeError(
            f"{where}: the server closed the connection instead of answering the SSLRequest"
            f"{_DIRECT_TLS_HINT}",
            code="probe_closed",
            host=host,
            port=port,
        )
    if answer == b"N":
        raise ProbeError(
            f"{where}: the server answered 'N' to the SSLRequest: it does not offer TLS "
            "(ssl = off?), so it cannot present an RA-TLS certificate",
            code="probe_refused_ssl",
            host=host,
            port=port,
        )
    hint = ""
    if answer[0] in _TLS_RECORD_TYPES:
        hint = " (it answered with a TLS record: try --direct-tls)"
    elif answer == b"E":
        hint = " (an error message: a server that does not understand SSLRequest)"
    raise ProbeError(
        f"{where}: unexpected answer {answer[:1]!r} to the SSLRequest, expected 'S' or 'N'{hint}",
        code="probe_protocol",
        host=host,
        port=port,
    )


def client_context(*, direct_tls: bool = False) -> ssl.SSLContext:
    """The TLS client context: no CA check, no host name check, TLS 1.2 or later.

    With ``direct_tls`` it offers ALPN ``postgresql``, as PostgreSQL 17 requires.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    # The attestation inside the certificate is the trust, not a CA.
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if direct_tls:
        context.set_alpn_protocols([ALPN_POSTGRESQL])
    return context


def peer_chain_der(tls: ssl.SSLSocket) -> list[bytes]:
    """Every certificate the peer sent, DER, leaf first; not verified.

    Python 3.13 has ``SSLSocket.get_unverified_chain()``; from 3.10 the same
    call exists on the private ``_sslobj``.  Where neither exists only the
    leaf is returned.
    """
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return [bytes(der) for der in public()]
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        chain = private()
        encoding = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]
        return [] if chain is None else [bytes(cert.public_bytes(encoding)) for cert in chain]
    leaf = tls.getpeercert(binary_form=True)
    return [] if leaf is None else [leaf]


class _Deadline:
    """The time left for the whole probe; arms the socket's timeout before each step."""

    def __init__(self, seconds: float, host: str, port: int) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.host = host
        self.port = port

    def left(self, step: str) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise self.expired(step)
        return remaining

    def expired(self, step: str) -> ProbeError:
        return ProbeError(
            f"{self.host}:{self.port}: timed out after {self.seconds:g} s {step}",
            code="probe_timeout",
            host=self.host,
            port=self.port,
        )


def fetch_chain(
    host: str,
    port: int = DEFAULT_PORT,
    *,
    direct_tls: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    server_hostname: str | None = None,
) -> PeerChain:
    """Connect to a Postgres server, negotiate TLS, and return the chain it presents.

    Sends the SSLRequest first unless ``direct_tls``.  ``timeout`` bounds the
    whole exchange.  ``server_hostname`` is the SNI name (default: ``host``;
    an IP address sends none).  Raises :class:`ProbeError` on any failure.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    deadline = _Deadline(timeout, host, port)
    where = f"{host}:{port}"
    sock = _connect(host, port, deadline)
    try:
        if not direct_tls:
            _ssl_request(sock, deadline)
        tls = _handshake(sock, host, port, deadline, direct_tls, server_hostname or host)
    except BaseException:
        sock.close()
        raise
    with tls:
        try:
            certificates = peer_chain_der(tls)
        except (OSError, ValueError) as exc:
            raise ProbeError(
                f"{where}: cannot read the server's certificate chain: {exc}",
                code="probe_tls",
                host=host,
                port=port,
            ) from None
        if not certificates:
            raise ProbeError(
                f"{where}: the server presented no certificate",
                code="probe_tls",
                host=host,
                port=port,
            )
        cipher = tls.cipher()
        return PeerChain(
            host=host,
            port=port,
            direct_tls=direct_tls,
            certificates=tuple(certificates),
            tls_version=tls.version(),
            cipher=None if cipher is None else cipher[0],
            alpn=tls.selected_alpn_protocol(),
        )


def _connect(host: str, port: int, deadline: _Deadline) -> socket.socket:
    where = f"{host}:{port}"
    try:
        return socket.create_connection((host, port), timeout=deadline.left("connecting"))
    except TimeoutError:
        raise deadline.expired("connecting") from None
    except socket.gaierror as exc:
        raise ProbeError(
            f"{where}: cannot resolve {host!r}: {exc.strerror or exc}",
            code="probe_connect",
            host=host,
            port=port,
        ) from None
    except OSError as exc:
        raise ProbeError(
            f"{where}: cannot connect: {exc.strerror or exc}",
            code="probe_connect",
            host=host,
            port=port,
        ) from None


def _ssl_request(sock: socket.socket, deadline: _Deadline) -> None:
    host, port = deadline.host, deadline.port
    try:
        sock.settimeout(deadline.left("sending the SSLRequest"))
        sock.sendall(SSL_REQUEST)
        sock.settimeout(deadline.left("waiting for the answer to the SSLRequest"))
        answer = sock.recv(1)
    except TimeoutError:
        raise deadline.expired("waiting for the answer to the SSLRequest") from None
    except OSError as exc:
        raise ProbeError(
            f"{host}:{port}: the connection failed during the SSLRequest: {exc.strerror or exc}"
            f"{_DIRECT_TLS_HINT}",
            code="probe_closed",
            host=host,
            port=port,
        ) from None
    check_ssl_response(answer, host=host, port=port)
    _refuse_early_bytes(sock, host, port)


def _refuse_early_bytes(sock: socket.socket, host: str, port: int) -> None:
    """Bytes sent after 'S' but before the handshake could be injected (CVE-2021-23222)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return
    try:
        early = sock.recv(1, socket.MSG_PEEK)
    except OSError:
        return  # the handshake reports the failure
    if early:
        raise ProbeError(
            f"{host}:{port}: the server sent data after 'S' before the TLS handshake",
            code="probe_protocol",
            host=host,
            port=port,
        )


def _handshake(
    sock: socket.socket,
    host: str,
    port: int,
    deadline: _Deadline,
    direct_tls: bool,
    server_hostname: str,
) -> ssl.SSLSocket:
    where = f"{host}:{port}"
    context = client_context(direct_tls=direct_tls)
    try:
        sock.settimeout(deadline.left("before the TLS handshake"))
        return context.wrap_socket(sock, server_hostname=server_hostname)
    except TimeoutError:
        raise deadline.expired("during the TLS handshake") from None
    except (ssl.SSLEOFError, ConnectionError) as exc:
        hint = ""
        if direct_tls:
            hint = " (PostgreSQL before 17 does not accept direct TLS: try without --direct-tls)"
        raise ProbeError(
            f"{where}: the server closed the connection during the TLS handshake{hint}: {exc}",
            code="probe_closed",
            host=host,
            port=port,
        ) from None
    except ssl.SSLError as exc:
        raise ProbeError(
            f"{where}: TLS handshake failed: {exc.reason or exc}",
            code="probe_tls",
            host=host,
            port=port,
        ) from None
    except OSError as exc:
        raise ProbeError(
            f"{where}: the connection failed during the TLS handshake: {exc.strerror or exc}",
            code="probe_closed",
            host=host,
            port=port,
        ) from None
