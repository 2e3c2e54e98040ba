import type { ReadAt } from './types.ts';

/** Fetches bytes [start, end) of one stored file. */
export type FetchRange = (start: number, end: number) => Promise<Buffer>;

/**
 * Byte ranges of stored files in aligned blocks, least recently used out once over `maxBytes`.
 * Concurrent reads of one block share one request; consecutive missing blocks are one request.
 * Reads larger than a few blocks (a tile table, hashing a whole file) are answered from blocks
 * already here, or else go straight to the store and are not kept. Stored files never change under
 * their name (slide ids are content hashes), so a block is never stale.
 */
export class BlockCache {
  private readonly map = new Map<string, Buffer>();
  private readonly inflight = new Map<string, Promise<Buffer>>();
  /**
   * The block an insert covered only from `from` on, padded to a whole block: a read that starts
   * at or after `from` uses it, any other fetches the block. At most one per file (its end read).
   */
  private readonly partial = new Map<string, { from: number; padded: Buffer }>();
  private used = 0;
  /** Requests made to the store and bytes they brought, since start (for benchmarks and tests). */
  readonly stats = { fetches: 0, fetchedBytes: 0 };

  constructor(
    private readonly maxBytes: number,
    readonly blockBytes: number,
  ) {
    if (!Number.isInteger(blockBytes) || blockBytes < 1)
      throw new RangeError(`Expected positive integer for blockBytes but received ${blockBytes}`);
  }

  /** Bytes held. */
  get bytes(): number {
    return this.used;
  }

  /** Positioned reads of the file `name` of `size` bytes, through the cache. */
  reader(name: string, size: number, fetchRange: FetchRange): ReadAt {
    const B = this.blockBytes;
    const fetch: FetchRange = (start, end) => {
      this.stats.fetches++;
      this.stats.fetchedBytes += end - start;
      return fetchRange(start, end);
    };
    const key = (b: number): string => `${name}#${b}`;
    const block = (b: number): Promise<Buffer> => {
      const k = key(b);
      const hit = this.map.get(k);
      if (hit) {
        this.map.delete(k);
        this.map.set(k, hit);
        return Promise.resolve(hit);
      }
      const running = this.inflight.get(k);
      if (running) return running;
      const p = fetch(b * B, Math.min(size, (b + 1) * B))
        .then((buf) => {
          this.set(k, buf);
          return buf;
        })
        .finally(() => this.inflight.delete(k));
      this.inflight.set(k, p);
      return p;
    };
    /**
     * Fetch runs of consecutive missing blocks with one request each, so a table of 5 blocks is one
     * GET. The first block may come from a partial one when the read starts inside what it holds.
     */
    const blocks = async (b0: number, b1: number, offset: number): Promise<Buffer[]> => {
      const part = this.partial.get(key(b0));
      const first = part && !this.map.has(key(b0)) && offset >= part.from ? part.padded : null;
      const missing: number[] = [];
      for (let b = first ? b0 + 1 : b0; b <= b1; b++) {
        const k = key(b);
        if (!this.map.has(k) && !this.inflight.has(k)) missing.push(b);
      }
      for (let i = 0; i < missing.length;) {
        let j = i;
        while (j + 1 < missing.length && missing[j + 1] === missing[j]! + 1) j++;
        const first = missing[i]!;
        const last = missing[j]!;
        if (last > first) {
          const all = fetch(first * B, Math.min(size, (last + 1) * B));
          for (let b = first; b <= last; b++) {
            const k = key(b);
            const off = (b - first) * B;
            const p = all
              .then((buf) => {
                const part = Buffer.from(buf.subarray(off, off + B));
                this.set(k, part);
                return part;
              })
              .finally(() => this.inflight.delete(k));
            this.inflight.set(k, p);
          }
        }
        i = j + 1;
      }
      const out: Promise<Buffer>[] = first ? [Promise.resolve(first)] : [];
      for (let b = first ? b0 + 1 : b0; b <= b1; b++) out.push(block(b));
      return Promise.all(out);
    };
    /** The range from blocks already held, or null when one is missing. */
    const held = (offset: number, end: number): Buffer | null => {
      const b0 = Math.floor(offset / B);
      const b1 = Math.floor((end - 1) / B);
      const bufs: Buffer[] = [];
      for (let b = b0; b <= b1; b++) {
        const part = b === b0 ? this.partial.get(key(b)) : undefined;
        const hit = this.map.get(key(b)) ?? (part && offset >= part.from ? part.padded : undefined);
        if (!hit) return null;
        bufs.push(hit);
      }
      return Buffer.concat(bufs).subarray(offset - b0 * B, end - b0 * B);
    };
    let closed = false;
    return {
      size,
      read: async (offset: number, length: number): Promise<Buffer> => {
        if (closed) throw new Error(`${name}: read after close`);
        const end = Math.min(size, offset + length);
        if (!(offset >= 0) || end <= offset) return Buffer.alloc(0);
        if (end - offset > 4 * B || this.maxBytes < B) return held(offset, end) ?? fetch(offset, end);
        const b0 = Math.floor(offset / B);
        const b1 = Math.floor((end - 1) / B);
        const bufs = await blocks(b0, b1, offset);
        if (bufs.length === 1) return bufs[0]!.subarray(offset - b0 * B, end - b0 * B);
        return Buffer.concat(bufs).subarray(offset - b0 * B, end - b0 * B);
      },
      preload: async (offset: number, length: number): Promise<void> => {
        const end = Math.min(size, offset + length);
        if (closed || !(offset >= 0) || end <= offset || end - offset > this.maxBytes / 4) return;
        // One request from the first block not held to the last (held ones between are cheap to
        // bring again). A block held in part counts as held where the span starts inside what it
        // holds, else as missing, so it comes back whole.
        let first = -1;
        let last = -1;
        const b0 = Math.floor(offset / B);
        for (let b = b0; b <= Math.floor((end - 1) / B); b++) {
          if (this.map.has(key(b))) continue;
          if (b === b0 && (this.partial.get(key(b))?.from ?? Infinity) <= offset) continue;
          if (first < 0) first = b;
          last = b;
        }
        if (first < 0) return;
        this.insert(name, size, first * B, await fetch(first * B, Math.min(size, (last + 1) * B)));
      },
      close: async () => {
        closed = true;
      },
    };
  }

  /**
   * Keep bytes of `name` (a file of `size` bytes) fetched from `offset` some other way (a read of
   * its end on open): every whole block they cover, the file's last block however short, and the
   * block they start inside of as a partial one.
   */
  insert(name: string, size: number, offset: number, bytes: Buffer): void {
    const B = this.blockBytes;
    const end = offset + bytes.length;
    const lead = Math.floor(offset / B);
    if (offset % B !== 0 && Math.min(size, (lead + 1) * B) <= end) {
      const padded = Buffer.alloc(Math.min(size, (lead + 1) * B) - lead * B);
      bytes.copy(padded, offset - lead * B, 0, padded.length - (offset - lead * B));
      this.setPartial(`${name}#${lead}`, offset, padded);
    }
    for (let b = Math.ceil(offset / B); b * B < end; b++) {
      const blockEnd = Math.min(size, (b + 1) * B);
      if (blockEnd > end) break;
      this.set(`${name}#${b}`, Buffer.from(bytes.subarray(b * B - offset, blockEnd - offset)));
    }
  }

  /** Whether block `b` of `name` is held. */
  has(name: string, b: number): boolean {
    return this.map.has(`${name}#${b}`);
  }

  /** Drop every block of files whose name starts with `prefix` (a removed slide). */
  forget(prefix: string): void {
    for (const [k, v] of this.map) {
      if (k.startsWith(prefix)) {
        this.map.delete(k);
        this.used -= v.length;
      }
    }
    for (const [k, v] of this.partial) {
      if (k.startsWith(prefix)) {
        this.partial.delete(k);
        this.used -= v.padded.length;
      }
    }
  }

  /** Partial blocks count towards the bytes held and go first when over (they are rarely read twice). */
  private setPartial(k: string, from: number, padded: Buffer): void {
    const old = this.partial.get(k);
    if (old) this.used -= old.padded.length;
    if (padded.length > this.maxBytes) return;
    this.partial.set(k, { from, padded });
    this.used += padded.length;
    this.evict();
  }

  private set(k: string, buf: Buffer): void {
    const old = this.map.get(k);
    if (old) {
      this.map.delete(k);
      this.used -= old.length;
    }
    if (buf.length > this.maxBytes) return;
    this.map.set(k, buf);
    this.used += buf.length;
    this.evict();
  }

  private evict(): void {
    for (const [key, v] of this.partial) {
      if (this.used <= this.maxBytes) return;
      this.partial.delete(key);
      this.used -= v.padded.length;
    }
    for (const [key, v] of this.map) {
      if (this.used <= this.maxBytes) return;
      this.map.delete(key);
      this.used -= v.length;
    }
  }
}
