// The heads-up display: scoreboard, kill feed, death and respawn countdown,
// connection banner, the network overlay, and for a spectator whom it
// watches.
//
// It is plain DOM laid over the canvas (crisp text, no redraw cost), updated
// a few times a second from a view the main loop hands it. The pure helpers
// that decide what to show are exported for tests.

/** How long a kill stays in the feed, in ms. */
export const KILL_FEED_MS = 6000;
/** Most kills shown at once. */
export const KILL_FEED_MAX = 5;

/**
 * Scoreboard rows: every avatar with its name and score, best first, ties
 * by name.
 * @param {Array<{id: number, name: string, score: number, own: boolean}>} avatars
 * @param {number} [limit] most rows (default 10); the own row is always kept
 */
export function scoreboardRows(avatars, limit = 10) {
  const rows = avatars
    .map((a) => ({ id: a.id, name: a.name, score: a.score ?? 0, own: !!a.own }))
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name) || a.id - b.id)
    .map((row, i) => ({ ...row, rank: i + 1 }));
  if (rows.length <= limit) return rows;
  const top = rows.slice(0, limit);
  const own = rows.find((r) => r.own);
  if (own && !top.includes(own)) top[limit - 1] = own;
  return top;
}

/**
 * The lines of the network overlay, from the SDK's `client.stats`: with
 * `interpolationStarved`, how often the others' interpolation ran dry;
 * with a network lab (`lab`), what it adds.
 * @param {{pingMs: number | null, snapshotsPerSecond: number, downBytesPerSecond: number,
 *   upBytesPerSecond: number, interpolationMs: number, tick: number, interpolationStarved?: number,
 *   lab?: {text: string} | null}} s
 * @returns {Array<[string, string]>} label and value
 */
export function netLines(s) {
  const kbps = (bytes) => `${((bytes * 8) / 1000).toFixed(1)} kbit/s`;
  const lines = [
    ['ping', s.pingMs == null ? '–' : `${Math.round(s.pingMs)} ms`],
    ['snapshots', `${s.snapshotsPerSecond.toFixed(0)}/s`],
    ['down', kbps(s.downBytesPerSecond)],
    ['up', kbps(s.upBytesPerSecond)],
    ['interp', `${Math.round(s.interpolationMs)} ms`],
    ['tick', String(s.tick ?? 0)],
  ];
  if (s.interpolationStarved !== undefined) lines.push(['ran dry', `${s.interpolationStarved}×`]);
  if (s.lab) lines.push(['lab', s.lab.text]);
  return lines;
}

/**
 * Seconds left before a respawn, from a remaining-ticks field.
 * @param {number} respawnTicks
 * @param {number} tickRate
 */
export function respawnSeconds(respawnTicks, tickRate) {
  return Math.max(0, respawnTicks / tickRate);
}

/**
 * The connection banner's text for the SDK's connection status, or '' when
 * connected.
 * @param {{state: string, reason?: string, retryInMs?: number, attempt?: number}} status
 */
export function connectionText(status) {
  switch (status.state) {
    case 'connecting':
      return 'Connecting…';
    case 'reconnecting':
      return `Connection lost${status.reason ? ` (${status.reason})` : ''}. Reconnecting in ${Math.ceil(
        (status.retryInMs ?? 0) / 1000,
      )} s (attempt ${status.attempt})…`;
    case 'closed':
      return `Cannot play: ${status.reason}`;
    default:
      return '';
  }
}

/**
 * A new element with a class and text.
 * @param {Document} doc
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 */
function el(doc, tag, className, text) {
  const e = doc.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * The HUD elements inside one root element.
 */
export class Hud {
  /** @param {HTMLElement} root an empty element laid over the canvas */
  constructor(root) {
    const doc = root.ownerDocument;
    this.doc = doc;
    this.root = root;
    this.scoreboard = el(doc, 'div', 'hud-panel hud-scoreboard');
    this.killFeed = el(doc, 'div', 'hud-killfeed');
    this.net = el(doc, 'div', 'hud-panel hud-net');
    this.death = el(doc, 'div', 'hud-death hidden');
    this.banner = el(doc, 'div', 'hud-banner hidden');
    this.help = el(doc, 'div', 'hud-help', 'WASD / arrows move · mouse aims · click or space fires');
    this.watch = el(doc, 'div', 'hud-watch hidden');
    root.append(this.scoreboard, this.killFeed, this.net, this.death, this.banner, this.help, this.watch);
    /** @type {Array<{at: number, killer: string, victim: string, own: boolean}>} */
    this.kills = [];
    this.lastScoreboard = '';
  }

  /**
   * Replaces the line of key hints at the bottom (a spectator's keys).
   * @param {string} text
   */
  setHelp(text) {
    this.help.textContent = text;
  }

  /**
   * Adds a kill to the feed.
   * @param {string} killer the killer's name ('' for nobody)
   * @param {string} victim the victim's name
   * @param {boolean} own whether the own player killed or died
   * @param {number} nowMs
   */
  addKill(killer, victim, own, nowMs) {
    this.kills.push({ at: nowMs, killer, victim, own });
    if (this.kills.length > KILL_FEED_MAX) this.kills.shift();
  }

  /**
   * Updates everything.
   * @param {object} view
   * @param {Array<{id: number, name: string, score: number, own: boolean}>} view.avatars
   * @param {object} view.net the SDK's `client.stats` (see {@link netLines})
   * @param {{dead: boolean, respawnIn: number, killer: string|null}} view.self
   * @param {{state: string}} view.status connection status
   * @param {string | null} [view.watching] for a spectator, whom it watches (see `watchText`)
   * @param {number} nowMs
   */
  update(view, nowMs) {
    const watching = view.watching ?? null;
    this.watch.classList.toggle('hidden', watching === null);
    if (watching !== null && this.watch.textContent !== watching) this.watch.textContent = watching;
    this.updateScoreboard(view.avatars);
    this.updateKillFeed(nowMs);
    this.updateNet(view.net);
    this.updateDeath(view.self);
    const text = connectionText(view.status);
    this.banner.textContent = text;
    this.banner.classList.toggle('hidden', text === '');
    this.banner.classList.toggle('fatal', view.status.state === 'closed');
  }

  /**
   * Redraws the scoreboard when its rows changed.
   * @param {Array<{id: number, name: string, score: number, own: boolean}>} avatars
   */
  updateScoreboard(avatars) {
    const rows = scoreboardRows(avatars);
    const key = JSON.stringify(rows);
    if (key === this.lastScoreboard) return;
    this.lastScoreboard = key;
    const title = el(this.doc, 'div', 'hud-title', `Scoreboard · ${avatars.length} playing`);
    const table = el(this.doc, 'table');
    for (const row of rows) {
      const tr = el(this.doc, 'tr', row.own ? 'own' : '');
      tr.append(el(this.doc, 'td', 'rank', `${row.rank}.`), el(this.doc, 'td', 'name', row.name), el(this.doc, 'td', 'score', String(row.score)));
      table.append(tr);
    }
    this.scoreboard.replaceChildren(title, table);
  }

  /**
   * Drops the kills that have been shown long enough and fades the old ones.
   * @param {number} nowMs
   */
  updateKillFeed(nowMs) {
    this.kills = this.kills.filter((k) => nowMs - k.at < KILL_FEED_MS);
    const items = this.kills.map((k) => {
      const item = el(this.doc, 'div', `hud-kill${k.own ? ' own' : ''}`);
      item.append(el(this.doc, 'span', 'killer', k.killer), el(this.doc, 'span', 'arrow', ' ✖ '), el(this.doc, 'span', 'victim', k.victim));
      item.style.opacity = String(Math.min(1, (KILL_FEED_MS - (nowMs - k.at)) / 1000));
      return item;
    });
    this.killFeed.replaceChildren(...items);
  }

  /**
   * Redraws the network overlay.
   * @param {object} net the SDK's `client.stats` (see {@link netLines})
   */
  updateNet(net) {
    const title = el(this.doc, 'div', 'hud-title', 'Network');
    const rows = netLines(net).map(([label, value]) => {
      const row = el(this.doc, 'div', 'row');
      row.append(el(this.doc, 'span', 'label', label), el(this.doc, 'span', 'value', value));
      return row;
    });
    this.net.replaceChildren(title, ...rows);
  }

  /**
   * Shows or hides the death notice and its countdown.
   * @param {{dead: boolean, respawnIn: number, killer: string|null}} self
   */
  updateDeath(self) {
    this.death.classList.toggle('hidden', !self.dead);
    if (!self.dead) return;
    const head = el(this.doc, 'div', 'big', 'You were eliminated');
    const by = el(this.doc, 'div', 'by', self.killer ? `by ${self.killer}` : '');
    const count = el(this.doc, 'div', 'count', `Respawning in ${self.respawnIn.toFixed(1)} s`);
    this.death.replaceChildren(head, by, count);
  }
}
