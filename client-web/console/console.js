// The operator console: polls the server's admin API (`/admin/api/`, see
// docs/operations.md) once a second and shows every node, its rooms, their
// players and a live graph of each room's tick time per phase; kicks a
// player, closes a room, drains a node. Plain ES module, no framework.
//
// The page holds no data until the operator gives the admin token, which is
// kept in this tab's sessionStorage and sent as `Authorization: Bearer` with
// every call.

/** Where the token is kept in sessionStorage. */
export const TOKEN_KEY = 'tickwire-admin-token';
/** Time between two polls of the room list, in ms. */
export const POLL_MS = 1000;
/** The tick phases, in the order of the API's `mean_us` and `max_us`. */
export const PHASES = ['simulate', 'encode', 'send'];
/** Each phase's colour on the graph (the CSS variables of console.css). */
const PHASE_COLOURS = { simulate: '#5fb3ff', encode: '#ffd666', send: '#e05a47' };

const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {{ node: string|null, room: string, player?: number, kind: 'kick'|'close'|'drain' } | null} */
let pending = null;
let timer = 0;

/**
 * Escapes text for HTML.
 * @param {unknown} value
 * @returns {string}
 */
export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A byte rate for people: `812 B/s`, `14.2 kB/s`.
 * @param {number} bytes
 * @returns {string}
 */
export function formatRate(bytes) {
  if (bytes < 1000) return `${bytes} B/s`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB/s`;
  return `${(bytes / 1e6).toFixed(2)} MB/s`;
}

/**
 * Microseconds for people: `84 µs`, `1.3 ms`.
 * @param {number} us
 * @returns {string}
 */
export function formatMicros(us) {
  return us < 1000 ? `${us} µs` : `${(us / 1000).toFixed(1)} ms`;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function askForToken(why) {
  clearTimeout(timer);
  $('token-why').textContent = why;
  const dialog = /** @type {HTMLDialogElement} */ ($('token-dialog'));
  if (!dialog.open) dialog.showModal();
  $('token').focus();
}

/**
 * Calls the admin API with the token; a 401 asks for the token again.
 * @param {string} path under /admin/api/
 * @param {RequestInit} [init]
 * @returns {Promise<Response|null>} null when the token was refused
 */
async function api(path, init = {}) {
  const response = await fetch(`/admin/api/${path}`, {
    ...init,
    headers: { ...(init.headers || {}), authorization: `Bearer ${token()}` },
  });
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken('The server refused that token: enter its --admin-token.');
    return null;
  }
  return response;
}

function toast(text, error = false) {
  const el = $('toast');
  el.textContent = text;
  el.classList.toggle('error', error);
  el.classList.remove('hidden');
  clearTimeout(Number(el.dataset.timer || 0));
  el.dataset.timer = String(setTimeout(() => el.classList.add('hidden'), 4000));
}

async function poll() {
  clearTimeout(timer);
  try {
    const response = await api('cluster');
    if (!response) return;
    if (!response.ok) throw new Error(`the admin API answered ${response.status}`);
    render(await response.json());
  } catch (error) {
    $('summary').textContent = `cannot reach the server: ${error.message}`;
  }
  timer = setTimeout(poll, POLL_MS);
}

/**
 * Draws a room's tick-time history on its canvas: one line per phase (the
 * mean of each second), scaled to the largest mean shown.
 * @param {HTMLCanvasElement} canvas
 * @param {{ tick: number, mean_us: number[], max_us: number[] }[]} history
 */
export function drawGraph(canvas, history) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 360;
  const height = canvas.clientHeight || 90;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.dataset.points = String(history.length);
  const g = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  g.scale(ratio, ratio);
  g.clearRect(0, 0, width, height);
  const top = Math.max(10, ...history.flatMap((s) => s.mean_us));
  g.strokeStyle = 'rgba(140, 160, 200, 0.18)';
  g.lineWidth = 1;
  for (const y of [0.25, 0.5, 0.75]) {
    g.beginPath();
    g.moveTo(0, Math.round(height * y) + 0.5);
    g.lineTo(width, Math.round(height * y) + 0.5);
    g.stroke();
  }
  g.fillStyle = '#8d98ad';
  g.font = '10px system-ui, sans-serif';
  g.fillText(`mean per second, top ${formatMicros(top)}`, 4, 11);
  g.fillText('3 min ago', 4, height - 4);
  g.fillText('now', width - 22, 11);
  if (history.length < 2) return;
  // The newest second at the right edge; 180 s fill the width.
  const span = Math.max(history.length - 1, 179);
  const x = (i) => width - ((history.length - 1 - i) / span) * width;
  const y = (us) => height - 2 - (us / top) * (height - 16);
  PHASES.forEach((phase, p) => {
    g.strokeStyle = PHASE_COLOURS[phase];
    g.lineWidth = 1.5;
    g.beginPath();
    history.forEach((sample, i) => {
      const at = [x(i), y(sample.mean_us[p])];
      if (i === 0) g.moveTo(...at);
      else g.lineTo(...at);
    });
    g.stroke();
  });
}

function playerRows(node, room) {
  if (room.player_list.length === 0) return '<tr><td colspan="7" class="muted">no players</td></tr>';
  return room.player_list
    .map(
      (p) => `<tr data-player="${p.player}">
        <td>${p.player}</td>
        <td>${escapeHtml(p.name)}${p.held ? ' <span class="muted">(held)</span>' : ''}</td>
        <td>${p.rtt_ms == null ? '—' : `${p.rtt_ms.toFixed(1)} ms`}</td>
        <td>${formatRate(p.bytes_per_second)}</td>
        <td>${p.snapshots_skipped}</td>
        <td>${p.inputs_dropped}</td>
        <td><button type="button" class="small quiet" data-act="kick" data-node="${escapeHtml(node ?? '')}"
          data-room="${escapeHtml(room.room)}" data-player="${p.player}" data-name="${escapeHtml(p.name)}">Kick</button></td>
      </tr>`,
    )
    .join('');
}

function roomCard(node, room) {
  const p99 = PHASES.map((phase) => `${phase} <b>${formatMicros(room.tick_time[phase]?.p99_us ?? 0)}</b>`).join(' · ');
  const record = room.record
    ? `<a href="#" class="record" data-node="${escapeHtml(node ?? '')}" data-room="${escapeHtml(room.room)}"
        data-file="${escapeHtml(room.record)}" title="download the match record">${escapeHtml(room.record)}</a>`
    : '';
  return `<section class="room" data-room="${escapeHtml(room.room)}">
    <div class="room-head">
      <h3>${escapeHtml(room.room)}</h3>
      <span class="muted">${escapeHtml(room.game)}</span>
      <span class="grow"></span>
      <button type="button" class="small" data-act="close" data-node="${escapeHtml(node ?? '')}" data-room="${escapeHtml(room.room)}">Close room</button>
    </div>
    <div class="room-facts">
      <span>players <b class="players">${room.players}</b>/${room.max_players}</span>
      <span>spectators <b>${room.spectators}</b></span>
      <span>tick <b class="tick">${room.tick}</b> @ ${room.tick_rate} Hz</span>
      <span>p99 ${p99}</span>
    </div>
    <canvas class="graph" data-points="0"></canvas>
    <div class="legend">${PHASES.map((p) => `<span><i style="background:${PHASE_COLOURS[p]}"></i>${p}</span>`).join('')}
      <span class="grow"></span>${record ? `<span class="record-of">record</span>${record}` : ''}</div>
    <table class="players">
      <thead><tr><th>id</th><th>name</th><th title="round trip of the last WebSocket ping">ping</th>
        <th title="bytes sent over the last second">bytes/s</th><th title="snapshots skipped (slow socket)">skipped</th>
        <th title="inputs dropped (over the rate, or queue full)">dropped</th><th></th></tr></thead>
      <tbody>${playerRows(node, room)}</tbody>
    </table>
  </section>`;
}

function nodeSection(view) {
  const node = view.node ?? null;
  const title = node ? `node ${escapeHtml(node)}` : 'this server';
  const rooms = view.rooms ?? [];
  const players = rooms.reduce((n, r) => n + r.players, 0);
  const body = view.error
    ? `<div class="error">${escapeHtml(view.error)}</div>`
    : rooms.length === 0
      ? '<div class="empty">no rooms open</div>'
      : `<div class="rooms">${rooms.map((r) => roomCard(node, r)).join('')}</div>`;
  return `<section class="node" data-node="${escapeHtml(node ?? '')}">
    <div class="node-head">
      <h2>${title}</h2>
      ${view.url ? `<span class="muted">${escapeHtml(view.url)}</span>` : ''}
      <span class="status ${escapeHtml(view.status ?? '')}">${escapeHtml(view.status ?? 'unknown')}</span>
      <span class="muted">${rooms.length} rooms · ${players} players</span>
      <span class="grow"></span>
      <button type="button" class="small quiet" data-act="drain" data-node="${escapeHtml(node ?? '')}"
        ${view.status === 'draining' ? 'disabled' : ''}>Drain node</button>
    </div>
    ${body}
  </section>`;
}

/**
 * Shows the answer of `/admin/api/cluster`.
 * @param {{ cluster: boolean, nodes: any[], error?: string }} answer
 */
function render(answer) {
  const nodes = answer.nodes ?? [];
  const rooms = nodes.flatMap((n) => n.rooms ?? []);
  const players = rooms.reduce((n, r) => n + r.players, 0);
  $('summary').textContent =
    `${answer.cluster ? `${nodes.length} nodes · ` : ''}${rooms.length} rooms · ${players} players` +
    `${answer.error ? ` · ${answer.error}` : ''} · updated ${new Date().toLocaleTimeString()}`;
  const main = $('nodes');
  main.innerHTML = nodes.map(nodeSection).join('');
  for (const view of nodes) {
    for (const room of view.rooms ?? []) {
      const card = main.querySelector(
        `.node[data-node="${CSS.escape(view.node ?? '')}"] .room[data-room="${CSS.escape(room.room)}"]`,
      );
      const canvas = card?.querySelector('canvas');
      if (canvas) drawGraph(/** @type {HTMLCanvasElement} */ (canvas), room.history);
    }
  }
}

function openAction(kind, node, room, player, name) {
  pending = { kind, node: node || null, room, player };
  const titles = { kick: 'Kick a player', close: 'Close a room', drain: 'Drain the node' };
  $('action-title').textContent = titles[kind];
  $('action-what').textContent =
    kind === 'kick'
      ? `${name} (player ${player}) in room ${room}: closed with 4014, "kicked by operator: <reason>".`
      : kind === 'close'
        ? `Room ${room}: every player and spectator closed with 4015, "room closed by operator: <reason>"; other rooms go on.`
        : 'No one is admitted any more; the rooms left are closed when they empty or after --drain-timeout.';
  $('reason').closest('label')?.classList.toggle('hidden', kind === 'drain');
  /** @type {HTMLInputElement} */ ($('reason')).value = '';
  /** @type {HTMLDialogElement} */ ($('action-dialog')).showModal();
}

async function confirmAction() {
  const ask = pending;
  pending = null;
  if (!ask) return;
  const reason = /** @type {HTMLInputElement} */ ($('reason')).value;
  const body = { ...(ask.node ? { node: ask.node } : {}) };
  if (ask.kind !== 'drain') body.room = ask.room;
  if (ask.kind === 'kick') body.player = ask.player;
  if (ask.kind !== 'drain' && reason) body.reason = reason;
  const response = await api(ask.kind, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response) return;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) toast(answer.error || `refused: ${response.status}`, true);
  else if (ask.kind === 'kick') toast(`player ${ask.player} kicked: ${answer.reason}`);
  else if (ask.kind === 'close') toast(`room ${ask.room} closed`);
  else toast(`draining (at most ${answer.timeout_s} s)`);
  poll();
}

async function downloadRecord(link) {
  const query = new URLSearchParams({ room: link.dataset.room });
  if (link.dataset.node) query.set('node', link.dataset.node);
  const response = await api(`record?${query}`);
  if (!response) return;
  if (!response.ok) {
    const answer = await response.json().catch(() => ({}));
    toast(answer.error || `refused: ${response.status}`, true);
    return;
  }
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = link.dataset.file || 'record.jsonl';
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

$('nodes').addEventListener('click', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const record = target.closest('a.record');
  if (record) {
    event.preventDefault();
    downloadRecord(record);
    return;
  }
  const button = target.closest('button[data-act]');
  if (!button) return;
  const { act, node, room, player, name } = /** @type {HTMLElement} */ (button).dataset;
  openAction(act, node, room, player === undefined ? undefined : Number(player), name);
});

$('action-form').addEventListener('submit', () => {
  confirmAction();
});
$('action-cancel').addEventListener('click', () => {
  pending = null;
  /** @type {HTMLDialogElement} */ ($('action-dialog')).close();
});

$('token-form').addEventListener('submit', () => {
  const value = /** @type {HTMLInputElement} */ ($('token')).value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  /** @type {HTMLInputElement} */ ($('token')).value = '';
  poll();
});

$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  $('nodes').innerHTML = '';
  $('summary').textContent = 'not connected';
  askForToken("This server's --admin-token: kept in this tab only (sessionStorage).");
});

if (token()) poll();
else askForToken("This server's --admin-token: kept in this tab only (sessionStorage).");
