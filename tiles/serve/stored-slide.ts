import type { Manifest } from '../../protocol/index.ts';
import { SlideError } from '../errors.ts';
import type { ReadAt } from '../store/types.ts';
import { jpegPrefix, setFrameHeight } from './jpeg.ts';
import { type TiffIndex, type TiffLevel, readTiffIndex, tileLocation } from '../tiff/pyramid-index.ts';

const PHOTOMETRIC_RGB = 2;

/**
 * One stored slide opened for serving: its manifest, slide.tif opened for positioned reads through
 * the store (a file handle, or ranged requests to an object store) and the parsed tile index. Any
 * number of reads may run at once. Reference-counted: a slide dropped from the open-slide cache
 * closes when its last read finishes.
 */
export class StoredSlide {
  private refs = 0;
  private retired = false;
  private closed: Promise<void> | null = null;
  /** Per level: SOI, Adobe marker where needed, tables; written over the front of each tile. */
  private readonly prefixes: Buffer[];
  /** Lazily filled by the service: the stored thumbnail.jpg and its size. */
  thumbnail: Promise<{ body: Buffer; width: number; height: number } | null> | null = null;

  private constructor(
    readonly manifest: Manifest,
    private readonly file: ReadAt,
    readonly index: TiffIndex,
  ) {
    this.prefixes = index.levels.map((l) => jpegPrefix(l.jpegTables, isRgbEncoded(l)));
  }

  /**
   * Take over `file` (slide.tif, opened by the store) and check that its pyramid is the one the
   * manifest describes. Throws SlideError('CORRUPT_FILE') when it is not (and closes the file).
   */
  static async open(file: ReadAt, manifest: Manifest): Promise<StoredSlide> {
    try {
      const index = await readTiffIndex(
        (p, l) => file.read(p, l),
        `slide ${manifest.id}`,
        file.preload ? { preload: (o, l) => file.preload!(o, l) } : {},
      );
      checkAgainstManifest(index, manifest);
      return new StoredSlide(manifest, file, index);
    } catch (e) {
      await file.close();
      throw e;
    }
  }

  /** slide.tif on a local disk, when the store keeps it there (see ReadAt.localFile). */
  get localFile(): string | undefined {
    return this.file.localFile;
  }

  /** Whether tiles of stored level k are RGB-encoded (and so carry an Adobe marker when served). */
  rgbEncoded(k: number): boolean {
    const l = this.index.levels[k];
    return l !== undefined && isRgbEncoded(l);
  }

  /**
   * Stored tile (col, row) of level k as a complete JPEG: the level's tables without their EOI, then
   * the tile without its SOI, an Adobe APP14 (transform 0) after SOI when the tile is RGB-encoded.
   * The prefix then overwrites the tile's own SOI. `height` below the tile size lowers the declared
   * frame height (bottom-edge tiles). Null when there is no such tile.
   */
  async readStoredTile(k: number, col: number, row: number, height?: number): Promise<Buffer | null> {
    const level = this.index.levels[k];
    if (!level || !(col >= 0 && col < level.tilesX && row >= 0 && row < level.tilesY)) return null;
    if (!Number.isInteger(col) || !Number.isInteger(row)) return null;
    const { offset, length } = tileLocation(level, col, row);
    const prefix = this.prefixes[k]!;
    const at = prefix.length - 2;
    if (length < 4)
      throw new SlideError('CORRUPT_FILE', `slide ${this.manifest.id}: tile ${k}/${col}/${row} is empty`);
    const tile = await this.file.read(offset, length);
    const out = Buffer.allocUnsafe(at + length);
    tile.copy(out, at);
    if (tile.length !== length || out[at] !== 0xff || out[at + 1] !== 0xd8) {
      throw new SlideError(
        'CORRUPT_FILE',
        `slide ${this.manifest.id}: tile ${k}/${col}/${row} is not a JPEG stream`,
      );
    }
    prefix.copy(out, 0);
    if (height !== undefined && height !== level.tileHeight) {
      if (!setFrameHeight(out, height, prefix.length)) {
        throw new SlideError(
          'CORRUPT_FILE',
          `slide ${this.manifest.id}: tile ${k}/${col}/${row} has no frame header`,
        );
      }
    }
    return out;
  }

  /** Tiles of level k and their bytes together as readStoredTile returns them; null without the level. */
  storedLevelBytes(k: number): { tiles: number; bytes: number } | null {
    const level = this.index.levels[k];
    if (!level) return null;
    const tiles = level.tilesX * level.tilesY;
    let bytes = 0;
    for (let i = 0; i < tiles; i++)
      bytes += tileLocation(level, i % level.tilesX, Math.floor(i / level.tilesX)).length;
    // Each tile loses its SOI and gains the level's prefix.
    return { tiles, bytes: bytes + tiles * (this.prefixes[k]!.length - 2) };
  }

  /** Take a reference; false once the slide is closing (the caller opens it again). */
  acquire(): boolean {
    if (this.retired) return false;
    this.refs++;
    return true;
  }

  /** Add references on behalf of callers that waited for the open. */
  addRefs(n: number): void {
    this.refs += n;
  }

  release(): void {
    this.refs--;
    if (this.retired && this.refs <= 0) void this.close();
  }

  /** No new references; closes now or when the last one is released. */
  retire(): void {
    this.retired = true;
    if (this.refs <= 0) void this.close();
  }

  /** Close the file now (reads still running fail). */
  close(): Promise<void> {
    this.retired = true;
    this.closed ??= this.file.close().catch(() => {});
    return this.closed;
  }
}

function isRgbEncoded(l: TiffLevel): boolean {
  return l.photometric === PHOTOMETRIC_RGB && l.samplesPerPixel === 3;
}

function checkAgainstManifest(index: TiffIndex, m: Manifest): void {
  const bad = (why: string): SlideError => new SlideError('CORRUPT_FILE', `slide ${m.id}: ${why}`);
  if (index.levels.length !== m.levels || m.levelInfo.length !== m.levels) {
    throw bad(`slide.tif has ${index.levels.length} levels, the manifest ${m.levels}`);
  }
  index.levels.forEach((l, k) => {
    const want = m.levelInfo[k]!;
    if (l.width !== want.width || l.height !== want.height) {
      throw bad(
        `level ${k} is ${l.width}x${l.height} in slide.tif, ${want.width}x${want.height} in the manifest`,
      );
    }
    if (l.tileWidth !== m.tileSize || l.tileHeight !== m.tileSize) {
      throw bad(`level ${k} has ${l.tileWidth}x${l.tileHeight} tiles, the manifest ${m.tileSize}`);
    }
    if (l.samplesPerPixel !== 3 && l.samplesPerPixel !== 1)
      throw bad(`level ${k} has ${l.samplesPerPixel} samples per pixel`);
  });
}
