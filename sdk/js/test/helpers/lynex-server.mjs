// Runs the real `lynex serve` for integration tests: a temp data dir, a project and key made with
// `lynex projects create --json`, a free loopback port, and readiness via GET /readyz.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.LYNEX_PYTHON || 'python3';
const REPO = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));

/** Why `lynex` cannot run here, or undefined when it can. */
export function unavailableReason() {
  const r = spawnSync(PYTHON, ['-c', 'import lynex.cli'], { cwd: REPO, encoding: 'utf8' });
  if (r.error) return `${PYTHON}: ${r.error.message}`;
  if (r.status !== 0) return `${PYTHON} cannot import lynex: ${(r.stderr || '').trim().split('\n').at(-1)}`;
  return undefined;
}

export async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

export class LynexServer {
  constructor() {
    this.dataDir = mkdtempSync(join(tmpdir(), 'lynex-js-'));
    this.proc = undefined;
    this.log = '';
  }

  /** Create a project; returns {id, name, api_key, …}. */
  createProject(name) {
    const r = spawnSync(PYTHON, ['-m', 'lynex', 'projects', 'create', name, '--json', '--data-dir', this.dataDir], { cwd: REPO, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`projects create failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1));
  }

  async start(port) {
    this.port = port ?? this.port ?? (await freePort());
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(PYTHON, ['-m', 'lynex', 'serve', '--host', '127.0.0.1', '--port', String(this.port), '--data-dir', this.dataDir], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout.on('data', (d) => (this.log += d));
    this.proc.stderr.on('data', (d) => (this.log += d));
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.exited = exited;
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      if (this.proc.exitCode !== null) throw new Error(`lynex serve exited early:\n${this.log.slice(-3000)}`);
      try {
        const res = await fetch(`${this.url}/readyz`);
        await res.arrayBuffer();
        if (res.status === 200) return this;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`lynex serve not ready in 60 s:\n${this.log.slice(-3000)}`);
  }

  /** SIGTERM (the server drains what it accepted), wait for exit; SIGKILL after 20 s. */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }

  async get(path, key) {
    const res = await fetch(`${this.url}${path}`, { headers: { Authorization: `Bearer ${key}` } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  }

  async cleanup() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
