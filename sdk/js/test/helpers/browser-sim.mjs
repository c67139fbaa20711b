// Loads the ESM build the way a browser sees it: no `process` (so no AsyncLocalStorage, no env, no
// beforeExit), a `document` with visibility events, and a fetch that records keepalive use.
const ingestUrl = process.argv[2];
const realProcess = process;
const listeners = {};
const keepalive = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => {
  if (init?.keepalive) keepalive.push(url);
  return realFetch(url, init);
};
globalThis.addEventListener = (type, fn) => ((listeners[type] ??= []).push(fn));
globalThis.removeEventListener = () => undefined;
globalThis.document = { visibilityState: 'visible', addEventListener: globalThis.addEventListener, removeEventListener: () => undefined };
Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true });

const lynex = await import('../../dist/esm/index.js');
const out = { tracksAsync: lynex.tracksAsyncContext() };
lynex.init({ apiKey: 'k', host: ingestUrl, flushIntervalMs: 60_000 });
// Synchronous nesting follows the call stack; across awaits, pass the parent explicitly.
await lynex.span('page', async (page) => {
  lynex.span('sync-child', () => undefined);
  await new Promise((r) => setTimeout(r, 1));
  lynex.log({ name: 'after-await', parent: page });
  out.pageId = page.id;
});
globalThis.document.visibilityState = 'hidden';
for (const fn of listeners.visibilitychange ?? []) fn();
await new Promise((r) => setTimeout(r, 300));
out.keepalive = keepalive.length;
out.stats = lynex.stats();
Object.defineProperty(globalThis, 'process', { value: realProcess, configurable: true, writable: true });
realProcess.stdout.write(JSON.stringify(out) + '\n');
