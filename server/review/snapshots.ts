import type { AppliedOp } from '../../protocol/index.ts';
import type { AnnotationService } from './annotations.ts';

/** A slide's live annotations as of `seq` (later operations may show too), as UTF-8 JSON. */
export interface Snapshot {
  seq: number;
  bytes: Buffer;
}

/** Operations a joiner may be sent on top of a snapshot before it is worth encoding a new one. */
const MAX_REPLAY = 1000;
/** Slides whose snapshot is kept (the most recently joined). */
const MAX_SLIDES = 8;

/**
 * What a joiner receives of a slide's annotations: one encoding of the list, shared by every join
 * (the same Buffer goes out to each socket as a binary attachment), plus the operations applied since
 * it was made. Encoding 20,000 annotations for each of 200 joiners cost minutes and gigabytes; now
 * a slide is encoded again only when more than MAX_REPLAY operations came after its snapshot.
 * Concurrent joins wait for the same encoding.
 */
export class AnnotationSnapshots {
  private readonly cache = new Map<string, Promise<Snapshot>>();

  constructor(private readonly annotations: AnnotationService) {}

  /** The snapshot to send, and every operation after it in order (read after the snapshot). */
  async get(slideId: string): Promise<{ snapshot: Snapshot; replay: AppliedOp[] }> {
    for (;;) {
      let entry = this.cache.get(slideId);
      if (!entry) {
        const building = this.build(slideId);
        building.catch(() => {
          if (this.cache.get(slideId) === building) this.cache.delete(slideId);
        });
        entry = building;
      }
      this.touch(slideId, entry);
      const snapshot = await entry;
      // Read after the snapshot: whatever came in while it was encoded is in here (or in it).
      const replay = await this.annotations.since(slideId, snapshot.seq, MAX_REPLAY);
      if (replay) return { snapshot, replay };
      // Too far behind: encode again (once, by whichever join comes first).
      if (this.cache.get(slideId) === entry) this.cache.delete(slideId);
    }
  }

  private async build(slideId: string): Promise<Snapshot> {
    // The seq is read first: the list then holds at least everything up to it.
    const seq = await this.annotations.seq(slideId);
    const list = await this.annotations.list(slideId);
    return { seq, bytes: Buffer.from(JSON.stringify(list)) };
  }

  private touch(slideId: string, s: Promise<Snapshot>): void {
    this.cache.delete(slideId);
    this.cache.set(slideId, s);
    while (this.cache.size > MAX_SLIDES) this.cache.delete(this.cache.keys().next().value!);
  }
}
