"""Langfuse ingestion batches (SDK v2, ``POST /api/public/ingestion``) → Lynex span dicts. Pure.

Langfuse sends typed events: ``trace-create``, ``span-create``/``-update``,
``generation-create``/``-update``, ``event-create``, ``score-create`` (``observation-*`` and
``sdk-log`` from older SDKs too). Mapping:

- a trace becomes a root span (kind ``chain``) whose id is the trace id; observations without a
  parent observation hang under it, so the Langfuse tree is the Lynex tree;
- every event for one entity in a batch is merged in order (later non-null fields win,
  metadata dicts merge): a create and its update in one batch become one complete span;
- Lynex stores spans append-only, idempotent by id. An update (or a repeated ``trace-create``,
  Langfuse's upsert) for an entity *already stored* becomes a child "patch" span
  (``metadata.langfuse.update_of``), its id derived from the event ids so retries stay
  idempotent. Patches carry the new output, end time and usage in metadata, never a model, so
  they add no cost. A read-side merge of patches is the planned next step;
- a score becomes an ``evaluator`` span under its observation (or trace): there is no score
  store yet, the score sits in ``output`` and ``metadata.score``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

_OBSERVATION_EVENTS = {"span-create": "SPAN", "span-update": "SPAN", "generation-create": "GENERATION",
                       "generation-update": "GENERATION", "event-create": "EVENT",
                       "observation-create": None, "observation-update": None}
_KINDS = {"GENERATION": "llm", "SPAN": "chain", "EVENT": "custom", "AGENT": "agent", "TOOL": "tool",
          "CHAIN": "chain", "RETRIEVER": "retrieval", "EMBEDDING": "embedding", "EVALUATOR": "evaluator",
          "GUARDRAIL": "guardrail"}
_IGNORED = ("sdk-log",)


@dataclass
class EventError:
    id: str | None
    status: int
    message: str


@dataclass
class Converted:
    spans: list[dict[str, Any]] = field(default_factory=list)
    sources: list[list[str]] = field(default_factory=list)  # per span: the event ids it came from
    ok: list[str] = field(default_factory=list)  # event ids answered 201 without a span of their own
    errors: list[EventError] = field(default_factory=list)


@dataclass
class _Entity:
    kind: str  # "trace" | "observation"
    body: dict[str, Any]
    events: list[str]
    created: bool
    timestamp: str | None


def _merge(into: dict[str, Any], body: dict[str, Any]) -> None:
    for key, value in body.items():
        if value is None:
            continue
        if key == "metadata" and isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = {**into[key], **value}
        else:
            into[key] = value


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _usage(body: dict[str, Any]) -> tuple[dict[str, int], float | None]:
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    details = body.get("usageDetails") if isinstance(body.get("usageDetails"), dict) else {}
    costs = body.get("costDetails") if isinstance(body.get("costDetails"), dict) else {}

    def count(*values: Any) -> int | None:
        for value in values:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                return int(value)
        return None

    out = {
        "input_tokens": count(details.get("input"), usage.get("input"), usage.get("promptTokens")),
        "output_tokens": count(details.get("output"), usage.get("output"), usage.get("completionTokens")),
        "total_tokens": count(details.get("total"), usage.get("total"), usage.get("totalTokens")),
        "cached_tokens": count(details.get("cache_read_input_tokens"), details.get("input_cached_tokens")),
        "reasoning_tokens": count(details.get("output_reasoning_tokens"), details.get("reasoning_tokens")),
    }
    total = costs.get("total", usage.get("totalCost"))
    cost = float(total) if isinstance(total, (int, float)) and not isinstance(total, bool) and total >= 0 else None
    return {k: v for k, v in out.items() if v is not None}, cost


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return dict(value) if isinstance(value, dict) else {"metadata": value}


def trace_span(body: dict[str, Any], timestamp: str | None) -> dict[str, Any]:
    """A Langfuse trace → its root span."""
    meta = _metadata(body.get("metadata"))
    if body.get("version") is not None:
        meta["version"] = body["version"]
    return {
        "id": body["id"], "trace_id": body["id"], "name": body.get("name") or "trace", "kind": "chain",
        "start_time": body.get("timestamp") or timestamp, "session_id": body.get("sessionId"),
        "user_id": body.get("userId"), "input": body.get("input"), "output": body.get("output"),
        "metadata": meta or None, "tags": body.get("tags") or None, "release": body.get("release"),
        "environment": body.get("environment"),
    }


def observation_span(body: dict[str, Any], timestamp: str | None, trace: dict[str, Any] | None) -> dict[str, Any]:
    """A Langfuse observation (span, generation, event) → one span."""
    obs_type = str(body.get("type") or "SPAN").upper()
    kind = _KINDS.get(obs_type, "custom")
    trace_id = body.get("traceId")
    start = body.get("startTime") or timestamp
    end = body.get("endTime") or (start if obs_type == "EVENT" else None)
    meta = _metadata(body.get("metadata"))
    for key in ("version", "statusMessage"):
        if body.get(key) is not None:
            meta[key] = body[key]
    level = body.get("level")
    if level and level != "DEFAULT":
        meta["level"] = level
    usage, cost = _usage(body)
    span: dict[str, Any] = {
        "id": body["id"], "trace_id": trace_id, "parent_id": body.get("parentObservationId") or trace_id,
        "name": body.get("name") or obs_type.lower(), "kind": kind, "start_time": start, "end_time": end,
        "model": body.get("model"), "input": body.get("input"), "output": body.get("output"),
        "model_parameters": body.get("modelParameters") if isinstance(body.get("modelParameters"), dict) else None,
        "usage": usage or None, "cost_usd": cost, "metadata": meta or None,
        "environment": body.get("environment"), "prompt_name": body.get("promptName"),
        "prompt_version": body.get("promptVersion") if isinstance(body.get("promptVersion"), int) else None,
    }
    first, started = _time(body.get("completionStartTime")), _time(start)
    if first and started and first >= started:
        span["ttft_ms"] = (first - started).total_seconds() * 1000
    if level == "ERROR":
        span["status"] = "error"
        span["error"] = {"type": "Error", "message": str(body.get("statusMessage") or "")}
    if trace:  # a trace's session/user/release apply to its observations (Lynex filters per span)
        for key, source in (("session_id", "sessionId"), ("user_id", "userId"), ("release", "release")):
            if trace.get(source) and not span.get(key):
                span[key] = trace[source]
    return span


def score_span(body: dict[str, Any], event_id: str, timestamp: str | None) -> dict[str, Any]:
    """A score → an evaluator span under what it scores (no score store yet)."""
    value = body.get("value", body.get("stringValue"))
    score = {k: v for k, v in (("name", body.get("name")), ("value", value), ("data_type", body.get("dataType")),
                               ("comment", body.get("comment")), ("config_id", body.get("configId"))) if v is not None}
    return {
        "id": body.get("id") or event_id, "trace_id": body.get("traceId"),
        "parent_id": body.get("observationId") or body.get("traceId"),
        "name": f"score: {body.get('name') or 'score'}", "kind": "evaluator",
        "start_time": body.get("timestamp") or timestamp, "end_time": body.get("timestamp") or timestamp,
        "output": value, "metadata": {"score": score}, "environment": body.get("environment"),
    }


def patch_span(entity: _Entity, span: dict[str, Any]) -> dict[str, Any]:
    """An update to an already-stored entity → a child span carrying what changed."""
    digest = hashlib.sha256("|".join([span["id"], *entity.events]).encode()).hexdigest()[:32]
    changed = {k: v for k, v in entity.body.items() if k not in ("id", "traceId", "type")}
    meta = {"langfuse": {"update_of": span["id"], "event_ids": entity.events[:20], "fields": sorted(changed)}}
    if span.get("usage"):
        meta["usage"] = span["usage"]
    if span.get("cost_usd") is not None:
        meta["cost_usd"] = span["cost_usd"]
    return {
        "id": f"lfu-{digest}", "trace_id": span.get("trace_id"), "parent_id": span["id"],
        "name": f"{span.get('name') or 'update'} (update)"[:1024], "kind": "custom",
        "start_time": span.get("end_time") or entity.timestamp, "end_time": span.get("end_time"),
        "input": entity.body.get("input"), "output": entity.body.get("output"),
        "status": span.get("status", "ok"), "error": span.get("error"), "metadata": meta,
        "session_id": span.get("session_id"), "user_id": span.get("user_id"),
    }


def convert_batch(events: list[Any], is_stored: Callable[[str], bool] = lambda _id: False) -> Converted:
    """A Langfuse ``batch`` → spans (with the events behind each) and per-event errors."""
    out = Converted()
    entities: dict[tuple[str, str], _Entity] = {}
    scores: list[tuple[dict[str, Any], str, str | None]] = []
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            out.errors.append(EventError(None, 400, f"batch[{position}]: an event must be an object"))
            continue
        event_id = str(event.get("id") or f"batch[{position}]")
        kind, body, timestamp = event.get("type"), event.get("body"), event.get("timestamp")
        if kind in _IGNORED:
            out.ok.append(event_id)
            continue
        if not isinstance(body, dict):
            out.errors.append(EventError(event_id, 400, f"{kind or 'event'}: body must be an object"))
            continue
        if kind == "score-create":
            scores.append((body, event_id, timestamp))
            continue
        if kind != "trace-create" and kind not in _OBSERVATION_EVENTS:
            out.errors.append(EventError(event_id, 400, f"unsupported event type '{kind}'"))
            continue
        if not isinstance(body.get("id"), str) or not body["id"]:
            out.errors.append(EventError(event_id, 400, f"{kind}: body.id is required"))
            continue
        if kind != "trace-create" and _OBSERVATION_EVENTS[kind]:
            body = {**body, "type": body.get("type") or _OBSERVATION_EVENTS[kind]}
        key = ("trace" if kind == "trace-create" else "observation", body["id"])
        entity = entities.get(key)
        if entity is None:
            entity = entities[key] = _Entity(key[0], {}, [], False, timestamp)
        _merge(entity.body, body)
        entity.events.append(event_id)
        entity.created |= kind.endswith("-create")

    traces = {eid: e.body for (k, eid), e in entities.items() if k == "trace"}
    for (kind, entity_id), entity in entities.items():
        if kind == "trace":
            span = trace_span(entity.body, entity.timestamp)
            stored = is_stored(entity_id)  # a repeated trace-create is Langfuse's upsert
        else:
            span = observation_span(entity.body, entity.timestamp, traces.get(entity.body.get("traceId")))
            stored = not entity.created and is_stored(entity_id)
        out.spans.append(patch_span(entity, span) if stored else span)
        out.sources.append(entity.events)
    for body, event_id, timestamp in scores:
        span = score_span(body, event_id, timestamp)
        trace = traces.get(body.get("traceId")) or {}
        span.update({k: trace[s] for k, s in (("session_id", "sessionId"), ("user_id", "userId")) if trace.get(s)})
        out.spans.append(span)
        out.sources.append([event_id])
    out.spans = [{k: v for k, v in span.items() if v is not None} for span in out.spans]
    return out
