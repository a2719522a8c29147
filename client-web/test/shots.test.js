// The own shots (src/shots.js): fired with the arena's rule the moment the
// input goes out, matched to the server's projectile when it arrives (which
// is then not drawn), gone with it, and dropped when the server never fired.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnShots, shotRules } from '../src/shots.js';

const RULES = { speed: 900, fireTicks: 8, lifeTicks: 30 };
const TICK_MS = 1000 / 30;
const FIRE = { move_x: 0, move_y: 0, aim: 0, fire: true };
const HOLD = { move_x: 0, move_y: 0, aim: 0, fire: false };

test('the rules come from the welcome, and a game without them has none', () => {
  assert.deepEqual(shotRules({ projectile_speed: 900, fire_ticks: 8, projectile_life_ticks: 30 }), RULES);
  assert.equal(shotRules({ projectile_speed: 900 }), null);
  assert.equal(shotRules({}), null);
});

test('held fire shoots at once and then once per fire interval, as the server does', () => {
  const shots = new OwnShots(RULES, 30);
  const at = { x: 100, y: 100 };
  for (let seq = 1; seq <= 17; seq++) shots.sent(seq, FIRE, at, seq * TICK_MS);
  // Inputs 1, 9 and 17: the gun cools by one a tick, and fires when cool.
  assert.deepEqual(
    shots.shots.map((s) => s.seq),
    [1, 9, 17],
  );
  const none = new OwnShots(RULES, 30);
  none.sent(1, HOLD, at, 0);
  none.sent(2, FIRE, null, TICK_MS);
  assert.equal(none.shots.length, 0, 'no fire held, or a dead avatar: no shot');
});

test('a shot flies from where the avatar was, along its aim, from the moment its input went out', () => {
  const shots = new OwnShots(RULES, 30);
  shots.sent(1, { ...FIRE, aim: Math.PI / 2 }, { x: 100, y: 200 }, 1000);
  const [s] = shots.drawn(1100, 100);
  assert.ok(Math.abs(s.x - 100) < 1e-9);
  assert.ok(Math.abs(s.y - 290) < 1e-9, `${s.y}: 900 units a second for 100 ms`);
});

test("the server's projectile is matched to the shot on its line, hidden, and takes the shot with it when it goes", () => {
  const shots = new OwnShots(RULES, 30);
  shots.sent(1, FIRE, { x: 100, y: 100 }, 0);
  // Someone else's, heading another way, and one off the line: not ours.
  assert.equal(shots.arrived(7, { x: 130, y: 100, heading: Math.PI }), false);
  assert.equal(shots.arrived(8, { x: 130, y: 140, heading: 0 }), false);
  // Ours, three ticks flown, its heading quantized to a 256th of a turn.
  assert.equal(shots.arrived(9, { x: 190, y: 100.0625, heading: (2 * Math.PI) / 256 }), true);
  assert.ok(shots.hidden.has(9));
  assert.equal(shots.drawn(150, 100).length, 1, 'drawn once: the page its own, the server its hidden one');
  // Long after a round trip it is still drawn, while the server's flies.
  assert.equal(shots.drawn(900, 100).length, 1);
  shots.gone(7);
  assert.equal(shots.drawn(900, 100).length, 1, "another projectile's leaving takes nothing");
  shots.gone(9);
  assert.equal(shots.drawn(900, 100).length, 0, "the server's shot hit or flew its life: gone");
  assert.equal(shots.hidden.size, 0);
});

test('a shot the server never fired is dropped after a round trip, and a matched one after its life', () => {
  const shots = new OwnShots(RULES, 30);
  shots.sent(1, FIRE, { x: 0, y: 0 }, 0);
  assert.equal(shots.drawn(300, 100).length, 1);
  assert.equal(shots.drawn(500, 100).length, 0, 'unmatched past the round trip and its grace');
  for (let seq = 2; seq <= 8; seq++) shots.sent(seq, HOLD, { x: 0, y: 0 }, seq * TICK_MS);
  shots.sent(9, FIRE, { x: 0, y: 0 }, 20 * TICK_MS);
  assert.equal(shots.shots.length, 1, 'the gun cooled: a second shot');
  assert.equal(shots.arrived(3, { x: 30, y: 0, heading: 0 }), true);
  assert.equal(shots.drawn(20 * TICK_MS + 30 * TICK_MS - 1, 100).length, 1);
  assert.equal(shots.drawn(20 * TICK_MS + 30 * TICK_MS + 1, 100).length, 0, 'flown its life');
});

test('matching takes the oldest unmatched shot on the line first', () => {
  const shots = new OwnShots({ ...RULES, fireTicks: 1 }, 30);
  shots.sent(1, FIRE, { x: 0, y: 0 }, 0);
  shots.sent(2, FIRE, { x: 0, y: 0 }, TICK_MS);
  assert.equal(shots.arrived(5, { x: 60, y: 0, heading: 0 }), true);
  assert.equal(shots.arrived(6, { x: 30, y: 0, heading: 0 }), true);
  assert.deepEqual(
    shots.shots.map((s) => [s.seq, s.server]),
    [
      [1, 5],
      [2, 6],
    ],
  );
  shots.clear();
  assert.equal(shots.drawn(0, 100).length, 0);
});
