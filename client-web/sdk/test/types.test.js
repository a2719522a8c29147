// The SDK's JSDoc types hold: `tsc -p sdk` (checkJs, strict) passes, so an
// editor autocompletes the API and a page in TypeScript can use it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

test('tsc --checkJs passes on the SDK', () => {
  const pkg = join(CLIENT, 'node_modules', 'typescript', 'package.json');
  assert.ok(existsSync(pkg), "the type check needs TypeScript: run 'npm ci' in client-web");
  const bin = join(dirname(pkg), JSON.parse(readFileSync(pkg, 'utf8')).bin.tsc);
  const run = spawnSync(process.execPath, [bin, '-p', 'sdk'], { cwd: CLIENT, encoding: 'utf8' });
  assert.equal(run.error, undefined, `tsc did not run: ${run.error}`);
  assert.equal(run.status, 0, `tsc -p sdk failed:\n${run.stdout}${run.stderr}`);
});

test('the package says what it is', () => {
  const pkg = JSON.parse(readFileSync(join(CLIENT, 'sdk', 'package.json'), 'utf8'));
  assert.equal(pkg.name, 'tickwire-client');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports, './index.js');
  assert.equal(pkg.dependencies, undefined, 'no runtime dependencies');
  const tsconfig = JSON.parse(readFileSync(join(CLIENT, 'sdk', 'tsconfig.json'), 'utf8'));
  assert.equal(tsconfig.compilerOptions.checkJs, true);
  assert.equal(tsconfig.compilerOptions.strict, true);
});
