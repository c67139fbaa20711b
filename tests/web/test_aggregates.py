"""Overview aggregation queries against hand-computed expectations."""

from __future__ import annotations

import datetime as dt

import pytest

from lynex.ingest.enrich import tokens
from lynex.storage import aggregates
from lynex.storage.query import SpanFilter
from tests.test_ingest_api import ingest

T0 = dt.datetime(2025, 3, 1, 12, 0, 0)
WINDOW = (T0, T0 + dt.timedelta(hours=3))


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat() + "Z"


SPANS = [
    {"id": "a", "start_time": at(10), "latency_ms": 100, "model": "m1", "provider": "p1", "environment": "prod",
     "usage": {"input_tokens": 10, "output_tokens": 20}, "cost_usd": 0.01},
    {"id": "b", "start_time": at(20), "latency_ms": 200, "model": "m1", "provider": "p1", "environment": "prod",
     "status": "error", "error": {"type": "RateLimitError", "message": "Rate limit reached for m1"},
     "usage": {"input_tokens": 5, "output_tokens": 0}, "cost_usd": 0.002},
    # output tokens missing: estimated, and the span is flagged tokens_estimated
    {"id": "c", "start_time": at(70), "latency_ms": 300, "model": "m2", "provider": "p2", "environment": "dev",
     "usage": {"input_tokens": 7}, "output": "hello world", "cost_usd": 0.5},
    {"id": "d", "start_time": at(130), "latency_ms": 400, "model": "m2", "provider": "p2", "environment": "dev",
     "status": "error", "error": {"type": "Timeout", "message": "timed out"},
     "usage": {"input_tokens": 1, "output_tokens": 1}},
    {"id": "outside", "start_time": at(-1), "latency_ms": 9999, "model": "m1", "usage": {"input_tokens": 1000,
                                                                                          "output_tokens": 1}},
    {"id": "after", "start_time": at(180), "latency_ms": 9999, "model": "m1"},  # until is exclusive
]


@pytest.fixture
def loaded(app_client, auth, project):
    assert ingest(app_client, auth, SPANS).status_code == 200
    return app_client.app.state.services.queries, project[0]


def test_totals_and_percentiles(loaded):
    queries, pid = loaded
    ov = aggregates.overview(queries, pid, SpanFilter(), *WINDOW, bucket_s=3600)
    t = ov.totals
    est_out = tokens.estimate("hello world")
    assert (t["n"], t["errors"]) == (4, 2)
    # quantile_cont over [100, 200, 300, 400]: position (n-1)q → 1.5, 2.85, 2.97
    assert t["p50"] == pytest.approx(250.0)
    assert t["p95"] == pytest.approx(385.0)
    assert t["p99"] == pytest.approx(397.0)
    assert t["input_tokens"] == 10 + 5 + 7 + 1
    assert t["output_tokens"] == 20 + 0 + est_out + 1
    assert (t["input_tokens_est"], t["output_tokens_est"]) == (7, est_out)
    assert t["cost"] == pytest.approx(0.512)
    assert ov.error_rate == pytest.approx(0.5)


def test_series_buckets_filled(loaded):
    queries, pid = loaded
    ov = aggregates.overview(queries, pid, SpanFilter(), *WINDOW, bucket_s=3600)
    assert [r["t"] for r in ov.series] == [T0, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2)]
    assert [r["n"] for r in ov.series] == [2, 1, 1]
    assert [r["errors"] for r in ov.series] == [1, 0, 1]
    assert [r["p50"] for r in ov.series] == [pytest.approx(150.0), 300.0, 400.0]
    chart = ov.chart_data()
    assert chart["x"][0] == int((T0 - dt.datetime(1970, 1, 1)).total_seconds())
    assert chart["error_rate"] == [50.0, 0.0, 100.0]
    # a 15-minute bucket leaves empty buckets: zero counts and no latency
    fine = aggregates.overview(queries, pid, SpanFilter(), *WINDOW, bucket_s=900)
    assert len(fine.series) == 12
    assert sum(r["n"] for r in fine.series) == 4
    assert fine.series[2]["n"] == 0 and fine.series[2]["p95"] is None


def test_breakdowns(loaded):
    queries, pid = loaded
    ov = aggregates.overview(queries, pid, SpanFilter(), *WINDOW)
    models = {r["model"]: (r["n"], r["errors"], round(r["cost"], 6)) for r in ov.by_model}
    assert models == {"m1": (2, 1, 0.012), "m2": (2, 1, 0.5)}
    assert [r["model"] for r in ov.by_model] == ["m2", "m1"]  # most expensive first
    assert {r["error_class"]: r["n"] for r in ov.by_error_class} == {"rate_limit": 1, "timeout": 1}
    assert set(ov.facets["model"]) == {"m1", "m2"} and set(ov.facets["environment"]) == {"prod", "dev"}


def test_filters_apply_to_every_measure(loaded):
    queries, pid = loaded
    ov = aggregates.overview(queries, pid, SpanFilter(model="m2"), *WINDOW, bucket_s=3600)
    assert (ov.totals["n"], ov.totals["errors"], ov.totals["cost"]) == (2, 1, 0.5)
    assert [r["n"] for r in ov.series] == [0, 1, 1]
    assert [r["model"] for r in ov.by_model] == ["m2"]
    assert [r["error_class"] for r in ov.by_error_class] == ["timeout"]
    ok = aggregates.overview(queries, pid, SpanFilter(status="ok"), *WINDOW)
    assert ok.totals["n"] == 2 and ok.by_error_class == []
    assert aggregates.overview(queries, pid, SpanFilter(environment="prod", provider="p1"), *WINDOW).totals["n"] == 2


def test_empty_window(loaded):
    queries, pid = loaded
    empty = aggregates.overview(queries, pid, SpanFilter(), T0 - dt.timedelta(days=9), T0 - dt.timedelta(days=8))
    assert empty.totals["n"] == 0 and empty.totals["p95"] is None and empty.by_model == []
    assert all(r["n"] == 0 for r in empty.series)


def test_counts_match_the_read_api(app_client, auth, loaded):
    queries, pid = loaded
    since, until = WINDOW
    ov = aggregates.overview(queries, pid, SpanFilter(environment="dev"), since, until)
    r = app_client.get("/v1/spans", params={"environment": "dev", "since": since.isoformat() + "Z",
                                            "until": until.isoformat() + "Z", "limit": 1000}, headers=auth)
    data = r.json()["data"]
    assert ov.totals["n"] == len(data)
    assert ov.totals["cost"] == pytest.approx(sum(s["cost_usd"] or 0 for s in data))


def test_pick_bucket():
    assert aggregates.pick_bucket(T0, T0 + dt.timedelta(hours=1)) == 60
    assert aggregates.pick_bucket(T0, T0 + dt.timedelta(days=1)) == 900
    assert aggregates.pick_bucket(T0, T0 + dt.timedelta(days=7)) == 3600
    assert aggregates.pick_bucket(T0, T0 + dt.timedelta(days=30)) == 6 * 3600


def test_trace_outline_has_no_payloads(loaded):
    queries, pid = loaded
    rows = aggregates.trace_outline(queries, pid, "c")
    assert [r["id"] for r in rows] == ["c"] and "input" not in rows[0]
