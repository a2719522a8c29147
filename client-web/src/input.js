// Input: what the player's keys and mouse mean, as the arena's input.
//
// WASD or the arrow keys move, the mouse aims, a click or the space bar
// fires. Listeners only record what is held; `named` turns that into the
// arena's input by the names its game declares (`move_x` and `move_y` axes
// in -1..1, an `aim` angle in radians, the `fire` button), which the page
// hands to the SDK's `client.setInput`. The SDK quantizes it by the
// welcome's schema and sends it once per server tick.

import { ARENA } from './arena.js';

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
 * Movement of a set of held directions: each axis -1, 0 or 1. Opposite keys
 * cancel; a diagonal is (±1, ±1), whose length the game clamps.
 * @param {{up?: boolean, down?: boolean, left?: boolean, right?: boolean}} held
 * @returns {{x: number, y: number}}
 */
export function movementOf(held) {
  return { x: (held.right ? 1 : 0) - (held.left ? 1 : 0), y: (held.down ? 1 : 0) - (held.up ? 1 : 0) };
}

/**
 * The keyboard and mouse state of one page.
 */
export class InputState {
  constructor() {
    /** Directions held. */
    this.held = { up: false, down: false, left: false, right: false };
    /** @type {{x: number, y: number} | null} mouse position in CSS pixels relative to the canvas, or null before it moves */
    this.mouse = null;
    this.mouseFire = false;
    this.keyFire = false;
    /** @type {Array<() => void>} */
    this.listeners = [];
  }

  /**
   * Starts listening: keys on `win`, the mouse on `canvas`. `onChange` is
   * called whenever what is held changes.
   * @param {Window} win
   * @param {HTMLElement} canvas
   * @param {() => void} [onChange]
   */
  attach(win, canvas, onChange = () => {}) {
    const on = (target, type, fn) => {
      target.addEventListener(type, fn);
      this.listeners.push(() => target.removeEventListener(type, fn));
    };
    on(win, 'keydown', (e) => {
      if (isTyping(e)) return;
      if (this.key(e.code, true)) {
        e.preventDefault();
        onChange();
      }
    });
    on(win, 'keyup', (e) => {
      if (this.key(e.code, false)) {
        e.preventDefault();
        onChange();
      }
    });
    on(win, 'blur', () => {
      this.releaseAll();
      onChange();
    });
    on(canvas, 'mousemove', (e) => {
      const r = canvas.getBoundingClientRect();
      this.mouse = { x: e.clientX - r.left, y: e.clientY - r.top };
    });
    on(canvas, 'mousedown', (e) => {
      if (e.button !== 0) return;
      this.mouseFire = true;
      onChange();
    });
    on(win, 'mouseup', (e) => {
      if (e.button !== 0) return;
      this.mouseFire = false;
      onChange();
    });
    on(canvas, 'contextmenu', (e) => e.preventDefault());
  }

  /** Stops listening. */
  detach() {
    for (const off of this.listeners.splice(0)) off();
    this.releaseAll();
  }

  /**
   * Records a key going down or up; returns whether the game uses it.
   * @param {string} code the key's `KeyboardEvent.code`
   * @param {boolean} down
   */
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
    for (const k of Object.keys(this.held)) this.held[k] = false;
    this.mouseFire = false;
    this.keyFire = false;
  }

  /**
   * What is held, as the arena's input by name.
   * @param {number} aimRadians where the avatar aims: 0 along +x, increasing toward +y (screen down)
   * @returns {Record<string, number | boolean>}
   */
  named(aimRadians) {
    const { x, y } = movementOf(this.held);
    const { moveX, moveY, aim, fire } = ARENA.input;
    return { [moveX]: x, [moveY]: y, [aim]: aimRadians, [fire]: this.mouseFire || this.keyFire };
  }
}

/**
 * Whether a key event goes to a text field.
 * @param {KeyboardEvent} e
 */
function isTyping(e) {
  const t = /** @type {HTMLElement | null} */ (e.target);
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA');
}
