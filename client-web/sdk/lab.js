// The network lab: added latency, jitter and stalls, for trying a game's
// feel (and its budgets) under a bad network on one machine.
//
// `connect({ lab: { lagMs: 120, jitterMs: 30, stallMs: 1000 } })`, or on
// any page `?lag=120&jitter=30&stall=1`, puts a delay line in each
// direction between the page and its WebSocket. Every message, each way, is
// held for `lagMs` plus or minus up to `jitterMs` (uniformly), and never
// delivered before the one handed over before it: TCP never reorders, so
// jitter here cannot either, and a late message holds back the ones behind
// it, as a retransmission does on a real link. A stall freezes the link in
// both directions for `stallMs` once every `stallEveryMs` (10 s unless
// given): nothing is delivered during the freeze, and what it held back
// arrives at its end, in order, at once.
//
// The lab wraps the WebSocket class the connection opens, so the connection
// itself knows nothing of it; the page's figures (`client.stats`) say what
// the lab adds, for the HUD. The client loads this module only when a lab
// is asked for (`index.js` does not re-export it), so a page without one
// never downloads it; a page that wants its pieces imports `/sdk/lab.js`.

/** Time between the starts of two stalls unless given, in ms. */
export const DEFAULT_STALL_EVERY_MS = 10000;
/** The most any lab figure may be, in ms (a minute: a typo, not a network). */
export const MAX_LAB_MS = 60000;

/**
 * What the lab adds, each figure in ms.
 * @typedef {object} LabSettings
 * @property {number} lagMs added to every message, each way
 * @property {number} jitterMs each message is held `lagMs` plus or minus up to this (uniformly; never reordered)
 * @property {number} stallMs length of each freeze of the link (0: none)
 * @property {number} stallEveryMs time between the starts of two freezes
 */

/**
 * The lab as `connect` takes it: every figure optional (0 when absent),
 * plus where its random numbers come from.
 * @typedef {object} LabOptions
 * @property {number} [lagMs] added latency, each way, in ms
 * @property {number} [jitterMs] up to this more or less, in ms
 * @property {number} [stallMs] length of each stall, in ms
 * @property {number} [stallEveryMs] time between the starts of two stalls, in ms (default 10 s)
 * @property {number} [seed] seeds the jitter's random numbers (the same seed draws the same delays)
 * @property {() => number} [random] the jitter's random numbers in [0, 1) (for tests; default: seeded by `seed`, else `Math.random`)
 */

/**
 * One lab figure, checked: a finite number in 0..{@link MAX_LAB_MS}.
 * @param {string} name
 * @param {unknown} value
 * @returns {number}
 */
function figure(name, value) {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_LAB_MS) {
    throw new RangeError(`lab: ${name} must be a number of ms from 0 to ${MAX_LAB_MS}, not ${String(value)}`);
  }
  return value;
}

/**
 * The lab's settings from `connect`'s `lab` option, checked (a RangeError
 * names a bad figure); null when it adds nothing.
 * @param {LabOptions | null | undefined | false} options
 * @returns {LabSettings | null}
 */
export function labSettings(options) {
  if (!options) return null;
  const settings = {
    lagMs: figure('lagMs', options.lagMs),
    jitterMs: figure('jitterMs', options.jitterMs),
    stallMs: figure('stallMs', options.stallMs),
    stallEveryMs: figure('stallEveryMs', options.stallEveryMs ?? DEFAULT_STALL_EVERY_MS),
  };
  if (settings.stallMs > 0 && settings.stallMs >= settings.stallEveryMs) {
    throw new RangeError(`lab: a stall of ${settings.stallMs} ms every ${settings.stallEveryMs} ms never ends`);
  }
  if (settings.lagMs === 0 && settings.jitterMs === 0 && settings.stallMs === 0) return null;
  return settings;
}

/**
 * The lab a page's query asks for: `lag` and `jitter` in ms, `stall` and
 * `stallevery` in seconds (`?lag=120&jitter=30&stall=1` is 120 ms each
 * way, give or take 30, and a 1 s freeze every 10 s); `labseed` seeds the
 * jitter. Null when the query names none of them. A figure that is not a
 * number is a RangeError, as in {@link labSettings}.
 * @param {string} search the page's `location.search`
 * @returns {LabOptions | null}
 */
export function labFromQuery(search) {
  const params = new URLSearchParams(search);
  /** @param {string} name @param {number} scale */
  const read = (name, scale) => {
    const text = params.get(name);
    if (text === null || text.trim() === '') return undefined;
    const value = Number(text);
    if (!Number.isFinite(value)) throw new RangeError(`lab: ?${name}= must be a number, not ${JSON.stringify(text)}`);
    return value * scale;
  };
  /** @type {LabOptions} */
  const options = {};
  const lag = read('lag', 1);
  const jitter = read('jitter', 1);
  const stall = read('stall', 1000);
  const every = read('stallevery', 1000);
  const seed = read('labseed', 1);
  if (lag !== undefined) options.lagMs = lag;
  if (jitter !== undefined) options.jitterMs = jitter;
  if (stall !== undefined) options.stallMs = stall;
  if (every !== undefined) options.stallEveryMs = every;
  if (seed !== undefined) options.seed = seed;
  return Object.keys(options).length > 0 ? options : null;
}

/**
 * The lab in a few words, for a HUD: `+150±40 ms each way, stall 1 s/10 s`,
 * and `(stalled)` while the link is frozen; '' for no lab.
 * @param {(LabSettings & {stalled?: boolean}) | null | undefined} lab
 * @returns {string}
 */
export function describeLab(lab) {
  if (!lab) return '';
  const seconds = (/** @type {number} */ ms) => `${Number((ms / 1000).toFixed(2))} s`;
  const parts = [];
  if (lab.lagMs > 0 || lab.jitterMs > 0) {
    parts.push(`+${Math.round(lab.lagMs)}${lab.jitterMs > 0 ? `±${Math.round(lab.jitterMs)}` : ''} ms each way`);
  }
  if (lab.stallMs > 0) parts.push(`stall ${seconds(lab.stallMs)}/${seconds(lab.stallEveryMs)}${lab.stalled ? ' (stalled)' : ''}`);
  return parts.join(', ');
}

/**
 * A small seeded generator (mulberry32): numbers in [0, 1), the same
 * sequence for the same seed.
 * @param {number} seed
 * @returns {() => number}
 */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The schedule of one direction of the link: when each message handed over
 * is delivered. Pure: the time comes in, nothing is scheduled here.
 */
export class DelayLine {
  /**
   * @param {LabSettings} settings
   * @param {object} [options]
   * @param {() => number} [options.random] numbers in [0, 1) (default `Math.random`)
   * @param {number} [options.originMs] when the link came up: stalls start `stallEveryMs - stallMs` after it
   */
  constructor(settings, { random = Math.random, originMs = 0 } = {}) {
    this.settings = settings;
    this.random = random;
    this.originMs = originMs;
    /** When the last message was delivered; none is delivered before it. */
    this.lastMs = -Infinity;
  }

  /**
   * The end of the stall `atMs` falls in, or `atMs` when the link is not
   * frozen then. Stall k (from 1) freezes `[origin + k * every - stall,
   * origin + k * every)`.
   * @param {number} atMs
   * @returns {number}
   */
  thaw(atMs) {
    const { stallMs, stallEveryMs } = this.settings;
    if (stallMs <= 0) return atMs;
    const since = atMs - this.originMs;
    const end = Math.ceil(since / stallEveryMs) * stallEveryMs;
    return end > 0 && since >= end - stallMs && since < end ? this.originMs + end : atMs;
  }

  /**
   * Whether the link is frozen at `atMs`.
   * @param {number} atMs
   */
  stalled(atMs) {
    return this.thaw(atMs) !== atMs;
  }

  /**
   * When a message handed over at `nowMs` is delivered: `lagMs` plus or
   * minus up to `jitterMs` later (never before `nowMs`), never before the
   * message before it, and not during a stall.
   * @param {number} nowMs
   * @returns {number}
   */
  deliveryTime(nowMs) {
    const { lagMs, jitterMs } = this.settings;
    const delay = Math.max(0, lagMs + jitterMs * (2 * this.random() - 1));
    const at = this.thaw(Math.max(nowMs + delay, this.lastMs));
    this.lastMs = at;
    return at;
  }
}

/**
 * The lab `connect` asked for, on the client's clock: from its `lab`
 * option, or from a page's query string (`?lag=...`); null when it adds
 * nothing. A bad figure is a RangeError.
 * @param {LabOptions | string} asked the `lab` option, or the page's `location.search`
 * @param {() => number} now the client's clock, in ms
 * @returns {Lab | null}
 */
export function openLab(asked, now) {
  const options = typeof asked === 'string' ? labFromQuery(asked) : asked;
  const settings = labSettings(options);
  if (!settings || !options) return null;
  const random = options.random ?? (options.seed !== undefined ? seededRandom(options.seed) : Math.random);
  const clock = {
    now,
    setTimeout: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
    clearTimeout: (/** @type {any} */ handle) => clearTimeout(handle),
  };
  return new Lab(settings, { random, clock });
}

/**
 * Puts `client`'s connection behind the lab it asked for (see
 * {@link openLab}), before its socket opens; a lab it cannot read is
 * warned about on the console, and the client plays without one.
 * @param {import('./client.js').Client} client
 * @param {LabOptions | string} asked the `lab` option, or the page's `location.search`
 */
export function attach(client, asked) {
  try {
    const lab = openLab(asked, client.now);
    if (lab) {
      client.lab = lab;
      client.connection.WebSocketImpl = lab.wrap(client.connection.WebSocketImpl);
    }
  } catch (error) {
    console.warn(`tickwire: no network lab: ${/** @type {Error} */ (error).message}`);
  }
}

/**
 * The timers and clock a lab socket runs on (the page's, unless a test
 * gives its own).
 * @typedef {object} LabClock
 * @property {() => number} now the clock, in ms
 * @property {(fn: () => void, ms: number) => any} setTimeout
 * @property {(handle: any) => void} clearTimeout
 */

/**
 * A queue of things to do at their delivery times, in order, with one
 * timer for its head.
 */
class Queue {
  /** @param {LabClock} clock */
  constructor(clock) {
    this.clock = clock;
    /** @type {Array<{at: number, run: () => void}>} */
    this.items = [];
    this.timer = null;
    this.cancelled = false;
  }

  /**
   * @param {number} at
   * @param {() => void} run
   */
  push(at, run) {
    if (this.cancelled) return;
    this.items.push({ at, run });
    if (this.items.length === 1) this.arm();
  }

  arm() {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const head = this.items[0];
    if (!head) return;
    this.timer = this.clock.setTimeout(() => this.deliverDue(), Math.max(0, head.at - this.clock.now()));
  }

  deliverDue() {
    this.timer = null;
    const now = this.clock.now();
    // Everything due, in order (a stall's end delivers a burst).
    while (this.items.length > 0 && this.items[0].at <= now + 0.5 && !this.cancelled) {
      const item = /** @type {{at: number, run: () => void}} */ (this.items.shift());
      item.run();
    }
    this.arm();
  }

  /** Drops whatever is queued, for good. */
  cancel() {
    this.cancelled = true;
    this.items = [];
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The default clock: the page's timers and `performance.now()`. */
const PAGE_CLOCK = {
  now: () => performance.now(),
  setTimeout: (/** @type {() => void} */ fn, /** @type {number} */ ms) => setTimeout(fn, ms),
  clearTimeout: (/** @type {any} */ handle) => clearTimeout(handle),
};

/**
 * The lab between a page and its server: one schedule a direction, stalls
 * shared by both, and a WebSocket class whose sockets go through them
 * ({@link Lab#WebSocket}).
 */
export class Lab {
  /**
   * @param {LabSettings} settings
   * @param {object} [options]
   * @param {() => number} [options.random] numbers in [0, 1) for the jitter (default `Math.random`)
   * @param {LabClock} [options.clock] timers and clock (default the page's)
   */
  constructor(settings, { random = Math.random, clock = PAGE_CLOCK } = {}) {
    this.settings = settings;
    this.random = random;
    this.clock = clock;
    const originMs = clock.now();
    /** The page to the server. */
    this.up = new DelayLine(settings, { random, originMs });
    /** The server to the page. */
    this.down = new DelayLine(settings, { random, originMs });
  }

  /** Whether the link is frozen now. */
  get stalled() {
    return this.up.stalled(this.clock.now());
  }

  /**
   * What the lab adds, whether the link is frozen now, and both in a few
   * words for a HUD (see {@link describeLab}): the client's `stats.lab`.
   * @returns {LabSettings & {stalled: boolean, text: string}}
   */
  figures() {
    const figures = { ...this.settings, stalled: this.stalled };
    return { ...figures, text: describeLab(figures) };
  }

  /**
   * A WebSocket class like `Base` whose every socket goes through this
   * lab: what the page sends leaves late, what the server sends (and the
   * open and close) arrives late, each direction in order.
   * @param {typeof WebSocket} Base
   * @returns {typeof WebSocket}
   */
  wrap(Base) {
    const lab = this;
    /** A constructor with Base's signature, opening a {@link LabSocket}. */
    function LabWebSocket(/** @type {string} */ url, /** @type {string | string[] | undefined} */ protocols) {
      return new LabSocket(lab, protocols === undefined ? new Base(url) : new Base(url, protocols));
    }
    return /** @type {typeof WebSocket} */ (/** @type {unknown} */ (LabWebSocket));
  }
}

/**
 * One WebSocket behind the lab, with the part of WebSocket's interface the
 * connection uses: `binaryType`, `readyState`, `send`, `close` and the
 * `on...` handlers. Its `readyState` is what the page has been told: open
 * once the delayed open event was delivered, closed once the close was.
 */
export class LabSocket {
  /**
   * @param {Lab} lab
   * @param {WebSocket} socket the real socket
   */
  constructor(lab, socket) {
    this.lab = lab;
    this.socket = socket;
    this.url = socket.url;
    /** @type {number} 0 connecting, 1 open, 2 closing, 3 closed: as delivered */
    this.readyState = 0;
    /** @type {((e: any) => void) | null} */
    this.onopen = null;
    /** @type {((e: any) => void) | null} */
    this.onmessage = null;
    /** @type {((e: any) => void) | null} */
    this.onclose = null;
    /** @type {((e: any) => void) | null} */
    this.onerror = null;
    this.upQueue = new Queue(lab.clock);
    this.downQueue = new Queue(lab.clock);
    /** @param {(e: any) => void} deliver */
    const later = (deliver) => (/** @type {any} */ e) => {
      this.downQueue.push(lab.down.deliveryTime(lab.clock.now()), () => deliver(e));
    };
    socket.onopen = later((e) => {
      if (this.readyState === 0) this.readyState = 1;
      this.onopen?.(e);
    });
    socket.onmessage = later((e) => this.onmessage?.(e));
    socket.onerror = later((e) => this.onerror?.(e));
    socket.onclose = later((e) => {
      this.readyState = 3;
      this.upQueue.cancel();
      this.onclose?.(e);
    });
  }

  /** @returns {BinaryType} */
  get binaryType() {
    return this.socket.binaryType;
  }

  set binaryType(type) {
    this.socket.binaryType = type;
  }

  /**
   * Sends `data` once the up line delivers it, if the socket is still open
   * then (a message behind a close is lost, as on a real link).
   * @param {string | ArrayBuffer | Blob | ArrayBufferView} data
   */
  send(data) {
    if (this.readyState !== 1) throw new Error('lab: send on a socket that is not open');
    // The caller may reuse its buffer: keep a copy.
    /** @type {string | ArrayBuffer | Blob | Uint8Array<ArrayBuffer>} */
    const copy = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice() : data;
    this.upQueue.push(this.lab.up.deliveryTime(this.lab.clock.now()), () => {
      if (this.socket.readyState === 1) this.socket.send(copy);
    });
  }

  /**
   * Closes the socket after what was sent before it has left.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code, reason) {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    this.upQueue.push(this.lab.up.deliveryTime(this.lab.clock.now()), () => {
      try {
        this.socket.close(code, reason);
      } catch {
        // Already closing.
      }
    });
  }
}
