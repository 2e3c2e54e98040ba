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
  const top = topLevel(p);
  const level = levelFor(p, imageZoom * step, minPixelRatio);
  if (level <= levelFor(p, imageZoom, minPixelRatio) || level > top) return [];
  const scale = 2 ** (top - level);
  const levelW = Math.ceil(p.width / scale);
  const levelH = Math.ceil(p.height / scale);
  const cx = bounds.x + bounds.width / 2;
  const cy = bounds.y + bounds.height / 2;
  const hw = bounds.width / step / 2;
  const hh = bounds.height / step / 2;
  const clampCol = (v: number): number => Math.max(0, Math.min(Math.ceil(levelW / p.tileSize) - 1, v));
  const clampRow = (v: number): number => Math.max(0, Math.min(Math.ceil(levelH / p.tileSize) - 1, v));
  const c0 = clampCol(Math.floor((cx - hw) / scale / p.tileSize));
  const c1 = clampCol(Math.floor((cx + hw) / scale / p.tileSize));
  const r0 = clampRow(Math.floor((cy - hh) / scale / p.tileSize));
  const r1 = clampRow(Math.floor((cy + hh) / scale / p.tileSize));
  if (cx + hw < 0 || cy + hh < 0 || cx - hw > p.width || cy - hh > p.height) return [];
  const mc = cx / scale / p.tileSize;
  const mr = cy / scale / p.tileSize;
  const out: { level: number; col: number; row: number; d: number }[] = [];
  for (let row = r0; row <= r1; row++) {
    for (let col = c0; col <= c1; col++) {
      out.push({ level, col, row, d: (col + 0.5 - mc) ** 2 + (row + 0.5 - mr) ** 2 });
    }
  }
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
  const top = topLevel(p);
  const level = levelFor(p, zoom, minPixelRatio);
  const scale = 2 ** (top - level);
  const cols = Math.ceil(Math.ceil(p.width / scale) / p.tileSize);
  const rows = Math.ceil(Math.ceil(p.height / scale) / p.tileSize);
  const span = scale * p.tileSize;
  const c0 = Math.max(0, Math.floor(bounds.x / span));
  const c1 = Math.min(cols - 1, Math.floor((bounds.x + bounds.width) / span));
  const r0 = Math.max(0, Math.floor(bounds.y / span));
  const r1 = Math.min(rows - 1, Math.floor((bounds.y + bounds.height) / span));
  const mc = (bounds.x + bounds.width / 2) / span;
  const mr = (bounds.y + bounds.height / 2) / span;
  const out: { level: number; col: number; row: number; d: number }[] = [];
  for (let row = r0; row <= r1; row++)
    for (let col = c0; col <= c1; col++)
      out.push({ level, col, row, d: (col + 0.5 - mc) ** 2 + (row + 0.5 - mr) ** 2 });
  return out
    .sort((a, b) => a.d - b.d)
    .slice(0, limit)
    .map(({ level: l, col, row }) => ({ level: l, col, row }));
}
