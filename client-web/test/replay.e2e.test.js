// End to end for the replay viewer (`tickwire replay FILE --serve`): a
// match of the arena played by swarm bots is recorded by the real server,
// then opened in the viewer in headless Chromium, drawn by the arena's own
// page in the viewer's frame.
//
// - Seeking to the middle shows the recorded state: the viewer's state hash
//   of the shown tick is the one in the record, and the arena page holds
//   exactly the entities the viewer lists for that tick.
// - Following a player shows that player's view: the arena page is
//   welcomed as that player, holds as many entities as the replication
//   core measured for it, all inside the view rectangle the panel shows,
//   and they are the match's entities inside that rectangle.
// - Play, pause and step move the page on tick by tick.
// - A copy of the record with one input changed shows the divergence at
//   that tick on the timeline, with the recorded and the replayed hash,
//   as the `replay` subcommand names it.
// No page logs an error. Screenshots go to test-results/.
//
// Needs TICKWIRE_BIN and TICKWIRE_SWARM_BIN (release builds: `cargo build
// --release -p tickwire -p tickwire-swarm`) and Debian's Chromium.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gameBinary, launchChromium, resultPath, startServer } from './helpers/browser.js';

const VIEWPORT = { width: 1400, height: 860 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const serverBin = () => gameBinary('TICKWIRE_BIN', 'tickwire', 'tickwire');
const swarmBin = () => gameBinary('TICKWIRE_SWARM_BIN', 'tickwire-swarm', 'tickwire-swarm');

/**
 * Records one arena match of eight swarm bots (random inputs) for about
 * four seconds, in an arena bigger than a player's view. Returns the
 * record's path and its lines.
 */
async function recordMatch(dir) {
  const server = await startServer(serverBin(), ['--record', dir, '--arena-size', '1800', '--view-size', '1000']);
  try {
    const ws = server.url.replace('http://', 'ws://') + '/ws';
    const swarm = spawnSync(
      swarmBin(),
      [
        ...['--url', ws, '--bots', '8', '--room-size', '8', '--room-prefix', 'match'],
        ...['--duration', '3s', '--warmup', '1s', '--behaviour', 'random', '--quiet'],
        // Bots to play, not to measure: no verdict on rates.
        ...['--min-snapshot-rate', '0', '--max-gap-p99-ms', '1000000'],
      ],
      { encoding: 'utf8', timeout: 60000 },
    );
    assert.equal(swarm.status, 0, `the swarm failed:\n${swarm.stdout}\n${swarm.stderr}`);
  } finally {
    // SIGTERM: the rooms close and their records are flushed.
    await server.stop();
  }
  const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  assert.equal(files.length, 1, `one record: ${files}`);
  const path = join(dir, files[0]);
  const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  return { path, header: lines[0], ticks: lines.slice(1) };
}

/**
 * Starts `tickwire replay FILE --serve` on a free port; resolves with its
 * URL (read from its output) and a stop function.
 */
async function startViewer(file, extra = []) {
  const child = spawn(serverBin(), ['replay', file, '--serve', '--listen', '127.0.0.1:0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  let exited = false;
  const exit = new Promise((ok) => child.once('exit', () => ok((exited = true))));
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`the viewer printed no URL:\n${output.join('')}`)), 30000);
    const read = (chunk) => {
      output.push(chunk.toString());
      const m = output.join('').match(/open (http:\/\/\S+\/viewer\/)/);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', (c) => output.push(c.toString()));
    child.once('exit', () => fail(new Error(`the viewer exited:\n${output.join('')}`)));
  });
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exit;
    clearTimeout(timer);
  };
  return { url, output, stop, exitCode: () => child.exitCode };
}

/** Opens the viewer at `url` and waits for its first frame; errors collect in `errors`. */
async function openViewer(browser, url, errors) {
  const context = await browser.newContext({ viewport: VIEWPORT });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.location()?.url ?? ''}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e}`));
  await page.goto(url);
  await page.waitForFunction(() => window.viewer?.match && window.viewer.frame, null, { timeout: 15000 });
  // The arena's own page, in the frame, connected to the viewer.
  const game = await gameFrame(page);
  await game.waitForFunction(() => window.tickwire?.connected, null, { timeout: 15000 });
  return { page, game };
}

/** The frame holding the game's page. */
async function gameFrame(page) {
  for (let i = 0; i < 100; i++) {
    const frame = page.frames().find((f) => f !== page.mainFrame() && new URL(f.url()).pathname === '/');
    if (frame) return frame;
    await sleep(100);
  }
  throw new Error('no game page in the viewer');
}

/** Waits for a viewer frame that `pred` (a function source over `f`) accepts; returns it. */
async function frameWhere(page, pred, arg) {
  await page.waitForFunction(([src, a]) => new Function('f', 'a', `return ${src}`)(window.viewer.frame, a), [pred, arg], { timeout: 15000 });
  return page.evaluate(() => window.viewer.frame);
}

/** What the arena page holds: whom it watches and that player's avatar, its tick, its entities. */
function held(game) {
  return game.evaluate(() => ({
    spectator: window.tickwire.client.spectating,
    following: window.tickwire.client.following,
    avatar: window.tickwire.avatarId,
    tick: window.tickwire.tick,
    entities: window.tickwire.entities,
  }));
}

/** Waits until the arena page shows `tick`. */
async function pageAt(game, tick) {
  await game.waitForFunction((t) => window.tickwire.tick === t, tick, { timeout: 15000 });
  return held(game);
}

const CLOSE = 1e-9;

test('the viewer plays a recorded swarm match with the arena\'s own page: seek, point of view, play, step, and a changed input as a divergence', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tickwire-replay-'));
  const browser = await launchChromium();
  const errors = [];
  const viewers = [];
  try {
    const record = await recordMatch(dir);
    const ticks = record.ticks.length;
    assert.ok(ticks >= 90, `a match of ${ticks} ticks`);
    assert.equal(record.header.game, 'arena');

    const viewer = await startViewer(record.path, ['--keyframe-seconds', '1']);
    viewers.push(viewer);
    assert.match(viewer.output.join(''), /all \d+ ticks' state hashes are equal/);
    const { page, game } = await openViewer(browser, viewer.url, errors);
    const match = await page.evaluate(() => window.viewer.match);
    assert.equal(match.ticks, ticks);
    assert.equal(match.divergentTicks, 0);
    assert.equal(match.players.length, 8);
    assert.deepEqual(match.keyframes.slice(0, 3), [0, 30, 60]);

    // Seek to the middle: the shown tick's hash is the recorded one, and
    // the arena page holds exactly the entities the viewer lists.
    const middle = Math.floor(ticks / 2);
    await page.evaluate((t) => window.viewer.send({ op: 'seek', tick: t }), middle);
    const everyone = await frameWhere(page, 'f.tick === a && !f.playing && f.entities !== null', middle);
    assert.equal(everyone.hash, rawHash(record.path, middle));
    assert.equal(everyone.recorded, everyone.hash);
    assert.equal(everyone.diverged, false);
    assert.equal(everyone.follow, null);
    const shown = await pageAt(game, middle);
    assert.equal(shown.spectator, true, 'the page watches');
    assert.equal(shown.following, null, 'everyone: no one followed');
    sameEntities(shown.entities, everyone.entities);
    assert.ok(everyone.entities.length >= 6, `${everyone.entities.length} entities`);
    assert.equal(await page.textContent('#tick'), String(middle));
    assert.match(await page.textContent('#hash-check'), /equal/);

    // Follow the player who sees the most of the match, but not all of it.
    const candidates = everyone.players.filter((p) => p.avatar !== null);
    let best = null;
    for (const p of candidates) {
      await page.evaluate((id) => window.viewer.send({ op: 'follow', player: id }), p.id);
      const f = await frameWhere(page, 'f.follow === a && f.tick === ' + middle, p.id);
      const held = f.pov.figures.held;
      if (held < everyone.entities.length && (!best || held > best.frame.pov.figures.held)) best = { player: p, frame: f };
    }
    assert.ok(best, 'a player whose view leaves some of the match out');
    await page.evaluate((id) => window.viewer.send({ op: 'follow', player: id }), best.player.id);
    const pov = await frameWhere(page, 'f.follow === a && f.tick === ' + middle, best.player.id);
    const view = pov.pov.view;
    // The square of --view-size around the avatar (f32 corners: a side may
    // come out a rounding short).
    assert.ok(view && Math.abs(view.width - 1000) < 0.01 && Math.abs(view.height - 1000) < 0.01, `a view of 1000 units: ${JSON.stringify(view)}`);
    await game.waitForFunction((p) => window.tickwire.client.following === p, best.player.id, { timeout: 15000 });
    const seen = await pageAt(game, middle);
    assert.equal(seen.avatar, best.player.avatar, 'the page controls the followed avatar');
    const seenIds = Object.keys(seen.entities).map(Number).sort((a, b) => a - b);
    assert.equal(seenIds.length, pov.pov.figures.held, 'as many as the core measured for the player');
    // Exactly the match's entities inside the view (edges included; the
    // page holds quantized positions, so allow a quantization step).
    const inside = (e) => e.fields.x >= view.x - 0.1 && e.fields.x <= view.x + view.width + 0.1 && e.fields.y >= view.y - 0.1 && e.fields.y <= view.y + view.height + 0.1;
    const expected = everyone.entities.filter(inside).map((e) => e.id);
    assert.deepEqual(seenIds, expected);
    assert.ok(seenIds.length < everyone.entities.length, 'the view leaves some of the match out');
    assert.equal(await page.textContent('#pov-held'), String(pov.pov.figures.held));
    assert.match(await page.textContent('#pov-bytes'), new RegExp(`^${pov.pov.figures.bytes} bytes`));
    assert.match(await page.textContent('#pov-view'), new RegExp(`\\(1000 × 1000\\)`));
    await sleep(300);
    await page.screenshot({ path: resultPath('replay-viewer-pov.png') });

    // Play: the page is sent the following ticks; pause; step on and back.
    await page.evaluate(() => window.viewer.send({ op: 'play' }));
    await frameWhere(page, 'f.playing && f.tick >= a', middle + 10);
    await game.waitForFunction((t) => window.tickwire.tick >= t, middle + 10, { timeout: 15000 });
    await page.evaluate(() => window.viewer.send({ op: 'pause' }));
    const paused = await frameWhere(page, '!f.playing', null);
    await page.evaluate(() => window.viewer.send({ op: 'step', by: 1 }));
    await frameWhere(page, 'f.tick === a', paused.tick + 1);
    await pageAt(game, paused.tick + 1);
    await page.keyboard.press(',');
    await frameWhere(page, 'f.tick === a', paused.tick);
    await pageAt(game, paused.tick);
    // The URL links to what is shown.
    const link = new URL(page.url());
    assert.equal(link.searchParams.get('tick'), String(paused.tick));
    assert.equal(link.searchParams.get('player'), String(best.player.id));

    // A deep link opens on its tick and player.
    const { page: linked, game: linkedGame } = await openViewer(browser, `${viewer.url}?tick=${middle}&player=${best.player.id}`, errors);
    await frameWhere(linked, 'f.tick === a && f.follow !== null', middle);
    await linkedGame.waitForFunction((p) => window.tickwire.client.following === p, best.player.id, { timeout: 15000 });
    // The arena's own watch keys switch whom the viewer follows.
    await linkedGame.focus('canvas');
    await linked.keyboard.press('Tab');
    const switched = await frameWhere(linked, 'f.follow !== null && f.follow !== a', best.player.id);
    await linkedGame.waitForFunction((p) => window.tickwire.client.following === p, switched.follow, { timeout: 15000 });
    await linked.close();

    // The record with one input changed: the divergence at that tick.
    const changed = record.ticks.findIndex((t, i) => i >= middle - 1 && t.c.some((c) => c.i)) + 1;
    assert.ok(changed >= middle, 'an input after the middle');
    const edited = editInput(record.path, changed);
    const verdict = spawnSync(serverBin(), ['replay', edited], { encoding: 'utf8' });
    assert.equal(verdict.status, 1, verdict.stdout + verdict.stderr);
    assert.match(verdict.stdout, new RegExp(`tick ${changed} diverges`));
    const second = await startViewer(edited, ['--keyframe-seconds', '1']);
    viewers.push(second);
    assert.match(second.output.join(''), new RegExp(`tick ${changed} diverges`));
    const { page: diverged } = await openViewer(browser, second.url, errors);
    const m = await diverged.evaluate(() => window.viewer.match);
    assert.equal(m.divergences[0].tick, changed);
    assert.equal(m.divergences[0].recorded, rawHash(edited, changed));
    assert.notEqual(m.divergences[0].replayed, m.divergences[0].recorded);
    // Marked on the timeline, at its place, titled with both hashes.
    const marker = await diverged.$(`#markers .divergence[data-tick="${changed}"]`);
    assert.ok(marker, 'a divergence marker at the changed tick');
    const title = await marker.getAttribute('title');
    assert.ok(title.includes(m.divergences[0].recorded) && title.includes(m.divergences[0].replayed), title);
    const box = await diverged.$eval('#timeline', (el) => el.getBoundingClientRect().toJSON());
    const at = await marker.evaluate((el) => el.getBoundingClientRect().toJSON());
    const expectedX = box.x + (changed / m.ticks) * box.width;
    assert.ok(Math.abs(at.x + at.width / 2 - expectedX) < 3, `marker at ${at.x}, expected about ${expectedX}`);
    // Nothing marked before it.
    const firstMarked = await diverged.$$eval('#markers .divergence', (els) => Math.min(...els.map((e) => Number(e.dataset.tick))));
    assert.equal(firstMarked, changed);
    assert.match(await diverged.textContent('#divergence-note'), new RegExp(`Tick ${changed} diverges`));
    // Seeking there shows both hashes, different.
    await diverged.evaluate((t) => window.viewer.send({ op: 'seek', tick: t }), changed);
    const there = await frameWhere(diverged, 'f.tick === a', changed);
    assert.equal(there.diverged, true);
    assert.equal(there.recorded, rawHash(edited, changed));
    assert.match(await diverged.textContent('#hash-check'), /diverged/);
    await diverged.evaluate((t) => window.viewer.send({ op: 'seek', tick: t }), changed - 1);
    const prior = await frameWhere(diverged, 'f.tick === a', changed - 1);
    assert.equal(prior.diverged, false, 'the tick before replays equal');
    await diverged.evaluate((t) => window.viewer.send({ op: 'seek', tick: t }), changed);
    await frameWhere(diverged, 'f.tick === a', changed);
    await sleep(300);
    await diverged.screenshot({ path: resultPath('replay-viewer-divergence.png') });

    assert.deepEqual(errors, [], 'console errors');
  } finally {
    await browser.close();
    for (const v of viewers) await v.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * The recorded state hash of `tick` in the record at `path`, as written
 * (a u64: beyond what a JSON number holds exactly, so read from the text).
 */
function rawHash(path, tick) {
  const line = readFileSync(path, 'utf8').split('\n')[tick];
  const m = line.match(/"h":(\d+)/);
  assert.ok(m, `tick ${tick} has a hash`);
  return m[1];
}

/**
 * Writes a copy of the record whose first input at `tick` aims elsewhere
 * (the avatar keeps its latest input, so the state differs from that
 * tick on); returns its path. Only that line changes, textually.
 */
function editInput(path, tick) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const line = lines[tick];
  // An input is [player, seq, values] and, with lag compensation, the
  // tick its client showed after them.
  const edited = line.replace(/\{"i":\[(\d+),(\d+),\[([-\d,]*)\]((?:,\d+)?)\]\}/, (_, player, seq, values, view) => {
    const v = values === '' ? [] : values.split(',').map(Number);
    while (v.length < 3) v.push(0);
    v[2] = (v[2] + 20000) % 65536;
    return `{"i":[${player},${seq},[${v.join(',')}]${view}]}`;
  });
  assert.notEqual(edited, line, 'an input was changed');
  lines[tick] = edited;
  const out = path.replace(/\.jsonl$/, '-edited.jsonl');
  writeFileSync(out, lines.join('\n'));
  return out;
}

/**
 * The arena page's entities (id -> {kind, ...fields}) are exactly the
 * viewer's list (de-quantized the same way).
 */
function sameEntities(pageEntities, listed) {
  const ids = Object.keys(pageEntities).map(Number).sort((a, b) => a - b);
  assert.deepEqual(ids, listed.map((e) => e.id));
  for (const e of listed) {
    const p = pageEntities[e.id];
    assert.equal(p.kind, e.kind, `entity ${e.id}`);
    for (const [name, value] of Object.entries(e.fields)) {
      assert.ok(Math.abs(p[name] - value) < CLOSE, `entity ${e.id} ${name}: page ${p[name]}, viewer ${value}`);
    }
  }
}
