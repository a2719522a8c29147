// The arena's input: keys and mouse become the arena's input by the names
// its game declares, and the SDK encodes it by the welcome's schema: the
// axes' and the aim's steps and the fire button's bit are the schema's, and
// the values leave in the declared order.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { InputCodec, protocol } from '../sdk/index.js';
import { InputState, movementOf } from '../src/input.js';
import { declared } from '../src/arena.js';

/** The arena's declared input, as its welcome carries it. */
const ARENA_INPUT = [
  { name: 'move_x', kind: { type: 'Axis', steps: 127 } },
  { name: 'move_y', kind: { type: 'Axis', steps: 127 } },
  { name: 'aim', kind: { type: 'Angle', steps: 65536 } },
  { name: 'buttons', kind: { type: 'Buttons', names: ['fire'] } },
];

/** A schema with only this input. */
const withInput = (input) => ({ kinds: [], input, events: [] });

test('held keys leave as the declared values, in order', () => {
  const state = new InputState();
  state.key('KeyA', true);
  state.key('KeyS', true);
  state.key('Space', true);
  const named = state.named(Math.PI / 2);
  assert.deepStrictEqual(named, { move_x: -1, move_y: 1, aim: Math.PI / 2, fire: true });
  const codec = new InputCodec(ARENA_INPUT);
  const values = codec.values(named);
  assert.deepStrictEqual(values, [-127, 127, 16384, 1]);
  assert.deepStrictEqual(protocol.decodeClientMessage(protocol.encodeInput(9, values, 7)), { type: 'input', seq: 9, values, view: 7 });
  // What the arena's step sees of it, as the server's game reads it back.
  assert.deepStrictEqual(codec.named(values), { move_x: -1, move_y: 1, aim: Math.fround(Math.PI / 2), buttons: 1, fire: true });
  // Nothing held, aiming along +x: no values at all on the wire.
  state.releaseAll();
  const idle = codec.values(state.named(0));
  assert.deepStrictEqual(protocol.decodeClientMessage(protocol.encodeInput(10, idle)).values, []);
});

test("the fire bit, the axes' and the aim's steps are the schema's", () => {
  const other = [
    { name: 'buttons', kind: { type: 'Buttons', names: ['jump', 'fire'] } },
    { name: 'aim', kind: { type: 'Angle', steps: 360 } },
    { name: 'move_y', kind: { type: 'Axis', steps: 10 } },
    { name: 'move_x', kind: { type: 'Axis', steps: 100 } },
  ];
  assert.ok(declared(withInput(other), {}).input);
  const state = new InputState();
  state.key('KeyD', true);
  state.key('KeyW', true);
  state.mouseFire = true;
  assert.deepStrictEqual(new InputCodec(other).values(state.named(Math.PI)), [2, 180, -10, 100]);
});

test("a game without the arena's input is told apart", () => {
  assert.ok(declared(withInput(ARENA_INPUT), {}).input);
  assert.equal(declared(withInput([]), {}).input, false);
  assert.equal(declared(withInput(ARENA_INPUT.slice(0, 3)), {}).input, false);
  const noFire = ARENA_INPUT.map((d) => (d.name === 'buttons' ? { name: 'buttons', kind: { type: 'Buttons', names: ['jump'] } } : d));
  assert.equal(declared(withInput(noFire), {}).input, false);
  const aimAsInt = ARENA_INPUT.map((d) => (d.name === 'aim' ? { name: 'aim', kind: { type: 'Int', min: 0, max: 9 } } : d));
  assert.equal(declared(withInput(aimAsInt), {}).input, false);
});

test('opposite keys cancel, a diagonal is full on both axes, blur lets go', () => {
  assert.deepStrictEqual(movementOf({ up: true, left: true }), { x: -1, y: -1 });
  assert.deepStrictEqual(movementOf({ left: true, right: true }), { x: 0, y: 0 });
  const state = new InputState();
  assert.equal(state.key('ArrowRight', true), true);
  assert.equal(state.key('KeyQ', true), false, 'a key the arena does not use');
  state.mouseFire = true;
  state.releaseAll();
  assert.deepStrictEqual(state.named(0), { move_x: 0, move_y: 0, aim: 0, fire: false });
});
