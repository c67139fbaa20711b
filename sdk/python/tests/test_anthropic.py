"""wrap_anthropic with the real `anthropic` package against a fake Anthropic server on 127.0.0.1."""

from __future__ import annotations

import pytest

import lynex_sdk
from fake_provider import FakeProvider
from lynex_sdk.integrations.anthropic import MessageStreamAccumulator, message_response, messages_request

anthropic = pytest.importorskip("anthropic")

MESSAGES = [{"role": "user", "content": "hi"}]
USAGE = {"input_tokens": 16, "output_tokens": 6, "total_tokens": 22, "cached_tokens": 4}


@pytest.fixture
def provider():
    server = FakeProvider()
    yield server
    server.close()


@pytest.fixture
def client(provider, sdk):
    sdk()
    return lynex_sdk.wrap_anthropic(anthropic.Anthropic(api_key="sk-test", base_url=provider.anthropic_url,
                                                        max_retries=0))


@pytest.fixture
def aclient(provider, sdk):
    sdk()
    return lynex_sdk.wrap_anthropic(anthropic.AsyncAnthropic(api_key="sk-test", base_url=provider.anthropic_url,
                                                             max_retries=0))


def spans(fake_ingest, count):
    assert lynex_sdk.flush(5)
    assert len(fake_ingest.spans) == count, fake_ingest.spans
    return fake_ingest.spans


def test_messages_create(client, fake_ingest):
    result = client.messages.create(model="claude-test", max_tokens=100, system="be brief", messages=MESSAGES)
    assert isinstance(result, anthropic.types.Message) and result.content[0].text == "Hello world"
    [span] = spans(fake_ingest, 1)
    assert (span["name"], span["provider"], span["model"], span["kind"]) == (
        "anthropic.messages", "anthropic", "claude-test-2024", "llm")
    assert span["input"] == [{"role": "system", "content": "be brief"}, *MESSAGES]
    assert span["output"] == {"role": "assistant", "content": "Hello world"}
    assert span["usage"] == USAGE
    assert span["model_parameters"] == {"max_tokens": 100}
    assert span["metadata"] == {"response_id": "msg_1", "stop_reason": "end_turn"}


def test_tool_use_becomes_tool_calls(client, fake_ingest):
    client.messages.create(model="claude-tools", max_tokens=100, messages=MESSAGES)
    [span] = spans(fake_ingest, 1)
    assert span["output"]["tool_calls"] == [{"id": "toolu_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}]


def test_create_with_stream_true(client, fake_ingest):
    events = list(client.messages.create(model="claude-tools", max_tokens=100, messages=MESSAGES, stream=True))
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    [span] = spans(fake_ingest, 1)
    assert span["output"]["content"] == "Hello world" and span["ttft_ms"] >= 0
    assert span["output"]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert span["usage"] == USAGE and span["metadata"]["stop_reason"] == "tool_use"


def test_messages_stream_helper(client, fake_ingest):
    with client.messages.stream(model="claude-test", max_tokens=100, messages=MESSAGES) as stream:
        assert type(stream).__name__ == "MessageStream"  # the real helper object, not a stand-in
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello world" and final.usage.output_tokens == 6
    [span] = spans(fake_ingest, 1)
    assert span["output"] == {"role": "assistant", "content": "Hello world"}
    assert span["usage"] == USAGE and span["ttft_ms"] >= 0


def test_messages_stream_left_early(client, fake_ingest):
    with client.messages.stream(model="claude-test", max_tokens=100, messages=MESSAGES) as stream:
        for text in stream.text_stream:
            break
    [span] = spans(fake_ingest, 1)
    assert span["output"]["content"] == "Hel" and span["status"] == "ok"


def test_errors_are_raised_unchanged_and_recorded(client, fake_ingest):
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(model="claude-error", max_tokens=10, messages=MESSAGES)
    with pytest.raises(anthropic.RateLimitError):
        with client.messages.stream(model="claude-error", max_tokens=10, messages=MESSAGES):
            pass
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(model="claude-stream-error", max_tokens=10, messages=MESSAGES) as stream:
            stream.until_done()
    first, second, third = spans(fake_ingest, 3)
    assert first["error"]["type"] == second["error"]["type"] == "RateLimitError"
    assert first["metadata"]["status_code"] == 429
    assert third["status"] == "error" and third["output"]["content"] == "Hello world"


async def test_async_client(aclient, fake_ingest):
    result = await aclient.messages.create(model="claude-test", max_tokens=10, messages=MESSAGES)
    assert result.content[0].text == "Hello world"
    stream = await aclient.messages.create(model="claude-test", max_tokens=10, messages=MESSAGES, stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "message_stop"
    async with aclient.messages.stream(model="claude-tools", max_tokens=10, messages=MESSAGES) as s:
        text = "".join([t async for t in s.text_stream])
        final = await s.get_final_message()
    assert text == "Hello world" and final.content[-1].type == "tool_use"
    with pytest.raises(anthropic.RateLimitError):
        await aclient.messages.create(model="claude-error", max_tokens=10, messages=MESSAGES)
    out = spans(fake_ingest, 4)
    assert [s["status"] for s in out] == ["ok", "ok", "ok", "error"]
    assert out[1]["output"]["content"] == "Hello world" and out[1]["usage"] == USAGE
    assert out[2]["output"]["tool_calls"][0]["id"] == "toolu_1"


def test_nested_and_content_free(provider, sdk, fake_ingest):
    sdk(capture_content=False)
    client = lynex_sdk.wrap_anthropic(anthropic.Anthropic(api_key="k", base_url=provider.anthropic_url,
                                                          max_retries=0))

    @lynex_sdk.observe(name="agent", kind="agent")
    def agent():
        with client.messages.stream(model="claude-test", max_tokens=10, messages=MESSAGES) as s:
            return s.get_final_text()

    assert agent() == "Hello world"
    llm, root = spans(fake_ingest, 2)
    assert llm["parent_id"] == root["id"] and llm["usage"] == USAGE
    assert "Hello" not in str(fake_ingest.requests) and "input" not in llm and "output" not in llm


def test_converters_on_plain_dicts():
    req = messages_request({"model": "m", "system": [{"type": "text", "text": "sys"}], "messages": MESSAGES,
                            "temperature": 0.5, "extra_headers": {"x": "y"}})
    assert req["input"][0] == {"role": "system", "content": [{"type": "text", "text": "sys"}]}
    assert req["model_parameters"] == {"temperature": 0.5}
    out = message_response({"content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "a"}],
                            "usage": {"input_tokens": 1, "output_tokens": 2}})
    assert out["output"] == {"role": "assistant", "content": "a"}
    assert out["usage"] == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    acc = MessageStreamAccumulator()
    acc.add({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    assert acc.result()["error"] == {"type": "overloaded_error", "message": "busy"}
