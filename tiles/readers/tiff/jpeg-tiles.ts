import sharp from 'sharp';
import { SlideError } from '../../errors.ts';
import { retile, type RgbTileSource } from './intermediate.ts';
import { firstLine } from './source.ts';
import type { ScannerTiles } from '../types.ts';
import { TAG, type Ifd, type TiffFile } from '../../tiff/file.ts';

/**
 * Colour coding of a JPEG stream as libjpeg would infer it: a JFIF marker means YCbCr, an Adobe marker
 * says which; without markers, subsampled chroma only makes sense for YCbCr and component ids 'R','G','B'
 * mean RGB. Null when the stream does not say (Aperio's tiles: ids 0,1,2, no subsampling).
 */
export function jpegDeclaredColour(...streams: Buffer[]): 'ycbcr' | 'rgb' | null {
  let sof: { ids: number[]; sampling: number[] } | null = null;
  for (const s of streams) {
    let at = 2;
    while (at + 4 <= s.length && s[at] === 0xff) {
      const marker = s[at + 1]!;
      if (marker === 0xda || marker === 0xd9) break;
      const len = s.readUInt16BE(at + 2);
      if (marker === 0xe0 && s.toString('latin1', at + 4, at + 8) === 'JFIF') return 'ycbcr';
      if (marker === 0xee && s.toString('latin1', at + 4, at + 9) === 'Adobe' && at + 15 < s.length) {
        return s[at + 15] === 0 ? 'rgb' : 'ycbcr';
      }
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof && at + 10 <= s.length) {
        const n = s[at + 9]!;
        const ids: number[] = [];
        const sampling: number[] = [];
        for (let k = 0; k < n && at + 12 + k * 3 <= s.length; k++) {
          ids.push(s[at + 10 + k * 3]!);
          sampling.push(s[at + 11 + k * 3]!);
        }
        sof = { ids, sampling };
      }
      at += 2 + len;
    }
  }
  if (!sof || sof.ids.length !== 3) return null;
  if (new Set(sof.sampling).size > 1) return 'ycbcr';
  if (sof.ids.join(',') === '82,71,66') return 'rgb';
  return null;
}

/**
 * Whether libtiff would decode this IFD's JPEG tiles in the wrong colour space. libtiff trusts the
 * TIFF's Photometric tag; Bio-Formats (bfconvert, QuPath's OME-TIFF export) writes JFIF YCbCr tiles
 * under Photometric RGB, which libvips then shows pink and teal. (Aperio's RGB tiles carry no marker
 * and are decoded correctly by trusting Photometric RGB.)
 */
export async function jpegColourMismatch(ifd: Ifd): Promise<boolean> {
  if (ifd.compression !== 7 || ifd.photometric !== 2 || ifd.samplesPerPixel < 3) return false;
  const head = await ifd.firstChunkHead();
  if (!head) return false;
  return jpegDeclaredColour(head.bytes, ifd.bytes(TAG.JPEGTables) ?? Buffer.alloc(0)) === 'ycbcr';
}

/** A tile's JPEG stream with the shared tables spliced in (tables without EOI, tile without SOI). */
function withTables(tile: Buffer, tables: Buffer | undefined): Buffer {
  if (!tables || tables.length < 4) return tile;
  return Buffer.concat([tables.subarray(0, tables.length - 2), tile.subarray(2)]);
}

/**
 * The IFD's JPEG tiles (or strips) decoded one by one by libjpeg, which reads the colour coding from
 * each stream's own markers, as raw RGB tiles for the intermediate writer.
 */
export async function jpegTileSource(file: TiffFile, ifd: Ifd): Promise<RgbTileSource> {
  const { offsets, byteCounts } = await ifd.chunks();
  const tables = ifd.bytes(TAG.JPEGTables);
  const tw = ifd.tileWidth;
  const th = ifd.tileHeight;
  const cols = Math.ceil(ifd.width / tw);
  const decodeAt = async (col: number, row: number): Promise<Buffer> => {
    const i = row * cols + col;
    const len = byteCounts[i] ?? 0;
    if (len === 0) return Buffer.alloc(tw * th * 3, 255);
    const bytes = await file.read(offsets[i]!, len, `JPEG tile ${col},${row}`);
    try {
      const { data, info } = await sharp(withTables(bytes, tables))
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.width === tw && info.height === th && info.channels === 3) return data;
      const out = Buffer.alloc(tw * th * 3, 255);
      const w = Math.min(tw, info.width);
      for (let y = 0; y < Math.min(th, info.height); y++) {
        for (let x = 0; x < w; x++) {
          const s = (y * info.width + x) * info.channels;
          const d = (y * tw + x) * 3;
          out[d] = data[s]!;
          out[d + 1] = data[s + 1]!;
          out[d + 2] = data[s + 2]!;
        }
      }
      return out;
    } catch (e) {
      throw new SlideError(
        'CORRUPT_FILE',
        `${file.name}: JPEG tile ${col},${row} of ${ifd.label()} cannot be decoded: ${firstLine(e)}`,
        {
          cause: e,
        },
      );
    }
  };
  return retile(ifd.width, ifd.height, tw, th, decodeAt);
}

/** Tile sides the store keeps as the scanner wrote them. */
export const SCANNER_TILE_SIDES = { min: 128, max: 2048, multiple: 16 } as const;

/** Sampling factors [h, v] of the first component of a stream's frame header, or null. */
export function lumaSampling(...streams: Buffer[]): [number, number] | null {
  for (const s of streams) {
    let at = 2;
    while (at + 4 <= s.length && s[at] === 0xff) {
      const marker = s[at + 1]!;
      if (marker === 0xda || marker === 0xd9) break;
      const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isSof && at + 12 <= s.length) {
        const f = s[at + 11]!;
        return [f >> 4, f & 15];
      }
      at += 2 + s.readUInt16BE(at + 2);
    }
  }
  return null;
}

/**
 * Level 0's JPEG tiles as the scanner stored them, when the store can keep them: baseline 8-bit
 * 3-sample JPEG, contiguous planes, square tiles of a side from 128 to 2048 that is a multiple of 16,
 * no tile missing. How the streams code colour is read from their markers, else from the Photometric
 * tag (Aperio's RGB tiles carry no marker).
 */
export async function scannerTilesOf(file: TiffFile, ifd: Ifd): Promise<ScannerTiles | null> {
  const side = ifd.tileWidth;
  if (ifd.compression !== 7 || !ifd.tiled || ifd.tileHeight !== side) return null;
  if (side < SCANNER_TILE_SIDES.min || side > SCANNER_TILE_SIDES.max || side % SCANNER_TILE_SIDES.multiple)
    return null;
  if (ifd.samplesPerPixel !== 3 || ifd.bitsPerSample !== 8) return null;
  if ((ifd.num(TAG.PlanarConfiguration) ?? 1) !== 1) return null;
  const { offsets, byteCounts } = await ifd.chunks();
  // An empty tile anywhere: not a scanner's complete grid (includes: no callback per tile).
  if (byteCounts.includes(0)) return null;
  const tables = ifd.bytes(TAG.JPEGTables) ?? null;
  const head = await ifd.firstChunkHead();
  if (head?.index !== 0) return null;
  const first = head.bytes;
  if (first[0] !== 0xff || first[1] !== 0xd8) return null;
  const declared = jpegDeclaredColour(first, tables ?? Buffer.alloc(0));
  const colour = declared ?? (ifd.photometric === 2 ? 'rgb' : ifd.photometric === 6 ? 'ycbcr' : null);
  if (!colour) return null;
  const sampling = lumaSampling(first, tables ?? Buffer.alloc(0)) ?? [1, 1];
  const cols = Math.ceil(ifd.width / side);
  const tile = async (col: number, row: number): Promise<{ bytes: Buffer; key: string }> => {
    const i = row * cols + col;
    const bytes = await file.read(offsets[i]!, byteCounts[i]!, `JPEG tile ${col},${row} of ${ifd.label()}`);
    return { bytes, key: `${offsets[i]}:${byteCounts[i]}` };
  };
  return {
    tileSize: side,
    colour,
    subsampling: colour === 'rgb' ? [1, 1] : sampling,
    tables: tables && tables.length >= 4 ? tables : null,
    tile,
    async tiles(col0, row0, n, rows) {
      const out: { bytes: Buffer; key: string }[] = [];
      for (let row = row0; row < row0 + rows; row++) {
        const first = row * cols + col0;
        let start = Infinity;
        let end = 0;
        let sum = 0;
        for (let i = first; i < first + n; i++) {
          start = Math.min(start, offsets[i]!);
          end = Math.max(end, offsets[i]! + byteCounts[i]!);
          sum += byteCounts[i]!;
        }
        // One read for the row when its tiles lie together (as writers lay them out), each tile
        // apart when they are scattered; a read per tile cost a fifth of the main thread's time.
        if (end - start > 2 * sum + 65_536) {
          for (let c = col0; c < col0 + n; c++) out.push(await tile(c, row));
          continue;
        }
        const span = await file.read(
          start,
          end - start,
          `JPEG tiles ${col0}-${col0 + n - 1},${row} of ${ifd.label()}`,
        );
        for (let i = first; i < first + n; i++)
          out.push({
            bytes: span.subarray(offsets[i]! - start, offsets[i]! - start + byteCounts[i]!),
            key: `${offsets[i]}:${byteCounts[i]}`,
          });
      }
      return out;
    },
  };
}
