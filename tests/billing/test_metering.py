"""Metering exactness: the usage rollup equals the stored spans after retries, duplicates and kill -9."""

from __future__ import annotations

import sqlite3
import threading

import duckdb
import httpx
import pytest

from tests.helpers import ServerProcess, wait_for

STORED_SQL = ("SELECT count(*), count(*) FILTER (WHERE status = 'error'), coalesce(sum(input_tokens), 0), "
              "coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0) FROM spans")
ROLLUP_SQL = ("SELECT coalesce(sum(spans), 0), coalesce(sum(error_spans), 0), coalesce(sum(input_tokens), 0), "
              "coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0) FROM usage_hourly")


def _span(i: int) -> dict:
    span = {"id": f"m-{i}", "name": "chat", "model": ("gpt-4o-mini", "claude-3-haiku", None)[i % 3],
            "input": f"question {i}", "output": f"answer {i}"}
    if i % 2:
        span["usage"] = {"input_tokens": 100 + i, "output_tokens": 7 + i % 5}
        span["cost_usd"] = 0.0001 * (i % 13)
    if i % 11 == 0:
        span["status"] = "error"
        span["error"] = {"type": "RateLimitError", "message": "slow down"}
    return span


def _assert_rollup_equals_spans(con) -> tuple:
    stored, rolled = con.execute(STORED_SQL).fetchone(), con.execute(ROLLUP_SQL).fetchone()
    assert stored[:4] == rolled[:4]
    assert rolled[4] == pytest.approx(stored[4], rel=1e-12, abs=1e-12)
    by_model = con.execute("SELECT coalesce(model, ''), count(*) FROM spans GROUP BY ALL ORDER BY ALL").fetchall()
    assert by_model == con.execute("SELECT model, sum(spans)::BIGINT FROM usage_hourly GROUP BY ALL ORDER BY ALL").fetchall()
    return stored


def test_retries_and_duplicates_are_counted_once(app_client, project, auth):
    batches = [[_span(i) for i in range(b * 20, b * 20 + 20)] for b in range(5)]
    for batch in batches:
        assert app_client.post("/v1/ingest", json={"spans": batch}, headers=auth).status_code == 200
    for batch in batches[1:3]:  # SDK retries of whole batches
        assert app_client.post("/v1/ingest", json={"spans": batch}, headers=auth).json()["duplicates"] == 20
    twice = [_span(200), _span(200), _span(201), {"id": ""}]  # a duplicate inside one batch, one invalid span
    r = app_client.post("/v1/ingest", json={"spans": twice}, headers=auth)
    assert r.status_code == 207 and r.json()["duplicates"] == 1
    services = app_client.app.state.services
    wait_for(lambda: services.pipeline.applied_seq >= services.pipeline.wal.next_seq - 1, timeout=20)
    stored = _assert_rollup_equals_spans(services.hot.cursor())
    assert stored[0] == 102

    usage = app_client.get("/v1/usage", params={"group_by": "project"}, headers=auth).json()
    row = usage["data"][0]
    assert (row["spans_stored"], row["spans_accepted"], row["spans_duplicate"], row["spans_rejected"]) == (102, 102, 41, 1)
    assert row["requests"] == 8 and row["bytes_received"] > 0 and row["input_tokens"] == stored[2]
    keys = app_client.get("/v1/usage", params={"group_by": "key"}, headers=auth).json()["data"]
    assert len(keys) == 1 and keys[0]["spans_accepted"] == 102 and keys[0]["cost_usd"] is None  # not per key
    models = app_client.get("/v1/usage", params={"group_by": "model"}, headers=auth).json()["data"]
    assert {m["model"]: m["spans_stored"] for m in models} == {"gpt-4o-mini": 35, "claude-3-haiku": 33, None: 34}
    days = app_client.get("/v1/usage", params={"group_by": "day"}, headers=auth).json()
    assert days["totals"]["spans_stored"] == 102
    csv = app_client.get("/v1/usage", params={"group_by": "model", "format": "csv"}, headers=auth)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[0].startswith("model,")
    assert app_client.get("/v1/usage", params={"group_by": "color"}, headers=auth).status_code == 400
    assert app_client.get("/v1/usage", params={"project_id": "prj_other"}, headers=auth).status_code == 403


@pytest.mark.slow
def test_usage_equals_stored_spans_after_kill_9_mid_stream(tmp_path):
    server = ServerProcess(data_dir=tmp_path / "data", env={"LYNEX_FLUSH_INTERVAL_MS": "1000"}).start()
    try:
        project = server.create_project("metered")
        batches = [[_span(i) for i in range(b * 50, b * 50 + 50)] for b in range(40)]
        acked: set[int] = set()
        stop = threading.Event()

        def send(indexes):
            with server.client(project["api_key"]) as api:
                for b in indexes:
                    if stop.is_set():
                        return
                    try:
                        if api.post("/v1/ingest", json={"spans": batches[b]}).status_code == 200:
                            acked.add(b)
                    except httpx.HTTPError:
                        return  # the server died under us: the SDK would retry later
        sender = threading.Thread(target=send, args=(range(40),))
        sender.start()
        wait_for(lambda: len(acked) >= 12, timeout=60)
        server.kill()  # kill -9 while the sender is mid-stream
        stop.set()
        sender.join()
        assert 12 <= len(acked) < 40

        server.start()
        stop.clear()
        # The client retries what it did not see acknowledged, and (being unsure) a few that it did.
        send([b for b in range(40) if b not in acked] + sorted(acked)[:5])
        assert len(acked) == 40
        with server.client(project["api_key"]) as api:
            usage = api.get("/v1/usage").json()
        assert usage["quota"]["spans_accepted"] <= 2000  # the edge's count: never more than once
    finally:
        server.stop()  # graceful: drains every accepted span into DuckDB
    con = duckdb.connect(str(tmp_path / "data" / "hot.duckdb"), read_only=True)
    stored = _assert_rollup_equals_spans(con)
    assert stored[0] == 2000 == con.execute("SELECT count(DISTINCT id) FROM spans").fetchone()[0]
    edge = sqlite3.connect(tmp_path / "data" / "meta.sqlite").execute(
        "SELECT sum(spans_accepted) FROM usage_requests").fetchone()[0]
    assert edge <= 2000  # a request acknowledged in the instant of the kill may lack its edge count
