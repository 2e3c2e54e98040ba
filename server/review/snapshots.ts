import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import type { AppliedOp } from '../../protocol/index.ts';
import type { AnnotationScope, AnnotationService } from './annotations.ts';

/** A slide's live annotations (one site's set) as of `seq` (later operations may show too), as gzipped UTF-8 JSON. */
export interface Snapshot {
  seq: number;
  bytes: Buffer;
}

/** Annotations read per query (one turn of the event loop each). */
const PAGE = 500;

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
  async get(scope: AnnotationScope): Promise<{ snapshot: Snapshot; replay: AppliedOp[] }> {
    const key = `${scope.slideId}|${scope.siteId ?? ''}`;
    for (;;) {
      let entry = this.cache.get(key);
      if (!entry) {
        const building = this.build(scope);
        building.catch(() => {
          if (this.cache.get(key) === building) this.cache.delete(key);
        });
        entry = building;
      }
      this.touch(key, entry);
      const snapshot = await entry;
      // Read after the snapshot: whatever came in while it was encoded is in here (or in it).
      const replay = await this.annotations.since(scope, snapshot.seq, MAX_REPLAY);
      if (replay) return { snapshot, replay };
      // Too far behind: encode again (once, by whichever join comes first).
      if (this.cache.get(key) === entry) this.cache.delete(key);
    }
  }

  /**
   * Read a page at a time with a turn of the event loop between pages, from the stored JSON of each
   * annotation as it is (no parse, no stringify), in key order (the client orders the list), and
   * compressed as it is read by a gzip stream working in libuv's pool: reading, sorting, joining and
   * compressing 20,000 annotations in one go held every other request for a quarter of a second.
   */
  private async build(scope: AnnotationScope): Promise<Snapshot> {
    // The seq is read first: the list then holds at least everything up to it.
    const seq = await this.annotations.seq(scope);
    // Annotation JSON shrinks ~6x: a crowd joining at once, or a specialist on a slow link, moves a
    // sixth of the bytes.
    const gz = createGzip({ level: 6 });
    const out: Buffer[] = [];
    gz.on('data', (b: Buffer) => out.push(b));
    const ended = new Promise<void>((resolve, reject) => {
      gz.once('end', resolve);
      gz.once('error', reject);
    });
    let first = true;
    gz.write('[');
    for await (const page of this.annotations.docPages(scope, PAGE)) {
      const more = gz.write((first ? '' : ',') + page.join(','));
      first = false;
      await (more ? new Promise((r) => setImmediate(r)) : once(gz, 'drain'));
    }
    gz.end(']');
    await ended;
    return { seq, bytes: Buffer.concat(out) };
  }

  private touch(key: string, s: Promise<Snapshot>): void {
    this.cache.delete(key);
    this.cache.set(key, s);
    while (this.cache.size > MAX_SLIDES) this.cache.delete(this.cache.keys().next().value!);
  }
}
