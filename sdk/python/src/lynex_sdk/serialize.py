"""Turn arbitrary application values into JSON-safe data, at capture time, without ever raising.

Conversion happens on the calling thread so the span holds a snapshot: a chat loop that appends to
its `messages` list after the call must not change what was recorded.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict

from ._errors import report_internal_error

MAX_DEPTH = 12
MAX_ITEMS = 1000
_PRIMITIVES = (bool, int, type(None))


def to_jsonable(value: Any, max_chars: int = 100_000) -> Any:
    """A JSON-encodable copy of `value`: containers copied, models dumped, the rest repr()'d; never raises."""
    try:
        return _convert(value, max_chars, 0)
    except Exception as exc:  # pragma: no cover - _convert guards each leaf already
        report_internal_error(exc)
        return "<unserializable>"


def truncate(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars` characters with a marker saying how much was cut."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + f"...<truncated {len(text) - max_chars} chars>"


def _convert(value: Any, max_chars: int, depth: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= max_chars else truncate(value, max_chars)
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth >= MAX_DEPTH:
        return "<max depth>"
    if isinstance(value, dict):
        out: Dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["<truncated>"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            out[k if isinstance(k, str) else str(k)] = _convert(v, max_chars, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [_convert(v, max_chars, depth + 1) for v in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"<{len(value) - MAX_ITEMS} more items>")
        return items
    if isinstance(value, (set, frozenset)):
        return _convert(sorted(value, key=repr), max_chars, depth)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{type(value).__name__} len={len(value)}>"
    return _convert_object(value, max_chars, depth)


def _convert_object(value: Any, max_chars: int, depth: int) -> Any:
    try:
        dump = getattr(value, "model_dump", None)  # pydantic v2 (openai/anthropic response objects)
        if callable(dump) and not isinstance(value, type):
            return _convert(dump(mode="json", exclude_unset=True), max_chars, depth + 1)
        as_dict = getattr(value, "dict", None)  # pydantic v1
        if callable(as_dict) and hasattr(value, "__fields__") and not isinstance(value, type):
            return _convert(as_dict(), max_chars, depth + 1)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return _convert({f.name: getattr(value, f.name) for f in dataclasses.fields(value)},
                            max_chars, depth + 1)
        if hasattr(value, "isoformat"):  # datetime, date, time
            return value.isoformat()
        return truncate(repr(value), min(max_chars, 1000))
    except Exception:
        # A user object whose repr/dump raises: record its type instead, not an SDK bug.
        try:
            return f"<{type(value).__name__}>"
        except Exception:  # pragma: no cover
            return "<unserializable>"
