// Integration against the real `lynex serve` (LYNEX_PYTHON, default python3): spans from log,
// observe (nested, async, concurrent) and wrapOpenAI arrive with the right links and content, and a
// server that goes down and comes back loses nothing within the queue bound and duplicates nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import * as lynex from '../dist/esm/index.js';
import { startProvider } from './helpers/fake-provider.mjs';
import { LynexServer, unavailableReason } from './helpers/lynex-server.mjs';
import { waitFor } from './helpers/ingest-server.mjs';

const reason = unavailableReason();
const required = process.env.LYNEX_REQUIRE_SERVER === '1';
if (reason && required) throw new Error(`LYNEX_REQUIRE_SERVER=1 but ${reason}`);
const skip = reason ? `lynex server unavailable (${reason})` : false;

let server;
let key;
let provider;
before(async () => {
  if (skip) return;
  server = new LynexServer();
  key = server.createProject('js-sdk').api_key;
  await server.start();
  provider = await startProvider();
  lynex.init({ apiKey: key, host: server.url, flushIntervalMs: 50, retryBackoffBaseMs: 50, retryBackoffMaxMs: 500, environment: 'ci', release: 'js-1' });
});
after(async () => {
  await lynex.shutdown({ timeoutMs: 2000 });
  await provider?.close();
  await server?.cleanup();
});

/** Spans of a trace, once `n` of them are readable. */
async function traceSpans(traceId, n) {
  return waitFor(async () => {
    const body = await server.get(`/v1/spans?trace_id=${traceId}&limit=500`, key);
    return body.data.length >= n ? body.data : undefined;
  }, 20_000, `${n} spans of trace ${traceId}`);
}

test('log: one span arrives with its content', { skip }, async () => {
  const id = lynex.log({
    name: 'chat', model: 'gpt-4o-mini', provider: 'openai',
    input: [{ role: 'user', content: 'hello server' }], output: 'hi', usage: { inputTokens: 4, outputTokens: 1 },
    latencyMs: 20, sessionId: 'sess-1', userId: 'user-1', tags: ['it'], metadata: { k: 'v' },
  });
  assert.equal(await lynex.flush({ timeoutMs: 10_000 }), true);
  const s = await waitFor(async () => {
    try {
      return await server.get(`/v1/spans/${id}`, key);
    } catch {
      return undefined;
    }
  }, 20_000, 'span');
  assert.equal(s.id, id);
  assert.equal(s.trace_id, id);
  assert.equal(s.model, 'gpt-4o-mini');
  assert.deepEqual(s.input, [{ role: 'user', content: 'hello server' }]);
  assert.equal(s.output, 'hi');
  assert.equal(s.usage.input_tokens, 4);
  assert.equal(s.session_id, 'sess-1');
  assert.equal(s.user_id, 'user-1');
  assert.deepEqual(s.tags, ['it']);
  assert.equal(s.environment, 'ci');
  assert.equal(s.release, 'js-1');
});

test('observe: nested async spans and concurrent requests arrive correctly linked', { skip }, async () => {
  const tool = lynex.observe(async (x) => {
    await new Promise((r) => setTimeout(r, x % 3));
    return x * 2;
  }, { name: 'tool', kind: 'tool' });
  const agent = lynex.observe(async (req) => {
    const a = await tool(req);
    const b = await lynex.span('sub', async (s) => {
      s.setMetadata({ req });
      return tool(req + 1);
    }, { kind: 'chain' });
    return a + b;
  }, { name: 'agent', kind: 'agent' });
  const roots = [];
  await Promise.all([1, 2, 3, 4, 5].map((req) => lynex.span(`request-${req}`, async (root) => {
    roots.push({ req, root });
    return agent(req);
  })));
  assert.equal(await lynex.flush({ timeoutMs: 10_000 }), true);
  for (const { req, root } of roots) {
    const spans = await traceSpans(root.traceId, 5);
    assert.equal(spans.length, 5);
    const by = (name) => spans.filter((s) => s.name === name);
    const [top] = by(`request-${req}`);
    const [ag] = by('agent');
    const [sub] = by('sub');
    const tools = by('tool');
    assert.equal(top.parent_id, null);
    assert.equal(ag.parent_id, top.id);
    assert.equal(ag.input, req);
    assert.equal(ag.output, req * 2 + (req + 1) * 2);
    assert.equal(sub.parent_id, ag.id);
    assert.deepEqual(sub.metadata, { req });
    assert.deepEqual(tools.map((t) => t.parent_id).sort(), [ag.id, sub.id].sort());
    assert.deepEqual(tools.map((t) => t.input).sort(), [req, req + 1].sort());
    const tree = await server.get(`/v1/traces/${root.traceId}`, key);
    assert.equal(tree.span_count, 5);
  }
});

test('wrapOpenAI: an llm span with model, usage and output is stored', { skip }, async () => {
  const client = lynex.wrapOpenAI(new OpenAI({ apiKey: 'sk-test', baseURL: `${provider.url}/v1`, maxRetries: 0 }));
  let traceId;
  await lynex.span('with-llm', async (s) => {
    traceId = s.traceId;
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
    for await (const _ of stream);
  });
  assert.equal(await lynex.flush({ timeoutMs: 10_000 }), true);
  const spans = await traceSpans(traceId, 2);
  const llm = spans.find((s) => s.name === 'openai.chat.completions');
  assert.equal(llm.kind, 'llm');
  assert.equal(llm.provider, 'openai');
  assert.equal(llm.output.content, 'Hello world');
  assert.equal(typeof llm.ttft_ms, 'number');
});

test('server down, then back: no throw, flush meets its deadline, queued spans arrive once', { skip }, async () => {
  await server.stop();
  const warn = console.warn;
  console.warn = () => undefined;
  let traceId;
  try {
    lynex.span('outage', (root) => {
      traceId = root.traceId;
      for (let i = 0; i < 30; i++) lynex.log({ name: `during-${i}` });
    });
    const t0 = Date.now();
    assert.equal(await lynex.flush({ timeoutMs: 500 }), false);
    assert.ok(Date.now() - t0 < 5000, 'flush returned near its deadline');
    assert.ok(lynex.stats().queued > 0);
  } finally {
    console.warn = warn;
  }
  await server.start();
  assert.equal(await lynex.flush({ timeoutMs: 15_000 }), true);
  const spans = await traceSpans(traceId, 31);
  await new Promise((r) => setTimeout(r, 500));
  const again = await server.get(`/v1/spans?trace_id=${traceId}&limit=500`, key);
  assert.equal(again.data.length, 31, 'each span exactly once');
  assert.equal(new Set(spans.map((s) => s.id)).size, 31);
});
