import type { FileHandle } from 'node:fs/promises';
import { SlideError } from '../errors.ts';
import { TAG, TYPE_SIZE } from './tags.ts';

/** One pyramid level of a stored slide.tif: where every JPEG tile lies in the file. */
export interface TiffLevel {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  tilesX: number;
  tilesY: number;
  /** TIFF Photometric: 2 = RGB, 6 = YCbCr, 1 = grey. */
  photometric: number;
  samplesPerPixel: number;
  /** JPEGTables (SOI, DQT/DHT, EOI), or null when every tile is a complete JPEG. */
  jpegTables: Buffer | null;
  /** YCbCrSubsampling [horizontal, vertical] of a YCbCr level, as the file states it (TIFF's default [2, 2]). */
  ycbcrSubsampling: [number, number];
  /**
   * Tile offsets and byte counts as read from the file: a 60k slide has ~41,000 tiles on level 0, and
   * unpacking them into numbers up front would cost more than the rest of opening the file.
   */
  offsets: TileArray;
  byteCounts: TileArray;
}

/** Little-endian unsigned integers of `width` bytes (2, 4 or 8). */
export interface TileArray {
  data: Buffer;
  width: number;
}

/** The parsed layout of a stored slide.tif: one level per IFD, full resolution first. */
export interface TiffIndex {
  bigTiff: boolean;
  levels: TiffLevel[];
}

/** Enough for ~200 BigTIFF entries; libvips writes about 20, so one read usually takes the whole IFD. */
const IFD_READ = 4096;
/** Tile tables of a 1,000,000 px square slide are 128 MiB; a count beyond this is corruption. */
const MAX_VALUE_BYTES = 256 * 1024 * 1024;
/** A corrupt next-IFD chain could loop; no pyramid has this many levels (2^64 px). */
const MAX_IFDS = 64;

interface Entry {
  tag: number;
  type: number;
  count: number;
  /** Inline value bytes (when they fit in the entry) or null. */
  inline: Buffer | null;
  /** File offset of the values when not inline. */
  offset: number;
}

export interface IndexReadOptions {
  /**
   * Asked once, after the first IFD, to fetch in one go the bytes the rest of the index probably
   * lies in (see indexSpan); the reads that follow then find them held. For a reader whose every
   * read is a round trip (an object store), a large index costs two of them instead of one per level.
   */
  preload?: (offset: number, length: number) => Promise<void>;
}

/** A preload larger than this is not asked for (an index of ~5 million tiles). */
const MAX_PRELOAD = 64 * 1024 * 1024;

/** Positioned reads: the only I/O the parser needs, so it reads a Buffer as well as a file. */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

/** A ReadAt over bytes in memory. */
export function bufferReader(b: Buffer): ReadAt {
  return (position, length) => Promise.resolve(b.subarray(position, position + length));
}

/** A ReadAt over an open file; short reads at the end of the file return fewer bytes. */
export function fileReader(fh: FileHandle): ReadAt {
  return async (position, length) => {
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await fh.read(buf, 0, length, position);
    return bytesRead === length ? buf : buf.subarray(0, bytesRead);
  };
}

/**
 * Parse the IFD chain of a tiled JPEG TIFF (BigTIFF or classic, either byte order) into per-level
 * tile tables. Reads each IFD once and each level's offset / byte-count arrays once, the arrays of
 * one level while the next IFD is being fetched; for a 60k x 45k slide that is ~30 reads.
 * Throws SlideError('CORRUPT_FILE') for anything that is not a tiled JPEG pyramid.
 */
export async function readTiffIndex(
  read: ReadAt,
  name = 'slide.tif',
  opts: IndexReadOptions = {},
): Promise<TiffIndex> {
  const bad = (why: string): SlideError => new SlideError('CORRUPT_FILE', `${name}: ${why}`);
  const head = await read(0, 16);
  if (head.length < 8) throw bad('not a TIFF file (too short)');
  const order = head.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') throw bad('not a TIFF file (no byte-order mark)');
  const le = order === 'II';
  const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (b: Buffer, o: number): number =>
    le
      ? b.readUInt32LE(o) + b.readUInt32LE(o + 4) * 2 ** 32
      : b.readUInt32BE(o) * 2 ** 32 + b.readUInt32BE(o + 4);
  const magic = u16(head, 2);
  const big = magic === 43;
  if (!big && magic !== 42) throw bad(`not a TIFF file (version ${magic})`);
  if (big && head.length < 16) throw bad('truncated BigTIFF header');
  const entrySize = big ? 20 : 12;
  const countSize = big ? 8 : 2;
  const inlineSize = big ? 8 : 4;

  const parseIfd = async (at: number): Promise<{ entries: Map<number, Entry>; next: number }> => {
    let buf = await read(at, IFD_READ);
    if (buf.length < countSize) throw bad(`IFD at ${at} lies past the end of the file`);
    const n = big ? u64(buf, 0) : u16(buf, 0);
    const need = countSize + n * entrySize + inlineSize;
    if (n === 0 || n > 10_000) throw bad(`IFD at ${at} has ${n} entries`);
    if (buf.length < need) {
      buf = await read(at, need);
      if (buf.length < need) throw bad(`IFD at ${at} is truncated`);
    }
    const entries = new Map<number, Entry>();
    for (let i = 0; i < n; i++) {
      const o = countSize + i * entrySize;
      const tag = u16(buf, o);
      const type = u16(buf, o + 2);
      const count = big ? u64(buf, o + 4) : u32(buf, o + 4);
      const valueAt = o + (big ? 12 : 8);
      const bytes = (TYPE_SIZE[type] ?? 1) * count;
      entries.set(
        tag,
        bytes <= inlineSize
          ? { tag, type, count, inline: buf.subarray(valueAt, valueAt + bytes), offset: 0 }
          : { tag, type, count, inline: null, offset: big ? u64(buf, valueAt) : u32(buf, valueAt) },
      );
    }
    const nextAt = countSize + n * entrySize;
    return { entries, next: big ? u64(buf, nextAt) : u32(buf, nextAt) };
  };

  const valueBytes = async (e: Entry): Promise<Buffer> => {
    if (e.inline) return e.inline;
    const len = (TYPE_SIZE[e.type] ?? 1) * e.count;
    if (len > MAX_VALUE_BYTES) throw bad(`tag ${e.tag} claims ${len} bytes`);
    const b = await read(e.offset, len);
    if (b.length < len) throw bad(`tag ${e.tag} values lie past the end of the file`);
    return b;
  };

  const scalar = (entries: Map<number, Entry>, tag: number, fallback?: number): number => {
    const e = entries.get(tag);
    if (!e || !e.inline || e.count < 1) {
      if (fallback !== undefined && !e) return fallback;
      throw bad(`missing or malformed tag ${tag}`);
    }
    switch (e.type) {
      case 3:
        return u16(e.inline, 0);
      case 4:
      case 13:
        return u32(e.inline, 0);
      case 16:
      case 18:
        return u64(e.inline, 0);
      case 1:
      case 7:
        return e.inline[0]!;
      default:
        throw bad(`tag ${tag} has type ${e.type}`);
    }
  };

  /**
   * Tile tables are kept as read when little-endian (the libvips case: LONG8 offsets, LONG or LONG8
   * byte counts); big-endian files are normalised to little-endian LONG8 once.
   */
  const tileArray = async (e: Entry | undefined, expected: number, what: string): Promise<TileArray> => {
    if (!e) throw bad(`no ${what}`);
    if (e.count !== expected) throw bad(`${what} has ${e.count} entries, expected ${expected}`);
    const width =
      e.type === 3 ? 2 : e.type === 4 || e.type === 13 ? 4 : e.type === 16 || e.type === 18 ? 8 : 0;
    if (width === 0) throw bad(`${what} has type ${e.type}`);
    const raw = await valueBytes(e);
    if (le) return { data: raw, width };
    const data = Buffer.alloc(expected * 8);
    for (let i = 0; i < expected; i++) {
      const v = width === 2 ? u16(raw, i * 2) : width === 4 ? u32(raw, i * 4) : u64(raw, i * 8);
      data.writeUInt32LE(v % 2 ** 32, i * 8);
      data.writeUInt32LE(Math.floor(v / 2 ** 32), i * 8 + 4);
    }
    return { data, width: 8 };
  };

  const subsampling = (e: Entry | undefined): [number, number] =>
    e?.inline && e.type === 3 && e.count === 2 ? [u16(e.inline, 0), u16(e.inline, 2)] : [2, 2];

  const readLevel = async (entries: Map<number, Entry>, index: number): Promise<TiffLevel> => {
    const compression = scalar(entries, TAG.Compression, 1);
    if (compression !== 7) throw bad(`level ${index} has compression ${compression}, expected JPEG (7)`);
    if (!entries.has(TAG.TileWidth)) throw bad(`level ${index} is not tiled`);
    if (scalar(entries, TAG.PlanarConfiguration, 1) !== 1) throw bad(`level ${index} is not interleaved`);
    const width = scalar(entries, TAG.ImageWidth);
    const height = scalar(entries, TAG.ImageLength);
    const tileWidth = scalar(entries, TAG.TileWidth);
    const tileHeight = scalar(entries, TAG.TileLength);
    if (!width || !height || !tileWidth || !tileHeight) throw bad(`level ${index} has a zero size`);
    const tilesX = Math.ceil(width / tileWidth);
    const tilesY = Math.ceil(height / tileHeight);
    const tables = entries.get(TAG.JPEGTables);
    const [offsets, byteCounts, jpegTables] = await Promise.all([
      tileArray(entries.get(TAG.TileOffsets), tilesX * tilesY, `level ${index} TileOffsets`),
      tileArray(entries.get(TAG.TileByteCounts), tilesX * tilesY, `level ${index} TileByteCounts`),
      tables ? valueBytes(tables) : Promise.resolve(null),
    ]);
    return {
      width,
      height,
      tileWidth,
      tileHeight,
      tilesX,
      tilesY,
      photometric: scalar(entries, TAG.Photometric),
      samplesPerPixel: scalar(entries, TAG.SamplesPerPixel, 1),
      jpegTables: jpegTables && jpegTables.length >= 4 ? jpegTables : null,
      ycbcrSubsampling: subsampling(entries.get(TAG.YCbCrSubsampling)),
      offsets,
      byteCounts,
    };
  };

  const pending: Promise<TiffLevel>[] = [];
  try {
    const seen = new Set<number>();
    for (let at = big ? u64(head, 8) : u32(head, 4); at !== 0;) {
      if (seen.has(at) || seen.size >= MAX_IFDS) throw bad('IFD chain loops');
      seen.add(at);
      const { entries, next } = await parseIfd(at);
      const index = seen.size - 1;
      if (index === 0 && opts.preload) {
        const span = indexSpan(entries, at, countSize + entries.size * entrySize + inlineSize, (t) =>
          scalar(entries, t, 0),
        );
        if (span) await opts.preload(span.start, span.end - span.start).catch(() => undefined);
      }
      // Reduced-resolution images only: a thumbnail or mask IFD would break the level numbering.
      if (index > 0 && (scalar(entries, TAG.NewSubfileType, 0) & 1) === 0) {
        throw bad(`IFD ${index} is not a reduced-resolution level`);
      }
      pending.push(readLevel(entries, index));
      at = next;
    }
  } catch (e) {
    // Level reads already started must settle before the error leaves, or they reject unobserved.
    await Promise.allSettled(pending);
    throw e;
  }
  if (pending.length === 0) throw bad('no images');
  return { bigTiff: big, levels: await Promise.all(pending) };
}

/**
 * Where the whole index probably lies, from the first IFD (at `at`, `ifdBytes` long) and its tile
 * tables: writers that put the index at the end (TiffWriter, libvips) place each lower level's IFD
 * and tables below the level above. Tessera's levels halve down to one tile, so the tables below
 * level 0's are those of that many tiles (2 % spare), with 2 KiB a level for its IFD and JPEG
 * tables. Null without tile tables, or when the span is over MAX_PRELOAD.
 */
function indexSpan(
  entries: Map<number, Entry>,
  at: number,
  ifdBytes: number,
  scalar: (tag: number) => number,
): { start: number; end: number } | null {
  let lo = at;
  let hi = at + ifdBytes;
  let tables = 0;
  for (const tag of [TAG.TileOffsets, TAG.TileByteCounts]) {
    const e = entries.get(tag);
    if (!e || e.inline) continue;
    const bytes = (TYPE_SIZE[e.type] ?? 1) * e.count;
    lo = Math.min(lo, e.offset);
    hi = Math.max(hi, e.offset + bytes);
    tables += bytes;
  }
  const [width, height, tw, th] = [TAG.ImageWidth, TAG.ImageLength, TAG.TileWidth, TAG.TileLength].map(
    scalar,
  );
  if (!tables || !width || !height || !tw || !th) return null;
  const perTile = tables / (Math.ceil(width / tw) * Math.ceil(height / th));
  let below = 4096;
  for (let w = width, h = height, k = 1; (w > tw || h > th) && k < MAX_IFDS; k++) {
    w = Math.ceil(w / 2);
    h = Math.ceil(h / 2);
    below += Math.ceil(w / tw) * Math.ceil(h / th) * perTile * 1.02 + 2048;
  }
  const start = Math.max(0, Math.floor(lo - below));
  return hi - start > MAX_PRELOAD ? null : { start, end: hi };
}

/** File position and length of tile (col, row) of a level; no bounds check (callers check first). */
export function tileLocation(level: TiffLevel, col: number, row: number): { offset: number; length: number } {
  const i = row * level.tilesX + col;
  return { offset: entry(level.offsets, i), length: entry(level.byteCounts, i) };
}

function entry(a: TileArray, i: number): number {
  const o = i * a.width;
  if (a.width === 8) return a.data.readUInt32LE(o) + a.data.readUInt32LE(o + 4) * 2 ** 32;
  return a.width === 4 ? a.data.readUInt32LE(o) : a.data.readUInt16LE(o);
}
