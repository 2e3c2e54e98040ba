import path from 'node:path';
import sharp from 'sharp';
import { SlideError } from '../../errors.ts';
import { COMPRESSIONS, PIXEL_TYPES, type CziFile, type SubblockEntry } from './file.ts';
import type { CziChannel } from './metadata.ts';

/** Same limits as the other readers: beyond these a conversion cannot finish on any machine we run. */
export const MAX_SLIDE_PIXELS = 2e11;
export const MAX_SLIDE_SIDE = 1e6;

/** Percentiles of each grey channel's histogram that map to 0 and 255. */
const STRETCH_LOW = 0.005;
const STRETCH_HIGH = 0.995;
/** Subblocks sampled per channel to build the histogram: enough for a stable window, cheap on big mosaics. */
const HISTOGRAM_SAMPLES = 32;
/** Decoded subblocks kept for neighbouring output tiles. */
const CACHE_BYTES = 96 * 1024 * 1024;

/** Pixel types rendered; the rest (float, complex, 32-bit) are refused by name. */
const RGB_TYPES = new Set([3, 4, 9]);
const GREY_TYPES = new Set([0, 1]);
/** JPEG subblocks decode to 8-bit grey or RGB, which these pixel types can take. */
const JPEG_TYPES = new Set([0, 1, 3]);

/** Colours for grey channels whose metadata names none, in channel order. */
const DEFAULT_COLOURS: [number, number, number][] = [
  [0, 0, 255],
  [0, 255, 0],
  [255, 0, 0],
  [255, 0, 255],
  [0, 255, 255],
  [255, 255, 0],
  [255, 255, 255],
];

/** A level-0 subblock placed in the mosaic (coordinates relative to the mosaic's top-left). */
export interface PlacedSubblock {
  entry: SubblockEntry;
  x: number;
  y: number;
  width: number;
  height: number;
  channel: number;
  m: number;
  offset: number;
  length: number;
}

/** How one grey channel becomes 8 bits and a colour. */
export interface ChannelWindow {
  channel: number;
  name: string;
  low: number;
  high: number;
  colour: [number, number, number];
}

function dim(
  e: SubblockEntry,
  name: string,
): { start: number; size: number; storedSize: number } | undefined {
  return e.dims.get(name);
}

/**
 * The full-resolution mosaic of a CZI: level-0 subblocks (stored size equal to logical size, i.e.
 * not pyramid subblocks) of the first Z/T/other plane. RGB files show their first RGB channel; grey
 * files show every channel, each contrast-stretched and tinted with its colour, added together.
 */
export class CziMosaic {
  readonly width: number;
  readonly height: number;
  readonly tileWidth: number;
  readonly tileHeight: number;
  readonly mode: 'rgb' | 'grey';
  readonly windows: ChannelWindow[] = [];
  readonly background: number;
  readonly pixelTypeName: string;
  private readonly blocks: PlacedSubblock[];
  private readonly order = new Map<PlacedSubblock, number>();
  private readonly cells = new Map<number, PlacedSubblock[]>();
  private readonly cellSize = 512;
  private readonly cellCols: number;
  private readonly cache = new Map<PlacedSubblock, Promise<Buffer>>();
  private cacheBytes = 0;

  private constructor(
    private readonly czi: CziFile,
    private readonly channels: CziChannel[],
    blocks: PlacedSubblock[],
    box: { width: number; height: number },
    mode: 'rgb' | 'grey',
    pixelTypeName: string,
    background: number,
  ) {
    this.blocks = blocks;
    this.width = box.width;
    this.height = box.height;
    this.mode = mode;
    this.pixelTypeName = pixelTypeName;
    this.background = background;
    this.tileWidth = blocks[0]!.width;
    this.tileHeight = blocks[0]!.height;
    this.cellCols = Math.ceil(this.width / this.cellSize);
    blocks.forEach((b, i) => this.order.set(b, i));
    for (const b of blocks) {
      for (
        let cy = Math.floor(b.y / this.cellSize);
        cy <= Math.floor((b.y + b.height - 1) / this.cellSize);
        cy++
      )
        for (
          let cx = Math.floor(b.x / this.cellSize);
          cx <= Math.floor((b.x + b.width - 1) / this.cellSize);
          cx++
        ) {
          const k = cy * this.cellCols + cx;
          const list = this.cells.get(k);
          if (list) list.push(b);
          else this.cells.set(k, [b]);
        }
    }
  }

  /** Select, validate and locate the subblocks of the full-resolution image. */
  static async build(czi: CziFile, entries: SubblockEntry[], channels: CziChannel[]): Promise<CziMosaic> {
    const name = path.basename(czi.file);
    let level0 = entries.filter((e) => {
      const x = dim(e, 'X');
      const y = dim(e, 'Y');
      return x && y && x.size > 0 && y.size > 0 && x.storedSize === x.size && y.storedSize === y.size;
    });
    if (level0.length === 0)
      throw new SlideError('CORRUPT_FILE', `CZI file ${name} has no full-resolution subblocks`);

    // One plane of every dimension that is not a position or a channel (Z, T, H, R, I, V, B...).
    const others = new Set<string>();
    for (const e of level0)
      for (const k of e.dims.keys()) if (!['X', 'Y', 'C', 'M', 'S'].includes(k)) others.add(k);
    for (const k of others) {
      const first = Math.min(...level0.map((e) => dim(e, k)?.start ?? 0));
      level0 = level0.filter((e) => (dim(e, k)?.start ?? 0) === first);
    }

    const unsupportedType = level0.find((e) => !RGB_TYPES.has(e.pixelType) && !GREY_TYPES.has(e.pixelType));
    if (unsupportedType) {
      const t = PIXEL_TYPES[unsupportedType.pixelType]?.name ?? `pixel type ${unsupportedType.pixelType}`;
      throw new SlideError('UNSUPPORTED_FORMAT', `CZI file ${name}: ${t} pixels are not supported`);
    }
    const rgbBlocks = level0.filter((e) => RGB_TYPES.has(e.pixelType));
    const mode: 'rgb' | 'grey' = rgbBlocks.length > 0 ? 'rgb' : 'grey';
    if (mode === 'rgb') {
      const firstChannel = Math.min(...rgbBlocks.map((e) => dim(e, 'C')?.start ?? 0));
      level0 = rgbBlocks.filter((e) => (dim(e, 'C')?.start ?? 0) === firstChannel);
    }
    const compressed = level0.find(
      (e) => e.compression !== 0 && !(e.compression === 1 && JPEG_TYPES.has(e.pixelType)),
    );
    if (compressed) {
      const what = COMPRESSIONS[compressed.compression] ?? `compression code ${compressed.compression}`;
      const type = PIXEL_TYPES[compressed.pixelType]?.name ?? '';
      throw new SlideError(
        'UNSUPPORTED_FORMAT',
        `CZI file ${name}: ${what} compressed ${type} subblocks are not supported`,
      );
    }

    const minX = Math.min(...level0.map((e) => dim(e, 'X')!.start));
    const minY = Math.min(...level0.map((e) => dim(e, 'Y')!.start));
    const maxX = Math.max(...level0.map((e) => dim(e, 'X')!.start + dim(e, 'X')!.size));
    const maxY = Math.max(...level0.map((e) => dim(e, 'Y')!.start + dim(e, 'Y')!.size));
    const width = maxX - minX;
    const height = maxY - minY;
    if (width > MAX_SLIDE_SIDE || height > MAX_SLIDE_SIDE || width * height > MAX_SLIDE_PIXELS) {
      throw new SlideError(
        'IMAGE_TOO_LARGE',
        `CZI file ${name} spans ${width} x ${height} pixels, beyond the limit of ${MAX_SLIDE_PIXELS} pixels or ${MAX_SLIDE_SIDE} a side`,
      );
    }

    const blocks: PlacedSubblock[] = [];
    for (const e of level0) {
      const { offset, length } = await czi.subblockData(e);
      const x = dim(e, 'X')!;
      const y = dim(e, 'Y')!;
      const bytes = PIXEL_TYPES[e.pixelType]!.bytes;
      if (e.compression === 0 && length < x.size * y.size * bytes) {
        throw new SlideError(
          'CORRUPT_FILE',
          `CZI file ${name}: a ${x.size} x ${y.size} subblock holds only ${length} bytes`,
        );
      }
      blocks.push({
        entry: e,
        x: x.start - minX,
        y: y.start - minY,
        width: x.size,
        height: y.size,
        channel: dim(e, 'C')?.start ?? 0,
        m: dim(e, 'M')?.start ?? 0,
        offset,
        length,
      });
    }
    // Higher mosaic indices are drawn over lower ones, as ZEN shows overlapping tiles.
    blocks.sort((a, b) => a.m - b.m);

    const typeName = PIXEL_TYPES[level0[0]!.pixelType]!.name;
    const channelOf = (c: number): CziChannel | undefined => channels.find((ch) => ch.index === c);
    const transmitted = (c: number): boolean =>
      /transmitted|brightfield/i.test(channelOf(c)?.illumination ?? '');
    const background =
      mode === 'rgb' || (blocks.every((b) => transmitted(b.channel)) && channels.length > 0) ? 255 : 0;
    const mosaic = new CziMosaic(czi, channels, blocks, { width, height }, mode, typeName, background);

    if (mode === 'grey') {
      const present = [...new Set(blocks.map((b) => b.channel))].sort((a, b) => a - b);
      for (const [k, c] of present.entries()) {
        const [low, high] = await mosaic.window(blocks.filter((b) => b.channel === c));
        const meta = channelOf(c);
        const colour =
          meta?.color ??
          (present.length === 1 ? [255, 255, 255] : DEFAULT_COLOURS[k % DEFAULT_COLOURS.length]!);
        mosaic.windows.push({ channel: c, name: meta?.name ?? `C${c}`, low, high, colour });
      }
    }
    return mosaic;
  }

  /** How the stored samples became 8-bit RGB, with the numbers needed to repeat it. */
  get rendering(): string {
    const channels = this.channels;
    const bg = this.background === 255 ? 'white' : 'black';
    if (this.mode === 'rgb') {
      const c = this.blocks[0]!.channel;
      const total = new Set(channels.map((ch) => ch.index)).size;
      const name = channels.find((ch) => ch.index === c)?.name;
      const which =
        total > 1 ? `channel ${c}${name ? ` (${name})` : ''} of ${total}, others not shown; ` : '';
      const depth = this.pixelTypeName === 'Bgr48' ? ' (16-bit samples: high byte)' : '';
      return `${which}${this.pixelTypeName} BGR samples reordered to RGB${depth}; uncovered areas ${bg}`;
    }
    const parts = this.windows.map((w) => {
      const hex = w.colour.map((v) => v.toString(16).padStart(2, '0')).join('');
      return `${w.name}: ${w.low}-${w.high} -> 0-255, colour #${hex}`;
    });
    return (
      `${this.pixelTypeName} channels contrast-stretched (${STRETCH_LOW * 100}th-${STRETCH_HIGH * 100}th percentile -> 0-255), ` +
      `tinted and added: ${parts.join('; ')}; uncovered areas ${bg}`
    );
  }

  /** The low/high stretch of a grey channel, from the histogram of a sample of its subblocks. */
  private async window(blocks: PlacedSubblock[]): Promise<[number, number]> {
    const step = Math.max(1, Math.floor(blocks.length / HISTOGRAM_SAMPLES));
    const hist = new Float64Array(65536);
    let n = 0;
    for (let i = 0; i < blocks.length; i += step) {
      const b = blocks[i]!;
      const samples = await this.samples(b);
      // Large subblocks are subsampled: the window needs a distribution, not every pixel.
      const stride = Math.max(1, Math.floor(samples.length / 262_144));
      for (let k = 0; k < samples.length; k += stride) {
        hist[samples[k]!]!++;
        n++;
      }
    }
    const at = (q: number): number => {
      const target = q * n;
      let acc = 0;
      for (let v = 0; v < hist.length; v++) {
        acc += hist[v]!;
        if (acc > target) return v;
      }
      return hist.length - 1;
    };
    const low = at(STRETCH_LOW);
    const high = Math.max(at(STRETCH_HIGH), low + 1);
    return [low, high];
  }

  /** Raw samples of a grey subblock (8 or 16 bits). */
  private async samples(b: PlacedSubblock): Promise<Uint8Array | Uint16Array> {
    const raw = await this.raw(b);
    if (b.entry.pixelType === 0) return raw.subarray(0, b.width * b.height);
    const out = new Uint16Array(b.width * b.height);
    for (let i = 0; i < out.length; i++) out[i] = raw.readUInt16LE(i * 2);
    return out;
  }

  /** The stored bytes of a subblock, JPEG subblocks decoded to the same layout. */
  private async raw(b: PlacedSubblock): Promise<Buffer> {
    const data = await this.czi.read(b.offset, b.length, 'subblock data');
    if (b.entry.compression === 0) return data;
    try {
      const img = sharp(data);
      const { data: px, info } = await (
        GREY_TYPES.has(b.entry.pixelType) ? img.greyscale() : img.removeAlpha()
      )
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.width !== b.width || info.height !== b.height) throw new Error('size mismatch');
      if (b.entry.pixelType === 1) {
        // An 8-bit JPEG standing in for 16-bit samples: widen so the window applies alike.
        const wide = Buffer.alloc(px.length * 2);
        for (let i = 0; i < px.length; i++) wide.writeUInt16LE(px[i]! * 257, i * 2);
        return wide;
      }
      if (b.entry.pixelType === 3) {
        // Back to BGR so one path serves both.
        for (let i = 0; i + 2 < px.length; i += 3) {
          const r = px[i]!;
          px[i] = px[i + 2]!;
          px[i + 2] = r;
        }
      }
      return px;
    } catch (e) {
      throw new SlideError(
        'CORRUPT_FILE',
        `CZI file ${path.basename(this.czi.file)}: a JPEG subblock does not decode`,
        { cause: e },
      );
    }
  }

  /** A subblock mapped to 8 bits: RGB triplets, or one windowed byte per pixel for grey. */
  private mapped(b: PlacedSubblock): Promise<Buffer> {
    const hit = this.cache.get(b);
    if (hit) {
      this.cache.delete(b);
      this.cache.set(b, hit);
      return hit;
    }
    const p = this.raw(b).then((raw) => this.map(b, raw));
    this.cache.set(b, p);
    this.cacheBytes += b.width * b.height * (this.mode === 'rgb' ? 3 : 1);
    for (const [k] of this.cache) {
      if (this.cacheBytes <= CACHE_BYTES || this.cache.size <= 1) break;
      this.cache.delete(k);
      this.cacheBytes -= k.width * k.height * (this.mode === 'rgb' ? 3 : 1);
    }
    return p;
  }

  private map(b: PlacedSubblock, raw: Buffer): Buffer {
    const n = b.width * b.height;
    if (this.mode === 'rgb') {
      const out = Buffer.alloc(n * 3);
      const t = b.entry.pixelType;
      const bpp = t === 3 ? 3 : t === 9 ? 4 : 6;
      for (let i = 0; i < n; i++) {
        const s = i * bpp;
        if (t === 4) {
          // 16-bit samples, little endian: the high byte is the 8-bit value.
          out[i * 3] = raw[s + 5]!;
          out[i * 3 + 1] = raw[s + 3]!;
          out[i * 3 + 2] = raw[s + 1]!;
        } else {
          out[i * 3] = raw[s + 2]!;
          out[i * 3 + 1] = raw[s + 1]!;
          out[i * 3 + 2] = raw[s]!;
        }
      }
      return out;
    }
    const w = this.windows.find((x) => x.channel === b.channel)!;
    return windowSamples(raw, b.entry.pixelType === 1 ? 2 : 1, n, w.low, w.high);
  }

  /**
   * Render a region of the mosaic as interleaved 8-bit RGB (exactly width x height x 3 bytes).
   * Areas no subblock covers get the background (white for brightfield, black for fluorescence).
   */
  async region(x0: number, y0: number, width: number, height: number): Promise<Buffer> {
    const found = new Set<PlacedSubblock>();
    for (let cy = Math.floor(y0 / this.cellSize); cy <= Math.floor((y0 + height - 1) / this.cellSize); cy++)
      for (
        let cx = Math.floor(x0 / this.cellSize);
        cx <= Math.min(Math.floor((x0 + width - 1) / this.cellSize), this.cellCols - 1);
        cx++
      )
        for (const b of this.cells.get(cy * this.cellCols + cx) ?? []) {
          if (b.x < x0 + width && b.x + b.width > x0 && b.y < y0 + height && b.y + b.height > y0)
            found.add(b);
        }
    const order = [...found].sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    const mapped = await Promise.all(order.map((b) => this.mapped(b)));

    if (this.mode === 'rgb') {
      const out = Buffer.alloc(width * height * 3, this.background);
      order.forEach((b, k) => copyRect(mapped[k]!, b, 3, out, x0, y0, width, height));
      return out;
    }
    const out = Buffer.alloc(width * height * 3);
    const covered = new Uint8Array(width * height);
    const acc = new Float32Array(width * height * 3);
    for (const w of this.windows) {
      const plane = Buffer.alloc(width * height);
      const mask = Buffer.alloc(width * height);
      let any = false;
      order.forEach((b, k) => {
        if (b.channel !== w.channel) return;
        any = true;
        copyRect(mapped[k]!, b, 1, plane, x0, y0, width, height, mask);
      });
      if (!any) continue;
      const [r, g, bl] = w.colour;
      for (let i = 0; i < plane.length; i++) {
        if (!mask[i]) continue;
        covered[i] = 1;
        const v = plane[i]! / 255;
        acc[i * 3] = acc[i * 3]! + v * r;
        acc[i * 3 + 1] = acc[i * 3 + 1]! + v * g;
        acc[i * 3 + 2] = acc[i * 3 + 2]! + v * bl;
      }
    }
    for (let i = 0; i < covered.length; i++) {
      for (let c = 0; c < 3; c++) {
        out[i * 3 + c] = covered[i] ? Math.min(255, Math.round(acc[i * 3 + c]!)) : this.background;
      }
    }
    return out;
  }
}

/** Linear window [low, high] to 0..255, clamped: the mapping the rendering string documents. */
export function windowSamples(raw: Buffer, bytes: 1 | 2, n: number, low: number, high: number): Buffer {
  const out = Buffer.alloc(n);
  const scale = 255 / (high - low);
  for (let i = 0; i < n; i++) {
    const v = bytes === 2 ? raw.readUInt16LE(i * 2) : raw[i]!;
    const m = Math.round((v - low) * scale);
    out[i] = m < 0 ? 0 : m > 255 ? 255 : m;
  }
  return out;
}

/** Copy the part of a subblock (already 8-bit, `bands` per pixel) that falls in the region. */
function copyRect(
  src: Buffer,
  b: PlacedSubblock,
  bands: number,
  dst: Buffer,
  x0: number,
  y0: number,
  width: number,
  height: number,
  mask?: Buffer,
): void {
  const left = Math.max(x0, b.x);
  const right = Math.min(x0 + width, b.x + b.width);
  const top = Math.max(y0, b.y);
  const bottom = Math.min(y0 + height, b.y + b.height);
  if (right <= left || bottom <= top) return;
  for (let y = top; y < bottom; y++) {
    const s = ((y - b.y) * b.width + (left - b.x)) * bands;
    const d = ((y - y0) * width + (left - x0)) * bands;
    src.copy(dst, d, s, s + (right - left) * bands);
    if (mask) mask.fill(1, (y - y0) * width + (left - x0), (y - y0) * width + (right - x0));
  }
}
