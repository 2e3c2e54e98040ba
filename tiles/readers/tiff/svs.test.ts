import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { isSlideError } from '../../errors.ts';
import { probe } from '../probe.ts';
import { genericTiffReader } from './generic.ts';
import { parseAperioDescription, svsReader } from './svs.ts';
import { meanAbsDiff, openWithTiffReaders } from './test-tiff.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-svs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseAperioDescription', () => {
  it('turns the |-separated key = value pairs into aperio.* properties, skipping the header', () => {
    const props = parseAperioDescription(
      'Aperio Image Library v11.2.1 \r\n46000x32914 [42673,5576 2220x2967] (240x240) JPEG/RGB Q=30|AppMag = 20|MPP = 0.4990|Date = 12/29/09',
    );
    expect(props).toEqual({ 'aperio.AppMag': '20', 'aperio.MPP': '0.4990', 'aperio.Date': '12/29/09' });
  });
});

/** An independent decode: OpenSlide (Debian's vips command) reading the same region. */
function openslideRegion(file: string, left: number, top: number, width: number, height: number): Buffer {
  const out = path.join(tmp, `os-${left}-${top}.png`);
  execFileSync('vips', [
    'crop',
    `${file}[rgb]`,
    out,
    String(left),
    String(top),
    String(width),
    String(height),
  ]);
  return readFileSync(out);
}

describe.skipIf(!requireSlides())('Aperio SVS samples', () => {
  const cmu = slidePath('aperio/CMU-1-Small-Region.svs');

  it('is claimed by the SVS reader (and by generic TIFF at a lower priority)', async () => {
    const p = await probe(cmu);
    expect(await svsReader.detect(p)).toBe(true);
    expect(svsReader.priority).toBeGreaterThan(genericTiffReader.priority);
  });

  it('decodes RGB-encoded JPEG tiles (no colour marker) like OpenSlide: mean difference < 3 per channel', async () => {
    const slide = await openWithTiffReaders(cmu);
    try {
      // A region across tile boundaries (tiles are 240 x 240) in tissue.
      const region = { left: 900, top: 1100, width: 600, height: 500 };
      const ours = await (await slide.pixels({ tmpDir: tmp })).extract(region).raw().toBuffer();
      const ref = await sharp(openslideRegion(cmu, region.left, region.top, region.width, region.height))
        .removeAlpha()
        .raw()
        .toBuffer();
      for (const d of meanAbsDiff(ours, ref, 3)) expect(d).toBeLessThan(3);
      // Tissue is pink: red above green. A YCbCr misreading would turn it green.
      let r = 0;
      let g = 0;
      for (let i = 0; i < ours.length; i += 3) {
        r += ours[i]!;
        g += ours[i + 1]!;
      }
      expect(r).toBeGreaterThan(g);
    } finally {
      await slide.close();
    }
  });

  it('exposes Aperio metadata as aperio.* properties', async () => {
    const slide = await openWithTiffReaders(cmu);
    try {
      expect(slide.properties['aperio.AppMag']).toBe('20');
      expect(slide.properties['aperio.MPP']).toBe('0.4990');
      expect(slide.properties['aperio.ScanScope ID']).toBe('CPAPERIOCS');
      expect(slide.rendering).toBeNull();
    } finally {
      await slide.close();
    }
  });

  it('reads label (LZW strips), macro and thumbnail from the TIFF at the sizes OpenSlide reports', async () => {
    const slide = await openWithTiffReaders(cmu);
    try {
      expect([...slide.associated].sort()).toEqual(['label', 'macro', 'thumbnail']);
      const sizes: Record<string, [number, number]> = {
        label: [387, 463],
        macro: [1280, 431],
        thumbnail: [574, 768],
      };
      for (const [name, [w, h]] of Object.entries(sizes)) {
        const buf = await slide.associatedImage(name as 'label' | 'macro' | 'thumbnail');
        expect(buf).not.toBeNull();
        const m = await sharp(buf!).metadata();
        expect([m.width, m.height, m.channels]).toEqual([w, h, 3]);
      }
    } finally {
      await slide.close();
    }
  });

  it('has only a thumbnail in the tiny 16 x 16 SVS (tile larger than the image)', async () => {
    const slide = await openWithTiffReaders(slidePath('aperio/openslide-small.svs'));
    try {
      expect(slide.associated).toEqual(['thumbnail']);
      expect(await slide.associatedImage('label')).toBeNull();
      expect(slide.levels[0]).toMatchObject({ width: 16, height: 16, tileWidth: 64, tileHeight: 64 });
    } finally {
      await slide.close();
    }
  });

  it('rejects a truncated SVS with TRUNCATED_FILE naming the file and what is missing', async () => {
    const whole = readFileSync(cmu);
    // IFD 0 sits at byte 1,275,950, after its tiles; the macro's IFD is the last thing in the file.
    const cases: [number, RegExp][] = [
      [1_000_000, /IFD 0 at offset 1275950 .*truncated/],
      [1_900_000, /IFD 3 at offset 1938212 .*truncated/],
    ];
    for (const [cut, message] of cases) {
      const file = path.join(tmp, `truncated-${cut}.svs`);
      writeFileSync(file, whole.subarray(0, cut));
      const err = await openWithTiffReaders(file).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isSlideError(err)).toBe(true);
      if (!isSlideError(err)) continue;
      expect(err.code).toBe('TRUNCATED_FILE');
      expect(err.message).toContain(`truncated-${cut}.svs`);
      expect(err.message).toMatch(message);
    }
  });
});
