// Inputs by name, encoded from the welcome's declared input fields: the
// named values of every input kind give the Rust encoder's golden bytes
// (crates/protocol/golden/), floats are quantized as the Rust derive does,
// and what the game's step sees decodes back from the wire values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { decodeServerMessage, encodeInput } from '../protocol.js';
import { InputCodec, quantizeAngle, quantizeAxis } from '../input.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'crates', 'protocol', 'golden');
const bin = (name) => new Uint8Array(readFileSync(join(GOLDEN, `${name}.bin`)));
const json = (name) => JSON.parse(readFileSync(join(GOLDEN, `${name}.json`), 'utf8'));
const welcome = decodeServerMessage(bin('server_welcome'), null);
// move: Axis 127, aim: Angle 65536, buttons: [fire, jump, use], slot: Int -2..9.
const codec = new InputCodec(welcome.schema.input);
const TAU = Math.PI * 2;

/** Named inputs that must encode to each golden input vector. */
const NAMED = {
  client_input: [
    { move: -1, aim: (3 * Math.PI) / 2, fire: true, use: true, slot: -2 },
    { slot: -2, buttons: 5, aim: -Math.PI / 2, move: -3 },
    { move: -1, aim: (3 * Math.PI) / 2, buttons: 1, use: true, slot: -2 },
  ],
  client_input_trimmed: [{ move: 64 / 127 }, { move: 0.504, aim: 0, fire: false, slot: 0 }],
  client_input_idle: [{}, { move: 0, aim: TAU, buttons: 0, slot: 0 }, { move: 0.003 }],
  client_input_axis: [{ move: 1 }, { move: 2.5 }, { move: Infinity }],
  client_input_angle: [{ aim: (TAU * 65535) / 65536 }, { aim: -TAU / 65536 }, { aim: -TAU / 65536 + 10 * TAU }],
  client_input_buttons: [{ fire: true, jump: true, use: true }, { buttons: 7 }, { buttons: 3, use: true }],
  client_input_int: [{ slot: 9 }],
};

for (const [name, inputs] of Object.entries(NAMED)) {
  test(`named inputs encode to the golden ${name}`, () => {
    const expected = json(name);
    for (const named of inputs) {
      assert.deepStrictEqual(encodeInput(expected.seq, codec.values(named), expected.view), bin(name), JSON.stringify(named));
    }
    // And back: what the game sees re-encodes to the same values.
    const values = codec.values(inputs[0]);
    assert.deepStrictEqual(codec.values(codec.named(values)), values);
  });
}

test('every golden input vector has named inputs', () => {
  const vectors = readFileSync(join(GOLDEN, '..', 'tests', 'golden.rs'), 'utf8').match(/"client_input[a-z_]*"/g);
  assert.deepStrictEqual(new Set(vectors.map((v) => v.slice(1, -1))), new Set(Object.keys(NAMED)));
});

test('floats quantize as the Rust derive does: roundf in f32, halves away from zero', () => {
  assert.equal(quantizeAxis(0.5 / 127, 127), 1);
  assert.equal(quantizeAxis(-0.5 / 127, 127), -1);
  assert.equal(quantizeAxis(0.3, 127), 38);
  assert.equal(quantizeAxis(-0.3, 127), -38);
  assert.equal(quantizeAxis(-1.5, 127), -127);
  assert.ok(Object.is(quantizeAxis(-0.001, 127), 0), 'no negative zero');
  assert.equal(quantizeAngle(Math.PI, 256), 128);
  assert.equal(quantizeAngle(-Math.PI / 2, 256), 192);
  assert.equal(quantizeAngle(TAU - 1e-4, 256), 0, 'a value that rounds up to a whole turn is 0');
  assert.equal(quantizeAngle(1, 1), 0);
});

test('unknown names and values of the wrong kind are refused; none is sent half-encoded', () => {
  assert.throws(() => codec.values({ jump: true, crouch: true }), /no input field or button "crouch"/);
  assert.throws(() => codec.values({ move: '1' }), RangeError);
  assert.throws(() => codec.values({ move: NaN }), RangeError);
  assert.throws(() => codec.values({ aim: Infinity }), RangeError);
  assert.throws(() => codec.values({ fire: 1 }), /true or false/);
  assert.throws(() => codec.values({ buttons: true }), /3 buttons/);
  assert.throws(() => codec.values({ buttons: 8 }), /outside 0..=7/);
  assert.throws(() => codec.values({ slot: 10 }), /outside -2..=9/);
  assert.throws(() => codec.values({ slot: 1.5 }), RangeError);
});

test('a bool field of the game is a flag: a boolean by its own name, both ways', () => {
  const flags = new InputCodec([
    { name: 'steer', kind: { type: 'Axis', steps: 127 } },
    { name: 'boost', kind: { type: 'Buttons', names: ['boost'] } },
    { name: 'pad', kind: { type: 'Buttons', names: ['a', 'b'] } },
  ]);
  assert.deepStrictEqual(flags.values({ steer: 0.3, boost: true, b: true }), [38, 1, 2]);
  assert.deepStrictEqual(flags.values({ boost: 1, pad: 3 }), [0, 1, 3]);
  assert.deepStrictEqual(flags.named([-127, 1, 2]), { steer: -1, boost: true, pad: 2, a: false, b: true });
  assert.deepStrictEqual(flags.named([38]), { steer: Math.fround(38 / 127), boost: false, pad: 0, a: false, b: false });
});

test('what the game sees is the f32 the Rust derive reads back', () => {
  const seen = codec.named([-127, 49152, 5, -2]);
  assert.deepStrictEqual(seen, { move: -1, aim: Math.fround((3 * Math.PI) / 2), buttons: 5, slot: -2, fire: true, jump: false, use: true });
  assert.equal(codec.named([64]).move, Math.fround(64 / 127));
});
