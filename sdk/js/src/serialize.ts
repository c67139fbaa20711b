// Turn arbitrary application values into JSON-safe data at capture time, without ever throwing.
//
// Conversion happens when a value is recorded so the span holds a snapshot: a chat loop that pushes
// to its `messages` array after the call must not change what was recorded. Mirrors the Python SDK's
// serialize.to_jsonable (same limits and markers).

export const MAX_DEPTH = 12;
export const MAX_ITEMS = 1000;

/** `text` cut to `maxChars` characters with a marker saying how much was cut. */
export function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}...<truncated ${text.length - maxChars} chars>`;
}

/** A JSON-encodable copy of `value`: containers copied, cycles and exotic values replaced; never throws. */
export function toJsonable(value: unknown, maxChars = 100_000): unknown {
  try {
    return convert(value, maxChars, 0, []);
  } catch {
    return '<unserializable>';
  }
}

function convert(value: unknown, maxChars: number, depth: number, path: object[]): unknown {
  switch (typeof value) {
    case 'string':
      return value.length <= maxChars ? value : truncate(value, maxChars);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'undefined':
      return null;
    case 'bigint':
      return value.toString();
    case 'symbol':
      return value.toString();
    case 'function':
      return `<function ${(value as Function).name || 'anonymous'}>`;
  }
  if (value === null) return null;
  const obj = value as object;
  if (depth >= MAX_DEPTH) return '<max depth>';
  if (path.includes(obj)) return '<cycle>';
  path.push(obj);
  try {
    return convertObject(obj, maxChars, depth, path);
  } catch {
    // A user object whose getters throw: record its type instead of failing the span.
    return `<${obj.constructor?.name ?? 'object'}>`;
  } finally {
    path.pop();
  }
}

function convertObject(obj: object, maxChars: number, depth: number, path: object[]): unknown {
  if (Array.isArray(obj)) return convertList(obj, maxChars, depth, path);
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (obj instanceof Error) {
    return { type: obj.name, message: truncate(String(obj.message), maxChars) };
  }
  if (obj instanceof Map) {
    const out: Record<string, unknown> = {};
    let i = 0;
    for (const [k, v] of obj) {
      if (i++ >= MAX_ITEMS) {
        out['<truncated>'] = `${obj.size - MAX_ITEMS} more keys`;
        break;
      }
      out[String(k)] = convert(v, maxChars, depth + 1, path);
    }
    return out;
  }
  if (obj instanceof Set) return convertList(Array.from(obj), maxChars, depth, path);
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
    return `<${obj.constructor.name} len=${(obj as ArrayBuffer).byteLength}>`;
  }
  const toJSON = (obj as any).toJSON;
  if (typeof toJSON === 'function') return convert(toJSON.call(obj), maxChars, depth + 1, path);
  const out: Record<string, unknown> = {};
  let i = 0;
  for (const k in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, k)) continue;
    const v = (obj as any)[k];
    if (v === undefined || typeof v === 'function') continue; // as JSON.stringify does
    if (i++ >= MAX_ITEMS) {
      out['<truncated>'] = 'more keys';
      break;
    }
    out[k] = convert(v, maxChars, depth + 1, path);
  }
  return out;
}

function convertList(list: unknown[], maxChars: number, depth: number, path: object[]): unknown[] {
  const n = Math.min(list.length, MAX_ITEMS);
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = convert(list[i], maxChars, depth + 1, path);
  if (list.length > MAX_ITEMS) out.push(`<${list.length - MAX_ITEMS} more items>`);
  return out;
}
