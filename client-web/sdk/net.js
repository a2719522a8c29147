// The connection: one WebSocket to the server's game endpoint, and
// everything that keeps it useful.
//
// Opening `/ws?room=&name=` joins a room at once. The client's first
// message is a Join with its protocol version. The server
// answers with a welcome, then a snapshot after every tick; the connection
// applies each snapshot to its baseline through the protocol module's state
// keeper, acknowledges it, and hands the new state up. A ping every second
// measures the round trip. When the socket drops, the connection says so and
// reconnects with exponential backoff, unless the server refused the client
// for good (another protocol version or schema). A cluster's redirect (the
// room is on another node, `matchmake.js`) is followed at once, once: a
// second one in a row is a drop like any other.
//
// Every welcome carries the player's resume token. A reconnect opens
// `/ws?resume=TOKEN&since=TICK` (on the node the client was on, after a
// redirect): the server, which holds a dropped player's seat for a while,
// gives back the same player and entity, and a delta against the newest
// tick the client still holds. A refused resume (close code 4008: the seat
// was released, the token expired...) falls back to a fresh join, and the
// status says so; one refused as "in use" (the server has not seen the old
// socket drop yet) is tried again a few times first.
//
// A cluster node can die with its rooms. When a reconnect to the node the
// client was on cannot be opened (the socket closes before it opened), or
// is refused with 1013 (the cluster's "not answering"), the next attempt
// goes to the entry (the URL the client was first given, or `entry`) with
// `room=` the room it was in, and the resume: the cluster restores the
// room on a live node and lets it in there, or redirects it there (the
// resume goes along). Until then it keeps trying the entry, with the
// backoff.

import * as protocol from './protocol.js';
import { redirectUrl, withoutSeat } from './matchmake.js';

/** First reconnect delay, in ms; it doubles per failed attempt. */
export const BACKOFF_START_MS = 500;
/** Longest reconnect delay, in ms. */
export const BACKOFF_MAX_MS = 8000;
/** Time between two pings, in ms. */
export const PING_INTERVAL_MS = 1000;
/** Close code of a refused resume (the protocol's error 4008). */
export const RESUME_REFUSED = 4008;
/**
 * Resumes refused as "in use" (the server has not seen the old socket drop
 * yet) tried again, with the backoff, before joining as a new player.
 */
export const MAX_IN_USE_RETRIES = 4;

/** Close code of a player kicked by an operator (the protocol's error 4014). */
export const KICKED = 4014;
/** Close code of a room an operator closed (the protocol's error 4015). */
export const ROOM_CLOSED = 4015;

/** Close codes after which reconnecting cannot help (or must not happen). */
const FATAL_CLOSE_CODES = new Map([
  [4000, 'the server speaks another protocol version'],
  [4001, 'the server runs another game schema'],
  [KICKED, 'kicked by the operator'],
  [ROOM_CLOSED, 'the operator closed the room'],
  [1002, 'the server did not understand this client'],
  [1003, 'the server did not understand this client'],
]);

/** Readable reasons for the close codes a player may see. */
const CLOSE_REASONS = new Map([
  [1001, 'server shutting down'],
  [1006, 'connection lost'],
  [1008, 'refused by the server'],
  [1009, 'message too large'],
  [1011, 'server error'],
  [1013, 'room full, try again later'],
  [4004, 'room full'],
  [4005, 'too many messages'],
  [4006, 'server shutting down'],
  [4008, 'resume refused'],
  [4010, 'the room is on another node'],
  [4011, 'seat ticket refused'],
  [4012, 'seat ticket expired'],
  [4013, 'seat ticket already used'],
]);

/**
 * Reconnect delay before attempt `attempt` (1 for the first retry): doubles
 * from {@link BACKOFF_START_MS} up to {@link BACKOFF_MAX_MS}, with +-20 %
 * jitter so a server restart is not met by every client at the same instant.
 */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * Bytes or messages per second over the last second, in ten buckets of
 * 100 ms: constant memory however fast things arrive.
 */
export class RateMeter {
  constructor(windowMs = 1000, buckets = 10) {
    this.bucketMs = windowMs / buckets;
    this.counts = new Float64Array(buckets);
    this.current = -1;
  }

  roll(nowMs) {
    const index = Math.floor(nowMs / this.bucketMs);
    if (this.current < 0) this.current = index;
    const n = this.counts.length;
    for (let i = this.current + 1; i <= index && i <= this.current + n; i++) this.counts[i % n] = 0;
    if (index > this.current) this.current = index;
  }

  /** Counts `amount` at time `nowMs`. */
  add(amount, nowMs) {
    this.roll(nowMs);
    this.counts[this.current % this.counts.length] += amount;
  }

  /** The rate per second over the window ending at `nowMs`. */
  rate(nowMs) {
    this.roll(nowMs);
    let sum = 0;
    for (const c of this.counts) sum += c;
    return (sum * 1000) / (this.bucketMs * this.counts.length);
  }
}

/**
 * The WebSocket URL of the game for a page location, a room, a name, and
 * the signed join ticket a game backend issued (a server started with
 * `--ticket-secret` refuses a join without one); with `spectate`, a
 * spectator's, following player `follow` if given.
 * @param {{protocol: string, host: string}} location
 * @param {{room?: string, name?: string, ticket?: string, spectate?: boolean, follow?: number | null}} options
 */
export function gameUrl(location, { room, name, ticket, spectate = false, follow = null }) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams();
  if (room) params.set('room', room);
  if (name) params.set('name', name);
  if (ticket) params.set('ticket', ticket);
  if (spectate) {
    params.set('spectate', '1');
    if (follow != null) params.set('follow', String(follow));
  }
  const query = params.toString();
  return `${scheme}//${location.host}/ws${query ? `?${query}` : ''}`;
}

/**
 * One player's connection to a room, reconnecting as needed.
 */
export class Connection {
  /**
   * @param {object} options
   * @param {string} options.url the game's WebSocket URL (see {@link gameUrl})
   * @param {(welcome: object) => void} options.onWelcome a welcome arrived (after every (re)connect)
   * @param {(snapshot: {tick: number, lastInput: number|null, entities: Array<{id: number, kind: number, values: ArrayLike<number>}>}) => void} options.onSnapshot
   *   a snapshot was applied; `entities` is the whole quantized state after it
   * @param {(event: object) => void} [options.onEvent] a server event (a game event by its schema, a join, a leave, a chat line)
   * @param {(status: {state: string, reason?: string, attempt?: number, retryInMs?: number, code?: number, resumed?: boolean}) => void} [options.onStatus]
   *   the connection's state; `connected` says whether the held seat was taken back (`resumed`)
   * @param {(message: string) => void} [options.onWarning] something worth a console warning
   * @param {typeof WebSocket} [options.WebSocketImpl]
   * @param {() => number} [options.now] clock in ms
   * @param {boolean} [options.reconnect] whether a dropped socket is reopened (default true); without, a drop is final
   * @param {string} [options.entry] where to go back to when the node the client is on cannot be reached (a cluster's load balancer, or any node): a game URL; default `url` without its seat ticket
   */
  constructor({ url, entry, onWelcome, onSnapshot, onEvent = () => {}, onStatus = () => {}, onWarning = () => {}, WebSocketImpl = globalThis.WebSocket, now = () => performance.now(), reconnect = true }) {
    /** The URL every (re)connect opens: a seat ticket is good for one connection, so it is not kept here. */
    this.url = withoutSeat(url);
    /** @type {string|null} the seat ticket the next connect takes once */
    this.seat = new URL(url).searchParams.get('seat');
    /** Where the client goes back to when its node cannot be reached. */
    this.entry = withoutSeat(entry ?? url);
    /** Redirects followed since the last welcome (at most one). */
    this.redirects = 0;
    /** A redirect is to be followed when its close arrives. */
    this.redirecting = false;
    this.reconnect = reconnect;
    this.onWelcome = onWelcome;
    this.onSnapshot = onSnapshot;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onWarning = onWarning;
    this.WebSocketImpl = WebSocketImpl;
    this.now = now;
    /** @type {WebSocket|null} */
    this.socket = null;
    /** The protocol module's client state keeper; survives a reconnect to resume. */
    this.keeper = null;
    this.schemaHash = null;
    this.welcome = null;
    this.attempt = 0;
    this.stopped = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    this.status = { state: 'connecting' };
    /** Smoothed round trip, in ms; null before the first pong. */
    this.pingMs = null;
    this.down = new RateMeter();
    this.up = new RateMeter();
    this.snapshotRate = new RateMeter();
    /** Snapshots applied since the page loaded. */
    this.snapshotsApplied = 0;
    /** The newest welcome's resume token ('' when the server holds no seats). */
    this.resumeToken = '';
    /** Whether the current socket is a resume. */
    this.resuming = false;
    /** Resumes refused as "in use" since the last welcome. */
    this.inUseRetries = 0;
    /** @type {{code: number, reason: string} | null} the server's error message on the current socket */
    this.lastError = null;
  }

  /** Opens the socket. */
  start() {
    this.stopped = false;
    this.open();
  }

  /** Closes for good (the player left). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket) this.socket.close(1000, 'leaving');
    this.socket = null;
  }

  /** Whether a welcome arrived on the current socket. */
  get connected() {
    return this.status.state === 'connected';
  }

  setStatus(status) {
    this.status = status;
    this.onStatus(status);
  }

  open() {
    this.setStatus(this.attempt === 0 ? { state: 'connecting' } : this.status);
    const socket = new this.WebSocketImpl(this.socketUrl());
    socket.binaryType = 'arraybuffer';
    this.lastError = null;
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.send(protocol.encodeJoin({ schemaHash: 0 }));
    };
    socket.onmessage = (e) => {
      if (socket !== this.socket) return;
      if (!(e.data instanceof ArrayBuffer)) {
        this.drop(socket, 1003, 'text frame from the server');
        return;
      }
      this.receive(new Uint8Array(e.data));
    };
    socket.onclose = (e) => {
      if (socket !== this.socket) return;
      this.closed(e.code, e.reason, opened);
    };
    // A failed connect is followed by a close event; nothing to do here.
    socket.onerror = () => {};
  }

  /**
   * The URL of the next socket: the game's, with a seat ticket once (a
   * matchmade seat's, a redirect's); after a drop, the resume token of the
   * newest welcome (`resume=`) to take the held seat back, and the newest
   * tick still held (`since=`), so the first snapshot can be a delta.
   */
  socketUrl() {
    const since = this.keeper?.latestTick?.() ?? null;
    const seat = this.seat;
    this.seat = null;
    this.resuming = this.resumeToken !== '';
    if (since === null && !this.resuming && !seat) return this.url;
    const url = new URL(this.url);
    if (seat) url.searchParams.set('seat', seat);
    if (this.resuming) url.searchParams.set('resume', this.resumeToken);
    if (since !== null) url.searchParams.set('since', String(since));
    return url.toString();
  }

  /**
   * The entry's URL for the room the client is in (the newest welcome's),
   * keeping the name, the game ticket and what else the current URL asks
   * that the entry does not say; null when the client is at the entry
   * already (the same origin and path).
   */
  entryUrl() {
    const url = new URL(this.entry);
    const current = new URL(this.url);
    if (url.origin === current.origin && url.pathname === current.pathname) return null;
    for (const [key, value] of current.searchParams) {
      if (!url.searchParams.has(key)) url.searchParams.set(key, value);
    }
    const room = this.welcome?.room;
    if (room) url.searchParams.set('room', room);
    return url.toString();
  }

  /** Closes a socket we gave up on and treats it as dropped. */
  drop(socket, code, reason) {
    this.onWarning(`closing the connection: ${reason}`);
    try {
      socket.close(code >= 3000 ? code : 1000, reason.slice(0, 120));
    } catch {
      // Already closing.
    }
    this.closed(1006, reason);
  }

  /**
   * The socket closed with `code`: follow a redirect, give up, or try
   * again after the backoff; through the entry when the node could not be
   * reached (the socket never `opened`, or 1013).
   * @param {number} code
   * @param {string} reason
   * @param {boolean} [opened]
   */
  closed(code, reason, opened = true) {
    clearInterval(this.pingTimer);
    this.socket = null;
    const resuming = this.resuming;
    this.resuming = false;
    if (this.stopped) return;
    if (this.redirecting) {
      // The room is on another node: there at once, no backoff.
      this.redirecting = false;
      this.setStatus({ state: 'reconnecting', reason: CLOSE_REASONS.get(4010), attempt: this.attempt, retryInMs: 0, code });
      this.open();
      return;
    }
    const fatal = FATAL_CLOSE_CODES.get(code);
    if (fatal || !this.reconnect) {
      this.setStatus({ state: 'failed', reason: reason || fatal || CLOSE_REASONS.get(code) || `code ${code}`, code });
      return;
    }
    let why = reason || CLOSE_REASONS.get(code) || `code ${code}`;
    if (code === RESUME_REFUSED && resuming) {
      // The error message before the close has the whole reason.
      if (this.lastError?.code === RESUME_REFUSED) why = this.lastError.reason;
      if (/in use/.test(why) && this.inUseRetries < MAX_IN_USE_RETRIES) {
        this.inUseRetries += 1;
      } else {
        this.resumeToken = '';
        this.inUseRetries = 0;
        why = `${why}; joining as a new player`;
        this.onWarning(why);
      }
    }
    // The node is gone (or its room is, for now): back to the entry,
    // which knows where the room is.
    const entry = !opened || code === 1013 ? this.entryUrl() : null;
    if (entry !== null) {
      this.url = entry;
      this.redirects = 0;
      why = `${why}; ${this.resumeToken ? 'resuming' : 'reconnecting'} through ${new URL(entry).host}`;
    }
    this.attempt += 1;
    const delay = backoffDelay(this.attempt);
    const at = this.now() + delay;
    // The first look always says why, however soon the retry is due.
    const tick = (first = false) => {
      const left = Math.max(0, at - this.now());
      if (left <= 0 && !first) {
        this.open();
        return;
      }
      this.setStatus({ state: 'reconnecting', reason: why, attempt: this.attempt, retryInMs: left, code });
      this.retryTimer = setTimeout(tick, Math.min(250, left));
    };
    tick(true);
  }

  send(bytes) {
    const socket = this.socket;
    if (!socket || socket.readyState !== 1) return false;
    socket.send(bytes);
    this.up.add(bytes.byteLength, this.now());
    return true;
  }

  /**
   * Sends one input: its sequence number, the values of the game's
   * declared input fields in order (see `inputValues` in protocol.js), and
   * the tick the page was showing (0: none yet). Returns whether it went
   * out.
   * @param {number} seq
   * @param {ArrayLike<number>} values
   * @param {number} [view]
   */
  sendInput(seq, values, view = 0) {
    if (!this.connected) return false;
    return this.send(protocol.encodeInput(seq, values, view));
  }

  receive(bytes) {
    const now = this.now();
    this.down.add(bytes.byteLength, now);
    let message;
    try {
      message = protocol.decodeServerMessage(bytes, this.keeper?.schema ?? null);
    } catch (error) {
      this.drop(this.socket, 4002, `undecodable message from the server: ${/** @type {Error} */ (error).message}`);
      return;
    }
    switch (message.type) {
      case 'welcome':
        this.welcomed(message);
        break;
      case 'snapshot':
        this.snapshot(message, now);
        break;
      case 'pong':
        this.pong(message, now);
        break;
      case 'event':
        this.onEvent(message.event);
        break;
      case 'error':
        this.onWarning(`server error ${message.code}: ${message.reason}`);
        this.lastError = message;
        break;
      case 'redirect':
        this.redirected(message);
        break;
      default:
        break;
    }
  }

  /**
   * A cluster's redirect: the room is on the node it names. Followed when
   * the close that comes with it arrives, unless one was followed since
   * the last welcome (then the close is a drop like any other).
   * @param {{url: string, room: string, ticket: string}} redirect
   */
  redirected(redirect) {
    if (this.redirects >= 1) {
      this.onWarning(`redirected again, to ${redirect.url}: not followed`);
      return;
    }
    let next;
    try {
      next = redirectUrl(this.url, redirect);
    } catch {
      this.onWarning(`a redirect to a URL that is not one: ${redirect.url}`);
      return;
    }
    this.redirects += 1;
    this.redirecting = true;
    this.seat = redirect.ticket || null;
    this.url = withoutSeat(next);
  }

  welcomed(welcome) {
    this.redirects = 0;
    if (this.schemaHash !== welcome.schemaHash || !this.keeper) {
      this.keeper = new protocol.ClientState(welcome.schema);
      this.schemaHash = welcome.schemaHash;
    }
    // A room behind the newest tick held is a new match (the room closed
    // and opened again): what the keeper holds is of the old one.
    const held = this.keeper.latestTick();
    if (held !== null && held > welcome.tick) this.keeper.clear();
    this.welcome = welcome;
    this.attempt = 0;
    const resumed = this.resuming;
    this.resuming = false;
    this.inUseRetries = 0;
    this.resumeToken = welcome.resume ?? '';
    this.setStatus({ state: 'connected', resumed });
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.ping(), PING_INTERVAL_MS);
    this.ping();
    this.onWelcome(welcome);
  }

  snapshot(message, now) {
    if (!this.keeper || !this.welcome) return;
    let entities;
    try {
      entities = this.keeper.apply(message.body);
    } catch (error) {
      // The baseline is gone (it should not be over TCP): start afresh.
      this.keeper.clear();
      this.drop(this.socket, 4003, `snapshot not applicable: ${/** @type {Error} */ (error).message}`);
      return;
    }
    const tick = message.body.tick;
    this.send(protocol.encodeAck(tick));
    this.snapshotsApplied += 1;
    this.snapshotRate.add(1, now);
    this.onSnapshot({ tick, lastInput: message.lastInput ?? null, entities });
  }

  ping() {
    this.send(protocol.encodePing(Math.floor(this.now()) >>> 0));
  }

  pong(message, now) {
    const rtt = ((Math.floor(now) >>> 0) - message.clientTime) >>> 0;
    if (rtt > 60000) return;
    this.pingMs = this.pingMs == null ? rtt : this.pingMs * 0.7 + rtt * 0.3;
  }

  /** Figures for the network overlay. */
  stats() {
    const now = this.now();
    return {
      pingMs: this.pingMs,
      snapshotsPerSec: this.snapshotRate.rate(now),
      downKbps: (this.down.rate(now) * 8) / 1000,
      upKbps: (this.up.rate(now) * 8) / 1000,
    };
  }
}
