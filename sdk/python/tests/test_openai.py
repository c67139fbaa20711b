"""wrap_openai with the real `openai` package against a fake OpenAI server on 127.0.0.1."""

from __future__ import annotations

import pytest

import lynex_sdk
from fake_provider import FakeProvider
from lynex_sdk.integrations.openai import ChatStreamAccumulator, chat_response, responses_request, usage_fields

openai = pytest.importorskip("openai")

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]


@pytest.fixture
def provider():
    server = FakeProvider()
    yield server
    server.close()


@pytest.fixture
def client(provider, sdk):
    sdk()
    return lynex_sdk.wrap_openai(openai.OpenAI(api_key="sk-test", base_url=provider.openai_url, max_retries=0))


@pytest.fixture
def aclient(provider, sdk):
    sdk()
    return lynex_sdk.wrap_openai(openai.AsyncOpenAI(api_key="sk-test", base_url=provider.openai_url, max_retries=0))


def one_span(fake_ingest):
    assert lynex_sdk.flush(5)
    assert len(fake_ingest.spans) == 1, fake_ingest.spans
    return fake_ingest.spans[0]


def test_chat_completion(client, fake_ingest):
    result = client.chat.completions.create(model="gpt-test", messages=MESSAGES, temperature=0.2)
    assert isinstance(result, openai.types.chat.ChatCompletion)
    assert result.choices[0].message.content == "Hello world"
    span = one_span(fake_ingest)
    assert (span["kind"], span["name"], span["provider"], span["model"]) == (
        "llm", "openai.chat.completions", "openai", "gpt-test-2024")
    assert span["input"] == MESSAGES
    assert span["output"] == {"role": "assistant", "content": "Hello world"}
    assert span["usage"] == {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12, "cached_tokens": 2,
                             "reasoning_tokens": 1}
    assert span["model_parameters"] == {"temperature": 0.2}
    assert span["metadata"] == {"response_id": "chatcmpl-1", "finish_reason": "stop"}
    assert span["status"] == "ok" and span["latency_ms"] > 0


def test_chat_tool_calls(client, fake_ingest):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    result = client.chat.completions.create(model="gpt-tools", messages=MESSAGES, tools=tools)
    assert result.choices[0].message.tool_calls[0].function.name == "get_weather"
    span = one_span(fake_ingest)
    assert span["output"]["tool_calls"] == [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}]
    assert span["model_parameters"]["tools"] == tools


def test_chat_stream_passes_chunks_through(client, fake_ingest, provider):
    stream = client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello world"
    assert "stream_options" not in provider.requests[-1]["body"]  # the request is not changed by default
    span = one_span(fake_ingest)
    assert span["output"] == {"role": "assistant", "content": "Hello world"}
    assert span["ttft_ms"] >= 0 and span["latency_ms"] >= span["ttft_ms"]
    assert span["metadata"]["finish_reason"] == "stop" and "usage" not in span


def test_chat_stream_include_usage(provider, sdk, fake_ingest):
    sdk()
    client = lynex_sdk.wrap_openai(openai.OpenAI(api_key="k", base_url=provider.openai_url, max_retries=0),
                                   include_usage=True)
    with client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            pass
    assert provider.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    assert one_span(fake_ingest)["usage"]["total_tokens"] == 12


def test_chat_stream_tool_calls_are_assembled(client, fake_ingest):
    for _ in client.chat.completions.create(model="gpt-tools", messages=MESSAGES, stream=True):
        pass
    span = one_span(fake_ingest)
    assert span["output"]["tool_calls"] == [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city": "Paris"}'}}]


def test_chat_stream_closed_early_is_recorded(client, fake_ingest):
    with client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            if chunk.choices[0].delta.content:
                break
    span = one_span(fake_ingest)
    assert span["output"]["content"] == "Hel" and span["status"] == "ok"


def test_errors_are_raised_unchanged_and_recorded(client, fake_ingest):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-error", messages=MESSAGES)
    assert info.value.status_code == 429
    span = one_span(fake_ingest)
    assert span["status"] == "error" and span["error"]["type"] == "RateLimitError"
    assert "Rate limit reached" in span["error"]["message"] and span["metadata"]["status_code"] == 429


def test_error_in_the_middle_of_a_stream(client, fake_ingest):
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="gpt-stream-error", messages=MESSAGES, stream=True):
            received.append(chunk)
    span = one_span(fake_ingest)
    assert span["status"] == "error" and span["error"]["type"] == "APIError"
    assert span["output"]["content"] == "Hello world" and len(received) == 4


def test_responses_api(client, fake_ingest):
    result = client.responses.create(model="gpt-test", input="hi", instructions="be brief", max_output_tokens=50)
    assert result.output_text == "Hello world"
    span = one_span(fake_ingest)
    assert span["name"] == "openai.responses" and span["model"] == "gpt-test-2024"
    assert span["input"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert span["output"] == {"role": "assistant", "content": "Hello world"}
    assert span["usage"] == {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8, "cached_tokens": 1,
                             "reasoning_tokens": 0}
    assert span["model_parameters"] == {"max_output_tokens": 50}


def test_responses_stream_and_tools(client, fake_ingest):
    events = list(client.responses.create(model="gpt-test", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    for _ in client.responses.create(model="gpt-tools", input="weather?", stream=True):
        pass
    assert lynex_sdk.flush(5)
    text, tools = fake_ingest.spans
    assert text["output"]["content"] == "Hello world" and text["ttft_ms"] >= 0 and text["usage"]["total_tokens"] == 8
    assert tools["output"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}


def test_responses_error(client, fake_ingest):
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="gpt-error", input="hi")
    assert one_span(fake_ingest)["error"]["type"] == "RateLimitError"


async def test_async_client(aclient, fake_ingest):
    result = await aclient.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert isinstance(result, openai.types.chat.ChatCompletion)
    stream = await aclient.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == "Hello world"
    async with await aclient.responses.create(model="gpt-test", input="hi", stream=True) as events:
        async for _ in events:
            pass
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="gpt-error", messages=MESSAGES)
    assert lynex_sdk.flush(5)
    spans = fake_ingest.spans
    assert [s["status"] for s in spans] == ["ok", "ok", "ok", "error"]
    assert spans[1]["output"]["content"] == "Hello world" and spans[1]["ttft_ms"] >= 0
    assert spans[2]["name"] == "openai.responses" and spans[2]["output"]["content"] == "Hello world"


def test_llm_spans_nest_under_observed_functions(client, fake_ingest):
    @lynex_sdk.observe(name="agent", kind="agent")
    def agent():
        return client.chat.completions.create(model="gpt-test", messages=MESSAGES).choices[0].message.content

    assert agent() == "Hello world"
    lynex_sdk.flush(5)
    llm = next(s for s in fake_ingest.spans if s["kind"] == "llm")
    root = next(s for s in fake_ingest.spans if s["name"] == "agent")
    assert llm["parent_id"] == root["id"] and llm["trace_id"] == root["trace_id"]


def test_capture_content_false(provider, sdk, fake_ingest):
    sdk(capture_content=False)
    client = lynex_sdk.wrap_openai(openai.OpenAI(api_key="k", base_url=provider.openai_url, max_retries=0))
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    for _ in client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True):
        pass
    lynex_sdk.flush(5)
    body = str(fake_ingest.requests)
    assert "Hello" not in body and "be brief" not in body
    assert all(s["usage"]["total_tokens"] == 12 for s in fake_ingest.spans[:1])


def test_wrapping_twice_and_disabled_sdk(provider, fake_ingest):
    client = openai.OpenAI(api_key="k", base_url=provider.openai_url, max_retries=0)
    lynex_sdk.wrap_openai(lynex_sdk.wrap_openai(client))
    result = client.chat.completions.create(model="gpt-test", messages=MESSAGES)  # SDK not initialised
    assert result.choices[0].message.content == "Hello world"
    lynex_sdk.init(api_key="k", host=fake_ingest.url)
    client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    lynex_sdk.flush(5)
    assert len(fake_ingest.spans) == 1


# -- pure converters on plain data ------------------------------------------------------------------

def test_converters_on_plain_dicts():
    acc = ChatStreamAccumulator()
    assert not acc.add({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    assert acc.add({"choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "X"}}]})
    acc.add({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
    assert acc.result()["output"] == {"role": "assistant", "content": "a"}
    assert acc.result()["usage"] == {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    two = chat_response({"choices": [{"message": {"role": "assistant", "content": "x"}},
                                     {"message": {"role": "assistant", "content": "y"}}]})
    assert [m["content"] for m in two["output"]] == ["x", "y"]
    assert usage_fields(None) == {}
    assert responses_request({"model": "m", "input": [{"role": "user", "content": "q"}]})["input"] == [
        {"role": "user", "content": "q"}]


def test_stream_proxy_forwards_attributes(client, fake_ingest):
    stream = client.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True)
    assert stream.response.status_code == 200  # attributes of the real Stream are reachable
    stream.close()
    assert one_span(fake_ingest)["output"]["content"] is None
