// Prediction: the own entity moves the instant an input is held, by the
// game's own rule.
//
// The game gives a step function, `predict(fields, input, dt, constants)`,
// that runs one tick of its own entity as the server does (in 32-bit floats
// where the server uses them). Every input the client sends is applied
// through it at once, and kept until a snapshot acknowledges its sequence
// number. When a snapshot arrives the prediction restarts from the server's
// fields at the acknowledged input and replays the inputs the server has not
// applied yet: that is reconciliation.
//
// The server's fields are quantized, so restarting from them would throw
// away the precision the prediction had. Instead, the prediction made for
// the acknowledged input is kept wherever it agrees with the server (it
// quantizes to the same integer), and moved the least that makes it agree
// where it does not: into the server's quantization step. Fields the step
// returns that the server does not replicate (a velocity, say) are carried
// from that same prediction. So a faithful step lands where the server will,
// to well within one quantization step, however long the game runs.
//
// A small disagreement is not shown as a jump: it goes into a display
// offset that decays over a tenth of a second. A large one (a teleport) is
// shown at once. The prediction moves once per tick; frames drawn between
// two ticks show the entity between its last two predicted states.

import { angleDelta, lerpAngle } from './interpolation.js';

const f32 = Math.fround;
const TAU = Math.PI * 2;

/** Most inputs kept unacknowledged: four seconds at 30 Hz. Older ones are dropped. */
export const MAX_PENDING = 120;

/**
 * The game's step for its own entity: the fields after one tick of `input`.
 * `fields` holds the entity's de-quantized fields and whatever this function
 * returned before (fields the server does not replicate are carried along);
 * it returns the fields it predicts, and those it leaves out are drawn from
 * the server's state.
 * @callback PredictFn
 * @param {Readonly<Record<string, number>>} fields the entity before the tick (do not modify)
 * @param {Readonly<Record<string, number | boolean>>} input the input of the tick, by name, as the server's game sees it
 * @param {number} dt seconds per tick, as an f32
 * @param {Readonly<Record<string, number>>} constants the welcome's constants
 * @returns {Record<string, number>} the predicted fields after the tick
 */

/**
 * A field of the own entity's kind, as {@link import('./schema.js').SchemaView} describes it.
 * @typedef {{name: string, quant: {type: string, scale?: number, steps?: number}, mode: 'linear' | 'angle' | 'step'}} PredictedField
 */

/**
 * The value the server agrees with that is nearest the predicted one: the
 * prediction itself if it quantizes to the server's integer, else the
 * nearest value that does.
 * @param {number | undefined} predicted
 * @param {number} server the server's de-quantized value
 * @param {{type: string, scale?: number, steps?: number}} quant
 */
export function agree(predicted, server, quant) {
  if (typeof predicted !== 'number' || !Number.isFinite(predicted)) return server;
  if (quant.type === 'fixed' && quant.scale) {
    const q = Math.round(server * quant.scale);
    const lo = (q - 0.5) / quant.scale;
    const hi = (q + 0.5) / quant.scale;
    return predicted < lo ? lo : predicted > hi ? hi : predicted;
  }
  if (quant.type === 'angle' && quant.steps) {
    const half = Math.PI / quant.steps;
    const d = angleDelta(server, predicted);
    if (Math.abs(d) <= half) return predicted;
    const v = (server + Math.sign(d) * half) % TAU;
    return v < 0 ? v + TAU : v;
  }
  return server;
}

/**
 * The predicted own entity.
 */
export class Predictor {
  /**
   * @param {object} options
   * @param {PredictFn} options.predict the game's step
   * @param {number} options.tickRate server ticks per second; dt is `1 / tickRate` in f32
   * @param {Record<string, number>} [options.constants] the welcome's constants
   * @param {number} [options.smoothingMs] time constant of the correction decay (default 100 ms)
   * @param {number} [options.snapDistance] a correction of coordinates larger than this many units is shown at once (default 64)
   * @param {number} [options.teleportDistance] a coordinate moving more than this many units in one tick (a wrap, a jump) is not drawn sliding (default 100)
   * @param {number} [options.maxPending] most inputs kept unacknowledged (default {@link MAX_PENDING})
   */
  constructor({ predict, tickRate, constants = {}, smoothingMs = 100, snapDistance = 64, teleportDistance = 100, maxPending = MAX_PENDING }) {
    this.predict = predict;
    this.dt = f32(1 / f32(tickRate));
    this.constants = constants;
    this.smoothingMs = smoothingMs;
    this.snapDistance = snapDistance;
    this.teleportDistance = teleportDistance;
    this.maxPending = Math.max(1, maxPending);
    /** @type {PredictedField[]} the own kind's fields (from the last reconcile) */
    this.fields = [];
    /** @type {Set<string>} names the step has returned */
    this.predicted = new Set();
    this.reset();
  }

  /** Forgets everything (another entity, a reconnect): the next snapshot starts afresh. */
  reset() {
    /** @type {Array<{seq: number, input: Record<string, number | boolean>, after: Record<string, number> | null}>} inputs sent, not yet acknowledged, oldest first */
    this.pending = [];
    /** @type {{seq: number, after: Record<string, number> | null} | null} the newest acknowledged input and the prediction made for it */
    this.acked = null;
    /** @type {Record<string, number> | null} the predicted state after the newest input; null before the first snapshot */
    this.state = null;
    /** @type {Record<string, number> | null} the predicted state one input earlier */
    this.previous = null;
    /** @type {number} fraction of the tick drawn last (0 at `previous`, 1 at `state`) */
    this.alpha = 1;
    /** @type {Record<string, number>} display offsets still to decay, per field: drawn minus predicted */
    this.offset = {};
    /** @type {number} size of the last correction of coordinates, in units */
    this.lastCorrection = 0;
  }

  /**
   * One tick of the step, merged over the state.
   * @param {Record<string, number>} state
   * @param {Record<string, number | boolean>} input
   */
  step(state, input) {
    const out = this.predict(state, input, this.dt, this.constants) ?? {};
    for (const name of Object.keys(out)) this.predicted.add(name);
    return { ...state, ...out };
  }

  /**
   * Applies an input that is being sent to the server.
   * @param {number} seq its sequence number
   * @param {Record<string, number | boolean>} input by name, as the server's game sees it
   */
  applyInput(seq, input) {
    /** @type {Record<string, number> | null} */
    let after = null;
    if (this.state) {
      this.previous = this.state;
      this.state = this.step(this.state, input);
      after = this.state;
    }
    this.pending.push({ seq, input, after });
    if (this.pending.length > this.maxPending) this.pending.shift();
  }

  /**
   * Restarts from the server's state of the entity at the acknowledged
   * input and replays what the server has not applied yet.
   * @param {Record<string, number>} server the entity's fields in the snapshot, de-quantized
   * @param {number | null} ackedSeq the last input the server applied for this player (null: none yet)
   * @param {PredictedField[]} fields the entity's kind's fields
   */
  reconcile(server, ackedSeq, fields) {
    this.fields = fields;
    if (ackedSeq != null) {
      while (this.pending.length > 0 && this.pending[0].seq <= ackedSeq) {
        const done = /** @type {{seq: number, after: Record<string, number> | null}} */ (this.pending.shift());
        if (done.seq === ackedSeq) this.acked = done;
      }
    }
    const base = ackedSeq != null && this.acked?.seq === ackedSeq ? this.acked.after : null;
    const before = this.state ? this.display(this.alpha) : null;
    /** @type {Record<string, number>} */
    let state = { ...server };
    if (base) {
      for (const name of Object.keys(base)) if (!(name in server)) state[name] = base[name];
      for (const f of fields) if (f.name in server) state[f.name] = agree(base[f.name], server[f.name], f.quant);
    }
    if (this.acked && this.acked.seq === ackedSeq) this.acked.after = state;
    let previous = state;
    for (const p of this.pending) {
      previous = state;
      state = this.step(state, p.input);
      p.after = state;
    }
    this.state = state;
    this.previous = previous;
    if (!before) return;
    // Keep the drawn entity where it was, and let the difference decay.
    const after = this.lerp(this.alpha);
    /** @type {Record<string, number>} */
    const offset = {};
    let moved = 0;
    let size = 0;
    for (const f of this.smoothed()) {
      const d = f.mode === 'angle' ? angleDelta(after[f.name], before[f.name]) : before[f.name] - after[f.name];
      if (!Number.isFinite(d)) continue;
      offset[f.name] = d;
      if (f.mode === 'linear') {
        size += d * d;
        moved += (d - (this.offset[f.name] ?? 0)) ** 2;
      }
    }
    this.lastCorrection = Math.sqrt(moved);
    this.offset = Math.sqrt(size) > this.snapDistance ? {} : offset;
  }

  /** The predicted fields that are drawn smoothly: coordinates and angles. */
  smoothed() {
    return this.fields.filter((f) => f.mode !== 'step' && this.predicted.has(f.name));
  }

  /**
   * Lets the display offsets decay by `elapsedMs` of wall time; call once
   * per drawn frame.
   * @param {number} elapsedMs
   */
  advance(elapsedMs) {
    const k = Math.exp(-Math.max(0, elapsedMs) / this.smoothingMs);
    for (const name of Object.keys(this.offset)) {
      const v = this.offset[name] * k;
      if (Math.abs(v) < 1e-4) delete this.offset[name];
      else this.offset[name] = v;
    }
  }

  /**
   * The predicted fields as drawn: between the last two predicted states,
   * plus what is left of the last correction. Null before the first
   * snapshot.
   * @param {number} [alpha] how far the current tick has run, 0..1 (default 1)
   * @returns {Record<string, number> | null} every field the step returns
   */
  display(alpha = 1) {
    if (!this.state) return null;
    this.alpha = Math.min(1, Math.max(0, alpha));
    const out = this.lerp(this.alpha);
    for (const f of this.smoothed()) {
      const o = this.offset[f.name];
      if (o === undefined) continue;
      if (f.mode === 'angle') out[f.name] = (((out[f.name] + o) % TAU) + TAU) % TAU;
      else out[f.name] += o;
    }
    return out;
  }

  /**
   * The predicted fields at `alpha` between the last two predicted states.
   * @param {number} alpha
   * @returns {Record<string, number>}
   */
  lerp(alpha) {
    const b = /** @type {Record<string, number>} */ (this.state);
    const a = this.previous ?? b;
    /** @type {Record<string, number>} */
    const out = {};
    for (const name of this.predicted) if (name in b) out[name] = b[name];
    for (const f of this.smoothed()) {
      const from = a[f.name];
      const to = b[f.name];
      if (typeof from !== 'number' || typeof to !== 'number') continue;
      if (f.mode === 'angle') out[f.name] = lerpAngle(from, to, alpha);
      else if (Math.abs(to - from) <= this.teleportDistance) out[f.name] = from + (to - from) * alpha;
    }
    return out;
  }
}
