/**
 * Draws the annotation layer's canvas off the page's main thread: the page hands over the canvas
 * (transferControlToOffscreen) and the shapes once, then asks for a drawing at each settled view.
 * With 5,000 shapes, building their paths and rasterising them took ~150-250 ms of the main thread
 * on a software-rendered desktop: time in which tiles were not drawn and input was not handled.
 */
import { drawLabels, drawPacked, labelsAt, type Label, type PackedShapes } from './annotation-canvas.ts';
import type { Affine } from './geometry.ts';

export type ToWorker =
  | { type: 'canvas'; canvas: OffscreenCanvas }
  | { type: 'shapes'; packed: PackedShapes; labels: (Label | null)[] }
  | {
      type: 'draw';
      seq: number;
      width: number;
      height: number;
      dpr: number;
      /** Image → canvas CSS pixels. */
      t: Affine;
      /** Indices of the shapes to draw. */
      indices: Int32Array;
    };

export type FromWorker = { type: 'drawn'; seq: number };

interface Scope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(m: FromWorker): void;
}
const scope = self as unknown as Scope;

let canvas: OffscreenCanvas | null = null;
let shapes: PackedShapes | null = null;
let labels: (Label | null)[] = [];
let pending: Extract<ToWorker, { type: 'draw' }> | null = null;
let scheduled = false;

/** Only the latest request is drawn: those that queued up behind it are dropped. */
function draw(): void {
  scheduled = false;
  const m = pending;
  pending = null;
  if (!m || !canvas) return;
  if (canvas.width !== m.width) canvas.width = m.width;
  if (canvas.height !== m.height) canvas.height = m.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, m.width, m.height);
  if (shapes) drawPacked(ctx, shapes, m.indices, m.t, m.dpr);
  drawLabels(ctx, labelsAt(labels, m.indices), m.t, m.dpr);
  scope.postMessage({ type: 'drawn', seq: m.seq });
}

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'canvas') canvas = m.canvas;
  else if (m.type === 'shapes') {
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
