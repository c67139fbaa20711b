// Optional: the ESM build under Deno and Bun (binaries from LYNEX_DENO / LYNEX_BUN; skipped without them).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startIngest } from './helpers/ingest-server.mjs';

const server = await startIngest();
after(() => server.close());
const script = fileURLToPath(new URL('./helpers/runtime-smoke.mjs', import.meta.url));

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill(), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

const runtimes = [
  ['Deno', process.env.LYNEX_DENO, (bin) => [bin, ['run', '--allow-net', '--allow-env', '--allow-read', script, server.url]]],
  ['Bun', process.env.LYNEX_BUN, (bin) => [bin, [script, server.url]]],
];

for (const [name, bin, argv] of runtimes) {
  test(`${name}: nested async spans with AsyncLocalStorage, gzip, delivery`, { skip: bin ? false : `set LYNEX_${name.toUpperCase()} to run` }, async () => {
    server.state.spans.length = 0;
    server.state.requests.length = 0;
    const [cmd, args] = argv(bin);
    const r = await run(cmd, args);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out.trim().split('\n').at(-1));
    assert.equal(out.flushed, true);
    assert.equal(out.tracksAsync, true);
    const outers = server.spans.filter((s) => s.name === 'outer');
    assert.equal(outers.length, 2);
    for (const o of outers) {
      const kids = server.spans.filter((s) => s.parent_id === o.id);
      assert.equal(kids.length, 1);
      assert.equal(kids[0].input, o.input);
    }
    assert.ok(server.spans.find((s) => s.name === 'logged'));
    assert.ok(server.requests.some((req) => req.gzipped), 'CompressionStream gzip used');
  });
}
