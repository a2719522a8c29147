// Input: what the player's keys and mouse mean, sampled once per tick.
//
// WASD or the arrow keys move, the mouse aims, a click or the space bar
// fires. Listeners only record what is held; `sample` turns that into one
// input of the arena's declared fields (already quantized: movement in
// -steps..=steps of the `move_x` and `move_y` axes, aim in the `aim` angle's
// steps, the `fire` bit of the `buttons` field), so the server, the
// prediction and a replay all see the same bits. The steps and the fire bit
// are read from the welcome's schema (see `arenaInput`).

import { buttonBit, inputValues } from '../sdk/protocol.js';

const TAU = Math.PI * 2;

/** The arena's input fields, as its schema declares them. */
const ARENA_FIELDS = { move_x: 'Axis', move_y: 'Axis', aim: 'Angle', buttons: 'Buttons' };

const MOVE_KEYS = {
  KeyW: 'up',
  ArrowUp: 'up',
  KeyS: 'down',
  ArrowDown: 'down',
  KeyA: 'left',
  ArrowLeft: 'left',
  KeyD: 'right',
  ArrowRight: 'right',
};

/**
 * How the arena's input is laid out in a game's declared input (the
 * welcome's `schema.input`): the steps of its axes and of its aim, and the
 * bit of its fire button. Null when the game does not declare the arena's
 * fields (`move_x`, `move_y` axes, an `aim` angle, `buttons` naming `fire`).
 * @param {Array<{name: string, kind: {type: string, steps?: number}}>} decls
 * @returns {{decls: Array, moveX: number, moveY: number, aimSteps: number, fire: number} | null}
 */
export function arenaInput(decls) {
  const kind = (name) => decls.find((d) => d.name === name && d.kind.type === ARENA_FIELDS[name])?.kind;
  const [moveX, moveY, aim] = [kind('move_x'), kind('move_y'), kind('aim')];
  const fire = buttonBit(decls, 'buttons', 'fire');
  if (!moveX || !moveY || !aim || !fire) return null;
  return { decls, moveX: moveX.steps, moveY: moveY.steps, aimSteps: aim.steps, fire };
}

/** The arena's input as the schema lays it out by default (what the arena declares). */
export const ARENA_LAYOUT = { decls: null, moveX: 127, moveY: 127, aimSteps: 65536, fire: 1 };

/**
 * Quantizes an aim angle in radians to `steps` per turn (1/65536 turn by
 * default), 0 along +x, increasing toward +y (screen down).
 */
export function quantizeAim(radians, steps = 65536) {
  const q = Math.round((radians / TAU) * steps);
  return ((q % steps) + steps) % steps;
}

/**
 * Movement of a set of held directions, each axis -steps, 0 or steps (127 by
 * default). Opposite keys cancel; a diagonal is (±steps, ±steps), whose
 * length the server clamps.
 */
export function movementOf(held, stepsX = 127, stepsY = stepsX) {
  const x = (held.right ? stepsX : 0) - (held.left ? stepsX : 0);
  const y = (held.down ? stepsY : 0) - (held.up ? stepsY : 0);
  return { move_x: x, move_y: y };
}

/**
 * The wire values of an arena input, in the schema's declared order (see
 * `inputValues` in protocol.js, which refuses a value outside its field).
 * @param {{decls: Array}} layout from {@link arenaInput}
 * @param {{move_x: number, move_y: number, aim: number, buttons: number}} input
 */
export function arenaValues(layout, { move_x, move_y, aim, buttons }) {
  return inputValues(layout.decls, { move_x, move_y, aim, buttons });
}

/**
 * The keyboard and mouse state of one page.
 */
export class InputState {
  constructor() {
    /** Directions held. */
    this.held = { up: false, down: false, left: false, right: false };
    /** Mouse position in CSS pixels relative to the canvas, or null before it moves. */
    this.mouse = null;
    this.mouseFire = false;
    this.keyFire = false;
    this.listeners = [];
    /** Where the arena's fields are in the game's input (see {@link arenaInput}). */
    this.layout = ARENA_LAYOUT;
  }

  /**
   * Starts listening: keys on `window`, the mouse on `canvas`.
   * @param {Window} win
   * @param {HTMLElement} canvas
   */
  attach(win, canvas) {
    const on = (target, type, fn, opts) => {
      target.addEventListener(type, fn, opts);
      this.listeners.push(() => target.removeEventListener(type, fn, opts));
    };
    on(win, 'keydown', (e) => {
      if (isTyping(e)) return;
      if (this.key(e.code, true)) e.preventDefault();
    });
    on(win, 'keyup', (e) => {
      if (this.key(e.code, false)) e.preventDefault();
    });
    on(win, 'blur', () => this.releaseAll());
    on(canvas, 'mousemove', (e) => {
      const r = canvas.getBoundingClientRect();
      this.mouse = { x: e.clientX - r.left, y: e.clientY - r.top };
    });
    on(canvas, 'mousedown', (e) => {
      if (e.button === 0) this.mouseFire = true;
    });
    on(win, 'mouseup', (e) => {
      if (e.button === 0) this.mouseFire = false;
    });
    on(canvas, 'contextmenu', (e) => e.preventDefault());
  }

  /** Stops listening. */
  detach() {
    for (const off of this.listeners.splice(0)) off();
    this.releaseAll();
  }

  /** Records a key going down or up; returns whether the game uses it. */
  key(code, down) {
    const dir = MOVE_KEYS[code];
    if (dir) {
      this.held[dir] = down;
      return true;
    }
    if (code === 'Space') {
      this.keyFire = down;
      return true;
    }
    return false;
  }

  /** Lets go of everything (the window lost focus). */
  releaseAll() {
    for (const k in this.held) this.held[k] = false;
    this.mouseFire = false;
    this.keyFire = false;
  }

  /**
   * The input of the next tick, its fields named as the arena declares them.
   * @param {number} seq sequence number of this input
   * @param {number} aimRadians where the avatar aims
   * @returns {{seq: number, move_x: number, move_y: number, aim: number, buttons: number}}
   */
  sample(seq, aimRadians) {
    const layout = this.layout;
    const { move_x, move_y } = movementOf(this.held, layout.moveX, layout.moveY);
    const buttons = this.mouseFire || this.keyFire ? layout.fire : 0;
    return { seq, move_x, move_y, aim: quantizeAim(aimRadians, layout.aimSteps), buttons };
  }
}

function isTyping(e) {
  const t = e.target;
  return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA');
}
