// End to end: the real server binary, two headless Chromium pages in one
// room. One page's avatar moves and both pages see it; it shoots the other
// page's avatar, whose hit points drop, until it goes down: the kill feed,
// the death notice and both scoreboards say so. Each page is
// screenshotted, and neither console shows an error. At 100 ms of round
// trip, the own avatar moves at once and never rubber-bands, and a shot at
// where a moving avatar is drawn hits it (lag compensation).
//
// Needs TICKWIRE_BIN (the release server binary) and Debian's Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { aimToward, inputTiming, latencyProxy, launchChromium, resultPath, startServer, timingSince, until } from './helpers/browser.js';

const VIEWPORT = { width: 1280, height: 720 };

/** Opens the client (with `query`, such as the network lab's), fills the join screen and presses Play. */
async function join(browser, url, name, room, errors, query = '') {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${name}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`${name}: ${e}`));
  await page.goto(`${url}/${query}`);
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

/** The client's view: own avatar id, and the given avatars as this page sees them. */
function view(page) {
  return page.evaluate(() => {
    const t = window.tickwire;
    return { avatarId: t.avatarId, entities: t.entities, predicted: t.predicted, snapshots: t.snapshots };
  });
}

const KEYS = { left: 'KeyA', right: 'KeyD', up: 'KeyW', down: 'KeyS' };

/** Holds the keys that move from `from` toward `to` (releases the others). */
async function steer(page, held, from, to, slack) {
  const want = new Set();
  if (to.x - from.x > slack) want.add('right');
  if (from.x - to.x > slack) want.add('left');
  if (to.y - from.y > slack) want.add('down');
  if (from.y - to.y > slack) want.add('up');
  for (const dir of Object.keys(KEYS)) {
    if (want.has(dir) && !held.has(dir)) await page.keyboard.down(KEYS[dir]);
    if (!want.has(dir) && held.has(dir)) await page.keyboard.up(KEYS[dir]);
  }
  held.clear();
  for (const d of want) held.add(d);
}

async function releaseAll(page, held) {
  for (const dir of held) await page.keyboard.up(KEYS[dir]);
  held.clear();
}

test('two players see each other move, and a shot lowers hit points', { timeout: 120000 }, async () => {
  const server = await startServer(process.env.TICKWIRE_BIN);
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const room = `e2e-${process.pid}`;
    const a = await join(browser, server.url, 'alice', room, errors);
    const b = await join(browser, server.url, 'bob', room, errors);
    const idA = (await view(a)).avatarId;
    const idB = (await view(b)).avatarId;
    assert.notEqual(idA, idB);

    // Bring the two avatars close (spawns are random across the arena, and
    // each player sees only what is near it): both walk toward each other.
    const heldA = new Set();
    const heldB = new Set();
    await until('the avatars to meet', async () => {
      const [va, vb] = [await view(a), await view(b)];
      const pa = va.entities[idA];
      const pb = vb.entities[idB];
      const distance = Math.hypot(pa.x - pb.x, pa.y - pb.y);
      if (distance < 450 && va.entities[idB] && vb.entities[idA]) return true;
      await steer(a, heldA, pa, pb, 150);
      await steer(b, heldB, pb, pa, 150);
      return false;
    }, 45000);
    await releaseAll(a, heldA);
    await releaseAll(b, heldB);
    await new Promise((r) => setTimeout(r, 300));

    // Alice holds a movement key: her avatar moves on her page and on Bob's.
    const before = { onA: (await view(a)).entities[idA], onB: (await view(b)).entities[idA] };
    const key = before.onA.x < 2000 ? 'KeyD' : 'KeyA';
    const sign = key === 'KeyD' ? 1 : -1;
    await a.keyboard.down(key);
    await new Promise((r) => setTimeout(r, 1000));
    await a.keyboard.up(key);
    await new Promise((r) => setTimeout(r, 300));
    const after = { onA: (await view(a)).entities[idA], onB: (await view(b)).entities[idA] };
    const movedOnA = (after.onA.x - before.onA.x) * sign;
    const movedOnB = (after.onB.x - before.onB.x) * sign;
    assert.ok(movedOnA > 100, `alice moved ${movedOnA} units on her page`);
    assert.ok(movedOnB > 100, `alice moved ${movedOnB} units on bob's page`);
    assert.ok(Math.abs(after.onA.x - after.onB.x) < 1, 'both pages agree where she stopped');
    const predicted = (await view(a)).predicted;
    assert.ok(Math.abs(predicted.x - after.onA.x) < 1, 'the prediction agrees with the server at rest');

    // Alice aims at Bob and holds fire until his hit points drop.
    const hpBefore = (await view(b)).entities[idB].hp;
    const aim = () => aimToward(a, idB);
    await aim();
    await a.mouse.down();
    let seen = null;
    const hit = await until('bob to be hit', async () => {
      await aim();
      const hp = (await view(b)).entities[idB].hp;
      seen = await a.evaluate(([ida, idb]) => {
        const t = window.tickwire;
        const e = t.entities;
        return { alice: e[ida], bob: e[idb], drawn: t.drawn, bobOnScreen: e[idb] && t.worldToScreen(e[idb].x, e[idb].y), shots: Object.values(e).filter((x) => x.kind === 'projectile').length };
      }, [idA, idB]);
      return hp < hpBefore ? hp : null;
    }, 15000).catch((error) => {
      throw new Error(`${error.message}; alice's view: ${JSON.stringify(seen)}`);
    });
    await a.mouse.up();
    assert.ok(hit < hpBefore, `bob's hit points fell from ${hpBefore} to ${hit}`);
    await until('alice to see the hit', async () => (await view(a)).entities[idB]?.hp < hpBefore, 3000);

    // Alice fires on until Bob goes down: her page's kill feed says so (the
    // arena's `kill` event), Bob's page says who eliminated him, and both
    // scoreboards give Alice the kill (the avatar's declared score field).
    const feed = (page) => page.evaluate(() => [...document.querySelectorAll('.hud-kill')].map((k) => k.textContent));
    await a.mouse.down();
    await until('bob to go down', async () => {
      await aim();
      return (await feed(a)).includes('alice ✖ bob');
    }, 20000).catch(async (error) => {
      throw new Error(`${error.message}; alice's feed: ${JSON.stringify(await feed(a))}, bob: ${JSON.stringify((await view(b)).entities[idB])}`);
    });
    await a.mouse.up();
    const death = await until('bob to see who eliminated him', () => b.evaluate(() => {
      const notice = document.querySelector('.hud-death');
      return notice && !notice.classList.contains('hidden') && notice.textContent;
    }), 3000);
    assert.match(death, /You were eliminated.*by alice/);
    assert.ok((await feed(b)).includes('alice ✖ bob'), "the kill is in bob's feed too");
    const scores = (page) => page.evaluate(() => Object.fromEntries(window.tickwire.scoreboard.map((e) => [e.name, e.score])));
    for (const page of [a, b]) {
      await until('the scoreboard to give alice the kill', async () => {
        const s = await scores(page);
        return s.alice === 1 && s.bob === 0;
      }, 3000).catch(async (error) => {
        throw new Error(`${error.message}; scoreboard: ${JSON.stringify(await scores(page))}`);
      });
    }

    await a.screenshot({ path: resultPath('e2e-alice.png') });
    await b.screenshot({ path: resultPath('e2e-bob.png') });
    // Both pages list both players, whether or not their avatars are in view.
    for (const page of [a, b]) {
      const names = (await page.evaluate(() => window.tickwire.scoreboard)).map((e) => e.name).sort();
      assert.deepEqual(names, ['alice', 'bob'], 'the scoreboard lists everyone in the room');
    }
    const stats = await a.evaluate(() => window.tickwire.stats);
    assert.ok(stats.snapshotsPerSecond >= 20, `snapshots per second: ${stats.snapshotsPerSecond}`);
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await server.stop();
  }
});

test('at 100 ms round trip the own avatar moves at once and never rubber-bands', { timeout: 60000 }, async (t) => {
  const server = await startServer(process.env.TICKWIRE_BIN);
  const proxy = await latencyProxy(server.url, 50);
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const page = await join(browser, proxy.url, 'remote', `lag-${process.pid}`, errors);
    await until('a ping measurement', () => page.evaluate(() => window.tickwire.stats.pingMs !== null), 5000);
    const start = (await view(page)).entities[(await view(page)).avatarId];
    const key = start.x < 2000 ? 'KeyD' : 'KeyA';
    const sign = key === 'KeyD' ? 1 : -1;
    // Record where the avatar is drawn on every frame while a key is held
    // for a second and a half, and for a moment after it is let go.
    await page.evaluate(() => {
      window.trace = [];
      const record = (t) => {
        const d = window.tickwire.drawn;
        if (d) window.trace.push({ t, x: d.x, y: d.y });
        if (window.trace.length < 1000) requestAnimationFrame(record);
      };
      requestAnimationFrame(record);
    });
    const timingBefore = await inputTiming(server.url);
    await page.keyboard.down(key);
    const pressedAt = await page.evaluate(() => performance.now());
    await new Promise((r) => setTimeout(r, 1500));
    await page.keyboard.up(key);
    await new Promise((r) => setTimeout(r, 600));
    const trace = await page.evaluate(() => window.trace);
    const timing = timingSince(timingBefore, await inputTiming(server.url));
    const ping = await page.evaluate(() => window.tickwire.stats.pingMs);
    assert.ok(ping >= 90, `the proxy makes a round trip of about 100 ms (measured ${ping})`);

    // The avatar starts moving before a round trip has passed: it does not
    // wait for the server.
    const first = trace.find((p) => (p.x - start.x) * sign > 1);
    assert.ok(
      first && first.t - pressedAt < ping,
      `moved ${first ? Math.round(first.t - pressedAt) : 'never'} ms after the key press, round trip ${Math.round(ping)} ms`,
    );
    let back = 0;
    let fastest = 0;
    for (let i = 1; i < trace.length; i++) {
      const dt = Math.max(trace[i].t - trace[i - 1].t, 1000 / 60);
      back = Math.max(back, -(trace[i].x - trace[i - 1].x) * sign);
      fastest = Math.max(fastest, ((trace[i].x - trace[i - 1].x) * sign * 1000) / dt);
    }
    t.diagnostic(
      `ping ${Math.round(ping)} ms, first move ${Math.round(first.t - pressedAt)} ms after the press, ` +
        `${trace.length} frames, largest step back ${back.toFixed(3)} units, fastest ${fastest.toFixed(0)} units/s; ` +
        `server: ${timing.bunched} inputs bunched, ${timing.starved} ticks starved`,
    );
    const slack = mispredicted(timing);
    // Frame to frame: never backwards, no sideways jolts, and no jump: at
    // most what the avatar runs (200 units/s, with slack for uneven frame
    // times) in the frame's time plus one tick, since the prediction steps
    // a tick at a time and a page starved by a busy machine may draw a
    // tick's step in one frame. Over the whole run it is never faster than
    // it runs. (A rubber band would go back, or jump by far more.)
    const tick = 1000 / 30;
    for (let i = 1; i < trace.length; i++) {
      const dt = Math.max(trace[i].t - trace[i - 1].t, 1000 / 60);
      const dx = (trace[i].x - trace[i - 1].x) * sign;
      const dy = trace[i].y - trace[i - 1].y;
      assert.ok(dx > -0.5 - slack.back, `frame ${i} went back ${-dx} units (${slack.why})`);
      assert.ok(dx <= 200 * 1.6 * ((dt + tick) / 1000) + 1 + slack.ahead, `frame ${i} jumped ${dx} units in ${dt} ms (${slack.why})`);
      assert.ok(Math.abs(dy) < 0.5, `frame ${i} moved ${dy} units sideways`);
    }
    const moving = trace.filter((p) => p.t >= first.t);
    const ran = (moving[moving.length - 1].x - first.x) * sign;
    const took = moving[moving.length - 1].t - first.t;
    assert.ok(ran <= 200 * 1.1 * (took / 1000) + 10, `ran ${ran} units in ${took} ms`);
    const end = (await view(page)).entities[(await view(page)).avatarId];
    const last = trace[trace.length - 1];
    assert.ok(Math.abs(last.x - end.x) < 1, `drawn at ${last.x}, the server says ${end.x}`);
    assert.ok((end.x - start.x) * sign > 250, 'it ran about 300 units');
    await page.screenshot({ path: resultPath('e2e-100ms.png') });
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await proxy.close();
    await server.stop();
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * What the own avatar's drawing may be pulled by, given what the server
 * says of the inputs' timing over the run. While the server applied every
 * input in a tick of its own, the prediction is exact: nothing. Each input
 * it applied bunched behind another (a stall on a busy machine, then a
 * burst) is a tick of running (200 units a second: 6.7 units) the page
 * predicted and the server did not run, so the drawing may step back by
 * as much; each tick it ran with no input waiting is a tick it ran that
 * the page did not predict, so it may jump ahead by as much.
 * @param {{bunched: number, starved: number}} timing
 */
function mispredicted(timing) {
  const oneTick = 200 / 30;
  return {
    back: timing.bunched * oneTick,
    ahead: timing.starved * oneTick,
    why: `the server applied ${timing.bunched} inputs bunched and ran ${timing.starved} ticks without one`,
  };
}

test('at 100 ms round trip the own shot leaves the barrel at once and is drawn once', { timeout: 60000 }, async (t) => {
  const server = await startServer(process.env.TICKWIRE_BIN);
  const proxy = await latencyProxy(server.url, 50);
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const page = await join(browser, proxy.url, 'gunner', `shot-${process.pid}`, errors);
    await until('a ping measurement', () => page.evaluate(() => window.tickwire.stats.pingMs !== null), 5000);
    // Aim at the arena's centre, so the shot flies its whole life inside.
    const aim = await page.evaluate(() => {
      const t = window.tickwire;
      const me = t.worldToScreen(t.drawn.x, t.drawn.y);
      const to = t.worldToScreen(2000, 2000);
      const d = Math.hypot(to.x - me.x, to.y - me.y) || 1;
      const r = document.querySelector('canvas').getBoundingClientRect();
      return { x: r.left + me.x + ((to.x - me.x) / d) * 200, y: r.top + me.y + ((to.y - me.y) / d) * 200 };
    });
    await page.mouse.move(aim.x, aim.y);
    await sleep(200);
    // Every frame: the projectiles drawn (the page's own, the others), the
    // server's projectiles in the store, and where the own avatar is drawn.
    await page.evaluate(() => {
      window.shotTrace = [];
      const record = (ts) => {
        const t = window.tickwire;
        const drawn = t.drawnProjectiles;
        const stored = Object.values(t.entities).filter((e) => e.kind === 'projectile').length;
        window.shotTrace.push({ t: ts, own: drawn.filter((p) => p.own), others: drawn.filter((p) => !p.own).length, stored, me: t.drawn });
        if (window.shotTrace.length < 600) requestAnimationFrame(record);
      };
      requestAnimationFrame(record);
    });
    // One click: fire held for about two ticks, one shot (the gun takes
    // eight ticks to cool).
    await page.mouse.down();
    const pressedAt = await page.evaluate(() => performance.now());
    await sleep(60);
    await page.mouse.up();
    await sleep(90);
    await page.screenshot({ path: resultPath('e2e-own-shot.png') });
    await sleep(1200);
    const trace = await page.evaluate(() => window.shotTrace);
    const ping = await page.evaluate(() => window.tickwire.stats.pingMs);
    assert.ok(ping >= 90, `the proxy makes a round trip of about 100 ms (measured ${ping})`);

    const first = trace.find((f) => f.t >= pressedAt && f.own.length > 0);
    assert.ok(first, 'the own shot was drawn');
    t.diagnostic(`the own shot was drawn ${Math.round(first.t - pressedAt)} ms after the click, at a round trip of ${Math.round(ping)} ms`);
    assert.ok(first.t - pressedAt < ping, `drawn ${Math.round(first.t - pressedAt)} ms after the click: it waited for the server (round trip ${Math.round(ping)} ms)`);
    const gap = Math.hypot(first.own[0].x - first.me.x, first.own[0].y - first.me.y);
    assert.ok(gap < 60, `it left from the avatar as drawn (${gap.toFixed(1)} units away)`);
    // The server's projectile arrived, and was never drawn beside it.
    assert.ok(trace.some((f) => f.stored > 0), "the server's projectile reached the page");
    const most = Math.max(...trace.map((f) => f.own.length + f.others));
    assert.equal(most, 1, 'one shot, drawn once in every frame');
    // Matched to the server's: drawn on, past when an unmatched shot is
    // dropped (a round trip and 250 ms), until the server's goes.
    const late = trace.find((f) => f.t > pressedAt + ping + 500);
    assert.ok(late && late.own.length === 1, 'the shot is still drawn half a second after a round trip');
    const end = trace[trace.length - 1];
    assert.equal(end.own.length + end.others, 0, "gone once the server's flew its life");
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await proxy.close();
    await server.stop();
  }
});


/**
 * Walks `page`'s own avatar to within `tolerance` units of `target` on both
 * axes: held keys while far, then taps of about a tick (6.7 units).
 */
async function walkTo(page, target, tolerance, timeoutMs) {
  const held = new Set();
  const where = () => page.evaluate(() => window.tickwire.predicted);
  await until(`the avatar to reach ${Math.round(target.x)},${Math.round(target.y)}`, async () => {
    const p = await where();
    if (!p) return false;
    const dx = target.x - p.x;
    const dy = target.y - p.y;
    if (Math.abs(dx) <= tolerance && Math.abs(dy) <= tolerance) return true;
    if (Math.max(Math.abs(dx), Math.abs(dy)) > 40) {
      await steer(page, held, p, target, 20);
      return false;
    }
    await releaseAll(page, held);
    const keys = [];
    if (dx > tolerance) keys.push(KEYS.right);
    if (dx < -tolerance) keys.push(KEYS.left);
    if (dy > tolerance) keys.push(KEYS.down);
    if (dy < -tolerance) keys.push(KEYS.up);
    for (const k of keys) await page.keyboard.down(k);
    await sleep(25);
    for (const k of keys) await page.keyboard.up(k);
    await sleep(150);
    return false;
  }, timeoutMs, 0);
  await releaseAll(page, held);
}

/**
 * On the shooter's page, in its animation frames: keeps the mouse pointed
 * from the own avatar at where the page draws the avatar `target` (the
 * SDK's interpolator, sampled at the frame's time as `client.frame` does),
 * and once that avatar is drawn running `way` (+1 right, -1 left) within
 * `window` units of straight across the shooter's x, clicks: one shot at
 * where it is drawn. Resolves with what the page drew at the click.
 */
function shootWhereDrawn(page, target, window, way) {
  return page.evaluate(
    ([id, reach, sign]) =>
      new Promise((resolve) => {
        const t = window.tickwire;
        const canvas = document.querySelector('canvas');
        let tracked = 0;
        let previous = null;
        const frame = (ts) => {
          const own = t.drawn;
          const drawn = t.client.interpolator?.sample(ts).get(id);
          if (own && drawn) {
            const bx = drawn.fields.x;
            const by = drawn.fields.y;
            const me = t.worldToScreen(own.x, own.y);
            const to = t.worldToScreen(bx, by);
            const len = Math.hypot(to.x - me.x, to.y - me.y) || 1;
            const r = canvas.getBoundingClientRect();
            const at = {
              clientX: r.left + me.x + ((to.x - me.x) / len) * 150,
              clientY: r.top + me.y + ((to.y - me.y) / len) * 150,
              bubbles: true,
            };
            canvas.dispatchEvent(new MouseEvent('mousemove', at));
            tracked += 1;
            const running = previous !== null && (bx - previous) * sign > 0.5;
            previous = bx;
            if (tracked >= 3 && running && Math.abs(bx - own.x) < reach) {
              canvas.dispatchEvent(new MouseEvent('mousedown', { ...at, button: 0 }));
              setTimeout(() => window.dispatchEvent(new MouseEvent('mouseup', { ...at, button: 0 })), 60);
              resolve({ dx: bx - own.x, dy: by - own.y });
              return;
            }
          }
          requestAnimationFrame(frame);
        };
        requestAnimationFrame(frame);
      }),
    [target, window, way],
  );
}

test('at 100 ms round trip a shot at where a moving avatar is drawn hits it', { timeout: 120000 }, async (t) => {
  // Hit points enough for every try, and a small arena to meet in. A page
  // at 100 ms of round trip shows the others 230 to 270 ms late (the round
  // trip, two ticks of interpolation, and up to a tick each of rounding
  // its drawn moment down and of waiting for the tick that applies its
  // input): past the default max rewind of 200 ms, which would take every
  // such shot as seen 200 ms ago and let it miss by a tick or two of the
  // target's run. The server is told to believe 400 ms: 300 would do, and
  // the rest is room for a busy machine, whose round trip runs longer.
  const dir = mkdtempSync(joinPath(tmpdir(), 'tickwire-lagcomp-'));
  const config = joinPath(dir, 'arena.toml');
  writeFileSync(config, 'max_hp = 1000\n');
  const server = await startServer(process.env.TICKWIRE_BIN, [
    '--config',
    config,
    '--arena-size',
    '1000',
    '--max-rewind-ms',
    '400',
  ]);
  const proxy = await latencyProxy(server.url, 50);
  let browser;
  let patrolling = false;
  let patrol = Promise.resolve();
  const errors = [];
  try {
    browser = await launchChromium();
    const room = `lagcomp-${process.pid}`;
    // The shooter plays at 100 ms of round trip; the target's own lag does
    // not matter (the server has it where it has it).
    const target = await join(browser, server.url, 'target', room, errors);
    const shooter = await join(browser, proxy.url, 'shooter', room, errors);
    const idT = (await view(target)).avatarId;
    await until('a ping measurement', () => shooter.evaluate(() => window.tickwire.stats.pingMs !== null), 5000);

    // The target in the middle; the shooter one projectile step (30 units,
    // a tick of flight) below its path, so that a shot needs no lead for
    // its own flight: what is left to miss by is the lag.
    await walkTo(target, { x: 500, y: 480 }, 10, 30000);
    const home = await target.evaluate(() => window.tickwire.predicted);
    await walkTo(shooter, { x: home.x, y: home.y + 31 }, 3, 30000);
    await sleep(400);
    const gap = (await view(shooter)).entities[(await view(shooter)).avatarId].y - (await view(target)).entities[idT].y;
    assert.ok(gap > 24 && gap < 38, `the shooter stands ${gap} units below the target's path`);

    // The target runs left and right across the shooter's line of fire, at
    // full speed (200 units/s), 60 units either side.
    const x0 = (await shooter.evaluate(() => window.tickwire.predicted)).x;
    patrolling = true;
    patrol = (async () => {
      let key = KEYS.right;
      await target.keyboard.down(key);
      while (patrolling) {
        const p = await target.evaluate(() => window.tickwire.predicted);
        const turn = (key === KEYS.right && p.x >= x0 + 60) || (key === KEYS.left && p.x <= x0 - 60);
        if (turn) {
          await target.keyboard.up(key);
          key = key === KEYS.right ? KEYS.left : KEYS.right;
          await target.keyboard.down(key);
        }
        await sleep(10);
      }
      await target.keyboard.up(key);
    })();
    await sleep(1000);

    const tries = 10;
    const shots = [];
    for (let i = 0; i < tries; i++) {
      const hpBefore = (await view(target)).entities[idT].hp;
      // At the target running right, then left, and so on.
      const way = i % 2 === 0 ? 1 : -1;
      const drawn = await shootWhereDrawn(shooter, idT, 6, way);
      // A tick of flight, the round trip, and margin.
      await sleep(700);
      const hp = (await view(target)).entities[idT].hp;
      shots.push({ ...drawn, running: way > 0 ? 'right' : 'left', hit: hp < hpBefore });
    }
    patrolling = false;
    await patrol;
    const hits = shots.filter((s) => s.hit).length;
    const ping = await shooter.evaluate(() => window.tickwire.stats.pingMs);
    t.diagnostic(
      `${hits} of ${tries} shots hit at a round trip of ${Math.round(ping)} ms; drawn offsets at the click: ` +
        shots.map((s) => `${s.dx.toFixed(1)},${s.dy.toFixed(1)} running ${s.running}${s.hit ? '' : ' (miss)'}`).join('; '),
    );
    assert.ok(ping >= 90, `the proxy makes a round trip of about 100 ms (measured ${ping})`);
    assert.ok(hits >= 9, `${hits} of ${tries} shots at where the target was drawn hit it`);
    await shooter.screenshot({ path: resultPath('e2e-lagcomp.png') });
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    patrolling = false;
    await patrol.catch(() => {});
    await browser?.close();
    await proxy.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("at lag=150, jitter=40 (the SDK's network lab) the own avatar never rubber-bands and the others never jump", { timeout: 90000 }, async (t) => {
  // An arena half a view wide (a view is 2000 units, centred on the
  // avatar): each page sees the other wherever it spawns.
  const server = await startServer(process.env.TICKWIRE_BIN, ['--arena-size', '1000']);
  let browser;
  const errors = [];
  try {
    browser = await launchChromium();
    const room = `lab-${process.pid}`;
    // No proxy: the page's query turns the SDK's lab on, 150 ms each way,
    // give or take 40, in order; the seed makes the delays repeatable.
    const page = await join(browser, server.url, 'laggy', room, errors, '?lag=150&jitter=40&labseed=7');
    const other = await join(browser, server.url, 'other', room, errors);
    const id = (await view(page)).avatarId;
    const otherId = (await view(other)).avatarId;
    await until('each page to see the other', async () => (await view(page)).entities[otherId] && (await view(other)).entities[id], 10000);
    const lab = await page.evaluate(() => window.tickwire.stats.lab);
    assert.deepEqual(
      lab,
      { lagMs: 150, jitterMs: 40, stallMs: 0, stallEveryMs: 10000, stalled: false, text: '+150±40 ms each way' },
      'the stats carry the lab',
    );
    const overlay = await page.evaluate(() => document.querySelector('.hud-net')?.textContent ?? '');
    assert.match(overlay, /lab\+150±40 ms each way/, 'the network overlay shows the lab');
    // The interpolation learns the jitter from the first snapshots (it keeps
    // the last 3 s): let it, then count from here.
    await new Promise((r) => setTimeout(r, 3500));
    const ping = await page.evaluate(() => window.tickwire.stats.pingMs);
    assert.ok(ping >= 2 * (150 - 40), `the lab makes a round trip of about 300 ms (measured ${ping})`);
    const before = await page.evaluate(() => window.tickwire.stats);

    const start = (await view(page)).entities[id];
    const key = start.x < 500 ? 'KeyD' : 'KeyA';
    const sign = key === 'KeyD' ? 1 : -1;
    const otherStart = (await view(other)).entities[otherId];
    const otherKey = otherStart.y < 500 ? 'KeyS' : 'KeyW';
    const otherSign = otherKey === 'KeyS' ? 1 : -1;
    // Record, on the laggy page, where its own avatar and the other one are
    // drawn on every frame, while both hold a key and for a moment after.
    await page.evaluate((remote) => {
      window.trace = [];
      const record = (t) => {
        const own = window.tickwire.drawn;
        const them = window.tickwire.drawnAvatars[remote];
        if (own && them) window.trace.push({ t, x: own.x, y: own.y, ox: them.x, oy: them.y });
        if (window.trace.length < 1000) requestAnimationFrame(record);
      };
      requestAnimationFrame(record);
    }, otherId);
    const timingBefore = await inputTiming(server.url);
    await other.keyboard.down(otherKey);
    await page.keyboard.down(key);
    const pressedAt = await page.evaluate(() => performance.now());
    await new Promise((r) => setTimeout(r, 1500));
    await page.keyboard.up(key);
    await new Promise((r) => setTimeout(r, 500));
    await other.keyboard.up(otherKey);
    await new Promise((r) => setTimeout(r, 1000));
    const trace = await page.evaluate(() => window.trace);
    const after = await page.evaluate(() => window.tickwire.stats);
    const timing = timingSince(timingBefore, await inputTiming(server.url));
    const slack = mispredicted(timing);

    // First the figures, printed whether or not the test passes.
    const tick = 1000 / 30;
    const first = trace.find((p) => (p.x - start.x) * sign > 1);
    let back = 0;
    let otherBack = 0;
    let otherFastest = 0;
    let lateFrames = 0;
    for (let i = 1; i < trace.length; i++) {
      const dt = Math.max(trace[i].t - trace[i - 1].t, 1000 / 60);
      back = Math.max(back, -(trace[i].x - trace[i - 1].x) * sign);
      otherBack = Math.max(otherBack, -(trace[i].oy - trace[i - 1].oy) * otherSign);
      otherFastest = Math.max(otherFastest, ((trace[i].oy - trace[i - 1].oy) * otherSign * 1000) / dt);
      if (trace[i].t - trace[i - 1].t > 50) lateFrames += 1;
    }
    const starved = after.interpolationStarved - before.interpolationStarved;
    // The delay the SDK draws the others with (stats.interpolationMs is how
    // far behind the newest snapshot they are, which moves with each one).
    const delay = await page.evaluate(() => window.tickwire.client.interpolator.delayMs);
    t.diagnostic(
      `ping ${Math.round(ping)} ms, first move ${first ? Math.round(first.t - pressedAt) : '–'} ms after the press, ` +
        `interpolation delay ${Math.round(delay)} ms, ran dry ${starved}× in ${Math.round(trace[trace.length - 1].t - trace[0].t)} ms ` +
        `(${after.interpolationStarved}× since joining), ${trace.length} frames (${lateFrames} over 50 ms), own: largest step back ${back.toFixed(3)}, ` +
        `other: largest step back ${otherBack.toFixed(3)}, fastest ${otherFastest.toFixed(0)} units/s; ` +
        `server: ${timing.bunched} inputs bunched, ${timing.starved} ticks starved`,
    );

    // The own avatar: the bound of the 100 ms test above, at three times
    // the round trip and with jitter.
    assert.ok(
      first && first.t - pressedAt < ping,
      `moved ${first ? Math.round(first.t - pressedAt) : 'never'} ms after the key press, round trip ${Math.round(ping)} ms`,
    );
    for (let i = 1; i < trace.length; i++) {
      const dt = Math.max(trace[i].t - trace[i - 1].t, 1000 / 60);
      const dx = (trace[i].x - trace[i - 1].x) * sign;
      const dy = trace[i].y - trace[i - 1].y;
      assert.ok(dx > -0.5 - slack.back, `frame ${i} went back ${-dx} units (${slack.why})`);
      assert.ok(dx <= 200 * 1.6 * ((dt + tick) / 1000) + 1 + slack.ahead, `frame ${i} jumped ${dx} units in ${dt} ms (${slack.why})`);
      assert.ok(Math.abs(dy) < 0.5, `frame ${i} moved ${dy} units sideways`);
      // The other avatar, interpolated: the same bound, no step back, no
      // sideways jolt.
      const ody = (trace[i].oy - trace[i - 1].oy) * otherSign;
      const odx = trace[i].ox - trace[i - 1].ox;
      assert.ok(ody > -0.5, `frame ${i}: the other avatar went back ${-ody} units`);
      assert.ok(ody <= 200 * 1.6 * ((dt + tick) / 1000) + 1, `frame ${i}: the other avatar jumped ${ody} units in ${dt} ms`);
      assert.ok(Math.abs(odx) < 0.5, `frame ${i}: the other avatar moved ${odx} units sideways`);
    }
    const moving = trace.filter((p) => p.t >= first.t);
    const ran = (moving[moving.length - 1].x - first.x) * sign;
    const took = moving[moving.length - 1].t - first.t;
    assert.ok(ran <= 200 * 1.1 * (took / 1000) + 10, `ran ${ran} units in ${took} ms`);
    const end = (await view(page)).entities[id];
    const last = trace[trace.length - 1];
    assert.ok(Math.abs(last.x - end.x) < 1, `drawn at ${last.x}, the server says ${end.x}`);
    assert.ok((end.x - start.x) * sign > 250, 'it ran about 300 units');
    const otherRan = (last.oy - trace[0].oy) * otherSign;
    assert.ok(otherRan > 300, `the other avatar was seen to run ${otherRan} units`);
    // The others never ran dry: the interpolation always had the next
    // snapshot when it drew. The adaptive delay covers the network's
    // jitter (the SDK's unit test holds it to exactly 0 on the lab's
    // schedule); the count here is exact too (every time the drawn moment
    // passed the newest snapshot). What the network does not explain is
    // the page itself stalling on a busy machine: a frame 50 ms late means
    // the page's timers, which deliver the lab's messages (as the browser
    // delivers a socket's), ran late too. So one time is allowed, and one
    // more for each such frame; both are printed above.
    assert.ok(starved <= 1 + lateFrames, `the interpolation ran dry ${starved} times, with ${lateFrames} frames over 50 ms`);
    // Whether the delay had to grow past its two ticks to get there depends
    // on how late, against the page's smoothed clock, the lab's arrivals
    // came in this run (printed above: 67 ms is two ticks); that it grows
    // to fit the lab's schedule is the SDK's unit test
    // ('under 150 ms of lag and 40 of jitter the delay grows to fit').
    await page.screenshot({ path: resultPath('e2e-lab.png') });
    assert.deepEqual(errors, [], 'no console errors');
  } catch (error) {
    error.message += `\nserver output (tail):\n${server.output.slice(-20).join('')}`;
    throw error;
  } finally {
    await browser?.close();
    await server.stop();
  }
});
