// The starter's page: joins the game through the SDK, sends the held keys
// as the game's declared input ({ x, y, dash }), and draws runners and gems.

import { connect } from '/sdk/index.js';

const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('field'));
const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
const hud = /** @type {HTMLElement} */ (document.getElementById('hud'));

const params = new URLSearchParams(location.search);
const client = connect({ name: params.get('name') ?? 'player', room: params.get('room') ?? undefined });
/** The page's handle for tests and the console. */
window.tickwire = client;

// Keys held -> the declared input, sent by the SDK once per server tick.
const held = new Set();
const KEYS = { ArrowLeft: 'l', KeyA: 'l', ArrowRight: 'r', KeyD: 'r', ArrowUp: 'u', KeyW: 'u', ArrowDown: 'd', KeyS: 'd', ShiftLeft: 'dash', Space: 'dash' };
function update() {
  const on = (k) => (held.has(k) ? 1 : 0);
  client.setInput({ x: on('r') - on('l'), y: on('d') - on('u'), dash: held.has('dash') });
}
addEventListener('keydown', (e) => { if (KEYS[e.code]) { held.add(KEYS[e.code]); update(); e.preventDefault(); } });
addEventListener('keyup', (e) => { if (KEYS[e.code]) { held.delete(KEYS[e.code]); update(); } });
addEventListener('blur', () => { held.clear(); update(); });

let fieldSize = 1000;
let reach = 24;
client.on('welcome', (w) => {
  fieldSize = w.constants.field_size ?? fieldSize;
  reach = w.constants.reach ?? reach;
});

function draw() {
  const dpr = devicePixelRatio || 1;
  const width = Math.round(canvas.clientWidth * dpr);
  const height = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  const scale = Math.min(width, height) / fieldSize;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#101522';
  ctx.fillRect(0, 0, width, height);
  ctx.setTransform(scale, 0, 0, scale, (width - fieldSize * scale) / 2, (height - fieldSize * scale) / 2);
  ctx.strokeStyle = '#2a3350';
  ctx.lineWidth = 2 / scale;
  ctx.strokeRect(0, 0, fieldSize, fieldSize);

  const scores = [];
  for (const e of client.frame()) {
    const { x, y } = e.fields;
    if (e.kind === 'gem') {
      ctx.fillStyle = '#ffd166';
      ctx.beginPath();
      ctx.arc(x, y, reach / 3, 0, Math.PI * 2);
      ctx.fill();
    } else if (e.kind === 'runner') {
      const mine = e.id === client.own?.id;
      ctx.fillStyle = mine ? '#ef476f' : '#06d6a0';
      ctx.beginPath();
      ctx.arc(x, y, reach / 2, 0, Math.PI * 2);
      ctx.fill();
      const name = client.playerName(e.fields.player) ?? '?';
      ctx.fillStyle = '#dde3f0';
      ctx.font = `${14 / scale}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.fillText(name, x, y - reach / 2 - 6 / scale);
      scores.push(`${name} ${e.fields.score}`);
    }
  }
  const s = client.stats;
  // With the network lab (?lag=&jitter=&stall=), what it adds.
  const lab = s.lab ? `\nlab ${s.lab.text}` : '';
  hud.textContent = `${scores.sort().join('\n')}\n\nping ${s.pingMs == null ? '…' : Math.round(s.pingMs)} ms · ${Math.round(s.snapshotsPerSecond)} snapshots/s${lab}`;
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
