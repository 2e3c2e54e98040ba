import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { LocalSlideStore } from '../store/local.ts';
import { SLIDE_FILE } from '../store/types.ts';
import { makeStoredSlide } from './fixtures.ts';
import { TileService } from './service.ts';
import { StoredSlide } from './stored-slide.ts';

/** Stored tiles by (level, col, row): the frames DICOM sends, through the tile service's one path. */

let dir = '';
let store: LocalSlideStore;
let service: TileService;
let odd: Manifest;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-stored-tile-'));
  store = new LocalSlideStore(dir);
  odd = await makeStoredSlide(store, 1000, 777);
  service = new TileService(store);
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('TileService.storedTile / storedLevelBytes', () => {
  it('every tile of every level is the stored tile, full size with padded edges, and the byte total matches', async () => {
    const slide = await StoredSlide.open((await store.open(odd.id, SLIDE_FILE))!, odd);
    try {
      for (let k = 0; k < odd.levels; k++) {
        const l = odd.levelInfo[k]!;
        let total = 0;
        for (let row = 0; row < l.tilesY; row++)
          for (let col = 0; col < l.tilesX; col++) {
            const t = await service.storedTile(odd.id, k, col, row);
            expect(t?.body.equals((await slide.readStoredTile(k, col, row))!), `${k}/${col}/${row}`).toBe(
              true,
            );
            const meta = await sharp(t!.body).metadata();
            expect([meta.width, meta.height]).toEqual([256, 256]);
            total += t!.body.length;
          }
        expect(await service.storedLevelBytes(odd.id, k)).toEqual({
          tiles: l.tilesX * l.tilesY,
          bytes: total,
        });
      }
    } finally {
      await slide.close();
    }
  });

  it('nothing outside a level; an unknown slide is SLIDE_NOT_FOUND', async () => {
    const l = odd.levelInfo[0]!;
    expect(await service.storedTile(odd.id, 0, l.tilesX, 0)).toBeNull();
    expect(await service.storedTile(odd.id, 0, 0, l.tilesY)).toBeNull();
    expect(await service.storedTile(odd.id, 0, -1, 0)).toBeNull();
    expect(await service.storedTile(odd.id, 0, 0.5, 0)).toBeNull();
    expect(await service.storedTile(odd.id, odd.levels, 0, 0)).toBeNull();
    expect(await service.storedLevelBytes(odd.id, odd.levels)).toBeNull();
    await expect(service.storedTile('0'.repeat(32), 0, 0, 0)).rejects.toMatchObject({
      code: 'SLIDE_NOT_FOUND',
    });
  });

  it('a tile asked again comes from the cache, shared with Deep Zoom tiles of the same place', async () => {
    const before = service.cachedBytes;
    const a = await service.storedTile(odd.id, 0, 1, 1);
    expect(service.cachedBytes).toBe(before);
    const top = Math.ceil(Math.log2(Math.max(odd.width, odd.height)));
    const dzi = await service.dziTile(odd.id, top, 1, 1);
    expect(dzi?.etag).toBe(a?.etag);
    expect(dzi?.body.equals(a!.body)).toBe(true);
  });
});
