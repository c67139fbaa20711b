"""msgspec Structs of the wire contract v1, shared by ingest, storage and web."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Union

import msgspec

SpanId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
RefId = Annotated[str, msgspec.Meta(max_length=256)]
Label = Annotated[str, msgspec.Meta(max_length=1024)]
NonNegInt = Annotated[int, msgspec.Meta(ge=0)]
NonNegFloat = Annotated[float, msgspec.Meta(ge=0)]
# RFC 3339 string (datetime) or epoch milliseconds (number).
Timestamp = Union[dt.datetime, float, None]

SpanKind = Literal["llm", "tool", "retrieval", "embedding", "agent", "chain", "guardrail", "evaluator", "custom"]
SPAN_KINDS: tuple[str, ...] = SpanKind.__args__  # type: ignore[attr-defined]
SpanStatus = Literal["ok", "error"]

ERROR_CLASSES = ("rate_limit", "timeout", "context_length", "auth", "content_filter", "server",
                 "invalid_request", "other")


class Usage(msgspec.Struct, omit_defaults=True, gc=False):
    input_tokens: NonNegInt | None = None
    output_tokens: NonNegInt | None = None
    total_tokens: NonNegInt | None = None
    cached_tokens: NonNegInt | None = None
    reasoning_tokens: NonNegInt | None = None


class ErrorInfo(msgspec.Struct, omit_defaults=True, gc=False):
    type: Label | None = None
    message: str | None = None


class Span(msgspec.Struct, omit_defaults=True, gc=False):
    """One model call, tool call, retrieval or agent step, as a client sends it.

    ``gc=False``: decoded data cannot form reference cycles, and ingest makes ~20k of these a
    second; untracked, they never trigger or lengthen garbage-collection passes.
    """

    id: SpanId
    trace_id: RefId | None = None
    parent_id: RefId | None = None
    session_id: RefId | None = None
    user_id: RefId | None = None
    name: Label | None = None
    kind: SpanKind = "llm"
    start_time: Timestamp = None
    end_time: Timestamp = None
    latency_ms: NonNegFloat | None = None
    ttft_ms: NonNegFloat | None = None
    status: SpanStatus = "ok"
    error: ErrorInfo | None = None
    model: Label | None = None
    provider: Label | None = None
    input: Any = None
    output: Any = None
    usage: Usage | None = None
    cost_usd: NonNegFloat | None = None
    model_parameters: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    tags: list[Label] | None = None
    environment: Label | None = None
    release: Label | None = None
    prompt_name: Label | None = None
    prompt_version: int | None = None


class RawSpan(Span, omit_defaults=True, gc=False):
    """A Span whose payloads stay encoded (JSON or MessagePack bytes, empty when absent).

    Payloads are most of a span's bytes; keeping them raw skips building Python objects for
    them (the ingest request path validates them as well-formed, UTF-8 is checked per body)
    and lets enrichment copy them into Arrow as bytes.
    """

    input: msgspec.Raw = msgspec.Raw()
    output: msgspec.Raw = msgspec.Raw()
    model_parameters: msgspec.Raw = msgspec.Raw()
    metadata: msgspec.Raw = msgspec.Raw()


class Batch(msgspec.Struct):
    """The ingest body; spans stay raw so each can be validated (and rejected) on its own."""

    spans: list[msgspec.Raw]


class Rejection(msgspec.Struct, gc=False):
    index: int
    id: str | None
    error: str


class IngestResult(msgspec.Struct):
    accepted: int
    rejected: list[Rejection]
    duplicates: int = 0
