// Which span and which session/user context is active "here".
//
// In Node (and Bun, Deno) this follows async calls through AsyncLocalStorage, so concurrent requests
// never see each other's spans. AsyncLocalStorage is looked up lazily: browsers never load it, and
// there the active context follows synchronous calls only, so async code passes `parent` explicitly.

import type { SpanHandle } from './span.js';
import { loadBuiltin, nodeProcess } from './runtime.js';

/** What is active: the current span plus the session/user/tags/metadata set by `context()`. */
export interface ActiveContext {
  readonly span?: SpanHandle;
  readonly sessionId?: string;
  readonly userId?: string;
  readonly tags?: readonly string[];
  readonly metadata?: Readonly<Record<string, unknown>>;
}

interface Storage {
  run<R>(store: ActiveContext, fn: () => R): R;
  getStore(): ActiveContext | undefined;
}

/** Follows synchronous calls only: the fallback where AsyncLocalStorage does not exist. */
class SyncStorage implements Storage {
  readonly followsAsync = false;
  private current: ActiveContext | undefined;
  run<R>(store: ActiveContext, fn: () => R): R {
    const prev = this.current;
    this.current = store;
    try {
      return fn();
    } finally {
      this.current = prev;
    }
  }
  getStore(): ActiveContext | undefined {
    return this.current;
  }
}

function createStorage(): Storage {
  const hooks = loadBuiltin('node:async_hooks');
  if (hooks && typeof hooks.AsyncLocalStorage === 'function') return new hooks.AsyncLocalStorage();
  const fallback = new SyncStorage();
  // Node 18 loading the ES module build has no synchronous way to reach built-ins: import it and
  // switch over as soon as it resolves (a tick after startup).
  if (nodeProcess() || (globalThis as any).Deno) {
    const spec = 'node:async_hooks';
    import(/* webpackIgnore: true */ /* @vite-ignore */ spec).then(
      (m: any) => {
        if (m && typeof m.AsyncLocalStorage === 'function' && holder.storage === fallback) holder.storage = new m.AsyncLocalStorage();
      },
      () => undefined,
    );
  }
  return fallback;
}

// One storage per process, shared by every Client (and by the ESM and CJS builds, if both get
// loaded), so spans nest whichever client or build made them.
const STORAGE = Symbol.for('lynex.sdk.context.v1');
const holder: { storage: Storage } = ((globalThis as any)[STORAGE] ??= { storage: undefined });
if (!holder.storage) holder.storage = createStorage();

/** The context active here, if any. */
export function activeContext(): ActiveContext | undefined {
  return holder.storage.getStore();
}

/** Run `fn` with `ctx` active (for it and, with AsyncLocalStorage, everything it awaits). */
export function runWithContext<R>(ctx: ActiveContext, fn: () => R): R {
  return holder.storage.run(ctx, fn);
}

/** True when the active context follows async calls (AsyncLocalStorage), false for the sync fallback. */
export function tracksAsyncContext(): boolean {
  return (holder.storage as any).followsAsync !== false;
}
