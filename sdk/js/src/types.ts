// Public types. Field names follow JavaScript (camelCase); the wire format (snake_case) is built in span.ts.

export type SpanKind =
  | 'llm'
  | 'tool'
  | 'retrieval'
  | 'embedding'
  | 'agent'
  | 'chain'
  | 'guardrail'
  | 'evaluator'
  | 'custom';

export const SPAN_KINDS: readonly SpanKind[] = [
  'llm', 'tool', 'retrieval', 'embedding', 'agent', 'chain', 'guardrail', 'evaluator', 'custom',
];

/** Token counts. snake_case keys (as on the wire) are accepted too. */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  cachedTokens?: number;
  reasoningTokens?: number;
}

/** A span as sent on the wire (wire contract v1); what `beforeSend` receives and returns. */
export interface WireSpan {
  id: string;
  trace_id?: string;
  parent_id?: string | null;
  session_id?: string | null;
  user_id?: string | null;
  name?: string;
  kind?: SpanKind;
  start_time?: string | number;
  end_time?: string | number;
  latency_ms?: number;
  ttft_ms?: number;
  status?: 'ok' | 'error';
  error?: { type: string; message: string } | null;
  model?: string | null;
  provider?: string | null;
  input?: unknown;
  output?: unknown;
  usage?: {
    input_tokens?: number;
    output_tokens?: number;
    total_tokens?: number;
    cached_tokens?: number;
    reasoning_tokens?: number;
  };
  cost_usd?: number | null;
  model_parameters?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  tags?: string[];
  environment?: string;
  release?: string;
  prompt_name?: string;
  prompt_version?: number;
  [field: string]: unknown;
}

/** Where a new span hangs: a span handle, or ids carried over from elsewhere (another process, a header). */
export type ParentRef = { id: string; traceId: string; sampled?: boolean } | { spanId: string; traceId: string };

/** Options shared by `span()`, `observe()` and `startSpan()`. */
export interface SpanOptions {
  kind?: SpanKind;
  input?: unknown;
  model?: string;
  provider?: string;
  metadata?: Record<string, unknown>;
  tags?: string[];
  modelParameters?: Record<string, unknown>;
  promptName?: string;
  promptVersion?: number;
  sessionId?: string;
  userId?: string;
  /** Explicit parent, for runtimes without AsyncLocalStorage (browsers) or to join a remote trace. */
  parent?: ParentRef | null;
}

/** One complete event for `log()`: every wire field, in camelCase (snake_case accepted too). */
export interface LogFields {
  id?: string;
  traceId?: string;
  parentId?: string | null;
  sessionId?: string;
  userId?: string;
  name?: string;
  kind?: SpanKind;
  startTime?: string | number | Date;
  endTime?: string | number | Date;
  latencyMs?: number;
  ttftMs?: number;
  status?: 'ok' | 'error';
  error?: unknown;
  model?: string;
  provider?: string;
  input?: unknown;
  output?: unknown;
  usage?: Usage | WireSpan['usage'];
  costUsd?: number;
  modelParameters?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  tags?: string[];
  environment?: string;
  release?: string;
  promptName?: string;
  promptVersion?: number;
  parent?: ParentRef | null;
  [field: string]: unknown;
}

export interface ContextFields {
  sessionId?: string;
  userId?: string;
  tags?: string[];
  metadata?: Record<string, unknown>;
}

/** Counters for what happened to every span handed to the SDK. */
export interface Stats {
  sent: number;
  queued: number;
  dropped: Record<DropReason, number>;
}

export type DropReason =
  | 'queue_full'
  | 'sampled'
  | 'before_send'
  | 'before_send_error'
  | 'rejected'
  | 'network_error'
  | 'unserializable'
  | 'shutdown';

/** Reasons a span can be dropped (the same names as the Python SDK); `stats()` always lists all of them. */
export const DROP_REASONS: readonly DropReason[] = [
  'queue_full', // the in-memory queue was at maxQueueSize when the span ended
  'sampled', // not selected by sampleRate
  'before_send', // beforeSend returned null
  'before_send_error', // beforeSend threw; dropped rather than sent unredacted
  'rejected', // the server refused it (4xx, or listed as rejected in a 207), or it exceeds batchMaxBytes
  'network_error', // the server kept failing (5xx) past maxRetries
  'unserializable', // could not be encoded as JSON (e.g. a cycle added by beforeSend)
  'shutdown', // ended after shutdown(), or still queued at the shutdown deadline
];
