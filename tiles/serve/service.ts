import { createHash } from 'node:crypto';
import os from 'node:os';
import sharp from 'sharp';
import { ASSOCIATED_NAMES, type AssociatedName, type Manifest } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import { type SlideStore, associatedFile, isSlideId, readStoredFile } from '../store/types.ts';
import { ByteLru, Flights } from './cache.ts';
import { dziDescriptor, dziPlan } from './dzi.ts';
import {
  DEFAULT_IIIF_LIMITS,
  IIIF_CONTENT_TYPES,
  type IiifLimits,
  checkIiifRead,
  iiifInfo,
  iiifPlan,
  parseIiif,
} from './iiif.ts';
import { type RenderPlan, type StoredPlan, sourceLevel } from './plan.ts';
import { SlidePool } from './pool.ts';
import { RENDER_JPEG_QUALITY, finishIiif, planPixels, readPlanTiles } from './render.ts';
import { RenderScheduler } from './scheduler.ts';
import type { StoredSlide } from './stored-slide.ts';
import type { SourceSlide } from './source-slide.ts';

/** Bytes to send, with what HTTP needs to cache them. */
export interface TileResult {
  body: Buffer;
  contentType: string;
  /** Strong validator (without quotes): the same for the same slide and normalised request. */
  etag: string;
  /** 'raw': stored bytes; 'rendered': made by this call; 'cached': made earlier and kept. */
  kind: 'raw' | 'rendered' | 'cached';
  /**
   * Made from the slide's source while its store copy is being written: the same URL will give the
   * stored tile later (another ETag), so it must not be cached as immutable.
   */
  provisional?: true;
}

export interface TileServiceOptions {
  /** Bytes of rendered images kept in memory (default 256 MiB; 0 keeps none). */
  cacheBytes?: number;
  /** Slides kept open (an open slide.tif and a tile index each; default 64). */
  maxOpenSlides?: number;
  /** Renders running at once; the rest queue, fairly between requesters (default: cores, at least 2). */
  renderConcurrency?: number;
  /** Renders waiting, all requesters together; beyond it renders are refused (default 256). */
  renderQueue?: number;
  /** Renders waiting for one requester (default 64). */
  renderQueuePerRequester?: number;
  /** Renders of at most this cost (pixels written + read) may use one more slot (default 2048²; 0 = none). */
  smallRenderCost?: number;
  /** IIIF output limits (default 8192 x 8192, 4096² pixels, upscaling up to 2x). */
  iiifLimits?: Partial<IiifLimits>;
  /**
   * Source pixels one IIIF request may read (default 5 x maxArea). A request that keeps its region's
   * aspect ratio reads at most ~4x its output, as the next level down would be too small; only
   * distorted ones (a whole slide squeezed to 8192 x 1) read more.
   */
  maxReadArea?: number;
}

/** Who asked for an image and whether they still want it: renders are scheduled per requester. */
export interface RenderRequest {
  /** Fires when the client has gone; a function is called only if a render is needed. */
  signal?: AbortSignal | (() => AbortSignal);
  /** The asking user's id: renders take turns between requesters. */
  requester?: string;
}

/** Longest side of a thumbnail. */
export const THUMBNAIL_MAX = 2048;

/**
 * Bumped when rendering changes (kernel, quality, format options): ETags of rendered images include
 * it, so browsers holding "immutable" copies fetch the new ones.
 */
const RENDER_VERSION = '1';

const JPEG = 'image/jpeg';

/**
 * Tile reading for the HTTP routes: Deep Zoom and IIIF Image API 3 tiles, thumbnails and associated
 * images of stored slides. Stored tiles go out as they are on disk (tables spliced in, no decode);
 * everything else is rendered with sharp and kept in a byte-bounded cache, each distinct render
 * running once however many clients ask for it at the same time.
 */
export class TileService {
  private readonly pool: SlidePool;
  private readonly cache: ByteLru<TileResult>;
  private readonly flights = new Flights<TileResult>();
  /** Slides served from their source until their store copy is published (see addSource). */
  private readonly sources = new Map<string, SourceSlide>();
  /** Every decode / encode runs through it; stored tiles never do. */
  readonly scheduler: RenderScheduler;
  readonly limits: IiifLimits;
  readonly maxReadArea: number;
  /** Counts since start: stored tiles sent, renders run, cache hits. */
  readonly stats = { raw: 0, rendered: 0, cached: 0 };

  constructor(
    private readonly store: Pick<SlideStore, 'manifest' | 'open'>,
    opts: TileServiceOptions = {},
  ) {
    this.pool = new SlidePool(store, positiveInt(opts.maxOpenSlides, 64, 'maxOpenSlides'));
    const cacheBytes = opts.cacheBytes ?? 256 * 1024 * 1024;
    if (!Number.isFinite(cacheBytes) || cacheBytes < 0) {
      throw new RangeError(`Expected non-negative number for cacheBytes but received ${cacheBytes}`);
    }
    this.cache = new ByteLru(cacheBytes, (r) => r.body.length + r.etag.length + 64);
    this.scheduler = new RenderScheduler({
      concurrency: positiveInt(
        opts.renderConcurrency,
        Math.max(2, os.availableParallelism()),
        'renderConcurrency',
      ),
      maxQueued: opts.renderQueue,
      maxQueuedPerRequester: opts.renderQueuePerRequester,
      smallCost: opts.smallRenderCost,
    });
    this.limits = Object.freeze({ ...DEFAULT_IIIF_LIMITS, ...opts.iiifLimits });
    this.maxReadArea = positiveInt(opts.maxReadArea, 5 * this.limits.maxArea, 'maxReadArea');
  }

  /** Slides currently open (file handle plus tile index each). */
  get openSlides(): number {
    return this.pool.size;
  }

  /** Bytes currently held by the render cache. */
  get cachedBytes(): number {
    return this.cache.bytes;
  }

  /** The stored manifest (or the one a slide served from its source will have), or null for an unknown slide. */
  async manifest(id: string): Promise<Manifest | null> {
    if (!isSlideId(id)) return null;
    return this.sources.get(id)?.manifest ?? this.pool.peek(id)?.manifest ?? this.store.manifest(id);
  }

  /**
   * Serve a slide from its source until dropSource: every tile, IIIF image and thumbnail of it is
   * made from the source (ETags marked "src", never cached as immutable by clients).
   */
  addSource(slide: SourceSlide): void {
    const old = this.sources.get(slide.manifest.id);
    this.sources.set(slide.manifest.id, slide);
    if (old && old !== slide) void old.close();
  }

  /** Whether a slide is served from its source. */
  servesSource(id: string): boolean {
    return this.sources.has(id);
  }

  /** The slide served from its source, if it is. */
  sourceSlide(id: string): SourceSlide | undefined {
    return this.sources.get(id);
  }

  /**
   * Stop serving a slide from its source (its store copy is published, or it is gone): its renders
   * are dropped and the source closed once reads under way have had time to finish.
   */
  dropSource(id: string, graceMs = 30_000): void {
    const slide = this.sources.get(id);
    if (!slide) return;
    this.sources.delete(id);
    this.cache.deleteWhere((k) => k.startsWith(`${id}/src/`));
    if (graceMs <= 0) void slide.close();
    else setTimeout(() => void slide.close(), graceMs).unref();
  }

  /** The Deep Zoom descriptor (XML), or null for an unknown slide. */
  async dziDescriptor(id: string): Promise<string | null> {
    const m = await this.manifest(id);
    return m ? dziDescriptor(m) : null;
  }

  /**
   * Deep Zoom tile (col, row) of `level` (top = full resolution, 0 = 1 x 1), exactly the Deep Zoom
   * size (edge tiles are not padded). Null for a tile outside the pyramid; throws
   * SlideError('SLIDE_NOT_FOUND') for an unknown slide.
   */
  async dziTile(
    id: string,
    level: number,
    col: number,
    row: number,
    who: RenderRequest = {},
  ): Promise<TileResult | null> {
    const src = this.sources.get(id);
    if (src) return this.sourceDziTile(src, level, col, row, who);
    // The hot path: an open slide is taken without an extra await.
    const slide = this.pool.tryAcquire(id) ?? (await this.acquire(id));
    try {
      const plan = dziPlan(slide.manifest, level, col, row);
      if (!plan) return null;
      if (plan.kind === 'stored') return await this.stored(slide, plan);
      // A second generation next to stored tiles: never below the render quality and, like stored
      // RGB tiles, no chroma subsampling, so edge tiles do not look worse than their neighbours.
      const quality = Math.max(RENDER_JPEG_QUALITY, slide.manifest.jpegQuality);
      return await this.rendered(
        slide,
        dziRenderKey(level, col, row),
        { ...who, cost: renderCost(plan) },
        async () => (await planPixels(slide, plan)).jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer(),
        JPEG,
        false,
        () => readPlanTiles(slide, plan),
      );
    } finally {
      slide.release();
    }
  }

  /**
   * Stored tile (col, row) of stored level k exactly as stored: the full tile size, edge tiles
   * padded as the TIFF holds them (a DICOM frame). Null outside the level; throws
   * SlideError('SLIDE_NOT_FOUND') for an unknown slide.
   */
  async storedTile(id: string, k: number, col: number, row: number): Promise<TileResult | null> {
    const slide = this.pool.tryAcquire(id) ?? (await this.acquire(id));
    try {
      const l = slide.manifest.levelInfo[k];
      if (!l || !Number.isInteger(col) || !Number.isInteger(row)) return null;
      if (col < 0 || row < 0 || col >= l.tilesX || row >= l.tilesY) return null;
      return await this.stored(slide, {
        kind: 'stored',
        level: k,
        col,
        row,
        height: slide.manifest.tileSize,
      });
    } finally {
      slide.release();
    }
  }

  /**
   * The number of stored tiles of level k and their bytes together as storedTile sends them, from
   * the tile index alone (no tile is read). Null for a level the slide does not have.
   */
  async storedLevelBytes(id: string, k: number): Promise<{ tiles: number; bytes: number } | null> {
    const slide = await this.acquire(id);
    try {
      return slide.storedLevelBytes(k);
    } finally {
      slide.release();
    }
  }

  /** IIIF image information (info.json) with `baseUrl` as its id, or null for an unknown slide. */
  async iiifInfo(id: string, baseUrl: string): Promise<Record<string, unknown> | null> {
    const m = await this.manifest(id);
    return m ? iiifInfo(m, baseUrl, this.limits, this.maxReadArea) : null;
  }

  /**
   * An IIIF Image API 3 image from the four path parameters. Throws SlideError('INVALID_PARAMETER')
   * for a malformed or out-of-limits request (output beyond the limits, or reading more than
   * maxReadArea source pixels), SlideError('SLIDE_NOT_FOUND') for an unknown slide and
   * RenderQueueFull when too many renders wait.
   */
  async iiifImage(
    id: string,
    region: string,
    size: string,
    rotation: string,
    qualityFormat: string,
    who: RenderRequest = {},
  ): Promise<TileResult> {
    const source = this.sources.get(id);
    if (source) return this.sourceIiifImage(source, region, size, rotation, qualityFormat, who);
    const slide = await this.acquire(id);
    try {
      const m = slide.manifest;
      const req = parseIiif(region, size, rotation, qualityFormat, m.width, m.height, this.limits);
      const plan = iiifPlan(m, req);
      if (plan.kind === 'stored') {
        const tile = await this.stored(slide, plan);
        if (!tile) throw new SlideError('INTERNAL', `IIIF plan names a missing tile of slide ${id}`);
        return tile;
      }
      checkIiifRead(plan, req, this.maxReadArea);
      return await this.rendered(
        slide,
        `iiif/${req.key}`,
        { ...who, cost: renderCost(plan) },
        async () => finishIiif(await planPixels(slide, plan), req).toBuffer(),
        IIIF_CONTENT_TYPES[req.format],
        false,
        () => readPlanTiles(slide, plan),
      );
    } finally {
      slide.release();
    }
  }

  /**
   * A JPEG thumbnail whose longer side is `max` (1..2048) or the slide's own size if smaller: from
   * thumbnail.jpg when it is large enough, else from the pyramid. Null for an unknown slide.
   */
  async thumbnail(id: string, max: number, who: RenderRequest = {}): Promise<TileResult | null> {
    if (!Number.isInteger(max) || max < 1 || max > THUMBNAIL_MAX) {
      throw new SlideError(
        'INVALID_PARAMETER',
        `Expected integer between 1 and ${THUMBNAIL_MAX} for max but received ${max}`,
      );
    }
    if (!isSlideId(id)) return null;
    const source = this.sources.get(id);
    if (source) return this.sourceThumbnail(source, max, who);
    const slide = await this.pool.acquire(id);
    if (!slide) return null;
    try {
      const m = slide.manifest;
      const scale = Math.min(1, max / m.width, max / m.height);
      const width = Math.max(1, Math.round(m.width * scale));
      const height = Math.max(1, Math.round(m.height * scale));
      const thumb = await this.storedThumbnail(slide);
      if (thumb && thumb.width === width && thumb.height === height) {
        return { body: thumb.body, contentType: JPEG, etag: `${id}-thumbnail`, kind: 'raw' };
      }
      if (thumb && thumb.width >= width && thumb.height >= height) {
        const body = thumb.body;
        return await this.rendered(
          slide,
          `thumbnail/${width}x${height}`,
          { ...who, cost: width * height + thumb.width * thumb.height },
          () =>
            sharp(body)
              .resize(width, height, { fit: 'fill' })
              .jpeg({ quality: RENDER_JPEG_QUALITY })
              .toBuffer(),
          JPEG,
        );
      }
      const full = { x: 0, y: 0, width: m.width, height: m.height };
      const { level, src } = sourceLevel(m, full, width, height);
      const plan: RenderPlan = { kind: 'render', level, src, extendRight: 0, extendBottom: 0, width, height };
      return await this.rendered(
        slide,
        `thumbnail/${width}x${height}`,
        { ...who, cost: renderCost(plan) },
        async () => (await planPixels(slide, plan)).jpeg({ quality: RENDER_JPEG_QUALITY }).toBuffer(),
        JPEG,
      );
    } finally {
      slide.release();
    }
  }

  /** An associated image (label, macro, thumbnail) as stored, or null when the slide has none. */
  async associated(id: string, name: AssociatedName): Promise<TileResult | null> {
    if (!isSlideId(id) || !(ASSOCIATED_NAMES as readonly string[]).includes(name)) return null;
    const body = await readStoredFile(this.store, id, associatedFile(name));
    return body ? { body, contentType: JPEG, etag: `${id}-${name}`, kind: 'raw' } : null;
  }

  /**
   * An associated image fitted within `maxWidth` x `maxHeight` (never enlarged) as JPEG or PNG: the
   * stored bytes when they already are that, else rendered in the requester's turn and cached. Null
   * when the slide has no such image.
   */
  async associatedImage(
    id: string,
    name: AssociatedName,
    maxWidth: number,
    maxHeight: number,
    format: 'jpg' | 'png',
    who: RenderRequest = {},
  ): Promise<TileResult | null> {
    for (const [v, what] of [
      [maxWidth, 'maxWidth'],
      [maxHeight, 'maxHeight'],
    ] as const)
      if (!Number.isInteger(v) || v < 1 || v > THUMBNAIL_MAX * 4)
        throw new SlideError(
          'INVALID_PARAMETER',
          `Expected integer between 1 and ${THUMBNAIL_MAX * 4} for ${what} but received ${v}`,
        );
    const stored = await this.associated(id, name);
    if (!stored) return null;
    const meta = await sharp(stored.body).metadata();
    const scale = Math.min(1, maxWidth / meta.width, maxHeight / meta.height);
    const width = Math.max(1, Math.round(meta.width * scale));
    const height = Math.max(1, Math.round(meta.height * scale));
    if (format === 'jpg' && width === meta.width && height === meta.height) return stored;
    const slide = await this.acquire(id);
    try {
      const body = stored.body;
      return await this.rendered(
        slide,
        `associated/${name}/${width}x${height}.${format}`,
        { ...who, cost: width * height + meta.width * meta.height },
        () => {
          const img = sharp(body).resize(width, height, { fit: 'fill' });
          return (format === 'png' ? img.png() : img.jpeg({ quality: RENDER_JPEG_QUALITY })).toBuffer();
        },
        format === 'png' ? 'image/png' : JPEG,
      );
    } finally {
      slide.release();
    }
  }

  /** Forget a slide removed from the store: its open file and its cached renders. */
  forget(id: string): void {
    this.dropSource(id, 0);
    this.pool.forget(id);
    this.cache.deleteWhere((k) => k.startsWith(`${id}/`));
  }

  /** Close every open slide and drop the cache. */
  async close(): Promise<void> {
    for (const id of [...this.sources.keys()]) this.dropSource(id, 0);
    await this.pool.close();
    this.cache.clear();
  }

  /**
   * Open a slide ahead of its first tile (its manifest was just asked for): the tile index of a
   * large slide takes a while to read, and the viewer asks for a whole field of tiles at once.
   * True once the slide is open; false for an unknown or unreadable one (the tile requests report it).
   */
  async warm(id: string): Promise<boolean> {
    try {
      (await this.acquire(id)).release();
      return true;
    } catch {
      return false;
    }
  }

  private async acquire(id: string): Promise<StoredSlide> {
    const slide = this.pool.tryAcquire(id) ?? (await this.pool.acquire(id));
    if (!slide) throw new SlideError('SLIDE_NOT_FOUND', `no slide ${JSON.stringify(id.slice(0, 64))}`);
    return slide;
  }

  /**
   * A stored tile as stored (tables spliced, no decode). Kept in the same byte-bounded cache as
   * renders: a positioned read goes through libuv's thread pool, which costs more than the rest of a
   * tile request together, and a pathologist's field of view is asked for again within seconds.
   */
  private async stored(slide: StoredSlide, plan: StoredPlan): Promise<TileResult | null> {
    const key = storedKey(slide.manifest.id, plan);
    const hit = this.cache.get(key);
    if (hit) {
      this.stats.raw++;
      return hit;
    }
    const body = await slide.readStoredTile(plan.level, plan.col, plan.row, plan.height);
    if (!body) return null;
    this.stats.raw++;
    const cut = plan.height === slide.manifest.tileSize ? '' : `-h${plan.height}`;
    const result: TileResult = {
      body,
      contentType: JPEG,
      etag: `${slide.manifest.id}-t${plan.level}.${plan.col}.${plan.row}${cut}`,
      kind: 'raw',
    };
    this.cache.set(key, result);
    return result;
  }

  /**
   * The Deep Zoom tile when it can be answered at once: the slide is open and the tile (stored or
   * rendered) is in the cache. Undefined otherwise (then dziTile); never reads or renders.
   */
  cachedDziTile(id: string, level: number, col: number, row: number): TileResult | undefined {
    const source = this.sources.get(id);
    if (source) {
      const hit = this.cache.get(`${id}/src/dzi/${level}/${col}_${row}`);
      if (hit) this.stats.cached++;
      return hit && { ...hit, kind: 'cached' };
    }
    const slide = this.pool.peek(id);
    if (!slide) return undefined;
    const plan = dziPlan(slide.manifest, level, col, row);
    if (!plan) return undefined;
    if (plan.kind === 'stored') {
      const hit = this.cache.get(storedKey(id, plan));
      if (hit) this.stats.raw++;
      return hit;
    }
    const hit = this.cache.get(`${id}/${dziRenderKey(level, col, row)}`);
    if (!hit) return undefined;
    this.stats.cached++;
    return { ...hit, kind: 'cached' };
  }

  /**
   * A cached render, or the render itself (once per key at a time, in its requester's turn of the
   * scheduler); not started when every client that asked for it has gone away.
   */
  private async rendered(
    slide: Pick<StoredSlide, 'manifest'>,
    key: string,
    job: RenderRequest & { cost: number },
    render: () => Promise<Buffer>,
    contentType: string,
    provisional = false,
    prefetch?: () => Promise<unknown>,
  ): Promise<TileResult> {
    const id = slide.manifest.id;
    const cacheKey = provisional ? `${id}/src/${key}` : `${id}/${key}`;
    const hit = this.cache.get(cacheKey);
    if (hit) {
      this.stats.cached++;
      return { ...hit, kind: 'cached' };
    }
    const signal = typeof job.signal === 'function' ? job.signal() : job.signal;
    return this.flights.run(cacheKey, signal, async (wanted) => {
      // Reads from an object store wait on the network: done before the render takes a slot, so
      // the slots (as many as cores) go to decoding and encoding, not to waiting.
      if (prefetch) await prefetch();
      return this.scheduler.run(
        async () => {
          this.stats.rendered++;
          const body = await render();
          const hash = createHash('sha256')
            .update(`${RENDER_VERSION}/${key}`)
            .digest('base64url')
            .slice(0, 22);
          const result: TileResult = provisional
            ? { body, contentType, etag: `${id}-src-${hash}`, kind: 'rendered', provisional: true }
            : { body, contentType, etag: `${id}-r${hash}`, kind: 'rendered' };
          this.cache.set(cacheKey, result);
          return result;
        },
        { cost: job.cost, requester: job.requester, wanted },
      );
    });
  }

  /**
   * dziTile for a slide served from its source: the scanner's tiles as they are, other tiles of the
   * stored levels made as the store will hold them, the rest rendered from those as for a stored slide.
   */
  private async sourceDziTile(
    src: SourceSlide,
    level: number,
    col: number,
    row: number,
    who: RenderRequest,
  ): Promise<TileResult | null> {
    const m = src.manifest;
    const plan = dziPlan(m, level, col, row);
    if (!plan) return null;
    const key = `dzi/${level}/${col}_${row}`;
    if (plan.kind === 'stored' && src.passThrough(plan.level)) {
      const cacheKey = `${m.id}/src/${key}`;
      const hit = this.cache.get(cacheKey);
      if (hit) return hit;
      const body = await src.readStoredTile(plan.level, plan.col, plan.row, plan.height);
      if (!body) return null;
      this.stats.raw++;
      const cut = plan.height === m.tileSize ? '' : `-h${plan.height}`;
      const result: TileResult = {
        body,
        contentType: JPEG,
        etag: `${m.id}-src-t${plan.level}.${plan.col}.${plan.row}${cut}`,
        kind: 'raw',
        provisional: true,
      };
      this.cache.set(cacheKey, result);
      return result;
    }
    if (plan.kind === 'stored') {
      return this.rendered(
        src,
        key,
        { ...who, cost: 2 * m.tileSize * m.tileSize },
        async () => {
          const body = await src.readStoredTile(plan.level, plan.col, plan.row, plan.height);
          if (!body) throw new SlideError('INTERNAL', `Deep Zoom plan names a missing tile of slide ${m.id}`);
          return body;
        },
        JPEG,
        true,
      );
    }
    const quality = Math.max(RENDER_JPEG_QUALITY, m.jpegQuality);
    return this.rendered(
      src,
      key,
      { ...who, cost: renderCost(plan) },
      async () => (await planPixels(src, plan)).jpeg({ quality, chromaSubsampling: '4:4:4' }).toBuffer(),
      JPEG,
      true,
    );
  }

  private async sourceIiifImage(
    src: SourceSlide,
    region: string,
    size: string,
    rotation: string,
    qualityFormat: string,
    who: RenderRequest,
  ): Promise<TileResult> {
    const m = src.manifest;
    const req = parseIiif(region, size, rotation, qualityFormat, m.width, m.height, this.limits);
    const plan = iiifPlan(m, req);
    if (plan.kind === 'stored') {
      return this.rendered(
        src,
        `iiif/${req.key}`,
        { ...who, cost: 2 * m.tileSize * m.tileSize },
        async () => {
          const body = await src.readStoredTile(plan.level, plan.col, plan.row, plan.height);
          if (!body) throw new SlideError('INTERNAL', `IIIF plan names a missing tile of slide ${m.id}`);
          return body;
        },
        JPEG,
        true,
      );
    }
    checkIiifRead(plan, req, this.maxReadArea);
    return this.rendered(
      src,
      `iiif/${req.key}`,
      { ...who, cost: renderCost(plan) },
      async () => finishIiif(await planPixels(src, plan), req).toBuffer(),
      IIIF_CONTENT_TYPES[req.format],
      true,
    );
  }

  private async sourceThumbnail(src: SourceSlide, max: number, who: RenderRequest): Promise<TileResult> {
    const m = src.manifest;
    const scale = Math.min(1, max / m.width, max / m.height);
    const width = Math.max(1, Math.round(m.width * scale));
    const height = Math.max(1, Math.round(m.height * scale));
    const { level, src: rect } = sourceLevel(
      m,
      { x: 0, y: 0, width: m.width, height: m.height },
      width,
      height,
    );
    const plan: RenderPlan = {
      kind: 'render',
      level,
      src: rect,
      extendRight: 0,
      extendBottom: 0,
      width,
      height,
    };
    return this.rendered(
      src,
      `thumbnail/${width}x${height}`,
      { ...who, cost: renderCost(plan) },
      async () => (await planPixels(src, plan)).jpeg({ quality: RENDER_JPEG_QUALITY }).toBuffer(),
      JPEG,
      true,
    );
  }

  private storedThumbnail(
    slide: StoredSlide,
  ): Promise<{ body: Buffer; width: number; height: number } | null> {
    // Held with the open slide (at most ~1024 px, a few hundred KB): a thumbnail is asked for by
    // every library page, and from an object store each read is a request.
    slide.thumbnail ??= (async () => {
      const body = await readStoredFile(this.store, slide.manifest.id, associatedFile('thumbnail'));
      if (!body) return null;
      const meta = await sharp(body).metadata();
      return { body, width: meta.width, height: meta.height };
    })();
    return slide.thumbnail;
  }
}

const storedKey = (id: string, p: StoredPlan): string =>
  `${id}/stored/${p.level}/${p.col}/${p.row}/${p.height}`;
const dziRenderKey = (level: number, col: number, row: number): string => `dzi/${level}/${col}_${row}`;

/** What a render costs the scheduler: the pixels it writes plus the pixels it reads. */
function renderCost(plan: RenderPlan): number {
  return plan.width * plan.height + plan.src.width * plan.src.height;
}

function positiveInt(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`Expected positive integer for ${name} but received ${v}`);
  return v;
}
