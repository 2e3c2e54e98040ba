import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromFile } from 'geotiff';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { qptiffColor } from './qptiff.ts';
import { buildTiff, meanAbsDiff, openWithTiffReaders, type TestIfd } from './test-tiff.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-qptiff-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!requireSlides())('QPTIFF sample (Vectra Polaris, 3 fluorescence channels)', () => {
  const file = slidePath('qptiff/pathml-small_vectra.qptiff');

  it('reads channel names and colours, calibration, objective and the RGB associated pages', async () => {
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.format).toBe('qptiff');
      expect(slide.mppX).toBeCloseTo(10_000 / 20_139.58, 4);
      expect(slide.objectivePower).toBe(10);
      expect(slide.properties['qptiff.Channel.0.Name']).toBe('DAPI');
      expect(slide.properties['qptiff.Channel.2.Color']).toBe('255,255,0');
      expect(slide.properties['qptiff.AcquisitionSoftware']).toBe('VectraPolaris 1.0');
      expect(slide.rendering).toMatch(
        /^3 8-bit channels .*DAPI -> #0000ff .*FITC -> #00ff00 .*Cy3 -> #ffff00/,
      );
      const sizes: Record<string, [number, number]> = {
        thumbnail: [480, 360],
        macro: [201, 398],
        label: [199, 120],
      };
      expect([...slide.associated].sort()).toEqual(Object.keys(sizes).sort());
      for (const [name, [w, h]] of Object.entries(sizes)) {
        const m = await sharp((await slide.associatedImage(name as 'label'))!).metadata();
        expect([m.width, m.height, m.channels]).toEqual([w, h, 3]);
      }
    } finally {
      await slide.close();
    }
  });

  it('renders the LZW strip channels as documented in `rendering` (checked against geotiff)', async () => {
    const slide = await openWithTiffReaders(file);
    try {
      const windows = [...(slide.rendering ?? '').matchAll(/-> (#[0-9a-f]{6}) \((\d+)\.\.(\d+)\)/g)].map(
        (m) => ({
          rgb: [1, 3, 5].map((k) => parseInt(m[1]!.slice(k, k + 2), 16)),
          lo: Number(m[2]),
          hi: Number(m[3]),
        }),
      );
      expect(windows.length).toBe(3);
      const region = { left: 300, top: 500, width: 700, height: 600 };
      const ours = await (
        await slide.pixels({ tmpDir: mkdtempSync(path.join(tmp, 'px-')) })
      )
        .extract(region)
        .raw()
        .toBuffer();
      const tiff = await fromFile(file);
      const expected = new Float64Array(region.width * region.height * 3);
      for (const [c, w] of windows.entries()) {
        const plane = (await (
          await tiff.getImage(c)
        ).readRasters({
          window: [region.left, region.top, region.left + region.width, region.top + region.height],
          interleave: true,
        })) as Uint8Array;
        for (let i = 0; i < plane.length; i++) {
          const v = Math.min(1, Math.max(0, (plane[i]! - w.lo) / (w.hi - w.lo)));
          for (let k = 0; k < 3; k++) expected[i * 3 + k]! += v * w.rgb[k]!;
        }
      }
      const ref = Uint8Array.from(expected, (v) => Math.min(255, Math.round(v)));
      for (const d of meanAbsDiff(ours, ref, 3)) expect(d).toBeLessThan(3);
    } finally {
      await slide.close();
    }
  });
});

const qpi = (type: string, extra = ''): string =>
  `<?xml version="1.0" encoding="utf-16"?>\r\n<PerkinElmer-QPI-ImageDescription>\r\n  <DescriptionVersion>2</DescriptionVersion>\r\n  <ImageType>${type}</ImageType>\r\n${extra}</PerkinElmer-QPI-ImageDescription>`;
const software = [{ tag: 305, type: 'ascii' as const, values: 'PerkinElmer-QPI' }];

describe('synthetic QPTIFF', () => {
  it('groups reduced-resolution pages into levels, one page per channel', async () => {
    const grey = (w: number, h: number, v: number, type: string, name: string): TestIfd => ({
      width: w,
      height: h,
      samplesPerPixel: 1,
      chunks: [Buffer.alloc(w * h, v)],
      description: qpi(
        type,
        `  <Name>${name}</Name>\r\n  <Color>${name === 'DAPI' ? '0,0,255' : '255,0,0'}</Color>\r\n  <Objective>20x</Objective>\r\n`,
      ),
      extra: software,
    });
    const file = path.join(tmp, 'levels.qptiff');
    writeFileSync(
      file,
      buildTiff([
        grey(256, 128, 10, 'FullResolution', 'DAPI'),
        grey(256, 128, 200, 'FullResolution', 'Opal 690'),
        grey(128, 64, 10, 'ReducedResolution', 'DAPI'),
        grey(128, 64, 200, 'ReducedResolution', 'Opal 690'),
        {
          width: 64,
          height: 32,
          chunks: [Buffer.alloc(64 * 32 * 3, 90)],
          description: qpi('Thumbnail'),
          extra: software,
        },
      ]),
    );
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.levels.map((l) => [l.width, l.downsample])).toEqual([
        [256, 1],
        [128, 2],
      ]);
      expect(slide.objectivePower).toBe(20);
      expect(slide.mppX).toBeNull();
      expect(slide.associated).toEqual(['thumbnail']);
      expect(slide.rendering).toMatch(/DAPI -> #0000ff .*Opal 690 -> #ff0000/);
    } finally {
      await slide.close();
    }
  });

  it('passes a brightfield (RGB) QPTIFF through without a channel mapping', async () => {
    const file = path.join(tmp, 'brightfield.qptiff');
    const rgb = (w: number, h: number, type: string): TestIfd => ({
      width: w,
      height: h,
      chunks: [Buffer.alloc(w * h * 3, 150)],
      description: qpi(type),
      extra: [
        ...software,
        { tag: 282, type: 'rational', values: [40_000] },
        { tag: 283, type: 'rational', values: [40_000] },
        { tag: 296, type: 'short', values: [3] },
      ],
    });
    writeFileSync(
      file,
      buildTiff([rgb(200, 100, 'FullResolution'), rgb(100, 50, 'ReducedResolution'), rgb(40, 20, 'Label')]),
    );
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.rendering).toBeNull();
      expect(slide.levels.length).toBe(2);
      expect(slide.mppX).toBeCloseTo(0.25, 6);
      expect(slide.associated).toEqual(['label']);
      const { data, info } = await (
        await slide.pixels({ tmpDir: tmp })
      )
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([200, 100, 3]);
      expect(data.every((v) => v === 150)).toBe(true);
    } finally {
      await slide.close();
    }
  });

  it('parses "r,g,b" colours', () => {
    expect(qptiffColor('255, 128,0')).toEqual([255, 128, 0]);
    expect(qptiffColor('Lime')).toBeNull();
  });
});
