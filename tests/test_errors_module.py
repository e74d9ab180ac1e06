"""Every public exception is importable from ``tdxquote.errors``, as docs/errors.md says.

Regression: ``from tdxquote.errors import PolicyError`` failed; the verification
errors lived in a private module of ``tdxquote.verification``.
"""

from __future__ import annotations

import importlib
import pickle
import re

import pytest
from conftest import REPO_ROOT

import tdxquote.errors as errors
from tdxquote.errors import TdxQuoteError

_TREE_NAME = re.compile(r"\b([A-Z][A-Za-z]*Error)\b")


def _documented_tree() -> list[tuple[int, list[str], str]]:
    """(depth, class names, where) for each line of the tree in docs/errors.md."""
    text = (REPO_ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    lines = []
    for line in block.splitlines():
        match = re.match(r"^([│├└─ ]*)(.*)$", line)
        assert match is not None
        prefix, rest = match.groups()
        names = _TREE_NAME.findall(rest.split("  ")[0])
        if not names:
            continue
        where = rest.rsplit("  ", 1)[-1].strip()
        lines.append((len(prefix) // 4, names, where))
    return lines


def test_the_tree_is_documented() -> None:
    names = [name for _, found, _ in _documented_tree() for name in found]
    assert "PolicyError" in names
    assert len(names) >= 25


def test_policy_error_imports_from_errors() -> None:
    from tdxquote.errors import PolicyError
    from tdxquote.verification import PolicyError as Reexported

    assert PolicyError is Reexported
    assert PolicyError("refused").code == "policy"


@pytest.mark.parametrize("name", [name for _, found, _ in _documented_tree() for name in found])
def test_every_documented_class_imports_from_errors(name: str) -> None:
    cls = getattr(errors, name)
    assert isinstance(cls, type)
    assert issubclass(cls, TdxQuoteError)
    assert name in errors.__all__
    exec(f"from tdxquote.errors import {name}", {})  # the spelling users write


def test_the_tree_matches_the_classes() -> None:
    parents: dict[int, str] = {}
    for depth, names, where in _documented_tree():
        for name in names:
            cls = getattr(errors, name)
            if depth > 0:
                assert issubclass(cls, getattr(errors, parents[depth - 1])), name
            # ... and it is where the tree says it is defined or re-exported.
            for module in (part.strip() for part in where.split(",")):
                if module.startswith("tdxquote"):
                    assert getattr(importlib.import_module(module), name) is cls, (name, module)
        parents[depth] = names[-1]


def test_every_error_class_in_errors_is_documented() -> None:
    documented = {name for _, found, _ in _documented_tree() for name in found}
    exported = {
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), BaseException)
    }
    assert exported == documented


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError):
        errors.NoSuchError  # type: ignore[attr-defined]  # noqa: B018


@pytest.mark.parametrize("name", ["CertificateChainError", "TcbError", "CollateralFormatError"])
def test_errors_survive_pickling_with_their_intel_codes(name: str) -> None:
    error = getattr(errors, name)("message", code="tcb_revoked" if name == "TcbError" else None)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert (again.code, again.message, again.intel_error, again.intel_error_code) == (
        error.code,
        error.message,
        error.intel_error,
        error.intel_error_code,
    )
