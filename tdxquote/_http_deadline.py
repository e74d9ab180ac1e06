"""An httpx transport whose every socket operation ends by the current fetch's deadline.

httpx's timeouts bound each read, not a whole response: a server that sends
one byte of its status line, headers or body every few seconds never trips a
read timeout.  The asynchronous clients bound a whole attempt with
:func:`asyncio.wait_for`; the synchronous ones have no such tool, so
:class:`DeadlineTransport` gives httpcore a network backend that caps the
timeout of every connect, TLS handshake, read and write at the time left
before the deadline of the fetch running in this thread or task
(:func:`deadline_scope`).
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
from collections.abc import Callable, Iterable, Iterator

import httpcore
import httpx

__all__ = ["DeadlineTransport", "deadline_scope"]

_REMAINING: contextvars.ContextVar[Callable[[], float] | None] = contextvars.ContextVar(
    "tdxquote_fetch_remaining", default=None
)
# httpcore's socket-option type (its alias is private).
_SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
_EXPIRED = 0.001  # a timeout this short fails the blocked operation at once


@contextlib.contextmanager
def deadline_scope(remaining: Callable[[], float]) -> Iterator[None]:
    """In the block, socket operations of a :class:`DeadlineTransport` end by ``remaining()``."""
    token = _REMAINING.set(remaining)
    try:
        yield
    finally:
        _REMAINING.reset(token)


def _capped(timeout: float | None) -> float | None:
    remaining = _REMAINING.get()
    if remaining is None:
        return timeout
    left = max(remaining(), _EXPIRED)
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _capped(timeout)))

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host,
            port,
            _capped(timeout),
            local_address,
            socket_options,
        )
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(
            path,
            _capped(timeout),
            socket_options,
        )
        return _Stream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's default transport (TLS verified, connection pool), deadline-capped sockets."""

    def __init__(self) -> None:
        context = httpx.create_ssl_context()
        super().__init__(verify=context)
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5)
        # httpx offers no public way to choose the network backend: replace the pool it built.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )
