import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  expectedSlides,
  requireSlides,
  slidePath,
  type ExpectedSlide,
} from '../../../tests/helpers/slides.ts';
import { openWithTiffReaders } from './test-tiff.ts';

const TIFF_FAMILY = /^(aperio|generic-tiff|ome-tiff|qptiff)\//;
const FORMAT_OF: Record<string, string> = {
  aperio: 'aperio-svs',
  'generic-tiff': 'generic-tiff',
  'ome-tiff': 'ome-tiff',
  qptiff: 'qptiff',
};

/**
 * Where expected.json lacks a value the file does carry. The QPTIFF's XResolution is 20139.58 px/cm
 * (0.4965 µm/px, as PROVENANCE.md notes) and its description says <Objective>10x</Objective>;
 * expected.json came from OpenSlide, which cannot open QPTIFF, hence its nulls.
 */
const CORRECTIONS: Record<string, Partial<ExpectedSlide>> = {
  'qptiff/pathml-small_vectra.qptiff': { mpp: 0.4965, objectivePower: 10 },
};

describe.skipIf(!requireSlides())('TIFF-family sample slides', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-tiff-samples-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const samples = expectedSlides().filter((s) => TIFF_FAMILY.test(s.path));

  it('covers every TIFF-family sample in expected.json', () => {
    expect(samples.length).toBeGreaterThanOrEqual(6);
  });

  for (const sample of samples) {
    const want = { ...sample, ...CORRECTIONS[sample.path] };
    it(`${sample.path}: opens with the expected size, levels, µm/pixel and objective`, async () => {
      const slide = await openWithTiffReaders(slidePath(sample.path));
      try {
        expect(slide.format).toBe(FORMAT_OF[sample.path.split('/')[0]!]);
        expect([slide.width, slide.height]).toEqual([want.width, want.height]);
        expect(slide.levels.length).toBe(want.levels);
        expect(slide.levels[0]).toMatchObject({ width: want.width, height: want.height, downsample: 1 });
        if (want.mpp === null) {
          expect(slide.mppX).toBeNull();
          expect(slide.mppY).toBeNull();
        } else {
          expect(slide.mppX).toBeCloseTo(want.mpp, 3);
          expect(slide.mppY).toBeCloseTo(want.mpp, 3);
        }
        expect(slide.objectivePower).toBe(want.objectivePower);
      } finally {
        await slide.close();
      }
    });

    it(`${sample.path}: pixels() yields exactly width x height, 3 bands, 8-bit`, async () => {
      const slide = await openWithTiffReaders(slidePath(sample.path));
      try {
        const img = await slide.pixels({ tmpDir: mkdtempSync(path.join(tmp, 'px-')) });
        const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
        expect([info.width, info.height, info.channels]).toEqual([want.width, want.height, 3]);
        // One byte per sample: 8-bit (the typings of OutputInfo omit its `depth`).
        expect(data.length).toBe(want.width * want.height * 3);
        expect((info as { depth?: string }).depth).toBe('uchar');
      } finally {
        await slide.close();
      }
    });
  }
});
