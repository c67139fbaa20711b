// Small facts about the host runtime (Node, Deno, Bun or a browser), probed without importing
// anything at module load, so the same build runs everywhere.

declare const require: ((id: string) => any) | undefined;

/** Node's `process` object when we run in Node (or Bun / Deno's Node compatibility), else undefined. */
export function nodeProcess(): any {
  const p = (globalThis as any).process;
  return p && typeof p.on === 'function' && p.versions && p.versions.node ? p : undefined;
}

/** An environment variable, or undefined where there is no environment (browsers, Deno without permission). */
export function readEnv(name: string): string | undefined {
  try {
    const v = nodeProcess()?.env?.[name];
    if (typeof v === 'string' && v !== '') return v;
  } catch {
    // Deno throws without --allow-env; having no environment is fine.
  }
  try {
    const deno = (globalThis as any).Deno;
    const v = deno?.env?.get?.(name);
    if (typeof v === 'string' && v !== '') return v;
  } catch {
    // same as above
  }
  return undefined;
}

/** Synchronously load a Node built-in if the runtime offers a synchronous way; never throws. */
export function loadBuiltin(name: string): any {
  try {
    const p = (globalThis as any).process;
    if (p && typeof p.getBuiltinModule === 'function') {
      const m = p.getBuiltinModule(name);
      if (m) return m;
    }
  } catch {
    // fall through
  }
  try {
    // Present in the CommonJS build only; the indirection keeps bundlers from resolving it.
    const req = typeof require === 'function' ? require : undefined;
    if (req) return req(name);
  } catch {
    // fall through
  }
  return undefined;
}

/** Keep a timer from holding a Node (or Deno) process open. Returns the timer. */
export function unref<T>(timer: T): T {
  try {
    const t = timer as any;
    if (t && typeof t.unref === 'function') t.unref();
    else if (typeof t === 'number') (globalThis as any).Deno?.unrefTimer?.(t);
  } catch {
    // not every runtime can unref; a short timer is harmless
  }
  return timer;
}

const perf: { now(): number } | undefined = (globalThis as any).performance;

/** Monotonic milliseconds (sub-millisecond precision where available). */
export function monotonicMs(): number {
  return perf ? perf.now() : Date.now();
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? '0' : '') + i.toString(16));
let pool: Uint8Array | undefined;
let poolPos = 0;

/** `bytes` random bytes as lowercase hex; uses Web Crypto when present, pooled for speed. */
export function randomHex(bytes: number): string {
  const c = (globalThis as any).crypto;
  let out = '';
  if (c && typeof c.getRandomValues === 'function') {
    if (!pool || poolPos + bytes > pool.length) {
      pool = new Uint8Array(4096);
      c.getRandomValues(pool);
      poolPos = 0;
    }
    for (let i = 0; i < bytes; i++) out += HEX[pool[poolPos++]];
    return out;
  }
  for (let i = 0; i < bytes; i++) out += HEX[(Math.random() * 256) | 0];
  return out;
}

/** A new 128-bit id as 32 hex characters (span ids and trace ids alike). */
export function newId(): string {
  return randomHex(16);
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as any).then === 'function';
}
