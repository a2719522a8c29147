// End to end: the operator console. The real server binary with an admin
// token and records, 30 swarm bots in 3 rooms of 10 (the real
// tickwire-swarm binary, for a bounded time), and the console at /admin in
// headless Chromium: it asks for the token, lists the 3 rooms and their
// players, its tick graph moves, a kick closes that bot with 4014 (the
// swarm counts it as kicked, with the server's reason, and as no error),
// and closing a room ends that room only (its 10 bots counted as room
// closed, the other rooms play on). Screenshotted to
// docs/screenshots/console-1280x720.png; no console error.
//
// Needs TICKWIRE_BIN (the release server binary), TICKWIRE_SWARM_BIN (the
// release swarm binary) and Debian's Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_ROOT, gameBinary, launchChromium, startServer, until } from './helpers/browser.js';

const VIEWPORT = { width: 1280, height: 720 };
const TOKEN = 'the console test token';
const SCREENSHOT = join(CLIENT_ROOT, '..', 'docs', 'screenshots', 'console-1280x720.png');

/**
 * Runs the swarm against `url` for a bounded time. Returns `{ done, output,
 * kill }`: `done` resolves with its JSON report when it exits.
 */
function runSwarm(bin, url, reportPath) {
  const args = [
    '--url', `${url.replace('http://', 'ws://')}/ws`,
    '--bots', '30', '--room-size', '10', '--room-prefix', 'console',
    '--warmup', '2s', '--duration', '45s', '--ramp-up', '100',
    '--json', reportPath, '--quiet',
  ];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  child.stdout.on('data', (c) => output.push(c.toString()));
  child.stderr.on('data', (c) => output.push(c.toString()));
  let exited = false;
  const done = new Promise((ok) =>
    child.once('exit', (code) => {
      exited = true;
      ok(code);
    }),
  ).then(() => JSON.parse(readFileSync(reportPath, 'utf8')));
  return {
    done,
    output,
    kill: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/** The console's rooms as it shows them: name, players shown, rows, graph points. */
function shownRooms(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('.room')].map((r) => ({
      room: r.dataset.room,
      players: Number(r.querySelector('.players').textContent),
      rows: [...r.querySelectorAll('tbody tr[data-player]')].map((row) => row.children[1].textContent.trim()),
      points: Number(r.querySelector('canvas').dataset.points),
      record: r.querySelector('a.record')?.textContent ?? null,
    })),
  );
}

test('the operator console lists, graphs, kicks and closes rooms of a live swarm', { timeout: 180000 }, async () => {
  const swarmBin = gameBinary('TICKWIRE_SWARM_BIN', 'tickwire-swarm', 'tickwire-swarm');
  const records = mkdtempSync(join(tmpdir(), 'tickwire-console-'));
  const server = await startServer(process.env.TICKWIRE_BIN, ['--admin-token', TOKEN, '--record', records]);
  const reportPath = join(records, 'swarm.json');
  const swarm = runSwarm(swarmBin, server.url, reportPath);
  const browser = await launchChromium();
  const errors = [];
  try {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));

    // Without the token, the page asks for it and shows nothing.
    await page.goto(`${server.url}/admin`);
    await page.waitForSelector('#token-dialog[open]');
    assert.equal(await page.locator('.room').count(), 0);
    await page.fill('#token', TOKEN);
    await page.click('#token-save');

    // The 3 rooms, each with its 10 bots.
    const names = ['console-0', 'console-1', 'console-2'];
    const full = await until('3 rooms of 10 bots in the console', async () => {
      const rooms = await shownRooms(page);
      const ok = rooms.length === 3 && rooms.every((r) => r.players === 10 && r.rows.length === 10);
      return ok && rooms;
    }, 30000);
    assert.deepEqual(full.map((r) => r.room).sort(), names);
    for (const room of full) {
      assert.ok(room.rows.every((name) => /^bot\d+$/.test(name)), room.rows.join(','));
      assert.match(room.record, new RegExp(`^${room.room}-\\d+-[0-9a-f]+\\.jsonl$`));
    }
    const allBots = full.flatMap((r) => r.rows).sort();
    assert.equal(new Set(allBots).size, 30, 'every bot listed once');

    // The graph moves: more points at a later read.
    const points = (rooms, name) => rooms.find((r) => r.room === name).points;
    const first = points(await shownRooms(page), 'console-1');
    await until('the tick graph to gain points', async () => points(await shownRooms(page), 'console-1') > first, 10000);
    // Some history, and the bots' pings (one every 10 s), for the
    // screenshot.
    await until('15 s of history', async () => points(await shownRooms(page), 'console-1') >= 15, 30000);
    await until('pings measured', () => page.evaluate(() =>
      [...document.querySelectorAll('tbody tr[data-player]')].every((row) => /ms$/.test(row.children[2].textContent)),
    ), 15000);
    await page.screenshot({ path: SCREENSHOT });

    // Kick the first bot of console-0, with a reason.
    const row = page.locator('.room[data-room="console-0"] tbody tr[data-player]').first();
    const kickedName = (await row.locator('td').nth(1).textContent()).trim();
    await row.locator('button[data-act="kick"]').click();
    await page.waitForSelector('#action-dialog[open]');
    await page.fill('#reason', 'console test kick');
    await page.click('#action-confirm');
    await page.waitForSelector('#toast:not(.hidden)');
    assert.match(await page.textContent('#toast'), /kicked by operator: console test kick/);
    await until('console-0 to show 9 players', async () => {
      const room = (await shownRooms(page)).find((r) => r.room === 'console-0');
      return room && room.players === 9 && !room.rows.includes(kickedName);
    }, 10000);

    // Close console-2: it goes, the others stay.
    await page.click('.room[data-room="console-2"] button[data-act="close"]');
    await page.waitForSelector('#action-dialog[open]');
    await page.fill('#reason', 'console test close');
    await page.click('#action-confirm');
    const left = await until('console-2 to go', async () => {
      const rooms = await shownRooms(page);
      return !rooms.some((r) => r.room === 'console-2') && rooms;
    }, 10000);
    assert.deepEqual(left.map((r) => [r.room, r.players]).sort(), [['console-0', 9], ['console-1', 10]]);
    // The others play on: their ticks still advance.
    const tick = () => page.evaluate(() => Number(document.querySelector('.room[data-room="console-1"] .tick').textContent));
    const before = await tick();
    await until('console-1 to tick on', async () => (await tick()) > before, 5000);

    // The swarm saw 4014 for one bot and 4015 for ten, with the server's
    // reasons, and no error.
    const report = await swarm.done;
    assert.deepEqual(report.closed_by_operator, { kicked: 1, 'room closed': 10 }, swarm.output.join(''));
    assert.equal(report.operator_reasons.kicked, 'kicked by operator: console test kick');
    assert.equal(report.operator_reasons['room closed'], 'room closed by operator: console test close');
    assert.equal(report.errors, 0, JSON.stringify(report.errors_by_kind));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /tickwire_closes_total\{reason="kicked"\} 1\b/);
    assert.match(metrics, /tickwire_closes_total\{reason="room_closed"\} 10\b/);
    assert.deepEqual(errors, []);
  } finally {
    swarm.kill();
    await browser.close();
    await server.stop();
    rmSync(records, { recursive: true, force: true });
  }
});
