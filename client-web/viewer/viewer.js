// The replay viewer's page: the game's own page in a frame, steered from
// here.
//
// The viewer (`replay FILE --serve`, see docs/operations.md) serves the
// game's page at `/`, which connects to `/ws` as to a live game and is sent
// the recorded match as its players' clients were. This page opens that
// game page in the frame, and a JSON socket to `/viewer/ws`: it sends the
// actions (seek, play, pause, speed, step, follow) and is told the match
// once and every shown tick (a frame). It draws the timeline (the entities
// over the match, the keyframes, the ticks whose replayed state hash is
// not the recorded one), the shown tick's hashes, and the followed
// player's figures: its view, the entities its client held, the bytes of
// its snapshot, what a bandwidth budget held back.
//
// The URL is the viewer's state, and a link to it: `/viewer/?tick=T` shows
// tick T, `&player=P` follows player P (absent: everyone), `&speed=S` and
// `&play=1` play at that speed. The page keeps the URL up to date.

import { Timeline } from './timeline.js';
import { Minimap } from './minimap.js';

/** Most entities the panel lists. */
const MAX_LISTED = 200;
/** How long after a drop the page tries the viewer's socket again, in ms. */
const RETRY_MS = 1000;

/**
 * @typedef {object} MatchInfo the match, as `/viewer/api/match` gives it
 * @property {string} name
 * @property {string} game
 * @property {string} seed
 * @property {number} tickRate
 * @property {number} ticks
 * @property {number} keyframeTicks
 * @property {number[]} keyframes
 * @property {number} hashedTicks
 * @property {number | null} bandwidthBudget
 * @property {number} divergentTicks
 * @property {Array<{tick: number, recorded: string, replayed: string}>} divergences
 * @property {Array<[number, number]>} divergentSpans
 * @property {Array<{id: number, name: string, first: number, last: number}>} players
 * @property {number[]} entities
 * @property {Record<string, number>} constants
 */

/**
 * @typedef {object} Frame one shown tick
 * @property {number} tick
 * @property {boolean} playing
 * @property {number} speed
 * @property {number} rate
 * @property {string | null} hash
 * @property {string | null} recorded
 * @property {boolean} diverged
 * @property {number} entityCount
 * @property {Array<{id: number, name: string, avatar: number | null}>} players
 * @property {number | null} follow
 * @property {null | {player: number, name: string, present: boolean, view: null | {x: number, y: number, width: number, height: number}, figures: null | {bytes: number, held: number, deferred: number, full: boolean}, frameBytes: number | null}} pov
 * @property {null | Array<{id: number, kind: string, fields: Record<string, number>}>} entities
 */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The viewer's state, and the page's test hook (`window.viewer`). */
const viewer = {
  /** @type {MatchInfo | null} */
  match: null,
  /** @type {Frame | null} the newest frame */
  frame: null,
  /** Frames received. */
  frames: 0,
  /** @type {WebSocket | null} */
  socket: null,
  /** The last error the viewer sent back, if any. */
  lastError: /** @type {string | null} */ (null),
  /** Whether the viewer's socket is open. */
  get connected() {
    return this.socket?.readyState === WebSocket.OPEN;
  },
  /**
   * Sends an action: `{op: 'seek', tick}`, `{op: 'play'}`, `{op: 'pause'}`,
   * `{op: 'speed', speed}`, `{op: 'step', by}`, `{op: 'follow', player}`.
   * @param {object} action
   */
  send(action) {
    if (!this.connected) return false;
    /** @type {WebSocket} */ (this.socket).send(JSON.stringify(action));
    return true;
  },
};
/** @type {any} */ (window).viewer = viewer;

const params = new URLSearchParams(location.search);
/** Whether the URL's state has been applied (once, at the first match). */
let applied = false;
/** The followed player's figures over the match. */
let track = /** @type {null | {id: number, first: number, bytes: number[], deferred: number[]}} */ (null);
let lastUrlUpdate = 0;

const timeline = new Timeline($('timeline'), {
  onSeek: (tick) => viewer.send({ op: 'seek', tick }),
});
const minimap = new Minimap(/** @type {HTMLCanvasElement} */ ($('minimap')));

connect();
wireControls();
// The game's own page, asked to watch (`spectate=1`: the arena's page
// starts watching at once, its keys switching whom the viewer follows); a
// page that waits for a click to play starts at once with `autoplay`; a
// page that connects on load ignores both. The viewer's welcome makes the
// SDK a spectator whatever the page asked.
/** @type {HTMLIFrameElement} */ ($('game')).src = '/?spectate=1&autoplay=1&name=viewer';

/** Opens the viewer's socket; retried while the viewer is away. */
function connect() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const socket = new WebSocket(`${scheme}//${location.host}/viewer/ws`);
  viewer.socket = socket;
  socket.onmessage = (e) => {
    let message;
    try {
      message = JSON.parse(String(e.data));
    } catch {
      return;
    }
    if (message.type === 'match') onMatch(message);
    else if (message.type === 'frame') onFrame(message);
    else if (message.type === 'error') {
      viewer.lastError = message.message;
      status(message.message, true);
    }
  };
  socket.onopen = () => status('');
  socket.onclose = () => {
    if (viewer.socket !== socket) return;
    status('the viewer is not answering; trying again', true);
    setTimeout(connect, RETRY_MS);
  };
}

/**
 * A line in the status corner.
 * @param {string} text
 * @param {boolean} [bad]
 */
function status(text, bad = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('bad', bad);
}

/** @param {MatchInfo} match */
function onMatch(match) {
  viewer.match = match;
  $('record-name').textContent = `${match.name} · ${match.game}`;
  document.title = `Tickwire replay · ${match.name}`;
  $('ticks').textContent = String(match.ticks);
  $('timeline').setAttribute('aria-valuemax', String(match.ticks));
  const verdict = $('verdict');
  if (match.divergentTicks > 0) {
    const first = match.divergences[0];
    verdict.textContent = `diverges at tick ${first.tick}: ${match.divergentTicks} of ${match.hashedTicks} ticks differ from the record`;
    verdict.className = 'verdict bad';
  } else {
    verdict.textContent = `all ${match.hashedTicks} recorded state hashes replay equal · seed ${match.seed} · ${match.tickRate} Hz`;
    verdict.className = 'verdict good';
  }
  const follow = /** @type {HTMLSelectElement} */ ($('follow'));
  follow.replaceChildren(new Option('everyone (the whole match)', ''));
  for (const p of match.players) {
    follow.append(new Option(`${p.name} (player ${p.id}, ticks ${p.first}–${p.last})`, String(p.id)));
  }
  timeline.setMatch(match);
  divergenceNote(match);
  minimap.setMatch(match);
  if (!applied) {
    applied = true;
    applyUrl(match);
  }
}

/**
 * The URL's state, once: speed, player, tick, play.
 * @param {MatchInfo} match
 */
function applyUrl(match) {
  const speed = Number(params.get('speed'));
  if (speed > 0) viewer.send({ op: 'speed', speed });
  const player = params.get('player');
  if (player !== null && player !== '' && player !== 'all') viewer.send({ op: 'follow', player: Number(player) });
  const tick = params.get('tick');
  if (tick !== null && tick !== '') viewer.send({ op: 'seek', tick: Math.max(0, Math.min(match.ticks, Math.round(Number(tick)) || 0)) });
  if (params.get('play') === '1') viewer.send({ op: 'play' });
}

/**
 * Under the timeline: where the replay first differs from the record.
 * @param {MatchInfo} match
 */
function divergenceNote(match) {
  const note = $('divergence-note');
  const first = match.divergences[0];
  if (!first) {
    note.hidden = true;
    return;
  }
  note.hidden = false;
  note.replaceChildren(
    `Tick ${first.tick} diverges: recorded hash `,
    code(first.recorded),
    ', replayed hash ',
    code(first.replayed),
    ` (${match.divergentTicks} ticks differ). `,
  );
  const go = document.createElement('button');
  go.type = 'button';
  go.textContent = `show tick ${first.tick}`;
  go.addEventListener('click', () => viewer.send({ op: 'seek', tick: first.tick }));
  note.append(go);
}

/** @param {string} text */
function code(text) {
  const el = document.createElement('code');
  el.textContent = text;
  return el;
}

/** @param {Frame} frame */
function onFrame(frame) {
  const previous = viewer.frame;
  viewer.frame = frame;
  viewer.frames += 1;
  const match = viewer.match;
  $('tick').textContent = String(frame.tick);
  $('clock').textContent = `${(frame.tick / (match?.tickRate || 30)).toFixed(1)} s`;
  $('hash').textContent = frame.hash ?? '–';
  $('recorded').textContent = frame.recorded ?? '–';
  const check = $('hash-check');
  if (frame.hash && frame.recorded) {
    check.textContent = frame.diverged ? '≠ diverged' : '= equal';
    check.className = frame.diverged ? 'check bad' : 'check good';
  } else {
    check.textContent = '';
  }
  $('entity-count').textContent = String(frame.entityCount);
  $('player-count').textContent = String(frame.players.length);
  $('timeline').setAttribute('aria-valuenow', String(frame.tick));
  timeline.setTick(frame.tick);
  const play = $('play');
  play.textContent = frame.playing ? '❚❚' : '▶︎';
  play.setAttribute('aria-label', frame.playing ? 'Pause' : 'Play');
  /** @type {HTMLSelectElement} */ ($('speed')).value = String(nearestSpeed(frame.speed));
  /** @type {HTMLSelectElement} */ ($('follow')).value = frame.follow === null ? '' : String(frame.follow);
  if (frame.follow !== (previous?.follow ?? null)) loadTrack(frame.follow);
  pov(frame);
  entities(frame);
  minimap.draw(frame);
  drawTrack(frame.tick);
  keepUrl(frame);
}

/**
 * The offered speed nearest `speed`.
 * @param {number} speed
 */
function nearestSpeed(speed) {
  const offered = [0.25, 0.5, 1, 2, 4, 8];
  return offered.reduce((a, b) => (Math.abs(b - speed) < Math.abs(a - speed) ? b : a));
}

/**
 * The followed player's figures at the shown tick.
 * @param {Frame} frame
 */
function pov(frame) {
  const p = frame.pov;
  const figures = p?.figures;
  if (!p) {
    $('pov-view').textContent = 'the whole match';
    $('pov-held').textContent = `${frame.entityCount} (everything)`;
    $('pov-bytes').textContent = '–';
    $('pov-deferred').textContent = '–';
    return;
  }
  const v = p.view;
  $('pov-view').textContent = !p.present
    ? `${p.name} is not in the match at this tick`
    : v
      ? `x ${round(v.x)}…${round(v.x + v.width)}, y ${round(v.y)}…${round(v.y + v.height)} (${round(v.width)} × ${round(v.height)})`
      : 'the whole match (the game gives no view)';
  $('pov-held').textContent = figures ? String(figures.held) : '–';
  $('pov-bytes').textContent = figures
    ? `${figures.bytes} bytes${figures.full ? ', full' : ''} · ${p.frameBytes ?? figures.bytes} on the wire`
    : '–';
  const budget = viewer.match?.bandwidthBudget;
  $('pov-deferred').textContent = figures
    ? `${figures.deferred} entities${budget ? ` (budget ${budget} B/s)` : ' (no budget)'}`
    : '–';
}

/** @param {number} v */
function round(v) {
  return Math.round(v * 10) / 10;
}

/**
 * The entity list, when the frame has one.
 * @param {Frame} frame
 */
function entities(frame) {
  const list = $('entities');
  const note = $('entities-note');
  if (!frame.entities) {
    note.textContent = `(${frame.entityCount}, listed while paused)`;
    list.replaceChildren();
    return;
  }
  const followed = frame.players.find((p) => p.id === frame.follow)?.avatar ?? null;
  note.textContent = frame.entities.length > MAX_LISTED ? `(${frame.entities.length}, the first ${MAX_LISTED})` : `(${frame.entities.length})`;
  const items = frame.entities.slice(0, MAX_LISTED).map((e) => {
    const li = document.createElement('li');
    const fields = Object.entries(e.fields)
      .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(2)}`)
      .join(', ');
    li.textContent = `#${e.id} ${e.kind}: ${fields}`;
    if (e.id === followed) li.className = 'followed';
    return li;
  });
  list.replaceChildren(...items);
}

/**
 * Fetches the followed player's figures over the match, for its chart.
 * @param {number | null} id
 */
async function loadTrack(id) {
  track = null;
  const chart = /** @type {HTMLCanvasElement} */ ($('pov-bytes-chart'));
  chart.hidden = id === null;
  if (id === null) return;
  try {
    const answer = await fetch(`/viewer/api/players/${id}`);
    if (!answer.ok) return;
    const got = await answer.json();
    if (viewer.frame?.follow === id) track = got;
  } catch {
    // The viewer stopped: the chart stays empty.
  }
  drawTrack(viewer.frame?.tick ?? 0);
}

/**
 * The followed player's snapshot bytes over the match, the shown tick
 * marked; what a budget held back drawn in red.
 * @param {number} tick
 */
function drawTrack(tick) {
  const canvas = /** @type {HTMLCanvasElement} */ ($('pov-bytes-chart'));
  const match = viewer.match;
  if (canvas.hidden || !track || !match) return;
  const ctx = fit(canvas);
  const { width, height } = canvas.getBoundingClientRect();
  ctx.clearRect(0, 0, width, height);
  const most = Math.max(1, ...track.bytes);
  const x = (/** @type {number} */ t) => (t / Math.max(1, match.ticks)) * width;
  const bar = Math.max(1, width / Math.max(1, match.ticks));
  ctx.fillStyle = 'rgba(79, 157, 255, 0.7)';
  track.bytes.forEach((b, i) => {
    const h = (b / most) * (height - 4);
    ctx.fillRect(x(track.first + i), height - h, bar, h);
  });
  ctx.fillStyle = 'rgba(255, 77, 79, 0.9)';
  track.deferred.forEach((d, i) => {
    if (d > 0) ctx.fillRect(x(track.first + i), height - 3, bar, 3);
  });
  ctx.fillStyle = '#e6ebf5';
  ctx.fillRect(x(tick) - 0.5, 0, 1, height);
  const label = `snapshot bytes per tick (most ${most})`;
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = 'rgba(17, 22, 34, 0.85)';
  ctx.fillRect(2, 2, ctx.measureText(label).width + 6, 13);
  ctx.fillStyle = '#8d98ad';
  ctx.fillText(label, 5, 12);
}

/**
 * Sizes a canvas's pixels to its box and returns its context, scaled to
 * CSS pixels.
 * @param {HTMLCanvasElement} canvas
 */
function fit(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const { width, height } = canvas.getBoundingClientRect();
  const w = Math.max(1, Math.round(width * dpr));
  const h = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/**
 * Keeps the URL a link to what is shown: the tick, the player, and while
 * playing the speed (at most twice a second while playing).
 * @param {Frame} frame
 */
function keepUrl(frame) {
  const now = performance.now();
  if (frame.playing && now - lastUrlUpdate < 500) return;
  lastUrlUpdate = now;
  const url = new URL(location.href);
  url.searchParams.set('tick', String(frame.tick));
  if (frame.follow === null) url.searchParams.delete('player');
  else url.searchParams.set('player', String(frame.follow));
  if (frame.playing) {
    url.searchParams.set('play', '1');
    url.searchParams.set('speed', String(frame.speed));
  } else {
    url.searchParams.delete('play');
    if (frame.speed === 1) url.searchParams.delete('speed');
    else url.searchParams.set('speed', String(frame.speed));
  }
  history.replaceState(null, '', url);
}

/** The buttons, the selects and the keys. */
function wireControls() {
  const tick = () => viewer.frame?.tick ?? 0;
  $('to-start').addEventListener('click', () => viewer.send({ op: 'seek', tick: 0 }));
  $('step-back').addEventListener('click', () => viewer.send({ op: 'step', by: -1 }));
  $('step-on').addEventListener('click', () => viewer.send({ op: 'step', by: 1 }));
  $('play').addEventListener('click', () => viewer.send({ op: viewer.frame?.playing ? 'pause' : 'play' }));
  $('speed').addEventListener('change', (e) => {
    viewer.send({ op: 'speed', speed: Number(/** @type {HTMLSelectElement} */ (e.target).value) });
  });
  $('follow').addEventListener('change', (e) => {
    const value = /** @type {HTMLSelectElement} */ (e.target).value;
    viewer.send({ op: 'follow', player: value === '' ? null : Number(value) });
  });
  /**
   * The viewer's keys: space plays and pauses, `,` and `.` (and the arrows,
   * outside the game's page) step, with shift a second; Home and End.
   * @param {KeyboardEvent} e
   * @param {boolean} inGame whether the game's page has the focus (its arrows are its own)
   */
  const onKey = (e, inGame) => {
    if ((e.target instanceof Element && e.target.tagName === 'SELECT') || e.altKey || e.ctrlKey || e.metaKey) return;
    const big = e.shiftKey ? viewer.match?.tickRate ?? 30 : 1;
    const back = e.key === ',' || e.key === '<' || (!inGame && e.key === 'ArrowLeft');
    const on = e.key === '.' || e.key === '>' || (!inGame && e.key === 'ArrowRight');
    if (back) viewer.send(big === 1 ? { op: 'step', by: -1 } : { op: 'seek', tick: Math.max(0, tick() - big) });
    else if (on) viewer.send(big === 1 ? { op: 'step', by: 1 } : { op: 'seek', tick: tick() + big });
    switch (back || on ? 'stepped' : e.key) {
      case 'stepped':
        break;
      case ' ':
        viewer.send({ op: viewer.frame?.playing ? 'pause' : 'play' });
        break;
      case 'Home':
        viewer.send({ op: 'seek', tick: 0 });
        break;
      case 'End':
        viewer.send({ op: 'seek', tick: viewer.match?.ticks ?? 0 });
        break;
      default:
        return;
    }
    e.preventDefault();
  };
  document.addEventListener('keydown', (e) => onKey(e, false));
  // The game's page is of this origin, and plays nothing in a replay: the
  // keys steer the playback there too (a page that takes the focus, as the
  // arena's does, would keep them otherwise), but its arrows, which a
  // watching page uses to switch players.
  const frame = /** @type {HTMLIFrameElement} */ ($('game'));
  frame.addEventListener('load', () => {
    try {
      frame.contentWindow?.addEventListener('keydown', (e) => onKey(e, true));
    } catch {
      // Another origin: the keys work once this page has the focus.
    }
  });
  window.addEventListener('resize', () => {
    timeline.draw();
    if (viewer.frame) {
      minimap.draw(viewer.frame);
      drawTrack(viewer.frame.tick);
    }
  });
}
