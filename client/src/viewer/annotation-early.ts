import type { FromWorker, ToWorker } from './annotation-worker.ts';

/**
 * A slide opened from a link or a reload has its annotation list read, parsed, packed and drawn by
 * the annotation worker (annotation-worker.ts), off the page's main thread: the worker is started by
 * the page's first code, with the manifest, before the viewer's code has loaded. The page itself
 * parses the list once the first view is on screen. With 5,000 annotations, reading them on the
 * main thread (~3 MB of JSON, the list's first render, packing the shapes) held up the slide's first
 * tiles by ~250 ms of main-thread time on this kind of desktop.
 */

/** Whether the browser can draw a canvas from a worker (transferControlToOffscreen). */
export const OFFSCREEN =
  typeof Worker !== 'undefined' &&
  typeof HTMLCanvasElement !== 'undefined' &&
  'transferControlToOffscreen' in HTMLCanvasElement.prototype;

export const spawnAnnotationWorker = (): Worker =>
  new Worker(new URL('./annotation-worker.ts', import.meta.url), { type: 'module' });

interface Early {
  slideId: string;
  /** Until the slide's annotation layer takes it. */
  worker: Worker | null;
  /** The list's JSON as the server sent it, until the viewer's first reading takes it. */
  text: Promise<string> | null;
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
  const text = new Promise<string>((resolve, reject) => {
    const on = (e: MessageEvent<FromWorker>): void => {
      if (e.data.type === 'list') resolve(e.data.text);
      else if (e.data.type === 'list-failed') reject(new Error(e.data.message));
      else return;
      worker.removeEventListener('message', on);
    };
    worker.addEventListener('message', on);
  });
  text.catch(() => {}); // the viewer then reads the list itself, and reports what fails
  const id = encodeURIComponent(slideId);
  worker.postMessage({
    type: 'load',
    url: `/api/slides/${id}/annotations`,
    paletteUrl: '/api/annotation-classes',
  } satisfies ToWorker);
  early = { slideId, worker, text, drawing: true };
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

/** The list's JSON text for the viewer's first reading of the slide's annotations (once). */
export function takeEarlyText(slideId: string): Promise<string> | null {
  if (early?.slideId !== slideId || !early.text) return null;
  const t = early.text;
  early.text = null;
  return t;
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
 * Resolves once the first view is on screen (or after `maxMs`, whatever happens to it) and the page
 * then has a moment to spare: work that can wait for it does not hold up the first tiles.
 */
export async function afterFirstView(maxMs = 2000): Promise<void> {
  await Promise.race([firstView, new Promise((r) => setTimeout(r, maxMs))]);
  await new Promise<void>((r) =>
    typeof requestIdleCallback === 'function'
      ? requestIdleCallback(() => r(), { timeout: 300 })
      : setTimeout(r, 0),
  );
}
