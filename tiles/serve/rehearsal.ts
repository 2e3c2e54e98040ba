import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { openSlide } from '../readers/index.ts';
import { SourceSlide } from './source-slide.ts';

/** The rehearsal slide: a scanner-like pyramidal TIFF with JPEG tiles, small enough to make in ms. */
const WIDTH = 2000;
const HEIGHT = 1500;
const TILE = 240;

/**
 * Serve a small slide from its source once, as an upload is served before its conversion: a
 * JPEG-tiled pyramidal BigTIFF made in `dir`, opened by its reader, its scanner tile passed through
 * and its coarsest tile made, then removed. `tessera serve` does this once when it starts, so that
 * the first real upload does not pay for running that code for the first time (opening the
 * 60,000 x 45,000 bench slide took 14-27 ms in a fresh process, 6-7 ms once run before).
 * Resolves with the time it took; rejects where the readers themselves fail (sharp, libvips).
 */
export async function rehearseSourceServing(dir: string): Promise<number> {
  const t0 = performance.now();
  await mkdir(dir, { recursive: true });
  const folder = await mkdtemp(path.join(dir, 'rehearsal-'));
  try {
    const file = path.join(folder, 'rehearsal.tif');
    await sharp({ create: { width: WIDTH, height: HEIGHT, channels: 3, background: '#e6c3d6' } })
      .tiff({
        tile: true,
        tileWidth: TILE,
        tileHeight: TILE,
        pyramid: true,
        bigtiff: true,
        compression: 'jpeg',
        quality: 80,
      })
      .toFile(file);
    const source = await openSlide(file, { serving: true });
    const slide = await SourceSlide.open(source, {
      id: '0'.repeat(32),
      name: 'rehearsal',
      tileSize: TILE,
      jpegQuality: 80,
    }).catch(async (e: unknown) => {
      await source.close();
      throw e;
    });
    try {
      const last = slide.manifest.levels - 1;
      const full = await slide.readStoredTile(0, 0, 0);
      const coarse = await slide.readStoredTile(last, 0, 0);
      if (!full || !coarse) throw new Error('the rehearsal slide gave no tiles');
    } finally {
      await slide.close();
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
  return performance.now() - t0;
}
