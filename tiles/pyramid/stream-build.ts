import { rm } from 'node:fs/promises';
import os from 'node:os';
import type { StoredLevel } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import { storedLevels } from './math.ts';
import { type LevelCoding, TiffWriter } from '../tiff/writer.ts';
import { TileEncoder } from './tile-encoder.ts';
import { halveRegion } from './halve.ts';

/** One level-0 tile as stored. */
export interface StoredTile {
  /** A JPEG stream as the level's IFD declares it (abbreviated when the level has shared tables). */
  stored: Buffer;
  /** Tiles with the same key hold the same bytes: stored once, and what is made from them made once. */
  key?: string;
}

/** A block of level-0 tiles: their stored bytes (row-major) and, when asked for, their pixels. */
export interface Level0Block {
  tiles: StoredTile[];
  /** cols·T x rows·T x 3 bytes of RGB (beyond the image's edge: anything), or null when not needed. */
  rgb: Buffer | null;
}

/** Level 0 of a pyramid, a block of tiles at a time: the scanner's own tiles, or tiles encoded here. */
export interface Level0 {
  width: number;
  height: number;
  tileSize: number;
  /** true when the stored tiles are the scanner's compressed data, unchanged. */
  scanner: boolean;
  colour: 'rgb' | 'ycbcr';
  subsampling?: [number, number];
  jpegTables?: Buffer | null;
  /**
   * The tiles of columns col0.. and rows row0..; their pixels too unless `need` (given the tiles)
   * says the levels above can do without them.
   */
  block(
    col0: number,
    row0: number,
    cols: number,
    rows: number,
    need: (tiles: readonly StoredTile[]) => boolean,
  ): Promise<Level0Block>;
}

export interface StreamBuildOptions {
  /** JPEG quality of the levels made here. */
  quality: number;
  /** ImageDescription of a level. */
  description?: (level: StoredLevel) => string;
  /** µm per pixel at level 0, [x, y], or null. */
  mpp?: [number, number] | null;
  onProgress?: (fraction: number) => void;
  signal?: AbortSignal;
  /** Blocks decoded or encoded at once. */
  concurrency?: number;
}

/** A built level: its layout and whether its tiles are the scanner's data. */
export type BuiltLevel = StoredLevel & { scanner: boolean };

/** About this many pixels a side per libvips call: one call per block, not per tile. */
const BLOCK_PX = 4096;
/** Memory for half tiles that repeat (a scanner's blank tile and what is made from it). */
const HALF_CACHE_BYTES = 48 * 1024 ** 2;
/** Free halves kept for reuse: about the rows of every level in flight. */
const POOL_BYTES = 96 * 1024 ** 2;

/**
 * A tile of a level above 0, as its two halves (T/2 rows each): halves made from the same tiles
 * below are the same pixels, and are shared rather than made again.
 */
interface Tile {
  halves: [Buffer, Buffer];
  /** Its content's id when known (every tile under it keyed), else undefined. */
  key: number | undefined;
}

/** A row of a level above 0 being filled from the level below. */
interface Row {
  index: number;
  tiles: Tile[];
  /** Ids of the halves made so far, [top, bottom] per tile. */
  halfKeys: [number | undefined, number | undefined][];
}

/**
 * Build the stored pyramid from level 0, in bands of two tile rows: each band's level-0 tiles are
 * stored and decoded a block at a time, every 2 x 2 pixel block averaged into the row of level 1
 * above it (levels halve rounding down, as storedLevels says), and a level's row, once both its
 * halves are made, is encoded a block at a time and halved into the level above in turn. Memory is
 * one tile row per level whatever the slide's height, and no image handed to a codec is larger than
 * a block, so no codec's size limit applies (JPEG's 65,535 px stopped whole-image writers).
 *
 * Repeats cost nothing: tiles with the same key (a scanner's blank tile stored once) give halves
 * and tiles with the same id up the pyramid, made once, encoded once and stored once.
 */
export async function buildPyramidStream(
  l0: Level0,
  outPath: string,
  opts: StreamBuildOptions,
): Promise<BuiltLevel[]> {
  const T = l0.tileSize;
  const H = T / 2;
  const halfBytes = H * T * 3;
  const levels = storedLevels(l0.width, l0.height, T);
  const ppc = (k: number): [number, number] | null =>
    opts.mpp ? [10_000 / (opts.mpp[0] * 2 ** k), 10_000 / (opts.mpp[1] * 2 ** k)] : null;
  const encoder = await TileEncoder.create(T, opts.quality);
  const coding: LevelCoding[] = levels.map((l, k) => ({
    width: l.width,
    height: l.height,
    tileWidth: T,
    tileHeight: T,
    ...(k === 0
      ? { colour: l0.colour, subsampling: l0.subsampling, jpegTables: l0.jpegTables ?? null }
      : encoder.coding),
    description: opts.description?.(l),
    pixelsPerCm: ppc(k),
  }));
  const writer = await TiffWriter.create(outPath, coding);
  const total = levels.reduce((n, l) => n + l.tilesX * l.tilesY, 0);
  let done = 0;
  let reported = 0;
  const progress = (n: number): void => {
    done += n;
    if (done - reported >= 64 || done === total) {
      reported = done;
      opts.onProgress?.(done / total);
    }
  };
  const concurrency = opts.concurrency ?? Math.max(2, os.availableParallelism());
  const blockTiles = Math.max(2, 2 * Math.round(BLOCK_PX / (2 * T)));
  const ids = new Interner();
  const halves = new LruBuffers(Math.max(8, Math.floor(HALF_CACHE_BYTES / halfBytes)));
  const white = Buffer.alloc(halfBytes, 255);
  // Halves and strips are reused rather than allocated anew: hundreds of MB a minute of fresh
  // buffers kept the garbage collector and the kernel's page zeroing busy for a fifth of the time.
  const halfPool = new BufferPool(halfBytes, Math.ceil(POOL_BYTES / halfBytes));
  const stripPool = new BufferPool(blockTiles * T * T * 3, 2 * concurrency);
  /** Halves in the repeat cache, which rows may share: never given back to the pool. */
  const shared = new WeakSet<Buffer>();
  /** The rows being filled, by level and index: band b + 1 fills level 1 while band b's is encoded. */
  const rows = levels.map(() => new Map<number, Row>());
  const checkAbort = (): void => {
    if (opts.signal?.aborted) throw new SlideError('INGEST_FAILED', 'ingest cancelled');
  };

  const rowOf = (k: number, index: number): Row => {
    let row = rows[k]!.get(index);
    if (!row) {
      const n = levels[k]!.tilesX;
      row = {
        index,
        tiles: Array.from({ length: n }, () => ({ halves: [white, white], key: undefined })),
        halfKeys: Array.from({ length: n }, () => [undefined, undefined]),
      };
      rows[k]!.set(index, row);
    }
    return row;
  };

  /** Id of the half made from tiles (left, right); right is null where the level below ends. */
  const halfId = (left: number | undefined, right: number | undefined | null): number | undefined =>
    left === undefined || right === undefined ? undefined : ids.id(`h${left}|${right ?? 'x'}`);

  /**
   * Half `h` (0 top, 1 bottom) of tile `col` of row `index` of level k: the cached pixels when this
   * half was made before, else `make` fills a new buffer (T/2 x T x 3).
   */
  const placeHalf = (
    k: number,
    index: number,
    col: number,
    h: 0 | 1,
    id: number | undefined,
    /** Whether `make` writes every pixel (it leaves the right half when there is no right tile). */
    full: boolean,
    make: (dst: Buffer) => void,
    known?: Buffer,
  ): void => {
    const row = rowOf(k, index);
    let px = known ?? (id === undefined ? undefined : halves.get(id));
    if (!px) {
      px = halfPool.take();
      // White where `make` leaves it (beyond the level's right edge).
      if (!full) px.fill(255);
      make(px);
      if (id !== undefined && ids.repeated(id)) {
        halves.set(id, px);
        shared.add(px);
      }
    }
    row.tiles[col]!.halves[h] = px;
    row.halfKeys[col]![h] = id;
  };

  /** Halves tile (left, right) of a source into `dst`: src rows y0..y0+T-1, columns x0.. (stride sw). */
  const halveInto = (dst: Buffer, src: Buffer, sw: number, x0: number, y0: number, right: boolean): void => {
    halveRegion(src, sw, x0, y0, dst, T, 0, 0, H, H);
    if (right) halveRegion(src, sw, x0 + T, y0, dst, T, H, 0, H, H);
  };

  /** A tile's pixels, T x T x 3, from its halves. */
  const pixelsOf = (t: Tile, into: Buffer, stride: number, x0: number): void => {
    for (let h = 0; h < 2; h++) {
      const src = t.halves[h]!;
      for (let y = 0; y < H; y++) src.copy(into, ((h * H + y) * stride + x0) * 3, y * T * 3, (y + 1) * T * 3);
    }
  };

  /** A full row of level k: encode and store its tiles, halve it into level k + 1, go up. */
  const finishRow = async (k: number, index: number): Promise<void> => {
    checkAbort();
    const level = levels[k]!;
    const row = rowOf(k, index);
    rows[k]!.delete(index);
    const bottomMissing = 2 * index + 1 >= levels[k - 1]!.tilesY;
    row.tiles.forEach((t, c) => {
      const [top, bottom] = row.halfKeys[c]!;
      t.key =
        top === undefined || (bottom === undefined && !bottomMissing)
          ? undefined
          : ids.id(`t${top}|${bottom ?? 'x'}`);
    });
    // Encode the tiles not stored yet (one of each id), a block at a time.
    const storeKey = (t: Tile): string | undefined => (t.key === undefined ? undefined : `p${t.key}`);
    const todo: number[] = [];
    const planned = new Set<string>();
    row.tiles.forEach((t, c) => {
      const key = storeKey(t);
      if (key !== undefined && (writer.has(key) || planned.has(key))) return;
      if (key !== undefined) planned.add(key);
      todo.push(c);
    });
    const encoded = new Map<number, Buffer>();
    const batches: number[][] = [];
    for (let i = 0; i < todo.length; i += blockTiles) batches.push(todo.slice(i, i + blockTiles));
    await eachLimited(batches, concurrency, async (batch) => {
      checkAbort();
      const stride = batch.length * T;
      const buf = stripPool.take();
      const strip = buf.subarray(0, stride * T * 3);
      batch.forEach((c, i) => pixelsOf(row.tiles[c]!, strip, stride, i * T));
      const out = await encoder.encodeBlock(strip, batch.length, 1);
      stripPool.give(buf);
      batch.forEach((c, i) => encoded.set(c, out[i]!));
    });
    const writes: Promise<void>[] = [];
    const base = index * level.tilesX;
    // Made tiles first, so that their repeats find them stored.
    for (const [c, bytes] of encoded) writes.push(writer.put(k, base + c, bytes, storeKey(row.tiles[c]!)));
    row.tiles.forEach((t, c) => {
      if (!encoded.has(c)) writes.push(writer.put(k, base + c, EMPTY, storeKey(t)));
    });
    await Promise.all(writes);
    progress(level.tilesX);

    const up = levels[k + 1];
    const upIndex = index >> 1;
    if (!up || upIndex >= up.tilesY) {
      for (const t of row.tiles)
        for (const half of t.halves) if (half !== white && !shared.has(half)) halfPool.give(half);
      return;
    }
    const h = (index & 1) as 0 | 1;
    for (let c = 0; c < up.tilesX; c++) {
      const left = row.tiles[2 * c]!;
      const right = 2 * c + 1 < level.tilesX ? row.tiles[2 * c + 1]! : null;
      placeHalf(k + 1, upIndex, c, h, halfId(left.key, right ? right.key : null), right !== null, (dst) => {
        for (let part = 0; part < 2; part++) {
          halveRegion(left.halves[part]!, T, 0, 0, dst, T, 0, part * (H >> 1), H, H >> 1);
          if (right) halveRegion(right.halves[part]!, T, 0, 0, dst, T, H, part * (H >> 1), H, H >> 1);
        }
      });
    }
    // This row's own halves are read for the last time above.
    for (const t of row.tiles)
      for (const half of t.halves) if (half !== white && !shared.has(half)) halfPool.give(half);
    if (h === 1 || index === level.tilesY - 1) await finishRow(k + 1, upIndex);
  };

  /** Level-0 rows 2b and 2b + 1: stored, and halved into row b of level 1. */
  const band = async (b: number): Promise<void> => {
    const L0 = levels[0]!;
    const L1 = levels[1];
    const row0 = 2 * b;
    const nrows = Math.min(2, L0.tilesY - row0);
    const feeds = L1 !== undefined && b < L1.tilesY;
    const starts: number[] = [];
    for (let c0 = 0; c0 < L0.tilesX; c0 += blockTiles) starts.push(c0);
    await eachLimited(starts, concurrency, async (c0) => {
      checkAbort();
      const cols = Math.min(blockTiles, L0.tilesX - c0);
      // The halves this block makes: their ids, and whether any must be made from pixels.
      const made: { col: number; h: 0 | 1; id: number | undefined; right: boolean; px?: Buffer }[] = [];
      const block = await l0.block(c0, row0, cols, nrows, (tiles) => {
        if (!feeds) return false;
        const key = (c: number, r: number): number | undefined => {
          const k = tiles[r * cols + c]?.key;
          return k === undefined ? undefined : ids.id(`s${k}`);
        };
        for (let c = c0 >> 1; c < Math.min(L1.tilesX, (c0 + cols + 1) >> 1); c++) {
          const l = 2 * c - c0;
          const right = 2 * c + 1 < c0 + cols;
          for (let h = 0; h < nrows; h++) {
            const id = halfId(key(l, h), right ? key(l + 1, h) : null);
            // Held from here: the cache may drop it while this block is read.
            made.push({
              col: c,
              h: h as 0 | 1,
              id,
              right,
              px: id === undefined ? undefined : halves.get(id),
            });
          }
        }
        return made.some((m) => !m.px);
      });
      const writes = block.tiles.map((t, i) =>
        writer.put(0, (row0 + Math.floor(i / cols)) * L0.tilesX + c0 + (i % cols), t.stored, t.key),
      );
      for (const m of made)
        placeHalf(
          1,
          b,
          m.col,
          m.h,
          m.id,
          m.right,
          (dst) => {
            if (!block.rgb) throw new Error('level-0 pixels were not decoded');
            halveInto(dst, block.rgb, cols * T, (2 * m.col - c0) * T, m.h * T, m.right);
          },
          m.px,
        );
      await Promise.all(writes);
      progress(block.tiles.length);
    });
  };

  /** Band b's row of level 1, once its halves are made: encoded, stored, and halved upwards. */
  const up = async (b: number): Promise<void> => {
    const L1 = levels[1];
    if (L1 !== undefined && b < L1.tilesY) await finishRow(1, b);
  };

  try {
    const L0 = levels[0]!;
    // Band b + 1's level 0 is read and decoded while band b's levels above are encoded: the two
    // alternate between libvips's threads and this one (halving), so run apart each leaves a core
    // idle part of the time. The levels above are made one band at a time, in order.
    let above: Promise<void> = Promise.resolve();
    try {
      for (let b = 0; b < Math.ceil(L0.tilesY / 2); b++) {
        await band(b);
        const prev = above;
        above = prev.then(() => up(b));
        // At most one band's upper levels waiting behind the one in progress.
        await prev;
      }
    } finally {
      // Never left running into an abort or a finish; its failure, if it failed, is thrown below.
      await above.catch(() => undefined);
    }
    await above;
    await writer.finish();
  } catch (e) {
    await writer.abort();
    await rm(outPath, { force: true });
    throw e;
  }
  return levels.map((l, k) => ({ ...l, scanner: k === 0 && l0.scanner }));
}

const EMPTY = Buffer.alloc(0);

/** Runs `fn` over `items`, at most `n` at once; the first failure rejects once all have settled. */
async function eachLimited<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { e: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed) throw (failed as { e: unknown }).e;
}

/** Buffers of one size, given back after use and taken again (a few rows' worth kept). */
class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(
    private readonly size: number,
    private readonly max: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafe(this.size);
  }

  give(b: Buffer): void {
    if (this.free.length < this.max) this.free.push(b);
  }
}

/** Small numbers for content ids (strings), and whether an id was asked for more than once. */
class Interner {
  private readonly ids = new Map<string, number>();
  private readonly seen: number[] = [];

  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.seen.length;
      this.ids.set(s, id);
      this.seen.push(1);
    } else this.seen[id]!++;
    return id;
  }

  repeated(id: number): boolean {
    return (this.seen[id] ?? 0) > 1;
  }
}

/** The most recently used buffers by id, at most `max` of them. */
class LruBuffers {
  private readonly map = new Map<number, Buffer>();
  constructor(private readonly max: number) {}

  get(id: number): Buffer | undefined {
    const b = this.map.get(id);
    if (b) {
      this.map.delete(id);
      this.map.set(id, b);
    }
    return b;
  }

  set(id: number, b: Buffer): void {
    this.map.delete(id);
    this.map.set(id, b);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
}
