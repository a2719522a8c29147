// The minimal page of docs/client-sdk.md is examples/minimal.html, byte
// for byte, under 80 lines, and uses nothing but the SDK.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const doc = readFileSync(new URL('../../../docs/client-sdk.md', import.meta.url), 'utf8');
const page = readFileSync(new URL('../examples/minimal.html', import.meta.url), 'utf8');

test('the page in the guide is examples/minimal.html, byte for byte', () => {
  const section = doc.slice(doc.indexOf('## A minimal page'));
  const match = section.match(/```html\n([\s\S]*?)```\n/);
  assert.ok(match, 'the guide has an html block under "A minimal page"');
  assert.equal(match[1], page);
});

test('the minimal page is under 80 lines and imports only the SDK', () => {
  const lines = page.split('\n').length - (page.endsWith('\n') ? 1 : 0);
  assert.ok(lines < 80, `${lines} lines`);
  const imports = [...page.matchAll(/\bimport\b[^'"]*['"]([^'"]+)['"]/g)].map((m) => m[1]);
  assert.deepStrictEqual(imports, ['/sdk/index.js']);
  assert.doesNotMatch(page, /<script[^>]+src=/, 'no other script');
});
