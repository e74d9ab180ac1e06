"""The real-world corpus (``realworld/`` of the shared vectors), read in place.

``quotes.json`` indexes 250 quotes (raw binary ``.dat`` files); collateral sets
are ``<repo>/collateral/*.v3.json`` (found with the quotes) and
``pooled/set_*.v3.json`` (real items combined).  A set belongs with the quotes
of its TEE, FMSPC and PCK CA: what ``bundle_parameters`` reads from the set and
``CollateralParameters.from_quote`` from the quote.  ``SOURCE.md`` files list
explicit cases (quote, collateral, times) in a "Cases" table.

dcap-qvl is the second opinion (:func:`dcap_qvl_verdict`); :func:`adjudicate`
compares it with tdxquote, following Intel's QVL where the two differ
(``../shared/reference/qvl-adjudication.md``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from conftest import shared_vectors_dir

from tdxquote import Collateral, QuoteParseError, parse_quote
from tdxquote._flags import TdAttributes
from tdxquote._quote import Quote
from tdxquote._reports import SgxReport
from tdxquote.collateral import TcbStatus
from tdxquote.collateral._source import bundle_parameters
from tdxquote.collateral.pcs import CollateralParameters
from tdxquote.errors import CollateralFormatError, VerificationError
from tdxquote.verification import Policy, VerifiedQuote, Verifier

__all__ = [
    "PERMISSIVE",
    "Case",
    "CollateralSet",
    "Corpus",
    "Outcome",
    "adjudicate",
    "corpus",
    "dcap_qvl_verdict",
    "verify",
]

PERMISSIVE = (
    Policy().allow_statuses(*TcbStatus).unsafe_allow_debug().unsafe_allow_expired_collateral()
)
"""Every DCAP verdict is returned (Intel's QvE result), not refused by tdxquote's policy."""


@dataclass(frozen=True)
class CollateralSet:
    """One explicit collateral set: its id (path under ``realworld/``), text and model."""

    id: str
    text: str
    collateral: Collateral | None
    error: CollateralFormatError | None

    @cached_property
    def parameters(self) -> CollateralParameters | None:
        return None if self.collateral is None else bundle_parameters(self.collateral)

    @cached_property
    def mid_time(self) -> int:
        """The middle of the window where TCB Info, QE identity and both CRLs are all current."""
        assert self.collateral is not None
        c = self.collateral
        starts = [c.tcb_info.issue_date, c.qe_identity.issue_date]
        ends = [c.tcb_info.next_update, c.qe_identity.next_update]
        for crl in (c.pck_crl, c.root_ca_crl):
            starts.append(crl.last_update_utc)
            assert crl.next_update_utc is not None
            ends.append(crl.next_update_utc)
        return int((max(starts).timestamp() + min(ends).timestamp()) // 2)

    @cached_property
    def text_without_pck_chain(self) -> str:
        """The set without its ``pck_certificate_chain``: what a type-5 quote is verified with."""
        document = json.loads(self.text)
        document.pop("pck_certificate_chain", None)
        return json.dumps(document)


@dataclass(frozen=True)
class Case:
    """A row of a ``SOURCE.md`` "Cases" table: a quote, its collateral, the times to try."""

    name: str
    quote_path: Path
    collateral_id: str
    times: tuple[int, ...]
    expects: str


@dataclass(frozen=True)
class Corpus:
    root: Path
    index: tuple[dict[str, Any], ...]

    def quote_bytes(self, quote_id: str) -> bytes:
        return (self.root / quote_id).read_bytes()

    @cached_property
    def entries(self) -> dict[str, dict[str, Any]]:
        return {entry["id"]: entry for entry in self.index}

    @cached_property
    def parsed(self) -> dict[str, Quote | QuoteParseError]:
        """Every quote parsed, or the parse error (anything else propagates)."""
        out: dict[str, Quote | QuoteParseError] = {}
        for entry in self.index:
            try:
                out[entry["id"]] = parse_quote(self.quote_bytes(entry["file"]))
            except QuoteParseError as exc:
                out[entry["id"]] = exc
        return out

    @cached_property
    def parameters(self) -> dict[str, CollateralParameters]:
        """The collateral parameters of every quote that has them."""
        out: dict[str, CollateralParameters] = {}
        for quote_id, quote in self.parsed.items():
            if isinstance(quote, Quote):
                with contextlib.suppress(VerificationError):
                    out[quote_id] = CollateralParameters.from_quote(quote)
        return out

    @cached_property
    def set_ids(self) -> tuple[str, ...]:
        found = sorted(self.root.glob("*/collateral/*.v3.json"))
        found += sorted(self.root.glob("pooled/set_*.v3.json"))
        return tuple(path.relative_to(self.root).as_posix() for path in found)

    @cached_property
    def sets(self) -> dict[str, CollateralSet]:
        out = {}
        for set_id in self.set_ids:
            text = (self.root / set_id).read_text(encoding="utf-8")
            try:
                out[set_id] = CollateralSet(set_id, text, Collateral.from_json(text), None)
            except CollateralFormatError as exc:
                out[set_id] = CollateralSet(set_id, text, None, exc)
        return out

    def quotes_for(self, collateral_set: CollateralSet) -> list[str]:
        """The quotes a set belongs with: same TEE, FMSPC and PCK CA."""
        wanted = collateral_set.parameters
        return [q for q, params in self.parameters.items() if params == wanted]

    @cached_property
    def cases(self) -> tuple[Case, ...]:
        return tuple(_cases(self.root))


_CASE_ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*`([^`]+)`\s*\|\s*`([^`]+)`\s*\|([^|]*)\|(.*)\|\s*$")


def _cases(root: Path) -> list[Case]:
    cases = []
    for source in sorted(root.glob("*/SOURCE.md")):
        text = source.read_text(encoding="utf-8")
        if "### Cases" not in text:
            continue
        for line in text.split("### Cases", 1)[1].splitlines():
            match = _CASE_ROW.match(line)
            if match is None or match.group(1) == "case":
                continue
            name, quote, collateral, times, expects = match.groups()
            cases.append(
                Case(
                    name=name,
                    quote_path=(root / quote).resolve(),
                    collateral_id=f"{source.parent.name}/collateral/{collateral}",
                    times=tuple(sorted({int(t) for t in re.findall(r"\b\d{10}\b", times)})),
                    expects=expects.strip(),
                )
            )
    return cases


def corpus() -> Corpus | None:
    """The corpus, or None when the shared vectors are absent."""
    vectors = shared_vectors_dir()
    if vectors is None or not (vectors / "realworld" / "quotes.json").is_file():
        return None
    root = vectors / "realworld"
    index = json.loads((root / "quotes.json").read_text(encoding="utf-8"))
    return Corpus(root, tuple(index))


def load_quote_file(path: Path) -> bytes:
    """A quote file as raw bytes (the dcap-qvl vectors referenced by cases may be hex text)."""
    data = path.read_bytes()
    try:
        parse_quote(data)
    except QuoteParseError:
        return bytes.fromhex(data.decode("ascii").strip().removeprefix("0x"))
    return data


# --- verdicts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """tdxquote's verdict or its refusal (a :class:`VerificationError`), nothing else."""

    verdict: VerifiedQuote | None
    error: VerificationError | None

    @property
    def status(self) -> str | None:
        return None if self.verdict is None else str(self.verdict.status)

    @property
    def advisories(self) -> frozenset[str]:
        return frozenset() if self.verdict is None else frozenset(self.verdict.advisory_ids)


def verify(verifier: Verifier, quote: Quote, collateral: Collateral, now: int) -> Outcome:
    """Verify with the permissive policy; only a verdict or a VerificationError may come out."""
    try:
        return Outcome(verifier.verify(quote, collateral, now=now, policy=PERMISSIVE), None)
    except VerificationError as error:
        return Outcome(None, error)


@dataclass(frozen=True)
class DcapQvl:
    """dcap-qvl's answer: a status and advisories, or the text of its refusal."""

    status: str | None
    advisories: frozenset[str]
    error: str | None


def dcap_qvl_verdict(data: bytes, collateral_json: str, now: int) -> DcapQvl:
    import dcap_qvl

    try:
        report = dcap_qvl.verify(data, dcap_qvl.QuoteCollateralV3.from_json(collateral_json), now)
    except Exception as exc:  # dcap-qvl raises ValueError("Verification failed: ...")
        return DcapQvl(None, frozenset(), str(exc))
    return DcapQvl(report.status, frozenset(report.advisory_ids), None)


def _td_body(quote: Quote) -> Any:
    return None if isinstance(quote.body, SgxReport) else quote.body


# dcap-qvl's refusals where Intel's QVL gives a verdict, each with the fact on the inputs that
# makes the rule apply (so a refusal for another reason is never excused).
_Applies = Callable[[Quote, Collateral, int, Outcome], bool]
_DCAP_QVL_DEPARTURES: tuple[tuple[str, str, _Applies], ...] = (
    (
        "missing field `sgxtcbcomponents`",
        "dcap-qvl cannot decode TCB Info version 2; Intel's QVL reads it",
        lambda quote, collateral, now, ours: collateral.tcb_info.version == 2,
    ),
    (
        "SEPT_VE_DISABLE is not enabled",
        "a dcap-qvl rule Intel's QVL does not have",
        lambda quote, collateral, now, ours: (
            _td_body(quote) is not None
            and not _td_body(quote).td_attributes_flags & TdAttributes.SEPT_VE_DISABLE
        ),
    ),
    (
        "Invalid MR service TD",
        "a dcap-qvl rule Intel's QVL does not have",
        lambda quote, collateral, now, ours: (
            _td_body(quote) is not None and any(getattr(_td_body(quote), "mr_service_td", b""))
        ),
    ),
    (
        "Debug mode is enabled",
        "Intel's QVL reports a debug TD or enclave (the caller's policy refuses it)",
        lambda quote, collateral, now, ours: quote.body.is_debug,
    ),
    (
        "CertNotValidYet",
        "Intel's QVL never compares a certificate's notBefore with the time",
        lambda quote, collateral, now, ours: any(
            cert.not_valid_before_utc > datetime.fromtimestamp(now, timezone.utc)
            for cert in quote.pck_chain
        ),
    ),
    (
        "xpired",
        "Intel's QvE flags expired collateral and returns the verdict (policy refuses it)",
        lambda quote, collateral, now, ours: (
            ours.verdict is not None and ours.verdict.collateral_expired
        ),
    ),
)


def adjudicate(
    quote: Quote, collateral: Collateral, now: int, ours: Outcome, theirs: DcapQvl
) -> str | None:
    """Why tdxquote and dcap-qvl disagree in a way Intel's QVL does not excuse (None: they agree).

    Both verdicts: the same status and advisory IDs (as a set: Intel sorts
    them).  Both refused: agreed, whatever each names.  dcap-qvl's verdict and
    tdxquote's refusal: never excused.  dcap-qvl's refusal and tdxquote's
    verdict: only for a known dcap-qvl departure from Intel whose condition holds.
    """
    if theirs.error is None:
        if ours.verdict is None:
            assert ours.error is not None
            return f"dcap-qvl: {theirs.status}; tdxquote refused: {ours.error.code}: {ours.error}"
        if ours.status != theirs.status or ours.advisories != theirs.advisories:
            return (
                f"dcap-qvl: {theirs.status} {sorted(theirs.advisories)}; "
                f"tdxquote: {ours.status} {sorted(ours.advisories)}"
            )
        return None
    if ours.verdict is None:
        return None
    for fragment, _why, applies in _DCAP_QVL_DEPARTURES:
        if fragment in theirs.error and applies(quote, collateral, now, ours):
            return None
    return f"dcap-qvl refused ({theirs.error[:200]}); tdxquote: {ours.status}"


def latest_not_before(quote: Quote) -> int:
    """One second after the latest notBefore of the quote's PCK chain."""
    return max(int(cert.not_valid_before_utc.timestamp()) for cert in quote.pck_chain) + 1
