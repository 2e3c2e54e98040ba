/**
 * Fetches and decodes tiles off the page's main thread: each `fetch`, `blob` and the hand-over of a
 * decoded tile cost the page ~0.7 ms of its thread per tile (~35 ms for the 48 tiles fetched ahead of
 * a zoom step, in the step's first frames). Here they cost the page one message each way; the
 * decoded bitmap is transferred, not copied.
 */
import { fetchDecoded, type TilePriority } from './tile-decode.ts';

export type ToTileWorker =
  { type: 'get'; id: number; url: string; priority: TilePriority } | { type: 'abort'; id: number };

/** A decoded tile, or why there is none (an HTTP status, a decoding error). */
export type FromTileWorker = { id: number; bitmap: ImageBitmap } | { id: number; error: string };

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<ToTileWorker>) => void) | null;
  postMessage(m: FromTileWorker, transfer?: Transferable[]): void;
};

const inflight = new Map<number, AbortController>();

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'abort') {
    inflight.get(m.id)?.abort();
    inflight.delete(m.id);
    return;
  }
  const abort = new AbortController();
  inflight.set(m.id, abort);
  fetchDecoded(m.url, m.priority, abort.signal)
    .then(
      (bitmap) => {
        if (abort.signal.aborted) bitmap.close();
        else scope.postMessage({ id: m.id, bitmap }, [bitmap]);
      },
      (err: unknown) => {
        if (!abort.signal.aborted)
          scope.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) });
      },
    )
    .finally(() => inflight.delete(m.id));
};
