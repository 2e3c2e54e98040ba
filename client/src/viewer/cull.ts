import { invert, type Affine } from './geometry.ts';

/** An axis-aligned rectangle in level-0 image pixels. */
export interface Rect {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

/** The bounding box of a geometry (one function with the server's packing of shapes). */
export { geometryRect } from '../../../protocol/annotation-shapes.ts';

/**
 * The part of the image a screen rectangle (0,0)–(width,height) shows, given the image → screen
 * transform: the bounding box of its four corners mapped back (a rotated view gives a larger box),
 * grown on every side by `margin` times its own width and height.
 */
export function viewRect(t: Affine, width: number, height: number, margin = 0): Rect {
  const m = invert(t);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [sx, sy] of [
    [0, 0],
    [width, 0],
    [0, height],
    [width, height],
  ] as const) {
    xs.push(m[0] * sx + m[2] * sy + m[4]);
    ys.push(m[1] * sx + m[3] * sy + m[5]);
  }
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const minY = Math.min(...ys);
  const maxY = Math.max(...ys);
  const gx = (maxX - minX) * margin;
  const gy = (maxY - minY) * margin;
  return { minX: minX - gx, minY: minY - gy, maxX: maxX + gx, maxY: maxY + gy };
}

/** Do two rectangles share any point (touching edges count)? */
export function overlaps(a: Rect, b: Rect): boolean {
  return a.minX <= b.maxX && a.maxX >= b.minX && a.minY <= b.maxY && a.maxY >= b.minY;
}

/** Does `outer` hold all of `inner`? */
export function contains(outer: Rect, inner: Rect): boolean {
  return (
    inner.minX >= outer.minX &&
    inner.maxX <= outer.maxX &&
    inner.minY >= outer.minY &&
    inner.maxY <= outer.maxY
  );
}

/**
 * The shapes to draw: those whose box meets the view rectangle, in their given order (so paint
 * order does not change as shapes come and go). `pad` grows every box (image pixels), for strokes
 * and point markers drawn beyond the geometry.
 */
export function cullShapes<T extends { rect: Rect }>(shapes: readonly T[], view: Rect, pad = 0): T[] {
  const v = { minX: view.minX - pad, minY: view.minY - pad, maxX: view.maxX + pad, maxY: view.maxY + pad };
  return shapes.filter((s) => overlaps(s.rect, v));
}

/** Screen pixels per image pixel of a transform (its scale, whatever the rotation). */
export const zoomOf = (t: Affine): number => Math.hypot(t[0], t[1]) || 1;
