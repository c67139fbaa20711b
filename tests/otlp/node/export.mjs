// Sends one nested trace (HTTP handler → agent → LLM call) to Lynex with the official
// JavaScript OTLP/HTTP exporter (JSON encoding), then prints {"trace_id": …}.
// Usage: LYNEX_OTLP_URL=http://127.0.0.1:PORT/v1/traces LYNEX_API_KEY=lx_… node export.mjs
import { context, trace, SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { SimpleSpanProcessor, StackContextManager, TracerProvider } from "@opentelemetry/sdk-trace";

const exporter = new OTLPTraceExporter({
  url: process.env.LYNEX_OTLP_URL,
  headers: { "x-lynex-api-key": process.env.LYNEX_API_KEY },
});
const provider = new TracerProvider({
  resource: resourceFromAttributes({ "service.name": "node-web", "deployment.environment.name": "ci", "service.version": "3.2.1" }),
  spanProcessors: [new SimpleSpanProcessor({ exporter })],
});
context.setGlobalContextManager(new StackContextManager().enable());
const tracer = provider.getTracer("lynex-node-test");

let traceId;
tracer.startActiveSpan("POST /chat", { kind: SpanKind.SERVER, attributes: { "http.request.method": "POST" } }, (root) => {
  traceId = root.spanContext().traceId;
  tracer.startActiveSpan("agent", { attributes: { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper" } }, (agent) => {
    const llm = tracer.startSpan("chat gpt-4o-mini", {
      kind: SpanKind.CLIENT,
      attributes: {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.input.messages": JSON.stringify([{ role: "user", parts: [{ type: "text", content: "Hi from Node" }] }]),
        "gen_ai.output.messages": JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: "Hello, Node!" }], finish_reason: "stop" }]),
        "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 4,
      },
    });
    llm.end();
    agent.setStatus({ code: SpanStatusCode.ERROR, message: "agent gave up" });
    agent.recordException(new TypeError("bad tool output"));
    agent.end();
  });
  root.end();
});
await provider.forceFlush();
await provider.shutdown();
console.log(JSON.stringify({ trace_id: traceId }));
