// The client that the module-level API (init, log, observe, …) and the integrations use.
// Looked up at call time, so functions wrapped before init() still report once it has run.
//
// Kept on globalThis under a registered symbol: an app that ends up loading both the ESM and the
// CommonJS build (one dependency imports, another requires) still has one client, not two.

import type { Client } from './client.js';

const HUB = Symbol.for('lynex.sdk.hub.v1');

interface Hub {
  client: Client | undefined;
}

function hub(): Hub {
  const g = globalThis as any;
  return (g[HUB] ??= { client: undefined });
}

let makeDefault: (() => Client) | undefined;

/** @internal set by client.ts: how to make the disabled client used before init() */
export function setDefaultClientFactory(factory: () => Client): void {
  makeDefault = factory;
}

/** The client set by the last init(); a disabled no-op client before that. */
export function getClient(): Client {
  const h = hub();
  if (!h.client) h.client = makeDefault!();
  return h.client;
}

/** @internal */
export function setClient(client: Client): Client {
  const previous = getClient();
  hub().client = client;
  return previous;
}
