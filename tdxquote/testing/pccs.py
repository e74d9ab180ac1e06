"""A PCCS-compatible HTTP server on loopback: stored collateral, request log, injected faults.

It answers the PCS v4 / PCCS routes a verifier uses::

    GET /{tdx,sgx}/certification/v4/tcb?fmspc=..[&update=..|&tcbEvaluationDataNumber=..]
    GET /{tdx,sgx}/certification/v4/qe/identity[?update=..|?tcbEvaluationDataNumber=..]
    GET /sgx/certification/v4/pckcrl?ca=platform|processor[&encoding=der|pem]
    GET /sgx/certification/v4/rootcacrl          (PCCS: hex of the DER)
    GET /IntelSGXRootCA.der                      (the Root CA's distribution point: DER)
    GET /sgx/certification/v4/pckcert?encrypted_ppid=..&cpusvn=..&pcesvn=..&pceid=..[&qeid=..]

with the issuer-chain headers URL-encoded as Intel sends them, a
``Request-ID`` on every response, and ``Error-Code`` / ``Error-Message`` on
errors (404 for an unknown FMSPC).  Content comes from bundles
(:meth:`PccsServer.add_collateral`, :meth:`PccsServer.from_path`) or from
verbatim responses (:meth:`PccsServer.add_response`, which take precedence).
PCK certificates are served for the platforms registered with
:meth:`PccsServer.add_pck_certificate` (an encrypted PPID and a TCB mapped to
a leaf, as Intel's PCS maps them), with the ``SGX-PCK-Certificate-Issuer-Chain``,
``SGX-TCBm``, ``SGX-FMSPC`` and ``SGX-PCK-Certificate-CA-Type`` headers;
404 for any other platform.

Each artifact is answered from one bundle, chosen as
:class:`~tdxquote.collateral.OfflineSource` chooses for ``--collateral DIR``
(the same function, ``bundle_rank``): among the bundles for the platform and
CA asked, one valid at the time asked (then the highest TCB evaluation data
number, then the latest expiry).  A
PCS request names only part of the platform (the QE identity route has no
FMSPC, the PCK CRL route no TEE) and no time, so tdxquote's clients add a
``TDXQuote-Collateral-For: tee=tdx; fmspc=B0C06F000000; ca=platform;
at=2025-07-04T10:16:31Z`` header; without it the server's ``at`` (default:
the wall clock) stands in for the time and only what the route names
narrows the platform.

For tests: every request is logged (:attr:`PccsServer.requests`,
:meth:`PccsServer.count`), and :meth:`PccsServer.inject` makes the next
matching requests fail in a chosen way (:class:`Fault`).  ``tdxquote
collateral serve`` runs this server.  It binds loopback addresses only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tdxquote.collateral import Collateral
from tdxquote.collateral._crl import crl_der
from tdxquote.collateral._exchange import HINT_HEADER
from tdxquote.collateral._source import (
    bundle_expiry,
    bundle_parameters,
    bundle_rank,
    bundle_start,
    load_bundles,
)
from tdxquote.collateral.pcs import CollateralParameters
from tdxquote.errors import CollateralFormatError
from tdxquote.testing._request_log import RequestLog

__all__ = [
    "Fault",
    "PccsServer",
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
    "bundle_replies",
    "bundle_start",
    "encode_issuer_chain",
]

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
    ``trickle``: send the body one byte every ``trickle`` seconds.
    ``location``: answer ``status`` (a redirect) with this ``Location``.
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
    trickle: float | None = None
    location: str | None = None

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
    def trickled(cls, interval: float) -> Fault:
        """Send the body one byte every ``interval`` seconds (until the client gives up)."""
        return cls(trickle=interval)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        """Answer ``status`` with ``Location: location`` (absolute or relative)."""
        return cls(status=status, location=location)

    @classmethod
    def concurrent(cls, parties: int, timeout: float = 10.0) -> Fault:
        """Hold each matching request until ``parties`` of them are in flight together."""
        return cls(barrier=threading.Barrier(parties, timeout=timeout))


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
        hints = self.headers.get_all(HINT_HEADER) or []
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
        if fault is not None and fault.location is not None:
            assert fault.status is not None
            headers = (("Location", fault.location), *fault.headers)
            self._send(Reply(fault.status, fault.body, headers, "text/plain"), request_id)
            return
        if fault is not None and fault.status is not None:
            reply = Reply(fault.status, fault.body, fault.headers, "text/plain")
            self._send(reply, request_id, error=True)
            return
        reply = owner._route(parts.path, query, hints)
        if fault is not None:
            reply = _apply(fault, reply)
        if fault is not None and fault.drop_after is not None:
            self._send_dropped(reply, request_id, fault.drop_after)
            return
        if fault is not None and fault.trickle is not None:
            self._send_trickled(reply, request_id, fault.trickle)
            return
        self._send(reply, request_id, error=reply.status != 200)

    def _head(self, reply: Reply, request_id: str, length: int, error: bool) -> None:
        self.send_response(reply.status)
        if reply.content_type:
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

    def _send_trickled(self, reply: Reply, request_id: str, interval: float) -> None:
        owner = self.server.owner
        self._head(reply, request_id, len(reply.body), reply.status != 200)
        self.close_connection = True
        for index in range(len(reply.body)):
            if owner._released.wait(interval):
                return
            try:
                self.wfile.write(reply.body[index : index + 1])
                self.wfile.flush()
            except OSError:
                return  # the client gave up
            with owner._lock:
                owner.trickled_bytes += 1

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
    content_type = reply.content_type
    for name, value in fault.replace_headers:
        if name.lower() == "content-type":
            content_type = value or ""  # "" sends none
            continue
        headers = [(n, v) for n, v in headers if n.lower() != name.lower()]
        if value is not None:
            headers.append((name, value))
    body = reply.body
    if fault.transform_body is not None:
        body = fault.transform_body(body)
    if fault.truncate_to is not None:
        body = body[: fault.truncate_to]
    return Reply(reply.status, body, tuple(headers), content_type)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: PccsServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-response (a cancelled or timed-out fetch) is normal.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) and not self.owner.verbose:
            return
        super().handle_error(request, client_address)


class PccsServer(RequestLog[RecordedRequest, Fault]):
    """A PCCS-compatible server on ``host`` (loopback only) and ``port`` (0: any free port).

    Use as a context manager (started in a background thread) or call
    :meth:`serve_forever`.  :attr:`url` is its base URL.  ``at`` is the time
    bundles are chosen for when a request does not say (default: the wall
    clock at each request).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
        at: datetime | None = None,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the PCCS test server binds loopback addresses only, not {host}")
        RequestLog.__init__(self)
        self.verbose = verbose
        self.at = at
        self._host = host
        self.hang_limit = 30.0
        #: Body bytes sent by :meth:`Fault.trickled` replies so far.
        self.trickled_bytes = 0
        self._replies: dict[tuple[str, ...], Reply] = {}
        self._bundles: list[_Bundle] = []
        self._pck_certificates: dict[tuple[str, ...], _PckCertificate] = {}
        self._released = threading.Event()
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
        """Serve a bundle's artifacts to requests it answers (see the module docstring).

        TCB Info and QE identity are also served when asked for by their
        evaluation data number; ``variant`` (``"update=early"``) serves the
        bundle only to requests for that variant.
        """
        bundle = _Bundle(
            params=bundle_parameters(collateral),
            start=bundle_start(collateral),
            end=bundle_expiry(collateral),
            tcb_number=collateral.tcb_info.tcb_evaluation_data_number,
            qe_number=collateral.qe_identity.tcb_evaluation_data_number,
            variant=variant,
            replies=bundle_replies(collateral),
        )
        with self._lock:
            self._bundles.append(bundle)

    def add_pck_certificate(
        self,
        certificate: bytes | str,
        issuer_chain: bytes | str,
        *,
        encrypted_ppid: bytes,
        cpu_svn: bytes,
        pce_svn: int,
        pce_id: bytes,
        qe_id: bytes | None = None,
    ) -> None:
        """Serve the PEM leaf ``certificate`` to ``/pckcert`` for this encrypted PPID and TCB.

        ``issuer_chain`` (PEM: PCK CA, root) goes URL-encoded in
        ``SGX-PCK-Certificate-Issuer-Chain``; ``SGX-TCBm``, ``SGX-FMSPC`` and
        ``SGX-PCK-Certificate-CA-Type`` are read from the certificate, as Intel's
        PCS sends them.  With ``qe_id`` a request naming another ``qeid`` is
        answered 404 (a PCCS indexes platforms by QE ID).  The encrypted PPID is
        only a key here: no one but Intel can decrypt it.
        """
        from tdxquote.pck import pck_extension_from_certificate

        pem = certificate.encode() if isinstance(certificate, str) else certificate
        chain = issuer_chain.decode() if isinstance(issuer_chain, bytes) else issuer_chain
        leaf = x509.load_pem_x509_certificate(pem)
        extension = pck_extension_from_certificate(leaf)
        issuer = leaf.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        ca = "PROCESSOR" if issuer and "Processor" in str(issuer[0].value) else "PLATFORM"
        headers = (
            ("SGX-PCK-Certificate-Issuer-Chain", encode_issuer_chain(chain)),
            ("SGX-TCBm", (extension.cpu_svn + extension.pce_svn.to_bytes(2, "little")).hex()),
            ("SGX-FMSPC", extension.fmspc_hex),
            ("SGX-PCK-Certificate-CA-Type", ca),
        )
        key = (
            encrypted_ppid.hex().upper(),
            cpu_svn.hex().upper(),
            pce_svn.to_bytes(2, "little").hex().upper(),
            pce_id.hex().upper(),
        )
        reply = Reply(200, pem, headers, "application/x-pem-file")
        record = _PckCertificate(reply, None if qe_id is None else qe_id.hex().upper())
        with self._lock:
            self._pck_certificates[key] = record

    @classmethod
    def from_path(
        cls,
        path: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        at: datetime | None = None,
    ) -> PccsServer:
        """A server of the bundle file ``path``, or of every ``*.json`` bundle in a directory."""
        server = cls(host=host, port=port, at=at)
        try:
            for _, collateral in load_bundles(path):
                server.add_collateral(collateral)
        except BaseException:
            server.stop()
            raise
        return server

    def routes(self) -> list[tuple[str, ...]]:
        """The routes with stored content (bundles' and verbatim)."""
        with self._lock:
            routes = set(self._replies)
            for bundle in self._bundles:
                tee, fmspc, ca = bundle.params.tee, bundle.params.fmspc, bundle.params.ca
                routes.update({("tcb", tee, fmspc), ("qe", tee), ("pckcrl", ca), ("rootcacrl",)})
            return sorted(routes)

    # --- log and faults (the rest: RequestLog) -------------------------------------------

    def count(self, path: str | None = None) -> int:
        """Requests received (whose path starts with ``path``, if given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path.startswith(path))

    # --- routing ----------------------------------------------------------------------

    def _lookup(self, *keys: tuple[str, ...]) -> Reply | None:
        with self._lock:
            for key in keys:
                found = self._replies.get(key)
                if found is not None:
                    return found
        return None

    def _route(self, path: str, query: dict[str, list[str]], hints: list[str]) -> Reply:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        try:
            hint = _Hint.parse(hints)
        except ValueError as exc:
            return _error(400, f"{HINT_HEADER}: {exc}")
        if path == _ROOT_DP:
            return self._crl(self._find(_Asked("rootcacrl"), hint), "der", "Root CA CRL")
        if path == f"/sgx{_V4}/pckcert":
            return self._pck_certificate(one)
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
                asked = _Asked("tcb", tee=tee, fmspc=fmspc.upper(), variant=variant)
                return self._document(asked, hint, "TCB Info")
            if route == "/qe/identity":
                return self._document(_Asked("qe", tee=tee, variant=variant), hint, "QE identity")
            if tee == "sgx" and route == "/pckcrl":
                ca = (one("ca") or "").lower()
                if ca not in ("platform", "processor"):
                    return _error(400, "ca must be platform or processor")
                encoding = (one("encoding") or "pem").lower()
                return self._crl(self._find(_Asked("pckcrl", ca=ca), hint), encoding, "PCK CRL")
            if tee == "sgx" and route == "/rootcacrl":
                reply = self._find(_Asked("rootcacrl"), hint)
                if reply is None:
                    return _error(404, "no Root CA CRL")
                if isinstance(reply, str):
                    return _error(400, reply)
                try:
                    hex_body = crl_der(reply.body).hex().encode()
                except CollateralFormatError:
                    return reply
                return Reply(200, hex_body, reply.headers, "application/pkix-crl")
        return _error(404, f"no route {path}")

    def _pck_certificate(self, one: Callable[[str], str | None]) -> Reply:
        """``/pckcert``: the leaf registered for the encrypted PPID and TCB asked (PCS v4)."""
        asked = []
        for name, size in _PCK_QUERY:
            value = one(name)
            if value is None or len(value) not in size or not _is_hex(value):
                return _error(400, f"{name} is required ({' or '.join(map(str, size))} hex digits)")
            asked.append(value.upper())
        qe_id = one("qeid")
        if qe_id is not None and (len(qe_id) != 32 or not _is_hex(qe_id)):
            return _error(400, "qeid must be 32 hex digits")
        with self._lock:
            found = self._pck_certificates.get(tuple(asked))
        if found is None or (
            qe_id is not None and found.qe_id is not None and qe_id.upper() != found.qe_id
        ):
            return _error(404, "PCK Certificate not found")
        return found.reply

    def _document(self, asked: _Asked, hint: _Hint | None, what: str) -> Reply:
        reply = self._find(asked, hint)
        if isinstance(reply, str):
            return _error(400, reply)
        if reply is None:
            if asked.variant is not None and asked.variant.startswith("eval="):
                return _error(410, f"{what}: evaluation data number not available")
            return _error(404, f"{what} not found")
        return reply

    def _find(self, asked: _Asked, hint: _Hint | None) -> Reply | str | None:
        """The reply for ``asked``: verbatim first, else from the bundle chosen (a str: 400)."""
        if hint is not None:
            conflict = asked.conflict(hint.params)
            if conflict is not None:
                return conflict
        key: tuple[str, ...] = (asked.kind,)
        key += tuple(part for part in (asked.tee, asked.fmspc, asked.ca) if part is not None)
        keys = [key] if asked.variant is None else [(*key, asked.variant)]
        if asked.variant is not None and asked.variant.startswith("update="):
            keys.append(key)
        verbatim = self._lookup(*keys)
        if verbatim is not None:
            return verbatim
        when = hint.at if hint is not None and hint.at is not None else self.at
        if when is None:
            when = datetime.now(timezone.utc)
        with self._lock:
            bundles = list(self._bundles)
        chosen = _choose(asked, None if hint is None else hint.params, bundles, when)
        if chosen is None and hint is not None:
            # No bundle for that platform: answer as a PCCS would, by what the route names.
            chosen = _choose(asked, None, bundles, when)
        return None if chosen is None else chosen.replies[asked.kind]

    def _crl(self, reply: Reply | str | None, encoding: str, what: str) -> Reply:
        if isinstance(reply, str):
            return _error(400, reply)
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


@dataclass(frozen=True)
class _Bundle:
    params: CollateralParameters
    start: datetime
    end: datetime
    tcb_number: int
    qe_number: int
    variant: str | None
    replies: Mapping[str, Reply]


@dataclass(frozen=True)
class _Asked:
    """What a request names: the artifact kind and the parts of the platform in its URL."""

    kind: str
    tee: str | None = None
    fmspc: str | None = None
    ca: str | None = None
    variant: str | None = None

    def conflict(self, params: CollateralParameters) -> str | None:
        for name in ("tee", "fmspc", "ca"):
            named = getattr(self, name)
            if named is not None and named != getattr(params, name):
                return f"{HINT_HEADER} says {name}={getattr(params, name)}, the URL {named}"
        return None

    def answered_by(self, bundle: _Bundle) -> bool:
        params = bundle.params
        if self.tee is not None and params.tee != self.tee:
            return False
        if self.fmspc is not None and params.fmspc != self.fmspc:
            return False
        if self.ca is not None and params.ca != self.ca:
            return False
        variant = self.variant
        if variant is not None and variant.startswith("eval="):
            number = bundle.tcb_number if self.kind == "tcb" else bundle.qe_number
            return variant == f"eval={number}"
        return bundle.variant == variant


@dataclass(frozen=True)
class _Hint:
    """A parsed :data:`HINT_HEADER`: the platform asked for, and the time (optional)."""

    params: CollateralParameters
    at: datetime | None

    @classmethod
    def parse(cls, values: list[str]) -> _Hint | None:
        if not values:
            return None
        if len(values) > 1 or len(values[0]) > 200:
            raise ValueError("one value of at most 200 characters expected")
        fields: dict[str, str] = {}
        for item in values[0].split(";"):
            name, sep, value = item.strip().partition("=")
            if not sep or name not in ("tee", "fmspc", "ca", "at") or name in fields:
                raise ValueError(f"unexpected item {item.strip()[:40]!r}")
            fields[name] = value.strip()
        if not {"tee", "fmspc", "ca"} <= set(fields):
            raise ValueError("tee, fmspc and ca are required")
        params = CollateralParameters(
            tee=fields["tee"],  # type: ignore[arg-type]  # checked by CollateralParameters
            fmspc=fields["fmspc"],
            ca=fields["ca"],  # type: ignore[arg-type]
        )
        at = None
        if "at" in fields:
            at = datetime.strptime(fields["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        return cls(params, at)


def _choose(
    asked: _Asked,
    wanted: CollateralParameters | None,
    bundles: list[_Bundle],
    when: datetime,
) -> _Bundle | None:
    """The bundle answering ``asked`` at ``when``, as ``OfflineSource`` would choose it."""
    candidates = [b for b in bundles if asked.answered_by(b) and wanted in (None, b.params)]
    if not candidates and asked.variant == "update=early":
        return _choose(_Asked(asked.kind, asked.tee, asked.fmspc, asked.ca), wanted, bundles, when)
    if not candidates:
        return None

    def rank(bundle: _Bundle) -> tuple[bool, int, datetime]:
        number = min(bundle.tcb_number, bundle.qe_number)
        return bundle_rank(bundle.start, bundle.end, number, when)

    return max(candidates, key=rank)


_PCK_QUERY = (("encrypted_ppid", (512, 768)), ("cpusvn", (32,)), ("pcesvn", (4,)), ("pceid", (4,)))


def _is_hex(text: str) -> bool:
    return text.isascii() and all(c in "0123456789abcdefABCDEF" for c in text)


@dataclass(frozen=True)
class _PckCertificate:
    reply: Reply
    qe_id: str | None


def bundle_replies(collateral: Collateral) -> dict[str, Reply]:
    """The PCS responses a bundle stands for: ``tcb``, ``qe``, ``pckcrl``, ``rootcacrl``.

    Bodies as Intel sends them (``{"tcbInfo": <exact signed bytes>,
    "signature": ...}``, DER CRLs), issuer chains URL-encoded.
    """
    raw = collateral.raw

    def signed(name: bytes, body: bytes, signature: bytes) -> bytes:
        return b'{"' + name + b'":' + body + b',"signature":"' + signature.hex().encode() + b'"}'

    def chain(route: str, pem: str) -> tuple[tuple[str, str], ...]:
        return ((_CHAIN_HEADERS[route], encode_issuer_chain(pem)),)

    crl = "application/pkix-crl"
    return {
        "tcb": Reply(
            200,
            signed(b"tcbInfo", raw.tcb_info, raw.tcb_info_signature),
            chain("tcb", raw.tcb_info_issuer_chain),
        ),
        "qe": Reply(
            200,
            signed(b"enclaveIdentity", raw.qe_identity, raw.qe_identity_signature),
            chain("qe", raw.qe_identity_issuer_chain),
        ),
        "pckcrl": Reply(200, raw.pck_crl, chain("pckcrl", raw.pck_crl_issuer_chain), crl),
        "rootcacrl": Reply(200, raw.root_ca_crl, (), crl),
    }


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


class ScriptedServer:
    """A TCP server on 127.0.0.1 answering each connection with scripted raw bytes.

    For hostile-response tests: ``responses`` gives the whole raw response
    (status line, headers, body) sent as is for each connection in turn (the
    last one repeats), or is called with the connection's index and raw
    request head.  With ``trickle``, one byte every ``trickle`` seconds.
    The connection is closed after the response.  Raw request heads are
    kept in :attr:`requests`.
    """

    def __init__(
        self,
        responses: list[bytes] | Callable[[int, bytes], bytes],
        *,
        trickle: float | None = None,
    ) -> None:
        self._responses = responses
        self.trickle = trickle
        self.requests: list[bytes] = []
        #: Response bytes written so far (all connections).
        self.sent = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def start(self) -> ScriptedServer:
        """Accept connections in a daemon thread."""
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end trickles, close the socket."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = connection.recv(4096)
                    if not data:
                        break
                    head += data
            with self._lock:
                index = len(self.requests)
                self.requests.append(head)
            if callable(self._responses):
                response = self._responses(index, head)
            else:
                response = self._responses[min(index, len(self._responses) - 1)]
            step = 1 if self.trickle is not None else max(len(response), 1)
            for start in range(0, len(response), step):
                if self.trickle is not None and self._stopping.wait(self.trickle):
                    return
                try:
                    connection.sendall(response[start : start + step])
                except OSError:
                    return
                with self._lock:
                    self.sent += len(response[start : start + step])
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
