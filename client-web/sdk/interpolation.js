// Interpolation: how every entity the client does not predict is drawn
// between snapshots.
//
// The server sends a snapshot after every tick, but frames are drawn at the
// display's rate and snapshots arrive unevenly. So everything the client does
// not predict is drawn a little in the past (two snapshot intervals by
// default), between the two snapshots that bracket that moment. The moment is
// placed on the server's timeline by tick number, not by arrival time, and a
// slowly smoothed clock maps local time to that timeline: a snapshot that
// arrives late or early moves the clock by a fraction of a millisecond
// instead of making the picture jump. Fields move as the schema says:
// coordinates linearly, angles along the shorter arc, integers in steps.
//
// The delay adapts to the network: a snapshot can only be drawn toward once
// it is there, so the delay is at least one interval plus how late, against
// the smoothed clock, the latest snapshots of the last few seconds came. On
// a steady network that is the two intervals asked for; under jitter it
// grows (by at most 3 % of the time passing, so the others slow a
// little rather than stop) and shrinks back slowly when the jitter goes.

const TAU = Math.PI * 2;

/**
 * One buffered state: its tick and its entities by id.
 * @typedef {{tick: number, entities: Map<number, {kind: string, fields: Record<string, number>}>}} Snapshot
 */

/** Most snapshots the interpolator keeps (about one second at 30 Hz). */
export const DEFAULT_CAPACITY = 32;
/** Snapshots over which the adaptive delay takes the latest arrival (3 s at 30 Hz). */
export const JITTER_WINDOW = 90;
/** Margin the adaptive delay keeps over the latest arrival seen, in ms. */
export const JITTER_MARGIN_MS = 4;
/** Most the adaptive delay adds to the delay asked for, in ms. */
export const MAX_EXTRA_DELAY_MS = 250;
/** Most the adaptive delay grows per ms that passes (0.03: the others slow to 97 % speed). */
const DELAY_GROWTH = 0.03;
/** Most the adaptive delay shrinks per ms that passes (the others speed up by 2 %). */
const DELAY_SHRINK = 0.02;

/**
 * Maps local time to the server's tick timeline from the arrival times of
 * snapshots.
 *
 * Each arrival gives one sample of `tick * interval - arrival`; the clock
 * keeps an exponentially smoothed mean of them, so network jitter averages
 * out and the estimate still follows slow drift between the two clocks. One
 * sample moves the estimate by at most `maxStepMs`, so the drawn motion
 * never visibly speeds up or slows down. A sample further than `resyncMs`
 * from the estimate (the first one, a reconnect, a long stall) resets it.
 */
export class SnapshotClock {
  /**
   * @param {object} options
   * @param {number} options.intervalMs time between two ticks, in ms
   * @param {number} [options.smoothing] weight of one new sample, 0..1 (default 0.05)
   * @param {number} [options.maxStepMs] most one sample moves the estimate (default 0.5 ms)
   * @param {number} [options.resyncMs] error beyond which the clock jumps (default 250 ms)
   */
  constructor({ intervalMs, smoothing = 0.05, maxStepMs = 0.5, resyncMs = 250 }) {
    this.intervalMs = intervalMs;
    this.smoothing = smoothing;
    this.maxStepMs = maxStepMs;
    this.resyncMs = resyncMs;
    /** Server time minus local time, in ms; null before the first sample. */
    this.offset = null;
  }

  /**
   * Records the arrival of the snapshot of `tick` at local time `nowMs`.
   * @returns {boolean} whether the clock was reset (a discontinuity)
   */
  observe(tick, nowMs) {
    const sample = tick * this.intervalMs - nowMs;
    if (this.offset === null || Math.abs(sample - this.offset) > this.resyncMs) {
      this.offset = sample;
      return true;
    }
    const step = (sample - this.offset) * this.smoothing;
    this.offset += Math.max(-this.maxStepMs, Math.min(this.maxStepMs, step));
    return false;
  }

  /** Estimated server time (ms on the tick timeline) at local time `nowMs`. */
  serverTime(nowMs) {
    return this.offset === null ? 0 : nowMs + this.offset;
  }
}

/** Shortest signed angle from `a` to `b`, in (-π, π]. */
export function angleDelta(a, b) {
  let d = (b - a) % TAU;
  if (d > Math.PI) d -= TAU;
  else if (d <= -Math.PI) d += TAU;
  return d;
}

/** Angle between `a` and `b` at `t` along the shorter arc, in [0, 2π). */
export function lerpAngle(a, b, t) {
  const v = (a + angleDelta(a, b) * t) % TAU;
  return v < 0 ? v + TAU : v;
}

/**
 * Fields of one entity between two states.
 * @param {Record<string, number>} from fields at the older snapshot
 * @param {Record<string, number>} to fields at the newer snapshot
 * @param {number} t 0 at `from`, 1 at `to`
 * @param {Record<string, 'linear'|'angle'|'step'>} modes how each field moves
 * @returns {Record<string, number>}
 */
export function interpolateFields(from, to, t, modes) {
  const out = {};
  for (const name in from) {
    const a = from[name];
    const b = to[name];
    if (b === undefined) {
      out[name] = a;
      continue;
    }
    switch (modes[name]) {
      case 'linear':
        out[name] = a + (b - a) * t;
        break;
      case 'angle':
        out[name] = lerpAngle(a, b, t);
        break;
      default:
        // Counters, flags and timers change at the tick they change on.
        out[name] = t >= 1 ? b : a;
    }
  }
  return out;
}

/**
 * Buffers snapshots and draws entities about two snapshot intervals in the
 * past.
 */
export class Interpolator {
  /**
   * @param {object} options
   * @param {number} options.tickRate server ticks (snapshots) per second
   * @param {number} [options.delayIntervals] how far in the past to draw, in snapshot intervals (default 2)
   * @param {number} [options.capacity] most snapshots kept (default 32)
   * @param {Record<string, Record<string, 'linear'|'angle'|'step'>>} [options.modes]
   *   per kind name, how each field moves (from the schema)
   * @param {number} [options.teleportDistance] a coordinate jump larger than this
   *   many units per tick is a teleport (a jump, a wrap), drawn without sliding (default 100)
   * @param {number} [options.extrapolateIntervals] when the next snapshot is late, how many
   *   snapshot intervals to carry motion on past the newest one before holding (default 1.5)
   */
  constructor({
    tickRate,
    delayIntervals = 2,
    capacity = DEFAULT_CAPACITY,
    modes = {},
    teleportDistance = 100,
    extrapolateIntervals = 1.5,
  }) {
    this.intervalMs = 1000 / tickRate;
    this.delayIntervals = delayIntervals;
    this.extrapolateIntervals = extrapolateIntervals;
    this.capacity = capacity;
    this.modes = modes;
    this.teleportDistance = teleportDistance;
    this.clock = new SnapshotClock({ intervalMs: this.intervalMs });
    /** @type {Array<{tick: number, entities: Map<number, {kind: string, fields: Record<string, number>}>}>} oldest first */
    this.snapshots = [];
    /** Last render time handed out, so the picture never runs backwards. */
    this.lastRenderMs = -Infinity;
    /** The delay asked for, in ms: the adaptive delay never goes below it. */
    this.baseDelayMs = delayIntervals * this.intervalMs;
    /** The most the adaptive delay goes to, in ms. */
    this.maxDelayMs = this.baseDelayMs + MAX_EXTRA_DELAY_MS;
    /** How far in the past entities are drawn now, in ms: adaptive (see above), moving toward `targetDelayMs`. */
    this.delayMs = this.baseDelayMs;
    /** The delay the recent arrivals call for, in ms. */
    this.targetDelayMs = this.baseDelayMs;
    /** @type {number[]} how late (ms, against the clock) the recent snapshots came, oldest first */
    this.lateness = [];
    /** @type {number | null} local time of the last sample, for moving the delay */
    this.lastSampleAt = null;
    /** Times the drawn moment ran past the newest snapshot (nothing left to interpolate toward). */
    this.starved = 0;
    /** Whether the last sample was past the newest snapshot. */
    this.starving = false;
  }


  /** Forgets every snapshot and the clock (after a reconnect); keeps what it learnt of the jitter. */
  reset() {
    this.snapshots = [];
    this.clock = new SnapshotClock({ intervalMs: this.intervalMs });
    this.lastRenderMs = -Infinity;
    this.lastSampleAt = null;
    this.starving = false;
  }

  /**
   * Adds the state after `tick`, received at local time `nowMs`. Duplicate
   * and out-of-order ticks are ignored.
   * @param {number} tick
   * @param {Map<number, {kind: string, fields: Record<string, number>}>} entities
   * @param {number} nowMs
   */
  push(tick, entities, nowMs) {
    const newest = this.snapshots[this.snapshots.length - 1];
    if (newest && tick <= newest.tick) return;
    const before = this.clock.offset;
    if (this.clock.observe(tick, nowMs)) {
      this.lastRenderMs = -Infinity;
    } else if (before !== null) {
      // How late this one came against the smoothed clock (negative: early).
      this.observeLateness(before - (tick * this.intervalMs - nowMs));
    }
    this.snapshots.push({ tick, entities });
    if (this.snapshots.length > this.capacity) this.snapshots.shift();
  }

  /**
   * Records how late a snapshot came, and sets the delay the recent ones
   * call for: one interval (the next snapshot is due that much after the
   * drawn moment reaches the newest) plus the latest arrival of the window
   * plus a margin, within the delay asked for and the most allowed.
   * @param {number} lateMs
   */
  observeLateness(lateMs) {
    const late = this.lateness;
    if (late.push(lateMs) > JITTER_WINDOW) late.shift();
    const wanted = this.intervalMs + Math.max(...late) + JITTER_MARGIN_MS;
    this.targetDelayMs = Math.min(this.maxDelayMs, Math.max(this.baseDelayMs, wanted));
  }

  /**
   * Moves the delay toward its target for the time passed since the last
   * sample: up by at most 3 % of it, down by at most 2 %.
   * @param {number} nowMs
   */
  adaptDelay(nowMs) {
    const passed = Math.max(0, nowMs - (this.lastSampleAt ?? nowMs));
    this.lastSampleAt = nowMs;
    const gap = this.targetDelayMs - this.delayMs;
    this.delayMs += gap > 0 ? Math.min(gap, passed * DELAY_GROWTH) : Math.max(gap, -passed * DELAY_SHRINK);
  }

  /** The moment drawn at local time `nowMs`, in ms on the server's tick timeline. */
  renderTime(nowMs) {
    this.adaptDelay(nowMs);
    const t = Math.max(this.clock.serverTime(nowMs) - this.delayMs, this.lastRenderMs);
    this.lastRenderMs = t;
    return t;
  }

  /**
   * The tick drawn at local time `nowMs`, rounded down: what every input
   * says the page was showing, for the server's lag compensation. Never
   * past the newest snapshot (a late one is extrapolated, not seen), and 0
   * before the first. Unlike {@link renderTime}, it moves nothing.
   * @param {number} nowMs
   * @returns {number}
   */
  viewTick(nowMs) {
    const newest = this.snapshots[this.snapshots.length - 1];
    if (!newest) return 0;
    const t = Math.max(this.clock.serverTime(nowMs) - this.delayMs, this.lastRenderMs);
    return Math.max(0, Math.min(newest.tick, Math.floor(t / this.intervalMs)));
  }

  /**
   * How far behind the newest snapshot the drawn moment is, in ms: the
   * interpolation delay the player actually sees.
   */
  lagMs(nowMs) {
    const newest = this.snapshots[this.snapshots.length - 1];
    if (!newest) return 0;
    return newest.tick * this.intervalMs - Math.max(this.clock.serverTime(nowMs) - this.delayMs, this.lastRenderMs);
  }

  /**
   * Entities as they were at the render moment of local time `nowMs`.
   * @param {number} nowMs
   * @returns {Map<number, {id: number, kind: string, fields: Record<string, number>}>}
   */
  sample(nowMs) {
    const out = new Map();
    if (this.snapshots.length === 0) return out;
    const tick = this.renderTime(nowMs) / this.intervalMs;
    const past = tick > this.snapshots[this.snapshots.length - 1].tick;
    if (past && !this.starving) this.starved += 1;
    this.starving = past;
    // Drop snapshots that can no longer bracket the render moment.
    while (this.snapshots.length > 2 && this.snapshots[1].tick <= tick) this.snapshots.shift();
    const n = this.snapshots.length;
    let [a, b] = this.bracket(tick);
    let t;
    if (b) {
      t = Math.min(1, Math.max(0, (tick - a.tick) / (b.tick - a.tick)));
    } else if (a === this.snapshots[n - 1] && n >= 2 && tick > a.tick) {
      // The next snapshot is late: carry the last motion on for a moment
      // (it usually arrives before this runs out), then hold.
      b = a;
      a = this.snapshots[n - 2];
      const ahead = Math.min(tick - b.tick, this.extrapolateIntervals);
      t = 1 + ahead / (b.tick - a.tick);
    } else {
      // Before the oldest snapshot, or only one: hold, never guess.
      for (const [id, e] of a.entities) out.set(id, { id, kind: e.kind, fields: { ...e.fields } });
      return out;
    }
    const gap = b.tick - a.tick;
    const source = t > 1 ? b : a;
    for (const [id, ea] of source.entities) {
      let fields;
      if (t > 1) {
        // Extrapolating: only what was in both of the last two snapshots moves.
        const prev = a.entities.get(id);
        fields =
          !prev || prev.kind !== ea.kind || this.teleported(prev, ea, gap)
            ? { ...ea.fields }
            : interpolateFields(prev.fields, ea.fields, t, this.modes[ea.kind] ?? {});
      } else {
        const eb = b.entities.get(id);
        fields =
          !eb || eb.kind !== ea.kind || this.teleported(ea, eb, gap)
            ? { ...ea.fields }
            : interpolateFields(ea.fields, eb.fields, t, this.modes[ea.kind] ?? {});
      }
      out.set(id, { id, kind: ea.kind, fields });
    }
    return out;
  }

  /**
   * The snapshots just before and after `tick`; `[only, undefined]` when it is outside.
   * @param {number} tick
   * @returns {[Snapshot, Snapshot | undefined]}
   */
  bracket(tick) {
    const s = this.snapshots;
    if (tick <= s[0].tick) return [s[0], undefined];
    for (let i = s.length - 1; i > 0; i--) {
      if (s[i - 1].tick <= tick) return tick < s[i].tick ? [s[i - 1], s[i]] : [s[i], undefined];
    }
    return [s[s.length - 1], undefined];
  }

  teleported(ea, eb, gap) {
    const modes = this.modes[ea.kind] ?? {};
    const limit = this.teleportDistance * gap;
    for (const name in modes) {
      if (modes[name] === 'linear' && Math.abs((eb.fields[name] ?? 0) - (ea.fields[name] ?? 0)) > limit) {
        return true;
      }
    }
    return false;
  }
}
