/**
 * Byte-level JPEG surgery for pass-through tiles: stored TIFF tiles are abbreviated JPEG streams
 * (no tables) that become complete JPEGs by splicing in the level's JPEGTables, without decoding.
 */

const SOI = Buffer.from([0xff, 0xd8]);

/**
 * Adobe APP14 with transform 0: "the three components are RGB, not YCbCr". Without it a decoder
 * (every browser) takes a 3-component JPEG for YCbCr and an RGB-encoded tile shows magenta / green.
 */
export const ADOBE_RGB = Buffer.from([
  0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00,
]);

/**
 * The bytes that go before a tile's own bytes (minus its SOI): SOI, the Adobe marker when the tile
 * is RGB-encoded, then the tables without their SOI and EOI. Built once per level.
 */
export function jpegPrefix(tables: Buffer | null, rgb: boolean): Buffer {
  const parts: Buffer[] = [SOI];
  if (tables && (tables.length < 4 || tables[0] !== 0xff || tables[1] !== 0xd8)) {
    throw new RangeError('JPEGTables does not start with SOI');
  }
  // Tables the store wrote for a scanner's RGB tiles carry the marker already.
  if (rgb && !(tables && findSegment(tables, [0xee]) >= 0)) parts.push(ADOBE_RGB);
  if (tables) {
    const end =
      tables[tables.length - 2] === 0xff && tables[tables.length - 1] === 0xd9
        ? tables.length - 2
        : tables.length;
    parts.push(tables.subarray(2, end));
  }
  return Buffer.concat(parts);
}

/**
 * Position of the first segment with a marker in `markers` at or after `from`, walking segment
 * lengths (so bytes inside a segment never match), stopping at the scan. -1 when absent.
 */
export function findSegment(jpeg: Buffer, markers: readonly number[], from = 2): number {
  let p = from;
  while (p + 4 <= jpeg.length) {
    if (jpeg[p] !== 0xff) return -1;
    const m = jpeg[p + 1]!;
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if (markers.includes(m)) return p;
    if (m === 0xda || m === 0xd9) return -1;
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      p += 2;
      continue;
    }
    p += 2 + jpeg.readUInt16BE(p + 2);
  }
  return -1;
}

/** Start-of-frame markers of the non-differential Huffman processes libjpeg writes. */
const SOF_MARKERS = [0xc0, 0xc1, 0xc2] as const;

/** The frame size a JPEG declares, or null when there is no frame header before the scan. */
export function frameSize(jpeg: Buffer, from = 2): { width: number; height: number } | null {
  const p = findSegment(jpeg, SOF_MARKERS, from);
  if (p < 0 || p + 9 > jpeg.length) return null;
  return { height: jpeg.readUInt16BE(p + 5), width: jpeg.readUInt16BE(p + 7) };
}

/**
 * Lower the frame height in place. Decoders produce exactly the declared lines and ignore the coded
 * rest, so a padded bottom-edge tile is cut to its real height with no decode. (The width cannot be
 * cut this way: the number of MCUs per row would change and the scan would be misread.)
 * Returns false when the stream has no frame header.
 */
export function setFrameHeight(jpeg: Buffer, height: number, from = 2): boolean {
  const p = findSegment(jpeg, SOF_MARKERS, from);
  if (p < 0 || p + 9 > jpeg.length) return false;
  if (height < 1 || height > jpeg.readUInt16BE(p + 5))
    throw new RangeError(`cannot set frame height ${height}`);
  jpeg.writeUInt16BE(height, p + 5);
  return true;
}
