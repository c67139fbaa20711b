"""Token estimates when a client sends no usage: no tokenizer download, a calibrated heuristic.

About four characters per token for Latin-script text (the usual BPE figure for English),
one token per CJK/kana/hangul character, and a few tokens of framing per chat message.
"""

from __future__ import annotations

import math
from typing import Any

_MESSAGE_OVERHEAD = 4


def _is_wide(code: int) -> bool:
    return (0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x4DBF or 0x4E00 <= code <= 0x9FFF
            or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF)


def estimate_text(text: str) -> int:
    """Estimated tokens in one string."""
    if not text:
        return 0
    if text.isascii():
        return math.ceil(len(text) / 4)
    wide = sum(1 for ch in text if _is_wide(ord(ch)))
    return wide + math.ceil((len(text) - wide) / 4)


def estimate(value: Any) -> int:
    """Estimated tokens in a prompt or response: a string, chat messages, or any JSON."""
    if value is None:
        return 0
    if isinstance(value, str):
        return estimate_text(value)
    if isinstance(value, list):
        return sum(estimate(item) for item in value)
    if isinstance(value, dict):
        if "role" in value:
            total = _MESSAGE_OVERHEAD + estimate(value.get("content"))
            if value.get("tool_calls"):
                total += estimate(value["tool_calls"])
            return total
        if "text" in value and isinstance(value["text"], str):
            return estimate_text(value["text"])
        if value.get("type") in ("image_url", "image", "input_image", "input_audio", "audio"):
            return 85  # a low-detail image tile: placeholder, not the text of its URL or bytes
        return sum(estimate(v) + estimate_text(str(k)) for k, v in value.items())
    return estimate_text(str(value))
