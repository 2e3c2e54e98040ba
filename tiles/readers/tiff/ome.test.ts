import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromFile } from 'geotiff';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { isSlideError } from '../../errors.ts';
import { parseOmeXml } from './ome-xml.ts';
import { mixChannels, percentiles } from './render.ts';
import { buildTiff, cutTiles, meanAbsDiff, openWithTiffReaders } from './test-tiff.ts';
import { TiffFile } from '../../tiff/file.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-ome-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ns = 'xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06"';

describe('parseOmeXml', () => {
  it('maps TiffData planes to IFDs following DimensionOrder (XYZCT: Z fastest)', () => {
    const doc = parseOmeXml(
      `<OME ${ns} UUID="urn:uuid:a"><Image ID="Image:0"><Pixels DimensionOrder="XYZCT" SizeX="10" SizeY="10" SizeC="2" SizeZ="3" SizeT="1" Type="uint16">` +
        `<Channel ID="c0" Name="DAPI" SamplesPerPixel="1" Color="65535"/><Channel ID="c1" Name="CD8" Color="-16776961"/>` +
        `<TiffData IFD="0" PlaneCount="6"><UUID FileName="renamed.ome.tif">urn:uuid:a</UUID></TiffData></Pixels></Image></OME>`,
    );
    const im = doc?.images[0];
    expect(im?.planes.get('0,0,0')).toBe(0);
    expect(im?.planes.get('0,2,0')).toBe(2);
    expect(im?.planes.get('1,0,0')).toBe(3);
    expect(im?.hasExternalPlanes).toBe(false);
    expect(im?.channels.map((c) => [c.name, c.color])).toEqual([
      ['DAPI', [0, 0, 255]],
      ['CD8', [255, 0, 0]],
    ]);
  });

  it('reads physical size in its unit, objective magnification, and planes held by other files', () => {
    const doc = parseOmeXml(
      `<OME ${ns} UUID="urn:uuid:self"><Instrument ID="Instrument:0"><Objective ID="Objective:0" NominalMagnification="40.0"/></Instrument>` +
        `<Image ID="Image:0" Name="slide"><ObjectiveSettings ID="Objective:0"/><Pixels DimensionOrder="XYCZT" PhysicalSizeX="250" PhysicalSizeXUnit="nm" PhysicalSizeY="0.25" SizeX="4" SizeY="4" SizeC="2" SizeZ="1" SizeT="1" Type="uint8">` +
        `<TiffData FirstC="0" IFD="0"/><TiffData FirstC="1" IFD="0"><UUID>urn:uuid:other</UUID></TiffData></Pixels></Image></OME>`,
    );
    const im = doc?.images[0];
    expect(im?.mppX).toBeCloseTo(0.25, 6);
    expect(im?.mppY).toBeCloseTo(0.25, 6);
    expect(im?.objectivePower).toBe(40);
    expect(im?.planes.get('0,0,0')).toBe(0);
    expect(im?.planes.has('1,0,0')).toBe(false);
    expect(im?.hasExternalPlanes).toBe(true);
  });

  it('gives no µm per pixel for PhysicalSizeXUnit="pixel"', () => {
    const doc = parseOmeXml(
      `<OME ${ns}><Image ID="Image:0"><Pixels DimensionOrder="XYCZT" PhysicalSizeX="1.0" PhysicalSizeXUnit="pixel" SizeX="4" SizeY="4" SizeC="1" SizeZ="1" SizeT="1" Type="uint8"/></Image></OME>`,
    );
    expect(doc?.images[0]?.mppX).toBeNull();
  });
});

describe('channel rendering', () => {
  it('takes exact percentiles from a histogram', () => {
    const v = new Uint16Array(1000).map((_, i) => i * 10);
    expect(percentiles(v, 16, [0.1, 50, 99.9])).toEqual([0, 4990, 9980]);
  });

  it('mixes channels additively in their colours and clips at 255', () => {
    const a = new Uint8Array([0, 100, 200, 255]);
    const b = new Uint8Array([255, 255, 0, 255]);
    const ramp = new Float32Array(256).map((_, i) => i / 255);
    const out = mixChannels(
      [a, b],
      [ramp, ramp],
      [
        [0, 0, 255],
        [255, 255, 0],
      ],
      4,
      1,
      16,
      1,
    );
    expect([...out.subarray(0, 12)]).toEqual([255, 255, 0, 255, 255, 100, 0, 0, 200, 255, 255, 255]);
  });
});

/** Decode each JPEG tile on its own (no TIFF decoder involved) and assemble the image. */
async function assembleJpegTiles(file: string): Promise<Buffer> {
  const tf = await TiffFile.open(file);
  try {
    const ifd = tf.ifds[0]!;
    const { offsets, byteCounts } = await ifd.chunks();
    const tw = ifd.tileWidth;
    const cols = Math.ceil(ifd.width / tw);
    const out = Buffer.alloc(ifd.width * ifd.height * 3);
    for (let i = 0; i < offsets.length; i++) {
      const tile = await sharp(await tf.read(offsets[i]!, byteCounts[i]!))
        .raw()
        .toBuffer();
      const x0 = (i % cols) * tw;
      const y0 = Math.floor(i / cols) * ifd.tileHeight;
      for (let y = 0; y < ifd.tileHeight && y0 + y < ifd.height; y++) {
        tile.copy(
          out,
          ((y0 + y) * ifd.width + x0) * 3,
          y * tw * 3,
          (y * tw + Math.min(tw, ifd.width - x0)) * 3,
        );
      }
    }
    return out;
  } finally {
    await tf.close();
  }
}

describe.skipIf(!requireSlides())('OME-TIFF samples', () => {
  it('tiled RGB JPEG (bfconvert XYC grid): every tile lands in place', async () => {
    const file = slidePath('ome-tiff/bfconvert-XYC-jpeg-tiled.ome.tiff');
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.rendering).toBeNull();
      expect(slide.properties['ome.Creator']).toBe('OME Bio-Formats 6.7.0');
      const ours = await (await slide.pixels({ tmpDir: tmp })).raw().toBuffer();
      for (const d of meanAbsDiff(ours, await assembleJpegTiles(file), 3)) expect(d).toBeLessThan(3);
    } finally {
      await slide.close();
    }
  });

  it('16-bit channels with SubIFD levels (Bio-Formats 6): rendered as documented, against geotiff', async () => {
    const file = slidePath('ome-tiff/minerva-2048x2048-ome6-pyramid.ome.tif');
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.levels.map((l) => [l.width, l.downsample])).toEqual([
        [2048, 1],
        [1024, 2],
      ]);
      const rendering = slide.rendering ?? '';
      expect(rendering).toMatch(/^3 16-bit channels mixed additively/);
      const windows = [...rendering.matchAll(/-> (#[0-9a-f]{6}) \((\d+)\.\.(\d+)\)/g)].map((m) => ({
        rgb: [1, 3, 5].map((k) => parseInt(m[1]!.slice(k, k + 2), 16)),
        lo: Number(m[2]),
        hi: Number(m[3]),
      }));
      expect(windows.map((w) => w.rgb)).toEqual([
        [0, 0, 255],
        [0, 255, 0],
        [255, 0, 0],
      ]);
      const region = { left: 700, top: 600, width: 640, height: 520 };
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
        })) as Uint16Array;
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

describe('synthetic OME-TIFF: channels with own colours, SubIFD pyramid, label image', () => {
  const W = 256;
  const H = 192;
  const plane = (w: number, h: number, f: (x: number, y: number) => number): Buffer => {
    const b = Buffer.alloc(w * h * 2);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b.writeUInt16LE(f(x, y), (y * w + x) * 2);
    return b;
  };
  const channelIfd = (f: (x: number, y: number) => number) => ({
    width: W,
    height: H,
    tile: [128, 128] as [number, number],
    samplesPerPixel: 1,
    bitsPerSample: 16,
    chunks: cutTiles(plane(W, H, f), W, H, 2, 128, 128, 0),
    subIfds: [
      {
        width: W / 2,
        height: H / 2,
        samplesPerPixel: 1,
        bitsPerSample: 16,
        newSubfileType: 1,
        chunks: [plane(W / 2, H / 2, (x, y) => f(x * 2, y * 2))],
      },
    ],
  });
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?><OME ${ns} UUID="urn:uuid:s" Creator="test"><Instrument ID="Instrument:0"><Objective ID="Objective:0" NominalMagnification="40"/></Instrument>` +
    `<Image ID="Image:0" Name="tissue"><ObjectiveSettings ID="Objective:0"/><Pixels DimensionOrder="XYCZT" PhysicalSizeX="0.325" PhysicalSizeY="0.325" SizeX="${W}" SizeY="${H}" SizeC="2" SizeZ="1" SizeT="1" Type="uint16">` +
    `<Channel ID="Channel:0:0" Name="DAPI" Color="65535"/><Channel ID="Channel:0:1" Name="CD3" Color="-16776961"/>` +
    `<TiffData IFD="0" PlaneCount="2"/></Pixels></Image>` +
    `<Image ID="Image:1" Name="label"><Pixels DimensionOrder="XYCZT" SizeX="64" SizeY="32" SizeC="3" SizeZ="1" SizeT="1" Type="uint8"><Channel ID="Channel:1:0" SamplesPerPixel="3"/><TiffData IFD="2" PlaneCount="1"/></Pixels></Image></OME>`;

  it('opens with mpp, objective, levels, colours from the XML and a label', async () => {
    const file = path.join(tmp, 'synthetic.ome.tif');
    writeFileSync(
      file,
      buildTiff([
        { ...channelIfd((x) => 1000 + x * 10), description: xml },
        channelIfd((_, y) => (y > H / 2 ? 3000 : 100)),
        { width: 64, height: 32, chunks: [Buffer.alloc(64 * 32 * 3, 210)] },
      ]),
    );
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.format).toBe('ome-tiff');
      expect(slide.name).toBe('synthetic');
      expect([slide.width, slide.height, slide.mppX, slide.objectivePower]).toEqual([W, H, 0.325, 40]);
      expect(slide.levels.length).toBe(2);
      expect(slide.associated).toEqual(['label']);
      expect(slide.rendering).toMatch(/DAPI -> #0000ff .*CD3 -> #ff0000/);
      const { data } = await (
        await slide.pixels({ tmpDir: mkdtempSync(path.join(tmp, 'px-')) })
      )
        .raw()
        .toBuffer({ resolveWithObject: true });
      // Top right: DAPI bright (blue), CD3 dim; bottom left: DAPI dim, CD3 bright (red).
      const at = (x: number, y: number): number[] => [...data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)];
      expect(at(W - 1, 0)).toEqual([0, 0, 255]);
      expect(at(0, H - 1)).toEqual([255, 0, 0]);
      const label = await sharp((await slide.associatedImage('label'))!).metadata();
      expect([label.width, label.height]).toEqual([64, 32]);
    } finally {
      await slide.close();
    }
  });

  it('rejects a multi-file dataset whose channels live in other files', async () => {
    const file = path.join(tmp, 'multifile.ome.tif');
    const multi = xml.replace(
      '<TiffData IFD="0" PlaneCount="2"/>',
      '<TiffData FirstC="0" IFD="0"/><TiffData FirstC="1" IFD="0"><UUID FileName="b.ome.tif">urn:uuid:b</UUID></TiffData>',
    );
    writeFileSync(file, buildTiff([{ ...channelIfd(() => 5), description: multi }]));
    const err = await openWithTiffReaders(file).catch((e: unknown) => e);
    expect(isSlideError(err) && err.code).toBe('UNSUPPORTED_FORMAT');
    expect((err as Error).message).toMatch(/multi-file OME-TIFF/);
  });
});

describe('JPEG tiles whose markers contradict Photometric', () => {
  it('reads the colour coding from JFIF and Adobe markers', async () => {
    const { jpegDeclaredColour } = await import('./jpeg-tiles.ts');
    const jfif = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#c83250' } })
      .jpeg()
      .toBuffer();
    expect(jpegDeclaredColour(jfif)).toBe('ycbcr');
    const adobe = (transform: number): Buffer =>
      Buffer.concat([
        Buffer.from([0xff, 0xd8, 0xff, 0xee, 0, 14]),
        Buffer.from('Adobe', 'latin1'),
        Buffer.from([0, 100, 0, 0, 0, 0, transform]),
        Buffer.from([0xff, 0xda]),
      ]);
    expect(jpegDeclaredColour(adobe(0))).toBe('rgb');
    expect(jpegDeclaredColour(adobe(1))).toBe('ycbcr');
    expect(jpegDeclaredColour(Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0, 2, 0xff, 0xda]))).toBeNull();
  });

  it('decodes JFIF tiles under Photometric RGB (as Bio-Formats writes them) in their true colours', async () => {
    const colours = ['#c83250', '#3278c8', '#50c832', '#f0e0d0'];
    const tiles = await Promise.all(
      colours.map((c) =>
        sharp({ create: { width: 64, height: 64, channels: 3, background: c } })
          .jpeg({ quality: 95 })
          .toBuffer(),
      ),
    );
    const file = path.join(tmp, 'jfif-under-rgb.tif');
    writeFileSync(
      file,
      buildTiff([{ width: 128, height: 128, tile: [64, 64], chunks: tiles, compression: 7, photometric: 2 }]),
    );
    const slide = await openWithTiffReaders(file);
    try {
      const { data } = await (
        await slide.pixels({ tmpDir: mkdtempSync(path.join(tmp, 'px-')) })
      )
        .raw()
        .toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number): number[] => [
        ...data.subarray((y * 128 + x) * 3, (y * 128 + x) * 3 + 3),
      ];
      const want = colours.map((c) => [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)));
      const got = [at(10, 10), at(100, 10), at(10, 100), at(100, 100)];
      got.forEach((px, i) => px.forEach((v, k) => expect(Math.abs(v - want[i]![k]!)).toBeLessThan(6)));
      // libvips alone trusts Photometric and misreads these tiles: the reason for the tile-wise decode.
      const naive = await sharp(file).raw().toBuffer();
      expect(Math.abs(naive[(10 * 128 + 10) * 3 + 1]! - want[0]![1]!)).toBeGreaterThan(30);
    } finally {
      await slide.close();
    }
  });
});

describe('planar RGB OME-TIFF', () => {
  it('composes three 8-bit planes named Red/Green/Blue as RGB, without stretching', async () => {
    const W = 64;
    const H = 32;
    const xml =
      `<OME ${ns}><Image ID="Image:0"><Pixels DimensionOrder="XYCZT" SizeX="${W}" SizeY="${H}" SizeC="3" SizeZ="1" SizeT="1" Type="uint8">` +
      `<Channel ID="c0" Name="Red"/><Channel ID="c1" Name="Green"/><Channel ID="c2" Name="Blue"/><TiffData IFD="0" PlaneCount="3"/></Pixels></Image></OME>`;
    const plane = (v: number, description?: string) => ({
      width: W,
      height: H,
      samplesPerPixel: 1,
      chunks: [Buffer.alloc(W * H, v)],
      description,
    });
    const file = path.join(tmp, 'planar-rgb.ome.tif');
    writeFileSync(file, buildTiff([plane(200, xml), plane(120), plane(40)]));
    const slide = await openWithTiffReaders(file);
    try {
      expect(slide.rendering).toMatch(/composed without stretching/);
      const { data } = await (
        await slide.pixels({ tmpDir: mkdtempSync(path.join(tmp, 'px-')) })
      )
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect([...data.subarray(0, 3)]).toEqual([200, 120, 40]);
    } finally {
      await slide.close();
    }
  });
});
