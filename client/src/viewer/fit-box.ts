import type { Geometry } from '../../../protocol/review.ts';
import type { ViewState } from './viewport.ts';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The bounding box of every point of a geometry: outer ring, holes and parts. */
export function geometryBounds(g: Geometry): Box {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  const add = (ring: readonly (readonly [number, number])[]) => {
    for (const [x, y] of ring) {
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
    }
  };
  add(g.points);
  for (const h of g.holes ?? []) add(h);
  for (const p of g.parts ?? []) {
    add(p.points);
    for (const h of p.holes ?? []) add(h);
  }
  if (!Number.isFinite(x0)) return { x: 0, y: 0, width: 0, height: 0 };
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

export interface FitOptions {
  /** Fraction of the view left free around the box on its tighter side. */
  margin?: number;
  /** A box is shown at least this many image pixels across (a point, a thin line). */
  minExtent?: number;
  /** Highest screen pixels per image pixel the viewer allows. */
  maxImageZoom?: number;
}

/**
 * The view that shows `box` whole and as large as it fits in a `width` x `height` viewer at the
 * current rotation: the box's footprint on screen turns with the slide, so a tall box on a slide
 * turned a quarter fits by its height across the screen.
 */
export function fitViewToBox(
  box: Box,
  viewer: { width: number; height: number },
  rotation: number,
  o: FitOptions = {},
): ViewState {
  const margin = o.margin ?? 0.1;
  const min = o.minExtent ?? 0;
  const w = Math.max(box.width, min);
  const h = Math.max(box.height, min);
  const rad = (rotation * Math.PI) / 180;
  const c = Math.abs(Math.cos(rad));
  const s = Math.abs(Math.sin(rad));
  const across = w * c + h * s;
  const down = w * s + h * c;
  let zoom = Math.min(viewer.width / Math.max(across, 1e-9), viewer.height / Math.max(down, 1e-9));
  zoom *= 1 - 2 * margin;
  if (o.maxImageZoom !== undefined) zoom = Math.min(zoom, o.maxImageZoom);
  return { x: box.x + box.width / 2, y: box.y + box.height / 2, imageZoom: zoom, rotation };
}
