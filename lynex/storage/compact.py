"""Compaction: closed day-partitions of the hot store move to Parquet, atomically.

Layout: ``<data dir>/parquet/project=<id>/date=YYYY-MM-DD/part-<max seq>.parquet`` (zstd, sorted
by start time, 122,880-row groups). A partition may hold several parts (late-arriving spans are
compacted in a later run).

Atomicity comes from the manifest table ``parquet_files`` in DuckDB, which the query layer reads
in the same snapshot as the hot rows: a part is written to a temporary name, fsync'd and renamed;
then, in one DuckDB transaction on the writer thread, the hot rows it holds are deleted and the
part is added to the manifest. A crash before that commit leaves an orphan file that no query
reads and the next start deletes; a crash after it leaves the new state. Never a gap, never a
duplicate.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lynex.storage.hot import HotStore

log = logging.getLogger(__name__)

ROW_GROUP_ROWS = 16_384  # small enough that a point lookup (span detail) decompresses little
WriterRun = Callable[[Callable[[Any], Any]], Any]  # runs fn(con) on the single DuckDB writer thread


@dataclass(frozen=True)
class CompactResult:
    project_id: str
    day: dt.date
    rows: int
    bytes: int
    path: str
    seconds: float


def partition_dir(root: Path, project_id: str, day: dt.date) -> Path:
    return root / f"project={project_id}" / f"date={day.isoformat()}"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Compactor:
    """Moves closed partitions from hot DuckDB rows to local Parquet parts."""

    def __init__(self, hot: HotStore, root: Path, run_on_writer: WriterRun, grace_minutes: float = 60.0):
        self.hot = hot
        self.root = root
        self.run_on_writer = run_on_writer
        self.grace = dt.timedelta(minutes=grace_minutes)

    def closed_partitions(self, now: dt.datetime) -> list[tuple[str, dt.date, int]]:
        """(project, day, hot rows) of every day that ended more than the grace period ago."""
        cutoff = (now - self.grace).date()  # days strictly before this one are closed
        cur = self.hot.cursor()
        try:
            return cur.execute(
                "SELECT project_id, CAST(start_time AS DATE) AS day, count(*) FROM spans"
                " WHERE start_time < ? GROUP BY ALL ORDER BY day, project_id",
                [dt.datetime.combine(cutoff, dt.time())]).fetchall()
        finally:
            cur.close()

    def run(self, now: dt.datetime | None = None) -> list[CompactResult]:
        """Compact every closed partition; one failure is logged and the others still run."""
        now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        results = []
        for project_id, day, _ in self.closed_partitions(now):
            try:
                results.append(self.compact_partition(project_id, day))
            except Exception:
                log.exception("compaction of project %s day %s failed; will retry", project_id, day)
        return results

    def compact_partition(self, project_id: str, day: dt.date) -> CompactResult:
        started = time.perf_counter()
        low = dt.datetime.combine(day, dt.time())
        high = low + dt.timedelta(days=1)
        bounds = self._bounds(project_id, low, high)
        if bounds is None:
            return CompactResult(project_id, day, 0, 0, "", 0.0)
        max_seq, rows, min_time, max_time = bounds
        final = self._write_part(project_id, day, low, high, max_seq)
        size = final.stat().st_size
        self._commit(project_id, day, low, high, max_seq, rows, size, min_time, max_time, final)
        return CompactResult(project_id, day, rows, size, str(final), time.perf_counter() - started)

    # Each step is its own method so the crash tests can kill the process between any two.
    def _bounds(self, project_id, low, high):
        cur = self.hot.cursor()
        try:
            row = cur.execute(
                "SELECT max(seq), count(*), min(start_time), max(start_time) FROM spans"
                " WHERE project_id = ? AND start_time >= ? AND start_time < ?", [project_id, low, high]).fetchone()
        finally:
            cur.close()
        return None if row[0] is None else row

    def _write_part(self, project_id, day, low, high, max_seq) -> Path:
        directory = partition_dir(self.root, project_id, day)
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / f"part-{max_seq:020d}.parquet"
        tmp = final.with_suffix(".parquet.tmp")
        cur = self.hot.cursor()
        try:
            cur.execute(
                f"COPY (SELECT * FROM spans WHERE project_id = ? AND start_time >= ? AND start_time < ?"
                f" AND seq <= ? ORDER BY start_time, seq) TO {_sql_str(str(tmp))}"
                f" (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})",
                [project_id, low, high, max_seq])
        finally:
            cur.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        _fsync_dir(directory)
        return final

    def _commit(self, project_id, day, low, high, max_seq, rows, size, min_time, max_time, path) -> None:
        def commit(con) -> None:
            con.execute("BEGIN")
            try:
                con.execute("DELETE FROM spans WHERE project_id = ? AND start_time >= ? AND start_time < ?"
                            " AND seq <= ?", [project_id, low, high, max_seq])
                con.execute("INSERT INTO parquet_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'local', NULL, now())",
                            [str(path), project_id, day, max_seq, rows, size, min_time, max_time])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self.run_on_writer(commit)

    def sweep_orphans(self) -> int:
        """Delete part files no manifest row names (left by a crash before the commit)."""
        if not self.root.exists():
            return 0
        cur = self.hot.cursor()
        try:
            known = {row[0] for row in cur.execute("SELECT path FROM parquet_files").fetchall()}
        finally:
            cur.close()
        removed = 0
        for path in self.root.rglob("part-*"):
            if str(path) not in known:
                path.unlink(missing_ok=True)
                removed += 1
        if removed:
            log.warning("removed %d orphaned Parquet part(s) left by an interrupted compaction", removed)
        return removed
