import { type FileHandle, open } from 'node:fs/promises';
import { TAG, TYPE } from './tags.ts';

/** How one image (a pyramid level) is laid out and coded, as its directory declares it. */
export interface LevelCoding {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  /** 3 (RGB or YCbCr) or 1 (grey). */
  bands?: 1 | 3;
  /** 'jpeg': each tile a JPEG stream (abbreviated under jpegTables, or complete); 'none': raw pixels. */
  compression?: 'jpeg' | 'none';
  /** 'rgb': components R, G, B (Photometric 2); 'ycbcr': Y, Cb, Cr (6); 'grey': one band (1). */
  colour: 'rgb' | 'ycbcr' | 'grey';
  /** Chroma subsampling of YCbCr tiles [horizontal, vertical]. */
  subsampling?: [number, number];
  /** Shared tables (a tables-only JPEG stream) for abbreviated tile streams. */
  jpegTables?: Buffer | null;
  /** ImageDescription. */
  description?: string;
  /** Pixels per centimetre, [x, y]; omitted when the pixel size is unknown. */
  pixelsPerCm?: [number, number] | null;
}

interface Entry {
  tag: number;
  type: number;
  count: number;
  bytes: Buffer;
}

/** Bytes of tiles gathered before they are written, in one call. */
const BATCH_BYTES = 8 * 1024 * 1024;
const PAD = Buffer.alloc(1);

/**
 * libvips (8.18) refuses to read a TIFF whose tile side is over 256 and at least 4x the image side
 * ("tile size out of range"); callers pick a smaller tile when this says no.
 */
export function tileFitsImage(width: number, height: number, tw: number, th: number): boolean {
  return (tw <= 256 || tw < 4 * width) && (th <= 256 || th < 4 * height);
}

/**
 * A tiled BigTIFF written as its tiles arrive, in any order: every tile is appended where the file
 * ends, the directories (one per image, the first full resolution, in one chain as libvips, OpenSlide
 * and tifffile expect of a pyramid) go at the end. Tiles with the same key (a scanner stores a blank
 * tile once and points many tiles at it) are written once and shared. Nothing limits the image size
 * but TIFF's own 2^32 px a side. The one TIFF writer: pyramids and readers' intermediate images alike.
 */
export class TiffWriter {
  private pos = 16;
  private writes: Promise<unknown> = Promise.resolve();
  /** Tiles put but not yet handed to the file, contiguous from `batchAt`. */
  private batch: Buffer[] = [];
  private batchAt = 16;
  private batchBytes = 0;
  private failed: unknown = null;
  private readonly offsets: number[][];
  private readonly counts: number[][];
  private readonly shared = new Map<string, { offset: number; count: number }>();

  private constructor(
    private readonly fh: FileHandle,
    private readonly levels: readonly LevelCoding[],
  ) {
    this.offsets = levels.map((l) => new Array<number>(tilesOf(l)).fill(0));
    this.counts = levels.map((l) => new Array<number>(tilesOf(l)).fill(0));
  }

  static async create(path: string, levels: readonly LevelCoding[]): Promise<TiffWriter> {
    for (const l of levels) {
      for (const side of [l.tileWidth, l.tileHeight])
        if (!Number.isInteger(side) || side % 16 !== 0 || side < 16)
          throw new RangeError(`TIFF tile size must be a multiple of 16, got ${l.tileWidth}x${l.tileHeight}`);
    }
    return new TiffWriter(await open(path, 'w'), levels);
  }

  /**
   * Queue tile `index` (row-major) of image `level`. Tiles are written in batches of `BATCH_BYTES`
   * (one system call for hundreds of tiles: written one by one, the calls cost more than the
   * bytes); the promise resolves at once, or when a batch it completes is on disk, so that no more
   * than about two batches are ever held. A write's failure is thrown by a later put or by finish.
   */
  put(level: number, index: number, data: Buffer, key?: string): Promise<void> {
    const offsets = this.offsets[level];
    if (!offsets || index < 0 || index >= offsets.length)
      throw new RangeError(`no tile ${index} on level ${level}`);
    const l = this.levels[level]!;
    if (l.compression === 'none' && data.length !== l.tileWidth * l.tileHeight * (l.bands ?? 3))
      throw new RangeError(
        `raw tile ${index} has ${data.length} bytes, expected ${l.tileWidth * l.tileHeight * (l.bands ?? 3)}`,
      );
    if (this.failed) return Promise.reject(this.failed as Error);
    const seen = key === undefined ? undefined : this.shared.get(key);
    if (seen) {
      offsets[index] = seen.offset;
      this.counts[level]![index] = seen.count;
      return Promise.resolve();
    }
    const at = this.pos;
    // Word-aligned, as the TIFF specification recommends.
    this.pos += data.length + (data.length % 2);
    offsets[index] = at;
    this.counts[level]![index] = data.length;
    if (key !== undefined) this.shared.set(key, { offset: at, count: data.length });
    this.batch.push(data);
    if (data.length % 2) this.batch.push(PAD);
    this.batchBytes += data.length;
    return this.batchBytes >= BATCH_BYTES ? this.flush() : Promise.resolve();
  }

  /** Hands the batch to the file; resolves when it is written (rejects if that or an earlier write failed). */
  private flush(): Promise<void> {
    if (this.batch.length === 0) return this.writes.then(() => this.check());
    const bufs = this.batch;
    const at = this.batchAt;
    this.batch = [];
    this.batchAt = this.pos;
    this.batchBytes = 0;
    const w = this.writes.then(() => this.fh.writev(bufs, at));
    this.writes = w.catch((e: unknown) => {
      this.failed ??= e;
    });
    return this.writes.then(() => this.check());
  }

  private check(): void {
    if (this.failed) throw this.failed;
  }

  /** Whether a tile with this key was put: another tile with the key is then stored at no cost. */
  has(key: string): boolean {
    return this.shared.has(key);
  }

  /** Writes the directories, flushes and closes the file; every tile must have been put. */
  async finish(): Promise<void> {
    try {
      await this.flush();
      this.levels.forEach((l, k) => {
        const missing = this.counts[k]!.findIndex((n) => n === 0);
        if (missing >= 0)
          throw new Error(`tile ${missing} of level ${k} (${l.width}x${l.height}) was never written`);
      });
      let next = 0;
      // Last image first, so each directory can point at the one after it.
      for (let k = this.levels.length - 1; k >= 0; k--) next = await this.writeIfd(k, next);
      const header = Buffer.alloc(16);
      header.write('II', 0, 'latin1');
      header.writeUInt16LE(43, 2);
      header.writeUInt16LE(8, 4);
      header.writeBigUInt64LE(BigInt(next), 8);
      await this.fh.write(header, 0, 16, 0);
      await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  /** Closes the file without finishing it (the caller removes it). */
  async abort(): Promise<void> {
    this.batch = [];
    await this.writes.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
  }

  private async writeIfd(k: number, next: number): Promise<number> {
    const { parts, ifdAt, end } = directory(
      this.levels[k]!,
      k,
      this.offsets[k]!,
      this.counts[k]!,
      this.pos,
      next,
    );
    this.pos = end;
    for (const p of parts) await this.fh.write(p.bytes, 0, p.bytes.length, p.at);
    return ifdAt;
  }
}

/**
 * One image's directory placed at `pos`: the values longer than 8 bytes first, then the directory,
 * which points at `next`. Returns the pieces with their file offsets and where they end.
 */
function directory(
  l: LevelCoding,
  k: number,
  offsets: readonly number[],
  counts: readonly number[],
  pos: number,
  next: number,
): { parts: { at: number; bytes: Buffer }[]; ifdAt: number; end: number } {
  const bands = l.bands ?? 3;
  const entries: Entry[] = [
    long(TAG.NewSubfileType, k === 0 ? 0 : 1),
    long(TAG.ImageWidth, l.width),
    long(TAG.ImageLength, l.height),
    shorts(TAG.BitsPerSample, new Array<number>(bands).fill(8)),
    shorts(TAG.Compression, [l.compression === 'none' ? 1 : 7]),
    shorts(TAG.Photometric, [l.colour === 'rgb' ? 2 : l.colour === 'ycbcr' ? 6 : 1]),
    shorts(TAG.SamplesPerPixel, [bands]),
    shorts(TAG.PlanarConfiguration, [1]),
    long(TAG.TileWidth, l.tileWidth),
    long(TAG.TileLength, l.tileHeight),
    long8s(TAG.TileOffsets, offsets),
    long8s(TAG.TileByteCounts, counts),
    ascii(TAG.Software, 'Tessera'),
  ];
  if (l.description) entries.push(ascii(TAG.ImageDescription, l.description));
  if (l.pixelsPerCm) {
    entries.push(
      rational(TAG.XResolution, l.pixelsPerCm[0]),
      rational(TAG.YResolution, l.pixelsPerCm[1]),
      shorts(TAG.ResolutionUnit, [3]),
    );
  }
  if (l.jpegTables)
    entries.push({
      tag: TAG.JPEGTables,
      type: TYPE.UNDEFINED,
      count: l.jpegTables.length,
      bytes: l.jpegTables,
    });
  if (l.colour === 'ycbcr') entries.push(shorts(TAG.YCbCrSubsampling, l.subsampling ?? [2, 2]));
  entries.sort((a, b) => a.tag - b.tag);

  // Values longer than 8 bytes go before the directory that points at them.
  const external = new Map<Entry, number>();
  const parts: { at: number; bytes: Buffer }[] = [];
  for (const e of entries) {
    if (e.bytes.length <= 8) continue;
    external.set(e, pos);
    parts.push({ at: pos, bytes: e.bytes });
    pos += e.bytes.length + (e.bytes.length % 2);
  }
  const ifdAt = pos;
  const ifd = Buffer.alloc(8 + entries.length * 20 + 8);
  ifd.writeBigUInt64LE(BigInt(entries.length), 0);
  entries.forEach((e, i) => {
    const at = 8 + i * 20;
    ifd.writeUInt16LE(e.tag, at);
    ifd.writeUInt16LE(e.type, at + 2);
    ifd.writeBigUInt64LE(BigInt(e.count), at + 4);
    const ext = external.get(e);
    if (ext === undefined) e.bytes.copy(ifd, at + 12);
    else ifd.writeBigUInt64LE(BigInt(ext), at + 12);
  });
  ifd.writeBigUInt64LE(BigInt(next), 8 + entries.length * 20);
  parts.push({ at: ifdAt, bytes: ifd });
  return { parts, ifdAt, end: pos + ifd.length };
}

/**
 * A single-image tiled BigTIFF in memory around tiles already coded as `coding` says (row-major, one
 * per tile of the grid): how a run of a scanner's JPEG tiles is handed to libvips to be decoded in
 * one call.
 */
export function tiledTiffBuffer(coding: LevelCoding, tiles: readonly Buffer[]): Buffer {
  if (tiles.length !== tilesOf(coding))
    throw new RangeError(`${tiles.length} tiles for a grid of ${tilesOf(coding)}`);
  const offsets: number[] = [];
  const counts: number[] = [];
  let pos = 16;
  for (const t of tiles) {
    offsets.push(pos);
    counts.push(t.length);
    pos += t.length + (t.length % 2);
  }
  const { parts, ifdAt, end } = directory(coding, 0, offsets, counts, pos, 0);
  const out = Buffer.alloc(end);
  out.write('II', 0, 'latin1');
  out.writeUInt16LE(43, 2);
  out.writeUInt16LE(8, 4);
  out.writeBigUInt64LE(BigInt(ifdAt), 8);
  tiles.forEach((t, i) => t.copy(out, offsets[i]));
  for (const p of parts) p.bytes.copy(out, p.at);
  return out;
}

/** Layout of a single tiled image assembled from a reader's own tiles. */
export interface TiledTiffSpec {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  bands: 1 | 3;
  compression: 'none' | 'jpeg';
  photometric: 'rgb' | 'ycbcr' | 'minisblack';
  /** Shared JPEG tables for abbreviated tile streams. */
  jpegTables?: Buffer;
  /** Chroma subsampling of YCbCr JPEG tiles, [horizontal, vertical]; default [2, 2]. */
  ycbcrSubsampling?: [number, number];
}

/** How many tiles may be produced ahead of the one being written (decoding overlaps writing). */
const LOOKAHEAD = 4;

/**
 * A single-image tiled BigTIFF whose tiles come from `getTile(col, row)`, asked for in row-major
 * order a few ahead: memory stays at a few tiles whatever the image size. Raw tiles must be exactly
 * tileWidth x tileHeight x bands bytes (edge tiles padded), as TIFF requires.
 */
export async function writeTiledTiff(
  path: string,
  spec: TiledTiffSpec,
  getTile: (col: number, row: number) => Promise<Buffer>,
  onProgress?: (fraction: number) => void,
): Promise<void> {
  const { width, height, tileWidth, tileHeight } = spec;
  if (!tileFitsImage(width, height, tileWidth, tileHeight)) {
    throw new RangeError(
      `tile ${tileWidth}x${tileHeight} is too large for a ${width}x${height} image (libvips refuses it)`,
    );
  }
  const writer = await TiffWriter.create(path, [
    {
      width,
      height,
      tileWidth,
      tileHeight,
      bands: spec.bands,
      compression: spec.compression,
      colour: spec.photometric === 'minisblack' ? 'grey' : spec.photometric,
      subsampling: spec.ycbcrSubsampling,
      jpegTables: spec.jpegTables ?? null,
    },
  ]);
  const cols = Math.ceil(width / tileWidth);
  const count = cols * Math.ceil(height / tileHeight);
  const pending = new Map<number, Promise<Buffer>>();
  const request = (i: number): void => {
    if (i >= count || pending.has(i)) return;
    const p = getTile(i % cols, Math.floor(i / cols));
    // A tile fetched ahead may fail before it is awaited; the failure is met in order below.
    p.catch(() => undefined);
    pending.set(i, p);
  };
  try {
    for (let i = 0; i < Math.min(LOOKAHEAD, count); i++) request(i);
    for (let i = 0; i < count; i++) {
      request(i + LOOKAHEAD);
      const tile = await pending.get(i)!;
      pending.delete(i);
      await writer.put(0, i, tile);
      onProgress?.((i + 1) / count);
    }
    await writer.finish();
  } catch (e) {
    await Promise.allSettled(pending.values());
    await writer.abort();
    throw e;
  }
}

function tilesOf(l: LevelCoding): number {
  return Math.ceil(l.width / l.tileWidth) * Math.ceil(l.height / l.tileHeight);
}

function long(tag: number, v: number): Entry {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return { tag, type: TYPE.LONG, count: 1, bytes: b };
}

function shorts(tag: number, vs: number[]): Entry {
  const b = Buffer.alloc(vs.length * 2);
  vs.forEach((v, i) => b.writeUInt16LE(v, i * 2));
  return { tag, type: TYPE.SHORT, count: vs.length, bytes: b };
}

function long8s(tag: number, vs: readonly number[]): Entry {
  const b = Buffer.alloc(vs.length * 8);
  vs.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), i * 8));
  return { tag, type: TYPE.LONG8, count: vs.length, bytes: b };
}

function ascii(tag: number, s: string): Entry {
  const b = Buffer.from(`${s}\0`, 'latin1');
  return { tag, type: TYPE.ASCII, count: b.length, bytes: b };
}

/** A positive number as a TIFF RATIONAL with as many decimals as 32 bits hold. */
function rational(tag: number, v: number): Entry {
  if (!(v > 0) || !Number.isFinite(v) || v >= 2 ** 32)
    throw new RangeError(`cannot store ${v} as a rational`);
  let den = 1;
  while (den < 1e6 && Math.round(v * den * 10) < 2 ** 32) den *= 10;
  const b = Buffer.alloc(8);
  b.writeUInt32LE(Math.round(v * den), 0);
  b.writeUInt32LE(den, 4);
  return { tag, type: TYPE.RATIONAL, count: 1, bytes: b };
}
