import sharp, { type Sharp } from 'sharp';
import { ManifestSchema, type Manifest } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import { fittingTileSize } from '../ingest/ingest.ts';
import { storedLevels, tileRect } from '../pyramid/math.ts';
import { halveRegion } from '../pyramid/halve.ts';
import { TileEncoder } from '../pyramid/tile-encoder.ts';
import { explicitTables } from '../pyramid/level0.ts';
import type { ScannerTiles, SlideSource } from '../readers/types.ts';
import { jpegPrefix, setFrameHeight } from './jpeg.ts';
import type { Rect } from './plan.ts';

/**
 * How far apart two source levels may be (linear factor) for a tile to be cut from the finer one:
 * 8x reads at most 64 source pixels an output pixel, a few million for a tile.
 */
const MAX_LEVEL_GAP = 8;
/** The smallest source level is read whole for the smallest tiles: at most this many pixels. */
const MAX_SMALLEST_LEVEL_PIXELS = 4096 * 4096;
/**
 * Source pixels under the smallest stored level from which its tiles are made ahead of the first
 * view (warm): fewer are decoded in a few ms when asked, and making them ahead only took the cores
 * from the first requests after an upload (the bench slide's first tile 55 -> 33 ms without it).
 */
const WARM_MIN_SOURCE_PIXELS = 2_000_000;
/** Made tiles kept per slide. */
const TILES_KEPT = 128;

export interface SourceSlideOptions {
  /** The slide's id (the content hash the store will give it). */
  id: string;
  /** Display name, as the manifest will carry it. */
  name: string;
  /** Tile size the conversion is asked for (the scanner's own wins where its tiles are kept). */
  tileSize: number;
  jpegQuality: number;
  sourceFiles?: Manifest['sourceFiles'];
}

/** Why a source cannot be served before conversion, or null when it can. */
export function whyNotServable(source: SlideSource): string | null {
  if (!source.levelPixels && !source.levelRegion)
    return `the ${source.format} reader reads no level on demand`;
  const levels = source.levels;
  for (let k = 1; k < levels.length; k++) {
    if (levels[k]!.downsample / levels[k - 1]!.downsample > MAX_LEVEL_GAP)
      return `source levels ${k - 1} and ${k} are more than ${MAX_LEVEL_GAP}x apart`;
  }
  const last = levels[levels.length - 1]!;
  if (last.width * last.height > MAX_SMALLEST_LEVEL_PIXELS)
    return `the source's smallest level is ${last.width}x${last.height} (no pyramid of its own)`;
  return null;
}

/**
 * A slide served straight from its source while the store copy is being made: the manifest the
 * conversion will publish (same size, tile size and levels, so Deep Zoom and IIIF geometry do not
 * change when the stored pyramid takes over), level 0 as the scanner's own JPEG tiles where they are
 * kept, everything else cut from the nearest finer source level with sharp.
 */
export class SourceSlide {
  /** Per stored level: the source level it is cut from and that level's pipeline (cloned per use). */
  private readonly pipes = new Map<number, Promise<Sharp>>();
  private readonly prefix: Buffer | null;
  /** Tiles made lately (a render of several tiles, then its neighbours, reads them again). */
  private readonly tiles = new Map<string, Promise<Buffer>>();
  private encoder: Promise<TileEncoder> | null = null;
  /**
   * The smallest source level decoded whole, once: every coarse tile is cut from it (the smallest
   * stored levels and every Deep Zoom level below them), and decoding it again for each of them is
   * what a first view would otherwise wait on. At most MAX_SMALLEST_LEVEL_PIXELS x 3 bytes.
   */
  private smallest: Promise<RawLevel> | null = null;
  private closed = false;

  private constructor(
    readonly manifest: Manifest,
    private readonly source: SlideSource,
    private readonly scanner: ScannerTiles | null,
    /** Stored level → the source level whose JPEG tiles are its tiles, with their prefix. */
    private readonly passLevels: Map<number, { tiles: ScannerTiles; prefix: Buffer }>,
  ) {
    this.prefix = scanner
      ? jpegPrefix(explicitTables(scanner.tables, scanner.colour), scanner.colour === 'rgb')
      : null;
  }

  /**
   * Take over an open source. Throws SlideError('UNSUPPORTED_FORMAT') when it cannot be served
   * before conversion (see whyNotServable); the source is then left open for the caller.
   */
  static async open(source: SlideSource, o: SourceSlideOptions): Promise<SourceSlide> {
    const why = whyNotServable(source);
    if (why) throw new SlideError('UNSUPPORTED_FORMAT', `${source.name}: ${why}`);
    // As ingest chooses: the scanner's tile size where its tiles are kept, else the one asked for.
    const scanner = await (source.scannerTiles?.() ?? Promise.resolve(null)).catch(() => null);
    const tileSize = scanner ? scanner.tileSize : fittingTileSize(source.width, source.height, o.tileSize);
    const levelInfo = storedLevels(source.width, source.height, tileSize).map((l) => ({
      ...l,
      scanner: l.index === 0 && scanner !== null,
    }));
    const manifest = ManifestSchema.parse({
      formatVersion: 1,
      id: o.id,
      name: o.name,
      sourceFormat: source.format,
      sourceFiles: o.sourceFiles ?? [],
      width: source.width,
      height: source.height,
      tileSize,
      levels: levelInfo.length,
      levelInfo,
      sourceLevels: source.levels.length,
      mppX: source.mppX,
      mppY: source.mppY,
      objectivePower: source.objectivePower,
      associated: [],
      properties: { ...source.properties },
      rendering: source.rendering,
      files: {},
      jpegQuality: o.jpegQuality,
      createdAt: new Date().toISOString(),
    });
    // Source levels on the stored grid (same size, same tile size: a scanner's 2x levels, or a
    // pyramid written by libvips) are sent as they are, like level 0.
    const passLevels = new Map<number, { tiles: ScannerTiles; prefix: Buffer }>();
    // Source level j for stored level k, the first source level of each size (looked at together).
    const candidates = new Map<number, number>();
    for (let j = 1; j < source.levels.length && source.levelTiles; j++) {
      const l = source.levels[j]!;
      const k = Math.round(Math.log2(l.downsample));
      const want = levelInfo[k];
      if (k < 1 || !want || want.width !== l.width || want.height !== l.height || candidates.has(k)) continue;
      // The last level is made here, cheaply: every smaller Deep Zoom level is rendered from it, and
      // a render of a scanner's own small level strays further from the stored pyramid's.
      if (k === levelInfo.length - 1) continue;
      candidates.set(k, j);
    }
    const found = await Promise.all(
      [...candidates].map(async ([k, j]) => [k, await source.levelTiles!(j).catch(() => null)] as const),
    );
    for (const [k, tiles] of found) {
      if (!tiles || tiles.tileSize !== tileSize) continue;
      const prefix = jpegPrefix(explicitTables(tiles.tables, tiles.colour), tiles.colour === 'rgb');
      passLevels.set(k, { tiles, prefix });
    }
    const slide = new SourceSlide(manifest, source, scanner, passLevels);
    // Every level the tiles are cut from must open now: a source that cannot is not served at all.
    if (!source.levelRegion) {
      const opened = await Promise.all(source.levels.map((_, k) => source.levelPixels!(k)));
      const k = opened.findIndex((px) => !px);
      if (k >= 0)
        throw new SlideError('UNSUPPORTED_FORMAT', `${source.name}: source level ${k} needs a conversion`);
    }
    // A region reader: its smallest level read (and kept) now, which also proves it reads.
    if (source.levelRegion) await slide.pixels(manifest.levels - 1, { x: 0, y: 0, width: 1, height: 1 });
    return slide;
  }

  /**
   * Make what a first view asks for before it asks: the smallest source level decoded and the
   * smallest stored level's tiles (every coarser Deep Zoom level is rendered from them), where that
   * is slow enough to matter (WARM_MIN_SOURCE_PIXELS). Run once the slide is served, beside the page
   * loading; a failure here is left for the request to meet. Resolves with the tiles made.
   */
  async warm(): Promise<number> {
    const k = this.manifest.levelInfo.length - 1;
    const l = this.manifest.levelInfo[k]!;
    const under = this.source.levels[this.sourceLevelFor(k)]!;
    if (this.passThrough(k) || under.width * under.height < WARM_MIN_SOURCE_PIXELS) return 0;
    let made = 0;
    for (let row = 0; row < l.tilesY; row++)
      for (let col = 0; col < l.tilesX; col++)
        if (await this.readStoredTile(k, col, row).catch(() => null)) made++;
    return made;
  }

  /** The source level stored level k is made from: the finest not coarser than it. */
  private sourceLevelFor(k: number): number {
    const f = 2 ** k;
    const levels = this.source.levels;
    for (let i = levels.length - 1; i >= 0; i--) if (levels[i]!.downsample <= f * 1.001) return i;
    return 0;
  }

  /** Whether level k's tiles are the source's own bytes (level 0 where kept, levels on its grid). */
  passThrough(k: number): boolean {
    return (k === 0 && this.scanner !== null) || this.passLevels.has(k);
  }

  /**
   * Tile (col, row) of level 0 as the scanner stored it, made a complete JPEG (tables spliced in, the
   * Adobe marker for RGB-coded tiles), the frame height lowered to `height` for bottom-edge tiles: the
   * bytes the store will hold. Null outside the level or without scanner tiles.
   */
  async scannerTile(col: number, row: number, height: number, k = 0): Promise<Buffer | null> {
    const l = this.manifest.levelInfo[k];
    const pass =
      k === 0
        ? this.scanner && this.prefix
          ? { tiles: this.scanner, prefix: this.prefix }
          : null
        : this.passLevels.get(k);
    if (!l || !pass) return null;
    if (col < 0 || row < 0 || col >= l.tilesX || row >= l.tilesY) return null;
    this.assertOpen();
    const { bytes } = await pass.tiles.tile(col, row);
    if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8)
      throw new SlideError('CORRUPT_FILE', `${this.source.name}: tile ${col},${row} is not a JPEG stream`);
    const at = pass.prefix.length;
    const out = Buffer.allocUnsafe(at + bytes.length - 2);
    pass.prefix.copy(out, 0);
    bytes.copy(out, at, 2);
    if (height !== this.manifest.tileSize && !setFrameHeight(out, height, at))
      throw new SlideError('CORRUPT_FILE', `${this.source.name}: tile ${col},${row} has no frame header`);
    return out;
  }

  /**
   * Pixels of stored level k's rectangle `r` (in that level's coordinates, inside it), as the stored
   * pyramid will hold them: level k pixel (x, y) covers level-0 pixels [x·2^k, (x+1)·2^k), cut from
   * the finest-but-one source level that is not coarser than level k and scaled down to size.
   */
  async pixels(k: number, r: Rect): Promise<Sharp> {
    this.assertOpen();
    const f = 2 ** k;
    const levels = this.source.levels;
    const j = this.sourceLevelFor(k);
    if (j === levels.length - 1) return this.fromSmallest(j, f, r);
    const region = this.source.levelRegion?.bind(this.source);
    if (region) return this.fromRaw(j, f, r, (x, y, w, h) => region(j, x, y, w, h));
    let pipe = this.pipes.get(j);
    if (!pipe) {
      pipe = this.source.levelPixels!(j).then((p) => {
        if (!p) throw new SlideError('INTERNAL', `${this.source.name}: source level ${j} is not readable`);
        return p;
      });
      this.pipes.set(j, pipe);
      pipe.catch(() => this.pipes.delete(j));
    }
    const base = await pipe;
    return this.fromRaw(j, f, r, async (x, y, w, h) => {
      const { data, info } = await base
        .clone()
        .extract({ left: x, top: y, width: w, height: h })
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3)
        throw new SlideError('INTERNAL', `${this.source.name}: source level ${j} is not RGB`);
      return data;
    });
  }

  /** As pixels() for stored level factor f, from the smallest source level j decoded whole. */
  private async fromSmallest(j: number, f: number, r: Rect): Promise<Sharp> {
    const lj = this.source.levels[j]!;
    if (!this.smallest) {
      this.smallest = (async (): Promise<RawLevel> => {
        if (this.source.levelRegion)
          return {
            data: await this.source.levelRegion(j, 0, 0, lj.width, lj.height),
            width: lj.width,
            height: lj.height,
          };
        const p = await this.source.levelPixels!(j);
        if (!p) throw new SlideError('INTERNAL', `${this.source.name}: source level ${j} is not readable`);
        const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
        if (info.width !== lj.width || info.height !== lj.height || info.channels !== 3)
          throw new SlideError('INTERNAL', `${this.source.name}: source level ${j} decoded to another size`);
        return { data, width: info.width, height: info.height };
      })();
      this.smallest.catch(() => (this.smallest = null));
    }
    const lvl = await this.smallest;
    return this.fromRaw(j, f, r, (x, y, w, h) => Promise.resolve(cropRaw(lvl, x, y, w, h)));
  }

  /**
   * As pixels() for stored level factor f, from source level j read as packed RGB rectangles by
   * `read` (libvips, a region reader of the source's own, or the smallest level decoded whole): a
   * power-of-two step from the source level (a level of its own, or level 0) makes each pixel the
   * mean of the block under it, as the pyramid builder makes it; any other step is a resize.
   */
  private async fromRaw(
    j: number,
    f: number,
    r: Rect,
    read: (x: number, y: number, w: number, h: number) => Promise<Buffer>,
  ): Promise<Sharp> {
    const lj = this.source.levels[j]!;
    const ratio = f / lj.downsample;
    const n = Math.round(ratio);
    if (Math.abs(ratio - n) < 0.01 && (n & (n - 1)) === 0) {
      const x0 = r.x * n;
      const y0 = r.y * n;
      if (x0 >= lj.width || y0 >= lj.height)
        throw new SlideError('INTERNAL', `region outside source level ${j}`);
      const sw = Math.min(r.width * n, lj.width - x0);
      const sh = Math.min(r.height * n, lj.height - y0);
      const crop = await read(x0, y0, sw, sh);
      if (n === 1) return sharp(crop, { raw: { width: sw, height: sh, channels: 3 } });
      const out = await boxMean(crop, sw, sh, 3, n, r.width, r.height);
      return sharp(out, { raw: { width: r.width, height: r.height, channels: 3 } });
    }
    const sx = lj.width / this.manifest.width;
    const sy = lj.height / this.manifest.height;
    const x0 = Math.max(0, Math.floor(r.x * f * sx + 1e-6));
    const y0 = Math.max(0, Math.floor(r.y * f * sy + 1e-6));
    const x1 = Math.min(lj.width, Math.max(x0 + 1, Math.ceil((r.x + r.width) * f * sx - 1e-6)));
    const y1 = Math.min(lj.height, Math.max(y0 + 1, Math.ceil((r.y + r.height) * f * sy - 1e-6)));
    const crop = await read(x0, y0, x1 - x0, y1 - y0);
    return sharp(crop, { raw: { width: x1 - x0, height: y1 - y0, channels: 3 } }).resize(r.width, r.height, {
      fit: 'fill',
    });
  }

  /** slide.tif is not on disk yet: renders join tiles from readStoredTile. */
  readonly localFile = undefined;

  /**
   * Tile (col, row) of level k as the store will hold it, a complete JPEG: level 0's scanner tiles as
   * they are, other tiles made like the pyramid builder makes them (block means of the source, coded
   * by the same encoder), so a render from them is the render the stored slide will give. `height`
   * below the tile size lowers the declared frame height. Null outside the level.
   */
  async readStoredTile(k: number, col: number, row: number, height?: number): Promise<Buffer | null> {
    const T = this.manifest.tileSize;
    if (this.passThrough(k)) return this.scannerTile(col, row, height ?? T, k);
    const level = this.manifest.levelInfo[k];
    if (!level) return null;
    const rect = tileRect(level, T, col, row);
    if (!rect) return null;
    const key = `${k}/${col}/${row}`;
    let tile = this.tiles.get(key);
    if (tile) {
      this.tiles.delete(key);
      this.tiles.set(key, tile);
    } else {
      tile = this.encodeTile(k, rect);
      this.tiles.set(key, tile);
      tile.catch(() => this.tiles.delete(key));
      for (const old of this.tiles.keys()) {
        if (this.tiles.size <= TILES_KEPT) break;
        this.tiles.delete(old);
      }
    }
    const full = await tile;
    if (height === undefined || height === T) return full;
    const out = Buffer.from(full);
    if (!setFrameHeight(out, height, 2))
      throw new SlideError('INTERNAL', `${this.source.name}: encoded tile has no frame header`);
    return out;
  }

  private async encodeTile(k: number, rect: Rect): Promise<Buffer> {
    const T = this.manifest.tileSize;
    this.encoder ??= TileEncoder.create(T, this.manifest.jpegQuality);
    const encoder = await this.encoder;
    let img = await this.pixels(k, rect);
    // Past the level's edge the builder leaves white.
    if (rect.width < T || rect.height < T)
      img = img.extend({ right: T - rect.width, bottom: T - rect.height, background: '#ffffff' });
    const { data } = await img.raw().toBuffer({ resolveWithObject: true });
    const stream = await encoder.encode(data);
    const prefix = jpegPrefix(encoder.coding.jpegTables, encoder.coding.colour === 'rgb');
    return Buffer.concat([prefix, stream.subarray(2)]);
  }

  /** Check that the source still reads: its smallest stored level's single tile. */
  async check(): Promise<void> {
    const k = this.manifest.levelInfo.length - 1;
    const l = this.manifest.levelInfo[k]!;
    await (await this.pixels(k, { x: 0, y: 0, width: l.width, height: l.height })).raw().toBuffer();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.smallest = null;
    await this.source.close().catch(() => {});
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new SlideError('SLIDE_NOT_FOUND', `slide ${this.manifest.id} is no longer served`);
  }
}

interface RawLevel {
  /** Packed RGB, width x height. */
  data: Buffer;
  width: number;
  height: number;
}

/** Rectangle (x, y, w, h) of a packed RGB level, packed. */
function cropRaw(l: RawLevel, x: number, y: number, w: number, h: number): Buffer {
  if (x === 0 && y === 0 && w === l.width && h === l.height) return l.data;
  const out = Buffer.allocUnsafe(w * h * 3);
  for (let row = 0; row < h; row++)
    l.data.copy(out, row * w * 3, ((y + row) * l.width + x) * 3, ((y + row) * l.width + x + w) * 3);
  return out;
}

/** The longest boxMean computes before letting other work (requests) run. */
const BOX_SLICE_MS = 2;

/**
 * w x h RGB pixels, each the mean of the n x n block under it in `src` (sw x sh, `channels` bands;
 * blocks cut by its edge average what is there, past it the last row / column repeats). Computed in
 * slices of about BOX_SLICE_MS, so a coarse tile's megapixels never hold up other requests. Whole
 * 2 x 2 blocks of RGB (nearly all of a halving) take the pyramid builder's own loop: the same
 * rounding, several times faster than the general one.
 */
export async function boxMean(
  src: Buffer,
  sw: number,
  sh: number,
  channels: number,
  n: number,
  w: number,
  h: number,
): Promise<Buffer> {
  const out = Buffer.allocUnsafe(w * h * 3);
  const sums = new Float64Array(w * 3);
  const halving = n === 2 && channels === 3;
  const wholeCols = halving ? Math.min(w, Math.floor(sw / 2)) : 0;
  const wholeRows = halving ? Math.min(h, Math.floor(sh / 2)) : 0;
  let slice = performance.now();
  for (let y = 0; y < h; y++) {
    if (performance.now() - slice > BOX_SLICE_MS) {
      await new Promise<void>((r) => setImmediate(r));
      slice = performance.now();
    }
    const from = y < wholeRows ? wholeCols : 0;
    if (from > 0) halveRegion(src, sw, 0, 2 * y, out, w, 0, y, from, 1);
    if (from < w) blockMeans(src, sw, sh, channels, n, w, y, from, out, sums);
  }
  return out;
}

/** Output row y (w pixels wide), columns [x0, w) of boxMean, by summing each block (any n, blocks cut by the edges). */
function blockMeans(
  src: Buffer,
  sw: number,
  sh: number,
  channels: number,
  n: number,
  w: number,
  y: number,
  x0: number,
  out: Buffer,
  sums: Float64Array,
): void {
  sums.fill(0, x0 * 3, w * 3);
  const ya = Math.min(y * n, sh - 1);
  const yb = Math.max(ya + 1, Math.min((y + 1) * n, sh));
  for (let sy = ya; sy < yb; sy++) {
    const row = sy * sw * channels;
    for (let x = x0; x < w; x++) {
      const xa = Math.min(x * n, sw - 1);
      const xb = Math.max(xa + 1, Math.min((x + 1) * n, sw));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sx = xa; sx < xb; sx++) {
        const i = row + sx * channels;
        r += src[i]!;
        g += src[i + 1]!;
        b += src[i + 2]!;
      }
      sums[x * 3]! += r;
      sums[x * 3 + 1]! += g;
      sums[x * 3 + 2]! += b;
    }
  }
  const rows = yb - ya;
  for (let x = x0; x < w; x++) {
    const xa = Math.min(x * n, sw - 1);
    const cnt = rows * (Math.max(xa + 1, Math.min((x + 1) * n, sw)) - xa);
    const o = (y * w + x) * 3;
    out[o] = Math.round(sums[x * 3]! / cnt);
    out[o + 1] = Math.round(sums[x * 3 + 1]! / cnt);
    out[o + 2] = Math.round(sums[x * 3 + 2]! / cnt);
  }
}
