import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../protocol/index.ts';
import { type DicomExportOptions, exportDicomSeries } from '../tiles/export/dicom.ts';
import { LocalSlideStore, SLIDE_FILE, ingest } from '../tiles/index.ts';
import { readDicom } from '../tiles/readers/dicom/fixtures.ts';
import { StoredSlide } from '../tiles/serve/index.ts';
import { expectedSlides, requireSlides, slidePath } from './helpers/slides.ts';

/**
 * DICOM WSI export checked by software written elsewhere: dicom3tools' dciodvfy on every instance of
 * every sample slide, Tessera's own DICOM reader on the way back (the level-0 JPEG tiles must come
 * back byte for byte), pydicom (and OpenSlide 4 where installed) as independent readers.
 */

const have = requireSlides();
const dciodvfy = spawnSync('dciodvfy', [], { encoding: 'utf8' }).error === undefined;
if (!dciodvfy) {
  if (process.env.CI === 'true') throw new Error('dciodvfy missing: apt-get install dicom3tools');
  console.warn(
    'skipping DICOM export checks: dciodvfy missing (apt-get install -y --no-install-recommends dicom3tools)',
  );
}
const pydicom = spawnSync('/usr/bin/python3', ['-c', 'import pydicom'], { encoding: 'utf8' }).status === 0;
const openslideRun = spawnSync('openslide-show-properties', ['--version'], { encoding: 'utf8' });
const openslideVersion = /OpenSlide (\d+)/.exec(
  `${openslideRun.stdout ?? ''}${openslideRun.stderr ?? ''}`,
)?.[1];
if (!pydicom && process.env.CI === 'true')
  throw new Error('pydicom missing: apt-get install python3-pydicom');
const run = have && dciodvfy;
const samples = have ? expectedSlides().filter((s) => s.complete) : [];
const CMU = 'aperio/CMU-1-Small-Region.svs';

let dir = '';
let store: LocalSlideStore;
let back: LocalSlideStore;
const stored = new Map<string, Manifest>();

const IDENTIFIED: DicomExportOptions = {
  subject: {
    patientName: '',
    patientId: 'H26-0042',
    accessionNumber: 'H26-0042',
    studyId: 'H26-0042',
    studyDate: '2026-03-02T09:15:00Z',
    studyDescription: 'biopsy (gi)',
    containerId: 'CMU-1-Small-Region',
  },
  deidentified: false,
};
const DEIDENTIFIED: DicomExportOptions = {
  subject: { patientName: 'SO-ABCDEFGH', patientId: 'SO-ABCDEFGH', containerId: 'SO-ABCDEFGH' },
  deidentified: true,
  uidSalt: 'SO-ABCDEFGH',
};

async function exportTo(id: string, out: string, opts: DicomExportOptions): Promise<string[]> {
  mkdirSync(out, { recursive: true });
  const names: string[] = [];
  for await (const f of exportDicomSeries(store, id, opts)) {
    writeFileSync(path.join(out, f.name), f.data);
    names.push(f.name);
  }
  return names;
}

/** dciodvfy's findings on one file (its exit code is unreliable: the lines are counted). */
function verify(file: string): { errors: string[]; warnings: string[] } {
  const r = spawnSync('dciodvfy', [file], { encoding: 'utf8' });
  const lines = `${r.stdout}\n${r.stderr}`.split('\n');
  return {
    errors: lines.filter((l) => l.startsWith('Error - ')),
    warnings: lines.filter((l) => l.startsWith('Warning - ')),
  };
}

/**
 * Tiles compared as bytes, apart from what the way back adds and no decoder reads: a second Adobe
 * APP14 segment right after the first (the served tile gets one for RGB-coded data whatever the tile
 * holds), and the 0x00 that pads an odd-length frame to an even length in DICOM after its EOI.
 */
function normalised(jpeg: Buffer): Buffer {
  let out = jpeg;
  if (
    out.length > 3 &&
    out[out.length - 1] === 0 &&
    out[out.length - 3] === 0xff &&
    out[out.length - 2] === 0xd9
  )
    out = out.subarray(0, out.length - 1);
  const adobe = Buffer.from([0xff, 0xee, 0x00, 0x0e]);
  const first = out.indexOf(adobe);
  if (first < 0) return out;
  const next = first + 16;
  if (out.subarray(next, next + 16).equals(out.subarray(first, first + 16)))
    return Buffer.concat([out.subarray(0, next), out.subarray(next + 16)]);
  return out;
}

async function decode(jpeg: Buffer): Promise<Buffer> {
  return sharp(jpeg).removeAlpha().raw().toBuffer();
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-dicom-export-'));
  store = new LocalSlideStore(path.join(dir, 'data'));
  back = new LocalSlideStore(path.join(dir, 'back'));
  if (!run) return;
  for (const s of samples) {
    const { manifest } = await ingest(slidePath(s.path), store, { tileSize: 256, jpegQuality: 92 });
    stored.set(s.path, manifest);
  }
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const seriesDir = (p: string, form = 'identified'): string =>
  path.join(dir, 'export', form, p.replace(/[^A-Za-z0-9]+/g, '_'));

describe.skipIf(!run)('DICOM WSI export of every sample slide', () => {
  it('passes dciodvfy with no errors on every instance (warnings allowed)', async () => {
    const summary: string[] = [];
    let errors = 0;
    let instances = 0;
    const warnings = new Map<string, number>();
    for (const s of samples) {
      const m = stored.get(s.path)!;
      const out = seriesDir(s.path);
      const names = await exportTo(m.id, out, {
        ...IDENTIFIED,
        subject: { ...IDENTIFIED.subject, containerId: m.name },
      });
      const extra = m.associated.filter((a) => a === 'label' || a === 'macro').length;
      expect(names.length, s.path).toBe(m.levels + extra);
      for (const n of names) {
        const v = verify(path.join(out, n));
        instances++;
        errors += v.errors.length;
        for (const w of v.warnings) warnings.set(w, (warnings.get(w) ?? 0) + 1);
        if (v.errors.length) summary.push(`${s.path} ${n}:\n  ${v.errors.join('\n  ')}`);
      }
    }
    console.log(
      `dciodvfy: ${instances} instances of ${samples.length} slides, ${errors} errors; warnings:\n` +
        ([...warnings].map(([w, n]) => `  ${n} x ${w}`).join('\n') || '  none'),
    );
    expect(summary.join('\n')).toBe('');
    expect(errors).toBe(0);
  });

  it("reads back with Tessera's DICOM reader: level 0 is the stored JPEG tiles, byte for byte", async () => {
    for (const s of samples) {
      const orig = stored.get(s.path)!;
      const { manifest: re } = await ingest(seriesDir(s.path), back, { tileSize: 256, jpegQuality: 92 });
      expect([re.width, re.height, re.sourceFormat], s.path).toEqual([orig.width, orig.height, 'dicom']);
      expect(re.levelInfo[0]!.scanner, s.path).toBe(true);
      expect(re.tileSize, s.path).toBe(orig.tileSize);
      if (orig.mppX !== null) expect(re.mppX, s.path).toBeCloseTo(orig.mppX, 6);
      const a = await StoredSlide.open((await store.open(orig.id, SLIDE_FILE))!, orig);
      const b = await StoredSlide.open((await back.open(re.id, SLIDE_FILE))!, re);
      try {
        const l = orig.levelInfo[0]!;
        let differing = 0;
        for (let row = 0; row < l.tilesY; row++) {
          for (let col = 0; col < l.tilesX; col++) {
            const x = (await a.readStoredTile(0, col, row))!;
            const y = (await b.readStoredTile(0, col, row))!;
            if (normalised(x).equals(normalised(y))) continue;
            differing++;
            // Not the same bytes: then the same pixels (mean absolute difference 0).
            expect((await decode(x)).equals(await decode(y)), `${s.path} tile ${col},${row}`).toBe(true);
          }
        }
        expect(differing, s.path).toBe(0);
      } finally {
        await a.close();
        await b.close();
      }
    }
  });

  it.skipIf(!pydicom)('pydicom reads the level-0 instance: frames, sizes and pixels', async () => {
    const m = stored.get(CMU)!;
    const file = path.join(seriesDir(CMU), 'level-0.dcm');
    const out = execFileSync(
      '/usr/bin/python3',
      [
        '-c',
        `import json, sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
a = ds.pixel_array
print(json.dumps({"sop": ds.SOPClassUID, "ts": ds.file_meta.TransferSyntaxUID, "frames": int(ds.NumberOfFrames),
  "cols": int(ds.TotalPixelMatrixColumns), "rows": int(ds.TotalPixelMatrixRows), "tile": [int(ds.Rows), int(ds.Columns)],
  "type": ds.DimensionOrganizationType, "shape": list(a.shape), "mean0": float(a[0].mean())}))`,
        file,
      ],
      { encoding: 'utf8' },
    );
    const r = JSON.parse(out) as Record<string, unknown>;
    const l = m.levelInfo[0]!;
    expect(r).toMatchObject({
      sop: '1.2.840.10008.5.1.4.1.1.77.1.6',
      ts: '1.2.840.10008.1.2.4.50',
      frames: l.tilesX * l.tilesY,
      cols: m.width,
      rows: m.height,
      tile: [m.tileSize, m.tileSize],
      type: 'TILED_FULL',
    });
    const slide = await StoredSlide.open((await store.open(m.id, SLIDE_FILE))!, m);
    const tile = await decode((await slide.readStoredTile(0, 0, 0))!);
    await slide.close();
    const mean = tile.reduce((n, v) => n + v, 0) / tile.length;
    expect(Math.abs((r.mean0 as number) - mean)).toBeLessThan(0.5);
  });

  it('OpenSlide 4 opens the series (when installed)', () => {
    if (!openslideVersion || Number(openslideVersion) < 4) {
      console.warn(`skipping: OpenSlide ${openslideVersion ?? 'not installed'} reads no DICOM (needs 4)`);
      return;
    }
    const r = spawnSync('openslide-show-properties', [path.join(seriesDir(CMU), 'level-0.dcm')], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('openslide.level-count');
  });

  it('the same export twice gives the same UIDs (and the same bytes)', async () => {
    const m = stored.get(CMU)!;
    const again = path.join(dir, 'again');
    await exportTo(m.id, again, { ...IDENTIFIED, subject: { ...IDENTIFIED.subject, containerId: m.name } });
    for (const n of readdirSync(again)) {
      const a = readFileSync(path.join(again, n));
      const b = readFileSync(path.join(seriesDir(CMU), n));
      expect(readDicom(a).ds.SOPInstanceUID).toBe(readDicom(b).ds.SOPInstanceUID);
      expect(a.equals(b), n).toBe(true);
    }
    const first = readDicom(readFileSync(path.join(again, 'level-0.dcm'))).ds;
    expect(String(first.StudyInstanceUID)).toMatch(/^2\.25\.[1-9]\d*$/);
    expect(first.PatientID).toBe('H26-0042');
    expect(first.AccessionNumber).toBe('H26-0042');
    expect(first.StudyDate).toBe('20260302');
  });

  it('the de-identified form (PS3.15 E.1): study code as patient, no case identifiers or dates, no label or overview', async () => {
    const m = stored.get(CMU)!;
    const out = seriesDir(CMU, 'deidentified');
    const names = await exportTo(m.id, out, DEIDENTIFIED);
    expect(names).toEqual(Array.from({ length: m.levels }, (_, k) => `level-${k}.dcm`));
    const identified = readDicom(readFileSync(path.join(seriesDir(CMU), 'level-0.dcm'))).ds;
    for (const n of names) {
      const bytes = readFileSync(path.join(out, n));
      expect(verify(path.join(out, n)).errors, n).toEqual([]);
      const text = bytes.toString('latin1');
      for (const leak of [
        'H26-0042',
        '20260302',
        'CMU-1-Small-Region',
        'biopsy',
        m.createdAt.slice(0, 10).replace(/-/g, ''),
      ])
        expect(text.includes(leak), `${n} holds ${leak}`).toBe(false);
      const ds = readDicom(bytes).ds;
      expect(ds.PatientName).toMatchObject([{ Alphabetic: 'SO-ABCDEFGH' }]);
      expect(ds.PatientID).toBe('SO-ABCDEFGH');
      expect(ds.PatientIdentityRemoved).toBe('YES');
      expect(ds.ImageType).not.toContain('LABEL');
      expect(ds.StudyInstanceUID).not.toBe(identified.StudyInstanceUID);
    }
    // Stable too: a second de-identified export has the same UIDs.
    const again = path.join(dir, 'deid-again');
    await exportTo(m.id, again, DEIDENTIFIED);
    for (const n of names)
      expect(readDicom(readFileSync(path.join(again, n))).ds.SOPInstanceUID).toBe(
        readDicom(readFileSync(path.join(out, n))).ds.SOPInstanceUID,
      );
  });
});
