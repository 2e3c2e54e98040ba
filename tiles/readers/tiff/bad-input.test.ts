import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { isSlideError } from '../../errors.ts';
import { probe } from '../probe.ts';
import { MAX_SLIDE_PIXELS, MAX_SLIDE_SIDE, checkSlideSize, tiffReaders } from './index.ts';
import { TiffFile } from '../../tiff/file.ts';
import { buildTiff, openWithTiffReaders, type TagSpec, type TestIfd } from './test-tiff.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-tiff-bad-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(name: string, bytes: Buffer): string {
  const file = path.join(tmp, name);
  writeFileSync(file, bytes);
  return file;
}

async function failure(file: string): Promise<{ code: string; message: string }> {
  const err = await openWithTiffReaders(file).then(
    () => null,
    (e: unknown) => e,
  );
  if (!isSlideError(err)) throw new Error(`expected a SlideError, got ${String(err)}`);
  return { code: err.code, message: err.message };
}

const OME_HUGE = `<?xml version="1.0"?><OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"><Image ID="Image:0"><Pixels DimensionOrder="XYCZT" ID="Pixels:0" SizeC="3" SizeT="1" SizeX="1000000" SizeY="1000000" SizeZ="1" Type="uint8"><Channel ID="Channel:0:0" SamplesPerPixel="3"/><TiffData IFD="0" PlaneCount="1"/></Pixels></Image></OME>`;

function huge(description?: string, extra: Partial<TestIfd> = {}): Buffer {
  return buildTiff([
    {
      width: 1_000_000,
      height: 1_000_000,
      tile: [256, 256],
      chunks: [Buffer.alloc(256 * 256 * 3)],
      compression: 1,
      description,
      ...extra,
    },
  ]);
}

describe('size limits', () => {
  it('documents its limits: 2e11 pixels, 1e6 a side', () => {
    expect(MAX_SLIDE_PIXELS).toBe(2e11);
    expect(MAX_SLIDE_SIDE).toBe(1_000_000);
    expect(() => checkSlideSize('a.tif', 1_000_000, 200_000)).not.toThrow();
    expect(() => checkSlideSize('a.tif', 1_000_001, 10)).toThrow(/exceeds/);
    expect(() => checkSlideSize('a.tif', 600_000, 400_000)).toThrow(/exceeds/);
    expect(() => checkSlideSize('a.tif', 0, 10)).toThrow(/invalid image size/);
  });

  const dialects: [string, Buffer][] = [
    ['plain TIFF', huge()],
    [
      'Aperio SVS',
      huge('Aperio Image Library v12.0.15\r\n1000000x1000000 (256x256) JPEG/RGB Q=70|AppMag = 40|MPP = 0.25'),
    ],
    ['OME-TIFF', huge(OME_HUGE)],
    [
      'QPTIFF',
      huge(
        '<?xml version="1.0" encoding="utf-16"?><PerkinElmer-QPI-ImageDescription><ImageType>FullResolution</ImageType></PerkinElmer-QPI-ImageDescription>',
        { samplesPerPixel: 1 },
      ),
    ],
  ];
  for (const [what, bytes] of dialects) {
    it(`rejects a ${what} whose header claims 1,000,000 x 1,000,000 pixels with IMAGE_TOO_LARGE, fast`, async () => {
      const file = write(`huge-${what.replace(/\W/g, '')}.tif`, bytes);
      const t0 = performance.now();
      const { code, message } = await failure(file);
      expect(code).toBe('IMAGE_TOO_LARGE');
      expect(message).toMatch(/huge-\w+\.tif: image of 1000000 x 1000000 pixels exceeds/);
      expect(performance.now() - t0).toBeLessThan(1000);
    });
  }
});

describe('damaged files', () => {
  const small = (over: Partial<TestIfd> = {}): TestIfd => ({
    width: 32,
    height: 32,
    tile: [16, 16],
    chunks: [0, 1, 2, 3].map(() => Buffer.alloc(16 * 16 * 3, 200)),
    ...over,
  });

  it('rejects tile data past the end of the file with TRUNCATED_FILE, naming the level', async () => {
    const file = write('cut-tiles.tif', buildTiff([small({ fakeOffsets: [8, 8, 8, 100_000] })]));
    const { code, message } = await failure(file);
    expect(code).toBe('TRUNCATED_FILE');
    expect(message).toMatch(
      /cut-tiles\.tif: the pixel data of level 0 \(IFD 0\) ends at byte \d+ but the file has only \d+ bytes/,
    );
  });

  it('names the first damaged level when several are, whatever order their tables arrive in', async () => {
    const half = (): TestIfd => ({
      ...small(),
      width: 16,
      height: 16,
      chunks: [Buffer.alloc(16 * 16 * 3, 90)],
    });
    const file = write(
      'cut-two.tif',
      buildTiff([small({ fakeOffsets: [8, 8, 8, 100_000] }), { ...half(), fakeOffsets: [200_000] }]),
    );
    for (let i = 0; i < 5; i++) {
      const { code, message } = await failure(file);
      expect(code).toBe('TRUNCATED_FILE');
      expect(message).toMatch(/of level 0 \(IFD 0\) ends at byte 100\d+ /);
    }
  });

  it('reads a directory longer than its first read, and its out-of-line values', async () => {
    // 120 more entries (1,440 bytes of directory), each text value stored outside it.
    const extra: TagSpec[] = Array.from({ length: 120 }, (_, i) => ({
      tag: 40_000 + i,
      type: 'ascii' as const,
      values: `value number ${i}`,
    }));
    const file = write('long-ifd.tif', buildTiff([small({ extra })]));
    const tf = await TiffFile.open(file);
    try {
      const ifd = tf.ifds[0]!;
      expect(ifd.width).toBe(32);
      expect(ifd.str(40_000)).toBe('value number 0');
      expect(ifd.str(40_119)).toBe('value number 119');
      await ifd.checkData('level 0');
    } finally {
      await tf.close();
    }
  });

  it('rejects an IFD chain that loops with CORRUPT_FILE', async () => {
    const bytes = buildTiff([small(), small()]);
    const first = bytes.readUInt32LE(4);
    const n = bytes.readUInt16LE(first);
    const second = bytes.readUInt32LE(first + 2 + n * 12);
    bytes.writeUInt32LE(first, second + 2 + bytes.readUInt16LE(second) * 12);
    const { code, message } = await failure(write('loop.tif', bytes));
    expect(code).toBe('CORRUPT_FILE');
    expect(message).toMatch(/loop\.tif: corrupt TIFF: the IFD chain loops/);
  });

  it('rejects a file that ends inside the header or the first IFD with TRUNCATED_FILE', async () => {
    const whole = buildTiff([small()]);
    for (const [name, bytes] of [
      ['header.tif', whole.subarray(0, 6)],
      ['ifd.tif', whole.subarray(0, whole.readUInt32LE(4) + 20)],
    ] as const) {
      const { code, message } = await failure(write(name, bytes));
      expect(code).toBe('TRUNCATED_FILE');
      expect(message).toContain(name);
    }
  });

  it('rejects an IFD with zero entries with CORRUPT_FILE', async () => {
    const bytes = Buffer.alloc(16);
    bytes.write('II', 0, 'latin1');
    bytes.writeUInt16LE(42, 2);
    bytes.writeUInt32LE(8, 4);
    const { code } = await failure(write('empty-ifd.tif', bytes));
    expect(code).toBe('CORRUPT_FILE');
  });
});

describe('detection', () => {
  it('does not claim a TIFF with the NDPI tag 65420 (read through OpenSlide instead)', async () => {
    const file = write(
      'fake.ndpi',
      buildTiff([
        {
          width: 16,
          height: 16,
          chunks: [Buffer.alloc(16 * 16 * 3)],
          extra: [{ tag: 65420, type: 'long', values: [1] }],
        },
      ]),
    );
    const p = await probe(file);
    for (const r of tiffReaders) expect(await r.detect(p)).toBe(false);
  });

  it('does not claim other OpenSlide-only TIFF dialects (Philips, Leica SCN, Trestle)', async () => {
    const variants: TestIfd['extra'][] = [
      [{ tag: 305, type: 'ascii', values: 'Philips DP v1.0' }],
      [{ tag: 305, type: 'ascii', values: 'MedScan' }],
      [
        {
          tag: 270,
          type: 'ascii',
          values: '<?xml version="1.0"?><scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01"/>',
        },
      ],
    ];
    for (const [i, extra] of variants.entries()) {
      const file = write(
        `vendor-${i}.tif`,
        buildTiff([{ width: 16, height: 16, chunks: [Buffer.alloc(16 * 16 * 3)], extra }]),
      );
      const p = await probe(file);
      for (const r of tiffReaders) expect(await r.detect(p)).toBe(false);
    }
  });

  it('does not claim non-TIFF input, and never throws from detect()', async () => {
    const file = write('not.tif', Buffer.from('%PDF-1.4 not a tiff at all'));
    const p = await probe(file);
    for (const r of tiffReaders) expect(await r.detect(p)).toBe(false);
  });

  it.skipIf(!requireSlides())('does not claim the Hamamatsu NDPI sample', async () => {
    const p = await probe(slidePath('hamamatsu/orbit-test3-DAPI-387.ndpi'));
    for (const r of tiffReaders) expect(await r.detect(p)).toBe(false);
  });
});
