// End to end for the games beyond the arena, each page on the client SDK
// and served by its own game binary: two pages play asteroids (one turns and
// thrusts from the keyboard, the other sees that ship move and turn); the
// starter template's page joins, draws and moves; the SDK's minimal page
// (docs/client-sdk.md) joins a game and draws its entities; and at 100 ms of
// round trip the asteroids page's own ship, drawn with its prediction, never
// steps back while turning and thrusting. No page logs an error. Each test
// writes a screenshot to test-results/.
//
// Needs TICKWIRE_ASTEROIDS_BIN and TICKWIRE_STARTER_BIN (the release game
// binaries: `cargo build --release -p tickwire-asteroids -p
// tickwire-starter`) and Debian's Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_ROOT, gameBinary, inputTiming, latencyProxy, launchChromium, resultPath, startServer, timingSince, until } from './helpers/browser.js';

const VIEWPORT = { width: 1000, height: 640 };
const TAU = Math.PI * 2;
/** A ship's status on the wire: wrecked (the game's WRECKED). */
const WRECKED = 2;
/** A ship's status on the wire: thrusting (the game's THRUSTING). */
const THRUSTING = 1;

const asteroidsBin = () => gameBinary('TICKWIRE_ASTEROIDS_BIN', 'tickwire-asteroids', 'asteroids');
const starterBin = () => gameBinary('TICKWIRE_STARTER_BIN', 'tickwire-starter', 'starter');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens `url` in a new page whose console errors and uncaught exceptions go
 * to `errors`, and waits until `window[handle]` (the page's SDK client) has
 * its own entity.
 */
async function open(browser, url, name, errors, handle = 'tickwire') {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${name}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${name}: ${e}`));
  await page.goto(url);
  await page.waitForFunction((h) => window[h]?.own != null, handle, { timeout: 10000 });
  return page;
}

/** The id of the page's own entity. */
const ownId = (page, handle = 'tickwire') => page.evaluate((h) => window[h].own.id, handle);

/** The fields of entity `id` in the page's entity store (the newest server state), or null. */
const stored = (page, id, handle = 'tickwire') =>
  page.evaluate(([h, i]) => window[h].entities.get(i)?.fields ?? null, [handle, id]);

/** Shortest signed angle from `a` to `b`. */
function angleDelta(a, b) {
  let d = (b - a) % TAU;
  if (d > Math.PI) d -= TAU;
  else if (d <= -Math.PI) d += TAU;
  return d;
}

/** The shortest way from `a` to `b` on a field of side `side` that wraps around. */
function wrapDelta(a, b, side) {
  const d = b - a;
  return d - Math.round(d / side) * side;
}

/** A CSS colour `#rrggbb` as [r, g, b]. */
const hex = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));

/** `hsl(h s% l%)` as [r, g, b], as the browser rounds it. */
function hsl(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** Whether two colours are within `slack` in every channel. */
const near = (c, want, slack = 6) => want.every((v, i) => Math.abs(c[i] - v) <= slack);

/** How many pixels of the page's canvas are within a few levels of each colour. */
function countColours(page, colours) {
  return page.evaluate((wanted) => {
    const canvas = document.querySelector('canvas');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    const counts = wanted.map(() => 0);
    for (let i = 0; i < data.length; i += 4) {
      for (const [k, [r, g, b]] of wanted.entries()) {
        if (Math.abs(data[i] - r) <= 6 && Math.abs(data[i + 1] - g) <= 6 && Math.abs(data[i + 2] - b) <= 6 && data[i + 3] > 0) {
          counts[k] += 1;
        }
      }
    }
    return counts;
  }, colours);
}

/** The colour of the page's canvas at (x, y) in CSS pixels: [r, g, b, a]. */
function pixel(page, x, y) {
  return page.evaluate(([px, py]) => {
    const canvas = document.querySelector('canvas');
    const dpr = canvas.width / canvas.clientWidth;
    return [...canvas.getContext('2d').getImageData(Math.round(px * dpr), Math.round(py * dpr), 1, 1).data];
  }, [x, y]);
}

/** A temporary folder, removed by the returned function. */
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tickwire-games-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * One quantization step of the own ship's row, from the page's schema:
 * `step` of its position, `angleStep` of its heading; and the field's side.
 */
function shipSteps(page) {
  return page.evaluate(() => {
    const c = window.tickwire;
    const fields = c.welcome.schema.kind(c.own.kindId).fields;
    const quant = (name) => fields.find((f) => f.name === name).quant;
    return { step: 1 / quant('x').scale, angleStep: (2 * Math.PI) / quant('heading').steps, side: c.welcome.constants.field_size };
  });
}

/** Writes an asteroids config (TOML) into `dir` and returns the `--config` arguments. */
function asteroidsConfig(dir, settings) {
  const file = join(dir, 'asteroids.toml');
  writeFileSync(file, Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  return ['--config', file];
}

test('two pages play asteroids: one turns and thrusts from the keyboard, the other sees it move and turn', { timeout: 90000 }, async () => {
  const bin = asteroidsBin();
  const temp = tempDir();
  // A small field all in view, without rocks: the ships meet, and neither
  // crashes while the test watches.
  const server = await startServer(bin, asteroidsConfig(temp.dir, { field_size: '1000.0', view_size: '2400.0', min_asteroids: 0 }));
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const room = `asteroids-${process.pid}`;
    const a = await open(browser, `${server.url}/?name=ann&room=${room}`, 'ann', errors);
    const b = await open(browser, `${server.url}/?name=bo&room=${room}`, 'bo', errors);
    const idA = await ownId(a);
    assert.notEqual(idA, await ownId(b));
    // A ship starts wrecked for a tick, then comes back at a random spot.
    const seen = await until('ann\'s ship, flying, on bo\'s page', async () => {
      const f = await stored(b, idA);
      return f && f.status !== WRECKED ? f : null;
    }, 10000);
    assert.equal(seen.vx, 0);
    assert.equal(seen.vy, 0);

    // Ann turns right, then thrusts and fires, through real key presses;
    // bo's entity store is sampled meanwhile.
    const samples = [seen];
    const hold = async (ms) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        samples.push(await stored(b, idA));
        await sleep(50);
      }
    };
    await a.keyboard.down('ArrowRight');
    await hold(500);
    await a.keyboard.up('ArrowRight');
    await a.keyboard.down('ArrowUp');
    await a.keyboard.down('Space');
    await hold(800);
    await a.screenshot({ path: resultPath('games-asteroids-ann.png') });
    await a.keyboard.up('Space');
    await a.keyboard.up('ArrowUp');
    await hold(300);
    const { angleStep, side } = await shipSteps(b);
    let turned = 0;
    let path = 0;
    for (let i = 1; i < samples.length; i++) {
      const [p, q] = [samples[i - 1], samples[i]];
      turned += angleDelta(p.heading, q.heading);
      path += Math.hypot(wrapDelta(p.x, q.x, side), wrapDelta(p.y, q.y, side));
    }
    const last = samples[samples.length - 1];
    // About 4 rad/s for half a second; then 400 units/s² for 0.8 s, along
    // the heading it turned to, and a coast.
    assert.ok(turned > 1, `on bo's page ann's ship turned ${turned.toFixed(2)} rad to the right`);
    assert.ok(path > 100, `on bo's page ann's ship flew ${path.toFixed(0)} units`);
    const speed = Math.hypot(last.vx, last.vy);
    assert.ok(speed > 150, `on bo's page ann's ship coasts at ${speed.toFixed(0)} units/s`);
    const facing = (last.vx * Math.cos(last.heading) + last.vy * Math.sin(last.heading)) / speed;
    assert.ok(facing > 0.99, `it flies the way it faces (cosine ${facing})`);
    assert.ok(samples.some((s) => s.status === THRUSTING), 'bo saw ann\'s thrust');
    assert.ok(samples.every((s) => s.status !== WRECKED), 'ann\'s ship never crashed');
    // Ann's own page draws her ship turned the same way (her prediction and
    // the server's heading agree to their quantization).
    const drawn = await a.evaluate(() => window.drawnShip);
    const off = Math.abs(angleDelta(drawn.heading, last.heading));
    assert.ok(off <= angleStep, `ann draws her heading at ${drawn.heading}, bo sees ${last.heading}`);
    // Ann's page draws her ship (at the centre, in her colour).
    const [mine] = await countColours(a, [hex('#ff6b8b')]);
    assert.ok(mine >= 10, `${mine} pixels of ann's ship colour on her page`);

    await b.screenshot({ path: resultPath('games-asteroids-bo.png') });
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await server.stop();
    temp.remove();
  }
});

test('the starter template\'s page joins, draws and moves its runner', { timeout: 60000 }, async () => {
  const server = await startServer(starterBin());
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const page = await open(browser, `${server.url}/?name=ann&room=starter-${process.pid}`, 'ann', errors);
    const id = await ownId(page);
    // Gems and the own runner, in their colours, where the store says.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const ownColour = hex('#ef476f');
    const gemColour = hex('#ffd166');
    const [runnerPixels, gemPixels] = await countColours(page, [ownColour, gemColour]);
    assert.ok(runnerPixels >= 50, `${runnerPixels} pixels of the own runner's colour`);
    assert.ok(gemPixels >= 200, `${gemPixels} pixels of gem colour`);
    const screen = await page.evaluate((i) => {
      const t = window.tickwire;
      const { x, y } = t.entities.get(i).fields;
      const side = t.welcome.constants.field_size;
      const canvas = document.querySelector('canvas');
      const scale = Math.min(canvas.clientWidth, canvas.clientHeight) / side;
      return { x: (canvas.clientWidth - side * scale) / 2 + x * scale, y: (canvas.clientHeight - side * scale) / 2 + y * scale, side, fx: x };
    }, id);
    const at = await pixel(page, screen.x, screen.y);
    assert.ok(near(at, ownColour), `the own runner's colour where it is: ${at}`);

    // The arrow keys move it, toward the middle of the field.
    const key = screen.fx < screen.side / 2 ? 'ArrowRight' : 'ArrowLeft';
    const sign = key === 'ArrowRight' ? 1 : -1;
    await page.keyboard.down(key);
    await sleep(600);
    await page.keyboard.up(key);
    const moved = await until('the runner to move', async () => {
      const d = ((await stored(page, id)).x - screen.fx) * sign;
      return d > 60 ? d : null;
    }, 5000);
    assert.ok(moved > 60, `ran ${moved} units`);
    await page.screenshot({ path: resultPath('games-starter.png') });
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await server.stop();
  }
});

test('the minimal page of the SDK guide joins a game and draws its entities', { timeout: 60000 }, async () => {
  // The page is the game's whole client: served at / from a folder that
  // holds only it (`--client-dir`), the SDK at /sdk/ by the game binary.
  // The starter's gems stand still, so where each is drawn can be checked;
  // a 300-unit field is in view from anywhere on it, so every gem is.
  const bin = starterBin();
  const temp = tempDir();
  copyFileSync(join(CLIENT_ROOT, 'sdk', 'examples', 'minimal.html'), join(temp.dir, 'index.html'));
  const config = join(temp.dir, 'starter.toml');
  writeFileSync(config, 'field_size = 300.0\ngems = 20\n');
  const server = await startServer(bin, ['--client-dir', temp.dir, '--config', config]);
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const page = await open(browser, `${server.url}/?name=min&room=minimal-${process.pid}`, 'min', errors, 'client');
    const status = await until('the status line', async () => {
      const text = await page.textContent('#status');
      return /^connected · starter in room minimal-\d+ · \d+ entities/.test(text) ? text : null;
    }, 5000);
    assert.ok(Number(status.match(/(\d+) entities/)[1]) > 1, status);
    // The field settles once the runner has collected what it landed on;
    // the page draws a little behind the newest state, so the state is
    // read when two reads half a second apart agree.
    const read = () => page.evaluate(() => {
      const c = window.client;
      return JSON.stringify({
        own: c.own.id,
        entities: [...c.entities.values()].map((e) => ({ id: e.id, kindId: e.kindId, x: e.fields.x, y: e.fields.y })),
      });
    });
    let last = await read();
    const view = JSON.parse(await until('a settled field', async () => {
      const now = await read();
      const settled = now === last;
      last = now;
      return settled ? now : null;
    }, 10000, 500));
    // Every entity a dot in its kind's colour (hsl(kindId * 137 70% 60%)),
    // one unit to a pixel, the own entity in the middle, drawn with its
    // label over whatever lies beneath.
    const colour = (kindId) => hsl((kindId * 137) % 360, 0.7, 0.6);
    const me = view.entities.find((e) => e.id === view.own);
    const centre = await pixel(page, VIEWPORT.width / 2, VIEWPORT.height / 2);
    assert.ok(near(centre, colour(me.kindId)), `the own entity's dot in the middle: ${centre}`);
    const underOwn = (dx, dy) => Math.hypot(dx, dy) <= 9 || (dx >= 7 && dx <= 60 && Math.abs(dy) <= 10);
    let checked = 0;
    let covered = 0;
    for (const e of view.entities) {
      if (e.id === view.own) continue;
      const dx = e.x - me.x;
      const dy = e.y - me.y;
      if (underOwn(dx, dy)) {
        covered += 1;
        continue;
      }
      const x = VIEWPORT.width / 2 + dx;
      const y = VIEWPORT.height / 2 + dy;
      assert.ok(x >= 10 && y >= 30 && x <= VIEWPORT.width - 10 && y <= VIEWPORT.height - 10, `entity ${e.id} in view at (${x}, ${y})`);
      const at = await pixel(page, x, y);
      assert.ok(near(at, colour(e.kindId)), `entity ${e.id} (kind ${e.kindId}) at (${x}, ${y}): ${at}`);
      checked += 1;
    }
    assert.equal(checked + covered, 20, 'the 20 gems all in the state');
    assert.ok(checked >= 15, `${checked} gems checked, ${covered} under the own runner`);
    await page.screenshot({ path: resultPath('games-minimal.png') });
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await server.stop();
    temp.remove();
  }
});

test('at 100 ms round trip the own ship never steps back while turning and thrusting', { timeout: 60000 }, async (t) => {
  const bin = asteroidsBin();
  const temp = tempDir();
  // No rocks: nothing to crash into.
  const server = await startServer(bin, asteroidsConfig(temp.dir, { min_asteroids: 0 }));
  const proxy = await latencyProxy(server.url, 50);
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const page = await open(browser, `${proxy.url}/?name=far&room=lag-${process.pid}`, 'far', errors);
    await until('a ping measurement, and the ship flying', () => page.evaluate(
      () => window.tickwire.stats.pingMs !== null && window.drawnShip !== null && window.tickwire.own.fields.status !== 2,
    ), 10000);
    const { step, angleStep, side } = await shipSteps(page);
    // Record the ship as drawn on every frame while it turns right and
    // thrusts, flies straight on, and turns and thrusts again, and for a
    // moment after.
    await page.evaluate(() => {
      window.trace = [];
      const record = (time) => {
        const d = window.drawnShip;
        if (d) window.trace.push({ t: time, x: d.x, y: d.y, heading: d.heading, vx: d.vx, vy: d.vy, status: d.status });
        if (!window.traceDone) requestAnimationFrame(record);
      };
      requestAnimationFrame(record);
    });
    const timingBefore = await inputTiming(server.url);
    await page.keyboard.down('ArrowUp');
    await page.keyboard.down('ArrowRight');
    const pressedAt = await page.evaluate(() => performance.now());
    await sleep(1500);
    await page.keyboard.up('ArrowRight');
    await sleep(1000);
    await page.keyboard.down('ArrowRight');
    await sleep(1000);
    await page.keyboard.up('ArrowRight');
    await page.keyboard.up('ArrowUp');
    await sleep(400);
    const trace = await page.evaluate(() => {
      window.traceDone = true;
      return window.trace;
    });
    const timing = timingSince(timingBefore, await inputTiming(server.url));
    const ping = await page.evaluate(() => window.tickwire.stats.pingMs);
    assert.ok(ping >= 90, `the proxy makes a round trip of about 100 ms (measured ${ping})`);
    assert.ok(trace.every((p) => p.status !== 2), 'the ship never crashed');
    // While the server applied every input in a tick of its own, the
    // prediction is exact. Each input it applied bunched behind another (a
    // stall on a busy machine, then a burst) is a tick of flight and turn
    // the page predicted and the server did not run: the drawing may step
    // back by as much.
    const { turnRate, maxSpeed } = await page.evaluate(() => ({
      turnRate: window.tickwire.welcome.constants.turn_rate,
      maxSpeed: window.tickwire.welcome.constants.max_speed,
    }));
    const backSlack = (timing.bunched * maxSpeed) / 30;
    const turnSlack = (timing.bunched * turnRate) / 30;
    const why = `the server applied ${timing.bunched} inputs bunched and ran ${timing.starved} ticks without one`;

    // It turns before a round trip has passed: it does not wait for the server.
    const first = trace.find((p) => Math.abs(angleDelta(trace[0].heading, p.heading)) > 0.01);
    assert.ok(
      first && first.t - pressedAt < ping,
      `turned ${first ? Math.round(first.t - pressedAt) : 'never'} ms after the key press, round trip ${Math.round(ping)} ms`,
    );
    // Frame to frame, along the direction it flies (its drawn velocity) it
    // never goes back more than one position step, and its heading never
    // turns back against the turn more than one angle step.
    let back = 0;
    let turnedBack = 0;
    let turned = 0;
    let path = 0;
    for (let i = 1; i < trace.length; i++) {
      const [p, q] = [trace[i - 1], trace[i]];
      const dx = wrapDelta(p.x, q.x, side);
      const dy = wrapDelta(p.y, q.y, side);
      const [ux, uy] = [p.vx + q.vx, p.vy + q.vy];
      const speed = Math.hypot(ux, uy);
      const along = speed > 0 ? (dx * ux + dy * uy) / speed : 0;
      const dh = angleDelta(p.heading, q.heading);
      back = Math.max(back, -along);
      turnedBack = Math.max(turnedBack, -dh);
      turned += dh;
      path += Math.hypot(dx, dy);
      assert.ok(along >= -step - backSlack, `frame ${i} went back ${-along} units along its flight (one step is ${step}; ${why}): ${JSON.stringify([p, q])}`);
      assert.ok(dh >= -angleStep - turnSlack, `frame ${i} turned back ${-dh} rad (one step is ${angleStep}; ${why}): ${JSON.stringify([p, q])}`);
    }
    t.diagnostic(
      `ping ${Math.round(ping)} ms, first turn ${Math.round(first.t - pressedAt)} ms after the press, ${trace.length} frames, turned ${turned.toFixed(2)} rad over ${path.toFixed(0)} units; ` +
        `largest step back ${back.toFixed(4)} units, largest turn back ${turnedBack.toFixed(5)} rad; ${why}`,
    );
    // And it did turn and fly: some 4 rad/s for 2.5 s; turning while it
    // thrusts it loops at up to 200 units/s, and straight on it speeds up.
    assert.ok(turned > 6, `turned ${turned} rad`);
    assert.ok(path > 400, `flew ${path} units`);
    await page.screenshot({ path: resultPath('games-asteroids-100ms.png') });
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await proxy.close();
    await server.stop();
    temp.remove();
  }
});
