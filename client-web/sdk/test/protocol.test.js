// The browser's protocol module against the Rust crate's golden vectors
// (crates/protocol/golden/): every server message decodes to its JSON,
// every client message encodes to its bytes, and the keeper applies the
// snapshots to the recorded states. Regenerate the vectors with
// `UPDATE_GOLDEN=1 cargo test -p tickwire-protocol --test golden`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import {
  ClientState,
  ProtocolError,
  buttonBit,
  decodeClientMessage,
  decodeServerMessage,
  encodeAck,
  encodeChat,
  encodeInput,
  encodeJoin,
  encodePing,
  encodeWatch,
  inputRange,
  inputValues,
  schemaHash,
} from '../protocol.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'crates', 'protocol', 'golden');
const bin = (name) => new Uint8Array(readFileSync(join(GOLDEN, `${name}.bin`)));
const json = (name) => JSON.parse(readFileSync(join(GOLDEN, `${name}.json`), 'utf8'));
/**
 * A server message's golden JSON as the SDK decodes it: the welcome's
 * `avatar` (the Rust crate's name) is the SDK's game-neutral `entity`.
 */
const expectedServer = (name) => {
  const { avatar, ...rest } = json(name);
  return avatar === undefined ? rest : { ...rest, entity: avatar };
};
/** The JSON form of a decoded message: BigInt hashes become decimal strings. */
const plain = (value) => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));

const names = readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.bin'))
  .map((f) => f.slice(0, -4));
const welcome = decodeServerMessage(bin('server_welcome'), null);

test('golden vectors are present for every message kind', () => {
  for (const prefix of ['client_join', 'client_input', 'client_input_trimmed', 'client_input_axis', 'client_input_angle', 'client_input_buttons', 'client_input_int', 'client_ack', 'client_ping', 'client_chat', 'server_welcome', 'server_snapshot_full', 'server_snapshot_delta', 'server_pong', 'server_event_kill', 'server_event_kill_no_killer', 'server_event_goal', 'server_welcome_bare', 'server_error', 'client_watch_player', 'client_watch_rect', 'client_watch_anyone', 'server_welcome_spectator', 'server_event_watching', 'server_event_watching_none', 'server_redirect']) {
    assert.ok(names.includes(prefix), `missing ${prefix}`);
  }
});

for (const name of names.filter((n) => n.startsWith('server_'))) {
  test(`decodes ${name} to its golden JSON`, () => {
    const decoded = decodeServerMessage(bin(name), welcome.schema);
    assert.deepStrictEqual(plain(decoded), expectedServer(name));
  });
}

const encoders = {
  join: (m) => encodeJoin({ protocolVersion: m.protocolVersion, schemaHash: BigInt(m.schemaHash) }),
  input: (m) => encodeInput(m.seq, m.values, m.view),
  ack: (m) => encodeAck(m.tick),
  ping: (m) => encodePing(m.clientTime),
  chat: (m) => encodeChat(m.text),
  watch: (m) => encodeWatch(m.target),
};

for (const name of names.filter((n) => n.startsWith('client_'))) {
  test(`encodes ${name} to its golden bytes and decodes it back`, () => {
    const expected = json(name);
    assert.deepStrictEqual(encoders[expected.type](expected), bin(name));
    assert.deepStrictEqual(plain(decodeClientMessage(bin(name))), expected);
  });
}

test('welcome schema hash matches the one computed here', () => {
  assert.equal(schemaHash(welcome.schema), welcome.schemaHash);
});

test('keeper applies the golden snapshots to the recorded states', () => {
  const keeper = new ClientState(welcome.schema);
  for (const step of json('keeper').steps) {
    const message = decodeServerMessage(bin(step.message), welcome.schema);
    const state = keeper.apply(message.body);
    assert.equal(keeper.latestTick(), step.tick);
    assert.deepStrictEqual(plain(state), step.state);
  }
});

test('keeper refuses a delta whose baseline it does not hold', () => {
  const keeper = new ClientState(welcome.schema);
  const delta = decodeServerMessage(bin('server_snapshot_delta'), welcome.schema);
  assert.throws(() => keeper.apply(delta.body), /baseline tick 100 is not held/);
  assert.equal(keeper.latestTick(), null);
});

test('keeper takes a full snapshot of an earlier tick as a start over, and refuses a delta not newer', () => {
  const keeper = new ClientState(welcome.schema);
  const steps = json('keeper').steps;
  for (const step of steps) keeper.apply(decodeServerMessage(bin(step.message), welcome.schema).body);
  const latest = keeper.latestTick();
  // A delta of the golden run again: not newer than what is held.
  const delta = decodeServerMessage(bin('server_snapshot_delta'), welcome.schema);
  assert.ok(delta.body.tick <= latest);
  assert.throws(() => keeper.apply(delta.body), /not newer/);
  assert.equal(keeper.latestTick(), latest);
  // The full snapshot of tick 100: the keeper holds it alone now.
  const full = decodeServerMessage(bin('server_snapshot_full'), welcome.schema);
  assert.ok(full.body.tick < latest);
  const state = keeper.apply(full.body);
  assert.equal(keeper.latestTick(), full.body.tick);
  assert.deepStrictEqual(plain(state), steps[0].state);
  assert.equal(keeper.stateAt(latest), null);
  // And the delta against it applies again.
  assert.equal(keeper.apply(delta.body).length > 0, true);
  assert.equal(keeper.latestTick(), delta.body.tick);
});

test('snapshot before the welcome is an error', () => {
  assert.throws(() => decodeServerMessage(bin('server_snapshot_full'), null), ProtocolError);
});

test('truncated, extended and bit-flipped messages throw ProtocolError or decode, never anything else', () => {
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (const name of names) {
    const original = bin(name);
    for (let i = 0; i < 300; i++) {
      let bytes;
      const kind = i % 3;
      if (kind === 0) bytes = original.subarray(0, rand() % Math.max(1, original.length));
      else if (kind === 1) bytes = Uint8Array.from([...original, rand() & 0xff]);
      else {
        bytes = original.slice();
        const bit = rand() % (bytes.length * 8);
        bytes[bit >> 3] ^= 1 << (bit & 7);
      }
      for (const decode of [(b) => decodeServerMessage(b, welcome.schema), decodeClientMessage]) {
        try {
          decode(bytes);
        } catch (error) {
          assert.ok(error instanceof ProtocolError, `${name}: ${error}`);
        }
      }
    }
  }
});

// ---------------------------------------------------------------- inputs and events, by the schema

const decls = welcome.schema.input;

test('the welcome declares the input and the events, and a bare game declares none', () => {
  assert.deepStrictEqual(
    decls.map((d) => [d.name, d.kind.type]),
    [['move', 'Axis'], ['aim', 'Angle'], ['buttons', 'Buttons'], ['slot', 'Int']],
  );
  assert.deepStrictEqual(welcome.schema.events.map((e) => e.name), ['kill', 'goal']);
  assert.deepStrictEqual(welcome.schema.events[0].fields[0].quant, { type: 'Player' });
  const bare = decodeServerMessage(bin('server_welcome_bare'), null);
  assert.deepStrictEqual([bare.schema.input, bare.schema.events], [[], []]);
  assert.equal(schemaHash(bare.schema), bare.schemaHash);
});

test('an input is sent without its trailing zeros', () => {
  assert.deepStrictEqual(encodeInput(301, [64, 0, 0, 0]), bin('client_input_trimmed'));
  assert.deepStrictEqual(encodeInput(302, [0, 0, 0, 0]), bin('client_input_idle'));
  assert.deepStrictEqual(encodeInput(302), bin('client_input_idle'));
  assert.deepStrictEqual(bin('client_input_trimmed'), Uint8Array.from([1, 251, 45, 1, 1, 128, 0]));
});

test('an input ends with the tick the page was showing, a varint like the sequence number', () => {
  const input = bin('client_input');
  assert.deepStrictEqual(input.slice(-3), Uint8Array.from([251, 42, 1]), 'view 298');
  assert.deepStrictEqual(decodeClientMessage(input).view, 298);
  assert.deepStrictEqual(encodeInput(301, [64], 0).at(-1), 0);
  assert.throws(() => encodeInput(1, [], -1), RangeError);
});

test('named input values come out in the declared order, a missing one as 0', () => {
  assert.deepStrictEqual(inputValues(decls, { slot: -2, move: -127, buttons: 5, aim: 49152 }), [-127, 49152, 5, -2]);
  assert.deepStrictEqual(encodeInput(70000, inputValues(decls, { slot: 9 }), 69997), bin('client_input_int'));
  assert.deepStrictEqual(encodeInput(304, inputValues(decls, { aim: 65535 })), bin('client_input_angle'));
  assert.deepStrictEqual(inputValues(decls, {}), [0, 0, 0, 0]);
});

test('an unknown input name, a value out of its range or not an integer is refused', () => {
  assert.throws(() => inputValues(decls, { jump: 1 }), RangeError);
  const cases = [
    ['move', -128, 128, [-127, 127]],
    ['aim', -1, 65536, [0, 65535]],
    ['buttons', -1, 8, [0, 7]],
    ['slot', -3, 10, [-2, 9]],
  ];
  for (const [name, below, above, range] of cases) {
    const decl = decls.find((d) => d.name === name);
    assert.deepStrictEqual(inputRange(decl.kind), range, name);
    for (const ok of range) assert.doesNotThrow(() => inputValues(decls, { [name]: ok }), name);
    assert.throws(() => inputValues(decls, { [name]: below }), /outside/, `${name} ${below}`);
    assert.throws(() => inputValues(decls, { [name]: above }), /outside/, `${name} ${above}`);
  }
  assert.throws(() => inputValues(decls, { move: 0.5 }), RangeError);
  assert.throws(() => inputValues(decls, { move: '1' }), RangeError);
});

test('a button bit is found by name in the declared buttons', () => {
  assert.equal(buttonBit(decls, 'buttons', 'fire'), 1);
  assert.equal(buttonBit(decls, 'buttons', 'use'), 4);
  assert.equal(buttonBit(decls, 'buttons', 'crouch'), 0);
  assert.equal(buttonBit(decls, 'slot', 'fire'), 0);
  assert.equal(buttonBit([], 'buttons', 'fire'), 0);
});

test('an input of more than eight values is refused both ways', () => {
  assert.throws(() => encodeInput(1, [1, 1, 1, 1, 1, 1, 1, 1, 1]), RangeError);
  const eight = Uint8Array.from([1, 7, 8, 2, 2, 2, 2, 2, 2, 2, 2, 5]);
  assert.deepStrictEqual(decodeClientMessage(eight), { type: 'input', seq: 7, values: [1, 1, 1, 1, 1, 1, 1, 1], view: 5 });
  const nine = Uint8Array.from([1, 7, 9, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5]);
  assert.throws(() => decodeClientMessage(nine), ProtocolError);
});

test('a game event names its kind and fields from the schema; -1 is no player', () => {
  const kill = decodeServerMessage(bin('server_event_kill_no_killer'), welcome.schema).event;
  assert.deepStrictEqual(kill, { type: 'game', kind: 0, name: 'kill', fields: { killer: -1, victim: 2 } });
  const goal = decodeServerMessage(bin('server_event_goal'), welcome.schema).event;
  assert.deepStrictEqual(goal.fields, { scorer: 3, team: -1, x: -40000 });
});

test('a game event the schema does not declare or admit is a ProtocolError', () => {
  const kill = bin('server_event_kill'); // 3, 0 (game), kind 0, 2 values: 1, 2 (zigzag 2, 4)
  assert.deepStrictEqual(kill, Uint8Array.from([3, 0, 0, 2, 2, 4]));
  const bad = (bytes, why) => assert.throws(() => decodeServerMessage(Uint8Array.from(bytes), welcome.schema), why);
  bad([3, 0, 2, 2, 2, 4], /kind 2 is not declared/);
  bad([3, 0, 0, 2, 3, 4], /killer cannot be -2/);
  bad([3, 0, 0, 3, 2, 4, 2], /past its declared fields/);
  bad([3, 0, 1, 2, 2, 4], /team cannot be 2/);
  bad([3, 0, 0, 9, 2, 2, 2, 2, 2, 2, 2, 2, 2], /9 values/);
  // Zeros past the declared fields are the same event.
  const padded = decodeServerMessage(Uint8Array.from([3, 0, 0, 3, 2, 4, 0]), welcome.schema);
  assert.deepStrictEqual(padded, decodeServerMessage(kill, welcome.schema));
  assert.throws(() => decodeServerMessage(kill, null), /before the welcome/);
});
