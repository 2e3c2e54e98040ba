/**
 * The library at archive scale over HTTP: keyset pages of slides, cases and the audit trail (every
 * row exactly once while rows are added between pages, in every sort order), filters run by the
 * database, bad cursors and limits refused with a code, other sites' slides never listed or counted
 * (guessed ids, forged cursors); slide management (delete refused while in an open case, a site's
 * copy or the whole slide with its stored files, rename, case links) audited; a duplicate upload
 * names the slide it already is.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AuditPage,
  CaseDto,
  CasePage,
  JobDto,
  SlideDto,
  SlidePage,
  UploadAccepted,
} from '../protocol/index.ts';
import { createApp, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { encodeCursor, nameKey } from '../server/library/paging.ts';
import { stainOf } from '../server/library/stain.ts';
import { userFetch, userWithToken } from './helpers/auth.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tok: Record<string, string> = {};
const uid: Record<string, string> = {};
const as = userFetch(() => base, tok);
const body = async <T>(r: Response): Promise<T> => (await r.json()) as T;
const send = (user: string, p: string, method: string, b?: unknown) =>
  as(user, p, { method, ...(b === undefined ? {} : { body: JSON.stringify(b) }) });

let n = 0;
const hexId = (): string => (++n).toString(16).padStart(8, '0') + randomUUID().replace(/-/g, '').slice(0, 24);
const FORMATS = ['aperio-svs', 'hamamatsu-ndpi', 'dicom'] as const;

/** A slide owned by `site` (as register() records one), with the name and date that site gave it. */
async function slide(site: string, name: string, at: string, format = 'aperio-svs'): Promise<string> {
  const id = hexId();
  await ctx.db
    .insertInto('slides')
    .values({
      id,
      name,
      source_format: format,
      width: 1000,
      height: 800,
      tile_size: 256,
      levels: 3,
      mpp_x: 0.5,
      mpp_y: 0.5,
      objective_power: 20,
      associated: '[]',
      created_at: at,
      site_id: site,
      stain: stainOf(name),
    })
    .execute();
  await own(id, site, name, at);
  return id;
}
const own = (id: string, site: string, name: string, at: string) =>
  ctx.db
    .insertInto('slide_sites')
    .values({ slide_id: id, site_id: site, name, created_at: at, uploaded_by: null, stain: stainOf(name) })
    .execute();

async function newCase(accession: string, siteId: string, slides: string[] = []): Promise<CaseDto> {
  const r = await send('admin', '/api/cases', 'POST', {
    accession,
    siteId,
    specimenType: 'biopsy',
    subspecialty: 'skin',
    priority: 'routine',
    receivedAt: new Date(Date.UTC(2026, 0, 1) + accession.length * 1000 + n++ * 60_000).toISOString(),
  });
  expect(r.status).toBe(201);
  const c = await body<CaseDto>(r);
  for (const s of slides) await ctx.cases.attachSlide(c.id, s);
  return c;
}

/** Every page of a list, following nextCursor; `between` runs before each next page. */
async function all(
  user: string,
  p: string,
  between: (page: number) => Promise<void> = async () => {},
): Promise<SlideDto[]> {
  const out: SlideDto[] = [];
  let cursor = '';
  for (let i = 0; i < 200; i++) {
    const r = await as(user, `${p}${p.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(cursor)}`);
    expect(r.status, p).toBe(200);
    const page = await body<SlidePage>(r);
    expect(Object.keys(page).sort()).toEqual(['items', 'nextCursor']);
    out.push(...page.items);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
    await between(i);
  }
  throw new Error('did not end');
}

const north: { id: string; name: string; at: string; format: string }[] = [];
const t = (day: number, min = 0) => new Date(Date.UTC(2025, 0, 1 + day, 8, min)).toISOString();

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-library-'));
  ctx = await createServerContext(
    loadConfig({ dataDir, port: 0, host: '127.0.0.1', sharpConcurrency: 2 }, {}),
    () => {},
  );
  for (const [name, role, siteId] of [
    ['admin', 'admin', 'north'],
    ['lm', 'lab_manager', 'north'],
    ['ann', 'pathologist', 'north'],
    ['spec', 'specialist', 'north'],
    ['slm', 'lab_manager', 'south'],
    ['sue', 'pathologist', 'south'],
    ['ed', 'pathologist', 'east'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tok[name] = u.token;
    uid[name] = u.id;
  }
  // 60 north slides: names with mixed case, stains, three formats, two of them on the same minute.
  const stains = ['HE', 'PAS', 'Ki67', 'HER2', ''];
  for (let i = 0; i < 60; i++) {
    const name =
      `${i % 3 === 0 ? 'n' : 'N'}26-${String(1000 + ((i * 37) % 60)).padStart(4, '0')} A${i % 4} ${stains[i % 5]}`.trim();
    const at = t(i % 30, i % 7 === 0 ? 0 : i);
    const format = FORMATS[i % 3]!;
    north.push({ id: await slide('north', name, at, format), name, at, format });
  }
  server = createApp(ctx).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await ctx.queue.idle();
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const byteCmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('keyset pages of the library', () => {
  it('every slide exactly once across pages in each order, while slides are added between pages', async () => {
    const orders: [string, (a: SlideDto, b: SlideDto) => number][] = [
      ['sort=date&dir=desc', (a, b) => byteCmp(b.createdAt, a.createdAt) || byteCmp(b.id, a.id)],
      ['sort=date&dir=asc', (a, b) => byteCmp(a.createdAt, b.createdAt) || byteCmp(a.id, b.id)],
      ['sort=name', (a, b) => byteCmp(nameKey(a.name), nameKey(b.name)) || byteCmp(a.id, b.id)],
      ['sort=name&dir=desc', (a, b) => byteCmp(nameKey(b.name), nameKey(a.name)) || byteCmp(b.id, a.id)],
    ];
    const added: string[] = [];
    for (const [q, cmp] of orders) {
      const before = new Set((await all('lm', `/api/slides?limit=200&${q}`)).map((s) => s.id));
      const seen = await all('ann', `/api/slides?limit=7&${q}`, async (i) => {
        // New slides land before, inside and after the part already read.
        added.push(await slide('north', `Z new ${i} ${q}`, t(i % 40, 59)));
        added.push(await slide('north', `a new ${i} ${q}`, t(-1 - i)));
      });
      const ids = seen.map((s) => s.id);
      expect(new Set(ids).size, `${q}: no slide twice`).toBe(ids.length);
      for (const id of before) expect(ids, `${q}: ${id} listed`).toContain(id);
      expect(
        [...seen].sort(cmp).map((s) => s.id),
        `${q}: in order`,
      ).toEqual(ids);
    }
    expect(added.length).toBeGreaterThan(20);
  });

  it('filters run in the database: stain, format, date range, case-blind search, case', async () => {
    // Among the 60 made first (the test before added more).
    const mine = new Set(north.map((s) => s.id));
    const listed = async (q: string) =>
      (await all('ann', `/api/slides?limit=9&${q}`))
        .map((s) => s.id)
        .filter((id) => mine.has(id))
        .sort();
    const ids = (f: (s: (typeof north)[number]) => boolean) =>
      north
        .filter(f)
        .map((s) => s.id)
        .sort();
    expect(await listed('stain=ki67')).toEqual(ids((s) => s.name.endsWith('Ki67')));
    expect(await listed('format=dicom&stain=he')).toEqual(
      ids((s) => s.format === 'dicom' && s.name.endsWith('HE')),
    );
    expect(await listed('from=2025-01-03&to=2025-01-05')).toEqual(
      ids((s) => s.at >= '2025-01-03' && s.at < '2025-01-06'),
    );
    expect(await listed(`q=${encodeURIComponent('n26-101')}`)).toEqual(ids((s) => /^n26-101/i.test(s.name)));
    // LIKE's wildcards are plain characters in a search.
    expect(await listed(`q=${encodeURIComponent('N26_1')}`)).toEqual([]);
    expect(await listed(`q=${encodeURIComponent('%')}`)).toEqual([]);
    await newCase('N26-FILTER', 'north', [north[0]!.id, north[1]!.id]);
    // A case filter lists a case's slides for whoever may see the case: its site's lab manager, not
    // a pathologist it is not assigned to.
    const ofCase = async (user: string) =>
      (await all(user, '/api/slides?limit=9&case=N26-FILTER')).map((s) => s.id).sort();
    expect(await ofCase('lm')).toEqual([north[0]!.id, north[1]!.id].sort());
    expect(await ofCase('ann')).toEqual([]);
    // Older clients: no cursor, a plain array (the first page).
    const legacy = await body<SlideDto[]>(await as('ann', '/api/slides?stain=ki67'));
    expect(legacy.map((s) => s.id).sort()).toEqual(ids((s) => s.name.endsWith('Ki67')));
  });

  it('shared slides are merged in the same order, each once; site= picks the sharing site', async () => {
    const shared: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = await slide('south', `South ${i % 2 ? 'alpha' : 'Omega'} ${i} HE`, t(i * 4, 30));
      shared.push(id);
      const r = await send('slm', `/api/slides/${id}/shares`, 'POST', {
        siteId: 'north',
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        deidentified: i === 5,
        ...(i === 5 ? { studyCode: 'STUDY-77' } : {}),
      });
      expect(r.status).toBe(201);
    }
    const unshared = await slide('south', 'South private', t(3));
    for (const q of ['sort=name', 'sort=date', 'sort=name&dir=desc']) {
      const seen = await all('ann', `/api/slides?limit=5&${q}`);
      const ids = seen.map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of shared) expect(ids.filter((x) => x === id)).toHaveLength(1);
      expect(ids).not.toContain(unshared);
      const deid = seen.find((s) => s.id === shared[5])!;
      expect(deid).toMatchObject({ name: 'STUDY-77', deidentified: true, access: 'share' });
    }
    const south = await all('ann', '/api/slides?limit=4&site=south');
    expect(south.map((s) => s.id).sort()).toEqual([...shared].sort());
    expect((await all('ann', '/api/slides?limit=50&site=north')).every((s) => s.access === 'site')).toBe(
      true,
    );
    expect(await all('ann', `/api/slides?limit=50&q=${encodeURIComponent('south private')}`)).toEqual([]);
  });

  it('a bad cursor or limit is a 400 with a code; a cursor of another order too', async () => {
    const code = async (p: string) => {
      const r = await as('ann', p);
      return [r.status, (await body<{ code: string }>(r)).code];
    };
    expect(await code('/api/slides?cursor=not-a-cursor!')).toEqual([400, 'INVALID_CURSOR']);
    expect(await code(`/api/slides?cursor=${Buffer.from('{"a":1}').toString('base64url')}`)).toEqual([
      400,
      'INVALID_CURSOR',
    ]);
    const first = await body<SlidePage>(await as('ann', '/api/slides?cursor=&limit=3&sort=date'));
    expect(await code(`/api/slides?cursor=${first.nextCursor}&sort=name`)).toEqual([400, 'INVALID_CURSOR']);
    expect(await code(`/api/cases?cursor=${first.nextCursor}`)).toEqual([400, 'INVALID_CURSOR']);
    for (const limit of ['0', '201', '-1', 'ten', '1.5'])
      expect(await code(`/api/slides?cursor=&limit=${limit}`), limit).toEqual([400, 'INVALID_PARAMETER']);
    expect(await code('/api/slides?cursor=&sort=size')).toEqual([400, 'INVALID_PARAMETER']);
    expect(await code('/api/slides?cursor=&from=yesterday')).toEqual([400, 'INVALID_PARAMETER']);
    const r = await as('lm', '/api/audit?cursor=zzz');
    expect([r.status, (await body<{ code: string }>(r)).code]).toEqual([400, 'INVALID_CURSOR']);
  });

  it("another site's slides are never listed or counted: guessed ids, forged cursors, filters", async () => {
    expect(await all('ed', '/api/slides?limit=50')).toEqual([]);
    const target = north[10]!;
    // A cursor placed right before a north slide, in each order: still nothing.
    for (const [sort, dir, key] of [
      ['date', 'desc', '9999'],
      ['name', 'asc', ''],
      ['date', 'asc', target.at],
    ] as const) {
      const cursor = encodeCursor({ order: `slides:${sort}:${dir}`, key, id: '0'.repeat(32) });
      const page = await body<SlidePage>(
        await as('ed', `/api/slides?cursor=${cursor}&sort=${sort}&dir=${dir}&limit=200`),
      );
      expect(page).toEqual({ items: [], nextCursor: null });
    }
    for (const q of [
      `q=${encodeURIComponent(target.name)}`,
      'site=north',
      'case=N26-FILTER',
      'stain=he',
      'format=dicom',
    ])
      expect(await all('ed', `/api/slides?limit=50&${q}`), q).toEqual([]);
    // A guessed id: the same 404 as an id that does not exist, for reading and for every change.
    const nothing = 'f'.repeat(32);
    for (const id of [target.id, nothing]) {
      expect((await as('ed', `/api/slides/${id}`)).status).toBe(404);
      expect((await send('ed', `/api/slides/${id}`, 'PATCH', { name: 'mine' })).status).toBe(404);
      expect((await send('ed', `/api/slides/${id}`, 'DELETE')).status).toBe(404);
      expect((await send('ed', `/api/slides/${id}/cases`, 'POST', { accession: 'N26-FILTER' })).status).toBe(
        404,
      );
    }
  });
});

describe('cases and the audit trail in pages', () => {
  it('cases: each once across pages in both orders; a pathologist pages through their own only', async () => {
    const made: CaseDto[] = [];
    for (let i = 0; i < 23; i++)
      made.push(await newCase(`P26-${String(i).padStart(3, '0')}`, i % 2 ? 'north' : 'south'));
    for (const c of made.slice(0, 5))
      await send('admin', `/api/cases/${c.id}`, 'PATCH', { assignedTo: uid['ann'] });
    for (const q of [
      'sort=received',
      'sort=received&dir=desc',
      'sort=accession',
      'sort=accession&dir=desc',
    ]) {
      const ids: string[] = [];
      let cursor = '';
      for (;;) {
        const p = await body<CasePage>(await as('lm', `/api/cases?limit=4&q=P26-&${q}&cursor=${cursor}`));
        ids.push(...p.items.map((c) => c.id));
        if (!p.nextCursor) break;
        cursor = p.nextCursor;
        // A case added meanwhile is listed at most once.
        await newCase(`P26-X${ids.length}${q.length}`, 'north');
      }
      expect(new Set(ids).size).toBe(ids.length);
      for (const c of made) expect(ids).toContain(c.id);
    }
    const mine = await body<CasePage>(await as('ann', '/api/cases?cursor=&limit=200'));
    expect(mine.items.map((c) => c.id).sort()).toEqual(
      made
        .slice(0, 5)
        .map((c) => c.id)
        .sort(),
    );
    const site = await body<CasePage>(await as('lm', '/api/cases?cursor=&limit=200&site=south&q=P26-0'));
    expect(site.items.every((c) => c.siteId === 'south')).toBe(true);
    expect((await as('spec', '/api/cases?cursor=')).status).toBe(403);
  });

  it("audit: a lab manager pages through their site's trail, newest first, each entry once", async () => {
    const ids: number[] = [];
    let cursor = '';
    for (;;) {
      const p = await body<AuditPage>(await as('slm', `/api/audit?limit=3&cursor=${cursor}`));
      ids.push(...p.entries.map((e) => e.id));
      for (const e of p.entries) expect(e.siteId === 'south' || e.targetSiteId === 'south').toBe(true);
      if (!p.nextCursor) break;
      cursor = p.nextCursor;
    }
    expect(ids.length).toBeGreaterThan(3);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('managing slides', () => {
  const audit = async (action: string) =>
    (await body<AuditPage>(await as('admin', `/api/audit?action=${action}&limit=50`))).entries;

  it('delete: refused while the slide is in an open case, then allowed; a site copy, then the whole slide', async () => {
    const id = await slide('north', 'Shared block A1 HE', t(50));
    await own(id, 'south', 'South name of it', t(51));
    const c = await newCase('N26-OPEN', 'north', [id]);
    expect((await send('ann', `/api/slides/${id}`, 'DELETE')).status).toBe(403);
    expect((await send('sue', `/api/slides/${id}`, 'DELETE')).status).toBe(403);
    const refused = await send('lm', `/api/slides/${id}`, 'DELETE');
    expect(refused.status).toBe(409);
    expect((await body<{ code: string; message: string }>(refused)).message).toMatch(/open case N26-OPEN/);
    expect((await as('ann', `/api/slides/${id}`)).status).toBe(200);
    await send('admin', `/api/cases/${c.id}`, 'PATCH', { status: 'reported' });
    expect((await send('lm', `/api/slides/${id}`, 'DELETE')).status).toBe(204);
    // North's copy is gone; south still has its own, under its own name.
    expect((await as('ann', `/api/slides/${id}`)).status).toBe(404);
    expect(await all('ann', `/api/slides?limit=50&q=shared%20block`)).toEqual([]);
    expect(await body<SlideDto>(await as('sue', `/api/slides/${id}`))).toMatchObject({
      name: 'South name of it',
    });
    expect((await send('slm', `/api/slides/${id}`, 'DELETE')).status).toBe(204);
    expect((await as('admin', `/api/slides/${id}`)).status).toBe(404);
    expect(
      await ctx.db.selectFrom('case_slides').select('case_id').where('slide_id', '=', id).execute(),
    ).toEqual([]);
    const entries = (await audit('slide.delete')).filter((e) => e.targetId === id);
    expect(entries.map((e) => [e.userName, e.detail.whole])).toEqual([
      ['slm', true],
      ['lm', false],
    ]);
  });

  it('rename: the site gives its own name (another owner keeps theirs), audited; bad names refused', async () => {
    const id = await slide('north', 'Old name HE', t(60));
    await own(id, 'south', 'South keeps this', t(61));
    const r = await send('ann', `/api/slides/${id}`, 'PATCH', { name: '  New name Ki67  ' });
    expect(r.status).toBe(200);
    expect(await body<SlideDto>(r)).toMatchObject({ name: 'New name Ki67' });
    expect((await all('ann', '/api/slides?limit=50&stain=ki67&q=new%20name')).map((s) => s.id)).toEqual([id]);
    expect(await body<SlideDto>(await as('sue', `/api/slides/${id}`))).toMatchObject({
      name: 'South keeps this',
    });
    expect((await audit('slide.rename')).find((e) => e.targetId === id)?.detail).toEqual({
      from: 'Old name HE',
      to: 'New name Ki67',
    });
    expect((await send('ann', `/api/slides/${id}`, 'PATCH', { name: '' })).status).toBe(400);
    expect((await send('ann', `/api/slides/${id}`, 'PATCH', { name: 'a\u0007b' })).status).toBe(400);
    expect((await send('ann', `/api/slides/${id}`, 'PATCH', { name: 'x'.repeat(201) })).status).toBe(400);
    expect((await send('spec', `/api/slides/${id}`, 'PATCH', { name: 'spec' })).status).toBe(403);
  });

  it("attach and detach: a lab manager links their site's slides to their site's cases only, audited", async () => {
    const id = await slide('north', 'Link me', t(70));
    const southSlide = await slide('south', 'South only', t(70));
    await newCase('N26-LINK', 'north');
    await newCase('S26-LINK', 'south');
    const r = await send('lm', `/api/slides/${id}/cases`, 'POST', { accession: 'N26-LINK' });
    expect(r.status).toBe(200);
    expect((await body<CaseDto>(r)).slideIds).toContain(id);
    expect((await all('lm', '/api/slides?limit=50&case=N26-LINK')).map((s) => s.id)).toEqual([id]);
    // Another site's case answers as one that does not exist; a pathologist may not link.
    expect((await send('lm', `/api/slides/${id}/cases`, 'POST', { accession: 'S26-LINK' })).status).toBe(404);
    expect((await send('lm', `/api/slides/${id}/cases`, 'POST', { accession: 'N26-NONE' })).status).toBe(404);
    expect((await send('ann', `/api/slides/${id}/cases`, 'POST', { accession: 'N26-LINK' })).status).toBe(
      403,
    );
    expect(
      (await send('lm', `/api/slides/${southSlide}/cases`, 'POST', { accession: 'N26-LINK' })).status,
    ).toBe(404);
    expect(
      (await send('admin', `/api/slides/${southSlide}/cases`, 'POST', { accession: 'N26-LINK' })).status,
    ).toBe(200);
    const d = await send('lm', `/api/slides/${id}/cases/N26-LINK`, 'DELETE');
    expect(d.status).toBe(200);
    expect((await body<CaseDto>(d)).slideIds).not.toContain(id);
    expect((await send('lm', `/api/slides/${id}/cases/N26-LINK`, 'DELETE')).status).toBe(404);
    const attached = (await audit('case.attach_slide')).filter((e) => e.detail.slide === id);
    const detached = (await audit('case.detach_slide')).filter((e) => e.detail.slide === id);
    expect(attached.map((e) => e.userName)).toEqual(['lm']);
    expect(detached.map((e) => e.detail.accession)).toEqual(['N26-LINK']);
  });
});

describe.skipIf(!requireSlides())('uploads', () => {
  async function upload(user: string, name: string): Promise<JobDto> {
    const res = await as(user, `/api/slides?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      body: readFileSync(slidePath('aperio/CMU-1-Small-Region.svs')),
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(res.status).toBe(202);
    const { jobId } = await body<UploadAccepted>(res);
    for (let i = 0; i < 600; i++) {
      const job = await body<JobDto>(await as(user, `/api/jobs/${jobId}`));
      if (job.state === 'done' || job.state === 'failed') return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('upload did not finish');
  }

  it('a duplicate names the slide it already is; another site is told nothing; delete removes the stored files', async () => {
    const first = await upload('ann', 'Block B2 HE.svs');
    expect(first.state).toBe('done');
    expect(first.duplicateOf).toBeNull();
    const again = await upload('lm', 'copy of it.svs');
    expect(again.duplicateOf).toEqual({ slideId: first.slideId, name: 'Block B2 HE' });
    const elsewhere = await upload('sue', 'south upload.svs');
    expect(elsewhere.duplicateOf).toBeNull();
    const id = first.slideId!;
    expect(await ctx.store.has(id)).toBe(true);
    expect((await send('lm', `/api/slides/${id}`, 'DELETE')).status).toBe(204);
    // South still owns it: the files stay.
    expect(await ctx.store.has(id)).toBe(true);
    expect((await send('slm', `/api/slides/${id}`, 'DELETE')).status).toBe(204);
    expect(await ctx.store.has(id)).toBe(false);
    expect((await as('admin', `/slides/${id}.dzi`)).status).toBe(404);
  });
});
