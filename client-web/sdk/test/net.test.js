// The connection: join first, acknowledge every snapshot, measure rates,
// reconnect with backoff, and give up only when reconnecting cannot help.
// Driven with a fake WebSocket and a fake clock: no network.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, RateMeter, backoffDelay, gameUrl, BACKOFF_MAX_MS, MAX_IN_USE_RETRIES } from '../net.js';
import { encodeServerError } from './helpers/fake-socket.js';

import { FakeSocket, golden } from './helpers/fake-socket.js';

function connection(overrides = {}) {
  FakeSocket.all = [];
  const seen = { welcomes: [], snapshots: [], statuses: [] };
  let clock = 1000;
  const conn = new Connection({
    url: 'ws://example.test/ws?name=ann',
    onWelcome: (w) => seen.welcomes.push(w),
    onSnapshot: (s) => seen.snapshots.push(s),
    onStatus: (s) => seen.statuses.push(s),
    WebSocketImpl: FakeSocket,
    now: () => clock,
    ...overrides,
  });
  return { conn, seen, advance: (ms) => (clock += ms) };
}

test('the first message is a join with the protocol version', () => {
  const { conn } = connection();
  conn.start();
  const socket = FakeSocket.all[0];
  socket.open();
  assert.equal(socket.sent[0].type, 'join');
  assert.equal(socket.sent[0].protocolVersion, 3);
  conn.stop();
});

test('a welcome connects, and every snapshot is applied and acknowledged', () => {
  const { conn, seen } = connection();
  conn.start();
  const socket = FakeSocket.all[0];
  socket.open();
  socket.receive(golden('server_welcome'));
  assert.equal(conn.connected, true);
  assert.equal(seen.welcomes.length, 1);
  socket.receive(golden('server_snapshot_full'));
  assert.equal(seen.snapshots.length, 1);
  const { tick, entities } = seen.snapshots[0];
  assert.ok(entities.length > 0);
  assert.ok(socket.sent.some((m) => m.type === 'ack' && m.tick === tick));
  assert.ok(socket.sent.some((m) => m.type === 'ping'), 'pings once welcomed');
  conn.stop();
});

test('inputs go out as the declared values once welcomed, and game events come up named', () => {
  const events = [];
  const { conn } = connection({ onEvent: (e) => events.push(e) });
  conn.start();
  const socket = FakeSocket.all[0];
  socket.open();
  assert.equal(conn.sendInput(1, [5]), false, 'no input before the welcome');
  socket.receive(golden('server_welcome'));
  assert.equal(conn.sendInput(2, [-127, 49152, 5, 0], 98), true);
  assert.equal(conn.sendInput(3, [0]), true);
  assert.deepStrictEqual(socket.sent.filter((m) => m.type === 'input'), [
    { type: 'input', seq: 2, values: [-127, 49152, 5], view: 98 },
    { type: 'input', seq: 3, values: [], view: 0 },
  ]);
  socket.receive(golden('server_event_kill'));
  socket.receive(golden('server_event_joined'));
  assert.deepStrictEqual(events, [
    { type: 'game', kind: 0, name: 'kill', fields: { killer: 1, victim: 2 } },
    { type: 'playerJoined', player: 3, name: 'cy' },
  ]);
  conn.stop();
});

test('a dropped socket reconnects with backoff and resumes from the newest tick', async () => {
  const { conn, seen } = connection();
  conn.start();
  let socket = FakeSocket.all[0];
  socket.open();
  socket.receive(golden('server_welcome'));
  socket.receive(golden('server_snapshot_full'));
  const held = conn.keeper.latestTick();
  socket.drop(1006);
  const status = seen.statuses[seen.statuses.length - 1];
  assert.equal(status.state, 'reconnecting');
  assert.equal(status.attempt, 1);
  assert.ok(status.retryInMs > 0 && status.retryInMs <= 600);
  // Let the retry timer fire (the fake clock is moved past the delay).
  // The timer looks at the clock every 250 ms of real time: wait for the
  // second socket itself (a busy machine runs timers late), within a bound
  // that only ends a test where it never comes.
  conn.now = () => 1e9;
  for (let waited = 0; FakeSocket.all.length < 2 && waited < 10000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(FakeSocket.all.length, 2, 'a second socket was opened');
  socket = FakeSocket.all[1];
  socket.open();
  assert.equal(socket.sent[0].type, 'join');
  assert.equal(new URL(socket.url).searchParams.get('since'), String(held));
  conn.stop();
});

test('a welcome from a room that started over forgets the old match\'s states', async () => {
  const { conn, seen } = connection();
  conn.start();
  let socket = FakeSocket.all[0];
  socket.open();
  socket.receive(golden('server_welcome'));
  socket.receive(golden('server_snapshot_full'));
  socket.receive(golden('server_snapshot_delta'));
  assert.equal(conn.keeper.latestTick(), 101);
  socket.drop(1006);
  runClock(conn);
  socket = await sockets(2);
  socket.open();
  // The golden welcome says tick 100: behind the 101 held, a new match.
  socket.receive(golden('server_welcome'));
  socket.receive(golden('server_snapshot_full'));
  assert.equal(conn.keeper.latestTick(), 100);
  assert.equal(seen.statuses.at(-1).state, 'connected', 'the full snapshot applied');
  assert.equal(seen.snapshots.length, 3);
  conn.stop();
});

/** The golden welcome's resume token. */
const TOKEN = 'eyJyb29tIjoibG9iYnkifQ.c2lnbmF0dXJl';

/** A clock that moves a second at every look: every retry is due at once. */
function runClock(conn) {
  let t = 1e9;
  conn.now = () => (t += 1000);
}

/** Waits (on real time, bounded) until `n` sockets were opened. */
async function sockets(n) {
  for (let waited = 0; FakeSocket.all.length < n && waited < 10000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(FakeSocket.all.length, n, `socket ${n} was opened`);
  return FakeSocket.all[n - 1];
}

/** Refuses a resume on `socket` as the server does: error 4008, then close 4008. */
function refuse(socket, reason) {
  socket.receive(encodeServerError(4008, reason));
  socket.drop(4008, reason.slice(0, 123));
}

test('a dropped socket resumes with the token of its welcome and says so once welcomed again', async () => {
  const { conn, seen } = connection();
  conn.start();
  let socket = FakeSocket.all[0];
  assert.equal(new URL(socket.url).searchParams.get('resume'), null, 'a first join has no token');
  socket.open();
  socket.receive(golden('server_welcome'));
  assert.equal(seen.statuses.at(-1).resumed, false);
  socket.receive(golden('server_snapshot_full'));
  const held = conn.keeper.latestTick();
  socket.drop(1006);
  runClock(conn);
  socket = await sockets(2);
  const url = new URL(socket.url);
  assert.equal(url.searchParams.get('resume'), TOKEN);
  assert.equal(url.searchParams.get('since'), String(held));
  assert.equal(url.searchParams.get('name'), 'ann', 'the game URL is kept');
  socket.open();
  socket.receive(golden('server_welcome'));
  assert.deepStrictEqual(seen.statuses.at(-1), { state: 'connected', resumed: true });
  conn.stop();
});

test('a refused resume falls back to a fresh join and says so', async () => {
  const warnings = [];
  const { conn, seen } = connection({ onWarning: (m) => warnings.push(m) });
  conn.start();
  let socket = FakeSocket.all[0];
  socket.open();
  socket.receive(golden('server_welcome'));
  socket.drop(1006);
  runClock(conn);
  socket = await sockets(2);
  socket.open();
  refuse(socket, 'resume refused: seat released (the reconnect grace ran out, or the match is over)');
  const status = seen.statuses.at(-1);
  assert.equal(status.state, 'reconnecting');
  assert.equal(status.code, 4008);
  assert.match(status.reason, /seat released.*joining as a new player/);
  assert.ok(warnings.some((w) => /joining as a new player/.test(w)));
  socket = await sockets(3);
  assert.equal(new URL(socket.url).searchParams.get('resume'), null, 'a fresh join');
  socket.open();
  assert.equal(socket.sent[0].type, 'join');
  socket.receive(golden('server_welcome'));
  assert.equal(seen.statuses.at(-1).resumed, false);
  conn.stop();
});

test('a resume refused as in use is tried again a few times, then joins afresh', async () => {
  const { conn } = connection();
  conn.start();
  FakeSocket.all[0].open();
  FakeSocket.all[0].receive(golden('server_welcome'));
  FakeSocket.all[0].drop(1006);
  runClock(conn);
  for (let n = 2; n <= MAX_IN_USE_RETRIES + 2; n++) {
    const socket = await sockets(n);
    assert.equal(new URL(socket.url).searchParams.get('resume'), TOKEN, `attempt ${n} resumes`);
    socket.open();
    refuse(socket, 'resume refused: token in use (its seat\'s connection is still attached)');
  }
  const socket = await sockets(MAX_IN_USE_RETRIES + 3);
  assert.equal(new URL(socket.url).searchParams.get('resume'), null, 'then a fresh join');
  conn.stop();
});

test('a refused protocol version is final and says why', () => {
  const { conn, seen } = connection();
  conn.start();
  FakeSocket.all[0].open();
  FakeSocket.all[0].drop(4000, 'protocol version 1 is not supported');
  const status = seen.statuses[seen.statuses.length - 1];
  assert.equal(status.state, 'failed');
  assert.match(status.reason, /protocol version/);
  assert.equal(FakeSocket.all.length, 1);
});

test('a kick or a room closed by the operator is final and says why', async () => {
  for (const [code, reason] of [
    [4014, 'kicked by operator: spamming'],
    [4015, 'room closed by operator: match abandoned'],
  ]) {
    const { conn, seen } = connection();
    conn.start();
    FakeSocket.all[0].open();
    FakeSocket.all[0].receive(golden('server_welcome'));
    FakeSocket.all[0].drop(code, reason);
    runClock(conn);
    await new Promise((r) => setTimeout(r, 20));
    const status = seen.statuses.at(-1);
    assert.equal(status.state, 'failed', `${code}`);
    assert.equal(status.reason, reason);
    assert.equal(status.code, code);
    assert.equal(FakeSocket.all.length, 1, `no reconnect after ${code}`);
    conn.stop();
  }
});

test('an undecodable message closes the socket instead of throwing', () => {
  const warnings = [];
  const { conn, seen } = connection({ onWarning: (m) => warnings.push(m) });
  conn.start();
  FakeSocket.all[0].open();
  FakeSocket.all[0].receive(new Uint8Array([1, 0, 0]));
  assert.equal(seen.statuses[seen.statuses.length - 1].state, 'reconnecting');
  assert.equal(warnings.length, 1);
  conn.stop();
});

test('the backoff doubles up to a ceiling, with jitter', () => {
  const mid = () => 0.5;
  assert.equal(backoffDelay(1, mid), 500);
  assert.equal(backoffDelay(2, mid), 1000);
  assert.equal(backoffDelay(3, mid), 2000);
  assert.equal(backoffDelay(30, mid), BACKOFF_MAX_MS);
  assert.ok(backoffDelay(1, () => 0) >= 400 && backoffDelay(1, () => 0.999) <= 600);
});

test('the rate meter counts the last second only', () => {
  const m = new RateMeter();
  for (let t = 0; t < 2000; t += 33) m.add(100, t);
  assert.ok(Math.abs(m.rate(2000) - 3000) < 400, `rate ${m.rate(2000)}`);
  assert.equal(m.rate(5000), 0);
});

test('the game URL follows the page scheme and carries room and name', () => {
  assert.equal(gameUrl({ protocol: 'http:', host: 'h:8080' }, { room: 'r 1', name: 'ann' }), 'ws://h:8080/ws?room=r+1&name=ann');
  assert.equal(gameUrl({ protocol: 'https:', host: 'h' }, { name: 'ann' }), 'wss://h/ws?name=ann');
  assert.equal(gameUrl({ protocol: 'http:', host: 'h' }, { name: 'ann', ticket: 'a.b' }), 'ws://h/ws?name=ann&ticket=a.b');
  assert.equal(gameUrl({ protocol: 'http:', host: 'h' }, { room: 'r', spectate: true }), 'ws://h/ws?room=r&spectate=1');
  assert.equal(gameUrl({ protocol: 'http:', host: 'h' }, { spectate: true, follow: 0 }), 'ws://h/ws?spectate=1&follow=0');
  assert.equal(gameUrl({ protocol: 'http:', host: 'h' }, { follow: 3 }), 'ws://h/ws', 'follow is for spectators');
});
