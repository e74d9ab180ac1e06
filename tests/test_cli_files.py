"""Files as people hand them to the CLI: trust roots, keys, folders of bundles, corpora.

Each test is a regression of a first-contact problem: ``--trust-root`` silently took the
first PEM block of any file; ``cert key.pem`` printed cryptography's internals;
``--collateral DIR`` stopped at the first file that was not a bundle; ``scan`` reported a
folder's README and LICENSE as failures; long work said nothing; times were printed with
``+00:00``.
"""

from __future__ import annotations

import io
import itertools
import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tdxquote._cli.progress import Progress
from tdxquote.cli import main
from tdxquote.testing.ratls import RaTlsForge

SYNTHETIC = REPO_ROOT / "vectors" / "synthetic"
NOW = (SYNTHETIC / "now.txt").read_text().strip()


def _verify(quote: str = "tdx_v4.quote", *extra: str) -> list[str]:
    return [
        "verify",
        str(SYNTHETIC / quote),
        "--collateral",
        str(SYNTHETIC / "tdx_collateral.json"),
        "--at",
        NOW,
        *extra,
    ]


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- --trust-root: exactly one CA certificate ----------------------------------------------


def _leaf_pem() -> bytes:
    """A certificate that is not a CA: the PCK leaf of the synthetic quote."""
    import tdxquote

    quote = tdxquote.parse_quote((SYNTHETIC / "tdx_v4.quote").read_bytes())
    return quote.pck_chain[0].public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (lambda: (SYNTHETIC / "tdx_v4.quote").read_bytes(), "it is a quote (binary)"),
        (lambda: (SYNTHETIC / "tdx_v4.quote").read_bytes().hex().encode(), "it is a quote (hex)"),
        (
            lambda: _leaf_pem() + (SYNTHETIC / "trust_root.pem").read_bytes(),
            "it holds 2 certificates",
        ),
        (lambda: _leaf_pem(), "the certificate is not a CA"),
        (
            lambda: (
                (SYNTHETIC / "trust_root.pem").read_bytes()
                + b"-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"
            ),
            "it holds a private key",
        ),
        (lambda: b"", "not a certificate: it is empty"),
    ],
    ids=["quote", "hex quote", "two certificates", "leaf", "certificate and key", "empty"],
)
def test_trust_root_must_be_exactly_one_ca_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object, says: str
) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(content())  # type: ignore[operator]
    code, out, err = _run(capsys, _verify("tdx_v4.quote", "--trust-root", str(root)))
    assert (code, out) == (2, "")
    assert says in err
    assert "exactly one CA certificate" in err
    code, out, _ = _run(capsys, [*_verify("tdx_v4.quote", "--trust-root", str(root)), "--json"])
    error = json.loads(out)["error"]
    assert (code, error["kind"], error["code"]) == (2, "bad_input", "trust_root_invalid")


def test_trust_root_in_pem_or_der(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pem = (SYNTHETIC / "trust_root.pem").read_bytes()
    der = tmp_path / "root.der"
    der.write_bytes(x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER))
    commented = tmp_path / "root.txt"
    commented.write_bytes(b"subject=CN=synthetic root\n" + pem)
    for path in (SYNTHETIC / "trust_root.pem", der, commented):
        assert _run(capsys, _verify("tdx_v4.quote", "--trust-root", str(path)))[0] == 0


def test_trust_root_is_checked_by_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "two.pem"
    bad.write_bytes(_leaf_pem() + (SYNTHETIC / "trust_root.pem").read_bytes())
    for argv in (
        ["cert", str(tmp_path / "any.pem"), "--collateral", str(SYNTHETIC / "tdx_collateral.json")],
        ["collateral", "fetch", "--fmspc", "b0c06f000000", "--out", str(tmp_path / "b.json")],
    ):
        (tmp_path / "any.pem").write_bytes(RaTlsForge.create(b"trust").certificate().chain_pem)
        code, _, err = _run(capsys, [*argv, "--trust-root", str(bad)])
        assert code == 2, argv[0]
        assert "it holds 2 certificates" in err, argv[0]


# --- cert: a private key is named ----------------------------------------------------------


def test_cert_names_a_private_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = RaTlsForge.create(b"keys").leaf_key()
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = tmp_path / "key.der"
    der.write_bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for path in (pem, der):
        code, out, err = _run(capsys, ["cert", str(path)])
        assert (code, out) == (2, "")
        assert "this is a private key" in err
        assert "not a certificate" in err
        assert "cryptography" not in err
        assert "MalformedFraming" not in err
        code, out, _ = _run(capsys, ["cert", "--json", str(path)])
        document = json.loads(out)
        assert (code, document["result"], document["error"]["kind"]) == (2, None, "bad_input")
        assert "private key" in document["error"]["message"]


def test_cert_names_a_quote(capsys: pytest.CaptureFixture[str]) -> None:
    # Regression: the quote's own PCK chain (PEM inside it) was read as the certificate.
    code, _, err = _run(capsys, ["cert", str(SYNTHETIC / "tdx_v4.quote")])
    assert code == 2
    assert "this is a quote (binary), not a certificate" in err


# --- --collateral DIR and collateral show DIR skip what is not a bundle ----------------------


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "a-notes.json").write_text('{"comment": "fetched 2025-06-01"}')
    (folder / "b-tcb-info.json").write_text('{"tcbInfo": {"id": "TDX"}, "signature": "00"}')
    shutil.copyfile(SYNTHETIC / "tdx_collateral.json", folder / "c-tdx.json")
    shutil.copyfile(SYNTHETIC / "sgx_collateral.json", folder / "d-sgx.json")
    (folder / "README.md").write_text("not read: only *.json are\n")
    return folder


def test_collateral_folder_skips_files_that_are_not_bundles(
    mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "verify",
        str(SYNTHETIC / "tdx_v4.quote"),
        "--collateral",
        str(mirror),
        "--trust-root",
        str(SYNTHETIC / "trust_root.pem"),
        "--at",
        NOW,
    ]
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    assert out.startswith("verdict: UpToDate")
    notes = err.splitlines()
    assert len(notes) == 2
    assert notes[0].startswith(
        f"tdxquote: note: skipped {mirror / 'a-notes.json'}: not a collateral bundle"
    )
    assert "TcbInfo.from_response" in notes[1]
    code, out, err = _run(capsys, [*argv, "--json"])
    assert (code, json.loads(out)["ok"]) == (0, True)
    assert err.count("tdxquote: note: skipped") == 2


def test_collateral_show_lists_the_skipped_files(
    mirror: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, ["collateral", "show", "--json", str(mirror)])
    assert code == 0
    result = json.loads(out)["result"]
    assert [Path(bundle["file"]).name for bundle in result["bundles"]] == [
        "c-tdx.json",
        "d-sgx.json",
    ]
    assert [Path(item["file"]).name for item in result["skipped"]] == [
        "a-notes.json",
        "b-tcb-info.json",
    ]


def test_a_folder_without_bundles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.json").write_text("{}")
    code, _, err = _run(capsys, ["collateral", "show", str(tmp_path)])
    assert code == 2
    assert "no collateral bundle in this folder (1 *.json file(s), none a bundle)" in err


# --- scan --include / --exclude ----------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "quotes").mkdir(parents=True)
    for name in ("tdx_v4.quote", "tdx_v5_td15.quote", "sgx_v3.quote"):
        shutil.copyfile(SYNTHETIC / name, folder / "quotes" / name)
    (folder / "README.md").write_text("# corpus\n")
    (folder / "LICENSE").write_text("MIT\n")
    (folder / "quotes" / "SOURCE.md").write_text("where they come from\n")
    return folder


def _scan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code, out, _ = _run(capsys, ["scan", "--json", *args])
    return code, json.loads(out)["result"]


def test_scan_reports_readme_and_license_without_filters(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _scan(capsys, str(corpus))
    assert (code, result["files"], result["failed"]) == (1, 6, 3)


@pytest.mark.parametrize(
    ("filters", "files"),
    [
        (["--exclude", "*.md", "--exclude", "LICENSE*"], 3),
        (["--include", "*.quote"], 3),
        (["--include", "quotes/*", "--exclude", "*.md"], 3),
        (["--include", "*v4*", "--include", "*v3*"], 2),
        (["--exclude", "quotes/*"], 2),
    ],
)
def test_scan_filters(
    corpus: Path, capsys: pytest.CaptureFixture[str], filters: list[str], files: int
) -> None:
    code, result = _scan(capsys, str(corpus), *filters)
    assert result["files"] == files
    failures = result["failures"]
    assert isinstance(failures, list)
    assert code == (1 if failures else 0)
    includes = [value for flag, value in itertools.pairwise(filters) if flag == "--include"]
    assert result["filters"] == {
        "include": includes,
        "exclude": [value for flag, value in itertools.pairwise(filters) if flag == "--exclude"],
    }


def test_scan_filters_apply_inside_directories_only(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result = _scan(capsys, str(corpus / "README.md"), str(corpus), "--exclude", "*.md")
    assert (result["files"], result["failed"]) == (5, 2)  # the README named, the LICENSE found
    assert code == 1


def test_scan_filters_keep_the_order_and_the_jobs_result(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = _run(capsys, ["scan", "--json", "-j", "1", str(corpus), "--exclude", "LICENSE"])[1]
    two = _run(capsys, ["scan", "--json", "-j", "2", str(corpus), "--exclude", "LICENSE"])[1]
    assert one == two
    paths = [failure["path"] for failure in json.loads(one)["result"]["failures"]]
    assert paths == [str(corpus / "README.md"), str(corpus / "quotes" / "SOURCE.md")]


# --- progress: on a terminal only ----------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_steps_and_clears() -> None:
    stream = io.StringIO()
    progress = Progress(stream, label="bench", unit="rows")
    progress.step("timing a long row name")
    progress.step("short")
    progress.clear()
    parts = stream.getvalue().split("\r")
    assert parts[1] == "bench: timing a long row name"
    assert parts[2] == "bench: short" + " " * (len(parts[1]) - len("bench: short"))
    assert parts[3].strip() == ""


@pytest.mark.slow
def test_bench_shows_progress_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TDXQUOTE_VECTORS", raising=False)
    argv = ["bench", "--quick", "--rounds", "1", "--scan-files", "0", "--json"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""  # not a terminal: quiet
    assert json.loads(out)["ok"] is True
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    shown = terminal.getvalue()
    assert "\rbench: preparing quotes and collateral" in shown
    assert "\rbench: timing v3 validated parse vs parse_quote (1/" in shown
    assert shown.endswith("\r")  # erased at the end
    json.loads(capsys.readouterr().out)  # standard output holds the document alone


def test_scan_progress_on_a_terminal(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["scan", str(corpus), "--exclude", "*.md", "--exclude", "LICENSE"]) == 0
    assert "scanning [" in terminal.getvalue()
    assert capsys.readouterr().out.startswith("Scanned 3 files: 3 parsed, 0 failed")


# --- times: RFC 3339 with Z, in text too ------------------------------------------------------


def test_text_times_are_rfc3339_with_z(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys, _verify("tdx_v4.quote", "--trust-root", str(SYNTHETIC / "trust_root.pem"))
    )
    assert code == 0
    assert "at: 2025-06-01T00:00:00Z" in out.splitlines()
    code, out, _ = _run(capsys, ["demo"])
    assert "Verified it at 2025-06-01T00:00:00Z:" in out
    assert "+00:00" not in out
