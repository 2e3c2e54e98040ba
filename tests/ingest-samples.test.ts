import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../protocol/index.ts';
import { fittingTileSize } from '../tiles/ingest/ingest.ts';
import { LocalSlideStore, SlideError, ingest, openSlide, storedLevels } from '../tiles/index.ts';
import { boxDownsample, meanAbsDiff, spread, toRgb, vipsRegion } from './helpers/pixels.ts';
import { type ExpectedSlide, expectedSlides, requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
const samples: ExpectedSlide[] = have ? expectedSlides() : [];
const complete = samples.filter((s) => s.complete);

let dataDir = '';
let store: LocalSlideStore;
const stored = new Map<string, Manifest>();

/** Formats that Debian's `vips` command decodes on its own: the independent reference. */
/**
 * Where expected.json leaves out what the file itself states. The Vectra QPTIFF carries
 * XResolution 20139.58 px/cm (0.4965 µm/px; `vipsheader -f xres` agrees) and <Objective>10x</Objective>
 * in its description XML; PROVENANCE.md lists "—" because OpenSlide does not read QPTIFF.
 */
const STATED_BY_FILE: Record<string, Partial<Pick<ExpectedSlide, 'mpp' | 'objectivePower'>>> = {
  'qptiff/pathml-small_vectra.qptiff': { mpp: 0.4965, objectivePower: 10 },
};

const REFERENCE_BY_VIPS = new Set(['aperio-svs', 'hamamatsu-ndpi', 'generic-tiff']);

beforeAll(() => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-samples-'));
  store = new LocalSlideStore(dataDir);
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

describe.skipIf(!have)('every sample slide is ingested with the scanner facts of PROVENANCE.md', () => {
  it.each(complete.map((s) => [s.path, { ...s, ...STATED_BY_FILE[s.path] }] as const))(
    '%s',
    async (_p, exp) => {
      const { manifest, created } = await ingest(slidePath(exp.path), store, {
        tileSize: 256,
        jpegQuality: 92,
      });
      expect(created).toBe(true);
      stored.set(exp.path, manifest);
      expect(manifest.width).toBe(exp.width);
      expect(manifest.height).toBe(exp.height);
      if (exp.levels !== null) expect(manifest.sourceLevels).toBe(exp.levels);
      if (exp.mpp === null) expect(manifest.mppX).toBeNull();
      else {
        expect(manifest.mppX).not.toBeNull();
        expect(Math.abs(manifest.mppX! - exp.mpp) / exp.mpp).toBeLessThan(0.005);
        expect(Math.abs(manifest.mppY! - exp.mpp) / exp.mpp).toBeLessThan(0.005);
      }
      expect(manifest.objectivePower).toBe(exp.objectivePower);
      // The stored pyramid: powers of two down to one tile, as the manifest says.
      const last = manifest.levelInfo.at(-1)!;
      expect(last.width <= 256 && last.height <= 256).toBe(true);
      const meta = await sharp(path.join(dataDir, 'slides', manifest.id, 'slide.tif')).metadata();
      expect(meta.pages ?? 1).toBe(manifest.levels);
      expect(manifest.associated).toContain('thumbnail');
    },
  );

  it.each(complete.map((s) => [s.path, s] as const))('%s also ingests at tile size 512', async (_p, exp) => {
    const scratch = mkdtempSync(path.join(tmpdir(), 'tessera-512-'));
    try {
      const { manifest: m } = await ingest(slidePath(exp.path), new LocalSlideStore(scratch), {
        tileSize: 512,
        jpegQuality: 92,
      });
      expect([m.width, m.height]).toEqual([exp.width, exp.height]);
      expect(m.levelInfo).toEqual(
        storedLevels(m.width, m.height, m.tileSize).map((l, k) => ({
          ...l,
          scanner: m.levelInfo[k]!.scanner,
        })),
      );
      // The scanner's own where its tiles are kept, else the size asked for (smaller for a tiny slide).
      if (m.levelInfo[0]!.scanner)
        expect(m.tileSize % 16 === 0 && m.tileSize >= 128 && m.tileSize <= 2048).toBe(true);
      else expect(m.tileSize).toBe(fittingTileSize(m.width, m.height, 512));
      const meta = await sharp(path.join(scratch, 'slides', m.id, 'slide.tif')).metadata();
      expect(meta.pages ?? 1).toBe(m.levels);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('ingesting the same file twice gives the same id and no second copy', async () => {
    const first = complete[0]!;
    const before = readdirSync(path.join(dataDir, 'slides')).length;
    const again = await ingest(slidePath(first.path), store, { tileSize: 256, jpegQuality: 92 });
    expect(again.created).toBe(false);
    expect(again.manifest.id).toBe(stored.get(first.path)?.id);
    expect(readdirSync(path.join(dataDir, 'slides')).length).toBe(before);
  });

  it('the incomplete MIRAX slide is refused with a reason naming the missing data, and nothing is stored', async () => {
    const mirax = samples.find((s) => !s.complete);
    expect(mirax).toBeDefined();
    const before = readdirSync(path.join(dataDir, 'slides')).length;
    const err = await ingest(slidePath(mirax!.path), store, { tileSize: 256, jpegQuality: 92 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SlideError);
    expect((err as SlideError).code).toBe('CORRUPT_FILE');
    expect((err as SlideError).message).toMatch(/Data00\d\d\.dat/);
    expect(readdirSync(path.join(dataDir, 'slides')).length).toBe(before);
    expect(readdirSync(path.join(dataDir, 'tmp'))).toEqual([]);
  });

  it('the incomplete MIRAX slide still shows its facts to `info`', async () => {
    const mirax = samples.find((s) => !s.complete)!;
    const s = await openSlide(slidePath(mirax.path));
    try {
      expect([s.format, s.width, s.height, s.levels.length]).toEqual([
        'mirax',
        mirax.width,
        mirax.height,
        mirax.levels,
      ]);
      expect(Math.abs(s.mppX! - mirax.mpp!)).toBeLessThan(0.001);
      expect(s.objectivePower).toBe(mirax.objectivePower);
    } finally {
      await s.close();
    }
  });
});

describe.skipIf(!have)('pixel fidelity of the stored pyramid', () => {
  /** A region near the centre, at most 512 px, inside the level. */
  function centre(w: number, h: number): { left: number; top: number; width: number; height: number } {
    const width = Math.min(512, w);
    const height = Math.min(512, h);
    return { left: Math.floor((w - width) / 2), top: Math.floor((h - height) / 2), width, height };
  }

  it.each(complete.map((s) => [s.path, s] as const))(
    '%s: level 0 and a lower level match the reader',
    async (_p, exp) => {
      const m = stored.get(exp.path);
      expect(m, 'ingested by the test above').toBeDefined();
      const file = path.join(dataDir, 'slides', m!.id, 'slide.tif');
      const src = await openSlide(slidePath(exp.path));
      const work = mkdtempSync(path.join(tmpdir(), 'tessera-px-'));
      try {
        const full = await toRgb((await src.pixels({ tmpDir: work })).clone());
        const r = centre(m!.width, m!.height);
        const storedL0 = await toRgb(sharp(file, { limitInputPixels: false }).extract(r));
        const readerL0 = await toRgb(
          sharp(full.data, { raw: { width: full.width, height: full.height, channels: 3 } }).extract(r),
        );
        expect(Math.max(...meanAbsDiff(storedL0, readerL0)), 'level 0').toBeLessThan(3);

        const level = m!.levelInfo[Math.min(2, m!.levels - 1)]!;
        if (level.index > 0) {
          const lr = centre(level.width, level.height);
          const storedLk = await toRgb(
            sharp(file, { page: level.index, limitInputPixels: false }).extract(lr),
          );
          const small = boxDownsample(full, level.index);
          expect([small.width, small.height]).toEqual([level.width, level.height]);
          const readerLk = await toRgb(
            sharp(small.data, { raw: { width: small.width, height: small.height, channels: 3 } }).extract(lr),
          );
          expect(Math.max(...meanAbsDiff(storedLk, readerLk)), `level ${level.index}`).toBeLessThan(3);
        }
      } finally {
        await src.close();
        rmSync(work, { recursive: true, force: true });
      }
    },
  );

  it.each(complete.filter((s) => s.width > 64).map((s) => [s.path, s] as const))(
    '%s: level 0 against an independent decode (vips command) where one exists',
    async (_p, exp) => {
      const m = stored.get(exp.path)!;
      if (!REFERENCE_BY_VIPS.has(m.sourceFormat)) return;
      const file = path.join(dataDir, 'slides', m.id, 'slide.tif');
      const r = centre(m.width, m.height);
      const ref = await vipsRegion(slidePath(exp.path), r.left, r.top, r.width, r.height);
      const got = await toRgb(sharp(file, { limitInputPixels: false }).extract(r));
      expect(spread(ref)).toBeGreaterThan(2);
      for (const d of meanAbsDiff(got, ref)) expect(d).toBeLessThan(3);
    },
  );
});
