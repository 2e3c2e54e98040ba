import { describe, expect, it } from 'vitest';
import { SlideError } from '../errors.ts';
import { storedLevels } from '../pyramid/math.ts';
import {
  DEFAULT_IIIF_LIMITS,
  checkIiifRead,
  iiifInfo,
  iiifPlan,
  parseIiif,
  parseRegion,
  parseSize,
  servedSizes,
} from './iiif.ts';
import type { PyramidShape } from './plan.ts';

const W = 2220;
const H = 2967;
const shape = (width = W, height = H): PyramidShape => ({
  width,
  height,
  tileSize: 256,
  levelInfo: storedLevels(width, height, 256),
});
const full = { x: 0, y: 0, width: W, height: H };

function parse(path: string, width = W, height = H) {
  const [region, size, rotation, qf] = path.split('/') as [string, string, string, string];
  return parseIiif(region, size, rotation, qf, width, height);
}

function rejects(path: string, message: RegExp, width = W, height = H): void {
  let error: unknown;
  try {
    parse(path, width, height);
  } catch (e) {
    error = e;
  }
  expect(error, path).toBeInstanceOf(SlideError);
  expect((error as SlideError).code, path).toBe('INVALID_PARAMETER');
  expect((error as SlideError).message, path).toMatch(/^Expected .* but .*received/);
  expect((error as SlideError).message, path).toMatch(message);
}

describe('IIIF region', () => {
  it('full is the whole image', () => {
    expect(parseRegion('full', W, H)).toEqual(full);
  });
  it('square is the largest centred square', () => {
    expect(parseRegion('square', W, H)).toEqual({ x: 0, y: 373, width: 2220, height: 2220 });
    expect(parseRegion('square', 300, 250)).toEqual({ x: 25, y: 0, width: 250, height: 250 });
  });
  it('x,y,w,h in pixels; a region partly outside is cropped to the image', () => {
    expect(parseRegion('10,20,30,40', W, H)).toEqual({ x: 10, y: 20, width: 30, height: 40 });
    expect(parseRegion('2000,2900,1000,1000', W, H)).toEqual({ x: 2000, y: 2900, width: 220, height: 67 });
  });
  it('pct:x,y,w,h in percent of the full size, decimals allowed', () => {
    expect(parseRegion('pct:10,10,20,20', W, H)).toEqual({ x: 222, y: 297, width: 444, height: 593 });
    expect(parseRegion('pct:0,0,100,100', W, H)).toEqual(full);
    expect(parseRegion('pct:50.5,0,.5,100', 1000, 10)).toEqual({ x: 505, y: 0, width: 5, height: 10 });
  });
  it.each([
    ['0,0,-5,10/max/0/default.jpg', /region/],
    ['0,0,0,10/max/0/default.jpg', /positive width/],
    ['99999,0,10,10/max/0/default.jpg', /inside the 2220x2967 image/],
    ['0,2967,10,10/max/0/default.jpg', /inside/],
    ['1,2,3/max/0/default.jpg', /region/],
    ['1.5,2,3,4/max/0/default.jpg', /integers/],
    ['pct:101,0,10,10/max/0/default.jpg', /between 0 and 100/],
    ['pct:a,0,10,10/max/0/default.jpg', /numbers/],
    ['Full/max/0/default.jpg', /region/],
  ])('rejects %s', (p, message) => rejects(p, message));
});

describe('IIIF size', () => {
  const r = { x: 0, y: 0, width: 1000, height: 500 };
  it('max is the region, or the region scaled down into the limits', () => {
    expect(parseSize('max', r)).toEqual({ width: 1000, height: 500 });
    // 4096² pixels at most: 4729 x 3547 of a 4:3 slide.
    expect(parseSize('max', { x: 0, y: 0, width: 60000, height: 45000 })).toEqual({
      width: 4729,
      height: 3547,
    });
    expect(parseSize('max', r, { ...DEFAULT_IIIF_LIMITS, maxArea: 20000 })).toEqual({
      width: 200,
      height: 100,
    });
  });
  it('sizes beyond maxWidth, maxHeight or maxArea are refused', () => {
    const limits = { maxWidth: 800, maxHeight: 800, maxArea: 100_000, maxUpscale: 2 };
    expect(() => parseSize('900,', r, limits)).toThrow(/within 800x800 and 100000 pixels/);
    expect(() => parseSize('400,300', r, limits)).toThrow(
      /Expected a size within .* but received "400,300" \(400x300\)/,
    );
    expect(parseSize('400,250', r, limits)).toEqual({ width: 400, height: 250 });
  });
  it('^max upscales to the limits, and no more than maxUpscale times the region', () => {
    expect(parseSize('^max', r)).toEqual({ width: 2000, height: 1000 });
    expect(parseSize('^max', r, { ...DEFAULT_IIIF_LIMITS, maxUpscale: 64 })).toEqual({
      width: 5792,
      height: 2896,
    });
    expect(parseSize('^max', r, { ...DEFAULT_IIIF_LIMITS, maxArea: 1_000_000 })).toEqual({
      width: 1414,
      height: 707,
    });
  });
  it('upscaling beyond maxUpscale is refused with the limit in the message', () => {
    expect(() => parseSize('^2001,', r)).toThrow(
      /^Expected a size at most 2x the 1000x500 region \(upscaling is limited to 2x\) but received "\^2001," \(2001x1001\)$/,
    );
    expect(() => parseSize('^pct:201', r)).toThrow(/limited to 2x/);
    expect(() => parseSize('^3000,100', r)).toThrow(/limited to 2x/);
    expect(() => parseSize('^100,1001', r)).toThrow(/limited to 2x/);
    expect(parseSize('^3000,100', r, { ...DEFAULT_IIIF_LIMITS, maxUpscale: 3 })).toEqual({
      width: 3000,
      height: 100,
    });
  });
  it('w, and ,h keep the aspect ratio', () => {
    expect(parseSize('500,', r)).toEqual({ width: 500, height: 250 });
    expect(parseSize(',100', r)).toEqual({ width: 200, height: 100 });
  });
  it('pct:n scales both sides', () => {
    expect(parseSize('pct:50', r)).toEqual({ width: 500, height: 250 });
    expect(parseSize('pct:12.5', r)).toEqual({ width: 125, height: 63 });
  });
  it('w,h may distort', () => {
    expect(parseSize('100,300', r)).toEqual({ width: 100, height: 300 });
  });
  it('!w,h fits inside w x h keeping the aspect ratio, never above the region', () => {
    expect(parseSize('!200,200', r)).toEqual({ width: 200, height: 100 });
    expect(parseSize('!2000,2000', r)).toEqual({ width: 1000, height: 500 });
  });
  it('^ forms may upscale', () => {
    expect(parseSize('^2000,', r)).toEqual({ width: 2000, height: 1000 });
    expect(parseSize('^,1000', r)).toEqual({ width: 2000, height: 1000 });
    expect(parseSize('^pct:150', r)).toEqual({ width: 1500, height: 750 });
    expect(parseSize('^pct:200', r)).toEqual({ width: 2000, height: 1000 });
    expect(parseSize('^2000,100', r)).toEqual({ width: 2000, height: 100 });
    expect(parseSize('^!2000,2000', r)).toEqual({ width: 2000, height: 1000 });
    expect(parseSize('^!4000,4000', r)).toEqual({ width: 2000, height: 1000 });
  });
  it.each([
    ['full/3000,/0/default.jpg', /no larger than the 2220x2967 region \(prefix \^ to upscale\)/],
    ['full/,3000/0/default.jpg', /no larger/],
    ['full/pct:101/0/default.jpg', /percentage/],
    ['full/3000,10/0/default.jpg', /no larger/],
    ['full/0,/0/default.jpg', /at least 1x1/],
    ['full/,0/0/default.jpg', /at least 1x1/],
    ['full/pct:0/0/default.jpg', /percentage/],
    ['full/pct:0.001/0/default.jpg', /at least 1x1/],
    ['full/,/0/default.jpg', /size/],
    ['full/!100,/0/default.jpg', /size/],
    ['full/abc/0/default.jpg', /size/],
    ['full/-5,/0/default.jpg', /integers/],
    ['full/^20000,/0/default.jpg', /within 8192x8192/],
    ['full/^4097,4097/0/default.png', /and 16777216 pixels/],
    ['0,0,100,100/^201,/0/default.jpg', /upscaling is limited to 2x/],
    ['full/99999999,/0/default.jpg', /size/],
  ])('rejects %s', (p, message) => rejects(p, message));
});

describe('IIIF rotation, quality, format', () => {
  it('0, 90, 180, 270, each optionally mirrored', () => {
    for (const rot of ['0', '90', '180', '270']) {
      expect(parse(`full/max/${rot}/default.jpg`)).toMatchObject({ rotation: Number(rot), mirror: false });
      expect(parse(`full/max/!${rot}/default.jpg`)).toMatchObject({ rotation: Number(rot), mirror: true });
    }
  });
  it.each(['45', '-90', '360', '', '!!90', '90.0', 'x'])('rejects rotation %j', (rot) =>
    rejects(`full/max/${rot}/default.jpg`, /0, 90, 180 or 270/),
  );
  it('default and color are the same image; gray is grey', () => {
    expect(parse('full/max/0/default.jpg').key).toBe(parse('full/max/0/color.jpg').key);
    expect(parse('full/max/0/gray.png')).toMatchObject({ quality: 'gray', format: 'png' });
    expect(parse('full/max/0/color.webp')).toMatchObject({ quality: 'color', format: 'webp' });
  });
  it('bitonal is refused with a reason', () => rejects('full/max/0/bitonal.jpg', /bitonal is not offered/));
  it.each(['default.gif', 'default.tif', 'default', 'default.JPG', 'grey.jpg', '.jpg'])('rejects %s', (qf) =>
    rejects(`full/max/0/${qf}`, /quality|format/),
  );
  it('the key is canonical: equivalent requests share it', () => {
    expect(parse('full/max/0/default.jpg').key).toBe(parse('0,0,2220,2967/2220,2967/0/color.jpg').key);
    expect(parse('pct:0,0,100,100/pct:50/0/default.jpg').key).toBe(parse('full/1110,/0/default.jpg').key);
  });
});

describe('iiifInfo', () => {
  it('is a level 2 ImageService3 with the caller-given id, stored levels as tiles and sizes', () => {
    const info = iiifInfo(shape(), 'https://example.org/iiif/3/abc');
    expect(info).toMatchObject({
      '@context': 'http://iiif.io/api/image/3/context.json',
      id: 'https://example.org/iiif/3/abc',
      type: 'ImageService3',
      protocol: 'http://iiif.io/api/image',
      profile: 'level2',
      width: W,
      height: H,
      maxWidth: 8192,
      maxHeight: 8192,
      maxArea: 16_777_216,
      tiles: [{ width: 256, height: 256, scaleFactors: [1, 2, 4, 8, 16] }],
      extraFormats: ['png', 'webp'],
      extraQualities: ['color', 'gray'],
    });
    const sizes = info.sizes as { width: number; height: number }[];
    expect(sizes[0]).toEqual({ width: 138, height: 185 });
    expect(sizes.at(-1)).toEqual({ width: W, height: H });
    expect(info.extraFeatures).toEqual(
      expect.arrayContaining(['mirroring', 'rotationBy90s', 'regionByPct', 'regionSquare', 'sizeByPct']),
    );
    expect(info.extraFeatures).toEqual(
      expect.arrayContaining(['sizeByW', 'sizeByH', 'sizeByWh', 'sizeByConfinedWh', 'sizeUpscaling']),
    );
  });
});

describe('info.json sizes', () => {
  /** A request for every listed size, as a client builds it from info.json: all must be accepted. */
  function everySizeServed(sh: PyramidShape, limits: typeof DEFAULT_IIIF_LIMITS): void {
    const sizes = servedSizes(sh, limits);
    expect(sizes.length).toBeGreaterThan(0);
    for (const z of sizes) {
      const req = parseIiif(
        'full',
        `${z.width},${z.height}`,
        '0',
        'default.jpg',
        sh.width,
        sh.height,
        limits,
      );
      expect([req.width, req.height]).toEqual([z.width, z.height]);
    }
  }

  it('lists only the levels within maxWidth, maxHeight and maxArea', () => {
    const big = shape(12_000, 9_000);
    const limits = { ...DEFAULT_IIIF_LIMITS, maxWidth: 10_000, maxHeight: 10_000, maxArea: 30_000_000 };
    const sizes = servedSizes(big, limits);
    // Level 0 (12000 x 9000) is wider than maxWidth: a request for it would be refused.
    expect(sizes).not.toContainEqual({ width: 12_000, height: 9_000 });
    expect(() => parseSize('12000,9000', { x: 0, y: 0, width: 12_000, height: 9_000 }, limits)).toThrow(
      /Expected a size within 10000x10000/,
    );
    expect(sizes.at(-1)).toEqual({ width: 6000, height: 4500 });
    everySizeServed(big, limits);
    const byArea = servedSizes(big, { ...limits, maxArea: 1_000_000 });
    expect(Math.max(...byArea.map((z) => z.width * z.height))).toBeLessThanOrEqual(1_000_000);
    expect(byArea.at(-1)).toEqual({ width: 750, height: 562 });
  });

  it('every listed size is accepted, for odd shapes and tight limits alike', () => {
    for (const [w, h] of [
      [W, H],
      [1000, 777],
      [100_000, 80_000],
      [65_537, 300],
      [1, 1],
    ] as const)
      for (const limits of [
        DEFAULT_IIIF_LIMITS,
        { ...DEFAULT_IIIF_LIMITS, maxWidth: 1000, maxHeight: 700, maxArea: 300_000 },
        { ...DEFAULT_IIIF_LIMITS, maxWidth: 100, maxHeight: 100, maxArea: 5_000 },
      ])
        everySizeServed(shape(w, h), limits);
  });

  it('when even the smallest level is too large, the one size full/max gives', () => {
    const limits = { ...DEFAULT_IIIF_LIMITS, maxWidth: 100, maxHeight: 100, maxArea: 10_000 };
    // The smallest stored level of 2220 x 2967 is 138 x 185.
    expect(servedSizes(shape(), limits)).toEqual([parseSize('max', full, limits)]);
    expect(servedSizes(shape(), limits)).toEqual([{ width: 74, height: 100 }]);
  });

  it('leaves out levels whose read is above maxReadArea', () => {
    const sizes = servedSizes(shape(), DEFAULT_IIIF_LIMITS, 1_000_000);
    expect(sizes.at(-1)).toEqual({ width: 555, height: 741 });
    expect(iiifInfo(shape(), 'https://example.org/x', DEFAULT_IIIF_LIMITS, 1_000_000).sizes).toEqual(sizes);
  });
});

describe('iiifPlan', () => {
  const s = shape();
  it('a request for exactly one stored tile is that tile', () => {
    expect(iiifPlan(s, parse('256,512,256,256/256,/0/default.jpg'))).toEqual({
      kind: 'stored',
      level: 0,
      col: 1,
      row: 2,
      height: 256,
    });
    expect(iiifPlan(s, parse('1024,0,1024,1024/256,256/0/color.jpg'))).toEqual({
      kind: 'stored',
      level: 2,
      col: 1,
      row: 0,
      height: 256,
    });
  });
  it('a bottom-edge tile whose size matches the stored level is the stored tile cut short', () => {
    // Level 0, row 11: 2967 - 2816 = 151 rows.
    expect(iiifPlan(s, parse('0,2816,256,151/256,151/0/default.jpg'))).toMatchObject({
      kind: 'stored',
      height: 151,
    });
  });
  it('anything else is rendered: another size, rotation, mirroring, grey, another format', () => {
    for (const p of [
      '256,512,256,256/256,100/0/default.jpg',
      '256,512,256,256/128,/0/default.jpg',
      '256,512,256,256/256,/90/default.jpg',
      '256,512,256,256/256,/!0/default.jpg',
      '256,512,256,256/256,/0/gray.jpg',
      '256,512,256,256/256,/0/default.png',
      '250,512,256,256/256,/0/default.jpg',
      '2048,0,172,256/172,/0/default.jpg',
    ]) {
      expect(iiifPlan(s, parse(p)).kind, p).toBe('render');
    }
  });
  it('renders read the smallest stored level with at least the pixels asked for', () => {
    const big = shape(60_000, 45_000);
    // max of the whole slide: 4729 px wide; level 3 is 7500, level 4 only 3750.
    expect(iiifPlan(big, parse('full/max/0/default.jpg', 60_000, 45_000))).toMatchObject({
      kind: 'render',
      level: 3,
      src: { x: 0, y: 0, width: 7500, height: 5625 },
      width: 4729,
      height: 3547,
    });
    expect(iiifPlan(big, parse('full/1000,/0/default.jpg', 60_000, 45_000))).toMatchObject({ level: 5 });
    expect(iiifPlan(big, parse('0,0,1000,1000/1000,/0/default.jpg', 60_000, 45_000))).toMatchObject({
      level: 0,
    });
    expect(iiifPlan(big, parse('0,0,1000,1000/^2000,/0/default.jpg', 60_000, 45_000))).toMatchObject({
      level: 0,
    });
  });
  it('a 100,000 px square region shrunk to 512 reads a level of 512-1023 px, not level 0', () => {
    const huge = shape(100_000, 100_000);
    const plan = iiifPlan(huge, parse('full/512,/0/default.jpg', 100_000, 100_000));
    expect(plan).toMatchObject({ kind: 'render', level: 7, src: { width: 781, height: 781 } });
    const part = iiifPlan(huge, parse('0,0,50000,50000/512,/0/default.jpg', 100_000, 100_000));
    expect(part).toMatchObject({ kind: 'render', level: 6, src: { width: 781, height: 781 } });
  });
});

describe('checkIiifRead', () => {
  const big = shape(60_000, 45_000);
  const read = (p: string, max = 5 * DEFAULT_IIIF_LIMITS.maxArea) => {
    const req = parse(p, 60_000, 45_000);
    checkIiifRead(iiifPlan(big, req), req, max);
  };
  it('lets through every request that keeps its region’s shape, up to the output limits', () => {
    expect(() => read('full/max/0/default.jpg')).not.toThrow();
    expect(() => read('0,0,4096,4096/max/0/default.jpg')).not.toThrow();
    expect(() => read('0,0,8000,8000/4095,/0/default.jpg')).not.toThrow();
    expect(() => read('0,0,2048,2048/^4096,/0/default.jpg')).not.toThrow();
  });
  it('refuses a distorted request that would decode a huge level for a thin output', () => {
    // 8192 x 1 of the whole slide needs a level 8192 px wide: 15000 x 11250 = 169 Mpx decoded.
    let error: unknown;
    try {
      read('full/8192,1/0/default.jpg');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SlideError);
    expect((error as SlideError).code).toBe('INVALID_PARAMETER');
    expect((error as SlideError).message).toMatch(
      /^Expected a request reading at most 83886080 source pixels but received region 0,0,60000,45000 at 8192x1, which reads 15000x11250 pixels/,
    );
  });
  it('stored tiles read nothing to decode', () => {
    expect(() => read('0,0,256,256/256,/0/default.jpg', 1)).not.toThrow();
  });
});
