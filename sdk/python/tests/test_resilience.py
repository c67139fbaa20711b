"""The server goes away for a while and comes back: the app never blocks or raises, nothing is duplicated."""

from __future__ import annotations

import time
from collections import Counter

import lynex_sdk

DOWN_SECONDS = 10.0


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_server_down_for_10s_then_back_every_span_arrives_once(sdk, fake_ingest):
    sdk(retry_backoff_base=0.1, retry_backoff_max=1.0)

    @lynex_sdk.observe(kind="tool")
    def step(i):
        return i

    expected = []
    slowest = 0.0

    def call(i):
        nonlocal slowest
        started = time.perf_counter()
        expected.append(lynex_sdk.log(input=f"call {i}", output="ok"))
        step(i)
        slowest = max(slowest, time.perf_counter() - started)

    for i in range(20):
        call(i)
    fake_ingest.stop()
    stop_at = time.monotonic() + DOWN_SECONDS
    i = 20
    while time.monotonic() < stop_at:
        call(i)
        i += 1
        time.sleep(0.01)
    fake_ingest.start()
    for j in range(i, i + 20):
        call(j)
    total = 2 * len(expected)  # one log + one observed step per call
    assert wait_for(lambda: len(fake_ingest.spans) >= total), (len(fake_ingest.spans), lynex_sdk.stats())
    assert wait_for(lambda: lynex_sdk.stats()["sent"] == total and lynex_sdk.stats()["spool_bytes"] == 0)
    counts = Counter(fake_ingest.ids())
    assert set(expected) <= set(counts)
    assert len(counts) == total and max(counts.values()) == 1, "a span arrived twice"
    stats = lynex_sdk.stats()
    assert stats["spooled"] > 0 and stats["sent"] == total and stats["spool_bytes"] == 0
    assert sum(stats["dropped"].values()) == 0
    assert slowest < 0.5  # a generous hard bound: recording never waits on the network


def test_spool_bound_while_down_drops_oldest_and_counts(sdk, fake_ingest):
    sdk(spool_max_bytes=100_000, retry_backoff_base=0.05, retry_backoff_max=0.3)
    fake_ingest.stop()
    ids = []
    for i in range(400):
        ids.append(lynex_sdk.log(input="x" * 1000, metadata={"i": i}))
        if i % 50 == 0:
            lynex_sdk.flush(2)
    lynex_sdk.flush(5)
    dropped = lynex_sdk.stats()["dropped"]["spool_overflow"]
    assert dropped > 0
    fake_ingest.start()
    assert wait_for(lambda: len(fake_ingest.spans) + dropped >= len(ids))
    counts = Counter(fake_ingest.ids())
    assert len(counts) + dropped == len(ids) and max(counts.values()) == 1
    assert ids[-1] in counts  # the newest spans are the ones kept


def test_spool_is_delivered_by_the_next_run(sdk, fake_ingest, tmp_path):
    fake_ingest.stop()
    sdk()
    ids = [lynex_sdk.log(input=i) for i in range(10)]
    lynex_sdk.shutdown(5)
    assert lynex_sdk.stats()["enabled"] is True  # still the old client, shut down
    fake_ingest.start()
    sdk()  # same spool_dir, same host and key: a restarted app
    lynex_sdk.log(input="new run")
    assert wait_for(lambda: set(ids) <= set(fake_ingest.ids()))
    assert max(Counter(fake_ingest.ids()).values()) == 1
