import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../protocol/index.ts';
import type { ServerContext } from '../server/context.ts';
import { parseQido } from '../server/dicomweb/query.ts';
import { DicomWeb } from '../server/dicomweb/service.ts';
import { type DicomJson, toDicomJson } from '../tiles/export/dicom-json.ts';
import { SLIDE_FILE, ingest } from '../tiles/index.ts';
import { readDicom } from '../tiles/readers/dicom/fixtures.ts';
import { makeStoredSlide } from '../tiles/serve/fixtures.ts';
import { StoredSlide } from '../tiles/serve/index.ts';
import { type TestServer, startTestServer } from './helpers/server.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

/**
 * The DICOMweb server over HTTP: QIDO-RS finds what a user may see (and nothing else), WADO-RS
 * metadata states what the DICOM export writes with the same UIDs, frames are the export's frames
 * byte for byte, a de-identified share sees the de-identified series only, and a revoked token
 * loses access at once.
 */

const have = requireSlides();
let t: TestServer | undefined;
let dir = '';
let ctx: ServerContext;
let base = '';
let cmu: Manifest;
const others: Manifest[] = [];
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};
const tokenIds: Record<string, string> = {};
/** The identified and de-identified exports of CMU, unpacked: file name → naturalized dataset. */
const exported: Record<'identified' | 'deidentified', Map<string, Record<string, unknown>>> = {
  identified: new Map(),
  deidentified: new Map(),
};
/** The same files' bytes. */
const exportedFiles: Record<'identified' | 'deidentified', Map<string, Buffer>> = {
  identified: new Map(),
  deidentified: new Map(),
};

const tag = {
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SOPInstanceUID: '00080018',
  PatientName: '00100010',
  PatientID: '00100020',
  AccessionNumber: '00080050',
  StudyDate: '00080020',
  NumberOfFrames: '00280008',
  TotalPixelMatrixColumns: '00480006',
  TotalPixelMatrixRows: '00480007',
  ImageType: '00080008',
  ContainerIdentifier: '00400512',
  ModalitiesInStudy: '00080061',
  NumberOfStudyRelatedInstances: '00201208',
  PatientIdentityRemoved: '00120062',
  Rows: '00280010',
  StudyDescription: '00081030',
  RetrieveURL: '00081190',
} as const;

const value = (ds: DicomJson, t: string): unknown => ds[t]?.Value?.[0];
const values = (ds: DicomJson, t: string): unknown[] => ds[t]?.Value ?? [];

function as(user: string, p: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${tokens[user]}`);
  return fetch(`${base}${p}`, { ...init, headers });
}

async function json(user: string, p: string, init: RequestInit = {}): Promise<DicomJson[]> {
  const res = await as(user, p, init);
  expect(res.status, `${p}: ${res.status}`).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/dicom\+json/);
  return (await res.json()) as DicomJson[];
}

async function exportZip(user: string, form: 'identified' | 'deidentified'): Promise<void> {
  const res = await as(user, `/api/slides/${cmu.id}/export?format=dicom`);
  expect(res.status).toBe(200);
  const zip = path.join(dir, `${form}.zip`);
  writeFileSync(zip, Buffer.from(await res.arrayBuffer()));
  const out = path.join(dir, form);
  execFileSync('unzip', ['-q', '-o', zip, '-d', out]);
  for (const folder of readdirSync(out))
    for (const f of readdirSync(path.join(out, folder))) {
      const bytes = readFileSync(path.join(out, folder, f));
      exportedFiles[form].set(f, bytes);
      exported[form].set(f, readDicom(bytes).ds);
    }
}

/** The frames of an exported instance: encapsulated fragments, one per frame, as dcmjs reads them. */
function exportFrames(ds: Record<string, unknown>): Buffer[] {
  return (ds.PixelData as ArrayBuffer[]).map((f) => Buffer.from(f));
}

/** A frame as it is in the file: the DICOM even-length pad (one 0x00 after EOI) removed. */
function unpadded(f: Buffer): Buffer {
  return f.length > 2 && f[f.length - 1] === 0 && f[f.length - 2] === 0xd9 && f[f.length - 3] === 0xff
    ? f.subarray(0, f.length - 1)
    : f;
}

/** multipart/related parsed by hand: [Content-Type of the part, body]. */
function parts(body: Buffer, contentType: string): { type: string; location: string; body: Buffer }[] {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  expect(boundary).toBeTruthy();
  const delim = Buffer.from(`--${boundary}`);
  const out: { type: string; location: string; body: Buffer }[] = [];
  let at = body.indexOf(delim);
  while (at >= 0) {
    const start = at + delim.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headEnd = body.indexOf('\r\n\r\n', start);
    const head = body.subarray(start, headEnd).toString();
    const next = body.indexOf(delim, headEnd);
    out.push({
      type: /Content-Type: ([^\r\n]+)/i.exec(head)?.[1] ?? '',
      location: /Content-Location: ([^\r\n]+)/i.exec(head)?.[1] ?? '',
      body: body.subarray(headEnd + 4, next - 2),
    });
    at = next;
  }
  return out;
}

beforeAll(async () => {
  t = await startTestServer('tessera-dicomweb-', [
    ['path-n', 'pathologist', 'north'],
    ['path-n2', 'pathologist', 'north'],
    ['spec-s', 'specialist', 'south'],
    ['path-s', 'pathologist', 'south'],
  ]);
  ({ dir, ctx, base } = t);
  Object.assign(tokens, t.tokens);
  Object.assign(ids, t.ids);
  Object.assign(tokenIds, t.tokenIds);
  if (!have) return;
  ({ manifest: cmu } = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
    tileSize: 256,
    jpegQuality: 92,
  }));
  await ctx.slides.register(cmu, 'north');
  const c = await ctx.cases.create({
    accession: 'H26-0042',
    siteId: 'north',
    specimenType: 'biopsy',
    subspecialty: 'gi',
    priority: 'routine',
    receivedAt: '2026-03-02',
  });
  await ctx.cases.attachSlide(c.id, cmu.id);
  // Three more of north's slides (for paging), added after CMU, and one of south's.
  for (const seed of [1, 2, 3]) {
    const m = await makeStoredSlide(ctx.store, 600, 400, { seed });
    await ctx.slides.register(m, 'north');
    others.push(m);
  }
  const south = await makeStoredSlide(ctx.store, 300, 200, { seed: 9 });
  await ctx.slides.register(south, 'south');
  await exportZip('path-n', 'identified');
  const share = await as('path-n', `/api/slides/${cmu.id}/shares`, {
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
  await exportZip('spec-s', 'deidentified');
}, 180_000);

afterAll(() => t?.close());

const level0 = (form: 'identified' | 'deidentified' = 'identified') => exported[form].get('level-0.dcm')!;
const studyUid = (form: 'identified' | 'deidentified' = 'identified'): string =>
  String(level0(form).StudyInstanceUID);
const seriesUid = (form: 'identified' | 'deidentified' = 'identified'): string =>
  String(level0(form).SeriesInstanceUID);
const instancePath = (file: string, form: 'identified' | 'deidentified' = 'identified'): string => {
  const ds = exported[form].get(file)!;
  return `/dicomweb/studies/${String(ds.StudyInstanceUID)}/series/${String(ds.SeriesInstanceUID)}/instances/${String(ds.SOPInstanceUID)}`;
};

describe('DICOMweb without signing in, and with a session cookie', () => {
  it('401 for searches and reads without credentials', async () => {
    expect((await fetch(`${base}/dicomweb/studies`)).status).toBe(401);
    expect((await fetch(`${base}/dicomweb/studies/1.2.3/metadata`)).status).toBe(401);
    expect((await fetch(`${base}/dicomweb/nothing-here`)).status).toBe(401);
  });

  it('a signed-in browser session searches like a bearer token', async () => {
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'path-s', password: 'test-password-1' }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const byCookie = await fetch(`${base}/dicomweb/studies`, { headers: { cookie } });
    expect(byCookie.status).toBe(200);
    expect(await byCookie.json()).toEqual(await json('path-s', '/dicomweb/studies'));
    expect((await fetch(`${base}/dicomweb/nothing-here`, { headers: { cookie } })).status).toBe(404);
  });
});

describe.skipIf(!have)('QIDO-RS', () => {
  it('finds the slide as a study by StudyInstanceUID, AccessionNumber, PatientID, StudyDate range and modality', async () => {
    for (const q of [
      `StudyInstanceUID=${studyUid()}`,
      'AccessionNumber=H26-0042',
      'PatientID=H26-0042',
      'PatientID=H26-00*',
      'AccessionNumber=H26-00??',
      'AccessionNumber=*42',
      'StudyDate=20260301-20260303',
      'StudyDate=20260302',
      'ModalitiesInStudy=SM&AccessionNumber=H26-0042',
    ]) {
      const found = await json('path-n', `/dicomweb/studies?${q}`);
      expect(
        found.map((s) => value(s, tag.StudyInstanceUID)),
        q,
      ).toEqual([studyUid()]);
      const s = found[0]!;
      expect(value(s, tag.AccessionNumber)).toBe('H26-0042');
      expect(value(s, tag.StudyDate)).toBe('20260302');
      expect(values(s, tag.ModalitiesInStudy)).toEqual(['SM']);
      expect(value(s, tag.NumberOfStudyRelatedInstances)).toBe(cmu.levels + 2);
      expect(value(s, tag.RetrieveURL)).toBe(`${base}/dicomweb/studies/${studyUid()}`);
    }
    for (const q of [
      'AccessionNumber=H26-9999',
      'StudyDate=20250101-20250131',
      'ModalitiesInStudy=CT',
      'StudyInstanceUID=1.2.3.4',
      'PatientID=h26-0042',
      'AccessionNumber=H26_0042',
      'PatientName=A*',
    ])
      expect(await json('path-n', `/dicomweb/studies?${q}`), q).toEqual([]);
  });

  it('series and instances, at the top and under the study, with includefield', async () => {
    const series = await json('path-n', `/dicomweb/studies/${studyUid()}/series`);
    expect(series.map((s) => value(s, tag.SeriesInstanceUID))).toEqual([seriesUid()]);
    const top = await json('path-n', `/dicomweb/series?SeriesInstanceUID=${seriesUid()}`);
    expect(top.map((s) => value(s, tag.StudyInstanceUID))).toEqual([studyUid()]);
    const inst = await json('path-n', `/dicomweb/studies/${studyUid()}/series/${seriesUid()}/instances`);
    const byFile = [...exported.identified.entries()];
    expect(inst.map((i) => value(i, tag.SOPInstanceUID)).sort()).toEqual(
      byFile.map(([, ds]) => String(ds.SOPInstanceUID)).sort(),
    );
    for (const i of inst) expect(value(i, tag.SeriesInstanceUID)).toBe(seriesUid());
    const sop = String(level0().SOPInstanceUID);
    const one = await json(
      'path-n',
      `/dicomweb/instances?SOPInstanceUID=${sop}&includefield=00480006,TotalPixelMatrixRows`,
    );
    expect(one).toHaveLength(1);
    expect(value(one[0]!, tag.TotalPixelMatrixColumns)).toBe(cmu.width);
    expect(value(one[0]!, tag.TotalPixelMatrixRows)).toBe(cmu.height);
    const labels = await json('path-n', `/dicomweb/studies/${studyUid()}/instances?ImageType=LABEL`);
    expect(labels.map((i) => value(i, tag.SOPInstanceUID))).toEqual([
      String(exported.identified.get('label.dcm')!.SOPInstanceUID),
    ]);
    // Without includefield=all no pixel-matrix details beyond the return keys; with it, all of them.
    const all = await json('path-n', `/dicomweb/instances?SOPInstanceUID=${sop}&includefield=all`);
    expect(all[0]!['00480105']).toBeTruthy();
    expect(one[0]!['00480105']).toBeUndefined();
  });

  it('limit and offset page through every study once, newest first, with a Warning while more remain', async () => {
    const everything = await json('path-n', '/dicomweb/studies');
    expect(everything).toHaveLength(4);
    const seen: unknown[] = [];
    for (let offset = 0; offset < 4; offset += 3) {
      const res = await as('path-n', `/dicomweb/studies?limit=3&offset=${offset}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('warning') !== null).toBe(offset === 0);
      seen.push(...((await res.json()) as DicomJson[]).map((s) => value(s, tag.StudyInstanceUID)));
    }
    expect(seen).toEqual(everything.map((s) => value(s, tag.StudyInstanceUID)));
    expect(new Set(seen).size).toBe(4);
    // CMU was added first: last in newest-first order.
    expect(seen[3]).toBe(studyUid());
    expect(await json('path-n', '/dicomweb/studies?offset=4')).toEqual([]);
    for (const bad of ['limit=0', 'limit=abc', 'offset=-1', 'NoSuchKeyword=1', 'OpticalPathSequence=1'])
      expect((await as('path-n', `/dicomweb/studies?${bad}`)).status, bad).toBe(400);
  });

  it('a search the database cannot narrow stops after the slides it may look at, and says so', async () => {
    const p = (await ctx.auth.resolve({
      headers: { authorization: `Bearer ${tokens['path-n']}` },
    } as IncomingMessage))!;
    const web = new DicomWeb(ctx, undefined, { maxExamined: 2 });
    const walk = await web.search(p, 'study', {}, parseQido({ StudyDescription: 'biopsy*' }), base);
    // CMU (the only biopsy) is the oldest of north's four slides: beyond the two looked at.
    expect([walk.results.length, walk.cut]).toEqual([0, true]);
    const narrowed = await web.search(
      p,
      'study',
      {},
      parseQido({ StudyDescription: 'biopsy*', PatientID: 'H26*' }),
      base,
    );
    expect([narrowed.results.length, narrowed.cut]).toEqual([1, false]);
    const first = await web.search(p, 'study', {}, parseQido({ limit: '1' }), base);
    expect([first.results.length, first.more, first.cut]).toEqual([1, true, false]);
  });

  it('another site sees nothing: no studies, and 404 on every UID of the slide', async () => {
    const south = await json('path-s', '/dicomweb/studies');
    expect(south).toHaveLength(1);
    expect(south.map((s) => value(s, tag.StudyInstanceUID))).not.toContain(studyUid());
    expect(await json('path-s', `/dicomweb/studies?StudyInstanceUID=${studyUid()}`)).toEqual([]);
    expect(
      await json('path-s', `/dicomweb/instances?SOPInstanceUID=${String(level0().SOPInstanceUID)}`),
    ).toEqual([]);
    expect(await json('path-s', '/dicomweb/studies?AccessionNumber=H26-0042')).toEqual([]);
    for (const p of [
      `/dicomweb/studies/${studyUid()}/metadata`,
      `/dicomweb/studies/${studyUid()}/series`,
      `${instancePath('level-0.dcm')}/metadata`,
      `${instancePath('level-0.dcm')}/frames/1`,
      `${instancePath('level-0.dcm')}/rendered`,
      `/dicomweb/studies/${studyUid()}/thumbnail`,
    ]) {
      const res = await as('path-s', p);
      if (p.endsWith('/series')) {
        expect(res.status, p).toBe(200);
        expect(await res.json()).toEqual([]);
      } else {
        expect(res.status, p).toBe(404);
        expect(((await res.json()) as { code: string }).code).toBe('NOT_FOUND');
      }
    }
  });

  it('searches are audited', async () => {
    const rows = await ctx.db
      .selectFrom('audit')
      .selectAll()
      .where('action', '=', 'dicomweb.search')
      .where('user_id', '=', ids['path-n']!)
      .execute();
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.some((r) => r.detail.includes('H26-0042'))).toBe(true);
  });
});

describe.skipIf(!have)('WADO-RS metadata', () => {
  it('every instance states what the export writes (all attributes but the pixel data), with the same UIDs', async () => {
    const md = await json('path-n', `/dicomweb/studies/${studyUid()}/metadata`);
    expect(md).toHaveLength(exported.identified.size);
    for (const [file, ds] of exported.identified) {
      const mine = md.find((m) => value(m, tag.SOPInstanceUID) === ds.SOPInstanceUID);
      expect(mine, file).toBeTruthy();
      const { PixelData: _px, _meta, _vrMap, ...attrs } = ds as Record<string, unknown>;
      const want = toDicomJson(attrs);
      for (const t of Object.keys(want)) expect(mine![t], `${file} ${t}`).toEqual(want[t]);
      expect(mine!['7FE00010']).toBeUndefined();
      // Attribute tags (AT) as the export writes them, (0048,021E) and (0048,021F).
      const dims = mine!['00209222']!.Value as DicomJson[];
      expect(dims.map((d) => value(d, '00209165'))).toEqual(['0048021E', '0048021F']);
      expect(
        (ds.DimensionIndexSequence as { DimensionIndexPointer: number }[]).map(
          (d) => d.DimensionIndexPointer,
        ),
      ).toEqual([0x0048021e, 0x0048021f]);
    }
    const l0 = md.find((m) => value(m, tag.SOPInstanceUID) === level0().SOPInstanceUID)!;
    const l = cmu.levelInfo[0]!;
    expect(value(l0, tag.TotalPixelMatrixColumns)).toBe(cmu.width);
    expect(value(l0, tag.TotalPixelMatrixRows)).toBe(cmu.height);
    expect(value(l0, tag.NumberOfFrames)).toBe(l.tilesX * l.tilesY);
    const one = await json('path-n', `${instancePath('level-0.dcm')}/metadata`);
    expect(one).toEqual([l0]);
    const series = await json('path-n', `/dicomweb/studies/${studyUid()}/series/${seriesUid()}/metadata`);
    expect(series).toEqual(md);
  });

  it('404 for a series or instance not in the study; 406 for an unsupported Accept', async () => {
    expect((await as('path-n', `/dicomweb/studies/${studyUid()}/series/1.2.3/metadata`)).status).toBe(404);
    expect(
      (await as('path-n', `/dicomweb/studies/${studyUid()}/series/${seriesUid()}/instances/1.2.3/metadata`))
        .status,
    ).toBe(404);
    expect((await as('path-n', '/dicomweb/studies/not-a-uid/metadata')).status).toBe(404);
    const xml = await as('path-n', `/dicomweb/studies/${studyUid()}/metadata`, {
      headers: { accept: 'multipart/related; type="application/dicom+xml"' },
    });
    expect(xml.status).toBe(406);
    expect(((await xml.json()) as { code: string }).code).toBe('NOT_ACCEPTABLE');
  });

  it('reads are audited as slide views through dicomweb', async () => {
    expect((await as('path-n2', `/dicomweb/studies/${studyUid()}/metadata`)).status).toBe(200);
    const rows = await ctx.db
      .selectFrom('audit')
      .selectAll()
      .where('action', '=', 'slide.view')
      .where('target_id', '=', cmu.id)
      .where('user_id', '=', ids['path-n2']!)
      .execute();
    expect(rows.map((r) => JSON.parse(r.detail) as { via: string })).toEqual([
      expect.objectContaining({ via: 'dicomweb', credential: 'token' }),
    ]);
  });
});

describe.skipIf(!have)('WADO-RS frames', () => {
  it('frames/1 is the export’s first frame and the stored tile, byte for byte, and decodes', async () => {
    const res = await as('path-n', `${instancePath('level-0.dcm')}/frames/1`, {
      headers: { accept: 'multipart/related; type="image/jpeg"' },
    });
    expect(res.status).toBe(200);
    const type = res.headers.get('content-type')!;
    expect(type).toMatch(/^multipart\/related; type="image\/jpeg"; boundary=/);
    const got = parts(Buffer.from(await res.arrayBuffer()), type);
    expect(got).toHaveLength(1);
    expect(got[0]!.type).toBe('image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50');
    const first = unpadded(exportFrames(level0())[0]!);
    expect(got[0]!.body.equals(first)).toBe(true);
    const slide = await StoredSlide.open((await ctx.store.open(cmu.id, SLIDE_FILE))!, cmu);
    try {
      expect(got[0]!.body.equals((await slide.readStoredTile(0, 0, 0))!)).toBe(true);
    } finally {
      await slide.close();
    }
    const meta = await sharp(got[0]!.body).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([cmu.tileSize, cmu.tileSize, 'jpeg']);
    const px = await sharp(got[0]!.body).raw().toBuffer();
    expect(px.length).toBe(cmu.tileSize * cmu.tileSize * 3);
  });

  it('a comma list gives those frames in that order, each the export’s; the last (padded edge) frame too', async () => {
    const frames = exportFrames(level0());
    const n = frames.length;
    const res = await as('path-n', `${instancePath('level-0.dcm')}/frames/3,1,${n}`);
    expect(res.status).toBe(200);
    const got = parts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
    expect(got.map((g) => g.location.replace(/.*\/frames\//, ''))).toEqual(['3', '1', String(n)]);
    for (const [i, k] of [2, 0, n - 1].entries())
      expect(got[i]!.body.equals(unpadded(frames[k]!)), `frame ${k + 1}`).toBe(true);
    const level2 = exportFrames(exported.identified.get('level-2.dcm')!);
    const l2 = await as('path-n', `${instancePath('level-2.dcm')}/frames/${level2.length}`);
    const l2parts = parts(Buffer.from(await l2.arrayBuffer()), l2.headers.get('content-type')!);
    expect(l2parts[0]!.body.equals(unpadded(level2[level2.length - 1]!))).toBe(true);
  });

  it('the label instance’s frame is the stored label', async () => {
    const res = await as('path-n', `${instancePath('label.dcm')}/frames/1`);
    const got = parts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
    expect(got[0]!.body.equals(unpadded(exportFrames(exported.identified.get('label.dcm')!)[0]!))).toBe(true);
  });

  it('Accept: transfer syntaxes other than JPEG Baseline are 406; * and octet-stream with * are served', async () => {
    const p = `${instancePath('level-0.dcm')}/frames/1`;
    for (const accept of [
      'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70',
      'multipart/related; type="application/octet-stream"',
      'multipart/related; type="image/jp2"',
      'image/png',
    ]) {
      const res = await as('path-n', p, { headers: { accept } });
      expect(res.status, accept).toBe(406);
      expect(((await res.json()) as { code: string }).code).toBe('NOT_ACCEPTABLE');
    }
    for (const [accept, part] of [
      ['multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50', 'image/jpeg'],
      ['multipart/related; type="image/jpeg"; transfer-syntax=*', 'image/jpeg'],
      ['multipart/related; type="application/octet-stream"; transfer-syntax=*', 'application/octet-stream'],
      [
        'multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.70, multipart/related; type="image/jpeg"; q=0.5',
        'image/jpeg',
      ],
      ['*/*', 'image/jpeg'],
    ] as const) {
      const res = await as('path-n', p, { headers: { accept } });
      expect(res.status, accept).toBe(200);
      const got = parts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
      expect(got[0]!.type.startsWith(part), accept).toBe(true);
    }
    const single = await as('path-n', p, { headers: { accept: 'image/jpeg' } });
    expect(single.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await single.arrayBuffer()).equals(unpadded(exportFrames(level0())[0]!))).toBe(true);
  });

  it('frame numbers out of range are 404 FRAME_NOT_FOUND; malformed ones 400', async () => {
    const n = exportFrames(level0()).length;
    for (const f of ['0', String(n + 1), `1,${n + 1}`, '99999999']) {
      const res = await as('path-n', `${instancePath('level-0.dcm')}/frames/${f}`);
      expect(res.status, f).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('FRAME_NOT_FOUND');
    }
    for (const f of ['abc', '1,,2', '-1', '1.5'])
      expect((await as('path-n', `${instancePath('level-0.dcm')}/frames/${f}`)).status, f).toBe(400);
  });
});

describe.skipIf(!have)('WADO-RS retrieve', () => {
  const DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*';

  it('a series is the export’s files byte for byte, an instance its one file', async () => {
    const res = await as('path-n', `/dicomweb/studies/${studyUid()}/series/${seriesUid()}`, {
      headers: { accept: DICOM },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(
      /^multipart\/related; type="application\/dicom"; boundary=/,
    );
    const got = parts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
    expect(got).toHaveLength(exportedFiles.identified.size);
    const files = [...exportedFiles.identified.values()];
    for (const g of got) {
      expect(g.type).toBe('application/dicom; transfer-syntax=1.2.840.10008.1.2.4.50');
      expect(files.some((f) => f.equals(g.body))).toBe(true);
    }
    const one = await as('path-n', instancePath('level-3.dcm'), {
      headers: {
        accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
      },
    });
    const onePart = parts(Buffer.from(await one.arrayBuffer()), one.headers.get('content-type')!);
    expect(onePart).toHaveLength(1);
    expect(onePart[0]!.body.equals(exportedFiles.identified.get('level-3.dcm')!)).toBe(true);
  });

  it('other transfer syntaxes are 406; another site 404; a de-identified share gets the de-identified files', async () => {
    for (const accept of [
      'multipart/related; type="application/dicom"',
      'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1',
    ])
      expect(
        (await as('path-n', `/dicomweb/studies/${studyUid()}`, { headers: { accept } })).status,
        accept,
      ).toBe(406);
    expect(
      (await as('path-s', `/dicomweb/studies/${studyUid()}`, { headers: { accept: DICOM } })).status,
    ).toBe(404);
    expect(
      (await as('spec-s', `/dicomweb/studies/${studyUid()}`, { headers: { accept: DICOM } })).status,
    ).toBe(404);
    const res = await as('spec-s', `/dicomweb/studies/${studyUid('deidentified')}`, {
      headers: { accept: DICOM },
    });
    const got = parts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
    expect(got.map((g) => g.body.toString('base64')).sort()).toEqual(
      [...exportedFiles.deidentified.values()].map((f) => f.toString('base64')).sort(),
    );
  });
});

describe.skipIf(!have)('WADO-RS rendered and thumbnail', () => {
  it('a level rendered at its own size, JPEG or PNG; a viewport fits; the label as stored', async () => {
    const l2 = cmu.levelInfo[2]!;
    const jpg = await as('path-n', `${instancePath('level-2.dcm')}/rendered`);
    expect(jpg.status).toBe(200);
    expect(jpg.headers.get('content-type')).toBe('image/jpeg');
    const m = await sharp(Buffer.from(await jpg.arrayBuffer())).metadata();
    expect([m.width, m.height]).toEqual([l2.width, l2.height]);
    const png = await as('path-n', `${instancePath('level-2.dcm')}/rendered?viewport=100,100`, {
      headers: { accept: 'image/png' },
    });
    expect(png.headers.get('content-type')).toBe('image/png');
    const pm = await sharp(Buffer.from(await png.arrayBuffer())).metadata();
    expect(pm.format).toBe('png');
    expect(Math.max(pm.width, pm.height)).toBe(100);
    const region = await as('path-n', `${instancePath('level-0.dcm')}/rendered?viewport=64,64,0,0,256,256`);
    const rm = await sharp(Buffer.from(await region.arrayBuffer())).metadata();
    expect([rm.width, rm.height]).toEqual([64, 64]);
    const label = await as('path-n', `${instancePath('label.dcm')}/rendered`);
    const stored = await ctx.tiles.associated(cmu.id, 'label');
    expect(Buffer.from(await label.arrayBuffer()).equals(stored!.body)).toBe(true);
    const small = await as('path-n', `${instancePath('label.dcm')}/thumbnail?viewport=50,50`, {
      headers: { accept: 'image/png' },
    });
    const sm = await sharp(Buffer.from(await small.arrayBuffer())).metadata();
    expect([sm.format, Math.max(sm.width, sm.height)]).toEqual(['png', 50]);
  });

  it('study and series thumbnails are the slide’s, at most 256 px; other image types 406', async () => {
    for (const p of [
      `/dicomweb/studies/${studyUid()}/thumbnail`,
      `/dicomweb/studies/${studyUid()}/series/${seriesUid()}/thumbnail`,
      `/dicomweb/studies/${studyUid()}/series/${seriesUid()}/rendered?viewport=256,256`,
    ]) {
      const res = await as('path-n', p);
      expect(res.status, p).toBe(200);
      const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect(Math.max(m.width, m.height), p).toBe(256);
    }
    const gif = await as('path-n', `/dicomweb/studies/${studyUid()}/thumbnail`, {
      headers: { accept: 'image/gif' },
    });
    expect(gif.status).toBe(406);
    expect((await as('path-n', `${instancePath('level-0.dcm')}/rendered?viewport=0,10`)).status).toBe(400);
  });
});

describe.skipIf(!have)('a de-identified share', () => {
  it('QIDO shows the study under its study code only: no accession, dates, slide name, label or overview', async () => {
    // Their own site's slide, and the shared one.
    const studies = await json('spec-s', '/dicomweb/studies');
    expect(studies).toHaveLength(2);
    const shared = studies.filter((x) => value(x, tag.StudyInstanceUID) === studyUid('deidentified'));
    expect(shared).toHaveLength(1);
    const s = shared[0]!;
    expect(value(s, tag.StudyInstanceUID)).toBe(studyUid('deidentified'));
    expect(value(s, tag.StudyInstanceUID)).not.toBe(studyUid());
    expect(value(s, tag.PatientName)).toEqual({ Alphabetic: 'SO-ABCDEFGH' });
    expect(value(s, tag.AccessionNumber)).toBeUndefined();
    expect(value(s, tag.StudyDate)).toBeUndefined();
    expect(value(s, tag.NumberOfStudyRelatedInstances)).toBe(cmu.levels);
    for (const q of [
      'PatientName=SO-ABC*',
      'PatientName=so-abcdefgh',
      'PatientID=SO-ABCDEFGH',
      'PatientName=SO-ABCDEFG?',
    ])
      expect(
        (await json('spec-s', `/dicomweb/studies?${q}`)).map((x) => value(x, tag.StudyInstanceUID)),
        q,
      ).toEqual([studyUid('deidentified')]);
    expect(await json('spec-s', '/dicomweb/studies?AccessionNumber=H26-0042')).toEqual([]);
    expect(await json('spec-s', '/dicomweb/studies?StudyDate=20260302')).toEqual([]);
    expect(await json('spec-s', `/dicomweb/studies?StudyInstanceUID=${studyUid()}`)).toEqual([]);
    const series = await json(
      'spec-s',
      `/dicomweb/series?includefield=all&StudyInstanceUID=${studyUid('deidentified')}`,
    );
    const instances = await json(
      'spec-s',
      `/dicomweb/studies/${studyUid('deidentified')}/instances?includefield=all`,
    );
    expect(series).toHaveLength(1);
    expect(instances).toHaveLength(cmu.levels);
    const all = JSON.stringify([...shared, ...series, ...instances]);
    for (const leak of [
      'H26-0042',
      '20260302',
      'CMU-1-Small-Region',
      'biopsy',
      cmu.createdAt.slice(0, 10).replace(/-/g, ''),
    ])
      expect(all.includes(leak), leak).toBe(false);
    expect(all).not.toContain('"LABEL"');
    expect(all).not.toContain('"OVERVIEW"');
  });

  it('metadata is the de-identified export’s, and frames are served; identified UIDs and the label are 404', async () => {
    const md = await json('spec-s', `/dicomweb/studies/${studyUid('deidentified')}/metadata`);
    expect(md).toHaveLength(cmu.levels);
    for (const [file, ds] of exported.deidentified) {
      const mine = md.find((m) => value(m, tag.SOPInstanceUID) === ds.SOPInstanceUID)!;
      expect(mine, file).toBeTruthy();
      expect(value(mine, tag.PatientIdentityRemoved)).toBe('YES');
      expect(value(mine, tag.ContainerIdentifier)).toBe('SO-ABCDEFGH');
      expect(value(mine, tag.SeriesInstanceUID)).toBe(ds.SeriesInstanceUID);
    }
    const text = JSON.stringify(md);
    for (const leak of ['H26-0042', '20260302', 'CMU-1-Small-Region', 'biopsy'])
      expect(text.includes(leak), leak).toBe(false);
    const res = await as('spec-s', `${instancePath('level-0.dcm', 'deidentified')}/frames/1`);
    expect(res.status).toBe(200);
    const got = parts(Buffer.from(await res.arrayBuffer()), res.headers.get('content-type')!);
    expect(got[0]!.body.equals(unpadded(exportFrames(level0('deidentified'))[0]!))).toBe(true);
    for (const p of [
      `/dicomweb/studies/${studyUid()}/metadata`,
      `${instancePath('level-0.dcm')}/frames/1`,
      `/dicomweb/studies/${studyUid('deidentified')}/series/${seriesUid('deidentified')}/instances/${String(exported.identified.get('label.dcm')!.SOPInstanceUID)}/frames/1`,
      `/dicomweb/studies/${studyUid('deidentified')}/series/${seriesUid('deidentified')}/instances/${String(exported.identified.get('label.dcm')!.SOPInstanceUID)}/rendered`,
    ])
      expect((await as('spec-s', p)).status, p).toBe(404);
  });
});

describe.skipIf(!have)('revocation', () => {
  it('a revoked bearer token loses access at once', async () => {
    const p = `${instancePath('level-0.dcm')}/frames/1`;
    expect((await as('path-n2', p)).status).toBe(200);
    expect((await as('path-n2', `/dicomweb/studies/${studyUid()}/metadata`)).status).toBe(200);
    expect(await ctx.auth.revokeToken(tokenIds['path-n2']!)).toBe(true);
    expect((await as('path-n2', p)).status).toBe(401);
    expect((await as('path-n2', '/dicomweb/studies')).status).toBe(401);
    expect((await as('path-n2', `/dicomweb/studies/${studyUid()}/metadata`)).status).toBe(401);
  });

  it('a revoked share loses its study at once', async () => {
    const p = `${instancePath('level-0.dcm', 'deidentified')}/frames/1`;
    expect((await as('spec-s', p)).status).toBe(200);
    const share = await ctx.db
      .selectFrom('shares')
      .select('id')
      .where('slide_id', '=', cmu.id)
      .where('grantee_user_id', '=', ids['spec-s']!)
      .executeTakeFirstOrThrow();
    const res = await as('path-n', `/api/shares/${share.id}`, { method: 'DELETE' });
    expect(res.status).toBeLessThan(300);
    expect((await as('spec-s', p)).status).toBe(404);
    const left = (await json('spec-s', '/dicomweb/studies')).map((x) => value(x, tag.StudyInstanceUID));
    expect(left).toHaveLength(1);
    expect(left).not.toContain(studyUid('deidentified'));
  });
});
