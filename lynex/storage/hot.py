"""The hot store: one DuckDB file, written by exactly one thread (the store writer).

Readers never use the writer's connection; they take a cursor (their own connection to the
same database) per query. Extensions are never auto-installed: the process must work
air-gapped, and the wheels already carry parquet, json and icu.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from lynex.storage.schema import COLUMN_NAMES, MIGRATIONS, SCHEMA_VERSION, USAGE_ROLLUP

log = logging.getLogger(__name__)

# Rows per DuckDB row group (its default is 122,880). DuckDB writes a transaction's *complete*
# row groups straight into the database file; rows of an incomplete one go through its WAL and
# are rewritten by the checkpoint that follows (every commit of a 64 MiB flush, at 16 MiB of
# WAL). A memtable flush holds ~34k rows of 2 KB spans, never a whole default group, so every
# span was written twice and each checkpoint took DuckDB's whole memory_limit. With groups well
# below a flush, bench/store_insert.py: 16 → 3.5 µs per row, the slowest insert 1.8 s → 0.14 s,
# peak RSS 830 → 440 MiB (32k-row inserts, 512MB limit).
ROW_GROUP_ROWS = 16_384
_DATABASE = "hot"


class HotStore:
    """Owns the DuckDB connection; ``insert`` is called from the writer thread only."""

    def __init__(self, path: Path, memory_limit: str | None = None):
        self.path = path
        config = {"autoinstall_known_extensions": "false", "autoload_known_extensions": "true"}
        if memory_limit:
            config["memory_limit"] = memory_limit
        self._config = config
        self.con = self._connect()
        self.reopens = 0
        self._write_lock = threading.RLock()
        self._migrate()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        # ROW_GROUP_SIZE is an ATTACH option only, hence the in-memory main database; every
        # connection then names the file as its default (``cursor`` does the same for readers).
        con = duckdb.connect(":memory:", config=self._config)
        try:
            path = str(self.path).replace("'", "''")
            con.execute(f"ATTACH '{path}' AS {_DATABASE} (ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
            con.execute(f"USE {_DATABASE}")
        except BaseException:
            con.close()
            raise
        return con

    def _migrate(self) -> None:
        self.con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} has schema v{current}, newer than this Lynex (v{SCHEMA_VERSION})")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            self.con.execute("BEGIN")
            for statement in MIGRATIONS[version]:
                self.con.execute(statement)
            self.con.execute("INSERT INTO schema_version VALUES (?)", [version])
            self.con.execute("COMMIT")
            log.info("hot store migrated to schema v%d", version)

    def applied_seq(self) -> int:
        """Highest ingest sequence number whose span is committed here."""
        return self.con.execute("SELECT applied_seq FROM ingest_state WHERE k = 'wal'").fetchone()[0]

    def writing(self) -> threading.Lock:
        """Held around every write: the writer thread and offline tools never interleave."""
        return self._write_lock

    def insert(self, table: pa.Table, applied_seq: int) -> None:
        """Append rows and move the replay watermark in one transaction."""
        with self._write_lock:
            con = self.con
            con.execute("BEGIN")
            try:
                con.register("_incoming", table)
                con.execute(f"INSERT INTO spans SELECT {', '.join(COLUMN_NAMES)} FROM _incoming")
                con.execute(USAGE_ROLLUP)  # billing's usage counts move with the rows they count
                con.execute("UPDATE ingest_state SET applied_seq = ? WHERE k = 'wal'", [applied_seq])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("_incoming")

    def describe_metrics(self, metrics) -> None:
        metrics.gauge("lynex_duckdb_memory_bytes", self.memory_bytes, "Bytes held by DuckDB's buffer manager.")
        metrics.gauge("lynex_store_reopens", lambda: self.reopens,
                      "Times the hot store was reopened after a fatal DuckDB error.")

    def memory_bytes(self) -> int:
        """What DuckDB's buffer manager holds now (bounded by duckdb_memory_limit)."""
        cur = self.cursor()
        try:
            return int(cur.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchone()[0])
        finally:
            cur.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection for one reader (thread-safe to create from any thread)."""
        cur = self.con.cursor()
        cur.execute(f"USE {_DATABASE}")
        return cur

    def recent_keys(self, limit: int) -> list[tuple[str, str]]:
        """(project_id, span id) of the most recently ingested spans, to seed the dedup window."""
        rows = self.con.execute(
            "SELECT project_id, id FROM spans ORDER BY seq DESC LIMIT ?", [limit]
        ).fetchall()
        return rows

    def reopen(self) -> None:
        """Replace a connection DuckDB has invalidated (a fatal error, e.g. a checkpoint that ran
        out of memory): until the database is opened again every statement fails. Opening
        replays DuckDB's own log, so what was committed stays; readers' next cursors use the
        new connection. Called from the writer thread, with no write in progress."""
        with self._write_lock:
            try:
                self.con.close()
            except duckdb.Error:
                pass
            self.con = self._connect()
            self.reopens += 1
            log.warning("hot store reopened after a fatal DuckDB error (%d so far)", self.reopens)

    def close(self) -> None:
        self.con.close()
