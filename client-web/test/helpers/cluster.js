// Test helpers for the browser tests of cluster mode: a redis-server of
// the test's own on a free loopback port, and the release server binary
// as a node of a cluster on it.

import { spawn } from 'node:child_process';

import { freePort, startServer, waitForPort } from './browser.js';

/** The cluster secret every node of a test shares. */
export const SECRET = 'the browser test cluster secret';

/** Starts redis-server on a free loopback port; `{ url, stop }`. Fails with the install command when it is missing. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  let failed = null;
  child.once('error', (e) => {
    failed = e;
  });
  const exit = new Promise((ok) => child.once('exit', ok));
  try {
    await waitForPort(port, 10000, () => failed === null && child.exitCode === null);
  } catch (error) {
    throw new Error(`redis-server did not start (${failed?.message ?? error.message}): install it with 'apt-get install redis-server'`);
  }
  return {
    url: `redis://127.0.0.1:${port}/`,
    stop: async () => {
      child.kill('SIGKILL');
      await exit;
    },
  };
}

/**
 * Starts node `id` of the cluster in `redis` (the release server binary of
 * TICKWIRE_BIN) with `extra` flags, a heartbeat every `heartbeat` seconds
 * and a lease of `lease`. Returns what `startServer` does.
 * @param {{url: string}} redis
 * @param {string} id
 * @param {string[]} [extra]
 * @param {{heartbeat?: number, lease?: number}} [timing]
 */
export function startNode(redis, id, extra = [], { heartbeat = 0.25, lease = 0.75 } = {}) {
  return startServer(process.env.TICKWIRE_BIN, [
    '--redis', redis.url,
    '--public-url', 'http://127.0.0.1:0',
    '--node-id', id,
    '--cluster-secret', SECRET,
    '--heartbeat', String(heartbeat),
    '--lease', String(lease),
    ...extra,
  ]);
}

export { until } from './browser.js';
