import type { AssociatedName } from '../../../protocol/index.ts';
import { SlideError } from '../../errors.ts';
import type { Probe, SlideReader, SlideSource } from '../types.ts';
import {
  J2K_COMPRESSIONS,
  checkSlideSize,
  isReducedCopy,
  levelOf,
  parseNumber,
  positiveOrNull,
  slideName,
} from './common.ts';
import { scannerTilesOf } from './jpeg-tiles.ts';
import { ifdLevelPixels, ifdPixels } from './pixels.ts';
import { tiffDialect } from './sniff.ts';
import { TiffSlideSource, withFile } from './source.ts';
import { TiffFile, Ifd } from '../../tiff/file.ts';

/** TIFF compressions libvips decodes in an SVS level: none, LZW, JPEG, Deflate (both codes). */
const SHARP_COMPRESSIONS = new Set([1, 5, 7, 8, 32946]);

/**
 * Aperio's ImageDescription: a header line, then '|'-separated 'key = value' pairs
 * ("...|AppMag = 20|MPP = 0.4990|..."). Keys are returned prefixed 'aperio.' as OpenSlide names them.
 */
export function parseAperioDescription(desc: string): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = desc.split('|');
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    if (key) out[`aperio.${key}`] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * What an IFD of an SVS holds. Aperio writes level 0, the thumbnail (IFD 1, stripped), the reduced
 * levels (tiled), then label and macro, whose descriptions' second line starts "label" / "macro"
 * (older files only set NewSubfileType: 1 label, 9 macro).
 */
export function aperioRole(ifd: Ifd, index: number): 'level' | AssociatedName | 'other' {
  const second = ifd.description.split(/\r?\n/)[1]?.trim().toLowerCase() ?? '';
  if (second.startsWith('label')) return 'label';
  if (second.startsWith('macro')) return 'macro';
  if (index === 0) return 'level';
  if (ifd.tiled) return 'level';
  if (index === 1) return 'thumbnail';
  if (ifd.newSubfileType === 1) return 'label';
  if (ifd.newSubfileType === 9) return 'macro';
  return 'other';
}

async function openSvs(probe: Probe): Promise<SlideSource> {
  const file = await TiffFile.open(probe.path);
  return withFile(file, async () => {
    const base = file.ifds[0];
    if (!base) throw file.corrupt('no image directory');
    checkSlideSize(file.name, base.width, base.height);
    if (!base.tiled) {
      throw new SlideError(
        'UNSUPPORTED_FORMAT',
        `${file.name}: Aperio level 0 is not tiled, which SVS requires`,
      );
    }
    const levelIfds: Ifd[] = [base];
    const associated = new Map<AssociatedName, Ifd>();
    for (const [i, ifd] of file.ifds.entries()) {
      if (i === 0) continue;
      const role = aperioRole(ifd, i);
      if (role === 'level' && isReducedCopy(base, ifd)) levelIfds.push(ifd);
      else if (role === 'label' || role === 'macro' || role === 'thumbnail') {
        if (!associated.has(role)) associated.set(role, ifd);
      }
    }
    levelIfds.sort((a, b) => b.width - a.width);
    await Ifd.checkAll([
      ...levelIfds.map((ifd, k) => [ifd, `level ${k}`] as const),
      ...[...associated].map(([name, ifd]) => [ifd, `the ${name} image`] as const),
    ]);

    const compression = base.compression;
    const j2k = J2K_COMPRESSIONS.has(compression);
    if (!j2k && !SHARP_COMPRESSIONS.has(compression)) {
      throw new SlideError(
        'UNSUPPORTED_FORMAT',
        `${file.name}: Aperio level 0 uses TIFF compression ${compression}`,
      );
    }
    const properties = parseAperioDescription(base.description);
    const mpp = positiveOrNull(parseNumber(properties['aperio.MPP']));
    return new TiffSlideSource({
      format: 'aperio-svs',
      name: slideName(probe.path),
      file,
      levels: levelIfds.map((ifd) => levelOf(ifd, base.width)),
      mppX: mpp,
      mppY: mpp,
      objectivePower: positiveOrNull(parseNumber(properties['aperio.AppMag'])),
      associated,
      properties,
      rendering: null,
      pixels: (ctx) => ifdPixels(file, base, ctx),
      scannerTiles: () => scannerTilesOf(file, base),
      levelPixels: (k) => ifdLevelPixels(file, levelIfds[k]),
      levelTiles: (k) => (levelIfds[k] ? scannerTilesOf(file, levelIfds[k]) : Promise.resolve(null)),
    });
  });
}

/** Aperio SVS: JPEG or JPEG 2000 tiles, with label, macro and thumbnail. */
export const svsReader: SlideReader = {
  id: 'aperio-svs',
  priority: 80,
  async detect(probe) {
    return (await tiffDialect(probe)) === 'aperio';
  },
  open: openSvs,
};
