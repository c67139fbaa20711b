// The Client: one configured SDK instance. It makes spans, decides sampling, applies beforeSend and
// captureContent, serializes, and hands spans to its Transport. Nothing here throws into the app.

import { resolveConfig, type Config, type InitOptions } from './config.js';
import { activeContext, runWithContext, type ActiveContext } from './context.js';
import { setDefaultClientFactory } from './hub.js';
import { isThenable, newId, nodeProcess } from './runtime.js';
import { toJsonable } from './serialize.js';
import { fieldsToWire, SpanHandle, type SpanSink } from './span.js';
import { StatsCounter, Transport } from './transport.js';
import { SPAN_KINDS, type ContextFields, type LogFields, type ParentRef, type SpanKind, type SpanOptions, type Stats, type WireSpan } from './types.js';

export interface ObserveOptions extends SpanOptions {
  /** Span name; default the function's name. */
  name?: string;
  /** Record the arguments as input (default true; captureContent=false overrides). */
  captureInput?: boolean;
  /** Record the return value (awaited for promises) as output (default true). */
  captureOutput?: boolean;
}

const DEFAULT_FLUSH_TIMEOUT_MS = 5000;

export class Client implements SpanSink {
  readonly config: Config;
  /** False when disabled or misconfigured: every call is a cheap no-op. */
  readonly enabled: boolean;
  private readonly counters = new StatsCounter();
  private readonly transport: Transport | undefined;
  private readonly warned = new Set<string>();
  private readonly detach: Array<() => void> = [];

  constructor(options: InitOptions = {}) {
    const { config, problems } = resolveConfig(options);
    this.config = config;
    if (problems.length > 0) this.warnOnce('config', `Lynex SDK disabled: ${problems.join('; ')}`);
    this.enabled = config.enabled && problems.length === 0;
    if (this.enabled) {
      this.transport = new Transport(config, this.counters, (key, msg) => this.warnOnce(key, msg));
      if (config.flushOnExit) this.installExitHooks();
    }
  }

  get captureContent(): boolean {
    return this.config.captureContent;
  }

  get maxStringChars(): number {
    return this.config.maxStringChars;
  }

  /**
   * Start a span by hand; call `end()` on it when done. It does not become the active parent:
   * pass `{ parent: handle }` to children, or use `span()` which does both.
   */
  startSpan(name: string, opts: SpanOptions = {}): SpanHandle {
    const ctx = activeContext();
    const parent = toParent(opts.parent === undefined ? ctx?.span : opts.parent);
    const id = newId();
    const traceId = parent?.traceId ?? id;
    const sampled = this.enabled && (parent ? parent.sampled : this.sample());
    const kind = this.checkKind(opts.kind, 'custom');
    if (!sampled) {
      return new SpanHandle(this.enabled ? this : null, { id, traceId, parentId: parent?.id ?? null, name, kind, sampled, fields: {} });
    }
    const fields = contextFields(ctx, opts);
    const handle = new SpanHandle(this, { id, traceId, parentId: parent?.id ?? null, name: String(name), kind, sampled, fields });
    if (opts.input !== undefined) handle.setInput(opts.input);
    const extra: LogFields = {
      model: opts.model,
      provider: opts.provider,
      modelParameters: opts.modelParameters,
      promptName: opts.promptName,
      promptVersion: opts.promptVersion,
    };
    handle.set(extra);
    return handle;
  }

  /** Run `fn(span)` inside a new span that is the active parent for everything `fn` calls; returns what fn returns. */
  span<R>(name: string, fn: (span: SpanHandle) => R, opts: SpanOptions = {}): R {
    if (!this.enabled) return fn(this.startSpan(name, opts));
    let handle: SpanHandle;
    try {
      handle = this.startSpan(name, opts);
    } catch (err) {
      this.internalError(err);
      return fn(new SpanHandle(null, { id: '', traceId: '', parentId: null, name, kind: 'custom', sampled: false, fields: {} }));
    }
    return this.runInSpan(handle, () => fn(handle), false);
  }

  /** Wrap `fn` (sync or async) so each call is a span with its arguments as input and its result as output. */
  observe<F extends (...args: any[]) => any>(fn: F, opts: ObserveOptions = {}): F {
    const client = this;
    const wrapped = function (this: unknown, ...args: unknown[]) {
      return client.callObserved(fn, this, args, opts);
    };
    return copyName(wrapped, fn) as unknown as F;
  }

  /** @internal one call of an observed function */
  callObserved(fn: (...args: any[]) => any, thisArg: unknown, args: unknown[], opts: ObserveOptions): any {
    if (!this.enabled) return fn.apply(thisArg, args);
    let handle: SpanHandle;
    try {
      handle = this.startSpan(opts.name || fn.name || 'anonymous', { ...opts, kind: opts.kind ?? 'custom' });
      if (opts.captureInput !== false && args.length > 0) handle.setInput(args.length === 1 ? args[0] : args);
    } catch (err) {
      this.internalError(err);
      return fn.apply(thisArg, args);
    }
    return this.runInSpan(handle, () => fn.apply(thisArg, args), opts.captureOutput !== false);
  }

  private runInSpan<R>(handle: SpanHandle, fn: () => R, captureOutput: boolean): R {
    let result: R;
    try {
      result = runWithContext({ ...activeContext(), span: handle }, fn);
    } catch (err) {
      this.safely(() => handle.setError(err));
      handle.end();
      throw err;
    }
    if (isThenable(result)) {
      return (result as any).then(
        (value: unknown) => {
          if (captureOutput) this.safely(() => handle.setOutput(value));
          handle.end();
          return value;
        },
        (err: unknown) => {
          this.safely(() => handle.setError(err));
          handle.end();
          throw err;
        },
      ) as R;
    }
    if (captureOutput) this.safely(() => handle.setOutput(result));
    handle.end();
    return result;
  }

  /** Record one complete event (e.g. an LLM call you timed yourself); returns its span id. */
  log(fields: LogFields): string | undefined {
    if (!this.enabled) return undefined;
    try {
      const f = fields ?? {};
      const ctx = activeContext();
      const parent = toParent(f.parent === undefined ? ctx?.span : f.parent);
      const wire = fieldsToWire(f, this.config.maxStringChars, this.config.captureContent) as WireSpan;
      const id = typeof wire.id === 'string' && wire.id ? wire.id : newId();
      const sampled = parent ? parent.sampled : this.sample();
      if (!sampled) {
        this.counters.drop('sampled');
        return id;
      }
      const merged = contextFields(ctx, {
        sessionId: wire.session_id ?? undefined,
        userId: wire.user_id ?? undefined,
        tags: wire.tags,
        metadata: wire.metadata,
      });
      const now = Date.now();
      const span: WireSpan = {
        name: 'llm',
        ...wire,
        ...merged,
        id,
        trace_id: wire.trace_id ?? parent?.traceId ?? id,
        parent_id: wire.parent_id !== undefined ? wire.parent_id : parent?.id ?? null,
        kind: this.checkKind(wire.kind, 'llm'),
      };
      if (span.error && span.status === undefined) span.status = 'error';
      if (span.start_time === undefined && span.end_time === undefined) {
        span.end_time = new Date(now).toISOString();
        span.start_time = new Date(now - (typeof span.latency_ms === 'number' ? span.latency_ms : 0)).toISOString();
      }
      this.emit(span);
      return id;
    } catch (err) {
      this.internalError(err);
      return undefined;
    }
  }

  /** @internal SpanSink: a handle ended */
  finishSpan(handle: SpanHandle): void {
    if (!handle.sampled) {
      this.counters.drop('sampled');
      return;
    }
    this.emit(handle.toWire());
  }

  private emit(span: WireSpan): void {
    if (!this.transport) return;
    try {
      if (this.config.environment !== undefined && span.environment === undefined) span.environment = this.config.environment;
      if (this.config.release !== undefined && span.release === undefined) span.release = this.config.release;
      if (!this.config.captureContent) {
        delete span.input;
        delete span.output;
      }
      let out: WireSpan | null | undefined = span;
      if (this.config.beforeSend) {
        try {
          out = this.config.beforeSend(span);
        } catch (err) {
          this.counters.drop('before_send_error');
          this.warnOnce('before_send', `beforeSend threw (${String(err)}); the span was dropped rather than sent unredacted`);
          return;
        }
        if (!out) {
          this.counters.drop('before_send');
          return;
        }
      }
      let json: string;
      try {
        json = JSON.stringify(out);
      } catch (err) {
        this.counters.drop('unserializable');
        this.warnOnce('unserializable', `a span could not be encoded as JSON (${String(err)}) and was dropped`);
        return;
      }
      this.transport.enqueue(json);
    } catch (err) {
      this.internalError(err);
    }
  }

  /** Send everything queued so far; resolves true when done, false at the deadline. Never rejects. */
  async flush(opts: { timeoutMs?: number } = {}): Promise<boolean> {
    if (!this.transport) return true;
    try {
      return await this.transport.flush(opts?.timeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS);
    } catch (err) {
      this.internalError(err);
      return false;
    }
  }

  /** Flush within the deadline, then stop; spans ended afterwards are dropped. Never rejects. */
  async shutdown(opts: { timeoutMs?: number } = {}): Promise<boolean> {
    for (const undo of this.detach.splice(0)) this.safely(undo);
    if (!this.transport) return true;
    try {
      return await this.transport.shutdown(opts?.timeoutMs ?? this.config.shutdownTimeoutMs);
    } catch (err) {
      this.internalError(err);
      return false;
    }
  }

  /** Counters: sent, queued, and dropped by reason. */
  stats(): Stats {
    return { sent: this.counters.sent, queued: this.transport?.pending ?? 0, dropped: { ...this.counters.dropped } };
  }

  private sample(): boolean {
    const rate = this.config.sampleRate;
    return rate >= 1 || (rate > 0 && Math.random() < rate);
  }

  private checkKind(kind: unknown, fallback: SpanKind): SpanKind {
    if (kind === undefined || kind === null) return fallback;
    if ((SPAN_KINDS as readonly unknown[]).includes(kind)) return kind as SpanKind;
    this.warnOnce(`kind:${String(kind)}`, `unknown span kind '${String(kind)}'; use one of ${SPAN_KINDS.join(', ')} (recorded as '${fallback}')`);
    return fallback;
  }

  private installExitHooks(): void {
    const proc = nodeProcess();
    if (proc) {
      // beforeExit fires when the event loop is empty; the flush's deadline timer keeps the process
      // alive at most shutdownTimeoutMs. Flush once per batch of new spans so a dead server cannot
      // turn beforeExit into a loop.
      let flushedAt = -1;
      const onBeforeExit = () => {
        const t = this.transport;
        if (!t || t.pending === 0 || t.enqueuedCount === flushedAt) return;
        flushedAt = t.enqueuedCount;
        t.flush(this.config.shutdownTimeoutMs).catch(() => undefined);
      };
      proc.on('beforeExit', onBeforeExit);
      this.detach.push(() => proc.removeListener('beforeExit', onBeforeExit));
    }
    const g = globalThis as any;
    if (typeof g.addEventListener === 'function' && g.document && typeof g.document.addEventListener === 'function') {
      const onHide = () => this.safely(() => this.transport?.flushOnPageHide());
      const onVisibility = () => {
        if (g.document.visibilityState === 'hidden') onHide();
      };
      g.addEventListener('pagehide', onHide);
      g.document.addEventListener('visibilitychange', onVisibility);
      this.detach.push(() => {
        g.removeEventListener('pagehide', onHide);
        g.document.removeEventListener('visibilitychange', onVisibility);
      });
    }
  }

  /** @internal */
  warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    try {
      (globalThis as any).console?.warn?.(`[lynex] ${message}`);
    } catch {
      // nowhere to report
    }
  }

  private internalError(err: unknown): void {
    this.warnOnce('internal', `internal error (please report): ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }

  private safely(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      this.internalError(err);
    }
  }
}

/** Run `fn` with session/user/tags/metadata applied to every span started inside it. */
export function runInContext<R>(fields: ContextFields, fn: () => R): R {
  const cur = activeContext();
  const f = fields ?? {};
  const next: ActiveContext = {
    span: cur?.span,
    sessionId: f.sessionId ?? cur?.sessionId,
    userId: f.userId ?? cur?.userId,
    tags: f.tags ? Array.from(new Set([...(cur?.tags ?? []), ...f.tags])) : cur?.tags,
    metadata: f.metadata ? { ...cur?.metadata, ...f.metadata } : cur?.metadata,
  };
  return runWithContext(next, fn);
}

function toParent(p: ParentRef | SpanHandle | null | undefined): { id: string; traceId: string; sampled: boolean } | undefined {
  if (!p) return undefined;
  const anyP = p as any;
  const id = anyP.id ?? anyP.spanId;
  if (typeof id !== 'string' || !id || typeof anyP.traceId !== 'string') return undefined;
  return { id, traceId: anyP.traceId, sampled: anyP.sampled !== false };
}

function contextFields(ctx: ActiveContext | undefined, opts: ContextFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const sessionId = opts.sessionId ?? ctx?.sessionId;
  const userId = opts.userId ?? ctx?.userId;
  if (sessionId !== undefined) out.session_id = String(sessionId);
  if (userId !== undefined) out.user_id = String(userId);
  if (ctx?.tags || opts.tags) out.tags = Array.from(new Set([...(ctx?.tags ?? []), ...(opts.tags ?? []).map(String)]));
  if (ctx?.metadata || opts.metadata) out.metadata = toJsonable({ ...ctx?.metadata, ...opts.metadata });
  return out;
}

function copyName(wrapped: Function, fn: Function): Function {
  try {
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  } catch {
    // cosmetic only
  }
  return wrapped;
}

setDefaultClientFactory(() => new Client({ enabled: false }));
