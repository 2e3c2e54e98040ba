import sharp from 'sharp';
import { TAG, TYPE_SIZE, decodeTagValue, tiffKind } from '../readers/tiff/tiff-tags.ts';

/** How a level's tiles are coded, as its TIFF directory declares it. */
export interface TileCoding {
  colour: 'rgb' | 'ycbcr';
  subsampling: [number, number];
  /** Tables shared by every tile of the level (a tables-only JPEG stream). */
  jpegTables: Buffer | null;
}

/** The tiles, tables and coding of a single-directory tiled TIFF as libvips writes one to a buffer. */
export function tiffTiles(tiff: Buffer): TileCoding & { tiles: Buffer[] } {
  const kind = tiffKind(tiff.subarray(0, 16));
  if (!kind || kind.bigTiff) throw new Error('expected a classic TIFF');
  const le = kind.littleEndian;
  const u16 = (at: number): number => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number): number => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  const n = u16(ifd);
  const tags = new Map<number, ReturnType<typeof decodeTagValue>>();
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + i * 12;
    const type = u16(e + 2);
    const count = u32(e + 4);
    const size = TYPE_SIZE[type] ?? 4;
    const at = size * count <= 4 ? e + 8 : u32(e + 8);
    tags.set(u16(e), decodeTagValue(tiff.subarray(at, at + size * count), type, count, le));
  }
  const nums = (tag: number): number[] => {
    const v = tags.get(tag);
    return Array.isArray(v) ? v : [];
  };
  const offsets = nums(TAG.TileOffsets);
  const counts = nums(TAG.TileByteCounts);
  const tables = tags.get(TAG.JPEGTables);
  const photometric = nums(TAG.Photometric)[0];
  const sub = nums(530);
  return {
    colour: photometric === 2 ? 'rgb' : 'ycbcr',
    subsampling: photometric === 2 ? [1, 1] : [sub[0] ?? 2, sub[1] ?? 2],
    jpegTables: Buffer.isBuffer(tables) ? Buffer.from(tables) : null,
    tiles: offsets.map((o, i) => Buffer.from(tiff.subarray(o, o + counts[i]!))),
  };
}

/**
 * Encodes tiles the way libvips codes a tiled JPEG TIFF (the coding this store has always used: R,
 * G, B components at quality 90 and above, so the stored pixels lose nothing to a colour
 * conversion; YCbCr below), each tile an abbreviated stream under the level's shared tables.
 */
export class TileEncoder {
  private constructor(
    readonly tileSize: number,
    readonly quality: number,
    readonly coding: TileCoding,
  ) {}

  static async create(tileSize: number, quality: number): Promise<TileEncoder> {
    const probe = await encodeTiff(Buffer.alloc(tileSize * tileSize * 3, 255), tileSize, quality);
    const t = tiffTiles(probe);
    return new TileEncoder(tileSize, quality, {
      colour: t.colour,
      subsampling: t.subsampling,
      jpegTables: t.jpegTables,
    });
  }

  /** One tile (tileSize x tileSize x 3 RGB) as a stream for a level coded as `coding` says. */
  async encode(rgb: Buffer): Promise<Buffer> {
    const t = tiffTiles(await encodeTiff(rgb, this.tileSize, this.quality));
    const tile = t.tiles[0];
    if (!tile || t.colour !== this.coding.colour) throw new Error('libvips coded a tile unlike the level');
    if (sameBytes(t.jpegTables, this.coding.jpegTables)) return tile;
    // Tables of its own: the tile carries them (a complete stream overrides the level's tables).
    return withOwnTables(tile, t.jpegTables);
  }
}

function encodeTiff(rgb: Buffer, T: number, quality: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width: T, height: T, channels: 3 } })
    .tiff({ compression: 'jpeg', quality, tile: true, tileWidth: T, tileHeight: T })
    .toBuffer();
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === b || (a !== null && b !== null && a.equals(b));
}

function withOwnTables(tile: Buffer, tables: Buffer | null): Buffer {
  if (!tables || tables.length < 4) return tile;
  return Buffer.concat([tables.subarray(0, tables.length - 2), tile.subarray(2)]);
}
