// The client: one call connects a page to a game, and everything the SDK
// does is wired together here.
//
// `connect(options)` opens the connection (joining a room at once) and
// returns a `Client`. The welcome brings the game's schema; every snapshot
// updates the entity store (which calls back added, changed and removed),
// feeds the interpolator (which draws others a little in the past), and
// reconciles the prediction of the own entity when the game gave a step
// function. Two clocks run it: every server tick interval, the input pump
// sends the held input once, stamped with the next sequence number (a few
// at most to catch up after a stall), and feeds it to the prediction; every
// drawn frame, `frame(now)` says where everything is. A dropped connection
// reconnects with backoff and resumes: the server gives back the same
// player and entity (it holds the seat for a while), with a delta against
// the newest state held, so the store, the own entity and the input
// sequence carry on where they were; when the resume is refused, the client
// joins afresh and the status says so. In a cluster, a reconnect that
// cannot reach its node goes back through the entry, which knows where the
// room is now. A spectator (`spectate: true`) sends no input: it watches a
// player (`follow`), whose entity is its `own`, or a rectangle of the
// world, and every entity is drawn interpolated.

import { Connection, gameUrl } from './net.js';
import { encodeChat, encodeWatch } from './protocol.js';
import { SchemaView } from './schema.js';
import { Interpolator } from './interpolation.js';
import { EntityStore } from './store.js';
import { InputCodec } from './input.js';
import { Predictor } from './prediction.js';

/** Most inputs sent in one catch-up after the page was stalled. */
export const MAX_CATCH_UP_INPUTS = 4;
/** How often the input pump looks at the clock, in ms. */
const PUMP_INTERVAL_MS = 10;

/** @typedef {import('./store.js').Entity} Entity */
/** @typedef {import('./input.js').NamedInput} NamedInput */
/** @typedef {import('./prediction.js').PredictFn} PredictFn */

/**
 * What `connect` takes; every option is optional.
 * @typedef {object} ConnectOptions
 * @property {string} [url] the game's WebSocket URL; default `ws(s)://<page host>/ws` with the room, name and ticket as query parameters
 * @property {string} [room] the room to join; default the page's `?room=`, else the server's default room
 * @property {string} [name] the player's name; default the page's `?name=`
 * @property {string} [ticket] a signed join ticket from the game's backend; default the page's `?ticket=`
 * @property {boolean} [spectate] watch without playing: no seat, no entity of its own, no input; default the page's `?spectate=1`
 * @property {number} [follow] with `spectate`, the player to follow (default the page's `?follow=`; else the server picks one)
 * @property {PredictFn} [predict] the game's step for its own entity; without it the own entity is drawn from the server's state
 * @property {number} [interpolationDelayTicks] how far in the past others are drawn, in ticks (default 2)
 * @property {boolean} [reconnect] whether a dropped connection reconnects (default true)
 * @property {string} [entry] a cluster's entry (its load balancer, or any node), as a game URL: where a reconnect goes, with the room
 *   and the resume, when the node the client was on cannot be reached; default the URL the client connects to without its seat
 *   ticket, or, for a seat's URL (`seatUrl`), the page's own `/ws`
 * @property {import('./lab.js').LabOptions | false} [lab] the network lab: added latency, jitter and stalls, each way
 *   (see lab.js, loaded only then); default the page's `?lag=&jitter=&stall=`, none without them; `false`: none
 *   whatever the query says; a bad figure is warned about and the page plays without a lab
 * @property {typeof WebSocket} [WebSocketImpl] the WebSocket class (for tests; default the global one)
 * @property {() => number} [now] the clock in ms (for tests; default `performance.now()`)
 */

/**
 * The welcome, once per (re)connect.
 * @typedef {object} Welcome
 * @property {number} player the own player's id
 * @property {number} entity the id of the entity the player controls
 * @property {string} room the room joined
 * @property {string} game the game's name
 * @property {number} tickRate server ticks (and snapshots) per second
 * @property {number} tick the server's tick when it welcomed
 * @property {SchemaView} schema the game's kinds, fields, input and events
 * @property {Record<string, number>} constants the game's constants for clients
 * @property {Map<number, string>} roster every player in the room, own included: id to name
 * @property {boolean} spectator whether the client spectates (then `player` is NO_PLAYER and `entity` the one the followed player controls, 0 for none)
 * @property {number | null} following the player a spectator follows, or null
 */

/**
 * A game event, by the names its schema declares.
 * @typedef {object} GameEvent
 * @property {string} name the kind of event
 * @property {Record<string, number>} fields its fields; a player field is a player id, -1 for none
 */

/**
 * A player who joined or left the room.
 * @typedef {{player: number, name: string | null}} PlayerChange
 */

/**
 * A chat line.
 * @typedef {{player: number, name: string | null, text: string}} ChatLine
 */

/**
 * The connection's state.
 * @typedef {object} Status
 * @property {'connecting' | 'connected' | 'reconnecting' | 'closed'} state
 * @property {string} [reason] why it is reconnecting or closed
 * @property {number} [retryInMs] when reconnecting: time to the next attempt
 * @property {number} [attempt] when reconnecting: which attempt is next, from 1
 * @property {number} [code] the WebSocket close code, when one caused this
 * @property {boolean} [resumed] when connected: whether the held seat (same player, same entity) was taken back; false on a first join or a fresh join after a refused resume
 */

/**
 * Figures about the connection, for an overlay.
 * @typedef {object} Stats
 * @property {number | null} pingMs smoothed round trip (null before the first)
 * @property {number} downBytesPerSecond received, over the last second
 * @property {number} upBytesPerSecond sent, over the last second
 * @property {number} snapshotsPerSecond snapshots applied, over the last second
 * @property {number} interpolationMs how far in the past others are drawn
 * @property {number} tick the newest server tick
 * @property {number} [predictionErrorUnits] the last correction of the own entity's coordinates, in units (with `predict`)
 * @property {number} interpolationStarved times the drawn moment of the others ran past the newest snapshot (nothing left to interpolate toward)
 * @property {(import('./lab.js').LabSettings & {stalled: boolean, text: string}) | null} lab what the network lab adds
 *   (null: no lab), whether the link is frozen now, and both in a few words for a HUD
 */

/**
 * Each event's listener arguments.
 * @typedef {object} ClientEvents
 * @property {[Welcome]} welcome welcomed (after every connect and reconnect)
 * @property {[Entity]} added an entity appeared
 * @property {[Entity, string[], Record<string, number>]} changed an entity changed: the names of its changed fields, and its fields before
 * @property {[Entity]} removed an entity is gone
 * @property {[GameEvent]} event a game event
 * @property {[PlayerChange]} joined a player joined the room
 * @property {[PlayerChange]} left a player left the room
 * @property {[ChatLine]} chat a chat line
 * @property {[Status]} status the connection's state changed
 * @property {[number]} snapshot a snapshot was applied: its tick
 * @property {[number, NamedInput, number]} input an input went out: its sequence number, values and when it was due (the client's clock, ms), once (a game spawns what it predicts here, never in `predict`, which replays)
 * @property {[{player: number | null, entity: number}]} watching a spectator's snapshots follow another player from now on (null: no one), who controls `entity`
 */

/** A page's query that asks for the network lab (see lab.js). */
const LAB_QUERY = /[?&](lag|jitter|stall)/;

/**
 * Connects to a game and joins a room. Listeners added right after this
 * call see everything, the first `connecting` status included.
 * @param {ConnectOptions} [options]
 * @returns {Client}
 */
export function connect(options = {}) {
  return new Client(options);
}

/**
 * A page's connection to a game: its entities, its input, what to draw.
 */
export class Client {
  /**
   * Prefer {@link connect}.
   * @param {ConnectOptions} [options]
   */
  constructor(options = {}) {
    const location = /** @type {{protocol: string, host: string, search: string} | undefined} */ (globalThis.location);
    const params = location ? new URLSearchParams(location.search) : null;
    /** The room asked for. */
    this.room = options.room ?? params?.get('room') ?? undefined;
    /** The name asked for. */
    this.name = options.name ?? params?.get('name') ?? undefined;
    const ticket = options.ticket ?? params?.get('ticket') ?? undefined;
    const spectateParam = params?.get('spectate');
    /** Whether the client watches without playing (the welcome confirms it). */
    this.spectating = options.spectate ?? (spectateParam != null && !['', '0', 'false'].includes(spectateParam));
    const followParam = Number(params?.get('follow') ?? NaN);
    const follow = options.follow ?? (Number.isInteger(followParam) && followParam >= 0 ? followParam : null);
    let url = options.url;
    if (!url) {
      if (!location) throw new TypeError('connect: give a url (there is no page location to derive one from)');
      url = gameUrl(location, { room: this.room, name: this.name, ticket, spectate: this.spectating, follow });
    } else if (this.spectating) {
      const withParams = new URL(url);
      withParams.searchParams.set('spectate', '1');
      if (follow != null) withParams.searchParams.set('follow', String(follow));
      url = withParams.toString();
    }
    /** The game's WebSocket URL. */
    this.url = url;
    this.predictFn = options.predict;
    this.delayTicks = options.interpolationDelayTicks ?? 2;
    this.now = options.now ?? (() => performance.now());
    /** @type {import('./lab.js').Lab | null} the network lab, once loaded, when one is on */
    this.lab = null;
    /** @type {Map<keyof ClientEvents, Set<Function>>} */
    this.listeners = new Map();
    /** @type {SchemaView | null} */
    this.schema = null;
    /** @type {bigint | null} */
    this.schemaHash = null;
    /** @type {Welcome | null} the newest welcome */
    this.welcome = null;
    this.store = new EntityStore(null, {
      onAdded: (e) => this.emit('added', e),
      onChanged: (e, names, previous) => this.emit('changed', e, names, previous),
      onRemoved: (e) => this.emit('removed', e),
    });
    /** @type {Interpolator | null} */
    this.interpolator = null;
    /** Starved moments of the interpolators before the current one (one a welcome). */
    this.starvedBefore = 0;
    /** @type {Predictor | null} */
    this.predictor = null;
    /** @type {InputCodec | null} */
    this.codec = null;
    /** @type {NamedInput} the held input, by name */
    this.held = {};
    /** @type {number[]} the held input's wire values */
    this.heldValues = [];
    /** Sequence number of the last input sent. */
    this.inputSeq = 0;
    /** @type {number | null} */
    this.nextInputAt = null;
    this.lastInputAt = 0;
    /** @type {number | null} */
    this.lastFrame = null;
    /** The newest server tick. */
    this.tick = 0;
    /** @type {number | null} the last input the server acknowledged */
    this.lastInput = null;
    /** @type {Status} */
    this.status = { state: 'connecting' };
    this.closed = false;
    /** @type {ReturnType<typeof setInterval> | null} */
    this.pumpTimer = null;
    /** @type {import('./protocol.js').WatchTarget | null} what a spectator asked to watch since it connected */
    this.watchTarget = null;
    // A seat's URL names the room's node, which may be the one that dies:
    // the page's origin, where matchmaking was asked, is the entry.
    const seated = new URL(url).searchParams.has('seat');
    const entry = options.entry ?? (seated && location ? gameUrl(location, {}) : undefined);
    this.connection = new Connection({
      url,
      entry,
      onWelcome: (w) => this.welcomed(w),
      onSnapshot: (s) => this.snapshot(s),
      onEvent: (e) => this.serverEvent(e),
      onStatus: (s) => this.statusChanged(s),
      onWarning: (m) => console.warn(`tickwire: ${m}`),
      WebSocketImpl: options.WebSocketImpl ?? globalThis.WebSocket,
      now: this.now,
      reconnect: options.reconnect ?? true,
    });
    // Start once the caller has added its listeners.
    const start = () => {
      if (this.closed) return;
      this.connection.start();
      this.pumpTimer = setInterval(() => this.pump(this.now()), PUMP_INTERVAL_MS);
      /** @type {{unref?: () => void}} */ (this.pumpTimer).unref?.();
    };
    // The network lab is for development: its module loads only when a
    // lab is asked for (the option, or the page's query), and the socket
    // opens once it has.
    const lab = options.lab ?? (LAB_QUERY.test(location?.search ?? '') && location?.search);
    if (lab) import('./lab.js').then((m) => m.attach(this, lab), console.warn).finally(start);
    else queueMicrotask(start);
  }

  /**
   * Adds a listener.
   * @template {keyof ClientEvents} K
   * @param {K} name
   * @param {(...args: ClientEvents[K]) => void} fn
   * @returns {this}
   */
  on(name, fn) {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn);
    return this;
  }

  /**
   * Removes a listener.
   * @template {keyof ClientEvents} K
   * @param {K} name
   * @param {(...args: ClientEvents[K]) => void} fn
   * @returns {this}
   */
  off(name, fn) {
    this.listeners.get(name)?.delete(fn);
    return this;
  }

  /**
   * Calls the listeners of `name`; one that throws is reported, and the
   * others still run.
   * @template {keyof ClientEvents} K
   * @param {K} name
   * @param {ClientEvents[K]} args
   */
  emit(name, ...args) {
    for (const fn of [...(this.listeners.get(name) ?? [])]) {
      try {
        fn(...args);
      } catch (error) {
        (globalThis.reportError ?? console.error)(error);
      }
    }
  }

  /**
   * The newest server state, de-quantized: every entity in view by id.
   * @returns {Map<number, Entity>}
   */
  get entities() {
    return this.store.entities;
  }

  /**
   * The entity the player controls, as the server last sent it, or null.
   * For a spectator: the entity the followed player controls, or null
   * when it follows no one.
   * @returns {Entity | null}
   */
  get own() {
    return this.welcome ? (this.store.get(this.welcome.entity) ?? null) : null;
  }

  /**
   * The own entity's newest predicted fields (the server's state at the
   * acknowledged input, with the pending inputs replayed through
   * `predict`), before any smoothing; null without `predict` or before
   * the first snapshot of the own entity.
   * @returns {Record<string, number> | null}
   */
  get predicted() {
    const state = this.predictor?.state;
    return state ? { ...state } : null;
  }

  /**
   * The player a spectator's snapshots follow now, or null (a player, a
   * spectator watching a rectangle, or a room without players).
   * @returns {number | null}
   */
  get following() {
    return this.welcome?.following ?? null;
  }

  /**
   * A spectator follows `player` from now on (null: whichever the server
   * picks): its snapshots carry exactly what that player is sent, and its
   * `own` is the entity that player controls. The `watching` event says
   * when the snapshots show it (with a spectator delay, that long later).
   * Returns whether it went out (it is sent again after a reconnect).
   * @param {number | null} player
   * @returns {boolean}
   */
  follow(player) {
    if (player === null) return this.watch({ type: 'anyone' });
    if (!Number.isInteger(player) || player < 0 || player > 0xffffffff) {
      throw new RangeError(`follow: ${player} is not a player id`);
    }
    return this.watch({ type: 'player', player });
  }

  /**
   * A spectator watches a rectangle of the world from now on: its smallest
   * corner and its size, in world units (the server shrinks a side over its
   * limit, `--max-spectator-rect`, about the centre). A rectangle that is
   * not finite or not of a positive size is a RangeError. Returns whether it
   * went out (it is sent again after a reconnect).
   * @param {{x: number, y: number, width: number, height: number}} rect
   * @returns {boolean}
   */
  watchRect({ x, y, width, height }) {
    return this.watch({ type: 'rect', x, y, width, height });
  }

  /**
   * Sends a spectator's change of target, and keeps it for a reconnect.
   * @param {import('./protocol.js').WatchTarget} target
   */
  watch(target) {
    if (!this.spectating) throw new Error('only a spectator chooses what it watches: connect with spectate: true');
    const bytes = encodeWatch(target);
    this.watchTarget = target;
    return this.connection.connected && this.connection.send(bytes);
  }

  /**
   * Holds an input, by the game's declared input field names, until the
   * next call: axes as floats -1..1 (clamped), angles in radians, buttons
   * as booleans by button name or as the raw bits by field name, integers
   * as integers. The SDK sends it once per server tick. Refuses unknown
   * names and values of the wrong kind with a RangeError (checked against
   * the schema once welcomed).
   * @param {NamedInput} named
   */
  setInput(named) {
    const held = { ...named };
    if (this.codec) this.heldValues = this.codec.values(held);
    this.held = held;
  }

  /**
   * What to draw at `nowMs`: every entity, the others interpolated (drawn
   * the interpolation delay in the past), the own entity predicted when the
   * game gave a step function, else as the server last sent it. Also sends
   * the inputs due.
   * @param {number} [nowMs] the clock (default the client's)
   * @returns {Entity[]}
   */
  frame(nowMs = this.now()) {
    this.pump(nowMs);
    const elapsed = this.lastFrame === null ? 0 : nowMs - this.lastFrame;
    this.lastFrame = nowMs;
    const schema = this.schema;
    if (!schema || !this.interpolator) return [];
    // The entity a spectator follows is interpolated like the others.
    const ownId = this.spectating ? undefined : this.welcome?.entity;
    /** @type {Entity[]} */
    const out = [];
    for (const [id, e] of this.interpolator.sample(nowMs)) {
      if (id !== ownId) out.push({ id, kind: e.kind, kindId: schema.kindId(e.kind), fields: e.fields });
    }
    const own = this.spectating ? null : this.own;
    if (own) {
      const fields = { ...own.fields };
      if (this.predictor?.state) {
        this.predictor.advance(elapsed);
        const alpha = Math.min(1, (nowMs - this.lastInputAt) / (1000 / (this.welcome?.tickRate ?? 30)));
        const predicted = this.predictor.display(alpha) ?? {};
        for (const name of Object.keys(predicted)) if (name in fields) fields[name] = predicted[name];
      }
      out.push({ id: own.id, kind: own.kind, kindId: own.kindId, fields });
    }
    return out;
  }

  /**
   * Figures about the connection, now.
   * @returns {Stats}
   */
  get stats() {
    const now = this.now();
    const c = this.connection;
    /** @type {Stats} */
    const stats = {
      pingMs: c.pingMs,
      downBytesPerSecond: c.down.rate(now),
      upBytesPerSecond: c.up.rate(now),
      snapshotsPerSecond: c.snapshotRate.rate(now),
      interpolationMs: this.interpolator ? this.interpolator.lagMs(now) : 0,
      tick: this.tick,
      interpolationStarved: this.starvedBefore + (this.interpolator?.starved ?? 0),
      lab: this.lab?.figures() ?? null,
    };
    if (this.predictor) stats.predictionErrorUnits = this.predictor.lastCorrection;
    return stats;
  }

  /**
   * The name of a player from the roster, or null (unknown, or -1: none).
   * @param {number} id
   * @returns {string | null}
   */
  playerName(id) {
    return this.welcome?.roster.get(id) ?? null;
  }

  /**
   * Sends a chat line to the room (at most 256 bytes of UTF-8: longer is a
   * RangeError). Returns whether it went out.
   * @param {string} text
   * @returns {boolean}
   */
  sendChat(text) {
    const bytes = encodeChat(text);
    return this.connection.connected && this.connection.send(bytes);
  }

  /** Leaves for good: closes the connection and stops every timer. */
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.pumpTimer !== null) clearInterval(this.pumpTimer);
    this.pumpTimer = null;
    this.connection.stop();
    this.statusChanged({ state: 'closed', reason: 'closed by the page' });
  }

  /**
   * Sends one input per tick interval that has passed (a few at most after
   * a stall), each fed to the prediction and stamped with the tick the
   * others are drawn at now (the interpolator's, rounded down), so that the
   * server checks the player's shots against what the player saw. Called
   * by a timer and by {@link frame}.
   * @param {number} nowMs
   */
  pump(nowMs) {
    if (this.spectating || !this.connection.connected || !this.codec || !this.welcome) return;
    const interval = 1000 / this.welcome.tickRate;
    if (this.nextInputAt === null || nowMs - this.nextInputAt > MAX_CATCH_UP_INPUTS * interval) {
      this.nextInputAt = nowMs;
    }
    const view = this.interpolator ? this.interpolator.viewTick(nowMs) : 0;
    while (nowMs >= this.nextInputAt) {
      const seq = this.inputSeq + 1;
      if (!this.connection.sendInput(seq, this.heldValues, view)) break;
      this.inputSeq = seq;
      const named = this.codec.named(this.heldValues);
      this.predictor?.applyInput(seq, named);
      this.emit('input', seq, named, this.nextInputAt);
      this.lastInputAt = this.nextInputAt;
      this.nextInputAt += interval;
    }
  }

  /**
   * A welcome: a new schema starts afresh; the same one (a reconnect) keeps
   * the store, which the resumed snapshots carry on.
   * @param {any} w the decoded welcome
   */
  welcomed(w) {
    if (!this.schema || w.schemaHash !== this.schemaHash) {
      this.schema = new SchemaView(w.schema);
      this.schemaHash = w.schemaHash;
      this.codec = new InputCodec(this.schema.input);
      this.store.setSchema(this.schema);
    }
    const schema = this.schema;
    const codec = /** @type {InputCodec} */ (this.codec);
    try {
      this.heldValues = codec.values(this.held);
    } catch (error) {
      console.warn(`tickwire: the held input does not fit game ${schema.game}: ${/** @type {Error} */ (error).message}`);
      this.held = {};
      this.heldValues = codec.values({});
    }
    /** @type {Record<string, number>} */
    const constants = Object.fromEntries(w.constants);
    this.spectating = !!w.spectator;
    this.welcome = {
      player: w.player,
      entity: w.entity,
      room: w.room,
      game: schema.game,
      tickRate: w.tickRate,
      tick: w.tick,
      schema,
      constants,
      roster: new Map(w.roster),
      spectator: this.spectating,
      following: w.following ?? null,
    };
    this.tick = w.tick;
    this.starvedBefore += this.interpolator?.starved ?? 0;
    this.interpolator = new Interpolator({ tickRate: w.tickRate, delayIntervals: this.delayTicks, modes: schema.modes });
    this.predictor = this.predictFn && !this.spectating ? new Predictor({ predict: this.predictFn, tickRate: w.tickRate, constants }) : null;
    this.nextInputAt = null;
    // A spectator that switched before a reconnect watches what it chose.
    if (this.spectating && this.watchTarget) this.connection.send(encodeWatch(this.watchTarget));
    this.emit('welcome', this.welcome);
  }

  /**
   * A snapshot was applied: the store, the interpolator, the prediction.
   * @param {{tick: number, lastInput: number | null, entities: Array<{id: number, kind: number, values: ArrayLike<number>}>}} s
   */
  snapshot({ tick, lastInput, entities }) {
    const now = this.now();
    this.store.update(entities);
    this.tick = tick;
    this.lastInput = lastInput;
    /** @type {Map<number, {kind: string, fields: Record<string, number>}>} */
    const state = new Map();
    for (const [id, e] of this.store.entities) state.set(id, { kind: e.kind, fields: e.fields });
    this.interpolator?.push(tick, state, now);
    const own = this.own;
    if (this.predictor && this.schema) {
      const kind = own ? this.schema.kind(own.kindId) : undefined;
      if (own && kind) this.predictor.reconcile(own.fields, lastInput, kind.fields);
      else this.predictor.reset();
    }
    this.emit('snapshot', tick);
  }

  /**
   * A server event: game events by their schema, roster changes, chat.
   * @param {any} e
   */
  serverEvent(e) {
    const roster = this.welcome?.roster;
    switch (e.type) {
      case 'game':
        this.emit('event', { name: e.name, fields: e.fields });
        break;
      case 'playerJoined':
        roster?.set(e.player, e.name);
        this.emit('joined', { player: e.player, name: e.name });
        break;
      case 'playerLeft': {
        const name = roster?.get(e.player) ?? null;
        roster?.delete(e.player);
        this.emit('left', { player: e.player, name });
        break;
      }
      case 'chat':
        this.emit('chat', { player: e.player, name: roster?.get(e.player) ?? null, text: e.text });
        break;
      case 'watching':
        if (this.welcome) {
          this.welcome.following = e.player;
          this.welcome.entity = e.entity ?? 0;
        }
        this.emit('watching', { player: e.player, entity: e.entity ?? 0 });
        break;
      default:
        break;
    }
  }

  /**
   * The connection's state, as the page sees it: a final failure is
   * `closed`, with its reason.
   * @param {{state: string, reason?: string, retryInMs?: number, attempt?: number, code?: number, resumed?: boolean}} s
   */
  statusChanged(s) {
    if (this.closed && s.state !== 'closed') return;
    const state = s.state === 'failed' ? 'closed' : /** @type {Status['state']} */ (s.state);
    /** @type {Status} */
    const status = { state };
    if (s.reason !== undefined) status.reason = s.reason;
    if (s.retryInMs !== undefined) status.retryInMs = s.retryInMs;
    if (s.attempt !== undefined) status.attempt = s.attempt;
    if (s.code !== undefined) status.code = s.code;
    if (s.resumed !== undefined) status.resumed = s.resumed;
    if (state === 'closed' && this.pumpTimer !== null) {
      clearInterval(this.pumpTimer);
      this.pumpTimer = null;
    }
    this.status = status;
    this.emit('status', status);
  }
}
