/**
 * Draws the annotation layer's canvas off the page's main thread: the page hands over the canvas
 * (transferControlToOffscreen) and the shapes once, then asks for a drawing at each settled view.
 * With 5,000 shapes, building their paths and rasterising them took ~150-250 ms of the main thread
 * on a software-rendered desktop: time in which tiles were not drawn and input was not handled.
 */
import { SHAPES_MEDIA_TYPE, decodeShapes } from '../../../protocol/annotation-shapes.ts';
import { annotationColour, type PaletteClass } from '../review/constants.ts';
import { drawLabels, drawPacked, labelsAt, type Label, type PackedShapes } from './annotation-canvas.ts';
import type { Rect } from './cull.ts';
import type { Affine } from './geometry.ts';

export type ToWorker =
  | { type: 'canvas'; canvas: OffscreenCanvas }
  /**
   * Read a slide's annotations packed for drawing (and the class palette); draw them until shapes are
   * sent. With `holdMs`, the first drawing waits for `go` (the page's first view is on screen), for
   * `holdMs` at most.
   */
  | { type: 'load'; url: string; paletteUrl: string; holdMs?: number }
  /** The first drawing need wait no longer. */
  | { type: 'go' }
  | { type: 'shapes'; packed: PackedShapes; labels: (Label | null)[] }
  /**
   * The page has read the list too: when its shapes are the ones read here (the same ids in the
   * same order, drawn in the same colours), they are kept as the page's, so nothing is packed,
   * sent or drawn again; otherwise they are dropped until the page sends its own.
   */
  | { type: 'adopt'; ids: string[]; colours: string[] }
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
  /** The answer to `adopt`: false, and the page must send its shapes. */
  | { type: 'adopted'; ok: boolean };

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
/**
 * Drawings wait for the page's first view: drawn while its tiles were decoded (5,000 shapes), the
 * first drawing took 250-550 ms on a 2-core machine and slowed the tiles with it; drawn after them
 * (and before the next zoom step's tiles are fetched), 70-120 ms.
 */
let held = false;
/** A list is being read here: a draw of its shapes waits for it. */
let reading = false;
let pending: Extract<ToWorker, { type: 'draw' }> | null = null;
let scheduled = false;
/** The ids and colours of the shapes of the list read here, for `adopt`. */
let own: { ids: string[]; colours: string[] } | null = null;
/** Bumped whenever `shapes` change: a drawing of the same shapes at the same place is not redone. */
let version = 0;
let lastDrawn: {
  version: number;
  width: number;
  height: number;
  dpr: number;
  t: Affine;
  indices: Int32Array;
} | null = null;

const sameIndices = (a: Int32Array, b: Int32Array): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

function adopt(ids: string[], colours: string[]): boolean {
  const o = own;
  own = null;
  fromPage = true;
  boxes = null;
  const same =
    o !== null &&
    shapes !== null &&
    o.ids.length === ids.length &&
    o.ids.every((id, i) => id === ids[i]) &&
    o.colours.every((c, i) => c === colours[i]);
  if (!same) {
    shapes = null;
    labels = [];
    version++;
  }
  return same;
}

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

/**
 * Reads a slide's annotations packed for drawing (`?format=shapes`: no JSON to parse, nothing to
 * pack) and its class palette. A failure leaves nothing drawn here: the page reads the list itself
 * and sends its shapes.
 */
async function load(url: string, paletteUrl: string): Promise<void> {
  reading = true;
  try {
    const [res, pal] = await Promise.all([
      fetch(url, { headers: { accept: SHAPES_MEDIA_TYPE }, credentials: 'same-origin' }),
      fetch(paletteUrl, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
        .then((r) => (r.ok ? (r.json() as Promise<PaletteClass[]>) : undefined))
        .catch(() => undefined),
    ]);
    if (!res.ok) throw new Error(`annotations answered ${res.status}`);
    const buf = await res.arrayBuffer();
    if (fromPage) return;
    const palette = Array.isArray(pal) ? pal : undefined;
    const d = decodeShapes(buf, ([color, name, classColor]) =>
      annotationColour(
        { color, classification: name !== null ? { name, color: classColor ?? '' } : null },
        palette,
      ),
    );
    shapes = d.packed;
    version++;
    labels = d.labels;
    boxes = d.boxes;
    own = { ids: d.ids, colours: d.colours };
  } catch {
    // Nothing to draw from here; the page's own reading takes over.
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
  // Held, unless the list read here is empty: nothing to draw, so nothing to wait for.
  if (!m || !canvas || (held && !(own && own.ids.length === 0))) return;
  // The read list's shapes are drawn once they are there.
  if (!m.indices && reading) return;
  pending = null;
  const indices = m.indices ?? cull(m.rect!, m.pad ?? 0);
  const l = lastDrawn;
  if (
    l &&
    l.version === version &&
    l.width === m.width &&
    l.height === m.height &&
    l.dpr === m.dpr &&
    l.t.every((v, i) => v === m.t[i]) &&
    sameIndices(l.indices, indices)
  ) {
    // What the canvas shows already (the page asking, with the same list, for the worker's drawing).
    scope.postMessage({ type: 'drawn', seq: m.seq, count: indices.length });
    return;
  }
  if (canvas.width !== m.width) canvas.width = m.width;
  if (canvas.height !== m.height) canvas.height = m.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, m.width, m.height);
  if (shapes) drawPacked(ctx, shapes, indices, m.t, m.dpr);
  drawLabels(ctx, labelsAt(labels, indices), m.t, m.dpr);
  lastDrawn = { version, width: m.width, height: m.height, dpr: m.dpr, t: m.t, indices };
  scope.postMessage({ type: 'drawn', seq: m.seq, count: indices.length });
}

function release(): void {
  if (!held) return;
  held = false;
  if (pending && !scheduled) {
    scheduled = true;
    setTimeout(draw, 0);
  }
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'canvas') {
    canvas = m.canvas;
    lastDrawn = null;
  } else if (m.type === 'load') {
    if (m.holdMs) {
      held = true;
      setTimeout(release, m.holdMs);
    }
    void load(m.url, m.paletteUrl);
  } else if (m.type === 'go') release();
  else if (m.type === 'shapes') {
    fromPage = true;
    boxes = null;
    own = null;
    shapes = m.packed;
    labels = m.labels;
    version++;
  } else if (m.type === 'adopt') scope.postMessage({ type: 'adopted', ok: adopt(m.ids, m.colours) });
  else {
    pending = m;
    if (!scheduled) {
      scheduled = true;
      setTimeout(draw, 0);
    }
  }
};
