// The timeline: the whole match as a strip to scrub.
//
// The canvas draws the replicated entities over the match (how busy each
// tick was) and a mark at each keyframe; on top, plain elements mark the
// ticks whose replayed state hash differs from the recorded one (a red
// band over each run, a red marker at its first tick, titled with both
// hashes) and the shown tick. Pressing and dragging seeks; a seek is sent
// at most once per animation frame.

/**
 * @typedef {object} TimelineMatch what the timeline draws of the match
 * @property {number} ticks
 * @property {number[]} keyframes
 * @property {number[]} entities replicated entities after each tick
 * @property {Array<{tick: number, recorded: string, replayed: string}>} divergences
 * @property {Array<[number, number]>} divergentSpans
 */

export class Timeline {
  /**
   * @param {HTMLElement} root the timeline's element: holds the canvas, the markers, the playhead and the hover label
   * @param {{onSeek: (tick: number) => void}} options
   */
  constructor(root, { onSeek }) {
    this.root = root;
    this.canvas = /** @type {HTMLCanvasElement} */ (root.querySelector('canvas'));
    this.markers = /** @type {HTMLElement} */ (root.querySelector('.markers'));
    this.playhead = /** @type {HTMLElement} */ (root.querySelector('.playhead'));
    this.hover = /** @type {HTMLElement} */ (root.querySelector('.hover'));
    this.onSeek = onSeek;
    /** @type {TimelineMatch | null} */
    this.match = null;
    this.tick = 0;
    /** @type {number | null} a seek waiting for the next animation frame */
    this.pending = null;
    this.dragging = false;
    root.addEventListener('pointerdown', (e) => {
      this.dragging = true;
      root.setPointerCapture(e.pointerId);
      this.seekAt(e.clientX);
    });
    root.addEventListener('pointermove', (e) => {
      this.hoverAt(e.clientX);
      if (this.dragging) this.seekAt(e.clientX);
    });
    const stop = () => {
      this.dragging = false;
    };
    root.addEventListener('pointerup', stop);
    root.addEventListener('pointercancel', stop);
    root.addEventListener('pointerleave', () => {
      this.hover.hidden = true;
    });
  }

  /**
   * The match to draw.
   * @param {TimelineMatch} match
   */
  setMatch(match) {
    this.match = match;
    const at = (/** @type {number} */ tick) => `${(tick / Math.max(1, match.ticks)) * 100}%`;
    const marks = [];
    for (const [first, last] of match.divergentSpans) {
      const span = document.createElement('div');
      span.className = 'diverged-span';
      span.style.left = at(first - 0.5);
      span.style.width = `${((last - first + 1) / Math.max(1, match.ticks)) * 100}%`;
      span.dataset.first = String(first);
      span.dataset.last = String(last);
      marks.push(span);
      const d = match.divergences.find((x) => x.tick === first);
      const marker = document.createElement('div');
      marker.className = 'divergence';
      marker.style.left = at(first);
      marker.dataset.tick = String(first);
      marker.title = d
        ? `tick ${first} diverges: recorded hash ${d.recorded}, replayed hash ${d.replayed}`
        : `tick ${first} diverges`;
      if (d) {
        marker.dataset.recorded = d.recorded;
        marker.dataset.replayed = d.replayed;
      }
      marks.push(marker);
    }
    this.markers.replaceChildren(...marks);
    this.draw();
  }

  /**
   * The shown tick.
   * @param {number} tick
   */
  setTick(tick) {
    this.tick = tick;
    const ticks = Math.max(1, this.match?.ticks ?? 1);
    this.playhead.style.left = `${(tick / ticks) * 100}%`;
  }

  /**
   * The tick under a pointer at `clientX`.
   * @param {number} clientX
   */
  tickAt(clientX) {
    const box = this.root.getBoundingClientRect();
    const ticks = this.match?.ticks ?? 0;
    const f = Math.min(1, Math.max(0, (clientX - box.left) / Math.max(1, box.width)));
    return Math.round(f * ticks);
  }

  /** @param {number} clientX */
  seekAt(clientX) {
    const first = this.pending === null;
    this.pending = this.tickAt(clientX);
    if (!first) return;
    requestAnimationFrame(() => {
      if (this.pending !== null) this.onSeek(this.pending);
      this.pending = null;
    });
  }

  /** @param {number} clientX */
  hoverAt(clientX) {
    const match = this.match;
    if (!match) return;
    const tick = this.tickAt(clientX);
    const span = match.divergentSpans.find(([a, b]) => tick >= a && tick <= b);
    this.hover.hidden = false;
    this.hover.textContent = `tick ${tick}${span ? ' · diverged' : ''}`;
    this.hover.style.left = `${(tick / Math.max(1, match.ticks)) * 100}%`;
  }

  /** Draws the entities over the match and the keyframes. */
  draw() {
    const match = this.match;
    const canvas = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const { width, height } = canvas.getBoundingClientRect();
    canvas.width = Math.max(1, Math.round(width * dpr));
    canvas.height = Math.max(1, Math.round(height * dpr));
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (!match || match.ticks === 0) return;
    const x = (/** @type {number} */ tick) => (tick / match.ticks) * width;
    // The entities after each tick, as an area.
    const most = Math.max(1, ...match.entities);
    ctx.beginPath();
    ctx.moveTo(0, height);
    match.entities.forEach((n, i) => ctx.lineTo(x(i + 1), height - 6 - (n / most) * (height - 14)));
    ctx.lineTo(width, height);
    ctx.closePath();
    ctx.fillStyle = 'rgba(79, 157, 255, 0.22)';
    ctx.fill();
    ctx.strokeStyle = 'rgba(79, 157, 255, 0.6)';
    ctx.stroke();
    // The keyframes, as ticks along the bottom.
    ctx.fillStyle = 'rgba(255, 214, 102, 0.75)';
    for (const k of match.keyframes) ctx.fillRect(Math.round(x(k)) - 0.5, height - 5, 1, 5);
    ctx.fillStyle = '#8d98ad';
    ctx.font = '10px system-ui, sans-serif';
    ctx.fillText(`entities per tick (most ${most}) · keyframes every ${match.keyframes[1] ?? match.ticks} ticks`, 6, 12);
  }
}
