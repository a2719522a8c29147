// The arena's input goes through the fields its schema declares: the axes'
// and the aim's steps and the fire button's bit come from the welcome, and
// the values leave in the declared order.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ARENA_LAYOUT, InputState, arenaInput, arenaValues, movementOf, quantizeAim } from '../src/input.js';
import { decodeClientMessage, encodeInput } from '../sdk/protocol.js';

/** The arena's declared input, as its welcome carries it. */
const ARENA = [
  { name: 'move_x', kind: { type: 'Axis', steps: 127 } },
  { name: 'move_y', kind: { type: 'Axis', steps: 127 } },
  { name: 'aim', kind: { type: 'Angle', steps: 65536 } },
  { name: 'buttons', kind: { type: 'Buttons', names: ['fire'] } },
];

test("the arena's declared input gives the layout the page always used", () => {
  const layout = arenaInput(ARENA);
  assert.deepStrictEqual({ ...layout, decls: null }, ARENA_LAYOUT);
});

test('a sampled input leaves as the declared values, in order', () => {
  const state = new InputState();
  state.layout = arenaInput(ARENA);
  state.key('KeyA', true);
  state.key('KeyS', true);
  state.key('Space', true);
  const input = state.sample(9, Math.PI / 2);
  assert.deepStrictEqual(input, { seq: 9, move_x: -127, move_y: 127, aim: 16384, buttons: 1 });
  const values = arenaValues(state.layout, input);
  assert.deepStrictEqual(values, [-127, 127, 16384, 1]);
  assert.deepStrictEqual(decodeClientMessage(encodeInput(input.seq, values)), { type: 'input', seq: 9, values });
  // Nothing held, aiming along +x: no values at all on the wire.
  state.releaseAll();
  const idle = state.sample(10, 0);
  assert.deepStrictEqual(decodeClientMessage(encodeInput(10, arenaValues(state.layout, idle))).values, []);
});

test("the fire bit, the axes' and the aim's steps are the schema's", () => {
  const other = [
    { name: 'buttons', kind: { type: 'Buttons', names: ['jump', 'fire'] } },
    { name: 'aim', kind: { type: 'Angle', steps: 360 } },
    { name: 'move_y', kind: { type: 'Axis', steps: 10 } },
    { name: 'move_x', kind: { type: 'Axis', steps: 100 } },
  ];
  const layout = arenaInput(other);
  assert.deepStrictEqual([layout.moveX, layout.moveY, layout.aimSteps, layout.fire], [100, 10, 360, 2]);
  const state = new InputState();
  state.layout = layout;
  state.key('KeyD', true);
  state.key('KeyW', true);
  state.mouseFire = true;
  const input = state.sample(1, Math.PI);
  assert.deepStrictEqual(arenaValues(layout, input), [2, 180, -10, 100]);
});

test("a game without the arena's fields has no arena layout", () => {
  assert.equal(arenaInput([]), null);
  assert.equal(arenaInput(ARENA.slice(0, 3)), null);
  const noFire = ARENA.map((d) => (d.name === 'buttons' ? { name: 'buttons', kind: { type: 'Buttons', names: ['jump'] } } : d));
  assert.equal(arenaInput(noFire), null);
  const aimAsInt = ARENA.map((d) => (d.name === 'aim' ? { name: 'aim', kind: { type: 'Int', min: 0, max: 9 } } : d));
  assert.equal(arenaInput(aimAsInt), null);
});

test('a value outside its declared field is refused, not sent', () => {
  assert.throws(() => arenaValues(arenaInput(ARENA), { move_x: 128, move_y: 0, aim: 0, buttons: 0 }), RangeError);
  assert.throws(() => arenaValues(arenaInput(ARENA), { move_x: 0, move_y: 0, aim: 0, buttons: 2 }), RangeError);
});

test('movement and aim quantize as before by default', () => {
  assert.deepStrictEqual(movementOf({ up: true, left: true }), { move_x: -127, move_y: -127 });
  assert.deepStrictEqual(movementOf({ left: true, right: true }), { move_x: 0, move_y: 0 });
  assert.equal(quantizeAim(-Math.PI / 2), 49152);
  assert.equal(quantizeAim(2 * Math.PI), 0);
});
