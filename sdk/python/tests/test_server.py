"""End to end against the real `lynex serve` (a subprocess on a free port): spans arrive, linked, once."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from typing import Any, Dict, List

import pytest

import lynex_sdk
from fake_provider import FakeProvider


@pytest.fixture
def live(lynex_server, tmp_path):
    """The SDK pointed at the real server."""
    lynex_sdk.init(api_key=lynex_server.api_key, host=lynex_server.url, flush_interval=0.05,
                   spool_dir=str(tmp_path / "spool"), environment="test", release="sdk-e2e",
                   retry_backoff_base=0.05, retry_backoff_max=0.5)
    return lynex_server


def tree_ids(nodes: List[Dict[str, Any]]) -> List[str]:
    out = []
    for node in nodes:
        out.append(node["id"])
        out.extend(tree_ids(node.get("children") or []))
    return out


def test_log_arrives_with_its_content(live):
    span_id = lynex_sdk.log(input=[{"role": "user", "content": "hello lynex"}], output="hi there",
                            model="gpt-4o-mini", provider="openai", latency_ms=42.0,
                            usage={"input_tokens": 3, "output_tokens": 2}, metadata={"k": "v"},
                            session_id="sess-e2e", user_id="user-e2e", tags=["e2e"])
    assert lynex_sdk.flush(10)
    [span] = live.spans_of_trace(span_id, expected=1)
    assert span["id"] == span_id and span["trace_id"] == span_id
    assert span["input"] == [{"role": "user", "content": "hello lynex"}] and span["output"] == "hi there"
    assert (span["model"], span["provider"], span["session_id"], span["user_id"]) == (
        "gpt-4o-mini", "openai", "sess-e2e", "user-e2e")
    assert span["usage"]["input_tokens"] == 3 and span["usage"]["output_tokens"] == 2
    assert span["metadata"]["k"] == "v" and "e2e" in span["tags"]
    assert (span["environment"], span["release"]) == ("test", "sdk-e2e")
    assert live.get(f"/v1/spans/{span_id}")["id"] == span_id
    assert lynex_sdk.stats()["sent"] == 1


def test_observed_agent_forms_one_trace(live):
    @lynex_sdk.observe(kind="retrieval")
    def retrieve(query):
        return [f"doc about {query}"]

    @lynex_sdk.observe(kind="tool")
    def tool_in_thread(x):
        return x * 2

    @lynex_sdk.observe(kind="llm")
    def stream_answer(docs):
        for word in ["an", "swer"]:
            yield word

    @lynex_sdk.observe(kind="chain")
    async def async_step(i):
        await asyncio.sleep(0)
        return i

    root_ids = []

    @lynex_sdk.observe(name="agent", kind="agent")
    def agent(question):
        root_ids.append(lynex_sdk.current_span().id)
        docs = retrieve(question)
        t = threading.Thread(target=lynex_sdk.wrap_thread_target(tool_in_thread), args=(21,))
        t.start()
        t.join()

        async def fan_out():
            return await asyncio.gather(*(async_step(i) for i in range(3)))

        asyncio.run(fan_out())
        lynex_sdk.log(input="raw call", output="raw answer", name="manual-log")
        return "".join(stream_answer(docs))

    with lynex_sdk.context(session_id="sess-agent"):
        assert agent("cats") == "answer"
    assert lynex_sdk.flush(10)
    spans = {s["id"]: s for s in live.spans_of_trace(root_ids[0], expected=8)}
    assert len(spans) == 8
    root = spans[root_ids[0]]
    children = [s for s in spans.values() if s["id"] != root["id"]]
    assert all(s["parent_id"] == root["id"] and s["trace_id"] == root["id"] for s in children)
    kinds = Counter(s["kind"] for s in children)
    assert kinds == Counter({"retrieval": 1, "tool": 1, "chain": 3, "llm": 2})
    assert root["input"] == {"question": "cats"} and root["output"] == "answer"
    stream = next(s for s in children if s["name"].endswith("stream_answer"))
    assert stream["output"] == "answer" and stream["input"] == {"docs": ["doc about cats"]}
    assert all(s["session_id"] == "sess-agent" for s in spans.values())
    trace = live.get(f"/v1/traces/{root['trace_id']}")
    assert sorted(tree_ids(trace["roots"])) == sorted(spans)
    assert [n["id"] for n in trace["roots"]] == [root["id"]]


def test_openai_and_anthropic_spans_arrive(live):
    openai = pytest.importorskip("openai")
    anthropic = pytest.importorskip("anthropic")
    provider = FakeProvider()
    try:
        oai = lynex_sdk.wrap_openai(openai.OpenAI(api_key="k", base_url=provider.openai_url, max_retries=0))
        claude = lynex_sdk.wrap_anthropic(anthropic.Anthropic(api_key="k", base_url=provider.anthropic_url,
                                                              max_retries=0))

        @lynex_sdk.observe(name="two-providers", kind="agent")
        def run():
            oai.chat.completions.create(model="gpt-tools", messages=[{"role": "user", "content": "weather?"}])
            with claude.messages.stream(model="claude-test", max_tokens=10,
                                        messages=[{"role": "user", "content": "hi"}]) as s:
                s.until_done()
            return lynex_sdk.current_trace_id()

        trace_id = run()
    finally:
        provider.close()
    assert lynex_sdk.flush(10)
    spans = live.spans_of_trace(trace_id, expected=3)
    by_provider = {s.get("provider"): s for s in spans}
    gpt, claude_span = by_provider["openai"], by_provider["anthropic"]
    assert gpt["output"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert gpt["usage"]["cached_tokens"] == 2 and gpt["model"] == "gpt-tools-2024"
    assert claude_span["output"]["content"] == "Hello world" and claude_span["ttft_ms"] >= 0
    assert claude_span["usage"]["input_tokens"] == 16


def test_redelivered_span_is_stored_once(live):
    span_id = uuid.uuid4().hex
    for _ in range(3):
        lynex_sdk.log(input="again", id=span_id, trace_id=span_id)
        assert lynex_sdk.flush(10)
    time.sleep(0.5)
    assert len(live.spans_of_trace(span_id, expected=1)) == 1
    assert lynex_sdk.stats()["sent"] == 3


def test_server_restart_loses_nothing(live):
    """The server goes down while the app keeps calling; spans spool, then arrive exactly once."""
    session = "sess-restart-" + uuid.uuid4().hex[:8]
    ids = []
    slowest = 0.0

    def call(i):
        nonlocal slowest
        started = time.perf_counter()
        ids.append(lynex_sdk.log(input=f"call {i}", session_id=session, trace_id=session))
        slowest = max(slowest, time.perf_counter() - started)

    for i in range(10):
        call(i)
    assert lynex_sdk.flush(10)
    live.stop()
    for i in range(10, 200):
        call(i)
        time.sleep(0.01)
    assert lynex_sdk.flush(5)  # everything pending went to the spool: flush does not wait for the server
    assert lynex_sdk.stats()["spooled"] > 0
    live.start()
    for i in range(200, 210):
        call(i)
    spans = live.spans_of_trace(session, expected=len(ids), timeout=30)
    counts = Counter(s["id"] for s in spans)
    assert set(counts) == set(ids) and max(counts.values()) == 1
    assert slowest < 0.5
    assert sum(lynex_sdk.stats()["dropped"].values()) == 0
