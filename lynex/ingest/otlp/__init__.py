"""OpenTelemetry (OTLP/HTTP) traces → Lynex spans. Pure: bytes in, a validated batch out.

OTLP traffic gets exactly the validation, idempotency and durability of ``POST /v1/ingest``:
converted spans must pass the native validation of ``decode_batch``. Converting costs ~20 µs per
span, ten times a native span's validation, so the request path does not convert: it checks what
can refuse a converted span (its ids, and the native time rules on its start and end) and logs
the protobuf as is; enrichment converts it (``records``). The converter guards every other field
the native validation constrains (label lengths, kinds, non-negative numbers), except tags:
requests carrying ``tag.tags`` take the convert-then-validate path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from lynex.ingest.decode import (
    JSON, MAX_EPOCH_MS, MIN_EPOCH_MS, OTLP, BodyError, DecodedBatch, check_times, decode_batch,
)
from lynex.ingest.otlp.convert import Converted, convert_request, id_problem, ms
from lynex.ingest.otlp.records import spans_of, split_request
from lynex.ingest.otlp.wire import PROTOBUF, otlp_format, parse_request
from lynex.models import Rejection, Span

__all__ = ["OtlpBatch", "decode_otlp", "otlp_format", "PROTOBUF", "JSON"]

_encode = msgspec.json.encode
_AT_INDEX = re.compile(r"^spans\[\d+\]\.?")
_MESSAGE_REASONS = 5  # how many reasons the partial_success error_message quotes
# The one mapped attribute whose value the converter passes on unchecked: a tag longer than a
# label is refused by the native validation, so such requests are converted on the request path.
_UNGUARDED_KEY = b"tag.tags"
# Unix nanos a millisecond inside the native time range: start and end in order between these
# pass ``check_times`` whatever its rounding (the usual case, settled in one chained comparison).
_EARLIEST_NS = (MIN_EPOCH_MS + 1) * 1_000_000
_LATEST_NS = (MAX_EPOCH_MS - 1) * 1_000_000


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


def _too_many(total: int, max_spans: int) -> BodyError:
    return BodyError(413, f"{total} spans in one request; the limit is {max_spans} "
                          "(max_batch_spans): lower the exporter's batch size")


def decode_otlp(body: bytes, fmt: str, max_spans: int) -> OtlpBatch:
    """A decompressed OTLP body → validated Lynex spans; BodyError for body-level problems."""
    request = parse_request(body, fmt)
    protobuf = body if fmt == PROTOBUF else request.SerializeToString()
    if _UNGUARDED_KEY in protobuf:  # rare (OpenInference tags): a false alarm only costs speed
        return convert_and_validate(request, max_spans)
    return screen(request, protobuf, max_spans)


def screen(request, protobuf: bytes, max_spans: int) -> OtlpBatch:
    """The answer ``convert_and_validate`` gives (when no tag is over-long), logging OTLP instead of JSON."""
    reasons: list[str] = []  # the converter's refusals, then the native validation's (as before)
    late: list[Rejection] = []
    accepted: list[tuple[int, Span, None]] = []
    kept: list[int] = []  # request positions of the accepted spans
    converted = 0
    for position, pb in enumerate(spans_of(request)):
        span_id = pb.span_id.hex()
        problem = id_problem(pb.trace_id, pb.span_id)
        if problem:
            reasons.append(f"span {span_id or '?'}: {problem}")
            continue
        start, end = pb.start_time_unix_nano, pb.end_time_unix_nano
        problem = None if _EARLIEST_NS <= start <= end < _LATEST_NS else check_times(ms(start), ms(end))
        if problem:
            late.append(Rejection(converted, span_id, f"spans[{converted}].{problem}"))
        else:
            accepted.append((converted, Span(id=span_id), None))
            kept.append(position)
        converted += 1
    total = len(reasons) + converted
    if total > max_spans:
        raise _too_many(total, max_spans)
    reasons += [f"span {r.id}: {_AT_INDEX.sub('', r.error)}" for r in late]
    if not converted:
        return OtlpBatch(None, total, reasons)
    if not reasons:  # the usual case: the body is logged whole
        return OtlpBatch(DecodedBatch(OTLP, accepted, [], protobuf), total, reasons)
    raws = split_request(protobuf)
    accepted = [(index, span, raws[position]) for (index, span, _), position in zip(accepted, kept)]
    return OtlpBatch(DecodedBatch(OTLP, accepted, late), total, reasons)


def convert_and_validate(request, max_spans: int) -> OtlpBatch:
    """Convert every span and run the native validation over the result (spans logged as JSON)."""
    converted: Converted = convert_request(request)
    if converted.total > max_spans:
        raise _too_many(converted.total, max_spans)
    reasons = [f"span {span_id or '?'}: {error.split(': ', 1)[-1]}" for _, span_id, error in converted.rejected]
    if not converted.spans:
        return OtlpBatch(None, converted.total, reasons)
    batch = decode_batch(_encode({"spans": converted.spans}), JSON, max_spans)
    reasons += [f"span {r.id or '?'}: {_AT_INDEX.sub('', r.error)}" for r in batch.rejected]
    return OtlpBatch(batch, converted.total, reasons)
