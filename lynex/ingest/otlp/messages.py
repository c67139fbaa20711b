"""Message shapes of the instrumentation libraries → Lynex messages (OpenAI shape).

A Lynex message is ``{"role", "content": str | list, "tool_calls"?, "tool_call_id"?, "name"?}``
with tool calls as ``{"id", "type": "function", "function": {"name", "arguments": <JSON text>}}``.
Pure functions of plain Python values; anything unrecognised is kept as it came, never dropped.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import msgspec

from lynex.ingest.otlp.attrs import Attrs

_INDEXED = re.compile(r"(\d+)\.(.+)")
_json_decode = msgspec.json.decode
_json_encode = msgspec.json.encode


def parse_json(value: Any) -> Any:
    """A JSON-looking string → its value; anything else (or invalid JSON) unchanged."""
    if isinstance(value, str) and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
        try:
            return _json_decode(value)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return value
    return value


def json_text(value: Any) -> str:
    """Tool-call arguments as JSON text, the way OpenAI sends them."""
    if isinstance(value, str):
        return value
    try:
        return _json_encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


def pop_indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Pop ``<prefix>N.<rest>`` keys into a list (by N) of ``{rest: value}`` dicts."""
    if isinstance(attrs, Attrs) and not attrs.has_prefix(prefix):
        return []
    found: dict[int, dict[str, Any]] = {}
    cut = len(prefix)
    for key in [k for k in attrs if k.startswith(prefix)]:
        parsed = _split_indexed(key[cut:])
        if parsed is not None:
            index, rest = parsed
            entry = found.get(index)
            if entry is None:
                entry = found[index] = {}
            entry[rest] = attrs.pop(key)
    return [found[i] for i in sorted(found)]


@lru_cache(maxsize=4096)  # the same "0.role", "1.content"… in every span of an instrumentation
def _split_indexed(rest: str) -> tuple[int, str] | None:
    match = _INDEXED.fullmatch(rest)
    return (int(match.group(1)), match.group(2)) if match else None


def indexed(flat: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Like :func:`pop_indexed` on a sub-dict, without mutating it."""
    return pop_indexed(dict(flat), prefix)


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """One tool call in OpenAI's shape (arguments as JSON text)."""
    call: dict[str, Any] = {"id": call_id} if call_id is not None else {}
    call["type"] = "function"
    call["function"] = {"name": name, "arguments": json_text(arguments) if arguments is not None else ""}
    return call


def _content(value: Any) -> Any:
    """Content as sent; JSON-encoded part lists (OpenLLMetry does that) are decoded."""
    parsed = parse_json(value)
    if isinstance(parsed, list) and all(isinstance(p, dict) and "type" in p for p in parsed):
        return parsed
    return value


def _message(role: Any, content: Any = None, tool_calls: list | None = None, tool_call_id: Any = None,
             name: Any = None, finish_reason: Any = None) -> dict[str, Any]:
    # Named optional fields, not **extra: this runs for every message of every span.
    msg: dict[str, Any] = {"role": role or "user"}
    if content is not None or not tool_calls:
        msg["content"] = content if content is not None else ""
    if tool_calls:
        msg["tool_calls"] = tool_calls
    if tool_call_id is not None:
        msg["tool_call_id"] = tool_call_id
    if name is not None:
        msg["name"] = name
    if finish_reason is not None:
        msg["finish_reason"] = finish_reason
    return msg


# -- OpenLLMetry / old GenAI: gen_ai.prompt.N.* and gen_ai.completion.N.* ----------------------
def from_flat_genai(entries: list[dict[str, Any]], default_role: str) -> list[dict[str, Any]]:
    """``[{"role", "content", "tool_calls.0.name", …}]`` → messages."""
    out = []
    for entry in entries:
        calls = [tool_call(c.get("id"), c.get("name"), c.get("arguments"))
                 for c in indexed(entry, "tool_calls.")]
        if "function_call.name" in entry:
            calls.append(tool_call(None, entry["function_call.name"], entry.get("function_call.arguments")))
        out.append(_message(entry.get("role", default_role), _content(entry.get("content")), calls,
                            entry.get("tool_call_id"), entry.get("name"), entry.get("finish_reason")))
    return out


# -- GenAI semantic conventions ≥ 1.37: gen_ai.input.messages / gen_ai.output.messages -------
class _TextPart(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    type: str
    content: str


class _TextMessage(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    role: str
    parts: list[_TextPart]
    name: str | None = None
    finish_reason: str | None = None


_text_messages = msgspec.json.Decoder(list[_TextMessage])


def _text_only(text: str) -> list[dict[str, Any]] | None:
    """``from_genai_parts`` of a JSON list of text-only messages, the usual shape, in one typed
    decode; None when the text is not exactly that shape (then the general code decides)."""
    try:
        messages = _text_messages.decode(text)
    except msgspec.DecodeError:
        return None
    out = []
    for item in messages:
        parts = item.parts
        if len(parts) == 1:
            part = parts[0]
            if part.type != "text":
                return None
            content = part.content
        elif all(part.type == "text" for part in parts):
            content = "".join(part.content for part in parts)  # none: "" as well
        else:
            return None
        message = {"role": item.role or "user", "content": content}
        if item.name is not None:
            message["name"] = item.name
        if item.finish_reason is not None:
            message["finish_reason"] = item.finish_reason
        out.append(message)
    return out


def from_genai_parts(messages: Any) -> list[dict[str, Any]] | None:
    """``[{"role", "parts": [{"type": "text"|"tool_call"|"tool_call_response"|…}]}]`` → messages."""
    if type(messages) is str and messages[:1] == "[" and messages[-1:] == "]":
        out = _text_only(messages)
        if out is not None:
            return out
    messages = parse_json(messages)
    if not isinstance(messages, list):
        return None
    out = []
    for item in messages:
        if type(item) is dict:  # one text part, most messages: what the code below gives, written out
            parts = item.get("parts")
            if type(parts) is list and len(parts) == 1:
                part = parts[0]
                if type(part) is dict and part.get("type") == "text" and type(text := part.get("content", "")) is str:
                    message = {"role": item.get("role") or "user", "content": text}
                    if (name := item.get("name")) is not None:
                        message["name"] = name
                    if (finish_reason := item.get("finish_reason")) is not None:
                        message["finish_reason"] = finish_reason
                    out.append(message)
                    continue
        if not isinstance(item, dict):
            out.append({"role": "user", "content": str(item)})
            continue
        if "parts" not in item:  # already chat-shaped
            out.append(item)
            continue
        texts, others, calls = [], [], []
        tool_call_id = None
        response = None
        for part in item.get("parts") or []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(part.get("content", ""))
            elif kind == "tool_call":
                calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
            elif kind == "tool_call_response":
                tool_call_id = part.get("id")
                response = part.get("response")
            else:
                others.append(part)
        if response is not None:
            content: Any = response if isinstance(response, str) else json_text(response)
        elif others:
            content = [{"type": "text", "text": t} for t in texts] + others
        else:
            content = "".join(texts) if texts else None
        out.append(_message(item.get("role"), content, calls, tool_call_id=tool_call_id, name=item.get("name"),
                            finish_reason=item.get("finish_reason")))
    return out


def from_system_instructions(value: Any) -> dict[str, Any] | None:
    parsed = parse_json(value)
    if isinstance(parsed, list):
        text = "".join(p.get("content", "") for p in parsed if isinstance(p, dict) and p.get("type") == "text")
        return {"role": "system", "content": text if text else parsed}
    return {"role": "system", "content": parsed} if parsed else None


# -- OpenInference: llm.input_messages.N.message.* ---------------------------------------------
def from_openinference(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        content: Any = entry.get("message.content")
        parts = indexed(entry, "message.contents.")
        if content is None and parts:
            content = []
            for part in parts:
                kind = part.get("message_content.type", "text")
                if kind == "text":
                    content.append({"type": "text", "text": part.get("message_content.text", "")})
                elif kind == "image":
                    content.append({"type": "image_url",
                                    "image_url": {"url": part.get("message_content.image.image.url", "")}})
                else:
                    content.append({"type": kind, **part})
        calls = [tool_call(c.get("tool_call.id"), c.get("tool_call.function.name"),
                           c.get("tool_call.function.arguments"))
                 for c in indexed(entry, "message.tool_calls.")]
        out.append(_message(entry.get("message.role"), content, calls,
                            tool_call_id=entry.get("message.tool_call_id"), name=entry.get("message.name")))
    return out


# -- Vercel AI SDK: ai.prompt.messages (content parts) and ai.response.toolCalls --------------
def _vercel_call(part: dict[str, Any]) -> dict[str, Any]:
    args = part.get("args", part.get("input"))
    return tool_call(part.get("toolCallId"), part.get("toolName"), args)


def from_vercel(messages: Any) -> list[dict[str, Any]] | None:
    messages = parse_json(messages)
    if not isinstance(messages, list):
        return None
    out = []
    for item in messages:
        if not isinstance(item, dict):
            continue
        role, content = item.get("role"), item.get("content")
        if not isinstance(content, list):
            out.append(_message(role, content))
            continue
        texts, others, calls = [], [], []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(part.get("text", ""))
            elif kind == "tool-call":
                calls.append(_vercel_call(part))
            elif kind == "tool-result":
                result = part.get("result", part.get("output"))
                out.append(_message("tool", result if isinstance(result, str) else json_text(result),
                                    tool_call_id=part.get("toolCallId"), name=part.get("toolName")))
            else:
                others.append(part)
        if role == "tool" and not texts and not others and not calls:
            continue  # only tool results, already emitted one message each
        body: Any = ([{"type": "text", "text": t} for t in texts] + others) if others else "".join(texts)
        out.append(_message(role, body if (body or not calls) else None, calls))
    return out


def vercel_prompt(value: Any) -> list[dict[str, Any]] | None:
    """``ai.prompt`` = ``{"system"?, "prompt"?, "messages"?}`` → messages."""
    parsed = parse_json(value)
    if not isinstance(parsed, dict):
        return None
    out: list[dict[str, Any]] = []
    if parsed.get("system"):
        out.append({"role": "system", "content": parsed["system"]})
    if parsed.get("prompt") is not None:
        prompt = parsed["prompt"]
        out.append({"role": "user", "content": prompt if isinstance(prompt, str) else json_text(prompt)})
    if parsed.get("messages"):
        out.extend(from_vercel(parsed["messages"]) or [])
    return out


def vercel_tool_calls(value: Any) -> list[dict[str, Any]]:
    parsed = parse_json(value)
    if not isinstance(parsed, list):
        return []
    return [_vercel_call(c) for c in parsed if isinstance(c, dict)]
