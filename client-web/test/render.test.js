// Rendering and HUD in headless Chromium, on a made-up scene: the canvas is
// sharp on a high-DPI screen, follows window resizes, and draws the arena.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_ROOT, launchChromium, resultPath, serveStatic } from './helpers/browser.js';

const PAGE = `<!doctype html>
<html><head><link rel="icon" href="data:,"><link rel="stylesheet" href="/style.css"></head>
<body><canvas id="game"></canvas><div id="hud"></div>
<script type="module">
  import { Renderer } from '/src/render.js';
  import { Hud } from '/src/hud.js';
  const renderer = new Renderer(document.getElementById('game'), window);
  const hud = new Hud(document.getElementById('hud'));
  const avatars = [
    { id: 1, x: 2000, y: 2000, heading: 0.4, hp: 100, maxHp: 100, score: 3, name: 'you', own: true, dead: false },
    { id: 2, x: 2250, y: 2120, heading: 3.5, hp: 40, maxHp: 100, score: 5, name: 'rival', own: false, dead: false },
    { id: 3, x: 1800, y: 1850, heading: 1.2, hp: 0, maxHp: 100, score: 0, name: 'ghost', own: false, dead: true },
  ];
  const projectiles = [{ id: 9, x: 2100, y: 2040, heading: 0.4 }, { id: 10, x: 2150, y: 2060, heading: 0.4 }];
  window.draw = () => {
    renderer.draw({ arenaSize: 4000, camera: { x: 2000, y: 2000 }, avatars, projectiles });
    hud.addKill('rival', 'ghost', false, performance.now());
    hud.update({
      avatars,
      net: { pingMs: 42, snapshotsPerSecond: 30, downBytesPerSecond: 2690, upBytesPerSecond: 400, interpolationMs: 67, tick: 1234 },
      self: { dead: false, respawnIn: 0, killer: null },
      status: { state: 'connected' },
    }, performance.now());
    const c = document.getElementById('game');
    const centre = c.getContext('2d').getImageData(c.width / 2, c.height / 2, 1, 1).data;
    return { width: c.width, height: c.height, css: [c.clientWidth, c.clientHeight], centre: [...centre] };
  };
</script></body></html>`;

let browser;
let site;

before(async () => {
  browser = await launchChromium();
  site = await serveStatic(CLIENT_ROOT, { '/render-test.html': PAGE });
});

after(async () => {
  await browser?.close();
  await site?.close();
});

test('the canvas is sharp on a high-DPI screen and follows resizes', async () => {
  const context = await browser.newContext({ viewport: { width: 640, height: 360 }, deviceScaleFactor: 2 });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${site.url}/render-test.html`);
  await page.waitForFunction(() => typeof window.draw === 'function');
  let frame = await page.evaluate(() => window.draw());
  assert.deepEqual(frame.css, [640, 360]);
  assert.equal(frame.width, 1280);
  assert.equal(frame.height, 720);
  await page.setViewportSize({ width: 800, height: 500 });
  frame = await page.evaluate(() => window.draw());
  assert.equal(frame.width, 1600);
  assert.equal(frame.height, 1000);
  // The own avatar sits at the centre of the screen.
  assert.notDeepEqual(frame.centre.slice(0, 3), [11, 14, 20], 'the centre is not background');
  await page.screenshot({ path: resultPath('render-fake-scene.png') });
  assert.deepEqual(errors, []);
  await context.close();
});
