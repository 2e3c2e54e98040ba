import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { openSlide } from '../readers/index.ts';
import { type LevelCoding, TiffWriter } from '../tiff/writer.ts';
import { SourceSlide } from './source-slide.ts';

/**
 * The rehearsal slide: a scanner's size, 64,000 x 48,000 px in 256 px JPEG tiles with levels at 1/4,
 * 1/16 and 1/64, so that opening it runs the loops over a real slide's tile tables (47,000 entries at
 * full resolution) long enough for them to be compiled as they will be needed. Every tile of it is the
 * same blank tile, stored once (as scanners store empty tiles): the file is about a megabyte of tables
 * and is made in milliseconds.
 */
const WIDTH = 64_000;
const HEIGHT = 48_000;
const TILE = 256;
const DOWNSAMPLE = 4;
const COARSEST_SIDE = 1024;

async function writeRehearsalSlide(file: string): Promise<void> {
  const tile = await sharp({ create: { width: TILE, height: TILE, channels: 3, background: '#e6c3d6' } })
    .jpeg({ quality: 80 })
    .toBuffer();
  const levels: LevelCoding[] = [];
  for (let w = WIDTH, h = HEIGHT; ; w = Math.ceil(w / DOWNSAMPLE), h = Math.ceil(h / DOWNSAMPLE)) {
    levels.push({
      width: w,
      height: h,
      tileWidth: TILE,
      tileHeight: TILE,
      colour: 'ycbcr',
      subsampling: [2, 2],
    });
    if (Math.max(w, h) <= COARSEST_SIDE) break;
  }
  const writer = await TiffWriter.create(file, levels);
  try {
    for (const [k, l] of levels.entries()) {
      const n = Math.ceil(l.width / TILE) * Math.ceil(l.height / TILE);
      for (let i = 0; i < n; i++) await writer.put(k, i, tile, 'blank');
    }
    await writer.finish();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

/**
 * Serve a scanner-sized slide from its source once, as an upload is served before its conversion: a
 * JPEG-tiled pyramidal BigTIFF written in `dir`, opened by its reader, a full-resolution tile passed
 * through and its coarsest tile made, then removed. `tessera serve` does this once when it starts, so
 * that the first real upload does not pay for running that code for the first time (opening the
 * 60,000 x 45,000 bench slide took 14-27 ms in a fresh process, 6-7 ms once run before). A small
 * rehearsal slide (48 tiles) was not enough: the loops over the tile tables then ran cold on the first
 * upload.
 * Resolves with the time it took; rejects where the readers themselves fail (sharp, libvips).
 */
export async function rehearseSourceServing(dir: string): Promise<number> {
  const t0 = performance.now();
  await mkdir(dir, { recursive: true });
  const folder = await mkdtemp(path.join(dir, 'rehearsal-'));
  try {
    const file = path.join(folder, 'rehearsal.tif');
    await writeRehearsalSlide(file);
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
