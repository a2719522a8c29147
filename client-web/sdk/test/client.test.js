// The client as a page uses it, against a fake WebSocket playing the
// server with the golden messages: it joins, keeps the store and calls
// back, sends one input per tick with sequence numbers (a bounded catch-up
// after a stall), predicts through the game's step, names players, and,
// when the connection drops, reconnects with backoff, resumes from the
// newest tick it holds, and its entity store carries on.

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';

import { connect } from '../index.js';

import { FakeSocket } from './helpers/fake-socket.js';

/** Every client a test started: closed after it, passed or failed, so no timer outlives it. */
const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** A client on a fake socket and a fake clock, logging what it calls back. */
async function started(options = {}) {
  FakeSocket.all = [];
  const clock = { now: 1000 };
  const client = connect({ url: 'ws://example.test/ws?name=bob', WebSocketImpl: FakeSocket, now: () => clock.now, ...options });
  clients.push(client);
  const log = [];
  const statuses = [];
  client.on('added', (e) => log.push(`added ${e.id}`));
  client.on('changed', (e, names) => log.push(`changed ${e.id} ${names}`));
  client.on('removed', (e) => log.push(`removed ${e.id}`));
  client.on('status', (s) => statuses.push(s));
  await Promise.resolve();
  return { client, clock, log, statuses, socket: () => FakeSocket.all[FakeSocket.all.length - 1] };
}

test('it joins, is welcomed, and keeps the entities the snapshots bring', async () => {
  const { client, log, statuses, socket } = await started();
  assert.deepStrictEqual(statuses.map((s) => s.state), ['connecting'], 'the first status reaches a listener added after connect');
  assert.equal(socket().url, 'ws://example.test/ws?name=bob');
  socket().open();
  assert.equal(socket().sent[0].type, 'join');
  let welcome;
  client.on('welcome', (w) => (welcome = w));
  socket().receive('server_welcome');
  assert.equal(statuses.at(-1).state, 'connected');
  assert.deepStrictEqual([welcome.player, welcome.entity, welcome.room, welcome.tickRate], [2, 2, 'lobby', 30]);
  assert.deepStrictEqual(welcome.constants, { arena_size: 4000, player_speed: 200 });
  assert.equal(client.playerName(1), 'ann');
  assert.equal(client.playerName(-1), null);
  socket().receive('server_snapshot_full');
  assert.equal(client.entities.size, 11);
  assert.equal(log.length, 11);
  assert.deepStrictEqual(client.own, client.entities.get(2));
  assert.deepStrictEqual(client.own.fields, { x: 200, y: 50, heading: 0, hp: 100 });
  assert.equal(client.stats.tick, 100);
  client.close();
  assert.equal(statuses.at(-1).state, 'closed');
});

test('events come by name, players by name, chat goes out', async () => {
  const { client, socket } = await started();
  socket().open();
  socket().receive('server_welcome');
  const seen = [];
  client.on('event', (e) => seen.push(['event', e]));
  client.on('joined', (p) => seen.push(['joined', p]));
  client.on('left', (p) => seen.push(['left', p]));
  socket().receive('server_event_kill');
  socket().receive('server_event_joined');
  assert.deepStrictEqual(seen, [
    ['event', { name: 'kill', fields: { killer: 1, victim: 2 } }],
    ['joined', { player: 3, name: 'cy' }],
  ]);
  assert.equal(client.playerName(3), 'cy');
  assert.equal(client.sendChat('hi'), true);
  assert.deepStrictEqual(socket().sent.at(-1), { type: 'chat', text: 'hi' });
  client.close();
});

test('the held input goes out once per tick, numbered, with a bounded catch-up', async () => {
  const { client, clock, socket } = await started();
  socket().open();
  socket().receive('server_welcome');
  // move: axis 127, aim: angle 65536, buttons [fire, jump, use], slot: -2..9.
  client.setInput({ move: -1, use: true, slot: 3 });
  assert.throws(() => client.setInput({ crouch: true }), RangeError);
  const inputs = () => socket().sent.filter((m) => m.type === 'input');
  client.frame(clock.now);
  assert.deepStrictEqual(inputs(), [{ type: 'input', seq: 1, values: [-127, 0, 4, 3] }]);
  clock.now += 100; // three ticks at 30 Hz
  client.frame(clock.now);
  assert.deepStrictEqual(inputs().map((m) => m.seq), [1, 2, 3, 4]);
  clock.now += 10_000; // a stalled page does not flood the server
  client.frame(clock.now);
  assert.ok(inputs().length <= 4 + 4, `${inputs().length} inputs`);
  assert.deepStrictEqual(inputs().map((m) => m.seq), inputs().map((_, i) => i + 1), 'one more each');
  client.close();
});

test('the own entity is predicted by the game\'s step; without one, drawn as the server sent it', async () => {
  const step = (fields, input, dt) => ({ x: fields.x + input.move * 300 * dt });
  const { client, clock, socket } = await started({ predict: step });
  socket().open();
  socket().receive('server_welcome');
  socket().receive('server_snapshot_full');
  client.setInput({ move: 1 });
  const own = () => client.frame(clock.now).find((e) => e.id === 2);
  // The input goes out and is predicted at once; the drawn entity glides
  // there over the tick.
  const step1 = 200 + 300 * Math.fround(1 / 30);
  assert.equal(own().fields.x, 200);
  assert.equal(client.predicted?.x, step1, 'one input sent, and predicted');
  clock.now += 20;
  assert.ok(Math.abs(own().fields.x - (200 + (step1 - 200) * 0.6)) < 1e-9, `drawn at ${own().fields.x}`);
  assert.equal(own().fields.hp, 100, 'fields the step does not return are the server\'s');
  assert.equal(typeof client.stats.predictionErrorUnits, 'number');
  client.close();

  const plain = await started();
  plain.socket().open();
  plain.socket().receive('server_welcome');
  plain.socket().receive('server_snapshot_full');
  plain.client.setInput({ move: 1 });
  const drawn = plain.client.frame(plain.clock.now);
  assert.equal(drawn.find((e) => e.id === 2).fields.x, 200);
  assert.equal(plain.client.stats.predictionErrorUnits, undefined);
  assert.equal(plain.client.predicted, null, 'nothing predicted without a step');
  plain.client.close();
});

test('a dropped connection reconnects with backoff, resumes, and the store carries on', async () => {
  const { client, clock, log, statuses, socket } = await started();
  socket().open();
  socket().receive('server_welcome');
  socket().receive('server_snapshot_full');
  const kept = client.entities.get(1);
  log.length = 0;
  socket().drop(1006);
  const waiting = statuses.at(-1);
  assert.equal(waiting.state, 'reconnecting');
  assert.ok(waiting.retryInMs > 0 && waiting.retryInMs <= 600, `retry in ${waiting.retryInMs} ms`);
  assert.equal(FakeSocket.all.length, 1, 'not at once');
  // The retry waits on the client's clock: move it past the backoff. The
  // retry timer looks every 250 ms of real time: wait for the second socket
  // itself, within a bound that only ends a test where it never comes.
  clock.now += 10_000;
  for (let waited = 0; FakeSocket.all.length < 2 && waited < 10_000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(FakeSocket.all.length, 2, 'a second socket was opened');
  socket().open();
  assert.equal(new URL(socket().url).searchParams.get('since'), '100', 'resumes from the newest tick held');
  socket().receive('server_welcome');
  assert.equal(statuses.at(-1).state, 'connected');
  assert.deepStrictEqual(log, [], 'a welcome of the same game keeps the store');
  socket().receive('server_snapshot_delta'); // a delta on tick 100, held across the drop
  assert.strictEqual(client.entities.get(1), kept, 'the same entity carries on');
  assert.deepStrictEqual(log.slice(0, 2), ['removed 3', 'added 20']);
  assert.ok(log.slice(2).every((line) => line.startsWith('changed')), log.join('; '));
  client.close();
});

test('without reconnect, a drop is final', async () => {
  const { client, statuses, socket } = await started({ reconnect: false });
  socket().open();
  socket().receive('server_welcome');
  socket().drop(1006);
  assert.deepStrictEqual(statuses.at(-1), { state: 'closed', reason: 'connection lost', code: 1006 });
  client.close();
});

test('without a url and outside a page, connect says what it needs', () => {
  assert.throws(() => connect({ WebSocketImpl: FakeSocket }), /give a url/);
});

test('a spectator sends no input, follows a player whose entity is its own, and switches', async () => {
  const { client, clock, socket } = await started({ url: 'ws://example.test/ws?room=lobby', spectate: true, follow: 2 });
  assert.equal(socket().url, 'ws://example.test/ws?room=lobby&spectate=1&follow=2');
  socket().open();
  let welcome;
  client.on('welcome', (w) => (welcome = w));
  const watching = [];
  client.on('watching', (w) => watching.push(w));
  socket().receive('server_welcome_spectator');
  assert.equal(welcome.spectator, true);
  assert.equal(welcome.following, 2);
  assert.equal(client.following, 2);
  socket().receive('server_snapshot_full');
  assert.deepStrictEqual(client.own, client.entities.get(2), 'own: the entity the followed player controls');
  // It holds an input if asked, but never sends one.
  client.setInput({ move: 1 });
  for (let i = 0; i < 10; i++) {
    clock.now += 50;
    client.frame(clock.now);
  }
  assert.deepStrictEqual(socket().sent.filter((m) => m.type === 'input'), []);
  assert.ok(client.frame(clock.now).some((e) => e.id === 2), 'the followed entity is drawn');

  assert.equal(client.follow(1), true);
  assert.deepStrictEqual(socket().sent.at(-1), { type: 'watch', target: { type: 'player', player: 1 } });
  socket().receive('server_event_watching');
  assert.deepStrictEqual(watching, [{ player: 1, entity: 7 }]);
  assert.equal(client.following, 1);
  assert.equal(client.welcome.entity, 7);

  assert.equal(client.watchRect({ x: -250, y: 1000.5, width: 1600, height: 900 }), true);
  assert.deepStrictEqual(socket().sent.at(-1), { type: 'watch', target: { type: 'rect', x: -250, y: 1000.5, width: 1600, height: 900 } });
  assert.throws(() => client.watchRect({ x: 0, y: 0, width: 0, height: 10 }), RangeError);
  assert.throws(() => client.watchRect({ x: NaN, y: 0, width: 10, height: 10 }), RangeError);
  assert.throws(() => client.follow(-1), RangeError);
  socket().receive('server_event_watching_none');
  assert.deepStrictEqual(watching.at(-1), { player: null, entity: 0 });
  assert.equal(client.own, null);

  // After a reconnect it watches what it chose last.
  socket().drop(1006);
  clock.now += 10_000;
  await new Promise((r) => setTimeout(r, 300));
  socket().open();
  socket().receive('server_welcome_spectator');
  assert.deepStrictEqual(socket().sent.filter((m) => m.type === 'watch').at(-1).target.type, 'rect');
  client.close();
});

test('a player does not choose what it watches', async () => {
  const { client, socket } = await started();
  socket().open();
  socket().receive('server_welcome');
  assert.equal(client.spectating, false);
  assert.equal(client.following, null);
  assert.throws(() => client.follow(1), /spectate/);
  client.close();
});
