// The asteroids ship rule, in the browser: one tick of the own ship exactly
// as `tick_ships` in `games/asteroids/src/lib.rs` runs it, in 32-bit floats
// (`Math.fround` after every operation, as the f32 arithmetic of the server
// rounds), so the page predicts where the server will put its ship.
//
// The SDK calls `stepShip(fields, input, dt, constants)` once per input sent
// (see `predict` in docs/client-sdk.md): `fields` are the ship's fields
// (`x`, `y`, `heading`, `vx`, `vy`, `status`, ... de-quantized; a status
// of 2 is wrecked), `input` is `{ turn, thrust, fire }` as the server's game sees
// it, and `constants` the welcome's (`field_size`, `turn_rate`, `thrust`,
// `max_speed`).

const f32 = Math.fround;
/** τ as an f32, as `core::f32::consts::TAU`. */
const TAU = f32(Math.PI * 2);

/**
 * `f32::rem_euclid`: the remainder of `a / b` in `[0, |b|)`.
 * @param {number} a an f32
 * @param {number} b an f32
 */
export function remEuclid(a, b) {
  const r = f32(a % b);
  return r < 0 ? f32(r + Math.abs(b)) : r;
}

/**
 * One tick of the own ship.
 * @param {Record<string, number>} fields the ship before the tick (`vx`, `vy` default to 0)
 * @param {Record<string, number | boolean>} input `{ turn, thrust, fire }`
 * @param {number} dt seconds per tick, an f32
 * @param {Record<string, number>} constants `field_size`, `turn_rate`, `thrust`, `max_speed`
 * @returns {{x: number, y: number, heading: number, vx: number, vy: number}}
 */
export function stepShip(fields, input, dt, constants) {
  let x = f32(fields.x);
  let y = f32(fields.y);
  let heading = f32(fields.heading);
  let vx = f32(fields.vx ?? 0);
  let vy = f32(fields.vy ?? 0);
  if (fields.status === 2 || fields.wrecked) {
    // A wrecked ship waits, and comes back still (where, only the server knows).
    return { x, y, heading, vx: 0, vy: 0 };
  }
  const turn = f32(Number(input.turn ?? 0));
  heading = remEuclid(f32(heading + f32(f32(turn * f32(constants.turn_rate)) * dt)), TAU);
  const fx = f32(Math.cos(heading));
  const fy = f32(Math.sin(heading));
  if (input.thrust) {
    const thrust = f32(constants.thrust);
    vx = f32(vx + f32(f32(fx * thrust) * dt));
    vy = f32(vy + f32(f32(fy * thrust) * dt));
  }
  const speed = f32(Math.sqrt(f32(f32(vx * vx) + f32(vy * vy))));
  const max = f32(constants.max_speed);
  if (speed > max) {
    const k = f32(max / speed);
    vx = f32(vx * k);
    vy = f32(vy * k);
  }
  const side = f32(constants.field_size);
  x = remEuclid(f32(x + f32(vx * dt)), side);
  y = remEuclid(f32(y + f32(vy * dt)), side);
  return { x, y, heading, vx, vy };
}
