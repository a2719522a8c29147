// Rendering: one frame of the arena on a Canvas 2D.
//
// The renderer draws a scene that the main loop assembles each frame from
// the SDK's `client.frame` (interpolated others, the predicted own avatar,
// projectiles); it keeps no game state. The canvas backing store follows the element's CSS size times
// devicePixelRatio, so lines and text stay sharp on high-DPI screens, and it
// is resized whenever the window is. The camera centres the own avatar.

const TAU = Math.PI * 2;

/** World units visible across the smaller screen dimension, roughly. */
const VIEW_UNITS = { x: 1400, y: 800 };
/** Spacing of the floor grid, in world units. */
const GRID = 100;

/**
 * A stable, pleasant colour for a player or entity id.
 * @param {number} id
 */
export function colourFor(id) {
  // The golden angle spreads consecutive ids around the hue circle.
  const hue = Math.round((id * 137.508) % 360);
  return `hsl(${hue} 70% 60%)`;
}

/**
 * Pixels per world unit for a viewport of `width` x `height` CSS pixels:
 * about 1400 x 800 units are visible, whichever fits.
 * @param {number} width
 * @param {number} height
 */
export function scaleFor(width, height) {
  return Math.max(0.25, Math.min(width / VIEW_UNITS.x, height / VIEW_UNITS.y));
}

/**
 * Draws scenes on one canvas.
 */
export class Renderer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {Window} [win] for devicePixelRatio and resize events
   */
  constructor(canvas, win = globalThis.window) {
    this.canvas = canvas;
    this.win = win;
    this.ctx = canvas.getContext('2d');
    /** Size in CSS pixels. */
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    this.scale = 1;
    this.camera = { x: 0, y: 0 };
    this.onResize = () => this.resize();
    win?.addEventListener?.('resize', this.onResize);
    this.resize();
  }

  /** Matches the backing store to the element's size and the pixel ratio. */
  resize() {
    const dpr = this.win?.devicePixelRatio || 1;
    const width = this.canvas.clientWidth || this.win?.innerWidth || 800;
    const height = this.canvas.clientHeight || this.win?.innerHeight || 600;
    if (width === this.width && height === this.height && dpr === this.dpr) return;
    this.width = width;
    this.height = height;
    this.dpr = dpr;
    this.canvas.width = Math.round(width * dpr);
    this.canvas.height = Math.round(height * dpr);
    this.scale = scaleFor(width, height);
  }

  /** Stops following window resizes. */
  dispose() {
    this.win?.removeEventListener?.('resize', this.onResize);
  }

  /**
   * Screen position (CSS pixels) of a world point, under the current camera.
   * @param {number} x
   * @param {number} y
   */
  worldToScreen(x, y) {
    return {
      x: (x - this.camera.x) * this.scale + this.width / 2,
      y: (y - this.camera.y) * this.scale + this.height / 2,
    };
  }

  /**
   * World position of a screen point (CSS pixels).
   * @param {number} px
   * @param {number} py
   */
  screenToWorld(px, py) {
    return {
      x: (px - this.width / 2) / this.scale + this.camera.x,
      y: (py - this.height / 2) / this.scale + this.camera.y,
    };
  }

  /**
   * Draws one frame.
   * @param {object} scene
   * @param {number} scene.arenaSize side of the arena
   * @param {{x: number, y: number}} scene.camera world point at the screen centre
   * @param {Array<{id: number, x: number, y: number, heading: number, hp: number, maxHp: number,
   *   name: string, own: boolean, dead: boolean, colourId?: number}>} scene.avatars
   * @param {Array<{id: number, x: number, y: number, heading?: number}>} scene.projectiles
   * @param {number} [scene.avatarRadius] in world units (default 24)
   */
  draw(scene) {
    this.resize();
    const { ctx } = this;
    this.camera = scene.camera;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#0b0e14';
    ctx.fillRect(0, 0, this.width, this.height);
    // World space: CSS pixels, then camera.
    ctx.save();
    ctx.translate(this.width / 2, this.height / 2);
    ctx.scale(this.scale, this.scale);
    ctx.translate(-scene.camera.x, -scene.camera.y);
    this.drawArena(scene.arenaSize);
    const radius = scene.avatarRadius ?? 24;
    for (const p of scene.projectiles) this.drawProjectile(p);
    const ordered = [...scene.avatars].sort((a, b) => Number(a.own) - Number(b.own));
    for (const a of ordered) this.drawAvatar(a, radius);
    ctx.restore();
    // Labels in screen space, so text stays crisp at any zoom.
    for (const a of ordered) this.drawLabel(a, radius);
  }

  /**
   * The arena's floor, its grid (the lines on screen only) and its edge.
   * @param {number} size side of the arena
   */
  drawArena(size) {
    const { ctx } = this;
    // Only the grid lines that are on screen.
    const tl = this.screenToWorld(0, 0);
    const br = this.screenToWorld(this.width, this.height);
    ctx.fillStyle = '#121826';
    ctx.fillRect(0, 0, size, size);
    ctx.lineWidth = 1 / this.scale;
    ctx.strokeStyle = 'rgba(120, 150, 200, 0.09)';
    ctx.beginPath();
    const x0 = Math.max(0, Math.floor(tl.x / GRID) * GRID);
    const x1 = Math.min(size, Math.ceil(br.x / GRID) * GRID);
    const y0 = Math.max(0, Math.floor(tl.y / GRID) * GRID);
    const y1 = Math.min(size, Math.ceil(br.y / GRID) * GRID);
    for (let x = x0; x <= x1; x += GRID) {
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y1);
    }
    for (let y = y0; y <= y1; y += GRID) {
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
    }
    ctx.stroke();
    ctx.strokeStyle = 'rgba(120, 150, 200, 0.22)';
    ctx.beginPath();
    for (let x = Math.ceil(x0 / 500) * 500; x <= x1; x += 500) {
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y1);
    }
    for (let y = Math.ceil(y0 / 500) * 500; y <= y1; y += 500) {
      ctx.moveTo(x0, y);
      ctx.lineTo(x1, y);
    }
    ctx.stroke();
    // The arena's edge.
    ctx.lineWidth = 4 / this.scale;
    ctx.strokeStyle = '#e05a47';
    ctx.shadowColor = 'rgba(224, 90, 71, 0.6)';
    ctx.shadowBlur = 12;
    ctx.strokeRect(0, 0, size, size);
    ctx.shadowBlur = 0;
  }

  /**
   * A shot: a glowing bolt, with a streak behind it along its flight.
   * @param {{x: number, y: number, heading?: number}} p
   */
  drawProjectile(p) {
    const { ctx } = this;
    if (p.heading !== undefined) {
      // A short streak behind the bolt, along its flight.
      const tail = 26;
      const tx = p.x - Math.cos(p.heading) * tail;
      const ty = p.y - Math.sin(p.heading) * tail;
      const gradient = ctx.createLinearGradient(tx, ty, p.x, p.y);
      gradient.addColorStop(0, 'rgba(255, 214, 102, 0)');
      gradient.addColorStop(1, 'rgba(255, 214, 102, 0.8)');
      ctx.strokeStyle = gradient;
      ctx.lineWidth = 6;
      ctx.lineCap = 'round';
      ctx.beginPath();
      ctx.moveTo(tx, ty);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
    }
    ctx.fillStyle = 'rgba(255, 214, 102, 0.25)';
    ctx.beginPath();
    ctx.arc(p.x, p.y, 10, 0, TAU);
    ctx.fill();
    ctx.fillStyle = '#fff1c1';
    ctx.beginPath();
    ctx.arc(p.x, p.y, 4.5, 0, TAU);
    ctx.fill();
  }

  /**
   * An avatar: its body in its player's colour, its barrel along its heading.
   * @param {{id: number, colourId?: number, x: number, y: number, heading: number, own: boolean, dead: boolean}} a
   * @param {number} radius in world units
   */
  drawAvatar(a, radius) {
    const { ctx } = this;
    const colour = colourFor(a.colourId ?? a.id);
    ctx.save();
    ctx.translate(a.x, a.y);
    if (a.dead) ctx.globalAlpha = 0.25;
    // Barrel, along the heading.
    ctx.rotate(a.heading);
    ctx.fillStyle = '#d8dee9';
    ctx.strokeStyle = 'rgba(0, 0, 0, 0.5)';
    ctx.lineWidth = 2;
    ctx.fillRect(radius * 0.3, -6, radius * 1.35, 12);
    ctx.strokeRect(radius * 0.3, -6, radius * 1.35, 12);
    ctx.rotate(-a.heading);
    // Body.
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.arc(0, 0, radius, 0, TAU);
    ctx.fill();
    ctx.lineWidth = a.own ? 4 : 2;
    ctx.strokeStyle = a.own ? '#ffffff' : 'rgba(0, 0, 0, 0.45)';
    ctx.stroke();
    ctx.restore();
  }

  /**
   * An avatar's name and hit points, in screen space.
   * @param {{x: number, y: number, hp: number, maxHp: number, name: string, own: boolean, dead: boolean}} a
   * @param {number} radius in world units
   */
  drawLabel(a, radius) {
    const { ctx } = this;
    const s = this.worldToScreen(a.x, a.y);
    const r = radius * this.scale;
    if (s.x < -100 || s.y < -100 || s.x > this.width + 100 || s.y > this.height + 100) return;
    ctx.globalAlpha = a.dead ? 0.4 : 1;
    // Name.
    ctx.font = `${a.own ? 600 : 500} 13px system-ui, -apple-system, "Segoe UI", sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'rgba(0, 0, 0, 0.7)';
    ctx.strokeText(a.name, s.x, s.y - r - 12);
    ctx.fillStyle = a.own ? '#ffffff' : '#cfd6e4';
    ctx.fillText(a.name, s.x, s.y - r - 12);
    // Hit points.
    const w = 44;
    const h = 5;
    const frac = Math.max(0, Math.min(1, a.hp / (a.maxHp || 100)));
    const x = s.x - w / 2;
    const y = s.y - r - 9;
    ctx.fillStyle = 'rgba(0, 0, 0, 0.6)';
    ctx.fillRect(x - 1, y - 1, w + 2, h + 2);
    ctx.fillStyle = frac > 0.5 ? '#5ad17a' : frac > 0.25 ? '#f2c14e' : '#e05a47';
    ctx.fillRect(x, y, w * frac, h);
    ctx.globalAlpha = 1;
  }
}
