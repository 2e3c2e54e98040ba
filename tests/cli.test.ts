import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
const root = mkdtempSync(path.join(tmpdir(), 'tessera-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const BIN = path.resolve('scripts/bin/tessera.mjs');

function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, TESSERA_DATA: path.join(root, 'data') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tessera command line', () => {
  it('no command prints usage and exits 2', () => {
    const r = tessera();
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/usage: tessera/);
  });

  it('an unknown option is one line on stderr and exit code 2', () => {
    const r = tessera('ingest', '--frobnicate', 'x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*frobnicate/);
  });

  it('a bad --tile-size names the setting', () => {
    const r = tessera('ingest', '--tile-size', '300', 'x.svs');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tile size must be 256 or 512/);
  });

  it.skipIf(!have)(
    'ingest --json prints one JSON line per slide; a failed input gives exit 1 and one error line',
    () => {
      const junk = path.join(root, 'junk.svs');
      writeFileSync(junk, 'not a slide');
      const r = tessera(
        'ingest',
        '--json',
        slidePath('aperio/CMU-1-Small-Region.svs'),
        junk,
        slidePath('dicom/wsi-to-dicom-converter-jpeg.dcm'),
      );
      expect(r.code).toBe(1);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines).toHaveLength(2);
      expect(Object.keys(lines[0]!)).toEqual([
        'id',
        'name',
        'sourceFormat',
        'width',
        'height',
        'levels',
        'tileSize',
        'mppX',
        'mppY',
        'objectivePower',
      ]);
      expect(lines[0]).toMatchObject({
        sourceFormat: 'aperio-svs',
        width: 2220,
        height: 2967,
        tileSize: 256,
        objectivePower: 20,
      });
      expect(lines[1]).toMatchObject({
        sourceFormat: 'dicom',
        width: 957,
        height: 715,
        objectivePower: null,
      });
      const errors = r.stderr.trim().split('\n');
      expect(errors).toEqual([`error: ${junk}: not an image file: its content matches no known format`]);
    },
  );

  it.skipIf(!have)('info shows format, levels and µm/px without ingesting', () => {
    const r = tessera('info', slidePath('hamamatsu/orbit-test3-DAPI-387.ndpi'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/format\s+hamamatsu-ndpi/);
    expect(r.stdout).toMatch(/3968 x 4864/);
    expect(r.stdout).toMatch(/0\.228/);
    expect(r.stdout).toMatch(/levels\s+7/);
  });

  it('info on a missing file: exit 1, one line', () => {
    const r = tessera('info', path.join(root, 'nope.svs'));
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no such file/);
  });
});
