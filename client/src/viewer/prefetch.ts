/**
 * Which tiles to fetch ahead of a zoom-in. Pathologists zoom in steps (+, wheel notches, the
 * magnification buttons), so while one step is under way the field the next step will show is
 * already known well enough: the middle of the destination, one pyramid level finer. Fetched into
 * the browser's cache, those tiles are there when the next step asks for them.
 */

export interface Pyramid {
  /** Level-0 (full resolution) size. */
  width: number;
  height: number;
  tileSize: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Deep Zoom level of full resolution: levels halve down to 1 x 1 at level 0. */
export function topLevel(p: Pyramid): number {
  return Math.ceil(Math.log2(Math.max(p.width, p.height, 1)));
}

/**
 * The Deep Zoom level drawn at `imageZoom` (screen pixels per level-0 pixel): the finest level whose
 * pixels are still at least `minPixelRatio` screen pixels wide (OpenSeadragon's rule), at most full
 * resolution.
 */
export function levelFor(p: Pyramid, imageZoom: number, minPixelRatio: number): number {
  const top = topLevel(p);
  if (!(imageZoom > 0)) return 0;
  // Level L shows each of its pixels at imageZoom * 2^(top - L) screen pixels.
  const l = top - Math.ceil(Math.log2(minPixelRatio / imageZoom) - 1e-9);
  return Math.max(0, Math.min(top, l));
}

/**
 * Tiles (Deep Zoom level, column, row) of the level after the one drawn at `imageZoom`, covering the
 * middle `1 / step` of `bounds` (level-0 pixels): what one more zoom-in of `step` about the centre
 * shows. Empty at full resolution; at most `limit` tiles, nearest the centre first.
 */
export function nextZoomTiles(
  p: Pyramid,
  bounds: Rect,
  imageZoom: number,
  minPixelRatio: number,
  step: number,
  limit: number,
): { level: number; col: number; row: number }[] {
  const level = levelFor(p, imageZoom * step, minPixelRatio);
  if (level <= levelFor(p, imageZoom, minPixelRatio) || level > topLevel(p)) return [];
  const hw = bounds.width / step / 2;
  const hh = bounds.height / step / 2;
  const cx = bounds.x + bounds.width / 2;
  const cy = bounds.y + bounds.height / 2;
  return tilesUnder(p, level, { x: cx - hw, y: cy - hh, width: 2 * hw, height: 2 * hh }, limit);
}

/**
 * Tiles of Deep Zoom level `level` under `r` (level-0 pixels), nearest its centre first, at most
 * `limit`; none when `r` lies off the slide.
 */
function tilesUnder(
  p: Pyramid,
  level: number,
  r: Rect,
  limit: number,
): { level: number; col: number; row: number }[] {
  if (r.x + r.width < 0 || r.y + r.height < 0 || r.x > p.width || r.y > p.height) return [];
  const span = 2 ** (topLevel(p) - level) * p.tileSize;
  const lastCol = Math.ceil(p.width / span) - 1;
  const lastRow = Math.ceil(p.height / span) - 1;
  const clamp = (v: number, last: number): number => Math.max(0, Math.min(last, v));
  const c0 = clamp(Math.floor(r.x / span), lastCol);
  const c1 = clamp(Math.floor((r.x + r.width) / span), lastCol);
  const r0 = clamp(Math.floor(r.y / span), lastRow);
  const r1 = clamp(Math.floor((r.y + r.height) / span), lastRow);
  const mc = (r.x + r.width / 2) / span;
  const mr = (r.y + r.height / 2) / span;
  const out: { level: number; col: number; row: number; d: number }[] = [];
  for (let row = r0; row <= r1; row++)
    for (let col = c0; col <= c1; col++)
      out.push({ level, col, row, d: (col + 0.5 - mc) ** 2 + (row + 0.5 - mr) ** 2 });
  return out
    .sort((a, b) => a.d - b.d)
    .slice(0, limit)
    .map(({ level: l, col, row }) => ({ level: l, col, row }));
}

/**
 * Tiles (Deep Zoom level, column, row) of the first view of an element `view` CSS pixels large:
 * the slide fitted in it (OpenSeadragon's home), or centred on `at` (level-0 pixels) at
 * `imageZoom` screen pixels per level-0 pixel with a rotation by a multiple of 90°; nearest the
 * centre first, at most `limit`. Fetched while the viewer starts, they are there when it asks.
 */
export function firstViewTiles(
  p: Pyramid,
  view: { width: number; height: number },
  at: { x: number; y: number; imageZoom: number; rotation: number } | null,
  minPixelRatio: number,
  limit: number,
): { level: number; col: number; row: number }[] {
  if (!(view.width > 0 && view.height > 0 && p.width > 0 && p.height > 0)) return [];
  let zoom: number;
  let bounds: Rect;
  if (at) {
    if (!(at.imageZoom > 0) || at.rotation % 90 !== 0) return [];
    zoom = at.imageZoom;
    const turned = Math.abs(at.rotation / 90) % 2 === 1;
    const w = (turned ? view.height : view.width) / zoom;
    const h = (turned ? view.width : view.height) / zoom;
    bounds = { x: at.x - w / 2, y: at.y - h / 2, width: w, height: h };
  } else {
    zoom = Math.min(view.width / p.width, view.height / p.height);
    bounds = { x: 0, y: 0, width: p.width, height: p.height };
  }
  return tilesUnder(p, levelFor(p, zoom, minPixelRatio), bounds, limit);
}
