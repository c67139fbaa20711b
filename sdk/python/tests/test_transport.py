"""The transport against a fake ingest server: batching, limits, retries, status codes, deadlines, fork."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

import lynex_sdk
from lynex_sdk.client import get_client


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_batches_close_at_100_spans(sdk, fake_ingest):
    sdk(flush_interval=30)
    for i in range(250):
        lynex_sdk.log(input=i)
    assert lynex_sdk.flush(10)
    assert sorted(len(r["spans"]) for r in fake_ingest.requests) == [50, 100, 100]
    assert lynex_sdk.stats()["sent"] == 250


def test_batches_close_at_1_mib(sdk, fake_ingest):
    sdk(flush_interval=30, max_string_chars=1_000_000)
    for _ in range(5):
        lynex_sdk.log(input="x" * 300_000)
    assert lynex_sdk.flush(10)
    sizes = [len(r["spans"]) for r in fake_ingest.requests]
    assert sum(sizes) == 5 and max(sizes) == 3


def test_batches_close_on_time_without_flush(sdk, fake_ingest):
    sdk(flush_interval=0.1)
    lynex_sdk.log(input="lonely")
    assert wait_for(lambda: len(fake_ingest.spans) == 1)


def test_full_queue_drops_and_counts_without_blocking(sdk, fake_ingest):
    sdk(flush_interval=30, max_queue_size=10)
    results = [lynex_sdk.log(input=i) for i in range(15)]
    assert sum(r is not None for r in results) == 10
    stats = lynex_sdk.stats()
    assert stats["dropped"]["queue_full"] == 5 and stats["queued"] == 10
    assert lynex_sdk.flush(10)
    assert len(fake_ingest.spans) == 10


def test_429_honours_retry_after_then_delivers(sdk, fake_ingest):
    answers = iter([(429, {"error": "quota"}, {"Retry-After": "0.2"})])
    fake_ingest.responder = lambda spans: next(answers, (200, {"accepted": len(spans), "rejected": []}, {}))
    sdk()
    lynex_sdk.log(input="x")
    assert lynex_sdk.flush(10)
    assert len(fake_ingest.requests) == 2 and len(fake_ingest.spans) == 1
    assert lynex_sdk.stats()["sent"] == 1


def test_503_retries_then_spools_then_delivers_once(sdk, fake_ingest):
    answers = iter([(503, {"error": "busy"}, {"Retry-After": "0.1"})] * 3)
    fake_ingest.responder = lambda spans: next(answers, (200, {"accepted": len(spans), "rejected": []}, {}))
    sdk(max_retries=2)
    span_id = lynex_sdk.log(input="x")
    assert lynex_sdk.flush(10)
    assert wait_for(lambda: fake_ingest.ids() == [span_id])
    # The server has it; the worker still has to read the answer and delete the spool segment.
    assert wait_for(lambda: lynex_sdk.stats()["sent"] == 1 and lynex_sdk.stats()["spool_bytes"] == 0)
    stats = lynex_sdk.stats()
    assert stats["spooled"] == 1 and stats["sent"] == 1 and stats["spool_bytes"] == 0
    assert len(fake_ingest.requests) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 415])
def test_other_4xx_are_not_retried(sdk, fake_ingest, status, caplog):
    fake_ingest.responder = lambda spans: (status, {"error": "no"}, {})
    sdk()
    with caplog.at_level(logging.WARNING, logger="lynex_sdk"):
        lynex_sdk.log(input="x")
        lynex_sdk.log(input="y")
        assert lynex_sdk.flush(10)
    assert len(fake_ingest.requests) == 1
    stats = lynex_sdk.stats()
    assert stats["dropped"]["rejected"] == 2 and stats["spooled"] == 0
    assert f"HTTP {status}" in caplog.text


def test_207_counts_rejected_items(sdk, fake_ingest):
    fake_ingest.responder = lambda spans: (207, {"accepted": len(spans) - 1, "rejected": [
        {"index": 1, "id": spans[1]["id"], "error": "usage.input_tokens: must be >= 0"}]}, {})
    sdk(flush_interval=30)
    for i in range(3):
        lynex_sdk.log(input=i)
    assert lynex_sdk.flush(10)
    stats = lynex_sdk.stats()
    assert stats["sent"] == 2 and stats["dropped"]["rejected"] == 1 and len(fake_ingest.requests) == 1


def test_413_splits_the_batch(sdk, fake_ingest):
    fake_ingest.responder = lambda spans: ((413, {"error": "too large"}, {}) if len(spans) > 2
                                           else (200, {"accepted": len(spans), "rejected": []}, {}))
    sdk(flush_interval=30)
    ids = [lynex_sdk.log(input=i) for i in range(7)]
    assert lynex_sdk.flush(10)
    assert sorted(fake_ingest.ids()) == sorted(ids)


def test_flush_returns_by_its_deadline_when_the_server_never_answers(sdk, fake_ingest):
    fake_ingest.hang.set()
    sdk(request_timeout=30)
    lynex_sdk.log(input="x")
    assert wait_for(lambda: len(fake_ingest.requests) == 1)
    started = time.monotonic()
    assert lynex_sdk.flush(timeout=0.5) is False
    assert time.monotonic() - started < 2.0  # hard deadline (0.5 s) with generous slack
    started = time.monotonic()
    lynex_sdk.shutdown(timeout=0.5)
    assert time.monotonic() - started < 2.0
    # The span stuck in flight was put in the spool for the next run.
    assert get_client().stats_snapshot()["spooled"] == 1


def test_unreachable_server_spools_without_blocking(sdk, fake_ingest):
    fake_ingest.stop()
    sdk()
    for i in range(20):
        lynex_sdk.log(input=i)
    started = time.monotonic()
    assert lynex_sdk.flush(5)
    assert time.monotonic() - started < 5
    assert lynex_sdk.stats()["spooled"] == 20 and lynex_sdk.stats()["sent"] == 0


def test_no_spool_keeps_spans_queued_while_the_server_is_down(sdk, fake_ingest):
    fake_ingest.stop()
    sdk(spool_dir="", max_retries=0, retry_backoff_base=0.2, retry_backoff_max=0.5)
    ids = [lynex_sdk.log(input=i) for i in range(3)]
    lynex_sdk.flush(0.3)
    fake_ingest.start()
    more = [lynex_sdk.log(input=i) for i in range(3)]
    # The batch that failed is dropped (counted); later spans wait in the queue for the backoff to end.
    assert wait_for(lambda: set(more) <= set(fake_ingest.ids()))
    assert lynex_sdk.stats()["dropped"]["network_error"] == len(ids)


@pytest.mark.allow_internal_errors
def test_internal_failure_never_reaches_the_app(sdk, fake_ingest, monkeypatch, no_internal_errors):
    client = sdk()

    def explode(*args, **kwargs):
        raise RuntimeError("sdk bug")

    monkeypatch.setattr(client.transport, "submit", explode)

    @lynex_sdk.observe
    def f():
        with lynex_sdk.span("inner") as s:
            s.set_output("x")
        return 7

    assert f() == 7
    assert lynex_sdk.log(input="x") is None
    assert no_internal_errors and all(str(e) == "sdk bug" for e in no_internal_errors)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_restarts_the_worker_in_the_child(sdk, fake_ingest, tmp_path):
    sdk(flush_interval=30)
    parent_id = lynex_sdk.log(input="before fork")  # still queued in the parent at fork time
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            child_id = lynex_sdk.log(input="from child")
            ok = lynex_sdk.flush(5) and child_id is not None
            with open(str(tmp_path / "child-id"), "w") as fh:
                fh.write(child_id or "")
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert lynex_sdk.flush(5)
    child_id = open(str(tmp_path / "child-id")).read()
    counts = Counter(fake_ingest.ids())
    assert counts == Counter({parent_id: 1, child_id: 1})


def run_script(body: str, env_extra: dict, timeout: float = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_atexit_delivers_pending_spans(fake_ingest, tmp_path):
    out = run_script("""
        import lynex_sdk
        lynex_sdk.init(flush_interval=30)
        print(lynex_sdk.log(input="at exit"))
    """, {"LYNEX_API_KEY": "k", "LYNEX_HOST": fake_ingest.url, "LYNEX_SPOOL_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert fake_ingest.ids() == [out.stdout.strip()]


def test_atexit_is_bounded_when_the_server_hangs(fake_ingest, tmp_path):
    fake_ingest.hang.set()
    started = time.monotonic()
    out = run_script("""
        import lynex_sdk
        lynex_sdk.init(shutdown_timeout=0.5, request_timeout=60)
        lynex_sdk.log(input="stuck")
    """, {"LYNEX_API_KEY": "k", "LYNEX_HOST": fake_ingest.url, "LYNEX_SPOOL_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < 20  # interpreter start + 0.5 s deadline, generously
    assert "Traceback" not in out.stderr
