// Interpolation: positions between and across snapshots, uneven arrival,
// angle wrap, teleports, entities appearing and leaving.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Interpolator, SnapshotClock, angleDelta, lerpAngle } from '../interpolation.js';

const TICK_RATE = 30;
const INTERVAL = 1000 / TICK_RATE;
const MODES = { avatar: { x: 'linear', y: 'linear', heading: 'angle', hp: 'step' } };

function avatar(fields) {
  return { kind: 'avatar', fields: { x: 0, y: 0, heading: 0, hp: 100, ...fields } };
}

function world(...entries) {
  return new Map(entries);
}

/** An interpolator fed ticks 0..=n on time, one entity moving +10 x per tick. */
function steady(n) {
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  for (let tick = 0; tick <= n; tick++) {
    interp.push(tick, world([1, avatar({ x: tick * 10, y: 50 })]), tick * INTERVAL);
  }
  return interp;
}

test('draws two snapshot intervals in the past', () => {
  const interp = steady(10);
  assert.equal(interp.delayMs, 2 * INTERVAL);
  // At the arrival of tick 10, the drawn moment is tick 8.
  const e = interp.sample(10 * INTERVAL).get(1);
  assert.ok(Math.abs(e.fields.x - 80) < 1e-9, `x = ${e.fields.x}`);
  assert.equal(e.fields.y, 50);
});

test('positions between two snapshots are linear in time', () => {
  const interp = steady(10);
  // Half-way between ticks 7 and 8 is drawn at local time 9.5 intervals.
  const e = interp.sample(9.5 * INTERVAL).get(1);
  assert.ok(Math.abs(e.fields.x - 75) < 1e-9, `x = ${e.fields.x}`);
});

test('positions across several snapshots follow the path without steps', () => {
  const interp = steady(20);
  let previous = -Infinity;
  for (let f = 0; f <= 60; f++) {
    const now = 10 * INTERVAL + (f * 10 * INTERVAL) / 60; // render ticks 8..18
    const x = interp.sample(now).get(1).fields.x;
    const expected = (now / INTERVAL - 2) * 10;
    assert.ok(Math.abs(x - expected) < 1e-6, `frame ${f}: x = ${x}, expected ${expected}`);
    assert.ok(x >= previous);
    previous = x;
  }
});

test('the tick shown is the drawn moment rounded down, never past the newest snapshot', () => {
  assert.equal(new Interpolator({ tickRate: TICK_RATE }).viewTick(1000), 0, 'nothing shown yet');
  const interp = steady(10);
  // Local time 9.5 intervals draws tick 7.5: it shows tick 7.
  assert.equal(interp.viewTick(9.5 * INTERVAL), 7);
  assert.equal(interp.viewTick(10.2 * INTERVAL), 8);
  // It moves nothing: the drawn moment is the same after asking.
  assert.ok(Math.abs(interp.sample(9.5 * INTERVAL).get(1).fields.x - 75) < 1e-9);
  // A late snapshot is extrapolated on screen, not seen: the newest tick.
  assert.equal(interp.viewTick(15.5 * INTERVAL), 10);
  // Before tick 2 is drawn, the moment is before the match: tick 0.
  assert.equal(steady(1).viewTick(0.5 * INTERVAL), 0);
});

test('carries motion on briefly when a snapshot is late, then holds', () => {
  const interp = steady(5);
  // Render tick 5.5: the next snapshot is late; motion goes on.
  assert.ok(Math.abs(interp.sample(7.5 * INTERVAL).get(1).fields.x - 55) < 1e-9);
  // Far past the newest snapshot: held 1.5 intervals ahead of it, not further.
  assert.ok(Math.abs(interp.sample(20 * INTERVAL).get(1).fields.x - 65) < 1e-9);
});

test('uneven arrival does not make the drawn motion jitter', () => {
  // Snapshots of a steady 300 units/s motion arrive with up to +-20 ms of
  // jitter, and sometimes two at once; frames are drawn at 60 Hz.
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  const arrivals = [];
  for (let tick = 0; tick < 300; tick++) {
    let at = tick * INTERVAL + 50 + (random() - 0.5) * 40;
    if (tick % 17 === 0) at += 25; // a late one, delivered with the next
    arrivals.push({ tick, at });
  }
  arrivals.sort((a, b) => a.at - b.at);
  const frame = 1000 / 60;
  let next = 0;
  const xs = [];
  for (let now = 0; now < 300 * INTERVAL; now += frame) {
    while (next < arrivals.length && arrivals[next].at <= now) {
      const { tick } = arrivals[next++];
      interp.push(tick, world([1, avatar({ x: tick * 10 })]), arrivals[next - 1].at);
    }
    if (now > 2000) xs.push(interp.sample(now).get(1).fields.x);
    else interp.sample(now);
  }
  const perFrame = (10 * frame) / INTERVAL; // 5 units per 60 Hz frame
  for (let i = 1; i < xs.length; i++) {
    const step = xs[i] - xs[i - 1];
    assert.ok(Math.abs(step - perFrame) < 0.1 * perFrame, `frame ${i}: moved ${step}, expected ${perFrame}`);
  }
});

test('the clock ignores jitter but follows a real shift', () => {
  const clock = new SnapshotClock({ intervalMs: INTERVAL });
  clock.observe(0, 100);
  clock.observe(1, 100 + INTERVAL + 15); // 15 ms late
  assert.ok(Math.abs(clock.serverTime(200) - 100) < 1, 'one late snapshot barely moves it');
  assert.equal(clock.observe(100, 100 * INTERVAL + 1000), true, 'a one-second stall resyncs');
  assert.equal(clock.serverTime(100 * INTERVAL + 1000), 100 * INTERVAL);
});

test('the drawn moment never runs backwards', () => {
  const interp = steady(10);
  const a = interp.renderTime(10 * INTERVAL);
  // A burst of early snapshots pulls the clock's estimate back a little.
  interp.push(11, world([1, avatar({ x: 110 })]), 10.2 * INTERVAL);
  const b = interp.renderTime(10 * INTERVAL + 1);
  assert.ok(b >= a);
});

test('headings take the shorter way around the circle', () => {
  const deg = Math.PI / 180;
  assert.ok(Math.abs(angleDelta(350 * deg, 10 * deg) - 20 * deg) < 1e-9);
  assert.ok(Math.abs(lerpAngle(350 * deg, 10 * deg, 0.5)) < 1e-9 || Math.abs(lerpAngle(350 * deg, 10 * deg, 0.5) - 2 * Math.PI) < 1e-9);
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  interp.push(0, world([1, avatar({ heading: 350 * deg })]), 0);
  interp.push(1, world([1, avatar({ heading: 10 * deg })]), INTERVAL);
  interp.push(2, world([1, avatar({ heading: 10 * deg })]), 2 * INTERVAL);
  const h = interp.sample(2.75 * INTERVAL).get(1).fields.heading; // render tick 0.75
  assert.ok(Math.abs(h - 5 * deg) < 1e-9, `heading ${h / deg} deg`);
});

test('integer fields change at their tick, not gradually', () => {
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  interp.push(0, world([1, avatar({ hp: 100 })]), 0);
  interp.push(1, world([1, avatar({ hp: 80 })]), INTERVAL);
  interp.push(2, world([1, avatar({ hp: 80 })]), 2 * INTERVAL);
  assert.equal(interp.sample(2.9 * INTERVAL).get(1).fields.hp, 100);
  assert.equal(interp.sample(3.01 * INTERVAL).get(1).fields.hp, 80);
});

test('a respawn is drawn as a jump, not a slide across the arena', () => {
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  interp.push(0, world([1, avatar({ x: 100 })]), 0);
  interp.push(1, world([1, avatar({ x: 3000 })]), INTERVAL);
  interp.push(2, world([1, avatar({ x: 3000 })]), 2 * INTERVAL);
  assert.equal(interp.sample(2.5 * INTERVAL).get(1).fields.x, 100);
  assert.equal(interp.sample(3.01 * INTERVAL).get(1).fields.x, 3000);
});

test('entities appear at the snapshot that creates them and leave at the one that removes them', () => {
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  interp.push(0, world([1, avatar({})]), 0);
  interp.push(1, world([1, avatar({})], [2, avatar({ x: 5 })]), INTERVAL);
  interp.push(2, world([2, avatar({ x: 5 })]), 2 * INTERVAL);
  interp.push(3, world([2, avatar({ x: 5 })]), 3 * INTERVAL);
  const at = (tick) => [...interp.sample((tick + 2) * INTERVAL).keys()];
  assert.deepEqual(at(0.5), [1]);
  assert.deepEqual(at(1.5), [1, 2]);
  assert.deepEqual(at(2.01), [2]);
});

test('keeps a bounded number of snapshots', () => {
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES, capacity: 8 });
  for (let tick = 0; tick < 100; tick++) interp.push(tick, world(), tick * INTERVAL);
  assert.ok(interp.snapshots.length <= 8);
});

test('snapshots the server skipped leave a longer, still linear, gap', () => {
  // A slow socket skips ticks 3 and 4: tick 5 arrives after tick 2.
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  for (const tick of [0, 1, 2, 5, 6, 7]) interp.push(tick, world([1, avatar({ x: tick * 10 })]), tick * INTERVAL);
  for (const at of [2.5, 3, 4, 4.5]) {
    const x = interp.sample((at + 2) * INTERVAL).get(1).fields.x;
    assert.ok(Math.abs(x - at * 10) < 1e-6, `tick ${at}: x = ${x}`);
  }
});

test('running past the newest snapshot is counted, once a time', () => {
  const interp = steady(5);
  interp.sample(6 * INTERVAL);
  assert.equal(interp.starved, 0, 'tick 4 is drawn: nothing ran out');
  interp.sample(7.5 * INTERVAL);
  interp.sample(8 * INTERVAL);
  assert.equal(interp.starved, 1, 'past tick 5 with nothing newer: one time, however many frames');
  interp.push(6, world([1, avatar({ x: 60 })]), 8.1 * INTERVAL);
  interp.push(7, world([1, avatar({ x: 70 })]), 8.2 * INTERVAL);
  interp.sample(8.3 * INTERVAL);
  interp.sample(12 * INTERVAL);
  assert.equal(interp.starved, 2);
});

/**
 * Snapshots of a steady motion (10 units a tick) through a delay line of
 * the network lab, drawn at 60 Hz for `seconds`: the drawn x per frame, the
 * interpolator, and how many times it ran dry after the first 3 seconds.
 */
async function throughLab(settings, seconds, options = {}) {
  const { DelayLine, labSettings, seededRandom } = await import('../lab.js');
  const line = new DelayLine(labSettings(settings), { random: seededRandom(5) });
  const interp = new Interpolator({ tickRate: TICK_RATE, modes: MODES });
  if (options.fixed) interp.maxDelayMs = interp.baseDelayMs;
  const arrivals = [];
  for (let tick = 0; tick < seconds * TICK_RATE; tick++) arrivals.push({ tick, at: line.deliveryTime(tick * INTERVAL) });
  const frame = 1000 / 60;
  let next = 0;
  let starvedAtThree = null;
  const xs = [];
  for (let now = 0; now < seconds * 1000; now += frame) {
    while (next < arrivals.length && arrivals[next].at <= now) {
      const { tick, at } = arrivals[next++];
      interp.push(tick, world([1, avatar({ x: tick * 10 })]), at);
    }
    if (starvedAtThree === null && now >= 3000) starvedAtThree = interp.starved;
    const e = interp.sample(now).get(1);
    if (now >= 3000) xs.push(e.fields.x);
  }
  return { xs, interp, starved: interp.starved - (starvedAtThree ?? 0) };
}

test('under 150 ms of lag and 40 of jitter the delay grows to fit and the others never run dry', async () => {
  const { xs, interp, starved } = await throughLab({ lagMs: 150, jitterMs: 40 }, 30);
  assert.equal(starved, 0, 'no snapshot was missing when drawn, after the first seconds');
  // A snapshot comes up to 40 ms later than the clock's mean: the delay is
  // one interval plus that (and a margin), more than the two intervals
  // asked for.
  assert.ok(interp.delayMs > 2 * INTERVAL && interp.delayMs < INTERVAL + 40 + 15, `delay ${interp.delayMs} ms`);
  // The motion stays steady: 5 units a 60 Hz frame, give or take the
  // delay's slow moves.
  for (let i = 1; i < xs.length; i++) {
    const step = xs[i] - xs[i - 1];
    assert.ok(Math.abs(step - 5) < 0.5, `frame ${i}: moved ${step}`);
  }
});

test('at a fixed delay of two intervals the same jitter runs dry', async () => {
  const { starved } = await throughLab({ lagMs: 150, jitterMs: 40 }, 30, { fixed: true });
  assert.ok(starved > 10, `ran dry ${starved} times in 27 s`);
});

test('on a steady network the delay stays what was asked for', async () => {
  const { interp, starved } = await throughLab({ lagMs: 150 }, 10);
  assert.equal(starved, 0);
  assert.equal(interp.delayMs, 2 * INTERVAL);
});
