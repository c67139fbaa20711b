// Node 18 loading the ESM build has no process.getBuiltinModule: AsyncLocalStorage arrives by import().
delete process.getBuiltinModule;
const lynex = await import('../../dist/esm/index.js');
const before = lynex.tracksAsyncContext();
await new Promise((r) => setTimeout(r, 0));
console.log(JSON.stringify({ before, after: lynex.tracksAsyncContext() }));
