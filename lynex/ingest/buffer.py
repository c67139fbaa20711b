"""Bounded in-process buffer between the ingest log and the store writer.

It holds raw encoded records, not decoded objects: millions of live Python objects make GC
pauses that push ack latency to hundreds of ms (DESIGN.md). Capacity is counted in spans from
admission until the rows are committed to DuckDB, and in bytes of what is held in memory on the
way (records waiting here plus rows in the memtable, via ``held_bytes``), so a slow processor or
store — or unusually large spans — turn into ``503`` + ``Retry-After`` at the door rather than
unbounded memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

from lynex.ingest.wal import Record


class SpanBuffer:
    """Admission control plus a FIFO of durable records waiting to be processed."""

    def __init__(self, max_spans: int, max_bytes: int = 0, held_bytes: Callable[[], int] | None = None):
        self.max_spans = max_spans
        self.max_bytes = max_bytes  # 0: no byte bound
        self._held_elsewhere = held_bytes or (lambda: 0)  # bytes further down (the memtable)
        self._records: deque[Record] = deque()
        self._queued_spans = 0
        self._queued_bytes = 0
        self._in_flight = 0  # admitted and not yet committed to the store
        self._cond = threading.Condition()

    def try_admit(self, count: int) -> bool:
        """Reserve room for ``count`` spans; False means answer 503."""
        with self._cond:
            if self._in_flight + count > self.max_spans:
                return False
            if self.max_bytes and self._queued_bytes + self._held_elsewhere() >= self.max_bytes:
                return False
            self._in_flight += count
            return True

    def release(self, count: int) -> None:
        """Give back room: spans committed to the store, refused by the log, or duplicates."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - count)

    def push(self, records: list[Record], admitted: bool = True) -> None:
        """Queue durable records; ``admitted=False`` for replayed records that took no room yet."""
        with self._cond:
            for record in records:
                self._records.append(record)
                self._queued_spans += record.count
                self._queued_bytes += record.nbytes
                if not admitted:
                    self._in_flight += record.count
            self._cond.notify()

    def pop(self, max_spans: int, timeout: float) -> list[Record]:
        """Take records totalling up to ``max_spans`` (at least one), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._records:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            out: list[Record] = []
            taken = 0
            while self._records and (not out or taken + self._records[0].count <= max_spans):
                record = self._records.popleft()
                taken += record.count
                out.append(record)
            self._queued_spans -= taken
            self._queued_bytes -= sum(record.nbytes for record in out)
            return out

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    @property
    def queued_spans(self) -> int:
        return self._queued_spans

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    @property
    def in_flight(self) -> int:
        return self._in_flight
