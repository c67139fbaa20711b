"""Anthropic integration: `wrap_anthropic(client)` plus pure converters from Anthropic data to span fields.

Instruments `messages.create` (streaming or not) and `messages.stream` on `Anthropic` and
`AsyncAnthropic`. Usage is normalised to the wire meaning shared with OpenAI: input_tokens includes
cached prompt tokens (Anthropic reports them apart), cached_tokens counts cache reads.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Mapping, Optional

from .._errors import guard, report_internal_error
from ._call import (AsyncObservedStream, LLMCall, ObservedStream, get, instrument, model_parameters, start_call,
                    traced)

PROVIDER = "anthropic"
_CONTENT = frozenset({"messages", "system", "model"})


# -- pure converters --------------------------------------------------------------------------------

def usage_fields(usage: Any) -> Dict[str, int]:
    """Wire usage from an Anthropic Usage (or message_delta usage)."""
    if usage is None:
        return {}
    out: Dict[str, int] = {}
    base = get(usage, "input_tokens")
    cache_read = get(usage, "cache_read_input_tokens")
    cache_write = get(usage, "cache_creation_input_tokens")
    if isinstance(base, int):
        out["input_tokens"] = base + (cache_read or 0) + (cache_write or 0)
    if isinstance(cache_read, int):
        out["cached_tokens"] = cache_read
    output = get(usage, "output_tokens")
    if isinstance(output, int):
        out["output_tokens"] = output
    if "input_tokens" in out and "output_tokens" in out:
        out["total_tokens"] = out["input_tokens"] + out["output_tokens"]
    return out


def messages_request(kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Span fields from `messages.create(**kwargs)`: the system prompt becomes the first message."""
    messages: List[Any] = []
    system = kwargs.get("system")
    if system and type(system).__name__ not in ("NotGiven", "Omit"):
        messages.append({"role": "system", "content": system})
    messages.extend(kwargs.get("messages") or [])
    return {"model": kwargs.get("model"), "input": messages,
            "model_parameters": model_parameters(kwargs, _CONTENT)}


def assistant_message(blocks: Any) -> Dict[str, Any]:
    """Content blocks as one assistant message: text joined, tool_use as OpenAI-shaped tool_calls."""
    texts: List[str] = []
    tool_calls: List[Dict[str, Any]] = []
    for block in blocks or []:
        kind = get(block, "type")
        if kind == "text":
            texts.append(get(block, "text") or "")
        elif kind in ("tool_use", "server_tool_use"):
            args = get(block, "input")
            tool_calls.append({"id": get(block, "id"), "type": "function",
                               "function": {"name": get(block, "name"),
                                            "arguments": args if isinstance(args, str) else _dumps(args)}})
    message: Dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def message_response(message: Any) -> Dict[str, Any]:
    """Span fields from an Anthropic `Message`."""
    fields: Dict[str, Any] = {"output": assistant_message(get(message, "content")),
                              "usage": usage_fields(get(message, "usage"))}
    if get(message, "model"):
        fields["model"] = get(message, "model")
    meta = {"response_id": get(message, "id"), "stop_reason": get(message, "stop_reason")}
    fields["metadata"] = {k: v for k, v in meta.items() if v is not None}
    return fields


class MessageStreamAccumulator:
    """Assembles raw message stream events (message_start … message_stop) into span fields."""

    def __init__(self) -> None:
        self.blocks: Dict[int, Dict[str, Any]] = {}
        self.usage: Dict[str, Any] = {}
        self.model: Optional[str] = None
        self.message_id: Optional[str] = None
        self.stop_reason: Optional[str] = None
        self.error: Optional[Dict[str, str]] = None

    def add(self, event: Any) -> bool:
        kind = get(event, "type")
        if kind == "message_start":
            message = get(event, "message")
            self.model = get(message, "model") or self.model
            self.message_id = get(message, "id")
            self._merge_usage(get(message, "usage"))
        elif kind == "content_block_start":
            block = get(event, "content_block")
            self.blocks[get(event, "index") or 0] = {
                "type": get(block, "type"), "text": get(block, "text") or "", "id": get(block, "id"),
                "name": get(block, "name"), "json": ""}
        elif kind == "content_block_delta":
            block = self.blocks.setdefault(get(event, "index") or 0, {"type": "text", "text": "", "json": ""})
            delta = get(event, "delta")
            dtype = get(delta, "type")
            if dtype == "text_delta":
                block["text"] += get(delta, "text") or ""
            elif dtype == "input_json_delta":
                block["json"] += get(delta, "partial_json") or ""
            return True
        elif kind == "message_delta":
            self.stop_reason = get(get(event, "delta"), "stop_reason") or self.stop_reason
            self._merge_usage(get(event, "usage"))
        elif kind == "error":
            err = get(event, "error")
            self.error = {"type": str(get(err, "type") or "StreamError"), "message": str(get(err, "message"))}
        return False

    def _merge_usage(self, usage: Any) -> None:
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = get(usage, key)
            if isinstance(value, int):
                self.usage[key] = value  # message_delta counts are cumulative

    def result(self) -> Dict[str, Any]:
        blocks = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            if block["type"] in ("tool_use", "server_tool_use"):
                blocks.append({"type": block["type"], "id": block["id"], "name": block["name"],
                               "input": block["json"] or "{}"})
            else:
                blocks.append(block)
        fields: Dict[str, Any] = {"output": assistant_message(blocks), "usage": usage_fields(self.usage)}
        if self.model:
            fields["model"] = self.model
        meta = {"response_id": self.message_id, "stop_reason": self.stop_reason, "stream": True}
        fields["metadata"] = {k: v for k, v in meta.items() if v is not None}
        if self.error:
            fields["error"] = self.error
        return fields


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


# -- thin wrapper -----------------------------------------------------------------------------------

NAME = "anthropic.messages"


def wrap_anthropic(client: Any) -> Any:
    """Instrument an Anthropic / AsyncAnthropic client in place (and return it)."""
    with guard():
        messages = getattr(client, "messages", None)
        if messages is not None:
            instrument(messages, "create", lambda original: traced(
                original, NAME, PROVIDER, messages_request, _on_create_result))
            instrument(messages, "stream", _stream_wrapper)
    return client


def _on_create_result(call: LLMCall, result: Any, kwargs: Mapping[str, Any], is_async: bool) -> Any:
    if kwargs.get("stream") is True:
        return (AsyncObservedStream if is_async else ObservedStream)(result, call, MessageStreamAccumulator())
    call.finish(message_response(result))
    return result


def _stream_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    # messages.stream() is a plain method in both clients; it returns a (sync or async) context manager.
    def stream(*args: Any, **kwargs: Any) -> Any:
        manager = original(*args, **kwargs)
        try:
            if hasattr(manager, "__aenter__"):
                return _AsyncManager(manager, kwargs)
            return _Manager(manager, kwargs)
        except Exception as exc:
            report_internal_error(exc)
            return manager

    return stream


class _Manager:
    """Stands in for MessageStreamManager: `with` yields the real MessageStream, observed."""

    def __init__(self, manager: Any, kwargs: Mapping[str, Any]) -> None:
        self._manager = manager
        self._kwargs = kwargs
        self._observed: Any = None

    def __enter__(self) -> Any:
        call = None
        with guard():
            call = start_call(NAME, PROVIDER, messages_request, self._kwargs)
        try:
            message_stream = self._manager.__enter__()
        except BaseException as exc:
            if call is not None:
                with guard():
                    call.fail(exc)
            raise
        with guard():
            if call is not None:
                self._observed = _attach(message_stream, call, ObservedStream)
        return message_stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._manager.__exit__(*exc_info)
        finally:
            with guard():
                if self._observed is not None:
                    self._observed._lx_finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


class _AsyncManager:
    """Stands in for AsyncMessageStreamManager: `async with` yields the real AsyncMessageStream, observed."""

    def __init__(self, manager: Any, kwargs: Mapping[str, Any]) -> None:
        self._manager = manager
        self._kwargs = kwargs
        self._observed: Any = None

    async def __aenter__(self) -> Any:
        call = None
        with guard():
            call = start_call(NAME, PROVIDER, messages_request, self._kwargs)
        try:
            message_stream = await self._manager.__aenter__()
        except BaseException as exc:
            if call is not None:
                with guard():
                    call.fail(exc)
            raise
        with guard():
            if call is not None:
                self._observed = _attach(message_stream, call, AsyncObservedStream)
        return message_stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._manager.__aexit__(*exc_info)
        finally:
            with guard():
                if self._observed is not None:
                    self._observed._lx_finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


def _attach(message_stream: Any, call: LLMCall, proxy: Any) -> Optional[Any]:
    """Route a MessageStream's raw events through an observing proxy (it has not started iterating yet)."""
    raw = getattr(message_stream, "_raw_stream", None)
    if raw is None:  # a future SDK without this attribute: record the call without stream details
        call.finish({})
        return None
    observed = proxy(raw, call, MessageStreamAccumulator())
    message_stream._raw_stream = observed
    return observed
