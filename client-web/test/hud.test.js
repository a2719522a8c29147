// What the HUD shows: scoreboard order, network lines, countdown, banner.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionText, netLines, respawnSeconds, scoreboardRows } from '../src/hud.js';

test('the scoreboard ranks by score, then name', () => {
  const rows = scoreboardRows([
    { id: 1, name: 'bo', score: 2, own: false },
    { id: 2, name: 'al', score: 2, own: true },
    { id: 3, name: 'cy', score: 7, own: false },
  ]);
  assert.deepEqual(rows.map((r) => [r.rank, r.name]), [[1, 'cy'], [2, 'al'], [3, 'bo']]);
  assert.equal(rows[1].own, true);
});

test('the scoreboard always shows the own row', () => {
  const avatars = Array.from({ length: 20 }, (_, i) => ({ id: i, name: `p${i}`, score: 100 - i, own: i === 19 }));
  const rows = scoreboardRows(avatars, 5);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows[4], { id: 19, name: 'p19', score: 81, own: true, rank: 20 });
});

test('the network overlay shows ping, snapshot rate, bandwidth and interpolation delay', () => {
  // The SDK's client.stats: bytes per second, shown in kbit/s.
  const lines = Object.fromEntries(
    netLines({ pingMs: 41.6, snapshotsPerSecond: 30, downBytesPerSecond: 2657.5, upBytesPerSecond: 380, interpolationMs: 66.7, tick: 9 }),
  );
  assert.deepEqual(lines, { ping: '42 ms', snapshots: '30/s', down: '21.3 kbit/s', up: '3.0 kbit/s', interp: '67 ms', tick: '9' });
  const idle = { pingMs: null, snapshotsPerSecond: 0, downBytesPerSecond: 0, upBytesPerSecond: 0, interpolationMs: 0, tick: 0 };
  assert.equal(Object.fromEntries(netLines(idle)).ping, '–');
});

test('the network overlay says how often interpolation ran dry, and what the network lab adds', () => {
  const stats = { pingMs: 341, snapshotsPerSecond: 30, downBytesPerSecond: 0, upBytesPerSecond: 0, interpolationMs: 77, tick: 9 };
  const plain = Object.fromEntries(netLines({ ...stats, interpolationStarved: 0, lab: null }));
  assert.equal(plain['ran dry'], '0×');
  assert.equal(plain.lab, undefined, 'no lab, no line');
  // The SDK's stats.lab says it in words (see the SDK's lab tests).
  const lab = { lagMs: 150, jitterMs: 40, stallMs: 1000, stallEveryMs: 10000, stalled: false, text: '+150±40 ms each way, stall 1 s/10 s' };
  const lines = Object.fromEntries(netLines({ ...stats, interpolationStarved: 2, lab }));
  assert.equal(lines['ran dry'], '2×');
  assert.equal(lines.lab, '+150±40 ms each way, stall 1 s/10 s');
});

test('the respawn countdown is in seconds', () => {
  assert.equal(respawnSeconds(45, 30), 1.5);
  assert.equal(respawnSeconds(0, 30), 0);
});

test('a dropped connection says so and when it retries', () => {
  assert.equal(connectionText({ state: 'connected' }), '');
  assert.equal(
    connectionText({ state: 'reconnecting', reason: 'connection lost', attempt: 2, retryInMs: 1200 }),
    'Connection lost (connection lost). Reconnecting in 2 s (attempt 2)…',
  );
  assert.match(connectionText({ state: 'closed', reason: 'the server speaks another protocol version' }), /Cannot play/);
});
