// The arena app: the join screen, then one game on the client SDK.
//
// The SDK (`/sdk/index.js`, docs/client-sdk.md) joins, keeps the entities,
// sends the input once per server tick, draws the others interpolated, and
// predicts the own avatar with the arena's own step (`stepAvatar`, in
// predict.js). This module wires the arena's side to it: the keys and mouse
// become the arena's input, every display frame is drawn from what
// `client.frame` says, the HUD shows the scoreboard, the kill feed and the
// SDK's network figures. The arena's names come from arena.js.
//
// A spectator's game (`?spectate=1`, or the join screen's Watch button)
// sends no input: the camera follows the watched player's avatar, the keys
// switch whom it watches (watch.js), and the HUD says who that is.

import { connect } from '/sdk/index.js';
import { ARENA, declared } from './arena.js';
import { InputState } from './input.js';
import { isDead, stepAvatar } from './predict.js';
import { Renderer } from './render.js';
import { OwnShots, shotRules } from './shots.js';
import { Hud, respawnSeconds } from './hud.js';
import { Scores } from './scoreboard.js';
import { WATCH_HELP, WatchKeys, cyclePlayer, watchText } from './watch.js';

/** How often the HUD's DOM is refreshed, in ms. */
const HUD_INTERVAL_MS = 100;

/** @typedef {import('./arena.js').Declared} Declared */

/**
 * One game: the SDK's client and the loop that shows it.
 */
export class Game {
  /**
   * @param {object} options
   * @param {Window} options.win
   * @param {HTMLCanvasElement} options.canvas
   * @param {HTMLElement} options.hudRoot
   * @param {string} options.name
   * @param {string} [options.room] empty or absent: any room
   * @param {boolean} [options.spectate] watch instead of playing
   * @param {number} [options.follow] with `spectate`, the player to watch first (default: the server picks)
   */
  constructor({ win, canvas, hudRoot, name, room, spectate = false, follow }) {
    this.win = win;
    this.name = name;
    this.spectate = spectate;
    // A page opened as `/?ticket=...` (by a game's backend) joins with it:
    // the SDK reads the page's ticket.
    this.client = spectate
      ? connect({ name, room: room || undefined, spectate: true, follow })
      : connect({ name, room: room || undefined, spectate: false, predict: stepAvatar });
    this.renderer = new Renderer(canvas, win);
    this.hud = new Hud(hudRoot);
    this.input = new InputState();
    this.watchKeys = new WatchKeys();
    if (spectate) {
      this.hud.setHelp(WATCH_HELP);
      this.watchKeys.attach(win, (step) => this.watchNext(step));
    } else {
      this.input.attach(win, canvas, () => this.sendInput());
    }
    /** @type {Declared | null} the arena's names the game declares, from the welcome */
    this.declared = null;
    this.scores = new Scores();
    /** Where the own avatar aims, in radians. */
    this.aim = 0;
    /** @type {string | null} who killed the own avatar, while it is dead */
    this.killedBy = null;
    /** Snapshots applied since the page loaded. */
    this.snapshots = 0;
    /** Frames drawn since the game started. */
    this.frames = 0;
    this.lastHud = -Infinity;
    /** @type {{x: number, y: number} | null} where the own avatar was last drawn */
    this.drawnOwn = null;
    /** @type {Map<number, {x: number, y: number}>} where each avatar was last drawn, by entity id */
    this.drawnAvatars = new Map();
    /** @type {OwnShots | null} the own shots, drawn at once (a player in a game with the arena's shots) */
    this.shots = null;
    /** The round trip, ms, as the HUD last read it. */
    this.rttMs = 0;
    /** @type {Array<{x: number, y: number, heading: number, own: boolean}>} the projectiles last drawn */
    this.drawnProjectiles = [];
    this.client.on('welcome', (w) => this.welcomed(w));
    this.client.on('input', (seq, named, at) => this.inputSent(seq, named, at));
    this.client.on('added', (e) => {
      const P = ARENA.projectile;
      if (e.kind === P.kind) this.shots?.arrived(e.id, { x: e.fields[P.x], y: e.fields[P.y], heading: e.fields[P.heading] ?? 0 });
    });
    this.client.on('removed', (e) => this.shots?.gone(e.id));
    this.client.on('snapshot', () => this.snapshot());
    this.client.on('event', (ev) => this.event(ev));
    this.client.on('left', ({ player }) => this.scores.left(player));
    this.exposeDebugHook();
    const frame = (/** @type {number} */ now) => {
      this.frame(now);
      win.requestAnimationFrame(frame);
    };
    win.requestAnimationFrame(frame);
  }

  /**
   * A welcome (after every connect and reconnect): what the game declares.
   * @param {import('/sdk/index.js').Welcome} w
   */
  welcomed(w) {
    const first = this.declared === null;
    this.declared = declared(w.schema, w.constants);
    this.scores.reset();
    const rules = shotRules(w.constants);
    this.shots = !w.spectator && this.declared.projectile && this.declared.input && rules ? new OwnShots(rules, w.tickRate) : null;
    if (!this.declared.input) console.warn(`tickwire: game ${w.game} does not declare the arena's input; this page sends none`);
    if (first && w.spectator) console.info(`tickwire: watching room ${w.room} (${w.game})`);
    else if (first) console.info(`tickwire: joined room ${w.room} as player ${w.player} (${w.game})`);
    this.sendInput();
  }

  /**
   * The player whose avatar the camera follows and the scoreboard
   * highlights: the own player, or the one a spectator watches (-1: none).
   */
  watchedPlayer() {
    const w = this.client.welcome;
    if (!w) return -1;
    return w.spectator ? (w.following ?? -1) : w.player;
  }

  /**
   * A spectator watches the next player (`step` 1) or the previous one (-1)
   * of the room, in id order.
   * @param {number} step
   */
  watchNext(step) {
    const roster = this.client.welcome?.roster;
    if (!roster) return;
    const next = cyclePlayer(roster.keys(), this.client.following, step);
    if (next !== null && next !== this.client.following) this.client.follow(next);
  }

  /** A snapshot: the scores of the avatars in view, and whether the own avatar lives. */
  snapshot() {
    this.snapshots += 1;
    const w = this.client.welcome;
    if (!w || !this.declared) return;
    this.scores.seen(this.client.entities.values(), this.declared, { entity: w.entity, player: this.watchedPlayer() });
    const own = this.client.own;
    if (own && !isDead(own.fields)) this.killedBy = null;
  }

  /**
   * A game event: a kill goes to the feed, and counts for the killer.
   * @param {import('/sdk/index.js').GameEvent} ev
   */
  event(ev) {
    const { event, killer: killerField, victim: victimField } = ARENA.kill;
    if (ev.name !== event || !this.declared?.kill) return;
    const killer = ev.fields[killerField];
    const victim = ev.fields[victimField];
    const player = this.watchedPlayer();
    const killerName = killer < 0 ? null : (this.client.playerName(killer) ?? `player ${killer}`);
    const victimName = this.client.playerName(victim) ?? `player ${victim}`;
    this.hud.addKill(killerName ?? '', victimName, player >= 0 && (killer === player || victim === player), performance.now());
    if (victim === player && !this.spectate) this.killedBy = killerName;
    this.scores.kill(killer);
  }

  /**
   * An input went out: it may fire one of the own shots, from where the
   * own avatar is predicted after it.
   * @param {number} seq
   * @param {Record<string, number | boolean>} named
   * @param {number} at when it was due, ms
   */
  inputSent(seq, named, at) {
    if (!this.shots) return;
    const own = this.client.own;
    const p = this.client.predicted;
    const A = ARENA.avatar;
    const from = own && p && !isDead(own.fields) ? { x: p[A.x], y: p[A.y] } : null;
    this.shots.sent(seq, named, from, at);
  }

  /** Hands what the player holds to the SDK, which sends it each tick (a spectator holds nothing). */
  sendInput() {
    if (this.declared?.input && !this.spectate) this.client.setInput(this.input.named(this.aim));
  }

  /** Aims from the own avatar, at the screen's centre, toward the mouse. */
  updateAim() {
    const mouse = this.input.mouse;
    const own = this.drawnOwn;
    if (!mouse || !own) return;
    const target = this.renderer.screenToWorld(mouse.x, mouse.y);
    const dx = target.x - own.x;
    const dy = target.y - own.y;
    if (dx * dx + dy * dy > 1) this.aim = Math.atan2(dy, dx);
  }

  /**
   * Draws one frame, then aims and hands the input on.
   * @param {number} now
   */
  frame(now) {
    this.frames += 1;
    this.renderer.draw(this.scene(now));
    this.updateAim();
    this.sendInput();
    if (now - this.lastHud >= HUD_INTERVAL_MS) {
      this.lastHud = now;
      const view = this.hudView();
      this.rttMs = view.net.pingMs ?? 0;
      this.hud.update(view, now);
    }
  }

  /**
   * What to draw at `now`: the SDK's frame, as avatars and projectiles.
   * @param {number} now
   */
  scene(now) {
    const entities = this.client.frame(now);
    const d = this.declared;
    const arenaSize = d?.arenaSize ?? ARENA.defaults.arenaSize;
    /** @type {Array<object>} */
    const avatars = [];
    /** @type {Array<object>} */
    const projectiles = [];
    let camera = { x: arenaSize / 2, y: arenaSize / 2 };
    const ownId = this.client.own?.id;
    this.drawnOwn = null;
    this.drawnAvatars.clear();
    const A = ARENA.avatar;
    const P = ARENA.projectile;
    for (const e of d ? entities : []) {
      const f = e.fields;
      if (e.kind === A.kind && d?.avatar) {
        const own = e.id === ownId;
        const dead = isDead(f);
        const player = d.player ? f[A.player] : -1;
        if (own) {
          this.drawnOwn = { x: f[A.x], y: f[A.y] };
          camera = this.drawnOwn;
        }
        this.drawnAvatars.set(e.id, { x: f[A.x], y: f[A.y] });
        avatars.push({
          id: e.id,
          x: f[A.x],
          y: f[A.y],
          // The own barrel follows the mouse at once; a watched one, the server.
          heading: own && !dead && !this.spectate ? this.aim : (f[A.heading] ?? 0),
          hp: d.hp ? f[A.hp] : d.maxHp,
          maxHp: d.maxHp,
          dead,
          own,
          name: this.avatarName(own, player, e.id),
          colourId: player >= 0 ? player : e.id,
        });
      } else if (e.kind === P.kind && d?.projectile && !this.shots?.hidden.has(e.id)) {
        projectiles.push({ id: e.id, x: f[P.x], y: f[P.y], heading: f[P.heading], own: false });
      }
    }
    // The own shots, where they are now (the server's, once matched, hidden above).
    for (const s of this.shots?.drawn(now, this.rttMs) ?? []) {
      projectiles.push({ id: -s.seq, x: s.x, y: s.y, heading: s.heading, own: true });
    }
    this.drawnProjectiles = projectiles;
    return { arenaSize, camera, avatars, projectiles };
  }

  /**
   * The name over an avatar.
   * @param {boolean} own whether it is the own avatar
   * @param {number} player its player (-1: not declared)
   * @param {number} id its entity id
   */
  avatarName(own, player, id) {
    const client = this.client;
    if (own && this.spectate) return client.playerName(this.watchedPlayer()) ?? `player #${id}`;
    if (own) return client.playerName(client.welcome?.player ?? -1) ?? this.name;
    return (player >= 0 ? client.playerName(player) : null) ?? `player #${id}`;
  }

  /** Every player in the room with its best-known score, for the scoreboard. */
  scoreboardEntries() {
    const w = this.client.welcome;
    return w ? this.scores.entries(w.roster, this.watchedPlayer()) : [];
  }

  /** What the HUD shows now. */
  hudView() {
    const own = this.client.own;
    const tickRate = this.client.welcome?.tickRate ?? 30;
    const watched = this.watchedPlayer();
    return {
      avatars: this.scoreboardEntries(),
      net: this.client.stats,
      watching: this.spectate ? watchText(watched >= 0 ? this.client.playerName(watched) : null, this.client.welcome?.roster.size ?? 0) : null,
      self: {
        // A spectator is never eliminated.
        dead: own && !this.spectate ? isDead(own.fields) : false,
        respawnIn: own ? respawnSeconds(own.fields[ARENA.avatar.respawn] ?? 0, tickRate) : 0,
        killer: this.killedBy,
      },
      status: this.client.status,
    };
  }

  /** `window.tickwire`: the game's state, for tests and the curious. */
  exposeDebugHook() {
    const game = this;
    const client = this.client;
    /** @type {any} */ (this.win).tickwire = {
      /** The SDK's client. */
      client,
      get connected() {
        return client.status.state === 'connected';
      },
      get status() {
        return client.status;
      },
      get playerId() {
        return client.welcome?.player ?? null;
      },
      get avatarId() {
        return client.welcome?.entity ?? null;
      },
      /** Whether the page watches instead of playing. */
      get spectating() {
        return client.spectating;
      },
      /** The player a spectator watches, or null. */
      get following() {
        return client.following;
      },
      /** What the HUD says a spectator watches, or null for a player. */
      get watching() {
        return game.hudView().watching;
      },
      get tick() {
        return client.stats.tick;
      },
      get snapshots() {
        return game.snapshots;
      },
      get inputSeq() {
        return client.inputSeq;
      },
      get lastInputAck() {
        return client.lastInput;
      },
      /** The scoreboard's entries: every player in the room, best-known score. */
      get scoreboard() {
        return game.scoreboardEntries().map(({ name, score, own }) => ({ name, score, own }));
      },
      /** Newest server state: id -> { kind, ...de-quantized fields }. */
      get entities() {
        /** @type {Record<number, object>} */
        const out = {};
        for (const [id, e] of client.entities) out[id] = { kind: e.kind, ...e.fields };
        return out;
      },
      /** The own avatar's newest predicted position (the SDK's prediction with the arena's step). */
      get predicted() {
        const state = client.predicted;
        return state ? { x: state.x, y: state.y } : null;
      },
      /** Where the own avatar was last drawn (prediction plus smoothing). */
      get drawn() {
        return game.drawnOwn ? { ...game.drawnOwn } : null;
      },
      /** Where every avatar was last drawn (the others interpolated): id -> { x, y }. */
      get drawnAvatars() {
        return Object.fromEntries(game.drawnAvatars);
      },
      /** The projectiles last drawn: `{ x, y, heading, own }`, `own` for the page's own shots drawn at once. */
      get drawnProjectiles() {
        return game.drawnProjectiles.map((p) => ({ x: p.x, y: p.y, heading: p.heading, own: p.own }));
      },
      /** Frames drawn since the game started. */
      get frames() {
        return game.frames;
      },
      /** The SDK's network figures. */
      get stats() {
        return client.stats;
      },
      /**
       * Screen position (CSS pixels) of a world point, as last drawn.
       * @param {number} x
       * @param {number} y
       */
      worldToScreen(x, y) {
        return game.renderer.worldToScreen(x, y);
      },
    };
  }
}

/** The join screen, over the empty arena drifting by; Play starts a {@link Game}. */
function boot() {
  const doc = document;
  const form = /** @type {HTMLFormElement} */ (doc.getElementById('join'));
  const nameInput = /** @type {HTMLInputElement} */ (doc.getElementById('name'));
  const roomInput = /** @type {HTMLInputElement} */ (doc.getElementById('room'));
  const params = new URLSearchParams(location.search);
  nameInput.value = params.get('name') ?? localStorage.getItem('tickwire.name') ?? '';
  roomInput.value = params.get('room') ?? '';
  const watchButton = /** @type {HTMLButtonElement} */ (doc.getElementById('watch'));
  const canvas = /** @type {HTMLCanvasElement} */ (doc.getElementById('game'));
  const backdrop = new Renderer(canvas, window);
  let idle = true;
  const drift = (/** @type {number} */ now) => {
    if (!idle) return;
    const t = now / 20000;
    const side = ARENA.defaults.arenaSize;
    const camera = { x: side / 2 + Math.cos(t) * 900, y: side / 2 + Math.sin(t) * 900 };
    backdrop.draw({ arenaSize: side, camera, avatars: [], projectiles: [] });
    requestAnimationFrame(drift);
  };
  requestAnimationFrame(drift);
  /**
   * Leaves the join screen for a game: played, or with `spectate` watched.
   * @param {boolean} spectate
   */
  const start = (spectate) => {
    const name = nameInput.value.trim().slice(0, 24) || (spectate ? 'spectator' : 'player');
    const room = roomInput.value.trim().slice(0, 32);
    if (!spectate) {
      try {
        localStorage.setItem('tickwire.name', name);
      } catch {
        // Private mode: nothing to remember.
      }
    }
    idle = false;
    backdrop.dispose();
    form.classList.add('hidden');
    const hudRoot = /** @type {HTMLElement} */ (doc.getElementById('hud'));
    hudRoot.classList.remove('hidden');
    const follow = Number(params.get('follow') ?? NaN);
    new Game({ win: window, canvas, hudRoot, name, room, spectate, follow: Number.isInteger(follow) && follow >= 0 ? follow : undefined });
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    start(false);
  });
  watchButton.addEventListener('click', () => start(true));
  nameInput.focus();
  const spectate = params.get('spectate');
  if (spectate !== null && !['', '0', 'false'].includes(spectate)) start(true);
  else if (params.has('autoplay') && nameInput.value) form.requestSubmit();
}

if (typeof document !== 'undefined') boot();
