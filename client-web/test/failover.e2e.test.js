// End to end, a room that survives its node: a redis-server of the
// test's own and two release server nodes, `a` and `b`, on short leases.
// The room is opened on `a` (matchmaking there); the arena page is opened
// through `b` with `?room=`, so `b` redirects it to `a`, where it plays.
// Then `a` is killed (SIGKILL: no drain, no goodbye). The page must carry
// on by itself: its reconnect to `a` cannot open, so it goes back to its
// entry (`b`) with the room and its resume token; once `a`'s lease has run
// out, `b` restores the room from Redis and lets the page take its seat
// back. The same player and avatar, snapshots flowing again, and the keys
// still move the avatar; a screenshot shows it (test-results/failover.png).
//
// Needs TICKWIRE_BIN (the release server binary), Debian's Chromium and
// redis-server.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { launchChromium, resultPath } from './helpers/browser.js';
import { startNode, startRedis, until } from './helpers/cluster.js';

const VIEWPORT = { width: 1280, height: 720 };
/** Seconds between two heartbeats, and a node's lease: a dead node's rooms are free this long after its last heartbeat. */
const TIMING = { heartbeat: 0.3, lease: 1 };

/** What the page's client says about itself. */
function state(page) {
  return page.evaluate(() => {
    const t = window.tickwire;
    return {
      status: t.status,
      statuses: window.statuses ?? [],
      player: t.playerId,
      avatar: t.avatarId,
      own: t.entities[t.avatarId] ?? null,
      snapshots: t.snapshots,
      tick: t.tick,
      inputSeq: t.inputSeq,
      lastInputAck: t.lastInputAck,
      socket: t.client.connection.socket?.url ?? null,
    };
  });
}

/** Holds `key` for `ms` and returns how far the own avatar moved along x, as the server says. */
async function moveFor(page, key, ms) {
  const x0 = (await state(page)).own.x;
  await page.keyboard.down(key);
  await new Promise((r) => setTimeout(r, ms));
  await page.keyboard.up(key);
  // The server's state lags the page by a round trip and a tick or two.
  await new Promise((r) => setTimeout(r, 300));
  return (await state(page)).own.x - x0;
}

test('the arena page carries on on another node when its room\'s node is killed', { timeout: 120000 }, async (t) => {
  const redis = await startRedis();
  const nodes = [];
  let browser;
  try {
    // `b` serves the page; `a`, where the room goes, lets it open a socket.
    const b = await startNode(redis, 'b', ['--reconnect-grace', '20'], TIMING);
    nodes.push(b);
    const a = await startNode(redis, 'a', ['--reconnect-grace', '20', '--allowed-origin', b.url], TIMING);
    nodes.push(a);
    await until('both nodes to register', async () => (await (await fetch(`${b.url}/api/rooms`)).json()).nodes?.length === 2, 10000);
    // Both empty, a tie goes to the first id: the room is `a`'s.
    const room = `failover-${process.pid}`;
    const offer = await (await fetch(`${a.url}/api/matchmake`, { method: 'POST', body: JSON.stringify({ room, name: 'opener' }) })).json();
    assert.equal(offer.node, 'a', JSON.stringify(offer));

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    const errors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${b.url}/?room=${room}&name=ann&autoplay=1`);
    await page.waitForFunction(
      () => window.tickwire?.connected && window.tickwire.entities[window.tickwire.avatarId] !== undefined,
      null,
      { timeout: 15000 },
    );
    await page.evaluate(() => {
      window.statuses = [];
      window.tickwire.client.on('status', (s) => window.statuses.push(s));
    });
    const aWs = a.url.replace('http://', 'ws://');
    const bWs = b.url.replace('http://', 'ws://');
    const before = await until('inputs acknowledged on a', async () => {
      const s = await state(page);
      return s.lastInputAck !== null && s.lastInputAck > 5 ? s : null;
    }, 15000);
    assert.ok(before.socket.startsWith(aWs), `redirected to a: ${before.socket}`);
    // The keys move the avatar (away from the nearer wall of the 4000-unit arena).
    const key = before.own.x < 2000 ? 'KeyD' : 'KeyA';
    const sign = key === 'KeyD' ? 1 : -1;
    const movedOnA = await moveFor(page, key, 700);
    assert.ok(movedOnA * sign > 50, `the avatar moves on a: ${movedOnA}`);

    a.process.kill('SIGKILL');
    const killed = Date.now();
    await until('a reconnecting status', async () => (await state(page)).statuses.some((s) => s.state === 'reconnecting'), 15000);
    const after = await until('the page connected again', async () => {
      const s = await state(page);
      return s.status.state === 'connected' && s.statuses.some((x) => x.state === 'connected') ? s : null;
    }, 45000).catch(async (error) => {
      const { statuses } = await state(page);
      throw new Error(`${error.message}: the room was not restored on b (the server side of failover); the page said ${JSON.stringify(statuses.slice(-6))}`);
    });
    const back = Date.now() - killed;
    // What the page shows once back (the end of the test shows it again, played on).
    await page.screenshot({ path: resultPath('failover.png') });
    // Each reconnecting status is said again as its countdown runs: each reason once.
    const reasons = [...new Set(after.statuses.filter((s) => s.state === 'reconnecting').map((s) => s.reason))];
    const connected = after.statuses.filter((s) => s.state === 'connected').at(-1);
    assert.ok(
      connected.resumed,
      `the page came back ${back} ms after the kill as a new player (resumed: false, player ${after.player} after ${before.player}), ` +
        `not in its seat: the room was not restored on b, or b did not take a's resume token. ` +
        `That is the server side of failover (rooms streamed to Redis and restored on a live node; resume tokens ` +
        `signed with a key from the cluster secret); the page said: ${JSON.stringify(reasons)}`,
    );
    assert.ok(after.socket.startsWith(bWs), `on b now: ${after.socket}`);
    const entry = `resuming through ${new URL(b.url).host}`;
    assert.ok(reasons.some((r) => r.endsWith(entry)), `back through the entry: ${JSON.stringify(reasons)}`);
    assert.equal(after.player, before.player, 'the same player');
    assert.equal(after.avatar, before.avatar, 'the same avatar');
    assert.ok(after.tick > before.tick, `the match goes on: tick ${after.tick} after ${before.tick}`);

    // Snapshots flow again, and the keys still move the avatar.
    const flowing = await until('snapshots on b', async () => {
      const s = await state(page);
      return s.snapshots > after.snapshots + 30 && s.own ? s : null;
    }, 15000);
    const movedOnB = await moveFor(page, key, 700);
    assert.ok(movedOnB * sign > 50, `the avatar moves on b: ${movedOnB}`);
    const later = await state(page);
    assert.ok(later.inputSeq > before.inputSeq && later.lastInputAck > before.inputSeq, `inputs numbered on and acknowledged: ${JSON.stringify(later)}`);
    t.diagnostic(`back in the seat ${back} ms after the kill (lease ${TIMING.lease} s), ${flowing.snapshots - after.snapshots} snapshots since`);
    await page.screenshot({ path: resultPath('failover.png') });
    // The browser reports each socket it could not open to the dead node
    // on the console: that is the kill, not the page.
    const refusedByA = (e) => e.startsWith(`WebSocket connection to '${aWs}/ws?`) && e.endsWith('net::ERR_CONNECTION_REFUSED');
    assert.ok(errors.some(refusedByA), `the page tried a first: ${JSON.stringify(errors)}`);
    assert.deepStrictEqual(errors.filter((e) => !refusedByA(e)), []);
  } finally {
    await browser?.close();
    for (const node of nodes) await node.stop();
    await redis.stop();
  }
});
