// Prediction: the player's own avatar moves the instant a key is pressed.
//
// Every input the client sends is also applied here, with the same movement
// rule the server runs (in 32-bit floats, as the simulation does), and kept
// until a snapshot acknowledges its sequence number. When a snapshot arrives
// the prediction restarts from the server's position for that tick and
// replays the inputs the server has not applied yet: that is reconciliation.
// It lands where the server will because the server, too, gives each input
// one tick of its own (two that arrive between the same ticks are applied on
// consecutive ticks); a tick the server runs with no new input repeats the
// last one, which shows here as a small correction forward, never back.
// A small disagreement (a lost race, quantization) is not shown as a jump: it
// goes into a display offset that decays over a tenth of a second, so at
// 100 ms round trip nothing visibly rubber-bands. A large one (a respawn) is
// shown at once. The prediction moves once per tick; frames drawn between
// two ticks show the avatar between its last two predicted positions, so it
// glides at any display rate.

const f32 = Math.fround;

/** Units per second of an avatar moving at full speed in the arena game. */
export const ARENA_SPEED = 200;

/** Most inputs kept unacknowledged: four seconds at 30 Hz. Older ones are dropped. */
export const MAX_PENDING = 120;

/**
 * The movement direction of an input: `(move_x / 127, move_y / 127)` with its
 * length clamped to 1, in f32 exactly as `PlayerInput::direction` computes it.
 * @param {number} moveX -127..=127
 * @param {number} moveY -127..=127
 * @returns {[number, number]}
 */
export function direction(moveX, moveY) {
  const x = f32(Math.max(moveX, -127) / 127);
  const y = f32(Math.max(moveY, -127) / 127);
  const len2 = f32(f32(x * x) + f32(y * y));
  if (len2 > 1) {
    const len = f32(Math.sqrt(len2));
    return [f32(x / len), f32(y / len)];
  }
  return [x, y];
}

/**
 * One tick of the arena's movement rule: `pos += dir * speed * dt`, then each
 * coordinate clamped to `[0, arenaSize]`, in f32.
 * @param {{x: number, y: number}} pos position before the tick (not modified)
 * @param {{move_x: number, move_y: number}} input
 * @param {{dt: number, speed: number, arenaSize: number}} rules dt and speed already f32
 * @returns {{x: number, y: number}}
 */
export function stepMovement(pos, input, rules) {
  const [dx, dy] = direction(input.move_x, input.move_y);
  const vx = f32(dx * rules.speed);
  const vy = f32(dy * rules.speed);
  const x = f32(f32(pos.x) + f32(vx * rules.dt));
  const y = f32(f32(pos.y) + f32(vy * rules.dt));
  return { x: clamp(x, 0, rules.arenaSize), y: clamp(y, 0, rules.arenaSize) };
}

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * The predicted own avatar.
 */
export class Predictor {
  /**
   * @param {object} options
   * @param {number} options.tickRate server ticks per second; dt is `1 / tickRate` in f32
   * @param {number} options.arenaSize side of the square arena, in units
   * @param {number} [options.speed] units per second at full speed (default 200)
   * @param {number} [options.smoothingMs] time constant of the correction decay (default 100 ms)
   * @param {number} [options.snapDistance] a correction larger than this is shown at once (default 64 units)
   */
  constructor({ tickRate, arenaSize, speed = ARENA_SPEED, smoothingMs = 100, snapDistance = 64 }) {
    this.rules = { dt: f32(1 / f32(tickRate)), speed: f32(speed), arenaSize: f32(arenaSize) };
    this.smoothingMs = smoothingMs;
    this.snapDistance = snapDistance;
    /** Inputs sent but not yet acknowledged, oldest first. */
    this.pending = [];
    /** The predicted position (the server's future, as far as the client knows); null before the first snapshot. */
    this.position = null;
    /** The predicted position one input earlier: frames between ticks are drawn between the two. */
    this.previous = null;
    /** Fraction of the tick drawn last (0 at `previous`, 1 at `position`). */
    this.alpha = 1;
    /** Display offset still to decay: where the avatar is drawn minus `position`. */
    this.offset = { x: 0, y: 0 };
    /** Whether the avatar is alive (a dead avatar is not predicted). */
    this.alive = true;
    /** Size of the last correction, in units (for the network overlay and tests). */
    this.lastCorrection = 0;
    /** Last sequence number the server acknowledged. */
    this.ackedSeq = -1;
  }

  /**
   * Applies an input that is being sent to the server.
   * @param {{seq: number, move_x: number, move_y: number}} input
   */
  applyInput(input) {
    if (!this.position) return;
    this.pending.push({ seq: input.seq, move_x: input.move_x, move_y: input.move_y });
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    this.previous = this.position;
    if (this.alive) this.position = stepMovement(this.position, input, this.rules);
  }

  /**
   * Restarts from the server's state of the avatar and replays what the
   * server has not applied yet.
   * @param {{x: number, y: number}} server the avatar's position in the snapshot
   * @param {number} ackedSeq last input sequence the server applied for this player (-1: none)
   * @param {boolean} [alive] whether the avatar is alive in the snapshot
   */
  reconcile(server, ackedSeq, alive = true) {
    this.ackedSeq = ackedSeq;
    while (this.pending.length > 0 && this.pending[0].seq <= ackedSeq) this.pending.shift();
    const before = this.position ? this.displayPosition(this.alpha) : null;
    this.alive = alive;
    let pos = { x: f32(server.x), y: f32(server.y) };
    let prev = pos;
    if (alive) {
      for (const input of this.pending) {
        prev = pos;
        pos = stepMovement(pos, input, this.rules);
      }
    }
    this.position = pos;
    this.previous = prev;
    if (!before) return;
    // Keep the drawn position where it was, and let the difference decay.
    const after = this.lerp(this.alpha);
    const ox = before.x - after.x;
    const oy = before.y - after.y;
    this.lastCorrection = Math.hypot(ox - this.offset.x, oy - this.offset.y);
    if (Math.hypot(ox, oy) > this.snapDistance) {
      this.offset = { x: 0, y: 0 };
    } else {
      this.offset = { x: ox, y: oy };
    }
  }

  /**
   * Lets the display offset decay by `elapsedMs` of wall time; call once per
   * drawn frame.
   */
  advance(elapsedMs) {
    const k = Math.exp(-Math.max(0, elapsedMs) / this.smoothingMs);
    this.offset.x *= k;
    this.offset.y *= k;
    if (Math.abs(this.offset.x) < 1e-3) this.offset.x = 0;
    if (Math.abs(this.offset.y) < 1e-3) this.offset.y = 0;
  }

  /**
   * Where the avatar is drawn: between the last two predicted positions,
   * plus what is left of the last correction.
   * @param {number} [alpha] how far the current tick has run, 0..1 (default 1)
   */
  displayPosition(alpha = 1) {
    if (!this.position) return null;
    this.alpha = Math.min(1, Math.max(0, alpha));
    const p = this.lerp(this.alpha);
    return { x: p.x + this.offset.x, y: p.y + this.offset.y };
  }

  lerp(alpha) {
    const a = this.previous ?? this.position;
    const b = this.position;
    return { x: a.x + (b.x - a.x) * alpha, y: a.y + (b.y - a.y) * alpha };
  }
}
