"""A forwarding HTTP proxy on 127.0.0.1 for the proxy tests: absolute-form requests
(``GET http://host:port/path``), each logged and piped to its target as it arrives.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from urllib.parse import urlsplit

_LINE = 65536


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        request_line = self.rfile.readline(_LINE)
        if not request_line:
            return
        method, target, version = request_line.decode("latin-1").split()
        headers: list[bytes] = []
        while (line := self.rfile.readline(_LINE)) not in (b"\r\n", b"\n", b""):
            headers.append(line)
        self.server.log.append((method, target))
        if method == "CONNECT":  # https targets: not needed by the tests
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        url = urlsplit(target)
        upstream = socket.create_connection((url.hostname or "", url.port or 80))
        path = url.path + (f"?{url.query}" if url.query else "")
        kept = [h for h in headers if not h.lower().startswith((b"proxy-", b"connection:"))]
        length = next(
            (int(h.split(b":", 1)[1]) for h in headers if h.lower().startswith(b"content-length:")),
            0,
        )
        body = self.rfile.read(length) if length else b""
        head = f"{method} {path} {version}\r\n".encode() + b"".join(kept)
        upstream.sendall(head + b"Connection: close\r\n\r\n" + body)
        _pipe_socket(upstream, self.connection)


def _pipe_socket(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        source.close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    log: list[tuple[str, str]]


class ForwardProxy:
    """Use as a context manager; :attr:`url` is the proxy's URL, :attr:`log` what it got."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.log = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def log(self) -> list[tuple[str, str]]:
        return self._server.log

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
