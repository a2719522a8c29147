// Watching: what a spectator's page does instead of playing.
//
// A page opened with `?spectate=1` (or the join screen's Watch button)
// connects as a spectator: it holds no seat and sends no input, and its
// snapshots are exactly what the followed player is sent. The keys switch
// whom it follows, through the room's players in id order; the HUD says
// who is watched. The pure helpers here decide which player is next and
// what the HUD says; `WatchKeys` listens to the keyboard.

/** Keys that follow the next player, and the previous one. */
const NEXT_KEYS = new Set(['Tab', 'ArrowRight', 'KeyD', 'KeyN']);
const PREVIOUS_KEYS = new Set(['ArrowLeft', 'KeyA', 'KeyP']);

/**
 * The player to follow after `current`, `step` places on (1: next, -1:
 * previous) among `players` in id order, round and round; the first (or
 * last) when `current` is not among them; null when there is nobody.
 * @param {Iterable<number>} players the room's player ids
 * @param {number | null} current who is followed now
 * @param {number} step 1 or -1
 * @returns {number | null}
 */
export function cyclePlayer(players, current, step) {
  const ids = [...players].sort((a, b) => a - b);
  if (ids.length === 0) return null;
  const at = current === null ? -1 : ids.indexOf(current);
  if (at < 0) return step >= 0 ? ids[0] : ids[ids.length - 1];
  return ids[(at + step + ids.length) % ids.length];
}

/**
 * The HUD's line about what a spectator watches.
 * @param {string | null} name the followed player's name, or null for no one
 * @param {number} players how many players the room has
 */
export function watchText(name, players) {
  if (name !== null) return `Watching ${name}`;
  return players > 0 ? 'Watching the arena' : 'Waiting for players';
}

/** The HUD's hint of the keys a spectator has. */
export const WATCH_HELP = 'Tab or → next player · ← previous player · spectating: no input is sent';

/**
 * The keyboard of a spectator's page: the keys that switch whom it follows.
 */
export class WatchKeys {
  constructor() {
    /** @type {Array<() => void>} */
    this.listeners = [];
  }

  /**
   * Starts listening on `win`: `onStep(1)` for the next player, `onStep(-1)`
   * for the previous one.
   * @param {Window} win
   * @param {(step: number) => void} onStep
   */
  attach(win, onStep) {
    const keydown = (/** @type {KeyboardEvent} */ e) => {
      const previous = PREVIOUS_KEYS.has(e.code) || (e.code === 'Tab' && e.shiftKey);
      if (!previous && !NEXT_KEYS.has(e.code)) return;
      e.preventDefault();
      if (!e.repeat) onStep(previous ? -1 : 1);
    };
    win.addEventListener('keydown', keydown);
    this.listeners.push(() => win.removeEventListener('keydown', keydown));
  }

  /** Stops listening. */
  detach() {
    for (const off of this.listeners.splice(0)) off();
  }
}
