"""Dashboard queries: overview aggregates, timeline rows, trace outlines.

All of them go through ``SpanQueries._run`` so they read the same ``src`` (hot ∪ uncommitted,
later Parquet and cold) and use the same ``SpanFilter`` clauses as the read API: a count here
is the number of spans ``GET /v1/spans`` returns for the same filters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lynex.storage.query import SpanFilter, SpanQueries

_EPOCH = dt.datetime(1970, 1, 1)
# Bucket widths a chart may use, seconds; the first that keeps a range within MAX_BUCKETS wins.
BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 200

# Per-bucket (and total) measures; parameters: none. Names are the keys of Overview rows.
_MEASURES = (
    "count(*) AS n",
    "count_if(status = 'error') AS errors",
    "quantile_cont(latency_ms, 0.5) AS p50",
    "quantile_cont(latency_ms, 0.95) AS p95",
    "quantile_cont(latency_ms, 0.99) AS p99",
    "coalesce(sum(input_tokens), 0) AS input_tokens",
    "coalesce(sum(output_tokens), 0) AS output_tokens",
    "coalesce(sum(input_tokens) FILTER (WHERE list_contains(flags, 'tokens_estimated')), 0) AS input_tokens_est",
    "coalesce(sum(output_tokens) FILTER (WHERE list_contains(flags, 'tokens_estimated')), 0) AS output_tokens_est",
    "coalesce(sum(cost_usd), 0) AS cost",
    "coalesce(sum(cost_usd) FILTER (WHERE list_contains(flags, 'cost_computed')), 0) AS cost_computed",
)
MEASURE_NAMES = tuple(m.rsplit(" AS ", 1)[1] for m in _MEASURES)
FACETS = ("model", "provider", "environment", "release")

# What a timeline row shows: no payloads, only enough of the prompt for a preview.
TIMELINE_COLUMNS = (
    "id", "trace_id", "parent_id", "session_id", "user_id", "name", "kind", "start_time", "latency_ms",
    "status", "error_class", "error_type", "model", "provider", "input_tokens", "output_tokens", "cost_usd",
    "flags", "environment", "release", "tags", "seq",
    "CASE WHEN length(input) <= 2000 THEN input ELSE right(input, 1500) END AS input_preview",
)
# What a trace tree needs per span (10,000-span traces stay small).
OUTLINE_COLUMNS = ("id", "parent_id", "name", "kind", "start_time", "end_time", "latency_ms", "status",
                   "error_class", "model", "total_tokens", "cost_usd", "seq")


def pick_bucket(since: dt.datetime, until: dt.datetime) -> int:
    """The narrowest bucket (seconds) that keeps [since, until) within MAX_BUCKETS points."""
    span_s = max((until - since).total_seconds(), 1.0)
    for width in BUCKETS_S:
        if span_s / width <= MAX_BUCKETS:
            return width
    return BUCKETS_S[-1]


@dataclass
class Overview:
    """One project's overview for a window: totals, per-bucket series and breakdowns."""

    since: dt.datetime
    until: dt.datetime
    bucket_s: int
    totals: dict
    series: list[dict]  # one per bucket, empty buckets filled (n = 0, latency None)
    by_model: list[dict]
    by_error_class: list[dict]
    facets: dict[str, list[str]] = field(default_factory=dict)

    @property
    def error_rate(self) -> float:
        return self.totals["errors"] / self.totals["n"] if self.totals["n"] else 0.0

    def chart_data(self) -> dict:
        """Column arrays for the charts: x in epoch seconds (UTC), one array per measure."""
        out: dict[str, list] = {"x": [int((r["t"] - _EPOCH).total_seconds()) for r in self.series]}
        for name in MEASURE_NAMES:
            out[name] = [r[name] for r in self.series]
        out["error_rate"] = [(r["errors"] / r["n"] * 100.0) if r["n"] else None for r in self.series]
        return out


def _window(flt: SpanFilter) -> tuple[list[str], list]:
    clauses, params = flt.where()
    return clauses, params


def _where(clauses: list[str]) -> str:
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


def overview(queries: SpanQueries, project_id: str, flt: SpanFilter, since: dt.datetime,
             until: dt.datetime, bucket_s: int | None = None, with_facets: bool = True) -> Overview:
    """Aggregate spans matching ``flt`` with ``since <= start_time < until`` (naive UTC)."""
    flt = SpanFilter(**{**flt.__dict__, "since": since, "until": until})
    flt.validate()
    bucket_s = bucket_s or pick_bucket(since, until)
    bucket_us = bucket_s * 1_000_000
    clauses, params = _window(flt)
    where = _where(clauses)
    rows = queries._run(
        f"{where} GROUP BY GROUPING SETS ((b), ()) ORDER BY b NULLS FIRST",
        [bucket_us] + params, ("(epoch_us(start_time) // ?) AS b",) + _MEASURES, project_id)
    totals = rows[0] if rows and rows[0]["b"] is None else {n: 0 for n in MEASURE_NAMES} | {"b": None}
    if totals["n"] == 0:
        totals.update(p50=None, p95=None, p99=None)
    by_bucket = {r["b"]: r for r in rows if r["b"] is not None}
    series = []
    first = int((since - _EPOCH).total_seconds() * 1_000_000) // bucket_us
    last = int((until - _EPOCH).total_seconds() * 1_000_000 - 1) // bucket_us
    for b in range(first, last + 1):
        row = by_bucket.get(b) or {n: 0 for n in MEASURE_NAMES} | {"p50": None, "p95": None, "p99": None}
        series.append({**row, "t": _EPOCH + dt.timedelta(microseconds=b * bucket_us)})
    by_model = queries._run(
        f"{where} GROUP BY model ORDER BY cost DESC, n DESC, model NULLS LAST LIMIT 50", params,
        ("model", "count(*) AS n", "count_if(status = 'error') AS errors",
         "coalesce(sum(cost_usd), 0) AS cost", "coalesce(sum(input_tokens), 0) AS input_tokens",
         "coalesce(sum(output_tokens), 0) AS output_tokens"), project_id)
    by_class = queries._run(
        _where(clauses + ["status = 'error'"]) + " GROUP BY error_class ORDER BY n DESC, error_class NULLS LAST",
        params, ("error_class", "count(*) AS n"), project_id)
    result = Overview(since, until, bucket_s, totals, series, by_model, by_class)
    if with_facets:
        result.facets = facets(queries, project_id, since, until)
    return result


def facets(queries: SpanQueries, project_id: str, since: dt.datetime | None = None,
           until: dt.datetime | None = None, limit: int = 100) -> dict[str, list[str]]:
    """Values seen for each filterable dimension in the window (most frequent first), one scan."""
    flt = SpanFilter(since=since, until=until)
    clauses, params = flt.where()
    rows = queries._run(
        f"{_where(clauses)} GROUP BY GROUPING SETS ({', '.join(f'({f})' for f in FACETS)})"
        " ORDER BY n DESC", params,
        FACETS + ("count(*) AS n",), project_id)
    out: dict[str, list[str]] = {f: [] for f in FACETS}
    for row in rows:
        for name in FACETS:
            if row[name] is not None and len(out[name]) < limit:
                out[name].append(row[name])
    return out


def trace_outline(queries: SpanQueries, project_id: str, trace_id: str, limit: int = 100_000) -> list[dict]:
    """The spans of a trace without payloads, oldest first: enough for the tree and waterfall."""
    return queries._run("WHERE trace_id = ? ORDER BY start_time, seq LIMIT ?", [trace_id, limit],
                        OUTLINE_COLUMNS, project_id)


def new_rows(table, project_id: str, flt: SpanFilter, limit: int = 200) -> list[dict]:
    """Rows of a freshly processed Arrow table that match ``flt`` (live tail), newest first.

    Runs the very clauses of ``SpanFilter.where`` over the table in a private in-memory DuckDB,
    so the live tail and the timeline can never disagree about what matches.
    """
    import duckdb  # local: only the live tail needs a private connection

    clauses, params = flt.where()
    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    try:
        con.register("_new", table)
        result = con.execute(
            f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM _new WHERE {' AND '.join(['project_id = ?'] + clauses)}"
            " ORDER BY start_time DESC, seq DESC LIMIT ?", [project_id] + params + [limit])
        names = [d[0] for d in result.description]
        return [dict(zip(names, row)) for row in result.fetchall()]
    finally:
        con.close()
