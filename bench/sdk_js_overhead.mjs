// Benchmark: what the JS SDK costs the app.
//   1. per-span cost on the calling side (log / observe / span), p50 and p99 — goal p99 <= 50 µs;
//   2. what wrapOpenAI adds to a (fake) 50 ms chat completion, plain and streaming — goal <= 2 %.
// Spans go to an in-process fake ingest server on 127.0.0.1, so the background sender really runs.
// Needs a build first: `cd sdk/js && npm ci && npm run build`. Run: `node bench/sdk_js_overhead.mjs`.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const sdkDir = fileURLToPath(new URL('../sdk/js/', import.meta.url));
if (!existsSync(`${sdkDir}dist/esm/index.js`)) {
  console.error('build the SDK first: cd sdk/js && npm ci && npm run build');
  process.exit(2);
}
const lynex = await import(new URL('../sdk/js/dist/esm/index.js', import.meta.url));
const requireSdk = createRequire(`${sdkDir}package.json`);
const openaiMod = requireSdk('openai');
const OpenAI = openaiMod.default ?? openaiMod.OpenAI ?? openaiMod;

const N = Number(process.env.BENCH_SPANS ?? 50_000);
const CALLS = Number(process.env.BENCH_CALLS ?? 40);

// -- fake ingest server -------------------------------------------------------------------------------
let received = 0;
const ingest = createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    received++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"accepted":0,"rejected":[]}');
  });
});
await new Promise((r) => ingest.listen(0, '127.0.0.1', r));
lynex.init({ apiKey: 'bench', host: `http://127.0.0.1:${ingest.address().port}` });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const us = (ns) => (Number(ns) / 1000).toFixed(1);
const yieldToLoop = () => new Promise((r) => setImmediate(r));

async function perCall(label, fn) {
  for (let i = 0; i < 2000; i++) {
    fn(i);
    if (i % 100 === 0) await yieldToLoop();
  }
  const times = new Array(N);
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    fn(i);
    times[i] = process.hrtime.bigint() - t0;
    // Let the background sender run as it would between an app's requests; pace the loop so the
    // queue never overflows (a drop is cheaper than a queued span and would flatter the figures).
    if (i % 100 === 99) {
      await yieldToLoop();
      while (lynex.stats().queued > 2000) await sleep(1);
    }
  }
  times.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const mean = times.reduce((a, b) => a + b, 0n) / BigInt(N);
  const p99 = pct(times, 99);
  console.log(`${label.padEnd(44)} p50 ${us(pct(times, 50)).padStart(6)} µs   p99 ${us(p99).padStart(6)} µs   mean ${us(mean).padStart(6)} µs   ${p99 <= 50_000n ? 'OK' : 'OVER'} (goal p99 <= 50 µs)`);
}

const messages = [
  { role: 'system', content: 'You are a helpful assistant. '.repeat(8) },
  { role: 'user', content: 'Summarise the quarterly report in three bullet points, please.' },
];
console.log(`JS SDK per-span cost on the calling side (${N} spans each, Node ${process.version})`);
await perCall('log() — one LLM span (~600 B of messages)', (i) =>
  lynex.log({
    name: 'chat', model: 'gpt-4o-mini', provider: 'openai', input: messages, output: `answer ${i}`,
    usage: { inputTokens: 120, outputTokens: 40 }, latencyMs: 850, sessionId: 's1',
  }));
const observed = lynex.observe((x) => x + 1, { name: 'tool', kind: 'tool' });
await perCall('observe()d sync function call', (i) => observed(i));
await perCall('span() + setInput/setOutput/setUsage', (i) =>
  lynex.span('step', (s) => {
    s.setInput({ q: 'question', i }).setOutput('result').setUsage({ inputTokens: 10, outputTokens: 5 });
  }, { kind: 'chain' }));
await lynex.flush({ timeoutMs: 30_000 });
const st = lynex.stats();
const dropped = Object.values(st.dropped).reduce((a, b) => a + b, 0);
console.log(`  delivered ${st.sent} spans in ${received} requests, dropped ${dropped}`);

// -- wrapOpenAI overhead on a fake 50 ms call ------------------------------------------------------------
const completion = JSON.stringify({
  id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Hello there! '.repeat(20) } }],
  usage: { prompt_tokens: 120, completion_tokens: 40, total_tokens: 160 },
});
const sse = ['Hel', 'lo', ' there', '!'].map((w) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: w }, finish_reason: null }] })}\n\n`).join('') + 'data: [DONE]\n\n';
// A provider that answers after exactly 50 ms, without sockets, so network noise does not hide the SDK.
const fakeFetch = async (url, init) => {
  const body = JSON.parse(init.body);
  await sleep(50);
  return body.stream
    ? new Response(sse, { status: 200, headers: { 'content-type': 'text/event-stream' } })
    : new Response(completion, { status: 200, headers: { 'content-type': 'application/json' } });
};
const make = () => new OpenAI({ apiKey: 'sk-bench', baseURL: 'http://fake.invalid/v1', fetch: fakeFetch, maxRetries: 0 });
const plain = make();
const wrapped = lynex.wrapOpenAI(make());

async function call(client, stream) {
  const t0 = process.hrtime.bigint();
  if (stream) {
    const s = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
    for await (const _ of s);
  } else {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages, temperature: 0.2 });
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

console.log(`\nwrapOpenAI overhead on a fake 50 ms chat completion (${CALLS} calls each, interleaved)`);
for (const stream of [false, true]) {
  for (let i = 0; i < 5; i++) {
    await call(plain, stream);
    await call(wrapped, stream);
  }
  const a = [];
  const b = [];
  for (let i = 0; i < CALLS; i++) {
    a.push(await call(plain, stream));
    b.push(await call(wrapped, stream));
  }
  a.sort((x, y) => x - y);
  b.sort((x, y) => x - y);
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const medA = pct(a, 50);
  const medB = pct(b, 50);
  const overhead = ((medB - medA) / medA) * 100;
  const meanOverhead = ((mean(b) - mean(a)) / mean(a)) * 100;
  console.log(
    `${(stream ? 'stream: true' : 'non-streaming').padEnd(14)} plain p50 ${medA.toFixed(2)} ms   wrapped p50 ${medB.toFixed(2)} ms   ` +
      `overhead p50 ${(medB - medA).toFixed(3)} ms (${overhead.toFixed(2)} %)   mean ${meanOverhead.toFixed(2)} %   ${overhead <= 2 ? 'OK' : 'OVER'} (goal <= 2 %)`,
  );
}
await lynex.shutdown({ timeoutMs: 5000 });
ingest.close();
