"""SearchIndex against a real tantivy index in tmp_path: language, scripts, filters, deletion,
crash recovery, backlog catch-up and concurrent searching."""

from __future__ import annotations

import datetime as dt
import threading

import pyarrow as pa

from lynex.search import SearchIndex
from tests.search.conftest import FAST, T0, indexed, spans, wait_for


def msg(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]

def fill_until_refused(index: SearchIndex) -> tuple[int, int]:
    """Add 10-row tables while holding the indexer (it takes at most one table) until the queue
    refuses one: (first refused seq, next free seq)."""
    refused_from, seq = None, 1
    index._wlock.acquire()
    try:
        while refused_from is None:
            if not index.add(spans(*[{"seq": s, "input": msg("x")} for s in range(seq, seq + 10)])):
                refused_from = seq
            seq += 10
    finally:
        index._wlock.release()
    return refused_from, seq



def test_words_are_anded_and_case_insensitive(index):
    indexed(index, spans({"seq": 1, "input": msg("Where is my REFUND?")},
                         {"seq": 2, "input": msg("refund the order")},
                         {"seq": 3, "output": {"role": "assistant", "content": "Order shipped"}}))
    assert index.search("p1", "refund") == [2, 1]
    assert index.search("p1", "Refund ORDER") == [2]
    assert index.search("p1", "order") == [3, 2]
    assert index.search("p1", "missing") == []


def test_exact_phrase(index):
    indexed(index, spans({"seq": 1, "input": msg("our refund policy is generous")},
                         {"seq": 2, "input": msg("policy about any refund")},
                         {"seq": 3, "input": msg("refund, policy")}))
    assert index.search("p1", '"refund policy"') == [3, 1]  # punctuation is not a word
    assert index.search("p1", '"policy refund"') == []
    assert index.search("p1", "gpt-4o") == []  # a word with punctuation is a phrase


def test_prefix(index):
    indexed(index, spans({"seq": 1, "input": msg("refunded yesterday")},
                         {"seq": 2, "input": msg("Refunds take a week")},
                         {"seq": 3, "input": msg("fund transfer")},
                         {"seq": 4, "input": msg("full refund policy")}))
    assert index.search("p1", "refund*") == [4, 2, 1]
    assert index.search("p1", '"full refund pol*"') == [4]
    assert index.search("p1", "ref* week") == [2]


def test_chinese_and_japanese(index):
    indexed(index, spans(
        {"seq": 1, "input": msg("请问你们的退款政策是什么？")},
        {"seq": 2, "input": msg("政策变更通知，不涉及退款")},
        {"seq": 3, "output": {"role": "assistant", "content": "返金ポリシーについてご案内します。"}},
        {"seq": 4, "input": msg("注文番号ABC123のお問い合わせ")},
        {"seq": 5, "input": msg("Mixed: customer asked about 退款 and refund")}))
    assert index.search("p1", "退款政策") == [1]  # a substring, not words
    assert index.search("p1", "退款") == [5, 2, 1]
    assert index.search("p1", "政策退款") == []
    assert index.search("p1", "ポリシー") == [3]
    assert index.search("p1", "返金") == [3]
    assert index.search("p1", "お問い合わせ") == [4]
    assert index.search("p1", "abc123") == [4]  # Latin inside Japanese text is a word
    assert index.search("p1", "策") == [2, 1]  # one character
    assert index.search("p1", "退款 refund") == [5]


def test_arabic(index):
    indexed(index, spans({"seq": 1, "input": msg("ما هي سياسة الاسترداد الخاصة بكم؟")},
                         {"seq": 2, "input": msg("سِيَاسَة الخصوصية")},  # with harakat
                         {"seq": 3, "input": msg("مرحبا")}))
    assert index.search("p1", "الاسترداد") == [1]
    assert index.search("p1", "سياسة") == [2, 1]
    assert index.search("p1", "سِيَاسَة") == [2, 1]
    assert index.search("p1", '"سياسة الاسترداد"') == [1]


def test_metadata_keys_values_and_tool_arguments(index):
    indexed(index, spans(
        {"seq": 1, "metadata": {"customer_tier": "platinum", "order": 98765}},
        {"seq": 2, "output": {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
                              "function": {"name": "get_weather", "arguments": "{\"city\": \"Reykjavik\"}"}}]}},
        {"seq": 3, "name": "rag.retrieve", "model": "claude-sonnet", "input": msg("hi")}))
    assert index.search("p1", "platinum") == [1]
    assert index.search("p1", "customer_tier") == [1]
    assert index.search("p1", "98765") == [1]
    assert index.search("p1", "reykjavik") == [2]
    assert index.search("p1", "get_weather") == [2]
    assert index.search("p1", "claude") == [3]
    assert index.search("p1", "retrieve") == [3]
    assert index.search("p1", "assistant") == []  # roles are structure, not content


def test_project_isolation(index):
    indexed(index, spans({"seq": 1, "project_id": "a", "input": msg("secret plan")},
                         {"seq": 2, "project_id": "b", "input": msg("secret plan")}))
    assert index.search("a", "secret") == [1]
    assert index.search("b", "secret") == [2]
    assert index.search("c", "secret") == []


def test_time_range_order_and_keyset_pages(index):
    same = T0 + dt.timedelta(hours=1)
    rows = [{"seq": s, "input": msg("timeout error"), "start_time": T0 + dt.timedelta(minutes=s)}
            for s in range(1, 21)]
    rows += [{"seq": s, "input": msg("timeout error"), "start_time": same} for s in range(21, 31)]
    rows.append({"seq": 31, "input": msg("timeout error"), "start_time": T0 - dt.timedelta(minutes=5)})
    indexed(index, spans(*rows))
    everything = index.search("p1", "timeout", limit=100)
    assert everything == list(range(30, 20, -1)) + list(range(20, 0, -1)) + [31]
    # Pages of 4 through the ties at the same start_time follow seq, and never skip or repeat.
    pages, before = [], None
    while True:
        page = index.search("p1", "timeout", limit=4, before=before)
        if not page:
            break
        pages += page
        last = next(r for r in rows if r["seq"] == page[-1])
        before = (last["start_time"], last["seq"])
    assert pages == everything
    window = index.search("p1", "timeout", since=T0 + dt.timedelta(minutes=5),
                          until=T0 + dt.timedelta(minutes=10))
    assert window == [9, 8, 7, 6, 5]  # since inclusive, until exclusive
    aware = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
    assert index.search("p1", "timeout", until=aware) == [31]


def test_deleted_spans_are_never_found(index):
    indexed(index, spans(*[{"seq": s, "project_id": "p1" if s <= 6 else "p2", "input": msg("invoice")}
                           for s in range(1, 9)]))
    index.delete_seqs([2, 5])
    assert index.search("p1", "invoice") == [6, 4, 3, 1]
    index.delete_before("p1", T0 + dt.timedelta(seconds=4))
    assert index.search("p1", "invoice") == [6, 4]
    index.delete_project("p2")
    assert index.search("p2", "invoice") == []
    assert index.search("p1", "invoice") == [6, 4]


def test_delete_of_rows_still_queued(index):
    """Deleting right after add(): whichever of the two runs first, the span is never found."""
    for round_ in range(5):
        base = 100 + round_ * 10
        table = spans(*[{"seq": base + i, "project_id": "q", "input": msg("erase me")} for i in range(5)])
        index.add(table)
        index.delete_seqs([base + 1])
        index.delete_project("gone") if round_ % 2 else index.delete_before("q", T0 + dt.timedelta(seconds=base + 1))
        wait_for(lambda: index.watermark() >= base + 4)
        found = index.search("q", "erase")
        assert base + 1 not in found
        if round_ % 2 == 0:
            assert base not in found


def test_watermark_survives_reopen_and_refeed_is_idempotent(tmp_path):
    path = tmp_path / "search"
    with SearchIndex(path, FAST) as index:
        assert index.watermark() == 0
        indexed(index, spans(*[{"seq": s, "input": msg("durable words")} for s in range(1, 11)]))
        assert index.watermark() == 10
    with SearchIndex(path, FAST) as index:
        assert index.watermark() == 10
        assert index.search("p1", "durable") == list(range(10, 0, -1))
    # A crash after tantivy's commit but before the state file: the state says 4.
    (path / "state.json").write_text('{"format": 1, "watermark": 4}')
    with SearchIndex(path, FAST) as index:
        assert index.watermark() == 4
        assert index.search("p1", "durable", limit=100) == [4, 3, 2, 1]  # above: dropped, re-fed
        indexed(index, spans(*[{"seq": s, "input": msg("durable words")} for s in range(1, 11)]))
        assert index.search("p1", "durable", limit=100) == list(range(10, 0, -1))  # no duplicates


def test_corrupt_index_is_rebuilt(tmp_path):
    path = tmp_path / "search"
    table = spans(*[{"seq": s, "input": msg("rebuild me")} for s in range(1, 6)])
    with SearchIndex(path, FAST) as index:
        indexed(index, table)
    for f in (path / "index").iterdir():
        if f.name == "meta.json":
            f.write_text("{not json")
    with SearchIndex(path, FAST) as index:
        assert index.watermark() == 0
        assert index.search("p1", "rebuild") == []
        index.rebuild(iter([table.slice(3), table.slice(0, 3)]))  # any order
        assert index.watermark() == 5
        assert index.search("p1", "rebuild") == [5, 4, 3, 2, 1]


def test_full_queue_is_caught_up_from_the_source(tmp_path):
    store = [spans(*[{"seq": b * 10 + i, "input": msg(f"batch{b} common")} for i in range(1, 11)])
             for b in range(20)]

    def source(after: int, n: int) -> pa.Table | None:
        rows = pa.concat_tables(store)
        rows = rows.filter(pa.compute.greater(rows.column("seq"), after))
        return rows.slice(0, n)

    settings = FAST.__class__(**{**FAST.__dict__, "backlog_max_rows": 25, "catchup_batch_rows": 30})
    with SearchIndex(tmp_path / "search", settings, source=source) as index:
        index._wlock.acquire()  # hold the indexer (it holds at most one table) so the queue fills
        try:
            accepted = [index.add(t) for t in store]
        finally:
            index._wlock.release()
        assert not all(accepted)  # the queue was full at some point
        wait_for(lambda: index.watermark() >= 200)
        assert len(index.search("p1", "common", limit=1000)) == 200
        assert index.search("p1", "batch7") == list(range(80, 70, -1))
        assert index.stats()["dropped_rows"] > 0


def test_without_a_source_the_watermark_stays_below_a_gap(tmp_path):
    settings = FAST.__class__(**{**FAST.__dict__, "backlog_max_rows": 10})
    path = tmp_path / "search"
    with SearchIndex(path, settings) as index:
        refused_from, seq = fill_until_refused(index)
        wait_for(lambda: index.stats()["queued_rows"] == 0)
        assert index.add(spans(*[{"seq": s, "input": msg("x")} for s in range(seq, seq + 10)]))
        wait_for(lambda: index.stats()["indexed_seq"] >= seq + 9)
        wait_for(lambda: index.watermark() == refused_from - 1)
        assert index.search("p1", "x", limit=100)[0] == seq + 9  # newer spans are still searchable
    with SearchIndex(path, settings) as index:
        assert index.watermark() == refused_from - 1  # the next start re-feeds from the gap


def test_concurrent_searches_while_writing(index):
    errors: list[BaseException] = []
    stop = threading.Event()

    def searcher():
        try:
            while not stop.is_set():
                index.search("p1", "alpha", limit=10)
                index.search("p1", '"alpha beta"', limit=10)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    for b in range(20):
        index.add(spans(*[{"seq": b * 50 + i, "input": msg("alpha beta gamma")} for i in range(1, 51)]))
    wait_for(lambda: index.watermark() >= 19 * 50 + 50)
    index.delete_seqs(range(1, 101))
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(index.search("p1", "alpha", limit=5000)) == 900


def test_pages_match_a_brute_force_sort(tmp_path):
    """Random times with many ties, spread over 10 days, searched through small time windows:
    every page equals sorting the matches by (start_time, seq) descending."""
    import random

    rnd = random.Random(3)
    rows = []
    for seq in range(1, 401):
        at = T0 + dt.timedelta(seconds=rnd.choice([0, 7, 7, 60, 3600]) * rnd.randrange(0, 240))
        rows.append({"seq": seq, "start_time": at, "input": msg("alpha" if seq % 3 else "alpha beta")})
    settings = FAST.__class__(**{**FAST.__dict__, "first_window_s": 30.0})
    with SearchIndex(tmp_path / "search", settings) as index:
        for i in range(0, 400, 100):
            indexed(index, spans(*rows[i:i + 100]))
        for query, pred in (("alpha", lambda r: True), ("beta", lambda r: r["seq"] % 3 == 0)):
            expected = [r["seq"] for r in sorted((r for r in rows if pred(r)),
                                                  key=lambda r: (r["start_time"], r["seq"]), reverse=True)]
            by_seq = {r["seq"]: r for r in rows}
            for limit in (1, 7, 50):
                got, before = [], None
                while page := index.search("p1", query, limit=limit, before=before):
                    got += page
                    before = (by_seq[page[-1]]["start_time"], page[-1])
                assert got == expected
            keys, before = [], None
            while page := index.search_keys("p1", query, limit=9, before=before):
                keys += page
                before = page[-1]
            assert [seq for _, seq in keys] == expected
            since, until = T0 + dt.timedelta(hours=20), T0 + dt.timedelta(hours=100)
            window = [s for s in expected if since <= by_seq[s]["start_time"] < until]
            assert index.search("p1", query, since=since, until=until, limit=1000) == window


def test_start_catches_up_above_the_watermark_from_the_source(tmp_path):
    rows = spans(*[{"seq": s, "input": msg("stored while the index was away")} for s in range(1, 51)])
    calls = []

    def source(after: int, n: int) -> pa.Table:
        calls.append(after)
        return rows.filter(pa.compute.greater(rows.column("seq"), after)).slice(0, n)

    path = tmp_path / "search"
    with SearchIndex(path, FAST) as index:
        indexed(index, rows.slice(0, 20))
    with SearchIndex(path, FAST, source=source) as index:
        wait_for(lambda: index.watermark() == 50)
        assert calls[0] == 20  # only what the index lacks is read back
        assert index.search("p1", "away", limit=100) == list(range(50, 0, -1))


def test_a_gap_still_open_at_stop_keeps_the_watermark_below_it(tmp_path):
    settings = FAST.__class__(**{**FAST.__dict__, "backlog_max_rows": 10, "catchup_patience_s": 60.0})
    path = tmp_path / "search"

    def source(after: int, n: int) -> None:  # the dropped rows are never readable (yet)
        return None

    with SearchIndex(path, settings, source=source) as index:
        refused_from, seq = fill_until_refused(index)
        wait_for(lambda: index.stats()["indexed_seq"] >= refused_from - 1)
    with SearchIndex(path, settings) as index:
        assert index.watermark() == refused_from - 1


def test_a_killed_writer_process_is_replaced_and_what_it_lost_is_refed(tmp_path):
    """The writer runs in a child process; SIGKILL it with documents indexed but not committed:
    the index starts a new one, reads everything above its watermark back from the source, and
    deletes issued meanwhile still hold."""
    import os
    import signal

    rows = spans(*[{"seq": s, "input": msg(f"survivor {s} {'doomed' if s % 10 == 0 else ''}")}
                   for s in range(1, 201)])

    stored = rows.slice(0, 100)  # what the store holds so far

    def source(after: int, n: int) -> pa.Table:
        return stored.filter(pa.compute.greater(stored.column("seq"), after)).slice(0, n)

    settings = FAST.__class__(**{**FAST.__dict__, "commit_interval_s": 3600.0})  # commit on demand only
    with SearchIndex(tmp_path / "search", settings, source=source) as index:
        index.add(rows.slice(0, 100))
        wait_for(lambda: index.stats()["indexed_seq"] == 100)
        assert index.watermark() == 0  # indexed, not committed
        pid = index._writer.pid
        os.kill(pid, signal.SIGKILL)
        stored = rows
        index.add(rows.slice(100))  # the indexer finds the writer gone and replaces it
        index.delete_seqs(range(10, 201, 10))

        def committed_all() -> bool:
            index._writing(lambda: index._commit_locked(force=True))
            return index.watermark() == 200
        wait_for(committed_all)
        assert index.writer_restarts == 1 and index._writer.pid != pid
        assert index.search("p1", "survivor", limit=500) == [s for s in range(200, 0, -1) if s % 10]
        assert index.search("p1", "doomed") == []


def test_in_thread_writer_behaves_the_same(tmp_path):
    settings = FAST.__class__(**{**FAST.__dict__, "writer_process": False})
    with SearchIndex(tmp_path / "search", settings) as index:
        assert not hasattr(index._writer, "pid")
        indexed(index, spans(*[{"seq": s, "input": msg(f"local {s}")} for s in range(1, 11)]))
        index.delete_seqs([3])
        index.delete_before("p1", T0 + dt.timedelta(seconds=3))  # seqs 1 and 2 started earlier
        assert index.search("p1", "local", limit=20) == [10, 9, 8, 7, 6, 5, 4]


def test_stop_is_not_held_by_a_source_that_keeps_failing(tmp_path):
    """A gap whose read-back fails every time (seen: DuckDB out of memory) must not keep the
    indexer thread, and so the server's shutdown, waiting; the gap is left for the next start."""
    settings = FAST.__class__(**{**FAST.__dict__, "backlog_max_rows": 10})
    path = tmp_path / "search"
    reads = []

    def source(after: int, n: int) -> pa.Table:
        reads.append(after)
        raise RuntimeError("Out of Memory Error: failed to pin block")

    index = SearchIndex(path, settings, source=source)
    index.__enter__()
    refused_from, seq = fill_until_refused(index)
    wait_for(lambda: len(reads) >= 2)  # the gap read fails, and is retried while serving
    closer = threading.Thread(target=index.__exit__, args=(None, None, None))
    closer.start()
    closer.join(60)
    assert not closer.is_alive()
    with SearchIndex(path, settings) as again:
        assert again.watermark() < refused_from
