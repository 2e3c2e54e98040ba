import { open } from 'node:fs/promises';

/** Layout of an intermediate tiled TIFF assembled from a reader's own tiles. */
export interface TiledTiffSpec {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  bands: 1 | 3;
  /** 'jpeg': each tile is a JPEG stream (complete, or abbreviated with jpegTables); 'none': raw pixels. */
  compression: 'none' | 'jpeg';
  photometric: 'rgb' | 'ycbcr' | 'minisblack';
  /** Shared JPEG tables (DQT/DHT between SOI and EOI) for abbreviated tile streams. */
  jpegTables?: Buffer;
  /** Chroma subsampling of YCbCr JPEG tiles, [horizontal, vertical]; default [2, 2]. */
  ycbcrSubsampling?: [number, number];
}

/**
 * libvips (8.18) refuses to read a TIFF whose tile side is over 256 and at least 4x the image side
 * ("tile size out of range"); callers pick a smaller tile when this says no.
 */
export function tileFitsImage(width: number, height: number, tw: number, th: number): boolean {
  return (tw <= 256 || tw < 4 * width) && (th <= 256 || th < 4 * height);
}

const TYPE_SHORT = 3;
const TYPE_LONG = 4;
const TYPE_UNDEFINED = 7;
const TYPE_LONG8 = 16;

interface Entry {
  tag: number;
  type: number;
  values: number[] | Buffer;
}

/** How many tiles may be produced ahead of the one being written (decoding overlaps writing). */
const LOOKAHEAD = 4;

/**
 * Write a single-image tiled BigTIFF whose tiles come from `getTile(col, row)`, in row-major order.
 * Tiles are streamed to disk as they arrive, so memory stays at a few tiles whatever the image size;
 * the IFD goes at the end. Raw tiles must be exactly tileWidth * tileHeight * bands bytes (edge tiles
 * padded), as TIFF requires.
 */
export async function writeTiledTiff(
  path: string,
  spec: TiledTiffSpec,
  getTile: (col: number, row: number) => Promise<Buffer>,
  onProgress?: (fraction: number) => void,
): Promise<void> {
  const { width, height, tileWidth, tileHeight, bands } = spec;
  if (tileWidth % 16 !== 0 || tileHeight % 16 !== 0) {
    throw new RangeError(`TIFF tile size must be a multiple of 16, got ${tileWidth}x${tileHeight}`);
  }
  if (!tileFitsImage(width, height, tileWidth, tileHeight)) {
    throw new RangeError(
      `tile ${tileWidth}x${tileHeight} is too large for a ${width}x${height} image (libvips refuses it)`,
    );
  }
  const cols = Math.ceil(width / tileWidth);
  const rows = Math.ceil(height / tileHeight);
  const count = cols * rows;
  const rawTileBytes = tileWidth * tileHeight * bands;
  const offsets: number[] = new Array<number>(count);
  const byteCounts: number[] = new Array<number>(count);

  const fh = await open(path, 'w');
  try {
    const header = Buffer.alloc(16);
    header.write('II', 0, 'latin1');
    header.writeUInt16LE(43, 2);
    header.writeUInt16LE(8, 4);
    header.writeUInt16LE(0, 6);
    await fh.write(header, 0, 16, 0);
    let pos = 16;

    const pending = new Map<number, Promise<Buffer>>();
    const request = (i: number): void => {
      if (i >= count || pending.has(i)) return;
      const p = getTile(i % cols, Math.floor(i / cols));
      // A tile fetched ahead may fail before it is awaited; the failure is met in order below.
      p.catch(() => undefined);
      pending.set(i, p);
    };
    for (let i = 0; i < Math.min(LOOKAHEAD, count); i++) request(i);
    for (let i = 0; i < count; i++) {
      request(i + LOOKAHEAD);
      const p = pending.get(i);
      if (!p) throw new Error(`tile ${i} was not requested`);
      const tile = await p;
      pending.delete(i);
      if (spec.compression === 'none' && tile.length !== rawTileBytes) {
        throw new RangeError(`raw tile ${i} has ${tile.length} bytes, expected ${rawTileBytes}`);
      }
      offsets[i] = pos;
      byteCounts[i] = tile.length;
      await fh.write(tile, 0, tile.length, pos);
      pos += tile.length;
      // Word-align so every tile starts on an even offset, as the TIFF spec recommends.
      if (pos % 2 === 1) {
        await fh.write(Buffer.alloc(1), 0, 1, pos);
        pos += 1;
      }
      onProgress?.((i + 1) / count);
    }

    const entries: Entry[] = [
      { tag: 256, type: TYPE_LONG, values: [width] },
      { tag: 257, type: TYPE_LONG, values: [height] },
      { tag: 258, type: TYPE_SHORT, values: new Array<number>(bands).fill(8) },
      { tag: 259, type: TYPE_SHORT, values: [spec.compression === 'jpeg' ? 7 : 1] },
      {
        tag: 262,
        type: TYPE_SHORT,
        values: [spec.photometric === 'rgb' ? 2 : spec.photometric === 'ycbcr' ? 6 : 1],
      },
      { tag: 277, type: TYPE_SHORT, values: [bands] },
      { tag: 284, type: TYPE_SHORT, values: [1] },
      { tag: 322, type: TYPE_LONG, values: [tileWidth] },
      { tag: 323, type: TYPE_LONG, values: [tileHeight] },
      { tag: 324, type: TYPE_LONG8, values: offsets },
      { tag: 325, type: TYPE_LONG8, values: byteCounts },
    ];
    if (spec.jpegTables) entries.push({ tag: 347, type: TYPE_UNDEFINED, values: spec.jpegTables });
    if (spec.photometric === 'ycbcr') {
      entries.push({ tag: 530, type: TYPE_SHORT, values: spec.ycbcrSubsampling ?? [2, 2] });
    }
    entries.sort((a, b) => a.tag - b.tag);

    // Out-of-line values first, then the IFD that points at them.
    const payloadOffsets = new Map<Entry, number>();
    for (const e of entries) {
      const bytes = encodeValues(e);
      if (bytes.length > 8) {
        if (pos % 2 === 1) pos += 1;
        payloadOffsets.set(e, pos);
        await fh.write(bytes, 0, bytes.length, pos);
        pos += bytes.length;
      }
    }
    if (pos % 2 === 1) pos += 1;
    const ifdOffset = pos;
    const ifd = Buffer.alloc(8 + entries.length * 20 + 8);
    ifd.writeBigUInt64LE(BigInt(entries.length), 0);
    entries.forEach((e, k) => {
      const at = 8 + k * 20;
      const bytes = encodeValues(e);
      ifd.writeUInt16LE(e.tag, at);
      ifd.writeUInt16LE(e.type, at + 2);
      ifd.writeBigUInt64LE(BigInt(Array.isArray(e.values) ? e.values.length : e.values.length), at + 4);
      const external = payloadOffsets.get(e);
      if (external === undefined) bytes.copy(ifd, at + 12);
      else ifd.writeBigUInt64LE(BigInt(external), at + 12);
    });
    // next IFD offset = 0 (already zero)
    await fh.write(ifd, 0, ifd.length, ifdOffset);
    const first = Buffer.alloc(8);
    first.writeBigUInt64LE(BigInt(ifdOffset), 0);
    await fh.write(first, 0, 8, 8);
  } finally {
    await fh.close();
  }
}

function encodeValues(e: Entry): Buffer {
  if (Buffer.isBuffer(e.values)) return e.values;
  const size = e.type === TYPE_SHORT ? 2 : e.type === TYPE_LONG ? 4 : 8;
  const out = Buffer.alloc(e.values.length * size);
  e.values.forEach((v, i) => {
    if (size === 2) out.writeUInt16LE(v, i * 2);
    else if (size === 4) out.writeUInt32LE(v, i * 4);
    else out.writeBigUInt64LE(BigInt(v), i * 8);
  });
  return out;
}
