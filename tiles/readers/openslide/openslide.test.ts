import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, open, readdir, rm, stat, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../../../tests/helpers/slides.ts';
import { SlideError } from '../../errors.ts';
import type { Probe, SlideSource } from '../types.ts';
import { createOpenslideReader, openslideReader, resolveTarget } from './index.ts';
import { run } from './vips.ts';

const NDPI = 'hamamatsu/orbit-test3-DAPI-387.ndpi';
const MIRAX_DIR = 'mirax/pannoramic-fluorescence-INCOMPLETE';
const MIRAX = `${MIRAX_DIR}/sample_file.mrxs`;

/** A Probe as the reader registry builds it, kept local so these tests pin only the reader. */
async function probeOf(p: string): Promise<Probe> {
  const abs = path.resolve(p);
  const st = await stat(abs);
  if (st.isDirectory()) {
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const f = path.join(d, e.name);
        if (e.isDirectory()) await walk(f);
        else if (e.isFile()) files.push(f);
      }
    };
    await walk(abs);
    files.sort();
    return { path: abs, isDirectory: true, files, head: await head(files[0]!), ext: '', size: 0 };
  }
  return {
    path: abs,
    isDirectory: false,
    files: [abs],
    head: await head(abs),
    ext: path.extname(abs).toLowerCase(),
    size: st.size,
  };
}

async function head(file: string): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function rejection(p: Promise<unknown>): Promise<SlideError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SlideError);
    return e as SlideError;
  }
  throw new Error('expected a SlideError, but the call succeeded');
}

let scratch = '';
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'tessera-openslide-test-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe.skipIf(!requireSlides())('OpenSlide reader: detection', () => {
  it('claims NDPI by extension and by its private TIFF tag 65420 under another name', async () => {
    expect(await openslideReader.detect(await probeOf(slidePath(NDPI)))).toBe(true);
    const renamed = path.join(scratch, 'scanner-export.tif');
    await symlink(slidePath(NDPI), renamed);
    const target = await resolveTarget(await probeOf(renamed));
    expect(target?.format).toBe('hamamatsu-ndpi');
  });

  it('claims MIRAX as the .mrxs file, the folder holding it, and its data folder', async () => {
    for (const p of [MIRAX, MIRAX_DIR, `${MIRAX_DIR}/sample_file`]) {
      const target = await resolveTarget(await probeOf(slidePath(p)));
      expect(target?.format, p).toBe('mirax');
      expect(target?.file, p).toBe(slidePath(MIRAX));
    }
  });

  it('leaves SVS, generic TIFF and OME-TIFF to the TIFF readers', async () => {
    for (const p of [
      'aperio/CMU-1-Small-Region.svs',
      'generic-tiff/openslide-boxes.tiff',
      'ome-tiff/minerva-2048x2048-ome6-pyramid.ome.tif',
      'qptiff/pathml-small_vectra.qptiff',
    ]) {
      expect(await openslideReader.detect(await probeOf(slidePath(p))), p).toBe(false);
    }
  });
});

describe.skipIf(!requireSlides())('OpenSlide reader: Hamamatsu NDPI', () => {
  let source: SlideSource;
  beforeAll(async () => {
    source = await openslideReader.open(await probeOf(slidePath(NDPI)));
  });
  afterAll(async () => {
    await source?.close();
  });

  it('reports the size, levels, resolution and objective OpenSlide reads', () => {
    expect(source.format).toBe('hamamatsu-ndpi');
    expect(source.name).toBe('orbit-test3-DAPI-387');
    expect([source.width, source.height]).toEqual([3968, 4864]);
    expect(source.levels).toHaveLength(7);
    expect(source.levels[0]).toEqual({
      width: 3968,
      height: 4864,
      downsample: 1,
      tileWidth: 3968,
      tileHeight: 8,
    });
    expect(source.levels[6]?.downsample).toBe(64);
    expect(source.mppX).toBeCloseTo(0.2282, 4);
    expect(source.mppY).toBeCloseTo(0.2282, 4);
    expect(source.objectivePower).toBe(40);
    expect(source.properties['openslide.vendor']).toBe('hamamatsu');
    expect(source.properties['hamamatsu.Product']).toBe('C9600-12');
  });

  it('keeps long vendor properties whole (vipsheader -a would cut them at ~250 characters)', () => {
    const shading = Object.entries(source.properties).find(([k]) => k.includes('NDP Shading Data'));
    expect(shading).toBeDefined();
    expect(shading![1].endsWith('...')).toBe(false);
    expect(shading![1].length).toBeGreaterThan(250);
  });

  it('hands out the macro image, and null for images the slide does not have', async () => {
    expect(source.associated).toEqual(['macro']);
    const macro = await source.associatedImage('macro');
    expect(macro).not.toBeNull();
    const meta = await sharp(macro!).metadata();
    expect(meta.width).toBeGreaterThan(100);
    expect(await source.associatedImage('label')).toBeNull();
  });

  it('converts level 0 to exactly width x height, 3 bands, 8 bits, with progress', async () => {
    const tmpDir = await mkdtemp(path.join(scratch, 'px-'));
    const seen: number[] = [];
    const img = await source.pixels({ tmpDir, onProgress: (f) => seen.push(f) });
    const meta = await img.metadata();
    expect([meta.width, meta.height, meta.channels, meta.depth]).toEqual([3968, 4864, 3, 'uchar']);
    expect(seen.at(-1)).toBe(1);
    expect(seen.every((f, i) => i === 0 || f >= seen[i - 1]!)).toBe(true);
  });

  it('matches an independent OpenSlide decode of a region (mean absolute difference < 3)', async () => {
    const region = { left: 2000, top: 3000, width: 512, height: 512 };
    const ref = path.join(scratch, 'ndpi-region.png');
    const r = await run('vips', [
      'extract_area',
      slidePath(NDPI),
      ref,
      String(region.left),
      String(region.top),
      String(region.width),
      String(region.height),
    ]);
    expect(r.code, r.stderr).toBe(0);
    const expected = await sharp(ref).removeAlpha().raw().toBuffer();
    const tmpDir = await mkdtemp(path.join(scratch, 'px-'));
    const actual = await (await source.pixels({ tmpDir })).extract(region).raw().toBuffer();
    expect(actual.length).toBe(expected.length);
    let sum = 0;
    for (let i = 0; i < actual.length; i++) sum += Math.abs(actual[i]! - expected[i]!);
    const mad = sum / actual.length;
    expect(mad).toBeLessThan(3);
    // A blank region would match a blank decode: this one holds stained nuclei (DAPI: the blue band).
    const { channels } = await sharp(expected, {
      raw: { width: region.width, height: region.height, channels: 3 },
    }).stats();
    expect(Math.max(...channels.map((c) => c.stdev))).toBeGreaterThan(10);
  });

  it('stops the conversion and leaves no output when aborted', async () => {
    const tmpDir = await mkdtemp(path.join(scratch, 'px-'));
    const ac = new AbortController();
    const p = source.pixels({
      tmpDir,
      signal: ac.signal,
      onProgress: (f) => {
        if (f > 0 && f < 1) ac.abort();
      },
    });
    await expect(p).rejects.toThrow(/abort/i);
    expect(existsSync(path.join(tmpDir, 'openslide-level0.tif'))).toBe(false);
  });

  it('reads a file whose name vips would take for load options', async () => {
    const dir = await mkdtemp(path.join(scratch, 'name-'));
    const odd = path.join(dir, 'case [2].ndpi');
    await symlink(slidePath(NDPI), odd);
    const s = await openslideReader.open(await probeOf(odd));
    expect(s.name).toBe('case [2]');
    const img = await s.pixels({ tmpDir: dir });
    expect((await img.metadata()).width).toBe(3968);
  });

  it('reports a truncated NDPI as CORRUPT_FILE with the file name, before any decoding', async () => {
    // Cut before the first IFD (nothing reads it) and after it (vips's TIFF loader would take it).
    for (const bytes of [1_000_000, 3_000_000]) {
      const cut = path.join(scratch, `truncated-${bytes}.ndpi`);
      await copyFile(slidePath(NDPI), cut);
      const fh = await open(cut, 'r+');
      await fh.truncate(bytes);
      await fh.close();
      const e = await rejection(openslideReader.open(await probeOf(cut)));
      expect(e.code).toBe('CORRUPT_FILE');
      expect(e.message).toBe(
        `truncated-${bytes}.ndpi: OpenSlide does not recognise it as Hamamatsu NDPI (damaged or truncated?)`,
      );
    }
  });
});

describe.skipIf(!requireSlides())('OpenSlide reader: 3DHISTECH MIRAX (incomplete sample)', () => {
  it('opens with the nominal size, levels, resolution and objective users see in `tessera info`', async () => {
    for (const p of [MIRAX, MIRAX_DIR]) {
      const s = await openslideReader.open(await probeOf(slidePath(p)));
      expect(s.format).toBe('mirax');
      expect([s.width, s.height]).toEqual([128618, 288042]);
      expect(s.levels).toHaveLength(9);
      expect(s.levels[8]).toMatchObject({ width: 502, height: 1125, downsample: 256 });
      expect(s.mppX).toBeCloseTo(0.1739, 4);
      expect(s.objectivePower).toBe(20);
      expect(s.associated).toEqual(['label', 'macro', 'thumbnail']);
      expect(s.rendering).toMatch(/fluorescence/);
      await s.close();
    }
  });

  it('fails pixels() at once with CORRUPT_FILE naming the first missing data file', async () => {
    const s = await openslideReader.open(await probeOf(slidePath(MIRAX)));
    const t0 = performance.now();
    const e = await rejection(s.pixels({ tmpDir: scratch }));
    expect(e.code).toBe('CORRUPT_FILE');
    expect(e.message).toMatch(/^MIRAX slide incomplete: cannot open Data0005\.dat/);
    // Level 0 is 37 gigapixels nominal: the check must come before any conversion starts.
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await readdir(scratch)).not.toContain('openslide-level0.tif');
  });

  it('fails open() with CORRUPT_FILE when the data folder is not beside the .mrxs', async () => {
    const lone = path.join(scratch, 'lonely.mrxs');
    await copyFile(slidePath(MIRAX), lone);
    const e = await rejection(openslideReader.open(await probeOf(lone)));
    expect(e.code).toBe('CORRUPT_FILE');
    expect(e.message).toBe('MIRAX slide incomplete: data folder lonely/ not found beside lonely.mrxs');
  });
});

describe.skipIf(!requireSlides())('OpenSlide reader: without vips', () => {
  it('throws MISSING_DEPENDENCY naming libvips-tools when the vips command is absent', async () => {
    const reader = createOpenslideReader({ vipsBin: path.join(scratch, 'no-such-vips') });
    const e = await rejection(reader.open(await probeOf(slidePath(NDPI))));
    expect(e.code).toBe('MISSING_DEPENDENCY');
    expect(e.message).toBe(
      "Hamamatsu NDPI slide orbit-test3-DAPI-387.ndpi needs the 'vips' command with OpenSlide: apt-get install libvips-tools",
    );
  });

  it('throws MISSING_DEPENDENCY when vips runs but has no openslideload', async () => {
    const reader = createOpenslideReader({ vipsBin: 'true' });
    const e = await rejection(reader.open(await probeOf(slidePath(MIRAX))));
    expect(e.code).toBe('MISSING_DEPENDENCY');
    expect(e.message).toContain('apt-get install libvips-tools');
  });

  it('honours TESSERA_VIPS_BIN', async () => {
    const saved = process.env.TESSERA_VIPS_BIN;
    process.env.TESSERA_VIPS_BIN = path.join(scratch, 'still-no-vips');
    try {
      const e = await rejection(openslideReader.open(await probeOf(slidePath(NDPI))));
      expect(e.code).toBe('MISSING_DEPENDENCY');
    } finally {
      if (saved === undefined) delete process.env.TESSERA_VIPS_BIN;
      else process.env.TESSERA_VIPS_BIN = saved;
    }
  });

  it('still detects its formats, so the user hears what to install rather than "unsupported"', async () => {
    const reader = createOpenslideReader({ vipsBin: path.join(scratch, 'no-such-vips') });
    expect(await reader.detect(await probeOf(slidePath(NDPI)))).toBe(true);
  });
});
