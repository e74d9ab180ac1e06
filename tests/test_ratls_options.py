"""RA-TLS verifier options: every spelling read, anything unreadable refused.

``DcapVerifier.verify(quote, options)`` used to read options with
``getattr(options, name, default)``: a mapping, or an object with a misspelled
attribute, silently meant "no MRTD pin".  Now :meth:`VerifyOptions.coerce`
reads a :class:`VerifyOptions`, a mapping or any options object whose every
key is a known spelling (ours, sqlx-ra-tls's, prisma-ra-tls's), and raises
``TypeError`` naming anything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from conftest import REPO_ROOT
from hypothesis import given
from hypothesis import strategies as st

from tdxquote.collateral import TcbStatus
from tdxquote.ratls import (
    OPTION_SPELLINGS,
    DcapVerifier,
    VerificationResult,
    VerifyOptions,
)
from tdxquote.ratls._options import CONNECTION_OPTION_NAMES
from tdxquote.testing.ratls import DEFAULT_COMPOSE_HASH, ForgedCertificate, RaTlsForge
from tdxquote.verification import PolicyError

OTHER_MR_TD = "00" * 48


@pytest.fixture(scope="module")
def made() -> ForgedCertificate:
    return RaTlsForge.create(b"tdxquote options tests").certificate(issuer="kms")


def _verifier(made: ForgedCertificate) -> DcapVerifier:
    return DcapVerifier(made.collateral(), trust_root=made.scenario.trust_root_der, now=made.now)


def _run(coroutine: Any) -> VerificationResult:
    return asyncio.run(coroutine)  # type: ignore[no-any-return]


# --- the shapes an options object comes in -------------------------------------------------


def _as_dict(values: dict[str, Any]) -> Any:
    return dict(values)


def _as_namespace(values: dict[str, Any]) -> Any:
    return SimpleNamespace(**values)


def _as_dataclass(values: dict[str, Any]) -> Any:
    cls = dataclasses.make_dataclass("ForeignOptions", list(values))
    return cls(**values)


def _as_named_tuple(values: dict[str, Any]) -> Any:
    cls = NamedTuple("ForeignOptions", [(k, Any) for k in values])  # type: ignore[misc]
    return cls(**values)


def _as_plain_object(values: dict[str, Any]) -> Any:
    class ForeignOptions:
        def __init__(self) -> None:
            self.__dict__.update(values)

        def describe(self) -> str:  # a method is not an option
            return "foreign"

    return ForeignOptions()


def _as_class_attributes(values: dict[str, Any]) -> Any:
    # Attributes set on the class, not the instance: vars() is empty, the options are not.
    return type("ForeignOptions", (), dict(values))()


def _as_pydantic(values: dict[str, Any]) -> Any:
    pydantic = pytest.importorskip("pydantic")
    fields: dict[str, Any] = dict.fromkeys(values, (Any, ...))
    model = pydantic.create_model("ForeignOptions", **fields)
    return model(**values)


SHAPES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dict": _as_dict,
    "SimpleNamespace": _as_namespace,
    "dataclass": _as_dataclass,
    "NamedTuple": _as_named_tuple,
    "plain object": _as_plain_object,
    "class attributes": _as_class_attributes,
    "pydantic model": _as_pydantic,
}

MR_TD_SPELLINGS = sorted(k for k, v in OPTION_SPELLINGS.items() if v == "allowed_mr_td")


def test_the_mr_td_spellings_are_the_clients() -> None:
    # ours and ra_tls_verify/sqlx VerifyOptions; sqlx RaTlsOptions; prisma-ra-tls VerifyOptions
    assert MR_TD_SPELLINGS == ["allowedMrTd", "allowed_mr_td", "allowed_mrtds"]


# --- regression: unreadable options meant "no pin" ------------------------------------------


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("spelling", MR_TD_SPELLINGS)
def test_regression_every_spelling_and_shape_pins_the_mr_td(
    made: ForgedCertificate, shape: str, spelling: str
) -> None:
    verifier = _verifier(made)
    wrong = SHAPES[shape]({spelling: [OTHER_MR_TD]})
    with pytest.raises(PolicyError) as info:
        _run(verifier.verify(made.leaf_der, wrong))
    assert info.value.rule == "allowed_mr_td"
    right = SHAPES[shape]({spelling: ["0x" + made.quote.body.mr_td.hex().upper()]})
    assert _run(verifier.verify(made.leaf_der, right)).mr_td == made.quote.body.mr_td.hex()


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("misspelled", ["allowed_mrtd", "allowed_mr_tds", "allowedMrtd", "mrtds"])
def test_regression_an_unknown_option_is_a_type_error(
    made: ForgedCertificate, shape: str, misspelled: str
) -> None:
    options = SHAPES[shape]({misspelled: [OTHER_MR_TD]})
    with pytest.raises(TypeError, match=f"unknown option '{misspelled}'"):
        _run(_verifier(made).verify(made.leaf_der, options))


@pytest.mark.parametrize(
    ("misspelled", "field"),
    [
        ("allowed_mrtd", "allowed_mr_td"),
        ("allowedMrtd", "allowed_mr_td"),
        ("allow_debug", "allow_debug_mode"),
        ("expected_events", "expect_events"),
    ],
)
def test_unknown_options_name_the_closest_spelling(misspelled: str, field: str) -> None:
    with pytest.raises(TypeError, match="did you mean") as info:
        VerifyOptions.coerce(SimpleNamespace(**{misspelled: None}))
    suggested = re.search(r"did you mean '(\w+)'", str(info.value))
    assert suggested is not None
    assert OPTION_SPELLINGS[suggested.group(1)] == field


@pytest.mark.parametrize("name", sorted(CONNECTION_OPTION_NAMES))
def test_connection_options_are_refused_with_a_pointer(name: str) -> None:
    with pytest.raises(TypeError, match=f"'{name}' is an option of the TeeSQL connection"):
        VerifyOptions.coerce({name: False})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("allowed_mr_td", "got str"),
        (42, "got int"),
        ([("allowed_mr_td", [])], "got list"),
        (VerifyOptions, "got type"),
        (object(), "got object"),
    ],
)
def test_what_is_not_an_options_object_is_a_type_error(options: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        VerifyOptions.coerce(options)


def test_a_key_given_twice_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="allowed_mr_td is given twice"):
        VerifyOptions.coerce({"allowed_mr_td": [], "allowedMrTd": [OTHER_MR_TD]})
    with pytest.raises(TypeError, match="keys are text"):
        VerifyOptions.coerce({1: []})


def test_an_option_that_cannot_be_read_is_a_type_error() -> None:
    class Broken:
        @property
        def allowed_mr_td(self) -> list[str]:
            raise RuntimeError("no network")

    with pytest.raises(TypeError, match="cannot read 'allowed_mr_td': no network"):
        VerifyOptions.coerce(Broken())


# --- values ----------------------------------------------------------------------------------

BAD_VALUES: list[tuple[str, object, type[Exception], str]] = [
    ("allowed_mr_td", OTHER_MR_TD, TypeError, "wrap a single value in a list"),
    ("allowedMrTd", 7, TypeError, "expected a list of MRTDs, got int"),
    ("allowed_mrtds", [7], TypeError, "an MRTD is hex text or bytes"),
    ("allowed_mr_td", ["91eb2b44"], ValueError, "expected 48 bytes"),
    ("allowed_mr_td", ["zz" * 48], ValueError, "is not hex"),
    ("allow_debug_mode", "false", TypeError, "expected True or False, got str"),
    ("allowDebugMode", 0, TypeError, "expected True or False, got int"),
    ("require_key_binding", None, TypeError, "expected True or False"),
    ("allowed_tcb_statuses", "UpToDate", TypeError, "wrap a single value"),
    ("allowed_tcb_statuses", ["UptoDate"], ValueError, "unknown TCB status 'UptoDate'"),
    ("allowedTcbStatuses", [], ValueError, "accepts no server"),
    ("allowed_tcb_statuses", [1], TypeError, "a TCB status is text"),
    ("expect_events", ["compose-hash"], TypeError, "expected a mapping"),
    ("expectEvents", {"compose-hash": "c143"}, ValueError, "expected 32 bytes"),
]


@pytest.mark.parametrize(("key", "value", "error", "message"), BAD_VALUES)
def test_a_wrong_value_names_the_option(
    key: str, value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=re.escape(message)) as info:
        VerifyOptions.coerce({key: value})
    assert key in str(info.value)
    target = OPTION_SPELLINGS[key]
    with pytest.raises(error, match=re.escape(message)):
        VerifyOptions(**{target: value})  # the dataclass checks its own fields too


GOOD_VALUES: dict[str, list[object]] = {
    "allowed_mr_td": [[], None, ["AB" * 48], [b"\xab" * 48, " 0x" + "cd" * 48 + "\n"]],
    "allow_debug_mode": [True, False],
    "allowed_tcb_statuses": [["OutOfDate"], [TcbStatus.UP_TO_DATE, "SWHardeningNeeded"]],
    "require_key_binding": [True, False],
    "expect_events": [None, {}, {"compose-hash": DEFAULT_COMPOSE_HASH.hex()}],
    "allowed_mr_aggregated": [[], None, ["0x" + "AB" * 32], [b"\xab" * 32]],
}


@pytest.mark.parametrize("spelling", sorted(OPTION_SPELLINGS))
def test_every_spelling_reads_as_its_field(spelling: str) -> None:
    target = OPTION_SPELLINGS[spelling]
    for value in GOOD_VALUES[target]:
        coerced = VerifyOptions.coerce({spelling: value})
        assert coerced == VerifyOptions(**{target: value})
        assert coerced == VerifyOptions.coerce(SimpleNamespace(**{spelling: value}))


def test_values_are_stored_normalised() -> None:
    options = VerifyOptions(
        allowed_mr_td=["0X" + "AB" * 48, b"\xcd" * 48],
        allowed_tcb_statuses=[TcbStatus.OUT_OF_DATE],
        expect_events={"compose-hash": "0x" + DEFAULT_COMPOSE_HASH.hex().upper()},
    )
    assert options.allowed_mr_td == ("ab" * 48, "cd" * 48)
    assert options.allowed_tcb_statuses == ("OutOfDate",)
    assert options.expect_events == {"compose-hash": (DEFAULT_COMPOSE_HASH,)}
    assert VerifyOptions.coerce(options) is options
    assert VerifyOptions.coerce(None) == VerifyOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.allow_debug_mode = True  # type: ignore[misc]
    assert hash(options) == hash(dataclasses.replace(options))


def test_teesqls_own_options_object_still_works(made: ForgedCertificate) -> None:
    # What psycopg-ra-tls passes by default: ra_tls_verify.VerifyOptions() with its two fields.
    @dataclasses.dataclass
    class TeeSqlVerifyOptions:
        allowed_mr_td: list[str] = dataclasses.field(default_factory=list)
        allow_debug_mode: bool = False

    assert _run(_verifier(made).verify(made.leaf_der, TeeSqlVerifyOptions())).key_binding
    pinned = TeeSqlVerifyOptions(allowed_mr_td=[OTHER_MR_TD])
    with pytest.raises(PolicyError, match="not in the allowlist"):
        _run(_verifier(made).verify(made.leaf_der, pinned))


def test_every_entry_point_reads_the_options_first(made: ForgedCertificate) -> None:
    def fetch(_: object) -> Any:
        raise AssertionError("collateral fetched before the options were read")

    verifier = DcapVerifier(fetch, trust_root=made.scenario.trust_root_der, now=made.now)
    bad = {"allowed_mrtd": [OTHER_MR_TD]}
    quote = made.quote.to_bytes()
    for call in (
        lambda: _run(verifier.verify(made.leaf_der, bad)),
        lambda: _run(verifier.verify(quote, bad)),
        lambda: _run(verifier.verify_cert(made.chain_der, bad)),
        lambda: _run(verifier.verify_with_pubkey(quote, bad, made.leaf_der)),
        lambda: verifier.verify_with_collateral(quote, made.collateral(), made.now, bad),
    ):
        with pytest.raises(TypeError, match="allowed_mrtd"):
            call()


# --- properties --------------------------------------------------------------------------------

_KNOWN = set(OPTION_SPELLINGS) | CONNECTION_OPTION_NAMES


@given(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,30}", fullmatch=True).filter(lambda k: k not in _KNOWN)
)
def test_any_unknown_key_is_a_type_error_naming_it(key: str) -> None:
    for shape in (_as_dict, _as_namespace):
        with pytest.raises(TypeError, match=f"unknown option '{key}'"):
            VerifyOptions.coerce(shape({"allowed_mr_td": [OTHER_MR_TD], key: True}))


@given(
    st.sampled_from(MR_TD_SPELLINGS),
    st.lists(st.binary(min_size=48, max_size=48), max_size=4),
    st.sampled_from(["lower", "upper", "0x", "bytes"]),
)
def test_any_mr_td_spelling_round_trips(spelling: str, values: list[bytes], style: str) -> None:
    written: list[object] = [
        v
        if style == "bytes"
        else "0x" + v.hex()
        if style == "0x"
        else v.hex().upper()
        if style == "upper"
        else v.hex()
        for v in values
    ]
    options = VerifyOptions.coerce({spelling: written})
    assert options.allowed_mr_td == tuple(v.hex() for v in values)


# --- the documentation lists every spelling -----------------------------------------------------


def test_docs_list_every_accepted_spelling() -> None:
    text = (REPO_ROOT / "docs" / "ra-tls.md").read_text(encoding="utf-8")
    missing = [
        name for name in (*OPTION_SPELLINGS, *CONNECTION_OPTION_NAMES) if f"`{name}`" not in text
    ]
    assert not missing, f"docs/ra-tls.md does not name: {missing}"
