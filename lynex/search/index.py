"""The full-text index over spans: a tantivy index under ``<data dir>/search/``.

Derived data. DuckDB (and Parquet) hold the spans; this index only maps words to ``seq``. So:

* **Watermark** — ``state.json`` records the highest seq such that every span at or below it is
  committed to the index. It is written after each tantivy commit; on open, documents above it
  (committed just before a crash, before the state file caught up) are deleted, so re-feeding
  rows above the watermark never creates duplicates.
* **Corrupt, missing or old-format index** — wiped and reopened empty with watermark 0; the rows
  come back from the ``source`` (or whoever re-feeds above :meth:`SearchIndex.watermark`).
* **Backlog** — :meth:`SearchIndex.add` never blocks ingest: tables wait in a bounded queue for
  the indexer thread. When the queue is full the table is dropped and remembered as a *gap*; the
  indexer later reads the gap back from ``source`` (rows ordered by seq). Until it has (no
  source, the rows not readable yet, or a stop first), the persisted watermark stays below the
  gap, so the next start re-feeds it; newer spans stay searchable meanwhile.
* **Search** looks at the newest hour first and widens the window 8× until the page is full: a
  page is exact (start_time, seq descending) and a word found in every span costs milliseconds.
* **Deletes** are committed before the call returns, and also filter rows still queued, so a
  deleted span is never found, whichever order deletion and indexing happen in.

Threads: one indexer thread owns adds and periodic commits; deletes take the same writer lock;
any number of threads search concurrently (each search takes a fresh tantivy searcher, i.e. a
consistent snapshot of committed segments).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import tantivy

from lynex import priority
from lynex.search.query import QueryBuilder
from lynex.search.schema import FORMAT_VERSION, analyzers, schema, to_us
from lynex.search.writer import INDEX_COLUMNS, DeleteSpec, LocalWriter, WriterGone, WriterProcess

log = logging.getLogger(__name__)

_MAX_TERMS = 1024  # per delete batch: term-set queries stay small

# A source of rows to catch up from: (after_seq, max_rows) → rows with seq > after_seq ordered by
# seq (an Arrow table with at least project_id, seq, start_time, name, model, input, output,
# metadata), or None / an empty table when there are none (yet).
Source = Callable[[int, int], "pa.Table | None"]


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """Tuning of the search index (defaults measured on a shared 2-core box: bench/search.py)."""

    commit_interval_s: float = 1.0  # a span is searchable within about this long after add()
    commit_max_docs: int = 200_000  # commit sooner when this many documents are pending
    backlog_max_rows: int = 100_000  # rows queued before add() drops them (→ gap, caught up later)
    backlog_max_bytes: int = 32_000_000  # …or bytes queued (prepared text is ~1 KB per chat span)
    writer_heap_bytes: int = 64_000_000  # tantivy's indexing memory, split between its threads (RSS budget)
    writer_threads: int = 2  # tantivy indexing threads (they run niced: see indexer_nice)
    writer_process: bool = True  # write in a child process (see lynex.search.writer); False: in-thread
    indexer_nice: int = 10  # Linux: the indexer and tantivy's threads yield the CPU to ingest
    max_chars_per_span: int = 64_000  # longer span text is indexed up to here only
    catchup_batch_rows: int = 5_000  # rows read from the source per call (~10 MB of chat spans in memory)
    gap_batch_rows: int = 2_000  # …while spans are arriving: the queue waits at most one such read
    catchup_patience_s: float = 60.0  # how long a gap may stay unreadable before it is left to restart
    first_window_s: float = 3600.0  # search looks at the newest hour first, then 8× wider
    close_timeout_s: float = 30.0  # how long __exit__ keeps indexing the queue before it gives up


@dataclasses.dataclass
class _PendingDelete:
    """A delete also applied to rows queued (not yet indexed) with seq ≤ upto."""

    upto: int
    seqs: frozenset[int] | None = None
    project_id: str | None = None
    before_us: int | None = None  # with project_id: only rows older than this


class SearchIndex:
    """Full-text search over spans: ``add`` from the ingest thread, ``search`` from anywhere."""

    def __init__(self, directory: str | os.PathLike, settings: SearchSettings | None = None,
                 source: Source | None = None):
        self.directory = Path(directory)
        self.settings = settings or SearchSettings()
        self.source = source
        self._schema = schema()
        self._q = QueryBuilder(self._schema, analyzers())
        self._index: tantivy.Index | None = None
        self._writer: tantivy.IndexWriter | None = None
        self._wlock = threading.Lock()  # the tantivy writer and the index-side state below
        self._cv = threading.Condition()  # the queue and the add()-side state below
        self._queue: deque[pa.Table] = deque()
        self._queued_rows = 0
        self._queued_bytes = 0
        self._max_seen = 0  # highest seq handed to add()
        # Seq ranges [lo, hi] not in the index (dropped by a full queue, lost with a writer), sorted
        # and disjoint; read back from the source when the queue is idle. _stuck: ranges the source
        # could not give back; only the next start re-feeds them.
        self._gaps: list[list[int]] = []
        self._stuck_from = 0
        self._gap_waited_since: float | None = None
        self._last_add = 0.0  # monotonic time of the last add()
        self._deletes: list[_PendingDelete] = []
        self._indexed_upto = 0  # every seq ≤ this, outside _gaps, is in the writer (committed or pending)
        self._watermark = 0  # every seq ≤ this is committed (persisted in state.json)
        self._pending_docs = 0
        self._newest_us: int | None = None  # bounds of start_time over indexed spans (deletes
        self._oldest_us: int | None = None  # leave them wider than needed: harmless)
        self._first_pending_at = 0.0
        self._catchup_needed = source is not None  # at start: anything above the watermark
        self._ready = threading.Event()
        self._stop = False
        self._deadline = 0.0
        self._thread: threading.Thread | None = None
        self.dropped_rows = 0  # rows a full queue could not take (caught up later)
        self.writer_restarts = 0  # writer processes that died and were replaced
        self.failed_rows = 0  # rows skipped because they could not be indexed
        self.last_error: str | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> "SearchIndex":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._open()
        self._thread = threading.Thread(target=self._run, name="lynex-search-indexer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._writer is None:
            raise RuntimeError(f"search index writer could not start: {self.last_error}")
        return self

    def __exit__(self, *exc) -> None:
        """Index what is queued (up to close_timeout_s), commit, persist the watermark."""
        with self._cv:
            self._stop = True
            self._deadline = time.monotonic() + self.settings.close_timeout_s
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._wlock:
            if self._writer is not None:
                try:
                    self._commit_locked()
                    self._writer.close()
                except WriterGone:  # the next start re-feeds what is above the watermark
                    log.warning("search writer gone at shutdown; rows above seq %d are re-fed at the "
                                "next start", self._watermark)
                self._writer = None
        self._index = None

    def _open(self) -> None:
        state = self._read_state()
        index_dir = self.directory / "index"
        if state is None or state.get("format") != FORMAT_VERSION:
            if index_dir.exists():
                log.info("search index: format changed or state missing; rebuilding from scratch")
            shutil.rmtree(index_dir, ignore_errors=True)
            state = {"watermark": 0}
        index_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._index = tantivy.Index(self._schema, path=str(index_dir), reuse=True)
        except Exception:
            log.exception("search index unreadable; starting an empty one (it will be re-fed)")
            shutil.rmtree(index_dir, ignore_errors=True)
            index_dir.mkdir(parents=True)
            self._index = tantivy.Index(self._schema, path=str(index_dir), reuse=True)
            state = {"watermark": 0}
        for name, analyzer in self._q.analyzers.items():
            self._index.register_tokenizer(name, analyzer)
        self._index.config_reader(reload_policy="Manual")  # reloaded by each commit, below
        self._watermark = self._indexed_upto = int(state["watermark"])
        self._time_bounds()

    def _start_writer(self) -> None:
        """In the indexer thread: lower its priority first, so that tantivy's indexing and merge
        threads (spawned here or by the writer process, inheriting it) give way to ingest."""
        priority.lower(self.settings.indexer_nice)
        with self._wlock:
            self._open_writer_locked()

    def _open_writer_locked(self) -> None:
        s = self.settings
        kind = WriterProcess if s.writer_process else LocalWriter
        self._writer = kind(self.directory / "index", s.writer_heap_bytes, s.writer_threads,
                            s.max_chars_per_span, s.indexer_nice)
        # Drop documents committed above the persisted watermark: they will be re-fed.
        self._writer.delete(("above", self._watermark))
        self._commit_locked(force=True)

    def _replace_writer_locked(self, lost_upto: int = 0) -> None:
        """The writer process died: what it had not committed is lost. Start a new one; everything
        above the watermark (up to ``lost_upto`` at least) becomes a gap, read back from the
        source like a dropped table."""
        self.writer_restarts += 1
        log.error("search writer process died; starting a new one and re-feeding seqs above %d", self._watermark)
        lost_upto = max(lost_upto, self._indexed_upto)
        self._indexed_upto = lost_upto
        self._pending_docs = 0
        if lost_upto > self._watermark:
            self._add_gap(self._watermark + 1, lost_upto)
        self._open_writer_locked()

    def _writing(self, fn, indexing: pa.Table | None = None) -> None:
        """``fn()`` under the writer lock. A dead writer process is replaced; then ``fn`` runs again,
        unless it was indexing rows: those join the gap of what the dead writer lost."""
        with self._wlock:
            try:
                fn()
            except WriterGone:
                if indexing is None:
                    self._replace_writer_locked()
                    fn()
                else:
                    self._replace_writer_locked(pc.max(indexing.column("seq")).as_py() or 0)

    # -- state file ---------------------------------------------------------------------------
    def _read_state(self) -> dict | None:
        try:
            return json.loads((self.directory / "state.json").read_text())
        except (OSError, ValueError):
            return None

    def _write_state(self, watermark: int) -> None:
        path = self.directory / "state.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({"format": FORMAT_VERSION, "watermark": watermark}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    # -- writing ------------------------------------------------------------------------------
    def watermark(self) -> int:
        """Highest seq such that every span at or below it is committed to the index."""
        return self._watermark

    def add(self, table: pa.Table) -> bool:
        """Queue a chunk of span rows for indexing (never blocks); False when the queue was full
        and the rows were left for catch-up instead."""
        n = table.num_rows
        if n == 0:
            return True
        table = table.select(INDEX_COLUMNS)  # the rest of the enriched batch is not held here
        seqs = table.column("seq")
        lo, hi = pc.min(seqs).as_py(), pc.max(seqs).as_py()
        size = table.nbytes
        with self._cv:
            self._max_seen = max(self._max_seen, hi)
            self._last_add = time.monotonic()
            if (self._queued_rows + n > self.settings.backlog_max_rows
                    or (self._queue and self._queued_bytes + size > self.settings.backlog_max_bytes)):
                self.dropped_rows += n
                self._add_gap(lo, hi)
                return False
            self._queue.append(table)
            self._queued_rows += n
            self._queued_bytes += size
            self._cv.notify()
        return True

    def _run(self) -> None:
        try:
            self._start_writer()
        except Exception as exc:
            self.last_error = str(exc)
            log.exception("search index writer could not start")
            return
        finally:
            self._ready.set()
        while True:
            try:
                if self._catchup_needed or self._gap_due():
                    self._catch_up()
                with self._cv:
                    if not self._queue and not self._stop and not (self._gaps and self.source is not None):
                        self._cv.wait(self._until_commit())
                    table = self._queue.popleft() if self._queue else None
                    if table is not None:
                        self._queued_rows -= table.num_rows
                        self._queued_bytes -= table.nbytes
                    elif self._stop:
                        return
                if table is not None:
                    self._writing(lambda: self._index_table(table), indexing=table)
                if self._stop and time.monotonic() > self._deadline:
                    self._abandon_queue()
                    return
                self._writing(self._commit_locked)
            except Exception as exc:  # keep indexing: one bad batch must not stop search
                self.last_error = f"search indexer: {exc}"
                log.exception("search indexer failed; carrying on")
                if self._stop:  # …but a stop must not wait on an error that repeats (e.g. a store
                    self._abandon_queue()  # read out of memory): what is left is re-fed at start
                    return
                time.sleep(0.5)

    def _abandon_queue(self) -> None:
        """Shutting down with rows still queued: keep the watermark below them (re-fed at start)."""
        with self._cv:
            if self._queue:
                log.warning("search index: %d queued rows left for the next start", self._queued_rows)
                for t in self._queue:
                    self._add_gap(pc.min(t.column("seq")).as_py(), pc.max(t.column("seq")).as_py())
                self._queue.clear()
                self._queued_rows = self._queued_bytes = 0

    def _add_gap(self, lo: int, hi: int) -> None:
        """Record [lo, hi] as not indexed (merged with overlapping or adjacent ranges)."""
        with self._cv:
            merged = [lo, hi]
            kept = []
            for g in self._gaps:
                if g[1] + 1 < merged[0] or merged[1] + 1 < g[0]:
                    kept.append(g)
                else:
                    merged = [min(g[0], merged[0]), max(g[1], merged[1])]
            kept.append(merged)
            self._gaps = sorted(kept)

    def _gap_due(self) -> bool:
        """Gaps are read back from the store only when the queue is idle: rows in the queue are
        already in memory, gaps cost a read. Under a sustained overload the index keeps up with
        the newest spans it can, and fills the gaps once ingest slows down."""
        with self._cv:
            return bool(self._gaps) and self.source is not None and not self._queue

    def _until_commit(self) -> float:
        if not self._pending_docs:
            return self.settings.commit_interval_s
        return max(0.0, self._first_pending_at + self.settings.commit_interval_s - time.monotonic())

    def _catch_up(self) -> None:
        """At start (``_catchup_needed``): read every row above the watermark back from the
        source, until it has nothing newer. Otherwise: read back one chunk of the oldest gap."""
        if self.source is None:
            self._catchup_needed = False
            return
        if not self._catchup_needed:
            self._fill_gap()
            return
        while not self._stop:
            table = self.source(self._indexed_upto, self.settings.catchup_batch_rows)
            if table is None or not table.num_rows:
                break
            self._writing(lambda: (self._index_table(table), self._commit_locked()), indexing=table)
            with self._cv:  # what the contiguous read covered is no gap any more
                self._gaps = [[max(lo, self._indexed_upto + 1), hi] for lo, hi in self._gaps if hi > self._indexed_upto]
        self._catchup_needed = False

    def _fill_gap(self) -> None:
        with self._cv:
            lo, hi = self._gaps[0]
        s = self.settings
        busy = time.monotonic() - self._last_add < 1.0
        requested = min(s.gap_batch_rows if busy else s.catchup_batch_rows, hi - lo + 1)
        table = self.source(lo - 1, requested)
        if table is None or not table.num_rows or pc.min(table.column("seq")).as_py() > hi:
            # Nothing (more) of the gap in the store: deleted since, or not readable yet (still on
            # its way to memory). Wait a while; then leave it to the next start.
            readable_after = table is not None and table.num_rows > 0
            self._gap_waited_since = self._gap_waited_since or time.monotonic()
            if readable_after or time.monotonic() - self._gap_waited_since > s.catchup_patience_s:
                if not readable_after:
                    log.warning("search index: seqs %d..%d not readable from the source; left for the "
                                "next start", lo, hi)
                    self._stuck_from = lo if not self._stuck_from else min(self._stuck_from, lo)
                with self._cv:
                    self._gaps.pop(0)
                self._gap_waited_since = None
            else:
                time.sleep(0.2)
            return
        self._gap_waited_since = None
        top = pc.max(table.column("seq")).as_py()
        self._writing(lambda: (self._index_table(table, lo, hi), self._commit_locked()), indexing=table)
        with self._cv:
            if self._gaps and self._gaps[0][0] == lo:
                if top >= hi or table.num_rows < requested:
                    self._gaps.pop(0)  # the source has nothing more in [lo, hi]
                else:
                    self._gaps[0][0] = top + 1

    def _watermark_floor(self) -> int | None:
        """While rows of a gap are not indexed, the watermark stays below them."""
        with self._cv:
            lows = [g[0] for g in self._gaps[:1]] + ([self._stuck_from] if self._stuck_from else [])
        return min(lows) - 1 if lows else None

    def _index_table(self, table: pa.Table, lo: int | None = None, hi: int | None = None) -> None:
        """Add rows to the writer, minus pending deletes (wlock held): those above _indexed_upto,
        or, when filling a gap, those in [lo, hi]."""
        seq_col = table.column("seq")
        if lo is None:
            mask = pc.greater(seq_col, self._indexed_upto)
        else:
            mask = pc.and_(pc.greater_equal(seq_col, lo), pc.less_equal(seq_col, hi))
        for d in self._deletes:
            mask = pc.and_(mask, pc.invert(self._delete_mask(table, d)))
        table = table.filter(mask)
        if table.num_rows:
            self._add_rows(table)
        if lo is None:
            self._indexed_upto = max(self._indexed_upto, pc.max(seq_col).as_py() or 0)
        with self._cv:
            oldest_gap = self._gaps[0][0] if self._gaps else None
        # A pending delete filters rows still to come: queued ones, and gaps read back later.
        self._deletes = [d for d in self._deletes
                         if d.upto > self._indexed_upto or (oldest_gap is not None and oldest_gap <= d.upto)]

    @staticmethod
    def _delete_mask(table: pa.Table, d: _PendingDelete) -> pa.ChunkedArray:
        if d.seqs is not None:
            return pc.fill_null(pc.is_in(table.column("seq"), pa.array(list(d.seqs), pa.int64())), False)
        same = pc.equal(table.column("project_id"), d.project_id)
        if d.before_us is not None:
            older = pc.less(table.column("start_time").cast(pa.int64()), d.before_us)
            same = pc.and_(same, older)
        return pc.fill_null(same, False)

    def _add_rows(self, table: pa.Table) -> None:
        bounds = pc.min_max(table.column("start_time").cast(pa.int64())).as_py()
        if bounds["min"] is not None:
            # Widened before the documents are visible, so a search never misses them.
            self._newest_us = max(bounds["max"], self._newest_us or bounds["max"])
            self._oldest_us = min(bounds["min"], self._oldest_us or bounds["min"])
        self.failed_rows += self._writer.add(table)
        if not self._pending_docs:
            self._first_pending_at = time.monotonic()
        self._pending_docs += table.num_rows

    def _commit_locked(self, force: bool = False) -> None:
        """Commit when due (or forced), make it visible to searches, persist the watermark."""
        if not force:
            if not self._pending_docs:
                return
            age = time.monotonic() - self._first_pending_at
            if age < self.settings.commit_interval_s and self._pending_docs < self.settings.commit_max_docs:
                return
        self._writer.commit()
        self._index.reload()  # the writer may be another process: this reader sees its commit now
        self._pending_docs = 0
        floor = self._watermark_floor()
        watermark = self._indexed_upto if floor is None else min(floor, self._indexed_upto)
        self._write_state(watermark)
        self._watermark = watermark

    # -- deleting -----------------------------------------------------------------------------
    def _delete(self, spec: DeleteSpec, pending: _PendingDelete) -> None:
        with self._cv:
            pending.upto = self._max_seen

        def delete() -> None:
            if pending.upto > self._indexed_upto and pending not in self._deletes:
                self._deletes.append(pending)
            self._writer.delete(spec)
            self._commit_locked(force=True)
        self._writing(delete)

    def delete_seqs(self, seqs: Iterable[int]) -> None:
        """Remove these spans (GDPR erasure, deleted traces); committed before returning."""
        seqs = sorted({int(s) for s in seqs})
        for i in range(0, len(seqs), _MAX_TERMS):
            chunk = seqs[i:i + _MAX_TERMS]
            self._delete(("seqs", chunk), _PendingDelete(0, seqs=frozenset(chunk)))

    def delete_project(self, project_id: str) -> None:
        """Remove every span of a project; committed before returning."""
        self._delete(("project", project_id), _PendingDelete(0, project_id=project_id))

    def delete_before(self, project_id: str, cutoff_time: dt.datetime | int) -> None:
        """Remove a project's spans that started before ``cutoff_time`` (retention)."""
        cutoff = to_us(cutoff_time)
        self._delete(("project_before", project_id, cutoff), _PendingDelete(0, project_id=project_id, before_us=cutoff))

    def rebuild(self, tables: Iterable[pa.Table]) -> None:
        """Drop everything and index these tables (every stored span, any order); call it with
        ingest stopped, or spans only in memory meanwhile come back at the next start."""
        with self._wlock:
            self._writer.delete_all()
            self._indexed_upto = 0
            self._commit_locked(force=True)  # watermark 0 until complete: a crash restarts it
            highest = 0
            for table in tables:
                if not table.num_rows:
                    continue
                self._add_rows(table)
                highest = max(highest, pc.max(table.column("seq")).as_py())
                if self._pending_docs >= self.settings.commit_max_docs:
                    self._writer.commit()
                    self._pending_docs = 0
            self._indexed_upto = max(highest, self._indexed_upto)
            self._commit_locked(force=True)

    # -- searching ----------------------------------------------------------------------------
    def search(self, project_id: str, query: str, since: dt.datetime | int | None = None,
               until: dt.datetime | int | None = None, limit: int = 50,
               before: tuple[dt.datetime | int, int] | None = None) -> list[int]:
        """Seqs of the project's spans matching ``query``, newest first (start_time, seq);
        ``since`` inclusive, ``until`` exclusive; ``before=(start_time, seq)`` continues a page."""
        return [seq for _, seq in self.search_keys(project_id, query, since, until, limit, before)]

    def search_keys(self, project_id: str, query: str, since: dt.datetime | int | None = None,
                    until: dt.datetime | int | None = None, limit: int = 50,
                    before: tuple[dt.datetime | int, int] | None = None) -> list[tuple[int, int]]:
        """Like :meth:`search`, as (start_time µs since the epoch, seq) pairs: the last one is the
        ``before`` of the next page, without a lookup."""
        clauses = self._q.clauses(query)
        if not clauses or limit <= 0 or self._index is None:
            return []
        must = [self._q.project(project_id), *clauses]
        lo = None if since is None else to_us(since)
        hi = None if until is None else to_us(until) - 1  # inclusive from here on
        if before is not None:
            at, seq = to_us(before[0]), int(before[1])
            hi = at if hi is None else min(hi, at)
            must.append(tantivy.Query.boolean_query([
                (tantivy.Occur.Should, self._q.range("start_time", None, at - 1)),
                (tantivy.Occur.Should, tantivy.Query.boolean_query([
                    (tantivy.Occur.Must, self._q.range("start_time", at, at)),
                    (tantivy.Occur.Must, self._q.range("seq", None, seq - 1)),
                ])),
            ]))
        searcher = self._index.searcher()
        newest, oldest = self._newest_us, self._oldest_us
        if newest is None or oldest is None:  # empty index
            return []
        # Newest first, so look at the most recent window first and widen it only when the page
        # is not full: a word in every span is answered from the last hour's segments instead of
        # ranking millions of matches. Exact: each window is strictly older than the previous.
        upper = newest if hi is None else min(hi, newest)
        floor = oldest if lo is None else max(lo, oldest)
        width = max(1, int(self.settings.first_window_s * 1_000_000))
        seqs: list[tuple[int, int]] = []
        while len(seqs) < limit and upper >= floor:
            lower = upper - width + 1
            if lower <= floor:
                lower = lo  # the last window: everything below, whatever the bounds we track
            window = self._q.range("start_time", lower, upper)
            seqs += self._page(searcher, [*must, window], limit - len(seqs))
            if lower is None or lower <= floor:
                break
            upper, width = lower - 1, width * 8
        return seqs

    def _page(self, searcher: tantivy.Searcher, must: list[tantivy.Query],
              limit: int) -> list[tuple[int, int]]:
        """The top ``limit`` (start_time, seq) of a query, descending."""
        hits = searcher.search(self._q.all(must), limit + 1, count=False, order_by_field="start_time").hits
        seqs = searcher.fast_field_values("seq", [address for _, address in hits])
        rows = sorted(zip((t for t, _ in hits), seqs), reverse=True)
        if len(rows) <= limit or rows[limit - 1][0] != rows[limit][0]:
            return rows[:limit]
        # Spans sharing the cut-off start_time: the page must take the highest seqs among them.
        tied = rows[limit - 1][0]
        head = [row for row in rows if row[0] > tied]
        tie_query = self._q.all([*must, self._q.range("start_time", tied, tied)])
        tail = searcher.search(tie_query, limit - len(head), count=False, order_by_field="seq").hits
        return head + [(tied, seq) for seq, _ in tail]

    def _time_bounds(self) -> None:
        """Newest and oldest start_time in the index (kept up to date by _add_rows)."""
        searcher = self._index.searcher()
        everything = tantivy.Query.all_query()
        for order, attr in ((tantivy.Order.Desc, "_newest_us"), (tantivy.Order.Asc, "_oldest_us")):
            hits = searcher.search(everything, 1, count=False, order_by_field="start_time", order=order).hits
            setattr(self, attr, hits[0][0] if hits else None)

    # -- observability ------------------------------------------------------------------------
    def describe_metrics(self, metrics) -> None:
        """Register the indexer's gauges (read from counters: no searcher per scrape)."""
        metrics.gauge("lynex_search_queued_rows", lambda: self._queued_rows, "Rows waiting for the full-text indexer.")
        metrics.gauge("lynex_search_queued_bytes", lambda: self._queued_bytes,
                      "Bytes of prepared text waiting for the full-text indexer.")
        metrics.gauge("lynex_search_dropped_rows", lambda: self.dropped_rows,
                      "Rows a full indexer queue left to catch-up from the store (since start).")
        metrics.gauge("lynex_search_writer_restarts", lambda: self.writer_restarts,
                      "Search writer processes that died and were replaced (since start).")

    def stats(self) -> dict[str, int | str | None]:
        """Figures for /metrics and /readyz: backlog, drops, watermark, documents."""
        searcher = self._index.searcher() if self._index is not None else None
        return {
            "queued_rows": self._queued_rows,
            "queued_bytes": self._queued_bytes,
            "dropped_rows": self.dropped_rows,
            "failed_rows": self.failed_rows,
            "writer_restarts": self.writer_restarts,
            "indexed_seq": self._indexed_upto,
            "gap_rows": sum(hi - lo + 1 for lo, hi in list(self._gaps)),
            "watermark": self._watermark,
            "received_seq": self._max_seen,
            "documents": searcher.num_docs if searcher is not None else 0,
            "last_error": self.last_error,
        }
