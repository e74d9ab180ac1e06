"""Certificates whose names do not decode, at every entry point that reads them.

A PCK chain in a quote, an RA-TLS certificate or the chain a TLS server sends
can carry a subject or issuer ``cryptography`` loads but cannot decode
(:data:`_hostile_certs.BROKEN_NAMES`), or one it decodes with a
``UserWarning`` (:data:`_hostile_certs.WARNING_NAMES`).  Each entry point
gives its documented error (or its result) and nothing else: no foreign
exception, no traceback, no warning.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from _hostile_certs import BROKEN_NAMES, WARNING_NAMES, hostile_name, with_names, with_names_der
from _no_warnings import no_user_warning
from conftest import REPO_ROOT
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from probe_servers import FakeServer

from tdxquote import CertificationData, _x509_read, parse_quote
from tdxquote._json import quote_to_dict
from tdxquote._quote import Quote
from tdxquote.cli import main
from tdxquote.collateral import load_chain
from tdxquote.collateral.pcs import CollateralParameters
from tdxquote.errors import CollateralFormatError, QuoteParseError, TdxQuoteError
from tdxquote.ratls import RaTlsFormatError, certificate_report, parse_certificate
from tdxquote.ratls._probe import ALPN_POSTGRESQL
from tdxquote.testing.forge import QuoteForge, Scenario
from tdxquote.testing.pccs import PccsServer
from tdxquote.testing.pki import PckLeaf
from tdxquote.testing.ratls import ForgedCertificate, RaTlsForge
from tdxquote.verification import CertificateChainError, Verifier

FORGE = QuoteForge.create(b"tdxquote hostile names")


def _loads(kind: str) -> bool:
    """Whether this ``cryptography`` loads a certificate with the name (51 refuses some)."""
    try:
        with_names(FORGE.leaf.cert, FORGE.pki.intermediate.key, subject=hostile_name(kind))
    except ValueError:
        return False
    return True


# The names cryptography loads but cannot read: the entry points that hold a loaded
# certificate are tested with these; test_every_broken_name_in_a_pck_chain_is_refused takes
# all of them as bytes, whichever cryptography loads.
BROKEN = sorted(kind for kind in BROKEN_NAMES if _loads(kind))
WARNING = sorted(WARNING_NAMES)
# Where the hostile name goes in the PCK chain.
PLACES = ("leaf_subject", "leaf_issuer", "intermediate_subject", "root_subject")


def _pck_chain(kind: str, place: str) -> list[x509.Certificate]:
    pki = FORGE.pki
    name = hostile_name(kind)
    leaf, intermediate, root = FORGE.leaf.cert, pki.intermediate.cert, pki.root.cert
    if place == "leaf_subject":
        leaf = with_names(leaf, pki.intermediate.key, subject=name)
    elif place == "leaf_issuer":
        leaf = with_names(leaf, pki.intermediate.key, issuer=name)
    elif place == "intermediate_subject":
        intermediate = with_names(intermediate, pki.root.key, subject=name)
    else:
        root = with_names(root, pki.root.key, subject=name, issuer=name)
    return [leaf, intermediate, root]


def _quote(kind: str, place: str = "leaf_subject") -> Quote:
    """A quote signed as usual whose PCK chain carries the hostile name ``kind`` at ``place``."""
    return parse_quote(FORGE.quote(pck_chain=_pck_chain(kind, place)).to_bytes())


def _scenario(kind: str) -> Scenario:
    return FORGE.scenario(_quote(kind))


# --- the helper itself -------------------------------------------------------------------


class _Refused(TdxQuoteError):
    pass


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("which", ["subject", "issuer"])
def test_helper_raises_the_callers_error(kind: str, which: str) -> None:
    cert = with_names(FORGE.leaf.cert, FORGE.pki.intermediate.key, **{which: hostile_name(kind)})
    with pytest.raises(_Refused, match=f"the {which} does not decode"), no_user_warning():
        _x509_read.names(cert, _Refused)


@pytest.mark.parametrize("kind", WARNING)
def test_helper_decodes_warning_names_quietly(kind: str) -> None:
    cert = with_names(FORGE.leaf.cert, FORGE.pki.intermediate.key, subject=hostile_name(kind))
    with no_user_warning():
        read = _x509_read.names(cert, _Refused)
        assert read.subject_cn.startswith("SGX PCK Certificate")
        assert "SGX PCK Certificate" in _x509_read.name_text(read.subject)


def test_the_warning_filter_is_narrow() -> None:
    # Only cryptography's name-length warning is silenced, and only inside the block.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _x509_read.quiet_name_warnings():
            warnings.warn("Attribute's length must be >= 2 and <= 2, but it was 3", stacklevel=1)
            warnings.warn("another warning", UserWarning, stacklevel=1)
        warnings.warn("Attribute's length must be >= 2 and <= 2, but it was 3", stacklevel=1)
    assert [str(w.message) for w in caught] == [
        "another warning",
        "Attribute's length must be >= 2 and <= 2, but it was 3",
    ]


def test_quiet_blocks_nest_and_threads_do_not_trip_over_each_other() -> None:
    cert = with_names(
        FORGE.leaf.cert, FORGE.pki.intermediate.key, subject=hostile_name("common_name_too_long")
    )
    filters_before = list(warnings.filters)
    errors: list[BaseException] = []

    def read_many() -> None:
        try:
            for _ in range(50):
                with _x509_read.quiet_name_warnings():
                    _x509_read.names(cert, _Refused)  # an inner block inside the outer one
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with no_user_warning():
        threads = [threading.Thread(target=read_many) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors
    assert not any(thread.is_alive() for thread in threads)
    assert list(warnings.filters) == filters_before


# --- quotes: CollateralParameters, Verifier, parse ---------------------------------------


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("place", PLACES)
def test_collateral_parameters_refuse_undecodable_names(kind: str, place: str) -> None:
    quote = _quote(kind, place)
    with pytest.raises(CertificateChainError) as caught, no_user_warning():
        CollateralParameters.from_quote(quote)
    assert caught.value.code == "pck_chain_invalid"
    assert "does not decode" in str(caught.value)


@pytest.mark.parametrize("kind", WARNING)
@pytest.mark.parametrize("place", PLACES)
def test_collateral_parameters_read_warning_names_quietly(kind: str, place: str) -> None:
    with no_user_warning():
        params = CollateralParameters.from_quote(_quote(kind, place))
    assert FORGE.leaf.extension is not None
    assert params.fmspc == FORGE.leaf.extension.fmspc_hex
    assert params.tee == "tdx"


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("place", PLACES)
def test_quote_pck_chain_is_a_parse_error(kind: str, place: str) -> None:
    quote = _quote(kind, place)
    with pytest.raises(QuoteParseError) as caught, no_user_warning():
        quote.pck_chain  # noqa: B018
    assert caught.value.field == "pck_chain"
    with no_user_warning():
        fields = quote_to_dict(quote)
    assert fields["pck_chain"] is None
    assert fields["pck_error"]["field"] == "pck_chain"
    assert "does not decode" in fields["pck_error"]["message"]


@pytest.mark.parametrize("kind", BROKEN)
def test_offline_verifier_from_a_directory_refuses(kind: str, tmp_path: Path) -> None:
    scenario = _scenario(kind)
    (tmp_path / "bundle.json").write_text(scenario.collateral_json())
    verifier = Verifier.offline(tmp_path, trust_root=scenario.trust_root_der)
    with pytest.raises(CertificateChainError) as caught, no_user_warning():
        verifier.verify(scenario.quote, now=scenario.now)
    assert caught.value.code == "pck_chain_invalid"


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("place", PLACES)
def test_verifier_with_collateral_refuses(kind: str, place: str) -> None:
    quote = _quote(kind, place)
    scenario = FORGE.scenario(quote)
    verifier = Verifier(trust_root=scenario.trust_root_der, collateral=scenario.to_collateral())
    with pytest.raises(CertificateChainError) as caught, no_user_warning():
        verifier.verify(quote, now=scenario.now)
    assert caught.value.code == "pck_chain_invalid"


@pytest.mark.parametrize("kind", ["utf8_invalid", "bit_string", "integer_value"])
def test_pccs_verifier_refuses_before_fetching(kind: str) -> None:
    scenario = _scenario(kind)
    with PccsServer() as pccs:
        pccs.add_collateral(scenario.to_collateral())
        verifier = Verifier.pccs(pccs.url, cache=None, trust_root=scenario.trust_root_der)
        with pytest.raises(CertificateChainError), no_user_warning():
            verifier.verify(scenario.quote, now=scenario.now)
        assert pccs.requests == []


def test_intel_pcs_verifier_refuses_before_fetching() -> None:
    # Refused while choosing what to fetch: no request is made.
    from tdxquote.collateral.cache import CollateralCache

    scenario = _scenario("utf8_invalid")
    verifier = Verifier.intel_pcs(
        cache=CollateralCache.memory(), trust_root=scenario.trust_root_der
    )
    with pytest.raises(CertificateChainError), no_user_warning():
        verifier.verify(scenario.quote, now=scenario.now)


# --- quotes through the CLI --------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with no_user_warning():
        code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _write_scenario(scenario: Scenario, folder: Path) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    files = {
        "quote": folder / "quote.bin",
        "bundles": folder / "bundles",
        "root": folder / "root.pem",
    }
    files["quote"].write_bytes(scenario.quote_bytes)
    files["bundles"].mkdir(exist_ok=True)
    (files["bundles"] / "bundle.json").write_text(scenario.collateral_json())
    files["root"].write_bytes(scenario.trust_root_pem)
    return {key: str(value) for key, value in files.items()}


@pytest.mark.parametrize("kind", BROKEN)
def test_cli_parse_reports_the_pck_error(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _write_scenario(_scenario(kind), tmp_path)
    code, out, _ = _cli(capsys, "parse", "--json", files["quote"])
    assert code == 0
    report = json.loads(out)["result"]["quote"]
    assert report["pck_chain"] is None
    assert "does not decode" in report["pck_error"]["message"]
    code, out, _ = _cli(capsys, "parse", files["quote"])
    assert code == 0
    assert "does not decode" in out


@pytest.mark.parametrize("kind", sorted(BROKEN_NAMES))
def test_every_broken_name_in_a_pck_chain_is_refused(
    kind: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # As bytes only, so the names a newer cryptography refuses to load are covered too.
    leaf = with_names_der(FORGE.leaf.cert, FORGE.pki.intermediate.key, subject=hostile_name(kind))
    pem = b"".join(_pem(der) for der in (leaf, FORGE.pki.intermediate.der, FORGE.pki.root.der))
    raw = FORGE.quote(certification_data=CertificationData(5, pem)).to_bytes()
    path = tmp_path / "quote.dat"
    path.write_bytes(raw)
    code, out, err = _cli(capsys, "parse", "--json", str(path))
    assert code == 0, err
    report = json.loads(out)["result"]["quote"]
    assert report["pck_chain"] is None
    assert report["pck_error"]["field"] == "pck_chain"
    with pytest.raises(TdxQuoteError), no_user_warning():
        CollateralParameters.from_quote(parse_quote(raw))


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("kind", BROKEN)
def test_cli_verify_with_a_collateral_directory_refuses(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario(kind)
    files = _write_scenario(scenario, tmp_path)
    code, out, _ = _cli(
        capsys,
        "verify",
        files["quote"],
        "--collateral",
        files["bundles"],
        "--trust-root",
        files["root"],
        "--at",
        str(scenario.now_timestamp),
        "--json",
    )
    assert code == 1
    assert json.loads(out)["error"]["code"] == "pck_chain_invalid"


@pytest.mark.parametrize("kind", ["utf8_invalid", "t61_high_bytes", "null_value"])
def test_cli_verify_with_a_pccs_refuses(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = _scenario(kind)
    files = _write_scenario(scenario, tmp_path)
    with PccsServer() as pccs:
        pccs.add_collateral(scenario.to_collateral())
        code, out, _ = _cli(
            capsys,
            "verify",
            files["quote"],
            "--pccs",
            pccs.url,
            "--no-cache",
            "--trust-root",
            files["root"],
            "--at",
            str(scenario.now_timestamp),
            "--json",
        )
    assert code == 1
    assert json.loads(out)["error"]["code"] == "pck_chain_invalid"


@pytest.mark.parametrize("kind", ["utf8_invalid", "empty_rdn"])
def test_cli_collateral_fetch_refuses(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _write_scenario(_scenario(kind), tmp_path)
    code, _, err = _cli(
        capsys, "collateral", "fetch", files["quote"], "--out", str(tmp_path / "out.json")
    )
    assert code == 2
    assert "cannot tell which collateral it needs" in err


# --- RA-TLS certificates: library, cert, probe -------------------------------------------

RATLS = RaTlsForge.create(b"tdxquote hostile names ratls")


def _ratls(kind: str, which: str = "subject", *, position: int = 0) -> list[bytes]:
    """A forged RA-TLS chain (leaf, CA) whose certificate ``position`` has a hostile name."""
    made = RATLS.certificate(issuer="ca")
    chain = list(made.chain)
    name = hostile_name(kind)
    from tdxquote.testing.pki import derive_key

    ca_key = derive_key(RATLS.seed, "ratls-ca")
    chain[position] = with_names(chain[position], ca_key, **{which: name})
    if position == 1 and which == "subject":
        chain[1] = with_names(chain[1], ca_key, issuer=name)
    return [c.public_bytes(serialization.Encoding.DER) for c in chain]


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize(("which", "position"), [("subject", 0), ("issuer", 0), ("subject", 1)])
def test_certificate_report_is_a_parse_error(kind: str, which: str, position: int) -> None:
    chain = _ratls(kind, which, position=position)
    with no_user_warning():
        report = certificate_report(chain, now=RATLS_NOW)
    error = report["verdict"]["error"]
    assert error["code"] == "parse_error"
    assert error["field"] == f"certificate[{position}]"
    assert f"the {which} does not decode" in error["message"]
    with pytest.raises(RaTlsFormatError), no_user_warning():
        parse_certificate(chain)


@pytest.mark.parametrize("kind", WARNING)
def test_certificate_report_reads_warning_names_quietly(kind: str) -> None:
    chain = _ratls(kind)
    with no_user_warning():
        report = certificate_report(chain, now=RATLS_NOW)
    assert "SGX PCK Certificate" in report["subject"]
    assert report["verdict"]["error"]["code"] == "no_collateral"


def _ratls_with_hostile_pck_chain(kind: str) -> ForgedCertificate:
    hostile = _pck_chain(kind, "leaf_subject")
    leaf = PckLeaf(hostile[0], FORGE.leaf.key, FORGE.leaf.extension)
    return RaTlsForge.create(quote_forge=FORGE.replace(leaf=leaf)).certificate()


RATLS_NOW = FORGE.scenario().now


@pytest.mark.parametrize("kind", BROKEN)
def test_certificate_whose_quote_has_a_hostile_pck_chain_is_refused(kind: str) -> None:
    made = _ratls_with_hostile_pck_chain(kind)
    with no_user_warning():
        report = certificate_report(list(made.chain), now=made.now, verifier=made.verifier())
    assert report["verdict"]["ok"] is False
    assert report["verdict"]["error"]["code"] == "pck_chain_invalid"


def _files(folder: Path, chain: list[bytes], made: ForgedCertificate | None = None) -> list[str]:
    cert = folder / "cert.pem"
    cert.write_bytes(b"".join(ssl.DER_cert_to_PEM_cert(der).encode() for der in chain))
    if made is None:
        return [str(cert)]
    collateral = folder / "collateral.json"
    collateral.write_text(made.collateral_json())
    root = folder / "root.pem"
    root.write_bytes(made.trust_root_pem)
    at = str(int(made.now.timestamp()))
    return [str(cert), "--collateral", str(collateral), "--trust-root", str(root), "--at", at]


@pytest.mark.parametrize("kind", BROKEN)
def test_cli_cert_is_a_parse_error(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "cert", "--json", *_files(tmp_path, _ratls(kind)))
    assert code == 2
    assert json.loads(out)["error"]["code"] == "parse_error"
    code, _, err = _cli(capsys, "cert", *_files(tmp_path, _ratls(kind, "issuer")))
    assert code == 2
    assert "the issuer does not decode" in err


@pytest.mark.parametrize("kind", ["utf8_invalid", "integer_value"])
def test_cli_cert_refuses_a_hostile_pck_chain_in_the_quote(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = _ratls_with_hostile_pck_chain(kind)
    chain = [c.public_bytes(serialization.Encoding.DER) for c in made.chain]
    code, out, _ = _cli(capsys, "cert", "--json", *_files(tmp_path, chain, made))
    assert code == 1
    assert json.loads(out)["result"]["verdict"]["error"]["code"] == "pck_chain_invalid"


def _tls_server(chain: list[bytes], key_pem: bytes, folder: Path) -> FakeServer:
    (folder / "chain.pem").write_bytes(
        b"".join(ssl.DER_cert_to_PEM_cert(der).encode() for der in chain)
    )
    (folder / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "chain.pem", folder / "key.pem")
    context.set_alpn_protocols([ALPN_POSTGRESQL])

    def handler(conn: socket.socket, server: FakeServer) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    return FakeServer(handler)


def _key_pem() -> bytes:
    return RATLS.certificate(issuer="ca").key_pem


# OpenSSL will not load a certificate whose name is invalid UTF-8, an INTEGER or a NULL, so an
# OpenSSL test server can present only these; certificate_report, which probe calls with what
# the server sent, is tested with every kind above.
SERVABLE = [
    kind
    for kind in (
        "bit_string",
        "duplicate_attribute",
        "empty_rdn",
        "ia5_high_bytes",
        "t61_high_bytes",
    )
    if kind in BROKEN
]


@pytest.mark.parametrize("kind", SERVABLE)
@pytest.mark.parametrize(("which", "position"), [("subject", 0), ("subject", 1)])
def test_probe_of_a_server_with_a_hostile_certificate(
    kind: str, which: str, position: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = _ratls(kind, which, position=position)
    with _tls_server(chain, _key_pem(), tmp_path) as server:
        code, out, _ = _cli(capsys, "probe", server.target, "--direct-tls", "--json")
    document: dict[str, Any] = json.loads(out)
    assert code == 2
    assert document["result"] is None  # bad input from the server: no report
    assert document["error"]["code"] == "parse_error"
    assert document["error"]["field"] == f"certificate[{position}]"


@pytest.mark.parametrize("kind", WARNING)
def test_probe_of_a_server_with_a_warning_name(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _tls_server(_ratls(kind), _key_pem(), tmp_path) as server:
        code, out, _ = _cli(capsys, "probe", server.target, "--direct-tls", "--json")
    report: dict[str, Any] = json.loads(out)["result"]
    assert code == 2
    assert report["verdict"]["error"]["code"] == "no_collateral"
    assert "SGX PCK Certificate" in report["subject"]


# --- the real stderr ---------------------------------------------------------------------


def _run(*argv: str, python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "tdxquote", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_stderr_stays_clean_in_a_real_process(tmp_path: Path) -> None:
    """No traceback and no UserWarning on the stderr of ``python -m tdxquote``."""
    broken = _write_scenario(_scenario("utf8_invalid"), tmp_path / "broken")
    warned = _write_scenario(_scenario("country_too_long"), tmp_path / "warned")
    runs = {
        "parse broken": (_run("parse", "--json", broken["quote"]), 0),
        "parse warned": (_run("parse", "--json", warned["quote"]), 0),
        "cert broken": (_run("cert", *_files(tmp_path, _ratls("bit_string"))), 2),
        "cert warned": (_run("cert", *_files(tmp_path / "warned", _ratls("country_too_long"))), 2),
        # Warnings made errors: the name warning is still dropped, not raised.
        "parse warned, -W error": (
            _run("parse", "--json", warned["quote"], python_flags=("-W", "error")),
            0,
        ),
    }
    for label, (done, expected) in runs.items():
        assert done.returncode == expected, (label, done.stdout, done.stderr)
        if label == "cert broken":
            # A certificate that cannot be read is bad input: one line on stderr, naming it.
            assert done.stderr.startswith("tdxquote: error: "), (label, done.stderr)
            assert done.stderr.count("\n") == 1, (label, done.stderr)
            assert "not a certificate" not in done.stderr, (label, done.stderr)
            assert "Traceback" not in done.stderr
            assert "Warning" not in done.stderr
        else:
            assert done.stderr == "", (label, done.stderr)


# --- serial numbers that are not positive (found by test_fuzz_collateral_json) ----------------


def _negative_serial(cert: x509.Certificate, signer: Any, serial: int = -1) -> x509.Certificate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # loading it here warns, as it would for a user
        return with_names(cert, signer, serial=serial)


@pytest.mark.parametrize("serial", [0, -1, -(2**100)])
def test_regression_non_positive_serials_are_refused_without_a_warning(serial: int) -> None:
    pki = FORGE.pki
    leaf = _negative_serial(FORGE.leaf.cert, pki.intermediate.key, serial)
    quote = parse_quote(
        FORGE.quote(pck_chain=[leaf, pki.intermediate.cert, pki.root.cert]).to_bytes()
    )
    with pytest.raises(QuoteParseError, match="zero or negative") as caught, no_user_warning():
        quote.pck_chain  # noqa: B018
    assert caught.value.field == "pck_chain"
    with pytest.raises(CertificateChainError), no_user_warning():
        CollateralParameters.from_quote(quote)

    signing = _negative_serial(pki.tcb_signing.cert, pki.root.key, serial)
    chain_pem = (signing.public_bytes(serialization.Encoding.PEM) + pki.root.pem).decode()
    with pytest.raises(CollateralFormatError, match="zero or negative"), no_user_warning():
        load_chain(chain_pem)

    made = RATLS.certificate()
    ratls = _negative_serial(made.leaf, made.key, serial)
    der = ratls.public_bytes(serialization.Encoding.DER)
    for given in (der, ratls.public_bytes(serialization.Encoding.PEM)):
        with no_user_warning():
            report = certificate_report(given, now=RATLS_NOW)
        assert report["verdict"]["error"]["code"] == "parse_error"
        assert "zero or negative" in report["verdict"]["error"]["message"]


def test_other_warnings_while_loading_are_passed_on() -> None:
    # Only the serial-number warning becomes a refusal; the loader hides nothing else.
    def load_and_warn() -> object:
        warnings.warn("something else", UserWarning, stacklevel=1)
        return "loaded"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _x509_read._load(load_and_warn, _Refused) == "loaded"
    assert [str(w.message) for w in caught] == ["something else"]


def test_regression_a_der_certificate_that_does_not_load_is_not_read_as_its_pck_chain() -> None:
    # A DER RA-TLS certificate carries its quote's PCK chain as PEM text; when the DER
    # certificate does not load, the PEM certificates inside it must not stand in for it.
    der = RATLS.certificate().leaf_der
    assert b"-----BEGIN CERTIFICATE-----" in der
    version_4 = der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x05", 1)
    report = certificate_report(version_4, now=RATLS_NOW)
    error = report["verdict"]["error"]
    assert error["code"] == "parse_error"
    assert "not a DER X.509 certificate" in error["message"]
