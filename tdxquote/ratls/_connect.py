"""A psycopg 3 connection to an RA-TLS Postgres whose certificate was verified, pinned.

:func:`connect` (and :func:`connect_async`) open **one** TLS session to the
server (SSLRequest, or direct TLS), verify the certificate the server
presented in *that* session (binding, event log, DCAP, policy, pins), and
only then let libpq speak through it: libpq connects, without TLS of its own,
to a Unix socket in a private directory (mode 0700) whose single connection (on
Linux: from this process, checked with ``SO_PEERCRED``) a thread forwards into
the verified TLS session.  No second TLS handshake
happens, so no other certificate can be presented between verification and
use, and nothing libpq sends (startup message, password) reaches a server
that was not verified.

Why not libpq's own TLS with a pinned ``sslrootcert``?  ``sslmode=verify-ca``
verifies the server's chain against the root file, and libpq sets no
partial-chain flag: a dstack leaf issued by an app CA can only be pinned by
its KMS root, which also accepts every other app that KMS serves.  libpq has
no API that returns the peer certificate (only ``PQsslStruct``, an OpenSSL
pointer), and a check after connecting would come after the password was
sent.  ``docs/postgres.md`` has the whole comparison.

Costs: every byte goes through a Python thread; libpq sees a Unix socket, so
``conn.pgconn.ssl_in_use`` is False (the TLS is tdxquote's) and SCRAM
channel binding (``channel_binding=require``) cannot be used.  POSIX only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import shutil
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._probe import (
    DEFAULT_TIMEOUT,
    ProbeError,
    _connect,
    _Deadline,
    _handshake,
    _ssl_request,
    peer_chain_der,
)
from ._verify import EventPins, MeasurementPin, VerifiedCertificate, verify_certificate

if TYPE_CHECKING:
    import psycopg

    from ..collateral import Collateral
    from ..verification import Policy, Verifier

__all__ = ["DEFAULT_PG_PORT", "RaTlsSession", "connect", "connect_async", "open_session"]

DEFAULT_PG_PORT = 5432
"""libpq's default port, used when neither the DSN nor ``PGPORT`` gives one."""

_TLS_PARAMETERS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslnegotiation",
        "sslsni",
        "requiressl",
        "sslcompression",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "gssencmode",
        "channel_binding",
    }
)
"""libpq parameters about libpq's own transport security, replaced by the verified session."""
_REFUSED_PARAMETERS = frozenset({"sslcert", "sslkey", "sslpassword", "sslcertmode", "gsslib"})
"""Parameters connect() cannot honour: refused rather than silently dropped."""
_CHUNK = 1 << 16


@dataclass
class RaTlsSession:
    """A verified TLS session to the server, and the private Unix socket that forwards into it.

    ``verified`` is the verification of the certificate presented in this
    session; ``socket_dir`` and ``port`` are what libpq connects to
    (``host=socket_dir port=port``).  :meth:`close` tears everything down;
    the forwarding thread also ends when either side closes.
    """

    host: str
    port: int
    verified: VerifiedCertificate
    tls: ssl.SSLSocket
    socket_dir: Path
    _listener: socket.socket
    _thread: threading.Thread | None = None
    _closed: threading.Event = field(default_factory=threading.Event)

    @property
    def socket_path(self) -> Path:
        """The Unix socket libpq connects to (``.s.PGSQL.<port>`` in :attr:`socket_dir`)."""
        return self.socket_dir / f".s.PGSQL.{self.port}"

    def start(self, accept_timeout: float) -> None:
        """Accept libpq's connection (within ``accept_timeout``) and forward it, in a thread.

        On Linux only a connection from this very process is taken (``SO_PEERCRED``):
        another process, even of the same user, cannot take libpq's place.
        """
        self._listener.settimeout(accept_timeout)
        self._thread = threading.Thread(target=self._serve, name="tdxquote-ratls", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            local = self._accept_own()
        except OSError:
            self.close()
            return
        finally:
            self._close_listener()
        with local:
            _pump(local, self.tls, self._closed)
        self.close()

    def _accept_own(self) -> socket.socket:
        """The first connection made by this process (libpq runs in it); others are closed.

        Where the peer's process id cannot be read (no ``SO_PEERCRED``), the
        directory's 0700 mode is the only guard: the first connection is taken.
        """
        while True:
            local, _ = self._listener.accept()
            if _peer_pid(local) in (None, os.getpid()):
                return local
            local.close()

    def _close_listener(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.close()
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def close(self) -> None:
        """Close the TLS session and the listener, and remove the socket directory."""
        self._closed.set()
        self._close_listener()
        with contextlib.suppress(OSError):
            self.tls.close()

    def libpq_params(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with the transport replaced: host, port, no TLS or GSS of libpq's own."""
        kept = {
            k: v
            for k, v in params.items()
            if k not in _TLS_PARAMETERS and k not in ("host", "hostaddr", "port")
        }
        kept.update(
            host=str(self.socket_dir), port=str(self.port), sslmode="disable", gssencmode="disable"
        )
        return kept


def _peer_pid(connection: socket.socket) -> int | None:
    """The process id at the other end of a Unix socket (Linux ``SO_PEERCRED``), or None."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    credentials = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    pid: int = struct.unpack("3i", credentials)[0]
    return pid


def _pump(local: socket.socket, tls: ssl.SSLSocket, closed: threading.Event) -> None:
    """Copy bytes both ways until either side closes (or :meth:`RaTlsSession.close`)."""
    selector = selectors.DefaultSelector()
    try:
        selector.register(local, selectors.EVENT_READ)
        selector.register(tls, selectors.EVENT_READ)
        while not closed.is_set():
            # Data OpenSSL already decrypted does not make the socket readable again.
            ready = [tls] if tls.pending() else [k.fileobj for k, _ in selector.select(1.0)]
            for source in ready:
                if source is tls:
                    tls.settimeout(0)  # a record without application data must not block
                    try:
                        data = tls.recv(_CHUNK)
                    except ssl.SSLWantReadError:
                        continue
                    finally:
                        tls.settimeout(None)
                    if not data:
                        return
                    local.sendall(data)
                else:
                    data = local.recv(_CHUNK)
                    if not data:
                        return
                    tls.sendall(data)
    except (OSError, ValueError):
        return
    finally:
        selector.close()


def _target(params: dict[str, Any]) -> tuple[str, str, int]:
    """(host for SNI and messages, address to connect to, port) from libpq parameters."""
    for name in _REFUSED_PARAMETERS:
        if params.get(name):
            raise ValueError(
                f"{name}: connect() cannot present a client certificate to PostgreSQL "
                "(its TLS session is tdxquote's); use password or SCRAM authentication"
            )
    if str(params.get("sslmode", "")) == "disable":
        raise ValueError("sslmode=disable: an RA-TLS connection needs TLS")
    host = str(params.get("host") or os.environ.get("PGHOST", ""))
    address = str(params.get("hostaddr") or os.environ.get("PGHOSTADDR", "") or host)
    port_text = str(params.get("port") or os.environ.get("PGPORT", "") or DEFAULT_PG_PORT)
    if not host and not address:
        raise ValueError("no host: give host= (a Unix socket cannot carry RA-TLS)")
    if "," in host or "," in address or "," in port_text:
        raise ValueError("connect() takes one host, not a list")
    if host.startswith(("/", "@")):
        raise ValueError(f"host={host}: a Unix socket cannot carry RA-TLS")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port={port_text!r} is not a number") from None
    return host or address, address, port


def open_session(
    params: dict[str, Any],
    *,
    verifier: Verifier | None = None,
    collateral: Collateral | None = None,
    policy: Policy | None = None,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
    now: datetime | int | float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> RaTlsSession:
    """Open the TLS session to the server libpq ``params`` name, verify it, set up the socket.

    The session is verified before this returns; on any refusal it is closed
    and the error (a :class:`~tdxquote.VerificationError`,
    :class:`~tdxquote.QuoteParseError` or :class:`~tdxquote.ratls.ProbeError`)
    propagates.  Most callers want :func:`connect`.
    """
    host, address, port = _target(params)
    direct = str(params.get("sslnegotiation", "")) == "direct"
    deadline = _Deadline(timeout, address, port)
    sock = _connect(address, port, deadline)
    try:
        if not direct:
            _ssl_request(sock, deadline)
        tls = _handshake(sock, address, port, deadline, direct, host)
    except BaseException:
        sock.close()
        raise
    listener: socket.socket | None = None
    socket_dir: Path | None = None
    try:
        chain = peer_chain_der(tls)
        if not chain:
            raise ProbeError(
                f"{address}:{port}: the server presented no certificate",
                code="probe_tls",
                host=address,
                port=port,
            )
        verified = verify_certificate(
            chain,
            now=datetime.now(timezone.utc) if now is None else now,
            collateral=collateral,
            verifier=verifier,
            policy=policy,
            expect_events=expect_events,
            expect_mr_aggregated=expect_mr_aggregated,
        )
        tls.settimeout(None)
        socket_dir = Path(tempfile.mkdtemp(prefix="tdxquote-ratls-"))  # mode 0700
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(socket_dir / f".s.PGSQL.{port}"))
        listener.listen(1)
    except BaseException:
        if listener is not None:
            listener.close()
        if socket_dir is not None:
            shutil.rmtree(socket_dir, ignore_errors=True)
        tls.close()
        raise
    return RaTlsSession(host, port, verified, tls, socket_dir, listener)


def _params(dsn: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from psycopg.conninfo import conninfo_to_dict

    return dict(conninfo_to_dict(dsn, **kwargs))


def connect(
    dsn: str = "",
    *,
    verifier: Verifier | None = None,
    collateral: Collateral | None = None,
    policy: Policy | None = None,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
    now: datetime | int | float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_verified: Callable[[VerifiedCertificate], None] | None = None,
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """A psycopg connection to the RA-TLS Postgres ``dsn`` names, pinned to the verified session.

    ``dsn`` and ``kwargs`` are libpq's (one ``host``, ``port``, ``user``,
    ``dbname``, ``password``, ``sslnegotiation=direct`` for TLS-first
    servers...); libpq's own TLS parameters are superseded, client
    certificates (``sslcert``) are refused.  ``verifier`` / ``collateral`` /
    ``policy`` / ``expect_events`` / ``expect_mr_aggregated`` / ``now`` are
    :func:`~tdxquote.ratls.verify_certificate`'s.  ``on_verified`` is called
    with the verification before libpq connects (to log or keep it).

    Raises the verification's error (nothing was sent to the server then),
    :class:`~tdxquote.ratls.ProbeError` when TLS could not be had, or
    ``psycopg.OperationalError`` from libpq (e.g. when the verified session
    ended before libpq connected through it).
    """
    import psycopg

    params = _params(dsn, kwargs)
    session = open_session(
        params,
        verifier=verifier,
        collateral=collateral,
        policy=policy,
        expect_events=expect_events,
        expect_mr_aggregated=expect_mr_aggregated,
        now=now,
        timeout=timeout,
    )
    try:
        if on_verified is not None:
            on_verified(session.verified)
        session.start(timeout)
        return psycopg.connect(**session.libpq_params(params))
    except BaseException:
        session.close()
        raise


async def connect_async(
    dsn: str = "",
    *,
    verifier: Verifier | None = None,
    collateral: Collateral | None = None,
    policy: Policy | None = None,
    expect_events: EventPins | None = None,
    expect_mr_aggregated: MeasurementPin | None = None,
    now: datetime | int | float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_verified: Callable[[VerifiedCertificate], None] | None = None,
    **kwargs: Any,
) -> psycopg.AsyncConnection[Any]:
    """:func:`connect` for asyncio: a ``psycopg.AsyncConnection``.

    The TLS session, the verification (and any collateral fetch the
    ``verifier`` makes) run in a worker thread; forwarding runs in its own
    thread, so the event loop never blocks on them.
    """
    import psycopg

    params = _params(dsn, kwargs)
    session = await asyncio.to_thread(
        open_session,
        params,
        verifier=verifier,
        collateral=collateral,
        policy=policy,
        expect_events=expect_events,
        expect_mr_aggregated=expect_mr_aggregated,
        now=now,
        timeout=timeout,
    )
    try:
        if on_verified is not None:
            on_verified(session.verified)
        session.start(timeout)
        return await psycopg.AsyncConnection.connect(**session.libpq_params(params))
    except BaseException:
        session.close()
        raise
