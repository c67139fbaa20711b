// wrapAnthropic(client): records messages.create calls of an `@anthropic-ai/sdk` client (stream: true
// included) as llm spans. messages.stream() is recorded too: it calls messages.create underneath.

import { messagesRequest, messagesResponse, MessagesStreamAccumulator, PROVIDER } from '../converters/anthropic.js';
import { getClient } from '../hub.js';
import { callWrapper, instrument } from './call.js';

/** Instrument an Anthropic client in place and return it (same object, same types). */
export function wrapAnthropic<T>(client: T): T {
  try {
    const c = client as any;
    const wrapper = callWrapper({
      name: 'anthropic.messages',
      provider: PROVIDER,
      toRequest: messagesRequest,
      toFields: messagesResponse,
      makeAccumulator: () => new MessagesStreamAccumulator(),
    });
    instrument(c?.messages, 'create', wrapper);
    instrument(c?.beta?.messages, 'create', wrapper);
  } catch (err) {
    getClient().warnOnce('wrap_anthropic', `wrapAnthropic could not instrument this client: ${String(err)}`);
  }
  return client;
}
