// The SDK knows no game: none of its modules, examples or types names a
// kind, field, input or event of the bundled games. A game's names belong
// in the game's own page.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const SDK = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Words of the arena and of asteroids, as whole words. */
const GAME_WORDS =
  /\b(avatars?|projectiles?|move_x|move_y|aim|fire|arena|arena_size|player_speed|scores?|scoreboard|kill|killer|victim|hp|respawn|ships?|asteroids?|bullets?|rocks?|thrust)\b/gi;

/** Every file of the SDK but its tests. */
function sdkFiles(dir = SDK, prefix = '') {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) {
      if (entry.name !== 'test' && entry.name !== 'node_modules') out.push(...sdkFiles(join(dir, entry.name), `${rel}/`));
    } else if (/\.(js|html|json|md)$/.test(entry.name)) {
      out.push(rel);
    }
  }
  return out;
}

test('the SDK names no game', () => {
  const files = sdkFiles();
  assert.ok(files.includes('protocol.js') && files.includes('index.js'), `found ${files}`);
  for (const file of files) {
    const names = readFileSync(join(SDK, file), 'utf8').match(GAME_WORDS);
    assert.equal(names, null, `${file} names ${names}`);
  }
});
