/**
 * The store against outside readers: the scanner's JPEG tiles kept byte for byte, any slide size,
 * resolution tags every reader gets right (libvips, tifffile, OpenSlide), pixels against an
 * independent decode, checksums in the manifest.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../protocol/index.ts';
import { makeSyntheticSlide } from '../scripts/bench/make-huge-slide.ts';
import { sha256File } from '../tiles/ingest/hash.ts';
import { LocalSlideStore, ingest, openSlide } from '../tiles/index.ts';
import { storedLevels } from '../tiles/pyramid/math.ts';
import { TAG, TiffFile } from '../tiles/tiff/file.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
const CMU = 'aperio/CMU-1-Small-Region.svs';
const DCM = 'dicom/wsi-to-dicom-converter-jpeg.dcm';
const PY = '/usr/bin/python3';

/** Debian's tifffile and OpenSlide bindings: the outside readers. Required in CI. */
function havePython(): boolean {
  const ok = spawnSync(PY, ['-c', 'import tifffile, openslide, numpy'], { encoding: 'utf8' }).status === 0;
  if (!ok && process.env.CI === 'true')
    throw new Error('python3-tifffile and python3-openslide are required in CI (.ci/run installs them)');
  if (!ok) console.warn('skipping outside-reader checks: /usr/bin/python3 lacks tifffile or openslide');
  return ok;
}
const py = have && havePython();

function python(script: string, ...args: string[]): unknown {
  const r = spawnSync(PY, ['-c', script, ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

let dir = '';
let store: LocalSlideStore;
const stored = new Map<string, Manifest>();
const slideFile = (m: Manifest): string => path.join(dir, 'slides', m.id, 'slide.tif');

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-lossless-'));
  store = new LocalSlideStore(dir);
  if (!have) return;
  for (const p of [CMU, DCM])
    stored.set(p, (await ingest(slidePath(p), store, { tileSize: 512, jpegQuality: 92 })).manifest);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every tile of an IFD, as stored. */
async function tilesOf(file: string, page = 0): Promise<{ tiles: Buffer[]; tables: Buffer | undefined }> {
  const tf = await TiffFile.open(file);
  try {
    const ifd = tf.ifds[page]!;
    const { offsets, byteCounts } = await ifd.chunks();
    const tiles: Buffer[] = [];
    for (let i = 0; i < offsets.length; i++) tiles.push(await tf.read(offsets[i]!, byteCounts[i]!));
    return { tiles, tables: ifd.bytes(TAG.JPEGTables) };
  } finally {
    await tf.close();
  }
}

describe.skipIf(!have)("the scanner's tiles are kept", () => {
  it('CMU-1 (Aperio SVS, RGB-coded JPEG): every level-0 tile is the source tile, byte for byte', async () => {
    const m = stored.get(CMU)!;
    expect(m.tileSize).toBe(240);
    expect(m.levelInfo.map((l) => l.scanner)).toEqual(m.levelInfo.map((l) => l.index === 0));
    const src = await tilesOf(slidePath(CMU));
    const out = await tilesOf(slideFile(m));
    expect(out.tiles).toHaveLength(Math.ceil(2220 / 240) * Math.ceil(2967 / 240));
    expect(out.tiles.every((t, i) => t.equals(src.tiles[i]!))).toBe(true);
    // The tables are the scanner's, with the Adobe marker that says the components are R, G, B.
    const adobe = out.tables!.indexOf(Buffer.from('Adobe'));
    expect(adobe).toBeGreaterThan(0);
    expect(out.tables![adobe + 11]).toBe(0);
    const body = (t: Buffer): Buffer => t.subarray(t.indexOf(Buffer.from([0xff, 0xdb])), t.length - 2);
    expect(body(out.tables!).equals(body(src.tables!))).toBe(true);
  });

  it("a block of an SVS's tiles read at once is each tile as read alone, keys included", async () => {
    const source = await openSlide(slidePath(CMU));
    try {
      const st = (await source.scannerTiles!())!;
      expect(st.tiles).toBeTypeOf('function');
      for (const [col0, row0, cols, rows] of [
        [0, 0, 10, 13],
        [3, 5, 4, 2],
        [9, 12, 1, 1],
      ] as const) {
        const block = await st.tiles!(col0, row0, cols, rows);
        expect(block).toHaveLength(cols * rows);
        for (let i = 0; i < block.length; i++) {
          const one = await st.tile(col0 + (i % cols), row0 + Math.floor(i / cols));
          expect(block[i]!.bytes.equals(one.bytes), `tile ${i} of ${col0},${row0}`).toBe(true);
          expect(block[i]!.key).toBe(one.key);
        }
      }
    } finally {
      await source.close();
    }
  });

  it('a DICOM JPEG Baseline series: every level-0 tile is the source frame, byte for byte', async () => {
    const m = stored.get(DCM)!;
    expect(m.tileSize).toBe(256);
    expect(m.levelInfo[0]!.scanner).toBe(true);
    const source = await openSlide(slidePath(DCM));
    try {
      const frames = (await source.scannerTiles!())!;
      const out = await tilesOf(slideFile(m));
      const cols = Math.ceil(m.width / 256);
      for (let i = 0; i < out.tiles.length; i++) {
        const f = await frames.tile(i % cols, Math.floor(i / cols));
        expect(out.tiles[i]!.equals(f.bytes), `tile ${i}`).toBe(true);
      }
    } finally {
      await source.close();
    }
  });

  it.skipIf(!py)(
    'OpenSlide reads the stored copy: level 0 equals the source, lower levels its 2^k box shrink',
    () => {
      const m = stored.get(CMU)!;
      const r = python(
        `
import sys, json, numpy as np, openslide
a = openslide.OpenSlide(sys.argv[1]); b = openslide.OpenSlide(sys.argv[2])
src = np.asarray(b.read_region((0, 0), 0, b.dimensions).convert('RGB'), dtype=float)
out = []
for k in range(a.level_count):
    w, h = a.level_dimensions[k]; f = 2 ** k
    ref = src[:h * f, :w * f].reshape(h, f, w, f, 3).mean(axis=(1, 3))
    got = np.asarray(a.read_region((0, 0), k, (w, h)).convert('RGB'), dtype=float)
    out.append(float(abs(got - ref).mean()))
print(json.dumps(out))`,
        slideFile(m),
        slidePath(CMU),
      ) as number[];
      expect(r).toHaveLength(m.levels);
      expect(r[0]).toBeLessThan(1);
      for (const d of r.slice(1)) expect(d).toBeLessThan(3);
    },
  );
});

describe.skipIf(!have)('resolution and description every reader gets right', () => {
  const MPP = 0.499;

  it('libvips: xres is 1000 / µm-per-px px/mm on every level, unit cm, description with the scale', () => {
    const m = stored.get(CMU)!;
    for (const level of m.levelInfo) {
      const r = spawnSync('vipsheader', ['-a', `${slideFile(m)}[page=${level.index}]`], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      const field = (k: string): string => new RegExp(`^${k}: (.*)$`, 'm').exec(r.stdout)?.[1] ?? '';
      const want = 1000 / (MPP * level.downsample);
      expect(Math.abs(Number(field('xres')) - want) / want).toBeLessThan(1e-4);
      expect(Math.abs(Number(field('yres')) - want) / want).toBeLessThan(1e-4);
      expect(field('resolution-unit')).toBe('cm');
      expect(field('image-description')).toContain(`slide = ${m.id}`);
      expect(field('image-description')).toContain(`MPP = ${+(MPP * level.downsample).toPrecision(6)}`);
    }
  });

  it.skipIf(!py)(
    'tifffile: ResolutionUnit centimetre, X/YResolution 10,000 / µm-per-px, scaled per level',
    () => {
      const m = stored.get(CMU)!;
      const pages = python(
        `
import sys, json, tifffile
t = tifffile.TiffFile(sys.argv[1])
print(json.dumps([{ 'shape': list(p.shape), 'unit': int(p.tags['ResolutionUnit'].value),
  'x': p.tags['XResolution'].value, 'y': p.tags['YResolution'].value, 'tile': list(p.tile),
  'desc': p.description } for p in t.pages]))`,
        slideFile(m),
      ) as {
        shape: number[];
        unit: number;
        x: [number, number];
        y: [number, number];
        tile: number[];
        desc: string;
      }[];
      expect(pages).toHaveLength(m.levels);
      pages.forEach((p, k) => {
        const want = 10_000 / (MPP * 2 ** k);
        expect(p.shape).toEqual([m.levelInfo[k]!.height, m.levelInfo[k]!.width, 3]);
        expect(p.unit).toBe(3);
        expect(Math.abs(p.x[0] / p.x[1] - want) / want).toBeLessThan(1e-6);
        expect(Math.abs(p.y[0] / p.y[1] - want) / want).toBeLessThan(1e-6);
        expect(p.tile).toEqual([240, 240]);
        expect(p.desc).toMatch(/^Tessera pyramidal TIFF\|/);
      });
    },
  );

  it.skipIf(!py)('OpenSlide: tiff.ResolutionUnit and tiff.XResolution as stored', () => {
    const m = stored.get(CMU)!;
    const props = python(
      `
import sys, json, openslide
print(json.dumps(dict(openslide.OpenSlide(sys.argv[1]).properties)))`,
      slideFile(m),
    ) as Record<string, string>;
    expect(props['tiff.ResolutionUnit']).toBe('centimeter');
    expect(Math.abs(Number(props['tiff.XResolution']) - 10_000 / MPP)).toBeLessThan(0.01);
    expect(props['openslide.level-count']).toBe(String(m.levels));
  });

  it('the manifest holds the SHA-256 and size of every stored file', async () => {
    const m = stored.get(CMU)!;
    const names = ['slide.tif', ...m.associated.map((a) => `${a}.jpg`)];
    expect(Object.keys(m.files).sort()).toEqual(names.sort());
    for (const n of names) expect(m.files[n]).toEqual(await sha256File(path.join(dir, 'slides', m.id, n)));
  });
});

describe('any size', () => {
  it('a 70,000 x 2,000 JPEG-tiled slide (over JPEG’s 65,535 px) is stored whole, its tiles kept', async () => {
    const src = path.join(dir, 'wide.tif');
    await makeSyntheticSlide(src, { width: 70_000, height: 2_000, tileSize: 512, mpp: 0.25, seed: 3 });
    const { manifest: m } = await ingest(src, store, { tileSize: 512, jpegQuality: 92 });
    expect([m.width, m.height, m.tileSize]).toEqual([70_000, 2_000, 512]);
    expect(m.levelInfo.map(({ width, height }) => [width, height])).toEqual(
      storedLevels(70_000, 2_000, 512).map(({ width, height }) => [width, height]),
    );
    expect(m.levelInfo[0]!.scanner).toBe(true);
    expect(m.mppX).toBeCloseTo(0.25, 6);
    const a = await tilesOf(src);
    const b = await tilesOf(slideFile(m));
    expect(b.tiles.every((t, i) => t.equals(a.tiles[i]!))).toBe(true);
  }, 120_000);

  it.skipIf(!have).each([256, 512])('the 16 x 16 samples ingest at tile size %i', async (tileSize) => {
    for (const p of ['aperio/openslide-small.svs', 'dicom/openslide-boxes']) {
      const scratch = mkdtempSync(path.join(tmpdir(), 'tessera-tiny-'));
      try {
        const { manifest: m } = await ingest(slidePath(p), new LocalSlideStore(scratch), {
          tileSize,
          jpegQuality: 92,
        });
        expect([m.width, m.height, m.levels]).toEqual([16, 16, 1]);
        expect(m.tileSize).toBeLessThanOrEqual(256);
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }
  });
});
