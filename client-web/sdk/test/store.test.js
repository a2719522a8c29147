// The entity store: the golden snapshots applied one after another call
// back added, changed (with the names of the fields that changed) and
// removed exactly as the states differ, and an entity keeps its object.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

import { ClientState, decodeServerMessage } from '../protocol.js';
import { SchemaView } from '../schema.js';
import { EntityStore } from '../store.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'crates', 'protocol', 'golden');
const bin = (name) => new Uint8Array(readFileSync(join(GOLDEN, `${name}.bin`)));
const json = (name) => JSON.parse(readFileSync(join(GOLDEN, `${name}.json`), 'utf8'));
const welcome = decodeServerMessage(bin('server_welcome'), null);

/** A store that logs every callback as a line. */
function loggedStore(schema) {
  const log = [];
  const store = new EntityStore(schema, {
    onAdded: (e) => log.push(`added ${e.id} ${e.kind}`),
    onChanged: (e, names, previous) => {
      assert.notStrictEqual(previous, e.fields, 'the fields before are another object');
      log.push(`changed ${e.id} ${names.join(',')}`);
    },
    onRemoved: (e) => log.push(`removed ${e.id}`),
  });
  return { store, log };
}

test('the golden snapshots call back exactly what changed', () => {
  const schema = new SchemaView(welcome.schema);
  const keeper = new ClientState(welcome.schema);
  const { store, log } = loggedStore(schema);
  const steps = json('keeper').steps;
  const logs = [];
  for (const step of steps) {
    store.update(keeper.apply(decodeServerMessage(bin(step.message), welcome.schema).body));
    logs.push(log.splice(0));
    // The store holds the state, de-quantized by the schema.
    assert.deepStrictEqual(
      [...store.entities.values()].map((e) => [e.id, e.kindId, e.fields]).sort((a, b) => a[0] - b[0]),
      step.state.map((e) => [e.id, e.kind, schema.decodeEntity(e.kind, e.values).fields]),
    );
  }
  const dots = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.deepStrictEqual(logs[0], [...dots.map((id) => `added ${id} dot`), 'added 12 flag']);
  // Tick 101: 3 gone, 20 new, every dot moved; 5 turned; 9 jumped to x -40000.
  assert.deepStrictEqual(logs[1], [
    'removed 3',
    'added 20 dot',
    ...[1, 2, 4, 5, 6, 7, 8, 9, 10].map((id) => `changed ${id} ${id === 5 ? 'x,y,heading' : 'x,y'}`),
  ]);
  // Tick 104: only 2's hp.
  assert.deepStrictEqual(logs[2], ['changed 2 hp']);
  // Tick 105: every other dot's y and the flag's team.
  assert.deepStrictEqual(logs[3], ['changed 1 y', 'changed 4 y', 'changed 6 y', 'changed 8 y', 'changed 10 y', 'changed 12 team', 'changed 20 y']);
  assert.equal(store.get(20).fields.y, 164 / 16);
});

test('an entity keeps its object while it lives; its fields are replaced, not modified', () => {
  const schema = new SchemaView({ game: 'g', kinds: [{ id: 0, name: 'a', fields: [{ id: 0, name: 'n', quant: { type: 'Int', min: 0, max: 9 } }] }, { id: 1, name: 'b', fields: [] }] });
  const { store, log } = loggedStore(schema);
  store.update([{ id: 7, kind: 0, values: [1] }]);
  const entity = store.get(7);
  const before = entity.fields;
  store.update([{ id: 7, kind: 0, values: [2] }]);
  assert.strictEqual(store.get(7), entity);
  assert.deepStrictEqual(before, { n: 1 });
  assert.deepStrictEqual(entity.fields, { n: 2 });
  // Unchanged values call nothing back.
  store.update([{ id: 7, kind: 0, values: [2] }]);
  // Another kind under the same id is another entity.
  store.update([{ id: 7, kind: 1, values: [] }]);
  assert.notStrictEqual(store.get(7), entity);
  assert.equal(store.get(7).kind, 'b');
  store.clear();
  assert.equal(store.entities.size, 0);
  assert.deepStrictEqual(log, ['added 7 a', 'changed 7 n', 'removed 7', 'added 7 b', 'removed 7']);
});
