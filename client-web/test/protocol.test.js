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
  decodeClientMessage,
  decodeServerMessage,
  encodeAck,
  encodeChat,
  encodeInput,
  encodeJoin,
  encodePing,
  schemaHash,
} from '../src/protocol.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'crates', 'protocol', 'golden');
const bin = (name) => new Uint8Array(readFileSync(join(GOLDEN, `${name}.bin`)));
const json = (name) => JSON.parse(readFileSync(join(GOLDEN, `${name}.json`), 'utf8'));
/** The JSON form of a decoded message: BigInt hashes become decimal strings. */
const plain = (value) => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));

const names = readdirSync(GOLDEN)
  .filter((f) => f.endsWith('.bin'))
  .map((f) => f.slice(0, -4));
const welcome = decodeServerMessage(bin('server_welcome'), null);

test('golden vectors are present for every message kind', () => {
  for (const prefix of ['client_join', 'client_input', 'client_ack', 'client_ping', 'client_chat', 'server_welcome', 'server_snapshot_full', 'server_snapshot_delta', 'server_pong', 'server_event_kill', 'server_error']) {
    assert.ok(names.includes(prefix), `missing ${prefix}`);
  }
});

for (const name of names.filter((n) => n.startsWith('server_'))) {
  test(`decodes ${name} to its golden JSON`, () => {
    const decoded = decodeServerMessage(bin(name), welcome.schema);
    assert.deepStrictEqual(plain(decoded), json(name));
  });
}

const encoders = {
  join: (m) => encodeJoin({ protocolVersion: m.protocolVersion, schemaHash: BigInt(m.schemaHash), resumeTick: m.resumeTick }),
  input: (m) => encodeInput(m),
  ack: (m) => encodeAck(m.tick),
  ping: (m) => encodePing(m.clientTime),
  chat: (m) => encodeChat(m.text),
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
