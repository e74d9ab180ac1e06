"""Every command's ``--json`` output follows its published JSON Schema (``docs/json/``).

Each reporting command runs in its success, refusal (or negative) and bad-input cases, on
the repository's own vectors, forged certificates, a PCCS, an Intel Trust Authority-compatible
server (the ``--ita-*`` backend) and a TLS server on loopback;
each document is validated with ``jsonschema`` against ``docs/json/<command>.json``, and
its exit code must match its error kind.  No output, JSON or text, carries a ``+00:00``
time: times are RFC 3339 with ``Z``.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT
from jsonschema import Draft202012Validator
from probe_servers import FakeServer, refused_port, verification_args
from referencing import Registry, Resource

from tdxquote._cli.output import EXIT_FOR_KIND
from tdxquote.cli import build_parser, main
from tdxquote.ratls._probe import ALPN_POSTGRESQL
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.ita import ITA_TEST_API_KEY, ItaServer, TokenOptions
from tdxquote.testing.pccs import PccsServer
from tdxquote.testing.pki import derive_key
from tdxquote.testing.ratls import RaTlsForge, server_certificate

SCHEMA_DIR = REPO_ROOT / "docs" / "json"
SYNTHETIC = REPO_ROOT / "vectors" / "synthetic"
SCHEMAS = {path.name: json.loads(path.read_text()) for path in SCHEMA_DIR.glob("*.json")}
REGISTRY: Registry[Any] = Registry().with_resources(
    (name, Resource.from_contents(schema)) for name, schema in SCHEMAS.items()
)
UTC_OFFSET = re.compile(r"\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00")


def validate(document: dict[str, Any]) -> None:
    """Validate ``document`` against the schema of its ``command``."""
    name = str(document["command"]).replace(" ", "-") + ".json"
    Draft202012Validator(SCHEMAS[name], registry=REGISTRY).validate(document)


@dataclass
class Env:
    """Files and servers the cases use."""

    tmp: Path
    pccs: PccsServer
    scenario: Scenario
    tls_port: int
    closed_port: int
    ita: ItaServer
    ita_disagreeing: ItaServer  # its tokens' MRTD is not the quote's

    def path(self, name: str) -> str:
        return str(self.tmp / name)


def _tls_server(cert_pem: bytes, key_pem: bytes, directory: Path) -> FakeServer:
    (directory / "tls-cert.pem").write_bytes(cert_pem)
    (directory / "tls-key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "tls-cert.pem", directory / "tls-key.pem")
    context.set_alpn_protocols([ALPN_POSTGRESQL])

    def handler(conn: socket.socket, server: FakeServer) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    return FakeServer(handler)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("contract")
    scenario = QuoteForge.create(seed=b"json contract").scenario()
    (tmp / "quote.bin").write_bytes(scenario.quote_bytes)
    (tmp / "root.pem").write_bytes(scenario.trust_root_pem)
    (tmp / "bundle.json").write_text(scenario.collateral_json())
    (tmp / "garbage.bin").write_bytes(b"\x07\x00 not a quote at all")
    forge = RaTlsForge.create(b"json contract certificates")
    made = forge.certificate(issuer="ca")
    (tmp / "cert.pem").write_bytes(made.chain_pem)
    (tmp / "cert-collateral.json").write_text(made.collateral_json())
    (tmp / "cert-root.pem").write_bytes(made.trust_root_pem)
    (tmp / "cert-now.txt").write_text(made.now.isoformat())
    (tmp / "bad-binding.pem").write_bytes(
        forge.certificate(bind_key=forge.leaf_key("other")).chain_pem
    )
    corpus = tmp / "corpus"
    corpus.mkdir()
    for name in ("tdx_v4.quote", "sgx_v3.quote"):
        shutil.copyfile(SYNTHETIC / name, corpus / name)
    (corpus / "README.md").write_text("# not a quote\n")
    (tmp / "cache-is-a-file").write_text("")
    probe_dir = tmp / "probe"
    probe_dir.mkdir()
    (tmp / "probe-args.json").write_text(json.dumps(verification_args(probe_dir)))
    cert_pem, key_pem = server_certificate(derive_key(b"json contract", "server"), issuer="ca")
    with (
        PccsServer() as pccs,
        _tls_server(cert_pem, key_pem, tmp) as tls,
        refused_port() as closed,
        ItaServer(now=scenario.now) as ita,
        ItaServer(now=scenario.now) as ita_disagreeing,
    ):
        pccs.add_collateral(scenario.to_collateral())
        ita_disagreeing.token_options = TokenOptions(claims={"tdx_mrtd": "00" * 48})
        port = closed.getsockname()[1]
        yield Env(tmp, pccs, scenario, tls.port, port, ita, ita_disagreeing)


def _verify(env: Env, quote: str = "quote.bin", *extra: str) -> list[str]:
    return [
        "verify",
        env.path(quote),
        "--collateral",
        env.path("bundle.json"),
        "--trust-root",
        env.path("root.pem"),
        "--at",
        env.scenario.now.isoformat(),
        *extra,
    ]


def _cert(env: Env, name: str, *extra: str) -> list[str]:
    return [
        "cert",
        env.path(name),
        "--collateral",
        env.path("cert-collateral.json"),
        "--trust-root",
        env.path("cert-root.pem"),
        "--at",
        (env.tmp / "cert-now.txt").read_text(),
        *extra,
    ]


def _probe(env: Env, port: int, *extra: str) -> list[str]:
    args = json.loads((env.tmp / "probe-args.json").read_text())
    return ["probe", f"127.0.0.1:{port}", "--direct-tls", "--connect-timeout", "5", *args, *extra]


def _ita(env: Env, server: ItaServer | None = None) -> list[str]:
    """The ``--ita-*`` flags for ``server`` (default: the agreeing one), and ``--at`` its time."""
    server = server or env.ita
    return [
        "--ita-api-url",
        server.api_url,
        "--ita-portal-url",
        server.portal_url,
        "--ita-api-key",
        ITA_TEST_API_KEY,
        "--no-cache",
        "--at",
        server.now.isoformat(),
    ]


def _ita_closed(env: Env) -> list[str]:
    api = f"http://127.0.0.1:{env.closed_port}"
    return [*_ita(env)[:1], api, *_ita(env)[2:]]


def _fetch(env: Env, *extra: str) -> list[str]:
    return [
        "collateral",
        "fetch",
        "--pccs",
        env.pccs.url,
        "--no-cache",
        "--fetch-retries",
        "0",
        "--trust-root",
        env.path("root.pem"),
        "--at",
        env.scenario.now.isoformat(),
        "--out",
        env.path("fetched.json"),
        *extra,
    ]


Case = Callable[[Env], list[str]]

# (id, argv, exit code, error kind or None)
CASES: list[tuple[str, Case, int, str | None]] = [
    ("parse-ok", lambda e: ["parse", str(SYNTHETIC / "tdx_v5_td15.quote")], 0, None),
    ("parse-sgx", lambda e: ["parse", str(SYNTHETIC / "sgx_v3.quote")], 0, None),
    ("parse-bad-input", lambda e: ["parse", e.path("garbage.bin")], 2, "bad_input"),
    ("parse-missing", lambda e: ["parse", e.path("absent")], 2, "bad_input"),
    ("verify-ok", lambda e: _verify(e), 0, None),
    (
        "verify-refused-check",
        lambda e: [
            "verify",
            str(SYNTHETIC / "tdx_v4_bad_signature.quote"),
            "--collateral",
            str(SYNTHETIC / "tdx_collateral.json"),
            "--trust-root",
            str(SYNTHETIC / "trust_root.pem"),
            "--at",
            (SYNTHETIC / "now.txt").read_text().strip(),
        ],
        1,
        "refused",
    ),
    (
        "verify-refused-policy",
        lambda e: _verify(e, "quote.bin", "--expect-mr-td", "ab" * 48),
        1,
        "refused",
    ),
    ("verify-bad-input", lambda e: _verify(e, "garbage.bin"), 2, "bad_input"),
    (
        "verify-bad-trust-root",
        lambda e: [*_verify(e)[:4], "--trust-root", e.path("bundle.json"), "--at", "0"],
        2,
        "bad_input",
    ),
    (
        "verify-unavailable",
        lambda e: [
            "verify",
            e.path("quote.bin"),
            "--pccs",
            f"http://127.0.0.1:{e.closed_port}",
            "--no-cache",
            "--fetch-retries",
            "0",
            "--trust-root",
            e.path("root.pem"),
            "--at",
            e.scenario.now.isoformat(),
        ],
        2,
        "unavailable",
    ),
    ("verify-ita-ok", lambda e: ["verify", e.path("quote.bin"), *_ita(e)], 0, None),
    (
        "verify-ita-refused-claims",
        lambda e: ["verify", e.path("quote.bin"), *_ita(e, e.ita_disagreeing)],
        1,
        "refused",
    ),
    (
        "verify-ita-refused-policy",
        lambda e: ["verify", e.path("quote.bin"), *_ita(e), "--expect-mr-td", "ab" * 48],
        1,
        "refused",
    ),
    (
        "verify-ita-unavailable",
        lambda e: ["verify", e.path("quote.bin"), *_ita_closed(e), "--fetch-retries", "0"],
        2,
        "unavailable",
    ),
    ("verify-ita-bad-input", lambda e: ["verify", e.path("garbage.bin"), *_ita(e)], 2, "bad_input"),
    (
        "verify-ita-bad-option",
        lambda e: ["verify", e.path("quote.bin"), *_ita(e), "--trust-root", e.path("root.pem")],
        2,
        "bad_input",
    ),
    ("cert-ok", lambda e: _cert(e, "cert.pem"), 0, None),
    ("cert-ita-ok", lambda e: ["cert", e.path("cert.pem"), *_ita(e)], 0, None),
    (
        "cert-ita-refused",
        lambda e: ["cert", e.path("cert.pem"), *_ita(e, e.ita_disagreeing)],
        1,
        "refused",
    ),
    (
        "cert-ita-unavailable",
        lambda e: ["cert", e.path("cert.pem"), *_ita_closed(e), "--fetch-retries", "0"],
        2,
        "unavailable",
    ),
    ("cert-refused", lambda e: _cert(e, "bad-binding.pem"), 1, "refused"),
    ("cert-bad-input", lambda e: _cert(e, "garbage.bin"), 2, "bad_input"),
    ("cert-no-collateral", lambda e: ["cert", e.path("cert.pem")], 2, "unavailable"),
    ("probe-ok", lambda e: _probe(e, e.tls_port), 0, None),
    (
        "probe-refused",
        lambda e: _probe(e, e.tls_port, "--expect-event", "app-id=" + "00" * 20),
        1,
        "refused",
    ),
    ("probe-bad-input", lambda e: ["probe", "host:notaport"], 2, "bad_input"),
    (
        "probe-ita-ok",
        lambda e: ["probe", f"127.0.0.1:{e.tls_port}", "--direct-tls", *_ita(e)],
        0,
        None,
    ),
    (
        "probe-ita-refused",
        lambda e: ["probe", f"127.0.0.1:{e.tls_port}", "--direct-tls", *_ita(e, e.ita_disagreeing)],
        1,
        "refused",
    ),
    ("probe-unreachable", lambda e: _probe(e, e.closed_port), 2, "unavailable"),
    ("collateral-fetch-ok", lambda e: _fetch(e, "--fmspc", "b0c06f000000"), 0, None),
    (
        "collateral-fetch-unavailable",
        lambda e: _fetch(e, "--fmspc", "00906ed50000"),
        2,
        "unavailable",
    ),
    ("collateral-fetch-bad-input", lambda e: _fetch(e, "--fmspc", "XYZ"), 2, "bad_input"),
    ("collateral-show-ok", lambda e: ["collateral", "show", e.path("bundle.json")], 0, None),
    ("collateral-show-folder", lambda e: ["collateral", "show", str(SYNTHETIC)], 0, None),
    (
        "collateral-show-bad-input",
        lambda e: ["collateral", "show", e.path("garbage.bin")],
        2,
        "bad_input",
    ),
    ("cache-info-ok", lambda e: ["cache", "info", "--cache-dir", e.path("cache")], 0, None),
    (
        "cache-info-bad-input",
        lambda e: ["cache", "info", "--cache-dir", e.path("cache-is-a-file")],
        2,
        "bad_input",
    ),
    ("cache-clear-ok", lambda e: ["cache", "clear", "--cache-dir", e.path("cache")], 0, None),
    ("scan-ok", lambda e: ["scan", e.path("corpus"), "--exclude", "*.md"], 0, None),
    ("scan-failures", lambda e: ["scan", e.path("corpus")], 1, "failed"),
    ("scan-bad-input", lambda e: ["scan", e.path("absent")], 2, "bad_input"),
    (
        "bench-bad-input",
        lambda e: ["bench", "--quick", "--vectors", e.path("absent")],
        2,
        "bad_input",
    ),
    ("demo-ok", lambda e: ["demo"], 0, None),
]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "exit_code", "kind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_outcome_follows_its_schema(
    env: Env, capsys: pytest.CaptureFixture[str], argv: Case, exit_code: int, kind: str | None
) -> None:
    args = argv(env)
    code, out, err = _run(capsys, [*args, "--json"])
    assert code == exit_code, out + err
    document = json.loads(out)
    validate(document)
    assert document["ok"] is (kind is None)
    if kind is None:
        assert document["error"] is None
    else:
        assert document["error"]["kind"] == kind
        assert EXIT_FOR_KIND[kind] == code
    assert not UTC_OFFSET.search(out), "a time with +00:00 instead of Z"
    code, text, err = _run(capsys, args)  # and the same run as text
    assert code == exit_code
    assert not UTC_OFFSET.search(text + err)


def test_a_refusal_keeps_the_verdict_it_reached(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, [*_verify(env, "quote.bin", "--expect-mr-td", "ab" * 48), "--json"])
    assert code == 1
    document = json.loads(out)
    result = document["result"]
    assert (result["accepted"], result["failed_check"]) == (False, "policy")
    assert result["verdict"]["status"] == "UpToDate"  # Intel's verdict, refused by the policy
    assert result["checks_passed"] == result["verdict"]["checks"]
    assert document["error"]["details"]["rule"] == "expect_mr_td"


def test_bad_input_is_not_a_report_full_of_nulls(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        _cert(env, "garbage.bin"),
        _verify(env, "garbage.bin"),
        ["parse", env.path("garbage.bin")],
    ):
        code, out, _ = _run(capsys, [*argv, "--json"])
        document = json.loads(out)
        assert (code, document["result"]) == (2, None), argv[0]
        assert document["error"]["kind"] == "bad_input"


@pytest.mark.slow
def test_bench_follows_its_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TDXQUOTE_VECTORS", raising=False)
    code, out, _ = _run(
        capsys, ["bench", "--quick", "--rounds", "1", "--scan-files", "0", "--json"]
    )
    assert code == 0
    document = json.loads(out)
    validate(document)
    assert document["ok"] is True


def _json_commands() -> set[str]:
    def walk(parser: Any, name: str) -> Iterator[str]:
        for action in parser._actions:
            if "--json" in action.option_strings:
                yield name
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for sub, child in choices.items():
                    yield from walk(child, f"{name} {sub}".strip())

    return set(walk(build_parser(), ""))


def test_every_json_command_has_a_schema_and_cases() -> None:
    commands = _json_commands() - {"cache"} | {"cache info", "cache clear"}
    assert {f"{command.replace(' ', '-')}.json" for command in commands} | {"common.json"} == set(
        SCHEMAS
    )
    covered = {case[0].rsplit("-", 1)[0] for case in CASES} | {"bench"}
    for command in commands:
        assert any(case.startswith(command.replace(" ", "-")) for case in covered), command


def test_docs_link_every_schema() -> None:
    text = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for name in SCHEMAS:
        assert f"json/{name}" in text, name
