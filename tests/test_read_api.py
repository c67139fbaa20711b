"""Read API: filters, cursor pagination while spans arrive, traces as trees."""

from tests.test_ingest_api import ingest


def test_filters(app_client, auth):
    ingest(app_client, auth, [
        {"id": "a", "model": "gpt-4o", "status": "ok", "kind": "llm", "environment": "prod", "release": "1.0",
         "user_id": "u1", "session_id": "s1", "tags": ["x"], "start_time": "2025-01-01T00:00:00Z",
         "input": "find the needle here"},
        {"id": "b", "model": "claude-3-haiku", "status": "error", "error": {"type": "Timeout"}, "kind": "llm",
         "environment": "staging", "user_id": "u2", "start_time": "2025-01-02T00:00:00Z"},
        {"id": "c", "kind": "tool", "environment": "prod", "user_id": "u1", "start_time": "2025-01-03T00:00:00Z",
         "metadata": {"customer": "needle-co"}},
    ])

    def ids(**params):
        r = app_client.get("/v1/spans", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return [s["id"] for s in r.json()["data"]]

    assert ids() == ["c", "b", "a"]
    assert ids(model="gpt-4o") == ["a"]
    assert ids(status="error") == ["b"]
    assert ids(kind="tool") == ["c"]
    assert ids(environment="prod") == ["c", "a"]
    assert ids(release="1.0") == ["a"]
    assert ids(user_id="u1") == ["c", "a"]
    assert ids(session_id="s1") == ["a"]
    assert ids(error_class="timeout") == ["b"]
    assert ids(tag="x") == ["a"]
    assert ids(since="2025-01-02T00:00:00Z") == ["c", "b"]
    assert ids(until="2025-01-02T00:00:00Z") == ["a"]
    assert ids(since="1735776000000") == ["c", "b"]  # epoch ms of 2025-01-02
    assert ids(q="NEEDLE") == ["c", "a"]
    assert ids(q="100%") == []


def test_bad_parameters_name_the_parameter(app_client, auth):
    for params, needle in [({"status": "meh"}, "status:"), ({"kind": "robot"}, "kind:"),
                           ({"since": "last tuesday"}, "since:"), ({"limit": "0"}, "limit:"),
                           ({"limit": "abc"}, "limit:"), ({"cursor": "%%%"}, "cursor:"),
                           ({"since": "2025-02-01", "until": "2025-01-01"}, "since:")]:
        r = app_client.get("/v1/spans", params=params, headers=auth)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"].startswith(needle), r.text


def test_pagination_is_stable_while_spans_arrive(app_client, auth):
    ingest(app_client, auth, [{"id": f"p{i:02d}", "start_time": 1_735_689_600_000 + i * 1000} for i in range(25)])
    seen, cursor = [], None
    for page in range(3):
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = app_client.get("/v1/spans", params=params, headers=auth).json()
        seen += [s["id"] for s in body["data"]]
        cursor = body["next_cursor"]
        # Newer spans arriving between pages must not shift or repeat what follows.
        ingest(app_client, auth, [{"id": f"new{page}", "start_time": 1_735_689_600_000 + 10**9}])
    assert seen == [f"p{i:02d}" for i in range(24, -1, -1)]
    assert cursor is None


def test_same_start_time_paginates_by_sequence(app_client, auth):
    ingest(app_client, auth, [{"id": f"same{i}", "start_time": 1_735_689_600_000} for i in range(7)])
    seen, cursor = [], None
    while True:
        body = app_client.get("/v1/spans", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                              headers=auth).json()
        seen += [s["id"] for s in body["data"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(f"same{i}" for i in range(7)) and len(seen) == 7


def test_trace_tree(app_client, auth):
    ingest(app_client, auth, [
        {"id": "root", "trace_id": "T", "kind": "agent", "start_time": 1_735_689_600_000},
        {"id": "llm1", "trace_id": "T", "parent_id": "root", "start_time": 1_735_689_600_100},
        {"id": "tool1", "trace_id": "T", "parent_id": "llm1", "kind": "tool", "start_time": 1_735_689_600_200},
        {"id": "llm2", "trace_id": "T", "parent_id": "root", "start_time": 1_735_689_600_300},
        {"id": "orphan", "trace_id": "T", "parent_id": "missing", "start_time": 1_735_689_600_400},
    ])
    body = app_client.get("/v1/traces/T", headers=auth).json()
    assert body["span_count"] == 5
    roots = {r["id"]: r for r in body["roots"]}
    assert set(roots) == {"root", "orphan"}
    assert [c["id"] for c in roots["root"]["children"]] == ["llm1", "llm2"]
    assert roots["root"]["children"][0]["children"][0]["id"] == "tool1"
    assert app_client.get("/v1/traces/nope", headers=auth).status_code == 404


def test_read_requires_read_scope(app_client, project):
    from lynex.storage.meta import MetaStore
    _, ingest_only = MetaStore(app_client.config.meta_path).create_key(project[0], "w", ("ingest",))
    r = app_client.get("/v1/spans", headers={"Authorization": f"Bearer {ingest_only}"})
    assert r.status_code == 403 and "'read' scope" in r.json()["error"]
    assert app_client.get("/v1/spans").status_code == 401


def test_ops_endpoints(app_client, auth):
    ingest(app_client, auth, [{"id": "m1"}])
    assert app_client.get("/healthz").json() == {"status": "ok"}
    assert app_client.get("/readyz").json() == {"status": "ready"}
    text = app_client.get("/metrics").text
    assert "lynex_ingest_spans_accepted_total 1" in text
    for name in ("lynex_buffer_spans", "lynex_durability_lag_seconds", "lynex_wal_last_commit_seconds",
                 "lynex_memtable_rows", "lynex_ingest_request_seconds_count"):
        assert name in text
