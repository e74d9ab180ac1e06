"""Intel-exact details where tdxquote had drifted (issue 9 §4, qvl-adjudication M1, M8).

* ``supplemental.root_key_id`` is SHA-384 over the root's 65-byte uncompressed
  point ``04 || X || Y`` (the QvE hashes the SPKI BIT STRING contents).
* ``advisory_ids`` are the platform, QE and module levels' advisories as one
  sorted set, as DCAP 1.25 reports them.
* Intel's numeric results: ``qv_result.code`` on the verdict; ``intel_error_code``
  (``quote3_error_t``) and ``qv_result`` on a refusal, where they map.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import pytest

from tdxquote import parse_quote
from tdxquote.collateral import Collateral, TcbStatus
from tdxquote.errors import VerificationError
from tdxquote.testing.forge import QuoteForge, td_report
from tdxquote.testing.pki import (
    DEFAULT_QE_ISVSVN,
    DEFAULT_TEE_TCB_SVN,
    isv_tcb_level,
    qe_identity,
    tcb_info,
    tcb_level,
    tdx_module_identity,
)
from tdxquote.verification import Policy, PolicyError, Verifier, intel_sgx_root_ca

SEED = b"test_verify_intel_exact"
INTEL_ROOT_KEY_ID = (
    "46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5"
    "dcf58eef31463613de1570d516200993"
)
ALL_STATUSES = Policy().allow_statuses(*TcbStatus)


def test_intel_root_key_id_is_sha384_of_the_uncompressed_point() -> None:
    root = intel_sgx_root_ca()
    assert root.key_id.hex().startswith("46e403bd")
    assert root.key_id.hex() == INTEL_ROOT_KEY_ID
    assert len(root.public_key_bytes) == 65
    assert root.public_key_bytes[0] == 4
    assert root.key_id == hashlib.sha384(root.public_key_bytes).digest()


def test_supplemental_root_key_id_of_a_real_quote(vectors: Path) -> None:
    quote = parse_quote((vectors / "dcap-qvl" / "tdx_quote").read_bytes())
    collateral = Collateral.from_json((vectors / "dcap-qvl/tdx_quote_collateral.json").read_bytes())
    verified = Verifier().verify(quote, collateral, now=1751624191)
    assert verified.supplemental.root_key_id.hex() == INTEL_ROOT_KEY_ID


def test_advisory_ids_sorted_and_unique_across_platform_qe_and_module() -> None:
    forge = QuoteForge.create(SEED)
    info = tcb_info(
        tcb_levels=[
            tcb_level(
                tdx=DEFAULT_TEE_TCB_SVN,
                status="SWHardeningNeeded",
                advisories=["INTEL-SA-00900", "INTEL-SA-00100", "INTEL-SA-00500"],
            )
        ],
        tdx_module_identities=[
            tdx_module_identity(
                tcb_levels=[isv_tcb_level(0, advisories=["INTEL-SA-00700", "INTEL-SA-00100"])]
            )
        ],
    )
    identity = qe_identity(
        tcb_levels=[
            isv_tcb_level(DEFAULT_QE_ISVSVN, advisories=["INTEL-SA-00500", "INTEL-SA-0003"])
        ]
    )
    scenario = forge.scenario(forge.quote(td_report()), tcb_info=info, qe_identity=identity)
    verified = Verifier(trust_root=scenario.trust_root_der).verify(
        scenario.quote_bytes, scenario.to_collateral(), now=scenario.now, policy=ALL_STATUSES
    )
    assert verified.module_tcb_level is not None
    assert verified.advisory_ids == (
        "INTEL-SA-0003",
        "INTEL-SA-00100",
        "INTEL-SA-00500",
        "INTEL-SA-00700",
        "INTEL-SA-00900",
    )


def test_verdict_carries_intels_numeric_result() -> None:
    scenario = QuoteForge.create(SEED).scenario()
    verified = Verifier(trust_root=scenario.trust_root_der).verify(
        scenario.quote_bytes, scenario.to_collateral(), now=scenario.now
    )
    assert (verified.qv_result.name, verified.qv_result.value) == ("SGX_QL_QV_RESULT_OK", 0)
    assert verified.qv_result.code == "0x0000"


@pytest.mark.parametrize(
    ("status", "code"),
    [("ConfigurationNeeded", "0xA001"), ("OutOfDate", "0xA002"), ("SWHardeningNeeded", "0xA007")],
)
def test_qv_result_codes_are_intels(status: str, code: str) -> None:
    forge = QuoteForge.create(SEED)
    scenario = forge.scenario(
        tcb_info=tcb_info(tcb_levels=[tcb_level(tdx=DEFAULT_TEE_TCB_SVN, status=status)])
    )
    verifier = Verifier(trust_root=scenario.trust_root_der)
    collateral = scenario.to_collateral()
    verified = verifier.verify(
        scenario.quote_bytes, collateral, now=scenario.now, policy=ALL_STATUSES
    )
    assert verified.qv_result.code == code
    # Refused by the default policy: the refusal carries the verdict's result, as Intel's
    # QvE reports the verdict and leaves acceptance to the caller.
    with pytest.raises(PolicyError) as caught:
        verifier.verify(scenario.quote_bytes, collateral, now=scenario.now)
    assert caught.value.qv_result == verified.qv_result
    assert caught.value.intel_error_code is None


def test_terminal_refusal_carries_quote3_error_and_unspecified() -> None:
    forge = QuoteForge.create(SEED)
    scenario = forge.scenario(
        tcb_info=tcb_info(tcb_levels=[tcb_level(tdx=DEFAULT_TEE_TCB_SVN, status="Revoked")])
    )
    with pytest.raises(VerificationError) as caught:
        Verifier(trust_root=scenario.trust_root_der).verify(
            scenario.quote_bytes, scenario.to_collateral(), now=scenario.now
        )
    error = caught.value
    assert error.code == "tcb_revoked"
    assert error.intel_error_code == 0xE032  # SGX_QL_TCB_REVOKED
    assert error.qv_result is not None
    assert (error.qv_result.name, error.qv_result.code) == (
        "SGX_QL_QV_RESULT_UNSPECIFIED",
        "0xA006",
    )
    again = pickle.loads(pickle.dumps(error))
    assert (again.code, again.intel_error_code, again.qv_result) == (
        error.code,
        error.intel_error_code,
        error.qv_result,
    )


def test_quote_signature_maps_to_invalid_signature() -> None:
    forge = QuoteForge.create(SEED)
    scenario = forge.scenario(forge.quote(bad_quote_signature=True))
    with pytest.raises(VerificationError) as caught:
        Verifier(trust_root=scenario.trust_root_der).verify(
            scenario.quote_bytes, scenario.to_collateral(), now=scenario.now
        )
    assert caught.value.intel_error_code == 0xE068  # SGX_QL_RESULT_INVALID_SIGNATURE
