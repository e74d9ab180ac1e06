"""Tiny loopback servers for the probe tests: they misbehave on purpose, or speak TLS first.

Each :class:`FakeServer` listens on 127.0.0.1 (a free port), serves one
handler per connection in a thread, and is stopped by its context manager,
which also releases handlers waiting on :attr:`FakeServer.release`.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["FakeServer", "TestCa", "refused_port", "verification_args"]

Handler = Callable[[socket.socket, "FakeServer"], object]

_NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
_NOT_AFTER = datetime.datetime(2035, 1, 1, tzinfo=datetime.timezone.utc)


class FakeServer:
    """A listening loopback socket whose connections go to ``handler`` (one thread each)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.release = threading.Event()
        self.received: list[bytes] = []
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> FakeServer:
        self._acceptor.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release.set()
        # close() does not wake a thread blocked in accept(): a last connection does.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10):
            pass
        self._acceptor.join(timeout=10)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def _accept_loop(self) -> None:
        while not self.release.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self.release.is_set():
                conn.close()
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            with conn:
                conn.settimeout(10)
                self.handler(conn, self)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append(exc)

    def read_exactly(self, conn: socket.socket, size: int) -> bytes:
        """Read ``size`` bytes (fewer if the peer closes) and record them in :attr:`received`."""
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                break
            data += chunk
        self.received.append(data)
        return data


def refused_port() -> socket.socket:
    """A bound socket that does not listen: connecting to its port is refused while it lives."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    return holder


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class TestCa:
    """A throwaway CA and a server certificate it issued, for plain-TLS test servers."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(_name("probe test CA"))
            .issuer_name(_name("probe test CA"))
            .public_key(self.ca_key.public_key())
            .serial_number(1)
            .not_valid_before(_NOT_BEFORE)
            .not_valid_after(_NOT_AFTER)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.leaf = (
            x509.CertificateBuilder()
            .subject_name(_name("probe test server"))
            .issuer_name(self.ca.subject)
            .public_key(self.key.public_key())
            .serial_number(2)
            .not_valid_before(_NOT_BEFORE)
            .not_valid_after(_NOT_AFTER)
            .sign(self.ca_key, hashes.SHA256())
        )

    @property
    def chain_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in (self.leaf, self.ca)]

    def server_context(self, directory: Path, *, alpn: list[str] | None = None) -> ssl.SSLContext:
        """A TLS server context presenting leaf + CA (``alpn``: the protocols it selects from)."""
        cert_file = directory / "chain.pem"
        key_file = directory / "key.pem"
        cert_file.write_bytes(_pem(self.leaf) + _pem(self.ca))
        key_file.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        if alpn:
            context.set_alpn_protocols(alpn)
        return context


def verification_args(directory: Path) -> list[str]:
    """``--collateral``, ``--trust-root`` and ``--at`` that verify the forge's server certificates.

    The files are written to ``directory``; the synthetic PKI is the default
    seed's (:func:`tdxquote.testing.ratls.server_scenario`).
    """
    from tdxquote.testing.ratls import server_scenario

    scenario = server_scenario()
    collateral = directory / "collateral.json"
    trust_root = directory / "synthetic-root.pem"
    collateral.write_text(scenario.collateral_json(), encoding="utf-8")
    trust_root.write_bytes(scenario.trust_root_pem)
    return [
        "--collateral",
        str(collateral),
        "--trust-root",
        str(trust_root),
        "--at",
        str(scenario.now_timestamp),
    ]
