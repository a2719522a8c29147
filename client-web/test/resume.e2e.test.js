// End to end: the SDK takes its seat back after a dropped connection,
// without the page reloading. The real server binary serves the SDK's
// minimal page (`sdk/examples/minimal.html`, through `--client-dir`) behind
// a TCP proxy that this test cuts, as a network drop would; the page's
// client reconnects by itself with its resume token, and is the same
// player with the same entity, its input sequence carrying on.
//
// Needs TICKWIRE_BIN (the release server binary) and Debian's Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

import { launchChromium, resultPath, startServer, until } from './helpers/browser.js';

/** The folder of the SDK's example pages. */
const EXAMPLES = fileURLToPath(new URL('../sdk/examples', import.meta.url));

/**
 * A TCP proxy on a free loopback port in front of `targetUrl`: every
 * connection is piped both ways until `cut()` destroys them all, both ends,
 * with no WebSocket close. Returns `{ url, cut, close }`.
 */
async function cuttingProxy(targetUrl) {
  const target = new URL(targetUrl);
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    cut,
    close: () => {
      cut();
      return new Promise((ok) => server.close(ok));
    },
  };
}

/** What the page's client says about itself. */
function state(page) {
  return page.evaluate(() => ({
    marker: window.loadedOnce ?? null,
    status: window.client.status,
    player: window.client.welcome?.player ?? null,
    entity: window.client.welcome?.entity ?? null,
    ownSeen: window.client.own !== null,
    inputSeq: window.client.inputSeq,
    lastInput: window.client.lastInput,
    tick: window.client.tick,
    statuses: window.statuses,
  }));
}

test('the SDK resumes its seat after its socket is cut, without the page reloading', { timeout: 120000 }, async () => {
  const server = await startServer(process.env.TICKWIRE_BIN, ['--client-dir', EXAMPLES, '--reconnect-grace', '60']);
  const proxy = await cuttingProxy(server.url);
  const browser = await launchChromium();
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${proxy.url}/minimal.html?room=resume&name=ann`);
    // A marker only this load of the page has, and every status from now on.
    await page.evaluate(() => {
      window.loadedOnce = 'this load';
      window.statuses = [];
      window.client.on('status', (s) => window.statuses.push(s));
    });
    await until('the welcome and the own entity', async () => (await state(page)).ownSeen, 15000);
    // The arena's input: held from now on, one sent per tick.
    await page.evaluate(() => window.client.setInput({ move_x: 1 }));
    const before = await until('inputs acknowledged', async () => {
      const s = await state(page);
      return s.lastInput !== null && s.lastInput > 5 ? s : null;
    }, 15000);

    proxy.cut();
    await until('a reconnecting status', async () => (await state(page)).statuses.some((s) => s.state === 'reconnecting'), 15000);
    const after = await until('connected again, resumed', async () => {
      const s = await state(page);
      return s.status.state === 'connected' && s.statuses.some((x) => x.state === 'connected') ? s : null;
    }, 30000);
    assert.equal(after.marker, 'this load', 'the page did not reload');
    const connected = after.statuses.filter((s) => s.state === 'connected');
    assert.deepStrictEqual(connected.at(-1), { state: 'connected', resumed: true }, JSON.stringify(after.statuses));
    assert.equal(after.player, before.player, 'the same player');
    assert.equal(after.entity, before.entity, 'the same entity');

    // The input sequence carries on: numbers keep growing from where they
    // were, and the server acknowledges the new ones.
    const later = await until('new inputs acknowledged', async () => {
      const s = await state(page);
      return s.ownSeen && s.lastInput > before.inputSeq ? s : null;
    }, 15000);
    assert.ok(later.inputSeq > before.inputSeq, `${later.inputSeq} after ${before.inputSeq}`);
    assert.ok(later.tick > before.tick);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const resumes = metrics.split('\n').find((l) => l.startsWith('tickwire_resumes_total'));
    assert.ok(resumes && Number(resumes.split(' ').at(-1)) >= 1, `resumes counted: ${resumes}`);
    await page.screenshot({ path: resultPath('resume.png') });
    assert.deepStrictEqual(errors, []);
  } finally {
    await browser.close();
    await proxy.close();
    await server.stop();
  }
});
