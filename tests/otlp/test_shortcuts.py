"""The converter's shortcuts give exactly what the plain code they skip gives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest

from lynex.ingest.decode import MAX_EPOCH_MS, MIN_EPOCH_MS
from lynex.ingest.otlp.convert import convert_request, id_problem, ms
from lynex.ingest.otlp.messages import from_genai_parts
from lynex.ingest.otlp.records import raw_spans
from lynex.ingest.otlp.wire import JSON, parse_request
from lynex.models import RawSpan

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if "request" in json.loads(p.read_text()))
NS_PER_MS = 1_000_000


class _Body(msgspec.Struct):
    spans: list[RawSpan]


def test_ms_is_round_to_microseconds():
    rng = random.Random(8)
    now = 1_764_000_000_000 * NS_PER_MS
    nanos = [1, 499, 500, 501, 1_500, 2_500, 2**52, 2**53 + 1, 2**63, 2**64 - 1, MIN_EPOCH_MS * NS_PER_MS,
             MAX_EPOCH_MS * NS_PER_MS, now, now + 500, now + 1_500]
    nanos += [now + rng.randrange(10**15) for _ in range(20_000)]  # a quarter are ties as doubles
    nanos += [rng.randrange(1, 2**64) for _ in range(20_000)]
    nanos += [rng.randrange(1, 2**62) // 1000 * 1000 + rng.choice((250, 499, 500, 501, 750)) for _ in range(20_000)]
    assert [ms(n).hex() for n in nanos] == [round(n / 1e6, 3).hex() for n in nanos]
    assert ms(0) is None


def _genai_messages(rng: random.Random) -> list:
    def part():
        return rng.choice([{"type": "text", "content": rng.choice(["hi", "", "é ☃"])}, {"type": "text"},
                           {"type": "text", "content": 7}, {"type": "text", "content": "x", "extra": 1},
                           {"type": "tool_call", "id": "c1", "name": "f", "arguments": {"a": 1}},
                           {"type": "tool_call_response", "id": "c1", "response": {"r": 1}}, "text", None])

    def message():
        item = {}
        if rng.random() < 0.9:
            item["role"] = rng.choice(["user", "assistant", "", None, 7])
        if rng.random() < 0.95:
            item["parts"] = rng.choice([[part()], [part()], [part(), part()], [], None, "text"])
        for key in ("name", "finish_reason"):
            if rng.random() < 0.3:
                item[key] = rng.choice(["x", None, 5])
        return item if rng.random() < 0.95 else rng.choice(["text", 3, None])

    return [message() for _ in range(rng.randrange(4))]


def test_text_only_messages_take_the_typed_decode_to_the_same_result():
    rng = random.Random(8)
    for _ in range(5_000):
        text = json.dumps(_genai_messages(rng), ensure_ascii=rng.random() < 0.5)
        try:
            expected = from_genai_parts(json.loads(text))  # a list: the general code
        except Exception as exc:  # what the mapper would report as the span's mapping error
            expected = repr(exc)
        try:
            got = from_genai_parts(text)
        except Exception as exc:
            got = repr(exc)
        assert got == expected, text
    text = '[{"role": "user", "parts": [{"type": "text", "content": "a"}, {"type": "text", "content": "b"}]}]'
    assert from_genai_parts(text) == [{"role": "user", "content": "ab"}]


@pytest.mark.parametrize("name", CASES)
def test_raw_spans_are_what_the_json_body_decodes_to(name):
    request = parse_request(json.dumps(json.loads((FIXTURES / f"{name}.json").read_text())["request"]).encode(), JSON)
    for resource_spans in request.resource_spans:  # only usable spans are logged
        for scope_spans in resource_spans.scope_spans:
            usable = [span for span in scope_spans.spans if id_problem(span.trace_id, span.span_id) is None]
            del scope_spans.spans[:]
            scope_spans.spans.extend(usable)
    spans = convert_request(request).spans
    expected = msgspec.json.decode(msgspec.json.encode({"spans": spans}), type=_Body).spans
    assert raw_spans([request.SerializeToString()], len(spans)) == expected
