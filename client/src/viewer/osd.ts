import OpenSeadragon from 'openseadragon';
import { affineFrom, sameAffine, type Affine, type Point } from './geometry.ts';
import { ZOOM_STEP } from './keys.ts';
import { firstViewTiles, nextZoomTiles } from './prefetch.ts';
import { RestTracker } from './rest.ts';
import { fetchBitmap } from './tile-fetch.ts';
import type { ViewState } from './viewport.ts';

/**
 * Tiles fetched ahead of one zoom-in at most, while it animates: the middle of the next step's field
 * (a 1920 x 1080 field is ~20 tiles of 512 px, ~40-60 of 240 px); the rest is fetched once the view
 * rests (AHEAD_AT_REST). Fetching and decoding the next field takes the cores the step's own frames
 * need: on a 2-core machine, steps pressed one right after the other (`npm run bench:viewer`, medians
 * of 5 runs, alternating builds), first / second step 226-242 / 247-281 ms with 24 against
 * 311-328 / 186-273 ms with 48 (the whole next field), 225-243 / 290-365 ms with 16; with 5,000
 * annotations (3 rounds) the slower of the two 260-398 ms against 346-496 ms. The slowest step is
 * what a user feels.
 */
const AHEAD_MAX = 24;
/** Tiles fetched ahead of the next zoom-in while the view is at rest and loaded (a whole field). */
const AHEAD_AT_REST = 64;
/** Tiles fetched ahead that are held for OpenSeadragon at most. */
const AHEAD_KEEP = 128;
/** Tiles of the first view fetched before OpenSeadragon asks, at most. */
const FIRST_VIEW_MAX = 96;

/**
 * The one place that talks to OpenSeadragon. Everything outside works in image pixels, screen (CSS)
 * pixels per image pixel and degrees, so the rest of the client never sees viewport coordinates.
 */
export interface OsdHandlers {
  open?: () => void;
  openFailed?: (message: string) => void;
  fullyLoaded?: (loaded: boolean) => void;
  /** After every drawn frame, with the image → element transform of that frame. */
  frame?: (view: ViewState, transform: Affine) => void;
  /** The destination of a pan, zoom or rotation, as soon as it is requested. */
  target?: (view: ViewState) => void;
  /** An animation came to rest. */
  settled?: (view: ViewState) => void;
  /** The user pressed, dragged or scrolled on the slide (not a programmatic move). */
  interact?: () => void;
  /**
   * The navigator (minimap) was redrawn with a different image → navigator element transform
   * (opened, resized with the viewer, rotated). Not called while only the main view pans or zooms.
   */
  navigatorFrame?: (transform: Affine, element: HTMLElement) => void;
}

export interface OsdOptions {
  /** Highest screen pixels per image pixel allowed (digital zoom beyond the scan). */
  maxImageZoom: number;
  initial: ViewState | null;
  rotation: number;
  navigator: boolean;
  /** The tiles of the next zoom step are fetched at rest only once this has settled (what else the first view shows). */
  aheadAfter?: Promise<unknown>;
}

// OpenSeadragon injects a <style> element (focus outlines on touch screens) unless it finds one
// with its marker, and a strict CSP (style-src 'self') reports that injection as a violation; so is
// any HTML or SVG <style> we could add in its place. An element named "style" in a namespace of its
// own matches OpenSeadragon's selector yet is never a style sheet. The rule itself is in viewer.css.
function preemptInjectedStyle(): void {
  if (document.querySelector('style[data-openseadragon-mobile-css]')) return;
  const marker = document.createElementNS('urn:tessera:inert', 'style');
  marker.setAttribute('data-openseadragon-mobile-css', 'true');
  document.head.appendChild(marker);
}

/** What OpenSeadragon needs of a Deep Zoom image: the manifest has it, so no .dzi round trip. */
export interface DziSource {
  /** Tile base ending in `_files/`. */
  filesUrl: string;
  /** Appended to every tile URL (e.g. `?stored`), '' for none. */
  query?: string;
  width: number;
  height: number;
  tileSize: number;
}

function dziTileSource(s: DziSource): object {
  if (s.query)
    return new OpenSeadragon.DziTileSource({
      width: s.width,
      height: s.height,
      tileSize: s.tileSize,
      tileOverlap: 0,
      tilesUrl: s.filesUrl,
      fileFormat: 'jpeg',
      queryParams: s.query,
    } as unknown as ConstructorParameters<typeof OpenSeadragon.DziTileSource>[0]);
  return {
    Image: {
      xmlns: 'http://schemas.microsoft.com/deepzoom/2008',
      Url: s.filesUrl,
      Format: 'jpeg',
      Overlap: '0',
      TileSize: String(s.tileSize),
      Size: { Width: String(s.width), Height: String(s.height) },
    },
  };
}

/** Changes a tile's RGBA bytes in place. */
export type PixelFilter = (rgba: Uint8ClampedArray) => void;

/** What OpenSeadragon hands a tile source's downloadTileStart. */
interface TileJob {
  src: string;
  userData: { abort?: AbortController };
  finish(data: unknown, request: unknown, type: string): void;
  fail(message: string, request: unknown): void;
}

/**
 * Let a canvas drawer draw decoded tiles (ImageBitmap) as they are. Its own formats are canvases
 * only, so every tile would be copied into a canvas of its own first: on the bench slide ~2 ms of
 * the main thread per tile (95 ms of a 40-tile zoom step), and on machines with a GPU a CPU-backed
 * canvas per tile to upload again on every frame. The drawer reads `.canvas` of what it draws,
 * with its width and height, which a bitmap has.
 */
function drawBitmapsAsTheyAre(drawer: unknown): void {
  const d = drawer as {
    getType?: () => string;
    getSupportedDataFormats: () => string[];
    getDataToDraw: (tile: unknown) => unknown;
  } | null;
  if (!d || d.getType?.() !== 'canvas') return;
  const formats = [...d.getSupportedDataFormats(), 'imageBitmap'];
  d.getSupportedDataFormats = () => formats;
  const data = d.getDataToDraw.bind(d);
  const shims = new WeakMap<ImageBitmap, { canvas: ImageBitmap }>();
  d.getDataToDraw = (tile) => {
    const x = data(tile);
    if (!(x instanceof ImageBitmap)) return x;
    let shim = shims.get(x);
    if (!shim) shims.set(x, (shim = { canvas: x }));
    return shim;
  };
}

/**
 * Tiles handed to OpenSeadragon at most every HAND_MS: each hand-over makes it redraw the whole
 * canvas, and tiles arriving one every few milliseconds made it redraw for each.
 */
const HAND_MS = 40;
let handQueue: (() => void)[] = [];
let handedAt = 0;
let handTimer: ReturnType<typeof setTimeout> | null = null;
function handOver(f: () => void): void {
  handQueue.push(f);
  if (handTimer) return;
  const wait = handedAt + HAND_MS - performance.now();
  const flush = (): void => {
    handTimer = null;
    handedAt = performance.now();
    const q = handQueue;
    handQueue = [];
    for (const g of q) g();
  };
  if (wait <= 0) flush();
  else handTimer = setTimeout(flush, wait);
}

/** One tile, fetched with the page's credentials and decoded off the main thread. */
function fetchTile(job: TileJob): void {
  const abort = new AbortController();
  job.userData.abort = abort;
  fetchBitmap(job.src, 'auto', abort.signal).then(
    (bitmap) =>
      handOver(() => {
        if (abort.signal.aborted) bitmap.close();
        else job.finish(bitmap, null, 'imageBitmap');
      }),
    (e: unknown) => {
      if (!abort.signal.aborted)
        job.fail(`tile ${job.src}: ${e instanceof Error ? e.message : String(e)}`, null);
    },
  );
}

export class OsdController {
  readonly viewer: OpenSeadragon.Viewer;
  handlers: OsdHandlers;
  private image: OpenSeadragon.TiledImage | null = null;
  private destroyed = false;
  /** Ours, inside the navigator's container: overlays are mounted here, never into OpenSeadragon's nodes. */
  private navHost: HTMLDivElement | null = null;
  private navLast: Affine | null = null;
  private navObserver: ResizeObserver | null = null;

  private readonly minPixelRatio = 0.7 / Math.max(1, window.devicePixelRatio || 1);
  private source: DziSource;
  /** The tiled image being replaced by replaceTiles, removed once its successor is fully loaded. */
  private replacing: OpenSeadragon.TiledImage | null = null;
  /**
   * Tiles fetched ahead of a zoom-in and decoded off the main thread while the view was still: by
   * URL, until OpenSeadragon asks for them (then they are its) or newer ones push them out.
   */
  private readonly ahead = new Map<string, Promise<ImageBitmap | null>>();
  /** Until it settles, no fetching ahead at rest (OsdOptions.aheadAfter). */
  private aheadGate: Promise<unknown> | null = null;
  private readonly rest = new RestTracker();
  private tileFilter: PixelFilter | null = null;
  /** A reprocessing of the held tiles is under way; `reprocessAgain`: the filter changed meanwhile. */
  private reprocessing = false;
  private reprocessAgain = false;

  constructor(element: HTMLElement, tileSource: DziSource, opts: OsdOptions, handlers: OsdHandlers) {
    this.handlers = handlers;
    this.source = tileSource;
    if (opts.aheadAfter) {
      const gate = opts.aheadAfter.catch(() => undefined);
      this.aheadGate = gate;
      void gate.then(() => {
        this.aheadGate = null;
        if (this.image && !this.rest.moving && this.fullyLoaded()) this.fetchAheadAtRest();
      });
    }
    preemptInjectedStyle();
    // The first view's tiles asked for at once, while OpenSeadragon starts (it then asks for them
    // a few a frame, from its first frame on).
    this.fetchInto(
      firstViewTiles(
        tileSource,
        { width: element.clientWidth, height: element.clientHeight },
        opts.initial,
        this.minPixelRatio,
        FIRST_VIEW_MAX,
      ),
      'high',
    );
    this.viewer = OpenSeadragon({
      element,
      tileSources: dziTileSource(tileSource),
      prefixUrl: '',
      showNavigationControl: false,
      showNavigator: opts.navigator,
      navigatorPosition: 'TOP_RIGHT',
      navigatorSizeRatio: 0.17,
      navigatorAutoFade: false,
      navigatorRotate: true,
      navigatorBackground: '#15181d',
      navigatorBorderColor: '#343a44',
      navigatorDisplayRegionColor: '#4da3ff',
      navigatorOpacity: 0.95,
      keyboardNavEnabled: false,
      degrees: opts.rotation,
      maxZoomPixelRatio: opts.maxImageZoom,
      minZoomImageRatio: 0.5,
      // Which pyramid level to draw: the coarsest whose pixels are at most 1.4 device pixels wide.
      // At the magnification steps (levels are powers of two) that is 1:1; in between a field is
      // drawn from 0.5-2x its device pixels instead of OpenSeadragon's 1-4x (minPixelRatio 0.5),
      // half the tiles to fetch and decode for a picture no sharper to the eye.
      minPixelRatio: this.minPixelRatio,
      visibilityRatio: 0.2,
      // A step (key, button, wheel notch) comes to rest in 0.15 s: long enough to follow where the
      // view went, short enough that the new field is ready when the eye gets there.
      animationTime: 0.15,
      springStiffness: 8,
      // One new tile a frame (OpenSeadragon's default) turns a 40-tile field into a 40-frame queue;
      // browsers fetch six at a time from one host anyway.
      maxTilesPerFrame: 12,
      zoomPerScroll: 1.25,
      // A tile is drawn the frame it arrives, and the level the view needs is fetched first rather
      // than every coarser one on the way up: fewer requests and frames before the field is sharp.
      blendTime: 0,
      immediateRender: true,
      crossOriginPolicy: false,
      // Measured on workstations without GPU acceleration (VMs, remote desktops, headless): the WebGL
      // drawer runs on a software rasteriser there and a field took 3-8x longer to load fully than
      // with canvas 2D, which browsers accelerate anyway where a GPU exists.
      drawer: 'canvas',
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true, flickEnabled: true },
      gestureSettingsTouch: { pinchRotate: false },
    });
    const v = this.viewer;
    drawBitmapsAsTheyAre(v.drawer);
    const navDrawer = (v.navigator as unknown as { drawer?: unknown } | undefined)?.drawer;
    if (navDrawer) drawBitmapsAsTheyAre(navDrawer);
    v.addHandler('open', () => {
      this.image = v.world.getItemAt(0);
      this.takeTiles(this.image.source);
      if (opts.initial) this.setView(opts.initial, true);
      this.handlers.open?.();
      this.emitFrame();
    });
    v.addHandler('open-failed', (e) =>
      this.handlers.openFailed?.(String(e.message ?? 'could not open the slide')),
    );
    v.addHandler('fully-loaded-change', (e) => {
      this.handlers.fullyLoaded?.(e.fullyLoaded);
      if (e.fullyLoaded && !this.rest.moving) this.fetchAheadAtRest();
    });
    // Every tile passes here when it arrives and when reprocessTiles asks (the navigator's too: it
    // raises its tiles' events on this viewer). Without a filter the tile stays as loaded.
    v.addHandler('tile-invalidated', async (e) => {
      const filter = this.tileFilter;
      if (!filter) return;
      const ctx = (await e.getData('context2d')) as CanvasRenderingContext2D | null;
      if (!ctx || (await e.outdated()) || filter !== this.tileFilter) return;
      const { width, height } = ctx.canvas;
      const pixels = ctx.getImageData(0, 0, width, height);
      filter(pixels.data);
      ctx.putImageData(pixels, 0, 0);
      await e.setData(ctx, 'context2d');
    });
    v.addHandler('update-viewport', () => this.emitFrame());
    v.addHandler('resize', () => this.emitFrame());
    const target = (): void => {
      this.rest.request();
      if (this.image) this.handlers.target?.(this.view(false));
    };
    v.addHandler('pan', target);
    v.addHandler('zoom', target);
    v.addHandler('zoom', () => this.fetchAhead());
    v.addHandler('rotate', target);
    const interact = (): void => this.handlers.interact?.();
    v.addHandler('canvas-press', interact);
    v.addHandler('canvas-scroll', interact);
    v.addHandler('canvas-double-click', interact);
    v.addHandler('animation-start', () => this.rest.started());
    v.addHandler('animation', () => {
      if (this.rest.frame(this.atTarget())) this.arrive();
    });
    v.addHandler('animation-finish', () => {
      if (this.rest.finished()) this.arrive();
    });

    const nav = this.navigator();
    if (nav) {
      const host = document.createElement('div');
      host.className = 'navigator-overlay';
      nav.container.appendChild(host);
      this.navHost = host;
      // The navigator redraws on its own loop (its rotation animates there); it resizes with the
      // viewer without an event of its own, hence the observer.
      nav.addHandler('update-viewport', () => this.emitNavigator());
      if (typeof ResizeObserver !== 'undefined') {
        this.navObserver = new ResizeObserver(() => this.emitNavigator());
        this.navObserver.observe(nav.container);
      }
    }
  }

  get isOpen(): boolean {
    return this.image !== null && !this.destroyed;
  }

  /** The view now (current) or where an animation is heading (target). */
  view(current = true): ViewState {
    const vp = this.viewer.viewport;
    const img = this.image!;
    const c = img.viewportToImageCoordinates(vp.getCenter(current));
    return {
      x: c.x,
      y: c.y,
      imageZoom: img.viewportToImageZoom(vp.getZoom(current)),
      rotation: vp.getRotation(current),
    };
  }

  setView(v: ViewState, immediately = false): void {
    const img = this.image;
    if (!img) return;
    const vp = this.viewer.viewport;
    if (vp.getRotation(false) !== v.rotation) vp.setRotation(v.rotation, immediately);
    vp.zoomTo(img.imageToViewportZoom(v.imageZoom), undefined, immediately);
    vp.panTo(img.imageToViewportCoordinates(v.x, v.y), immediately);
  }

  /** Zoom about the centre of the view to a given number of screen pixels per image pixel. */
  zoomToImageZoom(imageZoom: number): void {
    const img = this.image;
    if (!img) return;
    this.viewer.viewport.zoomTo(img.imageToViewportZoom(imageZoom));
  }

  /** `at` in element pixels; the point under it stays put. */
  zoomBy(factor: number, at?: Point): void {
    const vp = this.viewer.viewport;
    const ref = at ? vp.pointFromPixel(new OpenSeadragon.Point(at.x, at.y), true) : undefined;
    vp.zoomBy(factor, ref);
    vp.applyConstraints();
  }

  /** Pan by a fraction of the view's width/height, in screen directions whatever the rotation. */
  panByFraction(fx: number, fy: number): void {
    const vp = this.viewer.viewport;
    const size = vp.getContainerSize();
    // deltaPointsFromPixels undoes the rotation itself.
    const delta = vp.deltaPointsFromPixels(new OpenSeadragon.Point(fx * size.x, fy * size.y));
    vp.panBy(delta);
    vp.applyConstraints();
  }

  fit(): void {
    this.viewer.viewport.goHome();
  }

  rotateBy(degrees: number): void {
    const vp = this.viewer.viewport;
    vp.setRotation(vp.getRotation(false) + degrees);
  }

  /** Image pixel → viewer element pixel, as an affine map (exact for any rotation). */
  transform(): Affine | null {
    const img = this.image;
    if (!img) return null;
    const to = (x: number, y: number): Point =>
      img.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, y));
    const o = to(0, 0);
    const ux = to(1024, 0);
    const uy = to(0, 1024);
    const m = affineFrom(o, ux, uy);
    return [m[0] / 1024, m[1] / 1024, m[2] / 1024, m[3] / 1024, m[4], m[5]];
  }

  /**
   * Image pixel → navigator element pixel (the element `navigatorElement()` covers), as an affine
   * map. World (viewport) coordinates are shared by the two viewers; the navigator's own viewport
   * carries its fit and rotation. Null without a navigator or before the slide opens.
   */
  navigatorTransform(): Affine | null {
    const img = this.image;
    const nav = this.navigator();
    if (!img || !nav?.viewport) return null;
    const to = (x: number, y: number): Point =>
      nav.viewport.viewportToViewerElementCoordinates(img.imageToViewportCoordinates(x, y, true));
    const o = to(0, 0);
    const ux = to(1024, 0);
    const uy = to(0, 1024);
    const m = affineFrom(o, ux, uy);
    const t: Affine = [m[0] / 1024, m[1] / 1024, m[2] / 1024, m[3] / 1024, m[4], m[5]];
    return t.every(Number.isFinite) && m[0] * m[3] - m[1] * m[2] !== 0 ? t : null;
  }

  /**
   * An empty element laid over the navigator (same box as its drawing area) to mount overlays
   * into; null without a navigator.
   */
  navigatorElement(): HTMLElement | null {
    return this.destroyed ? null : this.navHost;
  }

  /** The image-pixel box the view shows now (axis-aligned in image space). */
  imageBounds(): { x: number; y: number; width: number; height: number } | null {
    const img = this.image;
    if (!img) return null;
    const r = img.viewportToImageRectangle(this.viewer.viewport.getBoundsNoRotate(true));
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  }

  /**
   * Pixel processing for every tile, those held now and those still to come (RGBA bytes, changed in
   * place), in the main view and the navigator; null draws the tiles as they are. Tiles are processed
   * once, as they arrive, and kept processed: panning costs what it costs without a filter. (A CSS
   * or SVG filter on the canvas is redone on every frame: with software compositing, as on machines
   * without a GPU and in headless Chromium, it made a pan's frames 3-4x longer.)
   */
  setTileFilter(filter: PixelFilter | null): void {
    if (this.destroyed || filter === this.tileFilter) return;
    this.tileFilter = filter;
    this.reprocessTiles();
  }

  /** The canvas OpenSeadragon draws the slide on, with its CSS width (null before it exists). */
  drawing(): { canvas: HTMLCanvasElement; cssWidth: number } | null {
    const c = this.destroyed ? null : this.viewer.drawer?.canvas;
    if (!(c instanceof HTMLCanvasElement)) return null;
    return { canvas: c, cssWidth: c.getBoundingClientRect().width || c.clientWidth };
  }

  fullyLoaded(): boolean {
    return this.viewer.getFullyLoaded();
  }

  /**
   * Draw the same image from other tile URLs (a slide's stored pyramid once it replaces the tiles
   * made from its source) without a jump: the new tiled image goes on top at the same place, and
   * the old one stays under it until the new one has the view fully loaded, then goes. Same size and
   * tile size: the view, overlays and annotations do not move.
   */
  replaceTiles(query: string): void {
    const old = this.image;
    if (!old || this.destroyed || this.replacing || this.source.query === query) return;
    this.replacing = old;
    const next = { ...this.source, query };
    const b = old.getBounds(true);
    this.viewer.addTiledImage({
      tileSource: dziTileSource(next),
      x: b.x,
      y: b.y,
      width: b.width,
      success: (e: { item: OpenSeadragon.TiledImage }) => {
        if (this.destroyed) return;
        const img = e.item;
        this.takeTiles(img.source);
        this.source = next;
        this.image = img;
        const drop = (): void => {
          if (this.replacing && this.viewer.world.getIndexOfItem(this.replacing) >= 0)
            this.viewer.world.removeItem(this.replacing);
          this.replacing = null;
        };
        if (img.getFullyLoaded()) drop();
        else {
          const onLoaded = (ev: { fullyLoaded: boolean }): void => {
            if (!ev.fullyLoaded) return;
            img.removeHandler('fully-loaded-change', onLoaded as never);
            drop();
          };
          img.addHandler('fully-loaded-change', onLoaded as never);
        }
      },
    } as unknown as Parameters<OpenSeadragon.Viewer['addTiledImage']>[0]);
  }

  /** The tile URLs' query now drawn ('' for the first ones). */
  get tileQuery(): string {
    return this.source.query ?? '';
  }

  /** Tiled images in the world (2 while one replaces the other). */
  get layers(): number {
    return this.viewer.world.getItemCount();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.handlers = {};
    this.image = null;
    this.navObserver?.disconnect();
    this.navObserver = null;
    for (const p of this.ahead.values()) void p.then((b) => b?.close());
    this.ahead.clear();
    this.navHost?.remove();
    this.navHost = null;
    this.viewer.destroy();
  }

  /**
   * Zooming in: fetch the tiles one more step would show (the middle of the destination, one level
   * finer) while this step animates, so a run of zoom-ins finds each next field in the cache.
   */
  private fetchAhead(): void {
    const img = this.image;
    if (!img || this.destroyed) return;
    const vp = this.viewer.viewport;
    const to = img.viewportToImageZoom(vp.getZoom(false));
    const from = img.viewportToImageZoom(vp.getZoom(true));
    // A step in (key, button, wheel), not a jump to a magnification or a zoom out.
    if (!(to > from * 1.01 && to <= from * ZOOM_STEP * 1.01)) return;
    this.fetchStepTiles(to, AHEAD_MAX);
  }

  /**
   * At rest with every tile of the field drawn: fetch what one zoom step in would show, so the next
   * step (the most common next move) finds its field decoded rather than waiting on ~40-60 tiles.
   * Measured on the bench slide (1920 x 1080, 240 px tiles): a first zoom step took 459 ms to be
   * fully loaded, 380 of it the animation's frames spent drawing tiles as they arrived.
   */
  private fetchAheadAtRest(): void {
    const img = this.image;
    if (!img || this.destroyed || this.aheadGate) return;
    this.fetchStepTiles(img.viewportToImageZoom(this.viewer.viewport.getZoom(true)), AHEAD_AT_REST);
  }

  /** Every spring of the viewport (zoom, centre, rotation) has reached its target value. */
  private atTarget(): boolean {
    const vp = this.viewer.viewport as unknown as Record<
      'zoomSpring' | 'centerSpringX' | 'centerSpringY' | 'degreesSpring',
      { isAtTargetValue(): boolean } | undefined
    >;
    return (['zoomSpring', 'centerSpringX', 'centerSpringY', 'degreesSpring'] as const).every(
      (k) => vp[k]?.isAtTargetValue() ?? true,
    );
  }

  /** The destination is drawn: the view is at rest. */
  private arrive(): void {
    if (!this.image) return;
    this.handlers.settled?.(this.view(true));
    if (this.fullyLoaded()) this.fetchAheadAtRest();
  }

  /** Tiles one zoom step in from `zoom` (around the view's centre) into `ahead`, at most `limit`. */
  private fetchStepTiles(zoom: number, limit: number): void {
    const img = this.image!;
    const r = img.viewportToImageRectangle(this.viewer.viewport.getBoundsNoRotate(false));
    const tiles = nextZoomTiles(
      this.source,
      { x: r.x, y: r.y, width: r.width, height: r.height },
      zoom,
      this.minPixelRatio,
      ZOOM_STEP,
      limit,
    );
    // Low priority: behind every tile the view itself waits for, in the browser's queue.
    this.fetchInto(tiles, 'low');
  }

  /** Tiles fetched and decoded into `ahead`, for OpenSeadragon to take when it asks for them. */
  private fetchInto(tiles: { level: number; col: number; row: number }[], priority: 'low' | 'high'): void {
    for (const t of tiles) {
      const url = `${this.source.filesUrl}${t.level}/${t.col}_${t.row}.jpeg${this.source.query ?? ''}`;
      if (this.ahead.has(url)) continue;
      const bitmap = fetchBitmap(url, priority).catch(() => null);
      this.ahead.set(url, bitmap);
    }
    for (const [url, p] of this.ahead) {
      if (this.ahead.size <= AHEAD_KEEP) break;
      this.ahead.delete(url);
      void p.then((b) => b?.close());
    }
  }

  /**
   * OpenSeadragon's tile download replaced: each tile fetched and decoded off the main thread
   * (createImageBitmap of the response), and tiles fetched ahead handed over as they are. The
   * default loads an <img> that the drawer then decodes on the main thread, tile by tile.
   */
  private takeTiles(source: OpenSeadragon.TileSource): void {
    const s = source as unknown as {
      downloadTileStart: (job: TileJob) => void;
      downloadTileAbort: (job: TileJob) => void;
    };
    s.downloadTileStart = (job) => {
      const ready = this.ahead.get(job.src);
      if (!ready) return fetchTile(job);
      this.ahead.delete(job.src);
      void ready.then((bitmap) => {
        if (bitmap) handOver(() => job.finish(bitmap, null, 'imageBitmap'));
        else fetchTile(job);
      });
    };
    s.downloadTileAbort = (job) => job.userData.abort?.abort();
  }

  /** Runs the held tiles through the filter again from their loaded data; one run at a time. */
  private reprocessTiles(): void {
    if (this.reprocessing) {
      this.reprocessAgain = true;
      return;
    }
    this.reprocessing = true;
    const done = (): void => {
      this.reprocessing = false;
      if (this.reprocessAgain && !this.destroyed) {
        this.reprocessAgain = false;
        this.reprocessTiles();
      }
    };
    this.viewer.requestInvalidate(true).then(done, done);
  }

  private emitFrame(): void {
    if (!this.image) return;
    // Checked on the main view's frames too (deduplicated, so nearly free): a safety net.
    this.emitNavigator();
    if (!this.handlers.frame) return;
    const t = this.transform();
    if (t) this.handlers.frame(this.view(true), t);
  }

  private navigator(): OpenSeadragon.Navigator | null {
    // Typed as always present; it exists only with showNavigator.
    return (this.viewer.navigator as OpenSeadragon.Navigator | null | undefined) ?? null;
  }

  private emitNavigator(): void {
    const host = this.navigatorElement();
    if (!host || !this.handlers.navigatorFrame) return;
    const t = this.navigatorTransform();
    if (!t || (this.navLast && sameAffine(this.navLast, t))) return;
    this.navLast = t;
    this.handlers.navigatorFrame(t, host);
  }
}
