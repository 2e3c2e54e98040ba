/**
 * Builders for small synthetic TIFF files used by the TIFF reader tests (huge headers, truncated
 * data, JPEG 2000 Aperio slides, 16-bit and RGBA images) that no sample slide covers.
 */
import type { SlideSource } from '../types.ts';
import { loadOpenJpeg } from './j2k.ts';
import { TAG } from '../../tiff/file.ts';

export type TagSpec = {
  tag: number;
  type: 'short' | 'long' | 'ascii' | 'rational' | 'undefined';
  values: number[] | string | Buffer;
};

export interface TestIfd {
  width: number;
  height: number;
  /** Tile size; strips of `rowsPerStrip` rows (default: one strip) when absent. */
  tile?: [number, number];
  rowsPerStrip?: number;
  /** Tile or strip payloads, row-major. */
  chunks: Buffer[];
  samplesPerPixel?: number;
  bitsPerSample?: number;
  compression?: number;
  photometric?: number;
  description?: string;
  newSubfileType?: number;
  extra?: TagSpec[];
  subIfds?: TestIfd[];
  /** Write these offsets instead of the real ones (to point data past the end of the file). */
  fakeOffsets?: number[];
}

const TYPE_CODE = { short: 3, long: 4, ascii: 2, rational: 5, undefined: 7 } as const;

function encode(spec: TagSpec): Buffer {
  if (spec.type === 'ascii') return Buffer.from(`${String(spec.values)}\0`, 'latin1');
  if (Buffer.isBuffer(spec.values)) return spec.values;
  const vals = spec.values as number[];
  if (spec.type === 'short') {
    const b = Buffer.alloc(vals.length * 2);
    vals.forEach((v, i) => b.writeUInt16LE(v, i * 2));
    return b;
  }
  if (spec.type === 'rational') {
    const b = Buffer.alloc(vals.length * 8);
    vals.forEach((v, i) => {
      b.writeUInt32LE(Math.round(v * 1000), i * 8);
      b.writeUInt32LE(1000, i * 8 + 4);
    });
    return b;
  }
  const b = Buffer.alloc(vals.length * 4);
  vals.forEach((v, i) => b.writeUInt32LE(v, i * 4));
  return b;
}

function count(spec: TagSpec, bytes: Buffer): number {
  if (spec.type === 'short') return bytes.length / 2;
  if (spec.type === 'long') return bytes.length / 4;
  if (spec.type === 'rational') return bytes.length / 8;
  return bytes.length;
}

/** A classic little-endian TIFF holding `ifds` (and their SubIFDs). */
export function buildTiff(ifds: TestIfd[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x49, 0x49, 42, 0, 0, 0, 0, 0])];
  let pos = 8;
  const append = (b: Buffer): number => {
    if (pos % 2 === 1) {
      parts.push(Buffer.alloc(1));
      pos += 1;
    }
    const at = pos;
    parts.push(b);
    pos += b.length;
    return at;
  };
  const writeIfd = (ifd: TestIfd): number => {
    const subOffsets = (ifd.subIfds ?? []).map(writeIfd);
    const offsets = ifd.chunks.map((c) => append(c));
    const spp = ifd.samplesPerPixel ?? 3;
    const tags: TagSpec[] = [
      { tag: TAG.NewSubfileType, type: 'long', values: [ifd.newSubfileType ?? 0] },
      { tag: TAG.ImageWidth, type: 'long', values: [ifd.width] },
      { tag: TAG.ImageLength, type: 'long', values: [ifd.height] },
      { tag: TAG.BitsPerSample, type: 'short', values: new Array<number>(spp).fill(ifd.bitsPerSample ?? 8) },
      { tag: TAG.Compression, type: 'short', values: [ifd.compression ?? 1] },
      { tag: TAG.Photometric, type: 'short', values: [ifd.photometric ?? (spp >= 3 ? 2 : 1)] },
      { tag: TAG.SamplesPerPixel, type: 'short', values: [spp] },
      { tag: TAG.PlanarConfiguration, type: 'short', values: [1] },
      ...(ifd.extra ?? []),
    ];
    if (ifd.description !== undefined)
      tags.push({ tag: TAG.ImageDescription, type: 'ascii', values: ifd.description });
    const realOffsets = ifd.fakeOffsets ?? offsets;
    const counts = ifd.chunks.map((c) => c.length);
    if (ifd.tile) {
      tags.push(
        { tag: TAG.TileWidth, type: 'long', values: [ifd.tile[0]] },
        { tag: TAG.TileLength, type: 'long', values: [ifd.tile[1]] },
        { tag: TAG.TileOffsets, type: 'long', values: realOffsets },
        { tag: TAG.TileByteCounts, type: 'long', values: counts },
      );
    } else {
      tags.push(
        { tag: TAG.RowsPerStrip, type: 'long', values: [ifd.rowsPerStrip ?? ifd.height] },
        { tag: TAG.StripOffsets, type: 'long', values: realOffsets },
        { tag: TAG.StripByteCounts, type: 'long', values: counts },
      );
    }
    if (subOffsets.length > 0) tags.push({ tag: TAG.SubIFDs, type: 'long', values: subOffsets });
    tags.sort((a, b) => a.tag - b.tag);
    const payloads = tags.map((t) => {
      const bytes = encode(t);
      return { t, bytes, at: bytes.length > 4 ? append(bytes) : -1 };
    });
    const body = Buffer.alloc(2 + tags.length * 12 + 4);
    body.writeUInt16LE(tags.length, 0);
    payloads.forEach(({ t, bytes, at }, i) => {
      const o = 2 + i * 12;
      body.writeUInt16LE(t.tag, o);
      body.writeUInt16LE(TYPE_CODE[t.type], o + 2);
      body.writeUInt32LE(count(t, bytes), o + 4);
      if (at >= 0) body.writeUInt32LE(at, o + 8);
      else bytes.copy(body, o + 8);
    });
    return append(body);
  };
  const mainOffsets = ifds.map(writeIfd);
  const out = Buffer.concat(parts);
  out.writeUInt32LE(mainOffsets[0] ?? 0, 4);
  // Chain the main IFDs: each IFD's last 4 bytes point at the next.
  ifds.forEach((ifd, i) => {
    const at = mainOffsets[i]!;
    const n = out.readUInt16LE(at);
    out.writeUInt32LE(mainOffsets[i + 1] ?? 0, at + 2 + n * 12);
  });
  return out;
}

/** Cut packed pixels (w x h x bands) into row-major tiles of tw x th, padding edges with `pad`. */
export function cutTiles(
  px: Buffer,
  w: number,
  h: number,
  bands: number,
  tw: number,
  th: number,
  pad = 255,
): Buffer[] {
  const out: Buffer[] = [];
  for (let ty = 0; ty < h; ty += th) {
    for (let tx = 0; tx < w; tx += tw) {
      const t = Buffer.alloc(tw * th * bands, pad);
      for (let y = ty; y < Math.min(ty + th, h); y++) {
        const from = (y * w + tx) * bands;
        px.copy(t, (y - ty) * tw * bands, from, from + Math.min(tw, w - tx) * bands);
      }
      out.push(t);
    }
  }
  return out;
}

/** Full-range BT.601 RGB -> YCbCr, the inverse of what Aperio 33003 tiles need. */
export function rgbToYcbcr(rgb: Buffer): Buffer {
  const out = Buffer.alloc(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i]!;
    const g = rgb[i + 1]!;
    const b = rgb[i + 2]!;
    const c = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));
    out[i] = c(0.299 * r + 0.587 * g + 0.114 * b);
    out[i + 1] = c(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
    out[i + 2] = c(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
  }
  return out;
}

/** Encode packed 8-bit samples as a J2K codestream (reversible, so tests can expect exact values). */
export async function encodeJ2k(
  pixels: Uint8Array,
  width: number,
  height: number,
  components: 1 | 3,
): Promise<Buffer> {
  const lib = await loadOpenJpeg();
  const enc = new lib.J2KEncoder();
  try {
    const input = enc.getDecodedBuffer({
      width,
      height,
      bitsPerSample: 8,
      componentCount: components,
      isSigned: false,
      isUsingColorSpace: false,
    });
    input.set(pixels);
    enc.encode();
    return Buffer.from(enc.getEncodedBuffer());
  } finally {
    enc.delete?.();
  }
}

/** Mean absolute difference per channel of two packed images of the same size and band count. */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array, bands: number): number[] {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  const sums = new Array<number>(bands).fill(0);
  for (let i = 0; i < a.length; i++) sums[i % bands]! += Math.abs(a[i]! - b[i]!);
  return sums.map((s) => s / (a.length / bands));
}

/** Open `file` with the highest-priority TIFF reader that claims it, as the reader registry does. */
export async function openWithTiffReaders(file: string): Promise<SlideSource> {
  const { probe } = await import('../probe.ts');
  const { tiffReaders } = await import('./index.ts');
  const p = await probe(file);
  const readers = [...tiffReaders].sort((a, b) => b.priority - a.priority);
  for (const r of readers) if (await r.detect(p)) return r.open(p);
  throw new Error(`no TIFF reader claims ${file}`);
}
