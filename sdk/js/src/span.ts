// The span handle the app holds while work runs, and the conversion of its fields to the wire format.

import { toJsonable, truncate } from './serialize.js';
import { monotonicMs } from './runtime.js';
import type { LogFields, SpanKind, Usage, WireSpan } from './types.js';

/** What a handle reports to when it ends (the Client). */
export interface SpanSink {
  readonly captureContent: boolean;
  readonly maxStringChars: number;
  finishSpan(span: SpanHandle): void;
}

const CAMEL_TO_WIRE: Record<string, string> = {
  traceId: 'trace_id',
  parentId: 'parent_id',
  sessionId: 'session_id',
  userId: 'user_id',
  startTime: 'start_time',
  endTime: 'end_time',
  latencyMs: 'latency_ms',
  ttftMs: 'ttft_ms',
  costUsd: 'cost_usd',
  modelParameters: 'model_parameters',
  promptName: 'prompt_name',
  promptVersion: 'prompt_version',
};

const USAGE_KEYS: Record<string, string> = {
  inputTokens: 'input_tokens',
  outputTokens: 'output_tokens',
  totalTokens: 'total_tokens',
  cachedTokens: 'cached_tokens',
  reasoningTokens: 'reasoning_tokens',
  input_tokens: 'input_tokens',
  output_tokens: 'output_tokens',
  total_tokens: 'total_tokens',
  cached_tokens: 'cached_tokens',
  reasoning_tokens: 'reasoning_tokens',
};

/** Usage in wire form; camelCase or snake_case keys in, numeric fields only out (undefined if none). */
export function usageToWire(usage: Usage | Record<string, unknown> | null | undefined): WireSpan['usage'] | undefined {
  if (!usage || typeof usage !== 'object') return undefined;
  const out: Record<string, number> = {};
  let any = false;
  for (const [k, v] of Object.entries(usage)) {
    const key = USAGE_KEYS[k];
    if (key && typeof v === 'number' && Number.isFinite(v)) {
      out[key] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** `{type, message}` for anything thrown. */
export function errorToWire(err: unknown, maxChars = 10_000): { type: string; message: string } {
  if (err && typeof err === 'object') {
    const e = err as any;
    const ctor = e.constructor?.name;
    const type = typeof e.name === 'string' && e.name !== 'Error' ? e.name : ctor && ctor !== 'Object' ? ctor : 'Error';
    const message = typeof e.message === 'string' ? e.message : safeString(err);
    return { type, message: truncate(message, maxChars) };
  }
  return { type: typeof err, message: truncate(safeString(err), maxChars) };
}

function safeString(v: unknown): string {
  try {
    return String(v);
  } catch {
    return '<unprintable>';
  }
}

function timeToWire(v: unknown): unknown {
  return v instanceof Date ? v.toISOString() : v;
}

/**
 * Convert camelCase fields (as `log()` and `span.set()` take them) to wire fields; snake_case and
 * unknown keys pass through unchanged. Content fields go through toJsonable for a snapshot.
 */
export function fieldsToWire(fields: LogFields, maxChars: number, captureContent: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || k === 'parent') continue;
    const key = CAMEL_TO_WIRE[k] ?? k;
    switch (key) {
      case 'usage':
        out.usage = usageToWire(v as Usage);
        break;
      case 'error':
        out.error = v === null ? null : errorOrObject(v, maxChars);
        break;
      case 'start_time':
      case 'end_time':
        out[key] = timeToWire(v);
        break;
      case 'input':
      case 'output':
        if (captureContent) out[key] = toJsonable(v, maxChars);
        break;
      default:
        out[key] = typeof v === 'object' && v !== null ? toJsonable(v, maxChars) : v;
    }
  }
  return out;
}

function errorOrObject(v: unknown, maxChars: number): unknown {
  if (v && typeof v === 'object' && !(v instanceof Error) && typeof (v as any).type === 'string') {
    return { type: (v as any).type, message: truncate(String((v as any).message ?? ''), maxChars) };
  }
  return errorToWire(v, maxChars);
}

export interface SpanInit {
  id: string;
  traceId: string;
  parentId: string | null;
  name: string;
  kind: SpanKind;
  sampled: boolean;
  fields: Record<string, unknown>;
}

/** A span in progress: set what you learn, then it ends (automatically inside `span()` / `observe()`). */
export class SpanHandle {
  readonly id: string;
  readonly traceId: string;
  readonly parentId: string | null;
  /** False when this trace was not sampled or the SDK is disabled: setters do nothing. */
  readonly sampled: boolean;
  readonly startTime: number;
  /** @internal */ readonly startMono: number;
  /** @internal wire fields set so far */ readonly fields: Record<string, unknown>;
  /** @internal */ endMono: number | undefined;
  name: string;
  kind: SpanKind;
  private readonly sink: SpanSink | null;

  /** @internal created by Client.startSpan */
  constructor(sink: SpanSink | null, init: SpanInit) {
    this.sink = sink;
    this.id = init.id;
    this.traceId = init.traceId;
    this.parentId = init.parentId;
    this.name = init.name;
    this.kind = init.kind;
    this.sampled = init.sampled && sink !== null;
    this.fields = init.fields;
    this.startTime = Date.now();
    this.startMono = monotonicMs();
  }

  /** True once end() has run. */
  get ended(): boolean {
    return this.endMono !== undefined;
  }

  setInput(input: unknown): this {
    if (this.sink && this.sampled && this.sink.captureContent) this.fields.input = toJsonable(input, this.sink.maxStringChars);
    return this;
  }

  setOutput(output: unknown): this {
    if (this.sink && this.sampled && this.sink.captureContent) this.fields.output = toJsonable(output, this.sink.maxStringChars);
    return this;
  }

  setUsage(usage: Usage | WireSpan['usage']): this {
    if (this.sampled) {
      const u = usageToWire(usage as Usage);
      if (u) this.fields.usage = u;
    }
    return this;
  }

  /** Merge keys into the span's metadata. */
  setMetadata(metadata: Record<string, unknown>): this {
    if (this.sink && this.sampled && metadata && typeof metadata === 'object') {
      const copy = toJsonable(metadata, this.sink.maxStringChars) as Record<string, unknown>;
      this.fields.metadata = { ...(this.fields.metadata as object | undefined), ...copy };
    }
    return this;
  }

  /** Mark the span failed with this error (status "error", error {type, message}). */
  setError(error: unknown): this {
    if (this.sampled) {
      this.fields.status = 'error';
      this.fields.error = errorToWire(error);
    }
    return this;
  }

  setModel(model: string, provider?: string): this {
    if (this.sampled) {
      this.fields.model = model;
      if (provider !== undefined) this.fields.provider = provider;
    }
    return this;
  }

  /** Add tags. */
  setTags(tags: string[]): this {
    if (this.sampled && Array.isArray(tags)) {
      const have = (this.fields.tags as string[] | undefined) ?? [];
      this.fields.tags = Array.from(new Set([...have, ...tags.map(String)]));
    }
    return this;
  }

  /** Set any wire fields at once, camelCase or snake_case (costUsd, promptName, ttftMs, …). */
  set(fields: LogFields): this {
    if (this.sink && this.sampled && fields && typeof fields === 'object') {
      const wire = fieldsToWire(fields, this.sink.maxStringChars, this.sink.captureContent);
      for (const key of ['id', 'trace_id', 'parent_id']) delete wire[key];
      if (wire.metadata) wire.metadata = { ...(this.fields.metadata as object | undefined), ...(wire.metadata as object) };
      Object.assign(this.fields, wire);
    }
    return this;
  }

  /** Record time to first token now (first call wins). */
  markFirstToken(): this {
    if (this.fields.ttft_ms === undefined) this.fields.ttft_ms = round3(monotonicMs() - this.startMono);
    return this;
  }

  /** Finish the span and queue it; later calls do nothing. Never throws. */
  end(): void {
    if (this.endMono !== undefined) return;
    this.endMono = monotonicMs();
    if (!this.sink) return;
    try {
      this.sink.finishSpan(this);
    } catch {
      // the SDK never throws into the app
    }
  }

  /** @internal the span in wire form (ends it first if needed) */
  toWire(): WireSpan {
    const latency = Math.max(0, (this.endMono ?? monotonicMs()) - this.startMono);
    return {
      id: this.id,
      trace_id: this.traceId,
      parent_id: this.parentId,
      name: this.name,
      kind: this.kind,
      start_time: new Date(this.startTime).toISOString(),
      end_time: new Date(this.startTime + latency).toISOString(),
      latency_ms: round3(latency),
      status: 'ok',
      ...this.fields,
    };
  }
}

export function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
