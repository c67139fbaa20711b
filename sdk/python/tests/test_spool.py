"""The on-disk spool: order, bounds, claims between processes, torn writes, stale claims."""

from __future__ import annotations

import json
import os

from lynex_sdk.spool import CLAIM_MARK, Spool
from lynex_sdk.stats import Stats


def line(i: int, pad: int = 0) -> bytes:
    return json.dumps({"id": f"s{i}", "pad": "x" * pad}).encode()


def drain(spool: Spool) -> list:
    out = []
    while True:
        claim = spool.claim()
        if claim is None:
            return out
        out.extend(json.loads(x)["id"] for x in spool.read(claim))
        spool.done(claim)


def test_append_then_drain_in_order(tmp_path):
    stats = Stats()
    spool = Spool(str(tmp_path), 10 * 1024 * 1024, stats)
    for i in range(0, 30, 3):
        spool.append([line(i), line(i + 1), line(i + 2)])
    assert stats.spooled == 30 and spool.has_pending()
    assert drain(spool) == [f"s{i}" for i in range(30)]
    assert not spool.has_pending() and spool.pending_bytes() == 0


def test_bound_drops_oldest_and_counts(tmp_path):
    stats = Stats()
    spool = Spool(str(tmp_path), 200_000, stats)  # segments of 64 KiB
    for i in range(100):
        spool.append([line(i, pad=5000)])
    assert spool.pending_bytes() <= 200_000
    kept = drain(spool)
    dropped = stats.dropped["spool_overflow"]
    assert dropped > 0 and len(kept) + dropped == 100
    assert kept == [f"s{i}" for i in range(100 - len(kept), 100)]  # the newest survive


def test_batch_bigger_than_the_bound_is_dropped(tmp_path):
    stats = Stats()
    spool = Spool(str(tmp_path), 1000, stats)
    assert spool.append([line(1, pad=2000)]) == 0
    assert stats.dropped["spool_overflow"] == 1 and not spool.has_pending()


def test_release_keeps_only_unsent_lines(tmp_path):
    spool = Spool(str(tmp_path), 10 * 1024 * 1024, Stats())
    spool.append([line(i) for i in range(5)])
    claim = spool.claim()
    lines = spool.read(claim)
    spool.release(claim, lines[3:])
    assert drain(spool) == ["s3", "s4"]


def test_a_claimed_segment_is_invisible_to_other_processes(tmp_path):
    a = Spool(str(tmp_path), 10 * 1024 * 1024, Stats())
    b = Spool(str(tmp_path), 10 * 1024 * 1024, Stats())
    a.append([line(1)])
    claim = a.claim()
    assert claim is not None and b.claim() is None
    a.done(claim)


def test_torn_last_line_is_skipped_and_counted(tmp_path):
    stats = Stats()
    spool = Spool(str(tmp_path), 10 * 1024 * 1024, stats)
    spool.append([line(1)])
    [name] = os.listdir(tmp_path)
    with open(tmp_path / name, "ab") as fh:
        fh.write(b'{"id": "s2", "pa')  # crash in the middle of a write
    assert drain(spool) == ["s1"] and stats.dropped["spool_corrupt"] == 1


def test_claims_of_dead_processes_are_reclaimed(tmp_path):
    spool = Spool(str(tmp_path), 10 * 1024 * 1024, Stats())
    spool.append([line(1)])
    [name] = os.listdir(tmp_path)
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: never a live process
    os.rename(tmp_path / name, tmp_path / f"{name}.{dead_pid}{CLAIM_MARK}")
    assert Spool(str(tmp_path), 10 * 1024 * 1024, Stats()).claim() is not None
