import { SlideError } from '../errors.ts';
import { SLIDE_FILE, type SlideStore, isSlideId } from '../store/types.ts';
import { StoredSlide } from './stored-slide.ts';

/**
 * Open slides, least recently used first out: each holds an open slide.tif and its tile index, so the
 * number kept open is bounded. Concurrent first requests for a slide share one open.
 */
export class SlidePool {
  private readonly open = new Map<string, StoredSlide>();
  private readonly opening = new Map<string, { waiters: number; promise: Promise<StoredSlide | null> }>();
  private closed = false;

  constructor(
    private readonly store: Pick<SlideStore, 'manifest' | 'open'>,
    readonly maxOpen: number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * The slide with a reference taken (call release() when done), or null when the store has no such
   * slide. Ids are checked before the store builds any path.
   */
  async acquire(id: string): Promise<StoredSlide | null> {
    const ready = this.tryAcquire(id);
    if (ready) return ready;
    if (this.closed) throw new SlideError('INTERNAL', 'tile service is closed');
    if (!isSlideId(id)) return null;
    let entry = this.opening.get(id);
    if (!entry) {
      const e = { waiters: 0, promise: Promise.resolve<StoredSlide | null>(null) };
      e.promise = this.load(id, e);
      this.opening.set(id, e);
      entry = e;
    }
    entry.waiters++;
    return entry.promise;
  }

  /** acquire() for a slide already open, without waiting; undefined otherwise. */
  tryAcquire(id: string): StoredSlide | undefined {
    const ready = this.open.get(id);
    if (!ready || !ready.acquire()) return undefined;
    this.open.delete(id);
    this.open.set(id, ready);
    return ready;
  }

  /** The open slide, without taking a reference or touching its place in the LRU order. */
  peek(id: string): StoredSlide | undefined {
    return this.open.get(id);
  }

  /** Drop a slide (removed from the store): closed once its running reads finish. */
  forget(id: string): void {
    const s = this.open.get(id);
    if (s) {
      this.open.delete(id);
      s.retire();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.opening.values()].map((e) => e.promise));
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((s) => s.close()));
  }

  private async load(id: string, entry: { waiters: number }): Promise<StoredSlide | null> {
    try {
      // Both at once: from an object store each is a request.
      const [manifest, file] = await Promise.all([
        this.store.manifest(id),
        this.store.open(id, SLIDE_FILE).catch((e: unknown) => e as Error),
      ]);
      if (!manifest) {
        if (file && !(file instanceof Error)) await file.close();
        return null;
      }
      if (file instanceof Error) throw file;
      if (!file) throw new SlideError('CORRUPT_FILE', `slide ${id} has a manifest but no ${SLIDE_FILE}`);
      const slide = await StoredSlide.open(file, manifest);
      if (this.closed) {
        await slide.close();
        throw new SlideError('INTERNAL', 'tile service is closed');
      }
      // Every waiter's reference is taken in the same step as the slide becomes evictable.
      slide.addRefs(entry.waiters);
      this.open.get(id)?.retire();
      this.open.set(id, slide);
      for (const [oldId, old] of this.open) {
        if (this.open.size <= this.maxOpen) break;
        this.open.delete(oldId);
        old.retire();
      }
      return slide;
    } finally {
      this.opening.delete(id);
    }
  }
}
