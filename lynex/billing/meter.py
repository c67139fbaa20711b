"""Where usage is recorded and read back.

Two sources, each exact for what it measures:

* ``usage_hourly`` (DuckDB) — spans **stored**, tokens and spend per project, hour received and
  model; updated in the same transaction as the rows (``HotStore.insert``), so replays after a
  crash and client retries never count a span twice.
* ``usage_requests`` (SQLite) — what the ingest **edge** saw per hour, project and API key:
  requests, spans accepted (new), duplicates, rejected, refused over quota, bytes received.
  Counted when the answer is decided and written in batches: at most once a second (one
  transaction instead of one per request, which cost ~6% of the event loop at full ingest rate),
  before any read of the table, and at shutdown. A ``kill -9`` loses the last second's edge counts
  (a client's retry is then a duplicate); the stored counts above stay exact either way.

Bytes stored per tier are sampled by the scheduler into ``usage_storage`` (one row per day,
project and tier): local and cold from the Parquet manifest, hot as the DuckDB file's size shared
out by each project's row count (an estimate: DuckDB does not report bytes per table).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import dataclass

from lynex.storage.meta import MetaStore

EDGE_FIELDS = ("requests", "spans_accepted", "spans_duplicate", "spans_rejected", "spans_over_quota",
               "bytes_received")
STORED_FIELDS = ("spans_stored", "error_spans", "input_tokens", "output_tokens", "cost_usd")
TIERS = ("hot", "local", "cold")


@dataclass
class EdgeCounts:
    requests: int = 1
    spans_accepted: int = 0
    spans_duplicate: int = 0
    spans_rejected: int = 0
    spans_over_quota: int = 0
    bytes_received: int = 0


def hour_of(ts: float) -> int:
    return int(ts // 3600 * 3600)


def _epoch(when: dt.datetime) -> float:
    return when.replace(tzinfo=dt.timezone.utc).timestamp()


class Meter:
    """Reads and writes the usage tables; thread-safe (per-thread SQLite, per-call DuckDB cursors)."""

    def __init__(self, meta: MetaStore, hot=None, flush_every_s: float = 1.0):
        self.meta = meta
        self.hot = hot  # HotStore, or None where only the edge side is needed (CLI)
        self.flush_every_s = flush_every_s
        self._pending: dict[tuple[int, str, str], list[int]] = {}  # counts not yet written
        self._pending_lock = threading.Lock()
        self._flushed_at = time.monotonic()

    def _con(self):
        return self.meta._con()

    # -- the edge ---------------------------------------------------------------------------
    def record(self, ts: float, project_id: str, key_id: str, counts: EdgeCounts) -> None:
        """Add one request's counts to its hour's row (written within ``flush_every_s``)."""
        values = (counts.requests, counts.spans_accepted, counts.spans_duplicate, counts.spans_rejected,
                  counts.spans_over_quota, counts.bytes_received)
        slot = (hour_of(ts), project_id, key_id)
        with self._pending_lock:
            row = self._pending.get(slot)
            if row is None:
                self._pending[slot] = list(values)
            else:
                for i, v in enumerate(values):
                    row[i] += v
        if time.monotonic() - self._flushed_at >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Write the counts recorded so far (one transaction)."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
            self._flushed_at = time.monotonic()
        if not pending:
            return
        con = self._con()
        try:
            con.execute("BEGIN IMMEDIATE")
            con.executemany(
                f"INSERT INTO usage_requests (hour, project_id, key_id, {', '.join(EDGE_FIELDS)}) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hour, project_id, key_id) DO UPDATE SET "
                + ", ".join(f"{f} = {f} + excluded.{f}" for f in EDGE_FIELDS),
                [(*slot, *values) for slot, values in pending.items()])
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:  # BEGIN itself may be what failed (database busy)
                con.execute("ROLLBACK")
            with self._pending_lock:  # keep them for the next attempt
                for slot, values in pending.items():
                    row = self._pending.setdefault(slot, [0] * len(values))
                    for i, v in enumerate(values):
                        row[i] += v
            raise

    def accepted_between(self, since_ts: float, until_ts: float) -> int:
        """New spans accepted at the edge, all projects, in [since, until) (the monthly quota's count)."""
        self.flush()
        row = self._con().execute("SELECT coalesce(sum(spans_accepted), 0) FROM usage_requests "
                                  "WHERE hour >= ? AND hour < ?", [since_ts, until_ts]).fetchone()
        return int(row[0])

    def edge_rows(self, since: dt.datetime, until: dt.datetime, projects: list[str] | None) -> list[dict]:
        self.flush()
        sql = f"SELECT hour, project_id, key_id, {', '.join(EDGE_FIELDS)} FROM usage_requests WHERE hour >= ? AND hour < ?"
        params: list = [_epoch(since), _epoch(until)]
        if projects is not None:
            sql += f" AND project_id IN ({', '.join('?' * len(projects))})"
            params += projects
        out = []
        for row in self._con().execute(sql, params).fetchall():
            item = dict(zip(("hour", "project_id", "key_id", *EDGE_FIELDS), row))
            item["hour"] = dt.datetime.fromtimestamp(item["hour"], dt.timezone.utc).replace(tzinfo=None)
            out.append(item)
        return out

    # -- the store --------------------------------------------------------------------------
    def stored_rows(self, since: dt.datetime, until: dt.datetime, projects: list[str] | None) -> list[dict]:
        if self.hot is None:
            return []
        sql = ("SELECT hour, project_id, model, spans, error_spans, input_tokens, output_tokens, cost_usd "
               "FROM usage_hourly WHERE hour >= ? AND hour < ?")
        params: list = [since, until]
        if projects is not None:
            sql += f" AND project_id IN ({', '.join('?' * len(projects))})"
            params += projects
        cur = self.hot.cursor()
        try:
            rows = cur.execute(sql, params).fetchall()
        finally:
            cur.close()
        return [dict(zip(("hour", "project_id", "model", *STORED_FIELDS), row)) for row in rows]

    # -- storage per tier -------------------------------------------------------------------
    def sample_storage(self, now: float | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        """Measure bytes and rows per (project, tier) now and keep them as today's sample."""
        now = time.time() if now is None else now
        cur = self.hot.cursor()
        try:
            parts = cur.execute("SELECT project_id, tier, sum(bytes), sum(rows) FROM parquet_files "
                                "WHERE tier IN ('local', 'cold') GROUP BY ALL").fetchall()
            hot_rows = cur.execute("SELECT project_id, count(*) FROM spans GROUP BY ALL").fetchall()
        finally:
            cur.close()
        sample: dict[tuple[str, str], tuple[int, int]] = {}
        for project_id, tier, size, rows in parts:
            sample[(project_id, tier)] = (int(size or 0), int(rows or 0))
        total_rows = sum(r for _, r in hot_rows)
        try:
            file_bytes = os.path.getsize(self.hot.path)
        except OSError:
            file_bytes = 0
        for project_id, rows in hot_rows:
            sample[(project_id, "hot")] = (file_bytes * rows // total_rows if total_rows else 0, int(rows))
        day = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y-%m-%d")
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("DELETE FROM usage_storage WHERE day = ?", [day])
            con.executemany("INSERT INTO usage_storage VALUES (?, ?, ?, ?, ?, ?)",
                            [(day, p, t, b, r, now) for (p, t), (b, r) in sample.items()])
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:  # BEGIN itself may be what failed (database busy)
                con.execute("ROLLBACK")
            raise
        return sample

    def storage_rows(self, since: dt.datetime, until: dt.datetime, projects: list[str] | None) -> list[dict]:
        sql = "SELECT day, project_id, tier, bytes, rows FROM usage_storage WHERE day >= ? AND day < ?"
        params: list = [since.strftime("%Y-%m-%d"), until.strftime("%Y-%m-%d") if until.time() == dt.time() else
                        (until + dt.timedelta(days=1)).strftime("%Y-%m-%d")]
        if projects is not None:
            sql += f" AND project_id IN ({', '.join('?' * len(projects))})"
            params += projects
        rows = self._con().execute(sql, params).fetchall()
        return [dict(zip(("day", "project_id", "tier", "bytes", "rows"), r)) for r in rows]

    # -- warnings sent ----------------------------------------------------------------------
    def claim_notice(self, period: str, quota: str, level: int, now: float) -> bool:
        """True the first time (period, quota, level) is claimed: each warning goes out once."""
        cur = self._con().execute("INSERT OR IGNORE INTO billing_notices VALUES (?, ?, ?, ?)",
                                  [period, quota, level, now])
        return cur.rowcount == 1
