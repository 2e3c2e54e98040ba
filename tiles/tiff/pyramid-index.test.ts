import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { storedLevels } from '../pyramid/math.ts';
import { LocalSlideStore } from '../store/local.ts';
import { makeStoredSlide } from '../serve/fixtures.ts';
import { type ReadAt, fileReader, readTiffIndex, tileLocation } from './pyramid-index.ts';

let dir = '';
let store: LocalSlideStore;
let rgb: Manifest;
let ycbcr: Manifest;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-tiff-index-'));
  store = new LocalSlideStore(dir);
  rgb = await makeStoredSlide(store, 1000, 777);
  ycbcr = await makeStoredSlide(store, 1000, 777, { quality: 80, seed: 1 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bufferReader =
  (buf: Buffer): ReadAt =>
  async (position, length) =>
    buf.subarray(position, position + length);

async function indexOf(m: Manifest) {
  const file = store.localPath(m.id, 'slide.tif')!;
  const fh = await open(file);
  try {
    return { file, index: await readTiffIndex(fileReader(fh)) };
  } finally {
    await fh.close();
  }
}

describe('readTiffIndex on a stored slide.tif', () => {
  it('one level per IFD, as storedLevels says, 256 px JPEG tiles with tables', async () => {
    const { index } = await indexOf(rgb);
    expect(index.bigTiff).toBe(true);
    expect(index.levels.map((l) => [l.width, l.height, l.tilesX, l.tilesY])).toEqual(
      storedLevels(1000, 777, 256).map((l) => [l.width, l.height, l.tilesX, l.tilesY]),
    );
    for (const l of index.levels) {
      expect([l.tileWidth, l.tileHeight, l.samplesPerPixel]).toEqual([256, 256, 3]);
      expect(l.jpegTables!.readUInt16BE(0)).toBe(0xffd8);
      expect(l.jpegTables!.readUInt16BE(l.jpegTables!.length - 2)).toBe(0xffd9);
    }
  });

  it('Photometric is RGB at quality 92 and YCbCr at quality 80', async () => {
    expect((await indexOf(rgb)).index.levels.map((l) => l.photometric)).toEqual([2, 2, 2]);
    expect((await indexOf(ycbcr)).index.levels.map((l) => l.photometric)).toEqual([6, 6, 6]);
  });

  it('every tile lies inside the file and is an abbreviated JPEG stream', async () => {
    const { file, index } = await indexOf(rgb);
    const bytes = readFileSync(file);
    for (const l of index.levels) {
      for (let row = 0; row < l.tilesY; row++) {
        for (let col = 0; col < l.tilesX; col++) {
          const { offset, length } = tileLocation(l, col, row);
          expect(offset + length).toBeLessThanOrEqual(bytes.length);
          expect(bytes.readUInt16BE(offset)).toBe(0xffd8);
          expect(bytes.readUInt16BE(offset + length - 2)).toBe(0xffd9);
        }
      }
    }
  });

  it('reads the same index from a buffer as from the file', async () => {
    const { file, index } = await indexOf(rgb);
    const again = await readTiffIndex(bufferReader(readFileSync(file)));
    const last = (l: (typeof index.levels)[number]) => tileLocation(l, l.tilesX - 1, l.tilesY - 1);
    expect(again.levels.map(last)).toEqual(index.levels.map(last));
  });
});

/** A classic big-endian TIFF with one 2 x 1 tiled level, SHORT tile tables and no JPEGTables. */
function classicBigEndianTiff(): Buffer {
  const entries: [number, number, number, number][] = [
    [256, 3, 1, 300], // ImageWidth
    [257, 3, 1, 200], // ImageLength
    [259, 3, 1, 7], // JPEG
    [262, 3, 1, 6], // YCbCr
    [277, 3, 1, 3],
    [322, 3, 1, 256],
    [323, 3, 1, 256],
    [324, 3, 2, 0x01000200], // offsets 0x100, 0x200 (two SHORTs inline)
    [325, 3, 2, 0x00100020], // byte counts 16, 32
  ];
  const buf = Buffer.alloc(0x300);
  buf.write('MM', 0, 'latin1');
  buf.writeUInt16BE(42, 2);
  buf.writeUInt32BE(8, 4);
  buf.writeUInt16BE(entries.length, 8);
  entries.forEach(([tag, type, count, value], i) => {
    const at = 10 + i * 12;
    buf.writeUInt16BE(tag, at);
    buf.writeUInt16BE(type, at + 2);
    buf.writeUInt32BE(count, at + 4);
    if (count === 1) buf.writeUInt16BE(value, at + 8);
    else buf.writeUInt32BE(value, at + 8);
  });
  buf.writeUInt32BE(0, 10 + entries.length * 12);
  return buf;
}

describe('readTiffIndex preload', () => {
  it('asks once, after the first IFD, for a span that holds every read the rest of the index makes', async () => {
    const wide = await makeStoredSlide(store, 5000, 3000, { seed: 2 });
    for (const m of [rgb, wide]) {
      const buf = readFileSync(store.localPath(m.id, 'slide.tif')!);
      const reads: [number, number][] = [];
      const spans: [number, number][] = [];
      const index = await readTiffIndex(
        async (p, l) => {
          reads.push([p, l]);
          return buf.subarray(p, p + l);
        },
        'slide.tif',
        {
          preload: async (o, l) => {
            spans.push([o, o + l]);
            reads.length = 0;
          },
        },
      );
      expect(index.levels.length).toBeGreaterThan(1);
      expect(spans).toHaveLength(1);
      const [start, end] = spans[0]!;
      // The first IFD's reads came before; every later one (IFDs, tile tables, JPEG tables) inside.
      expect(reads.length).toBeGreaterThan(0);
      for (const [p, l] of reads) {
        expect(p, m.id).toBeGreaterThanOrEqual(start);
        expect(Math.min(p + l, buf.length), m.id).toBeLessThanOrEqual(end);
      }
    }
  });

  it('a failing preload changes nothing', async () => {
    const buf = readFileSync(store.localPath(rgb.id, 'slide.tif')!);
    const plain = await readTiffIndex(bufferReader(buf));
    const failed = await readTiffIndex(bufferReader(buf), 'slide.tif', {
      preload: () => Promise.reject(new Error('gateway down')),
    });
    expect(failed).toEqual(plain);
  });
});

describe('readTiffIndex on other TIFF layouts', () => {
  it('classic big-endian TIFF with inline SHORT tile tables', async () => {
    const index = await readTiffIndex(bufferReader(classicBigEndianTiff()));
    expect(index.bigTiff).toBe(false);
    const [l] = index.levels;
    expect([l!.width, l!.height, l!.tilesX, l!.tilesY, l!.photometric, l!.jpegTables]).toEqual([
      300,
      200,
      2,
      1,
      6,
      null,
    ]);
    expect(tileLocation(l!, 0, 0)).toEqual({ offset: 0x100, length: 16 });
    expect(tileLocation(l!, 1, 0)).toEqual({ offset: 0x200, length: 32 });
  });

  it.each([
    ['not a TIFF', Buffer.from('hello, this is not a tiff at all')],
    ['too short', Buffer.from('II')],
    ['IFD past the end', Buffer.from([0x49, 0x49, 42, 0, 0xff, 0xff, 0, 0])],
  ])('%s: CORRUPT_FILE', async (_name, buf) => {
    await expect(readTiffIndex(bufferReader(buf))).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
  });

  it('an IFD chain that loops is refused', async () => {
    const buf = classicBigEndianTiff();
    buf.writeUInt32BE(8, 10 + 9 * 12); // next IFD = this IFD
    await expect(readTiffIndex(bufferReader(buf))).rejects.toThrow(/loops/);
  });

  it('a strip (untiled) or non-JPEG TIFF is refused with the reason', async () => {
    const strips = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .tiff({ compression: 'jpeg' })
      .toBuffer();
    await expect(readTiffIndex(bufferReader(strips))).rejects.toThrow(/not tiled/);
    const lzw = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
      .tiff({ compression: 'lzw', tile: true })
      .toBuffer();
    await expect(readTiffIndex(bufferReader(lzw))).rejects.toThrow(/compression 5/);
  });
});
