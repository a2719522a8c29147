// End to end, cluster mode: a redis-server of the test's own and two
// release server nodes. In headless Chromium, the SDK connects to the node
// that does not own the room, follows the redirect to the one that does,
// and is welcomed there; a second page matchmakes (POST /api/matchmake)
// and takes its seat on that node, in the same room.
//
// Needs TICKWIRE_BIN (the release server binary), Debian's Chromium and
// redis-server.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { launchChromium } from './helpers/browser.js';
import { startNode, startRedis, until } from './helpers/cluster.js';

test('the SDK follows a redirect to the room\'s node, and matchmakes into the same room', { timeout: 60000 }, async () => {
  const redis = await startRedis();
  const nodes = [];
  let browser;
  try {
    // `a` serves the pages; `b`, where the room goes, lets them open
    // sockets to it.
    const a = await startNode(redis, 'a');
    nodes.push(a);
    const b = await startNode(redis, 'b', ['--allowed-origin', a.url]);
    nodes.push(b);
    const rooms = async () => (await fetch(`${a.url}/api/rooms`)).json();
    await until('both nodes to register', async () => (await rooms()).nodes?.length === 2, 10000);
    const matchmake = async (room) =>
      (await fetch(`${a.url}/api/matchmake`, { method: 'POST', body: JSON.stringify({ room, name: 'x' }) })).json();
    // Every node empty, a tie goes to the first id: `a` takes this one, so
    // the next new room goes to `b`.
    assert.equal((await matchmake('other')).node, 'a');
    assert.equal((await matchmake('web-1')).node, 'b');

    browser = await launchChromium();
    const errors = [];
    const page = async () => {
      const context = await browser.newContext();
      const p = await context.newPage();
      p.on('pageerror', (e) => errors.push(String(e)));
      await p.goto(`${a.url}/healthz`);
      return p;
    };

    // Connected to `a`, for a room that is `b`'s: redirected once.
    const ann = await page();
    const annView = await ann.evaluate(async () => {
      const sdk = await import('/sdk/index.js');
      const url = `ws://${location.host}/ws?room=web-1&name=ann`;
      const client = sdk.connect({ url, reconnect: true });
      const welcome = await new Promise((ok) => client.on('welcome', ok));
      window.client = client;
      return { room: welcome.room, socket: client.connection.socket.url };
    });
    assert.equal(annView.room, 'web-1');
    assert.ok(annView.socket.startsWith(b.url.replace('http://', 'ws://')), annView.socket);

    // Matchmaking from the page, then the seat on `b`.
    const bob = await page();
    const bobView = await bob.evaluate(async () => {
      const sdk = await import('/sdk/index.js');
      const seat = await sdk.matchmake({ room: 'web-1', name: 'bob' });
      const client = sdk.connect({ url: sdk.seatUrl(seat, { name: 'bob' }) });
      const welcome = await new Promise((ok) => client.on('welcome', ok));
      const full = await sdk.matchmake({ room: 'no such room!' }).catch((e) => e.status);
      return { node: seat.node, room: welcome.room, names: [...welcome.roster.values()], refused: full };
    });
    assert.equal(bobView.node, 'b');
    assert.equal(bobView.room, 'web-1');
    assert.deepEqual(bobView.names.sort(), ['ann', 'bob']);
    assert.equal(bobView.refused, 400);
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
});
