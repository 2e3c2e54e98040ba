import { open, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { SlideError } from '../../errors.ts';
import type { WsiInstance } from './instance.ts';

/** Open file handles shared by every frame read of one slide; closed with the slide. */
export class FileHandles {
  private readonly handles = new Map<string, Promise<FileHandle>>();

  private get(file: string): Promise<FileHandle> {
    let h = this.handles.get(file);
    if (!h) {
      h = open(file, 'r');
      this.handles.set(file, h);
    }
    return h;
  }

  /** The encoded bytes of one frame (its fragments joined). */
  async frame(inst: WsiInstance, index: number): Promise<Buffer> {
    const parts = inst.frames[index];
    if (!parts) throw new RangeError(`frame ${index} out of range`);
    const fh = await this.get(inst.file);
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (const p of parts) {
      const { bytesRead } = await fh.read(out, at, p.length, p.offset);
      if (bytesRead !== p.length) {
        throw new SlideError(
          'TRUNCATED_FILE',
          `DICOM file ${path.basename(inst.file)} ends inside frame ${index + 1}`,
        );
      }
      at += p.length;
    }
    return out;
  }

  async close(): Promise<void> {
    const all = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(all.map(async (h) => (await h.catch(() => null))?.close()));
  }
}

/** What the header of a JPEG stream says about its colour coding and layout. */
export interface JpegInfo {
  width: number;
  height: number;
  components: number;
  /** Sampling factors of the first component (luma), e.g. [2, 2] for 4:2:0. */
  sampling: [number, number];
  baseline: boolean;
  jfif: boolean;
  adobeTransform: number | null;
  componentIds: number[];
}

/** Read the markers of a JPEG stream up to its first scan; null when it is not a JPEG. */
export function inspectJpeg(buf: Buffer): JpegInfo | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  const info: Partial<JpegInfo> & { jfif: boolean; adobeTransform: number | null } = {
    jfif: false,
    adobeTransform: null,
  };
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) return null;
    const marker = buf[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = buf.readUInt16BE(i + 2);
    const seg = i + 4;
    if (marker === 0xe0 && buf.toString('latin1', seg, seg + 4) === 'JFIF') info.jfif = true;
    if (marker === 0xee && buf.toString('latin1', seg, seg + 5) === 'Adobe' && seg + 11 < buf.length) {
      info.adobeTransform = buf[seg + 11]!;
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (seg + 6 > buf.length) return null;
      info.baseline = marker === 0xc0 || marker === 0xc1;
      info.height = buf.readUInt16BE(seg + 1);
      info.width = buf.readUInt16BE(seg + 3);
      const n = buf[seg + 5]!;
      info.components = n;
      info.componentIds = [];
      for (let k = 0; k < n && seg + 8 + k * 3 <= buf.length; k++) {
        info.componentIds.push(buf[seg + 6 + k * 3]!);
        if (k === 0) {
          const hv = buf[seg + 7]!;
          info.sampling = [hv >> 4, hv & 15];
        }
      }
    }
    if (marker === 0xda) break;
    i = seg + len - 2;
  }
  if (info.width === undefined || info.components === undefined) return null;
  return { sampling: [1, 1], componentIds: [], baseline: false, ...info } as JpegInfo;
}

export type JpegCoding = 'rgb' | 'ycbcr' | 'grey';

/**
 * How the components of a JPEG frame are coded. The stream's own markers win; without any, DICOM's
 * PhotometricInterpretation decides (RGB means untransformed components, as OpenSlide also reads it).
 * Writers exist that label JFIF (YCbCr) frames RGB, hence markers first.
 */
export function jpegCoding(info: JpegInfo, photometric: string): JpegCoding {
  if (info.components === 1) return 'grey';
  if (info.adobeTransform !== null) return info.adobeTransform === 0 ? 'rgb' : 'ycbcr';
  if (info.jfif) return 'ycbcr';
  const [a, b, c] = info.componentIds;
  if (a === 0x52 && b === 0x47 && c === 0x42) return 'rgb';
  return photometric === 'RGB' ? 'rgb' : 'ycbcr';
}

/** Adobe APP14 with transform 0: tells libjpeg the components are RGB, not YCbCr. */
const ADOBE_RGB = Buffer.from([
  0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00,
]);

/**
 * A JPEG frame that any decoder reads with the right colours: RGB-coded frames without a colour marker
 * get an Adobe marker (sent as-is they decode magenta/green).
 */
export function standaloneJpeg(frame: Buffer, photometric: string): Buffer {
  const info = inspectJpeg(frame);
  if (!info || info.components !== 3) return frame;
  if (jpegCoding(info, photometric) !== 'rgb' || info.adobeTransform !== null) return frame;
  const [a, b, c] = info.componentIds;
  if (a === 0x52 && b === 0x47 && c === 0x42) return frame;
  return Buffer.concat([frame.subarray(0, 2), ADOBE_RGB, frame.subarray(2)]);
}

interface J2kDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): {
    width: number;
    height: number;
    bitsPerSample: number;
    componentCount: number;
    isSigned: boolean;
  };
  delete?(): void;
}
interface OpenJpegModule {
  J2KDecoder: new () => J2kDecoder;
}

let openjpeg: Promise<OpenJpegModule> | null = null;

function loadOpenJpeg(): Promise<OpenJpegModule> {
  if (!openjpeg) {
    const require = createRequire(import.meta.url);
    // The wasm build: the default (asm.js) entry is several times slower in Node.
    const factory = require('@cornerstonejs/codec-openjpeg/wasmjs') as (
      opts: object,
    ) => Promise<OpenJpegModule>;
    openjpeg = factory({ print: () => {}, printErr: () => {} });
  }
  return openjpeg;
}

function ycbcrToRgb(data: Uint8Array): void {
  const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let i = 0; i + 2 < data.length; i += 3) {
    const y = data[i]!;
    const cb = data[i + 1]! - 128;
    const cr = data[i + 2]! - 128;
    data[i] = clamp(y + 1.402 * cr);
    data[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    data[i + 2] = clamp(y + 1.772 * cb);
  }
}

/** Grey or planar or YCbCr 8-bit samples to interleaved RGB of exactly width x height. */
function toRgb(
  samples: Uint8Array,
  width: number,
  height: number,
  components: number,
  photometric: string,
  planar: boolean,
): Buffer {
  const n = width * height;
  const out = Buffer.alloc(n * 3);
  if (components === 1) {
    const invert = photometric === 'MONOCHROME1';
    for (let i = 0; i < n; i++) {
      const v = invert ? 255 - samples[i]! : samples[i]!;
      out[i * 3] = v;
      out[i * 3 + 1] = v;
      out[i * 3 + 2] = v;
    }
    return out;
  }
  if (planar) {
    for (let i = 0; i < n; i++) {
      out[i * 3] = samples[i]!;
      out[i * 3 + 1] = samples[n + i]!;
      out[i * 3 + 2] = samples[2 * n + i]!;
    }
  } else {
    out.set(samples.subarray(0, n * 3));
  }
  if (photometric === 'YBR_FULL' || photometric === 'YBR_FULL_422') ycbcrToRgb(out);
  return out;
}

/** Fit decoded RGB to exactly the frame size the instance declares (padding with white). */
async function fitRgb(data: Buffer, width: number, height: number, tw: number, th: number): Promise<Buffer> {
  if (width === tw && height === th) return data;
  const img = sharp(data, { raw: { width, height, channels: 3 } });
  const padded =
    width < tw || height < th
      ? img.extend({
          right: Math.max(0, tw - width),
          bottom: Math.max(0, th - height),
          background: '#ffffff',
        })
      : img;
  const wide = sharp(await padded.raw().toBuffer(), {
    raw: { width: Math.max(width, tw), height: Math.max(height, th), channels: 3 },
  });
  return wide.extract({ left: 0, top: 0, width: tw, height: th }).raw().toBuffer();
}

/** Decode one frame to interleaved 8-bit RGB of exactly tileWidth x tileHeight. */
export async function decodeFrame(inst: WsiInstance, frame: Buffer): Promise<Buffer> {
  const { tileWidth: tw, tileHeight: th } = inst;
  const name = path.basename(inst.file);
  if (inst.codec === 'native') {
    return toRgb(frame, tw, th, inst.samplesPerPixel, inst.photometric, inst.planarConfiguration === 1);
  }
  if (inst.codec === 'jpeg') {
    try {
      const { data, info } = await sharp(standaloneJpeg(frame, inst.photometric))
        .removeAlpha()
        .toColourspace('srgb')
        .raw()
        .toBuffer({ resolveWithObject: true });
      return await fitRgb(data, info.width, info.height, tw, th);
    } catch (e) {
      throw new SlideError('CORRUPT_FILE', `DICOM file ${name}: a JPEG frame does not decode`, { cause: e });
    }
  }
  const m = await loadOpenJpeg();
  const dec = new m.J2KDecoder();
  try {
    dec.getEncodedBuffer(frame.length).set(frame);
    try {
      dec.decode();
    } catch (e) {
      throw new SlideError('CORRUPT_FILE', `DICOM file ${name}: a JPEG 2000 frame does not decode`, {
        cause: e,
      });
    }
    const fi = dec.getFrameInfo();
    if (fi.bitsPerSample > 8) {
      throw new SlideError(
        'UNSUPPORTED_FORMAT',
        `DICOM file ${name}: ${fi.bitsPerSample}-bit JPEG 2000 frames are not supported`,
      );
    }
    // YBR_ICT / YBR_RCT are undone inside the codestream; only YBR_FULL needs converting here.
    const rgb = toRgb(
      dec.getDecodedBuffer(),
      fi.width,
      fi.height,
      fi.componentCount,
      inst.photometric,
      false,
    );
    return await fitRgb(rgb, fi.width, fi.height, tw, th);
  } finally {
    dec.delete?.();
  }
}
