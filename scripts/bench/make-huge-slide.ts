/**
 * Synthetic whole-slide images of any size, as a scanner writes its level 0: one tiled BigTIFF image
 * of JPEG tiles (abbreviated streams sharing one JPEGTables, Photometric YCbCr, 4:2:0), mostly glass
 * with a few tissue sections, its scale in X/YResolution (cm) and ImageDescription. No pyramid by
 * default: the point is a source over 65,535 px on a side, made in seconds and in little memory, for
 * ingest. --pyramid adds the reduced levels a scanner writes (each 4x smaller, as Aperio does, down to
 * one under 4096 px on its long side), so the slide can be served straight from its source.
 *
 *   node scripts/bin/run.mjs scripts/bench/make-huge-slide.ts --size 200000x100000 --out FILE
 *       [--tile 512] [--mpp 0.25] [--seed 1] [--quality 85] [--copy-tiles] [--pyramid]
 *
 * Only a handful of tiles are drawn and encoded: glass, tissue variants, and section edges facing
 * eight ways. Every tile of the grid is one of them, so by default each distinct tile's bytes are in
 * the file once and TileOffsets repeats offsets (legal TIFF: libtiff, libvips, OpenSlide and tifffile
 * read it). --copy-tiles writes every tile at its own offset instead, for a file of scanner size.
 * libtiff's writer, sharp's and our pyramid writer cannot do either: sharp refuses JPEG over 65,535 px.
 * A reduced level's tile is put together from the distinct tiles, each shrunk by block means, so its
 * tiles too are few distinct ones (one per arrangement of the level-0 tiles under it).
 */
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { prng } from '../prng.ts';
import { intArg, sizeArg } from './args.ts';

export interface SyntheticSlideOptions {
  width: number;
  height: number;
  /** Tile side in pixels, a multiple of 16; default 512. */
  tileSize?: number;
  /** µm per pixel; default 0.25 (a 40x scan). */
  mpp?: number;
  seed?: number;
  /** JPEG quality; default 85. */
  quality?: number;
  /** Write every tile's bytes at its own offset instead of pointing repeats at one copy. */
  copyTiles?: boolean;
  /** Add reduced levels, each 4x smaller, down to one whose long side is under 4096 px. */
  pyramid?: boolean;
}

export interface SyntheticSlide {
  path: string;
  width: number;
  height: number;
  tileSize: number;
  tiles: number;
  /** Tiles showing tissue, whole or at a section's edge. */
  tissueTiles: number;
  /** Tiles drawn and encoded (the rest repeat them). */
  distinctTiles: number;
  bytes: number;
  /** Every level's size, full resolution first (one level without --pyramid). */
  levels: { width: number; height: number }[];
}

/** Tile kinds in a layout's codes: 0 glass, then tissue variants, then section edges by direction. */
export const GLASS = 0;
export const TISSUE_VARIANTS = 6;
const EDGE_DIRECTIONS = 8;
/** 2^24 tiles (~2M x 2M px at 512): the offset tables alone are then 200 MB. */
const MAX_TILES = 2 ** 24;
const TIFF_LONG_MAX = 2 ** 32 - 1;

export function isTissue(code: number): boolean {
  return code >= 1 && code <= TISSUE_VARIANTS;
}

export interface SlideLayout {
  cols: number;
  rows: number;
  /** One code per tile, row-major (see GLASS, isTissue). */
  codes: Uint8Array;
}

/**
 * Which tile goes where: a few irregular sections spread along the slide's long side; tiles deep
 * inside one are tissue (a variant picked per tile), tiles on the outline are edges facing the way
 * the section's outline does, the rest glass. Deterministic for a seed.
 */
export function slideLayout(width: number, height: number, tileSize: number, seed: number): SlideLayout {
  const cols = Math.ceil(width / tileSize);
  const rows = Math.ceil(height / tileSize);
  const rand = prng(seed);
  const wide = width >= height;
  const long = wide ? width : height;
  const short = wide ? height : width;
  const n = Math.max(2, Math.min(6, Math.round((2 * long) / short)));
  const sections = Array.from({ length: n }, (_, i) => {
    const along = (long * (i + 0.5 + (rand() - 0.5) * 0.3)) / n;
    const across = short * (0.5 + (rand() - 0.5) * 0.25);
    const ra = (long / n) * (0.28 + rand() * 0.12);
    const rc = short * (0.24 + rand() * 0.1);
    return {
      cx: wide ? along : across,
      cy: wide ? across : along,
      rx: wide ? ra : rc,
      ry: wide ? rc : ra,
      angle: (rand() - 0.5) * 0.5,
      lobes: [rand() * 6.3, rand() * 6.3, rand() * 6.3],
    };
  });
  // Signed distance in pixels to the nearest outline (negative inside), roughly: exact enough to sort tiles.
  const distance = (x: number, y: number): number => {
    let best = Infinity;
    for (const s of sections) {
      const c = Math.cos(s.angle);
      const sn = Math.sin(s.angle);
      const u = ((x - s.cx) * c + (y - s.cy) * sn) / s.rx;
      const v = (-(x - s.cx) * sn + (y - s.cy) * c) / s.ry;
      const t = Math.atan2(v, u);
      const r =
        1 +
        0.14 * Math.sin(3 * t + s.lobes[0]!) +
        0.08 * Math.sin(5 * t + s.lobes[1]!) +
        0.05 * Math.sin(7 * t + s.lobes[2]!);
      const scale = Math.hypot(s.rx * Math.cos(t), s.ry * Math.sin(t));
      best = Math.min(best, (Math.hypot(u, v) - r) * scale);
    }
    return best;
  };
  const codes = new Uint8Array(cols * rows);
  const half = tileSize / 2;
  let tissue = 0;
  for (let row = 0; row < rows; row++) {
    for (let col = 0; col < cols; col++) {
      const x = col * tileSize + half;
      const y = row * tileSize + half;
      const d = distance(x, y);
      let code = GLASS;
      if (d < -half) {
        code = 1 + (((Math.imul(col, 73856093) ^ Math.imul(row, 19349663) ^ seed) >>> 0) % TISSUE_VARIANTS);
        tissue++;
      } else if (d <= half) {
        // The outline's normal points out of the section; the edge tile has tissue on the other side.
        const gx = distance(x + half, y) - distance(x - half, y);
        const gy = distance(x, y + half) - distance(x, y - half);
        const sector = Math.round((Math.atan2(gy, gx) / (2 * Math.PI)) * EDGE_DIRECTIONS);
        code = 1 + TISSUE_VARIANTS + ((sector + EDGE_DIRECTIONS) % EDGE_DIRECTIONS);
      }
      codes[row * cols + col] = code;
    }
  }
  if (tissue === 0) {
    // A slide too small or thin for a tile to fit inside a section still gets one tissue tile.
    const s = sections[0]!;
    const col = Math.min(cols - 1, Math.floor(s.cx / tileSize));
    const row = Math.min(rows - 1, Math.floor(s.cy / tileSize));
    codes[row * cols + col] = 1;
  }
  return { cols, rows, codes };
}

/** Smooth value noise in 0..1 that repeats every `period` pixels (a multiple of `cell`). */
function periodicNoise(rand: () => number, period: number, cell: number): (x: number, y: number) => number {
  const g = period / cell;
  const grid = new Float32Array(g * g);
  for (let i = 0; i < grid.length; i++) grid[i] = rand();
  const at = (i: number, j: number): number => grid[(((j % g) + g) % g) * g + (((i % g) + g) % g)]!;
  return (x, y) => {
    const fx = x / cell;
    const fy = y / cell;
    const ix = Math.floor(fx);
    const iy = Math.floor(fy);
    const tx = fx - ix;
    const ty = fy - iy;
    const sx = tx * tx * (3 - 2 * tx);
    const sy = ty * ty * (3 - 2 * ty);
    const a = at(ix, iy) + (at(ix + 1, iy) - at(ix, iy)) * sx;
    const b = at(ix, iy + 1) + (at(ix + 1, iy + 1) - at(ix, iy + 1)) * sx;
    return a + (b - a) * sy;
  };
}

/**
 * One tile's RGB pixels for a layout code. The stroma field is periodic and shared by every variant, so
 * neighbouring tissue tiles meet without a seam in it; variants differ in their nuclei, which stay
 * inside their tile.
 */
function drawTile(code: number, size: number, seed: number): Buffer {
  const shared = prng(seed ^ 0x5eed);
  const tone = periodicNoise(shared, size, size / 4);
  const fibre = periodicNoise(shared, size, 16);
  const rand = prng(seed * 131 + code);
  const data = new Uint8ClampedArray(size * size * 3);
  const edge = code > TISSUE_VARIANTS ? code - 1 - TISSUE_VARIANTS : -1;
  const nx = Math.cos((edge * 2 * Math.PI) / EDGE_DIRECTIONS);
  const ny = Math.sin((edge * 2 * Math.PI) / EDGE_DIRECTIONS);
  const wobble = periodicNoise(rand, size, size / 4);
  const c = size / 2;
  const cover = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let t = code === GLASS ? 0 : 1;
      if (edge >= 0) {
        const s = (x - c) * nx + (y - c) * ny + (wobble(x, y) - 0.5) * size * 0.35;
        t = Math.min(1, Math.max(0, 0.5 - s / 24));
      }
      cover[y * size + x] = t;
      const i = (y * size + x) * 3;
      const glass = 242 + rand() * 4;
      if (t === 0) {
        data[i] = glass;
        data[i + 1] = glass - 1;
        data[i + 2] = glass + 2;
        continue;
      }
      const phase = (2 * Math.PI * 3 * (x + y)) / size;
      const depth = 0.3 + 0.4 * tone(x, y) + 0.3 * Math.abs(Math.sin(fibre(x, y) * 12 + phase));
      const grain = (rand() - 0.5) * 10;
      data[i] = glass + (238 - 30 * depth + grain - glass) * t;
      data[i + 1] = glass + (190 - 95 * depth + grain - glass) * t;
      data[i + 2] = glass + (220 - 50 * depth + grain - glass) * t;
    }
  }
  if (code !== GLASS) drawNuclei(data, cover, size, rand);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Hematoxylin-purple nuclei, ~4 µm across at 0.25 µm/px, clustered, whole inside the tile. */
function drawNuclei(data: Uint8ClampedArray, cover: Float32Array, size: number, rand: () => number): void {
  const cluster = periodicNoise(rand, size, size / 4);
  const candidates = Math.round((size * size) / 1400);
  for (let n = 0; n < candidates; n++) {
    const rx = 5 + rand() * 6;
    const ry = rx * (0.6 + rand() * 0.4);
    const margin = Math.ceil(rx + 2);
    if (size <= 2 * margin) return;
    const x0 = margin + rand() * (size - 2 * margin);
    const y0 = margin + rand() * (size - 2 * margin);
    if (cover[Math.floor(y0) * size + Math.floor(x0)]! < 0.6) continue;
    if (rand() > cluster(x0, y0) ** 2 * 1.8) continue;
    const angle = rand() * Math.PI;
    const ca = Math.cos(angle);
    const sa = Math.sin(angle);
    const darkness = 0.7 + rand() * 0.3;
    for (let y = Math.floor(y0 - margin); y <= Math.ceil(y0 + margin); y++) {
      for (let x = Math.floor(x0 - margin); x <= Math.ceil(x0 + margin); x++) {
        const u = ((x - x0) * ca + (y - y0) * sa) / rx;
        const v = (-(x - x0) * sa + (y - y0) * ca) / ry;
        const a = Math.min(1, Math.max(0, (1 - Math.hypot(u, v)) * rx)) * darkness * (0.8 + rand() * 0.2);
        if (a <= 0) continue;
        const i = (y * size + x) * 3;
        data[i] = data[i]! + (78 - data[i]!) * a;
        data[i + 1] = data[i + 1]! + (48 - data[i + 1]!) * a;
        data[i + 2] = data[i + 2]! + (128 - data[i + 2]!) * a;
      }
    }
  }
}

interface SplitJpeg {
  /** SOI, the DQT and DHT segments, EOI: the TIFF's JPEGTables. */
  tables: Buffer;
  /** The stream without tables or APPn/COM segments, as scanners store tiles. */
  abbreviated: Buffer;
  /** Luma sampling over chroma sampling, [horizontal, vertical]: YCbCrSubsampling. */
  subsampling: [number, number];
}

function splitJpeg(jpeg: Buffer): SplitJpeg {
  if (jpeg.readUInt16BE(0) !== 0xffd8) throw new Error('sharp returned a JPEG without SOI');
  const tables: Buffer[] = [jpeg.subarray(0, 2)];
  const kept: Buffer[] = [jpeg.subarray(0, 2)];
  let subsampling: [number, number] | null = null;
  let at = 2;
  while (at + 4 <= jpeg.length) {
    const marker = jpeg.readUInt16BE(at);
    if (marker === 0xffda) {
      kept.push(jpeg.subarray(at));
      break;
    }
    const end = at + 2 + jpeg.readUInt16BE(at + 2);
    const segment = jpeg.subarray(at, end);
    if (marker === 0xffdb || marker === 0xffc4) tables.push(segment);
    else if (!((marker >= 0xffe0 && marker <= 0xffef) || marker === 0xfffe)) kept.push(segment);
    if (marker === 0xffc0 || marker === 0xffc1) {
      if (jpeg[at + 9] !== 3) throw new Error(`expected a 3-component JPEG, got ${jpeg[at + 9]}`);
      const luma = jpeg[at + 11]!;
      const chroma = jpeg[at + 14]!;
      subsampling = [(luma >> 4) / (chroma >> 4), (luma & 15) / (chroma & 15)];
    }
    at = end;
  }
  if (!subsampling) throw new Error('sharp returned a JPEG without a baseline SOF');
  tables.push(Buffer.from([0xff, 0xd9]));
  return { tables: Buffer.concat(tables), abbreviated: Buffer.concat(kept), subsampling };
}

/** A positive value as a TIFF RATIONAL, as exact as 32 bits allow. */
function rational(v: number): [number, number] {
  let den = 1;
  while (den < 1_000_000 && Math.round(v * den) !== v * den && v * den * 10 < TIFF_LONG_MAX) den *= 10;
  return [Math.round(v * den), den];
}

const ASCII = 2;
const SHORT = 3;
const LONG = 4;
const RATIONAL = 5;
const UNDEFINED = 7;
const LONG8 = 16;
const TYPE_SIZE: Record<number, number> = {
  [ASCII]: 1,
  [SHORT]: 2,
  [LONG]: 4,
  [RATIONAL]: 8,
  [UNDEFINED]: 1,
  [LONG8]: 8,
};

interface Entry {
  tag: number;
  type: number;
  count: number;
  bytes: Buffer;
}

function entry(tag: number, type: number, values: number[] | Buffer | string): Entry {
  if (typeof values === 'string') {
    const bytes = Buffer.from(`${values}\0`, 'latin1');
    return { tag, type, count: bytes.length, bytes };
  }
  if (Buffer.isBuffer(values)) return { tag, type, count: values.length / TYPE_SIZE[type]!, bytes: values };
  // A RATIONAL is two LONGs, given here as two values.
  const bytes = Buffer.alloc(values.length * (type === RATIONAL ? 4 : TYPE_SIZE[type]!));
  values.forEach((v, i) => {
    if (type === SHORT) bytes.writeUInt16LE(v, i * 2);
    else if (type === LONG || type === RATIONAL) bytes.writeUInt32LE(v, i * 4);
    else throw new Error(`entry type ${type} takes a buffer`);
  });
  return { tag, type, count: type === RATIONAL ? values.length / 2 : values.length, bytes };
}

/** Validate options with sharp's message form; the tile-size rule is libvips's (it refuses larger). */
function checkOptions(o: SyntheticSlideOptions): Required<SyntheticSlideOptions> {
  const int = (name: string, v: number, min: number, max: number): number => {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(`Expected integer between ${min} and ${max} for ${name} but received ${v}`);
    }
    return v;
  };
  const width = int('width', o.width, 1, TIFF_LONG_MAX);
  const height = int('height', o.height, 1, TIFF_LONG_MAX);
  const tileSize = int('tileSize', o.tileSize ?? 512, 16, 4096);
  if (tileSize % 16 !== 0)
    throw new RangeError(`Expected a multiple of 16 for tileSize but received ${tileSize}`);
  if (tileSize > 256 && (tileSize >= 4 * width || tileSize >= 4 * height)) {
    throw new RangeError(
      `tileSize ${tileSize} is too large for a ${width}x${height} image (libvips refuses it)`,
    );
  }
  const mpp = o.mpp ?? 0.25;
  if (!(mpp >= 0.01 && mpp <= 100)) {
    throw new RangeError(`Expected number between 0.01 and 100 for mpp but received ${mpp}`);
  }
  if (Math.ceil(width / tileSize) * Math.ceil(height / tileSize) > MAX_TILES) {
    throw new RangeError(`a ${width}x${height} image has over ${MAX_TILES} tiles of ${tileSize} px`);
  }
  return {
    width,
    height,
    tileSize,
    mpp,
    seed: int('seed', o.seed ?? 1, 0, TIFF_LONG_MAX),
    quality: int('quality', o.quality ?? 85, 1, 100),
    copyTiles: o.copyTiles ?? false,
    pyramid: o.pyramid ?? false,
  };
}

/** Linear factor between a scanner's reduced levels (Aperio's). */
const LEVEL_STEP = 4;
/** Reduced levels stop once the long side is under this. */
const SMALLEST_LEVEL_SIDE = 4096;

/** Sizes of the levels written, full resolution first: each LEVEL_STEP smaller, rounded up. */
export function syntheticLevels(
  width: number,
  height: number,
  tileSize: number,
  pyramid: boolean,
): { width: number; height: number; factor: number }[] {
  const levels = [{ width, height, factor: 1 }];
  if (!pyramid) return levels;
  for (let f = LEVEL_STEP; ; f *= LEVEL_STEP) {
    const prev = levels[levels.length - 1]!;
    if (Math.max(prev.width, prev.height) < SMALLEST_LEVEL_SIDE || tileSize % f !== 0) break;
    levels.push({ width: Math.ceil(width / f), height: Math.ceil(height / f), factor: f });
  }
  return levels;
}

/** A tile's RGB pixels shrunk by `f`: each output pixel the mean of the f x f block under it. */
function shrinkTile(rgb: Buffer, size: number, f: number): Buffer {
  const s = size / f;
  const out = Buffer.alloc(s * s * 3);
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = 0; dy < f; dy++) {
        let i = ((y * f + dy) * size + x * f) * 3;
        for (let dx = 0; dx < f; dx++, i += 3) {
          r += rgb[i]!;
          g += rgb[i + 1]!;
          b += rgb[i + 2]!;
        }
      }
      const o = (y * s + x) * 3;
      const n = f * f;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
  return out;
}

/**
 * Write a synthetic slide to `out` (under a temporary name first, so an interrupted run leaves no half
 * file). Memory is a few tiles plus 17 bytes a tile for the layout and offset tables.
 */
export async function makeSyntheticSlide(
  out: string,
  options: SyntheticSlideOptions,
): Promise<SyntheticSlide> {
  const o = checkOptions(options);
  const { width, height, tileSize, seed } = o;
  const layout = slideLayout(width, height, tileSize, seed);
  const count = layout.codes.length;
  const used = new Set(layout.codes);
  const encode = async (rgb: Buffer): Promise<SplitJpeg> =>
    splitJpeg(
      await sharp(rgb, { raw: { width: tileSize, height: tileSize, channels: 3 } })
        .jpeg({ quality: o.quality, optimiseCoding: false, chromaSubsampling: '4:2:0' })
        .toBuffer(),
    );
  const encoded = new Map<number, SplitJpeg>();
  await Promise.all(
    [...used].map(async (code) => encoded.set(code, await encode(drawTile(code, tileSize, seed)))),
  );
  // Without optimised Huffman coding, sharp writes the same standard tables for every tile.
  const first = encoded.get(layout.codes[0]!)!;
  const sameTables = (s: SplitJpeg): void => {
    if (!s.tables.equals(first.tables)) throw new Error('the JPEG tiles do not share their tables');
  };
  for (const s of encoded.values()) sameTables(s);
  const levels = syntheticLevels(width, height, tileSize, o.pyramid);

  const partial = `${out}.partial-${process.pid}`;
  const fh = await open(partial, 'w');
  try {
    let pos = 16;
    const offsets = Buffer.alloc(count * 8);
    const byteCounts = Buffer.alloc(count * 4);
    const put = (offs: Buffer, counts: Buffer, i: number, at: number, length: number): void => {
      offs.writeUInt32LE(at % 2 ** 32, i * 8);
      offs.writeUInt32LE(Math.floor(at / 2 ** 32), i * 8 + 4);
      counts.writeUInt32LE(length, i * 4);
    };
    if (o.copyTiles) {
      // Row-major, gathered into ~8 MB writes.
      let batch: Buffer[] = [];
      let batchBytes = 0;
      let batchAt = pos;
      for (let i = 0; i < count; i++) {
        const tile = encoded.get(layout.codes[i]!)!.abbreviated;
        put(offsets, byteCounts, i, pos, tile.length);
        batch.push(tile);
        batchBytes += tile.length;
        pos += tile.length;
        if (batchBytes >= 8 << 20 || i === count - 1) {
          await fh.writev(batch, batchAt);
          batch = [];
          batchBytes = 0;
          batchAt = pos;
        }
      }
    } else {
      const at = new Map<number, number>();
      for (const [code, s] of encoded) {
        at.set(code, pos);
        await fh.write(s.abbreviated, 0, s.abbreviated.length, pos);
        pos += s.abbreviated.length;
      }
      for (let i = 0; i < count; i++) {
        const code = layout.codes[i]!;
        put(offsets, byteCounts, i, at.get(code)!, encoded.get(code)!.abbreviated.length);
      }
    }
    const tables: { offsets: Buffer; byteCounts: Buffer }[] = [{ offsets, byteCounts }];
    let distinct = encoded.size;

    // Reduced levels: each tile put together from the level-0 tiles under it, shrunk; tiles with the
    // same arrangement under them are written once.
    const raw = new Map<number, Buffer>();
    for (const code of used) raw.set(code, drawTile(code, tileSize, seed));
    for (const level of levels.slice(1)) {
      const f = level.factor;
      const s = tileSize / f;
      const shrunk = new Map<number, Buffer>();
      for (const [code, rgb] of raw) shrunk.set(code, shrinkTile(rgb, tileSize, f));
      const glass = shrunk.get(GLASS) ?? shrinkTile(drawTile(GLASS, tileSize, seed), tileSize, f);
      const cols = Math.ceil(level.width / tileSize);
      const rows = Math.ceil(level.height / tileSize);
      const offs = Buffer.alloc(cols * rows * 8);
      const counts = Buffer.alloc(cols * rows * 4);
      const written = new Map<string, { at: number; length: number }>();
      const codesUnder = (col: number, row: number): number[] => {
        const codes: number[] = [];
        for (let j = 0; j < f; j++) {
          for (let i = 0; i < f; i++) {
            const c = col * f + i;
            const r = row * f + j;
            codes.push(c < layout.cols && r < layout.rows ? layout.codes[r * layout.cols + c]! : -1);
          }
        }
        return codes;
      };
      const compose = (codes: number[]): Buffer => {
        const rgb = Buffer.alloc(tileSize * tileSize * 3);
        codes.forEach((code, n) => {
          const src = code < 0 ? glass : shrunk.get(code)!;
          const x0 = (n % f) * s;
          const y0 = Math.floor(n / f) * s;
          for (let y = 0; y < s; y++)
            src.copy(rgb, ((y0 + y) * tileSize + x0) * 3, y * s * 3, (y + 1) * s * 3);
        });
        return rgb;
      };
      // Row by row: a row's new arrangements encoded together, then written in order.
      for (let row = 0; row < rows; row++) {
        const fresh = new Map<string, number[]>();
        const keys: string[] = [];
        for (let col = 0; col < cols; col++) {
          const codes = codesUnder(col, row);
          const key = codes.join(',');
          keys.push(key);
          if (!written.has(key)) fresh.set(key, codes);
        }
        const made = await Promise.all(
          [...fresh].map(async ([key, codes]) => [key, await encode(compose(codes))] as const),
        );
        for (const [key, jpeg] of made) {
          sameTables(jpeg);
          await fh.write(jpeg.abbreviated, 0, jpeg.abbreviated.length, pos);
          written.set(key, { at: pos, length: jpeg.abbreviated.length });
          pos += jpeg.abbreviated.length;
        }
        keys.forEach((key, col) => {
          const w = written.get(key)!;
          put(offs, counts, row * cols + col, w.at, w.length);
        });
      }
      distinct += written.size;
      tables.push({ offsets: offs, byteCounts: counts });
    }

    const [xNum, xDen] = rational(10_000 / o.mpp);
    const description = `Tessera synthetic slide ${width}x${height}; MPP = ${o.mpp}; seed = ${seed}`;
    const ifdAts: number[] = [];
    const nextAts: number[] = [];
    for (const [k, level] of levels.entries()) {
      const [rNum, rDen] = rational(10_000 / (o.mpp * level.factor));
      const entries: Entry[] = [
        ...(k > 0 ? [entry(254, LONG, [1])] : []),
        entry(256, LONG, [level.width]),
        entry(257, LONG, [level.height]),
        entry(258, SHORT, [8, 8, 8]),
        entry(259, SHORT, [7]),
        entry(262, SHORT, [6]),
        ...(k === 0 ? [entry(270, ASCII, description)] : []),
        entry(277, SHORT, [3]),
        entry(282, RATIONAL, k === 0 ? [xNum, xDen] : [rNum, rDen]),
        entry(283, RATIONAL, k === 0 ? [xNum, xDen] : [rNum, rDen]),
        entry(284, SHORT, [1]),
        entry(296, SHORT, [3]),
        entry(305, ASCII, 'Tessera scripts/bench/make-huge-slide.ts'),
        entry(322, LONG, [tileSize]),
        entry(323, LONG, [tileSize]),
        entry(324, LONG8, tables[k]!.offsets),
        entry(325, LONG, tables[k]!.byteCounts),
        entry(347, UNDEFINED, first.tables),
        entry(530, SHORT, first.subsampling),
        // JPEG's full-range YCbCr; libtiff writes the same.
        entry(532, RATIONAL, [0, 1, 255, 1, 128, 1, 255, 1, 128, 1, 255, 1]),
      ];
      const ifd = Buffer.alloc(8 + entries.length * 20 + 8);
      ifd.writeBigUInt64LE(BigInt(entries.length), 0);
      for (const [n, e] of entries.entries()) {
        const p = 8 + n * 20;
        ifd.writeUInt16LE(e.tag, p);
        ifd.writeUInt16LE(e.type, p + 2);
        ifd.writeBigUInt64LE(BigInt(e.count), p + 4);
        if (e.bytes.length <= 8) {
          e.bytes.copy(ifd, p + 12);
          continue;
        }
        pos += pos % 2;
        ifd.writeBigUInt64LE(BigInt(pos), p + 12);
        await fh.write(e.bytes, 0, e.bytes.length, pos);
        pos += e.bytes.length;
      }
      pos += pos % 2;
      ifdAts.push(pos);
      nextAts.push(pos + 8 + entries.length * 20);
      await fh.write(ifd, 0, ifd.length, pos);
      pos += ifd.length;
    }
    // Each directory points at the next (the last one's pointer stays 0).
    for (let k = 0; k + 1 < levels.length; k++) {
      const next = Buffer.alloc(8);
      next.writeBigUInt64LE(BigInt(ifdAts[k + 1]!), 0);
      await fh.write(next, 0, 8, nextAts[k]!);
    }
    const header = Buffer.alloc(16);
    header.write('II', 0, 'latin1');
    header.writeUInt16LE(43, 2);
    header.writeUInt16LE(8, 4);
    header.writeBigUInt64LE(BigInt(ifdAts[0]!), 8);
    await fh.write(header, 0, 16, 0);
    await fh.close();
    await rename(partial, out);
    let tissueTiles = 0;
    for (const code of layout.codes) if (code !== GLASS) tissueTiles++;
    return {
      path: out,
      width,
      height,
      tileSize,
      tiles: count,
      tissueTiles,
      distinctTiles: distinct,
      bytes: pos,
      levels: levels.map((l) => ({ width: l.width, height: l.height })),
    };
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw e;
  }
}

function parseCli(argv: string[]): { out: string; options: SyntheticSlideOptions } {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string' },
      out: { type: 'string' },
      tile: { type: 'string' },
      mpp: { type: 'string' },
      seed: { type: 'string' },
      quality: { type: 'string' },
      'copy-tiles': { type: 'boolean', default: false },
      pyramid: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.size) throw new Error('Expected --size WIDTHxHEIGHT');
  if (!values.out) throw new Error('Expected --out FILE');
  const { width, height } = sizeArg(values.size);
  let mpp: number | undefined;
  if (values.mpp !== undefined) {
    mpp = Number(values.mpp);
    if (!/^\d+(\.\d+)?$/.test(values.mpp) || mpp < 0.01 || mpp > 100) {
      throw new Error(`Expected number between 0.01 and 100 for --mpp but received ${values.mpp}`);
    }
  }
  const options: SyntheticSlideOptions = {
    width: intArg('size width', String(width), 1, TIFF_LONG_MAX),
    height: intArg('size height', String(height), 1, TIFF_LONG_MAX),
    copyTiles: values['copy-tiles'] === true,
    pyramid: values.pyramid === true,
  };
  if (values.tile !== undefined) options.tileSize = intArg('tile', values.tile, 16, 4096);
  if (mpp !== undefined) options.mpp = mpp;
  if (values.seed !== undefined) options.seed = intArg('seed', values.seed, 0, TIFF_LONG_MAX);
  if (values.quality !== undefined) options.quality = intArg('quality', values.quality, 1, 100);
  // Rules that need every value at once (tile size against image size), checked before any work.
  checkOptions(options);
  return { out: values.out, options };
}

async function main(): Promise<void> {
  let cli: ReturnType<typeof parseCli>;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(2);
  }
  const t0 = performance.now();
  const slide = await makeSyntheticSlide(cli.out, cli.options);
  const seconds = (performance.now() - t0) / 1000;
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  console.log(
    `${slide.path}: ${slide.width}x${slide.height} px, ${slide.tiles} tiles of ${slide.tileSize} ` +
      `(${slide.tissueTiles} with tissue, ${slide.distinctTiles} distinct), ` +
      `${slide.levels.length} level${slide.levels.length > 1 ? 's' : ''}, ${mb(slide.bytes)} ` +
      `in ${seconds.toFixed(2)} s, peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
