import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerContext } from '../server/context.ts';
import { ingest } from '../tiles/index.ts';
import { readDicom } from '../tiles/readers/dicom/fixtures.ts';
import { type TestServer, startTestServer } from './helpers/server.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

/** The export download: the slide routes' access rules, the de-identified form through such a share. */

const have = requireSlides();
let t: TestServer | undefined;
let dir = '';
let ctx: ServerContext;
let base = '';
let slide = '';
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};

beforeAll(async () => {
  t = await startTestServer('tessera-export-http-', [
    ['path-n', 'pathologist', 'north'],
    ['spec-s', 'specialist', 'south'],
    ['path-s', 'pathologist', 'south'],
  ]);
  ({ dir, ctx, base } = t);
  Object.assign(tokens, t.tokens);
  Object.assign(ids, t.ids);
  if (have) {
    const { manifest } = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
      tileSize: 256,
      jpegQuality: 92,
    });
    await ctx.slides.register(manifest, 'north');
    slide = manifest.id;
    const c = await ctx.cases.create({
      accession: 'H26-0042',
      siteId: 'north',
      specimenType: 'biopsy',
      subspecialty: 'gi',
      priority: 'routine',
      receivedAt: '2026-03-02',
    });
    await ctx.cases.attachSlide(c.id, slide);
  }
}, 120_000);

afterAll(() => t?.close());

function as(user: string, p: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${tokens[user]}`);
  return fetch(`${base}${p}`, { ...init, headers });
}

/** The zip unpacked by Info-ZIP's unzip: file name → bytes. */
async function unpack(res: Response, name: string): Promise<Map<string, Buffer>> {
  const zip = path.join(dir, `${name}.zip`);
  writeFileSync(zip, Buffer.from(await res.arrayBuffer()));
  const out = path.join(dir, name);
  execFileSync('unzip', ['-q', '-o', zip, '-d', out]);
  const files = new Map<string, Buffer>();
  for (const folder of readdirSync(out))
    for (const f of readdirSync(path.join(out, folder)))
      files.set(f, readFileSync(path.join(out, folder, f)));
  return files;
}

describe.skipIf(!have)('GET /api/slides/{id}/export?format=dicom', () => {
  it('the owning site gets the identified series with the case as study, audited', async () => {
    const res = await as('path-n', `/api/slides/${slide}/export?format=dicom`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toContain('CMU-1-Small-Region-dicom.zip');
    const files = await unpack(res, 'identified');
    expect([...files.keys()].sort()).toEqual([
      'label.dcm',
      'level-0.dcm',
      'level-1.dcm',
      'level-2.dcm',
      'level-3.dcm',
      'level-4.dcm',
      'overview.dcm',
    ]);
    const ds = readDicom(files.get('level-0.dcm')!).ds;
    expect(ds.PatientID).toBe('H26-0042');
    expect(ds.AccessionNumber).toBe('H26-0042');
    expect(ds.StudyDate).toBe('20260302');
    expect(ds.ContainerIdentifier).toBe('CMU-1-Small-Region');
    const audit = await ctx.db.selectFrom('audit').selectAll().where('action', '=', 'slide.export').execute();
    expect(audit.map((a) => [a.user_id, a.target_id])).toContainEqual([ids['path-n'], slide]);
  });

  it('another site without a share gets 404; a wrong format 400', async () => {
    expect((await as('path-s', `/api/slides/${slide}/export?format=dicom`)).status).toBe(404);
    expect((await as('path-n', `/api/slides/${slide}/export?format=png`)).status).toBe(400);
    expect((await as('path-n', `/api/slides/nope/export?format=dicom`)).status).toBe(400);
  });

  it('a de-identified share gets the de-identified series: study code, no case, no label or overview', async () => {
    const share = await as('path-n', `/api/slides/${slide}/shares`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        userId: ids['spec-s'],
        deidentified: true,
        studyCode: 'SO-ABCDEFGH',
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      }),
    });
    expect(share.status).toBe(201);
    const res = await as('spec-s', `/api/slides/${slide}/export?format=dicom`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('SO-ABCDEFGH-dicom.zip');
    const files = await unpack(res, 'deidentified');
    expect([...files.keys()].sort()).toEqual([
      'level-0.dcm',
      'level-1.dcm',
      'level-2.dcm',
      'level-3.dcm',
      'level-4.dcm',
    ]);
    for (const [n, bytes] of files) {
      const text = bytes.toString('latin1');
      for (const leak of ['H26-0042', '20260302', 'CMU-1-Small-Region', 'biopsy'])
        expect(text.includes(leak), `${n} holds ${leak}`).toBe(false);
      const ds = readDicom(bytes).ds;
      expect(ds.PatientID).toBe('SO-ABCDEFGH');
      expect(ds.PatientIdentityRemoved).toBe('YES');
    }
  });
});
