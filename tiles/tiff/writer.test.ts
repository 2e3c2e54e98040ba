import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTiledTiff } from './writer.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tessera-tiffw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A gradient whose value at (x, y) is known, so any misplaced tile shows. */
function pixel(x: number, y: number): [number, number, number] {
  return [x % 256, y % 256, (x + y) % 256];
}

describe('writeTiledTiff', () => {
  it('assembles raw tiles of an odd-sized image so that every pixel lands in place', async () => {
    const width = 100;
    const height = 77;
    const tw = 32;
    const th = 16;
    const file = path.join(dir, 'raw.tif');
    await writeTiledTiff(
      file,
      { width, height, tileWidth: tw, tileHeight: th, bands: 3, compression: 'none', photometric: 'rgb' },
      async (col, row) => {
        const buf = Buffer.alloc(tw * th * 3);
        for (let y = 0; y < th; y++)
          for (let x = 0; x < tw; x++) {
            const [r, g, b] = pixel(col * tw + x, row * th + y);
            buf.set([r, g, b], (y * tw + x) * 3);
          }
        return buf;
      },
    );
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([width, height, 3]);
    for (const [x, y] of [
      [0, 0],
      [99, 76],
      [33, 17],
      [64, 48],
      [31, 15],
    ] as const) {
      const at = (y * width + x) * 3;
      expect([data[at], data[at + 1], data[at + 2]]).toEqual(pixel(x, y));
    }
  });

  it('passes complete JPEG tiles through, decodable by libvips with the right colours', async () => {
    const width = 300;
    const height = 200;
    const ts = 128;
    const file = path.join(dir, 'jpeg.tif');
    const colours: [number, number, number][] = [
      [200, 30, 30],
      [30, 200, 30],
      [30, 30, 200],
      [220, 120, 180],
      [90, 60, 120],
      [250, 250, 250],
    ];
    await writeTiledTiff(
      file,
      { width, height, tileWidth: ts, tileHeight: ts, bands: 3, compression: 'jpeg', photometric: 'ycbcr' },
      (col, row) => {
        const [r, g, b] = colours[(row * 3 + col) % colours.length]!;
        return sharp({ create: { width: ts, height: ts, channels: 3, background: { r, g, b } } })
          .jpeg({ quality: 95 })
          .toBuffer();
      },
    );
    const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    for (let row = 0; row < 2; row++)
      for (let col = 0; col < 3; col++) {
        const x = Math.min(col * ts + 10, width - 1);
        const y = Math.min(row * ts + 10, height - 1);
        const at = (y * width + x) * 3;
        const want = colours[(row * 3 + col) % colours.length]!;
        for (let c = 0; c < 3; c++) expect(Math.abs(data[at + c]! - want[c]!)).toBeLessThan(6);
      }
  });

  it('rejects a raw tile of the wrong size', async () => {
    await expect(
      writeTiledTiff(
        path.join(dir, 'bad.tif'),
        {
          width: 32,
          height: 32,
          tileWidth: 16,
          tileHeight: 16,
          bands: 1,
          compression: 'none',
          photometric: 'minisblack',
        },
        () => Promise.resolve(Buffer.alloc(10)),
      ),
    ).rejects.toThrow(/expected 256/);
  });
});
