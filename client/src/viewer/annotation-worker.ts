/**
 * Draws the annotation layer's canvas off the page's main thread: the page hands over the canvas
 * (transferControlToOffscreen) and the shapes once, then asks for a drawing at each settled view.
 * With 5,000 shapes, building their paths and rasterising them took ~150-250 ms of the main thread
 * on a software-rendered desktop: time in which tiles were not drawn and input was not handled.
 */
import type { AnnotationDto } from '../../../protocol/review.ts';
import type { PaletteClass } from '../review/constants.ts';
import {
  canvasShape,
  drawLabels,
  drawPacked,
  labelsAt,
  packShapes,
  type Label,
  type PackedShapes,
} from './annotation-canvas.ts';
import { geometryRect, type Rect } from './cull.ts';
import type { Affine } from './geometry.ts';

export type ToWorker =
  | { type: 'canvas'; canvas: OffscreenCanvas }
  /** Read a slide's annotation list (and the class palette) and draw it until shapes are sent. */
  | { type: 'load'; url: string; paletteUrl: string }
  | { type: 'shapes'; packed: PackedShapes; labels: (Label | null)[] }
  | {
      type: 'draw';
      seq: number;
      width: number;
      height: number;
      dpr: number;
      /** Image → canvas CSS pixels. */
      t: Affine;
      /**
       * Indices of the shapes to draw; null: the shapes of the list the worker read itself whose
       * box meets `rect` widened by `pad` (image pixels).
       */
      indices: Int32Array | null;
      rect?: Rect;
      pad?: number;
    };

export type FromWorker =
  | { type: 'drawn'; seq: number; count: number }
  /** The list read for `load`, as the server sent it (for the page to parse when it has time). */
  | { type: 'list'; text: string }
  | { type: 'list-failed'; message: string };

interface Scope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(m: FromWorker): void;
}
const scope = self as unknown as Scope;

let canvas: OffscreenCanvas | null = null;
let shapes: PackedShapes | null = null;
let labels: (Label | null)[] = [];
/** Boxes (minX, minY, maxX, maxY) of the shapes of the list read here, while they are the ones drawn. */
let boxes: Float64Array | null = null;
/** The page has sent shapes: a list read here afterwards is not drawn. */
let fromPage = false;
/** A list is being read here: a draw of its shapes waits for it. */
let reading = false;
let pending: Extract<ToWorker, { type: 'draw' }> | null = null;
let scheduled = false;

/** The shapes of the read list whose box meets the rectangle. */
function cull(rect: Rect, pad: number): Int32Array {
  const b = boxes;
  if (!b) return new Int32Array(0);
  const out: number[] = [];
  const [x0, y0, x1, y1] = [rect.minX - pad, rect.minY - pad, rect.maxX + pad, rect.maxY + pad];
  for (let i = 0, n = b.length / 4; i < n; i++) {
    const o = 4 * i;
    if (b[o]! <= x1 && b[o + 2]! >= x0 && b[o + 1]! <= y1 && b[o + 3]! >= y0) out.push(i);
  }
  return Int32Array.from(out);
}

async function load(url: string, paletteUrl: string): Promise<void> {
  reading = true;
  let text: string;
  try {
    const headers = { accept: 'application/json' };
    const [res, pal] = await Promise.all([
      fetch(url, { headers, credentials: 'same-origin' }),
      fetch(paletteUrl, { headers, credentials: 'same-origin' })
        .then((r) => (r.ok ? (r.json() as Promise<PaletteClass[]>) : undefined))
        .catch(() => undefined),
    ]);
    if (!res.ok) throw new Error(`annotations answered ${res.status}`);
    text = await res.text();
    scope.postMessage({ type: 'list', text });
    if (fromPage) return;
    const list = (JSON.parse(text) as { annotations: AnnotationDto[] }).annotations;
    const palette = Array.isArray(pal) ? pal : undefined;
    const b = new Float64Array(4 * list.length);
    list.forEach((a, i) => {
      const r = geometryRect(a.geometry);
      b.set([r.minX, r.minY, r.maxX, r.maxY], 4 * i);
    });
    const packed = packShapes(list.map((a) => canvasShape(a, a.geometry, palette)));
    if (fromPage) return;
    shapes = packed;
    labels = list.map((a, i) => (a.label ? { text: a.label, x: b[4 * i]!, y: b[4 * i + 1]! } : null));
    boxes = b;
  } catch (e) {
    scope.postMessage({ type: 'list-failed', message: e instanceof Error ? e.message : String(e) });
  } finally {
    reading = false;
    if (pending && !scheduled) {
      scheduled = true;
      setTimeout(draw, 0);
    }
  }
}

/** Only the latest request is drawn: those that queued up behind it are dropped. */
function draw(): void {
  scheduled = false;
  const m = pending;
  if (!m || !canvas) return;
  // The read list's shapes are drawn once they are there.
  if (!m.indices && reading) return;
  pending = null;
  const indices = m.indices ?? cull(m.rect!, m.pad ?? 0);
  if (canvas.width !== m.width) canvas.width = m.width;
  if (canvas.height !== m.height) canvas.height = m.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, m.width, m.height);
  if (shapes) drawPacked(ctx, shapes, indices, m.t, m.dpr);
  drawLabels(ctx, labelsAt(labels, indices), m.t, m.dpr);
  scope.postMessage({ type: 'drawn', seq: m.seq, count: indices.length });
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'canvas') canvas = m.canvas;
  else if (m.type === 'load') void load(m.url, m.paletteUrl);
  else if (m.type === 'shapes') {
    fromPage = true;
    boxes = null;
    shapes = m.packed;
    labels = m.labels;
  } else {
    pending = m;
    if (!scheduled) {
      scheduled = true;
      setTimeout(draw, 0);
    }
  }
};
