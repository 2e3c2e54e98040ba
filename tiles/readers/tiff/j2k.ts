import { SlideError } from '../../errors.ts';
import { retile, type RgbTileSource } from './intermediate.ts';
import type { Ifd, TiffFile } from '../../tiff/file.ts';

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned: boolean;
}
interface J2kDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): FrameInfo;
  delete?(): void;
}
interface J2kEncoder {
  getDecodedBuffer(info: FrameInfo & { isUsingColorSpace: boolean }): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete?(): void;
}
/** The parts of @cornerstonejs/codec-openjpeg's embind module used here. */
export interface OpenJpeg {
  J2KDecoder: new () => J2kDecoder;
  J2KEncoder: new () => J2kEncoder;
}

/** Aperio JPEG 2000 whose components are Y, Cb, Cr (33003) rather than R, G, B (33005). */
export const APERIO_J2K_YCBCR = 33003;

// A variable specifier keeps TypeScript from demanding type declarations the package does not ship.
const CODEC_ENTRY = '@cornerstonejs/codec-openjpeg/wasmjs';
let codec: Promise<OpenJpeg> | undefined;

/**
 * The OpenJPEG WebAssembly codec, loaded once. Its '/wasmjs' entry is the WebAssembly build, about 8x
 * faster in Node than the package's default asm.js entry.
 */
export function loadOpenJpeg(): Promise<OpenJpeg> {
  codec ??= (async () => {
    const mod = (await import(CODEC_ENTRY)) as { default: (opts: object) => Promise<OpenJpeg> };
    // The codec logs every header it reads; keep that out of the server log.
    const silent = (): void => undefined;
    return mod.default({ print: silent, printErr: silent });
  })().catch((e: unknown) => {
    codec = undefined;
    throw new SlideError('MISSING_DEPENDENCY', `JPEG 2000 decoder unavailable: ${(e as Error).message}`);
  });
  return codec;
}

/**
 * The J2K codestream inside `bytes`: tiles are usually bare codestreams, but some writers wrap them
 * in a JP2 file whose 'jp2c' box holds the codestream.
 */
function codestream(bytes: Buffer): Buffer {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0x4f) return bytes;
  let at = 0;
  while (at + 8 <= bytes.length) {
    let len = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    let header = 8;
    if (len === 1 && at + 16 <= bytes.length) {
      len = Number(bytes.readBigUInt64BE(at + 8));
      header = 16;
    } else if (len === 0) len = bytes.length - at;
    if (type === 'jp2c') return bytes.subarray(at + header, at + len);
    if (len < header) break;
    at += len;
  }
  throw new Error('no JPEG 2000 codestream in tile');
}

/**
 * Components sampled at a lower resolution than the image (XRsiz/YRsiz in the SIZ marker). The
 * decoder interleaves components pixel by pixel and would produce garbage for them.
 */
function hasSubsampledComponents(cs: Buffer): boolean {
  if (cs.length < 42 || cs[2] !== 0xff || cs[3] !== 0x51) return false;
  const count = cs.readUInt16BE(40);
  for (let c = 0; c < count; c++) {
    const at = 42 + c * 3;
    if (at + 2 >= cs.length) break;
    if (cs[at + 1] !== 1 || cs[at + 2] !== 1) return true;
  }
  return false;
}

/**
 * Decode one JPEG 2000 tile into 8-bit RGB of exactly `width` x `height` (a decoded image smaller
 * than that is padded with white). `ycbcr` converts Y/Cb/Cr components with the full-range BT.601
 * matrix, as OpenJPEG's own sYCC conversion (and so OpenSlide) does.
 */
export async function decodeJ2kTile(
  bytes: Buffer,
  width: number,
  height: number,
  ycbcr: boolean,
): Promise<Buffer> {
  const lib = await loadOpenJpeg();
  const cs = codestream(bytes);
  if (hasSubsampledComponents(cs)) {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      'JPEG 2000 tiles with subsampled colour components are not supported',
    );
  }
  // A fresh decoder per tile: after a failed decode a reused one keeps the previous tile's frame.
  const decoder = new lib.J2KDecoder();
  let info: FrameInfo;
  let decoded: Uint8Array;
  try {
    decoder.getEncodedBuffer(cs.length).set(cs);
    decoder.decode();
    info = decoder.getFrameInfo();
    if (info.width === 0 || info.height === 0 || info.componentCount === 0) {
      throw new Error('not a decodable JPEG 2000 codestream');
    }
    if (info.isSigned)
      throw new SlideError('UNSUPPORTED_FORMAT', 'signed JPEG 2000 samples are not supported');
    decoded = Uint8Array.from(decoder.getDecodedBuffer());
  } finally {
    decoder.delete?.();
  }
  const n = info.componentCount;
  const wide = info.bitsPerSample > 8;
  const samples = wide
    ? new Uint16Array(decoded.buffer, decoded.byteOffset, Math.floor(decoded.byteLength / 2))
    : decoded;
  const shift = wide ? info.bitsPerSample - 8 : 0;
  const out = Buffer.alloc(width * height * 3, 255);
  const w = Math.min(width, info.width);
  const h = Math.min(height, info.height);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * info.width + x) * n;
      const d = (y * width + x) * 3;
      const a = (samples[s] ?? 0) >> shift;
      if (n < 3) {
        out[d] = out[d + 1] = out[d + 2] = a;
        continue;
      }
      const b = (samples[s + 1] ?? 0) >> shift;
      const c = (samples[s + 2] ?? 0) >> shift;
      if (ycbcr) {
        out[d] = clamp(a + 1.402 * (c - 128));
        out[d + 1] = clamp(a - 0.344136 * (b - 128) - 0.714136 * (c - 128));
        out[d + 2] = clamp(a + 1.772 * (b - 128));
      } else {
        out[d] = a;
        out[d + 1] = b;
        out[d + 2] = c;
      }
    }
  }
  return out;
}

function clamp(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

/** One full-resolution J2K level as RGB tiles the intermediate writer accepts. */
export async function j2kTileSource(file: TiffFile, ifd: Ifd): Promise<RgbTileSource> {
  const { offsets, byteCounts } = await ifd.chunks();
  const tw = ifd.tileWidth;
  const th = ifd.tileHeight;
  const cols = Math.ceil(ifd.width / tw);
  const ycbcr = ifd.compression === APERIO_J2K_YCBCR;
  const decodeAt = async (col: number, row: number): Promise<Buffer> => {
    const i = row * cols + col;
    const off = offsets[i];
    const len = byteCounts[i];
    if (off === undefined || len === undefined)
      throw new SlideError('CORRUPT_FILE', `${file.name}: tile ${col},${row} missing`);
    // A zero-length tile is what some scanners write for blank areas: show glass (white).
    if (len === 0) return Buffer.alloc(tw * th * 3, 255);
    const bytes = await file.read(off, len, `JPEG 2000 tile ${col},${row}`);
    try {
      return await decodeJ2kTile(bytes, tw, th, ycbcr);
    } catch (e) {
      if (e instanceof SlideError) throw e;
      throw new SlideError(
        'CORRUPT_FILE',
        `${file.name}: JPEG 2000 tile ${col},${row} of ${ifd.label()} cannot be decoded (${(e as Error).message ?? e})`,
        { cause: e },
      );
    }
  };
  return retile(ifd.width, ifd.height, tw, th, decodeAt);
}
