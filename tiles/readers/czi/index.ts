import { randomUUID } from 'node:crypto';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { AssociatedName } from '../../../protocol/index.ts';
import { SlideError, isSlideError } from '../../errors.ts';
import { tileFitsImage, writeTiledTiff } from '../../tiff/writer.ts';
import type { PixelContext, Probe, SlideReader, SlideSource, SourceLevel } from '../types.ts';
import { CZI_MAGIC, CziFile, type Attachment } from './file.ts';
import { parseCziMetadata } from './metadata.ts';
import { CziMosaic } from './mosaic.ts';

const OUTPUT_TILE = 512;
/** Embedded label / preview images are rendered whole; refuse absurd ones. */
const MAX_ASSOCIATED_PIXELS = 64e6;
const STAGE = 'assembling CZI subblocks';

/** Attachment names ZEN and the slide scanners use for the pictures around the scan. */
const ATTACHMENT_NAMES: Record<AssociatedName, string[]> = {
  label: ['Label'],
  macro: ['SlidePreview', 'Overview'],
  thumbnail: ['Thumbnail'],
};

class CziSlide implements SlideSource {
  readonly format = 'czi' as const;
  readonly levels: readonly SourceLevel[];
  readonly width: number;
  readonly height: number;
  readonly associated: readonly AssociatedName[];
  readonly rendering: string | null;

  constructor(
    readonly name: string,
    private readonly czi: CziFile,
    private readonly mosaic: CziMosaic,
    readonly mppX: number | null,
    readonly mppY: number | null,
    readonly objectivePower: number | null,
    readonly properties: Readonly<Record<string, string>>,
    private readonly extras: Map<AssociatedName, Attachment>,
  ) {
    this.width = mosaic.width;
    this.height = mosaic.height;
    // Pyramid subblocks are ZEN's own display cache, not a complete level: only level 0 is offered.
    this.levels = [
      {
        width: this.width,
        height: this.height,
        downsample: 1,
        tileWidth: mosaic.tileWidth,
        tileHeight: mosaic.tileHeight,
      },
    ];
    this.associated = [...extras.keys()];
    this.rendering = mosaic.rendering;
  }

  async pixels(ctx: PixelContext): Promise<Sharp> {
    const out = path.join(ctx.tmpDir, `czi-level0-${randomUUID()}.tif`);
    const tile = tileFitsImage(this.width, this.height, OUTPUT_TILE, OUTPUT_TILE) ? OUTPUT_TILE : 256;
    await writeTiledTiff(
      out,
      {
        width: this.width,
        height: this.height,
        tileWidth: tile,
        tileHeight: tile,
        bands: 3,
        compression: 'none',
        photometric: 'rgb',
      },
      async (col, row) => {
        if (ctx.signal?.aborted)
          throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('aborted');
        return this.mosaic.region(col * tile, row * tile, tile, tile);
      },
      (f) => ctx.onProgress?.(f, STAGE),
    );
    return sharp(out, { limitInputPixels: false }).extract({
      left: 0,
      top: 0,
      width: this.width,
      height: this.height,
    });
  }

  async associatedImage(name: AssociatedName): Promise<Buffer | null> {
    const a = this.extras.get(name);
    if (!a) return null;
    const { offset, length } = await this.czi.attachmentData(a);
    if (a.contentType === 'JPG') return this.czi.read(offset, length, `attachment ${a.name}`);
    const inner = await this.czi.openEmbedded(offset, length);
    const xml = await inner.metadataXml().catch(() => '');
    const mosaic = await CziMosaic.build(inner, await inner.directory(), parseCziMetadata(xml).channels);
    if (mosaic.width * mosaic.height > MAX_ASSOCIATED_PIXELS) {
      throw new SlideError(
        'IMAGE_TOO_LARGE',
        `CZI ${name} image is ${mosaic.width} x ${mosaic.height}, too large to extract`,
      );
    }
    const rgb = await mosaic.region(0, 0, mosaic.width, mosaic.height);
    return sharp(rgb, { raw: { width: mosaic.width, height: mosaic.height, channels: 3 } })
      .png()
      .toBuffer();
  }

  close(): Promise<void> {
    return this.czi.close();
  }
}

/** The first line of an unexpected error, for a one-line message. */
function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n').find((l) => l.trim() !== '') ?? 'unknown error';
}

async function openCzi(probe: Probe): Promise<SlideSource> {
  const czi = await CziFile.open(probe.path);
  try {
    const entries = await czi.directory();
    const xml = await czi.metadataXml();
    const meta = parseCziMetadata(xml);
    const mosaic = await CziMosaic.build(czi, entries, meta.channels);
    const attachments = await czi.attachments();
    const extras = new Map<AssociatedName, Attachment>();
    for (const [name, candidates] of Object.entries(ATTACHMENT_NAMES) as [AssociatedName, string[]][]) {
      const a = attachments.find(
        (x) => candidates.includes(x.name) && (x.contentType === 'JPG' || x.contentType === 'CZI'),
      );
      if (a) {
        // A cut file loses its tail first, where attachments live: find out now, not at ingest's end.
        await czi.attachmentData(a);
        extras.set(name, a);
      }
    }
    const properties: Record<string, string> = {
      ...meta.properties,
      'czi.Subblocks': String(entries.length),
      'czi.MosaicPixelType': mosaic.pixelTypeName,
    };
    mosaic.windows.forEach((w) => {
      properties[`czi.Channel${w.channel}.Window`] = `${w.low}-${w.high}`;
      properties[`czi.Channel${w.channel}.Colour`] =
        `#${w.colour.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
    });
    const base = path.basename(probe.path);
    const name = base.replace(/\.czi$/i, '') || base;
    return new CziSlide(name, czi, mosaic, meta.mppX, meta.mppY, meta.objectivePower, properties, extras);
  } catch (e) {
    await czi.close();
    throw e;
  }
}

/** Reads Zeiss CZI files with uncompressed (or JPEG) subblocks: the full-resolution mosaic as RGB. */
export const cziReader: SlideReader = {
  id: 'czi',
  priority: 60,
  detect(probe: Probe): boolean {
    return (
      !probe.isDirectory && probe.head.length >= 10 && probe.head.toString('latin1', 0, 10) === CZI_MAGIC
    );
  },
  async open(probe: Probe): Promise<SlideSource> {
    try {
      return await openCzi(probe);
    } catch (e) {
      if (isSlideError(e)) throw e;
      throw new SlideError('CORRUPT_FILE', `${path.basename(probe.path)}: unreadable CZI (${firstLine(e)})`, {
        cause: e,
      });
    }
  },
};
