// The asteroids page: ships that turn, thrust and fire, drawn on a field
// that wraps around. The SDK joins, keeps the entities, interpolates the
// others, and predicts the own ship with `stepShip` (the game's own rule,
// in predict.js); this file reads the keys and draws.

import { connect } from '/sdk/index.js';
import { stepShip } from './predict.js';

const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('space'));
const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
const scoresEl = /** @type {HTMLElement} */ (document.getElementById('scores'));
const feedEl = /** @type {HTMLElement} */ (document.getElementById('feed'));
const netEl = /** @type {HTMLElement} */ (document.getElementById('net'));

/** How long a line stays in the event feed, in ms. */
const FEED_MS = 5000;
/** A ship's status on the wire (the game's FLYING, THRUSTING, WRECKED). */
const THRUSTING = 1;
const WRECKED = 2;

const params = new URLSearchParams(location.search);
const client = connect({
  name: params.get('name') ?? 'pilot',
  room: params.get('room') ?? undefined,
  predict: stepShip,
});
/** The page's handle, for tests and the console. */
window.tickwire = client;
/**
 * The own ship's fields as last drawn (predicted, between two ticks), or
 * null before it is known: for tests and the console.
 */
window.drawnShip = null;

// The keyboard, as the game's declared input: { turn, thrust, fire }.
const held = new Set();
const KEYS = { ArrowLeft: 'left', KeyA: 'left', ArrowRight: 'right', KeyD: 'right', ArrowUp: 'thrust', KeyW: 'thrust', Space: 'fire' };
function sendHeld() {
  client.setInput({
    turn: (held.has('right') ? 1 : 0) - (held.has('left') ? 1 : 0),
    thrust: held.has('thrust'),
    fire: held.has('fire'),
  });
}
addEventListener('keydown', (e) => {
  const key = KEYS[e.code];
  if (!key) return;
  held.add(key);
  sendHeld();
  e.preventDefault();
});
addEventListener('keyup', (e) => {
  const key = KEYS[e.code];
  if (!key) return;
  held.delete(key);
  sendHeld();
});
addEventListener('blur', () => {
  held.clear();
  sendHeld();
});

const constants = { field_size: 2000, ship_radius: 14, rock_radius: 16 };
client.on('welcome', (w) => Object.assign(constants, w.constants));

/** @type {Array<{text: string, at: number}>} */
const feed = [];
client.on('event', (ev) => {
  const name = (id) => client.playerName(id) ?? '?';
  const f = ev.fields;
  const text = {
    broke: () => `${name(f.by)} broke a rock`,
    kill: () => `${name(f.killer)} ✖ ${name(f.victim)}`,
    crash: () => `${name(f.player)} crashed`,
  }[ev.name]?.();
  if (text) feed.push({ text, at: performance.now() });
});

/** Rock outlines: a jagged circle per rock, stable per entity id. */
function rockPath(id, radius) {
  const points = 11;
  g.beginPath();
  for (let i = 0; i < points; i++) {
    const a = (i / points) * Math.PI * 2;
    const jag = 0.78 + 0.22 * Math.abs(Math.sin(id * 12.9898 + i * 78.233));
    const r = radius * jag;
    if (i === 0) g.moveTo(Math.cos(a) * r, Math.sin(a) * r);
    else g.lineTo(Math.cos(a) * r, Math.sin(a) * r);
  }
  g.closePath();
}

/** The copy of `v` (mod `side`) nearest `centre`: drawing across the wrap. */
function near(v, centre, side) {
  return v - Math.round((v - centre) / side) * side;
}

function draw() {
  const now = performance.now();
  const dpr = devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * dpr);
  const height = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const side = constants.field_size;
  const entities = client.frame(now);
  const own = entities.find((e) => e.id === client.own?.id);
  window.drawnShip = own ? own.fields : null;
  const camera = own ? { x: own.fields.x, y: own.fields.y } : { x: side / 2, y: side / 2 };
  const scale = Math.min(width, height) / 900;

  g.setTransform(1, 0, 0, 1, 0, 0);
  g.fillStyle = '#05070d';
  g.fillRect(0, 0, width, height);
  g.setTransform(scale, 0, 0, scale, width / 2 - camera.x * scale, height / 2 - camera.y * scale);

  // Stars: a fixed field that wraps with the world.
  g.fillStyle = '#26304a';
  for (let i = 0; i < 160; i++) {
    const sx = near((i * 7919) % side, camera.x, side);
    const sy = near((i * 104729) % side, camera.y, side);
    g.fillRect(sx, sy, 2, 2);
  }

  const scores = [];
  g.lineWidth = 2 / scale;
  for (const e of entities) {
    const x = near(e.fields.x, camera.x, side);
    const y = near(e.fields.y, camera.y, side);
    if (e.kind === 'asteroid') {
      g.save();
      g.translate(x, y);
      g.strokeStyle = '#9aa5c2';
      rockPath(e.id, constants.rock_radius * e.fields.size);
      g.stroke();
      g.restore();
    } else if (e.kind === 'bullet') {
      g.fillStyle = '#ffe08a';
      g.beginPath();
      g.arc(x, y, 3, 0, Math.PI * 2);
      g.fill();
    } else if (e.kind === 'ship') {
      const mine = e.id === client.own?.id;
      const name = client.playerName(e.fields.player) ?? '?';
      scores.push({ name, score: e.fields.score, mine });
      const r = constants.ship_radius;
      g.save();
      g.translate(x, y);
      g.globalAlpha = e.fields.status === WRECKED ? 0.3 : 1;
      g.rotate(e.fields.heading);
      g.strokeStyle = mine ? '#ff6b8b' : '#5ce1e6';
      g.beginPath();
      g.moveTo(r * 1.3, 0);
      g.lineTo(-r, r * 0.8);
      g.lineTo(-r * 0.6, 0);
      g.lineTo(-r, -r * 0.8);
      g.closePath();
      g.stroke();
      if (e.fields.status === THRUSTING) {
        g.strokeStyle = '#ffb347';
        g.beginPath();
        g.moveTo(-r * 0.7, r * 0.4);
        g.lineTo(-r * 1.6, 0);
        g.lineTo(-r * 0.7, -r * 0.4);
        g.stroke();
      }
      g.restore();
      g.fillStyle = '#cfd8ea';
      g.font = `${12 / scale}px ui-monospace, monospace`;
      g.textAlign = 'center';
      g.fillText(name, x, y - r * 1.8);
    }
  }

  scores.sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
  scoresEl.textContent = ['SCORES', ...scores.slice(0, 10).map((s, i) => `${i + 1}. ${s.mine ? '▶ ' : ''}${s.name}  ${s.score}`)].join('\n');
  while (feed.length && now - feed[0].at > FEED_MS) feed.shift();
  feedEl.hidden = feed.length === 0;
  feedEl.textContent = feed.slice(-5).map((l) => l.text).join('\n');
  const s = client.stats;
  netEl.textContent = [
    `ping   ${s.pingMs == null ? '…' : Math.round(s.pingMs)} ms`,
    `snaps  ${Math.round(s.snapshotsPerSecond ?? 0)}/s`,
    `down   ${((s.downBytesPerSecond ?? 0) * 8 / 1000).toFixed(1)} kbit/s`,
    `tick   ${s.tick ?? 0}`,
    `dry    ${s.interpolationStarved}×`,
    // The network lab (?lag=&jitter=&stall=), when the page runs one.
    ...(s.lab ? [`lab    ${s.lab.text}`] : []),
  ].join('\n');
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
