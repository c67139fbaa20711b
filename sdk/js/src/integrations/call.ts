// Shared machinery for provider integrations: one LLM call as a span, observed without changing what
// the provider SDK returns or throws.
//
// - The method is replaced on the client *instance* (not the class), so other clients are untouched.
// - The returned promise is the provider's own object behind a Proxy: `withResponse()`, `asResponse()`,
//   `_thenUnwrap()` (used by helpers such as `.parse()`) keep working, and the response body is only
//   read when the app itself awaits the result, exactly as without the wrapper.
// - A stream is the provider's own Stream object with its iterator tapped: same chunks, same methods.

import type { CallFields, Accumulator } from '../converters/common.js';
import { getClient } from '../hub.js';
import { isThenable } from '../runtime.js';
import { errorToWire, type SpanHandle } from '../span.js';

const WRAPPED = Symbol.for('lynex.wrapped');
const tapped = new WeakSet<object>();

/** Span fields for a failed provider call: error {type, message} and the HTTP status if any. */
export function errorFields(err: unknown): CallFields {
  const fields: CallFields = { error: errorToWire(err) };
  const status = (err as any)?.status;
  if (typeof status === 'number') fields.metadata = { status_code: status };
  return fields;
}

/** One provider call being recorded as an `llm` span. */
export class LLMCall {
  private done = false;
  constructor(readonly span: SpanHandle) {}

  /** Note the time to first token (once). */
  firstToken(): void {
    this.span.markFirstToken();
  }

  /** Apply converter output and record the span (first call wins). */
  finish(fields: CallFields): void {
    if (this.done) return;
    this.done = true;
    try {
      const s = this.span;
      if (typeof fields.model === 'string') s.set({ model: fields.model });
      if ('output' in fields) s.setOutput(fields.output);
      if (fields.usage && Object.keys(fields.usage).length) s.setUsage(fields.usage);
      if (fields.metadata && Object.keys(fields.metadata).length) s.setMetadata(fields.metadata);
      if (fields.error) s.set({ status: 'error', error: fields.error });
    } finally {
      this.span.end();
    }
  }

  /** Record the span as failed with the provider's error. */
  fail(err: unknown): void {
    this.finish(errorFields(err));
  }
}

export interface CallSpec {
  name: string;
  provider: string;
  toRequest: (params: Record<string, any>) => CallFields;
  toFields: (response: any) => CallFields;
  makeAccumulator: () => Accumulator;
  /** Adjust request params before the call (e.g. opt-in stream usage); default: unchanged. */
  prepare?: (params: Record<string, any>) => Record<string, any>;
}

/** An LLMCall for this request, or undefined when the SDK is off or failed to set it up. */
export function startCall(spec: CallSpec, params: Record<string, any>): LLMCall | undefined {
  const client = getClient();
  if (!client.enabled) return undefined;
  try {
    const req = spec.toRequest(params ?? {});
    const span = client.startSpan(spec.name, {
      kind: 'llm',
      provider: spec.provider,
      model: typeof req.model === 'string' ? req.model : undefined,
      modelParameters: req.model_parameters && Object.keys(req.model_parameters).length ? req.model_parameters : undefined,
    });
    if (req.input !== undefined) span.setInput(req.input);
    return new LLMCall(span);
  } catch (err) {
    client.warnOnce('integration', `could not record a ${spec.name} call: ${String(err)}`);
    return undefined;
  }
}

/** Replace `owner[attr]` on this instance with `makeWrapper(original)`, once. */
export function instrument(owner: any, attr: string, makeWrapper: (original: (...args: any[]) => any) => (...args: any[]) => any): boolean {
  const original = owner?.[attr];
  if (typeof original !== 'function' || original[WRAPPED]) return false;
  const wrapped: any = makeWrapper(original);
  wrapped[WRAPPED] = true;
  Object.defineProperty(owner, attr, { value: wrapped, configurable: true, writable: true, enumerable: false });
  return true;
}

/** A replacement for a provider `create` method that records each call per `spec`. */
export function callWrapper(spec: CallSpec): (original: (...args: any[]) => any) => (...args: any[]) => any {
  return (original) =>
    function (this: unknown, ...args: any[]) {
      const params = args[0];
      const call = startCall(spec, params);
      if (!call) return original.apply(this, args);
      if (spec.prepare && params && typeof params === 'object') {
        try {
          args[0] = spec.prepare(params);
        } catch {
          args[0] = params;
        }
      }
      let result: any;
      try {
        result = original.apply(this, args);
      } catch (err) {
        call.fail(err);
        throw err;
      }
      const streaming = params?.stream === true;
      const onValue = (value: unknown) => {
        try {
          if (streaming && value && typeof (value as any)[Symbol.asyncIterator] === 'function') {
            tapStream(value, call, spec.makeAccumulator());
          } else {
            call.finish(spec.toFields(value));
          }
        } catch (err) {
          getClient().warnOnce('integration', `could not record a ${spec.name} result: ${String(err)}`);
          call.finish({});
        }
      };
      if (isThenable(result)) return observePromise(result, onValue, (err) => call.fail(err));
      onValue(result);
      return result;
    };
}

/**
 * The same promise object behind a Proxy that starts observing it when the app consumes it
 * (then/catch/finally/withResponse/parse) and follows `_thenUnwrap` into derived promises.
 */
export function observePromise<P extends object>(promise: P, onValue: (v: unknown) => void, onError: (e: unknown) => void): P {
  let attached = false;
  const attach = (target: any) => {
    if (attached) return;
    attached = true;
    try {
      // Registered before the app's own callbacks, so a stream is tapped before the app sees it.
      target.then(onValue, onError);
    } catch {
      // not observable: the app still gets its result
    }
  };
  return new Proxy(promise, {
    get(target: any, prop, _receiver) {
      if (prop === 'then' || prop === 'catch' || prop === 'finally' || prop === 'withResponse' || prop === 'parse') attach(target);
      if (prop === '_thenUnwrap' && typeof target._thenUnwrap === 'function') {
        return (...a: unknown[]) => observePromise(target._thenUnwrap(...a), onValue, onError);
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Tap a provider Stream in place: the app iterates the same object and sees the same chunks. */
export function tapStream(stream: any, call: LLMCall, acc: Accumulator): void {
  if (tapped.has(stream)) return;
  tapped.add(stream);
  const key: PropertyKey = Object.prototype.hasOwnProperty.call(stream, 'iterator') && typeof stream.iterator === 'function' ? 'iterator' : Symbol.asyncIterator;
  const original = stream[key];
  const iterate = function (this: unknown, ...a: unknown[]) {
    return tapIterator(original.apply(this, a), call, acc);
  };
  Object.defineProperty(stream, key, { value: iterate, configurable: true, writable: true, enumerable: false });
}

function tapIterator(it: AsyncIterator<unknown>, call: LLMCall, acc: Accumulator): AsyncIterableIterator<unknown> {
  let finished = false;
  const finish = (err?: unknown) => {
    if (finished) return;
    finished = true;
    let fields: CallFields;
    try {
      fields = acc.result();
    } catch {
      fields = {};
    }
    if (err !== undefined) {
      const e = errorFields(err);
      fields = { ...fields, error: e.error, metadata: { ...fields.metadata, ...e.metadata } };
    }
    call.finish(fields);
  };
  const wrapper: AsyncIterableIterator<unknown> = {
    async next(...a: [] | [unknown]) {
      let r: IteratorResult<unknown>;
      try {
        r = await it.next(...a);
      } catch (err) {
        finish(err);
        throw err;
      }
      try {
        if (r.done) finish();
        else if (acc.add(r.value)) call.firstToken();
      } catch {
        // a chunk we cannot read is still the app's chunk
      }
      return r;
    },
    async return(value?: unknown) {
      finish(); // the app stopped early: record what was streamed so far
      return it.return ? it.return(value) : { done: true, value };
    },
    async throw(err?: unknown) {
      finish(err);
      if (it.throw) return it.throw(err);
      throw err;
    },
    [Symbol.asyncIterator]() {
      return wrapper;
    },
  };
  return wrapper;
}
