// The built package: ESM and CommonJS outputs both load and work, `npm pack` makes an installable
// tarball with zero dependencies whose types resolve, and the browser and Node 18 code paths work.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esm from '../dist/esm/index.js';
import { startIngest } from './helpers/ingest-server.mjs';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const server = await startIngest();
const tmp = mkdtempSync(join(tmpdir(), 'lynex-pack-'));
after(async () => {
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
});

function runNode(args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill(), 30_000);
    child.on('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

test('CommonJS build: require() works, with AsyncLocalStorage nesting', async () => {
  const cjs = require('../dist/cjs/index.js');
  assert.equal(typeof cjs.init, 'function');
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  assert.equal(cjs.tracksAsyncContext(), true);
  const client = cjs.init({ apiKey: 'k', host: server.url, flushIntervalMs: 10 });
  const inner = cjs.observe(async () => 1, { name: 'cjs-inner' });
  await cjs.observe(async () => {
    await new Promise((r) => setTimeout(r, 1));
    return inner();
  }, { name: 'cjs-outer' })();
  assert.equal(esm.getClient(), client, 'ESM and CJS builds loaded together share one client');
  await esm.span('esm-parent', () => cjs.span('cjs-child', () => undefined));
  assert.equal(await cjs.flush(), true);
  const esmParent = server.spans.find((s) => s.name === 'esm-parent');
  assert.equal(server.spans.find((s) => s.name === 'cjs-child').parent_id, esmParent.id, 'and one context');
  const outer = server.spans.find((s) => s.name === 'cjs-outer');
  assert.equal(server.spans.find((s) => s.name === 'cjs-inner').parent_id, outer.id);
  await cjs.shutdown();
});

test('npm pack: installable tarball, zero dependencies, import + require + types by package name', () => {
  // --ignore-scripts: prepack would rebuild dist/ while the other test files run against it.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp, '--json'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [info] = JSON.parse(out);
  const files = info.files.map((f) => f.path);
  assert.ok(files.includes('dist/esm/index.js') && files.includes('dist/cjs/index.js') && files.includes('dist/esm/index.d.ts'));
  assert.ok(files.includes('README.md'));
  assert.ok(!files.some((f) => f.startsWith('src/') || f.startsWith('test/')));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  assert.equal(pkg.dependencies, undefined, 'zero runtime dependencies');

  const app = join(tmp, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(tmp, tarball)], { cwd: app, stdio: 'ignore' });
  const esmRun = spawnSync(process.execPath, ['--input-type=module', '-e', "import { init, observe, wrapOpenAI } from 'lynex-sdk'; console.log(typeof init, typeof observe, typeof wrapOpenAI);"], { cwd: app, encoding: 'utf8' });
  assert.equal(esmRun.stdout.trim(), 'function function function', esmRun.stderr);
  const cjsRun = spawnSync(process.execPath, ['-e', "const l = require('lynex-sdk'); console.log(typeof l.init, typeof l.span);"], { cwd: app, encoding: 'utf8' });
  assert.equal(cjsRun.stdout.trim(), 'function function', cjsRun.stderr);

  writeFileSync(join(app, 'check.mts'), [
    "import { init, observe, span, wrapOpenAI, type WireSpan } from 'lynex-sdk';",
    "init({ apiKey: 'k', beforeSend: (s: WireSpan) => s });",
    'const f = observe(async (x: number) => x + 1);',
    'const n: Promise<number> = f(1);',
    "span('s', (h) => { h.setUsage({ inputTokens: 1 }); });",
    'const c: { a: number } = wrapOpenAI({ a: 1 });',
    'void n; void c;',
  ].join('\n'));
  writeFileSync(join(app, 'check.cts'), "import lynex = require('lynex-sdk');\nlynex.init({ apiKey: 'k', sampleRate: 0.5 });\n");
  const tsc = require.resolve('typescript/bin/tsc');
  // No DOM and no Node typings: the declarations must stand on their own.
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { noEmit: true, strict: true, module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'], types: [] },
    files: ['check.mts', 'check.cts'],
  }));
  const r = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: app, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('browser path: no process, no AsyncLocalStorage; sync nesting, explicit parent, keepalive on page hide', async () => {
  server.state.spans.length = 0;
  const path = fileURLToPath(new URL('./helpers/browser-sim.mjs', import.meta.url));
  // Not spawnSync: the ingest server lives in this process's event loop.
  const r = await runNode([path, server.url]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1));
  assert.equal(out.tracksAsync, false);
  assert.ok(out.keepalive >= 1, 'page hide used fetch keepalive');
  const page = server.spans.find((s) => s.name === 'page');
  assert.ok(page, JSON.stringify(out));
  assert.equal(server.spans.find((s) => s.name === 'sync-child').parent_id, page.id);
  assert.equal(server.spans.find((s) => s.name === 'after-await').parent_id, page.id);
});

test('Node 18 path: without getBuiltinModule the ESM build finds AsyncLocalStorage by import()', () => {
  const path = fileURLToPath(new URL('./helpers/node18-sim.mjs', import.meta.url));
  const r = spawnSync(process.execPath, [path], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true });
});
