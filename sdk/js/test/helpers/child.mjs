// Scripts run in a child Node process by transport.test.mjs (host and key come from LYNEX_* env).
import * as lynex from '../../dist/esm/index.js';

const script = process.argv[2];
if (script === 'log-and-exit') {
  lynex.init({ shutdownTimeoutMs: 1000, requestTimeoutMs: 2000 });
  const work = lynex.observe(async (x) => x + 1, { name: 'work' });
  await work(1);
  lynex.log({ name: 'a' });
  lynex.log({ name: 'b' });
  console.log('done');
  // no flush, no shutdown: the SDK must deliver on beforeExit and must not hold the process open
}
