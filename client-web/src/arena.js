// What the arena app reads from the game, by name: the arena's kinds,
// fields, input, events and constants, as the arena's Rust game declares
// them (`crates/sim/src/games/arena.rs`), named here for the page, the HUD
// and the input (the step in predict.js mirrors the Rust rule on the same
// names). The SDK knows none of them; the welcome's schema says which of
// them the game being played declares (the bundled `tickwire` binary serves
// this app for its bench game too, which declares fewer), and the app uses
// only those.

/**
 * The arena's names.
 */
export const ARENA = Object.freeze({
  /** The kind drawn as a player's character, and its fields. */
  avatar: Object.freeze({
    kind: 'avatar',
    x: 'x',
    y: 'y',
    heading: 'heading',
    hp: 'hp',
    /** Ticks left before a dead avatar comes back. */
    respawn: 'respawn',
    /** The scoreboard's score: kills scored by the avatar's player. */
    score: 'score',
    /** Whose avatar it is: a player field, named on the scoreboard and over the avatar. */
    player: 'player',
  }),
  /** The kind drawn as a shot in flight, and its fields. */
  projectile: Object.freeze({ kind: 'projectile', x: 'x', y: 'y', heading: 'heading' }),
  /** The kill feed's event: who scored, who died (player fields; -1 is nobody). */
  kill: Object.freeze({ event: 'kill', killer: 'killer', victim: 'victim' }),
  /** The twin-stick input: two axes, an aim angle, a fire button. */
  input: Object.freeze({ moveX: 'move_x', moveY: 'move_y', aim: 'aim', fire: 'fire' }),
  /** The welcome's constants the page reads. */
  constants: Object.freeze({
    arenaSize: 'arena_size',
    speed: 'player_speed',
    maxHp: 'max_hp',
    /** The own shots (shots.js): how fast a projectile flies, units a second... */
    projectileSpeed: 'projectile_speed',
    /** ...ticks between shots... */
    fireTicks: 'fire_ticks',
    /** ...and ticks a projectile flies. */
    lifeTicks: 'projectile_life_ticks',
  }),
  /** The arena game's defaults (`assets/arena.toml`), for a welcome that does not give them. */
  defaults: Object.freeze({ arenaSize: 4000, speed: 200, maxHp: 100 }),
});

/**
 * The arena's names a game declares, from its welcome: what the page can
 * draw, score, send and hear.
 * @typedef {object} Declared
 * @property {boolean} avatar whether the game has the avatar kind, with coordinates
 * @property {boolean} projectile whether the game has the projectile kind, with coordinates
 * @property {boolean} score whether avatars carry a score (an integer field)
 * @property {boolean} player whether avatars name their player (a player field)
 * @property {boolean} hp whether avatars carry hit points
 * @property {boolean} input whether the game takes the twin-stick input
 * @property {boolean} kill whether the game tells kills, with a killer and a victim
 * @property {number} arenaSize side of the arena, in units
 * @property {number} maxHp hit points of a fresh avatar
 */

/**
 * Which of the arena's names a game declares.
 * @param {{kinds: Array<{name: string, fields: Array<{name: string, quant: {type: string}}>}>,
 *   input: Array<{name: string, kind: {type: string, names?: string[]}}>,
 *   events: Array<{name: string, fields: Array<{name: string}>}>}} schema the welcome's schema
 * @param {Record<string, number>} constants the welcome's constants
 * @returns {Declared}
 */
export function declared(schema, constants) {
  const { avatar, projectile, kill, input } = ARENA;
  const fields = (kind) => new Map((schema.kinds.find((k) => k.name === kind)?.fields ?? []).map((f) => [f.name, f.quant.type]));
  const a = fields(avatar.kind);
  const p = fields(projectile.kind);
  const axis = (name) => schema.input.some((d) => d.name === name && d.kind.type === 'Axis');
  const event = schema.events.find((e) => e.name === kill.event);
  const eventFields = new Set(event?.fields.map((f) => f.name));
  return {
    avatar: a.get(avatar.x) === 'fixed' && a.get(avatar.y) === 'fixed',
    projectile: p.get(projectile.x) === 'fixed' && p.get(projectile.y) === 'fixed',
    score: a.get(avatar.score) === 'int',
    player: a.get(avatar.player) === 'player',
    hp: a.get(avatar.hp) === 'int',
    input:
      axis(input.moveX) &&
      axis(input.moveY) &&
      schema.input.some((d) => d.name === input.aim && d.kind.type === 'Angle') &&
      schema.input.some((d) => d.kind.type === 'Buttons' && (d.kind.names ?? []).includes(input.fire)),
    kill: eventFields.has(kill.killer) && eventFields.has(kill.victim),
    arenaSize: constants[ARENA.constants.arenaSize] ?? ARENA.defaults.arenaSize,
    maxHp: constants[ARENA.constants.maxHp] ?? ARENA.defaults.maxHp,
  };
}
