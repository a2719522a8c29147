// Cluster failover: a reconnect that cannot reach the node the client was
// on (the socket closes before it opened: the node died; or the cluster
// answers 1013 while the dead node's lease runs out) goes back to the
// entry with the room and the resume, keeps trying there with the
// backoff, and follows the entry's redirect with its resume. Driven with
// a fake WebSocket: no network.

import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';

import { Connection } from '../net.js';
import { connect } from '../index.js';
import { FakeSocket, encodeRedirect, encodeServerError, golden } from './helpers/fake-socket.js';

/** The golden welcome's resume token, and its room. */
const TOKEN = 'eyJyb29tIjoibG9iYnkifQ.c2lnbmF0dXJl';

const stops = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** A connection on a fake socket, whose clock moves a second at every look: every retry is due at once. */
function connection(options) {
  FakeSocket.all = [];
  const statuses = [];
  let t = 1e9;
  const conn = new Connection({
    onWelcome: () => {},
    onSnapshot: () => {},
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: FakeSocket,
    now: () => (t += 1000),
    ...options,
  });
  stops.push(() => conn.stop());
  conn.start();
  return { conn, statuses };
}

/** Waits (on real time, bounded) until `n` sockets were opened; the newest. */
async function sockets(n) {
  for (let waited = 0; FakeSocket.all.length < n && waited < 10000; waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(FakeSocket.all.length, n, `socket ${n} was opened`);
  return FakeSocket.all[n - 1];
}

/** A socket's URL: host and the query as an object. */
function where(socket) {
  const url = new URL(socket.url);
  return { host: url.host, path: url.pathname, ...Object.fromEntries(url.searchParams) };
}

/** Plays a room's node: opens `socket`, welcomes (room `lobby`), one full snapshot. */
function welcome(socket) {
  socket.open();
  socket.receive(golden('server_welcome'));
  socket.receive(golden('server_snapshot_full'));
}

test('a resume that cannot reach its node goes to the entry with the room, waits out a 1013, and follows the redirect with its resume', async () => {
  const { conn, statuses } = connection({ url: 'ws://lb.example/ws?room=lobby&name=ann' });
  // The entry sends the client to the room's node.
  let socket = await sockets(1);
  socket.open();
  socket.receive(encodeRedirect('http://a.example:8080', 'lobby', 'seat.a'));
  socket.drop(4010, 'room lobby is on another node');
  socket = await sockets(2);
  assert.deepStrictEqual(where(socket), { host: 'a.example:8080', path: '/ws', room: 'lobby', name: 'ann', seat: 'seat.a' });
  welcome(socket);
  const held = String(conn.keeper.latestTick());

  // Node a dies: the drop is resumed there first, and that socket never opens.
  socket.drop(1006);
  socket = await sockets(3);
  assert.deepStrictEqual(where(socket), { host: 'a.example:8080', path: '/ws', room: 'lobby', name: 'ann', resume: TOKEN, since: held });
  socket.drop(1006);
  assert.match(statuses.at(-1).reason, /resuming through lb\.example$/);
  assert.equal(statuses.at(-1).state, 'reconnecting');

  // The entry, with the room named: a's lease has not run out yet.
  socket = await sockets(4);
  assert.deepStrictEqual(where(socket), { host: 'lb.example', path: '/ws', room: 'lobby', name: 'ann', resume: TOKEN, since: held });
  socket.open();
  const notAnswering = "room `lobby`'s node is not answering; try again in a few seconds";
  socket.receive(encodeServerError(4004, notAnswering));
  socket.drop(1013, notAnswering);
  assert.equal(statuses.at(-1).reason, notAnswering, 'at the entry already: tried there again');
  assert.equal(statuses.at(-1).code, 1013);

  // Then the room is b's: the entry redirects, and the resume goes along.
  socket = await sockets(5);
  assert.equal(where(socket).host, 'lb.example');
  socket.open();
  socket.receive(encodeRedirect('http://b.example:8081', 'lobby', 'seat.b'));
  socket.drop(4010, 'room lobby is on another node');
  socket = await sockets(6);
  assert.deepStrictEqual(where(socket), { host: 'b.example:8081', path: '/ws', room: 'lobby', name: 'ann', seat: 'seat.b', resume: TOKEN, since: held });
  socket.open();
  socket.receive(golden('server_welcome'));
  assert.deepStrictEqual(statuses.at(-1), { state: 'connected', resumed: true });

  // A later drop resumes on b, where the client is now.
  socket.drop(1006);
  socket = await sockets(7);
  assert.equal(where(socket).host, 'b.example:8081');
  assert.equal(where(socket).seat, undefined, 'a seat ticket is good for one connection');
});

test('a resume its node refuses with 1013 goes to the entry', async () => {
  const { statuses } = connection({ url: 'ws://a.example/ws?room=lobby&name=ann', entry: 'wss://lb.example/play/ws' });
  let socket = await sockets(1);
  welcome(socket);
  socket.drop(1006);
  socket = await sockets(2);
  assert.equal(where(socket).host, 'a.example');
  socket.open();
  socket.drop(1013, 'try again later');
  assert.match(statuses.at(-1).reason, /^try again later; resuming through lb\.example$/);
  socket = await sockets(3);
  assert.deepStrictEqual(where(socket), { host: 'lb.example', path: '/play/ws', room: 'lobby', name: 'ann', resume: TOKEN, since: '100' });
});

test('a client at its entry already reconnects there', async () => {
  const { statuses } = connection({ url: 'ws://lb.example/ws?name=ann' });
  let socket = await sockets(1);
  welcome(socket);
  socket.drop(1006);
  socket = await sockets(2);
  assert.equal(where(socket).host, 'lb.example');
  socket.drop(1006);
  assert.doesNotMatch(statuses.at(-1).reason, /through/);
  socket = await sockets(3);
  assert.deepStrictEqual(where(socket), { host: 'lb.example', path: '/ws', name: 'ann', resume: TOKEN, since: '100' });
});

test('a seat\'s URL takes the page\'s own /ws as its entry; a given entry wins', () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'location');
  Object.defineProperty(globalThis, 'location', { value: { protocol: 'https:', host: 'game.example', search: '' }, configurable: true });
  try {
    const seated = connect({ url: 'wss://node-2.game.example/ws?room=r&name=ann&seat=t.t', WebSocketImpl: FakeSocket, reconnect: false });
    stops.push(() => seated.close());
    assert.equal(seated.connection.entry, 'wss://game.example/ws');
    const plain = connect({ url: 'wss://node-2.game.example/ws?room=r&name=ann', WebSocketImpl: FakeSocket });
    stops.push(() => plain.close());
    assert.equal(plain.connection.entry, 'wss://node-2.game.example/ws?room=r&name=ann');
    const given = connect({ url: 'wss://node-2.game.example/ws?seat=t.t', entry: 'wss://lb.example/ws', WebSocketImpl: FakeSocket });
    stops.push(() => given.close());
    assert.equal(given.connection.entry, 'wss://lb.example/ws');
  } finally {
    if (saved) Object.defineProperty(globalThis, 'location', saved);
    else delete globalThis.location;
  }
});
