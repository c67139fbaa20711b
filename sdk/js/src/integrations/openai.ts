// wrapOpenAI(client): records chat.completions.create and responses.create calls of an `openai`
// client (streaming included) as llm spans. Helpers built on them (chat.completions.stream/parse,
// responses.stream/parse, runTools) are recorded through the same calls.

import {
  chatRequest,
  chatResponse,
  ChatStreamAccumulator,
  PROVIDER,
  responsesRequest,
  responsesResponse,
  ResponsesStreamAccumulator,
} from '../converters/openai.js';
import { getClient } from '../hub.js';
import { callWrapper, instrument } from './call.js';

export interface WrapOpenAIOptions {
  /**
   * Add stream_options.include_usage to streamed chat calls so usage is recorded. It makes the stream
   * end with one extra chunk whose `choices` is empty, hence off by default.
   */
  includeUsage?: boolean;
}

/** Instrument an OpenAI client in place and return it (same object, same types). */
export function wrapOpenAI<T>(client: T, options: WrapOpenAIOptions = {}): T {
  try {
    const c = client as any;
    instrument(
      c?.chat?.completions,
      'create',
      callWrapper({
        name: 'openai.chat.completions',
        provider: PROVIDER,
        toRequest: chatRequest,
        toFields: chatResponse,
        makeAccumulator: () => new ChatStreamAccumulator(),
        prepare: options.includeUsage
          ? (p) => (p.stream === true && p.stream_options === undefined ? { ...p, stream_options: { include_usage: true } } : p)
          : undefined,
      }),
    );
    instrument(
      c?.responses,
      'create',
      callWrapper({
        name: 'openai.responses',
        provider: PROVIDER,
        toRequest: responsesRequest,
        toFields: responsesResponse,
        makeAccumulator: () => new ResponsesStreamAccumulator(),
      }),
    );
  } catch (err) {
    getClient().warnOnce('wrap_openai', `wrapOpenAI could not instrument this client: ${String(err)}`);
  }
  return client;
}
