// Cluster mode: matchmaking over a fake fetch, the node URLs it makes, and
// the connection following a redirect once (with a fake WebSocket).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MatchmakeError, matchmake, nodeUrl, redirectUrl, seatUrl, withoutSeat } from '../matchmake.js';
import { Connection } from '../net.js';

import { FakeSocket } from './helpers/fake-socket.js';

/** A fetch that answers `status` with `body` (JSON), and records the request. */
function fakeFetch(status, body) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  return { fetchImpl, calls };
}

test('matchmaking posts the room and name to /api/matchmake and returns the seat', async () => {
  const seat = { url: 'http://10.0.0.2:8080', room: 'lobby-1', node: 'node-2', ticket: 'p.s' };
  const { fetchImpl, calls } = fakeFetch(200, seat);
  const got = await matchmake({ base: 'https://game.example/', room: 'lobby-1', name: 'ann', fetchImpl });
  assert.deepEqual(got, seat);
  assert.equal(calls[0].url, 'https://game.example/api/matchmake');
  assert.equal(calls[0].init.method, 'POST');
  assert.deepEqual(JSON.parse(calls[0].init.body), { room: 'lobby-1', name: 'ann' });
});

test('no seat is a MatchmakeError with the status and the server reason', async () => {
  const full = fakeFetch(409, { error: 'room `lobby-1` is full' });
  await assert.rejects(matchmake({ base: 'http://x', room: 'lobby-1', fetchImpl: full.fetchImpl }), (e) => {
    assert.ok(e instanceof MatchmakeError);
    assert.equal(e.status, 409);
    assert.match(e.message, /full/);
    return true;
  });
  const odd = fakeFetch(200, { nonsense: true });
  await assert.rejects(matchmake({ base: 'http://x', fetchImpl: odd.fetchImpl }), MatchmakeError);
});

test('node URLs are the node base with ws or wss and /ws, and the parameters', () => {
  assert.equal(nodeUrl('http://10.0.0.2:8080', { room: 'r', name: 'ann', seat: 'p.s' }), 'ws://10.0.0.2:8080/ws?room=r&name=ann&seat=p.s');
  assert.equal(nodeUrl('https://lb.example/node-2/', { name: 'a b' }), 'wss://lb.example/node-2/ws?name=a+b');
  assert.equal(
    seatUrl({ url: 'https://n1.example', room: 'r', node: 'n1', ticket: 't.t' }, { name: 'ann', ticket: 'game' }),
    'wss://n1.example/ws?room=r&name=ann&ticket=game&seat=t.t',
  );
});

test('a redirect keeps the name and the game ticket, and takes the room and the seat it names', () => {
  const next = redirectUrl('ws://a.example/ws?room=r&name=ann&ticket=game&seat=old', { url: 'http://b.example:81', room: 'r2', ticket: 'new' });
  assert.equal(next, 'ws://b.example:81/ws?room=r2&name=ann&ticket=game&seat=new');
  assert.equal(withoutSeat(next), 'ws://b.example:81/ws?room=r2&name=ann&ticket=game');
  assert.equal(redirectUrl('ws://a/ws?name=ann', { url: 'http://b', room: 'r', ticket: '' }), 'ws://b/ws?room=r&name=ann');
});

function connection(url) {
  FakeSocket.all = [];
  const statuses = [];
  const conn = new Connection({
    url,
    onWelcome: () => {},
    onSnapshot: () => {},
    onStatus: (s) => statuses.push(s),
    WebSocketImpl: FakeSocket,
    now: () => 1000,
  });
  return { conn, statuses };
}

test('a seat ticket is used by the first connection only', () => {
  const { conn } = connection('ws://n1.example/ws?room=r&name=ann&seat=t.t');
  conn.start();
  assert.equal(FakeSocket.all[0].url, 'ws://n1.example/ws?room=r&name=ann&seat=t.t');
  assert.equal(conn.url, 'ws://n1.example/ws?room=r&name=ann', 'a reconnect goes without it');
  conn.stop();
});

test('a redirect is followed at once, once; a second in a row is a drop like any other', () => {
  const { conn } = connection('ws://a.example/ws?room=lobby&name=ann');
  conn.start();
  const first = FakeSocket.all[0];
  first.open();
  // The golden redirect: to http://10.0.0.2:8080, room "lobby", ticket "e30.c2ln".
  first.receive('server_redirect');
  first.drop(4010, 'room lobby is on another node');
  assert.equal(FakeSocket.all.length, 2, 'reconnected at once');
  const second = FakeSocket.all[1];
  assert.equal(second.url, 'ws://10.0.0.2:8080/ws?room=lobby&name=ann&seat=e30.c2ln');
  second.open();
  assert.equal(second.sent[0].type, 'join');
  second.receive('server_redirect');
  second.drop(4010, 'again');
  assert.equal(FakeSocket.all.length, 2, 'not followed: the backoff applies');
  assert.equal(conn.status.state, 'reconnecting');
  assert.equal(conn.url, 'ws://10.0.0.2:8080/ws?room=lobby&name=ann');
  conn.stop();
});

test('a welcome allows the next redirect (a room moved while playing)', () => {
  const { conn } = connection('ws://a.example/ws?room=lobby&name=ann');
  conn.start();
  const first = FakeSocket.all[0];
  first.open();
  first.receive('server_redirect');
  first.drop(4010);
  const second = FakeSocket.all[1];
  second.open();
  second.receive('server_welcome');
  assert.equal(conn.connected, true);
  second.receive('server_redirect');
  second.drop(4010);
  assert.equal(FakeSocket.all.length, 3);
  conn.stop();
});
