// The arena's movement rule, in the browser: one tick of the own avatar
// exactly as `tick_avatars` in `crates/sim/src/games/arena.rs` runs it, in
// 32-bit floats (`Math.fround` after every operation, as the server's f32
// arithmetic rounds), so the page predicts where the server will put its
// avatar.
//
// The SDK calls `stepAvatar(fields, input, dt, constants)` once per input
// sent and replays it on every snapshot (see `predict` in
// docs/client-sdk.md): `fields` are the avatar's fields (`x`, `y`,
// `heading`, `hp`, `respawn`, ... de-quantized), `input` is the arena's
// input as the server's game sees it (`move_x` and `move_y` as f32 in
// -1..1, `aim` in radians, `fire`), and `constants` the welcome's
// (`arena_size`, `player_speed`).

import { ARENA } from './arena.js';

const f32 = Math.fround;

/**
 * The movement direction of an input: `(move_x, move_y)` with its length
 * clamped to 1, in f32 exactly as `ArenaInput::direction` computes it.
 * @param {number} moveX the x axis as the game sees it, -1..1
 * @param {number} moveY the y axis as the game sees it, -1..1
 * @returns {[number, number]}
 */
export function direction(moveX, moveY) {
  const x = f32(moveX);
  const y = f32(moveY);
  const len2 = f32(f32(x * x) + f32(y * y));
  if (len2 > 1) {
    const len = f32(Math.sqrt(len2));
    return [f32(x / len), f32(y / len)];
  }
  return [x, y];
}

/**
 * Whether an avatar's fields say it is dead (waiting to respawn).
 * @param {Readonly<Record<string, number>>} fields
 */
export function isDead(fields) {
  return (fields.hp !== undefined && fields.hp <= 0) || (fields.respawn ?? 0) > 0;
}

/**
 * One tick of the own avatar: `pos += dir * speed * dt`, each coordinate
 * clamped to `[0, arena_size]`, the heading the input's aim, all in f32. A
 * dead avatar stays where it is (where it comes back, only the server
 * knows).
 * @param {Readonly<Record<string, number>>} fields the avatar before the tick
 * @param {Readonly<Record<string, number | boolean>>} input `{ move_x, move_y, aim, fire }`
 * @param {number} dt seconds per tick, an f32
 * @param {Readonly<Record<string, number>>} constants `arena_size`, `player_speed`
 * @returns {{x: number, y: number, heading: number}}
 */
export function stepAvatar(fields, input, dt, constants) {
  const x = f32(fields.x);
  const y = f32(fields.y);
  if (isDead(fields)) return { x, y, heading: fields.heading };
  const side = f32(constants[ARENA.constants.arenaSize] ?? ARENA.defaults.arenaSize);
  const speed = f32(constants[ARENA.constants.speed] ?? ARENA.defaults.speed);
  const [dx, dy] = direction(Number(input.move_x ?? 0), Number(input.move_y ?? 0));
  const vx = f32(dx * speed);
  const vy = f32(dy * speed);
  return {
    x: clamp(f32(x + f32(vx * dt)), 0, side),
    y: clamp(f32(y + f32(vy * dt)), 0, side),
    heading: f32(Number(input.aim ?? 0)),
  };
}

/**
 * `v` clamped into `[lo, hi]`.
 * @param {number} v
 * @param {number} lo
 * @param {number} hi
 */
function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}
