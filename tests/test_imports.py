"""What ``import tdxquote``, ``tdxquote --help`` and parsing load (modules, never times).

The heavy dependencies load when first needed: ``cryptography.x509`` for a PCK
chain or verification, ``construct`` for the schemas, ``httpx`` and
``diskcache`` for fetching and caching collateral, ``hypothesis`` for the
testing helpers.  Each check runs in a fresh interpreter, since this test
process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO_ROOT

import tdxquote
from tdxquote import _layout_derive, cli

HEAVY = ("cryptography.x509", "construct", "httpx", "diskcache", "hypothesis")

V4 = "dcap-qvl/tdx_quote"


def loaded_after(code: str, *args: str, extra: tuple[str, ...] = ()) -> set[str]:
    """The heavy modules (and their submodules) loaded once ``code`` has run.

    ``extra`` names more modules to look for (``cryptography`` as a whole, ...).
    """
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json as _json, sys as _sys
        _heavy = {HEAVY + extra!r}
        _found = sorted(m for m in _sys.modules if any(m == h or m.startswith(h + ".")
                        for h in _heavy))
        _sys.stderr.write("\\nLOADED " + _json.dumps(_found) + "\\n")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args],
        capture_output=True,
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 0, err
    line = [text for text in err.splitlines() if text.startswith("LOADED ")][-1]
    return set(json.loads(line.removeprefix("LOADED ")))


def heavy_roots(modules: set[str]) -> set[str]:
    return {h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in modules)}


def test_import_tdxquote_loads_no_heavy_dependency() -> None:
    assert loaded_after("import tdxquote") == set()


def test_the_probe_sees_a_heavy_import() -> None:
    # The check above could pass by never seeing anything: show that it sees.
    assert heavy_roots(loaded_after("import tdxquote._x509_read")) >= {"cryptography.x509"}
    assert heavy_roots(loaded_after("import tdxquote.schema; tdxquote.schema.QUOTE")) == {
        "construct"
    }


def test_parse_and_fields_load_no_heavy_dependency(vectors: Path) -> None:
    code = """
        import sys
        from tdxquote import parse_quote, TeeType
        quote = parse_quote(open(sys.argv[1], "rb").read())
        quote.header, quote.body.td_attributes_flags, quote.qe_report, quote.certification_data
        quote.pck_chain_pem, quote.signed_bytes, quote.tee_type is TeeType.TDX
        """
    assert loaded_after(code, str(vectors / V4)) == set()


def test_pck_chain_imports_cryptography_when_asked(vectors: Path) -> None:
    code = """
        import sys
        from tdxquote import parse_quote
        print(len(parse_quote(open(sys.argv[1], "rb").read()).pck_chain))
        """
    assert heavy_roots(loaded_after(code, str(vectors / V4))) == {"cryptography.x509"}


def test_pck_extension_is_read_without_cryptography(vectors: Path) -> None:
    # The leaf's DER is read by tdxquote's own reader: the FMSPC needs no cryptography.
    code = """
        import sys
        from tdxquote import parse_quote
        print(parse_quote(open(sys.argv[1], "rb").read()).pck_extension.fmspc_hex)
        """
    assert loaded_after(code, str(vectors / V4), extra=("cryptography",)) == set()


def test_first_verification_loads_no_heavy_dependency(vectors: Path) -> None:
    # The README's call verifies from DER with tdxquote's own reader and the layout table:
    # neither cryptography.x509 nor construct is imported (only cryptography's EC keys).
    code = """
        import sys, tdxquote
        collateral = tdxquote.Collateral.from_json(open(sys.argv[2]).read())
        verified = tdxquote.verify(open(sys.argv[1], "rb").read(), collateral, now=1751624191)
        assert verified.status.value == "UpToDate", verified.status
        """
    collateral = str(vectors / "dcap-qvl/tdx_quote_collateral.json")
    assert loaded_after(code, str(vectors / V4), collateral) == set()


def test_cli_help_loads_no_heavy_dependency() -> None:
    code = """
        import contextlib, io
        from tdxquote.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--help"]) == 0
        """
    assert loaded_after(code) == set()


@pytest.mark.parametrize("options", [[], ["--json"]], ids=["text", "json"])
def test_cli_parse_loads_no_cryptography(vectors: Path, options: list[str]) -> None:
    # The PCK chain summary (names, serials, validity) and the SGX extension are read from
    # DER by tdxquote itself, so ``tdxquote parse FILE`` starts as fast as a dcap-qvl script.
    # dataclasses too stays out: importing it costs more than the rest of the command.
    code = f"""
        import contextlib, io, sys
        from tdxquote.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main(["parse", *{options!r}, sys.argv[1]]) == 0
        assert sys.argv[2] in out.getvalue().upper()  # the FMSPC was read
        """
    path = vectors / V4
    fmspc = tdxquote.parse_quote(path.read_bytes()).pck_extension.fmspc_hex
    extra = ("cryptography", "dataclasses")
    assert loaded_after(code, str(path), fmspc, extra=extra) == set()


def test_scan_module_loads_no_heavy_dependency() -> None:
    assert loaded_after("import tdxquote.scan") == set()


@pytest.mark.parametrize("name", tdxquote.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(tdxquote, name) is not None
    assert name in dir(tdxquote)


def test_public_names_are_the_defining_objects() -> None:
    from tdxquote._quote import parse_quote
    from tdxquote.collateral import Collateral
    from tdxquote.verification import Verifier, verify

    assert tdxquote.parse_quote is parse_quote
    assert tdxquote.Collateral is Collateral
    assert (tdxquote.Verifier, tdxquote.verify) == (Verifier, verify)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = tdxquote.no_such_name  # type: ignore[attr-defined]


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from tdxquote import *", namespace)
    assert set(tdxquote.__all__) <= set(namespace)


def test_layout_table_is_the_generated_one() -> None:
    # Regenerate from the construct schemas and compare byte for byte.
    generated = _layout_derive.render_layout_table()
    assert _layout_derive.TABLE_PATH.read_text(encoding="utf-8") == generated
    assert _layout_derive.main(["--check"]) == 0


def test_layout_table_check_notices_a_stale_table(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stale = tmp_path / "_layout_table.py"
    stale.write_text(
        _layout_derive.render_layout_table().replace("HEADER_SIZE = 48", "HEADER_SIZE = 47")
    )
    monkeypatch.setattr(_layout_derive, "TABLE_PATH", stale)
    assert _layout_derive.main(["--check"]) == 1


def test_lazy_registry_help_is_the_full_parsers_help() -> None:
    # --help is built from the registry's names and help strings alone; it must read
    # exactly as the parser built from every command module does.
    assert cli.build_parser(only=None).format_help() == cli.build_parser().format_help()


def test_registry_help_strings_are_the_modules_own() -> None:
    parser = cli.build_parser()
    actions = parser._subparsers._group_actions[0]._choices_actions  # type: ignore[union-attr]
    from_modules = {action.dest: action.help for action in actions}
    assert from_modules == {command.name: command.help for command in cli.COMMANDS}


def test_registry_imports_only_the_chosen_command() -> None:
    code = """
        import contextlib, io, sys
        from tdxquote.cli import main
        with contextlib.redirect_stderr(io.StringIO()):
            main(["scan", "--bogus"])
        names = sorted(m for m in sys.modules if m.startswith("tdxquote._cli."))
        sys.stderr.write("\\nCOMMANDS " + ",".join(names) + "\\n")
        """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    line = [t for t in done.stderr.decode().splitlines() if t.startswith("COMMANDS ")][-1]
    assert line.removeprefix("COMMANDS ").split(",") == [
        "tdxquote._cli.common",
        "tdxquote._cli.output",
        "tdxquote._cli.progress",
        "tdxquote._cli.scan",
    ]
