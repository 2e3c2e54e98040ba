import type { Sharp } from 'sharp';
import type { AssociatedName, SourceFormat } from '../../protocol/index.ts';

/** One resolution level as stored in the source file. */
export interface SourceLevel {
  width: number;
  height: number;
  /** level-0 width / this level's width */
  downsample: number;
  /** Tile (or strip/frame) size in the source; for strips tileWidth = width. */
  tileWidth: number;
  tileHeight: number;
}

/** What a reader learns from the input before opening it: cheap to compute, shared by all detectors. */
export interface Probe {
  /** Absolute path of the file or folder given by the user. */
  path: string;
  isDirectory: boolean;
  /** For a folder: absolute paths of the regular files in it (recursive, sorted). For a file: [path]. */
  files: string[];
  /** First bytes of the file (for a folder: of its first file), up to 4 KiB. */
  head: Buffer;
  /** Lower-case extension with dot ('.svs'), '' for none or a folder. */
  ext: string;
  size: number;
}

export interface PixelContext {
  /** A private scratch folder, deleted by the caller after the build. */
  tmpDir: string;
  /** Progress of the reader's own work (decoding, assembling), 0..1. */
  onProgress?: (fraction: number, stage: string) => void;
  signal?: AbortSignal;
}

/**
 * Level 0 as the scanner's own JPEG tiles, for the store to keep unchanged (no second lossy
 * generation of the diagnostic pixels). Offered only where every tile can be copied: square tiles,
 * a multiple of 16 px from 128 to 2048, 8-bit 3-component JPEG, none missing.
 */
export interface ScannerTiles {
  tileSize: number;
  /** How the streams code colour: components R, G, B, or Y, Cb, Cr. */
  colour: 'rgb' | 'ycbcr';
  /** Chroma subsampling [horizontal, vertical] of YCbCr streams, from their frame headers. */
  subsampling: [number, number];
  /** Tables (a tables-only JPEG stream) the tile streams leave out, or null when each is complete. */
  tables: Buffer | null;
  /** Tile (col, row) as the scanner stored it; tiles with the same key are the same bytes. */
  tile(col: number, row: number): Promise<{ bytes: Buffer; key: string }>;
  /**
   * Tiles of columns col0.. and rows row0.., row-major, as `tile` gives them: where a reader can, a
   * row's tiles that lie together in the file are read at once.
   */
  tiles?(col0: number, row0: number, cols: number, rows: number): Promise<{ bytes: Buffer; key: string }[]>;
}

/**
 * One slide as read from its source format. Every format family implements this; nothing downstream
 * (pyramid builder, store) knows which format it came from.
 */
export interface SlideSource {
  readonly format: SourceFormat;
  /** Display name: the file or folder name without extension. */
  readonly name: string;
  /** Full-resolution size in pixels. */
  readonly width: number;
  readonly height: number;
  /** The source's own levels, full resolution first. */
  readonly levels: readonly SourceLevel[];
  /** µm per pixel at full resolution, null where the file does not say. */
  readonly mppX: number | null;
  readonly mppY: number | null;
  readonly objectivePower: number | null;
  /** Associated images present in the source. */
  readonly associated: readonly AssociatedName[];
  /** Vendor metadata, flattened to strings (e.g. 'aperio.AppMag': '20'). */
  readonly properties: Readonly<Record<string, string>>;
  /** How non-RGB pixels are mapped to 8-bit RGB, null for plain RGB sources. */
  readonly rendering: string | null;
  /**
   * The full-resolution image as a sharp pipeline that yields 8-bit sRGB, 3 bands, exactly width x
   * height. It must stream (never hold the whole slide in memory); a reader that cannot hand sharp
   * a file it reads directly may assemble an intermediate tiled TIFF in ctx.tmpDir.
   */
  pixels(ctx: PixelContext): Promise<Sharp>;
  /** Level 0 as the scanner's JPEG tiles where they can be kept as they are; null otherwise. */
  scannerTiles?(): Promise<ScannerTiles | null>;
  /**
   * Source level k (as `levels` lists it) as a sharp pipeline of 8-bit sRGB, 3 bands, that libvips
   * reads on demand (a region costs the tiles under it, not the level), or null when the reader
   * cannot give one (the level needs a decoder of its own or a conversion first). What serves a
   * slide straight from its source while the store copy is being made.
   */
  levelPixels?(k: number): Promise<Sharp | null>;
  /**
   * Source level k's rectangle (x, y, w, h in that level's pixels) as packed 8-bit sRGB, for readers
   * whose levels libvips cannot read on demand but that read regions themselves (OpenSlide formats,
   * through a long-lived reader process). What levelPixels is for the TIFF family.
   */
  levelRegion?(k: number, x: number, y: number, w: number, h: number): Promise<Buffer>;
  /**
   * Source level k's JPEG tiles as stored (the same conditions as scannerTiles), or null: where a
   * level's grid is the one served, its tiles go out as they are.
   */
  levelTiles?(k: number): Promise<ScannerTiles | null>;
  /** An associated image, encoded in any format sharp reads (JPEG, PNG, raw TIFF...), or null. */
  associatedImage(name: AssociatedName): Promise<Buffer | null>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /**
   * Opened to be served before its conversion: only what that needs (levels, scale, properties,
   * levelPixels / levelRegion) must be there, associated images may be absent, and a reader may take
   * a quicker way to them. Without it, everything the conversion stores.
   */
  serving?: boolean;
}

/** A format family: detection is cheap and must not throw on foreign input. */
export interface SlideReader {
  readonly id: string;
  /** Higher wins when several readers claim a probe (e.g. SVS over generic TIFF). */
  readonly priority: number;
  detect(probe: Probe): boolean | Promise<boolean>;
  /** Open or throw a SlideError with a specific code and message. */
  open(probe: Probe, opts?: OpenOptions): Promise<SlideSource>;
}
