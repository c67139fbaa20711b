"""`q` on the read API goes through the full-text index (words, phrases, CJK, metadata)."""

from lynex.storage.meta import MetaStore
from tests.helpers import wait_for
from tests.test_ingest_api import ingest


def test_q_uses_the_index(app_client, auth):
    ingest(app_client, auth, [
        {"id": "en", "input": "Please process my refund request", "start_time": 1_735_689_600_000},
        {"id": "zh", "input": "我想申请退款", "start_time": 1_735_689_601_000},
        {"id": "meta", "metadata": {"customer": "Globex"}, "start_time": 1_735_689_602_000},
        {"id": "other", "input": "unrelated", "start_time": 1_735_689_603_000},
    ])
    search = app_client.app.state.services.search
    wait_for(lambda: search.watermark() >= 4, timeout=20)

    def ids(q):
        return [s["id"] for s in app_client.get("/v1/spans", params={"q": q}, headers=auth).json()["data"]]

    assert ids("REFUND") == ["en"]
    assert ids('"refund request"') == ["en"]
    assert ids("refu*") == ["en"]
    assert ids("退款") == ["zh"]
    assert ids("globex") == ["meta"]


def test_rows_after_feeds_the_index(app_client, auth):
    ingest(app_client, auth, [{"id": "x", "input": "hello"}])
    services = app_client.app.state.services
    wait_for(lambda: services.pipeline.memtable.rows == 0, timeout=20)
    table = services.queries.rows_after(0, 10)
    assert table.num_rows == 1 and table.column("seq").to_pylist() == [1]
    assert MetaStore(app_client.config.meta_path).projects()


def test_an_index_rebuilt_after_compaction_finds_spans_in_parquet(make_config, tmp_path):
    import datetime as dt
    import shutil

    from litestar.testing import TestClient

    from lynex.app import create_app
    from tests.test_ingest_api import small_server

    config = make_config(data_dir=str(tmp_path / "d"), compaction_grace_minutes=0)
    with small_server(config) as (client, auth):
        ingest(client, auth, [
            {"id": "old", "input": "archived invoice dispute", "start_time": 1_735_689_600_000},  # 2025-01-01
            {"id": "new", "input": "fresh invoice question"},
        ])
        services = client.app.state.services
        wait_for(lambda: services.pipeline.memtable.rows == 0, timeout=20)
        services.compactor.compact_partition(services.meta.projects()[0].id, dt.date(2025, 1, 1))
        assert services.hot.con.execute("SELECT count(*) FROM spans").fetchone()[0] == 1  # "old" is in Parquet
    shutil.rmtree(tmp_path / "d" / "search")  # lost index: rebuilt from every tier at the next start
    with TestClient(app=create_app(config)) as client:
        search = client.app.state.services.search
        wait_for(lambda: search.watermark() >= 2, timeout=20)
        found = client.get("/v1/spans", params={"q": "invoice"}, headers=auth).json()["data"]
        assert sorted(s["id"] for s in found) == ["new", "old"]
