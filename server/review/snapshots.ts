import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { AppliedOp } from '../../protocol/index.ts';
import type { AnnotationScope, AnnotationService } from './annotations.ts';

/** A slide's live annotations (one site's set) as of `seq` (later operations may show too), as gzipped UTF-8 JSON. */
export interface Snapshot {
  seq: number;
  bytes: Buffer;
}

const gzipAsync = promisify(gzip);

/**
 * A top-level string field of a stored annotation document, read without parsing it. Documents are
 * written by JSON.stringify of an AnnotationDto: `"key":"` cannot occur inside a string value (its
 * quotes would be escaped), and the nested objects (geometry, classification, comments) have no key
 * named `id` before the top-level one, which comes first, nor any named `createdAt`. Ids and ISO times
 * hold no escapes.
 */
function field(doc: string, key: 'id' | 'createdAt'): string {
  const tag = `"${key}":"`;
  const at = doc.indexOf(tag);
  if (at < 0) return '';
  const from = at + tag.length;
  return doc.slice(from, doc.indexOf('"', from));
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
   * Read and encoded a page at a time with a turn of the event loop between pages, and from the stored
   * JSON of each annotation as it is (no parse, no stringify): 20,000 annotations in one go held every
   * other request for most of a second.
   */
  private async build(scope: AnnotationScope): Promise<Snapshot> {
    // The seq is read first: the list then holds at least everything up to it.
    const seq = await this.annotations.seq(scope);
    const docs: { at: string; id: string; doc: string }[] = [];
    for await (const page of this.annotations.docPages(scope)) {
      for (const doc of page) docs.push({ at: field(doc, 'createdAt'), id: field(doc, 'id'), doc });
      await new Promise((r) => setImmediate(r));
    }
    // Oldest first, as AnnotationService.list orders them.
    docs.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : 1));
    const parts: Buffer[] = [Buffer.from('[')];
    for (let i = 0; i < docs.length; i += 2000) {
      const chunk = docs.slice(i, i + 2000).map((d) => d.doc);
      parts.push(Buffer.from((i > 0 ? ',' : '') + chunk.join(',')));
      await new Promise((r) => setImmediate(r));
    }
    parts.push(Buffer.from(']'));
    // Compressed off the main thread (libuv's pool): annotation JSON shrinks ~10x, so a crowd joining
    // at once, or a specialist on a slow link, moves a tenth of the bytes.
    return { seq, bytes: await gzipAsync(Buffer.concat(parts), { level: 6 }) };
  }

  private touch(key: string, s: Promise<Snapshot>): void {
    this.cache.delete(key);
    this.cache.set(key, s);
    while (this.cache.size > MAX_SLIDES) this.cache.delete(this.cache.keys().next().value!);
  }
}
