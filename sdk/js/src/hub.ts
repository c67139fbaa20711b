// The client that the module-level API (init, log, observe, …) and the integrations use.
// Looked up at call time, so functions wrapped before init() still report once it has run.

import { Client } from './client.js';

let current: Client = new Client({ enabled: false });

/** The client set by the last init(); a disabled no-op client before that. */
export function getClient(): Client {
  return current;
}

/** @internal */
export function setClient(client: Client): Client {
  const previous = current;
  current = client;
  return previous;
}
