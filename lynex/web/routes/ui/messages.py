"""Turn a span's stored input/output JSON into chat messages the span page can render.

Pure functions of data. Accepts the shapes SDKs send: a plain string, one message, a list of
messages (OpenAI or Anthropic content parts), an OpenAI response with ``choices``. Anything
else is shown as pretty JSON. Nothing here produces HTML: templates escape every string.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MEDIA_TYPES = {"image_url": "image", "image": "image", "input_image": "image", "input_audio": "audio",
               "audio": "audio", "file": "file", "input_file": "file", "document": "document", "video": "video"}
LONG_TEXT = 1200


@dataclass
class Part:
    kind: str  # text | media | tool_call | tool_result | json
    text: str = ""
    label: str = ""

    @property
    def long(self) -> bool:
        return len(self.text) > LONG_TEXT or self.text.count("\n") > 20


@dataclass
class Message:
    role: str
    parts: list[Part] = field(default_factory=list)
    name: str | None = None
    tool_call_id: str | None = None


def parse_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("role"), str)


def _media_label(part: dict, kind: str) -> str:
    source = part.get(part.get("type", ""), part.get("source"))
    detail = ""
    if isinstance(source, dict):
        url = source.get("url") or ""
        detail = source.get("media_type") or source.get("format") or ""
        if isinstance(url, str) and url and not url.startswith("data:"):
            detail = url[:200]
        elif isinstance(url, str) and url.startswith("data:"):
            detail = url[5:url.find(";")] if ";" in url else "inline data"
    elif isinstance(source, str) and not source.startswith("data:"):
        detail = source[:200]
    return f"{kind}" + (f": {detail}" if detail else "")


def _tool_call(call: Any) -> Part:
    if isinstance(call, dict):
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        name = fn.get("name") or call.get("name") or "tool"
        args = fn.get("arguments", call.get("input", call.get("arguments")))
        if isinstance(args, str):
            args = parse_json(args)
        label = f"{name}" + (f"  ·  {call['id']}" if call.get("id") else "")
        return Part("tool_call", args if isinstance(args, str) else pretty(args), label)
    return Part("tool_call", pretty(call), "tool")


def _parts(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Part("text", content)]
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return [Part("json", pretty(content))]
    parts: list[Part] = []
    for item in content:
        if isinstance(item, str):
            parts.append(Part("text", item))
            continue
        if not isinstance(item, dict):
            parts.append(Part("json", pretty(item)))
            continue
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text") and isinstance(item.get("text"), str):
            parts.append(Part("text", item["text"]))
        elif kind in MEDIA_TYPES:
            parts.append(Part("media", "", _media_label(item, MEDIA_TYPES[kind])))
        elif kind == "tool_use":
            parts.append(_tool_call(item))
        elif kind == "tool_result":
            inner = _parts(item.get("content"))
            text = "\n".join(p.text or p.label for p in inner)
            parts.append(Part("tool_result", text, item.get("tool_use_id") or ""))
        else:
            parts.append(Part("json", pretty(item)))
    return parts


def _message(value: dict) -> Message:
    msg = Message(role=str(value.get("role")), name=value.get("name"), tool_call_id=value.get("tool_call_id"))
    if msg.role == "tool":
        msg.parts = [Part("tool_result", "\n".join(p.text or p.label for p in _parts(value.get("content"))),
                          msg.tool_call_id or "")]
    else:
        msg.parts = _parts(value.get("content"))
    for call in value.get("tool_calls") or []:
        msg.parts.append(_tool_call(call))
    if isinstance(value.get("function_call"), dict):
        msg.parts.append(_tool_call({"function": value["function_call"]}))
    return msg


def to_messages(value: Any, default_role: str) -> list[Message] | None:
    """Messages for a payload, or None when it is not conversational (show it as JSON)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [Message(default_role, [Part("text", value)])]
    if _is_message(value):
        return [_message(value)]
    if isinstance(value, dict) and isinstance(value.get("messages"), list) and all(
            _is_message(m) for m in value["messages"]):
        return [_message(m) for m in value["messages"]]
    if isinstance(value, dict) and isinstance(value.get("choices"), list):
        out = []
        for choice in value["choices"]:
            if isinstance(choice, dict) and _is_message(choice.get("message")):
                out.append(_message(choice["message"]))
            elif isinstance(choice, dict) and isinstance(choice.get("text"), str):
                out.append(Message(default_role, [Part("text", choice["text"])]))
        return out or None
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return [_message(m) for m in value]
    return None


def preview(text: str | None, limit: int = 160) -> str:
    """A one-line preview of a prompt: the last message's text, else the raw start."""
    if not text:
        return ""
    value = parse_json(text)
    if isinstance(value, (dict, list)) or (isinstance(value, str) and value is not text):
        messages = to_messages(value, "user")
        if messages:
            for message in reversed(messages):
                for part in message.parts:
                    if part.text:
                        return _clip(part.text, limit)
        return _clip(text, limit)
    # Not valid JSON: a tail cut from a long payload; take the last "content" string in it.
    match = None
    for match in _CONTENT_RX.finditer(text):
        pass
    if match:
        try:
            return _clip(json.loads('"' + match.group(1) + '"'), limit)
        except ValueError:
            return _clip(match.group(1), limit)
    return _clip(text, limit)


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_CONTENT_RX = re.compile(r'"(?:content|text)"\s*:\s*"((?:[^"\\]|\\.){1,2000})"')
