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
import ipaddress
import ssl
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpcore
import httpx

__all__ = ["DeadlineTransport", "deadline_client", "deadline_scope", "environment_proxies"]

_REMAINING: contextvars.ContextVar[Callable[[], float] | None] = contextvars.ContextVar(
    "tdxquote_fetch_remaining", default=None
)
# httpcore's socket-option type (its alias is private).
_SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
_EXPIRED = 0.001  # a timeout this short fails the blocked operation at once
_LIMITS = {"max_connections": 100, "max_keepalive_connections": 20, "keepalive_expiry": 5.0}


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
    """httpx's default transport (TLS verified, connection pool), deadline-capped sockets.

    ``proxy``: an ``http://`` or ``https://`` proxy URL to send every request
    through (``CONNECT`` for https targets), its sockets capped the same way.
    """

    def __init__(self, proxy: str | None = None) -> None:
        context = httpx.create_ssl_context()
        super().__init__(verify=context)
        # httpx offers no public way to choose the network backend: replace the pool it built.
        pool: dict[str, Any] = {"ssl_context": context, "network_backend": _Backend(), **_LIMITS}
        self._proxy_label: str | None = None
        if proxy is None:
            self._pool = httpcore.ConnectionPool(**pool)
            return
        try:
            spec = httpx.Proxy(proxy)
        except (httpx.InvalidURL, ValueError) as exc:
            raise ValueError(f"a proxy URL is malformed: {exc}") from None
        url = spec.url
        if url.scheme not in ("http", "https"):
            raise ValueError(
                f"proxy {url.scheme}:// is not supported by the synchronous clients "
                "(http:// and https:// proxies are)"
            )
        if not url.host:
            raise ValueError(f"a proxy URL names no host ({url.scheme}://)")
        # Named in transport errors by scheme, host and port: never its credentials.
        self._proxy_label = f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
        self._pool = httpcore.HTTPProxy(
            proxy_url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            proxy_auth=spec.raw_auth,
            proxy_headers=spec.headers.raw,
            proxy_ssl_context=spec.ssl_context,
            **pool,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's, with the proxy named in a transport error (a proxy is easy to forget)."""
        try:
            return super().handle_request(request)
        except httpx.TransportError as exc:
            if self._proxy_label is None:
                raise
            raise type(exc)(f"{exc} (through proxy {self._proxy_label})") from exc


def deadline_client(transport: httpx.BaseTransport | None = None, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` with ``transport``, or deadline-capped transports.

    Without ``transport``, the proxies of the environment are used as httpx
    uses them for the asynchronous clients (:func:`environment_proxies`),
    each through a :class:`DeadlineTransport` of its own.  ``options`` go to
    ``httpx.Client``.
    """
    if transport is not None:
        return httpx.Client(transport=transport, **options)
    mounts: dict[str, httpx.BaseTransport | None] = {}
    for pattern, proxy in environment_proxies().items():
        try:
            mounts[pattern] = None if proxy is None else DeadlineTransport(proxy)
        except ValueError as exc:
            raise ValueError(
                f"{exc}, from the environment (HTTP_PROXY, HTTPS_PROXY or ALL_PROXY)"
            ) from None
    return httpx.Client(transport=DeadlineTransport(), mounts=mounts, **options)


def environment_proxies() -> dict[str, str | None]:
    """httpx mount patterns for the proxies of the environment (None: connect directly).

    ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` (either case, read by
    :func:`urllib.request.getproxies`) give the proxy of ``http://``,
    ``https://`` and every URL (a bare ``host:port`` is an ``http://``
    proxy); ``NO_PROXY`` lists the hosts reached directly, with curl's rules
    as httpx applies them: ``*`` turns every proxy off, ``.example.com``
    matches the subdomains of example.com, ``example.com`` the domain too, an
    IP address or ``localhost`` exactly, and ``scheme://host`` is taken as a
    pattern.
    """
    found = urllib.request.getproxies()
    patterns: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        proxy = found.get(scheme)
        if proxy:
            patterns[f"{scheme}://"] = proxy if "://" in proxy else f"http://{proxy}"
    for host in (entry.strip() for entry in found.get("no", "").split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            patterns[host] = None
        elif _is_ip_address(host):
            patterns[f"all://[{host}]" if ":" in host else f"all://{host}"] = None
        elif host.lower() == "localhost":
            patterns[f"all://{host}"] = None
        else:
            patterns[f"all://*{host}"] = None
    return patterns


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
