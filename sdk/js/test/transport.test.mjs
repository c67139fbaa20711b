// The transport against a fake ingest server: batching, gzip, retries and Retry-After, what is not
// retried, the queue bound, a server that is down or hangs, and hard deadlines on flush/shutdown.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '../dist/esm/index.js';
import { startIngest, waitFor } from './helpers/ingest-server.mjs';

const servers = [];
after(() => Promise.all(servers.map((s) => s.close().catch(() => undefined))));
async function server(handler, port) {
  const s = await startIngest(handler, port);
  servers.push(s);
  return s;
}
function client(url, extra = {}) {
  return new Client({ apiKey: 'k', host: url, flushIntervalMs: 20, retryBackoffBaseMs: 20, retryBackoffMaxMs: 100, flushOnExit: false, ...extra });
}
function quietly(fn) {
  const orig = console.warn;
  const warnings = [];
  console.warn = (m) => warnings.push(String(m));
  return Promise.resolve()
    .then(() => fn(warnings))
    .finally(() => {
      console.warn = orig;
    });
}

test('batches by count and by bytes; every span arrives once', async () => {
  const s = await server();
  const c = client(s.url);
  for (let i = 0; i < 250; i++) c.log({ name: `n${i}` });
  assert.equal(await c.flush(), true);
  assert.equal(s.spans.length, 250);
  assert.ok(s.requests.every((r) => r.body.spans.length <= 100));
  assert.ok(s.requests.length >= 3);
  assert.equal(new Set(s.spans.map((x) => x.id)).size, 250);
  await c.shutdown();

  const s2 = await server();
  const c2 = client(s2.url, { batchMaxBytes: 4096 });
  for (let i = 0; i < 20; i++) c2.log({ name: 'big', input: 'x'.repeat(1000) });
  assert.equal(await c2.flush(), true);
  assert.equal(s2.spans.length, 20);
  assert.ok(s2.requests.every((r) => r.bytes <= 4096), 'no request above batchMaxBytes');
  assert.ok(s2.requests.length >= 5);
  await c2.shutdown();
});

test('bodies are gzipped (Content-Encoding: gzip) when CompressionStream exists', async () => {
  const s = await server();
  const c = client(s.url);
  for (let i = 0; i < 20; i++) c.log({ name: 'g', input: 'hello '.repeat(50) });
  await c.flush();
  assert.equal(s.spans.length, 20);
  assert.ok(s.requests.every((r) => r.gzipped));
  assert.equal(s.requests[0].headers['content-type'], 'application/json');
  const c2 = client(s.url, { gzip: false });
  c2.log({ name: 'plain', input: 'x'.repeat(5000) });
  await c2.flush();
  assert.equal(s.requests.at(-1).gzipped, false);
  await Promise.all([c.shutdown(), c2.shutdown()]);
});

test('429 and 503 are retried honouring Retry-After; spans arrive once', async () => {
  for (const status of [429, 503]) {
    let calls = 0;
    const s = await server(() => (++calls <= 2 ? { status, headers: { 'retry-after': '0' }, body: { error: 'busy' } } : undefined));
    const c = client(s.url);
    for (let i = 0; i < 5; i++) c.log({ name: 'r' });
    assert.equal(await c.flush({ timeoutMs: 5000 }), true);
    assert.equal(s.requests.length, 3);
    assert.equal(s.spans.length, 5);
    assert.equal(c.stats().sent, 5);
    await c.shutdown();
  }
});

test('a Retry-After in the future is honoured even by flush (which then returns at its deadline)', async () => {
  const s = await server(() => ({ status: 503, headers: { 'retry-after': '30' } }));
  const c = client(s.url);
  c.log({ name: 'later' });
  const t0 = Date.now();
  assert.equal(await c.flush({ timeoutMs: 300 }), false);
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(s.requests.length, 1, 'no retry before Retry-After');
  assert.equal(await c.shutdown({ timeoutMs: 100 }), false);
  assert.equal(c.stats().dropped.shutdown, 1);
});

test('other 4xx are not retried: dropped as rejected, 401 says how to fix the key', async () => {
  await quietly(async (warnings) => {
    for (const status of [400, 401, 403, 415]) {
      const s = await server(() => ({ status, body: { error: 'no' } }));
      const c = client(s.url);
      c.log({ name: 'x' });
      c.log({ name: 'y' });
      assert.equal(await c.flush(), true);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(s.requests.length, 1, `${status} not retried`);
      assert.equal(c.stats().dropped.rejected, 2);
      await c.shutdown();
    }
    assert.ok(warnings.some((w) => /API key/.test(w) && /ingest/.test(w)));
  });
});

test('207: rejected spans are counted, the rest are sent', async () => {
  await quietly(async () => {
    const s = await server((req) => ({ status: 207, body: { accepted: req.body.spans.length - 1, rejected: [{ index: 0, id: req.body.spans[0].id, error: 'kind: bad' }] } }));
    const c = client(s.url);
    for (let i = 0; i < 3; i++) c.log({ name: 'p' });
    await c.flush();
    assert.deepEqual(c.stats().dropped.rejected, 1);
    assert.equal(c.stats().sent, 2);
    await c.shutdown();
  });
});

test('5xx is retried maxRetries times, then dropped as network_error', async () => {
  await quietly(async () => {
    const s = await server(() => ({ status: 500 }));
    const c = client(s.url, { maxRetries: 2 });
    c.log({ name: 'e' });
    assert.equal(await c.flush({ timeoutMs: 5000 }), true);
    assert.equal(s.requests.length, 3);
    assert.equal(c.stats().dropped.network_error, 1);
    await c.shutdown();
  });
});

test('413 splits the batch in halves until it fits', async () => {
  const s = await server((req) => (req.body.spans.length > 2 ? { status: 413 } : undefined));
  const c = client(s.url);
  for (let i = 0; i < 10; i++) c.log({ name: `s${i}` });
  assert.equal(await c.flush(), true);
  assert.equal(s.spans.length, 10);
  assert.deepEqual(s.spans.map((x) => x.name), Array.from({ length: 10 }, (_, i) => `s${i}`), 'order kept');
});

test('server down, then back: no throw, flush meets its deadline, queued spans arrive exactly once', async () => {
  await quietly(async (warnings) => {
    const probe = await server();
    const port = probe.port;
    await probe.close();
    const c = client(`http://127.0.0.1:${port}`, { maxQueueSize: 50 });
    for (let i = 0; i < 80; i++) c.log({ name: `d${i}` });
    const t0 = Date.now();
    assert.equal(await c.flush({ timeoutMs: 300 }), false);
    assert.ok(Date.now() - t0 < 3000, 'flush returned near its deadline');
    assert.equal(c.stats().dropped.queue_full, 30);
    assert.ok(warnings.some((w) => /cannot reach/.test(w)));
    const s = await server(undefined, port);
    assert.equal(await c.flush({ timeoutMs: 10_000 }), true);
    assert.equal(s.spans.length, 50);
    assert.equal(new Set(s.spans.map((x) => x.id)).size, 50);
    assert.deepEqual(s.spans.map((x) => x.name), Array.from({ length: 50 }, (_, i) => `d${i}`));
    assert.equal(c.stats().sent, 50);
    assert.equal(c.stats().queued, 0);
    await c.shutdown();
  });
});

test('a hanging server: flush and shutdown return by their deadlines; leftovers counted as shutdown', async () => {
  const s = await server(() => 'hang');
  const c = client(s.url, { requestTimeoutMs: 60_000 });
  for (let i = 0; i < 3; i++) c.log({ name: 'h' });
  await waitFor(() => s.requests.length === 1, 5000, 'request');
  c.log({ name: 'h2' });
  let t0 = Date.now();
  assert.equal(await c.flush({ timeoutMs: 200 }), false);
  assert.ok(Date.now() - t0 < 3000);
  t0 = Date.now();
  assert.equal(await c.shutdown({ timeoutMs: 200 }), false);
  assert.ok(Date.now() - t0 < 3000);
  assert.equal(c.stats().dropped.shutdown, 4);
  c.log({ name: 'after' });
  assert.equal(c.stats().dropped.shutdown, 5);
});

test('the per-request timeout aborts a hung request and the batch is retried', async () => {
  let calls = 0;
  const s = await server(() => (++calls === 1 ? 'hang' : undefined));
  const c = client(s.url, { requestTimeoutMs: 100 });
  await quietly(async () => {
    c.log({ name: 't' });
    assert.equal(await c.flush({ timeoutMs: 5000 }), true);
  });
  assert.equal(s.spans.length, 1);
  await c.shutdown();
});

test('the queue bound holds: maxQueueSize spans kept, the rest counted queue_full', async () => {
  const s = await server(() => 'hang');
  const c = client(s.url, { maxQueueSize: 100, requestTimeoutMs: 60_000 });
  for (let i = 0; i < 1000; i++) c.log({ name: 'q' });
  const st = c.stats();
  assert.equal(st.dropped.queue_full, 900);
  assert.ok(st.queued <= 100);
  await c.shutdown({ timeoutMs: 50 });
});

function runChild(script, env) {
  const path = fileURLToPath(new URL('./helpers/child.mjs', import.meta.url));
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--unhandled-rejections=strict', path, script], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => resolve({ code, out, ms: Date.now() - t0 }));
  });
}

test('Node: spans are flushed on beforeExit without an explicit flush', async () => {
  const s = await server();
  const r = await runChild('log-and-exit', { LYNEX_HOST: s.url, LYNEX_API_KEY: 'k' });
  assert.equal(r.code, 0, r.out);
  assert.equal(s.spans.length, 3);
});

test('Node: a dead server never keeps the process alive or crashes it', async () => {
  const probe = await server();
  const port = probe.port;
  await probe.close();
  const r = await runChild('log-and-exit', { LYNEX_HOST: `http://127.0.0.1:${port}`, LYNEX_API_KEY: 'k' });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /done/);
  assert.ok(r.ms < 15_000, `exited in ${r.ms} ms`);
  const h = await server(() => 'hang');
  const r2 = await runChild('log-and-exit', { LYNEX_HOST: h.url, LYNEX_API_KEY: 'k' });
  assert.equal(r2.code, 0, r2.out);
  assert.ok(r2.ms < 15_000, `exited in ${r2.ms} ms`);
});

test('SDK failures never reach the app: a throwing fetch, an unserializable beforeSend result', async () => {
  await quietly(async (warnings) => {
    let calls = 0;
    const c = client('http://127.0.0.1:9', {
      fetch: () => {
        calls++;
        throw new Error('fetch exploded');
      },
      beforeSend: (s) => {
        if (s.name === 'cyclic') s.metadata = { self: s };
        return s;
      },
    });
    c.log({ name: 'ok' });
    c.log({ name: 'cyclic' });
    assert.equal(await c.flush({ timeoutMs: 200 }), false);
    assert.ok(calls >= 1);
    assert.equal(c.stats().dropped.unserializable, 1);
    assert.ok(warnings.some((w) => /fetch exploded/.test(w)));
    await c.shutdown({ timeoutMs: 50 });
  });
});
