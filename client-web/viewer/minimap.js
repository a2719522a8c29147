// The minimap: every entity of the shown tick as a dot, the followed
// player's avatar ringed, and its view rectangle: what the player was sent
// against what there was.
//
// Any game: an entity is drawn if it has `x` and `y` fields. The world's
// bounds are the game's `arena_size` constant when it gives one, else
// every position seen so far; and every view seen so far.

/**
 * @typedef {{id: number, kind: string, fields: Record<string, number>}} ShownEntity
 * @typedef {{x: number, y: number, width: number, height: number}} ShownRect
 */

export class Minimap {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    /** @type {{minX: number, minY: number, maxX: number, maxY: number} | null} */
    this.bounds = null;
    /** Whether the bounds are the game's own (its `arena_size`). */
    this.fixed = false;
    /** @type {Map<string, string>} a colour per kind */
    this.colours = new Map();
  }

  /**
   * The match: its bounds, if the game says them.
   * @param {{constants: Record<string, number>}} match
   */
  setMatch(match) {
    const size = match.constants?.arena_size;
    this.fixed = typeof size === 'number' && size > 0;
    this.bounds = this.fixed ? { minX: 0, minY: 0, maxX: size, maxY: size } : null;
  }

  /**
   * The colour of a kind.
   * @param {string} kind
   */
  colour(kind) {
    let c = this.colours.get(kind);
    if (!c) {
      c = `hsl(${(this.colours.size * 137 + 200) % 360} 70% 62%)`;
      this.colours.set(kind, c);
    }
    return c;
  }

  /**
   * Takes `x, y` into the bounds; an entity's position only when the
   * bounds are not the game's (a view may reach past the world's edge).
   * @param {number} x
   * @param {number} y
   * @param {boolean} [always] a view's corner: taken even into the game's bounds
   */
  grow(x, y, always = false) {
    if ((this.fixed && !always) || !Number.isFinite(x) || !Number.isFinite(y)) return;
    const b = this.bounds;
    if (!b) this.bounds = { minX: x, minY: y, maxX: x, maxY: y };
    else {
      b.minX = Math.min(b.minX, x);
      b.minY = Math.min(b.minY, y);
      b.maxX = Math.max(b.maxX, x);
      b.maxY = Math.max(b.maxY, y);
    }
  }

  /**
   * Draws a frame.
   * @param {{entities: ShownEntity[] | null, follow: number | null, players: Array<{id: number, avatar: number | null}>, pov: null | {view: ShownRect | null}}} frame
   */
  draw(frame) {
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = canvas.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round(width * dpr));
    canvas.height = Math.max(1, Math.round(height * dpr));
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const view = frame.pov?.view ?? null;
    for (const e of frame.entities ?? []) this.grow(e.fields.x, e.fields.y);
    if (view) {
      this.grow(view.x, view.y, true);
      this.grow(view.x + view.width, view.y + view.height, true);
    }
    const b = this.bounds;
    if (!b) return;
    const pad = 6;
    const span = Math.max(1, b.maxX - b.minX, b.maxY - b.minY);
    const scale = (Math.min(width, height) - 2 * pad) / span;
    const sx = (/** @type {number} */ x) => pad + (x - b.minX) * scale;
    const sy = (/** @type {number} */ y) => pad + (y - b.minY) * scale;
    ctx.strokeStyle = 'rgba(140, 160, 200, 0.25)';
    ctx.strokeRect(sx(b.minX), sy(b.minY), span * scale, span * scale);
    const followed = frame.players.find((p) => p.id === frame.follow)?.avatar ?? null;
    for (const e of frame.entities ?? []) {
      const { x, y } = e.fields;
      if (x === undefined || y === undefined) continue;
      const inView = !view || (x >= view.x && x <= view.x + view.width && y >= view.y && y <= view.y + view.height);
      ctx.globalAlpha = inView ? 1 : 0.35;
      ctx.fillStyle = this.colour(e.kind);
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), e.id === followed ? 3.5 : 2, 0, Math.PI * 2);
      ctx.fill();
      if (e.id === followed) {
        ctx.strokeStyle = '#ffd666';
        ctx.beginPath();
        ctx.arc(sx(x), sy(y), 6, 0, Math.PI * 2);
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
    if (view) {
      ctx.strokeStyle = '#ffd666';
      ctx.lineWidth = 1.5;
      ctx.strokeRect(sx(view.x), sy(view.y), view.width * scale, view.height * scale);
      ctx.lineWidth = 1;
    }
    if (!frame.entities) {
      ctx.fillStyle = '#8d98ad';
      ctx.font = '11px system-ui, sans-serif';
      ctx.fillText('positions are listed while paused', pad + 4, height - pad - 4);
    }
  }
}
