import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { requirePythonOpenslide, requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { RegionReaders } from './regions.ts';

const NDPI = 'hamamatsu/orbit-test3-DAPI-387.ndpi';

describe('OpenSlide region readers (long-lived python3-openslide processes)', () => {
  let readers: RegionReaders | null = null;
  afterEach(async () => {
    await readers?.close();
    readers = null;
  });

  it('a python that cannot be started fails the request with a message naming it', async () => {
    readers = new RegionReaders('/nonexistent/python3', 1);
    await expect(readers.read('/x.ndpi', 0, 0, 0, 1, 1)).rejects.toThrow(/could not start.*nonexistent/);
  });

  describe.skipIf(!requireSlides() || !requirePythonOpenslide())('on the NDPI sample', () => {
    it('answers regions in order, at most `size` processes, a bad file failing only its own request', async () => {
      readers = new RegionReaders(undefined, 2);
      // Started ahead, as a server does: the first request goes to it.
      readers.prestart();
      const file = slidePath(NDPI);
      const asks = [
        readers.read(file, 0, 0, 0, 64, 32),
        readers.read(path.join(path.dirname(file), 'missing.ndpi'), 0, 0, 0, 8, 8),
        readers.read(file, 2, 400, 400, 16, 16),
        readers.read(file, 6, 0, 0, 62, 76),
      ];
      const settled = await Promise.allSettled(asks);
      const value = (i: number): Buffer | null => {
        const s = settled[i];
        return s?.status === 'fulfilled' ? s.value : null;
      };
      expect(value(0)?.length).toBe(64 * 32 * 3);
      expect(settled[1]?.status).toBe('rejected');
      expect(value(2)?.length).toBe(16 * 16 * 3);
      expect(value(3)?.length).toBe(62 * 76 * 3);
      // Same region, same pixels, whichever process answers.
      const again = await readers.read(file, 0, 0, 0, 64, 32);
      expect(again.equals(value(0)!)).toBe(true);
      await readers.forget(file);
    });

    it('once closed, its processes are gone and further reads are refused', async () => {
      readers = new RegionReaders(undefined, 1);
      await readers.read(slidePath(NDPI), 0, 0, 0, 4, 4);
      await readers.close();
      expect(() => readers!.read(slidePath(NDPI), 0, 0, 0, 4, 4)).toThrow(/closed/);
    });
  });
});
