import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedSlides, requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { SlideError } from '../../errors.ts';
import { probe } from '../probe.ts';
import type { SlideSource } from '../types.ts';
import { cziXml, writeCzi, type FixtureSubblock } from './fixtures.ts';
import { cziReader } from './index.ts';
import { parseColor } from './metadata.ts';

const work = mkdtempSync(path.join(tmpdir(), 'tessera-czi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

async function openPath(p: string): Promise<SlideSource> {
  const pr = await probe(p);
  expect(cziReader.detect(pr)).toBe(true);
  return cziReader.open(pr);
}

function writeTemp(name: string, bytes: Buffer): string {
  const file = path.join(work, `${n++}-${name}`);
  writeFileSync(file, bytes);
  return file;
}

async function rgbOf(
  s: SlideSource,
): Promise<{ data: Buffer; width: number; height: number; channels: number; depth: string }> {
  const { data, info } = await (
    await s.pixels({ tmpDir: mkdtempSync(path.join(work, 'px-')) })
  )
    .raw()
    .toBuffer({ resolveWithObject: true });
  // OutputInfo's type omits `depth`, which sharp reports at run time; the byte count backs it up.
  expect(data.length).toBe(info.width * info.height * info.channels);
  return {
    data,
    width: info.width,
    height: info.height,
    channels: info.channels,
    depth: (info as unknown as { depth: string }).depth,
  };
}

function pixelAt(img: { data: Buffer; width: number }, x: number, y: number): number[] {
  const at = (y * img.width + x) * 3;
  return [img.data[at]!, img.data[at + 1]!, img.data[at + 2]!];
}

async function expectCode(p: Promise<unknown>, code: string): Promise<SlideError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SlideError);
  expect((e as SlideError).code).toBe(code);
  expect((e as SlideError).message).not.toContain('\n');
  return e as SlideError;
}

interface RawSubblock {
  pixelType: number;
  dims: Record<string, { start: number; size: number; stored: number }>;
  data: Buffer;
}

/**
 * Every subblock of a CZI found by walking its segments from the start, without the directory: an
 * independent route to the stored pixels.
 */
function scanSubblocks(buf: Buffer): RawSubblock[] {
  const out: RawSubblock[] = [];
  for (let pos = 0; pos + 32 <= buf.length;) {
    const id = buf.toString('latin1', pos, pos + 16).replace(/\0+$/, '');
    const allocated = Number(buf.readBigInt64LE(pos + 16));
    if (id === 'ZISRAWSUBBLOCK') {
      const d = pos + 32;
      const metadataSize = buf.readInt32LE(d);
      const dataSize = Number(buf.readBigInt64LE(d + 8));
      const count = buf.readInt32LE(d + 16 + 28);
      const dims: RawSubblock['dims'] = {};
      for (let k = 0; k < count; k++) {
        const at = d + 16 + 32 + k * 20;
        dims[buf.toString('latin1', at, at + 4).replace(/\0+$/, '')] = {
          start: buf.readInt32LE(at + 4),
          size: buf.readInt32LE(at + 8),
          stored: buf.readInt32LE(at + 16),
        };
      }
      const dataAt = d + Math.max(256, 16 + 32 + count * 20) + metadataSize;
      out.push({
        pixelType: buf.readInt32LE(d + 16 + 2),
        dims,
        data: buf.subarray(dataAt, dataAt + dataSize),
      });
    }
    pos += 32 + allocated;
  }
  return out;
}

describe.skipIf(!requireSlides())('CZI reader on the sample slides', () => {
  const samples = expectedSlides().filter((s) => s.path.startsWith('czi/'));

  it('has the two CZI samples to check', () => {
    expect(samples.map((s) => s.path).sort()).toEqual([
      'czi/aicspylibczi-RGB-multichannel.czi',
      'czi/czitools-1_tileregion.czi',
    ]);
  });

  it('claims its own samples and none of the other formats', async () => {
    for (const s of expectedSlides()) {
      expect(cziReader.detect(await probe(slidePath(s.path))), s.path).toBe(s.path.startsWith('czi/'));
    }
  });

  for (const exp of samples) {
    it(`opens ${exp.path} with the size, mpp and objective the provenance records, full resolution only`, async () => {
      const s = await openPath(slidePath(exp.path));
      try {
        expect(s.format).toBe('czi');
        expect([s.width, s.height]).toEqual([exp.width, exp.height]);
        expect(s.levels).toHaveLength(1);
        expect(s.levels[0]).toMatchObject({ width: exp.width, height: exp.height, downsample: 1 });
        expect(Math.abs(s.mppX! - exp.mpp!)).toBeLessThan(0.01);
        expect(Math.abs(s.mppY! - exp.mpp!)).toBeLessThan(0.01);
        expect(s.objectivePower).toBe(exp.objectivePower);
        expect(s.rendering).toBeTruthy();
        const img = await rgbOf(s);
        expect([img.width, img.height, img.channels, img.depth]).toEqual([exp.width, exp.height, 3, 'uchar']);
      } finally {
        await s.close();
      }
    });
  }

  it('renders Bgr24 channel 0 of the RGB sample as its stored pixels with B and R swapped', async () => {
    const file = slidePath('czi/aicspylibczi-RGB-multichannel.czi');
    const channel0 = scanSubblocks(readFileSync(file)).find((b) => b.dims.C?.start === 0)!;
    expect(channel0.pixelType).toBe(3);
    const s = await openPath(file);
    try {
      expect(s.rendering).toMatch(/channel 0 \(Bright\) of 7/);
      const img = await rgbOf(s);
      const want = Buffer.alloc(channel0.data.length);
      for (let i = 0; i < want.length; i += 3)
        want.set([channel0.data[i + 2]!, channel0.data[i + 1]!, channel0.data[i]!], i);
      expect(img.data.equals(want)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('renders the Gray16 tile region through the documented window and colour, higher M on top, gaps black', async () => {
    const file = slidePath('czi/czitools-1_tileregion.czi');
    const blocks = scanSubblocks(readFileSync(file)).filter((b) => b.dims.X!.size === b.dims.X!.stored);
    expect(blocks).toHaveLength(7);
    const minX = Math.min(...blocks.map((b) => b.dims.X!.start));
    const minY = Math.min(...blocks.map((b) => b.dims.Y!.start));
    const s = await openPath(file);
    try {
      const [low, high] = s.properties['czi.Channel0.Window']!.split('-').map(Number) as [number, number];
      const colour = parseColor(s.properties['czi.Channel0.Colour']!)!;
      expect(s.rendering).toContain(`${low}-${high}`);
      const img = await rgbOf(s);
      const expected = (b: RawSubblock, x: number, y: number): number[] => {
        const bx = x - (b.dims.X!.start - minX);
        const by = y - (b.dims.Y!.start - minY);
        const v = b.data.readUInt16LE((by * b.dims.X!.size + bx) * 2);
        const m = Math.min(255, Math.max(0, Math.round(((v - low) * 255) / (high - low))));
        return colour.map((c) => Math.round((m / 255) * c));
      };
      const byM = (m: number): RawSubblock => blocks.find((b) => (b.dims.M?.start ?? 0) === m)!;
      // M0 alone covers [0, 360) x [0, 270): every pixel there must follow the mapping.
      let worst = 0;
      for (let y = 0; y < 270; y += 3)
        for (let x = 0; x < 360; x += 3) {
          const got = pixelAt(img, x, y);
          expected(byM(0), x, y).forEach((v, c) => (worst = Math.max(worst, Math.abs(v - got[c]!))));
        }
      expect(worst).toBeLessThanOrEqual(1);
      // Where M0 and M1 overlap, M1 is drawn over M0.
      expect(pixelAt(img, 380, 100)).toEqual(expected(byM(1), 380, 100));
      // Nothing was acquired below M0 on the left: fluorescence background is black.
      expect(pixelAt(img, 100, 450)).toEqual([0, 0, 0]);
    } finally {
      await s.close();
    }
  });

  it('offers the embedded JPEG thumbnail', async () => {
    const s = await openPath(slidePath('czi/czitools-1_tileregion.czi'));
    try {
      expect(s.associated).toEqual(['thumbnail']);
      const meta = await sharp((await s.associatedImage('thumbnail'))!).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.width).toBeGreaterThan(0);
      expect(await s.associatedImage('label')).toBeNull();
    } finally {
      await s.close();
    }
  });

  it('refuses truncated copies of both samples with TRUNCATED_FILE, wherever the cut falls', async () => {
    for (const rel of ['czi/aicspylibczi-RGB-multichannel.czi', 'czi/czitools-1_tileregion.czi']) {
      const whole = readFileSync(slidePath(rel));
      for (const cut of [60, 300, 700, 2000, 400_000, whole.length - 1000]) {
        await expectCode(openPath(writeTemp(`cut-${cut}.czi`, whole.subarray(0, cut))), 'TRUNCATED_FILE');
      }
    }
  });
});

function gray8(width: number, height: number, value: (x: number, y: number) => number): Buffer {
  const b = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) b[y * width + x] = value(x, y);
  return b;
}

describe('CZI reader on synthetic files', () => {
  it('adds grey channels tinted with their metadata colours, each stretched to its own range', async () => {
    const ramp = (x: number): number => 10 + x; // 10..73 across 64 px
    const blocks: FixtureSubblock[] = [
      { x: 100, y: 50, width: 64, height: 32, c: 0, pixelType: 0, data: gray8(64, 32, (x) => ramp(x)) },
      { x: 100, y: 50, width: 64, height: 32, c: 1, pixelType: 0, data: gray8(64, 32, (x) => 200 - x) },
    ];
    const xml = cziXml({
      mmPerPixel: 0.00065,
      magnification: 20,
      channels: [
        { name: 'DAPI', color: '#FF0000FF' },
        { name: 'FITC', color: '#FF00FF00' },
      ],
    });
    const s = await openPath(writeTemp('two-channel.czi', writeCzi(blocks, xml)));
    try {
      expect([s.width, s.height, s.mppX, s.objectivePower]).toEqual([64, 32, 0.65, 20]);
      expect(s.rendering).toMatch(/DAPI: .* colour #0000ff; FITC: .* colour #00ff00/);
      const img = await rgbOf(s);
      // Left edge: DAPI at its low end, FITC at its high end; right edge the reverse.
      const left = pixelAt(img, 0, 5);
      const right = pixelAt(img, 63, 5);
      expect(left[0]).toBe(0);
      expect(left[2]!).toBeLessThan(10);
      expect(left[1]!).toBeGreaterThan(245);
      expect(right[2]!).toBeGreaterThan(245);
      expect(right[1]!).toBeLessThan(10);
    } finally {
      await s.close();
    }
  });

  it('ignores pyramid subblocks and uses the full-resolution ones only', async () => {
    const blocks: FixtureSubblock[] = [
      { x: 0, y: 0, width: 32, height: 32, pixelType: 0, data: gray8(32, 32, () => 100) },
      {
        x: 0,
        y: 0,
        width: 64,
        height: 64,
        storedWidth: 32,
        storedHeight: 32,
        pixelType: 0,
        pyramidType: 2,
        data: gray8(32, 32, () => 7),
      },
      { x: 32, y: 32, width: 32, height: 32, pixelType: 0, m: 1, data: gray8(32, 32, () => 200) },
    ];
    const s = await openPath(writeTemp('pyramid.czi', writeCzi(blocks)));
    try {
      expect([s.width, s.height]).toEqual([64, 64]);
      const img = await rgbOf(s);
      expect(pixelAt(img, 40, 5)).toEqual([0, 0, 0]); // no full-resolution data there
    } finally {
      await s.close();
    }
  });

  for (const [code, name] of [
    [5, 'zstd'],
    [4, 'JPEG XR'],
    [2, 'LZW'],
  ] as const) {
    it(`refuses ${name} compressed subblocks with UNSUPPORTED_FORMAT naming the compression`, async () => {
      const file = writeTemp(
        `c${code}.czi`,
        writeCzi([
          { x: 0, y: 0, width: 8, height: 8, pixelType: 0, compression: code, data: Buffer.alloc(20) },
        ]),
      );
      const e = await expectCode(openPath(file), 'UNSUPPORTED_FORMAT');
      expect(e.message).toContain(name);
    });
  }

  it('refuses float pixels with UNSUPPORTED_FORMAT', async () => {
    const file = writeTemp(
      'float.czi',
      writeCzi([{ x: 0, y: 0, width: 4, height: 4, pixelType: 2, data: Buffer.alloc(64) }]),
    );
    await expectCode(openPath(file), 'UNSUPPORTED_FORMAT');
  });

  it('refuses a mosaic spanning 10^6 x 10^6 pixels with IMAGE_TOO_LARGE', async () => {
    const file = writeTemp(
      'huge.czi',
      writeCzi([
        { x: 0, y: 0, width: 4, height: 4, pixelType: 0, data: Buffer.alloc(16) },
        { x: 999_996, y: 999_996, width: 4, height: 4, pixelType: 0, data: Buffer.alloc(16) },
      ]),
    );
    await expectCode(openPath(file), 'IMAGE_TOO_LARGE');
  });

  it('refuses a part of a multi-file CZI with UNSUPPORTED_FORMAT', async () => {
    const file = writeTemp(
      'part.czi',
      writeCzi([{ x: 0, y: 0, width: 4, height: 4, pixelType: 0, data: Buffer.alloc(16) }], undefined, {
        filePart: 1,
      }),
    );
    await expectCode(openPath(file), 'UNSUPPORTED_FORMAT');
  });

  it('refuses a subblock shorter than its size says with CORRUPT_FILE', async () => {
    const file = writeTemp(
      'short.czi',
      writeCzi([{ x: 0, y: 0, width: 16, height: 16, pixelType: 1, data: Buffer.alloc(100) }]),
    );
    await expectCode(openPath(file), 'CORRUPT_FILE');
  });

  it('does not claim other files', async () => {
    const file = writeTemp('x.bin', Buffer.from('ZISRAWFIL not quite'));
    expect(cziReader.detect(await probe(file))).toBe(false);
  });
});
