"""Dashboard queries at scale, checked against the plain SQL they replace (real DuckDB files).

The fast paths — keys-first timeline over widening windows, two-pass exact percentiles, the
fingerprinted bucket cache — must give exactly what the naive queries give, including after late
spans, deletes and compaction change the rows under a cached bucket.
"""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pytest

from lynex.ingest.memtable import Memtable
from lynex.storage import aggregates, percentiles
from lynex.storage.compact import Compactor
from lynex.storage.hot import HotStore
from lynex.storage.query import SpanFilter, SpanQueries
from lynex.storage.schema import ARROW_SCHEMA

NOW = dt.datetime(2025, 6, 10, 12, 0, 0)
MODELS = ("m1", "m2", None)


def rows(n: int, first_seq: int, rng: random.Random, start: dt.datetime, spread_s: float,
         project: str = "p") -> pa.Table:
    """``n`` spans with tricky latencies (ties, zeros, NULLs, bin edges, huge) over a time spread."""
    cols: dict[str, list] = {f.name: [] for f in ARROW_SCHEMA}
    for i in range(n):
        seq = first_seq + i
        at = start + dt.timedelta(seconds=rng.random() * spread_s)
        latency = rng.choice([None, 0.0, 2.0 ** rng.randint(-3, 12), float(rng.randint(1, 50)),
                              rng.lognormvariate(5, 1.2), 1e7])
        failed = rng.random() < 0.2
        row = {"project_id": project, "id": f"s{seq}", "trace_id": f"t{seq // 3}", "name": "chat", "kind": "llm",
               "start_time": at, "latency_ms": latency, "status": "error" if failed else "ok",
               "error_class": rng.choice(["timeout", "rate_limit", None]) if failed else None,
               "model": rng.choice(MODELS), "provider": "openai", "environment": rng.choice(["prod", "dev"]),
               "input": f'"question {seq}"', "input_tokens": rng.randint(1, 100), "output_tokens": rng.randint(0, 50),
               "cost_usd": rng.choice([None, rng.random() / 100]), "user_id": f"u{seq % 7}",
               "flags": ["tokens_estimated"] if rng.random() < 0.1 else None, "received_at": at, "seq": seq}
        for f in ARROW_SCHEMA.names:
            cols[f].append(row.get(f))
    return pa.Table.from_pydict(cols, schema=ARROW_SCHEMA)


@pytest.fixture
def store(tmp_path):
    hot = HotStore(tmp_path / "hot.duckdb")
    rng = random.Random(5)
    seq = 1
    for day in range(10, 0, -1):  # ten days, oldest first, as ingest inserts them
        table = rows(300, seq, rng, NOW - dt.timedelta(days=day), 86_400)
        hot.insert(table, seq + table.num_rows - 1)
        seq += table.num_rows
    queries = SpanQueries(hot, Memtable(), clock=lambda: NOW)
    yield hot, queries, rng, seq
    hot.close()


def reference_quantiles(queries, where: str, params: list, bucket_us: int) -> dict:
    """quantile_cont per bucket and overall over every tier — what the overview computed before."""
    out = queries.read(lambda snap: snap.sql(
        f"SELECT epoch_us(start_time) // {bucket_us} AS b, quantile_cont(latency_ms, 0.5) AS p50,"
        f" quantile_cont(latency_ms, 0.95) AS p95, quantile_cont(latency_ms, 0.99) AS p99, count(*) AS n,"
        f" sum(cost_usd) AS cost FROM src WHERE {where} GROUP BY GROUPING SETS ((b), ())", params), "p")
    return {r["b"]: (r["p50"], r["p95"], r["p99"], r["n"], r["cost"]) for r in out}


def check_overview(hot, queries, flt: SpanFilter, since, until, bucket_s=None) -> aggregates.Overview:
    ov = aggregates.overview(queries, "p", flt, since, until, bucket_s)
    clauses, params = SpanFilter(**{**flt.__dict__, "since": since, "until": until}).where()
    ref = reference_quantiles(queries, " AND ".join(clauses), params, ov.bucket_s * 1_000_000)
    for row in ov.series + [ov.totals]:
        expected = ref.get(row["b"])
        if expected is None:
            assert row["n"] == 0 and row["p50"] is None
            continue
        # Same values to the last bit (x86-64); approx only guards against other platforms' rounding.
        for got, want in zip((row["p50"], row["p95"], row["p99"]), expected[:3]):
            assert got == pytest.approx(want, rel=1e-12, abs=0) if want is not None else got is None
        assert row["n"] == expected[3]
        assert row["cost"] == pytest.approx(expected[4] or 0, rel=1e-9, abs=1e-12)
    return ov


@pytest.mark.parametrize("flt", [SpanFilter(), SpanFilter(model="m1"), SpanFilter(status="error"),
                                 SpanFilter(environment="dev", model="m2")])
def test_overview_percentiles_equal_quantile_cont(store, flt):
    hot, queries, _, _ = store
    for days, bucket_s in ((1, None), (3, 3600), (7, None), (30, None)):
        check_overview(hot, queries, flt, NOW - dt.timedelta(days=days, minutes=7), NOW - dt.timedelta(minutes=3),
                       bucket_s)


def test_cached_buckets_follow_inserts_deletes_and_compaction(store, tmp_path):
    hot, queries, rng, seq = store
    since, until = NOW - dt.timedelta(days=7), NOW
    first = check_overview(hot, queries, SpanFilter(), since, until, 3600)
    misses = queries.buckets.misses
    again = check_overview(hot, queries, SpanFilter(), since, until, 3600)
    assert queries.buckets.hits > 0 and queries.buckets.misses == misses  # whole buckets reused
    assert again.totals == first.totals and again.by_model == first.by_model and again.series == first.series
    # A late span in an old, cached bucket, then a delete (retention/erasure): recomputed, never stale.
    late = rows(5, seq, rng, NOW - dt.timedelta(days=5), 60)
    hot.insert(late, seq + 4)
    after_insert = check_overview(hot, queries, SpanFilter(), since, until, 3600)
    assert after_insert.totals["n"] == first.totals["n"] + 5
    with hot.writing():
        hot.con.execute("DELETE FROM spans WHERE user_id = 'u3'")
    after_delete = check_overview(hot, queries, SpanFilter(), since, until, 3600)
    assert after_delete.totals["n"] < after_insert.totals["n"]
    # Compaction moves rows to Parquet (same seqs): same numbers, cached or not.
    hits = queries.buckets.hits
    Compactor(hot, tmp_path / "parquet", lambda fn: fn(hot.con), 60).run(NOW)
    assert hot.con.execute("SELECT count(*) FROM parquet_files").fetchone()[0] > 0
    compacted = check_overview(hot, queries, SpanFilter(), since, until, 3600)
    assert queries.buckets.hits > hits  # the moved rows kept their seqs: buckets still valid
    fresh = SpanQueries(hot, Memtable(), clock=lambda: NOW)  # an empty cache
    uncached = aggregates.overview(fresh, "p", SpanFilter(), since, until, 3600)
    for a, b in zip(uncached.series + [uncached.totals], compacted.series + [compacted.totals]):
        assert {k: v for k, v in a.items() if k != "cost"} == {k: v for k, v in b.items() if k != "cost"}
        assert a["cost"] == pytest.approx(b["cost"], rel=1e-12)


def test_overview_facets_ignore_filters(store):
    _, queries, _, _ = store
    since, until = NOW - dt.timedelta(days=3), NOW
    plain = aggregates.overview(queries, "p", SpanFilter(), since, until)
    filtered = aggregates.overview(queries, "p", SpanFilter(model="m1"), since, until)
    assert filtered.facets == plain.facets and set(plain.facets["model"]) == {"m1", "m2"}
    assert set(plain.facets["environment"]) == {"prod", "dev"}


def naive(hot, flt: SpanFilter) -> list[tuple]:
    clauses, params = flt.where()
    return hot.con.execute(f"SELECT start_time, seq FROM spans WHERE project_id = 'p'"
                           f"{''.join(' AND ' + c for c in clauses)} ORDER BY start_time DESC, seq DESC",
                           params).fetchall()


@pytest.mark.parametrize("flt", [SpanFilter(), SpanFilter(user_id="u3"), SpanFilter(model="m2", status="error"),
                                 SpanFilter(since=NOW - dt.timedelta(days=2)), SpanFilter(user_id="nobody"),
                                 SpanFilter(until=NOW - dt.timedelta(days=4), environment="dev")])
def test_timeline_pages_equal_the_plain_sort(store, flt):
    hot, queries, rng, seq = store
    # rows in the future (client clock skew) and far in the past, inserted last (late arrivals)
    hot.insert(rows(4, seq, rng, NOW + dt.timedelta(hours=2), 60), seq + 3)
    hot.insert(rows(4, seq + 4, rng, NOW - dt.timedelta(days=90), 600), seq + 7)
    expected = naive(hot, flt)
    got, cursor = [], None
    while True:
        page = queries.list_spans("p", flt, 37, cursor, ("id", "latency_ms", "input"))
        got += [(r["start_time"], r["seq"]) for r in page.rows]
        assert all(r["input"] == f'"question {r["seq"]}"' for r in page.rows)  # wide columns of the same rows
        cursor = page.next_cursor
        if cursor is None:
            break
    assert got == expected


def test_percentile_targets_pick_ranks_inside_bins():
    # bins 3: two values, 5: three values, 9: one value → ranks 0..5
    hist = {5: 3, 3: 2, 9: 1}
    ranks = percentiles.targets(None, hist)
    # n = 6: p50 at 2.5 → ranks 2, 3; p95 at 4.75 → 4, 5; p99 at 4.95 → 4, 5
    assert {r: (t.bin, t.rank) for r, t in ranks.items()} == {2: (5, 0), 3: (5, 1), 4: (5, 2), 5: (9, 0)}
    values = {ranks[2]: 10.0, ranks[3]: 20.0, ranks[4]: 30.0, ranks[5]: 70.0}
    got = percentiles.resolve(hist, ranks, values)
    assert got == {"p50": 15.0, "p95": pytest.approx(30.0 + 0.75 * 40), "p99": pytest.approx(30.0 + 0.95 * 40)}
    assert percentiles.resolve({}, {}, {}) == {"p50": None, "p95": None, "p99": None}
