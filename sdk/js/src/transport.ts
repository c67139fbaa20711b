// Ships finished spans to POST {host}/v1/ingest: a bounded in-memory queue of serialized spans, one
// sender loop (one request in flight), batches by count/bytes/time, gzip, retries with backoff.
//
// Nothing here throws or rejects into the app: every failure becomes a counter or a warn-once line.

import type { Config, FetchLike } from './config.js';
import { unref } from './runtime.js';
import type { DropReason } from './types.js';

/** Counters shared by the Client and its Transport. */
export class StatsCounter {
  sent = 0;
  readonly dropped: Record<DropReason, number> = {
    queue_full: 0,
    sampled: 0,
    before_send: 0,
    before_send_error: 0,
    rejected: 0,
    network_error: 0,
    unserializable: 0,
    shutdown: 0,
  };

  drop(reason: DropReason, count = 1): void {
    this.dropped[reason] += count;
  }
}

export type Warn = (key: string, message: string) => void;

interface Batch {
  items: string[];
  /** Attempts answered with a retryable 5xx, for maxRetries. */
  failures: number;
}

type Retry = { ms: number; kind: 'backoff' | 'retry_after' };

const ENVELOPE_BYTES = 16; // '{"spans":[' + ']}'
const KEEPALIVE_MAX_CHARS = 60_000; // browsers cap keepalive bodies at 64 KiB in flight

export class Transport {
  private readonly queue: string[] = [];
  private head = 0;
  private inflight: Batch | undefined;
  private pumping = false;
  private stopped = false;
  private closed = false;
  /** Spans accepted into the queue, and spans that have left it (sent or dropped), FIFO. */
  private enqueued = 0;
  private completed = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sleepTimer: ReturnType<typeof setTimeout> | undefined;
  private wake: (() => void) | undefined;
  private sleepKind: Retry['kind'] | undefined;
  private abort: AbortController | undefined;
  private networkFailures = 0;
  private readonly waiters = new Set<{ target: number; done: (ok: boolean) => void }>();

  constructor(
    private readonly config: Config,
    private readonly stats: StatsCounter,
    private readonly warn: Warn,
  ) {}

  /** Spans waiting to be sent (queued plus the batch in flight). */
  get pending(): number {
    return this.enqueued - this.completed;
  }

  /** Spans accepted so far (a sequence number, used to flush only what came before). */
  get enqueuedCount(): number {
    return this.enqueued;
  }

  /** Queue one serialized span; false (and counted) when it is dropped. Never throws. */
  enqueue(json: string): boolean {
    if (this.closed) {
      this.stats.drop('shutdown');
      return false;
    }
    if (json.length + ENVELOPE_BYTES > this.config.batchMaxBytes) {
      this.stats.drop('rejected');
      this.warn('too_large', `a span of ${json.length} bytes exceeds batchMaxBytes (${this.config.batchMaxBytes}) and was dropped`);
      return false;
    }
    if (this.queue.length - this.head >= this.config.maxQueueSize) {
      this.stats.drop('queue_full');
      return false;
    }
    this.queue.push(json);
    this.enqueued++;
    if (this.queue.length - this.head >= this.config.batchMaxSpans) this.kick();
    else if (!this.timer) {
      this.timer = unref(setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.config.flushIntervalMs));
    }
    return true;
  }

  /** Resolve true once every span queued before this call has been sent (or dropped); false at the deadline. */
  flush(timeoutMs: number): Promise<boolean> {
    const target = this.enqueued;
    if (this.completed >= target) return Promise.resolve(true);
    if (this.sleepKind === 'backoff') this.wake?.(); // an explicit flush retries now; Retry-After is honoured
    this.kick();
    return new Promise<boolean>((resolve) => {
      // Deliberately not unref'd: the app awaits this, so it must resolve even if nothing else is pending.
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, Math.max(0, timeoutMs));
      const waiter = {
        target,
        done: (ok: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(ok);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Flush within the deadline, then stop: whatever is left is dropped (counted as shutdown). */
  async shutdown(timeoutMs: number): Promise<boolean> {
    this.closed = true;
    const ok = await this.flush(timeoutMs);
    this.stop();
    return ok;
  }

  /**
   * Browser page hide: hand what is queued to one fetch with keepalive, which outlives the page.
   * Browsers cap keepalive bodies in flight at 64 KiB in total, so one request takes what fits; the
   * rest stays queued for when the page is shown again.
   */
  flushOnPageHide(): void {
    const items: string[] = [];
    let chars = ENVELOPE_BYTES;
    while (this.queue.length > this.head) {
      const next = this.queue[this.head];
      if (chars + next.length + 1 > KEEPALIVE_MAX_CHARS) break;
      items.push(next);
      chars += next.length + 1;
      this.head++;
    }
    if (items.length === 0) return;
    this.compact();
    this.completed += items.length;
    const n = items.length;
    try {
      this.fetchImpl()(this.config.ingestUrl, {
        method: 'POST',
        headers: this.headers(false),
        body: '{"spans":[' + items.join(',') + ']}',
        keepalive: true,
      }).then(
        (res) => {
          if (res.ok) this.stats.sent += n;
        },
        () => undefined,
      );
    } catch {
      // best effort while the page goes away
    }
    this.notify();
  }

  private kick(): void {
    if (this.pumping || this.stopped) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // Not on the caller's stack: building and sending a batch belongs to the background.
    Promise.resolve().then(() => this.pump()).catch(() => undefined);
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    try {
      for (;;) {
        const batch = this.inflight ?? this.takeBatch();
        if (!batch) break;
        this.inflight = batch;
        const retry = await this.send(batch);
        if (this.stopped) return;
        if (!retry) {
          this.inflight = undefined;
          this.completed += batch.items.length;
          this.notify();
          continue;
        }
        await this.sleep(retry);
        if (this.stopped) return;
      }
    } catch (err) {
      this.warn('internal', `internal error in the sender loop: ${String(err)}`);
    } finally {
      this.pumping = false;
    }
    // Spans that arrived while the last request was in flight (fewer than a batch) wait for the timer.
    if (this.queue.length > this.head && !this.timer && !this.stopped) {
      this.timer = unref(setTimeout(() => {
        this.timer = undefined;
        this.kick();
      }, this.waiters.size > 0 ? 0 : this.config.flushIntervalMs));
    }
  }

  private takeBatch(): Batch | undefined {
    if (this.queue.length === this.head) return undefined;
    const items: string[] = [];
    let bytes = ENVELOPE_BYTES;
    while (this.queue.length > this.head && items.length < this.config.batchMaxSpans) {
      const next = this.queue[this.head];
      if (items.length > 0 && bytes + next.length + 1 > this.config.batchMaxBytes) break;
      items.push(next);
      bytes += next.length + 1;
      this.head++;
    }
    this.compact();
    return { items, failures: 0 };
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  private fetchImpl(): FetchLike {
    return this.config.fetch ?? ((globalThis as any).fetch as FetchLike);
  }

  private headers(gzip: boolean): Record<string, string> {
    const h: Record<string, string> = {
      ...this.config.headers,
      'Content-Type': 'application/json',
      Authorization: `Bearer ${this.config.apiKey}`,
    };
    if (gzip) h['Content-Encoding'] = 'gzip';
    return h;
  }

  /** One POST of one batch; undefined when the batch is done with (sent or dropped), else when to retry. */
  private async send(batch: Batch): Promise<Retry | undefined> {
    const body = '{"spans":[' + batch.items.join(',') + ']}';
    let payload: string | Uint8Array = body;
    let gzipped = false;
    if (this.config.gzip && body.length >= 1024 && typeof (globalThis as any).CompressionStream === 'function') {
      try {
        payload = await gzip(body);
        gzipped = true;
      } catch {
        payload = body;
      }
    }
    const ac = new AbortController();
    this.abort = ac;
    const timer = unref(setTimeout(() => ac.abort(), this.config.requestTimeoutMs));
    let status: number;
    let retryAfter: string | null;
    let text: string;
    try {
      const res = await this.fetchImpl()(this.config.ingestUrl, {
        method: 'POST',
        headers: this.headers(gzipped),
        body: payload,
        signal: ac.signal,
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      text = await res.text();
    } catch (err) {
      this.networkFailures++;
      if (!this.stopped) {
        this.warn('network', `cannot reach ${this.config.ingestUrl} (${errorText(err)}); spans stay queued and are retried`);
      }
      return { ms: backoff(this.networkFailures, this.config), kind: 'backoff' };
    } finally {
      clearTimeout(timer);
      this.abort = undefined;
    }
    this.networkFailures = 0;
    return this.handleResponse(batch, status, retryAfter, text);
  }

  private handleResponse(batch: Batch, status: number, retryAfter: string | null, text: string): Retry | undefined {
    const n = batch.items.length;
    if (status === 200 || status === 207) {
      const rejected = parseRejected(text);
      const count = Math.min(n, rejected.length);
      this.stats.sent += n - count;
      if (count > 0) {
        this.stats.drop('rejected', count);
        this.warn('207', `the server rejected ${count} span(s), e.g. ${String(rejected[0]?.error ?? '').slice(0, 300)}`);
      }
      return undefined;
    }
    if (status >= 200 && status < 300) {
      this.stats.sent += n;
      return undefined;
    }
    if (status === 429 || status === 503) {
      const ms = parseRetryAfter(retryAfter) ?? backoff(++batch.failures, this.config);
      return { ms, kind: 'retry_after' };
    }
    if (status === 413 && n > 1) {
      // Too large for the server: send each half on its own.
      const half = Math.ceil(n / 2);
      const rest = batch.items.splice(half);
      this.queue.splice(this.head, 0, ...rest);
      return { ms: 0, kind: 'backoff' };
    }
    if (status >= 500) {
      batch.failures++;
      if (batch.failures <= this.config.maxRetries) return { ms: backoff(batch.failures, this.config), kind: 'backoff' };
      this.stats.drop('network_error', n);
      this.warn('5xx', `the server answered ${status} ${serverMessage(text)}; ${n} span(s) dropped after ${batch.failures} attempts`);
      return undefined;
    }
    this.stats.drop('rejected', n);
    if (status === 401 || status === 403) {
      this.warn(
        'auth',
        `the server refused the API key (${status} ${serverMessage(text)}): check init({ apiKey }) / LYNEX_API_KEY; the key needs the "ingest" scope`,
      );
    } else {
      this.warn(`http_${status}`, `the server answered ${status} ${serverMessage(text)}; ${n} span(s) dropped`);
    }
    return undefined;
  }

  private sleep(retry: Retry): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        if (this.sleepTimer) clearTimeout(this.sleepTimer);
        this.sleepTimer = undefined;
        this.wake = undefined;
        this.sleepKind = undefined;
        resolve();
      };
      this.wake = done;
      this.sleepKind = retry.kind;
      this.sleepTimer = unref(setTimeout(done, retry.ms));
    });
  }

  /** Resolve the flush waiters whose spans have all left the queue. */
  private notify(): void {
    for (const w of this.waiters) if (this.completed >= w.target) w.done(true);
  }

  /** Abort what is in flight and drop what is left (counted as shutdown). */
  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    this.wake?.();
    const left = (this.inflight?.items.length ?? 0) + (this.queue.length - this.head);
    if (left > 0) this.stats.drop('shutdown', left);
    this.completed += left;
    this.inflight = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.notify();
  }
}

/** Exponential backoff with jitter: base·2^(n-1), capped, times a random factor in [0.5, 1). */
export function backoff(failures: number, config: Pick<Config, 'retryBackoffBaseMs' | 'retryBackoffMaxMs'>): number {
  const exp = Math.min(config.retryBackoffMaxMs, config.retryBackoffBaseMs * 2 ** Math.max(0, failures - 1));
  return exp * (0.5 + Math.random() * 0.5);
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), capped at 5 minutes; undefined if absent. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(v)) ms = parseFloat(v) * 1000;
  else {
    const at = Date.parse(v);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(300_000, Math.max(0, ms));
}

function parseRejected(text: string): Array<{ error?: unknown }> {
  try {
    const body = JSON.parse(text);
    return Array.isArray(body?.rejected) ? body.rejected : [];
  } catch {
    return [];
  }
}

function serverMessage(text: string): string {
  const t = (text || '').replace(/\s+/g, ' ').trim();
  return t ? `(${t.slice(0, 200)})` : '';
}

function errorText(err: unknown): string {
  const e = err as any;
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e?.message ?? e}: ${cause}` : String(e?.message ?? e);
}

async function gzip(text: string): Promise<Uint8Array> {
  const stream = new Blob([text]).stream().pipeThrough(new (globalThis as any).CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream as ReadableStream).arrayBuffer());
}
