// wrapAnthropic with the real `@anthropic-ai/sdk` package against a fake provider.
import { test, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
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

const make = () => new Anthropic({ apiKey: 'sk-ant-test', baseURL: provider.url, maxRetries: 0 });
const plain = make();
const wrapped = lynex.wrapAnthropic(make());
const PARAMS = { model: 'claude-test', max_tokens: 100, system: 'be brief', messages: [{ role: 'user', content: 'hi' }] };

async function spans(n = 1) {
  assert.equal(await lynex.flush({ timeoutMs: 5000 }), true);
  assert.equal(ingest.spans.length, n, JSON.stringify(ingest.spans.map((s) => s.name)));
  return ingest.spans;
}
const jsonOf = (v) => JSON.parse(JSON.stringify(v));

test('messages.create: same result; span with system message, output, usage incl. cache', async () => {
  const expected = await plain.messages.create(PARAMS);
  const got = await wrapped.messages.create(PARAMS);
  assert.deepEqual(jsonOf(got), jsonOf(expected));
  const [s] = await spans();
  assert.equal(s.name, 'anthropic.messages');
  assert.equal(s.kind, 'llm');
  assert.equal(s.provider, 'anthropic');
  assert.equal(s.model, 'claude-test');
  assert.deepEqual(s.input, [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }]);
  assert.deepEqual(s.output, { role: 'assistant', content: 'Bonjour!' });
  assert.deepEqual(s.usage, { input_tokens: 130, output_tokens: 5, total_tokens: 135, cached_tokens: 100 });
  assert.deepEqual(s.model_parameters, { max_tokens: 100 });
  assert.deepEqual(s.metadata, { response_id: 'msg_01', stop_reason: 'end_turn' });
});

test('tool_use blocks become OpenAI-shape tool calls', async () => {
  await wrapped.messages.create({ ...PARAMS, model: 'tools' });
  const [s] = await spans();
  assert.deepEqual(s.output, {
    role: 'assistant',
    content: 'Let me check.',
    tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
  });
});

test('stream: true: same events; span assembles text and tool input, ttft and usage', async () => {
  const params = { ...PARAMS, model: 'tools', stream: true };
  const expected = [];
  for await (const e of await plain.messages.create(params)) expected.push(e);
  const stream = await wrapped.messages.create(params);
  const got = [];
  for await (const e of stream) got.push(e);
  assert.deepEqual(got, expected);
  const [s] = await spans();
  assert.equal(s.output.content, 'Bonjour!');
  assert.deepEqual(s.output.tool_calls[0].function, { name: 'get_weather', arguments: '{"city":"Paris"}' });
  assert.equal(typeof s.ttft_ms, 'number');
  assert.deepEqual(s.usage, { input_tokens: 130, output_tokens: 5, total_tokens: 135, cached_tokens: 100 });
  assert.equal(s.metadata.stop_reason, 'tool_use');
  assert.equal(s.metadata.stream, true);
});

test('messages.stream() helper: events and finalMessage work; recorded once', async () => {
  const stream = wrapped.messages.stream(PARAMS);
  const texts = [];
  stream.on('text', (t) => texts.push(t));
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, 'Bonjour!');
  assert.equal(texts.join(''), 'Bonjour!');
  assert.equal(await stream.finalText(), 'Bonjour!');
  const [s] = await spans();
  assert.equal(s.output.content, 'Bonjour!');
  assert.equal(s.usage.output_tokens, 5);
});

test('errors: the same error class is thrown and recorded; withResponse still works', async () => {
  await assert.rejects(plain.messages.create({ ...PARAMS, model: 'error-429' }), Anthropic.RateLimitError);
  await assert.rejects(wrapped.messages.create({ ...PARAMS, model: 'error-429' }), (e) => e instanceof Anthropic.RateLimitError && e.status === 429);
  await assert.rejects(wrapped.messages.create({ ...PARAMS, model: 'error-500', stream: true }), Anthropic.InternalServerError);
  const { data, response } = await wrapped.messages.create(PARAMS).withResponse();
  assert.equal(data.id, 'msg_01');
  assert.equal(response.status, 200);
  const all = await spans(3);
  assert.equal(all[0].status, 'error');
  assert.equal(all[0].error.type, 'RateLimitError');
  assert.equal(all[0].metadata.status_code, 429);
  assert.equal(all[1].metadata.status_code, 500);
  assert.equal(all[2].status, 'ok');
});
