// The network lab: its settings from `connect` and from a page's query,
// each direction's schedule (delays within bounds, order kept, stalls),
// seeded and injectable randomness, a socket behind the lab on a fake
// clock, and a client that shows the lab in its figures.

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';

import { connect } from '../index.js';
import { DEFAULT_STALL_EVERY_MS, DelayLine, Lab, describeLab, labFromQuery, labSettings, seededRandom } from '../lab.js';

import { FakeSocket } from './helpers/fake-socket.js';

const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** Timers on a clock that moves only when the test says. */
class FakeClock {
  constructor() {
    this.t = 0;
    this.timers = [];
    this.next = 1;
  }
  now() {
    return this.t;
  }
  setTimeout(fn, ms) {
    const id = this.next++;
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(id) {
    this.timers = this.timers.filter((t) => t.id !== id);
  }
  /** Moves the clock to `to`, running every timer due on the way, in order. */
  advance(to) {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const due = this.timers[0];
      if (!due || due.at > to) break;
      this.timers.shift();
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = to;
  }
}

/** A WebSocket stand-in that records sends with the time they left. */
class Wire {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.binaryType = 'blob';
    this.sent = [];
    this.closedWith = null;
    Wire.last = this;
  }
  send(data) {
    this.sent.push({ at: Wire.clock.now(), data });
  }
  close(code, reason) {
    this.closedWith = { code, reason, at: Wire.clock.now() };
    this.readyState = 3;
  }
}

test('the settings: figures checked, nothing added is no lab', () => {
  assert.deepStrictEqual(labSettings({ lagMs: 120, jitterMs: 30 }), { lagMs: 120, jitterMs: 30, stallMs: 0, stallEveryMs: DEFAULT_STALL_EVERY_MS });
  assert.equal(labSettings({}), null);
  assert.equal(labSettings({ lagMs: 0 }), null);
  assert.equal(labSettings(null), null);
  assert.equal(labSettings(false), null);
  assert.throws(() => labSettings({ lagMs: -1 }), RangeError);
  assert.throws(() => labSettings({ jitterMs: Number.NaN }), RangeError);
  assert.throws(() => labSettings({ lagMs: '120' }), RangeError);
  assert.throws(() => labSettings({ lagMs: 1e9 }), RangeError);
  assert.throws(() => labSettings({ stallMs: 2000, stallEveryMs: 1000 }), /never ends/);
});

test("a page's query: lag and jitter in ms, stall and its period in seconds", () => {
  assert.deepStrictEqual(labFromQuery('?lag=120&jitter=30&stall=1'), { lagMs: 120, jitterMs: 30, stallMs: 1000 });
  assert.deepStrictEqual(labFromQuery('?room=a&stall=0.5&stallevery=4&labseed=9'), { stallMs: 500, stallEveryMs: 4000, seed: 9 });
  assert.equal(labFromQuery('?room=a&name=b'), null);
  assert.equal(labFromQuery(''), null);
  assert.throws(() => labFromQuery('?lag=slow'), RangeError);
});

test('each message waits lag give or take jitter, never before the one before it', () => {
  const settings = labSettings({ lagMs: 150, jitterMs: 40 });
  const line = new DelayLine(settings, { random: seededRandom(42) });
  let previous = -Infinity;
  let heldBack = 0;
  let spread = [Infinity, -Infinity];
  for (let i = 0; i < 5000; i++) {
    const now = i * (1000 / 30);
    const at = line.deliveryTime(now);
    assert.ok(at >= previous, `message ${i} overtook the one before it`);
    assert.ok(at >= now + 110 - 1e-9, `message ${i} came ${at - now} ms after, under 150 - 40`);
    // Later than lag + jitter only when held behind the one before it.
    if (at > now + 190 + 1e-9) {
      assert.equal(at, previous, `message ${i} waited ${at - now} ms for nothing`);
      heldBack += 1;
    }
    spread = [Math.min(spread[0], at - now), Math.max(spread[1], at - now)];
    previous = at;
  }
  assert.equal(heldBack, 0, 'the one before was within its bound, so waiting for it keeps this one within its own');
  assert.ok(spread[0] < 115 && spread[1] > 185, `the whole spread is used: ${spread}`);
});

test('fast messages bunch behind a late one instead of overtaking it', () => {
  // Every other draw is the largest delay: the message after it is held.
  let n = 0;
  const line = new DelayLine(labSettings({ lagMs: 100, jitterMs: 50 }), { random: () => (n++ % 2 === 0 ? 0.999999 : 0) });
  const times = [0, 1, 2, 3].map((t) => line.deliveryTime(t));
  assert.ok(Math.abs(times[0] - 150) < 1e-3);
  assert.equal(times[1], times[0], 'the second (drawn 50 ms) waits for the first');
  assert.ok(Math.abs(times[2] - 152) < 1e-3);
  assert.equal(times[3], times[2]);
});

test('the same seed draws the same delays, and the randomness can be given', () => {
  const settings = labSettings({ lagMs: 80, jitterMs: 30 });
  const a = new DelayLine(settings, { random: seededRandom(7) });
  const b = new DelayLine(settings, { random: seededRandom(7) });
  const c = new DelayLine(settings, { random: seededRandom(8) });
  const ta = [];
  const tb = [];
  const tc = [];
  for (let i = 0; i < 50; i++) {
    ta.push(a.deliveryTime(i * 100));
    tb.push(b.deliveryTime(i * 100));
    tc.push(c.deliveryTime(i * 100));
  }
  assert.deepStrictEqual(ta, tb);
  assert.notDeepStrictEqual(ta, tc);
  const low = new DelayLine(settings, { random: () => 0 });
  const mid = new DelayLine(settings, { random: () => 0.5 });
  assert.equal(low.deliveryTime(1000), 1050);
  assert.equal(mid.deliveryTime(1000), 1080);
  const none = new DelayLine(labSettings({ jitterMs: 30 }), { random: () => 0 });
  assert.equal(none.deliveryTime(500), 500, 'a delay is never negative');
});

test('a stall freezes the link, then delivers what it held at once, in order', () => {
  const settings = labSettings({ lagMs: 50, stallMs: 1000, stallEveryMs: 4000 });
  const line = new DelayLine(settings, { random: () => 0.5, originMs: 10000 });
  // Stalls: [13000, 14000), [17000, 18000), ...
  assert.equal(line.stalled(12999), false);
  assert.equal(line.stalled(13000), true);
  assert.equal(line.stalled(13999), true);
  assert.equal(line.stalled(14000), false);
  assert.equal(line.stalled(10000), false, 'not at the start');
  const times = [];
  for (let t = 12000; t < 15000; t += 100) times.push([t, line.deliveryTime(t)]);
  for (const [t, at] of times) {
    assert.ok(!line.stalled(at), `delivered during a stall at ${at}`);
    if (t + 50 >= 13000 && t + 50 < 14000) assert.equal(at, 14000, `sent at ${t}: held to the stall's end`);
    else assert.equal(at, t + 50);
  }
  assert.equal(times.filter(([, at]) => at === 14000).length, 10, 'a second of messages at once');
});

test('a socket behind the lab: both directions late, in order, the close after the data', () => {
  const clock = new FakeClock();
  Wire.clock = clock;
  const lab = new Lab(labSettings({ lagMs: 100, jitterMs: 20 }), { random: seededRandom(3), clock });
  const Sock = lab.wrap(/** @type {any} */ (Wire));
  const socket = /** @type {any} */ (new Sock('ws://x/ws'));
  const wire = Wire.last;
  assert.equal(wire.url, 'ws://x/ws');
  socket.binaryType = 'arraybuffer';
  assert.equal(wire.binaryType, 'arraybuffer');
  const seen = [];
  socket.onopen = () => seen.push(['open', clock.now()]);
  socket.onmessage = (e) => seen.push(['message', clock.now(), e.data]);
  socket.onclose = (e) => seen.push(['close', clock.now(), e.code]);
  wire.readyState = 1;
  wire.onopen({});
  assert.equal(socket.readyState, 0, 'open only once the open is delivered');
  clock.advance(79);
  assert.deepStrictEqual(seen, []);
  clock.advance(121);
  assert.equal(seen.length, 1);
  assert.ok(seen[0][1] >= 80 && seen[0][1] <= 120);
  assert.equal(socket.readyState, 1);
  // The server sends 30 messages a second for a second, then closes.
  for (let i = 0; i < 30; i++) {
    clock.advance(200 + i * 33);
    wire.onmessage({ data: i });
  }
  wire.readyState = 3;
  wire.onclose({ code: 1001 });
  // The page sends, reusing its buffer.
  const buffer = new Uint8Array([1, 2, 3]);
  socket.send(buffer);
  buffer[0] = 9;
  clock.advance(5000);
  const messages = seen.filter((s) => s[0] === 'message');
  assert.deepStrictEqual(messages.map((m) => m[2]), [...Array(30).keys()], 'every message, in order');
  for (let i = 0; i < 30; i++) {
    const late = messages[i][1] - (200 + i * 33);
    assert.ok(late >= 80 - 1e-9, `message ${i} after ${late} ms`);
    assert.ok(late <= 120 + 33, `message ${i} after ${late} ms`);
  }
  const close = seen.at(-1);
  assert.equal(close[0], 'close');
  assert.ok(close[1] >= messages.at(-1)[1], 'the close comes after the data');
  assert.equal(socket.readyState, 3);
  assert.deepStrictEqual(wire.sent, [], 'what the page sent behind the close is lost, as on a real link');
});

test("the page's sends leave late, in order, and a close leaves behind them", () => {
  const clock = new FakeClock();
  Wire.clock = clock;
  const lab = new Lab(labSettings({ lagMs: 60, jitterMs: 50 }), { random: seededRandom(11), clock });
  const socket = /** @type {any} */ (new (lab.wrap(/** @type {any} */ (Wire)))('ws://x/ws'));
  const wire = Wire.last;
  wire.readyState = 1;
  wire.onopen({});
  clock.advance(200);
  const bytes = new Uint8Array(1);
  for (let i = 0; i < 20; i++) {
    clock.advance(200 + i * 10);
    bytes[0] = i;
    socket.send(bytes);
  }
  socket.close(1000, 'leaving');
  assert.equal(socket.readyState, 2);
  clock.advance(2000);
  assert.deepStrictEqual(wire.sent.map((s) => s.data[0]), [...Array(20).keys()], 'each as it was when sent, in order');
  for (let i = 0; i < 20; i++) {
    const late = wire.sent[i].at - (200 + i * 10);
    assert.ok(late >= 10 - 1e-9, `send ${i} left after ${late} ms`);
  }
  assert.deepStrictEqual([wire.closedWith.code, wire.closedWith.reason], [1000, 'leaving']);
  assert.ok(wire.closedWith.at >= wire.sent.at(-1).at);
});

test("the client loads the lab only when asked for, shows it in its figures, and plays without it when it is bad", async () => {
  FakeSocket.all = [];
  const plain = connect({ url: 'ws://example.test/ws', WebSocketImpl: FakeSocket });
  clients.push(plain);
  assert.equal(plain.stats.lab, null);
  assert.equal(plain.stats.interpolationStarved, 0);
  const client = connect({ url: 'ws://example.test/ws', WebSocketImpl: FakeSocket, lab: { lagMs: 30, jitterMs: 10, seed: 1 } });
  clients.push(client);
  const warnings = [];
  const warn = console.warn;
  console.warn = (m) => warnings.push(m);
  let bad;
  try {
    bad = connect({ url: 'ws://example.test/ws', WebSocketImpl: FakeSocket, lab: { lagMs: -5 } });
    clients.push(bad);
    // The lab's module loads, then the sockets open.
    const deadline = Date.now() + 2000;
    while (FakeSocket.all.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  } finally {
    console.warn = warn;
  }
  assert.equal(FakeSocket.all.length, 3, 'every client opened its socket');
  assert.deepStrictEqual(client.stats.lab, {
    lagMs: 30,
    jitterMs: 10,
    stallMs: 0,
    stallEveryMs: DEFAULT_STALL_EVERY_MS,
    stalled: false,
    text: '+30±10 ms each way',
  });
  assert.equal(bad.stats.lab, null, 'a bad lab is no lab');
  assert.match(warnings.join('\n'), /no network lab: lab: lagMs must be a number/);
  // The join leaves only after the open has come through the lab, and the
  // lab's own delay on the way up.
  const socket = FakeSocket.all.find((s) => s.onopen && client.connection.socket?.socket === s);
  assert.ok(socket, "the lab wraps the client's socket");
  const opened = performance.now();
  socket.open();
  assert.equal(socket.sent.length, 0, 'nothing leaves at once');
  const deadline = Date.now() + 2000;
  while (socket.sent.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(socket.sent[0]?.type, 'join');
  assert.ok(performance.now() - opened >= 2 * (30 - 10) - 2, 'the open came down late and the join went up late');
});

test('a HUD describes the lab in a few words', () => {
  assert.equal(describeLab(null), '');
  assert.equal(describeLab(labSettings({ lagMs: 150, jitterMs: 40 })), '+150±40 ms each way');
  assert.equal(describeLab(labSettings({ lagMs: 120 })), '+120 ms each way');
  assert.equal(describeLab({ ...labSettings({ lagMs: 120, jitterMs: 30, stallMs: 1000 }), stalled: true }), '+120±30 ms each way, stall 1 s/10 s (stalled)');
  assert.equal(describeLab(labSettings({ stallMs: 500, stallEveryMs: 4000 })), 'stall 0.5 s/4 s');
});

test('no module a page loads without a lab imports the lab statically', async () => {
  const { readFileSync } = await import('node:fs');
  const seen = new Set();
  const walk = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const text = readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'\.\/([\w.]+)'/gm)) walk(m[1]);
  };
  walk('index.js');
  assert.ok(seen.has('client.js') && seen.has('interpolation.js'), [...seen].join(', '));
  assert.ok(!seen.has('lab.js'), `lab.js is loaded statically by: ${[...seen].join(', ')}`);
});
