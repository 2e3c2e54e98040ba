import { fetchDecoded, type TilePriority } from './tile-decode.ts';
import type { FromTileWorker, ToTileWorker } from './tile-worker.ts';

/**
 * Tiles fetched and decoded in a worker (tile-worker.ts), or on this thread where workers cannot
 * (no Worker, or its script failed to load). Started as early as the page knows it shows a slide,
 * so the worker is running by the time the viewer asks for its first tiles.
 */
let worker: Worker | null | undefined;
let nextId = 1;
interface Pending {
  url: string;
  priority: TilePriority;
  signal: AbortSignal | undefined;
  resolve: (b: ImageBitmap) => void;
  reject: (e: unknown) => void;
}
const pending = new Map<number, Pending>();

export function startTileWorker(): void {
  if (worker !== undefined) return;
  if (typeof Worker === 'undefined' || typeof createImageBitmap === 'undefined') {
    worker = null;
    return;
  }
  try {
    const w = new Worker(new URL('./tile-worker.ts', import.meta.url), { type: 'module' });
    w.onmessage = (e: MessageEvent<FromTileWorker>) => {
      const m = e.data;
      const p = pending.get(m.id);
      pending.delete(m.id);
      if ('bitmap' in m) {
        if (p) p.resolve(m.bitmap);
        else m.bitmap.close(); // aborted meanwhile
      } else p?.reject(new Error(m.error));
    };
    // The script did not load (or the worker died): what it had is asked again here, and from
    // now on every tile is fetched on this thread.
    w.onerror = () => {
      worker = null;
      w.terminate();
      for (const [id, p] of pending) {
        pending.delete(id);
        fetchDecoded(p.url, p.priority, p.signal).then(p.resolve, p.reject);
      }
    };
    worker = w;
  } catch {
    worker = null;
  }
}

/** A tile fetched with the page's credentials and decoded off the main thread. */
export function fetchBitmap(
  url: string,
  priority: TilePriority = 'auto',
  signal?: AbortSignal,
): Promise<ImageBitmap> {
  startTileWorker();
  const w = worker;
  if (!w || signal?.aborted) return fetchDecoded(url, priority, signal);
  return new Promise<ImageBitmap>((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { url, priority, signal, resolve, reject });
    w.postMessage({ type: 'get', id, url, priority } satisfies ToTileWorker);
    signal?.addEventListener(
      'abort',
      () => {
        if (!pending.delete(id)) return;
        worker?.postMessage({ type: 'abort', id } satisfies ToTileWorker);
        reject(new DOMException('aborted', 'AbortError'));
      },
      { once: true },
    );
  });
}
