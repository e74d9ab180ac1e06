"""Real PostgreSQL servers for the end-to-end tests: ``initdb``, ``ssl = on``, ``pg_ctl -w``.

A :class:`PgServer` is a throwaway cluster in a temporary directory, listening
on a free loopback port with TLS and the certificate and key it was given;
``pg_hba.conf`` lets anyone in over TLS from 127.0.0.1 (``trust``).

PostgreSQL refuses to run as root.  As root (CI), the cluster belongs to the
``postgres`` system user that Debian's package creates and every server
command runs through ``runuser -u postgres --``.  The directory is made with
:func:`tempfile.mkdtemp` rather than pytest's ``tmp_path`` because pytest's
base directory is private to root.

The binaries are looked up on ``PATH`` and then in Debian's versioned
``/usr/lib/postgresql/<major>/bin`` (highest major first).  ``.ci/run``
installs Debian's ``postgresql`` when none is found.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PgServer", "PgUnavailable", "find_pg_bin", "running_server", "start_or_skip"]

DEBIAN_PG_LIB = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
_START_TRIES = 3
_COMMAND_TIMEOUT = 60


class PgUnavailable(Exception):
    """PostgreSQL cannot be run here (no binaries, no non-root user); the reason says why."""


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, or None."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    if DEBIAN_PG_LIB.is_dir():
        candidates = [d / "bin" for d in DEBIAN_PG_LIB.iterdir() if d.name.isdigit()]
        for directory in sorted(candidates, key=lambda d: int(d.parent.name), reverse=True):
            if (directory / "pg_ctl").is_file() and (directory / "initdb").is_file():
                return directory
    return None


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class PgServer:
    """A running cluster: where it listens and where its files are."""

    host: str
    port: int
    directory: Path
    bin_dir: Path
    user: pwd.struct_passwd | None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    @property
    def target(self) -> str:
        """``HOST:PORT`` as ``tdxquote probe`` takes it."""
        return f"{self.host}:{self.port}"

    def conninfo(self, **params: str) -> str:
        """A libpq connection string to the ``postgres`` database, plus ``params``."""
        base = {
            "host": self.host,
            "port": str(self.port),
            "user": SERVER_USER,
            "dbname": "postgres",
        }
        base.update(params)
        return " ".join(f"{key}={_quote(value)}" for key, value in base.items())

    def log(self) -> str:
        """The server log (for failure messages)."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def restart_with(self, cert_pem: bytes, key_pem: bytes) -> None:
        """Replace the server's certificate and key, and restart it (same port, fast mode).

        Open connections end; the next ones see the new certificate.
        """
        _write_private(self.data_dir / "server.crt", cert_pem, self.user)
        _write_private(self.data_dir / "server.key", key_pem, self.user)
        done = _run(
            self, "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-m", "fast",
            "-w", "-t", "30", "restart",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl restart failed:\n{done.stderr}\n{self.log()}")

    def stop(self) -> None:
        """Stop the server (immediately) and remove its directory."""
        try:
            _run(self, "pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/:" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _server_user() -> pwd.struct_passwd | None:
    """The user the server runs as: ``postgres`` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PgUnavailable(
            f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL as"
        ) from None


def _run(server: PgServer, program: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(server.bin_dir / program), *args]
    if server.user is not None:
        command = ["runuser", "-u", server.user.pw_name, "--", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=_COMMAND_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=server.directory,
        env={**os.environ, "LC_ALL": "C", "LANG": "C"},
    )


def _write_private(path: Path, data: bytes, user: pwd.struct_passwd | None) -> None:
    path.write_bytes(data)
    path.chmod(0o600)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _configure(server: PgServer, cert_pem: bytes, key_pem: bytes) -> None:
    data = server.data_dir
    _write_private(data / "server.crt", cert_pem, server.user)
    _write_private(data / "server.key", key_pem, server.user)
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(server.port),
        "unix_socket_directories": f"'{server.directory}'",
        "ssl": "on",
        "ssl_cert_file": "'server.crt'",
        "ssl_key_file": "'server.key'",
        "fsync": "off",
        "max_connections": "20",
        "logging_collector": "off",
    }
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\n# tdxquote end-to-end tests\n")
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    (data / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n", encoding="ascii"
    )


def start_server(cert_pem: bytes, key_pem: bytes, *, name: str = "server") -> PgServer:
    """``initdb`` a fresh cluster, configure TLS with ``cert_pem``/``key_pem``, start it.

    ``cert_pem`` may hold a chain (leaf first): the server sends all of it.
    Raises :class:`PgUnavailable` when PostgreSQL is not installed or cannot
    run here, ``RuntimeError`` (with the server log) when it fails to start.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise PgUnavailable(
            "PostgreSQL is not installed: no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin"
        )
    user = _server_user()
    if user is not None and shutil.which("runuser") is None:
        raise PgUnavailable("running as root and runuser is missing")
    directory = Path(tempfile.mkdtemp(prefix=f"tdxquote-pg-{name}-"))
    if user is not None:
        os.chown(directory, user.pw_uid, user.pw_gid)
    server = PgServer("127.0.0.1", 0, directory, bin_dir, user)
    try:
        init = _run(
            server,
            "initdb",
            "-D",
            str(server.data_dir),
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--no-locale",
            "--encoding=UTF8",
            "--no-sync",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
        for _ in range(_START_TRIES):
            # Another process may take the free port before the server binds it.
            server.port = free_port()
            _configure(server, cert_pem, key_pem)
            started = _run(
                server,
                "pg_ctl",
                "-D",
                str(server.data_dir),
                "-l",
                str(server.log_file),
                "-w",
                "-t",
                "30",
                "start",
            )
            if started.returncode == 0:
                return server
        raise RuntimeError(f"pg_ctl start failed:\n{started.stderr}\n{server.log()}")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


@contextlib.contextmanager
def running_server(cert_pem: bytes, key_pem: bytes, *, name: str = "server") -> Iterator[PgServer]:
    """:func:`start_server` as a context manager that stops the server on exit."""
    server = start_server(cert_pem, key_pem, name=name)
    try:
        yield server
    finally:
        server.stop()


def start_or_skip(name: str, cert_pem: bytes, key_pem: bytes) -> PgServer:
    """:func:`start_server`, or skip the test when PostgreSQL cannot run here.

    Under CI (``CI`` set) a missing PostgreSQL fails instead: ``.ci/run``
    installs it, and a skip would hide that.
    """
    import pytest

    try:
        return start_server(cert_pem, key_pem, name=name)
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must run in CI (.ci/run installs it): {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
