// Anthropic Messages data → span fields, whole messages and streams. Pure functions of plain data,
// with the same output as the Python SDK's converters.
//
// Output uses the OpenAI message shape (the wire contract's): text blocks joined into `content`,
// tool_use blocks as `tool_calls`. Usage follows OpenAI's meaning: input_tokens counts every prompt
// token (uncached + cache reads + cache writes) and cached_tokens the cache reads among them.

import { compact, get, int, modelParameters, type Accumulator, type CallFields } from './common.js';

export const PROVIDER = 'anthropic';
const CONTENT = new Set(['messages', 'model', 'system']);

/** Span fields from `messages.create(params)`: `system` becomes a leading system message. */
export function messagesRequest(params: Record<string, any>): CallFields {
  const messages: unknown[] = [];
  if (params?.system) messages.push({ role: 'system', content: params.system });
  if (Array.isArray(params?.messages)) messages.push(...params.messages);
  return { model: params?.model, input: messages, model_parameters: modelParameters(params, CONTENT) };
}

/** Wire usage from an Anthropic `usage` object (message or message_delta). */
export function usageFields(usage: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!usage || typeof usage !== 'object') return out;
  const input = int(get(usage, 'input_tokens'));
  const cacheRead = int(get(usage, 'cache_read_input_tokens')) ?? 0;
  const cacheWrite = int(get(usage, 'cache_creation_input_tokens')) ?? 0;
  const output = int(get(usage, 'output_tokens'));
  if (input !== undefined) out.input_tokens = input + cacheRead + cacheWrite;
  if (output !== undefined) out.output_tokens = output;
  if (out.input_tokens !== undefined && output !== undefined) out.total_tokens = out.input_tokens + output;
  if (get(usage, 'cache_read_input_tokens') !== undefined && get(usage, 'cache_read_input_tokens') !== null) out.cached_tokens = cacheRead;
  return out;
}

function toolCall(block: any, args?: string): Record<string, unknown> {
  const input = get(block, 'input');
  return {
    id: get(block, 'id'),
    type: 'function',
    function: { name: get(block, 'name'), arguments: args ?? (typeof input === 'string' ? input : safeJson(input ?? {})) },
  };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/** An assistant message in wire (OpenAI) shape from Anthropic content blocks. */
export function assistantMessage(blocks: unknown): Record<string, unknown> {
  const texts: string[] = [];
  const toolCalls: unknown[] = [];
  for (const block of Array.isArray(blocks) ? blocks : []) {
    const type = get(block, 'type');
    if (type === 'text') texts.push(get(block, 'text') || '');
    else if (type === 'tool_use' || type === 'server_tool_use') toolCalls.push(toolCall(block));
  }
  const message: Record<string, unknown> = { role: 'assistant', content: texts.length ? texts.join('') : null };
  if (toolCalls.length) message.tool_calls = toolCalls;
  return message;
}

/** Span fields from an Anthropic `Message`. */
export function messagesResponse(message: any): CallFields {
  const fields: CallFields = { output: assistantMessage(get(message, 'content')), usage: usageFields(get(message, 'usage')) };
  if (get(message, 'model')) fields.model = get(message, 'model');
  fields.metadata = compact({ response_id: get(message, 'id'), stop_reason: get(message, 'stop_reason') });
  return fields;
}

/** Assembles Messages stream events (message_start … message_stop) into span fields. */
export class MessagesStreamAccumulator implements Accumulator {
  private blocks = new Map<number, { block: any; text: string; json: string }>();
  private model: string | undefined;
  private id: string | undefined;
  private stopReason: string | undefined;
  private usage: Record<string, unknown> = {};
  private error: { type: string; message: string } | undefined;

  add(event: unknown): boolean {
    switch (get(event, 'type')) {
      case 'message_start': {
        const message = get(event, 'message');
        this.model = get(message, 'model') || this.model;
        this.id = get(message, 'id') || this.id;
        Object.assign(this.usage, get(message, 'usage') || {});
        return false;
      }
      case 'content_block_start': {
        const block = get(event, 'content_block');
        this.blocks.set(get(event, 'index') ?? this.blocks.size, { block, text: get(block, 'text') || '', json: '' });
        return get(block, 'type') === 'tool_use';
      }
      case 'content_block_delta': {
        const index = get(event, 'index') ?? 0;
        let entry = this.blocks.get(index);
        if (!entry) {
          entry = { block: { type: 'text' }, text: '', json: '' };
          this.blocks.set(index, entry);
        }
        const delta = get(event, 'delta');
        const type = get(delta, 'type');
        if (type === 'text_delta') {
          entry.text += get(delta, 'text') || '';
          return true;
        }
        if (type === 'input_json_delta') {
          entry.json += get(delta, 'partial_json') || '';
          return true;
        }
        return false;
      }
      case 'message_delta': {
        this.stopReason = get(get(event, 'delta'), 'stop_reason') || this.stopReason;
        for (const [k, v] of Object.entries(get(event, 'usage') || {})) if (v !== null && v !== undefined) this.usage[k] = v;
        return false;
      }
      case 'error': {
        const err = get(event, 'error');
        this.error = { type: String(get(err, 'type') || 'error'), message: String(get(err, 'message') ?? '') };
        return false;
      }
      default:
        return false;
    }
  }

  result(): CallFields {
    const texts: string[] = [];
    const toolCalls: unknown[] = [];
    for (const index of [...this.blocks.keys()].sort((a, b) => a - b)) {
      const { block, text, json } = this.blocks.get(index)!;
      const type = get(block, 'type');
      if (type === 'text') texts.push(text);
      else if (type === 'tool_use' || type === 'server_tool_use') toolCalls.push(toolCall(block, json || undefined));
    }
    const message: Record<string, unknown> = { role: 'assistant', content: texts.length ? texts.join('') : null };
    if (toolCalls.length) message.tool_calls = toolCalls;
    const fields: CallFields = { output: message, usage: usageFields(this.usage) };
    if (this.model) fields.model = this.model;
    fields.metadata = compact({ response_id: this.id, stop_reason: this.stopReason, stream: true });
    if (this.error) fields.error = this.error;
    return fields;
  }
}
