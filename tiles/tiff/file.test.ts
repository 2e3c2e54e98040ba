import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TiffFile } from './file.ts';
import { writeTiledTiff } from './writer.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tessera-tiff-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TiffFile tile tables', () => {
  // One kind of array for every table, so that the loops over them stay compiled for it.
  for (const [what, width, height] of [
    ['one tile (its table inside the directory)', 100, 80],
    ['six tiles (tables read apart)', 300, 200],
  ] as const) {
    it(`are Float64Arrays: ${what}`, async () => {
      const file = path.join(dir, `${width}x${height}.tif`);
      const spec = { width, height, tileWidth: 128, tileHeight: 128, bands: 3, compression: 'none' } as const;
      await writeTiledTiff(file, { ...spec, photometric: 'rgb' }, () =>
        Promise.resolve(Buffer.alloc(128 * 128 * 3, 200)),
      );
      const tf = await TiffFile.open(file);
      try {
        const { offsets, byteCounts } = await tf.ifds[0]!.chunks();
        const tiles = Math.ceil(width / 128) * Math.ceil(height / 128);
        expect(offsets).toBeInstanceOf(Float64Array);
        expect(byteCounts).toBeInstanceOf(Float64Array);
        expect([...byteCounts]).toEqual(new Array(tiles).fill(128 * 128 * 3));
        expect(offsets.length).toBe(tiles);
      } finally {
        await tf.close();
      }
    });
  }
});
