import sharp, { type Sharp } from 'sharp';
import { SlideError } from '../../errors.ts';
import type { PixelContext } from '../types.ts';
import { sharpAddress } from './common.ts';
import { intermediatePixels, intermediateTileSize, type RgbTileSource } from './intermediate.ts';
import type { Ifd } from './tiff-file.ts';

/** A colour, each component 0..255. */
export type Rgb = [number, number, number];

/** One fluorescence (or other single-sample) channel of a multichannel image. */
export interface Channel {
  name: string;
  color: Rgb;
  /** The channel's plane at each level, full resolution first; all channels share the geometry. */
  planes: Ifd[];
}

/** Raw values mapped to black and to full intensity. */
export interface ChannelWindow {
  lo: number;
  hi: number;
}

/** Default channel colours: DAPI-like blue first, then the usual fluorophore order. */
export const PALETTE: readonly { name: string; rgb: Rgb }[] = [
  { name: 'blue', rgb: [0, 0, 255] },
  { name: 'green', rgb: [0, 255, 0] },
  { name: 'red', rgb: [255, 0, 0] },
  { name: 'magenta', rgb: [255, 0, 255] },
  { name: 'cyan', rgb: [0, 255, 255] },
  { name: 'yellow', rgb: [255, 255, 0] },
  { name: 'orange', rgb: [255, 128, 0] },
  { name: 'white', rgb: [255, 255, 255] },
];

/** Colours for `n` channels without colours of their own: one channel is grey, more cycle the palette. */
export function defaultColors(n: number): Rgb[] {
  if (n === 1) return [[255, 255, 255]];
  return Array.from({ length: n }, (_, i) => PALETTE[i % PALETTE.length]?.rgb ?? [255, 255, 255]);
}

/** Percentiles of each channel used as its display window. */
export const STRETCH_PERCENTILES: [number, number] = [0.1, 99.9];
/** Statistics are taken from a level of about this many pixels (or a resampled copy of one). */
const STATS_PIXELS = 4_000_000;

/** Sample layouts the renderer reads: 8- and 16-bit unsigned integers. */
export function checkChannelPlane(fileName: string, ifd: Ifd): void {
  if (ifd.sampleFormat !== 1 || (ifd.bitsPerSample !== 8 && ifd.bitsPerSample !== 16)) {
    const kind = ifd.sampleFormat === 3 ? 'floating-point' : ifd.sampleFormat === 2 ? 'signed' : 'unsigned';
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `${fileName}: ${ifd.bitsPerSample}-bit ${kind} channels are not supported (8- and 16-bit unsigned are)`,
    );
  }
}

type Samples = Uint8Array | Uint16Array;

/** Decode one plane (optionally a region of it, or the whole plane fitted inside `fit` pixels). */
async function readPlane(
  file: string,
  ifd: Ifd,
  region?: { left: number; top: number; width: number; height: number },
  fit?: number,
): Promise<Samples> {
  const wide = ifd.bitsPerSample === 16;
  let img = sharp(file, sharpAddress(ifd));
  if (region) img = img.extract(region);
  if (fit) img = img.resize(fit, fit, { fit: 'inside', kernel: 'nearest' });
  const buf = await img
    .toColourspace(wide ? 'grey16' : 'b-w')
    .raw({ depth: wide ? 'ushort' : 'uchar' })
    .toBuffer();
  if (!wide) return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  const aligned = buf.byteOffset % 2 === 0 ? buf : Buffer.from(buf);
  return new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.length >> 1);
}

/** Exact percentiles (0..100) of integer samples through a histogram. */
export function percentiles(values: Samples, bits: 8 | 16, ps: number[]): number[] {
  const hist = new Uint32Array(1 << bits);
  for (let i = 0; i < values.length; i++) hist[values[i] ?? 0]!++;
  const total = values.length;
  return ps.map((p) => {
    // The epsilon keeps 99.9% of 1000 at 999 despite floating-point error.
    const target = Math.min(total, Math.max(1, Math.ceil((p / 100) * total - 1e-9)));
    let seen = 0;
    for (let v = 0; v < hist.length; v++) {
      seen += hist[v] ?? 0;
      if (seen >= target) return v;
    }
    return hist.length - 1;
  });
}

/** The plane statistics are taken from: the smallest level with enough pixels to be representative. */
function statsPlane(ch: Channel): Ifd {
  const bySize = [...ch.planes].sort((a, b) => a.width * a.height - b.width * b.height);
  return (
    bySize.find((p) => p.width * p.height >= STATS_PIXELS / 4) ?? bySize[bySize.length - 1] ?? ch.planes[0]!
  );
}

/**
 * Per-channel display windows: the 0.1 and 99.9 percentiles of a low-resolution level, so a few hot
 * pixels do not darken the whole channel and the background stays black.
 */
export async function channelWindows(
  file: string,
  channels: Channel[],
): Promise<{ windows: ChannelWindow[]; from: string }> {
  let from = '';
  const windows: ChannelWindow[] = [];
  for (const ch of channels) {
    const plane = statsPlane(ch);
    const big = plane.width * plane.height > STATS_PIXELS;
    const side = Math.round(Math.sqrt(STATS_PIXELS));
    const values = await readPlane(file, plane, undefined, big ? side : undefined);
    const [lo = 0, hi = 0] = percentiles(values, plane.bitsPerSample === 16 ? 16 : 8, STRETCH_PERCENTILES);
    windows.push({ lo, hi: Math.max(hi, lo + 1) });
    from = big
      ? `a ${plane.width}x${plane.height} level resampled to ${side}x${side} at most`
      : `the ${plane.width}x${plane.height} level`;
  }
  return { windows, from };
}

function hex(rgb: Rgb): string {
  return '#' + rgb.map((v) => v.toString(16).padStart(2, '0')).join('');
}

/** The `rendering` text of a SlideSource: enough to redo or question the mapping. */
export function describeRendering(channels: Channel[], windows: ChannelWindow[], from: string): string {
  const [pl, ph] = STRETCH_PERCENTILES;
  const bits = channels[0]?.planes[0]?.bitsPerSample ?? 8;
  const stretch = `linear stretch between the ${pl} and ${ph} percentiles measured on ${from}`;
  if (channels.length === 1) {
    const w = windows[0];
    return `1 ${bits}-bit channel shown as grey: ${stretch} (${w?.lo}..${w?.hi})`;
  }
  const list = channels
    .map((c, i) => `${c.name || `channel ${i}`} -> ${hex(c.color)} (${windows[i]?.lo}..${windows[i]?.hi})`)
    .join(', ');
  return `${channels.length} ${bits}-bit channels mixed additively in colour and clipped: ${list}; each with a ${stretch}`;
}

/** Lookup of raw value -> intensity 0..1 for one channel. */
function lut(bits: number, w: ChannelWindow): Float32Array {
  const out = new Float32Array(1 << bits);
  const span = w.hi - w.lo;
  for (let v = 0; v < out.length; v++) out[v] = v <= w.lo ? 0 : v >= w.hi ? 1 : (v - w.lo) / span;
  return out;
}

/** Mix channel regions (each w x h) into a padded RGB tile of tw x th. */
export function mixChannels(
  planes: Samples[],
  luts: Float32Array[],
  colors: Rgb[],
  w: number,
  h: number,
  tw: number,
  th: number,
): Buffer {
  const acc = new Float32Array(w * h * 3);
  for (let c = 0; c < planes.length; c++) {
    const p = planes[c]!;
    const l = luts[c]!;
    const [r, g, b] = colors[c]!;
    for (let i = 0; i < w * h; i++) {
      const v = l[p[i]!]!;
      if (v === 0) continue;
      acc[i * 3] = acc[i * 3]! + v * r;
      acc[i * 3 + 1] = acc[i * 3 + 1]! + v * g;
      acc[i * 3 + 2] = acc[i * 3 + 2]! + v * b;
    }
  }
  const out = Buffer.alloc(tw * th * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w * 3; x++) {
      const v = acc[y * w * 3 + x]!;
      out[y * tw * 3 + x] = v >= 255 ? 255 : Math.round(v);
    }
  }
  return out;
}

/**
 * Render channels to 8-bit RGB through an intermediate tiled TIFF, up to 512 x 512 pixels at a time,
 * so memory stays at a few tiles per channel whatever the slide size.
 */
export async function renderChannels(
  file: string,
  channels: Channel[],
  windows: ChannelWindow[],
  ctx: PixelContext,
): Promise<Sharp> {
  const first = channels[0]?.planes[0];
  if (!first) throw new SlideError('CORRUPT_FILE', `${file}: no channel to render`);
  const { width, height } = first;
  const luts = channels.map((c, i) =>
    lut(c.planes[0]?.bitsPerSample === 16 ? 16 : 8, windows[i] ?? { lo: 0, hi: 1 }),
  );
  const colors = channels.map((c) => c.color);
  const [tw, th] = intermediateTileSize(width, height);
  const src: RgbTileSource = {
    width,
    height,
    tileWidth: tw,
    tileHeight: th,
    async tile(col, row) {
      const left = col * tw;
      const top = row * th;
      const region = { left, top, width: Math.min(tw, width - left), height: Math.min(th, height - top) };
      const planes = await Promise.all(channels.map((c) => readPlane(file, c.planes[0]!, region)));
      return mixChannels(planes, luts, colors, region.width, region.height, tw, th);
    },
  };
  return intermediatePixels(src, ctx, { stage: `rendering ${channels.length} channel(s) to RGB` });
}
