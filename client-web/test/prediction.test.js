// Prediction of the own avatar: the arena's step (src/predict.js), run by
// the SDK's prediction hook, matches the simulation, and reconciliation
// against acknowledged inputs shows no rubber-banding. The fixture holds
// input sequences run through the Rust arena and the positions it
// replicated (`cargo run -p tickwire-sim --example prediction_fixture`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { InputCodec, Predictor, SchemaView } from '../sdk/index.js';
import { direction, stepAvatar } from '../src/predict.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/prediction.json', import.meta.url), 'utf8'));
const SCALE = fixture.scale;
/**
 * One quantization step, plus float slack: the replay starts from a
 * quantized position (half a step off at most) and is compared with
 * quantized positions (another half step).
 */
const QUANT_ERROR = 1 / SCALE + 1e-4;

/** The arena's avatar and input, as its welcome declares them. */
const schema = new SchemaView({
  game: 'arena',
  kinds: [
    {
      name: 'avatar',
      fields: [
        { name: 'x', quant: { type: 'Fixed', scale: SCALE } },
        { name: 'y', quant: { type: 'Fixed', scale: SCALE } },
        { name: 'heading', quant: { type: 'Angle', steps: 256 } },
        { name: 'hp', quant: { type: 'Int', min: 0, max: 100 } },
        { name: 'score', quant: { type: 'Int', min: 0, max: 4294967295 } },
        { name: 'respawn', quant: { type: 'Int', min: 0, max: 4294967295 } },
        { name: 'player', quant: { type: 'Player' } },
      ],
    },
  ],
  input: [
    { name: 'move_x', kind: { type: 'Axis', steps: 127 } },
    { name: 'move_y', kind: { type: 'Axis', steps: 127 } },
    { name: 'aim', kind: { type: 'Angle', steps: 65536 } },
    { name: 'buttons', kind: { type: 'Buttons', names: ['fire'] } },
  ],
});
const AVATAR = /** @type {import('../sdk/schema.js').KindView} */ (schema.kind(0)).fields;
const codec = new InputCodec(schema.input);
const CONSTANTS = { arena_size: fixture.arena_size, player_speed: fixture.speed };
const TICK_RATE = fixture.tick_rate;

/** The input the server's game sees for the wire values of a move. */
const move = (mx, my) => codec.named([mx, my, 0, 0]);
/** An avatar's fields at a position, alive. */
const avatar = (x, y, more = {}) => ({ x, y, heading: 0, hp: 100, score: 0, respawn: 0, player: 1, ...more });

/** The SDK's prediction with the arena's step. */
function predictor(options = {}) {
  return new Predictor({ predict: stepAvatar, tickRate: TICK_RATE, constants: CONSTANTS, ...options });
}

test('a diagonal moves at full speed, not faster', () => {
  const [x, y] = direction(move(127, -127).move_x, move(127, -127).move_y);
  assert.ok(Math.abs(Math.hypot(x, y) - 1) < 1e-6);
  assert.deepEqual(direction(1, 0), [1, 0]);
  // The SDK never sends -128: an axis is clamped into -127..=127.
  assert.deepEqual(codec.values({ move_x: -2 }), [-127, 0, 0, 0]);
});

test('movement is clamped to the arena, and the avatar faces its aim', () => {
  const dt = Math.fround(1 / 30);
  const aimed = { ...move(-127, 127), aim: codec.named([0, 0, 16384, 0]).aim };
  const after = stepAvatar(avatar(1, 3999), aimed, dt, { arena_size: 4000, player_speed: 200 });
  assert.deepEqual(after, { x: 0, y: 4000, heading: Math.fround(Math.PI / 2) });
});

test('a dead avatar is not predicted', () => {
  const p = predictor();
  p.reconcile(avatar(100, 100, { hp: 0, respawn: 30 }), null, AVATAR);
  p.applyInput(1, move(127, 0));
  assert.equal(p.state?.x, 100);
  assert.equal(p.state?.y, 100);
});

test('replaying the simulation inputs gives its positions within quantization error', () => {
  assert.ok(fixture.sequences.length > 0);
  for (const [s, seq] of fixture.sequences.entries()) {
    const p = predictor();
    p.reconcile(avatar(seq.start[0] / SCALE, seq.start[1] / SCALE), null, AVATAR);
    for (const [i, [n, mx, my]] of seq.inputs.entries()) {
      p.applyInput(n, move(mx, my));
      const state = /** @type {Record<string, number>} */ (p.state);
      const [qx, qy] = seq.positions[i];
      const dx = Math.abs(state.x - qx / SCALE);
      const dy = Math.abs(state.y - qy / SCALE);
      assert.ok(dx <= QUANT_ERROR && dy <= QUANT_ERROR, `sequence ${s}, input ${n}: off by (${dx}, ${dy})`);
    }
  }
});

test('reconciling replays the unacknowledged inputs on top of the server state', () => {
  // The server's snapshots lag four inputs behind; every one reconciles the
  // prediction with the quantized server position, and the prediction must
  // still land on the simulation's position of the newest input.
  for (const seq of fixture.sequences) {
    const p = predictor();
    p.reconcile(avatar(seq.start[0] / SCALE, seq.start[1] / SCALE), null, AVATAR);
    const lag = 4;
    for (const [i, [n, mx, my]] of seq.inputs.entries()) {
      p.applyInput(n, move(mx, my));
      if (i >= lag) {
        const [sx, sy] = seq.positions[i - lag];
        p.reconcile(avatar(sx / SCALE, sy / SCALE), seq.inputs[i - lag][0], AVATAR);
        assert.equal(p.pending.length, lag);
      }
      const state = /** @type {Record<string, number>} */ (p.state);
      const [qx, qy] = seq.positions[i];
      assert.ok(Math.abs(state.x - qx / SCALE) <= QUANT_ERROR, `input ${n}`);
      assert.ok(Math.abs(state.y - qy / SCALE) <= QUANT_ERROR, `input ${n}`);
    }
  }
});

test('a step slightly off the arena\'s rule would not', () => {
  // The same replay with a speed 2% too high drifts past one step: the
  // tests above measure the step, not just the reconciliation.
  const p = new Predictor({ predict: stepAvatar, tickRate: TICK_RATE, constants: { ...CONSTANTS, player_speed: fixture.speed * 1.02 } });
  const seq = fixture.sequences[0];
  p.reconcile(avatar(seq.start[0] / SCALE, seq.start[1] / SCALE), null, AVATAR);
  let worst = 0;
  for (const [i, [n, mx, my]] of seq.inputs.entries()) {
    p.applyInput(n, move(mx, my));
    if (i >= 4) {
      const [sx, sy] = seq.positions[i - 4];
      p.reconcile(avatar(sx / SCALE, sy / SCALE), seq.inputs[i - 4][0], AVATAR);
    }
    const state = /** @type {Record<string, number>} */ (p.state);
    const [qx, qy] = seq.positions[i];
    worst = Math.max(worst, Math.abs(state.x - qx / SCALE), Math.abs(state.y - qy / SCALE));
  }
  assert.ok(worst > QUANT_ERROR, `worst ${worst}`);
});

/**
 * A client and a server at 100 ms round trip, stepped on one simulated
 * clock: the client sends an input every tick, the server applies it 50 ms
 * later and its snapshot arrives 50 ms after that. Frames are drawn at
 * 60 Hz. Returns the drawn positions.
 */
function playAt100msRtt({ inputs, dropEvery = 0 }) {
  const dt = 1000 / TICK_RATE;
  const oneWay = 50;
  const p = predictor();
  let server = avatar(1000, 1000);
  let acked = 0;
  p.reconcile(server, null, AVATAR);
  const toServer = [];
  const toClient = [];
  const drawn = [];
  let lastFrame = dt;
  for (let tick = 1; tick <= inputs.length + 10; tick++) {
    const now = tick * dt;
    // Client: one input per tick (standing still after the list), predicted at once.
    const input = move(...(inputs[tick - 1] ?? [0, 0]));
    p.applyInput(tick, input);
    toServer.push({ at: now + oneWay, seq: tick, input });
    // Server tick (phase-shifted by 7 ms): applies the inputs that arrived.
    const serverNow = now + 7;
    while (toServer.length && toServer[0].at <= serverNow) {
      const { seq, input } = toServer.shift();
      if (dropEvery && seq % dropEvery === 0) continue; // a lost race
      server = { ...server, ...stepAvatar(server, input, Math.fround(1 / TICK_RATE), CONSTANTS) };
      acked = seq;
    }
    toClient.push({
      at: serverNow + oneWay,
      fields: { ...server, x: Math.round(server.x * SCALE) / SCALE, y: Math.round(server.y * SCALE) / SCALE },
      acked,
    });
    // Frames until the next tick; snapshots are applied as they arrive.
    for (let f = lastFrame; f < now + dt; f += 1000 / 60) {
      while (toClient.length && toClient[0].at <= f) {
        const s = toClient.shift();
        p.reconcile(s.fields, s.acked, AVATAR);
      }
      p.advance(1000 / 60);
      drawn.push(p.display((f - now) / dt));
      lastFrame = f + 1000 / 60;
    }
  }
  return drawn;
}

test('no rubber-banding at 100 ms round trip', () => {
  const inputs = [];
  for (let i = 0; i < 90; i++) inputs.push(i < 45 ? [127, 0] : [0, 127]);
  const drawn = playAt100msRtt({ inputs });
  const perFrame = (200 / 60) * 1.01;
  for (let i = 1; i < drawn.length; i++) {
    const dx = drawn[i].x - drawn[i - 1].x;
    const dy = drawn[i].y - drawn[i - 1].y;
    assert.ok(dx >= -0.05 && dy >= -0.05, `frame ${i} went backwards by (${dx}, ${dy})`);
    assert.ok(Math.hypot(dx, dy) <= 2 * perFrame, `frame ${i} jumped ${Math.hypot(dx, dy)}`);
  }
  const end = drawn[drawn.length - 1];
  const expected = { x: 1000 + 45 * Math.fround(200 / 30), y: 1000 + 45 * Math.fround(200 / 30) };
  assert.ok(Math.abs(end.x - expected.x) < 0.1 && Math.abs(end.y - expected.y) < 0.1);
});

test('a correction is spread over frames instead of shown as a jump', () => {
  // The server loses every tenth input: the prediction is one step ahead
  // each time, and the drawn position must glide back, never jump.
  const inputs = Array.from({ length: 90 }, () => [127, 0]);
  const drawn = playAt100msRtt({ inputs, dropEvery: 10 });
  const step = 200 / 30;
  // Two frames per tick while the avatar runs.
  for (let i = 1; i < 2 * inputs.length; i++) {
    const jump = Math.abs(drawn[i].x - drawn[i - 1].x - 200 / 60);
    assert.ok(jump < step / 2, `frame ${i}: moved ${drawn[i].x - drawn[i - 1].x}`);
  }
});

test('a respawn far away is shown at once', () => {
  const p = predictor();
  p.reconcile(avatar(100, 100), null, AVATAR);
  p.applyInput(1, move(0, 0));
  p.reconcile(avatar(3000, 2000), 1, AVATAR);
  // Drawn in the server's quantization step at once, not gliding there.
  const shown = /** @type {Record<string, number>} */ (p.display());
  assert.ok(Math.abs(shown.x - 3000) <= 0.5 / SCALE && Math.abs(shown.y - 2000) <= 0.5 / SCALE, `shown at (${shown.x}, ${shown.y})`);
});

test('unacknowledged inputs are bounded', () => {
  const p = predictor();
  p.reconcile(avatar(100, 100), null, AVATAR);
  for (let seq = 1; seq <= 1000; seq++) p.applyInput(seq, move(0, 0));
  assert.ok(p.pending.length <= 120);
});
