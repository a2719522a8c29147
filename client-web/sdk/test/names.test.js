// Player names at the protocol's limit: the browser's decoder counts a
// name in bytes of UTF-8, with the same limit as the Rust crate, and
// decodes a name of exactly that many bytes of 4-byte characters, as the
// server encodes it (golden vectors from crates/protocol/tests/golden.rs).
// A name the server cut in characters but not in bytes once made every
// browser in the room drop its connection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { MAX_NAME_BYTES, ProtocolError, decodeServerMessage } from '../protocol.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const GOLDEN = join(ROOT, 'crates', 'protocol', 'golden');
const bin = (name) => new Uint8Array(readFileSync(join(GOLDEN, `${name}.bin`)));
const utf8Bytes = (s) => new TextEncoder().encode(s).length;
const welcome = decodeServerMessage(bin('server_welcome'), null);

test('the name limit is the Rust crate\'s, in bytes', () => {
  const rust = readFileSync(join(ROOT, 'crates', 'protocol', 'src', 'message.rs'), 'utf8');
  const match = rust.match(/pub const MAX_NAME_BYTES: usize = (\d+);/);
  assert.ok(match, 'MAX_NAME_BYTES found in message.rs');
  assert.equal(MAX_NAME_BYTES, Number(match[1]));
});

test('a join event naming 16 four-byte characters (64 bytes) decodes', () => {
  const message = decodeServerMessage(bin('server_event_joined_max_name'), welcome.schema);
  assert.equal(message.event.type, 'playerJoined');
  const name = message.event.name;
  assert.equal(name, '😀𠀋𝄞🀄'.repeat(4));
  assert.equal([...name].length, 16);
  assert.equal(utf8Bytes(name), MAX_NAME_BYTES);
});

test('a welcome whose roster holds names at the byte limit decodes', () => {
  const message = decodeServerMessage(bin('server_welcome_max_names'), null);
  assert.equal(message.type, 'welcome');
  assert.deepEqual(message.roster, [[4, '😀𠀋𝄞🀄'.repeat(4)], [5, '漢'.repeat(21)]]);
  for (const [, name] of message.roster) assert.ok(utf8Bytes(name) <= MAX_NAME_BYTES);
});

test('one byte more than the limit is refused, as the Rust decoder refuses it', () => {
  const bytes = bin('server_event_joined_max_name');
  // The name's length (one varint byte) precedes its bytes at the end.
  const at = bytes.length - MAX_NAME_BYTES - 1;
  assert.equal(bytes[at], MAX_NAME_BYTES);
  const longer = new Uint8Array(bytes.length + 1);
  longer.set(bytes);
  longer[at] = MAX_NAME_BYTES + 1;
  longer[bytes.length] = 0x61; // 'a'
  assert.throws(() => decodeServerMessage(longer, welcome.schema), ProtocolError);
});
