"""OTLP key/values → Python dicts, and which attribute families a span carries.

This is the hottest code of OTLP ingest (every attribute of every span passes through it), so it
reads protobuf fields as few times as possible and answers "any key starting with …?" from a
bit mask memoised per attribute-key set: the spans of one instrumentation share their keys.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any, Iterable

MAX_DEPTH = 8  # nested kvlist/array values deeper than this are kept as text
_LABEL = 1024
_INF = float("inf")
_PLAIN = frozenset(("string_value", "int_value", "bool_value"))

_MEMO_KEYS = 64  # key sets up to this size are memoised whole

# Attribute families: a family is a set of prefixes and exact keys, one bit each. The mappers
# declare theirs at import time (``family``) and then skip in one bit test what a span lacks.
_prefix_bits: dict[str, int] = {}
_exact_bits: dict[str, int] = {}
_families: list[tuple[tuple[str, ...], tuple[str, ...]]] = []


def family(prefixes: tuple[str, ...] = (), keys: tuple[str, ...] = ()) -> int:
    """The bit set in a span's mask when a key starts with one of ``prefixes`` or is one of ``keys``."""
    bit = 1 << len(_families)
    _families.append((prefixes, keys))
    for prefix in prefixes:
        _prefix_bits[prefix] = _prefix_bits.get(prefix, 0) | bit
    for key in keys:
        _exact_bits[key] = _exact_bits.get(key, 0) | bit
    _key_mask.cache_clear()
    _cached_mask_of.cache_clear()
    return bit


@lru_cache(maxsize=4096)  # bounded: hostile key churn only costs re-computation
def _key_mask(key: str) -> int:
    mask = _exact_bits.get(key, 0)
    for prefix, bit in _prefix_bits.items():
        if key.startswith(prefix):
            mask |= bit
    return mask


def _mask_of(keys: tuple[str, ...]) -> int:
    mask = 0
    for key in keys:
        mask |= _key_mask(key)
    return mask


_cached_mask_of = lru_cache(maxsize=1024)(_mask_of)


def keys_mask(keys: tuple[str, ...]) -> int:
    """The family bits of a key set (memoised: one tuple hash for a key set seen before)."""
    if len(keys) > _MEMO_KEYS:  # huge key sets are rare and would pin much memory in the cache
        return _mask_of(keys)
    return _cached_mask_of(keys)


# Every prefix ``has_prefix`` is asked about; a prefix not listed is answered by a scan.
PREFIXES = ("ai.", "ai.settings.", "ai.telemetry.metadata.", "gen_ai.", "gen_ai.usage.", "gen_ai.prompt.",
            "gen_ai.completion.", "llm.", "llm.input_messages.", "llm.output_messages.", "llm.tools.",
            "llm.request.functions.", "retrieval.documents.", "embedding.embeddings.", "traceloop.")
_BITS = {prefix: family(prefixes=(prefix,)) for prefix in PREFIXES}


class Attrs(dict):
    """A span's attributes with the family bits of its keys (``mask``, ``has_prefix``).

    The mask is taken at the first question. Keys are only ever popped after it, so it describes
    a superset: a stale "yes" costs a look that finds nothing, never a missed attribute.
    """

    __slots__ = ("_mask",)

    def mask(self) -> int:
        """Family bits of the keys (see ``family``)."""
        mask = getattr(self, "_mask", -1)
        if mask < 0:
            mask = self._mask = keys_mask(tuple(self))
        return mask

    def has_prefix(self, prefix: str) -> bool:
        bit = _BITS.get(prefix)
        if bit is None:
            return any(key.startswith(prefix) for key in self)
        return bool(self.mask() & bit)


def any_value(value: Any, depth: int = 0) -> Any:
    """An OTLP ``AnyValue`` as a plain Python value (bytes as base64 text)."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        number = value.double_value
        return number if number == number and number not in (_INF, -_INF) else str(number)
    if which == "bool_value":
        return value.bool_value
    if which is None:
        return None
    if depth >= MAX_DEPTH:
        return str(value)[:_LABEL]
    if which == "array_value":
        return [any_value(v, depth + 1) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    return base64.b64encode(value.bytes_value).decode()


def span_attributes(kvs: Iterable[Any]) -> Attrs:
    """``attributes`` with the family mask taken at once: every span's mappers ask for it first."""
    out = attributes(kvs)
    out._mask = keys_mask(tuple(out))
    return out


def attributes(kvs: Iterable[Any]) -> Attrs:
    """Key/values as a dict (a repeated key: the last value wins)."""
    out = Attrs()
    for kv in kvs:
        value = kv.value
        # Nearly every attribute is a non-empty string: one field read settles it. An empty
        # string_value means "unset or another type", so only then ask which one.
        text = value.string_value
        if text:
            out[kv.key] = text
            continue
        which = value.WhichOneof("value")
        out[kv.key] = getattr(value, which) if which in _PLAIN else any_value(value)
    return out
