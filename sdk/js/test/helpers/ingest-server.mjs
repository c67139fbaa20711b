// A fake Lynex ingest server on 127.0.0.1 for tests: records every request and the spans in it,
// and answers what the test's handler says (default: 200 accepted).
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';

export async function startIngest(handler, port = 0) {
  const state = {
    requests: [],
    spans: [],
    handler: handler ?? (() => undefined),
  };
  const sockets = new Set();
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      let raw = Buffer.concat(chunks);
      const gzipped = req.headers['content-encoding'] === 'gzip';
      if (gzipped) raw = gunzipSync(raw);
      let body;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
      const info = { method: req.method, url: req.url, headers: req.headers, gzipped, body, bytes: raw.length };
      state.requests.push(info);
      let answer;
      try {
        answer = await state.handler(info, state.requests.length);
      } catch (err) {
        answer = { status: 500, body: { error: String(err) } };
      }
      if (answer === 'hang') return; // never answer
      if (answer === 'destroy') return req.socket.destroy();
      answer = answer ?? {};
      const status = answer.status ?? 200;
      if (status === 200 || status === 207) {
        const rejected = answer.body?.rejected ?? [];
        const rejectedIdx = new Set(rejected.map((r) => r.index));
        (body?.spans ?? []).forEach((s, i) => {
          if (!rejectedIdx.has(i)) state.spans.push(s);
        });
      }
      const payload = answer.body ?? { accepted: body?.spans?.length ?? 0, rejected: [] };
      res.writeHead(status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
      res.end(JSON.stringify(payload));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = server.address().port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    state,
    get spans() {
      return state.spans;
    },
    get requests() {
      return state.requests;
    },
    setHandler(fn) {
      state.handler = fn;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Poll `fn` until it returns truthy (or throw after timeoutMs). */
export async function waitFor(fn, timeoutMs = 5000, what = 'condition') {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
