// Lynex SDK: the module-level API. Each function uses the client made by the last init().

import { Client, runInContext, type ObserveOptions } from './client.js';
import type { InitOptions } from './config.js';
import { activeContext } from './context.js';
import { getClient, setClient } from './hub.js';
import type { SpanHandle } from './span.js';
import type { ContextFields, LogFields, SpanOptions, Stats } from './types.js';

/**
 * Configure the SDK (apiKey, host, environment, release, sampleRate, beforeSend, captureContent,
 * enabled, …). Bad or missing configuration warns once and leaves the SDK a no-op. Returns the client.
 */
export function init(options: InitOptions = {}): Client {
  const client = new Client(options);
  const previous = setClient(client);
  // The old client sends what it still holds, in the background.
  previous.shutdown().catch(() => undefined);
  return client;
}

/** Record one complete event (an LLM call, a tool call…) in one call; returns its span id. */
export function log(fields: LogFields): string | undefined {
  return getClient().log(fields);
}

/** Wrap a sync or async function so each call becomes a span (child of the active span, if any). */
export function observe<F extends (...args: any[]) => any>(fn: F, opts: ObserveOptions = {}): F {
  const wrapped = function (this: unknown, ...args: unknown[]) {
    return getClient().callObserved(fn, this, args, opts);
  };
  try {
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
  } catch {
    // cosmetic only
  }
  return wrapped as unknown as F;
}

/** Run `fn(span)` in a new span; set input/output/usage/metadata/error on the handle. Returns fn's result. */
export function span<R>(name: string, fn: (span: SpanHandle) => R, opts: SpanOptions = {}): R {
  return getClient().span(name, fn, opts);
}

/** Start a span by hand (call `end()` yourself); pass it as `parent` to its children. */
export function startSpan(name: string, opts: SpanOptions = {}): SpanHandle {
  return getClient().startSpan(name, opts);
}

/** Run `fn` with sessionId/userId/tags/metadata applied to every span started inside it. */
export function context<R>(fields: ContextFields, fn: () => R): R {
  return runInContext(fields, fn);
}

/** The span active here (inside span()/observe()), if any. */
export function currentSpan(): SpanHandle | undefined {
  return activeContext()?.span;
}

/** Send everything queued; resolves true when sent, false at the deadline (default 5000 ms). */
export function flush(opts: { timeoutMs?: number } = {}): Promise<boolean> {
  return getClient().flush(opts);
}

/** Flush within the deadline (default shutdownTimeoutMs, 2000 ms) and stop. */
export function shutdown(opts: { timeoutMs?: number } = {}): Promise<boolean> {
  return getClient().shutdown(opts);
}

/** Counters: sent, queued and dropped by reason. */
export function stats(): Stats {
  return getClient().stats();
}

export { Client, getClient };
export type { ObserveOptions, InitOptions };
export { SpanHandle } from './span.js';
export { DEFAULT_HOST, type BeforeSend, type FetchLike } from './config.js';
export { tracksAsyncContext } from './context.js';
export { toJsonable } from './serialize.js';
export { wrapOpenAI } from './integrations/openai.js';
export { wrapAnthropic } from './integrations/anthropic.js';
export * as openaiConverters from './converters/openai.js';
export * as anthropicConverters from './converters/anthropic.js';
export * from './types.js';
