// wrapOpenAI with the real `openai` package against a fake provider: return values, streams, helper
// methods and errors are unchanged, and each call becomes one llm span with the right fields.
import { test, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import * as lynex from '../dist/esm/index.js';
import { startIngest } from './helpers/ingest-server.mjs';
import { startProvider } from './helpers/fake-provider.mjs';

const ingest = await startIngest();
const provider = await startProvider();
after(async () => {
  await lynex.shutdown();
  await Promise.all([ingest.close(), provider.close()]);
});
lynex.init({ apiKey: 'k', host: ingest.url, flushIntervalMs: 10 });
beforeEach(() => {
  ingest.state.spans.length = 0;
});

const make = () => new OpenAI({ apiKey: 'sk-test', baseURL: `${provider.url}/v1`, maxRetries: 0 });
const plain = make();
const wrapped = lynex.wrapOpenAI(make());
const MESSAGES = [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }];

async function spans(n = 1) {
  assert.equal(await lynex.flush({ timeoutMs: 5000 }), true);
  assert.equal(ingest.spans.length, n, JSON.stringify(ingest.spans.map((s) => s.name)));
  return ingest.spans;
}
const jsonOf = (v) => JSON.parse(JSON.stringify(v));

test('wrapOpenAI returns the same client', () => {
  const c = make();
  assert.equal(lynex.wrapOpenAI(c), c);
  assert.equal(lynex.wrapOpenAI(c), c, 'wrapping twice is harmless');
});

test('chat.completions.create: same result, one llm span with input, output, usage, parameters', async () => {
  const params = { model: 'gpt-4o-mini', messages: MESSAGES, temperature: 0.2 };
  const expected = await plain.chat.completions.create(params);
  const got = await wrapped.chat.completions.create(params);
  assert.deepEqual(jsonOf(got), jsonOf(expected));
  assert.equal(Object.getPrototypeOf(got), Object.getPrototypeOf(expected));
  const [s] = await spans();
  assert.equal(s.name, 'openai.chat.completions');
  assert.equal(s.kind, 'llm');
  assert.equal(s.provider, 'openai');
  assert.equal(s.model, 'gpt-4o-mini');
  assert.deepEqual(s.input, MESSAGES);
  assert.deepEqual(s.output, { role: 'assistant', content: 'Hello there!' });
  assert.deepEqual(s.usage, { input_tokens: 11, output_tokens: 7, total_tokens: 18, cached_tokens: 2, reasoning_tokens: 1 });
  assert.deepEqual(s.model_parameters, { temperature: 0.2 });
  assert.deepEqual(s.metadata, { response_id: 'chatcmpl-1', finish_reason: 'stop' });
  assert.equal(s.status, 'ok');
  assert.ok(s.latency_ms >= 0);
});

test('tool calls are recorded in OpenAI shape', async () => {
  const got = await wrapped.chat.completions.create({ model: 'tools', messages: MESSAGES, tools: [{ type: 'function', function: { name: 'get_weather', parameters: {} } }] });
  assert.equal(got.choices[0].message.tool_calls[0].function.name, 'get_weather');
  const [s] = await spans();
  assert.deepEqual(s.output.tool_calls, [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  assert.equal(s.metadata.finish_reason, 'tool_calls');
  assert.equal(s.model_parameters.tools.length, 1);
});

test('streaming chat: same chunks, same Stream object type; span has assembled text, ttft and usage', async () => {
  const params = { model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true } };
  const plainStream = await plain.chat.completions.create(params);
  const expected = [];
  for await (const c of plainStream) expected.push(c);
  const stream = await wrapped.chat.completions.create(params);
  assert.equal(stream.constructor, plainStream.constructor);
  assert.ok(stream.controller instanceof AbortController);
  const got = [];
  for await (const c of stream) got.push(c);
  assert.deepEqual(got, expected);
  const [s] = await spans();
  assert.deepEqual(s.output, { role: 'assistant', content: 'Hello world' });
  assert.equal(typeof s.ttft_ms, 'number');
  assert.ok(s.ttft_ms <= s.latency_ms);
  assert.equal(s.usage.input_tokens, 11);
  assert.equal(s.metadata.stream, true);
  assert.equal(s.metadata.finish_reason, 'stop');
  assert.equal(s.model_parameters.stream_options.include_usage, true);
});

test('streaming tool calls are assembled across chunks; includeUsage is opt-in', async () => {
  const c = lynex.wrapOpenAI(make(), { includeUsage: true });
  const stream = await c.chat.completions.create({ model: 'tools', messages: MESSAGES, stream: true });
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  assert.equal(chunks.at(-1).choices.length, 0, 'includeUsage adds the usage chunk');
  const [s] = await spans();
  assert.deepEqual(s.output.tool_calls, [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }]);
  assert.equal(s.usage.total_tokens, 18);
  assert.equal(provider.requests.at(-1).body.stream_options.include_usage, true);
});

test('breaking out of a stream early records what was streamed', async () => {
  const stream = await wrapped.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true });
  for await (const c of stream) {
    if (c.choices[0]?.delta?.content === 'Hel') break;
  }
  const [s] = await spans();
  assert.equal(s.output.content, 'Hel');
});

test('stream.tee() keeps working and is recorded once', async () => {
  const stream = await wrapped.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true });
  const [a, b] = stream.tee();
  const textA = [];
  for await (const c of a) textA.push(c.choices[0]?.delta?.content ?? '');
  const textB = [];
  for await (const c of b) textB.push(c.choices[0]?.delta?.content ?? '');
  assert.equal(textA.join(''), 'Hello world');
  assert.deepEqual(textA, textB);
  const [s] = await spans();
  assert.equal(s.output.content, 'Hello world');
});

test('errors: the same error class is thrown, the span records it, no unhandled rejection', async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    for (const [model, cls] of [['error-400', OpenAI.BadRequestError], ['error-500', OpenAI.InternalServerError]]) {
      await assert.rejects(plain.chat.completions.create({ model, messages: MESSAGES }), cls);
      await assert.rejects(wrapped.chat.completions.create({ model, messages: MESSAGES }), (e) => e instanceof cls && e.status === Number(model.slice(6)));
    }
    await assert.rejects(wrapped.chat.completions.create({ model: 'error-400', messages: MESSAGES, stream: true }), OpenAI.BadRequestError);
    const all = await spans(3);
    assert.deepEqual(all.map((s) => s.status), ['error', 'error', 'error']);
    assert.equal(all[0].error.type, 'BadRequestError');
    assert.match(all[0].error.message, /fake 400/);
    assert.equal(all[0].metadata.status_code, 400);
    assert.equal(all[1].metadata.status_code, 500);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('APIPromise helpers keep working: withResponse, asResponse (body unread), .parse()-style _thenUnwrap', async () => {
  const params = { model: 'gpt-4o-mini', messages: MESSAGES };
  const { data, response, request_id } = await wrapped.chat.completions.create(params).withResponse();
  assert.equal(data.choices[0].message.content, 'Hello there!');
  assert.equal(response.status, 200);
  assert.equal(request_id, 'req_123');
  const raw = await wrapped.chat.completions.create(params).asResponse();
  assert.equal((await raw.json()).id, 'chatcmpl-1', 'the raw body is still readable');
  const parsed = await wrapped.chat.completions.parse(params);
  assert.equal(parsed.choices[0].message.content, 'Hello there!');
  assert.equal(parsed.choices[0].message.parsed, null);
  const all = await spans(2);
  assert.deepEqual(all.map((s) => s.name), ['openai.chat.completions', 'openai.chat.completions']);
});

test('chat.completions.stream() helper works and is recorded once', async () => {
  const runner = wrapped.chat.completions.stream({ model: 'gpt-4o-mini', messages: MESSAGES });
  const deltas = [];
  runner.on('content', (d) => deltas.push(d));
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, 'Hello world');
  assert.equal(deltas.join(''), 'Hello world');
  const [s] = await spans();
  assert.equal(s.output.content, 'Hello world');
});

test('responses.create: output_text helper kept; span from the Response', async () => {
  const params = { model: 'gpt-4.1', instructions: 'be nice', input: 'hello', max_output_tokens: 50 };
  const expected = await plain.responses.create(params);
  const got = await wrapped.responses.create(params);
  assert.equal(got.output_text, 'Responses hello');
  assert.deepEqual(jsonOf(got), jsonOf(expected));
  const [s] = await spans();
  assert.equal(s.name, 'openai.responses');
  assert.deepEqual(s.input, [{ role: 'system', content: 'be nice' }, { role: 'user', content: 'hello' }]);
  assert.deepEqual(s.output, { role: 'assistant', content: 'Responses hello' });
  assert.deepEqual(s.usage, { input_tokens: 9, output_tokens: 3, total_tokens: 12, cached_tokens: 0, reasoning_tokens: 0 });
  assert.deepEqual(s.model_parameters, { max_output_tokens: 50 });
  assert.equal(s.metadata.response_status, 'completed');
});

test('responses.create function calls and streaming events', async () => {
  await wrapped.responses.create({ model: 'tools', input: [{ role: 'user', content: 'look it up' }] });
  const stream = await wrapped.responses.create({ model: 'gpt-4.1', input: 'hello', stream: true });
  const types = [];
  for await (const e of stream) types.push(e.type);
  assert.deepEqual(types, ['response.created', 'response.output_text.delta', 'response.output_text.delta', 'response.completed']);
  const [fc, st] = await spans(2);
  assert.deepEqual(fc.output.tool_calls, [{ id: 'call_9', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }]);
  assert.equal(st.output.content, 'Responses hello');
  assert.equal(st.metadata.stream, true);
  assert.equal(typeof st.ttft_ms, 'number');
  assert.equal(st.usage.total_tokens, 12);
});

test('responses.stream() helper works through the wrapper', async () => {
  const runner = wrapped.responses.stream({ model: 'gpt-4.1', input: 'hello' });
  const final = await runner.finalResponse();
  assert.equal(final.output_text, 'Responses hello');
  const [s] = await spans();
  assert.equal(s.output.content, 'Responses hello');
});

test('an llm call inside observe() is its child', async () => {
  const answer = lynex.observe(async (q) => {
    const r = await wrapped.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: q }] });
    return r.choices[0].message.content;
  }, { name: 'answer', kind: 'chain' });
  assert.equal(await answer('hi'), 'Hello there!');
  const all = await spans(2);
  const parent = all.find((s) => s.name === 'answer');
  const llm = all.find((s) => s.name === 'openai.chat.completions');
  assert.equal(llm.parent_id, parent.id);
  assert.equal(llm.trace_id, parent.trace_id);
});

test('with the SDK disabled, the wrapped client behaves exactly like the plain one', async () => {
  const client = lynex.getClient();
  lynex.init({ enabled: false });
  try {
    const r = await wrapped.chat.completions.create({ model: 'gpt-4o-mini', messages: MESSAGES });
    assert.equal(r.choices[0].message.content, 'Hello there!');
  } finally {
    lynex.init({ apiKey: 'k', host: ingest.url, flushIntervalMs: 10 });
  }
  assert.equal(client.enabled, true);
  await spans(0);
});
