import type { Sharp } from 'sharp';
import type { AssociatedName, SourceFormat } from '../../../protocol/index.ts';
import { SlideError } from '../../errors.ts';
import type { PixelContext, ScannerTiles, SlideSource, SourceLevel } from '../types.ts';
import { encodeAssociated } from './pixels.ts';
import type { Ifd, TiffFile } from '../../tiff/file.ts';

/** Everything a TIFF-family reader learned on open(). */
export interface TiffSourceInit {
  format: SourceFormat;
  name: string;
  file: TiffFile;
  levels: SourceLevel[];
  mppX: number | null;
  mppY: number | null;
  objectivePower: number | null;
  /** Where each associated image lives. */
  associated: Map<AssociatedName, Ifd>;
  properties: Record<string, string>;
  rendering: string | null;
  pixels: (ctx: PixelContext) => Promise<Sharp>;
  /** Level 0's JPEG tiles when the store may keep them as they are. */
  scannerTiles?: () => Promise<ScannerTiles | null>;
  /** A level as libvips reads it on demand, or null when it needs a decoder of its own. */
  levelPixels?: (k: number) => Promise<Sharp | null>;
  /** A level's JPEG tiles as stored, where they can be sent as they are. */
  levelTiles?: (k: number) => Promise<ScannerTiles | null>;
}

/** A slide read from a TIFF-family file; the file stays open until close(). */
export class TiffSlideSource implements SlideSource {
  readonly format: SourceFormat;
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly levels: readonly SourceLevel[];
  readonly mppX: number | null;
  readonly mppY: number | null;
  readonly objectivePower: number | null;
  readonly associated: readonly AssociatedName[];
  readonly properties: Readonly<Record<string, string>>;
  readonly rendering: string | null;
  private readonly init: TiffSourceInit;
  private closed = false;

  constructor(init: TiffSourceInit) {
    const level0 = init.levels[0];
    if (!level0) throw new SlideError('CORRUPT_FILE', `${init.file.name}: no image level found`);
    this.init = init;
    this.format = init.format;
    this.name = init.name;
    this.width = level0.width;
    this.height = level0.height;
    this.levels = Object.freeze([...init.levels]);
    this.mppX = init.mppX;
    this.mppY = init.mppY;
    this.objectivePower = init.objectivePower;
    this.associated = Object.freeze([...init.associated.keys()]);
    this.properties = Object.freeze({ ...init.properties });
    this.rendering = init.rendering;
  }

  pixels(ctx: PixelContext): Promise<Sharp> {
    this.assertOpen();
    return this.init.pixels(ctx);
  }

  scannerTiles(): Promise<ScannerTiles | null> {
    this.assertOpen();
    return this.init.scannerTiles?.() ?? Promise.resolve(null);
  }

  levelTiles(k: number): Promise<ScannerTiles | null> {
    this.assertOpen();
    return this.init.levelTiles?.(k) ?? Promise.resolve(null);
  }

  levelPixels(k: number): Promise<Sharp | null> {
    this.assertOpen();
    return this.init.levelPixels?.(k) ?? Promise.resolve(null);
  }

  async associatedImage(name: AssociatedName): Promise<Buffer | null> {
    this.assertOpen();
    const ifd = this.init.associated.get(name);
    if (!ifd) return null;
    try {
      return await encodeAssociated(this.init.file, ifd);
    } catch (e) {
      if (e instanceof SlideError) throw e;
      throw new SlideError(
        'CORRUPT_FILE',
        `${this.init.file.name}: the ${name} image (${ifd.label()}) cannot be decoded: ${firstLine(e)}`,
        { cause: e },
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.init.file.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`slide ${this.name} is closed`);
  }
}

/** The first non-empty line of an error's message, for one-line SlideError messages. */
export function firstLine(e: unknown): string {
  const raw = e instanceof Error ? e.message : String(e);
  return (
    raw
      .split('\n')
      .find((s) => s.trim().length > 0)
      ?.trim() ?? 'unknown error'
  );
}

/** Run `body` with an open TIFF, closing it when `body` throws (success hands the file to the source). */
export async function withFile<T>(file: TiffFile, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    await file.close();
    throw e;
  }
}
