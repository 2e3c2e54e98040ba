import path from 'node:path';
import { SlideError } from '../../errors.ts';
import type { OpenOptions, Probe, SlideReader, SlideSource } from '../types.ts';
import { resolveTarget } from './detect.ts';
import { openOpenslide } from './source.ts';
import { resolveVipsBin } from './vips.ts';

export { sniffTiff, resolveTarget, type OpenslideTarget, type TiffSniff } from './detect.ts';
export { miraxDataDir, missingMiraxFiles, parseIni } from './mirax.ts';
export { hasOpenslide, INSTALL_HINT } from './vips.ts';

export interface OpenslideReaderOptions {
  /**
   * The `vips` executable (built with OpenSlide). Defaults to TESSERA_VIPS_BIN, then `vips` on PATH,
   * looked up when a slide is opened so a test or a config change takes effect without a restart.
   */
  vipsBin?: string;
}

/**
 * A reader for the formats only OpenSlide reads (Hamamatsu NDPI / VMS / VMU, 3DHISTECH MIRAX, Leica
 * SCN, Ventana BIF, Philips TIFF, Sakura SVSlide), through Debian's `vips` command. Detection works
 * without vips; opening a slide without it fails with MISSING_DEPENDENCY naming the package.
 */
export function createOpenslideReader(options: OpenslideReaderOptions = {}): SlideReader {
  return {
    id: 'openslide',
    // Above the plain TIFF readers: NDPI, SCN, BIF and Philips files are TIFFs those would misread.
    priority: 60,
    async detect(probe: Probe): Promise<boolean> {
      return (await resolveTarget(probe)) !== null;
    },
    async open(probe: Probe, opts: OpenOptions = {}): Promise<SlideSource> {
      const target = await resolveTarget(probe);
      if (!target)
        throw new SlideError(
          'UNSUPPORTED_FORMAT',
          `${path.basename(probe.path)}: not a slide format OpenSlide reads`,
        );
      return openOpenslide(probe, target, resolveVipsBin(options.vipsBin), opts);
    },
  };
}

/** The OpenSlide-format reader with default options. */
export const openslideReader: SlideReader = createOpenslideReader();
