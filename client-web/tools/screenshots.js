// Takes the README's screenshots: a real server, four players in one room
// in headless Chromium, a game in progress with the HUD, at 1280x720.
//
//   TICKWIRE_BIN=../target/release/tickwire node tools/screenshots.js
//
// Writes PNGs to docs/screenshots/ of the repository.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { aimToward, launchChromium, startServer, CLIENT_ROOT } from '../test/helpers/browser.js';

const OUT = resolve(CLIENT_ROOT, '..', 'docs', 'screenshots');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const KEYS = { left: 'KeyA', right: 'KeyD', up: 'KeyW', down: 'KeyS' };

async function joinAs(browser, url, name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(`${name}: ${m.text()}`));
  await page.goto(`${url}/`);
  await page.fill('#name', name);
  await page.fill('#room', 'showcase');
  await page.click('#play');
  await page.waitForFunction(() => window.tickwire?.connected && window.tickwire.entities[window.tickwire.avatarId]);
  const id = await page.evaluate(() => window.tickwire.avatarId);
  return { page, name, id, held: new Set() };
}

const own = (p) => p.page.evaluate(() => window.tickwire.entities[window.tickwire.avatarId]);

async function steer(p, to, slack) {
  const from = await own(p);
  const want = new Set();
  if (to.x - from.x > slack) want.add('right');
  if (from.x - to.x > slack) want.add('left');
  if (to.y - from.y > slack) want.add('down');
  if (from.y - to.y > slack) want.add('up');
  for (const d of Object.keys(KEYS)) {
    if (want.has(d) && !p.held.has(d)) await p.page.keyboard.down(KEYS[d]);
    if (!want.has(d) && p.held.has(d)) await p.page.keyboard.up(KEYS[d]);
  }
  p.held = want;
  return want.size === 0;
}

function aimAt(shooter, target) {
  return aimToward(shooter.page, target.id);
}

const server = await startServer(process.env.TICKWIRE_BIN);
const browser = await launchChromium();
try {
  mkdirSync(OUT, { recursive: true });
  const players = [];
  for (const name of ['alice', 'bob', 'carol', 'dave']) players.push(await joinAs(browser, server.url, name));
  const [alice, bob, carol, dave] = players;
  // Everyone gathers around alice, at a few spots around her.
  // Bob and carol face off to one side, so no shot of theirs crosses alice.
  const spots = [[0, 0], [330, -230], [470, 160], [-320, 190]];
  for (let round = 0; round < 300; round++) {
    const centre = await own(alice);
    let done = true;
    for (const [i, p] of players.entries()) {
      if (i === 0) continue;
      const [dx, dy] = spots[i];
      done = (await steer(p, { x: centre.x + dx, y: centre.y + dy }, 40)) && done;
    }
    if (done) break;
    await sleep(100);
  }
  for (const p of players) await steer(p, await own(p), 1e9);
  // Bob takes carol down while alice and dave trade a few shots.
  const fire = async (s, t, ms) => {
    await aimAt(s, t);
    await s.page.mouse.down();
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await aimAt(s, t);
      await sleep(50);
    }
    await s.page.mouse.up();
  };
  await Promise.all([fire(bob, carol, 1600), fire(dave, alice, 300), fire(alice, dave, 700)]);
  await alice.page.keyboard.down('KeyW');
  await aimAt(alice, bob);
  await alice.page.mouse.down();
  await sleep(400);
  await alice.page.screenshot({ path: join(OUT, 'arena-1280x720.png') });
  await carol.page.screenshot({ path: join(OUT, 'arena-respawn-1280x720.png') });
  await alice.page.mouse.up();
  await alice.page.keyboard.up('KeyW');
  console.log(`screenshots written to ${OUT}`);
} finally {
  await browser.close();
  await server.stop();
}
