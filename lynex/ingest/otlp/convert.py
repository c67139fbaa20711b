"""OTLP trace data → Lynex span dicts (wire contract v1). Pure: a request in, spans out.

Ids stay the OTel ids in lower-case hex (trace 32 chars, span 16), so spans that different
services export separately stitch into one Lynex trace. Times are unix nanos → epoch ms.
Attributes the semantic-convention mappers (``semconv``) do not consume become metadata,
bounded by :data:`MAX_ATTRIBUTES`; what is cut is counted in ``metadata.otel.dropped_attributes``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from lynex.ingest.otlp import semconv
from lynex.ingest.otlp.attrs import attributes, span_attributes

log = logging.getLogger(__name__)

MAX_ATTRIBUTES = 128  # unmapped span attributes kept as metadata; the rest are counted, not kept
MAX_EVENTS = 32
MAX_LINKS = 32
MAX_RESOURCE_ATTRIBUTES = 32
_LABEL = 1024  # models.Label
_REF = 256  # models.RefId

_STATUS_ERROR = 2
_SPAN_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_LLM_KINDS = ("llm", "embedding")
_ZERO_TRACE, _ZERO_SPAN = bytes(16), bytes(8)
_NONE_USED: frozenset[int] = frozenset()
_EXACT_BELOW = float(1 << 52)  # doubles from here on are whole numbers: ``ms`` leaves them to round()
_LABELLED = (("model", _LABEL), ("provider", _LABEL), ("environment", _LABEL), ("release", _LABEL),
             ("session_id", _REF), ("user_id", _REF))


@dataclass
class Converted:
    """The spans of one request; ``rejected`` holds (index, span id, reason) for unusable spans."""

    spans: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[int, str | None, str]] = field(default_factory=list)
    total: int = 0


def _label(value: Any, limit: int = _LABEL) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit] if text else None


@dataclass(frozen=True)
class Resource:
    """What every span of one ResourceSpans shares."""

    environment: str | None
    release: str | None
    service: str | None
    attributes: dict[str, Any]

    @classmethod
    def from_pb(cls, resource: Any) -> "Resource":
        attrs = attributes(resource.attributes)
        env = attrs.pop("deployment.environment.name", None)
        env = attrs.pop("deployment.environment", None) or env
        release = attrs.pop("service.version", None)
        service = attrs.pop("service.name", None)
        kept = dict(list(attrs.items())[:MAX_RESOURCE_ATTRIBUTES])
        return cls(_label(env), _label(release), _label(service), kept)


def ms(nanos: int) -> float | None:
    """Unix nanos → epoch milliseconds as Lynex spans carry them (None for 0: unset).

    What ``round(nanos / 1e6, 3)`` gives (µs precision, as stored), without its slow decimal
    conversion: rounding half to even the exact µs value of ``nanos / 1e6``, then the double
    nearest that many thousandths. When the µs count as a double is below 2**52 and not a
    tie, its nearest integer is that rounding; otherwise exact integer arithmetic decides."""
    if not nanos:
        return None
    value = nanos / 1e6
    micros = value * 1000.0
    if micros < _EXACT_BELOW:
        whole = round(micros)
        if abs(micros - whole) != 0.5:
            return whole / 1000
    numerator, denominator = value.as_integer_ratio()
    whole, rest = divmod(numerator * 1000, denominator)
    if 2 * rest > denominator or (2 * rest == denominator and whole & 1):
        whole += 1
    return whole / 1000


def _error_from(events: list[tuple[str, dict]], status_message: str, attrs: dict) -> dict[str, str]:
    for name, body in events:
        if name == "exception":
            return {"type": _label(body.get("exception.type")) or "Exception",
                    "message": str(body.get("exception.message") or status_message or "")}
    return {"type": _label(attrs.get("error.type")) or "Error", "message": status_message or ""}


def id_problem(trace_id: bytes, span_id: bytes) -> str | None:
    """Why a span's ids make it unusable, or None (the only reasons ``convert_span`` refuses a span)."""
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "trace_id must be 16 bytes and not all zero"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "span_id must be 8 bytes and not all zero"
    return None


def convert_span(pb: Any, resource: Resource, scope: str | None) -> dict[str, Any]:
    """One OTLP Span → one Lynex span dict; raises ValueError for unusable ids."""
    trace_id, span_id = pb.trace_id, pb.span_id
    if len(trace_id) != 16 or len(span_id) != 8 or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        raise ValueError(id_problem(trace_id, span_id))
    # No None values go in (absent fields are left out), so the result needs no filtering pass.
    span: dict[str, Any] = {"id": span_id.hex(), "trace_id": trace_id.hex()}
    parent = pb.parent_span_id
    if len(parent) == 8 and parent != _ZERO_SPAN:
        span["parent_id"] = parent.hex()
    span["name"] = pb.name[:_LABEL] or "span"
    start, end = pb.start_time_unix_nano, pb.end_time_unix_nano
    if start:
        span["start_time"] = ms(start)
    if end:
        span["end_time"] = ms(end)
    attrs = span_attributes(pb.attributes)
    dropped = pb.dropped_attributes_count
    pb_events = pb.events
    events = [(e.name, attributes(e.attributes)) for e in pb_events[:MAX_EVENTS * 4]] if pb_events else []
    try:
        mask = attrs.mask()
        for mapper, families in semconv.MAPPERS:
            if mask & families:  # the call is skipped for a convention the span does not use
                mapper(attrs, span)
        used = set(semconv.content_from_events(events, span)) if events else _NONE_USED
    except Exception as exc:  # one odd attribute must not cost the span: keep it generic
        log.debug("semantic mapping failed for span %s", span["id"], exc_info=True)
        span = {k: span[k] for k in ("id", "trace_id", "parent_id", "name", "start_time", "end_time") if k in span}
        attrs = attributes(pb.attributes)
        attrs["lynex.mapping_error"] = f"{type(exc).__name__}: {exc}"[:_LABEL]
        used = _NONE_USED

    status = pb.status
    if status.code == _STATUS_ERROR:
        span["status"] = "error"
        span["error"] = _error_from(events, status.message, attrs)
        attrs.pop("error.type", None)
    kind = span.get("kind")
    if kind is None:
        kind = span["kind"] = "llm" if span.get("model") and span.get("input") is not None else "custom"
    if kind not in _LLM_KINDS and "usage" in span:  # tokens of wrapper spans would double-count
        span.setdefault("metadata", {})["usage"] = span.pop("usage")

    metadata = span.setdefault("metadata", {})
    if resource.service:
        metadata["service.name"] = resource.service
    room = max(0, MAX_ATTRIBUTES - len(metadata))
    if len(attrs) <= room and metadata.keys().isdisjoint(attrs.keys()):
        metadata.update(attrs)  # the usual case: what the loop below does, in one call
    else:
        for key, value in (attrs.items() if len(attrs) <= room else list(attrs.items())[:room]):
            metadata.setdefault(key, value)
        dropped += max(0, len(attrs) - room)
    otel: dict[str, Any] = {"span_kind": _SPAN_KINDS.get(pb.kind, "unspecified")}
    if scope:
        otel["scope"] = scope
    if resource.attributes:
        otel["resource"] = resource.attributes
    if len(events) > len(used):
        otel["events"] = [{"name": name, "time_ms": ms(pb_events[i].time_unix_nano), "attributes": body}
                          for i, (name, body) in enumerate(events) if i not in used][:MAX_EVENTS]
    if pb.links:
        otel["links"] = [{"trace_id": link.trace_id.hex(), "span_id": link.span_id.hex()}
                         for link in pb.links[:MAX_LINKS]]
    if dropped:
        otel["dropped_attributes"] = dropped
    dropped_events = pb.dropped_events_count
    if events:
        dropped_events += max(0, len(events) - len(used) - MAX_EVENTS) + max(0, len(pb_events) - len(events))
    if dropped_events:
        otel["dropped_events"] = dropped_events
    metadata["otel"] = otel

    if "environment" not in span and resource.environment is not None:
        span["environment"] = resource.environment
    if "release" not in span and resource.release is not None:
        span["release"] = resource.release
    for key, limit in _LABELLED:
        value = span.get(key)
        if value is None:
            continue
        if type(value) is str and 0 < len(value) <= limit:
            continue  # already a label: the usual case
        text = _label(value, limit)
        if text is None:
            del span[key]
        else:
            span[key] = text
    return span


def convert_request(request: Any) -> Converted:
    """An ``ExportTraceServiceRequest`` → spans in request order, unusable ones rejected."""
    out = Converted()
    index = 0
    for resource_spans in request.resource_spans:
        resource = Resource.from_pb(resource_spans.resource)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name or None
            for pb in scope_spans.spans:
                try:
                    out.spans.append(convert_span(pb, resource, scope))
                except ValueError as exc:
                    out.rejected.append((index, pb.span_id.hex() or None, f"spans[{index}]: {exc}"))
                index += 1
    out.total = index
    return out
