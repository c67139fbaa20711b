"""Monthly span quota at ingest: 429 naming the quota with Retry-After, reads unaffected, next month open."""

from __future__ import annotations

import datetime as dt
import logging

from lynex.billing import quota
from tests.billing.conftest import Clock
from tests.helpers import wait_for


def _span(i: int) -> dict:
    return {"id": f"q-{i}", "name": "chat", "model": "gpt-4o-mini", "usage": {"input_tokens": 10, "output_tokens": 2},
            "cost_usd": 0.001}


def test_pure_quota_decisions():
    now = dt.datetime(2031, 3, 31, 23, 59, 30, tzinfo=dt.timezone.utc).timestamp()
    assert quota.check_spans(9, 1, 10, now) is None
    refusal = quota.check_spans(9, 2, 10, now)
    assert refusal.quota == "spans_per_month" and refusal.retry_after_s == 30
    assert "spans_per_month" in refusal.message and "1 left" in refusal.message
    assert quota.check_spans(10**12, 5, 0, now) is None  # 0 = unlimited
    assert [quota.warning_level(u, 10) for u in (7, 8, 9, 10, 11)] == [0, 80, 80, 100, 100]
    assert quota.month_key(now) == "2031-03" and quota.month_key(now + 31) == "2031-04"
    dec = dt.datetime(2031, 12, 15, tzinfo=dt.timezone.utc).timestamp()
    assert quota.seconds_to_next_month(dec) == 17 * 86400


def test_span_crossing_the_monthly_quota_gets_429_and_next_month_accepts(licensed_client, issue, caplog):
    clock = Clock(dt.datetime(2030, 5, 31, 22, 0))
    client, project_id, auth = licensed_client(issue(limits={"spans_per_month": 10}), clock)
    caplog.set_level(logging.WARNING, logger="lynex.billing")

    r = client.post("/v1/ingest", json={"spans": [_span(i) for i in range(8)]}, headers=auth)
    assert r.status_code == 200 and r.json()["accepted"] == 8
    assert any("usage warning" in m and "(80%)" in m for m in caplog.messages)
    for i in (8, 9):
        assert client.post("/v1/ingest", json={"spans": [_span(i)]}, headers=auth).status_code == 200
    assert any("(100%)" in m for m in caplog.messages)

    crossing = client.post("/v1/ingest", json={"spans": [_span(10)]}, headers=auth)
    assert crossing.status_code == 429
    assert "quota exceeded: spans_per_month" in crossing.json()["error"]
    assert crossing.headers["retry-after"] == str(2 * 3600)  # until 2030-06-01T00:00Z by the billing clock
    # An SDK retry of spans already stored is still answered (it adds nothing).
    retry = client.post("/v1/ingest", json={"spans": [_span(9)]}, headers=auth)
    assert retry.status_code == 200 and retry.json()["duplicates"] == 1

    # Reads are never blocked; the ten accepted spans are all there, the refused one is not.
    listed = wait_for(lambda: (lambda r: r.status_code == 200 and len(r.json()["data"]) == 10 and r)(
        client.get("/v1/spans", params={"limit": 100}, headers=auth)))
    assert sorted(s["id"] for s in listed.json()["data"]) == sorted(f"q-{i}" for i in range(10))
    assert client.get("/v1/spans/q-10", headers=auth).status_code == 404
    usage = client.get("/v1/usage", headers=auth).json()
    assert usage["quota"] == {"month": "2030-05", "spans_accepted": 10, "spans_per_month": 10}
    assert usage["data"][0]["spans_over_quota"] == 1 and usage["data"][0]["spans_accepted"] == 10
    assert any("spans used this month" in b for b in client.services.billing.banners())

    clock.set(dt.datetime(2030, 6, 1, 0, 0, 1))  # the next billing month
    assert client.post("/v1/ingest", json={"spans": [_span(10)]}, headers=auth).status_code == 200
    assert client.services.billing.month_usage() == ("2030-06", 1, 10)
    assert client.services.billing.banners() == []


def test_quota_survives_restart_and_expired_license_falls_back_to_free_tier(licensed_client, issue, make_config):
    clock = Clock(dt.datetime(2030, 5, 10))
    client, project_id, auth = licensed_client(issue(limits={"spans_per_month": 3}), clock)
    assert client.post("/v1/ingest", json={"spans": [_span(i) for i in range(3)]}, headers=auth).status_code == 200
    client.__exit__(None, None, None)
    client.__enter__()  # a restart on the same data dir: the month's count comes back from the meter
    client.app.state.services.billing.clock = clock
    assert client.post("/v1/ingest", json={"spans": [_span(3)]}, headers=auth).status_code == 429
    # The license (expires 2031-01-01) lapses: grace keeps the bought limit, then the free tier applies.
    clock.set(dt.datetime(2031, 1, 10))
    billing = client.app.state.services.billing
    assert billing.entitlement().state == "grace" and billing.entitlement().limits.spans_per_month == 3
    clock.set(dt.datetime(2031, 1, 20))
    assert billing.entitlement().state == "expired"
    assert client.post("/v1/ingest", json={"spans": [_span(3)]}, headers=auth).status_code == 200
    assert any("grace period is over" in b for b in billing.banners())
