// The own shots, drawn at once. A shot the server fires reaches the page a
// round trip later, and is then drawn the interpolation delay in the past,
// like every other entity: at 100 ms of round trip the shooter's own shot
// would leave the barrel a fifth of a second after the click, from where
// the avatar was. So the page fires its own shot the moment the input that
// fires it goes out, from where the SDK predicts the avatar is after that
// input, with the arena's rule (`tick_avatars` in
// `crates/sim/src/games/arena.rs`: a shot needs fire held and a cooled gun,
// leaves from the avatar's position along its aim, flies `projectile_speed`
// units a second and lives `projectile_life_ticks` ticks).
//
// When the server's projectile arrives, it is matched to the oldest
// unmatched shot on its line, and from then on only the page's shot is
// drawn (the server's is hidden: never two of one shot); it goes when the
// server's goes (a hit, or the end of its flight). A shot the server never
// fired (the page thought the gun cool, the server did not) is matched by
// nothing and dropped after a round trip and a little more.

import { ARENA } from './arena.js';

/** Slack on a shot's heading when matching, radians: two steps of its 256-step quantization. */
const HEADING_SLACK = (2 * 2 * Math.PI) / 256;
/** Slack across a shot's line when matching, world units (positions travel in 1/16ths). */
const LINE_SLACK = 4;
/** How long past the round trip a shot waits for the server's before it is dropped, ms. */
const UNMATCHED_GRACE_MS = 250;

/**
 * A shot the page fired.
 * @typedef {object} Shot
 * @property {number} seq the input that fired it
 * @property {number} x where it left from
 * @property {number} y
 * @property {number} heading its direction, radians
 * @property {number} firedAt when its input went out, ms
 * @property {number | null} server the server's projectile's entity id, once matched
 */

/**
 * The arena's shots: which constants they need.
 * @param {Readonly<Record<string, number>>} constants the welcome's
 * @returns {{speed: number, fireTicks: number, lifeTicks: number} | null} null when the game does not say
 */
export function shotRules(constants) {
  const c = ARENA.constants;
  const speed = constants[c.projectileSpeed];
  const fireTicks = constants[c.fireTicks];
  const lifeTicks = constants[c.lifeTicks];
  if (!(speed > 0 && fireTicks > 0 && lifeTicks > 0)) return null;
  return { speed, fireTicks, lifeTicks };
}

/** The page's own shots. */
export class OwnShots {
  /**
   * @param {{speed: number, fireTicks: number, lifeTicks: number}} rules
   * @param {number} tickRate ticks a second
   */
  constructor(rules, tickRate) {
    this.rules = rules;
    this.tickMs = 1000 / tickRate;
    /** Ticks until the page's idea of the gun is cool again. */
    this.cooldown = 0;
    /** @type {Shot[]} oldest first */
    this.shots = [];
    /** @type {Set<number>} server projectiles matched to a shot: not drawn */
    this.hidden = new Set();
  }

  /**
   * An input went out: as the server does, the gun cools by a tick, and a
   * held fire with a cool gun fires from `at`, the avatar after this input.
   * @param {number} seq the input's sequence number
   * @param {Readonly<Record<string, number | boolean>>} input the arena's input
   * @param {{x: number, y: number} | null} at the own avatar after it (null: dead, or not yet known)
   * @param {number} nowMs
   */
  sent(seq, input, at, nowMs) {
    this.cooldown = Math.max(0, this.cooldown - 1);
    if (!input[ARENA.input.fire] || this.cooldown > 0 || !at) return;
    this.cooldown = this.rules.fireTicks;
    this.shots.push({ seq, x: at.x, y: at.y, heading: Number(input[ARENA.input.aim] ?? 0), firedAt: nowMs, server: null });
  }

  /**
   * A projectile appeared in a snapshot: if it lies on the line of an
   * unmatched shot of this page's, heading the same way, it is that shot.
   * @param {number} id its entity id
   * @param {{x: number, y: number, heading: number}} p its position and heading
   * @returns {boolean} whether it was matched (and is not to be drawn)
   */
  arrived(id, p) {
    for (const shot of this.shots) {
      if (shot.server !== null) continue;
      if (angleBetween(shot.heading, p.heading) > HEADING_SLACK) continue;
      const dx = p.x - shot.x;
      const dy = p.y - shot.y;
      const along = dx * Math.cos(shot.heading) + dy * Math.sin(shot.heading);
      const across = Math.abs(-dx * Math.sin(shot.heading) + dy * Math.cos(shot.heading));
      const reach = this.rules.speed * (this.rules.lifeTicks + 1) * (this.tickMs / 1000);
      if (across > LINE_SLACK || along < -LINE_SLACK || along > reach) continue;
      shot.server = id;
      this.hidden.add(id);
      return true;
    }
    return false;
  }

  /**
   * A projectile left: its shot goes with it.
   * @param {number} id its entity id
   */
  gone(id) {
    if (!this.hidden.delete(id)) return;
    this.shots = this.shots.filter((s) => s.server !== id);
  }

  /**
   * The shots to draw at `nowMs`, each where it has flown since its input
   * went out; drops what has flown its life, and what the server never
   * fired (unmatched a round trip and {@link UNMATCHED_GRACE_MS} on).
   * @param {number} nowMs
   * @param {number} rttMs the round trip now
   * @returns {Array<{x: number, y: number, heading: number, seq: number}>}
   */
  drawn(nowMs, rttMs) {
    const lifeMs = this.rules.lifeTicks * this.tickMs;
    const wait = rttMs + UNMATCHED_GRACE_MS + 2 * this.tickMs;
    this.shots = this.shots.filter((s) => {
      const age = nowMs - s.firedAt;
      return age < lifeMs && (s.server !== null || age < wait);
    });
    return this.shots.map((s) => {
      const flown = (this.rules.speed * Math.max(0, nowMs - s.firedAt)) / 1000;
      return { x: s.x + Math.cos(s.heading) * flown, y: s.y + Math.sin(s.heading) * flown, heading: s.heading, seq: s.seq };
    });
  }

  /** Forgets every shot (a new match, or a fresh join). */
  clear() {
    this.shots = [];
    this.hidden.clear();
    this.cooldown = 0;
  }
}

/**
 * The smaller angle between two headings, radians.
 * @param {number} a
 * @param {number} b
 */
function angleBetween(a, b) {
  const d = Math.abs(a - b) % (2 * Math.PI);
  return d > Math.PI ? 2 * Math.PI - d : d;
}
