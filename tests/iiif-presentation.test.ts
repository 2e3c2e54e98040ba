/**
 * IIIF Presentation 3 manifests of a slide and of a case, as IIIF viewers (Mirador, Universal Viewer)
 * read them: checked against the spec's rules here, parsed by two IIIF libraries nobody here wrote
 * (Allmaps' zod schemas and manifesto.js, the parser Mirador uses), every image they point at fetched.
 * Access as the slide and case routes: another site gets 404; a de-identified share shows the study
 * code and nothing that names the patient or the case.
 */
import { IIIF } from '@allmaps/iiif-parser';
import * as manifesto from 'manifesto.js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerContext } from '../server/context.ts';
import { ingest } from '../tiles/index.ts';
import { type TestServer, startTestServer } from './helpers/server.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
const ACCESSION = 'H26-0042';
/** Scanned files named as labs name them: accession and patient. */
const CMU_NAME = `${ACCESSION} SMITHSON Jane`;
const BOXES_NAME = `${ACCESSION} B2 SMITHSON`;
const STUDY = 'SO-ABCDEFGH';
const CONTEXT = 'http://iiif.io/api/presentation/3/context.json';

let t: TestServer | undefined;
let ctx: ServerContext;
let base = '';
let cmu = '';
let boxes = '';
let caseId = '';
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};

beforeAll(async () => {
  if (!have) return;
  t = await startTestServer('tessera-iiif-p3-', [
    ['lab-n', 'lab_manager', 'north'],
    ['path-n', 'pathologist', 'north'],
    ['path-s', 'pathologist', 'south'],
    ['reader-s', 'pathologist', 'south'],
    ['spec-s', 'specialist', 'south'],
  ]);
  ({ ctx, base } = t);
  Object.assign(tokens, t.tokens);
  Object.assign(ids, t.ids);
  for (const [file, name] of [
    ['aperio/CMU-1-Small-Region.svs', CMU_NAME],
    ['generic-tiff/openslide-boxes.tiff', BOXES_NAME],
  ] as const) {
    const { manifest } = await ingest(slidePath(file), ctx.store, { tileSize: 256, jpegQuality: 92, name });
    await ctx.slides.register(manifest, 'north');
    if (file.startsWith('aperio')) cmu = manifest.id;
    else boxes = manifest.id;
  }
  const c = await ctx.cases.create({
    accession: ACCESSION,
    siteId: 'north',
    specimenType: 'biopsy',
    subspecialty: 'gi',
    priority: 'routine',
    receivedAt: '2026-03-02',
  });
  caseId = c.id;
  await ctx.cases.attachSlide(caseId, cmu);
  await ctx.cases.attachSlide(caseId, boxes);
  // Both slides shared de-identified, as a second opinion sends them: to a specialist, and to a
  // pathologist of the other site who then reads the case.
  for (const slide of [cmu, boxes])
    for (const user of ['spec-s', 'reader-s']) {
      const res = await as('lab-n', `/api/slides/${slide}/shares`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          userId: ids[user],
          deidentified: true,
          studyCode: STUDY,
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        }),
      });
      expect(res.status).toBe(201);
    }
}, 120_000);

afterAll(() => t?.close());

function as(user: string, p: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${tokens[user]}`);
  return fetch(p.startsWith('http') ? p : `${base}${p}`, { ...init, headers });
}

type Obj = Record<string, unknown>;
const objs = (v: unknown): Obj[] => {
  expect(Array.isArray(v), JSON.stringify(v)?.slice(0, 200)).toBe(true);
  return v as Obj[];
};

/** A language map: `{ lang: [strings] }`, at least one entry. */
function expectLanguageMap(v: unknown, where: string): void {
  expect(typeof v === 'object' && v !== null && !Array.isArray(v), where).toBe(true);
  const entries = Object.entries(v as Obj);
  expect(entries.length, where).toBeGreaterThan(0);
  for (const [lang, values] of entries) {
    expect(lang, where).toMatch(/^([a-zA-Z-]+|none)$/);
    expect(Array.isArray(values) && values.every((s) => typeof s === 'string'), where).toBe(true);
  }
}

const HTTP_URI = /^https?:\/\/\S+$/;

/** An Image with an ImageService3: the image's URL, its size, the service's id and profile. */
function expectImage(v: Obj, where: string): { service: string } {
  expect(v.id, where).toMatch(HTTP_URI);
  expect(v.type, where).toBe('Image');
  expect(v.format, where).toBe('image/jpeg');
  expect(Number.isInteger(v.width) && Number.isInteger(v.height), where).toBe(true);
  const svc = objs(v.service);
  expect(svc).toHaveLength(1);
  expect(svc[0]).toMatchObject({ type: 'ImageService3', profile: 'level2' });
  expect(svc[0]!.id, where).toMatch(HTTP_URI);
  return { service: svc[0]!.id as string };
}

/**
 * The rules of Presentation API 3.0 a manifest of slides must keep (§3, §4, §5.2-5.3, §5.5-5.6 and
 * the Annotation model): context, types, ids, language maps, integer dimensions, at least one item
 * at each level, painting annotations targeting their Canvas. Returns the canvases.
 */
function expectPresentation3(m: Obj): Obj[] {
  expect(m['@context']).toBe(CONTEXT);
  expect(m.type).toBe('Manifest');
  expect(m.id).toMatch(HTTP_URI);
  expectLanguageMap(m.label, 'manifest label');
  for (const md of m.metadata === undefined ? [] : objs(m.metadata)) {
    expectLanguageMap(md.label, 'metadata label');
    expectLanguageMap(md.value, 'metadata value');
  }
  for (const t of objs(m.thumbnail)) expectImage(t, 'manifest thumbnail');
  const canvases = objs(m.items);
  expect(canvases.length).toBeGreaterThan(0);
  const seen = new Set<string>();
  for (const c of canvases) {
    expect(c.type).toBe('Canvas');
    expect(c.id).toMatch(HTTP_URI);
    // Canvas ids must not carry a fragment (§5.3).
    expect(String(c.id)).not.toContain('#');
    expect(seen.has(String(c.id))).toBe(false);
    seen.add(String(c.id));
    expectLanguageMap(c.label, 'canvas label');
    expect(Number.isInteger(c.width) && (c.width as number) > 0).toBe(true);
    expect(Number.isInteger(c.height) && (c.height as number) > 0).toBe(true);
    for (const t of objs(c.thumbnail)) expectImage(t, 'canvas thumbnail');
    for (const s of c.service === undefined ? [] : objs(c.service)) {
      expect(s.id, 'service id').toMatch(HTTP_URI);
      expect(typeof s.type, 'service type').toBe('string');
    }
    const pages = objs(c.items);
    expect(pages.length).toBeGreaterThan(0);
    for (const page of pages) {
      expect(page.type).toBe('AnnotationPage');
      expect(page.id).toMatch(HTTP_URI);
      const annos = objs(page.items);
      expect(annos.length).toBeGreaterThan(0);
      for (const a of annos) {
        expect(a.type).toBe('Annotation');
        expect(a.id).toMatch(HTTP_URI);
        expect(a.motivation).toBe('painting');
        expect(a.target).toBe(c.id);
        expectImage(a.body as Obj, 'painting body');
      }
    }
  }
  return canvases;
}

const painting = (c: Obj): Obj => objs(objs(c.items)[0]!.items)[0]!.body as Obj;

/** Fetch an image URL as `user` and return its decoded size. */
async function imageSize(user: string, url: string): Promise<[number, number]> {
  const res = await as(user, url);
  expect(res.status, url).toBe(200);
  expect(res.headers.get('content-type'), url).toBe('image/jpeg');
  const m = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
  return [m.width, m.height];
}

/** Everything the manifest points at works for `user`: info.json of each service, bodies, thumbnails. */
async function expectResolves(user: string, canvases: Obj[]): Promise<void> {
  for (const c of canvases) {
    const body = painting(c);
    const { service } = expectImage(body, 'painting body');
    const info = await as(user, `${service}/info.json`);
    expect(info.status).toBe(200);
    const json = (await info.json()) as Obj;
    expect(json).toMatchObject({ id: service, type: 'ImageService3', width: c.width, height: c.height });
    expect(await imageSize(user, String(body.id))).toEqual([body.width, body.height]);
    const thumb = objs(c.thumbnail)[0]!;
    expect(await imageSize(user, String(thumb.id))).toEqual([thumb.width, thumb.height]);
  }
}

/** What other IIIF software makes of it: Allmaps' schema parse and Mirador's manifesto.js. */
function parsedElsewhere(m: Obj): { labels: string[]; sizes: [number, number][]; services: string[] } {
  const parsed = IIIF.parse(m);
  expect(parsed.type).toBe('manifest');
  if (parsed.type !== 'manifest') throw new Error('not a manifest');
  expect(parsed.majorVersion).toBe(3);
  const allmaps = parsed.canvases.map((c) => [c.width, c.height, c.image.uri, c.image.majorVersion]);
  const mf = manifesto.parseManifest(m) as manifesto.Manifest;
  const canvases = mf.getSequences()[0]!.getCanvases();
  const fromManifesto = canvases.map((c) => {
    const body = c.getContent()[0]!.getBody()[0]!;
    return [c.getWidth(), c.getHeight(), body.getServices()[0]!.id, 3];
  });
  // Both read the same canvases, sizes and image services.
  expect(fromManifesto).toEqual(allmaps);
  return {
    labels: canvases.map((c) => c.getLabel().getValue() ?? ''),
    sizes: canvases.map((c) => [c.getWidth(), c.getHeight()]),
    services: canvases.map((c) => c.getContent()[0]!.getBody()[0]!.getServices()[0]!.id),
  };
}

async function manifestOf(user: string, p: string): Promise<Obj> {
  const res = await as(user, p);
  expect(res.status, p).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  expect(res.headers.get('cache-control')).toBe('private, no-store');
  return (await res.json()) as Obj;
}

describe.skipIf(!have)('GET /iiif/3/{id}/manifest.json', () => {
  it('is a Presentation 3 Manifest: one Canvas the slide’s size, painted by its Image API service', async () => {
    const m = await manifestOf('path-n', `/iiif/3/${cmu}/manifest.json`);
    expect(m.id).toBe(`${base}/iiif/3/${cmu}/manifest.json`);
    expect(m.label).toEqual({ none: [CMU_NAME] });
    const [canvas] = expectPresentation3(m);
    expect(canvas).toMatchObject({ width: 2220, height: 2967 });
    expect(painting(canvas!).service).toEqual([
      { id: `${base}/iiif/3/${cmu}`, type: 'ImageService3', profile: 'level2' },
    ]);
    await expectResolves('path-n', [canvas!]);
    expect(parsedElsewhere(m)).toEqual({
      labels: [CMU_NAME],
      sizes: [[2220, 2967]],
      services: [`${base}/iiif/3/${cmu}`],
    });
  });

  it('states the scanner’s 0.499 µm/px: a physical dimensions service and metadata', async () => {
    const m = await manifestOf('path-n', `/iiif/3/${cmu}/manifest.json`);
    const canvas = objs(m.items)[0]!;
    const physdim = objs(canvas.service).find(
      (s) => s.profile === 'http://iiif.io/api/annex/services/physdim',
    );
    expect(physdim).toMatchObject({ type: 'PhysicalDimensions', physicalUnits: 'mm' });
    // Canvas width x scale = the scanned width on the glass: 2220 px x 0.499 µm = 1.108 mm.
    expect((canvas.width as number) * (physdim!.physicalScale as number)).toBeCloseTo(1.10778, 5);
    expect(canvas.metadata).toContainEqual({
      label: { en: ['Pixel size'] },
      value: { none: ['0.499 µm/px'] },
    });
    expect(canvas.metadata).toContainEqual({ label: { en: ['Objective'] }, value: { none: ['20x'] } });
  });

  it('JSON-LD when asked for it; the same body', async () => {
    const res = await as('path-n', `/iiif/3/${cmu}/manifest.json`, {
      headers: { accept: 'application/ld+json' },
    });
    expect(res.headers.get('content-type')).toMatch(
      /^application\/ld\+json;\s*profile="http:\/\/iiif\.io\/api\/presentation\/3\/context\.json"/,
    );
    expect(((await res.json()) as Obj).id).toBe(`${base}/iiif/3/${cmu}/manifest.json`);
  });

  it('a de-identified share: the study code, nothing that names the patient or the case', async () => {
    for (const slide of [cmu, boxes]) {
      const m = await manifestOf('spec-s', `/iiif/3/${slide}/manifest.json`);
      expect(m.label).toEqual({ none: [STUDY] });
      const canvases = expectPresentation3(m);
      expect(canvases[0]!.label).toEqual({ none: [STUDY] });
      const text = JSON.stringify(m).toLowerCase();
      for (const leak of [ACCESSION, 'H260042', 'SMITHSON', 'CMU-1', 'boxes', '2026-03-02', caseId])
        expect(text.includes(leak.toLowerCase()), `${slide} manifest holds ${leak}`).toBe(false);
      await expectResolves('spec-s', canvases);
      expect(parsedElsewhere(m).labels).toEqual([STUDY]);
    }
  });

  it('another site without a share gets 404, as for a slide that does not exist; audited when seen', async () => {
    const res = await as('path-s', `/iiif/3/${cmu}/manifest.json`);
    expect(res.status).toBe(404);
    const body = await res.text();
    expect(body).not.toContain('SMITHSON');
    expect((await as('path-s', `/iiif/3/${'0'.repeat(32)}/manifest.json`)).status).toBe(404);
    expect((await as('path-s', `/iiif/3/not-a-slide/manifest.json`)).status).toBe(404);
    const views = await ctx.db
      .selectFrom('audit')
      .select(['user_id', 'target_id', 'detail'])
      .where('action', '=', 'slide.view')
      .execute();
    expect(views.filter((v) => v.user_id === ids['path-s'])).toEqual([]);
    const spec = views.find((v) => v.user_id === ids['spec-s'] && v.target_id === cmu);
    expect(JSON.parse(spec!.detail)).toMatchObject({ via: 'iiif-manifest' });
  });
});

describe.skipIf(!have)('GET /iiif/3/cases/{caseId}/manifest.json', () => {
  it('one Canvas per slide of the case in reading order, labelled with the accession, audited', async () => {
    const m = await manifestOf('lab-n', `/iiif/3/cases/${caseId}/manifest.json`);
    expect(m.id).toBe(`${base}/iiif/3/cases/${caseId}/manifest.json`);
    expect(m.label).toEqual({ none: [ACCESSION] });
    expect(m.behavior).toEqual(['individuals']);
    const canvases = expectPresentation3(m);
    await expectResolves('lab-n', canvases);
    // "H26-0042 B2 SMITHSON" reads before "H26-0042 SMITHSON Jane".
    expect(parsedElsewhere(m)).toEqual({
      labels: [BOXES_NAME, CMU_NAME],
      sizes: [
        [300, 250],
        [2220, 2967],
      ],
      services: [`${base}/iiif/3/${boxes}`, `${base}/iiif/3/${cmu}`],
    });
    // The same Canvas as in the slide's own manifest.
    const single = await manifestOf('lab-n', `/iiif/3/${cmu}/manifest.json`);
    expect(canvases[1]).toEqual(objs(single.items)[0]);
    const views = await ctx.db
      .selectFrom('audit')
      .select(['target_id', 'detail'])
      .where('action', '=', 'slide.view')
      .where('user_id', '=', ids['lab-n']!)
      .execute();
    expect(views.map((v) => v.target_id).sort()).toEqual([boxes, cmu].sort());
    for (const v of views) expect(JSON.parse(v.detail)).toMatchObject({ via: 'iiif-manifest' });
  });

  it('read through de-identified shares: the study code, never the accession or a file name', async () => {
    // The case is read at the other site, by a pathologist who sees its slides only de-identified.
    await ctx.cases.update(caseId, { assignedTo: ids['reader-s']! });
    try {
      const m = await manifestOf('reader-s', `/iiif/3/cases/${caseId}/manifest.json`);
      expect(m.label).toEqual({ none: [STUDY] });
      const canvases = expectPresentation3(m);
      expect(canvases.map((c) => c.label)).toEqual([{ none: [STUDY] }, { none: [STUDY] }]);
      const text = JSON.stringify(m).toLowerCase();
      for (const leak of [ACCESSION, 'H260042', 'SMITHSON', 'CMU-1', 'boxes', '2026-03-02'])
        expect(text.includes(leak.toLowerCase()), `case manifest holds ${leak}`).toBe(false);
      await expectResolves('reader-s', canvases);
    } finally {
      await ctx.cases.update(caseId, { assignedTo: null });
    }
  });

  it('a case the user may not see is 404, whatever their shares of its slides; so are unknown and malformed ids', async () => {
    for (const user of ['path-s', 'spec-s', 'path-n']) {
      const res = await as(user, `/iiif/3/cases/${caseId}/manifest.json`);
      expect(res.status, user).toBe(404);
      expect(await res.text()).not.toContain(ACCESSION);
    }
    for (const p of [
      `/iiif/3/cases/00000000-0000-4000-8000-000000000000/manifest.json`,
      `/iiif/3/cases/not-a-case/manifest.json`,
      `/iiif/3/cases/${caseId.toUpperCase()}/manifest.json`,
    ])
      expect((await as('lab-n', p)).status, p).toBe(404);
  });

  it('a case with no slide to show is 404 (a Manifest needs a Canvas)', async () => {
    const empty = await ctx.cases.create({
      accession: 'H26-0099',
      siteId: 'north',
      specimenType: 'biopsy',
      subspecialty: 'gi',
      priority: 'routine',
      receivedAt: '2026-03-03',
    });
    const res = await as('lab-n', `/iiif/3/cases/${empty.id}/manifest.json`);
    expect(res.status).toBe(404);
  });
});
