"""Append-only ingest log with group commit: an acknowledged span is on disk before the 2xx.

Why our own log instead of acknowledging after the DuckDB commit: DuckDB inserts run at
15–21k rows/s in small batches and checkpoints stall writes for seconds, while an fsync'd
append log takes ~650k records/s. The log makes the ack fast and durable; DuckDB is fed in
large batches behind it, and records are replayed on start for every sequence number above
the watermark DuckDB committed (so replay never duplicates).

Layout: ``wal/<first seq, 20 digits>.wal`` segments of framed records
``[u32 length][u32 crc32][payload]``; a torn tail (crash mid-write) is cut off on open.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import threading
import time
import zlib
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

import msgspec

from lynex.ingest.decode import BATCH_SUFFIX, OTLP, probe_id, split_body
from lynex.ingest.otlp.records import span_ids as otlp_span_ids

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
SEGMENT_BYTES = 64 * 1024 * 1024


class Record(msgspec.Struct, array_like=True, gc=False):
    """One acknowledged ingest request: spans seq..seq+count-1 of one project.

    ``raws`` holds one encoded span each, or, when ``fmt`` ends in ``-batch``, the whole
    request body (``{"spans": [...]}``, or an OTLP request) as its single element.
    """

    project_id: str
    seq: int
    received_us: int
    fmt: str
    raws: list[bytes]
    count: int

    @property
    def last_seq(self) -> int:
        return self.seq + self.count - 1

    @property
    def nbytes(self) -> int:
        """Encoded size: what the record costs in memory while it waits to be processed."""
        return sum(len(raw) for raw in self.raws)

    @property
    def span_fmt(self) -> str:
        return self.fmt.removesuffix(BATCH_SUFFIX)

    def span_raws(self) -> list[bytes]:
        """One encoded span per element, whatever the record's layout."""
        if self.fmt.endswith(BATCH_SUFFIX):
            return split_body(self.span_fmt, self.raws[0])
        return self.raws

    def span_ids(self) -> list[str | None]:
        """The id of each span (None where a span does not decode): idempotency keys after a restart."""
        if self.span_fmt == OTLP:  # each raw is a request: read its ids without splitting it
            return list(otlp_span_ids(self.raws))
        return [probe_id(self.span_fmt, raw) for raw in self.span_raws()]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Record)


def _segment_path(directory: Path, first_seq: int) -> Path:
    return directory / f"{first_seq:020d}.wal"


def _read_segment(path: Path) -> tuple[list[Record], int]:
    """Records of one segment and the byte offset where the valid part ends."""
    data = path.read_bytes()
    records: list[Record] = []
    pos = 0
    while pos + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        payload = data[start:start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            break
        try:
            records.append(_decoder.decode(payload))
        except msgspec.DecodeError:
            break
        pos = start + length
    return records, pos


def _settle(batch: list, error: Exception | None) -> None:
    """Resolve a commit's futures: thread futures here, each event loop's in one callback."""
    by_loop: dict = {}
    for record, future in batch:
        if isinstance(future, Future):
            future.set_exception(error) if error is not None else future.set_result(record)
        else:
            by_loop.setdefault(future.get_loop(), []).append((record, future))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_in_loop, items, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass


def _settle_in_loop(items: list, error: Exception | None) -> None:
    for record, future in items:
        if not future.done():  # a request cancelled meanwhile (client gone) is left alone
            future.set_exception(error) if error is not None else future.set_result(record)


class WriteAheadLog:
    """Group-committing log; ``append`` returns a Future resolved once the record is fsync'd."""

    def __init__(self, directory: Path, fsync: bool = True,
                 on_durable: Callable[[list[Record]], None] | None = None):
        self.directory = directory
        self.fsync = fsync
        self.on_durable = on_durable or (lambda records: None)
        self._lock = threading.Condition()
        self._pending: list[tuple[Record, Future]] = []
        self._next_seq = 1
        self._segments: list[int] = []  # first seq of each segment, ascending
        self._fd: int | None = None
        self._segment_size = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Figures for /metrics.
        self.commits = 0
        self.records_written = 0
        self.bytes_written = 0
        self.last_commit_seconds = 0.0

    # -- start-up -------------------------------------------------------------------------
    def recover(self, applied_seq: int) -> list[Record]:
        """Open the log; return records holding spans with seq > applied_seq (to re-apply)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = sorted(self.directory.glob("*.wal"))
        replay: list[Record] = []
        max_seq = applied_seq
        for path in paths:
            records, valid_end = _read_segment(path)
            if valid_end < path.stat().st_size:
                log.warning("ingest log %s: cutting a torn tail at byte %d", path.name, valid_end)
                with open(path, "r+b") as fh:
                    fh.truncate(valid_end)
            self._segments.append(int(path.stem))
            for record in records:
                max_seq = max(max_seq, record.last_seq)
                if record.last_seq > applied_seq:
                    if record.seq <= applied_seq:  # partly applied: keep only the rest
                        rest = record.span_raws()[applied_seq - record.seq + 1:]
                        record = Record(record.project_id, applied_seq + 1, record.received_us,
                                        record.span_fmt, rest, len(rest))
                    replay.append(record)
        self._next_seq = max_seq + 1
        self._open_segment(self._next_seq)
        return replay

    def _open_segment(self, first_seq: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
        path = _segment_path(self.directory, first_seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._segment_size = os.fstat(self._fd).st_size
        if not self._segments or self._segments[-1] != first_seq:
            self._segments.append(first_seq)
        if self.fsync:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "WriteAheadLog":
        self._thread = threading.Thread(target=self._run, name="lynex-wal", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread:
            self._thread.join()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- writing --------------------------------------------------------------------------
    def append(self, project_id: str, received_us: int, fmt: str, raws: list[bytes], count: int,
               loop: asyncio.AbstractEventLoop | None = None) -> Future | asyncio.Future:
        """Queue one record of ``count`` spans; the future resolves to it when durable (or fails).

        With ``loop``, an asyncio future of that loop: a group commit then settles all of its
        requests in one loop callback (one wake-up, not one per request)."""
        future = loop.create_future() if loop is not None else Future()
        with self._lock:
            if self._stopping:
                future.set_exception(RuntimeError("ingest log is shutting down"))
                return future
            record = Record(project_id, self._next_seq, received_us, fmt, raws, count)
            self._next_seq += count
            self._pending.append((record, future))
            self._lock.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if not self._pending and self._stopping:
                    return
                batch, self._pending = self._pending, []
            self._commit(batch)

    def _commit(self, batch: list[tuple[Record, Future]]) -> None:
        started = time.perf_counter()
        try:
            if self._segment_size >= SEGMENT_BYTES:
                self._open_segment(batch[0][0].seq)
            chunks = []
            for record, _ in batch:
                payload = _encoder.encode(record)
                chunks.append(_HEADER.pack(len(payload), zlib.crc32(payload)))
                chunks.append(payload)
            blob = b"".join(chunks)
            view = memoryview(blob)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self.fsync:
                os.fdatasync(self._fd)
        except OSError as exc:
            log.error("ingest log write failed; %d requests answered 503: %s", len(batch), exc)
            _settle(batch, exc)
            return
        self._segment_size += len(blob)
        self.commits += 1
        self.records_written += len(batch)
        self.bytes_written += len(blob)
        self.last_commit_seconds = time.perf_counter() - started
        records = [record for record, _ in batch]
        try:
            self.on_durable(records)
        finally:
            _settle(batch, None)

    # -- trimming -------------------------------------------------------------------------
    def checkpoint(self, applied_seq: int) -> int:
        """Delete segments whose every record is at or below ``applied_seq``; returns how many."""
        with self._lock:
            segments = list(self._segments)
        removed = 0
        # A segment ends where the next one starts; the last (open) segment is never removed.
        for first, following in zip(segments, segments[1:]):
            if following - 1 <= applied_seq:
                try:
                    _segment_path(self.directory, first).unlink()
                except FileNotFoundError:
                    pass
                with self._lock:
                    self._segments.remove(first)
                removed += 1
            else:
                break
        return removed

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def segment_count(self) -> int:
        return len(self._segments)
