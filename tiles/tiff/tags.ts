/** TIFF tag numbers: the one table the readers, the stored-pyramid index and the writer use. */
export const TAG = {
  NewSubfileType: 254,
  ImageWidth: 256,
  ImageLength: 257,
  BitsPerSample: 258,
  Compression: 259,
  Photometric: 262,
  ImageDescription: 270,
  Make: 271,
  Model: 272,
  StripOffsets: 273,
  SamplesPerPixel: 277,
  RowsPerStrip: 278,
  StripByteCounts: 279,
  XResolution: 282,
  YResolution: 283,
  PlanarConfiguration: 284,
  ResolutionUnit: 296,
  Software: 305,
  DateTime: 306,
  Predictor: 317,
  TileWidth: 322,
  TileLength: 323,
  TileOffsets: 324,
  TileByteCounts: 325,
  SubIFDs: 330,
  ExtraSamples: 338,
  SampleFormat: 339,
  JPEGTables: 347,
  YCbCrSubsampling: 530,
  XMP: 700,
  NdpiFormatFlag: 65420,
} as const;

/** TIFF field types the writer uses. */
export const TYPE = { BYTE: 1, ASCII: 2, SHORT: 3, LONG: 4, RATIONAL: 5, UNDEFINED: 7, LONG8: 16 } as const;

/** A decoded tag value: numbers for numeric types, text for ASCII, bytes for UNDEFINED. */
export type TagValue = number[] | string | Buffer | NumTable;

/**
 * A tile or strip table (offsets, byte counts), always a Float64Array (see unsignedTable). A large
 * slide's tables hold hundreds of thousands of values, read while an upload's first tile waits.
 */
export type NumTable = Float64Array;

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes per value of each TIFF field type. */
export const TYPE_SIZE: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 4,
  5: 8,
  6: 1,
  7: 1,
  8: 2,
  9: 4,
  10: 8,
  11: 4,
  12: 8,
  13: 4,
  16: 8,
  17: 8,
  18: 8,
};

/** Decode a tag's value bytes: numbers for numeric types, text for ASCII, bytes for UNDEFINED. */
export function decodeTagValue(buf: Buffer, type: number, count: number, littleEndian: boolean): TagValue {
  switch (type) {
    case 2: {
      const end = buf.indexOf(0);
      return buf.subarray(0, end < 0 ? buf.length : end).toString('utf8');
    }
    case 7:
      return Buffer.from(buf);
    case 1:
      return Array.from(buf.subarray(0, count));
    case 6:
      return Array.from(buf.subarray(0, count), (b) => (b << 24) >> 24);
    case 3:
      return unsigned(buf, 2, count, littleEndian);
    case 4:
    case 13:
      return unsigned(buf, 4, count, littleEndian);
    case 16:
    case 18:
      return unsigned(buf, 8, count, littleEndian);
  }
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    switch (type) {
      case 8:
        out[i] = littleEndian ? buf.readInt16LE(i * 2) : buf.readInt16BE(i * 2);
        break;
      case 9:
        out[i] = littleEndian ? buf.readInt32LE(i * 4) : buf.readInt32BE(i * 4);
        break;
      case 5: {
        const den = u32(buf, i * 8 + 4, littleEndian);
        out[i] = den === 0 ? 0 : u32(buf, i * 8, littleEndian) / den;
        break;
      }
      case 10: {
        const num = littleEndian ? buf.readInt32LE(i * 8) : buf.readInt32BE(i * 8);
        const den = littleEndian ? buf.readInt32LE(i * 8 + 4) : buf.readInt32BE(i * 8 + 4);
        out[i] = den === 0 ? 0 : num / den;
        break;
      }
      case 11:
        out[i] = littleEndian ? buf.readFloatLE(i * 4) : buf.readFloatBE(i * 4);
        break;
      case 12:
        out[i] = littleEndian ? buf.readDoubleLE(i * 8) : buf.readDoubleBE(i * 8);
        break;
      case 17:
        out[i] = Number(littleEndian ? buf.readBigInt64LE(i * 8) : buf.readBigInt64BE(i * 8));
        break;
      default:
        out[i] = Number(littleEndian ? buf.readBigUInt64LE(i * 8) : buf.readBigUInt64BE(i * 8));
    }
  }
  return out;
}

/**
 * Unsigned integers of 2, 4 or 8 bytes in one tight loop: the tile offset and byte count tables of a
 * large slide hold hundreds of thousands of them, read while an upload's first tile waits. 8-byte
 * values are taken as two 32-bit halves (exact up to 2^53, as Number(BigInt) would round above).
 */
function unsigned(buf: Buffer, size: 2 | 4 | 8, count: number, le: boolean): number[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, count * size);
  const out = new Array<number>(count);
  if (size === 2) for (let i = 0; i < count; i++) out[i] = dv.getUint16(2 * i, le);
  else if (size === 4) for (let i = 0; i < count; i++) out[i] = dv.getUint32(4 * i, le);
  else if (le)
    for (let i = 0; i < count; i++)
      out[i] = dv.getUint32(8 * i, true) + dv.getUint32(8 * i + 4, true) * 2 ** 32;
  else
    for (let i = 0; i < count; i++)
      out[i] = dv.getUint32(8 * i + 4, false) + dv.getUint32(8 * i, false) * 2 ** 32;
  return out;
}

/**
 * Unsigned integers of type SHORT, LONG, IFD, LONG8 or IFD8 as a Float64Array: 2- and 4-byte values by
 * one copy (and one native byte swap when the file's order is not the machine's) and one native
 * widening, 8-byte ones as two 32-bit halves (exact up to 2^53). No JS value per entry: a
 * 300,000-entry table is ~1 ms, where an array of numbers took ~20 ms and its garbage collection as
 * much again. Always Float64Array, whatever the type: the loops over tile tables then meet one kind of
 * array and stay compiled for it (libvips writes LONG8 offsets beside LONG byte counts; a loop
 * compiled for two Float64Arrays fell back to the interpreter on meeting them: 2-3 ms instead of 0.1
 * over 47,000 tiles). Null for other types.
 */
export function unsignedTable(
  buf: Buffer,
  type: number,
  count: number,
  littleEndian: boolean,
): Float64Array | null {
  const size = type === 3 ? 2 : type === 4 || type === 13 ? 4 : type === 16 || type === 18 ? 8 : 0;
  if (size === 0 || buf.length < size * count) return null;
  // A copy on an aligned buffer of its own (a read's bytes may sit at any offset of a pool).
  const raw = new ArrayBuffer(size * count);
  const bytes = Buffer.from(raw);
  buf.copy(bytes, 0, 0, size * count);
  if (littleEndian !== HOST_LE) {
    if (size === 2) bytes.swap16();
    else if (size === 4) bytes.swap32();
    else bytes.swap64();
  }
  if (size === 2) return new Float64Array(new Uint16Array(raw));
  if (size === 4) return new Float64Array(new Uint32Array(raw));
  const halves = new Uint32Array(raw);
  const out = new Float64Array(count);
  const [lo, hi] = HOST_LE ? [0, 1] : [1, 0];
  for (let i = 0; i < count; i++) out[i] = halves[2 * i + lo]! + halves[2 * i + hi]! * 2 ** 32;
  return out;
}

function u32(b: Buffer, at: number, le: boolean): number {
  return le ? b.readUInt32LE(at) : b.readUInt32BE(at);
}

/** Byte order and flavour from the first bytes, or null when they are not a TIFF header. */
export function tiffKind(head: Buffer): { littleEndian: boolean; bigTiff: boolean } | null {
  if (head.length < 4) return null;
  const order = head.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const littleEndian = order === 'II';
  const magic = littleEndian ? head.readUInt16LE(2) : head.readUInt16BE(2);
  if (magic === 42) return { littleEndian, bigTiff: false };
  if (magic === 43) return { littleEndian, bigTiff: true };
  return null;
}
