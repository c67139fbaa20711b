"""Rows processed but not yet committed to DuckDB, kept queryable as Arrow tables.

This is what makes a span readable within a second of its ack even while DuckDB is busy with a
large insert or a checkpoint. Readers snapshot the chunk list *before* opening their DuckDB
snapshot and keep only rows with ``seq`` above the watermark committed in that snapshot, so a
row is seen exactly once whichever side of a commit the reader lands on.
"""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.compute as pc

from lynex.storage.schema import ARROW_SCHEMA


class Memtable:
    def __init__(self):
        self._chunks: list[tuple[pa.Table, int, float, int]] = []  # (rows, last seq, added at, bytes)
        self._lock = threading.Lock()
        self.rows = 0
        self.nbytes = 0  # Arrow buffer bytes held (ingest admission and flushing watch this)

    def add(self, table: pa.Table, last_seq: int) -> None:
        with self._lock:
            size = table.nbytes  # walks every buffer: measured once per chunk
            self._chunks.append((table, last_seq, time.monotonic(), size))
            self.rows += table.num_rows
            self.nbytes += size

    def oldest_age(self) -> float:
        with self._lock:
            return time.monotonic() - self._chunks[0][2] if self._chunks else 0.0

    def take(self, max_rows: int, max_bytes: int = 0) -> tuple[pa.Table, int] | None:
        """Chunks from the front totalling about ``max_rows`` / ``max_bytes`` (not removed)."""
        with self._lock:
            chosen, rows, size = [], 0, 0
            for table, last_seq, _, nbytes in self._chunks:
                if chosen and (rows + table.num_rows > max_rows or (max_bytes and size + nbytes > max_bytes)):
                    break
                chosen.append((table, last_seq))
                rows += table.num_rows
                size += nbytes
        if not chosen:
            return None
        return pa.concat_tables([t for t, _ in chosen]), chosen[-1][1]

    def drop_through(self, last_seq: int) -> int:
        """Remove chunks committed to the store (every seq ≤ ``last_seq``); returns rows removed."""
        with self._lock:
            gone = [c for c in self._chunks if c[1] <= last_seq]
            self._chunks = [c for c in self._chunks if c[1] > last_seq]
            removed = sum(c[0].num_rows for c in gone)
            self.rows -= removed
            self.nbytes -= sum(c[3] for c in gone)
            return removed

    def rows_of_seq(self, seq: int) -> pa.Table:
        """The uncommitted rows with this seq (none or one), from the one chunk that can hold it."""
        with self._lock:
            chunk = next((c[0] for c in self._chunks if c[1] >= seq), None)  # seq-ordered chunks
        if chunk is None:
            return ARROW_SCHEMA.empty_table()
        return chunk.filter(pc.equal(chunk["seq"], seq))

    def snapshot(self) -> pa.Table:
        """All uncommitted rows as one table (zero-copy concatenation)."""
        with self._lock:
            tables = [c[0] for c in self._chunks]
        if not tables:
            return ARROW_SCHEMA.empty_table()
        return pa.concat_tables(tables)
