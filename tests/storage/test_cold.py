"""Cold storage on a real S3-compatible server: tiering, reading back, regions, deletion, outages."""

import datetime as dt

from litestar.testing import TestClient

from lynex.app import create_app
from lynex.config import load_config
from lynex.ingest.memtable import Memtable
from lynex.maintenance import compact, offline_store
from lynex.storage.cold import ColdTier
from lynex.storage.meta import MetaStore
from lynex.storage.query import SpanQueries
from lynex.storage.retention import Retention, StoragePolicy, set_policy
from tests.storage.seed import DAY0, seed

NOW = DAY0 + dt.timedelta(days=10)


def make_config(tmp_path, endpoint, name="data"):
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(f'[cold.eu]\nbucket = "lynex-eu"\nendpoint = "{endpoint}"\nprefix = "spans"\n'
                   f'access_key = "test"\nsecret_key = "test"\n'
                   f'[cold.us]\nbucket = "lynex-us"\nendpoint = "{endpoint}"\n'
                   f'access_key = "test"\nsecret_key = "test"\n')
    config = load_config({"data_dir": str(tmp_path / name)}, cfg, environ={})
    config.data_dir.mkdir(parents=True)
    return config


def setup_projects(config, policies):
    """Projects a and b with three days of spans each, compacted; returns their ids."""
    meta = MetaStore(config.meta_path)
    ids = {}
    for name, policy in policies.items():
        project = meta.create_project(name)
        ids[name] = project.id
        seed(config.hot_path, project.id, days=3, per_day=40)
        set_policy(meta, project.id, policy, {"eu", "us"})
    compact(config)
    return ids


def ids_of(config, project_id):
    with offline_store(config) as (hot, _):
        cold = ColdTier(config.cold_locations, config.cold_cache_dir, config.cold_cache_bytes)
        rows = SpanQueries(hot, Memtable(), cold)._run("ORDER BY seq", [], ("id",), project_id)
    return [r["id"] for r in rows]


def run_retention(config, now=NOW):
    with offline_store(config) as (hot, compactor):
        cold = ColdTier(config.cold_locations, config.cold_cache_dir, config.cold_cache_bytes)
        meta = MetaStore(config.meta_path)
        retention = Retention(hot, meta, cold, config.parquet_dir, compactor.run_on_writer, StoragePolicy())
        return retention.run(now), cold


def test_tiering_region_routing_and_transparent_reads(tmp_path, s3_server):
    s3_server.make_buckets("lynex-eu", "lynex-us")
    config = make_config(tmp_path, s3_server.endpoint)
    ids = setup_projects(config, {"a": StoragePolicy(1, 365, "eu"), "b": StoragePolicy(1, 365, "us")})
    before = {name: ids_of(config, pid) for name, pid in ids.items()}
    report, _ = run_retention(config)
    assert report.uploaded == 6 and report.errors == []
    eu, us = s3_server.keys("lynex-eu"), s3_server.keys("lynex-us")
    assert len(eu) == 3 and all(k.startswith(f"spans/project={ids['a']}/date=") for k in eu)
    assert len(us) == 3 and all(k.startswith(f"lynex/project={ids['b']}/date=") for k in us)  # default prefix
    assert not list(config.parquet_dir.rglob("*.parquet"))  # local copies gone after verification
    assert {name: ids_of(config, pid) for name, pid in ids.items()} == before  # read back through the cache
    assert list(config.cold_cache_dir.rglob("*.parquet"))


def test_retention_deletes_everywhere(tmp_path, s3_server):
    s3_server.make_buckets("lynex-eu", "lynex-us")
    config = make_config(tmp_path, s3_server.endpoint)
    ids = setup_projects(config, {"a": StoragePolicy(1, 365, "eu")})
    run_retention(config)
    meta = MetaStore(config.meta_path)
    set_policy(meta, ids["a"], StoragePolicy(1, 8, "eu"), {"eu", "us"})
    report, _ = run_retention(config, now=DAY0 + dt.timedelta(days=10))  # days 0 and 1 expire
    assert report.deleted_parts == 2
    assert len(s3_server.keys("lynex-eu")) == 1
    assert {i.split("-")[-2] for i in ids_of(config, ids["a"])} == {"2"}


def test_store_down_mid_tiering_keeps_local_copy_and_retries(tmp_path, s3_server):
    s3_server.make_buckets("lynex-eu", "lynex-us")
    config = make_config(tmp_path, s3_server.endpoint)
    ids = setup_projects(config, {"a": StoragePolicy(1, 365, "eu")})
    before = ids_of(config, ids["a"])
    s3_server.stop()
    report, cold = run_retention(config)
    assert report.uploaded == 0 and report.errors and "cold location 'eu'" in report.errors[0]
    assert len(list(config.parquet_dir.rglob("*.parquet"))) == 3
    assert ids_of(config, ids["a"]) == before
    s3_server.start()
    s3_server.make_buckets("lynex-eu", "lynex-us")  # moto keeps state in memory only
    report, _ = run_retention(config)
    assert report.uploaded == 3 and report.errors == []
    assert ids_of(config, ids["a"]) == before


def test_wrong_credentials_are_reported_on_readyz_and_data_stays(tmp_path, s3_server_with_auth):
    config = make_config(tmp_path, s3_server_with_auth.endpoint)
    ids = setup_projects(config, {"a": StoragePolicy(1, 365, "eu")})
    with TestClient(app=create_app(config)) as client:
        services = client.app.state.services
        report = services.retention.run(NOW)
        assert report.uploaded == 0 and report.errors
        body = client.get("/readyz").json()
        assert body["status"] == "degraded" and "cold location 'eu'" in body["warnings"][0]
        key = MetaStore(config.meta_path).create_key(ids["a"])[1]
        r = client.get("/v1/spans", params={"limit": 1000}, headers={"Authorization": f"Bearer {key}"})
        assert len(r.json()["data"]) == 120
    assert len(list(config.parquet_dir.rglob("*.parquet"))) == 3
