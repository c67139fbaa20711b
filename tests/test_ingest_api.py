"""POST /v1/ingest through the real app: statuses, messages, auth, isolation, idempotency."""

import contextlib
import gzip

import msgspec
import pytest

from lynex.storage.meta import MetaStore
from tests.helpers import wait_for


def ingest(client, auth, spans, **kwargs):
    """POST a batch, then wait until what was acknowledged is queryable."""
    response = client.post("/v1/ingest", json={"spans": spans}, headers=auth, **kwargs)
    settle(client)
    return response


def settle(client):
    wait_for(client.app.state.services.pipeline.caught_up, timeout=30)


def stored_ids(client, auth, **params):
    r = client.get("/v1/spans", params={"limit": 1000, **params}, headers=auth)
    assert r.status_code == 200, r.text
    return sorted(s["id"] for s in r.json()["data"])


def test_accepts_and_enriches(app_client, auth):
    r = ingest(app_client, auth, [{
        "id": "s1", "trace_id": "t1", "model": "gpt-4o-mini", "provider": "openai",
        "start_time": "2025-06-01T12:00:00Z", "end_time": "2025-06-01T12:00:01.5Z",
        "input": [{"role": "user", "content": "What is 2+2?"}], "output": "4",
        "usage": {"input_tokens": 1000, "output_tokens": 500},
    }])
    assert r.status_code == 200 and r.json() == {"accepted": 1, "rejected": [], "duplicates": 0}
    span = app_client.get("/v1/spans/s1", headers=auth).json()
    assert span["latency_ms"] == 1500.0
    assert span["cost_usd"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert "cost_computed" in span["flags"] and "tokens_estimated" not in (span["flags"] or [])
    assert span["input"] == [{"role": "user", "content": "What is 2+2?"}]
    assert span["start_time"] == "2025-06-01T12:00:00.000000Z"


def test_error_span_is_classified(app_client, auth):
    ingest(app_client, auth, [{"id": "e1", "status": "error", "error": {"type": "RateLimitError", "message": "429"}}])
    span = app_client.get("/v1/spans/e1", headers=auth).json()
    assert span["status"] == "error" and span["error_class"] == "rate_limit"
    assert span["error"] == {"type": "RateLimitError", "message": "429"}


def test_partial_batch_gets_207_with_paths(app_client, auth):
    r = ingest(app_client, auth, [{"id": "good"}, {"id": "bad", "latency_ms": -3}])
    assert r.status_code == 207
    body = r.json()
    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "id": "bad", "error": "spans[1].latency_ms: Expected `float` >= 0.0"}]
    assert stored_ids(app_client, auth) == ["good"]


@pytest.mark.parametrize("content,headers,status,needle", [
    (b"{malformed", {"content-type": "application/json"}, 400, "not valid JSON"),
    (b'{"spans": []}', {"content-type": "application/json"}, 400, "empty"),
    (b'{"spans": [1]}', {"content-type": "application/json"}, 207, "spans[0]"),
    (b"id=1", {"content-type": "application/x-www-form-urlencoded"}, 415, "unsupported content type"),
    (b'{"spans": [{"id": "x"}]}', {}, 415, "unsupported content type"),
    (b'{"spans": [{"id": "x", "input": "\xff"}]}', {"content-type": "application/json"}, 207, "UTF-8"),
    (b"\x1f\x8b garbage", {"content-type": "application/json", "content-encoding": "gzip"}, 400, "gzip"),
])
def test_bad_bodies(app_client, auth, content, headers, status, needle):
    ingest(app_client, auth, [{"id": "before"}])
    r = app_client.post("/v1/ingest", content=content, headers={**auth, **headers})
    settle(app_client)
    assert r.status_code == status, r.text
    assert needle in r.text
    # Still serving, and nothing accepted before is lost.
    assert "before" in stored_ids(app_client, auth)
    assert app_client.get("/healthz").status_code == 200


def test_wrong_types_name_the_field(app_client, auth):
    r = ingest(app_client, auth, [{"id": "w", "model": 42, "tags": ["a", 1]}])
    assert r.status_code == 207
    assert r.json()["rejected"][0]["error"] == "spans[0].model: Expected `str | null`, got `int`"


def test_missing_id(app_client, auth):
    r = ingest(app_client, auth, [{"name": "no id"}])
    assert r.json()["rejected"][0]["error"] == "spans[0].id: required field is missing"


@pytest.mark.parametrize("count", [10_001, 100_001])
def test_too_many_spans_in_one_batch(app_client, auth, count):
    ingest(app_client, auth, [{"id": "kept"}])
    r = ingest(app_client, auth, [{"id": str(i)} for i in range(count)])
    assert r.status_code == 413 and f"{count} spans" in r.json()["error"] and "10000" in r.json()["error"]
    assert stored_ids(app_client, auth) == ["kept"]


def test_body_over_limit(make_config, tmp_path):
    from litestar.testing import TestClient
    from lynex.app import create_app
    config = make_config(max_body_bytes=2048, data_dir=str(tmp_path / "small"))
    with TestClient(app=create_app(config)) as client:
        meta = MetaStore(config.meta_path)
        p = meta.create_project("p")
        _, key = meta.create_key(p.id)
        r = client.post("/v1/ingest", content=b'{"spans": [{"id": "' + b"x" * 5000 + b'"}]}',
                        headers={"Authorization": f"Bearer {key}", "content-type": "application/json"})
        assert r.status_code == 413 and "max_body_bytes" in r.json()["error"]


def test_gzip_bomb_is_refused(app_client, auth):
    bomb = gzip.compress(b'{"spans": [{"id": "' + b"a" * (60 * 1024 * 1024) + b'"}]}')
    r = app_client.post("/v1/ingest", content=bomb, headers={**auth, "content-type": "application/json",
                                                             "content-encoding": "gzip"})
    assert r.status_code == 413 and "max_decompressed_bytes" in r.json()["error"]


def test_huge_string_is_truncated_and_flagged(app_client, auth):
    big = "A" * (50 * 1000 * 1000)
    body = gzip.compress(msgspec.json.encode({"spans": [{"id": "big", "input": big, "output": "ok"}]}))
    r = app_client.post("/v1/ingest", content=body, headers={**auth, "content-type": "application/json",
                                                             "content-encoding": "gzip"})
    assert r.status_code == 200, r.text
    settle(app_client)
    r = app_client.get("/v1/spans/big", headers=auth)
    assert r.status_code == 200, r.text[:300]
    span = r.json()
    assert "truncated" in span["flags"]
    assert len(span["input"]) < 1_100_000 and span["input"].endswith("[truncated by lynex]")
    assert span["output"] == "ok"


def test_msgpack_gzip(app_client, auth):
    body = gzip.compress(msgspec.msgpack.encode({"spans": [{"id": "mp", "input": {"k": [1, 2]}, "latency_ms": 5}]}))
    r = app_client.post("/v1/ingest", content=body, headers={**auth, "content-type": "application/msgpack",
                                                             "content-encoding": "gzip"})
    assert r.status_code == 200
    settle(app_client)
    assert app_client.get("/v1/spans/mp", headers=auth).json()["input"] == {"k": [1, 2]}


def test_auth_failures(app_client, project):
    meta = MetaStore(app_client.config.meta_path)
    read_only, read_secret = meta.create_key(project[0], "ro", ("read",))
    revoked, revoked_secret = meta.create_key(project[0], "old", ("ingest",))
    assert ingest(app_client, {}, [{"id": "a"}]).status_code == 401
    assert ingest(app_client, {"Authorization": "Bearer lx_nope_nope"}, [{"id": "a"}]).status_code == 401
    assert ingest(app_client, {"Authorization": "Basic abc"}, [{"id": "a"}]).status_code == 401
    r = ingest(app_client, {"Authorization": f"Bearer {read_secret}"}, [{"id": "a"}])
    assert r.status_code == 403 and "'ingest' scope" in r.json()["error"]
    assert ingest(app_client, {"Authorization": f"Bearer {revoked_secret}"}, [{"id": "a"}]).status_code == 200
    meta.revoke_key(revoked.id)
    r = ingest(app_client, {"Authorization": f"Bearer {revoked_secret}"}, [{"id": "b"}])
    assert r.status_code == 401 and "revoked" in r.json()["error"]
    # Tampered secret with a real key id.
    forged = revoked_secret.rsplit("_", 1)[0] + "_" + "A" * 32
    assert ingest(app_client, {"Authorization": f"Bearer {forged}"}, [{"id": "c"}]).status_code == 401


def test_tenant_isolation(app_client, auth, project):
    meta = MetaStore(app_client.config.meta_path)
    other = meta.create_project("other")
    _, other_key = meta.create_key(other.id)
    other_auth = {"Authorization": f"Bearer {other_key}"}
    ingest(app_client, auth, [{"id": "shared-id", "trace_id": "t", "input": "from A"}])
    ingest(app_client, other_auth, [{"id": "shared-id", "trace_id": "t", "input": "from B"}])
    assert app_client.get("/v1/spans/shared-id", headers=auth).json()["input"] == "from A"
    assert app_client.get("/v1/spans/shared-id", headers=other_auth).json()["input"] == "from B"
    ingest(app_client, auth, [{"id": "only-a"}])
    assert app_client.get("/v1/spans/only-a", headers=other_auth).status_code == 404
    assert app_client.get("/v1/traces/t", headers=other_auth).json()["span_count"] == 1
    assert "only-a" not in stored_ids(app_client, other_auth)


def test_idempotent_resend(app_client, auth):
    batch = [{"id": f"r{i}", "input": f"v{i}"} for i in range(5)]
    assert ingest(app_client, auth, batch).json()["accepted"] == 5
    again = ingest(app_client, auth, batch + [{"id": "r5"}, {"id": "r5"}]).json()
    assert again["accepted"] == 7 and again["duplicates"] == 6
    assert stored_ids(app_client, auth) == [f"r{i}" for i in range(6)]


def test_idempotent_after_flush_to_duckdb(app_client, auth):
    ingest(app_client, auth, [{"id": "flushed"}])
    services = app_client.app.state.services
    wait_for(lambda: services.pipeline.memtable.rows == 0, timeout=10)
    ingest(app_client, auth, [{"id": "flushed"}])
    assert stored_ids(app_client, auth) == ["flushed"]


@contextlib.contextmanager
def small_server(config):
    """(client, auth) of an app over ``config`` with one project and its ingest key."""
    from litestar.testing import TestClient
    from lynex.app import create_app
    with TestClient(app=create_app(config)) as client:
        meta = MetaStore(config.meta_path)
        _, key = meta.create_key(meta.create_project("p").id)
        yield client, {"Authorization": f"Bearer {key}"}


def test_full_buffer_answers_503(make_config, tmp_path):
    with small_server(make_config(buffer_max_spans=10, data_dir=str(tmp_path / "tiny"))) as (client, auth):
        r = ingest(client, auth, [{"id": str(i)} for i in range(11)])
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert ingest(client, auth, [{"id": "fits"}]).status_code == 200
        assert client.get("/v1/spans/fits", headers=auth).status_code == 200
        assert 'reason="at_capacity"' in client.get("/metrics").text


def test_only_post_is_allowed(app_client, auth):
    r = app_client.get("/v1/ingest", headers=auth)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert r.json() == {"error": "method GET not allowed; use POST", "status": 405}


def test_payloads_with_invalid_utf8_deep_inside_are_rejected_per_span(app_client, auth):
    # The fast path keeps payloads raw; the body-level UTF-8 check must still name the span.
    good = b'{"id": "u-ok", "input": [{"role": "user", "content": "fine"}]}'
    bad = b'{"id": "u-bad", "metadata": {"k": ["x", {"deep": "\xc3\x28"}]}}'
    r = app_client.post("/v1/ingest", content=b'{"spans": [' + good + b"," + bad + b"]}",
                        headers={**auth, "content-type": "application/json"})
    assert r.status_code == 207
    (rejection,) = r.json()["rejected"]
    assert rejection["index"] == 1 and "UTF-8" in rejection["error"]
    settle(app_client)
    assert stored_ids(app_client, auth) == ["u-ok"]


def test_byte_budget_answers_503_while_the_store_is_stalled(make_config, tmp_path):
    import threading

    with small_server(make_config(buffer_max_bytes=60_000, data_dir=str(tmp_path / "bytes"))) as (client, auth):
        pipeline = client.app.state.services.pipeline
        release = threading.Event()
        stalled = threading.Thread(target=pipeline.run_on_writer, args=(lambda con: release.wait(30),))
        stalled.start()  # the only DuckDB writer is busy: rows stay in memory
        try:
            big = "x" * 2_000
            accepted = 0
            for batch in range(20):
                r = ingest(client, auth, [{"id": f"b{batch}-{i}", "input": big} for i in range(10)])
                if r.status_code == 503:
                    break
                assert r.status_code == 200
                accepted += 10
                wait_for(lambda: pipeline.buffer.queued_bytes == 0, timeout=10)  # processed into the memtable
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert 0 < accepted < 200 and pipeline.memtable.nbytes >= 30_000
            assert "lynex_memtable_bytes" in client.get("/metrics").text
        finally:
            release.set()
            stalled.join()
        wait_for(lambda: pipeline.memtable.rows == 0, timeout=20)
        assert ingest(client, auth, [{"id": "after"}]).status_code == 200
        assert len(stored_ids(client, auth, limit=500)) == accepted + 1


@pytest.mark.parametrize("committed", [False, True])
def test_a_fatal_duckdb_error_reopens_the_store_and_loses_nothing(app_client, auth, committed):
    import duckdb

    services = app_client.app.state.services
    hot, real_insert = services.hot, services.hot.insert
    failures = []

    def insert(table, applied_seq):
        if not failures:  # once: as a checkpoint that runs out of memory, before or after the commit
            failures.append(applied_seq)
            if committed:
                real_insert(table, applied_seq)
            raise duckdb.FatalException("FATAL Error: Failed to create checkpoint (simulated)")
        real_insert(table, applied_seq)

    hot.insert = insert
    try:
        ingest(app_client, auth, [{"id": f"f{i}"} for i in range(20)])
        wait_for(lambda: failures and services.pipeline.memtable.rows == 0, timeout=20)
        ingest(app_client, auth, [{"id": "after"}])
        wait_for(lambda: services.pipeline.memtable.rows == 0, timeout=20)
    finally:
        hot.insert = real_insert
    assert hot.reopens == 1 and "lynex_store_reopens 1" in app_client.get("/metrics").text
    ids = [r[0] for r in hot.con.execute("SELECT id FROM spans").fetchall()]
    assert sorted(ids) == sorted([f"f{i}" for i in range(20)] + ["after"])  # each exactly once
