import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedSlides, requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { SlideError } from '../../errors.ts';
import { probe } from '../probe.ts';
import type { SlideSource } from '../types.ts';
import { TS, ctSlice, readDicom, wsiInstance } from './fixtures.ts';
import { inspectJpeg, jpegCoding, standaloneJpeg } from './frames.ts';
import { dicomReader } from './index.ts';
import { parseDicomFile } from './parse.ts';

const work = mkdtempSync(path.join(tmpdir(), 'tessera-dicom-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const scratch = (): string => mkdtempSync(path.join(work, 'px-'));

async function openPath(p: string): Promise<SlideSource> {
  const pr = await probe(p);
  expect(await dicomReader.detect(pr)).toBe(true);
  return dicomReader.open(pr);
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
    await s.pixels({ tmpDir: scratch() })
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

/** Mean absolute difference per channel of two RGB buffers of the same size. */
function mad(a: Buffer, b: Buffer): number[] {
  expect(a.length).toBe(b.length);
  const sum = [0, 0, 0];
  for (let i = 0; i < a.length; i++) sum[i % 3]! += Math.abs(a[i]! - b[i]!);
  return sum.map((s) => s / (a.length / 3));
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

/**
 * Level 0 of a sample decoded without this reader: dcmjs finds the frames, sharp decodes each JPEG,
 * and frames are laid out in TILED_FULL order onto a white canvas.
 */
async function independentDecode(file: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { ds, transferSyntax } = readDicom(readFileSync(file));
  expect(transferSyntax).toBe(TS.jpeg);
  const width = ds.TotalPixelMatrixColumns as number;
  const height = ds.TotalPixelMatrixRows as number;
  const tw = ds.Columns as number;
  const th = ds.Rows as number;
  const frames = ds.PixelData as ArrayBuffer[];
  const cols = Math.ceil(width / tw);
  const canvas = Buffer.alloc(width * height * 3, 255);
  for (let i = 0; i < Math.min(frames.length, cols * Math.ceil(height / th)); i++) {
    const { data, info } = await sharp(Buffer.from(frames[i]!))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const x0 = (i % cols) * tw;
    const y0 = Math.floor(i / cols) * th;
    for (let y = 0; y < Math.min(info.height, height - y0); y++) {
      const w = Math.min(info.width, width - x0);
      data.copy(canvas, ((y0 + y) * width + x0) * 3, y * info.width * 3, (y * info.width + w) * 3);
    }
  }
  return { data: canvas, width, height };
}

/** The level-0 file of a sample: the file itself, or the folder's instance with the largest matrix. */
function levelZeroFile(p: string): string {
  if (!statSync(p).isDirectory()) return p;
  const files = readdirSync(p).map((f) => path.join(p, f));
  const size = (f: string): number => {
    const { ds } = readDicom(readFileSync(f));
    return ds.ImageType && (ds.ImageType as string[])[2] === 'VOLUME'
      ? (ds.TotalPixelMatrixColumns as number) * (ds.TotalPixelMatrixRows as number)
      : 0;
  };
  return files.reduce((a, b) => (size(b) > size(a) ? b : a));
}

describe.skipIf(!requireSlides())('DICOM reader on the sample slides', () => {
  const samples = expectedSlides().filter((s) => s.path.startsWith('dicom/'));

  it('has the four DICOM samples to check', () => {
    expect(samples.map((s) => s.path).sort()).toEqual([
      'dicom/cmu-1-small-region-wsi2dcm/',
      'dicom/ez-wsi-multiframe-camelyon.dcm',
      'dicom/openslide-boxes/',
      'dicom/wsi-to-dicom-converter-jpeg.dcm',
    ]);
  });

  it('claims its own samples and none of the other formats', async () => {
    for (const s of expectedSlides()) {
      expect(await dicomReader.detect(await probe(slidePath(s.path))), s.path).toBe(
        s.path.startsWith('dicom/'),
      );
    }
  });

  for (const exp of samples) {
    it(`opens ${exp.path} with the size, source levels, mpp and objective the provenance records`, async () => {
      const s = await openPath(slidePath(exp.path));
      try {
        expect(s.format).toBe('dicom');
        expect([s.width, s.height]).toEqual([exp.width, exp.height]);
        expect(s.levels.length).toBe(exp.path.includes('wsi2dcm') ? 12 : exp.levels);
        expect(s.levels[0]).toMatchObject({ width: exp.width, height: exp.height, downsample: 1 });
        expect(s.mppX).not.toBeNull();
        expect(Math.abs(s.mppX! - exp.mpp!)).toBeLessThan(0.01);
        expect(Math.abs(s.mppY! - exp.mpp!)).toBeLessThan(0.01);
        expect(s.objectivePower).toBe(exp.objectivePower);
        expect(s.rendering).toBeNull();
      } finally {
        await s.close();
      }
    });

    it(`pixels() of ${exp.path} is exactly width x height, 3 bands of uchar, and matches an independent decode`, async () => {
      const s = await openPath(slidePath(exp.path));
      try {
        const got = await rgbOf(s);
        expect([got.width, got.height, got.channels, got.depth]).toEqual([exp.width, exp.height, 3, 'uchar']);
        const ref = await independentDecode(levelZeroFile(slidePath(exp.path)));
        for (const d of mad(got.data, ref.data)) expect(d).toBeLessThan(3);
      } finally {
        await s.close();
      }
    });
  }

  it('level 0 of the wsi2dcm series has the colours of the Aperio slide it was converted from', async () => {
    const s = await openPath(slidePath('dicom/cmu-1-small-region-wsi2dcm/'));
    try {
      const got = await rgbOf(s);
      const svs = await sharp(slidePath('aperio/CMU-1-Small-Region.svs'), { limitInputPixels: false })
        .removeAlpha()
        .raw()
        .toBuffer();
      // Re-encoded once more by the converter: close, not identical; swapped channels would be far off.
      const diff = mad(got.data, svs);
      for (const d of diff) expect(d).toBeLessThan(6);
    } finally {
      await s.close();
    }
  });

  it('copies JPEG frames on a 16-aligned grid into the intermediate TIFF without decoding them', async () => {
    const s = await openPath(slidePath('dicom/wsi-to-dicom-converter-jpeg.dcm'));
    try {
      const dir = scratch();
      await s.pixels({ tmpDir: dir });
      const [tif] = readdirSync(dir);
      // 957 x 715 x 3 raw would be ~2 MB; the copied frames are ~150 kB.
      expect(statSync(path.join(dir, tif!)).size).toBeLessThan(200_000);
    } finally {
      await s.close();
    }
  });

  it('reports assembly progress up to 1', async () => {
    const s = await openPath(slidePath('dicom/ez-wsi-multiframe-camelyon.dcm'));
    const seen: number[] = [];
    try {
      await s.pixels({ tmpDir: scratch(), onProgress: (f) => seen.push(f) });
    } finally {
      await s.close();
    }
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(1);
  });

  it('offers the THUMBNAIL instance of openslide-boxes as its thumbnail, and nothing it does not have', async () => {
    const s = await openPath(slidePath('dicom/openslide-boxes/'));
    try {
      expect(s.associated).toEqual(['thumbnail']);
      const png = await s.associatedImage('thumbnail');
      const meta = await sharp(png!).metadata();
      expect([meta.width, meta.height]).toEqual([16, 16]);
      expect(await s.associatedImage('label')).toBeNull();
    } finally {
      await s.close();
    }
  });

  it('reads RGB-coded JPEG frames without a colour marker as RGB, as PhotometricInterpretation says', async () => {
    const { ds } = readDicom(readFileSync(slidePath('dicom/openslide-boxes/boxes_0.dcm')));
    const frame = Buffer.from((ds.PixelData as ArrayBuffer[])[0]!);
    const app14 = frame.indexOf(Buffer.from([0xff, 0xee]));
    expect(app14).toBe(2);
    const bare = Buffer.concat([frame.subarray(0, 2), frame.subarray(2 + 2 + frame.readUInt16BE(4))]);
    const truth = await sharp(frame).raw().toBuffer();
    // The trap: without the marker a decoder assumes YCbCr and the colours go wrong.
    expect(Math.max(...mad(await sharp(bare).raw().toBuffer(), truth))).toBeGreaterThan(10);
    expect(Math.max(...mad(await sharp(standaloneJpeg(bare, 'RGB')).raw().toBuffer(), truth))).toBeLessThan(
      1,
    );
    // Through the reader (pass-through into the TIFF as RGB) the colours stay right.
    const file = writeTemp(
      'bare-rgb.dcm',
      wsiInstance({
        transferSyntax: TS.jpeg,
        width: 16,
        height: 16,
        tile: 64,
        photometric: 'RGB',
        frames: [bare],
      }),
    );
    const s = await openPath(file);
    try {
      const img = await rgbOf(s);
      const ref = await sharp(truth, { raw: { width: 64, height: 64, channels: 3 } })
        .extract({ left: 0, top: 0, width: 16, height: 16 })
        .raw()
        .toBuffer();
      for (const d of mad(img.data, ref)) expect(d).toBeLessThan(3);
    } finally {
      await s.close();
    }
  });

  it('refuses truncated copies of a sample with TRUNCATED_FILE, wherever the cut falls', async () => {
    const whole = readFileSync(slidePath('dicom/wsi-to-dicom-converter-jpeg.dcm'));
    for (const cut of [140, 600, 1500, 20_000, whole.length - 100]) {
      const file = writeTemp(`cut-${cut}.dcm`, whole.subarray(0, cut));
      await expectCode(openPath(file), 'TRUNCATED_FILE');
    }
  });

  it('refuses a header claiming a 10^6 x 10^6 matrix with IMAGE_TOO_LARGE', async () => {
    const bytes = Buffer.from(readFileSync(slidePath('dicom/wsi-to-dicom-converter-jpeg.dcm')));
    // (0048,0006) and (0048,0007), explicit VR UL, length 4: patch the values in place.
    for (const el of [0x06, 0x07]) {
      const header = Buffer.from([0x48, 0x00, el, 0x00, 0x55, 0x4c, 0x04, 0x00]);
      const at = bytes.indexOf(header);
      expect(at).toBeGreaterThan(0);
      bytes.writeUInt32LE(1_000_000, at + 8);
    }
    await expectCode(openPath(writeTemp('huge.dcm', bytes)), 'IMAGE_TOO_LARGE');
  });
});

/** A tile of one colour, as raw RGB. */
function solid(tile: number, rgb: [number, number, number]): Buffer {
  const b = Buffer.alloc(tile * tile * 3);
  for (let i = 0; i < tile * tile; i++) b.set(rgb, i * 3);
  return b;
}

function pixelAt(img: { data: Buffer; width: number }, x: number, y: number): number[] {
  const at = (y * img.width + x) * 3;
  return [img.data[at]!, img.data[at + 1]!, img.data[at + 2]!];
}

function near(a: number[], b: number[], tol: number): void {
  a.forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThanOrEqual(tol));
}

describe('DICOM reader on synthetic instances', () => {
  it('refuses a file whose attributes run on past the header limit, without reading them whole', async () => {
    const sparse = wsiInstance({
      transferSyntax: TS.explicit,
      width: 64,
      height: 32,
      tile: 32,
      frames: [solid(32, red), solid(32, green)],
      // Per-frame positions: attributes of a few hundred bytes before the pixel data.
      positions: [
        [1, 1],
        [33, 1],
      ],
    });
    const file = writeTemp('long-header.dcm', sparse);
    const pixels = sparse.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
    expect(pixels).toBeGreaterThan(300);
    // Read whole under the default limit; refused, naming the limit, under one the attributes pass.
    expect((await parseDicomFile(file)).pixelData).not.toBeNull();
    expect((await parseDicomFile(file, pixels + 64)).pixelData).not.toBeNull();
    const refused = await parseDicomFile(file, 300).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SlideError);
    expect((refused as SlideError).code).toBe('CORRUPT_FILE');
    expect((refused as SlideError).message).toMatch(/attributes run past 300 bytes before the pixel data/);
  });

  const red: [number, number, number] = [200, 30, 40];
  const green: [number, number, number] = [30, 180, 60];
  const blue: [number, number, number] = [40, 50, 210];

  for (const [label, ts] of [
    ['explicit', TS.explicit],
    ['implicit', TS.implicit],
  ] as const) {
    it(`places TILED_SPARSE frames by their plane positions (${label} VR), leaving missing tiles white`, async () => {
      const file = writeTemp(
        `sparse-${label}.dcm`,
        wsiInstance({
          transferSyntax: ts,
          width: 80,
          height: 40,
          tile: 32,
          frames: [solid(32, red), solid(32, green), solid(32, blue)],
          // Third frame is off the grid; cell (1,1) and the right edge have no frame.
          positions: [
            [1, 1],
            [33, 1],
            [11, 9],
          ],
          mmPerPixel: [0.0005, 0.00025],
          objectivePower: 40,
        }),
      );
      const s = await openPath(file);
      try {
        expect([s.width, s.height, s.mppX, s.mppY, s.objectivePower]).toEqual([80, 40, 0.25, 0.5, 40]);
        const img = await rgbOf(s);
        expect([img.width, img.height, img.channels]).toEqual([80, 40, 3]);
        expect(pixelAt(img, 2, 2)).toEqual(red);
        expect(pixelAt(img, 40, 4)).toEqual(green);
        expect(pixelAt(img, 20, 20)).toEqual(blue); // drawn over frame 1
        expect(pixelAt(img, 70, 4)).toEqual([255, 255, 255]);
        expect(pixelAt(img, 50, 36)).toEqual([255, 255, 255]);
      } finally {
        await s.close();
      }
    });
  }

  it('fills missing JPEG tiles white while copying the present ones', async () => {
    const jpeg = (rgb: [number, number, number]): Promise<Buffer> =>
      sharp(solid(64, rgb), { raw: { width: 64, height: 64, channels: 3 } })
        .jpeg({ quality: 95 })
        .toBuffer();
    const file = writeTemp(
      'sparse-jpeg.dcm',
      wsiInstance({
        transferSyntax: TS.jpeg,
        width: 128,
        height: 128,
        tile: 64,
        photometric: 'YBR_FULL_422',
        frames: [await jpeg(red), await jpeg(blue)],
        positions: [
          [1, 1],
          [65, 65],
        ],
      }),
    );
    const s = await openPath(file);
    try {
      const img = await rgbOf(s);
      near(pixelAt(img, 10, 10), red, 4);
      near(pixelAt(img, 100, 100), blue, 4);
      near(pixelAt(img, 100, 10), [255, 255, 255], 2);
      near(pixelAt(img, 10, 100), [255, 255, 255], 2);
    } finally {
      await s.close();
    }
  });

  it('falls back to decoding when a later JPEG frame is coded unlike the first', async () => {
    const raw = (rgb: [number, number, number]): Sharp =>
      sharp(solid(64, rgb), { raw: { width: 64, height: 64, channels: 3 } });
    const frames = [
      await raw(red).jpeg({ quality: 95 }).toBuffer(),
      await raw(green).jpeg({ quality: 95, chromaSubsampling: '4:4:4' }).toBuffer(),
      await raw(blue).jpeg({ quality: 95 }).toBuffer(),
    ];
    const file = writeTemp(
      'mixed-jpeg.dcm',
      wsiInstance({
        transferSyntax: TS.jpeg,
        width: 192,
        height: 64,
        tile: 64,
        photometric: 'YBR_FULL_422',
        frames,
      }),
    );
    const s = await openPath(file);
    try {
      const dir = scratch();
      const { data, info } = await (
        await s.pixels({ tmpDir: dir })
      )
        .raw()
        .toBuffer({ resolveWithObject: true });
      const img = { data, width: info.width };
      // Decoded, raw tiles: the intermediate TIFF holds every pixel uncompressed.
      expect(statSync(path.join(dir, readdirSync(dir)[0]!)).size).toBeGreaterThan(192 * 64 * 3);
      near(pixelAt(img, 10, 10), red, 4);
      near(pixelAt(img, 100, 10), green, 4);
      near(pixelAt(img, 170, 10), blue, 4);
    } finally {
      await s.close();
    }
  });

  it('stops assembling when the caller aborts, with the abort reason', async () => {
    const file = writeTemp(
      'abort.dcm',
      wsiInstance({
        transferSyntax: TS.explicit,
        width: 64,
        height: 64,
        tile: 32,
        frames: [red, green, blue, red].map((c) => solid(32, c)),
      }),
    );
    const s = await openPath(file);
    const ac = new AbortController();
    ac.abort(new Error('user cancelled'));
    try {
      await expect(s.pixels({ tmpDir: scratch(), signal: ac.signal })).rejects.toThrow('user cancelled');
    } finally {
      await s.close();
    }
  });

  it('decodes JPEG 2000 frames (lossless, reversible colour transform) exactly', async () => {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const factory = require('@cornerstonejs/codec-openjpeg/wasmjs') as (o: object) => Promise<{
      J2KEncoder: new () => {
        getDecodedBuffer(f: object): Uint8Array;
        encode(): void;
        getEncodedBuffer(): Uint8Array;
      };
    }>;
    const m = await factory({ print: () => {}, printErr: () => {} });
    const tile = 32;
    const gradient = Buffer.alloc(tile * tile * 3);
    for (let y = 0; y < tile; y++)
      for (let x = 0; x < tile; x++) gradient.set([x * 8, y * 8, 255 - x * 4], (y * tile + x) * 3);
    const enc = new m.J2KEncoder();
    enc
      .getDecodedBuffer({
        width: tile,
        height: tile,
        bitsPerSample: 8,
        componentCount: 3,
        isSigned: false,
        isUsingColorTransform: true,
      })
      .set(gradient);
    enc.encode();
    const frame = Buffer.from(enc.getEncodedBuffer());
    const file = writeTemp(
      'j2k.dcm',
      wsiInstance({
        transferSyntax: TS.j2kLossless,
        width: 30,
        height: 20,
        tile,
        photometric: 'YBR_RCT',
        frames: [frame],
      }),
    );
    const s = await openPath(file);
    try {
      const img = await rgbOf(s);
      expect([img.width, img.height]).toEqual([30, 20]);
      for (const [x, y] of [
        [0, 0],
        [29, 19],
        [13, 7],
      ] as const)
        expect(pixelAt(img, x, y)).toEqual([x * 8, y * 8, 255 - x * 4]);
    } finally {
      await s.close();
    }
  });

  it('tells RGB-coded from YCbCr-coded JPEG by marker first, PhotometricInterpretation second', () => {
    // SOF0 of a 64 x 64, 3-component, 4:4:4 stream with component ids 0, 1, 2 and no APP marker.
    const bare = Buffer.from([
      0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x40, 0x00, 0x40, 0x03, 0x00, 0x11, 0x00, 0x01, 0x11,
      0x00, 0x02, 0x11, 0x00,
    ]);
    const info = inspectJpeg(bare)!;
    expect(info).toMatchObject({
      width: 64,
      height: 64,
      components: 3,
      jfif: false,
      adobeTransform: null,
      sampling: [1, 1],
    });
    expect(jpegCoding(info, 'RGB')).toBe('rgb');
    expect(jpegCoding(info, 'YBR_FULL_422')).toBe('ycbcr');
    expect(jpegCoding({ ...info, jfif: true }, 'RGB')).toBe('ycbcr');
    expect(jpegCoding({ ...info, adobeTransform: 0 }, 'YBR_FULL_422')).toBe('rgb');
    const fixed = standaloneJpeg(bare, 'RGB');
    expect(inspectJpeg(fixed)?.adobeTransform).toBe(0);
    expect(standaloneJpeg(bare, 'YBR_FULL_422')).toBe(bare);
  });

  it('refuses a CT slice with UNSUPPORTED_FORMAT naming what it is', async () => {
    const file = writeTemp('ct.dcm', ctSlice());
    const e = await expectCode(openPath(file), 'UNSUPPORTED_FORMAT');
    expect(e.message).toMatch(/CT/);
    const dir = path.join(work, 'ct-folder');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'a.dcm'), ctSlice());
    await expectCode(openPath(dir), 'UNSUPPORTED_FORMAT');
  });

  it('refuses an instance whose frames do not fill its TILED_FULL grid with CORRUPT_FILE', async () => {
    const file = writeTemp(
      'short.dcm',
      wsiInstance({ transferSyntax: TS.explicit, width: 64, height: 64, tile: 32, frames: [solid(32, red)] }),
    );
    await expectCode(openPath(file), 'CORRUPT_FILE');
  });

  it('refuses a folder holding only a LABEL with UNSUPPORTED_FORMAT', async () => {
    const dir = path.join(work, 'label-only');
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, 'label.dcm'),
      wsiInstance({
        transferSyntax: TS.explicit,
        width: 32,
        height: 32,
        tile: 32,
        imageType: 'LABEL',
        frames: [solid(32, red)],
      }),
    );
    await expectCode(openPath(dir), 'UNSUPPORTED_FORMAT');
  });

  it('does not claim files without the DICM magic', async () => {
    const png = writeTemp(
      'x.png',
      await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } })
        .png()
        .toBuffer(),
    );
    expect(await dicomReader.detect(await probe(png))).toBe(false);
  });
});
