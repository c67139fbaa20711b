"""The public API against a fake ingest server: log, observe, span, context, privacy, config."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import pytest

import lynex_sdk


def by_name(spans: List[Dict[str, Any]]) -> Dict[str, Dict[str, Any]]:
    return {s["name"]: s for s in spans}


def test_log_sends_one_complete_span(sdk, fake_ingest):
    sdk(environment="test", release="1.2.3")
    span_id = lynex_sdk.log(input=[{"role": "user", "content": "hi"}], output="hello", model="gpt-4o-mini",
                            provider="openai", latency_ms=12.5, ttft_ms=3.0,
                            usage={"prompt_tokens": 5, "completion_tokens": 2}, metadata={"route": "/chat"},
                            tags=["a"], session_id="s1", user_id="u1", prompt_name="greet", prompt_version=3)
    assert lynex_sdk.flush(5)
    [span] = fake_ingest.spans
    assert span["id"] == span_id == span["trace_id"]
    assert span["input"] == [{"role": "user", "content": "hi"}] and span["output"] == "hello"
    assert span["usage"] == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    assert (span["model"], span["provider"], span["kind"], span["name"]) == ("gpt-4o-mini", "openai", "llm", "llm")
    assert span["latency_ms"] == 12.5 and span["ttft_ms"] == 3.0
    assert span["end_time"] - span["start_time"] == 12
    assert (span["environment"], span["release"]) == ("test", "1.2.3")
    assert (span["session_id"], span["user_id"], span["tags"]) == ("s1", "u1", ["a"])
    assert span["metadata"] == {"route": "/chat"}
    assert (span["prompt_name"], span["prompt_version"]) == ("greet", 3)
    request = fake_ingest.requests[0]
    assert request["path"] == "/v1/ingest"
    assert request["headers"]["Authorization"] == "Bearer lx_test"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Content-Encoding"] == "gzip"


def test_log_snapshots_input_at_call_time(sdk, fake_ingest):
    sdk()
    messages = [{"role": "user", "content": "one"}]
    lynex_sdk.log(input=messages, output="ok")
    messages.append({"role": "assistant", "content": "later"})
    lynex_sdk.flush(5)
    assert fake_ingest.spans[0]["input"] == [{"role": "user", "content": "one"}]


def test_log_error_forms(sdk, fake_ingest):
    sdk()
    lynex_sdk.log(input="x", error=ValueError("bad"))
    lynex_sdk.log(input="y", error={"type": "Timeout", "message": "slow"})
    lynex_sdk.flush(5)
    errors = sorted((s["status"], s["error"]["type"], s["error"]["message"]) for s in fake_ingest.spans)
    assert errors == [("error", "Timeout", "slow"), ("error", "ValueError", "bad")]


def test_observe_nests_sync_calls_into_one_trace(sdk, fake_ingest):
    sdk()

    @lynex_sdk.observe(kind="tool")
    def add(a, b=1):
        return a + b

    @lynex_sdk.observe(name="agent", kind="agent")
    def agent(x):
        lynex_sdk.log(input="q", output="a", name="inner-log")
        return add(x, b=2) + add(x)

    assert agent(10) == 23
    lynex_sdk.flush(5)
    spans = fake_ingest.spans
    assert len(spans) == 4
    root = by_name(spans)["agent"]
    assert root["kind"] == "agent" and "parent_id" not in root and root["trace_id"] == root["id"]
    assert root["input"] == {"x": 10} and root["output"] == 23
    children = [s for s in spans if s is not root]
    assert {s["trace_id"] for s in children} == {root["id"]}
    assert {s["parent_id"] for s in children} == {root["id"]}
    adds = [s for s in spans if s["name"].endswith("add")]
    assert sorted(str(s["input"].get("b")) for s in adds) == ["2", "None"] and adds[0]["kind"] == "tool"


def test_observe_method_skips_self_and_records_errors(sdk, fake_ingest):
    sdk()

    class Bot:
        @lynex_sdk.observe
        def reply(self, text, *rest):
            raise KeyError(text)

    with pytest.raises(KeyError):
        Bot().reply("hi", 1, 2)
    lynex_sdk.flush(5)
    [span] = fake_ingest.spans
    assert span["input"] == {"text": "hi", "rest": [1, 2]}
    assert span["status"] == "error" and span["error"]["type"] == "KeyError"
    assert span["name"].endswith("Bot.reply")


async def test_observe_async_and_tasks(sdk, fake_ingest):
    sdk()

    @lynex_sdk.observe(kind="retrieval")
    async def fetch(i):
        await asyncio.sleep(0.01)
        return i * 2

    @lynex_sdk.observe(name="root")
    async def root():
        return await asyncio.gather(*(asyncio.create_task(fetch(i)) for i in range(5)))

    assert await root() == [0, 2, 4, 6, 8]
    assert lynex_sdk.current_span() is None
    lynex_sdk.flush(5)
    spans = fake_ingest.spans
    root_span = by_name(spans)["root"]
    fetches = [s for s in spans if s is not root_span]
    assert len(fetches) == 5
    assert all(s["parent_id"] == root_span["id"] and s["trace_id"] == root_span["id"] for s in fetches)


def test_observe_generators_keep_context_inside(sdk, fake_ingest):
    sdk()
    seen_outside: List[Any] = []

    @lynex_sdk.observe(kind="tool")
    def leaf():
        return "leaf"

    @lynex_sdk.observe(name="stream")
    def stream(n):
        for i in range(n):
            leaf()
            yield f"t{i} "
        return "done"

    @lynex_sdk.observe(name="consumer")
    def consumer():
        out = []
        for token in stream(3):
            seen_outside.append(lynex_sdk.current_span().name)
            out.append(token)
        return "".join(out)

    assert consumer() == "t0 t1 t2 "
    assert seen_outside == ["consumer"] * 3  # the generator's span never leaks into the consumer
    lynex_sdk.flush(5)
    spans = by_name(fake_ingest.spans)
    assert spans["stream"]["parent_id"] == spans["consumer"]["id"]
    assert spans["stream"]["output"] == "t0 t1 t2 "
    leaves = [s for s in fake_ingest.spans if s["name"].endswith("leaf")]
    assert len(leaves) == 3 and {s["parent_id"] for s in leaves} == {spans["stream"]["id"]}


def test_observe_generator_send_throw_and_early_close(sdk, fake_ingest):
    sdk()

    @lynex_sdk.observe(name="echo")
    def echo():
        got = yield "ready"
        while True:
            try:
                got = yield f"echo {got}"
            except ValueError:
                got = yield "recovered"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("a") == "echo a"
    assert gen.throw(ValueError("x")) == "recovered"
    gen.close()

    @lynex_sdk.observe(name="failing")
    def failing():
        yield 1
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        list(failing())
    lynex_sdk.flush(5)
    spans = by_name(fake_ingest.spans)
    assert spans["echo"]["status"] == "ok" and spans["echo"]["output"] == "readyecho arecovered"
    assert spans["failing"]["status"] == "error" and spans["failing"]["error"]["message"] == "boom"


async def test_observe_async_generator(sdk, fake_ingest):
    sdk()

    @lynex_sdk.observe(kind="tool")
    async def inner():
        return 1

    @lynex_sdk.observe(name="agen", kind="llm")
    async def agen(n):
        for i in range(n):
            await inner()
            yield str(i)

    @lynex_sdk.observe(name="outer")
    async def outer():
        return [x async for x in agen(3)]

    assert await outer() == ["0", "1", "2"]
    lynex_sdk.flush(5)
    spans = by_name(fake_ingest.spans)
    assert spans["agen"]["parent_id"] == spans["outer"]["id"] and spans["agen"]["output"] == "012"
    inners = [s for s in fake_ingest.spans if s["name"].endswith("inner")]
    assert len(inners) == 3 and {s["parent_id"] for s in inners} == {spans["agen"]["id"]}


def test_threads_join_the_trace_with_wrap_thread_target(sdk, fake_ingest):
    sdk()

    @lynex_sdk.observe(kind="tool")
    def work(i):
        return i

    @lynex_sdk.observe(name="root")
    def root():
        t = threading.Thread(target=lynex_sdk.wrap_thread_target(work), args=(1,))
        t.start()
        t.join()
        with ThreadPoolExecutor(4) as pool:
            wrapped = lynex_sdk.wrap_thread_target(work)
            list(pool.map(wrapped, range(8)))  # one wrapper used by many threads at once
        threading.Thread(target=work, args=(99,)).start()  # unwrapped: its own trace

    root()
    lynex_sdk.flush(5)
    spans = fake_ingest.spans
    root_span = by_name(spans)["root"]
    works = [s for s in spans if s["name"].endswith("work")]
    assert len(works) == 10
    linked = [s for s in works if s.get("parent_id") == root_span["id"]]
    assert len(linked) == 9 and all(s["trace_id"] == root_span["trace_id"] for s in linked)


def test_span_context_manager_and_setters(sdk, fake_ingest):
    sdk()
    with lynex_sdk.span("retrieve", kind="retrieval") as s:
        s.set_input({"q": "cats"})
        s.set_output(["doc1"])
        s.set_usage(input_tokens=3)
        s.set_metadata({"index": "v2"}, k=5)
        s.set_model("bge", provider="local")
        with lynex_sdk.span("child") as c:
            assert lynex_sdk.current_span() is c
        assert lynex_sdk.current_span() is s
    with pytest.raises(ZeroDivisionError):
        with lynex_sdk.span("broken"):
            1 / 0
    lynex_sdk.flush(5)
    spans = by_name(fake_ingest.spans)
    r = spans["retrieve"]
    assert (r["kind"], r["input"], r["output"], r["model"], r["provider"]) == (
        "retrieval", {"q": "cats"}, ["doc1"], "bge", "local")
    assert r["metadata"] == {"index": "v2", "k": 5} and r["usage"] == {"input_tokens": 3}
    assert spans["child"]["parent_id"] == r["id"]
    assert spans["broken"]["status"] == "error" and spans["broken"]["error"]["type"] == "ZeroDivisionError"


def test_context_applies_to_every_span_inside(sdk, fake_ingest):
    sdk()

    @lynex_sdk.observe(name="step")
    def step():
        lynex_sdk.log(input="x", name="call")

    with lynex_sdk.context(session_id="s1", user_id="u1", tags=["t1"], metadata={"tenant": "acme"}):
        with lynex_sdk.context(tags=["t2"], metadata={"plan": "pro"}):
            step()
    lynex_sdk.log(input="outside", name="outside")
    lynex_sdk.flush(5)
    spans = by_name(fake_ingest.spans)
    for name in ("step", "call"):
        s = spans[name]
        assert (s["session_id"], s["user_id"], s["tags"]) == ("s1", "u1", ["t1", "t2"])
        assert s["metadata"] == {"tenant": "acme", "plan": "pro"}
    assert "session_id" not in spans["outside"] and "tags" not in spans["outside"]


def test_before_send_redacts_and_drops(sdk, fake_ingest):
    def redact(span):
        if span["name"] == "secret":
            return None
        span["input"] = "[redacted]"
        return span

    sdk(before_send=redact)
    lynex_sdk.log(input="my password is hunter2", output="ok", name="public")
    lynex_sdk.log(input="x", name="secret")
    lynex_sdk.flush(5)
    assert [(s["name"], s["input"]) for s in fake_ingest.spans] == [("public", "[redacted]")]
    assert lynex_sdk.stats()["dropped"]["before_send"] == 1


def test_before_send_that_raises_drops_instead_of_leaking(sdk, fake_ingest, caplog):
    def broken(span):
        raise RuntimeError("redactor bug")

    sdk(before_send=broken)
    with caplog.at_level(logging.WARNING, logger="lynex_sdk"):
        assert lynex_sdk.log(input="secret") is None
    lynex_sdk.flush(5)
    assert fake_ingest.spans == []
    assert lynex_sdk.stats()["dropped"]["before_send_error"] == 1
    assert "before_send raised" in caplog.text


def test_capture_content_false_sends_no_text(sdk, fake_ingest):
    sdk(capture_content=False)

    @lynex_sdk.observe
    def answer(question):
        return "the answer is fortytwo"

    answer("what is the secret?")
    lynex_sdk.log(input="prompt text", output="response text", model="m", usage={"input_tokens": 1})
    with lynex_sdk.span("manual") as s:
        s.set_input("manual input")
        s.set_output("manual output")
        s.update(input="via update")
    lynex_sdk.flush(5)
    assert len(fake_ingest.spans) == 3
    body = str(fake_ingest.requests)
    for text in ("secret", "fortytwo", "prompt text", "response text", "manual input", "manual output", "via update"):
        assert text not in body
    assert by_name(fake_ingest.spans)["llm"]["usage"] == {"input_tokens": 1}


def test_observe_capture_flags(sdk, fake_ingest):
    sdk()

    @lynex_sdk.observe(capture_input=False, capture_output=False, name="quiet")
    def quiet(x):
        return x

    quiet("hidden")
    lynex_sdk.flush(5)
    [span] = fake_ingest.spans
    assert "input" not in span and "output" not in span


def test_sampling_is_per_trace(sdk, fake_ingest):
    sdk(sample_rate=0.0)

    @lynex_sdk.observe
    def parent():
        child()

    @lynex_sdk.observe
    def child():
        pass

    parent()
    lynex_sdk.log(input="x")
    lynex_sdk.flush(5)
    assert fake_ingest.spans == []
    assert lynex_sdk.stats()["dropped"]["sampled"] == 3


@pytest.mark.parametrize("options, problem", [
    ({}, "no API key"),
    ({"api_key": "k", "host": "not a url"}, "invalid host"),
    ({"api_key": "k", "sample_rate": 2}, "invalid sample_rate"),
    ({"api_key": "k", "nonsense": 1}, "unknown option"),
])
def test_bad_config_warns_once_and_is_a_noop(options, problem, caplog):
    with caplog.at_level(logging.WARNING, logger="lynex_sdk"):
        client = lynex_sdk.init(**options)
        lynex_sdk.init(**options)

    @lynex_sdk.observe
    def f():
        return 1

    assert f() == 1
    assert lynex_sdk.log(input="x") is None
    with lynex_sdk.span("s") as s:
        s.set_input("x")
    assert lynex_sdk.flush(0.1) and not client.enabled
    assert caplog.text.count(problem) == 1


def test_config_from_environment(monkeypatch, fake_ingest):
    monkeypatch.setenv("LYNEX_API_KEY", "lx_env")
    monkeypatch.setenv("LYNEX_HOST", fake_ingest.url)
    monkeypatch.setenv("LYNEX_ENVIRONMENT", "staging")
    monkeypatch.setenv("LYNEX_RELEASE", "r9")
    client = lynex_sdk.init(flush_interval=0.05)
    assert client.enabled and client.config.api_key == "lx_env"
    lynex_sdk.log(input="x")
    lynex_sdk.flush(5)
    [span] = fake_ingest.spans
    assert (span["environment"], span["release"]) == ("staging", "r9")
    assert fake_ingest.requests[0]["headers"]["Authorization"] == "Bearer lx_env"


def test_disabled_sdk_and_uninitialised_sdk_record_nothing(fake_ingest):
    @lynex_sdk.observe
    def f(x):
        return x

    assert f(1) == 1  # before init: a pass-through
    lynex_sdk.init(api_key="k", host=fake_ingest.url, enabled=False)
    assert f(2) == 2 and lynex_sdk.log(input="x") is None
    assert lynex_sdk.stats()["enabled"] is False


def test_unserializable_values_become_text(sdk, fake_ingest):
    sdk()

    class Weird:
        def __repr__(self):
            raise RuntimeError("no repr")

    cyclic: List[Any] = []
    cyclic.append(cyclic)
    lynex_sdk.log(input={"obj": Weird(), "bytes": b"\x00\x01", "nan": float("nan"), "set": {1, 2},
                         "deep": cyclic}, output=object())
    lynex_sdk.flush(5)
    [span] = fake_ingest.spans
    assert span["input"]["obj"] == "<Weird>" and span["input"]["bytes"] == "<bytes len=2>"
    assert span["input"]["nan"] == "nan" and span["input"]["set"] == [1, 2]
    assert span["output"].startswith("<object object")


async def test_async_span_context_manager(sdk, fake_ingest):
    sdk()
    async with lynex_sdk.span("outer", kind="chain") as outer:
        async with lynex_sdk.span("inner") as inner:
            await asyncio.sleep(0)
            assert lynex_sdk.current_span() is inner
        assert lynex_sdk.current_span() is outer
    assert lynex_sdk.current_span() is None
    lynex_sdk.flush(5)
    spans = by_name(fake_ingest.spans)
    assert spans["inner"]["parent_id"] == spans["outer"]["id"]


def test_span_ids_are_unique_and_hex(sdk):
    ids = {lynex_sdk.new_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
