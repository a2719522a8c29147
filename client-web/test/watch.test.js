// What a spectator's page decides: whom the keys follow next, and what the
// HUD says about it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cyclePlayer, watchText } from '../src/watch.js';

test('the keys go round the players in id order', () => {
  const players = [4, 0, 9];
  assert.equal(cyclePlayer(players, 0, 1), 4);
  assert.equal(cyclePlayer(players, 4, 1), 9);
  assert.equal(cyclePlayer(players, 9, 1), 0, 'after the last, the first');
  assert.equal(cyclePlayer(players, 0, -1), 9, 'before the first, the last');
  assert.equal(cyclePlayer(players, null, 1), 0, 'following no one: the first');
  assert.equal(cyclePlayer(players, 7, -1), 9, 'one who left: from the end');
  assert.equal(cyclePlayer([], 3, 1), null, 'nobody to follow');
  assert.equal(cyclePlayer([5], 5, 1), 5);
});

test('the HUD says who is watched', () => {
  assert.equal(watchText('alice', 2), 'Watching alice');
  assert.equal(watchText(null, 2), 'Watching the arena');
  assert.equal(watchText(null, 0), 'Waiting for players');
});
