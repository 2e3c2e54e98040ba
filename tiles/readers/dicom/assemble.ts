import { randomUUID } from 'node:crypto';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { tileFitsImage, writeTiledTiff, type TiledTiffSpec } from '../../tiff/writer.ts';
import type { PixelContext } from '../types.ts';
import { decodeFrame, inspectJpeg, jpegCoding, type FileHandles, type JpegCoding } from './frames.ts';
import type { PlacedFrame, WsiInstance } from './instance.ts';

/** A level's frames as one image: its size, frame size and where each frame sits. */
export interface FrameLayout {
  width: number;
  height: number;
  tileWidth: number;
  tileHeight: number;
  frames: readonly PlacedFrame[];
}

/** Thrown inside the pass-through path when a frame does not fit it; the raw path takes over. */
class NotPassThrough extends Error {}

const RAW_TILE = 512;
const STAGE = 'assembling DICOM frames';

function aborted(ctx: PixelContext): void {
  if (ctx.signal?.aborted)
    throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('aborted');
}

/** Frames keyed by grid cell when every frame sits exactly on the frame grid, else null. */
function gridOf(layout: FrameLayout): Map<number, PlacedFrame> | null {
  const cols = Math.ceil(layout.width / layout.tileWidth);
  const grid = new Map<number, PlacedFrame>();
  for (const f of layout.frames) {
    if (f.x % layout.tileWidth !== 0 || f.y % layout.tileHeight !== 0) return null;
    if (f.instance.tileWidth !== layout.tileWidth || f.instance.tileHeight !== layout.tileHeight) return null;
    if (f.x >= layout.width || f.y >= layout.height || f.x < 0 || f.y < 0) continue;
    grid.set((f.y / layout.tileHeight) * cols + f.x / layout.tileWidth, f);
  }
  return grid;
}

/**
 * Write the level as a tiled TIFF in ctx.tmpDir and return it as 8-bit RGB, exactly width x height.
 * JPEG frames on a grid TIFF accepts (sides multiples of 16) are copied as they are, no decode; any
 * other layout (odd frame sizes, sparse or overlapping frames, JPEG 2000, native) is decoded and
 * re-tiled, with missing areas white.
 */
export async function assembleLevel(
  layout: FrameLayout,
  files: FileHandles,
  ctx: PixelContext,
): Promise<Sharp> {
  const out = path.join(ctx.tmpDir, `dicom-level0-${randomUUID()}.tif`);
  const progress = (f: number): void => ctx.onProgress?.(f, STAGE);
  let done = false;
  const grid = gridOf(layout);
  if (grid) {
    try {
      done = await passThrough(out, layout, grid, files, ctx, progress);
    } catch (e) {
      if (!(e instanceof NotPassThrough)) throw e;
    }
  }
  if (!done) await decodeAndRetile(out, layout, files, ctx, progress);
  ctx.onProgress?.(1, STAGE);
  return sharp(out, { limitInputPixels: false })
    .extract({ left: 0, top: 0, width: layout.width, height: layout.height })
    .removeAlpha()
    .toColourspace('srgb');
}

async function passThrough(
  out: string,
  layout: FrameLayout,
  grid: Map<number, PlacedFrame>,
  files: FileHandles,
  ctx: PixelContext,
  progress: (f: number) => void,
): Promise<boolean> {
  const { tileWidth: tw, tileHeight: th } = layout;
  const first = [...grid.values()][0];
  if (!first || first.instance.codec !== 'jpeg' || tw % 16 !== 0 || th % 16 !== 0) return false;
  if (!tileFitsImage(layout.width, layout.height, tw, th)) return false;
  const info = inspectJpeg(await files.frame(first.instance, first.index));
  if (!info || !info.baseline || info.width !== tw || info.height !== th) return false;
  const coding = jpegCoding(info, first.instance.photometric);
  const sampling = info.sampling;
  const cols = Math.ceil(layout.width / tw);
  const rows = Math.ceil(layout.height / th);

  let filler: Buffer | null = null;
  if (grid.size < cols * rows) {
    filler = await whiteJpeg(tw, th, coding, sampling);
    if (!filler) return false;
  }
  const spec: TiledTiffSpec = {
    width: layout.width,
    height: layout.height,
    tileWidth: tw,
    tileHeight: th,
    bands: coding === 'grey' ? 1 : 3,
    compression: 'jpeg',
    photometric: coding === 'grey' ? 'minisblack' : coding,
    ycbcrSubsampling: sampling,
  };
  await writeTiledTiff(
    out,
    spec,
    async (col, row) => {
      aborted(ctx);
      const f = grid.get(row * cols + col);
      if (!f) return filler!;
      const bytes = await files.frame(f.instance, f.index);
      const fi = inspectJpeg(bytes);
      if (
        !fi ||
        !fi.baseline ||
        fi.width !== tw ||
        fi.height !== th ||
        fi.sampling[0] !== sampling[0] ||
        fi.sampling[1] !== sampling[1] ||
        jpegCoding(fi, f.instance.photometric) !== coding
      ) {
        throw new NotPassThrough();
      }
      return bytes;
    },
    progress,
  );
  return true;
}

/** A white JPEG tile coded like the frames it stands in for, or null where sharp cannot code it so. */
async function whiteJpeg(
  tw: number,
  th: number,
  coding: JpegCoding,
  sampling: [number, number],
): Promise<Buffer | null> {
  const base = sharp({ create: { width: tw, height: th, channels: 3, background: '#ffffff' } });
  if (coding === 'grey') return base.greyscale().jpeg({ quality: 90 }).toBuffer();
  if (coding !== 'ycbcr') return null;
  if (sampling[0] === 2 && sampling[1] === 2)
    return base.jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer();
  if (sampling[0] === 1 && sampling[1] === 1)
    return base.jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer();
  return null;
}

/** A small cache of decoded frames: output tiles that share a frame decode it once. */
class DecodedFrames {
  private readonly cache = new Map<string, Promise<Buffer>>();
  constructor(
    private readonly files: FileHandles,
    private readonly capacity: number,
  ) {}

  get(f: PlacedFrame): Promise<Buffer> {
    const key = `${f.instance.file}#${f.index}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    const p = this.files.frame(f.instance, f.index).then((bytes) => decodeFrame(f.instance, bytes));
    this.cache.set(key, p);
    while (this.cache.size > this.capacity) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    return p;
  }
}

async function decodeAndRetile(
  out: string,
  layout: FrameLayout,
  files: FileHandles,
  ctx: PixelContext,
  progress: (f: number) => void,
): Promise<void> {
  const { tileWidth: fw, tileHeight: fh } = layout;
  // Frames on a grid TIFF accepts become tiles one to one; anything else goes onto a 512 grid.
  const aligned =
    gridOf(layout) !== null &&
    fw % 16 === 0 &&
    fh % 16 === 0 &&
    fw <= 4096 &&
    fh <= 4096 &&
    tileFitsImage(layout.width, layout.height, fw, fh);
  const fallback = tileFitsImage(layout.width, layout.height, RAW_TILE, RAW_TILE) ? RAW_TILE : 256;
  const ow = aligned ? fw : fallback;
  const oh = aligned ? fh : fallback;

  // Bucket each frame under every frame-grid cell it touches, so a lookup needs no scan.
  const fcols = Math.ceil(layout.width / fw) + 1;
  const buckets = new Map<number, PlacedFrame[]>();
  layout.frames.forEach((f) => {
    const x0 = Math.max(0, Math.floor(f.x / fw));
    const y0 = Math.max(0, Math.floor(f.y / fh));
    const x1 = Math.floor((f.x + f.instance.tileWidth - 1) / fw);
    const y1 = Math.floor((f.y + f.instance.tileHeight - 1) / fh);
    for (let gy = y0; gy <= y1; gy++)
      for (let gx = x0; gx <= Math.min(x1, fcols - 1); gx++) {
        const k = gy * fcols + gx;
        const list = buckets.get(k);
        if (list) list.push(f);
        else buckets.set(k, [f]);
      }
  });
  const order = new Map<PlacedFrame, number>(layout.frames.map((f, i) => [f, i]));
  const perTileX = Math.ceil(ow / fw) + 1;
  const perTileY = Math.ceil(oh / fh) + 1;
  const decoded = new DecodedFrames(files, Math.max(16, perTileX * perTileY * 6));

  await writeTiledTiff(
    out,
    {
      width: layout.width,
      height: layout.height,
      tileWidth: ow,
      tileHeight: oh,
      bands: 3,
      compression: 'none',
      photometric: 'rgb',
    },
    async (col, row) => {
      aborted(ctx);
      const tile = Buffer.alloc(ow * oh * 3, 255);
      const tx = col * ow;
      const ty = row * oh;
      const seen = new Set<PlacedFrame>();
      for (let gy = Math.floor(ty / fh); gy <= Math.floor((ty + oh - 1) / fh); gy++)
        for (let gx = Math.floor(tx / fw); gx <= Math.min(Math.floor((tx + ow - 1) / fw), fcols - 1); gx++)
          for (const f of buckets.get(gy * fcols + gx) ?? []) seen.add(f);
      // Later frames are drawn over earlier ones, as they are in the file.
      const frames = [...seen].sort((a, b) => order.get(a)! - order.get(b)!);
      const pixels = await Promise.all(frames.map((f) => decoded.get(f)));
      frames.forEach((f, k) => blit(tile, ow, oh, tx, ty, pixels[k]!, f));
      return tile;
    },
    progress,
  );
}

/** Copy the part of a decoded frame that falls inside an output tile. */
function blit(
  tile: Buffer,
  ow: number,
  oh: number,
  tx: number,
  ty: number,
  src: Buffer,
  f: PlacedFrame,
): void {
  const inst: WsiInstance = f.instance;
  const x0 = Math.max(tx, f.x);
  const y0 = Math.max(ty, f.y);
  const x1 = Math.min(tx + ow, f.x + inst.tileWidth, inst.width);
  const y1 = Math.min(ty + oh, f.y + inst.tileHeight, inst.height);
  if (x1 <= x0 || y1 <= y0) return;
  const rowBytes = (x1 - x0) * 3;
  for (let y = y0; y < y1; y++) {
    const s = ((y - f.y) * inst.tileWidth + (x0 - f.x)) * 3;
    src.copy(tile, ((y - ty) * ow + (x0 - tx)) * 3, s, s + rowBytes);
  }
}
