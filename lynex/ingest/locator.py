"""Where recently acknowledged spans are: (project, span id) key → ingest sequence number.

A lookup by id alone has to scan the id column of every tier (~12 ms of CPU per million hot
rows), and the spans looked up by id are mostly the ones just sent: an SDK or a test fetching
what it wrote, often polling until it is queryable. With the seq known, the read is pruned to
one row group by the seq zone maps, and a span acknowledged but not yet queryable is answered
without reading anything. Older ids fall back to the scan.

Keys are ``RecentIds.key`` hashes; the ints are the very objects the dedup window holds, so an
entry costs a dict slot and one seq int (~14 MB for the default window).
"""

from __future__ import annotations

from collections import deque

WINDOW_SPANS = 1 << 17  # ~6 s of ingest at 20k spans/s: the polling window, not an archive


class SeqLocator:
    """Bounded map of the most recently acknowledged keys to their seqs (FIFO by request)."""

    def __init__(self, capacity: int = WINDOW_SPANS):
        self.capacity = capacity
        self._seqs: dict[int, int] = {}
        self._chunks: deque[tuple[list[int], int]] = deque()  # (keys, first seq), oldest first
        self._held = 0

    def add(self, keys: list[int], first_seq: int) -> None:
        """``keys[i]`` was acknowledged as seq ``first_seq + i`` (called on the event loop)."""
        self._seqs.update(zip(keys, range(first_seq, first_seq + len(keys))))
        self._chunks.append((keys, first_seq))
        self._held += len(keys)
        while self._held > self.capacity and len(self._chunks) > 1:
            old_keys, old_first = self._chunks.popleft()
            self._held -= len(old_keys)
            for seq, key in enumerate(old_keys, old_first):
                if self._seqs.get(key) == seq:  # not re-added since (a resend after erasure)
                    del self._seqs[key]

    def get(self, key: int) -> int | None:
        """The key's seq, or None when it is not among the recent ones (safe from any thread)."""
        return self._seqs.get(key)

    def __len__(self) -> int:
        return len(self._seqs)
