"""A seeded corpus of OTLP spans that mixes every convention's attributes, with awkward values.

The hand-written fixtures show one convention at a time; real traffic (and a fast converter's
shortcuts) meet mixtures: two conventions on one span, empty strings, numbers where text is
expected, unset values, huge attribute counts. ``tests/otlp/fixtures/mixed_corpus.json`` is
this corpus with the converter's output as the golden answer. Regenerate it with

    python -m tests.otlp.corpus && LYNEX_UPDATE_GOLDEN=1 python -m pytest tests/otlp/test_golden.py

and review the diff of ``expected`` (only intended mapping changes may show up there).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
SPANS = 120
SEED = 20251126


def _attributes_of_fixtures() -> list[dict]:
    """Every span attribute the convention fixtures carry (key + OTLP JSON value)."""
    pool = []
    for path in sorted(FIXTURES.glob("*.json")):
        if path.stem == "mixed_corpus":
            continue
        doc = json.loads(path.read_text())
        for resource in doc.get("request", {}).get("resourceSpans", []):
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    pool.extend(span.get("attributes", []))
    return pool


def _events_of_fixtures() -> list[dict]:
    doc = json.loads((FIXTURES / "genai_events.json").read_text())
    return doc["request"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"]


def _odd_values(key: str) -> list[dict]:
    """Values that test each mapper's edge handling for ``key``."""
    return [{"stringValue": ""}, {"stringValue": "12"}, {"intValue": "-3"}, {"intValue": "7"}, {"doubleValue": 0.5},
            {"boolValue": True}, {}, {"stringValue": "{\"a\": [1, 2]}"}, {"stringValue": "[\"x\", {\"type\": \"text\"}]"},
            {"stringValue": "[{\"role\": \"user\", \"parts\": [{\"type\": \"text\", \"content\": \"hi\"}]}]"},
            {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}},
            {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}},
            {"bytesValue": "AAEC"}, {"stringValue": "x" * 300}]


_EXTRA_KEYS = [
    "session.id", "user.id", "enduser.id", "langfuse.session.id", "langfuse.user.id", "deployment.environment",
    "deployment.environment.name", "service.version", "gen_ai.conversation.id", "gen_ai.response.model",
    "gen_ai.usage.total_tokens", "gen_ai.usage.prompt_tokens", "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.reasoning_tokens", "llm.usage.total_tokens", "gen_ai.request.seed", "gen_ai.request.temperature",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.tool.name", "traceloop.span.kind",
    "traceloop.entity.input", "traceloop.entity.output", "traceloop.association.properties.session_id",
    "traceloop.association.properties.user_id", "llm.request.functions.0.name", "llm.request.functions.0.parameters",
    "gen_ai.prompt.0.role", "gen_ai.prompt.0.content", "gen_ai.prompt.1.tool_calls.0.name",
    "gen_ai.completion.0.function_call.name", "gen_ai.completion.0.function_call.arguments",
    "openinference.span.kind", "llm.model_name", "embedding.model_name", "llm.token_count.prompt",
    "llm.token_count.total", "llm.cost.total", "llm.invocation_parameters", "llm.tools.0.tool.json_schema",
    "retrieval.documents.1.document.content", "embedding.embeddings.0.embedding.text", "metadata", "tag.tags",
    "input.value", "input.mime_type", "output.value", "output.mime_type", "ai.operationId", "ai.model.id",
    "ai.model.provider", "ai.response.text", "ai.response.object", "ai.result.toolCalls", "ai.usage.totalTokens",
    "ai.settings.maxTokens", "ai.prompt.tools", "ai.prompt.toolChoice", "ai.stream.msToFirstChunk",
    "ai.toolCall.name", "ai.toolCall.input", "ai.toolCall.output", "ai.values", "ai.embeddings",
    "ai.telemetry.metadata.sessionId", "ai.telemetry.metadata.tier", "error.type", "http.route", "custom.key",
]
_OPERATIONS = ["chat", "embeddings", "execute_tool", "invoke_agent", "text_completion", "unknown-op"]
_AI_OPERATIONS = ["ai.generateText.doGenerate", "ai.streamText.doStream", "ai.toolCall", "ai.embed.doEmbed",
                  "ai.generateText", ""]
_OI_KINDS = ["LLM", "TOOL", "RETRIEVER", "EMBEDDING", "AGENT", "chain", "PROMPT", "weird"]


def _value(rng: random.Random, key: str, pool: list[dict]) -> dict:
    same_key = [a["value"] for a in pool if a["key"] == key]
    if key == "gen_ai.operation.name":
        return {"stringValue": rng.choice(_OPERATIONS)}
    if key == "ai.operationId":
        return {"stringValue": rng.choice(_AI_OPERATIONS)}
    if key == "openinference.span.kind":
        return {"stringValue": rng.choice(_OI_KINDS)}
    if same_key and rng.random() < 0.6:
        return rng.choice(same_key)
    return rng.choice(_odd_values(key))


def _span(rng: random.Random, index: int, pool: list[dict], events: list[dict]) -> dict:
    keys = sorted({a["key"] for a in pool} | set(_EXTRA_KEYS))
    chosen = rng.sample(keys, rng.choice([0, 2, 5, 9, 14, 22]))
    # Whole fixture spans' attribute sets, shuffled together: conventions meeting on one span.
    attributes = [{"key": key, "value": _value(rng, key, pool)} for key in chosen]
    if rng.random() < 0.04:
        attributes += [{"key": f"bulk.{n}", "value": {"intValue": str(n)}} for n in range(140)]
    if rng.random() < 0.1 and attributes:
        attributes.append(dict(attributes[0]))  # a repeated key: the later value wins
    trace = f"{rng.getrandbits(128):032x}"
    span_id = f"{rng.getrandbits(64):016x}" if rng.random() > 0.03 else "0000000000000000"
    start = 1_764_000_000_000_000_000 + index * 1_000_000_000
    span = {"traceId": trace, "spanId": span_id, "name": rng.choice(["chat", "", "tool x", "chat", "n" * 1100]),
            "kind": rng.randrange(6), "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + rng.choice([0, 5_000_000, 1_234_567_891])),
            "attributes": attributes}
    if rng.random() < 0.3:
        span["parentSpanId"] = f"{rng.getrandbits(64):016x}"
    if rng.random() < 0.3:
        span["events"] = rng.sample(events, rng.randrange(1, len(events) + 1))
    if rng.random() < 0.25:
        span["status"] = {"code": 2, "message": rng.choice(["", "boom"])}
    if rng.random() < 0.1:
        span["links"] = [{"traceId": trace, "spanId": f"{rng.getrandbits(64):016x}"}]
    if rng.random() < 0.05:
        span["droppedAttributesCount"] = 3
        span["droppedEventsCount"] = 2
    return span


def build_request() -> dict:
    """The corpus as one OTLP JSON request: two resources, three scopes."""
    rng = random.Random(SEED)
    pool, events = _attributes_of_fixtures(), _events_of_fixtures()
    spans = [_span(rng, i, pool, events) for i in range(SPANS)]
    resources = [
        {"attributes": [{"key": "service.name", "value": {"stringValue": "corpus"}},
                        {"key": "deployment.environment", "value": {"stringValue": "staging"}},
                        {"key": "service.version", "value": {"stringValue": "9.9.9"}},
                        {"key": "host.name", "value": {"stringValue": "box-1"}}]},
        {"attributes": [{"key": f"r.{n}", "value": {"intValue": str(n)}} for n in range(40)]},
    ]
    third = SPANS // 3
    return {"resourceSpans": [
        {"resource": resources[0], "scopeSpans": [{"scope": {"name": "corpus-a"}, "spans": spans[:third]},
                                                  {"scope": {}, "spans": spans[third:2 * third]}]},
        {"resource": resources[1], "scopeSpans": [{"scope": {"name": "corpus-b"}, "spans": spans[2 * third:]}]},
    ]}


if __name__ == "__main__":
    path = FIXTURES / "mixed_corpus.json"
    path.write_text(json.dumps({"request": build_request(), "expected": None}, indent=1) + "\n")
    print(f"wrote {path}; now fill in expected with LYNEX_UPDATE_GOLDEN=1")
