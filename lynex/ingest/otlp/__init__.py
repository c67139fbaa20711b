"""OpenTelemetry (OTLP/HTTP) traces → Lynex spans. Pure: bytes in, a validated batch out.

The converted spans go through the native ``decode_batch`` so OTLP traffic gets exactly the
validation, idempotency and durability of ``POST /v1/ingest``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from lynex.ingest.decode import JSON, BodyError, DecodedBatch, decode_batch
from lynex.ingest.otlp.convert import Converted, convert_request
from lynex.ingest.otlp.wire import PROTOBUF, otlp_format, parse_request

__all__ = ["OtlpBatch", "decode_otlp", "otlp_format", "PROTOBUF", "JSON"]

_encode = msgspec.json.encode
_AT_INDEX = re.compile(r"^spans\[\d+\]\.?")
_MESSAGE_REASONS = 5  # how many reasons the partial_success error_message quotes


@dataclass(frozen=True)
class OtlpBatch:
    """Spans ready for ``Pipeline.ingest`` plus what OTLP's partial_success must report."""

    batch: DecodedBatch | None  # None when nothing in the request was usable
    total: int
    reasons: list[str]

    @property
    def rejected(self) -> int:
        return len(self.reasons)

    def error_message(self) -> str:
        if not self.reasons:
            return ""
        shown = "; ".join(self.reasons[:_MESSAGE_REASONS])
        more = f" (and {len(self.reasons) - _MESSAGE_REASONS} more)" if len(self.reasons) > _MESSAGE_REASONS else ""
        return f"{len(self.reasons)} of {self.total} spans rejected: {shown}{more}"


def decode_otlp(body: bytes, fmt: str, max_spans: int) -> OtlpBatch:
    """A decompressed OTLP body → validated Lynex spans; BodyError for body-level problems."""
    converted: Converted = convert_request(parse_request(body, fmt))
    if converted.total > max_spans:
        raise BodyError(413, f"{converted.total} spans in one request; the limit is {max_spans} "
                             "(max_batch_spans): lower the exporter's batch size")
    reasons = [f"span {span_id or '?'}: {error.split(': ', 1)[-1]}" for _, span_id, error in converted.rejected]
    if not converted.spans:
        return OtlpBatch(None, converted.total, reasons)
    # The native validation of /v1/ingest over the converted spans; its refusals join the reasons.
    batch = decode_batch(_encode({"spans": converted.spans}), JSON, max_spans)
    reasons += [f"span {r.id or '?'}: {_AT_INDEX.sub('', r.error)}" for r in batch.rejected]
    return OtlpBatch(batch, converted.total, reasons)
