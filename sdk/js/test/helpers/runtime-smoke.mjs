// Run under Deno or Bun by runtimes.test.mjs: the ESM build records nested spans and delivers them.
import * as lynex from '../../dist/esm/index.js';

const url = globalThis.Deno ? globalThis.Deno.args[0] : process.argv[2];
lynex.init({ apiKey: 'k', host: url, flushIntervalMs: 10 });
const inner = lynex.observe(async (x) => {
  await new Promise((r) => setTimeout(r, 2));
  return x + 1;
}, { name: 'inner' });
const outer = lynex.observe(async (x) => inner(x), { name: 'outer' });
await Promise.all([outer(1), outer(2)]);
lynex.log({ name: 'logged', input: 'x'.repeat(3000) });
const flushed = await lynex.flush({ timeoutMs: 5000 });
console.log(JSON.stringify({ tracksAsync: lynex.tracksAsyncContext(), flushed, stats: lynex.stats() }));
await lynex.shutdown({ timeoutMs: 1000 });
