"""Real clients against `lynex serve` (a process, with --otlp-port): the OTel Python SDK exporter,
OpenLLMetry and OpenInference instrumenting the real `openai` client (pointed at a fake provider),
the Langfuse SDK v2, and the JavaScript OTLP exporter from Node.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.helpers import ServerProcess, free_port, wait_for

pytestmark = pytest.mark.slow
NODE_DIR = Path(__file__).parent / "node"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One `lynex serve --otlp-port` for the module, with a project: (server, api key, otlp url)."""
    otlp_port = free_port()
    srv = ServerProcess(data_dir=tmp_path_factory.mktemp("otlp") / "data",
                        extra_args=("--otlp-port", str(otlp_port))).start()
    key = srv.create_project("otlp-clients")["api_key"]
    yield srv, key, f"http://127.0.0.1:{otlp_port}/v1/traces"
    srv.stop()


def get_trace(srv: ServerProcess, key: str, trace_id: str, spans: int) -> dict:
    with srv.client(key) as client:
        return wait_for(lambda: (r := client.get(f"/v1/traces/{trace_id}")).status_code == 200
                        and r.json()["span_count"] >= spans and r.json(), timeout=20)


def walk(nodes: list[dict]):
    for node in nodes:
        yield node
        yield from walk(node["children"])


def test_sdk_protobuf_exporter_nested_and_distributed_spans_stitch(server):
    """Two services (two providers, context propagated in headers) → one Lynex trace tree."""
    srv, key, otlp_url = server
    front = TracerProvider(resource=Resource.create({"service.name": "frontend", "service.version": "1.4.0",
                                                     "deployment.environment": "staging"}))
    front.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=srv.url + "/v1/traces", headers={"Authorization": f"Bearer {key}"})))
    back = TracerProvider(resource=Resource.create({"service.name": "retriever"}))
    back.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(  # the second listener, other header
        endpoint=otlp_url, headers={"x-lynex-api-key": key}, compression=None)))
    tracer, tracer2 = front.get_tracer("web"), back.get_tracer("svc")
    with tracer.start_as_current_span("GET /answer", kind=otel_trace.SpanKind.SERVER) as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("agent"):
            headers: dict[str, str] = {}
            inject(headers)  # what an HTTP client instrumentation does
        with tracer2.start_as_current_span("search docs", context=extract(headers), kind=otel_trace.SpanKind.SERVER):
            with tracer2.start_as_current_span("embed query") as inner:
                inner.set_attribute("db.system", "qdrant")
    front.shutdown(), back.shutdown()

    tree = get_trace(srv, key, trace_id, 4)
    assert tree["span_count"] == 4 and len(tree["roots"]) == 1
    root = tree["roots"][0]
    assert root["name"] == "GET /answer" and root["environment"] == "staging" and root["release"] == "1.4.0"
    agent = root["children"][0]
    assert agent["name"] == "agent"
    search = agent["children"][0]
    assert search["name"] == "search docs" and search["metadata"]["service.name"] == "retriever"
    assert search["children"][0]["metadata"]["db.system"] == "qdrant"
    assert all(span["kind"] == "custom" for span in walk(tree["roots"]))


def test_sdk_spans_as_otlp_json(server):
    """The SDK's own OTLP encoder, sent in the OTLP JSON encoding (hex ids, int64 as strings).

    opentelemetry-exporter-otlp-json-http exists only at versions that conflict with the pinned
    protobuf exporter; the Node exporter below is the real JSON client.
    """
    srv, key, _ = server
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "json-client"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("json")
    with tracer.start_as_current_span("outer") as outer:
        trace_id = format(outer.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("inner") as inner:
            inner.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            inner.set_attribute("gen_ai.prompt.0.content", "hello json")
    doc = json_format.MessageToDict(encode_spans(memory.get_finished_spans()))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in span:
                        span[field] = base64.b64decode(span[field]).hex()
    r = httpx.post(srv.url + "/v1/traces", content=json.dumps(doc),
                   headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json() == {}
    tree = get_trace(srv, key, trace_id, 2)
    inner = tree["roots"][0]["children"][0]
    assert inner["model"] == "gpt-4o-mini" and inner["kind"] == "llm"
    assert inner["input"] == [{"role": "user", "content": "hello json"}]


# -- a fake OpenAI provider for the instrumentations --------------------------------------------------
class _FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_764_000_000,
            "model": request["model"] + "-2024-07-18",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Paris is sunny today."}}],
            "usage": {"prompt_tokens": 25, "completion_tokens": 7, "total_tokens": 32},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake_openai():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def _call_openai(instrumentor, server, fake_openai, service: str) -> dict:
    import openai

    srv, key, otlp_url = server
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(
        endpoint=otlp_url, headers={"Authorization": f"Bearer {key}"})))
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=fake_openai, api_key="sk-test", max_retries=0)
        with provider.get_tracer("app").start_as_current_span("handle question") as root:
            trace_id = format(root.get_span_context().trace_id, "032x")
            answer = client.chat.completions.create(
                model="gpt-4o-mini", temperature=0.2,
                messages=[{"role": "system", "content": "You are a weather bot."},
                          {"role": "user", "content": "Weather in Paris?"}])
        assert answer.choices[0].message.content == "Paris is sunny today."
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    tree = get_trace(srv, key, trace_id, 2)
    llm = [s for s in walk(tree["roots"]) if s["kind"] == "llm"]
    assert len(llm) == 1, [(s["name"], s["kind"]) for s in walk(tree["roots"])]
    return llm[0]


def _assert_llm_span(span: dict) -> None:
    assert span["model"] == "gpt-4o-mini-2024-07-18"
    assert span["provider"] == "openai"
    assert span["input"][0] == {"role": "system", "content": "You are a weather bot."}
    assert span["input"][1] == {"role": "user", "content": "Weather in Paris?"}
    output = span["output"] if isinstance(span["output"], dict) else span["output"][0]
    assert output["content"] == "Paris is sunny today."
    assert span["usage"]["input_tokens"] == 25 and span["usage"]["output_tokens"] == 7
    # gpt-4o-mini: $0.15 / $0.60 per 1M tokens
    assert span["cost_usd"] == pytest.approx(25 * 0.15e-6 + 7 * 0.6e-6)
    assert "cost_computed" in span["flags"]
    assert span["model_parameters"]["temperature"] == 0.2


def test_openllmetry_openai_instrumentation(server, fake_openai):
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    span = _call_openai(OpenAIInstrumentor(), server, fake_openai, "openllmetry-app")
    _assert_llm_span(span)
    assert span["metadata"]["otel"]["scope"].startswith("opentelemetry.instrumentation.openai")


def test_openinference_openai_instrumentation(server, fake_openai):
    from openinference.instrumentation.openai import OpenAIInstrumentor

    span = _call_openai(OpenAIInstrumentor(), server, fake_openai, "openinference-app")
    _assert_llm_span(span)
    assert span["metadata"]["otel"]["scope"].startswith("openinference.instrumentation.openai")


def test_langfuse_sdk_v2_against_the_compatibility_endpoint(server):
    from langfuse import Langfuse

    srv, key, _ = server
    key_id = key.split("_")[1]
    langfuse = Langfuse(public_key=f"pk-lx-{key_id}", secret_key=key, host=srv.url, flush_interval=0.1)
    assert langfuse.auth_check()
    trace = langfuse.trace(name="support-chat", user_id="user-1", session_id="sess-1", input={"q": "refund?"},
                           tags=["support"], release="r7")
    generation = trace.generation(name="answer", model="gpt-4o-mini", input=[{"role": "user", "content": "refund?"}],
                                  model_parameters={"temperature": 0.1})
    generation.end(output={"role": "assistant", "content": "Sure."}, usage={"input": 20, "output": 4})
    trace.span(name="lookup", input="order 42").end(output={"status": "shipped"})
    trace.event(name="cache-miss")
    trace.score(name="helpfulness", value=0.8)
    langfuse.flush()
    slow = trace.generation(name="slow answer", model="gpt-4o-mini", input="long question")
    langfuse.flush()  # the create is stored before its update arrives: the update becomes a patch span
    slow.end(output="long answer", usage={"input": 9, "output": 3})
    langfuse.flush()
    langfuse.shutdown()

    tree = get_trace(srv, key, trace.id, 7)
    root = tree["roots"][0]
    assert root["id"] == trace.id and root["name"] == "support-chat" and root["user_id"] == "user-1"
    by_name = {s["name"]: s for s in walk(tree["roots"])}
    answer = by_name["answer"]
    assert answer["kind"] == "llm" and answer["session_id"] == "sess-1"
    assert answer["output"] == {"role": "assistant", "content": "Sure."}
    assert answer["usage"]["input_tokens"] == 20 and answer["cost_usd"] > 0
    assert by_name["lookup"]["output"] == {"status": "shipped"}
    assert by_name["score: helpfulness"]["kind"] == "evaluator" and by_name["score: helpfulness"]["output"] == 0.8
    assert "cache-miss" in by_name
    patch = next(s for s in walk(tree["roots"]) if s["metadata"] and "langfuse" in s["metadata"])
    assert patch["parent_id"] == slow.id and patch["output"] == "long answer"
    assert patch["metadata"]["usage"] == {"input_tokens": 9, "output_tokens": 3}


@pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None,
                    reason="node/npm not installed: the JavaScript OTLP exporter test needs them")
def test_javascript_otlp_exporter_from_node(server):
    srv, key, otlp_url = server
    stamp = NODE_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300,
                       capture_output=True)
    started = time.monotonic()
    out = subprocess.run(["node", "export.mjs"], cwd=NODE_DIR, capture_output=True, text=True, timeout=60,
                         env={"PATH": subprocess.os.environ["PATH"], "LYNEX_OTLP_URL": otlp_url, "LYNEX_API_KEY": key})
    assert out.returncode == 0, out.stderr
    trace_id = json.loads(out.stdout.strip().splitlines()[-1])["trace_id"]
    tree = get_trace(srv, key, trace_id, 3)
    root = tree["roots"][0]
    assert root["name"] == "POST /chat" and root["environment"] == "ci" and root["release"] == "3.2.1"
    agent = root["children"][0]
    assert agent["kind"] == "agent" and agent["status"] == "error"
    assert agent["error"]["type"] == "TypeError" and agent["error"]["message"] == "bad tool output"
    llm = agent["children"][0]
    assert llm["kind"] == "llm" and llm["model"] == "gpt-4o-mini" and llm["provider"] == "openai"
    assert llm["input"] == [{"role": "user", "content": "Hi from Node"}]
    assert llm["output"]["content"] == "Hello, Node!" and llm["usage"]["input_tokens"] == 11
    assert time.monotonic() - started < 60
