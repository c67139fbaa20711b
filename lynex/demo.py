"""Demo traffic: 14 days of a realistic LLM app in a project named "demo".

Multi-step agent traces with tool calls, RAG chains, plain chat calls across several models and
providers, errors of every class, sessions and end users, two environments and a release that
shipped five days ago. It goes through the real ingest path (log, enrichment, store), so what a
newcomer sees is exactly what their own traffic will look like.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Iterator

import msgspec

from lynex.errors import NotFound
from lynex.ingest.decode import JSON, decode_batch

if TYPE_CHECKING:
    from lynex.app import Services

log = logging.getLogger(__name__)

DEMO_PROJECT = "demo"
DAYS = 14
TRACES_PER_DAY = 360

QUESTIONS = [
    "How do I reset my password?", "Can I change the billing email on my account?",
    "Why was I charged twice this month?", "Does the Pro plan include SSO?",
    "My export to CSV is stuck at 99%", "How do I invite a teammate?", "Is there an API rate limit?",
    "Can I get an invoice in EUR?", "How do I delete my workspace?", "The mobile app crashes on login",
    "What regions do you host data in?", "Summarise my last three tickets",
    "¿Cómo cambio el idioma de la interfaz?", "如何导出我的数据？", "請求書の宛名を変更できますか？",
]
KB_TITLES = ["Resetting your password", "Billing and invoices", "Plans and features", "Exports",
             "Team management", "API limits", "Data residency", "Deleting a workspace"]
ERRORS = [
    ("rate_limit", "RateLimitError", "Error code: 429 - Rate limit reached for requests"),
    ("timeout", "APITimeoutError", "Request timed out."),
    ("context_length", "BadRequestError",
     "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens."),
    ("auth", "AuthenticationError", "Error code: 401 - Incorrect API key provided"),
    ("content_filter", "BadRequestError", "The response was filtered due to the prompt triggering the content_filter"),
    ("server", "InternalServerError", "Error code: 500 - The server had an error while processing your request"),
    ("invalid_request", "BadRequestError", "Invalid value for 'temperature': must be between 0 and 2"),
    ("other", "ToolExecutionError", "search_kb returned malformed JSON"),
]
CHAT_MODELS = [("gpt-4o-mini", "openai", 0.45), ("claude-3-5-haiku-20241022", "anthropic", 0.2),
               ("gemini-2.0-flash", "google", 0.15), ("mistral-small-latest", "mistral", 0.08),
               ("llama-3.3-70b-versatile", "meta", 0.07), ("deepseek-chat", "deepseek", 0.05)]


class _Traffic:
    """Generates span dicts; all randomness from one seeded RNG so the demo is reproducible."""

    def __init__(self, now_ms: int, seed: int = 42):
        self.rng = random.Random(seed)
        self.now_ms = now_ms
        self.users = [f"user-{i:03d}" for i in range(80)]
        self.release_cut_ms = now_ms - 5 * 86_400_000

    def _id(self) -> str:
        return uuid.UUID(int=self.rng.getrandbits(128)).hex[:16]

    def _release(self, at_ms: int) -> str:
        return "v1.4.0" if at_ms >= self.release_cut_ms else "v1.3.2"

    def _maybe_error(self, rate: float) -> tuple[str, str, str] | None:
        return self.rng.choice(ERRORS) if self.rng.random() < rate else None

    def _llm(self, trace, parent, start, model, provider, messages, answer, env, user, session, *,
             tools=None, error_rate=0.03, name="chat.completions"):
        rng = self.rng
        in_tok = sum(len(str(m.get("content") or "")) for m in messages) // 4 + rng.randint(40, 400)
        out_tok = max(8, len(answer) // 4 + rng.randint(-5, 60))
        release = self._release(start)
        slow = 1.35 if release == "v1.4.0" and provider == "openai" else 1.0  # the regression to find
        latency = (rng.lognormvariate(6.4, 0.45) + out_tok * rng.uniform(8, 14)) * slow
        err = self._maybe_error(error_rate)
        span = {
            "id": self._id(), "trace_id": trace, "parent_id": parent, "session_id": session, "user_id": user,
            "name": name, "kind": "llm", "start_time": start, "latency_ms": round(latency, 1),
            "ttft_ms": round(latency * rng.uniform(0.15, 0.35), 1), "model": model, "provider": provider,
            "input": messages, "environment": env, "release": release,
            "model_parameters": {"temperature": 0.2, "max_tokens": 1024},
            "metadata": {"feature": "support-bot", "region": rng.choice(["eu-west-1", "us-east-1"])},
            "tags": ["support"] + (["vip"] if user.endswith("7") else []),
            "prompt_name": "support-answer", "prompt_version": 3 if release == "v1.4.0" else 2,
        }
        if err:
            span.update(status="error", error={"type": err[1], "message": err[2]}, latency_ms=round(latency * 0.3, 1),
                        ttft_ms=None)
            if err[0] in ("rate_limit", "auth", "invalid_request", "context_length"):
                span["usage"] = {"input_tokens": 0, "output_tokens": 0}
        else:
            message = {"role": "assistant", "content": answer}
            if tools:
                message = {"role": "assistant", "content": None, "tool_calls": tools}
            cached = rng.choice([0, 0, in_tok // 2])
            span.update(output=message, usage={"input_tokens": in_tok, "output_tokens": out_tok,
                                               "cached_tokens": cached})
        return span

    def agent_trace(self, start: int, env: str, user: str, session: str) -> list[dict]:
        rng = self.rng
        trace = self._id()
        question = rng.choice(QUESTIONS)
        root = {"id": trace, "trace_id": trace, "name": "support-agent", "kind": "agent", "start_time": start,
                "session_id": session, "user_id": user, "environment": env, "release": self._release(start),
                "input": question, "metadata": {"channel": rng.choice(["web", "email", "slack"])}}
        spans = [root]
        system = {"role": "system", "content": "You are Acme's support agent. Use search_kb before answering."}
        messages = [system, {"role": "user", "content": question}]
        t = start + rng.randint(5, 40)
        call_id = "call_" + self._id()[:12]
        tool_call = [{"id": call_id, "type": "function",
                      "function": {"name": "search_kb", "arguments": msgspec.json.encode({"query": question}).decode()}}]
        plan = self._llm(trace, trace, t, "gpt-4o-mini", "openai", messages, "", env, user, session,
                         tools=tool_call, name="plan")
        spans.append(plan)
        t += int(plan["latency_ms"]) + 3
        if plan.get("status") == "error":
            root.update(status="error", error=plan["error"], latency_ms=t - start, output=None)
            return spans
        hits = rng.sample(KB_TITLES, 3)
        tool_err = self._maybe_error(0.02)
        tool = {"id": self._id(), "trace_id": trace, "parent_id": trace, "name": "search_kb", "kind": "tool",
                "start_time": t, "latency_ms": round(rng.uniform(20, 180), 1), "input": {"query": question},
                "output": [{"title": h, "score": round(rng.uniform(0.6, 0.95), 3)} for h in hits],
                "session_id": session, "user_id": user, "environment": env, "release": self._release(start)}
        if tool_err:
            tool.update(status="error", error={"type": "ToolExecutionError", "message": "search_kb returned malformed JSON"},
                        output=None)
        spans.append(tool)
        t += int(tool["latency_ms"]) + 2
        answer = f"Here is what I found in '{hits[0]}': follow the steps in Settings → {hits[0].split()[0]}."
        messages = messages + [plan.get("output") or {}, {"role": "tool", "tool_call_id": call_id,
                                                          "content": msgspec.json.encode(tool.get("output")).decode()}]
        final = self._llm(trace, trace, t, "gpt-4o", "openai", messages, answer, env, user, session, name="answer")
        spans.append(final)
        t += int(final["latency_ms"]) + 2
        root["latency_ms"] = t - start
        root["output"] = final.get("output", {}).get("content") if final.get("status") != "error" else None
        if final.get("status") == "error":
            root.update(status="error", error=final["error"])
        return spans

    def rag_trace(self, start: int, env: str, user: str, session: str) -> list[dict]:
        rng = self.rng
        trace = self._id()
        question = rng.choice(QUESTIONS)
        root = {"id": trace, "trace_id": trace, "name": "answer-with-docs", "kind": "chain", "start_time": start,
                "session_id": session, "user_id": user, "environment": env, "release": self._release(start),
                "input": question}
        t = start + 2
        emb = {"id": self._id(), "trace_id": trace, "parent_id": trace, "name": "embed-query", "kind": "embedding",
               "model": "text-embedding-3-small", "provider": "openai", "start_time": t,
               "latency_ms": round(rng.uniform(30, 90), 1), "input": question,
               "usage": {"input_tokens": len(question) // 4 + 1, "output_tokens": 0},
               "environment": env, "release": self._release(start)}
        t += int(emb["latency_ms"])
        docs = rng.sample(KB_TITLES, 4)
        retrieval = {"id": self._id(), "trace_id": trace, "parent_id": trace, "name": "vector-search",
                     "kind": "retrieval", "start_time": t, "latency_ms": round(rng.uniform(8, 60), 1),
                     "input": {"top_k": 4}, "output": [{"doc": d} for d in docs],
                     "environment": env, "release": self._release(start)}
        t += int(retrieval["latency_ms"])
        context = "\n\n".join(f"# {d}\n" + " ".join(rng.choice(QUESTIONS) for _ in range(6)) for d in docs)
        messages = [{"role": "system", "content": "Answer only from the context.\n\n" + context},
                    {"role": "user", "content": question}]
        model, provider = rng.choice([("claude-3-5-sonnet-20241022", "anthropic"), ("gemini-2.5-flash", "google")])
        llm = self._llm(trace, trace, t, model, provider, messages, f"According to '{docs[0]}', yes.", env, user,
                        session, error_rate=0.04)
        t += int(llm["latency_ms"])
        root["latency_ms"] = t - start
        if llm.get("status") == "error":
            root.update(status="error", error=llm["error"])
        else:
            root["output"] = llm["output"]["content"]
        return [root, emb, retrieval, llm]

    def chat_trace(self, start: int, env: str, user: str, session: str) -> list[dict]:
        rng = self.rng
        model, provider, _ = rng.choices(CHAT_MODELS, weights=[w for _, _, w in CHAT_MODELS])[0]
        question = rng.choice(QUESTIONS)
        trace = self._id()
        span = self._llm(trace, None, start, model, provider, [{"role": "user", "content": question}],
                         "Sure — " + question.lower().rstrip("?") + " is covered in our docs.", env, user, session,
                         error_rate=0.05)
        span["id"] = trace
        if rng.random() < 0.3:
            span.pop("usage", None)  # clients that send no usage: Lynex estimates and flags it
        return [span]

    def spans(self) -> Iterator[dict]:
        rng = self.rng
        start_ms = self.now_ms - DAYS * 86_400_000
        for day in range(DAYS):
            for _ in range(TRACES_PER_DAY):
                # Diurnal shape: most traffic in working hours (UTC 7–19).
                hour = rng.choices(range(24), weights=[2, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 10, 9, 10, 10, 10, 9,
                                                       8, 7, 5, 4, 3, 3, 2])[0]
                at = start_ms + day * 86_400_000 + hour * 3_600_000 + rng.randint(0, 3_599_999)
                if at >= self.now_ms:
                    continue
                user = rng.choice(self.users)
                session = f"sess-{user[-3:]}-{day}-{hour // 4}"
                env = "prod" if rng.random() < 0.85 else "staging"
                kind = rng.random()
                if kind < 0.45:
                    yield from self.agent_trace(at, env, user, session)
                elif kind < 0.7:
                    yield from self.rag_trace(at, env, user, session)
                else:
                    yield from self.chat_trace(at, env, user, session)


async def seed_demo(services: "Services") -> str | None:
    """Create and fill the demo project unless it already exists; returns a notice or None."""
    meta = services.meta
    try:
        meta.project(DEMO_PROJECT)
        return None
    except NotFound:
        pass
    project = meta.create_project(DEMO_PROJECT)
    _, secret = meta.create_key(project.id, "demo", ("ingest", "read"))
    traffic = _Traffic(now_ms=int(time.time() * 1000))
    batch: list[dict] = []
    total = 0
    for span in traffic.spans():
        batch.append({k: v for k, v in span.items() if v is not None})
        if len(batch) == 1000:
            total += await _ingest(services, project.id, batch)
            batch = []
    if batch:
        total += await _ingest(services, project.id, batch)
    while not services.pipeline.caught_up():
        await asyncio.sleep(0.05)
    log.info("demo project seeded with %d spans", total)
    return (f"Demo project '{DEMO_PROJECT}' seeded with {total:,} spans over {DAYS} days; "
            f"its API key (shown once): {secret}")


async def _ingest(services: "Services", project_id: str, spans: list[dict]) -> int:
    batch = decode_batch(msgspec.json.encode({"spans": spans}), JSON, len(spans))
    if batch.rejected:  # a generator bug, not user input: say so loudly
        raise RuntimeError(f"demo generator produced invalid spans: {batch.rejected[:3]}")
    result = await services.pipeline.ingest(project_id, batch)
    return result.accepted
