// The scoreboard reads the arena's declared fields, as arena.js names them:
// the avatar's score, and its player. A game that declares neither (the
// bench game) shows the room's players with the kills of the feed.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SchemaView } from '../sdk/index.js';
import { declared } from '../src/arena.js';
import { Scores } from '../src/scoreboard.js';

const xy = [
  { name: 'x', quant: { type: 'Fixed', scale: 16 } },
  { name: 'y', quant: { type: 'Fixed', scale: 16 } },
  { name: 'heading', quant: { type: 'Angle', steps: 256 } },
];
const int = (name) => ({ name, quant: { type: 'Int', min: 0, max: 2147483647 } });

/** The arena's schema, as its welcome carries it. */
const ARENA_SCHEMA = new SchemaView({
  game: 'arena',
  kinds: [
    { name: 'avatar', fields: [...xy, int('hp'), int('score'), int('respawn'), { name: 'player', quant: { type: 'Player' } }] },
    { name: 'projectile', fields: xy },
  ],
  input: [],
  events: [{ name: 'kill', fields: [{ name: 'killer', quant: { type: 'Player' } }, { name: 'victim', quant: { type: 'Player' } }] }],
});
/** The bench game's: avatars without a score or a player, no events. */
const BENCH_SCHEMA = new SchemaView({ game: 'bench', kinds: [{ name: 'avatar', fields: [...xy, int('hp')] }], input: [], events: [] });

const roster = new Map([
  [1, 'alice'],
  [2, 'bob'],
  [3, 'carol'],
]);
const avatar = (id, player, score) => ({ id, kind: 'avatar', fields: { x: 0, y: 0, heading: 0, hp: 100, score, respawn: 0, player } });

test("the arena declares its scoreboard's fields, its kinds and its kill feed", () => {
  const d = declared(ARENA_SCHEMA, { arena_size: 3000 });
  assert.deepStrictEqual(d, { avatar: true, projectile: true, score: true, player: true, hp: true, input: false, kill: true, arenaSize: 3000, maxHp: 100 });
  const b = declared(BENCH_SCHEMA, {});
  assert.deepStrictEqual(b, { avatar: true, projectile: false, score: false, player: false, hp: true, input: false, kill: false, arenaSize: 4000, maxHp: 100 });
  // A score field that is not an integer, or a player that is not a player field, is not read.
  const odd = new SchemaView({ game: 'odd', kinds: [{ name: 'avatar', fields: [...xy, { name: 'score', quant: { type: 'Fixed', scale: 1 } }, int('player')] }] });
  assert.deepStrictEqual([declared(odd, {}).score, declared(odd, {}).player], [false, false]);
});

test('an avatar in view gives its player the server\'s score; kills count for those out of view', () => {
  const d = declared(ARENA_SCHEMA, {});
  const scores = new Scores();
  // Alice (own, entity 10) and bob (entity 11) are in view; carol is not.
  scores.seen([avatar(10, 1, 4), avatar(11, 2, 7), { id: 12, kind: 'projectile', fields: { x: 0, y: 0, heading: 0 } }], d, { entity: 10, player: 1 });
  scores.kill(3);
  scores.kill(3);
  scores.kill(-1);
  assert.deepStrictEqual(scores.entries(roster, 1), [
    { id: 1, name: 'alice', score: 4, own: true },
    { id: 2, name: 'bob', score: 7, own: false },
    { id: 3, name: 'carol', score: 2, own: false },
  ]);
  // Carol comes into view: her replicated score is the truth.
  scores.seen([avatar(13, 3, 5)], d, { entity: 10, player: 1 });
  assert.equal(scores.entries(roster, 1)[2].score, 5);
  scores.left(2);
  assert.equal(scores.entries(new Map([[2, 'bob']]), 1)[0].score, 0, 'a player who left starts afresh');
});

test('without declared score and player fields, only the own avatar or nothing is read', () => {
  const scores = new Scores();
  scores.seen([avatar(10, 1, 4), avatar(11, 2, 7)], declared(BENCH_SCHEMA, {}), { entity: 10, player: 1 });
  assert.deepStrictEqual(scores.entries(roster, 1).map((e) => e.score), [0, 0, 0], 'no score field: nothing read');
  // A score without a player field: only the own avatar's is known to be whose.
  const noPlayer = declared(ARENA_SCHEMA, {});
  noPlayer.player = false;
  scores.seen([avatar(10, 1, 4), avatar(11, 2, 7)], noPlayer, { entity: 10, player: 1 });
  assert.deepStrictEqual(scores.entries(roster, 1).map((e) => e.score), [4, 0, 0]);
});
