import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ADOBE_RGB, findSegment, frameSize, jpegPrefix, setFrameHeight } from './jpeg.ts';

const tables = Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0x00, 0x04, 0xaa, 0xbb, 0xff, 0xd9]);

describe('jpegPrefix', () => {
  it('SOI, then the Adobe marker for RGB-encoded tiles, then the tables without SOI and EOI', () => {
    expect(jpegPrefix(tables, true)).toEqual(
      Buffer.concat([
        Buffer.from([0xff, 0xd8]),
        ADOBE_RGB,
        Buffer.from([0xff, 0xdb, 0x00, 0x04, 0xaa, 0xbb]),
      ]),
    );
    expect(jpegPrefix(tables, false)).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xdb, 0x00, 0x04, 0xaa, 0xbb]));
    expect(jpegPrefix(null, false)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  it('the Adobe segment says transform 0 (RGB)', () => {
    expect(ADOBE_RGB.readUInt16BE(0)).toBe(0xffee);
    expect(ADOBE_RGB.readUInt16BE(2)).toBe(ADOBE_RGB.length - 2);
    expect(ADOBE_RGB.toString('latin1', 4, 9)).toBe('Adobe');
    expect(ADOBE_RGB.at(-1)).toBe(0);
  });

  it('refuses tables that are not a JPEG stream', () => {
    expect(() => jpegPrefix(Buffer.from([1, 2, 3, 4]), false)).toThrow(/SOI/);
  });
});

describe('frame header surgery', () => {
  it('finds segments by walking lengths, not by scanning for bytes', () => {
    // An APP1 whose payload contains FF C0 must not be taken for a frame header.
    const jpeg = Buffer.from([
      0xff, 0xd8, 0xff, 0xe1, 0x00, 0x06, 0xff, 0xc0, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x20,
      0x00, 0x30, 0x01, 0x01, 0x11, 0x00, 0xff, 0xda,
    ]);
    expect(findSegment(jpeg, [0xc0])).toBe(10);
    expect(frameSize(jpeg)).toEqual({ width: 0x30, height: 0x20 });
    expect(findSegment(jpeg, [0xc4])).toBe(-1);
  });

  it('lowering the frame height makes a decoder stop there, pixels above unchanged', async () => {
    const w = 64;
    const h = 48;
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) % 251;
    const full = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 95 })
      .toBuffer();
    const cut = Buffer.from(full);
    expect(setFrameHeight(cut, 21)).toBe(true);
    expect(frameSize(cut)).toEqual({ width: w, height: 21 });
    const a = await sharp(full).extract({ left: 0, top: 0, width: w, height: 21 }).raw().toBuffer();
    const { data: b, info } = await sharp(cut).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([w, 21]);
    expect(b.equals(a)).toBe(true);
  });

  it('refuses to raise the height', () => {
    const jpeg = Buffer.from([
      0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x20, 0x00, 0x30, 0x01, 0x01, 0x11, 0x00, 0xff, 0xda,
    ]);
    expect(() => setFrameHeight(jpeg, 0x21)).toThrow(RangeError);
    expect(setFrameHeight(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2]), 1)).toBe(false);
  });
});
