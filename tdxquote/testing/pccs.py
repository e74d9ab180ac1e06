"""A PCCS-compatible HTTP server on loopback: stored collateral, request log, injected faults.

It answers the PCS v4 / PCCS routes a verifier uses::

    GET /{tdx,sgx}/certification/v4/tcb?fmspc=..[&update=..|&tcbEvaluationDataNumber=..]
    GET /{tdx,sgx}/certification/v4/qe/identity[?update=..|?tcbEvaluationDataNumber=..]
    GET /sgx/certification/v4/pckcrl?ca=platform|processor[&encoding=der|pem]
    GET /sgx/certification/v4/rootcacrl          (PCCS: hex of the DER)
    GET /IntelSGXRootCA.der                      (the Root CA's distribution point: DER)

with the issuer-chain headers URL-encoded as Intel sends them, a
``Request-ID`` on every response, and ``Error-Code`` / ``Error-Message`` on
errors (404 for an unknown FMSPC).  Content comes from bundles
(:meth:`PccsServer.add_collateral`, :meth:`PccsServer.from_path`) or from
verbatim responses (:meth:`PccsServer.add_response`).

For tests: every request is logged (:attr:`PccsServer.requests`,
:meth:`PccsServer.count`), and :meth:`PccsServer.inject` makes the next
matching requests fail in a chosen way (:class:`Fault`).  ``tdxquote
collateral serve`` runs this server.  It binds loopback addresses only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tdxquote.collateral import Collateral
from tdxquote.collateral._crl import crl_der
from tdxquote.collateral._source import bundle_expiry, bundle_parameters, load_bundles
from tdxquote.errors import CollateralFormatError

__all__ = ["Fault", "PccsServer", "RecordedRequest", "Reply", "encode_issuer_chain"]

_V4 = "/certification/v4"
_ROOT_DP = "/IntelSGXRootCA.der"


def encode_issuer_chain(pem: str | bytes) -> str:
    """URL-encode a PEM chain as Intel's issuer-chain headers carry it (``+`` as ``%2B``)."""
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    return quote(text, safe="")


@dataclass(frozen=True)
class Reply:
    """A stored or injected response."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/json"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Fault:
    """How a matching request fails; build with the class methods.

    ``status``: reply with this status (and ``headers``, ``body``) instead of
    the stored reply.  ``replace_headers`` / ``transform_body`` alter the
    stored reply.  ``truncate_to``: send only that many body bytes with a
    matching ``Content-Length`` (a short but complete response).
    ``drop_after``: announce the whole body, send that many bytes, then
    close the connection.  ``hang``: send nothing until the server is
    released or stopped.  ``barrier``: wait until that many requests are in
    the handler at once (proves concurrency), then reply normally.
    """

    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    replace_headers: tuple[tuple[str, str | None], ...] = ()
    transform_body: Callable[[bytes], bytes] | None = None
    truncate_to: int | None = None
    drop_after: int | None = None
    hang: bool = False
    barrier: threading.Barrier | None = None

    @classmethod
    def http_status(
        cls, status: int, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Fault:
        """Reply ``status`` (e.g. 500, or 429 with ``{"Retry-After": "3"}``)."""
        return cls(status=status, headers=tuple((headers or {}).items()), body=body)

    @classmethod
    def header(cls, name: str, value: str | None) -> Fault:
        """Replace header ``name`` by ``value`` (``None`` removes it)."""
        return cls(replace_headers=((name, value),))

    @classmethod
    def body_transform(cls, transform: Callable[[bytes], bytes]) -> Fault:
        """Serve ``transform(body)`` instead of the stored body."""
        return cls(transform_body=transform)

    @classmethod
    def truncated(cls, size: int) -> Fault:
        """Serve the first ``size`` body bytes as if they were all of it."""
        return cls(truncate_to=size)

    @classmethod
    def dropped(cls, after: int) -> Fault:
        """Close the connection after ``after`` body bytes of a longer announced body."""
        return cls(drop_after=after)

    @classmethod
    def hung(cls) -> Fault:
        """Never answer (until :meth:`PccsServer.release` or :meth:`PccsServer.stop`)."""
        return cls(hang=True)

    @classmethod
    def concurrent(cls, parties: int, timeout: float = 10.0) -> Fault:
        """Hold each matching request until ``parties`` of them are in flight together."""
        return cls(barrier=threading.Barrier(parties, timeout=timeout))


@dataclass
class _Injected:
    fault: Fault
    path: str | None
    remaining: int | None


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.owner.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        owner = self.server.owner
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        owner._record(RecordedRequest("GET", self.path, query, dict(self.headers.items())))
        fault = owner._take_fault(parts.path)
        request_id = owner._request_id()
        if fault is not None and fault.barrier is not None:
            try:
                fault.barrier.wait()
            except threading.BrokenBarrierError:
                self._send(Reply(503, b"barrier broken"), request_id)
                return
            fault = None
        if fault is not None and fault.hang:
            owner._released.wait(timeout=owner.hang_limit)
            self.close_connection = True
            return
        if fault is not None and fault.status is not None:
            reply = Reply(fault.status, fault.body, fault.headers, "text/plain")
            self._send(reply, request_id, error=True)
            return
        reply = owner._route(parts.path, query)
        if fault is not None:
            reply = _apply(fault, reply)
        if fault is not None and fault.drop_after is not None:
            self._send_dropped(reply, request_id, fault.drop_after)
            return
        self._send(reply, request_id, error=reply.status != 200)

    def _head(self, reply: Reply, request_id: str, length: int, error: bool) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Request-ID", request_id)
        names = {name.lower() for name, _ in reply.headers}
        if error and "error-code" not in names:
            self.send_header("Error-Code", _ERROR_CODES.get(reply.status, "InternalError"))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()

    def _send(self, reply: Reply, request_id: str, *, error: bool = False) -> None:
        self._head(reply, request_id, len(reply.body), error)
        self.wfile.write(reply.body)

    def _send_dropped(self, reply: Reply, request_id: str, after: int) -> None:
        self._head(reply, request_id, len(reply.body), False)
        self.wfile.write(reply.body[:after])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


_ERROR_CODES = {400: "InvalidParameter", 404: "NotFound", 410: "Gone", 429: "TooManyRequests"}


def _apply(fault: Fault, reply: Reply) -> Reply:
    headers = list(reply.headers)
    for name, value in fault.replace_headers:
        headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
        if value is not None:
            headers.append((name, value))
    body = reply.body
    if fault.transform_body is not None:
        body = fault.transform_body(body)
    if fault.truncate_to is not None:
        body = body[: fault.truncate_to]
    return Reply(reply.status, body, tuple(headers), reply.content_type)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: PccsServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-response (a cancelled or timed-out fetch) is normal.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) and not self.owner.verbose:
            return
        super().handle_error(request, client_address)


class PccsServer:
    """A PCCS-compatible server on ``host`` (loopback only) and ``port`` (0: any free port).

    Use as a context manager (started in a background thread) or call
    :meth:`serve_forever`.  :attr:`url` is its base URL.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the PCCS test server binds loopback addresses only, not {host}")
        self.verbose = verbose
        self._host = host
        self.hang_limit = 30.0
        self.requests: list[RecordedRequest] = []
        self._replies: dict[tuple[str, ...], Reply] = {}
        self._expiries: dict[tuple[str, ...], float] = {}
        self._faults: list[_Injected] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._http = _HttpServer((host, port), _Handler)
        self._http.owner = self

    # --- lifecycle --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"

    @property
    def root_ca_crl_url(self) -> str:
        """The Intel-style distribution point URL of the Root CA CRL on this server."""
        return f"{self.url}{_ROOT_DP}"

    def start(self) -> PccsServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (from another thread) or Ctrl-C."""
        self._http.serve_forever()

    def release(self) -> None:
        """Let hung requests end (they close without a response)."""
        self._released.set()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.release()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._http.server_close()

    def __enter__(self) -> PccsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- content ----------------------------------------------------------------------

    def add_response(
        self,
        route: tuple[str, ...],
        body: bytes | str,
        *,
        issuer_chain: str | None = None,
        content_type: str = "application/json",
        status: int = 200,
    ) -> None:
        """Serve ``body`` (verbatim) for ``route``; ``issuer_chain`` is a PEM or encoded value.

        Routes: ``("tcb", tee, FMSPC)``, ``("qe", tee)``, ``("pckcrl", ca)``,
        ``("rootcacrl",)``; append ``"update=early"`` or ``"eval=N"`` for a
        variant served only when asked for.
        """
        data = body.encode() if isinstance(body, str) else body
        headers: tuple[tuple[str, str], ...] = ()
        if issuer_chain is not None:
            value = issuer_chain if "%" in issuer_chain else encode_issuer_chain(issuer_chain)
            headers = ((_CHAIN_HEADERS[route[0]], value),)
        with self._lock:
            self._replies[_normal(route)] = Reply(status, data, headers, content_type)

    def add_collateral(self, collateral: Collateral, *, variant: str | None = None) -> None:
        """Serve every artifact of a bundle (the freshest wins for shared artifacts).

        TCB Info and QE identity are also served when asked for by their
        evaluation data number; ``variant`` (``"update=early"``) serves the
        bundle only to requests for that variant.
        """
        params = bundle_parameters(collateral)
        raw = collateral.raw
        extra = () if variant is None else (variant,)
        tcb = (
            b'{"tcbInfo":'
            + raw.tcb_info
            + b',"signature":"'
            + raw.tcb_info_signature.hex().encode()
            + b'"}'
        )
        identity = (
            b'{"enclaveIdentity":'
            + raw.qe_identity
            + b',"signature":"'
            + raw.qe_identity_signature.hex().encode()
            + b'"}'
        )
        expiry = bundle_expiry(collateral)
        tcb_number = f"eval={collateral.tcb_info.tcb_evaluation_data_number}"
        for tcb_extra in (extra, (tcb_number,)):
            self.add_response(
                ("tcb", params.tee, params.fmspc, *tcb_extra),
                tcb,
                issuer_chain=raw.tcb_info_issuer_chain,
            )
        qe_number = f"eval={collateral.qe_identity.tcb_evaluation_data_number}"
        self.add_response(
            ("qe", params.tee, qe_number), identity, issuer_chain=raw.qe_identity_issuer_chain
        )
        routes: list[tuple[tuple[str, ...], bytes, str | None, str]] = [
            (
                ("qe", params.tee, *extra),
                identity,
                raw.qe_identity_issuer_chain,
                "application/json",
            ),
            (("pckcrl", params.ca), raw.pck_crl, raw.pck_crl_issuer_chain, "application/pkix-crl"),
            (("rootcacrl",), raw.root_ca_crl, None, "application/pkix-crl"),
        ]
        for route, body, chain, content_type in routes:
            key = _normal(route)
            with self._lock:
                known = self._expiries.get(key)
                if known is not None and known >= expiry.timestamp():
                    continue
                self._expiries[key] = expiry.timestamp()
            self.add_response(route, body, issuer_chain=chain, content_type=content_type)

    @classmethod
    def from_path(
        cls, path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0
    ) -> PccsServer:
        """A server of the bundle file ``path``, or of every ``*.json`` bundle in a directory."""
        server = cls(host=host, port=port)
        try:
            for _, collateral in load_bundles(path):
                server.add_collateral(collateral)
        except BaseException:
            server.stop()
            raise
        return server

    def routes(self) -> list[tuple[str, ...]]:
        """The routes with stored content."""
        with self._lock:
            return sorted(self._replies)

    # --- log and faults ---------------------------------------------------------------

    def count(self, path: str | None = None) -> int:
        """Requests received (whose path starts with ``path``, if given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path.startswith(path))

    def reset_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self.requests.clear()

    def inject(self, fault: Fault, *, path: str | None = None, times: int | None = 1) -> None:
        """Apply ``fault`` to the next ``times`` requests (``None``: all) starting with ``path``."""
        with self._lock:
            self._faults.append(_Injected(fault, path, times))

    def clear_faults(self) -> None:
        """Drop every injected fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for injected in self._faults:
                if injected.path is None or path.startswith(injected.path):
                    if injected.remaining is not None:
                        injected.remaining -= 1
                        if injected.remaining <= 0:
                            self._faults.remove(injected)
                    return injected.fault
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _request_id(self) -> str:
        with self._lock:
            return f"{next(self._ids):032x}"

    # --- routing ----------------------------------------------------------------------

    def _lookup(self, *keys: tuple[str, ...]) -> Reply | None:
        with self._lock:
            for key in keys:
                found = self._replies.get(key)
                if found is not None:
                    return found
        return None

    def _route(self, path: str, query: dict[str, list[str]]) -> Reply:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        if path == _ROOT_DP:
            return self._crl(self._lookup(("rootcacrl",)), "der", "Root CA CRL")
        for tee in ("tdx", "sgx"):
            prefix = f"/{tee}{_V4}"
            if not path.startswith(prefix + "/"):
                continue
            route = path[len(prefix) :]
            update, number = one("update"), one("tcbEvaluationDataNumber")
            if update is not None and update.lower() not in ("standard", "early"):
                return _error(400, "update must be standard or early")
            if update is not None and number is not None:
                return _error(400, "update and tcbEvaluationDataNumber are exclusive")
            variant = (
                f"eval={number}"
                if number is not None
                else ("update=early" if update and update.lower() == "early" else None)
            )
            if route == "/tcb":
                fmspc = one("fmspc")
                if fmspc is None or len(fmspc) != 12:
                    return _error(400, "fmspc is required (12 hex digits)")
                return self._variant(("tcb", tee, fmspc.upper()), variant, "TCB Info")
            if route == "/qe/identity":
                return self._variant(("qe", tee), variant, "QE identity")
            if tee == "sgx" and route == "/pckcrl":
                ca = (one("ca") or "").lower()
                if ca not in ("platform", "processor"):
                    return _error(400, "ca must be platform or processor")
                encoding = (one("encoding") or "pem").lower()
                return self._crl(self._lookup(("pckcrl", ca)), encoding, "PCK CRL")
            if tee == "sgx" and route == "/rootcacrl":
                reply = self._lookup(("rootcacrl",))
                if reply is None:
                    return _error(404, "no Root CA CRL")
                try:
                    hex_body = crl_der(reply.body).hex().encode()
                except CollateralFormatError:
                    return reply
                return Reply(200, hex_body, reply.headers, "application/pkix-crl")
        return _error(404, f"no route {path}")

    def _variant(self, key: tuple[str, ...], variant: str | None, what: str) -> Reply:
        keys = [key] if variant is None else [(*key, variant)]
        if variant is not None and variant.startswith("update="):
            keys.append(key)
        reply = self._lookup(*keys)
        if reply is None:
            if variant is not None and variant.startswith("eval="):
                return _error(410, f"{what}: evaluation data number not available")
            return _error(404, f"{what} not found")
        return reply

    def _crl(self, reply: Reply | None, encoding: str, what: str) -> Reply:
        if reply is None:
            return _error(404, f"{what} not found")
        if reply.status != 200:
            return reply
        try:
            der = crl_der(reply.body)
            pem = x509.load_der_x509_crl(der).public_bytes(Encoding.PEM)
        except (CollateralFormatError, ValueError):
            return reply  # served verbatim (tests store malformed CRLs on purpose)
        if encoding == "der":
            return Reply(200, der, reply.headers, "application/pkix-crl")
        return Reply(200, pem, reply.headers, "application/x-pem-file")


_CHAIN_HEADERS = {
    "tcb": "TCB-Info-Issuer-Chain",
    "qe": "SGX-Enclave-Identity-Issuer-Chain",
    "pckcrl": "SGX-PCK-CRL-Issuer-Chain",
    "rootcacrl": "X-Unused-Issuer-Chain",
}


def _normal(route: tuple[str, ...]) -> tuple[str, ...]:
    if route[0] == "tcb" and len(route) >= 3:
        return (route[0], route[1], route[2].upper(), *route[3:])
    return route


def _error(status: int, message: str) -> Reply:
    return Reply(
        status,
        message.encode(),
        (("Error-Code", _ERROR_CODES.get(status, "Error")), ("Error-Message", message)),
        "text/plain",
    )
