"""Compaction to Parquet: same answers before and after, late spans, crashes at random points."""

import datetime as dt
import random
import subprocess
import sys
import time

import duckdb
import pytest

from lynex.config import load_config
from lynex.ingest.memtable import Memtable
from lynex.maintenance import compact, offline_store
from lynex.storage.query import SpanFilter, SpanQueries
from tests.storage.seed import DAY0, seed


def snapshot(config, project="p"):
    """Every (id, seq) the query layer returns, plus where the rows live."""
    with offline_store(config) as (hot, _):
        queries = SpanQueries(hot, Memtable())
        rows = queries._run("ORDER BY seq", [], ("id", "seq"), project)
        cur = hot.cursor()
        hot_rows = cur.execute("SELECT count(*) FROM spans").fetchone()[0]
        parts = cur.execute("SELECT count(*), coalesce(sum(rows), 0) FROM parquet_files").fetchone()
        cur.close()
    return [(r["id"], r["seq"]) for r in rows], hot_rows, parts


@pytest.fixture
def config(tmp_path):
    return load_config({"data_dir": str(tmp_path / "data")}, environ={})


def test_compaction_moves_closed_days_and_answers_stay_the_same(config):
    config.data_dir.mkdir(parents=True)
    seed(config.hot_path, "p", days=3, per_day=500)
    before, hot_rows, _ = snapshot(config)
    assert hot_rows == 1500
    results = compact(config)
    assert sorted(r.day for r in results) == [DAY0.date() + dt.timedelta(days=d) for d in range(3)]
    after, hot_rows, (files, part_rows) = snapshot(config)
    assert after == before and hot_rows == 0 and (files, part_rows) == (3, 1500)
    per_span = sum(r.bytes for r in results) / 1500
    assert per_span < 1200  # small synthetic spans; bench/storage.py measures 2 KB spans
    part = results[0].path
    assert f"project=p/date={DAY0.date().isoformat()}/part-" in part
    # Open data: any engine reads the layout; rows sorted by time within a part.
    times = duckdb.sql(f"SELECT start_time FROM read_parquet('{part}')").fetchall()
    assert times == sorted(times)
    assert compact(config) == []  # nothing left to do


def test_filters_and_pruning_over_parquet(config):
    config.data_dir.mkdir(parents=True)
    seed(config.hot_path, "p", days=3, per_day=50)
    compact(config)
    with offline_store(config) as (hot, _):
        queries = SpanQueries(hot, Memtable())
        day2 = DAY0 + dt.timedelta(days=1)
        page = queries.list_spans("p", SpanFilter(since=day2, until=day2 + dt.timedelta(days=1)), limit=1000)
        assert len(page.rows) == 50 and all(r["id"].startswith("p-1-") for r in page.rows)
        assert queries.get_span("p", "p-2-7")["id"] == "p-2-7"
        assert len(queries.trace_spans("p", "t-0-3")) == 5
        assert queries.list_spans("other", SpanFilter(), limit=10).rows == []
        cur = hot.cursor()
        assert len(queries.parts(cur, "p", day2, day2)) == 1  # one day → one part read
        cur.close()


def test_late_spans_for_a_compacted_day_make_a_second_part(config):
    config.data_dir.mkdir(parents=True)
    seed(config.hot_path, "p", days=1, per_day=100)
    compact(config)
    seed(config.hot_path, "p", days=1, per_day=100)  # same ids again → the query layer shows both seqs
    compact(config)
    rows, hot_rows, (files, part_rows) = snapshot(config)
    assert hot_rows == 0 and files == 2 and part_rows == 200 and len({seq for _, seq in rows}) == 200


def test_open_day_is_not_compacted(config):
    config.data_dir.mkdir(parents=True)
    seed(config.hot_path, "p", days=1, per_day=10)
    with offline_store(config) as (_, compactor):
        closed = compactor.closed_partitions(DAY0 + dt.timedelta(minutes=30))  # day still in its grace
        assert closed == []
        assert len(compactor.closed_partitions(DAY0 + dt.timedelta(days=1, hours=2))) == 1


def test_crash_at_random_points_never_loses_or_duplicates(config):
    config.data_dir.mkdir(parents=True)
    total = seed(config.hot_path, "p", days=6, per_day=6000)
    expected, _, _ = snapshot(config)
    assert len(expected) == total
    rng = random.Random(1234)
    kills = 0
    for attempt in range(8):
        proc = subprocess.Popen([sys.executable, "-m", "lynex", "compact", "--data-dir", str(config.data_dir)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.2, 2.5))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
        rows, _, _ = snapshot(config)  # reopening also replays DuckDB's own log
        assert sorted(rows) == sorted(expected), f"attempt {attempt}: data set changed"
    assert kills >= 1
    compact(config)  # a clean run finishes the job and sweeps orphans
    rows, hot_rows, (files, part_rows) = snapshot(config)
    assert sorted(rows) == sorted(expected) and hot_rows == 0 and part_rows == total
    on_disk = sorted(p.name for p in config.parquet_dir.rglob("*.parquet*"))
    assert len(on_disk) == files  # no orphan or temporary file left
