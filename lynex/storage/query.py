"""The query layer: the only place SQL over spans lives. Reads hot DuckDB ∪ the memtable.

Later tiers (local Parquet, cold S3) join the ``src`` union here, so every caller — read API,
dashboard, alerts — gets the same answers wherever rows live.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import duckdb
import msgspec
import pyarrow as pa

from lynex.errors import LynexError
from lynex.ingest.memtable import Memtable
from lynex.models import SPAN_KINDS
from lynex.storage.cold import ColdError, ColdTier
from lynex.storage.hot import HotStore
from lynex.storage.rollups import BucketCache
from lynex.storage.schema import COLUMN_NAMES

_EPOCH = dt.datetime(1970, 1, 1)
_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
JSON_COLUMNS = ("input", "output", "model_parameters", "metadata")
MAX_LIMIT = 1000
# Look-back windows the timeline widens through (None: unbounded) before it has a full page.
WINDOWS = (dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=7), dt.timedelta(days=31), None)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class QueryError(LynexError, ValueError):
    """A filter value is wrong; the message names the parameter."""


def parse_time(name: str, value: str, now: dt.datetime | None = None) -> dt.datetime:
    """RFC 3339, epoch milliseconds, or a duration ago ('15m', '24h', '7d') → naive UTC."""
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        return now - dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if re.fullmatch(r"\d{10,16}(\.\d+)?", text):
        return _EPOCH + dt.timedelta(milliseconds=float(text))
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{name}: '{value}' is not RFC 3339, epoch milliseconds or a duration like 24h")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


def encode_cursor(start_time: dt.datetime, seq: int) -> str:
    us = (start_time - _EPOCH) // dt.timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{us}:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        us, seq = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        return _EPOCH + dt.timedelta(microseconds=int(us)), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise QueryError("cursor: not a cursor this server issued; pass next_cursor unchanged") from None


@dataclass
class SpanFilter:
    """Filters of GET /v1/spans (and the dashboard's timeline)."""

    trace_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    provider: str | None = None
    status: str | None = None
    kind: str | None = None
    error_class: str | None = None
    environment: str | None = None
    release: str | None = None
    tag: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    q: str | None = None

    def validate(self) -> None:
        if self.status is not None and self.status not in ("ok", "error"):
            raise QueryError(f"status: '{self.status}' must be ok or error")
        if self.kind is not None and self.kind not in SPAN_KINDS:
            raise QueryError(f"kind: '{self.kind}' must be one of {', '.join(SPAN_KINDS)}")
        if self.since and self.until and self.since > self.until:
            raise QueryError("since: is after until")

    def where(self) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column in ("trace_id", "session_id", "user_id", "model", "provider", "status", "kind",
                       "error_class", "environment", "release"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.tag is not None:
            clauses.append("list_contains(tags, ?)")
            params.append(self.tag)
        if self.since is not None:
            clauses.append("start_time >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("start_time < ?")
            params.append(self.until)
        if self.q:
            like = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append("(input ILIKE ? ESCAPE '\\' OR output ILIKE ? ESCAPE '\\' OR name ILIKE ? ESCAPE '\\'"
                           " OR metadata ILIKE ? ESCAPE '\\')")
            params += [like] * 4
        return clauses, params


class Snapshot:
    """Statements over one read transaction's ``src`` (see SpanQueries.read)."""

    def __init__(self, cur, source: str, params: list, parts: list[tuple[str, tuple]] = (),
                 project_id: str | None = None):
        self.cur, self.source, self.params = cur, source, params
        self.parts, self.project_id = list(parts), project_id  # see SpanQueries._source

    def rows(self, sql_tail: str, params: list[Any], columns: tuple[str, ...] = COLUMN_NAMES) -> list[dict]:
        """``SELECT columns FROM src <sql_tail>`` as dicts."""
        return self.sql(f"SELECT {', '.join(columns)} FROM src {sql_tail}", params)

    def sql(self, statement: str, params: list[Any]) -> list[dict]:
        """Any statement that reads ``src`` (it is prefixed with the ``WITH src AS (…)``)."""
        result = self.cur.execute(f"{self.source} {statement}", self.params + params)
        names = [d[0] for d in result.description]
        return [dict(zip(names, row)) for row in result.fetchall()]


@dataclass
class Page:
    rows: list[dict]
    next_cursor: str | None = None
    extra: dict = field(default_factory=dict)


class SpanQueries:
    """Read-side queries; safe to call from any thread."""

    def __init__(self, hot: HotStore, memtable: Memtable, cold: ColdTier | None = None, search=None,
                 clock: Callable[[], dt.datetime] = utc_now,
                 locate: Callable[[str, str], tuple[int, bool] | None] | None = None):
        self.hot = hot
        self.locate = locate  # Pipeline.locate: (seq, queryable yet) of a recently acknowledged span
        self.clock = clock  # naive UTC now: where the timeline's first window ends
        self.buckets = BucketCache()  # the overview's whole-bucket aggregates, checked before use
        self.memtable = memtable
        self.cold = cold
        self.search = search  # lynex.search.SearchIndex: answers ``q`` when present

    def _run(self, sql_tail: str, params: list[Any], columns: tuple[str, ...] = COLUMN_NAMES,
             project_id: str | None = None, since: dt.datetime | None = None,
             until: dt.datetime | None = None, seq: int | None = None) -> list[dict]:
        """Run ``SELECT cols FROM src <sql_tail>``; src = hot rows ∪ uncommitted rows ∪ Parquet parts.

        ``since``/``until`` only prune which parts are read; filter rows in ``sql_tail``. With
        ``seq``, src holds at most the rows of that seq (see ``_source``).
        """
        return self.read(lambda snap: snap.rows(sql_tail, params, columns), project_id, since, until, seq)

    def read(self, fn: Callable[["Snapshot"], Any], project_id: str | None = None,
             since: dt.datetime | None = None, until: dt.datetime | None = None,
             seq: int | None = None) -> Any:
        """``fn(snapshot)``: several statements over one consistent ``src`` (one transaction)."""
        for attempt in (1, 2):
            cur = self.hot.cursor()
            try:
                source, source_params, parts = self._source(cur, project_id, since, until, recent=True, seq=seq)
                result = fn(Snapshot(cur, source, source_params, parts, project_id))
                cur.execute("COMMIT")
                return result
            except duckdb.IOException:
                if attempt == 2:  # a part removed by retention between snapshot and read: once more
                    raise
            finally:
                cur.close()

    def _source(self, cur, project_id, since, until, recent: bool = False, seq: int | None = None):
        """Open a transaction on ``cur`` and return ``WITH src AS (…)`` over every tier, and its params.

        With ``recent``, also ``recent`` (hot ∪ uncommitted rows only) and the parts read, as
        (local path, identity) pairs: Parquet parts never change, so callers may cache per part.
        With ``seq``, for a caller that reads only that seq: the uncommitted rows are cut to it
        here (DuckDB's Arrow scan converts every row of every column before it filters: ~7 ms
        for a 64 MiB memtable) and only parts that can hold it are listed; the hot rows are
        pruned by their seq zone maps anyway.
        """
        # Before the DuckDB snapshot: see memtable.py.
        mem = self.memtable.snapshot() if seq is None else self.memtable.rows_of_seq(seq)
        cur.execute("BEGIN TRANSACTION")  # manifest and hot rows from one snapshot
        manifest = self.part_list(cur, project_id, since, until, seq)
        parts = [path for path, _ in manifest]
        cols = ", ".join(COLUMN_NAMES)
        scope = "WHERE project_id = ?" if project_id is not None else "WHERE true"
        scoped = [project_id] if project_id is not None else []
        branches, params = [f"SELECT {cols} FROM spans {scope}"], list(scoped)
        if mem.num_rows:  # an Arrow scan costs ~2 ms to set up even when it has nothing to give
            cur.register("_mem", mem)
            branches.append(f"SELECT {cols} FROM _mem {scope} AND seq > "
                            "(SELECT applied_seq FROM ingest_state WHERE k = 'wal')")
            params += scoped
        recent_sql = " UNION ALL ".join(branches)
        recent_params = list(params)
        if parts:
            branches.append(f"SELECT {cols} FROM read_parquet(?, union_by_name = true) {scope}")
            params += [parts] + scoped
        if not recent:
            return f"WITH src AS ({' UNION ALL '.join(branches)})", params
        return (f"WITH src AS ({' UNION ALL '.join(branches)}), recent AS ({recent_sql})", params + recent_params,
                manifest)

    def rows_after(self, after_seq: int, max_rows: int) -> pa.Table | None:
        """Rows of every tier with seq > after_seq, in seq order (the search index's catch-up
        source: after an index rebuild, spans already compacted to Parquet must come back too)."""
        def read(snap: Snapshot) -> pa.Table:
            return snap.cur.sql(
                f"{snap.source} SELECT project_id, seq, start_time, name, model, input, output, metadata"
                " FROM src WHERE seq > ? ORDER BY seq LIMIT ?", params=snap.params + [after_seq, max_rows]
            ).to_arrow_table()
        table = self.read(read)
        return table if table.num_rows else None

    def export(self, project_id: str, path: str, fmt: str, since: dt.datetime | None = None,
               until: dt.datetime | None = None) -> int:
        """Write the project's spans in [since, until) to ``path`` as Parquet or JSON lines; returns rows."""
        if fmt not in ("parquet", "jsonl"):
            raise QueryError(f"format: '{fmt}' must be parquet or jsonl")
        flt = SpanFilter(since=since, until=until)
        flt.validate()
        clauses, params = flt.where()
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        if fmt == "jsonl":  # JSON payload columns embedded as JSON, not as strings of JSON
            cols = ", ".join(f"{c}::JSON AS {c}" if c in JSON_COLUMNS else c for c in COLUMN_NAMES)
            options = "FORMAT json"
        else:
            cols, options = ", ".join(COLUMN_NAMES), "FORMAT parquet, COMPRESSION zstd"
        target = path.replace("'", "''")
        cur = self.hot.cursor()
        try:
            source, source_params = self._source(cur, project_id, since, until)
            count = cur.execute(f"COPY ({source} SELECT {cols} FROM src {where} ORDER BY start_time, seq)"
                                f" TO '{target}' ({options})", source_params + params).fetchone()[0]
            cur.execute("COMMIT")
            return count
        finally:
            cur.close()

    def parts(self, cur, project_id: str | None, since: dt.datetime | None, until: dt.datetime | None) -> list[str]:
        """Local paths of the Parquet parts that can hold rows of the project in [since, until).

        Cold parts are fetched into the bounded local cache first (ColdError if the store is down).
        """
        return [path for path, _ in self.part_list(cur, project_id, since, until)]

    def part_list(self, cur, project_id: str | None, since: dt.datetime | None,
                  until: dt.datetime | None, min_seq: int | None = None) -> list[tuple[str, tuple]]:
        """``parts``, each with its identity (manifest path, rows, bytes, max seq, created);
        with ``min_seq``, only parts that can hold a row of that seq or above."""
        clauses, args = ["tier IN ('local', 'cold')"], []
        if project_id is not None:
            clauses.append("project_id = ?")
            args.append(project_id)
        if since is not None:
            clauses.append("day >= ?")
            args.append(since.date())
        if until is not None:
            clauses.append("day <= ?")
            args.append(until.date())
        if min_seq is not None:
            clauses.append("max_seq >= ?")
            args.append(min_seq)
        rows = cur.execute(f"SELECT path, tier, location, rows, bytes, max_seq, created_at FROM parquet_files"
                           f" WHERE {' AND '.join(clauses)} ORDER BY day, path", args).fetchall()
        out = []
        for path, tier, location, *identity in rows:
            local = path
            if tier == "cold":
                if self.cold is None:
                    raise ColdError(f"part {path} is in cold location '{location}', which is not configured")
                local = self.cold.fetch(location, path)
            out.append((local, (path, *identity)))
        return out

    def list_spans(self, project_id: str, flt: SpanFilter, limit: int = 50,
                   cursor: str | None = None, columns: tuple[str, ...] = COLUMN_NAMES) -> Page:
        """Newest first; keyset pagination on (start_time, seq) stays correct while spans arrive."""
        flt.validate()
        if not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit: must be between 1 and {MAX_LIMIT}, got {limit}")
        if flt.q and self.search is not None:
            clauses, params = self._text_match(project_id, flt, limit, cursor)
        else:
            clauses, params = flt.where()
        anchor = flt.until
        if cursor:
            at, seq = decode_cursor(cursor)
            clauses.append("(start_time < ? OR (start_time = ? AND seq < ?))")
            params += [at, at, seq]
            anchor = min(anchor, at) if anchor else at
        wanted = tuple(dict.fromkeys(columns + ("start_time", "seq")))
        rows: list[dict] = []
        # Widening windows [anchor - w, …): every row of a window is newer than every row outside
        # it, so a window holding limit + 1 matches holds the answer. Rows are stored about in time
        # order, so a narrow window reads a few row groups (zone maps) and Parquet parts of a day.
        anchor = anchor or self.clock()
        for width in WINDOWS:
            low = anchor - width if width is not None else None
            if low is not None and flt.since is not None and low <= flt.since:
                low = None  # the filter's own lower bound is no wider: this is the last window
            window = clauses + (["start_time >= ?"] if low is not None else [])
            window_params = params + ([low] if low is not None else [])
            rows = self.read(lambda snap: _newest(snap, window, window_params, limit + 1, wanted),
                             project_id, low or flt.since, flt.until)
            if len(rows) > limit or low is None:
                break
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1]["start_time"], rows[-1]["seq"])
        return Page(rows, next_cursor)

    def _text_match(self, project_id: str, flt: SpanFilter, limit: int, cursor: str | None):
        """Clauses for ``q`` through the full-text index: matching seqs, plus a substring scan of
        only the newest rows the index has not committed yet (above its watermark)."""
        before = None
        if cursor:
            at, seq = decode_cursor(cursor)
            before = ((at - _EPOCH) // dt.timedelta(microseconds=1), seq)
        # Over-fetch so the other filters rarely leave a short page.
        seqs = self.search.search(project_id, flt.q, flt.since, flt.until, limit=min(limit * 20, 5000),
                                  before=before)
        clauses, params = dataclasses.replace(flt, q=None).where()
        fresh_clauses, fresh_params = SpanFilter(q=flt.q).where()
        clauses.append(f"(list_contains(?, seq) OR (seq > ? AND {fresh_clauses[0]}))")
        params += [seqs, self.search.watermark(), *fresh_params]
        return clauses, params

    def get_span(self, project_id: str, span_id: str, at: dt.datetime | None = None) -> dict | None:
        """One span by id. ``at``, its start time when the caller knows it (dashboard links carry
        it), lets zone maps and the Parquet manifest skip everything else; a wrong ``at`` only
        costs the full lookup that follows.

        A span acknowledged in the last seconds is found by its seq (see lynex/ingest/locator.py):
        one row group read, and nothing at all while it is not queryable yet. (Should an id have
        been stored twice — resent after the dedup window forgot it — that finds the recent copy.)"""
        located = self.locate(project_id, span_id) if self.locate is not None else None
        if located is not None:
            seq, queryable = located
            if not queryable:
                return None
            rows = self._run("WHERE seq = ? AND id = ? LIMIT 1", [seq, span_id], project_id=project_id, seq=seq)
            if rows:
                return rows[0]  # else erased since: the lookup below says so
        if at is not None:
            rows = self._run("WHERE start_time = ? AND id = ? ORDER BY seq LIMIT 1", [at, span_id],
                             project_id=project_id, since=at, until=at)
            if rows:
                return rows[0]
        rows = self._run("WHERE id = ? ORDER BY seq LIMIT 1", [span_id], project_id=project_id)
        return rows[0] if rows else None

    def trace_spans(self, project_id: str, trace_id: str, limit: int = 100_000) -> list[dict]:
        return self._run("WHERE trace_id = ? ORDER BY start_time, seq LIMIT ?", [trace_id, limit],
                         project_id=project_id)

    def count(self, project_id: str | None = None) -> int:
        return self._run("", [], ("count(*) AS n",), project_id)[0]["n"]


def _newest(snap: Snapshot, clauses: list[str], params: list, n: int, columns: tuple[str, ...]) -> list[dict]:
    """The newest ``n`` matching rows: keys first from the narrow columns, then ``columns`` of
    those rows only, so wide payloads are read for n rows rather than for every candidate."""
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    keys = snap.rows(f"{where} ORDER BY start_time DESC, seq DESC LIMIT ?", params + [n], ("start_time", "seq"))
    if not keys:
        return []
    seqs = [k["seq"] for k in keys]
    times = [k["start_time"] for k in keys]
    # The bounds let zone maps and Parquet statistics skip everything but the rows' own blocks.
    return snap.rows("WHERE seq >= ? AND seq <= ? AND start_time >= ? AND start_time <= ?"
                     " AND list_contains(?, seq) ORDER BY start_time DESC, seq DESC",
                     [min(seqs), max(seqs), min(times), max(times), seqs], columns)


def build_tree(spans: list[dict]) -> list[dict]:
    """Nest spans by parent_id (iteratively: traces can be deep); orphans become roots."""
    by_id: dict[str, dict] = {}
    for span in spans:
        by_id.setdefault(span["id"], {**span, "children": []})
    roots: list[dict] = []
    for node in by_id.values():
        parent = by_id.get(node.get("parent_id") or "")
        if parent is not None and parent is not node:
            parent["children"].append(node)
        else:
            roots.append(node)
    return roots


def to_wire(row: dict) -> dict:
    """A stored row as the JSON the read API returns: times RFC 3339, JSON columns embedded raw."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dt.datetime):
            out[key] = value.isoformat(timespec="microseconds") + "Z"
        elif key in JSON_COLUMNS and isinstance(value, str):
            out[key] = msgspec.Raw(value.encode("utf-8"))
        else:
            out[key] = value
    usage = {k: out.pop(k) for k in ("input_tokens", "output_tokens", "total_tokens", "cached_tokens",
                                       "reasoning_tokens") if k in out}
    if usage:
        out["usage"] = usage
    if "error_type" in out or "error_message" in out:
        err_type, err_msg = out.pop("error_type", None), out.pop("error_message", None)
        out["error"] = {"type": err_type, "message": err_msg} if (err_type or err_msg) else None
    out.pop("project_id", None)
    return out
