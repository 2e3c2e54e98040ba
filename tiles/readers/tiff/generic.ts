import { SlideError } from '../../errors.ts';
import type { Probe, SlideReader, SlideSource } from '../types.ts';
import {
  J2K_COMPRESSIONS,
  checkSlideSize,
  isReducedCopy,
  levelOf,
  resolutionMpp,
  slideName,
} from './common.ts';
import { scannerTilesOf } from './jpeg-tiles.ts';
import { ifdLevelPixels, ifdPixels } from './pixels.ts';
import { channelWindows, describeRendering, renderChannels, type Channel } from './render.ts';
import { tiffDialect } from './sniff.ts';
import { TiffSlideSource, withFile } from './source.ts';
import { TAG, TiffFile, Ifd } from '../../tiff/file.ts';

/** Compressions libvips (libtiff) decodes: none, CCITT, LZW, old and new JPEG, Deflate, PackBits, WebP, ZSTD. */
const SHARP_COMPRESSIONS = new Set([1, 2, 3, 4, 5, 6, 7, 8, 32773, 32946, 34925, 50000, 50001]);

/**
 * The pyramid of a plain TIFF: level 0 is the first full-resolution page, then either its SubIFDs or
 * the following pages, as long as each is a reduced copy of the one before.
 */
export async function genericLevels(file: TiffFile): Promise<Ifd[]> {
  const base = file.ifds.find((ifd) => (ifd.newSubfileType & 1) === 0) ?? file.ifds[0];
  if (!base) throw file.corrupt('no image directory');
  const levels: Ifd[] = [base];
  const subs = await base.subIfds();
  const candidates = subs.length > 0 ? subs : file.ifds.slice(base.index + 1);
  for (const ifd of candidates) {
    const prev = levels[levels.length - 1] ?? base;
    if (isReducedCopy(prev, ifd) && isReducedCopy(base, ifd)) levels.push(ifd);
    else if (subs.length === 0) break;
  }
  return levels;
}

/** Whether libvips can produce 8-bit RGB from this IFD. */
function checkDecodable(file: TiffFile, ifd: Ifd): void {
  const compression = ifd.compression;
  if (!SHARP_COMPRESSIONS.has(compression) && !J2K_COMPRESSIONS.has(compression)) {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `${file.name}: TIFF compression ${compression} is not supported`,
    );
  }
  if (J2K_COMPRESSIONS.has(compression) && ifd.bitsPerSample !== 8) {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `${file.name}: JPEG 2000 with ${ifd.bitsPerSample}-bit samples`,
    );
  }
  const spp = ifd.samplesPerPixel;
  if (spp < 1 || spp > 4 || (spp === 2 && ifd.num(TAG.ExtraSamples) === undefined)) {
    throw new SlideError(
      'UNSUPPORTED_FORMAT',
      `${file.name}: ${spp} samples per pixel cannot be shown as RGB`,
    );
  }
}

async function openGeneric(probe: Probe): Promise<SlideSource> {
  const file = await TiffFile.open(probe.path);
  return withFile(file, async () => {
    const levelIfds = await genericLevels(file);
    const base = levelIfds[0];
    if (!base) throw file.corrupt('no image directory');
    checkSlideSize(file.name, base.width, base.height);
    checkDecodable(file, base);
    await Ifd.checkAll(levelIfds.map((ifd, k) => [ifd, `level ${k}`] as const));
    const mpp = resolutionMpp(base);
    const properties: Record<string, string> = {};
    const text: [string, number][] = [
      ['tiff.ImageDescription', TAG.ImageDescription],
      ['tiff.Make', TAG.Make],
      ['tiff.Model', TAG.Model],
      ['tiff.Software', TAG.Software],
      ['tiff.DateTime', TAG.DateTime],
    ];
    for (const [key, tag] of text) {
      const v = base.str(tag)?.trim();
      if (v) properties[key] = v;
    }
    // 16-bit greyscale (fluorescence, X-ray) rarely fills its range: stretch it like an OME channel.
    const stretch = base.samplesPerPixel === 1 && base.bitsPerSample === 16 && base.sampleFormat === 1;
    const channel: Channel = { name: 'grey', color: [255, 255, 255], planes: levelIfds };
    const win = stretch ? await channelWindows(file.path, [channel]) : null;
    const rendering = win
      ? describeRendering([channel], win.windows, win.from)
      : base.bitsPerSample > 8
        ? `${base.bitsPerSample}-bit samples scaled linearly to 8 bits`
        : base.samplesPerPixel === 1
          ? 'greyscale shown as grey RGB'
          : null;
    return new TiffSlideSource({
      format: 'generic-tiff',
      name: slideName(probe.path),
      file,
      levels: levelIfds.map((ifd) => levelOf(ifd, base.width)),
      mppX: mpp.x,
      mppY: mpp.y,
      objectivePower: null,
      associated: new Map(),
      properties,
      rendering,
      pixels: async (ctx) => {
        if (win) return renderChannels(file.path, [channel], win.windows, ctx);
        return ifdPixels(file, base, ctx);
      },
      scannerTiles: () => (win ? Promise.resolve(null) : scannerTilesOf(file, base)),
      levelPixels: (k) => (win ? Promise.resolve(null) : ifdLevelPixels(file, levelIfds[k])),
      levelTiles: (k) => (win || !levelIfds[k] ? Promise.resolve(null) : scannerTilesOf(file, levelIfds[k])),
    });
  });
}

/** Any other tiled or stripped TIFF, pyramidal or not, except formats only OpenSlide reads. */
export const genericTiffReader: SlideReader = {
  id: 'generic-tiff',
  priority: 40,
  async detect(probe) {
    const dialect = await tiffDialect(probe);
    return dialect !== null && dialect !== 'openslide-only';
  },
  open: openGeneric,
};
