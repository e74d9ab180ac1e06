"""Intel's numeric verification results: ``sgx_ql_qv_result_t`` and ``quote3_error_t``.

Values from Intel's DCAP headers (``sgx_qve_header.h``: ``TEE_QV_MK_ERROR(x) =
0xA000 | x``; ``sgx_ql_lib_common.h``: ``TEE_MK_ERROR(x) = 0xE000 | x``).  No
imports beyond the standard library: the error tree and the verdict both use it.
"""

from __future__ import annotations

__all__ = ["QUOTE3_ERRORS", "QV_RESULT_UNSPECIFIED", "QvResult", "quote3_error_value"]


class QvResult:
    """Intel's ``sgx_ql_qv_result_t``: name and numeric value (``code`` in hex).

    Immutable, compared and hashed by value.  (A plain class, not a dataclass:
    the error tree imports it, and importing ``dataclasses`` costs more than
    the rest of ``tdxquote parse``'s start-up.)
    """

    __slots__ = ("name", "value")
    name: str
    value: int

    def __init__(self, name: str, value: int) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"QvResult is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"QvResult is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QvResult):
            return NotImplemented
        return (self.name, self.value) == (other.name, other.value)

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __repr__(self) -> str:
        return f"QvResult(name={self.name!r}, value={self.value!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (QvResult, (self.name, self.value))

    @property
    def code(self) -> str:
        """The value as Intel writes it, e.g. ``"0xA001"``."""
        return f"0x{self.value:04X}"

    def to_dict(self) -> dict[str, object]:
        """``{"name", "value", "code"}``, JSON-ready."""
        return {"name": self.name, "value": self.value, "code": self.code}


QV_RESULT_UNSPECIFIED = QvResult("SGX_QL_QV_RESULT_UNSPECIFIED", 0xA006)
"""What Intel's QvE reports for every terminal failure (the result is overwritten)."""

QUOTE3_ERRORS: dict[str, int] = {
    "SGX_QL_ERROR_UNEXPECTED": 0xE001,
    "SGX_QL_QUOTE_CERTIFICATION_DATA_UNSUPPORTED": 0xE01C,
    "SGX_QL_QUOTE_FORMAT_UNSUPPORTED": 0xE01D,
    "SGX_QL_QE_REPORT_INVALID_SIGNATURE": 0xE01F,
    "SGX_QL_QE_REPORT_UNSUPPORTED_FORMAT": 0xE020,
    "SGX_QL_PCK_CERT_UNSUPPORTED_FORMAT": 0xE021,
    "SGX_QL_PCK_CERT_CHAIN_ERROR": 0xE022,
    "SGX_QL_TCBINFO_UNSUPPORTED_FORMAT": 0xE023,
    "SGX_QL_TCBINFO_MISMATCH": 0xE024,
    "SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT": 0xE025,
    "SGX_QL_QEIDENTITY_MISMATCH": 0xE026,
    "SGX_QL_PCK_REVOKED": 0xE031,
    "SGX_QL_TCB_REVOKED": 0xE032,
    "SGX_QL_CRL_UNSUPPORTED_FORMAT": 0xE038,
    "SGX_QL_QEIDENTITY_CHAIN_ERROR": 0xE039,
    "SGX_QL_TCBINFO_CHAIN_ERROR": 0xE03A,
    "SGX_QL_TDX_MODULE_MISMATCH": 0xE060,
    "SGX_QL_TCB_NOT_SUPPORTED": 0xE066,
    "SGX_QL_RESULT_INVALID_SIGNATURE": 0xE068,
}
"""``quote3_error_t`` values the verification errors map to (name -> value)."""


def quote3_error_value(intel_error: str | None) -> int | None:
    """The ``quote3_error_t`` value of the ``SGX_QL_*`` name in ``intel_error``, if any."""
    if not intel_error:
        return None
    for token in intel_error.replace("/", " ").split():
        value = QUOTE3_ERRORS.get(token)
        if value is not None:
            return value
    return None
