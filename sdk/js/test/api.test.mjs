// The public API against a fake ingest server: log, observe, span, context, sampling, beforeSend,
// captureContent, bad config, and that nothing the SDK does escapes into the app.
import { test, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as lynex from '../dist/esm/index.js';
import { startIngest, waitFor } from './helpers/ingest-server.mjs';

const server = await startIngest();
after(() => server.close());
beforeEach(() => {
  server.state.spans.length = 0;
  server.state.requests.length = 0;
  server.setHandler(() => undefined);
});

function setup(extra = {}) {
  return lynex.init({ apiKey: 'lx_test', host: server.url, flushIntervalMs: 20, ...extra });
}

const byName = (name) => server.spans.find((s) => s.name === name);

test('log sends one complete span with wire field names and the bearer key', async () => {
  setup({ environment: 'test', release: '1.2.3' });
  const id = lynex.log({
    name: 'chat',
    model: 'gpt-4o-mini',
    provider: 'openai',
    input: [{ role: 'user', content: 'hi' }],
    output: 'hello',
    usage: { inputTokens: 3, outputTokens: 1 },
    latencyMs: 12.5,
    costUsd: 0.001,
    promptName: 'greet',
    promptVersion: 2,
    sessionId: 's1',
    tags: ['a'],
  });
  assert.equal(typeof id, 'string');
  assert.equal(await lynex.flush({ timeoutMs: 5000 }), true);
  assert.equal(server.spans.length, 1);
  const s = server.spans[0];
  assert.equal(s.id, id);
  assert.equal(s.trace_id, id);
  assert.equal(s.parent_id, null);
  assert.equal(s.kind, 'llm');
  assert.equal(s.model, 'gpt-4o-mini');
  assert.deepEqual(s.input, [{ role: 'user', content: 'hi' }]);
  assert.deepEqual(s.usage, { input_tokens: 3, output_tokens: 1 });
  assert.equal(s.latency_ms, 12.5);
  assert.equal(s.cost_usd, 0.001);
  assert.equal(s.prompt_name, 'greet');
  assert.equal(s.prompt_version, 2);
  assert.equal(s.session_id, 's1');
  assert.equal(s.environment, 'test');
  assert.equal(s.release, '1.2.3');
  assert.ok(Date.parse(s.end_time) - Date.parse(s.start_time) >= 12);
  assert.equal(server.requests[0].headers.authorization, 'Bearer lx_test');
  assert.equal(server.requests[0].url, '/v1/ingest');
  assert.equal(lynex.stats().sent, 1);
  await lynex.shutdown();
});

test('log with an error marks the span failed', async () => {
  setup();
  lynex.log({ name: 'failed', error: new Error('timeout'), startTime: new Date(0), endTime: 5 });
  await lynex.flush();
  const s = byName('failed');
  assert.equal(s.status, 'error');
  assert.deepEqual(s.error, { type: 'Error', message: 'timeout' });
  assert.equal(s.start_time, '1970-01-01T00:00:00.000Z');
  assert.equal(s.end_time, 5);
  await lynex.shutdown();
});

test('what log records is a snapshot: later mutation of the input does not change it', async () => {
  setup();
  const messages = [{ role: 'user', content: 'q1' }];
  lynex.log({ name: 'snap', input: messages });
  messages.push({ role: 'assistant', content: 'a1' });
  await lynex.flush();
  assert.equal(byName('snap').input.length, 1);
  await lynex.shutdown();
});

test('observe: nested sync and async functions become linked spans with input and output', async () => {
  setup();
  const tool = lynex.observe((x) => x * 2, { name: 'double', kind: 'tool' });
  const retrieve = lynex.observe(async (q) => {
    await new Promise((r) => setTimeout(r, 5));
    return [`doc for ${q}`];
  }, { name: 'retrieve', kind: 'retrieval' });
  const agent = lynex.observe(async function agent(question) {
    const docs = await retrieve(question);
    return `${docs[0]} / ${tool(21)}`;
  }, { kind: 'agent' });
  assert.equal(await agent('why'), 'doc for why / 42');
  await lynex.flush();
  const root = byName('agent');
  const r = byName('retrieve');
  const d = byName('double');
  assert.equal(root.parent_id, null);
  assert.equal(root.kind, 'agent');
  assert.equal(root.input, 'why');
  assert.equal(root.output, 'doc for why / 42');
  assert.equal(r.parent_id, root.id);
  assert.equal(d.parent_id, root.id);
  assert.equal(r.trace_id, root.id);
  assert.equal(d.trace_id, root.trace_id);
  assert.deepEqual(r.output, ['doc for why']);
  assert.equal(d.kind, 'tool');
  assert.equal(d.output, 42);
  await lynex.shutdown();
});

test('observe keeps concurrent requests apart (AsyncLocalStorage)', async () => {
  setup();
  assert.equal(lynex.tracksAsyncContext(), true);
  const step = lynex.observe(async (req, i) => {
    await new Promise((r) => setTimeout(r, (i * 7 + req.length) % 5));
    return `${req}-${i}`;
  }, { name: 'step' });
  const handle = lynex.observe(async (req) => {
    const out = [];
    for (let i = 0; i < 3; i++) out.push(await step(req, i));
    return out;
  }, { name: 'request' });
  const names = Array.from({ length: 8 }, (_, i) => `req${i}`);
  await Promise.all(names.map((n) => lynex.context({ userId: n }, () => handle(n))));
  await lynex.flush();
  const roots = server.spans.filter((s) => s.name === 'request');
  assert.equal(roots.length, 8);
  for (const root of roots) {
    const children = server.spans.filter((s) => s.parent_id === root.id);
    assert.equal(children.length, 3);
    for (const c of children) {
      assert.equal(c.trace_id, root.trace_id);
      assert.equal(c.input[0], root.input, 'child belongs to its own request');
      assert.equal(c.user_id, root.input);
    }
  }
  await lynex.shutdown();
});

test('observe records a thrown error and rethrows the same error, sync and async', async () => {
  setup();
  const boom = new TypeError('bad input');
  const syncFail = lynex.observe(() => { throw boom; }, { name: 'sync-fail' });
  const asyncFail = lynex.observe(async () => { throw boom; }, { name: 'async-fail' });
  assert.throws(() => syncFail(), (e) => e === boom);
  await assert.rejects(asyncFail(), (e) => e === boom);
  await lynex.flush();
  for (const name of ['sync-fail', 'async-fail']) {
    const s = byName(name);
    assert.equal(s.status, 'error');
    assert.deepEqual(s.error, { type: 'TypeError', message: 'bad input' });
  }
  await lynex.shutdown();
});

test('observe keeps `this` and works before init (looked up at call time)', async () => {
  await lynex.shutdown();
  const obj = { k: 5, get: lynex.observe(function get() { return this.k; }, { name: 'method' }) };
  lynex.init({ enabled: false });
  assert.equal(obj.get(), 5);
  setup();
  assert.equal(obj.get(), 5);
  await lynex.flush();
  assert.equal(byName('method').output, 5);
  await lynex.shutdown();
});

test('span handle: setInput/setOutput/setUsage/setMetadata/setError, children and manual spans', async () => {
  setup();
  let childParent;
  const result = await lynex.span('outer', async (s) => {
    s.setInput({ q: 'x' }).setMetadata({ a: 1 }).setMetadata({ b: 2 }).setUsage({ input_tokens: 5, outputTokens: 6 });
    s.setModel('m1', 'prov').setTags(['t1']);
    await lynex.span('inner', (c) => {
      childParent = c.parentId;
      c.setError(new RangeError('nope'));
      c.setOutput('partial');
    }, { kind: 'tool' });
    const manual = lynex.startSpan('manual', { parent: s, kind: 'chain' });
    manual.set({ costUsd: 0.5, ttftMs: 3 });
    manual.end();
    manual.end();
    s.setOutput('done');
    return 7;
  }, { kind: 'chain', tags: ['t0'] });
  assert.equal(result, 7);
  await lynex.flush();
  const outer = byName('outer');
  const inner = byName('inner');
  const manual = byName('manual');
  assert.equal(childParent, outer.id);
  assert.deepEqual(outer.input, { q: 'x' });
  assert.equal(outer.output, 'done');
  assert.deepEqual(outer.metadata, { a: 1, b: 2 });
  assert.deepEqual(outer.usage, { input_tokens: 5, output_tokens: 6 });
  assert.equal(outer.model, 'm1');
  assert.equal(outer.provider, 'prov');
  assert.deepEqual(outer.tags, ['t0', 't1']);
  assert.equal(inner.parent_id, outer.id);
  assert.equal(inner.status, 'error');
  assert.equal(inner.error.type, 'RangeError');
  assert.equal(manual.parent_id, outer.id);
  assert.equal(manual.cost_usd, 0.5);
  assert.equal(manual.ttft_ms, 3);
  assert.equal(server.spans.filter((s) => s.name === 'manual').length, 1, 'end() twice sends once');
  await lynex.shutdown();
});

test('context() adds session, user, tags and metadata to every span inside, nesting merges', async () => {
  setup();
  await lynex.context({ sessionId: 'sess', userId: 'u1', tags: ['x'], metadata: { tenant: 'acme' } }, async () => {
    await lynex.span('a', async () => {
      await lynex.context({ tags: ['y'], metadata: { step: 2 } }, async () => {
        lynex.log({ name: 'b' });
      });
    });
  });
  lynex.log({ name: 'outside' });
  await lynex.flush();
  const a = byName('a');
  const b = byName('b');
  assert.equal(a.session_id, 'sess');
  assert.equal(a.user_id, 'u1');
  assert.deepEqual(a.tags, ['x']);
  assert.deepEqual(a.metadata, { tenant: 'acme' });
  assert.equal(b.parent_id, a.id);
  assert.equal(b.session_id, 'sess');
  assert.deepEqual(b.tags, ['x', 'y']);
  assert.deepEqual(b.metadata, { tenant: 'acme', step: 2 });
  assert.equal(byName('outside').session_id, undefined);
  await lynex.shutdown();
});

test('sampleRate 0 sends nothing and counts sampled drops; a trace is never split', async () => {
  setup({ sampleRate: 0 });
  await lynex.span('root', () => lynex.span('child', () => lynex.log({ name: 'leaf' })));
  await lynex.flush();
  assert.equal(server.spans.length, 0);
  assert.equal(lynex.stats().dropped.sampled, 3);
  await lynex.shutdown();
  setup({ sampleRate: 0.5 });
  for (let i = 0; i < 40; i++) await lynex.span(`r${i}`, () => lynex.span(`c${i}`, () => undefined));
  await lynex.flush();
  for (let i = 0; i < 40; i++) assert.equal(!!byName(`r${i}`), !!byName(`c${i}`), 'root and child sampled together');
  await lynex.shutdown();
});

test('beforeSend edits, drops (null) and a throwing beforeSend drops without escaping', async () => {
  setup({
    beforeSend: (s) => {
      if (s.name === 'drop') return null;
      if (s.name === 'throw') throw new Error('redactor bug');
      s.input = '[redacted]';
      return s;
    },
  });
  lynex.log({ name: 'keep', input: 'secret' });
  lynex.log({ name: 'drop' });
  lynex.log({ name: 'throw' });
  await lynex.flush();
  assert.deepEqual(server.spans.map((s) => s.name), ['keep']);
  assert.equal(byName('keep').input, '[redacted]');
  const st = lynex.stats();
  assert.equal(st.dropped.before_send, 1);
  assert.equal(st.dropped.before_send_error, 1);
  await lynex.shutdown();
});

test('captureContent: false never records input or output', async () => {
  setup({ captureContent: false });
  lynex.log({ name: 'l', input: 'p', output: 'r' });
  lynex.observe((x) => x, { name: 'o' })('arg');
  await lynex.flush();
  for (const s of server.spans) {
    assert.equal(s.input, undefined);
    assert.equal(s.output, undefined);
  }
  assert.equal(server.spans.length, 2);
  await lynex.shutdown();
});

test('odd values (cycles, BigInt, Map, functions, long strings) are recorded safely', async () => {
  setup({ maxStringChars: 10 });
  const cyc = { name: 'c' };
  cyc.self = cyc;
  lynex.log({ name: 'odd', input: { cyc, big: 10n, map: new Map([['k', 1]]), fn() {}, s: 'x'.repeat(50), d: new Date(0) } });
  await lynex.flush();
  const s = byName('odd');
  assert.equal(s.input.cyc.self, '<cycle>');
  assert.equal(s.input.big, '10');
  assert.deepEqual(s.input.map, { k: 1 });
  assert.equal(s.input.fn, undefined);
  assert.match(s.input.s, /^x{10}\.\.\.<truncated 40 chars>$/);
  assert.equal(s.input.d, '1970-01-01T00:00:00.000Z');
  await lynex.shutdown();
});

test('missing or bad config warns once and becomes a no-op', async () => {
  const warnings = [];
  const orig = console.warn;
  console.warn = (m) => warnings.push(String(m));
  try {
    const saved = process.env.LYNEX_API_KEY;
    delete process.env.LYNEX_API_KEY;
    const c = lynex.init({ host: server.url });
    assert.equal(c.enabled, false);
    assert.equal(lynex.log({ name: 'x' }), undefined);
    assert.equal(lynex.observe((a) => a + 1)(1), 2);
    assert.equal(lynex.span('s', () => 'ok'), 'ok');
    assert.equal(await lynex.flush({ timeoutMs: 10 }), true);
    assert.equal(warnings.filter((w) => w.includes('no API key')).length, 1);
    const bad = lynex.init({ apiKey: 'k', host: 'not a url', sampleRate: 7, bogus: 1 });
    assert.equal(bad.enabled, false);
    const w = warnings.at(-1);
    assert.match(w, /invalid host/);
    assert.match(w, /sampleRate/);
    assert.match(w, /unknown option 'bogus'/);
    if (saved !== undefined) process.env.LYNEX_API_KEY = saved;
  } finally {
    console.warn = orig;
  }
  assert.equal(server.requests.length, 0);
});

test('LYNEX_API_KEY and LYNEX_HOST are read from the environment in Node', async () => {
  process.env.LYNEX_API_KEY = 'lx_env';
  process.env.LYNEX_HOST = server.url;
  try {
    const c = lynex.init({ flushIntervalMs: 10 });
    assert.equal(c.enabled, true);
    lynex.log({ name: 'env' });
    await lynex.flush();
    assert.equal(server.requests[0].headers.authorization, 'Bearer lx_env');
  } finally {
    delete process.env.LYNEX_API_KEY;
    delete process.env.LYNEX_HOST;
    await lynex.shutdown();
  }
});

test('an unknown kind is recorded as custom with one warning, never thrown', async () => {
  setup();
  const orig = console.warn;
  const warnings = [];
  console.warn = (m) => warnings.push(m);
  try {
    lynex.span('k', () => undefined, { kind: 'weird' });
    lynex.span('k2', () => undefined, { kind: 'weird' });
  } finally {
    console.warn = orig;
  }
  await lynex.flush();
  assert.equal(byName('k').kind, 'custom');
  assert.equal(warnings.length, 1);
  await lynex.shutdown();
});
