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

    def unseen(self, keys: list[int]) -> list[int]:
        """Positions in ``keys`` of the keys neither remembered nor repeated earlier in ``keys``.

        The request path's common case (no retries, no repeats) is settled in two C-level passes."""
        if self._set.isdisjoint(keys) and len(set(keys)) == len(keys):
            return list(range(len(keys)))
        positions, seen = [], set()
        for position, key in enumerate(keys):
            if key not in self._set and key not in seen:
                seen.add(key)
                positions.append(position)
        return positions

    def add_new(self, keys: list[int]) -> None:
        """Remember ``keys``, which ``unseen`` just vouched for (distinct, not remembered)."""
        self._set.update(keys)
        self._order.extend(keys)
        self._trim()

    def add_many(self, keys: Iterable[int]) -> None:
        for key in keys:
            if key in self._set:
                continue
            self._set.add(key)
            self._order.append(key)
        self._trim()

    def _trim(self) -> None:
        while len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())

    def discard_many(self, keys: Iterable[int]) -> None:
        """Forget keys whose write failed, so the client's retry is accepted."""
        for key in keys:
            self._set.discard(key)  # the stale entry in _order ages out harmlessly

    def __len__(self) -> int:
        return len(self._set)
