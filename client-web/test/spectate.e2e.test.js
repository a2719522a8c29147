// End to end: a spectator. The real server binary, two players' pages in
// one room, and a third page opened with ?spectate=1: it follows the first
// player (the server's pick), sees her avatar where her own page has it as
// she moves, keeps it in the middle of the screen, says "Watching alice",
// sends no input, and Tab switches it to bob. Screenshotted; no console
// shows an error.
//
// Needs TICKWIRE_BIN (the release server binary) and Debian's Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aimToward, launchChromium, resultPath, startServer, until } from './helpers/browser.js';

const VIEWPORT = { width: 1280, height: 720 };

/** A new page whose console errors are collected in `errors`. */
async function newPage(browser, who, errors) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${who}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${who}: ${e}`));
  return page;
}

/** Opens the arena, fills the join screen and presses Play. */
async function play(browser, url, name, room, errors) {
  const page = await newPage(browser, name, errors);
  await page.goto(`${url}/`);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#play');
  await page.waitForFunction(
    () => window.tickwire?.connected && window.tickwire.entities[window.tickwire.avatarId] !== undefined,
    null,
    { timeout: 10000 },
  );
  return page;
}

const KEYS = { left: 'KeyA', right: 'KeyD', up: 'KeyW', down: 'KeyS' };

/** Walks `page`'s avatar toward entity `target` until within `distance` units. */
async function approach(page, own, target, distance) {
  const held = new Set();
  try {
    await until(`the avatars within ${distance} units`, async () => {
      const e = (await state(page)).entities;
      const [from, to] = [e[own], e[target]];
      if (!from || !to) return false;
      if (Math.hypot(to.x - from.x, to.y - from.y) < distance) return true;
      const want = new Set();
      if (to.x - from.x > distance / 3) want.add('right');
      if (from.x - to.x > distance / 3) want.add('left');
      if (to.y - from.y > distance / 3) want.add('down');
      if (from.y - to.y > distance / 3) want.add('up');
      for (const dir of Object.keys(KEYS)) {
        if (want.has(dir) && !held.has(dir)) await page.keyboard.down(KEYS[dir]);
        if (!want.has(dir) && held.has(dir)) await page.keyboard.up(KEYS[dir]);
      }
      held.clear();
      for (const d of want) held.add(d);
      return false;
    }, 20000);
  } finally {
    for (const dir of held) await page.keyboard.up(KEYS[dir]);
  }
}

/** The page's debug hook, as plain data. */
function state(page) {
  return page.evaluate(() => {
    const t = window.tickwire;
    return {
      playerId: t.playerId,
      avatarId: t.avatarId,
      spectating: t.spectating,
      following: t.following,
      watching: t.watching,
      inputSeq: t.inputSeq,
      entities: t.entities,
      snapshots: t.snapshots,
    };
  });
}

test('a spectator page watches a playing page and switches players with Tab', { timeout: 90000 }, async () => {
  // A small arena: every avatar is in every view, and on one screen.
  const server = await startServer(process.env.TICKWIRE_BIN, ['--arena-size', '900']);
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const room = `watch-${process.pid}`;
    const alice = await play(browser, server.url, 'alice', room, errors);
    const bob = await play(browser, server.url, 'bob', room, errors);
    const [a, b] = [await state(alice), await state(bob)];

    // The spectator: the page opened with ?spectate=1 skips the join screen.
    const watcher = await newPage(browser, 'spectator', errors);
    await watcher.goto(`${server.url}/?spectate=1&room=${room}`);
    await watcher.waitForFunction(() => window.tickwire?.connected && window.tickwire.snapshots > 5, null, { timeout: 10000 });
    let w = await state(watcher);
    assert.equal(w.spectating, true);
    assert.equal(w.following, a.playerId, 'it follows the first player');
    assert.equal(w.avatarId, a.avatarId, 'its own entity is the avatar of the one it follows');
    assert.equal(w.watching, 'Watching alice');
    await until('the HUD to say whom it watches', () => watcher.evaluate(() => document.querySelector('.hud-watch')?.textContent === 'Watching alice'), 3000);
    assert.ok(await watcher.isHidden('#join'), 'no join screen for a spectator');

    // Alice walks: the spectator sees her avatar where her own page has it.
    const before = (await state(watcher)).entities[a.avatarId];
    const key = before.x < 450 ? 'KeyD' : 'KeyA';
    const sign = key === 'KeyD' ? 1 : -1;
    await alice.keyboard.down(key);
    await new Promise((r) => setTimeout(r, 900));
    await alice.keyboard.up(key);
    await new Promise((r) => setTimeout(r, 400));
    const onAlice = (await state(alice)).entities[a.avatarId];
    const onWatcher = (await state(watcher)).entities[a.avatarId];
    assert.ok((onWatcher.x - before.x) * sign > 100, `the spectator saw alice move ${(onWatcher.x - before.x) * sign} units`);
    assert.ok(Math.abs(onWatcher.x - onAlice.x) < 1 && Math.abs(onWatcher.y - onAlice.y) < 1, 'both pages agree where she stopped');
    // The camera keeps the watched avatar in the middle of the screen.
    const onScreen = await watcher.evaluate(([id]) => {
      const e = window.tickwire.entities[id];
      return window.tickwire.worldToScreen(e.x, e.y);
    }, [a.avatarId]);
    assert.ok(Math.abs(onScreen.x - VIEWPORT.width / 2) < 20 && Math.abs(onScreen.y - VIEWPORT.height / 2) < 20, `alice drawn at ${JSON.stringify(onScreen)}`);

    // Bob comes near (on the spectator's screen), and Alice shoots at him
    // while the spectator looks on.
    await approach(bob, b.avatarId, a.avatarId, 380);
    await new Promise((r) => setTimeout(r, 300));
    await aimToward(alice, b.avatarId);
    await alice.mouse.down();
    await until('a shot in the spectator\'s view', async () => {
      await aimToward(alice, b.avatarId);
      return Object.values((await state(watcher)).entities).some((e) => e.kind === 'projectile');
    }, 5000);
    await new Promise((r) => setTimeout(r, 250));
    await watcher.screenshot({ path: resultPath('spectate-alice.png') });
    await alice.mouse.up();

    // Tab follows the next player: bob.
    await watcher.keyboard.press('Tab');
    await until('the spectator to follow bob', async () => {
      w = await state(watcher);
      return w.following === b.playerId && w.avatarId === b.avatarId;
    }, 5000);
    await until('the HUD to say it watches bob', () => watcher.evaluate(() => document.querySelector('.hud-watch')?.textContent === 'Watching bob'), 3000);
    await new Promise((r) => setTimeout(r, 300));
    await watcher.screenshot({ path: resultPath('spectate-bob.png') });

    // It never sent an input, and it is counted as a spectator, not a player.
    assert.equal((await state(watcher)).inputSeq, 0, 'a spectator sends no input');
    const rooms = await (await fetch(`${server.url}/api/rooms`)).json();
    const listed = rooms.rooms.find((r) => r.room === room);
    assert.deepEqual([listed.players, listed.spectators], [2, 1]);
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await server.stop();
  }
});
