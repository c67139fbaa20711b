"""The ingest log: torn tails, replay above the watermark, segment trimming."""

from lynex.ingest import wal as wal_mod
from lynex.ingest.wal import WriteAheadLog


def write(log, n, project="p"):
    futures = [log.append(project, 1, "json", [f'{{"id":"{project}{i}"}}'.encode()], 1) for i in range(n)]
    return [f.result(timeout=5) for f in futures]


def test_replay_only_above_watermark(tmp_path):
    log = WriteAheadLog(tmp_path, fsync=True)
    assert log.recover(0) == []
    with log:
        records = write(log, 5)
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    again = WriteAheadLog(tmp_path)
    replay = again.recover(applied_seq=3)
    assert [r.seq for r in replay] == [4, 5]
    assert again.next_seq == 6


def test_partly_applied_record_replays_the_rest(tmp_path):
    log = WriteAheadLog(tmp_path)
    log.recover(0)
    with log:
        log.append("p", 1, "json", [b'{"id":"a"}', b'{"id":"b"}', b'{"id":"c"}'], 3).result(timeout=5)
    replay = WriteAheadLog(tmp_path).recover(applied_seq=2)
    assert len(replay) == 1 and replay[0].seq == 3 and replay[0].raws == [b'{"id":"c"}']


def test_torn_tail_is_cut(tmp_path):
    log = WriteAheadLog(tmp_path)
    log.recover(0)
    with log:
        write(log, 3)
    segment = next(tmp_path.glob("*.wal"))
    data = segment.read_bytes()
    segment.write_bytes(data + data[:20])  # a crash in the middle of the next record
    again = WriteAheadLog(tmp_path)
    assert [r.seq for r in again.recover(0)] == [1, 2, 3]
    assert segment.stat().st_size == len(data)
    with again:
        assert write(again, 1)[0].seq == 4


def test_corrupt_record_stops_replay_there(tmp_path):
    log = WriteAheadLog(tmp_path)
    log.recover(0)
    with log:
        write(log, 3)
    segment = next(tmp_path.glob("*.wal"))
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF  # flip a byte of the last record's payload: its CRC no longer matches
    segment.write_bytes(bytes(data))
    assert [r.seq for r in WriteAheadLog(tmp_path).recover(0)] == [1, 2]


def test_checkpoint_removes_applied_segments(tmp_path, monkeypatch):
    monkeypatch.setattr(wal_mod, "SEGMENT_BYTES", 10)  # rotate after every commit
    log = WriteAheadLog(tmp_path)
    log.recover(0)
    with log:
        for _ in range(4):
            write(log, 1)
        assert log.segment_count() == 4
        assert log.checkpoint(applied_seq=2) == 2
        assert log.segment_count() == 2
    assert [r.seq for r in WriteAheadLog(tmp_path).recover(2)] == [3, 4]


def test_partly_applied_batch_record_is_split(tmp_path):
    log = WriteAheadLog(tmp_path)
    log.recover(0)
    body = b'{"spans": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}'
    with log:
        log.append("p", 1, "json-batch", [body], 3).result(timeout=5)
    replay = WriteAheadLog(tmp_path).recover(applied_seq=1)
    assert [(r.seq, r.fmt, r.count) for r in replay] == [(2, "json", 2)]
    assert replay[0].raws == [b'{"id": "b"}', b'{"id": "c"}']


def test_event_loop_futures_are_settled_by_the_committer(tmp_path):
    import asyncio

    log = WriteAheadLog(tmp_path, fsync=True)
    log.recover(0)

    async def main():
        loop = asyncio.get_running_loop()
        cancelled = log.append("p", 1, "json", [b'{"id":"gone"}'], 1, loop=loop)
        cancelled.cancel()  # its client went away: the record is still written, nobody is told
        futures = [log.append("p", 1, "json", [f'{{"id":"a{i}"}}'.encode()], 1, loop=loop) for i in range(20)]
        return await asyncio.gather(*futures)

    with log:
        records = asyncio.run(main())
    assert [r.seq for r in records] == list(range(2, 22))
    assert [r.seq for r in WriteAheadLog(tmp_path).recover(0)] == list(range(1, 22))
