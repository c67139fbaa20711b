// The pure converters, driven by fixtures (test/fixtures/converters.json): provider data in, span fields out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openaiConverters, anthropicConverters } from '../dist/esm/index.js';
import { parseRetryAfter, backoff } from '../dist/esm/transport.js';
import { toJsonable } from '../dist/esm/serialize.js';

const modules = { openai: openaiConverters, anthropic: anthropicConverters };
const cases = JSON.parse(readFileSync(new URL('./fixtures/converters.json', import.meta.url), 'utf8'));

for (const c of cases) {
  test(`${c.fn}: ${c.about}`, () => {
    const [mod, name] = c.fn.split('.');
    const target = modules[mod][name];
    if (name.endsWith('Accumulator')) {
      const acc = new target();
      const first = c.in.map((item) => acc.add(item));
      if (c.firstTokens) assert.deepEqual(first, c.firstTokens);
      assert.deepEqual(acc.result(), c.out);
    } else {
      assert.deepEqual(target(c.in), c.out);
    }
  });
}

test('converters tolerate missing and odd input without throwing', () => {
  for (const fn of [openaiConverters.chatResponse, openaiConverters.responsesResponse, anthropicConverters.messagesResponse]) {
    for (const v of [undefined, null, {}, 'x', 3, { choices: null, output: 'x', content: 5 }]) fn(v);
  }
  for (const Acc of [openaiConverters.ChatStreamAccumulator, openaiConverters.ResponsesStreamAccumulator, anthropicConverters.MessagesStreamAccumulator]) {
    const acc = new Acc();
    for (const v of [undefined, null, 'x', {}, { type: 'content_block_delta' }, { choices: [null] }]) {
      try {
        acc.add(v);
      } catch (err) {
        assert.fail(`${Acc.name}.add(${JSON.stringify(v)}) threw ${err}`);
      }
    }
    acc.result();
  }
});

test('Retry-After: seconds, HTTP dates, garbage, capped', () => {
  assert.equal(parseRetryAfter('2'), 2000);
  assert.equal(parseRetryAfter('0.5'), 500);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 0), 10_000);
  assert.equal(parseRetryAfter('99999'), 300_000);
});

test('backoff grows exponentially with jitter and is capped', () => {
  const cfg = { retryBackoffBaseMs: 100, retryBackoffMaxMs: 1000 };
  for (let n = 1; n <= 10; n++) {
    const ms = backoff(n, cfg);
    const cap = Math.min(1000, 100 * 2 ** (n - 1));
    assert.ok(ms >= cap / 2 && ms <= cap, `${n}: ${ms}`);
  }
});

test('toJsonable: depth and item limits, errors, typed arrays', () => {
  let deep = 'leaf';
  for (let i = 0; i < 20; i++) deep = { d: deep };
  let v = toJsonable(deep);
  for (let i = 0; i < 12; i++) v = v.d;
  assert.equal(v, '<max depth>');
  const long = toJsonable(Array.from({ length: 1005 }, (_, i) => i));
  assert.equal(long.length, 1001);
  assert.equal(long.at(-1), '<5 more items>');
  assert.deepEqual(toJsonable(new TypeError('x')), { type: 'TypeError', message: 'x' });
  assert.equal(toJsonable(new Uint8Array(4)), '<Uint8Array len=4>');
  assert.equal(toJsonable(NaN), 'NaN');
  const hostile = { get boom() { throw new Error('no'); } };
  assert.equal(toJsonable(hostile), '<Object>');
});
