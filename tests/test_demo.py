"""The demo project: realistic, varied, seeded once."""

from collections import Counter

from lynex.demo import _Traffic
from lynex.ingest.decode import decode_batch

import msgspec


def test_demo_traffic_is_valid_and_varied():
    spans = list(_Traffic(now_ms=1_764_000_000_000).spans())
    batch = decode_batch(msgspec.json.encode({"spans": spans}), "json", len(spans))
    assert batch.rejected == []
    assert len(spans) > 10_000
    kinds = Counter(s["kind"] for s in spans)
    assert {"agent", "llm", "tool", "retrieval", "embedding", "chain"} <= set(kinds)
    providers = {s.get("provider") for s in spans} - {None}
    assert len(providers) >= 5
    error_types = {s["error"]["type"] for s in spans if s.get("error")}
    assert len(error_types) >= 6
    assert any(s.get("output", {}) and isinstance(s["output"], dict) and s["output"].get("tool_calls") for s in spans)
    assert len({s.get("session_id") for s in spans}) > 100 and len({s.get("user_id") for s in spans}) > 50
    assert {s.get("release") for s in spans} >= {"v1.3.2", "v1.4.0"}


def test_serve_demo_seeds_once(make_config):
    from litestar.testing import TestClient
    from lynex.app import create_app
    from lynex.storage.meta import MetaStore

    config = make_config(demo=True)
    with TestClient(app=create_app(config)) as client:
        services = client.app.state.services
        first = services.queries.count(services.meta.project("demo").id)
        assert any("Demo project 'demo' seeded" in n for n in services.notices)
    with TestClient(app=create_app(config)) as client:
        services = client.app.state.services
        assert services.queries.count(services.meta.project("demo").id) == first
        assert not any("seeded" in n for n in services.notices)
    assert len(MetaStore(config.meta_path).projects()) == 1
