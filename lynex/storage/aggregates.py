"""Dashboard queries: overview aggregates, timeline rows, trace outlines.

All of them read through ``SpanQueries`` (``read``/``_run``), so they see the same ``src`` (hot ∪
uncommitted ∪ Parquet parts, local or cold) and use the same ``SpanFilter`` clauses as the read
API: a count here is the number of spans ``GET /v1/spans`` returns for the same filters. At 10M
spans the overview reuses unchanged whole buckets (rollups.py) and computes exact percentiles in
two bounded passes (percentiles.py) instead of one ``quantile_cont`` that buffers every value.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lynex.storage import percentiles, rollups
from lynex.storage.query import Snapshot, SpanFilter, SpanQueries
from lynex.storage.rollups import FACETS, SUM_NAMES, Part, zero

_EPOCH = dt.datetime(1970, 1, 1)
# Bucket widths a chart may use, seconds; the first that keeps a range within MAX_BUCKETS wins.
BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 200
# Keys of an Overview row (a bucket or the totals).
MEASURE_NAMES = SUM_NAMES[:2] + tuple(name for name, _ in percentiles.QUANTILES) + SUM_NAMES[2:]

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


def overview(queries: SpanQueries, project_id: str, flt: SpanFilter, since: dt.datetime,
             until: dt.datetime, bucket_s: int | None = None, with_facets: bool = True) -> Overview:
    """Aggregate spans matching ``flt`` with ``since <= start_time < until`` (naive UTC).

    Whole buckets come from ``queries.buckets`` when their fingerprint is unchanged (see
    rollups.py); the rest — the window's partial first and last buckets, new or changed ones —
    from raw rows; percentiles always exactly from raw latencies (see percentiles.py).
    """
    flt = SpanFilter(**{**flt.__dict__, "since": since, "until": until})
    flt.validate()
    bucket_s = bucket_s or pick_bucket(since, until)
    clauses, params = flt.where()
    # Facets count the window without the other filters: the unfiltered parts carry them.
    unfiltered = SpanFilter(since=since, until=until)
    plain = clauses == unfiltered.where()[0]

    def read(snap: Snapshot) -> Overview:
        parts = _parts(queries, snap, project_id, flt, bucket_s, with_facets and plain)
        result = _assemble(snap, _where(clauses), params, since, until, bucket_s, parts)
        if with_facets:
            facet_parts = parts if plain else _parts(queries, snap, project_id, unfiltered, bucket_s, True)
            counts: dict[str, dict] = {f: {} for f in FACETS}
            for part in facet_parts.values():
                for f in FACETS:
                    for value, n in part.facets[f].items():
                        counts[f][value] = counts[f].get(value, 0) + n
            result.facets = _facet_lists({f: [{f: v, "n": n} for v, n in c.items()] for f, c in counts.items()})
        return result

    return queries.read(read, project_id, since, until)


def _parts(queries: SpanQueries, snap: Snapshot, project_id: str, flt: SpanFilter, bucket_s: int,
           with_facets: bool) -> dict[int, Part]:
    """Per-bucket aggregates of the rows matching ``flt`` (its since/until are the window)."""
    since, until = flt.since, flt.until
    clauses, params = flt.where()
    where = _where(clauses)
    bucket_us = bucket_s * 1_000_000
    dims_clauses, dims_params = SpanFilter(**{**flt.__dict__, "since": None, "until": None}).where()
    signature = (project_id, tuple(dims_clauses), tuple(dims_params), bucket_s, with_facets)
    first_full = -(-_us(since) // bucket_us)
    end_full = _us(until) // bucket_us  # buckets first_full … end_full - 1 lie wholly in the window
    if first_full >= end_full:
        return rollups.scan(snap, where, params, bucket_us, with_facets, [(since, until)])
    lo, hi = _at(first_full * bucket_us), _at(end_full * bucket_us)
    # The fingerprint of all the project's rows in a bucket, whatever the filters: rows are never
    # updated, so if that set is unchanged every filtered subset is too. One scan of the narrow
    # columns then serves the filtered view and the facets (memoised on the snapshot).
    memo = snap.__dict__.setdefault("_prints", {})
    if (bucket_us, first_full, end_full) not in memo:
        memo[bucket_us, first_full, end_full] = rollups.fingerprints(snap, queries.buckets, ([], []), bucket_us,
                                                                     first_full, end_full)
    prints = memo[bucket_us, first_full, end_full]
    parts: dict[int, Part] = {}
    stale = []
    for b, fp in prints.items():
        part = queries.buckets.get(signature + (b,), fp)
        if part is None:
            stale.append(b)
        else:
            parts[b] = part
    ranges = [(since, lo), (hi, until)] + [(_at(a * bucket_us), _at(z * bucket_us)) for a, z in _runs(sorted(stale))]
    fresh = rollups.scan(snap, where, params, bucket_us, with_facets, [r for r in ranges if r[0] < r[1]])
    for b in stale:  # a bucket with rows but none matching the filters is cached empty
        queries.buckets.put(signature + (b,), prints[b], fresh.get(b) or Part())
    parts.update(fresh)  # the partial edge buckets are never cached: they change with the window
    return parts


def _us(t: dt.datetime) -> int:
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def _at(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def _runs(buckets: list[int]) -> list[tuple[int, int]]:
    """Sorted bucket numbers as [first, end) runs of consecutive ones (fewer ORs to evaluate)."""
    runs: list[list[int]] = []
    for b in buckets:
        if runs and runs[-1][1] == b:
            runs[-1][1] = b + 1
        else:
            runs.append([b, b + 1])
    return [(a, z) for a, z in runs]


def _assemble(snap: Snapshot, where: str, params: list, since: dt.datetime, until: dt.datetime, bucket_s: int,
              parts: dict[int, Part]) -> Overview:
    """The Overview from per-bucket parts, with exact percentiles read from raw latencies."""
    bucket_us = bucket_s * 1_000_000
    hists: dict[int | None, dict[int, int]] = {None: {}}
    totals, models, classes = zero(), {}, {}
    known: dict[int, dict] = {}  # buckets whose percentiles a cached part already holds
    for b, part in sorted(parts.items()):  # bucket order: float sums come out the same every time
        # (parts may be cached: read, never modified — but for their memoised quantiles)
        if part.quantiles is not None:
            known[b] = part.quantiles
        elif part.hist:
            hists[b] = part.hist
        for bin_, n in part.hist.items():
            hists[None][bin_] = hists[None].get(bin_, 0) + n
        for name in SUM_NAMES:
            totals[name] += part.sums[name]
        for model, sums in part.models.items():
            acc = models.setdefault(model, {"model": model} | {k: 0 for k in rollups.MODEL_SUMS})
            for k in rollups.MODEL_SUMS:
                acc[k] += sums[k]
        for cls, n in part.classes.items():
            classes[cls] = classes.get(cls, 0) + n
    quantiles = _percentiles(snap, where, params, bucket_us, hists)
    for b, q in quantiles.items():
        if b is not None:
            parts[b].quantiles = q
    quantiles.update(known)
    totals.update(quantiles[None], b=None)
    empty = {name: None for name, _ in percentiles.QUANTILES}
    series = []
    for b in range(_us(since) // bucket_us, (_us(until) - 1) // bucket_us + 1):
        sums = parts[b].sums if b in parts else zero()
        series.append({**sums, **quantiles.get(b, empty), "b": b, "t": _at(b * bucket_us)})
    by_model = sorted(models.values(), key=lambda r: (-r["cost"], -r["n"], r["model"] is None, r["model"] or ""))
    by_class = sorted(({"error_class": c, "n": n} for c, n in classes.items()),
                      key=lambda r: (-r["n"], r["error_class"] is None, r["error_class"] or ""))
    return Overview(since, until, bucket_s, totals, series, by_model[:50], by_class)


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


WARM_WINDOWS_S = (86400, 7 * 86400, 30 * 86400)  # the overview's 24h (default), 7d and 30d ranges


def warm_overviews(queries: SpanQueries, project_ids: list[str], now: dt.datetime | None = None) -> int:
    """Compute each project's unfiltered overview for the usual ranges once, so the bucket cache
    (rollups.py) is full before anyone asks: at 10M spans a cold first overview takes seconds.
    Returns how many overviews were computed."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    done = 0
    for project_id in project_ids:
        for seconds in WARM_WINDOWS_S:
            overview(queries, project_id, SpanFilter(), now - dt.timedelta(seconds=seconds), now)
            done += 1
    return done
