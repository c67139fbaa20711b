"""OpenAI integration: `wrap_openai(client)` plus pure converters from OpenAI data to span fields.

Instruments `chat.completions.create` and `responses.create` on `OpenAI` and `AsyncOpenAI` clients
(streaming included). Converters read both SDK objects and plain dicts, so they are tested on fixtures.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional

from .._errors import guard
from ._call import AsyncObservedStream, LLMCall, ObservedStream, get, instrument, model_parameters, traced

PROVIDER = "openai"
_CHAT_CONTENT = frozenset({"messages", "model"})
_RESPONSES_CONTENT = frozenset({"input", "instructions", "model"})


# -- pure converters --------------------------------------------------------------------------------

def usage_fields(usage: Any) -> Dict[str, int]:
    """Wire usage from Chat Completions (prompt_/completion_tokens) or Responses (input_/output_tokens)."""
    if usage is None:
        return {}
    out: Dict[str, int] = {}
    for wire, names in (("input_tokens", ("prompt_tokens", "input_tokens")),
                        ("output_tokens", ("completion_tokens", "output_tokens")),
                        ("total_tokens", ("total_tokens",))):
        for name in names:
            value = get(usage, name)
            if isinstance(value, int):
                out[wire] = value
                break
    details_in = get(usage, "prompt_tokens_details") or get(usage, "input_tokens_details")
    cached = get(details_in, "cached_tokens")
    if isinstance(cached, int):
        out["cached_tokens"] = cached
    details_out = get(usage, "completion_tokens_details") or get(usage, "output_tokens_details")
    reasoning = get(details_out, "reasoning_tokens")
    if isinstance(reasoning, int):
        out["reasoning_tokens"] = reasoning
    return out


def chat_request(kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Span fields from `chat.completions.create(**kwargs)`."""
    return {"model": kwargs.get("model"), "input": kwargs.get("messages"),
            "model_parameters": model_parameters(kwargs, _CHAT_CONTENT)}


def _tool_call(tc: Any) -> Dict[str, Any]:
    fn = get(tc, "function")
    return {"id": get(tc, "id"), "type": get(tc, "type") or "function",
            "function": {"name": get(fn, "name"), "arguments": get(fn, "arguments")}}


def chat_message(message: Any) -> Dict[str, Any]:
    """An assistant message in wire (OpenAI) shape from a ChatCompletionMessage."""
    out: Dict[str, Any] = {"role": get(message, "role") or "assistant", "content": get(message, "content")}
    tool_calls = get(message, "tool_calls")
    if tool_calls:
        out["tool_calls"] = [_tool_call(tc) for tc in tool_calls]
    refusal = get(message, "refusal")
    if refusal:
        out["refusal"] = refusal
    return out


def chat_response(response: Any) -> Dict[str, Any]:
    """Span fields from a ChatCompletion."""
    choices = get(response, "choices") or []
    messages = [chat_message(get(c, "message")) for c in choices]
    fields: Dict[str, Any] = {"output": messages[0] if len(messages) == 1 else messages,
                              "usage": usage_fields(get(response, "usage"))}
    if get(response, "model"):
        fields["model"] = get(response, "model")
    meta = {"response_id": get(response, "id")}
    if choices:
        meta["finish_reason"] = get(choices[0], "finish_reason")
    fields["metadata"] = {k: v for k, v in meta.items() if v is not None}
    return fields


class ChatStreamAccumulator:
    """Assembles ChatCompletionChunks: text, tool calls (by index), finish reason, usage (final chunk)."""

    def __init__(self) -> None:
        self.text: List[str] = []
        self.tool_calls: Dict[int, Dict[str, Any]] = {}
        self.finish_reason: Optional[str] = None
        self.usage: Dict[str, int] = {}
        self.model: Optional[str] = None
        self.response_id: Optional[str] = None

    def add(self, chunk: Any) -> bool:
        self.model = get(chunk, "model") or self.model
        self.response_id = get(chunk, "id") or self.response_id
        usage = get(chunk, "usage")
        if usage:
            self.usage = usage_fields(usage)
        content = False
        for choice in get(chunk, "choices") or []:
            if (get(choice, "index") or 0) != 0:
                continue  # n > 1: the first choice is recorded
            delta = get(choice, "delta")
            piece = get(delta, "content")
            if piece:
                self.text.append(piece)
                content = True
            for tc in get(delta, "tool_calls") or []:
                entry = self.tool_calls.setdefault(get(tc, "index") or 0, {
                    "id": None, "type": "function", "function": {"name": None, "arguments": ""}})
                if get(tc, "id"):
                    entry["id"] = get(tc, "id")
                fn = get(tc, "function")
                if get(fn, "name"):
                    entry["function"]["name"] = get(fn, "name")
                if get(fn, "arguments"):
                    entry["function"]["arguments"] += get(fn, "arguments")
                content = True
            if get(choice, "finish_reason"):
                self.finish_reason = get(choice, "finish_reason")
        return content

    def result(self) -> Dict[str, Any]:
        message: Dict[str, Any] = {"role": "assistant", "content": "".join(self.text) if self.text else None}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        fields: Dict[str, Any] = {"output": message, "usage": self.usage}
        if self.model:
            fields["model"] = self.model
        meta: Dict[str, Any] = {"finish_reason": self.finish_reason, "response_id": self.response_id, "stream": True}
        fields["metadata"] = {k: v for k, v in meta.items() if v is not None}
        return fields


def responses_request(kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    """Span fields from `responses.create(**kwargs)`: instructions become a system message."""
    raw = kwargs.get("input")
    messages: List[Any] = []
    if kwargs.get("instructions"):
        messages.append({"role": "system", "content": kwargs["instructions"]})
    if isinstance(raw, str):
        messages.append({"role": "user", "content": raw})
    elif raw is not None:
        messages.extend(raw if isinstance(raw, list) else [raw])
    return {"model": kwargs.get("model"), "input": messages,
            "model_parameters": model_parameters(kwargs, _RESPONSES_CONTENT)}


def responses_response(response: Any) -> Dict[str, Any]:
    """Span fields from a Responses API `Response`: text and function calls as one assistant message."""
    texts: List[str] = []
    tool_calls: List[Dict[str, Any]] = []
    for item in get(response, "output") or []:
        kind = get(item, "type")
        if kind == "message":
            for part in get(item, "content") or []:
                if get(part, "type") == "output_text":
                    texts.append(get(part, "text") or "")
                elif get(part, "type") == "refusal":
                    texts.append(get(part, "refusal") or "")
        elif kind == "function_call":
            tool_calls.append({"id": get(item, "call_id") or get(item, "id"), "type": "function",
                               "function": {"name": get(item, "name"), "arguments": get(item, "arguments")}})
    message: Dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    fields: Dict[str, Any] = {"output": message, "usage": usage_fields(get(response, "usage"))}
    if get(response, "model"):
        fields["model"] = get(response, "model")
    meta = {"response_id": get(response, "id"), "response_status": get(response, "status")}
    fields["metadata"] = {k: v for k, v in meta.items() if v is not None}
    error = get(response, "error")
    if error:
        fields["error"] = {"type": str(get(error, "code") or "ResponseError"), "message": str(get(error, "message"))}
    return fields


class ResponsesStreamAccumulator:
    """Assembles Responses API stream events; the final `response.completed` event is authoritative."""

    _FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

    def __init__(self) -> None:
        self.text: List[str] = []
        self.final: Optional[Dict[str, Any]] = None
        self.error: Optional[Dict[str, str]] = None

    def add(self, event: Any) -> bool:
        kind = get(event, "type")
        if kind == "response.output_text.delta":
            self.text.append(get(event, "delta") or "")
            return True
        if kind == "response.function_call_arguments.delta":
            return True
        if kind in self._FINAL:
            self.final = responses_response(get(event, "response"))
        elif kind == "error":
            self.error = {"type": str(get(event, "code") or "ResponseError"), "message": str(get(event, "message"))}
        return False

    def result(self) -> Dict[str, Any]:
        fields: Dict[str, Any] = dict(self.final) if self.final else {
            "output": {"role": "assistant", "content": "".join(self.text) if self.text else None}}
        fields["metadata"] = {**fields.get("metadata", {}), "stream": True}
        if self.error:
            fields["error"] = self.error
        return fields


# -- thin wrapper -----------------------------------------------------------------------------------

def wrap_openai(client: Any, *, include_usage: bool = False) -> Any:
    """Instrument an OpenAI / AsyncOpenAI client in place (and return it).

    include_usage=True adds stream_options={"include_usage": True} to streamed chat calls so usage is
    recorded; it makes the stream end with a chunk whose `choices` is empty, hence off by default.
    """
    with guard():
        chat = getattr(getattr(client, "chat", None), "completions", None)
        if chat is not None:
            prepare = _add_include_usage if include_usage else None
            instrument(chat, "create", lambda original: traced(
                original, "openai.chat.completions", PROVIDER, chat_request,
                _on_result(chat_response, ChatStreamAccumulator), prepare))
        responses = getattr(client, "responses", None)
        if responses is not None:
            instrument(responses, "create", lambda original: traced(
                original, "openai.responses", PROVIDER, responses_request,
                _on_result(responses_response, ResponsesStreamAccumulator)))
    return client


def _add_include_usage(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    if kwargs.get("stream") is True and "stream_options" not in kwargs:
        return {**kwargs, "stream_options": {"include_usage": True}}
    return kwargs


def _on_result(to_fields: Callable[[Any], Dict[str, Any]], make_acc: Callable[[], Any]) -> Callable[..., Any]:
    def on_result(call: LLMCall, result: Any, kwargs: Mapping[str, Any], is_async: bool) -> Any:
        if kwargs.get("stream") is True:
            return (AsyncObservedStream if is_async else ObservedStream)(result, call, make_acc())
        call.finish(to_fields(result))
        return result

    return on_result
