import type { ToWorker } from './annotation-worker.ts';

/**
 * A slide opened from a link or a reload has its annotations read (packed for drawing by the
 * server: `?format=shapes`) and drawn by the annotation worker (annotation-worker.ts), off the
 * page's main thread: the worker is started by the page's first code, with the manifest, before the
 * viewer's code has loaded. The page itself reads the JSON list (for the list, selection and
 * editing) once the first view and that drawing are on screen and the view is at rest. With 5,000
 * annotations, reading them on the main thread (~3 MB of JSON, the list's first render, packing the
 * shapes) held up the slide's first tiles by ~250 ms of main-thread time on this kind of desktop,
 * and parsing and packing them in the worker its first drawing by ~200-300 ms.
 */

/** Whether the browser can draw a canvas from a worker (transferControlToOffscreen). */
export const OFFSCREEN =
  typeof Worker !== 'undefined' &&
  typeof HTMLCanvasElement !== 'undefined' &&
  'transferControlToOffscreen' in HTMLCanvasElement.prototype;

export const spawnAnnotationWorker = (): Worker =>
  new Worker(new URL('./annotation-worker.ts', import.meta.url), { type: 'module' });

/** The worker's first drawing waits for the first view this long at most (a view that never loads fully). */
const FIRST_DRAW_HOLD_MS = 1500;

interface Early {
  slideId: string;
  /** Until the slide's annotation layer takes it. */
  worker: Worker | null;
  /** The page's own reading of the list waits for the first view (until it asks, once). */
  deferred: boolean;
  /** The worker's own shapes are what its canvas shows (the page has not read the list yet). */
  drawing: boolean;
}

let early: Early | null = null;
const listeners = new Set<() => void>();
const changed = (): void => listeners.forEach((l) => l());

/**
 * Start reading a slide's annotations in a worker. False where workers cannot draw (the caller
 * then reads them as usual).
 */
export function prefetchAnnotationsInWorker(slideId: string): boolean {
  if (!OFFSCREEN) return false;
  if (early?.slideId === slideId) return true;
  const worker = spawnAnnotationWorker();
  const id = encodeURIComponent(slideId);
  worker.postMessage({
    type: 'load',
    url: `/api/slides/${id}/annotations?format=shapes`,
    paletteUrl: '/api/annotation-classes',
    holdMs: FIRST_DRAW_HOLD_MS,
  } satisfies ToWorker);
  // Its first drawing once the first view's tiles are on screen (see the worker's `held`).
  void firstView.then(() => worker.postMessage({ type: 'go' } satisfies ToWorker));
  early = { slideId, worker, deferred: true, drawing: true };
  return true;
}

/** Whether a worker was started for some slide (the viewer then need not start a spare one). */
export const hasEarlyWorker = (): boolean => early?.worker != null;

/** The worker holding a slide's annotations, for that slide's annotation layer (once). */
export function claimEarlyWorker(slideId: string): Worker | null {
  if (early?.slideId !== slideId || !early.worker) return null;
  const w = early.worker;
  early.worker = null;
  return w;
}

/**
 * Whether the page's first reading of the slide's JSON list should wait for `afterFirstView`: a
 * worker is drawing the slide's annotations meanwhile (true once per slide).
 */
export function takeEarlyReading(slideId: string): boolean {
  if (early?.slideId !== slideId || !early.deferred) return false;
  early.deferred = false;
  return true;
}

/** Whether the worker still draws its own reading of the slide's annotations. */
export const earlyDrawing = (slideId: string): boolean => early?.slideId === slideId && early.drawing;

/** The page has the slide's list: from now on its layer says what to draw. */
export function endEarly(slideId: string): void {
  if (early?.slideId !== slideId || !early.drawing) return;
  early.drawing = false;
  changed();
}

export function subscribeEarly(l: () => void): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

let firstViewDone: () => void = () => {};
const firstView = new Promise<void>((resolve) => {
  firstViewDone = resolve;
});

/** Called by the viewer when its first view is fully loaded. */
export const firstViewShown = (): void => firstViewDone();

/**
 * Resolves once the page's first view is fully loaded, or after `maxMs` (a view that never loads
 * fully): what the viewer shows beside the slide (the class palette, AI results) is read after its
 * first tiles rather than among them, where its requests took connections and its renders the
 * page's thread while the tiles waited.
 */
export const firstViewOr = (maxMs = 1500): Promise<void> =>
  Promise.race([firstView, new Promise<void>((r) => setTimeout(r, maxMs))]);

let earlyDrawnDone: () => void = () => {};
const earlyDrawn = new Promise<void>((resolve) => {
  earlyDrawnDone = resolve;
});

/** Called by the annotation layer when the worker's drawing of the list it read itself is done. */
export const earlyDrawingShown = (): void => earlyDrawnDone();

/**
 * Resolves once the annotations a worker read for slide `slideId` are drawn, or after `maxMs`; at
 * once when no worker reads that slide's. The viewer fetches the next zoom step's tiles after it: with
 * 5,000 annotations, decoding those tiles beside the first drawing made the drawing take 210-320 ms
 * instead of 70-80.
 */
export const firstDrawingOr = (slideId: string, maxMs = 1000): Promise<void> =>
  early?.slideId === slideId && early.drawing
    ? Promise.race([earlyDrawn, new Promise<void>((r) => setTimeout(r, maxMs))])
    : Promise.resolve();

/** When a view last started or stopped moving, and whether it moves now. */
let moving = false;
let movedAt = 0;

/** Called by the viewer when a pan, zoom or rotation starts (true) and comes to rest (false). */
export function viewMoving(now: boolean): void {
  moving = now;
  movedAt = performance.now();
}

/** A view at rest this long is taken to stay so for a while (the reader is reading, not steering). */
const QUIET_MS = 400;

/**
 * Resolves once the first view is on screen, with the annotations a worker read for it drawn (or
 * after `maxMs`, whatever happens to them), and then once the view has been at rest for a moment
 * (at most `maxQuietMs` more) and the page has a moment to spare: work that can wait holds up neither
 * the first tiles, nor the first drawing of the annotations, nor the first zoom steps. With 5,000
 * annotations the page's own reading of the list takes ~150 ms of its thread: between the worker's
 * drawing and the page showing it, or in a zoom step, it delayed either by as much.
 */
export async function afterFirstView(maxMs = 2000, maxQuietMs = 5000): Promise<void> {
  const shown = early ? Promise.all([firstView, earlyDrawn]) : firstView;
  await Promise.race([shown, new Promise((r) => setTimeout(r, maxMs))]);
  // A reader who has just got the first view is likely to move it at once.
  if (movedAt === 0) movedAt = performance.now();
  const until = performance.now() + maxQuietMs;
  for (;;) {
    const now = performance.now();
    const quietFor = moving ? 0 : now - movedAt;
    if (quietFor >= QUIET_MS || now >= until) break;
    await new Promise((r) => setTimeout(r, Math.min(QUIET_MS - quietFor, until - now)));
  }
  await new Promise<void>((r) =>
    typeof requestIdleCallback === 'function'
      ? requestIdleCallback(() => r(), { timeout: 300 })
      : setTimeout(r, 0),
  );
}
