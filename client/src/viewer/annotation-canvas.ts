import type { AnnotationDto, Geometry } from '../../../protocol/review.ts';
import { annotationColour, type PaletteClass } from '../review/constants.ts';
import type { Affine } from './geometry.ts';
import {
  AREA,
  ELLIPSE,
  LINE,
  NONE,
  POINTS,
  packShapes,
  shapeGeometry,
  type CanvasShape,
  type PackedShapes,
} from '../../../protocol/annotation-shapes.ts';

/** A canvas's 2D context on the page or in a worker (OffscreenCanvas): the calls used here are shared. */
export type Context2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

export { packShapes, type CanvasShape, type PackedShapes };

/**
 * An annotation as the canvas layer draws it: the same outline, fill and markers as the SVG layer
 * (review.css), holes and parts drawn even-odd; unsaved ones (`local-` ids) dashed.
 */
export function canvasShape(
  a: Pick<AnnotationDto, 'id' | 'kind' | 'color' | 'classification'>,
  g: Geometry,
  palette?: readonly PaletteClass[],
): CanvasShape | null {
  const s = shapeGeometry(a.kind, g);
  if (!s) return null;
  const colour = annotationColour(a, palette);
  if (s.type === 'points') return { ...s, colour };
  return { ...s, colour, dashed: a.id.startsWith('local-') };
}

/** A label at its shape's top-left corner (image pixels). */
export type Label = { text: string; x: number; y: number };

/** The labels of the shapes drawn. */
export function labelsAt(labels: readonly (Label | null)[], indices: ArrayLike<number>): Label[] {
  const out: Label[] = [];
  for (let k = 0; k < indices.length; k++) {
    const l = labels[indices[k]!];
    if (l) out.push(l);
  }
  return out;
}

/** Labels at their shape's top-left corner, upright and at screen size, white on a dark rim. */
export function drawLabels(
  ctx: Context2D,
  labels: readonly { text: string; x: number; y: number }[],
  t: Affine,
  dpr: number,
): void {
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.lineWidth = 3;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = 'rgba(0, 0, 0, 0.75)';
  ctx.fillStyle = '#fff';
  for (const l of labels) {
    const sx = t[0] * l.x + t[2] * l.y + t[4];
    const sy = t[1] * l.x + t[3] * l.y + t[5] - 6;
    ctx.strokeText(l.text, sx, sy);
    ctx.fillText(l.text, sx, sy);
  }
}

/** `#rgb` / `#rrggbb` with an alpha byte appended; null for other colour syntaxes. */
function withAlpha(colour: string, alpha: number): string | null {
  const a = Math.round(alpha * 255)
    .toString(16)
    .padStart(2, '0');
  if (/^#[0-9a-f]{6}$/i.test(colour)) return colour + a;
  if (/^#[0-9a-f]{3}$/i.test(colour)) return `#${[...colour.slice(1)].map((c) => c + c).join('')}${a}`;
  return null;
}

/** Vertices closer than this on screen (CSS pixels) to the last one drawn are merged into it. */
const MERGE_PX = 0.75;

/**
 * Draws packed shapes (`indices` of them) on a 2D context whose pixels are `dpr` per CSS pixel, `t`
 * taking image pixels to the canvas's CSS pixels: outlines 2 screen pixels wide, areas filled at
 * 10 %, markers at 90 % with a white rim, as the SVG layer draws them; holes and parts even-odd;
 * unsaved shapes dashed. Read straight from the buffer, grouped by colour (a colour is parsed each
 * time it is set), and vertices that fall within `MERGE_PX` of the last one drawn are merged: a
 * fitted view of 5,000 cell outlines draws a fraction of their vertices, and looks the same.
 */
export function drawPacked(
  ctx: Context2D,
  p: PackedShapes,
  indices: ArrayLike<number>,
  t: Affine,
  dpr: number,
): void {
  const { data, offsets, colours } = p;
  const px = 1 / (Math.hypot(t[0], t[1]) || 1);
  const merge = MERGE_PX * px;
  ctx.setTransform(dpr * t[0], dpr * t[1], dpr * t[2], dpr * t[3], dpr * t[4], dpr * t[5]);
  // Bevel: at 2 px the corners look as round ones do, and outlines rasterise ~15 % faster (round
  // joins are the costliest to stroke; mitres spike on freehand reversals).
  ctx.lineJoin = 'bevel';
  ctx.setLineDash([]);
  let dashedNow = false;
  const byColour: number[][] = colours.map(() => []);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!;
    const o = offsets[i];
    if (o === undefined || data[o] === NONE) continue;
    byColour[data[o + 1]!]?.push(i);
  }
  /** One ring or line from `o` (its length first), into the current path; returns the offset after it. */
  const trace = (o: number, close: boolean): number => {
    const n = data[o++]!;
    if (n === 0) return o;
    let lx = data[o]!;
    let ly = data[o + 1]!;
    ctx.moveTo(lx, ly);
    const end = o + 2 * n;
    for (let q = o + 2; q < end; q += 2) {
      const x = data[q]!;
      const y = data[q + 1]!;
      // The last vertex is always drawn (a line ends where it ends).
      if (Math.abs(x - lx) + Math.abs(y - ly) >= merge || q === end - 2) {
        ctx.lineTo(x, y);
        lx = x;
        ly = y;
      }
    }
    if (close) ctx.closePath();
    return end;
  };
  for (let c = 0; c < byColour.length; c++) {
    const list = byColour[c]!;
    if (list.length === 0) continue;
    const colour = colours[c]!;
    const fill10 = withAlpha(colour, 0.1);
    const fill90 = withAlpha(colour, 0.9);
    for (const i of list) {
      let o = offsets[i]!;
      const kind = data[o]!;
      const dashed = data[o + 2] === 1;
      o += 3;
      ctx.beginPath();
      if (kind === POINTS) {
        const r = data[o++]! * px;
        const n = data[o++]!;
        for (let q = 0; q < n; q++, o += 2) {
          ctx.moveTo(data[o]! + r, data[o + 1]!);
          ctx.arc(data[o]!, data[o + 1]!, r, 0, 2 * Math.PI);
        }
        if (dashedNow) {
          ctx.setLineDash([]);
          dashedNow = false;
        }
        ctx.lineWidth = 1.5 * px;
        if (fill90) ctx.fillStyle = fill90;
        else {
          ctx.fillStyle = colour;
          ctx.globalAlpha = 0.9;
        }
        ctx.fill();
        ctx.globalAlpha = 1;
        ctx.strokeStyle = '#fff';
        ctx.stroke();
        continue;
      }
      if (dashed !== dashedNow) {
        ctx.setLineDash(dashed ? [6 * px, 4 * px] : []);
        dashedNow = dashed;
      }
      if (kind === ELLIPSE)
        ctx.ellipse(data[o]!, data[o + 1]!, data[o + 2]!, data[o + 3]!, 0, 0, 2 * Math.PI);
      else if (kind === AREA) {
        const rings = data[o++]!;
        for (let r = 0; r < rings; r++) o = trace(o, true);
      } else trace(o, false);
      if (kind !== LINE) {
        if (fill10) ctx.fillStyle = fill10;
        else {
          ctx.fillStyle = colour;
          ctx.globalAlpha = 0.1;
        }
        ctx.fill('evenodd');
        ctx.globalAlpha = 1;
      }
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2 * px;
      ctx.stroke();
    }
  }
  ctx.setLineDash([]);
}
