// Input: what the player's keys and mouse mean, sampled once per tick.
//
// WASD or the arrow keys move, the mouse aims, a click or the space bar
// fires. Listeners only record what is held; `sample` turns that into one
// wire input (already quantized: movement in -127..=127, aim in 1/65536
// turn), so the server, the prediction and a replay all see the same bits.

const TAU = Math.PI * 2;

/** Button bit of the fire button, as `PlayerInput::FIRE`. */
export const FIRE = 1;

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
 * Quantizes an aim angle in radians to 1/65536 turn, 0 along +x, increasing
 * toward +y (screen down).
 */
export function quantizeAim(radians) {
  const q = Math.round((radians / TAU) * 65536);
  return ((q % 65536) + 65536) % 65536;
}

/**
 * Movement of a set of held directions, each axis -127, 0 or 127. Opposite
 * keys cancel; a diagonal is (±127, ±127), whose length the server clamps.
 */
export function movementOf(held) {
  const x = (held.right ? 127 : 0) - (held.left ? 127 : 0);
  const y = (held.down ? 127 : 0) - (held.up ? 127 : 0);
  return { move_x: x, move_y: y };
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
   * The input of the next tick.
   * @param {number} seq sequence number of this input
   * @param {number} aimRadians where the avatar aims
   * @returns {{seq: number, move_x: number, move_y: number, aim: number, buttons: number}}
   */
  sample(seq, aimRadians) {
    const { move_x, move_y } = movementOf(this.held);
    const buttons = this.mouseFire || this.keyFire ? FIRE : 0;
    return { seq, move_x, move_y, aim: quantizeAim(aimRadians), buttons };
  }
}

function isTyping(e) {
  const t = e.target;
  return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA');
}
