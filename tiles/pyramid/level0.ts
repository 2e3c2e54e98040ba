import sharp, { type Sharp } from 'sharp';
import { SlideError } from '../errors.ts';
import type { ScannerTiles } from '../readers/types.ts';
import { ADOBE_RGB, findSegment } from '../serve/jpeg.ts';
import type { Level0, Level0Tile } from './stream-build.ts';
import { TileEncoder } from './tile-encoder.ts';

/** Decoded tiles kept by key: a scanner's blank tile, stored once, is decoded once. */
const DECODED_KEPT = 16;

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

/** Decoded pixels as exactly T x T x 3 (a smaller frame padded, a larger one cut). */
async function rgbTile(input: Sharp, T: number): Promise<Buffer> {
  const { data, info } = await input
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.width === T && info.height === T && info.channels === 3) return data;
  const out = Buffer.alloc(T * T * 3, 255);
  const w = Math.min(T, info.width);
  for (let y = 0; y < Math.min(T, info.height); y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * info.width + x) * info.channels;
      const d = (y * T + x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return out;
}

/** Level 0 as the scanner's tiles, kept byte for byte; decoded only to make the levels below. */
export function scannerLevel0(st: ScannerTiles, width: number, height: number, name: string): Level0 {
  const T = st.tileSize;
  const decoded = new Map<string, Promise<Buffer>>();
  const decode = (bytes: Buffer, key: string, col: number, row: number): Promise<Buffer> => {
    const kept = decoded.get(key);
    if (kept) return kept;
    const p = rgbTile(sharp(completeJpeg(bytes, st.tables, st.colour)), T).catch((e: unknown) => {
      throw new SlideError(
        'CORRUPT_FILE',
        `${name}: JPEG tile ${col},${row} cannot be decoded: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
        { cause: e },
      );
    });
    decoded.set(key, p);
    if (decoded.size > DECODED_KEPT) decoded.delete(decoded.keys().next().value!);
    return p;
  };
  return {
    width,
    height,
    tileSize: T,
    scanner: true,
    colour: st.colour,
    subsampling: st.subsampling,
    jpegTables: explicitTables(st.tables, st.colour),
    async tile(col, row): Promise<Level0Tile> {
      const { bytes, key } = await st.tile(col, row);
      return { stored: bytes, key, rgb: await decode(bytes, key, col, row) };
    },
  };
}

/** Level 0 encoded from decoded pixels (a source whose tiles cannot be kept), a tile at a time. */
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
    async tile(col, row): Promise<Level0Tile> {
      const left = col * T;
      const top = row * T;
      const region = image
        .clone()
        .extract({ left, top, width: Math.min(T, width - left), height: Math.min(T, height - top) });
      const rgb = await rgbTile(region, T);
      return { stored: await encoder.encode(rgb), rgb };
    },
  };
}
