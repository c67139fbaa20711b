// OpenAI data → span fields: Chat Completions and the Responses API, whole responses and streams.
// Pure functions of plain data, tested on fixtures; the same output as the Python SDK's converters.

import { compact, get, int, modelParameters, type Accumulator, type CallFields } from './common.js';

export const PROVIDER = 'openai';
const CHAT_CONTENT = new Set(['messages', 'model']);
const RESPONSES_CONTENT = new Set(['input', 'instructions', 'model']);

/** Wire usage from Chat Completions (prompt_/completion_tokens) or Responses (input_/output_tokens). */
export function usageFields(usage: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (!usage || typeof usage !== 'object') return out;
  const pairs: Array<[string, string[]]> = [
    ['input_tokens', ['prompt_tokens', 'input_tokens']],
    ['output_tokens', ['completion_tokens', 'output_tokens']],
    ['total_tokens', ['total_tokens']],
  ];
  for (const [wire, names] of pairs) {
    for (const name of names) {
      const v = int(get(usage, name));
      if (v !== undefined) {
        out[wire] = v;
        break;
      }
    }
  }
  const cached = int(get(get(usage, 'prompt_tokens_details') ?? get(usage, 'input_tokens_details'), 'cached_tokens'));
  if (cached !== undefined) out.cached_tokens = cached;
  const reasoning = int(get(get(usage, 'completion_tokens_details') ?? get(usage, 'output_tokens_details'), 'reasoning_tokens'));
  if (reasoning !== undefined) out.reasoning_tokens = reasoning;
  return out;
}

/** Span fields from `chat.completions.create(params)`. */
export function chatRequest(params: Record<string, any>): CallFields {
  return { model: params?.model, input: params?.messages, model_parameters: modelParameters(params, CHAT_CONTENT) };
}

function toolCall(tc: any): Record<string, unknown> {
  const fn = get(tc, 'function');
  return { id: get(tc, 'id'), type: get(tc, 'type') || 'function', function: { name: get(fn, 'name'), arguments: get(fn, 'arguments') } };
}

/** An assistant message in wire (OpenAI) shape from a ChatCompletionMessage. */
export function chatMessage(message: any): Record<string, unknown> {
  const out: Record<string, unknown> = { role: get(message, 'role') || 'assistant', content: get(message, 'content') ?? null };
  const toolCalls = get(message, 'tool_calls');
  if (Array.isArray(toolCalls) && toolCalls.length > 0) out.tool_calls = toolCalls.map(toolCall);
  const refusal = get(message, 'refusal');
  if (refusal) out.refusal = refusal;
  return out;
}

/** Span fields from a ChatCompletion. */
export function chatResponse(response: any): CallFields {
  const choices: any[] = get(response, 'choices') || [];
  const messages = choices.map((c) => chatMessage(get(c, 'message')));
  const fields: CallFields = { output: messages.length === 1 ? messages[0] : messages, usage: usageFields(get(response, 'usage')) };
  if (get(response, 'model')) fields.model = get(response, 'model');
  fields.metadata = compact({ response_id: get(response, 'id'), finish_reason: choices.length ? get(choices[0], 'finish_reason') : undefined });
  return fields;
}

/** Assembles ChatCompletionChunks: text, tool calls (by index), finish reason, usage (final chunk). */
export class ChatStreamAccumulator implements Accumulator {
  private text: string[] = [];
  private toolCalls = new Map<number, { id: string | null; type: string; function: { name: string | null; arguments: string } }>();
  private finishReason: string | undefined;
  private usage: Record<string, number> = {};
  private model: string | undefined;
  private responseId: string | undefined;

  add(chunk: unknown): boolean {
    this.model = get(chunk, 'model') || this.model;
    this.responseId = get(chunk, 'id') || this.responseId;
    const usage = get(chunk, 'usage');
    if (usage) this.usage = usageFields(usage);
    let content = false;
    for (const choice of (get(chunk, 'choices') as any[]) || []) {
      if ((get(choice, 'index') || 0) !== 0) continue; // n > 1: the first choice is recorded
      const delta = get(choice, 'delta');
      const piece = get(delta, 'content');
      if (piece) {
        this.text.push(piece);
        content = true;
      }
      for (const tc of (get(delta, 'tool_calls') as any[]) || []) {
        const index = get(tc, 'index') || 0;
        let entry = this.toolCalls.get(index);
        if (!entry) {
          entry = { id: null, type: 'function', function: { name: null, arguments: '' } };
          this.toolCalls.set(index, entry);
        }
        if (get(tc, 'id')) entry.id = get(tc, 'id');
        const fn = get(tc, 'function');
        if (get(fn, 'name')) entry.function.name = get(fn, 'name');
        if (get(fn, 'arguments')) entry.function.arguments += get(fn, 'arguments');
        content = true;
      }
      if (get(choice, 'finish_reason')) this.finishReason = get(choice, 'finish_reason');
    }
    return content;
  }

  result(): CallFields {
    const message: Record<string, unknown> = { role: 'assistant', content: this.text.length ? this.text.join('') : null };
    if (this.toolCalls.size > 0) message.tool_calls = [...this.toolCalls.keys()].sort((a, b) => a - b).map((i) => this.toolCalls.get(i));
    const fields: CallFields = { output: message, usage: this.usage };
    if (this.model) fields.model = this.model;
    fields.metadata = compact({ finish_reason: this.finishReason, response_id: this.responseId, stream: true });
    return fields;
  }
}

/** Span fields from `responses.create(params)`: instructions become a system message. */
export function responsesRequest(params: Record<string, any>): CallFields {
  const raw = params?.input;
  const messages: unknown[] = [];
  if (params?.instructions) messages.push({ role: 'system', content: params.instructions });
  if (typeof raw === 'string') messages.push({ role: 'user', content: raw });
  else if (raw !== undefined && raw !== null) messages.push(...(Array.isArray(raw) ? raw : [raw]));
  return { model: params?.model, input: messages, model_parameters: modelParameters(params, RESPONSES_CONTENT) };
}

/** Span fields from a Responses API `Response`: text and function calls as one assistant message. */
export function responsesResponse(response: any): CallFields {
  const texts: string[] = [];
  const toolCalls: unknown[] = [];
  for (const item of (get(response, 'output') as any[]) || []) {
    const kind = get(item, 'type');
    if (kind === 'message') {
      for (const part of (get(item, 'content') as any[]) || []) {
        if (get(part, 'type') === 'output_text') texts.push(get(part, 'text') || '');
        else if (get(part, 'type') === 'refusal') texts.push(get(part, 'refusal') || '');
      }
    } else if (kind === 'function_call') {
      toolCalls.push({
        id: get(item, 'call_id') || get(item, 'id'),
        type: 'function',
        function: { name: get(item, 'name'), arguments: get(item, 'arguments') },
      });
    }
  }
  const message: Record<string, unknown> = { role: 'assistant', content: texts.length ? texts.join('') : null };
  if (toolCalls.length) message.tool_calls = toolCalls;
  const fields: CallFields = { output: message, usage: usageFields(get(response, 'usage')) };
  if (get(response, 'model')) fields.model = get(response, 'model');
  fields.metadata = compact({ response_id: get(response, 'id'), response_status: get(response, 'status') });
  const error = get(response, 'error');
  if (error) fields.error = { type: String(get(error, 'code') || 'ResponseError'), message: String(get(error, 'message')) };
  return fields;
}

const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/** Assembles Responses API stream events; the final `response.completed` event is authoritative. */
export class ResponsesStreamAccumulator implements Accumulator {
  private text: string[] = [];
  private final: CallFields | undefined;
  private error: { type: string; message: string } | undefined;

  add(event: unknown): boolean {
    const kind = get(event, 'type');
    if (kind === 'response.output_text.delta') {
      this.text.push(get(event, 'delta') || '');
      return true;
    }
    if (kind === 'response.function_call_arguments.delta') return true;
    if (FINAL_EVENTS.has(kind)) this.final = responsesResponse(get(event, 'response'));
    else if (kind === 'error') this.error = { type: String(get(event, 'code') || 'ResponseError'), message: String(get(event, 'message')) };
    return false;
  }

  result(): CallFields {
    const fields: CallFields = this.final
      ? { ...this.final }
      : { output: { role: 'assistant', content: this.text.length ? this.text.join('') : null } };
    fields.metadata = { ...fields.metadata, stream: true };
    if (this.error) fields.error = this.error;
    return fields;
  }
}
