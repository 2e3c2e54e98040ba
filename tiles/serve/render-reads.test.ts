import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { LocalSlideStore } from '../store/local.ts';
import type { ReadAt, SlideStore } from '../store/types.ts';
import { makeStoredSlide } from './fixtures.ts';
import { TileService } from './service.ts';

/**
 * A store that reads over the network has no local file: a render's stored tiles are read before it
 * takes one of the render slots (as many as cores), so the slots never sit waiting on the network.
 */

let dir = '';
let local: LocalSlideStore;
let odd: Manifest;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-render-reads-'));
  local = new LocalSlideStore(dir);
  odd = await makeStoredSlide(local, 1000, 777);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** The local store seen as an object store: no local file, and every read noted with the renders running. */
function remoteLike(reads: { offset: number; running: number }[], service: () => TileService): SlideStore {
  return Object.assign(Object.create(local) as SlideStore, {
    open: async (id: string, file: string): Promise<ReadAt | null> => {
      const f = await local.open(id, file);
      if (!f) return null;
      return {
        size: f.size,
        read: (offset: number, length: number) => {
          reads.push({ offset, running: service().scheduler.running });
          return f.read(offset, length);
        },
        close: () => f.close(),
      };
    },
  });
}

describe('renders from a store without a local file', () => {
  it('read their stored tiles before taking a render slot', async () => {
    const reads: { offset: number; running: number }[] = [];
    const service: TileService = new TileService(
      remoteLike(reads, () => service),
      { renderConcurrency: 1 },
    );
    try {
      expect(await service.warm(odd.id)).toBe(true);
      const top = Math.ceil(Math.log2(Math.max(odd.width, odd.height)));
      // The right edge column (1000 = 3 x 256 + 232) is rendered.
      const edge = [
        [3, 0],
        [3, 1],
        [3, 2],
        [3, 3],
      ] as const;
      for (const [col, row] of edge) {
        reads.length = 0;
        const t = await service.dziTile(odd.id, top, col, row);
        expect(t?.kind, `${col}_${row}`).toBe('rendered');
        // The first read of each tile happened with no render running; the render's own read (here
        // a second one: this store keeps nothing) comes after.
        const first = new Map<number, number>();
        for (const r of reads) if (!first.has(r.offset)) first.set(r.offset, r.running);
        expect(first.size, `${col}_${row}`).toBeGreaterThan(0);
        expect([...first.values()], `${col}_${row}`).toEqual([...first.values()].map(() => 0));
      }
    } finally {
      await service.close();
    }
  });
});
