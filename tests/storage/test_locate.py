"""Lookups by id of recently acknowledged spans go by their seq (lynex/ingest/locator.py)."""

import pytest

from lynex.config import load_config
from lynex.ingest.dedup import RecentIds
from lynex.ingest.locator import SeqLocator
from lynex.ingest.memtable import Memtable
from lynex.maintenance import compact, offline_store
from lynex.storage.query import SpanQueries
from tests.storage.seed import seed
from tests.test_ingest_api import ingest


def test_locator_keeps_the_newest_window_of_keys():
    locator = SeqLocator(capacity=4)
    locator.add([11, 12], 1)
    locator.add([13, 14], 3)
    assert [locator.get(k) for k in (11, 12, 13, 14)] == [1, 2, 3, 4]
    locator.add([15], 5)  # over capacity: the oldest request's keys go, whole
    assert [locator.get(k) for k in (11, 12, 13, 14, 15)] == [None, None, 3, 4, 5]
    locator.add([13], 6)  # the same key acknowledged again (resent after an erasure)
    locator.add([16, 17], 7)  # evicts the first 13 (seq 3) and 14, not the newer 13
    assert [locator.get(k) for k in (13, 14, 15, 16, 17)] == [6, None, 5, 7, 8]
    assert len(locator) == 4


@pytest.fixture
def store(tmp_path):
    config = load_config({"data_dir": str(tmp_path / "data")}, environ={})
    config.data_dir.mkdir(parents=True)
    seed(config.hot_path, "p", days=3, per_day=50)  # seqs 1..150, one day of 50 per record
    compact(config)  # all three (closed) days go to Parquet parts: seq pruning picks the part
    seed(config.hot_path, "h", days=1, per_day=10)  # and ten hot rows, of project h
    with offline_store(config) as (hot, _):
        yield hot


def queries_with(hot, where: dict):
    return SpanQueries(hot, Memtable(), locate=lambda project, span_id: where.get((project, span_id)))


def test_a_located_span_is_read_by_its_seq_in_every_tier(store):
    hot = store
    plain = SpanQueries(hot, Memtable())
    for project, span_id in (("p", "p-0-0"), ("p", "p-1-17"), ("p", "p-2-49"), ("h", "h-0-9")):
        expected = plain.get_span(project, span_id)
        seq = expected["seq"]
        assert queries_with(hot, {(project, span_id): (seq, True)}).get_span(project, span_id) == expected
    # A span acknowledged but not yet queryable is not read at all, even where a row exists.
    seq = plain.get_span("p", "p-1-3")["seq"]
    assert queries_with(hot, {("p", "p-1-3"): (seq, False)}).get_span("p", "p-1-3") is None
    # A stale location (the row was erased, or another span holds that seq) costs the full lookup.
    other = plain.get_span("p", "p-2-5")["seq"]
    assert queries_with(hot, {("p", "p-1-3"): (other, True)}).get_span("p", "p-1-3")["seq"] == seq
    assert queries_with(hot, {("p", "gone"): (seq, True)}).get_span("p", "gone") is None
    # Another project's key never locates this project's span.
    assert queries_with(hot, {("q", "p-1-3"): (seq, True)}).get_span("q", "p-1-3") is None


def test_the_server_locates_what_it_just_acknowledged(app_client, auth, project):
    ingest(app_client, auth, [{"id": f"fresh-{i}", "name": "n"} for i in range(3)])
    services = app_client.app.state.services
    project_id = project[0]
    located = [services.pipeline.locate(project_id, f"fresh-{i}") for i in range(3)]
    first = located[0][0]
    assert [seq for seq, _ in located] == [first, first + 1, first + 2]
    assert services.pipeline.locator.get(RecentIds.key(project_id, "fresh-1")) == first + 1
    assert services.pipeline.locate(project_id, "never-sent") is None
    assert all(queryable for _, queryable in located)  # ingest() waited until they were
    r = app_client.get("/v1/spans/fresh-2", headers=auth)
    assert r.status_code == 200 and r.json()["id"] == "fresh-2"
