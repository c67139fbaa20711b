"""The idempotency window: recently stored (project, span id) keys, so SDK retries are dropped.

Keys are kept as 64-bit hashes (not tuples of strings) to hold a million of them in ~80 MB;
ints are not tracked by the garbage collector, so the window adds no GC pauses.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable


class RecentIds:
    """A bounded FIFO set of span keys; the oldest key is forgotten first."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._set: set[int] = set()
        self._order: deque[int] = deque()

    @staticmethod
    def key(project_id: str, span_id: str) -> int:
        return hash((project_id, span_id))

    def __contains__(self, key: int) -> bool:
        return key in self._set

    def isdisjoint(self, keys: Iterable[int]) -> bool:
        """None of ``keys`` is remembered (one C-level pass: the request path's common case)."""
        return self._set.isdisjoint(keys)

    def add_many(self, keys: Iterable[int]) -> None:
        keys = keys if isinstance(keys, list) else list(keys)
        if self._set.isdisjoint(keys) and len(set(keys)) == len(keys):  # common case, in C
            self._set.update(keys)
            self._order.extend(keys)
            keys = ()
        for key in keys:
            if key in self._set:
                continue
            self._set.add(key)
            self._order.append(key)
        while len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())

    def discard_many(self, keys: Iterable[int]) -> None:
        """Forget keys whose write failed, so the client's retry is accepted."""
        for key in keys:
            self._set.discard(key)  # the stale entry in _order ages out harmlessly

    def __len__(self) -> int:
        return len(self._set)
