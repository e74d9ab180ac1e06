"""The plain ``construct`` parse: the slow reference the fast parser is held to.

:func:`reference_fields` parses with the schemas alone and flattens the result
into the same field names the :class:`~tdxquote.Quote` API uses, so tests can
compare both parsers field by field.  Never use it on a hot path (about
100 times slower), and never ``compile()`` the schemas for untrusted input.
"""

from __future__ import annotations

import io
from typing import Any

import construct as c

from .errors import QuoteParseError
from .schema import BODY_DESCRIPTOR, BODY_SCHEMAS, BODY_TYPE_TD10, HEADER, QUOTE, TEE_TYPE_TDX
from .schema._layouts import RuleViolation

__all__ = ["reference_fields"]


def _plain(value: Any) -> Any:
    if isinstance(value, c.Container):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, c.ListContainer):
        return [_plain(v) for v in value]
    return value


def reference_fields(data: bytes) -> dict[str, Any]:
    """Parse ``data`` with the ``construct`` schema and return the public fields.

    Raises :class:`QuoteParseError` (with the stream position as ``offset``)
    for every malformed input.
    """
    stream = io.BytesIO(data)
    try:
        parsed = QUOTE.parse_stream(stream)
    except RuleViolation as exc:
        raise QuoteParseError(exc.reason, offset=stream.tell(), field=exc.field) from None
    except c.ConstructError as exc:
        path = getattr(exc, "path", None) or "quote"
        raise QuoteParseError(str(exc), offset=stream.tell(), field=str(path)) from None
    header = parsed.header
    signed = parsed.signed_data
    if header.version == 3:
        inner = signed
        qe_report_certification_type = None
    else:
        inner = signed.qe_report_certification_data
        qe_report_certification_type = signed.certification_data_type
    descriptor = parsed.body_descriptor
    signed_size = HEADER.sizeof() + (BODY_DESCRIPTOR.sizeof() if descriptor is not None else 0)
    signed_size += _body_schema(header.version, header.tee_type, descriptor).sizeof()
    return {
        "header": _plain(header),
        "body_type": None if descriptor is None else descriptor.body_type,
        "body": _plain(parsed.body),
        "signed_bytes": data[:signed_size],
        "signature": signed.signature,
        "attestation_key": signed.attestation_key,
        "qe_report": _plain(inner.qe_report),
        "qe_report_signature": inner.qe_report_signature,
        "qe_auth_data": inner.qe_auth_data,
        "qe_report_certification_type": qe_report_certification_type,
        "certification_data": (inner.certification_data.type, inner.certification_data.data),
        "trailing_bytes": parsed.trailing_bytes,
    }


def _body_schema(version: int, tee_type: int, descriptor: Any) -> Any:
    if descriptor is not None:
        return BODY_SCHEMAS[descriptor.body_type]
    return BODY_SCHEMAS[BODY_TYPE_TD10 if version == 4 and tee_type == TEE_TYPE_TDX else 1]
