"""Limits on stored text: strings over the limit are cut (at a character boundary) and flagged."""

from __future__ import annotations

from typing import Any

TRUNCATION_MARK = "…[truncated by lynex]"


def truncate_strings(value: Any, max_bytes: int) -> tuple[Any, bool]:
    """Return ``value`` with every string longer than ``max_bytes`` (UTF-8) cut; and whether any was."""
    if isinstance(value, str):
        if len(value) * 4 <= max_bytes:  # cannot be over the limit: skip the encode
            return value, False
        encoded = value.encode("utf-8", "surrogatepass")
        if len(encoded) <= max_bytes:
            return value, False
        return encoded[:max_bytes].decode("utf-8", "ignore") + TRUNCATION_MARK, True
    if isinstance(value, list):
        changed = False
        out = []
        for item in value:
            item, cut = truncate_strings(item, max_bytes)
            out.append(item)
            changed |= cut
        return out, changed
    if isinstance(value, dict):
        changed = False
        result = {}
        for key, item in value.items():
            item, cut = truncate_strings(item, max_bytes)
            result[key] = item
            changed |= cut
        return result, changed
    return value, False
