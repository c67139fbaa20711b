"""Spans: the unit Lynex records. `span()` opens one as a context manager; `log()` records one in a call."""

from __future__ import annotations

import os
import random
import time
from datetime import datetime
from types import TracebackType
from typing import Any, Dict, Iterable, Mapping, Optional, Type, Union

from ._errors import guard
from .client import get_client
from .context import EMPTY_ATTRS, ContextAttrs, attrs_var, current_span_var, reset_var
from .serialize import to_jsonable, truncate

KINDS = frozenset({"llm", "tool", "retrieval", "embedding", "agent", "chain", "guardrail", "evaluator", "custom"})
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens", "cached_tokens", "reasoning_tokens")
_USAGE_ALIASES = {"prompt_tokens": "input_tokens", "completion_tokens": "output_tokens"}
MAX_ERROR_CHARS = 4000
MAX_NAME_CHARS = 1024

_rng = random.Random()
if hasattr(os, "register_at_fork"):
    # Ids are idempotency keys: a forked child must not repeat its parent's sequence.
    os.register_at_fork(after_in_child=_rng.seed)


def new_id() -> str:
    """A random 32-hex-digit id for spans and traces (client-generated, so redelivery is idempotent)."""
    return "%032x" % _rng.getrandbits(128)


class Span:
    """One operation being timed. Use its setters while it runs; `end()` (or leaving `with`) records it."""

    __slots__ = ("id", "trace_id", "parent_id", "name", "kind", "sampled", "recording", "start_time",
                 "_t0", "_fields", "_attrs", "_token", "_ended", "_capture_content", "_max_chars")
    id: str
    trace_id: str
    parent_id: Optional[str]
    sampled: bool

    def __init__(self, name: str = "span", kind: str = "custom", *, parent: "Optional[Span]" = None,
                 trace_id: Optional[str] = None, parent_id: Optional[str] = None,
                 span_id: Optional[str] = None) -> None:
        client = get_client()
        self.recording = client.enabled
        if parent is None and trace_id is None:
            parent = current_span_var.get()
        self.id = span_id or new_id()
        if parent is not None:
            self.trace_id = parent.trace_id
            self.parent_id = parent.id
            self.sampled = parent.sampled
        else:
            self.trace_id = trace_id or self.id
            self.parent_id = parent_id
            self.sampled = client.sample() if self.recording else False
        self.name = name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS]
        self.kind = kind if kind in KINDS else "custom"
        self.start_time = time.time()
        self._t0 = time.perf_counter()
        self._fields: Dict[str, Any] = {}
        self._attrs: ContextAttrs = attrs_var.get()
        self._token: Any = None
        self._ended = False
        self._capture_content = client.config.capture_content
        self._max_chars = client.config.max_string_chars

    # -- setters (all safe to call at any time; ignored after end) ------------------------------------

    def set_input(self, value: Any) -> None:
        """Record the input (prompt, arguments); dropped when capture_content=False."""
        if self._capture_content and self.recording and self.sampled:
            self._fields["input"] = to_jsonable(value, self._max_chars)

    def set_output(self, value: Any) -> None:
        """Record the output (response, return value); dropped when capture_content=False."""
        if self._capture_content and self.recording and self.sampled:
            self._fields["output"] = to_jsonable(value, self._max_chars)

    def set_usage(self, usage: Optional[Mapping[str, Any]] = None, **tokens: Any) -> None:
        """Record token usage: input_tokens, output_tokens, total_tokens, cached_tokens, reasoning_tokens."""
        merged = normalize_usage({**(usage or {}), **tokens})
        if merged:
            self._fields["usage"] = {**self._fields.get("usage", {}), **merged}

    def set_metadata(self, metadata: Optional[Mapping[str, Any]] = None, **values: Any) -> None:
        """Merge keys into the span's metadata."""
        if self.recording and self.sampled:
            meta = self._fields.setdefault("metadata", {})
            meta.update(to_jsonable({**(metadata or {}), **values}, self._max_chars))

    def set_error(self, error: Union[BaseException, str, Mapping[str, Any], None]) -> None:
        """Mark the span failed with an exception, a message, or {type, message}."""
        self._fields["status"] = "error"
        self._fields["error"] = normalize_error(error)

    def set_model(self, model: Optional[str], provider: Optional[str] = None) -> None:
        """Record the model (and provider) this span called."""
        if model is not None:
            self._fields["model"] = str(model)
        if provider is not None:
            self._fields["provider"] = str(provider)

    def update(self, **fields: Any) -> None:
        """Set any other wire field directly (ttft_ms, cost_usd, model_parameters, tags, prompt_name...)."""
        for key, value in fields.items():
            if key in ("input", "output") and not self._capture_content:
                continue
            self._fields[key] = to_jsonable(value, self._max_chars)

    # -- lifecycle ------------------------------------------------------------------------------------

    def end(self, end_time: Optional[float] = None) -> None:
        """Finish the span and hand it to the SDK (once; later calls do nothing)."""
        if self._ended:
            return
        self._ended = True
        if not self.recording:
            return
        with guard():
            latency_ms = (time.perf_counter() - self._t0) * 1000.0
            client = get_client()
            client.capture(self.to_wire(latency_ms, end_time), self.sampled)

    def to_wire(self, latency_ms: float, end_time: Optional[float] = None) -> Dict[str, Any]:
        """The span as a wire-contract dict."""
        end = end_time if end_time is not None else self.start_time + latency_ms / 1000.0
        wire: Dict[str, Any] = {
            "id": self.id, "trace_id": self.trace_id, "name": self.name, "kind": self.kind,
            "start_time": int(self.start_time * 1000), "end_time": int(end * 1000),
            "latency_ms": round(latency_ms, 3), "status": "ok",
        }
        if self.parent_id is not None:
            wire["parent_id"] = self.parent_id
        apply_attrs(wire, self._attrs)
        fields = self._fields
        if "metadata" in fields and "metadata" in wire:
            fields = {**fields, "metadata": {**wire["metadata"], **fields["metadata"]}}
        if "tags" in fields and "tags" in wire:
            fields = {**fields, "tags": list(dict.fromkeys(list(wire["tags"]) + list(fields["tags"])))}
        wire.update(fields)
        return wire

    def __enter__(self) -> "Span":
        with guard():
            self._token = current_span_var.set(self)
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        with guard():
            if self._token is not None:
                reset_var(current_span_var, self._token, None)
                self._token = None
            if exc is not None and not self._ended and self._fields.get("status") != "error":
                self.set_error(exc)
            self.end()

    async def __aenter__(self) -> "Span":
        return self.__enter__()

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        self.__exit__(exc_type, exc, tb)


def span(name: str, kind: str = "custom", **fields: Any) -> Span:
    """Open a child span of the current one: `with lynex_sdk.span("search", kind="retrieval") as s: ...`."""
    try:
        s = Span(name, kind)
        if fields:
            s.update(**fields)
        return s
    except Exception:  # a span object must always come back, even if recording failed
        return _dead_span(name)


def _dead_span(name: str) -> Span:
    s = Span.__new__(Span)
    s.id = s.trace_id = ""
    s.parent_id, s.name, s.kind, s.sampled, s.recording = None, name, "custom", False, False
    s.start_time, s._t0, s._fields, s._attrs, s._token = 0.0, 0.0, {}, EMPTY_ATTRS, None
    s._ended, s._capture_content, s._max_chars = False, False, 1000
    return s


def log(input: Any = None, output: Any = None, *, name: str = "llm", kind: str = "llm",
        model: Optional[str] = None, provider: Optional[str] = None, latency_ms: Optional[float] = None,
        ttft_ms: Optional[float] = None, start_time: Union[datetime, str, float, None] = None,
        end_time: Union[datetime, str, float, None] = None, usage: Optional[Mapping[str, Any]] = None,
        cost_usd: Optional[float] = None, error: Union[BaseException, str, Mapping[str, Any], None] = None,
        status: Optional[str] = None, metadata: Optional[Mapping[str, Any]] = None,
        model_parameters: Optional[Mapping[str, Any]] = None, tags: Optional[Iterable[str]] = None,
        session_id: Optional[str] = None, user_id: Optional[str] = None, trace_id: Optional[str] = None,
        parent_id: Optional[str] = None, id: Optional[str] = None, prompt_name: Optional[str] = None,
        prompt_version: Optional[int] = None) -> Optional[str]:
    """Record one finished LLM call (or any operation) in one call; returns its span id, or None if dropped.

    Times are datetimes, RFC 3339 strings or epoch milliseconds. Inside an observed function or span the
    event becomes its child unless trace_id/parent_id are given.
    """
    try:
        client = get_client()
        if not client.enabled:
            return None
        cfg = client.config
        parent = current_span_var.get() if trace_id is None and parent_id is None else None
        span_id = str(id) if id else new_id()
        if parent is not None:
            trace, parent_id, sampled = parent.trace_id, parent.id, parent.sampled
        else:
            trace, sampled = (str(trace_id) if trace_id else span_id), client.sample()
        if not sampled:
            client.capture({}, sampled=False)  # counted as dropped: sampled, before any conversion work
            return None
        wire: Dict[str, Any] = {"id": span_id, "trace_id": trace, "name": name[:MAX_NAME_CHARS],
                                "kind": kind if kind in KINDS else "custom"}
        if parent_id is not None:
            wire["parent_id"] = str(parent_id)
        if start_time is None and end_time is None:
            now_ms = int(time.time() * 1000)
            wire["end_time"] = now_ms
            wire["start_time"] = now_ms - int(latency_ms) if latency_ms is not None else now_ms
        else:
            if start_time is not None:
                wire["start_time"] = _wire_time(start_time)
            if end_time is not None:
                wire["end_time"] = _wire_time(end_time)
        if latency_ms is not None:
            wire["latency_ms"] = float(latency_ms)
        if ttft_ms is not None:
            wire["ttft_ms"] = float(ttft_ms)
        if error is not None:
            wire["status"], wire["error"] = "error", normalize_error(error)
        elif status is not None:
            wire["status"] = status
        if cfg.capture_content:
            if input is not None:
                wire["input"] = to_jsonable(input, cfg.max_string_chars)
            if output is not None:
                wire["output"] = to_jsonable(output, cfg.max_string_chars)
        for key, value in (("model", model), ("provider", provider), ("prompt_name", prompt_name)):
            if value is not None:
                wire[key] = str(value)
        if prompt_version is not None:
            wire["prompt_version"] = int(prompt_version)
        if usage:
            wire["usage"] = normalize_usage(usage)
        if cost_usd is not None:
            wire["cost_usd"] = float(cost_usd)
        if model_parameters:
            wire["model_parameters"] = to_jsonable(dict(model_parameters), cfg.max_string_chars)
        attrs = attrs_var.get()
        if attrs is not EMPTY_ATTRS or session_id or user_id or tags or metadata:
            attrs = attrs.merged(session_id, user_id, tags, metadata)
            apply_attrs(wire, attrs)
        return span_id if client.capture(wire, sampled) else None
    except Exception as exc:
        from ._errors import report_internal_error

        report_internal_error(exc)
        return None


def apply_attrs(wire: Dict[str, Any], attrs: ContextAttrs) -> None:
    """Copy context attributes (session, user, tags, metadata) onto a wire dict."""
    if attrs is EMPTY_ATTRS:
        return
    if attrs.session_id is not None:
        wire["session_id"] = attrs.session_id
    if attrs.user_id is not None:
        wire["user_id"] = attrs.user_id
    if attrs.tags:
        wire["tags"] = list(attrs.tags)
    if attrs.metadata:
        wire["metadata"] = dict(attrs.metadata)


def normalize_usage(usage: Mapping[str, Any]) -> Dict[str, int]:
    """Token counts under the wire names (accepts OpenAI's prompt_/completion_tokens too); ints only."""
    out: Dict[str, int] = {}
    for key, value in usage.items():
        key = _USAGE_ALIASES.get(key, key)
        if key in USAGE_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = int(value)
    if "total_tokens" not in out and "input_tokens" in out and "output_tokens" in out:
        out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
    return out


def normalize_error(error: Union[BaseException, str, Mapping[str, Any], None]) -> Dict[str, str]:
    """{type, message} from an exception, a string or a mapping."""
    if isinstance(error, BaseException):
        return {"type": type(error).__name__, "message": truncate(_safe_str(error), MAX_ERROR_CHARS)}
    if isinstance(error, Mapping):
        return {"type": str(error.get("type", "Error")), "message": truncate(str(error.get("message", "")),
                                                                             MAX_ERROR_CHARS)}
    return {"type": "Error", "message": truncate(str(error or ""), MAX_ERROR_CHARS)}


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__}>"


def _wire_time(value: Union[datetime, str, float]) -> Union[int, str]:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, str):
        return value
    return int(value)
