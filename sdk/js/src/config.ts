// SDK configuration: built once by `init()`, frozen, passed down. The only module that reads the environment.

import { readEnv } from './runtime.js';
import type { WireSpan } from './types.js';

export const DEFAULT_HOST = 'http://127.0.0.1:8600';

/** Receives the span as it will go on the wire; returns it (possibly edited) or null to drop it. */
export type BeforeSend = (span: WireSpan) => WireSpan | null | undefined;

/** The part of `fetch` the SDK uses (declared here so the types need neither DOM nor Node typings). */
export type FetchLike = (url: string, init: {
  method: string;
  headers: Record<string, string>;
  body: any;
  signal?: any;
  keepalive?: boolean;
}) => Promise<{ status: number; ok: boolean; headers: { get(name: string): string | null }; text(): Promise<string> }>;

export interface InitOptions {
  /** API key with the `ingest` scope (env LYNEX_API_KEY in Node). In browsers use an ingest-only key. */
  apiKey?: string;
  /** Lynex server URL (env LYNEX_HOST in Node). Default http://127.0.0.1:8600. */
  host?: string;
  environment?: string;
  release?: string;
  /** Fraction of traces kept, 0..1; decided once per trace so a trace is never half-sent. */
  sampleRate?: number;
  beforeSend?: BeforeSend;
  /** false: never record input/output (prompts, responses, function arguments). */
  captureContent?: boolean;
  /** false: the SDK is a no-op (env LYNEX_ENABLED=false too). */
  enabled?: boolean;
  maxQueueSize?: number;
  batchMaxSpans?: number;
  batchMaxBytes?: number;
  flushIntervalMs?: number;
  requestTimeoutMs?: number;
  shutdownTimeoutMs?: number;
  /** Attempts after the first for a batch the server answered with a 5xx other than 503. */
  maxRetries?: number;
  retryBackoffBaseMs?: number;
  retryBackoffMaxMs?: number;
  /** Longest string kept in input/output/metadata; longer text is truncated with a marker. */
  maxStringChars?: number;
  /** gzip request bodies where CompressionStream exists. */
  gzip?: boolean;
  headers?: Record<string, string>;
  /** fetch implementation; default globalThis.fetch. */
  fetch?: FetchLike;
  /** Flush on Node's beforeExit and on browser page hide. Default true. */
  flushOnExit?: boolean;
}

export interface Config {
  readonly apiKey: string;
  readonly host: string;
  readonly ingestUrl: string;
  readonly environment?: string;
  readonly release?: string;
  readonly sampleRate: number;
  readonly beforeSend?: BeforeSend;
  readonly captureContent: boolean;
  readonly enabled: boolean;
  readonly maxQueueSize: number;
  readonly batchMaxSpans: number;
  readonly batchMaxBytes: number;
  readonly flushIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly maxRetries: number;
  readonly retryBackoffBaseMs: number;
  readonly retryBackoffMaxMs: number;
  readonly maxStringChars: number;
  readonly gzip: boolean;
  readonly headers: Readonly<Record<string, string>>;
  readonly fetch?: FetchLike;
  readonly flushOnExit: boolean;
}

const DEFAULTS = {
  sampleRate: 1,
  captureContent: true,
  enabled: true,
  maxQueueSize: 10_000,
  batchMaxSpans: 100,
  batchMaxBytes: 1024 * 1024,
  flushIntervalMs: 1000,
  requestTimeoutMs: 5000,
  shutdownTimeoutMs: 2000,
  maxRetries: 2,
  retryBackoffBaseMs: 250,
  retryBackoffMaxMs: 30_000,
  maxStringChars: 100_000,
  gzip: true,
  flushOnExit: true,
};

const KNOWN = new Set<string>([
  'apiKey', 'host', 'environment', 'release', 'beforeSend', 'headers', 'fetch', ...Object.keys(DEFAULTS),
]);

/**
 * Merge options over LYNEX_* environment variables; return the config and a list of problems.
 * A non-empty problem list means the SDK must run as a no-op; each problem says how to fix it.
 */
export function resolveConfig(options: InitOptions = {}): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const opts: Record<string, any> = {};
  for (const [k, v] of Object.entries(options ?? {})) {
    if (v === undefined) continue;
    if (!KNOWN.has(k)) problems.push(`unknown option '${k}' passed to lynex init(); remove it`);
    else opts[k] = v;
  }
  const envEnabled = readEnv('LYNEX_ENABLED');
  const enabled = opts.enabled ?? !(envEnabled && ['0', 'false', 'no', 'off'].includes(envEnabled.toLowerCase()));
  const host = String(opts.host ?? readEnv('LYNEX_HOST') ?? DEFAULT_HOST);
  const config: Config = Object.freeze({
    ...DEFAULTS,
    ...opts,
    apiKey: opts.apiKey ?? readEnv('LYNEX_API_KEY') ?? '',
    host,
    ingestUrl: host.replace(/\/+$/, '') + '/v1/ingest',
    environment: opts.environment ?? readEnv('LYNEX_ENVIRONMENT'),
    release: opts.release ?? readEnv('LYNEX_RELEASE'),
    enabled: enabled !== false,
    headers: Object.freeze({ ...(opts.headers ?? {}) }),
  }) as Config;
  if (config.enabled) problems.push(...findProblems(config));
  return { config, problems };
}

function findProblems(c: Config): string[] {
  const out: string[] = [];
  if (typeof c.apiKey !== 'string' || !c.apiKey) {
    out.push('no API key: pass init({ apiKey }) or set LYNEX_API_KEY');
  }
  let url: URL | undefined;
  try {
    url = new URL(c.host);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    out.push(`invalid host '${c.host}': use a URL like ${DEFAULT_HOST} (init({ host }) or LYNEX_HOST)`);
  }
  if (typeof c.sampleRate !== 'number' || !(c.sampleRate >= 0 && c.sampleRate <= 1)) {
    out.push(`invalid sampleRate ${String(c.sampleRate)}: use a number between 0 and 1`);
  }
  if (c.beforeSend !== undefined && typeof c.beforeSend !== 'function') {
    out.push('beforeSend must be a function taking a span object and returning it or null');
  }
  if (c.fetch === undefined && typeof (globalThis as any).fetch !== 'function') {
    out.push('no fetch in this runtime: use Node >= 18, or pass init({ fetch })');
  }
  for (const name of ['maxQueueSize', 'batchMaxSpans', 'batchMaxBytes', 'maxStringChars'] as const) {
    const v = c[name];
    if (!Number.isInteger(v) || v < 1) out.push(`invalid ${name} ${String(v)}: use a positive integer`);
  }
  for (const name of ['flushIntervalMs', 'requestTimeoutMs', 'shutdownTimeoutMs', 'retryBackoffBaseMs', 'retryBackoffMaxMs'] as const) {
    const v = c[name];
    if (typeof v !== 'number' || !(v > 0)) out.push(`invalid ${name} ${String(v)}: use a positive number of milliseconds`);
  }
  if (!Number.isInteger(c.maxRetries) || c.maxRetries < 0) {
    out.push(`invalid maxRetries ${String(c.maxRetries)}: use an integer >= 0`);
  }
  return out;
}
