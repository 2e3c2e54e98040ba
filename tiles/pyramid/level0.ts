import sharp, { type Sharp } from 'sharp';
import { SlideError } from '../errors.ts';
import type { ScannerTiles } from '../readers/types.ts';
import { ADOBE_RGB, findSegment } from '../serve/jpeg.ts';
import type { Level0, Level0Block, StoredTile } from './stream-build.ts';
import { tiledTiffBuffer } from '../tiff/writer.ts';
import { TileEncoder } from './tile-encoder.ts';

/** The tables (and, for RGB-coded tiles, the Adobe marker that says so) as one tables-only stream. */
export function explicitTables(tables: Buffer | null, colour: 'rgb' | 'ycbcr'): Buffer | null {
  const hasAdobe = (b: Buffer): boolean => findSegment(b, [0xee]) >= 0;
  if (colour !== 'rgb') return tables;
  if (!tables) return null;
  if (hasAdobe(tables)) return tables;
  return Buffer.concat([tables.subarray(0, 2), ADOBE_RGB, tables.subarray(2)]);
}

/**
 * A tile stream made complete for a decoder on its own: SOI, the Adobe marker for RGB-coded tiles
 * that lack one, the shared tables, then the tile after its SOI.
 */
export function completeJpeg(tile: Buffer, tables: Buffer | null, colour: 'rgb' | 'ycbcr'): Buffer {
  const parts: Buffer[] = [tile.subarray(0, 2)];
  if (colour === 'rgb' && findSegment(tile, [0xee]) < 0 && !(tables && findSegment(tables, [0xee]) >= 0))
    parts.push(ADOBE_RGB);
  if (tables) {
    const end =
      tables[tables.length - 2] === 0xff && tables[tables.length - 1] === 0xd9
        ? tables.length - 2
        : tables.length;
    parts.push(tables.subarray(2, end));
  }
  parts.push(tile.subarray(2));
  return Buffer.concat(parts);
}

/** Decoded pixels as exactly w x h x 3 (a smaller frame padded with white, a larger one cut). */
async function rgbOf(input: Sharp, w: number, h: number): Promise<Buffer> {
  const { data, info } = await input
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width === w && info.height === h && info.channels === 3) return data;
  const out = Buffer.alloc(w * h * 3, 255);
  const cw = Math.min(w, info.width);
  for (let y = 0; y < Math.min(h, info.height); y++) {
    for (let x = 0; x < cw; x++) {
      const s = (y * info.width + x) * info.channels;
      const d = (y * w + x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return out;
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e));

/**
 * Level 0 as the scanner's tiles, kept byte for byte; decoded only to make the levels below. A block
 * is decoded in one libvips call, its tiles wrapped in a TIFF of the scanner's own coding.
 */
export function scannerLevel0(st: ScannerTiles, width: number, height: number, name: string): Level0 {
  const T = st.tileSize;
  const tables = explicitTables(st.tables, st.colour);
  const decodeOne = async (t: StoredTile, col: number, row: number): Promise<Buffer> => {
    try {
      return await rgbOf(sharp(completeJpeg(t.stored, st.tables, st.colour)), T, T);
    } catch (e) {
      throw new SlideError(
        'CORRUPT_FILE',
        `${name}: JPEG tile ${col},${row} cannot be decoded: ${firstLine(e)}`,
        {
          cause: e,
        },
      );
    }
  };
  return {
    width,
    height,
    tileSize: T,
    scanner: true,
    colour: st.colour,
    subsampling: st.subsampling,
    jpegTables: tables,
    async block(col0, row0, cols, rows, need): Promise<Level0Block> {
      const tiles: StoredTile[] = [];
      if (st.tiles)
        for (const { bytes, key } of await st.tiles(col0, row0, cols, rows))
          tiles.push({ stored: bytes, key });
      else
        for (let r = row0; r < row0 + rows; r++)
          for (let c = col0; c < col0 + cols; c++) {
            const { bytes, key } = await st.tile(c, r);
            tiles.push({ stored: bytes, key });
          }
      if (!need(tiles)) return { tiles, rgb: null };
      const tiff = tiledTiffBuffer(
        {
          width: cols * T,
          height: rows * T,
          tileWidth: T,
          tileHeight: T,
          colour: st.colour,
          subsampling: st.subsampling,
          jpegTables: tables,
        },
        tiles.map((t) => t.stored),
      );
      try {
        return { tiles, rgb: await rgbOf(sharp(tiff, { limitInputPixels: false }), cols * T, rows * T) };
      } catch {
        // Which tile: each decoded on its own names the first that fails.
        const rgb = Buffer.alloc(cols * T * rows * T * 3);
        for (let i = 0; i < tiles.length; i++) {
          const c = i % cols;
          const r = Math.floor(i / cols);
          const px = await decodeOne(tiles[i]!, col0 + c, row0 + r);
          for (let y = 0; y < T; y++)
            px.copy(rgb, ((r * T + y) * cols * T + c * T) * 3, y * T * 3, (y + 1) * T * 3);
        }
        return { tiles, rgb };
      }
    },
  };
}

/** Level 0 encoded from decoded pixels (a source whose tiles cannot be kept), a block at a time. */
export async function encodedLevel0(
  image: Sharp,
  width: number,
  height: number,
  T: number,
  quality: number,
): Promise<Level0> {
  const encoder = await TileEncoder.create(T, quality);
  return {
    width,
    height,
    tileSize: T,
    scanner: false,
    ...encoder.coding,
    async block(col0, row0, cols, rows, need): Promise<Level0Block> {
      const left = col0 * T;
      const top = row0 * T;
      const region = image.clone().extract({
        left,
        top,
        width: Math.min(cols * T, width - left),
        height: Math.min(rows * T, height - top),
      });
      const rgb = await rgbOf(region, cols * T, rows * T);
      const stored = await encoder.encodeBlock(rgb, cols, rows);
      const tiles = stored.map((b) => ({ stored: b }));
      // Unkeyed tiles: the pixels are always needed, but the builder learns which halves they make.
      need(tiles);
      return { tiles, rgb };
    },
  };
}
