"""Dashboard queries: overview aggregates, timeline rows, trace outlines.

All of them go through ``SpanQueries._run`` so they read the same ``src`` (hot ∪ uncommitted,
later Parquet and cold) and use the same ``SpanFilter`` clauses as the read API: a count here
is the number of spans ``GET /v1/spans`` returns for the same filters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lynex.storage import percentiles
from lynex.storage.query import Snapshot, SpanFilter, SpanQueries

_EPOCH = dt.datetime(1970, 1, 1)
# Bucket widths a chart may use, seconds; the first that keeps a range within MAX_BUCKETS wins.
BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 200

# Additive measures of one (bucket, latency bin) group, summed up to buckets and totals in Python;
# percentiles come exactly from lynex.storage.percentiles. Names are the keys of Overview rows.
_SUMS = (
    "count(*) AS n",
    "count_if(status = 'error') AS errors",
    "coalesce(sum(input_tokens), 0) AS input_tokens",
    "coalesce(sum(output_tokens), 0) AS output_tokens",
    "coalesce(sum(input_tokens) FILTER (WHERE list_contains(flags, 'tokens_estimated')), 0) AS input_tokens_est",
    "coalesce(sum(output_tokens) FILTER (WHERE list_contains(flags, 'tokens_estimated')), 0) AS output_tokens_est",
    "coalesce(sum(cost_usd), 0) AS cost",
    "coalesce(sum(cost_usd) FILTER (WHERE list_contains(flags, 'cost_computed')), 0) AS cost_computed",
)
SUM_NAMES = tuple(m.rsplit(" AS ", 1)[1] for m in _SUMS)
MEASURE_NAMES = SUM_NAMES[:2] + tuple(name for name, _ in percentiles.QUANTILES) + SUM_NAMES[2:]
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


def _where(clauses: list[str]) -> str:
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


def _zero() -> dict:
    return {n: 0 for n in SUM_NAMES}


def overview(queries: SpanQueries, project_id: str, flt: SpanFilter, since: dt.datetime,
             until: dt.datetime, bucket_s: int | None = None, with_facets: bool = True) -> Overview:
    """Aggregate spans matching ``flt`` with ``since <= start_time < until`` (naive UTC)."""
    flt = SpanFilter(**{**flt.__dict__, "since": since, "until": until})
    flt.validate()
    bucket_s = bucket_s or pick_bucket(since, until)
    bucket_us = bucket_s * 1_000_000
    clauses, params = flt.where()
    where = _where(clauses)
    # Facets take the window only: with no other filter, the overview's own WHERE.
    facets_inline = with_facets and clauses == SpanFilter(since=since, until=until).where()[0]

    def read(snap: Snapshot) -> Overview:
        groups = _scan(snap, where, params, bucket_us, facets_inline)
        buckets: dict[int, dict] = {}
        hists: dict[int | None, dict[int, int]] = {None: {}}
        for row in groups["b"]:
            bucket = buckets.setdefault(row["b"], _zero())
            for name in SUM_NAMES:
                bucket[name] += row[name]
            if row["bin"] is not None and row["n_latency"]:
                hists.setdefault(row["b"], {})[row["bin"]] = row["n_latency"]
                hists[None][row["bin"]] = hists[None].get(row["bin"], 0) + row["n_latency"]
        quantiles = _percentiles(snap, where, params, bucket_us, hists)
        totals = _zero()
        for bucket in buckets.values():
            for name in SUM_NAMES:
                totals[name] += bucket[name]
        totals.update(quantiles[None], b=None)
        series = []
        first = int((since - _EPOCH).total_seconds() * 1_000_000) // bucket_us
        last = int((until - _EPOCH).total_seconds() * 1_000_000 - 1) // bucket_us
        empty = {name: None for name, _ in percentiles.QUANTILES}
        for b in range(first, last + 1):
            row = {**buckets.get(b, _zero()), **quantiles.get(b, empty), "b": b}
            series.append({**row, "t": _EPOCH + dt.timedelta(microseconds=b * bucket_us)})
        by_model = sorted(groups["model"], key=lambda r: (-r["cost"], -r["n"], r["model"] is None, r["model"] or ""))
        by_class = sorted(({"error_class": r["error_class"], "n": r["errors"]} for r in groups["error_class"]),
                          key=lambda r: (-r["n"], r["error_class"] is None, r["error_class"] or ""))
        result = Overview(since, until, bucket_s, totals, series, by_model[:50], by_class)
        if facets_inline:
            result.facets = _facet_lists(groups["facets"])
        elif with_facets:
            result.facets = _facets(snap, since, until)
        return result

    return queries.read(read, project_id, since, until)


def _scan(snap: Snapshot, where: str, params: list, bucket_us: int, with_facets: bool) -> dict:
    """Sums per (bucket, latency bin), per model, per error class (and per facet value).

    Separate statements over one snapshot: DuckDB runs a GROUPING SETS over these several times
    slower than the plain aggregates."""
    out = {
        "b": snap.sql(f"SELECT epoch_us(start_time) // ? AS b, {percentiles.BIN_SQL} AS bin, {', '.join(_SUMS)}, "
                      f"count(latency_ms) AS n_latency FROM src {where} GROUP BY ALL", [bucket_us] + params),
        "model": snap.rows(f"{where} GROUP BY model", params, ("model",) + _SUMS),
        "error_class": snap.rows(_where([where[len("WHERE "):], "status = 'error'"] if where else ["status = 'error'"])
                                 + " GROUP BY error_class", params, ("error_class", "count(*) AS errors")),
    }
    if with_facets:
        rows = snap.rows(f"{where} GROUP BY GROUPING SETS ({', '.join(f'({f})' for f in FACETS)})", params,
                         FACETS + ("count(*) AS n",))
        out["facets"] = {f: [r for r in rows if r[f] is not None] for f in FACETS}
    return out


def _percentiles(snap: Snapshot, where: str, params: list, bucket_us: int,
                 hists: dict[int | None, dict[int, int]]) -> dict[int | None, dict]:
    """p50/p95/p99 per bucket (and None: all), exactly, reading only the bins that hold them."""
    ranks = {b: percentiles.targets(b, h) for b, h in hists.items()}
    wanted = {t for r in ranks.values() for t in r.values()}
    values: dict[percentiles.Target, float] = {}
    if wanted:
        keys = sorted({percentiles.key(t.bucket, t.bin) for t in wanted if t.bucket is not None})
        total_bins = sorted({t.bin for t in wanted if t.bucket is None})
        order = list(wanted)
        pre_sql, pre_params = percentiles.prefilter({t.bin for t in wanted})
        rows = snap.sql(percentiles.selection_sql(where, pre_sql),
                        [bucket_us] + params + pre_params + [keys, total_bins, [t.bucket for t in order],
                                                [t.bin for t in order], [t.rank for t in order]])
        values = {percentiles.Target(r["b"], r["bin"], r["r"]): r["value"] for r in rows}
    return {b: percentiles.resolve(hists[b], ranks[b], values) for b in hists}


def facets(queries: SpanQueries, project_id: str, since: dt.datetime | None = None,
           until: dt.datetime | None = None, limit: int = 100) -> dict[str, list[str]]:
    """Values seen for each filterable dimension in the window (most frequent first), one scan."""
    return queries.read(lambda snap: _facets(snap, since, until, limit), project_id, since, until)


def _facets(snap: Snapshot, since, until, limit: int = 100) -> dict[str, list[str]]:
    clauses, params = SpanFilter(since=since, until=until).where()
    rows = snap.rows(f"{_where(clauses)} GROUP BY GROUPING SETS ({', '.join(f'({f})' for f in FACETS)})",
                     params, FACETS + ("count(*) AS n",))
    return _facet_lists({f: [r for r in rows if r[f] is not None] for f in FACETS}, limit)


def _facet_lists(groups: dict[str, list[dict]], limit: int = 100) -> dict[str, list[str]]:
    """Each facet's non-null values, most frequent first (ties by value, so pages are stable)."""
    return {f: [r[f] for r in sorted(groups[f], key=lambda r: (-r["n"], r[f]))
                if r[f] is not None][:limit] for f in FACETS}


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
