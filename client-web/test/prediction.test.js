// Prediction: the own avatar's movement matches the simulation, and
// reconciliation against acknowledged inputs shows no rubber-banding.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Predictor, direction, stepMovement } from '../src/prediction.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/prediction.json', import.meta.url), 'utf8'));
const SCALE = fixture.scale;
/**
 * One quantization step, plus float slack: the replay starts from a
 * quantized position (half a step off at most) and is compared with
 * quantized positions (another half step).
 */
const QUANT_ERROR = 1 / SCALE + 1e-4;

function input(seq, move_x, move_y) {
  return { seq, move_x, move_y, aim: 0, buttons: 0 };
}

function predictorFor(f) {
  return new Predictor({ tickRate: f.tick_rate, arenaSize: f.arena_size, speed: f.speed });
}

test('a diagonal moves at full speed, not faster', () => {
  const [x, y] = direction(127, -127);
  assert.ok(Math.abs(Math.hypot(x, y) - 1) < 1e-6);
  assert.deepEqual(direction(127, 0), [1, 0]);
  assert.deepEqual(direction(-128, 0), [-1, 0], '-128 counts as -127');
});

test('movement is clamped to the arena', () => {
  const rules = { dt: Math.fround(1 / 30), speed: 200, arenaSize: 4000 };
  assert.deepEqual(stepMovement({ x: 1, y: 3999 }, input(1, -127, 127), rules), { x: 0, y: 4000 });
});

test('replaying the simulation inputs gives its positions within quantization error', () => {
  assert.ok(fixture.sequences.length > 0);
  for (const [s, seq] of fixture.sequences.entries()) {
    const p = predictorFor(fixture);
    p.reconcile({ x: seq.start[0] / SCALE, y: seq.start[1] / SCALE }, 0);
    for (const [i, [n, mx, my]] of seq.inputs.entries()) {
      p.applyInput(input(n, mx, my));
      const [qx, qy] = seq.positions[i];
      const dx = Math.abs(p.position.x - qx / SCALE);
      const dy = Math.abs(p.position.y - qy / SCALE);
      assert.ok(dx <= QUANT_ERROR && dy <= QUANT_ERROR, `sequence ${s}, input ${n}: off by (${dx}, ${dy})`);
    }
  }
});

test('reconciling replays the unacknowledged inputs on top of the server state', () => {
  // The server's snapshots lag four inputs behind; every one restarts the
  // prediction from the quantized server position, and the prediction must
  // still land on the simulation's position of the newest input.
  for (const seq of fixture.sequences) {
    const p = predictorFor(fixture);
    p.reconcile({ x: seq.start[0] / SCALE, y: seq.start[1] / SCALE }, 0);
    const lag = 4;
    for (const [i, [n, mx, my]] of seq.inputs.entries()) {
      p.applyInput(input(n, mx, my));
      if (i >= lag) {
        const [sx, sy] = seq.positions[i - lag];
        p.reconcile({ x: sx / SCALE, y: sy / SCALE }, seq.inputs[i - lag][0]);
        assert.equal(p.pending.length, lag);
      }
      const [qx, qy] = seq.positions[i];
      assert.ok(Math.abs(p.position.x - qx / SCALE) <= QUANT_ERROR, `input ${n}`);
      assert.ok(Math.abs(p.position.y - qy / SCALE) <= QUANT_ERROR, `input ${n}`);
    }
  }
});

/**
 * A client and a server at 100 ms round trip, stepped on one simulated
 * clock: the client sends an input every tick, the server applies it 50 ms
 * later and its snapshot arrives 50 ms after that. Frames are drawn at
 * 60 Hz. Returns the drawn positions.
 */
function playAt100msRtt({ inputs, dropEvery = 0 }) {
  const tickRate = 30;
  const dt = 1000 / tickRate;
  const oneWay = 50;
  const rules = { dt: Math.fround(1 / 30), speed: 200, arenaSize: 4000 };
  const p = new Predictor({ tickRate, arenaSize: 4000 });
  let server = { x: 1000, y: 1000 };
  let acked = 0;
  p.reconcile(server, 0);
  const toServer = [];
  const toClient = [];
  const drawn = [];
  let lastFrame = dt;
  for (let tick = 1; tick <= inputs.length + 10; tick++) {
    const now = tick * dt;
    // Client: one input per tick (standing still after the list), predicted at once.
    const inp = input(tick, ...(inputs[tick - 1] ?? [0, 0]));
    p.applyInput(inp);
    toServer.push({ at: now + oneWay, inp });
    // Server tick (phase-shifted by 7 ms): applies the inputs that arrived.
    const serverNow = now + 7;
    while (toServer.length && toServer[0].at <= serverNow) {
      const { inp } = toServer.shift();
      if (dropEvery && inp.seq % dropEvery === 0) continue; // a lost race
      server = stepMovement(server, inp, rules);
      acked = inp.seq;
    }
    toClient.push({
      at: serverNow + oneWay,
      pos: { x: Math.round(server.x * 16) / 16, y: Math.round(server.y * 16) / 16 },
      acked,
    });
    // Frames until the next tick; snapshots are applied as they arrive.
    for (let f = lastFrame; f < now + dt; f += 1000 / 60) {
      while (toClient.length && toClient[0].at <= f) {
        const s = toClient.shift();
        p.reconcile(s.pos, s.acked);
      }
      p.advance(1000 / 60);
      drawn.push(p.displayPosition((f - now) / dt));
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
  const p = new Predictor({ tickRate: 30, arenaSize: 4000 });
  p.reconcile({ x: 100, y: 100 }, 0);
  p.reconcile({ x: 3000, y: 2000 }, 0, true);
  assert.deepEqual(p.displayPosition(), { x: 3000, y: 2000 });
});

test('a dead avatar is not predicted', () => {
  const p = new Predictor({ tickRate: 30, arenaSize: 4000 });
  p.reconcile({ x: 100, y: 100 }, 0, false);
  p.applyInput(input(1, 127, 0));
  assert.deepEqual(p.position, { x: 100, y: 100 });
});

test('unacknowledged inputs are bounded', () => {
  const p = new Predictor({ tickRate: 30, arenaSize: 4000 });
  p.reconcile({ x: 100, y: 100 }, 0);
  for (let seq = 1; seq <= 1000; seq++) p.applyInput(input(seq, 0, 0));
  assert.ok(p.pending.length <= 120);
});
