import { type FileHandle, open } from 'node:fs/promises';

/** How one level's JPEG tiles are coded, as its IFD declares it. */
export interface LevelCoding {
  width: number;
  height: number;
  tileSize: number;
  /** 'rgb': the JPEG components are R, G, B (Photometric 2); 'ycbcr': Y, Cb, Cr (Photometric 6). */
  colour: 'rgb' | 'ycbcr';
  /** Chroma subsampling of YCbCr tiles [horizontal, vertical]. */
  subsampling?: [number, number];
  /** Shared tables (a tables-only JPEG stream) for abbreviated tile streams; none when every tile is complete. */
  jpegTables?: Buffer | null;
  /** ImageDescription of this level. */
  description?: string;
  /** Pixels per centimetre, [x, y]; omitted when the pixel size is unknown. */
  pixelsPerCm?: [number, number] | null;
}

const TYPE = { ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, UNDEFINED: 7, LONG8: 16 } as const;

interface Entry {
  tag: number;
  type: number;
  count: number;
  bytes: Buffer;
}

/**
 * A pyramidal BigTIFF written as its tiles arrive, in any order: every tile is appended where the
 * file ends, the directories (one per level, full resolution first, in one chain as libvips,
 * OpenSlide and tifffile expect) go at the end. Tiles with the same key (a scanner stores a blank
 * tile once and points many tiles at it) are written once and shared. Nothing limits the image size
 * but TIFF's own 2^32 px a side.
 */
export class PyramidWriter {
  private pos = 16;
  private writes: Promise<unknown> = Promise.resolve();
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

  static async create(path: string, levels: readonly LevelCoding[]): Promise<PyramidWriter> {
    for (const l of levels) {
      if (!Number.isInteger(l.tileSize) || l.tileSize % 16 !== 0 || l.tileSize < 16) {
        throw new RangeError(`TIFF tile size must be a positive multiple of 16, got ${l.tileSize}`);
      }
    }
    const fh = await open(path, 'w');
    return new PyramidWriter(fh, levels);
  }

  /** Queue tile `index` (row-major) of `level`; resolves when its bytes are written. */
  put(level: number, index: number, data: Buffer, key?: string): Promise<void> {
    const offsets = this.offsets[level];
    if (!offsets || index < 0 || index >= offsets.length)
      throw new RangeError(`no tile ${index} on level ${level}`);
    const seen = key === undefined ? undefined : this.shared.get(key);
    if (seen) {
      offsets[index] = seen.offset;
      this.counts[level]![index] = seen.count;
      return this.writes.then(() => undefined);
    }
    const at = this.pos;
    // Word-aligned, as the TIFF specification recommends.
    this.pos += data.length + (data.length % 2);
    offsets[index] = at;
    this.counts[level]![index] = data.length;
    if (key !== undefined) this.shared.set(key, { offset: at, count: data.length });
    const w = this.writes.then(() => this.fh.write(data, 0, data.length, at));
    this.writes = w.catch((e: unknown) => {
      this.failed ??= e;
    });
    return w.then(() => undefined);
  }

  /** Writes the directories and closes the file; every tile must have been put. */
  async finish(): Promise<void> {
    try {
      await this.writes;
      if (this.failed) throw this.failed;
      this.levels.forEach((l, k) => {
        const missing = this.counts[k]!.findIndex((n) => n === 0);
        if (missing >= 0)
          throw new Error(`tile ${missing} of level ${k} (${l.width}x${l.height}) was never written`);
      });
      let next = 0;
      // Last level first, so each directory can point at the one after it.
      for (let k = this.levels.length - 1; k >= 0; k--) next = await this.writeIfd(k, next);
      const first = Buffer.alloc(16);
      first.write('II', 0, 'latin1');
      first.writeUInt16LE(43, 2);
      first.writeUInt16LE(8, 4);
      first.writeBigUInt64LE(BigInt(next), 8);
      await this.fh.write(first, 0, 16, 0);
      await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  /** Closes the file without finishing it (the caller removes it). */
  async abort(): Promise<void> {
    await this.writes.catch(() => undefined);
    await this.fh.close().catch(() => undefined);
  }

  private async writeIfd(k: number, next: number): Promise<number> {
    const l = this.levels[k]!;
    const entries: Entry[] = [
      long(254, k === 0 ? 0 : 1),
      long(256, l.width),
      long(257, l.height),
      shorts(258, [8, 8, 8]),
      shorts(259, [7]),
      shorts(262, [l.colour === 'rgb' ? 2 : 6]),
      shorts(277, [3]),
      shorts(284, [1]),
      long(322, l.tileSize),
      long(323, l.tileSize),
      long8s(324, this.offsets[k]!),
      long8s(325, this.counts[k]!),
    ];
    if (l.description) entries.push(ascii(270, l.description));
    if (l.pixelsPerCm) {
      entries.push(rational(282, l.pixelsPerCm[0]), rational(283, l.pixelsPerCm[1]), shorts(296, [3]));
    }
    entries.push(ascii(305, 'Tessera'));
    if (l.jpegTables)
      entries.push({ tag: 347, type: TYPE.UNDEFINED, count: l.jpegTables.length, bytes: l.jpegTables });
    if (l.colour === 'ycbcr') entries.push(shorts(530, l.subsampling ?? [2, 2]));
    entries.sort((a, b) => a.tag - b.tag);

    // Values longer than 8 bytes go before the directory that points at them.
    const external = new Map<Entry, number>();
    const parts: { at: number; bytes: Buffer }[] = [];
    for (const e of entries) {
      if (e.bytes.length <= 8) continue;
      external.set(e, this.pos);
      parts.push({ at: this.pos, bytes: e.bytes });
      this.pos += e.bytes.length + (e.bytes.length % 2);
    }
    const ifdAt = this.pos;
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
    this.pos += ifd.length;
    for (const p of parts) await this.fh.write(p.bytes, 0, p.bytes.length, p.at);
    return ifdAt;
  }
}

function tilesOf(l: LevelCoding): number {
  return Math.ceil(l.width / l.tileSize) * Math.ceil(l.height / l.tileSize);
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

function long8s(tag: number, vs: number[]): Entry {
  const b = Buffer.alloc(vs.length * 8);
  vs.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), i * 8));
  return { tag, type: TYPE.LONG8, count: vs.length, bytes: b };
}

function ascii(tag: number, s: string): Entry {
  const b = Buffer.from(`${s}\0`, 'latin1');
  return { tag, type: TYPE.ASCII, count: b.length, bytes: b };
}

/** A positive number as a TIFF RATIONAL with as many decimals as 32 bits hold. */
export function rational(tag: number, v: number): Entry {
  if (!(v > 0) || !Number.isFinite(v) || v >= 2 ** 32)
    throw new RangeError(`cannot store ${v} as a rational`);
  let den = 1;
  while (den < 1e6 && Math.round(v * den * 10) < 2 ** 32) den *= 10;
  const b = Buffer.alloc(8);
  b.writeUInt32LE(Math.round(v * den), 0);
  b.writeUInt32LE(den, 4);
  return { tag, type: TYPE.RATIONAL, count: 1, bytes: b };
}
