"""The ingest pipeline: admission → durable log → buffer → processor → memtable → DuckDB.

Threads: the log's committer (fsync), the processor (decode + enrich into Arrow chunks that are
queryable at once) and the store writer (the only DuckDB writer, in large transactions so it
keeps up). Stopping drains everything accepted into DuckDB before returning.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import duckdb
import pyarrow as pa

from lynex import memory, priority
from lynex.ingest.buffer import SpanBuffer
from lynex.ingest.decode import BATCH_SUFFIX, DecodedBatch
from lynex.ingest.dedup import RecentIds
from lynex.ingest.locator import SeqLocator
from lynex.ingest.memtable import Memtable
from lynex.ingest.processor import Enricher
from lynex.ingest.wal import Record, WriteAheadLog
from lynex.ingest.workers import Pending, ProcessorWorker
from lynex.metrics import Metrics
from lynex.models import IngestResult
from lynex.storage.hot import HotStore

log = logging.getLogger(__name__)


# The processor and the store writer run a little below the request path (event loop, log
# committer): when the CPU is short the scheduler serves acknowledgements first, and the rows
# reach the memtable and DuckDB a little later (bench/ingest.py: ack p99 116 → 91 ms on a busy box).
BACKGROUND_NICE = 5
# Largest DuckDB insert, in memtable bytes (~34k rows of 2 KB spans). Inserts of 32k rows cost the
# same CPU per row as 64k-row ones (11 µs; 8k rows: 19 µs), and every byte above this waits in
# the memtable and DuckDB at once. At 20k spans/s, against flushing at half of a 384 MiB budget:
# process-tree PSS 1,138 → 950 MiB, ack p99 47 → 39 ms, queryable p99 795 → 379 ms.
FLUSH_BYTES = 64 << 20


class AtCapacity(Exception):
    """The buffer is full: answer 503 with Retry-After."""


class StorageUnavailable(Exception):
    """The log could not be written: answer 503; nothing was acknowledged."""


@dataclass(frozen=True)
class PipelineSettings:
    buffer_max_spans: int
    flush_interval_s: float
    flush_max_rows: int
    dedup_window: int
    wal_fsync: bool
    processor_process: bool = False
    enrichment_workers: int = 2  # worker processes when processor_process
    buffer_max_bytes: int = 0  # 0: bounded by spans only
    prices_file: str = ""
    max_text_bytes: int = 1 << 20


def _now_us() -> int:
    return time.time_ns() // 1000


class Pipeline:
    """Owns the ingest threads; a context manager started and stopped by the app lifespan."""

    def __init__(self, hot: HotStore, wal_dir, enricher: Enricher, settings: PipelineSettings,
                 metrics: Metrics):
        self.hot = hot
        self.enricher = enricher
        self.settings = settings
        self.metrics = metrics
        self.memtable = Memtable()
        self.buffer = SpanBuffer(settings.buffer_max_spans, settings.buffer_max_bytes, lambda: self.memtable.nbytes)
        # The memtable is flushed at FLUSH_BYTES, or at half the byte budget when that is smaller:
        # while an insert runs new rows keep arriving, and admission (which counts them) should
        # refuse only when the store cannot keep up, not on every flush cycle.
        self._flush_bytes = min(settings.buffer_max_bytes // 2, FLUSH_BYTES)
        self.recent = RecentIds(settings.dedup_window)
        self.locator = SeqLocator()
        self.wal = WriteAheadLog(wal_dir, fsync=settings.wal_fsync, on_durable=self.buffer.push)
        self.workers = ([ProcessorWorker(settings.prices_file, settings.max_text_bytes)
                         for _ in range(max(1, settings.enrichment_workers))]
                        if settings.processor_process else [])
        self.listeners: list[Callable[[pa.Table], None]] = []  # live tail, realtime detectors
        self._writer_jobs: list[tuple[Callable, Future]] = []
        self._writer_jobs_lock = threading.Lock()
        self._stop = threading.Event()
        self._processor_done = threading.Event()
        self._threads: list[threading.Thread] = []
        self.applied_seq = 0  # highest seq committed to DuckDB
        self.visible_seq = 0  # highest seq queryable (in the memtable or DuckDB)
        self.last_error: str | None = None
        self._describe_metrics()

    def _describe_metrics(self) -> None:
        m = self.metrics
        m.describe("lynex_ingest_spans_accepted_total", "counter", "Spans acknowledged (durable).")
        m.describe("lynex_ingest_spans_rejected_total", "counter", "Spans or requests refused, by reason.")
        m.describe("lynex_ingest_spans_duplicate_total", "counter", "Spans dropped as retries of stored ids.")
        m.describe("lynex_store_rows_total", "counter", "Rows committed to the hot store.")
        m.describe("lynex_store_flush_seconds", "summary", "Duration of DuckDB insert transactions.")
        m.describe("lynex_processor_failed_total", "counter", "Records that could not be processed.")
        m.describe("lynex_ingest_request_seconds", "summary", "Time in the ingest handler (auth to durable ack).")
        m.describe("lynex_wal_wait_seconds", "summary", "Time an ingest request waits for its group commit.")
        m.gauge("lynex_buffer_spans", lambda: self.buffer.queued_spans, "Spans durable but not yet processed.")
        m.gauge("lynex_buffer_in_flight_spans", lambda: self.buffer.in_flight,
                "Spans acknowledged but not yet in DuckDB (capacity counts these).")
        m.gauge("lynex_buffer_capacity_spans", lambda: self.buffer.max_spans, "Capacity before 503.")
        m.gauge("lynex_memtable_rows", lambda: self.memtable.rows, "Rows queryable in memory, not yet in DuckDB.")
        m.gauge("lynex_memtable_bytes", lambda: self.memtable.nbytes, "Arrow bytes of the memtable's rows.")
        m.gauge("lynex_buffer_bytes", lambda: self.buffer.queued_bytes,
                "Encoded bytes of durable records waiting to be processed.")
        m.gauge("lynex_buffer_capacity_bytes", lambda: self.buffer.max_bytes,
                "Byte budget (waiting + memtable) before 503; 0 = none.")
        m.gauge("lynex_durability_lag_seconds", self.memtable.oldest_age,
                "Age of the oldest acknowledged row not yet committed to DuckDB.")
        m.gauge("lynex_wal_commits_total", lambda: self.wal.commits, "Group commits of the ingest log.")
        m.gauge("lynex_wal_last_commit_seconds", lambda: self.wal.last_commit_seconds,
                "Duration of the last ingest-log group commit (write + fsync).")
        m.gauge("lynex_wal_segments", self.wal.segment_count, "Ingest log segment files on disk.")
        m.gauge("lynex_dedup_window_keys", lambda: len(self.recent), "Span ids remembered for idempotency.")

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> "Pipeline":
        self.applied_seq = self.visible_seq = self.hot.applied_seq()
        replay = self.wal.recover(self.applied_seq)
        self.recent.add_many(RecentIds.key(p, i) for p, i in reversed(self.hot.recent_keys(self.recent.capacity)))
        if replay:
            spans = sum(r.count for r in replay)
            log.info("ingest log: replaying %d spans accepted before the last stop", spans)
            self.buffer.push(replay, admitted=False)
            self._remember(replay)
        for worker in self.workers:
            worker.__enter__()
        self.wal.__enter__()
        for name, target in (("lynex-processor", self._process_loop), ("lynex-store-writer", self._write_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        """Stop: refuse new work, then drain log → buffer → memtable → DuckDB."""
        self.wal.__exit__(None, None, None)
        self._stop.set()
        self.buffer.wake()
        for thread in self._threads:
            thread.join()
        for worker in self.workers:
            worker.__exit__(None, None, None)
        log.info("ingest pipeline stopped; every accepted span is stored (seq ≤ %d)", self.applied_seq)

    def _remember(self, records: list[Record]) -> None:
        self.recent.add_many(self._keys_of(records))

    def _keys_of(self, records: list[Record]):
        for record in records:
            for span_id in record.span_ids():
                if span_id is not None:
                    yield RecentIds.key(record.project_id, span_id)

    # -- the request path (event loop) ------------------------------------------------------
    async def ingest(self, project_id: str, batch: DecodedBatch) -> IngestResult:
        """Make the accepted spans durable; raise AtCapacity / StorageUnavailable for a 503."""
        keys = [RecentIds.key(project_id, span.id) for _, span, _ in batch.accepted]
        fresh = self.recent.unseen(keys)  # positions in batch.accepted
        if len(fresh) < len(keys):
            keys = [keys[position] for position in fresh]
        duplicates = len(batch.accepted) - len(fresh)
        if duplicates:
            self.metrics.inc("lynex_ingest_spans_duplicate_total", duplicates)
        if fresh:
            if not self.buffer.try_admit(len(fresh)):
                self.metrics.inc("lynex_ingest_spans_rejected_total", len(fresh), reason="at_capacity")
                raise AtCapacity()
            # Claim the ids before awaiting, so a concurrent retry of the same batch is a duplicate.
            self.recent.add_new(keys)
            if batch.body is not None and not duplicates:
                # Log the body as received: no per-span split or re-encode on the request path.
                fmt, raws = batch.fmt + BATCH_SUFFIX, [batch.body]
            else:
                every = batch.raws()
                fmt, raws = batch.fmt, [every[position] for position in fresh]
            future = self.wal.append(project_id, _now_us(), fmt, raws, len(fresh), loop=asyncio.get_running_loop())
            waited = time.perf_counter()
            try:
                record = await future
                self.metrics.observe("lynex_wal_wait_seconds", time.perf_counter() - waited)
                self.locator.add(keys, record.seq)  # the record holds the fresh spans in order
            except Exception as exc:
                self.recent.discard_many(keys)
                self.buffer.release(len(fresh))
                self.metrics.inc("lynex_ingest_spans_rejected_total", len(fresh), reason="storage_unavailable")
                raise StorageUnavailable(str(exc)) from exc
            self.metrics.inc("lynex_ingest_spans_accepted_total", len(fresh))
        if batch.rejected:
            self.metrics.inc("lynex_ingest_spans_rejected_total", len(batch.rejected), reason="invalid")
        return IngestResult(accepted=len(batch.accepted), rejected=batch.rejected, duplicates=duplicates)

    def locate(self, project_id: str, span_id: str) -> tuple[int, bool] | None:
        """(seq, queryable yet) of a recently acknowledged span, or None (see locator.py)."""
        seq = self.locator.get(RecentIds.key(project_id, span_id))
        return None if seq is None else (seq, seq <= self.visible_seq)

    def caught_up(self) -> bool:
        """Every span acknowledged so far is queryable (tests and the demo seeder wait on this)."""
        return self.visible_seq >= self.wal.next_seq - 1

    # -- processor thread -------------------------------------------------------------------
    def _process_loop(self) -> None:
        priority.lower(BACKGROUND_NICE)
        # Two batches per worker in flight: while one is enriched the next waits in its socket,
        # so a worker never idles while this thread publishes. Tables are published in
        # submission order, which is seq order.
        in_flight: deque[tuple[list[Record], Pending | None]] = deque()
        depth = 2 * len(self.workers) if self.workers else 1
        turn = 0
        while True:
            if len(in_flight) < depth:
                # Batches of ~5k spans: big enough to amortise the worker round trip, small
                # enough that a batch's transient copies (IPC in and out) stay around 20 MB.
                records = self.buffer.pop(max_spans=5_000, timeout=0.0 if in_flight else 0.05)
                if records:
                    pending = None
                    if self.workers:
                        pending = self._submit(self.workers[turn % len(self.workers)], records)
                        turn += 1
                    in_flight.append((records, pending))
                    continue
            if in_flight:
                self._process(*in_flight.popleft())
            elif self._stop.is_set() and self.buffer.queued_spans == 0:
                break
        self._processor_done.set()

    @staticmethod
    def _submit(worker: ProcessorWorker, records: list[Record]) -> Pending | None:
        try:
            return worker.submit(records)
        except Exception:  # e.g. a batch too odd to encode: _process enriches it in-thread
            log.exception("could not hand %d records to an enrichment worker", len(records))
            return None

    def _process(self, records: list[Record], pending: Pending | None = None) -> None:
        try:
            table = pending.result() if pending is not None else self.enricher.table(records)
        except Exception:
            # One bad record must not cost the others: retry one by one; a record that still
            # fails is salvaged span by span (acknowledged spans are stored, whatever happens).
            for record in records:
                try:
                    table = self.enricher.table([record])
                except Exception:
                    log.exception("could not enrich %d spans of project %s (seq %d); storing them as "
                                  "salvaged", record.count, record.project_id, record.seq)
                    self.metrics.inc("lynex_processor_failed_total", record.count)
                    table = self.enricher.salvage(record)
                if table.num_rows < record.count:  # a body that could not even be split
                    self.buffer.release(record.count - table.num_rows)
                self._publish(table, record.last_seq)
            return
        self._publish(table, records[-1].last_seq)

    def _publish(self, table: pa.Table, last_seq: int) -> None:
        self.memtable.add(table, last_seq)
        self.visible_seq = last_seq
        for listener in self.listeners:
            try:
                listener(table)
            except Exception:
                log.exception("ingest listener %r failed", listener)

    # -- store writer thread ----------------------------------------------------------------
    def run_on_writer(self, fn: Callable, timeout: float = 600.0):
        """Run ``fn(con)`` on the DuckDB writer thread (the only writer) and return its result."""
        if not any(t.is_alive() for t in self._threads):
            with self.hot.writing():  # not serving (CLI, tests): the caller is the only writer
                return fn(self.hot.con)
        future: Future = Future()
        with self._writer_jobs_lock:
            self._writer_jobs.append((fn, future))
        return future.result(timeout=timeout)

    def _run_writer_jobs(self) -> None:
        with self._writer_jobs_lock:
            jobs, self._writer_jobs = self._writer_jobs, []
        for fn, future in jobs:
            try:
                with self.hot.writing():
                    future.set_result(fn(self.hot.con))
            except BaseException as exc:
                future.set_exception(exc)

    def _write_loop(self) -> None:
        priority.lower(BACKGROUND_NICE)
        interval = self.settings.flush_interval_s
        while True:
            self._run_writer_jobs()
            draining = self._processor_done.is_set()
            due = (self.memtable.rows >= self.settings.flush_max_rows or self.memtable.oldest_age() >= interval
                   or (self._flush_bytes and self.memtable.nbytes >= self._flush_bytes))
            if self.memtable.rows and (due or draining):
                self._flush()
                continue
            if draining:
                self._run_writer_jobs()
                break
            time.sleep(0.02)

    def _flush(self) -> None:
        taken = self.memtable.take(self.settings.flush_max_rows, self._flush_bytes)
        if taken is None:
            return
        table, last_seq = taken
        started = time.perf_counter()
        try:
            self.hot.insert(table, last_seq)
        except duckdb.FatalException as exc:
            # DuckDB invalidated the database: without a reopen every later insert fails too and
            # ingest would answer 503 for ever. The rows stay in the memtable (and the log), so
            # after the reopen whatever the store does not hold is inserted again.
            self.last_error = f"hot store failed fatally, reopened: {exc}"
            log.error("hot store insert of %d rows failed fatally (%s); reopening", table.num_rows, exc)
            try:
                self.hot.reopen()
                self._applied(self.hot.applied_seq())
            except Exception:
                log.exception("hot store could not be reopened; will retry")
                time.sleep(1.0)
            return
        except Exception as exc:
            self.last_error = f"hot store insert failed: {exc}"
            log.exception("hot store insert of %d rows failed; will retry", table.num_rows)
            time.sleep(1.0)
            return
        self.last_error = None
        self.metrics.observe("lynex_store_flush_seconds", time.perf_counter() - started)
        self.metrics.inc("lynex_store_rows_total", table.num_rows)
        self._applied(last_seq)
        memory.trim()  # the flushed rows' buffers are free now: keep RSS near what is held

    def _applied(self, applied_seq: int) -> None:
        """Everything up to ``applied_seq`` is committed to DuckDB: let go of it in memory."""
        if applied_seq <= self.applied_seq:
            return
        self.applied_seq = applied_seq
        self.buffer.release(self.memtable.drop_through(applied_seq))
        self.wal.checkpoint(applied_seq)
