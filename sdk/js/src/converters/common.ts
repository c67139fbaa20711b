// Shapes shared by the provider converters: pure data in, span fields (wire names) out.

/** Span fields a converter produces (wire names). */
export interface CallFields {
  model?: string;
  input?: unknown;
  output?: unknown;
  usage?: Record<string, number>;
  model_parameters?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  error?: { type: string; message: string };
}

/** Assembles a stream's items into span fields. */
export interface Accumulator {
  /** Take one streamed item; true when it carried generated content (for time to first token). */
  add(item: unknown): boolean;
  /** Span fields (output, usage, model, metadata, error) for what was streamed so far. */
  result(): CallFields;
}

/** Request arguments that are transport options, not model parameters (as in the Python SDK). */
const NON_PARAMETERS = new Set(['extra_headers', 'extra_query', 'extra_body', 'timeout', 'stream']);

/** Request arguments other than content, model and transport options. */
export function modelParameters(params: Record<string, unknown>, exclude: ReadonlySet<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params ?? {})) {
    if (v === undefined || exclude.has(k) || NON_PARAMETERS.has(k)) continue;
    out[k] = v;
  }
  return out;
}

/** obj[key] for any object, undefined for null/undefined/primitives. */
export function get(obj: unknown, key: string): any {
  return obj !== null && typeof obj === 'object' ? (obj as any)[key] : undefined;
}

export function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** Drop null/undefined values (metadata stays small and stable). */
export function compact(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}
