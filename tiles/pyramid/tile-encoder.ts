import sharp from 'sharp';
import { bufferReader, readTiffIndex, tileLocation } from '../tiff/pyramid-index.ts';

/** How a level's tiles are coded, as its TIFF directory declares it. */
export interface TileCoding {
  colour: 'rgb' | 'ycbcr';
  subsampling: [number, number];
  /** Tables shared by every tile of the level (a tables-only JPEG stream). */
  jpegTables: Buffer | null;
}

/** The tiles, tables and coding of a single-image tiled JPEG TIFF, as libvips writes one to a buffer. */
export async function tiffTiles(tiff: Buffer): Promise<TileCoding & { tiles: Buffer[] }> {
  const [level] = (await readTiffIndex(bufferReader(tiff), 'encoded tile')).levels;
  if (!level) throw new Error('libvips wrote no image');
  const tiles: Buffer[] = [];
  for (let i = 0; i < level.tilesX * level.tilesY; i++) {
    const { offset, length } = tileLocation(level, i % level.tilesX, Math.floor(i / level.tilesX));
    // Views, not copies: the tiles are written soon, and the block's TIFF freed with them.
    tiles.push(tiff.subarray(offset, offset + length));
  }
  const rgb = level.photometric === 2;
  return {
    colour: rgb ? 'rgb' : 'ycbcr',
    subsampling: rgb ? [1, 1] : level.ycbcrSubsampling,
    jpegTables: level.jpegTables ? Buffer.from(level.jpegTables) : null,
    tiles,
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
    const probe = await encodeTiff(
      Buffer.alloc(tileSize * tileSize * 3, 255),
      tileSize,
      tileSize,
      tileSize,
      quality,
    );
    const t = await tiffTiles(probe);
    return new TileEncoder(tileSize, quality, {
      colour: t.colour,
      subsampling: t.subsampling,
      jpegTables: t.jpegTables,
    });
  }

  /** One tile (tileSize x tileSize x 3 RGB) as a stream for a level coded as `coding` says. */
  async encode(rgb: Buffer): Promise<Buffer> {
    const [tile] = await this.encodeBlock(rgb, 1, 1);
    return tile!;
  }

  /**
   * A block of cols x rows tiles (cols·T x rows·T x 3 RGB) in one libvips call, its tiles row-major:
   * one pipeline per block instead of one per tile.
   */
  async encodeBlock(rgb: Buffer, cols: number, rows: number): Promise<Buffer[]> {
    const T = this.tileSize;
    const t = await tiffTiles(await encodeTiff(rgb, cols * T, rows * T, T, this.quality));
    if (t.tiles.length !== cols * rows || t.colour !== this.coding.colour)
      throw new Error('libvips coded a block unlike the level');
    if (sameBytes(t.jpegTables, this.coding.jpegTables)) return t.tiles;
    // Tables of their own: each tile carries them (a complete stream overrides the level's tables).
    return t.tiles.map((tile) => withOwnTables(tile, t.jpegTables));
  }
}

function encodeTiff(rgb: Buffer, width: number, height: number, T: number, quality: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 }, limitInputPixels: false })
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
