// Wiring: the join screen, then one game session driving the modules.
//
// Two clocks run the client. Every server tick interval (1/30 s) the input
// pump samples the keys and mouse, sends one input and advances the
// prediction by it; every display frame the renderer draws the others as the
// interpolator places them in the recent past, and the own avatar where the
// prediction puts it. Snapshots arrive in between and feed both: the
// interpolator's buffer, and the prediction's reconciliation.

import { Connection, gameUrl } from '../sdk/net.js';
import { SchemaView } from '../sdk/schema.js';
import { Interpolator } from '../sdk/interpolation.js';
import { Predictor } from './prediction.js';
import { InputState, arenaInput, arenaValues } from './input.js';
import { Renderer } from './render.js';
import { Hud, respawnSeconds } from './hud.js';

/** Side of the arena when the server does not say (the arena game's default). */
const DEFAULT_ARENA_SIZE = 4000;
/** Most inputs sent in one catch-up after the page was stalled. */
const MAX_CATCH_UP_INPUTS = 4;
/** How often the HUD's DOM is refreshed, in ms. */
const HUD_INTERVAL_MS = 100;

/** Names of the avatar fields that may name the owning player. */
const OWNER_FIELDS = ['player', 'owner'];

/**
 * One game: a connection, its state and the loops that show it.
 */
export class Session {
  /**
   * @param {object} options
   * @param {Window} options.win
   * @param {HTMLCanvasElement} options.canvas
   * @param {HTMLElement} options.hudRoot
   * @param {string} options.name
   * @param {string} [options.room]
   */
  constructor({ win, canvas, hudRoot, name, room }) {
    this.win = win;
    this.name = name;
    this.renderer = new Renderer(canvas, win);
    this.hud = new Hud(hudRoot);
    this.input = new InputState();
    this.input.attach(win, canvas);
    this.status = { state: 'connecting' };
    this.schema = null;
    this.tickRate = 30;
    this.arenaSize = DEFAULT_ARENA_SIZE;
    this.interpolator = null;
    this.predictor = null;
    this.playerId = null;
    this.avatarId = null;
    /** PlayerId -> name. */
    this.roster = new Map();
    /** The newest server state, de-quantized: NetId -> { kind, fields }. */
    this.entities = new Map();
    this.tick = 0;
    this.lastInputAck = null;
    this.inputSeq = 0;
    this.nextInputAt = null;
    this.lastInputAt = 0;
    this.aim = 0;
    /** Where the arena's input fields are in the game's declared input; null when it declares none of them. */
    this.inputLayout = null;
    this.killedBy = null;
    this.lastHud = 0;
    this.lastFrame = null;
    this.connection = new Connection({
      // A page opened as `/?ticket=...` (by a game's backend) joins with it.
      url: gameUrl(win.location, { room, name, ticket: new URLSearchParams(win.location.search).get('ticket') }),
      onWelcome: (w) => this.welcomed(w),
      onSnapshot: (s) => this.snapshot(s),
      onEvent: (e) => this.event(e),
      onStatus: (s) => {
        this.status = s;
      },
      onWarning: (m) => console.warn(`tickwire: ${m}`),
    });
    this.exposeDebugHook();
    this.connection.start();
    this.pumpTimer = win.setInterval(() => this.pumpInputs(performance.now()), 10);
    const frame = (now) => {
      this.frame(now);
      this.rafId = win.requestAnimationFrame(frame);
    };
    this.rafId = win.requestAnimationFrame(frame);
  }

  welcomed(w) {
    const first = this.schema === null;
    this.schema = new SchemaView(w.schema);
    this.tickRate = w.tickRate;
    // The game's own constants, from the welcome: a server started with
    // another arena size or speed predicts and draws right.
    const constants = new Map(w.constants ?? []);
    this.arenaSize = constants.get('arena_size') ?? DEFAULT_ARENA_SIZE;
    const speed = constants.get('player_speed');
    this.playerId = w.player;
    this.avatarId = w.entity;
    this.roster = new Map(w.roster.map(([id, name]) => [id, name]));
    // Best-known score per player. With interest management most avatars
    // are out of view, so the scoreboard cannot be read off the visible
    // ones: a visible avatar's replicated score is authoritative, and kills
    // in the feed count for those out of view. A player never seen since
    // this client joined shows the kills it scored since then.
    this.scores = new Map();
    this.entities = new Map();
    this.interpolator = new Interpolator({ tickRate: this.tickRate, modes: this.schema.modes });
    this.predictor = new Predictor({ tickRate: this.tickRate, arenaSize: this.arenaSize, ...(speed ? { speed } : {}) });
    this.nextInputAt = null;
    // The input goes through the fields the game declares: the arena's
    // move_x, move_y, aim and buttons (with a fire button).
    this.inputLayout = arenaInput(this.schema.input);
    if (this.inputLayout) this.input.layout = this.inputLayout;
    else console.warn(`tickwire: game ${this.schema.game} does not declare the arena's input; this page sends none`);
    if (first) console.info(`tickwire: joined room ${w.room} as player ${w.player} (${this.schema.game})`);
  }

  snapshot({ tick, lastInput, entities }) {
    const now = performance.now();
    const state = new Map();
    for (const e of entities) {
      const decoded = this.schema.decodeEntity(e.kind, e.values);
      if (decoded) state.set(e.id, decoded);
    }
    this.entities = state;
    this.tick = tick;
    for (const e of state.values()) {
      if (e.kind !== 'avatar' || e.fields.score === undefined) continue;
      const owner = e.id === this.avatarId ? this.playerId : this.ownerOf(e.fields);
      if (owner !== undefined) this.scores.set(owner, e.fields.score);
    }
    this.lastInputAck = lastInput;
    this.interpolator.push(tick, state, now);
    const own = state.get(this.avatarId);
    if (own) {
      const alive = !isDead(own.fields);
      this.predictor.reconcile(own.fields, lastInput ?? -1, alive);
      if (alive) this.killedBy = null;
    }
  }

  event(e) {
    switch (e.type) {
      case 'game':
        // The game's events, by the names its schema declares.
        if (e.name === 'kill') this.kill(e.fields.killer, e.fields.victim);
        break;
      case 'playerJoined':
        this.roster.set(e.player, e.name);
        break;
      case 'playerLeft':
        this.roster.delete(e.player);
        this.scores.delete(e.player);
        break;
      default:
        break;
    }
  }

  /**
   * A kill in the feed: `killer` (a player id, or -1 when nobody caused the
   * death) scored on `victim`.
   */
  kill(killer, victim) {
    const killerName = killer < 0 ? null : (this.roster.get(killer) ?? `player ${killer}`);
    const victimName = this.roster.get(victim) ?? `player ${victim}`;
    const own = killer === this.playerId || victim === this.playerId;
    this.hud.addKill(killerName ?? '', victimName, own, performance.now());
    if (victim === this.playerId) this.killedBy = killerName;
    if (killer >= 0) this.scores.set(killer, (this.scores.get(killer) ?? 0) + 1);
  }

  /** Sends one input per tick interval that has passed (a few at most after a stall). */
  pumpInputs(now) {
    if (!this.connection.connected || !this.predictor || !this.inputLayout) return;
    const interval = 1000 / this.tickRate;
    if (this.nextInputAt === null || now - this.nextInputAt > MAX_CATCH_UP_INPUTS * interval) {
      this.nextInputAt = now;
    }
    while (now >= this.nextInputAt) {
      this.updateAim();
      this.inputSeq += 1;
      const input = this.input.sample(this.inputSeq, this.aim);
      if (this.connection.sendInput(input.seq, arenaValues(this.inputLayout, input))) this.predictor.applyInput(input);
      this.lastInputAt = this.nextInputAt;
      this.nextInputAt += interval;
    }
  }

  updateAim() {
    const mouse = this.input.mouse;
    const own = this.predictor?.displayPosition(this.predictor.alpha);
    if (!mouse || !own) return;
    const target = this.renderer.screenToWorld(mouse.x, mouse.y);
    const dx = target.x - own.x;
    const dy = target.y - own.y;
    if (dx * dx + dy * dy > 1) this.aim = Math.atan2(dy, dx);
  }

  frame(now) {
    this.frames = (this.frames ?? 0) + 1;
    this.pumpInputs(now);
    const elapsed = this.lastFrame === null ? 0 : now - this.lastFrame;
    this.lastFrame = now;
    const scene = this.scene(now, elapsed);
    this.renderer.draw(scene);
    if (now - this.lastHud >= HUD_INTERVAL_MS) {
      this.lastHud = now;
      this.hud.update(this.hudView(now), now);
    }
  }

  /** What to draw at `now`. */
  scene(now, elapsedMs) {
    const avatars = [];
    const projectiles = [];
    const maxHp = this.schema?.intMax('avatar', 'hp', 100) ?? 100;
    const drawn = this.interpolator ? this.interpolator.sample(now) : new Map();
    let camera = { x: this.arenaSize / 2, y: this.arenaSize / 2 };
    if (this.predictor) {
      this.predictor.advance(elapsedMs);
      const alpha = Math.min(1, (now - this.lastInputAt) / (1000 / this.tickRate));
      const own = this.predictor.displayPosition(alpha);
      const server = this.entities.get(this.avatarId);
      this.drawnOwn = own;
      if (own && server) {
        camera = own;
        drawn.set(this.avatarId, { id: this.avatarId, kind: 'avatar', fields: { ...server.fields, x: own.x, y: own.y, heading: this.aim } });
      }
    }
    for (const [id, e] of drawn) {
      const f = e.fields;
      if (e.kind === 'avatar') {
        const own = id === this.avatarId;
        avatars.push({
          id,
          x: f.x,
          y: f.y,
          heading: f.heading ?? 0,
          hp: f.hp ?? maxHp,
          maxHp,
          score: f.score ?? 0,
          dead: isDead(f),
          own,
          name: this.avatarName(id, f),
          colourId: this.ownerOf(f) ?? id,
        });
      } else if (f.x !== undefined && f.y !== undefined) {
        projectiles.push({ id, kind: e.kind, x: f.x, y: f.y, heading: f.heading });
      }
    }
    this.lastScene = { avatars, projectiles, camera };
    return { arenaSize: this.arenaSize, camera, avatars, projectiles };
  }

  ownerOf(fields) {
    for (const name of OWNER_FIELDS) if (fields[name] !== undefined) return fields[name];
    return undefined;
  }

  avatarName(id, fields) {
    if (id === this.avatarId) return this.name;
    const owner = this.ownerOf(fields);
    if (owner !== undefined && this.roster.has(owner)) return this.roster.get(owner);
    return `player #${id}`;
  }

  /** Every player in the room with its best-known score, for the scoreboard. */
  scoreboardEntries() {
    const entries = [];
    for (const [player, name] of this.roster) {
      const own = player === this.playerId;
      entries.push({ id: player, name: own ? this.name : name, score: this.scores.get(player) ?? 0, own });
    }
    return entries;
  }

  hudView(now) {
    const own = this.entities.get(this.avatarId);
    const dead = own ? isDead(own.fields) : false;
    return {
      avatars: this.scoreboardEntries(),
      net: {
        ...this.connection.stats(),
        interpDelayMs: this.interpolator ? this.interpolator.lagMs(now) : 0,
        tick: this.tick,
      },
      self: {
        dead,
        respawnIn: own ? respawnSeconds(own.fields.respawn ?? 0, this.tickRate) : 0,
        killer: this.killedBy,
      },
      status: this.status,
    };
  }

  /** `window.tickwire`: the client's state, for tests and the curious. */
  exposeDebugHook() {
    const session = this;
    this.win.tickwire = {
      get connected() {
        return session.connection.connected;
      },
      get status() {
        return session.status;
      },
      get playerId() {
        return session.playerId;
      },
      get avatarId() {
        return session.avatarId;
      },
      get tick() {
        return session.tick;
      },
      get snapshots() {
        return session.connection.snapshotsApplied;
      },
      get inputSeq() {
        return session.inputSeq;
      },
      get lastInputAck() {
        return session.lastInputAck;
      },
      /** The scoreboard's entries: every player in the room, best-known score. */
      get scoreboard() {
        return session.scoreboardEntries().map(({ name, score, own }) => ({ name, score, own }));
      },
      /** Newest server state: id -> { kind, ...de-quantized fields }. */
      get entities() {
        const out = {};
        for (const [id, e] of session.entities) out[id] = { kind: e.kind, ...e.fields };
        return out;
      },
      /** The own avatar's predicted position. */
      get predicted() {
        return session.predictor?.position ? { ...session.predictor.position } : null;
      },
      /** Where the own avatar was last drawn (prediction plus smoothing). */
      get drawn() {
        return session.drawnOwn ? { ...session.drawnOwn } : null;
      },
      /** Frames drawn since the page loaded. */
      get frames() {
        return session.frames;
      },
      get stats() {
        return session.connection.stats();
      },
      /** Screen position (CSS pixels) of a world point, as last drawn. */
      worldToScreen(x, y) {
        return session.renderer.worldToScreen(x, y);
      },
    };
  }
}

/** Whether an avatar's fields say it is dead. */
export function isDead(fields) {
  return (fields.hp !== undefined && fields.hp <= 0) || (fields.respawn ?? 0) > 0;
}

function boot() {
  const doc = document;
  const form = doc.getElementById('join');
  const nameInput = doc.getElementById('name');
  const roomInput = doc.getElementById('room');
  const params = new URLSearchParams(location.search);
  nameInput.value = params.get('name') ?? localStorage.getItem('tickwire.name') ?? '';
  roomInput.value = params.get('room') ?? '';
  // Behind the join screen: the empty arena, slowly drifting.
  const canvas = doc.getElementById('game');
  const backdrop = new Renderer(canvas, window);
  let idle = true;
  const drift = (now) => {
    if (!idle) return;
    const t = now / 20000;
    backdrop.draw({ arenaSize: DEFAULT_ARENA_SIZE, camera: { x: 2000 + Math.cos(t) * 900, y: 2000 + Math.sin(t) * 900 }, avatars: [], projectiles: [] });
    requestAnimationFrame(drift);
  };
  requestAnimationFrame(drift);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = nameInput.value.trim().slice(0, 24) || 'player';
    const room = roomInput.value.trim().slice(0, 32);
    try {
      localStorage.setItem('tickwire.name', name);
    } catch {
      // Private mode: nothing to remember.
    }
    idle = false;
    backdrop.dispose();
    form.classList.add('hidden');
    const hudRoot = doc.getElementById('hud');
    hudRoot.classList.remove('hidden');
    new Session({ win: window, canvas, hudRoot, name, room });
  });
  nameInput.focus();
  if (params.has('autoplay') && nameInput.value) form.requestSubmit();
}

if (typeof document !== 'undefined') boot();
