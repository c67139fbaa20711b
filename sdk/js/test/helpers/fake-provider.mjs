// A fake OpenAI + Anthropic HTTP API on 127.0.0.1, enough for the official SDKs: chat completions,
// the Responses API and Messages, each whole or as SSE streams, plus error answers chosen by model name.
import { createServer } from 'node:http';

const sse = (res, events) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [event, data] of events) {
    if (event) res.write(`event: ${event}\n`);
    res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  }
  res.end();
};

const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': 'req_123', ...headers });
  res.end(JSON.stringify(body));
};

function errorFor(model) {
  const m = /^error-(\d+)$/.exec(model ?? '');
  return m ? Number(m[1]) : undefined;
}

const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, prompt_tokens_details: { cached_tokens: 2 }, completion_tokens_details: { reasoning_tokens: 1 } };
const TOOL_CALL = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };

function chat(req, res, body) {
  const status = errorFor(body.model);
  if (status) return json(res, status, { error: { message: `fake ${status}`, type: 'invalid_request_error', code: 'fake' } });
  const tools = body.model === 'tools';
  if (!body.stream) {
    return json(res, 200, {
      id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: body.model,
      choices: [{ index: 0, finish_reason: tools ? 'tool_calls' : 'stop', message: tools
        ? { role: 'assistant', content: null, tool_calls: [TOOL_CALL], refusal: null }
        : { role: 'assistant', content: 'Hello there!', refusal: null } }],
      usage: USAGE,
    });
  }
  const base = { id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1, model: body.model };
  const chunks = [];
  if (tools) {
    chunks.push({ ...base, choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }, finish_reason: null }] });
    for (const part of ['{"city"', ':"Paris"}']) chunks.push({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: part } }] }, finish_reason: null }] });
    chunks.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
  } else {
    chunks.push({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
    for (const word of ['Hel', 'lo', ' world']) chunks.push({ ...base, choices: [{ index: 0, delta: { content: word }, finish_reason: null }] });
    chunks.push({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  }
  if (body.stream_options?.include_usage) chunks.push({ ...base, choices: [], usage: USAGE });
  sse(res, [...chunks.map((c) => [null, c]), [null, '[DONE]']]);
}

function responseObject(body, status = 'completed') {
  const tools = body.model === 'tools';
  return {
    id: 'resp_1', object: 'response', created_at: 1, status, model: body.model, error: null,
    output: tools
      ? [{ type: 'function_call', id: 'fc_1', call_id: 'call_9', name: 'lookup', arguments: '{"q":"x"}', status: 'completed' }]
      : [{ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Responses hello', annotations: [] }] }],
    usage: { input_tokens: 9, output_tokens: 3, total_tokens: 12, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } },
  };
}

function responses(req, res, body) {
  const status = errorFor(body.model);
  if (status) return json(res, status, { error: { message: `fake ${status}`, type: 'server_error', code: 'fake' } });
  if (!body.stream) return json(res, 200, responseObject(body));
  const events = [
    { type: 'response.created', sequence_number: 0, response: responseObject(body, 'in_progress') },
    { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Responses ' },
    { type: 'response.output_text.delta', sequence_number: 2, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'hello' },
    { type: 'response.completed', sequence_number: 3, response: responseObject(body) },
  ];
  sse(res, events.map((e) => [e.type, e]));
}

function messages(req, res, body) {
  const status = errorFor(body.model);
  if (status) {
    return json(res, status, { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message: `fake ${status}` } }, status === 429 ? { 'retry-after': '0' } : {});
  }
  const tools = body.model === 'tools';
  const usage = { input_tokens: 20, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 10 };
  const content = tools
    ? [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }]
    : [{ type: 'text', text: 'Bonjour!' }];
  const message = { id: 'msg_01', type: 'message', role: 'assistant', model: body.model, content, stop_reason: tools ? 'tool_use' : 'end_turn', stop_sequence: null, usage };
  if (!body.stream) return json(res, 200, message);
  const events = [
    ['message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } }],
    ['ping', { type: 'ping' }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Bon' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'jour!' } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  ];
  if (tools) {
    events.push(
      ['content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } }],
      ['content_block_stop', { type: 'content_block_stop', index: 1 }],
    );
  }
  events.push(
    ['message_delta', { type: 'message_delta', delta: { stop_reason: tools ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  );
  sse(res, events);
}

export async function startProvider() {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      requests.push({ url: req.url, body });
      if (req.url.startsWith('/v1/chat/completions')) return chat(req, res, body);
      if (req.url.startsWith('/v1/responses')) return responses(req, res, body);
      if (req.url.startsWith('/v1/messages')) return messages(req, res, body);
      json(res, 404, { error: { message: 'not found' } });
    });
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
