"""Semantic conventions → Lynex span fields: OpenInference, Vercel AI SDK, OTel GenAI (+ OpenLLMetry).

Each mapper reads the span's remaining attributes (``attrs``), pops what it understands and
fills ``span`` only where a field is still empty, so the order in :data:`MAPPERS` is the
priority. What no mapper pops ends up in the span's metadata. The table in docs/otlp.md is
the human-readable form of this module: keep them in step.
"""

from __future__ import annotations

from typing import Any, Callable

from lynex.ingest.otlp import messages as msg
from lynex.ingest.otlp.attrs import Attrs, family
from lynex.ingest.otlp.messages import parse_json

Span = dict[str, Any]

_OPENINFERENCE_KINDS = {
    "LLM": "llm", "TOOL": "tool", "RETRIEVER": "retrieval", "RERANKER": "retrieval", "EMBEDDING": "embedding",
    "AGENT": "agent", "CHAIN": "chain", "GUARDRAIL": "guardrail", "EVALUATOR": "evaluator", "PROMPT": "custom",
}
_GENAI_OPERATIONS = {
    "chat": "llm", "text_completion": "llm", "generate_content": "llm", "completion": "llm",
    "embeddings": "embedding", "embedding": "embedding", "execute_tool": "tool",
    "invoke_agent": "agent", "create_agent": "agent",
}
_TRACELOOP_KINDS = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"}
_GENAI_PARAMS = ("temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "frequency_penalty",
                 "presence_penalty", "stop_sequences", "seed", "choice.count", "n", "reasoning_effort",
                 "repetition_penalty", "structured_output_schema")
_GENAI_PARAM_KEYS = tuple((name, f"gen_ai.request.{name}") for name in _GENAI_PARAMS)
# Usage fields: (Lynex field, attribute key, second key or None), keys in priority order.
_OPENINFERENCE_USAGE = (
    ("input_tokens", "llm.token_count.prompt", None), ("output_tokens", "llm.token_count.completion", None),
    ("total_tokens", "llm.token_count.total", None), ("cached_tokens", "llm.token_count.prompt_details.cache_read", None),
    ("reasoning_tokens", "llm.token_count.completion_details.reasoning", None))
_VERCEL_USAGE = (
    ("input_tokens", "ai.usage.inputTokens", "ai.usage.promptTokens"),
    ("output_tokens", "ai.usage.outputTokens", "ai.usage.completionTokens"),
    ("total_tokens", "ai.usage.totalTokens", None), ("cached_tokens", "ai.usage.cachedInputTokens", None),
    ("reasoning_tokens", "ai.usage.reasoningTokens", None))
_GENAI_USAGE = (
    ("input_tokens", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
    ("output_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
    ("total_tokens", "gen_ai.usage.total_tokens", "llm.usage.total_tokens"),
    ("cached_tokens", "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"),
    ("reasoning_tokens", "gen_ai.usage.reasoning_tokens", "gen_ai.usage.reasoning.output_tokens"))


def put(span: Span, field: str, value: Any) -> None:
    """Set ``span[field]`` unless already set or ``value`` is empty."""
    if value is not None and value != "" and span.get(field) is None:
        span[field] = value


def _first(attrs: Attrs, *keys: str) -> Any:
    """Pop every key (so none lingers in metadata) and return the first present value."""
    found = None
    for key in keys:
        value = attrs.pop(key, None)
        if found is None and value is not None:
            found = value
    return found


def _tokens(value: Any) -> int | None:
    if type(value) is int:  # the usual case, without int()'s conversions
        return value if value >= 0 else None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _usage(span: Span, attrs: Attrs, table: tuple[tuple[str, str, str | None], ...]) -> None:
    """Usage counts from ``table`` = ((field, key, second key or None), …): both keys are popped,
    the first present wins."""
    usage = {}
    pop = attrs.pop
    for name, key, second in table:
        value = pop(key, None)
        if second is not None:
            other = pop(second, None)
            if value is None:
                value = other
        if value is not None:
            if type(value) is int:  # the usual case, without _tokens' conversions
                if value >= 0:
                    usage[name] = value
            elif (number := _tokens(value)) is not None:
                usage[name] = number
    if usage:
        current = span.get("usage")
        if current is None:
            span["usage"] = usage
        else:
            for key, value in usage.items():
                current.setdefault(key, value)


def _params(span: Span, values: dict[str, Any]) -> None:
    if values:
        current = span.setdefault("model_parameters", {})
        for key, value in values.items():
            current.setdefault(key, value)


def _output(messages: list[dict]) -> Any:
    return messages[0] if len(messages) == 1 else messages


def _as_text_or_json(value: Any, mime: Any) -> Any:
    return parse_json(value) if mime == "application/json" or mime is None else value


# -- OpenInference ------------------------------------------------------------------------------
_F_OPENINFERENCE = family(keys=("openinference.span.kind", "llm.model_name", "llm.input_messages.0.message.role",
                                "input.value"))


def openinference(attrs: Attrs, span: Span) -> None:
    if not attrs.mask() & _F_OPENINFERENCE:  # none of the keys that mark an OpenInference span
        return
    kind = attrs.pop("openinference.span.kind", None)
    if kind is None and "llm.model_name" not in attrs and "llm.input_messages.0.message.role" not in attrs \
            and "input.value" not in attrs:
        return
    if isinstance(kind, str):
        put(span, "kind", _OPENINFERENCE_KINDS.get(kind.upper()))
    put(span, "model", _first(attrs, "llm.model_name", "embedding.model_name"))
    put(span, "provider", _first(attrs, "llm.provider", "llm.system"))
    inputs = msg.from_openinference(msg.pop_indexed(attrs, "llm.input_messages."))
    outputs = msg.from_openinference(msg.pop_indexed(attrs, "llm.output_messages."))
    in_value, in_mime = attrs.pop("input.value", None), attrs.pop("input.mime_type", None)
    out_value, out_mime = attrs.pop("output.value", None), attrs.pop("output.mime_type", None)
    # With structured messages, input.value/output.value are the raw request/response: redundant.
    put(span, "input", inputs or _as_text_or_json(in_value, in_mime))
    put(span, "output", _output(outputs) if outputs else _as_text_or_json(out_value, out_mime))
    _usage(span, attrs, _OPENINFERENCE_USAGE)
    params = parse_json(attrs.pop("llm.invocation_parameters", None))
    if isinstance(params, dict):
        _params(span, params)
    tools = [parse_json(t.get("tool.json_schema")) for t in msg.pop_indexed(attrs, "llm.tools.")]
    if tools:
        _params(span, {"tools": tools})
    cost = attrs.pop("llm.cost.total", None)
    if isinstance(cost, (int, float)) and cost >= 0:
        put(span, "cost_usd", float(cost))
    docs = msg.pop_indexed(attrs, "retrieval.documents.")
    if docs:
        put(span, "output", [{k.removeprefix("document."): v for k, v in d.items()} for d in docs])
    embeds = msg.pop_indexed(attrs, "embedding.embeddings.")
    if embeds:  # keep the texts; vectors are large and not what anyone reads
        put(span, "input", [e.get("embedding.text") for e in embeds if "embedding.text" in e] or None)
    extra = parse_json(attrs.pop("metadata", None))
    if isinstance(extra, dict):
        span.setdefault("metadata", {}).update(extra)
    tags = attrs.pop("tag.tags", None)
    if isinstance(tags, list):
        put(span, "tags", [str(t) for t in tags])
    put(span, "session_id", attrs.pop("session.id", None))
    put(span, "user_id", attrs.pop("user.id", None))


# -- Vercel AI SDK ------------------------------------------------------------------------------
def vercel(attrs: Attrs, span: Span) -> None:
    if not attrs.mask() & _F_VERCEL:  # no ai.* key (ai.operationId is one)
        return
    op = attrs.get("ai.operationId") or ""
    attrs.pop("ai.operationId", None)
    if op.endswith((".doGenerate", ".doStream")):
        put(span, "kind", "llm")
    elif op == "ai.toolCall":
        put(span, "kind", "tool")
    elif op.endswith(".doEmbed"):
        put(span, "kind", "embedding")
    elif op:
        put(span, "kind", "chain")  # ai.generateText etc. wrap the model and tool calls below them
    is_call = span.get("kind") in ("llm", "embedding")
    provider = attrs.pop("ai.model.provider", None)
    model = _first(attrs, "ai.response.model", "ai.model.id")
    if is_call:  # on the wrapper spans a model would double-count cost: keep it as metadata
        put(span, "model", model)
        put(span, "provider", provider.split(".", 1)[0] if isinstance(provider, str) else None)
    elif model:
        span.setdefault("metadata", {})["ai.model.id"] = model
    put(span, "input", msg.from_vercel(attrs.pop("ai.prompt.messages", None)) or None)
    put(span, "input", msg.vercel_prompt(attrs.pop("ai.prompt", None)) or None)
    text = _first(attrs, "ai.response.text", "ai.result.text")
    calls = msg.vercel_tool_calls(_first(attrs, "ai.response.toolCalls", "ai.result.toolCalls"))
    obj = _first(attrs, "ai.response.object", "ai.result.object")
    if text is not None or calls or obj is not None:
        message: dict[str, Any] = {"role": "assistant", "content": text if text is not None else
                                   (obj if obj is not None else "")}
        if calls:
            message["tool_calls"] = calls
        put(span, "output", message)
    _usage(span, attrs, _VERCEL_USAGE)
    settings = {k.removeprefix("ai.settings."): attrs.pop(k) for k in [k for k in attrs if k.startswith("ai.settings.")]}
    tools = attrs.pop("ai.prompt.tools", None)
    if isinstance(tools, list):
        settings["tools"] = [parse_json(t) for t in tools]
    choice = attrs.pop("ai.prompt.toolChoice", None)
    if choice is not None:
        settings["tool_choice"] = parse_json(choice)
    _params(span, settings)
    ttft = _first(attrs, "ai.response.msToFirstChunk", "ai.stream.msToFirstChunk")
    if isinstance(ttft, (int, float)) and ttft >= 0:
        put(span, "ttft_ms", float(ttft))
    name = attrs.pop("ai.toolCall.name", None)
    if span.get("kind") == "tool":
        span.setdefault("metadata", {}).update(
            {k: v for k, v in (("tool.name", name), ("tool.call_id", attrs.pop("ai.toolCall.id", None))) if v})
        put(span, "input", parse_json(_first(attrs, "ai.toolCall.args", "ai.toolCall.input")))
        put(span, "output", parse_json(_first(attrs, "ai.toolCall.result", "ai.toolCall.output")))
    if span.get("kind") == "embedding":
        value = _first(attrs, "ai.values", "ai.value")
        put(span, "input", parse_json(value))
        for key in ("ai.embedding", "ai.embeddings"):
            attrs.pop(key, None)
    meta = {k.removeprefix("ai.telemetry.metadata."): attrs.pop(k)
            for k in [k for k in attrs if k.startswith("ai.telemetry.metadata.")]}
    put(span, "session_id", meta.pop("sessionId", None))
    put(span, "user_id", meta.pop("userId", None))
    if meta:
        span.setdefault("metadata", {}).update(meta)


# -- OpenTelemetry GenAI (and OpenLLMetry's llm.* / traceloop.* extras) ---------------------------
def genai(attrs: Attrs, span: Span) -> None:
    # Each block below does nothing without its keys; the family bits skip it in one test.
    mask = attrs.mask()
    if not mask & _F_GENAI:
        return
    pop, get = attrs.pop, span.get  # put() and _first() written out below: this runs for most spans
    if mask & _F_GENAI_KIND:
        op = pop("gen_ai.operation.name", None)
        request_type = pop("llm.request.type", None)
        traceloop_kind = pop("traceloop.span.kind", None)
        kind = _GENAI_OPERATIONS.get(op) or _GENAI_OPERATIONS.get(request_type) or _TRACELOOP_KINDS.get(traceloop_kind)
        if kind is not None and get("kind") is None:  # the tables hold no empty names
            span["kind"] = kind
    if mask & _F_GENAI_PROVIDER:
        provider = pop("gen_ai.provider.name", None)
        system = pop("gen_ai.system", None)
        if provider is None:
            provider = system
        if provider is not None and provider != "" and get("provider") is None:
            span["provider"] = provider
    if mask & _F_GENAI_MODEL:
        response_model = pop("gen_ai.response.model", None)
        request_model = pop("gen_ai.request.model", None)
        model = response_model or request_model
        if model is not None and model != "" and get("model") is None:
            span["model"] = model
        if response_model and request_model and response_model != request_model:
            _params(span, {"model": request_model})
    if mask & _F_GENAI_USAGE:
        _usage(span, attrs, _GENAI_USAGE)
    if mask & _F_GENAI_PARAMS:
        _params(span, {name: attrs.pop(key) for name, key in _GENAI_PARAM_KEYS if key in attrs})
    if mask & _F_GENAI_TOOLS:
        tools = parse_json(attrs.pop("gen_ai.tool.definitions", None))
        functions = msg.pop_indexed(attrs, "llm.request.functions.")
        if functions:
            tools = [{"type": "function", "function": {k: parse_json(v) for k, v in f.items()}} for f in functions]
        if tools:
            _params(span, {"tools": tools})

    if mask & _F_GENAI_MESSAGES:
        inputs = msg.from_genai_parts(pop("gen_ai.input.messages", None)) or []
        instructions = pop("gen_ai.system_instructions", None)
        system = msg.from_system_instructions(instructions) if instructions is not None else None
        if system:
            inputs.insert(0, system)
        inputs = inputs or msg.from_flat_genai(msg.pop_indexed(attrs, "gen_ai.prompt."), "user")
        outputs = msg.from_genai_parts(pop("gen_ai.output.messages", None)) \
            or msg.from_flat_genai(msg.pop_indexed(attrs, "gen_ai.completion."), "assistant")
        if inputs and get("input") is None:  # a non-empty list: what put() checks
            span["input"] = inputs
        if outputs and get("output") is None:
            span["output"] = outputs[0] if len(outputs) == 1 else outputs

    if not mask & _F_GENAI_RARE:
        return
    tool_name = attrs.get("gen_ai.tool.name")
    if tool_name is not None:
        put(span, "kind", "tool")
        put(span, "input", parse_json(attrs.pop("gen_ai.tool.call.arguments", None)))
        put(span, "output", parse_json(attrs.pop("gen_ai.tool.call.result", None)))
    entity_in = parse_json(attrs.pop("traceloop.entity.input", None))
    entity_out = parse_json(attrs.pop("traceloop.entity.output", None))
    put(span, "input", entity_in)
    put(span, "output", entity_out)
    put(span, "session_id", _first(attrs, "gen_ai.conversation.id", "traceloop.association.properties.session_id"))
    put(span, "user_id", attrs.pop("traceloop.association.properties.user_id", None))


_F_GENAI = family(prefixes=("gen_ai.", "llm.", "traceloop."))
_F_GENAI_KIND = family(keys=("gen_ai.operation.name", "llm.request.type", "traceloop.span.kind"))
_F_GENAI_PROVIDER = family(keys=("gen_ai.provider.name", "gen_ai.system"))
_F_GENAI_MODEL = family(keys=("gen_ai.response.model", "gen_ai.request.model"))
_F_GENAI_USAGE = family(prefixes=("gen_ai.usage.",), keys=("llm.usage.total_tokens",))
_F_GENAI_PARAMS = family(keys=tuple(key for _, key in _GENAI_PARAM_KEYS))
_F_GENAI_TOOLS = family(prefixes=("llm.request.functions.",), keys=("gen_ai.tool.definitions",))
_F_GENAI_MESSAGES = family(prefixes=("gen_ai.prompt.", "gen_ai.completion."),
                           keys=("gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.output.messages"))
_F_GENAI_RARE = family(keys=("gen_ai.tool.name", "traceloop.entity.input", "traceloop.entity.output",
                             "gen_ai.conversation.id", "traceloop.association.properties.session_id",
                             "traceloop.association.properties.user_id"))
_F_VERCEL = family(prefixes=("ai.",))
_F_COMMON_WHO = family(keys=("session.id", "langfuse.session.id", "user.id", "enduser.id", "langfuse.user.id"))
_F_COMMON_WHERE = family(keys=("deployment.environment.name", "deployment.environment", "service.version"))


def common(attrs: Attrs, span: Span) -> None:
    """Vendor-neutral keys any instrumentation may set."""
    mask = attrs.mask()
    if mask & _F_COMMON_WHO:  # put() and _first() written out: most spans have a session or a user
        pop = attrs.pop
        session, langfuse_session = pop("session.id", None), pop("langfuse.session.id", None)
        if session is None:
            session = langfuse_session
        if session is not None and session != "" and span.get("session_id") is None:
            span["session_id"] = session
        user, end_user, langfuse_user = pop("user.id", None), pop("enduser.id", None), pop("langfuse.user.id", None)
        if user is None:
            user = langfuse_user if end_user is None else end_user
        if user is not None and user != "" and span.get("user_id") is None:
            span["user_id"] = user
    if mask & _F_COMMON_WHERE:
        put(span, "environment", _first(attrs, "deployment.environment.name", "deployment.environment"))
        put(span, "release", attrs.pop("service.version", None))


# (mapper, family bits): a mapper does nothing for a span with none of its families' keys.
MAPPERS: tuple[tuple[Callable[[Attrs, Span], None], int], ...] = (
    (openinference, _F_OPENINFERENCE), (vercel, _F_VERCEL), (genai, _F_GENAI),
    (common, _F_COMMON_WHO | _F_COMMON_WHERE))


# -- span events carrying content (GenAI event conventions recorded as span events) ---------------
_ROLE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}


def _event_message(role: str, body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": body.get("role") or role, "content": parse_json(body.get("content", ""))}
    calls = body.get("tool_calls")
    if isinstance(calls, list):
        message["tool_calls"] = [
            msg.tool_call(c.get("id"), (c.get("function") or {}).get("name"), (c.get("function") or {}).get("arguments"))
            for c in calls if isinstance(c, dict)]
    if body.get("id") and message["role"] == "tool":
        message["tool_call_id"] = body["id"]
    return message


def content_from_events(events: list[tuple[str, dict[str, Any]]], span: Span) -> list[int]:
    """Fill input/output from content-carrying span events; returns the indexes consumed."""
    inputs: list[dict] = []
    outputs: list[dict] = []
    used = []
    for index, (name, body) in enumerate(events):
        if name in _ROLE_EVENTS:
            inputs.append(_event_message(_ROLE_EVENTS[name], body))
        elif name == "gen_ai.choice":
            message = body.get("message")
            outputs.append(_event_message("assistant", message if isinstance(message, dict) else body))
        elif name == "gen_ai.content.prompt":
            inputs.extend(msg.from_genai_parts(body.get("gen_ai.prompt")) or [])
        elif name == "gen_ai.content.completion":
            outputs.extend(msg.from_genai_parts(body.get("gen_ai.completion")) or [])
        elif "gen_ai.input.messages" in body or "gen_ai.output.messages" in body:
            inputs.extend(msg.from_genai_parts(body.get("gen_ai.input.messages")) or [])
            outputs.extend(msg.from_genai_parts(body.get("gen_ai.output.messages")) or [])
        else:
            continue
        used.append(index)
    put(span, "input", inputs or None)
    put(span, "output", _output(outputs) if outputs else None)
    return used
