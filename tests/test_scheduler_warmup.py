"""The overview warm-up: run once after start, it fills the bucket cache the overview then uses."""

import datetime as dt

from lynex.storage import aggregates
from lynex.storage.query import SpanFilter
from tests.helpers import wait_for


def test_warm_overviews_fills_the_cache_the_page_then_hits(app_client, project, auth):
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, minute=30)
    spans = [{"id": f"w{i}", "model": "gpt-4o", "latency_ms": 100 + i,
              "start_time": (now - dt.timedelta(hours=3 + i)).isoformat() + "Z"} for i in range(30)]
    assert app_client.post("/v1/ingest", json={"spans": spans}, headers=auth).status_code == 200
    services = app_client.app.state.services
    wait_for(services.pipeline.caught_up)
    queries, since = services.queries, now - dt.timedelta(days=1)
    cold = aggregates.overview(queries, project[0], SpanFilter(), since, now, with_facets=True)
    queries.buckets._entries.clear()  # as after a restart

    assert aggregates.warm_overviews(queries, [project[0]], now) == len(aggregates.WARM_WINDOWS_S)
    hits = queries.buckets.hits
    warm = aggregates.overview(queries, project[0], SpanFilter(), since, now)
    assert queries.buckets.hits > hits  # whole past buckets came from the cache
    assert warm.totals == cold.totals and warm.series == cold.series and warm.totals["n"] == 22
