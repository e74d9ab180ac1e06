"""`tdxquote parse` shows the PCK identifier of certification data types 1 to 3.

Such quotes carry a PPID, CPUSVN, PCESVN and PCE-ID instead of a PCK chain:
the text and the JSON show them, and the missing chain is not reported as
an error.  Malformed identifier data is reported in ``pck_error``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tdxquote import CertificationData
from tdxquote.cli import main
from tdxquote.testing.forge import QuoteForge
from tdxquote.testing.pki import SyntheticPki

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "json"
CPU_SVN = bytes(range(16))


@pytest.fixture(scope="module")
def forge() -> QuoteForge:
    pki = SyntheticPki.create(b"parse pck identifier")
    leaf = pki.issue_pck(pce_id="0100", pce_svn=0x1234, cpu_svn=CPU_SVN.hex())
    return QuoteForge.create(pki=pki, leaf=leaf)


def _write(forge: QuoteForge, tmp_path: Path, cert_type: int, data: bytes) -> Path:
    quote = forge.quote(certification_data=CertificationData(cert_type, data))
    path = tmp_path / f"type{cert_type}.dat"
    path.write_bytes(bytes(quote))
    return path


def _parse_json(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    assert main(["parse", "--json", str(path)]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
    registry: Registry[Any] = Registry().with_resources(
        (name, Resource.from_contents(schema)) for name, schema in schemas.items()
    )
    Draft202012Validator(schemas["parse.json"], registry=registry).validate(document)
    quote: dict[str, Any] = document["result"]["quote"]
    return quote


@pytest.mark.parametrize(("cert_type", "ppid_size"), [(1, 16), (2, 256), (3, 384)])
def test_json_and_text_show_the_identifier(
    forge: QuoteForge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    cert_type: int,
    ppid_size: int,
) -> None:
    ppid = bytes((7 * i) & 0xFF for i in range(ppid_size))
    path = _write(forge, tmp_path, cert_type, ppid + CPU_SVN + b"\x34\x12" + b"\x01\x00")
    quote = _parse_json(capsys, path)
    assert quote["certification_data"]["pck_identifier"] == {
        "ppid": ppid.hex(),
        "encrypted": cert_type != 1,
        "cpu_svn": CPU_SVN.hex(),
        "pce_svn": 0x1234,
        "pce_id": "0100",
    }
    assert quote["pck_chain"] is None
    assert quote["pck_error"] is None

    assert main(["parse", str(path)]) == 0
    text = capsys.readouterr().out
    assert "not decoded" not in text
    expected_ppid = f"{ppid_size} bytes, encrypted" if cert_type != 1 else ppid.hex()
    for label, value in [
        ("PPID", expected_ppid),
        ("CPUSVN", CPU_SVN.hex()),
        ("PCESVN", "4660"),
        ("PCE-ID", "0100"),
    ]:
        assert re.search(rf"^    {label} +{value}$", text, re.MULTILINE), label


def test_a_pce_id_left_out_is_null(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(forge, tmp_path, 1, bytes(16) + CPU_SVN + b"\x34\x12")
    identifier = _parse_json(capsys, path)["certification_data"]["pck_identifier"]
    assert identifier["pce_id"] is None


def test_a_malformed_identifier_is_a_pck_error(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(forge, tmp_path, 3, bytes(100))
    quote = _parse_json(capsys, path)
    assert quote["certification_data"]["pck_identifier"] is None
    assert quote["pck_error"]["field"] == "certification_data.size"
    assert main(["parse", str(path)]) == 0
    assert "PCK identifier (PPID, CPUSVN, PCESVN, PCE-ID) not decoded" in capsys.readouterr().out


def test_a_pem_chain_has_no_identifier(
    forge: QuoteForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "type5.dat"
    path.write_bytes(bytes(forge.quote()))
    quote = _parse_json(capsys, path)
    assert quote["certification_data"]["pck_identifier"] is None
    assert quote["pck_chain"] is not None
