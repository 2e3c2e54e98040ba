/**
 * The case page over HTTP: who sees a case (404 for everyone else, as for an accession that does not
 * exist), its slides in reading order with annotation counts and what the user has read, its history
 * and second opinions with their answers; the viewer's case bar and the library's case links; "Mark
 * reported" and its undo (the same user only, within the window only, only while nothing else changed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CaseBarDto,
  CaseDto,
  CasePageDto,
  ReportResult,
  SecondOpinionDto,
  SlideCasesDto,
} from '../protocol/index.ts';
import { REPORT_UNDO_MS } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { slideRow, userFetch, userWithToken } from './helpers/auth.ts';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tok: Record<string, string> = {};
const uid: Record<string, string> = {};
// Three slides of one north case, named so that reading order is not the order of ids or of names as text.
const A10 = 'a'.repeat(32);
const A2 = 'b'.repeat(32);
const A1 = 'c'.repeat(32);
const SOUTH_SLIDE = 'e'.repeat(32);
const cases: Record<string, CaseDto> = {};

const as = userFetch(() => base, tok);
const body = async <T>(r: Response): Promise<T> => (await r.json()) as T;
const day = (n: number): string => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
const post = (user: string, p: string, b?: unknown) =>
  as(user, p, { method: 'POST', ...(b === undefined ? {} : { body: JSON.stringify(b) }) });
const page = async (user: string, accession: string): Promise<CasePageDto> => {
  const r = await as(user, `/api/cases/by-accession/${encodeURIComponent(accession)}`);
  expect(r.status, `${user} on ${accession}`).toBe(200);
  return body<CasePageDto>(r);
};

async function newCase(
  accession: string,
  siteId: string,
  assignee: string | null,
  slides: string[],
): Promise<CaseDto> {
  const r = await post('admin', '/api/cases', {
    accession,
    siteId,
    specimenType: 'biopsy',
    subspecialty: 'skin',
    priority: 'routine',
    receivedAt: day(2),
  });
  expect(r.status).toBe(201);
  let c = await body<CaseDto>(r);
  for (const slideId of slides)
    c = await body<CaseDto>(await post('admin', `/api/cases/${c.id}/slides`, { slideId }));
  if (assignee)
    c = await body<CaseDto>(
      await as('admin', `/api/cases/${c.id}`, {
        method: 'PATCH',
        body: JSON.stringify({ assignedTo: uid[assignee] }),
      }),
    );
  return c;
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-case-page-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  for (const [name, role, siteId] of [
    ['admin', 'admin', 'north'],
    ['manager', 'lab_manager', 'north'],
    ['southManager', 'lab_manager', 'south'],
    ['anna', 'pathologist', 'north'],
    ['carl', 'pathologist', 'north'],
    ['bo', 'pathologist', 'south'],
    ['spec', 'specialist', 'south'],
    ['leaver', 'pathologist', 'north'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tok[name] = u.token;
    uid[name] = u.id;
  }
  await slideRow(ctx.db, { id: A10, name: 'A10 H&E', siteId: 'north' });
  await slideRow(ctx.db, { id: A2, name: 'A2 H&E', siteId: 'north' });
  await slideRow(ctx.db, { id: A1, name: 'A1 H&E', siteId: 'north' });
  await slideRow(ctx.db, { id: SOUTH_SLIDE, name: 'S slide', siteId: 'south' });
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  cases.north = await newCase('N26-0001', 'north', 'anna', [A10, A2, A1]);
  cases.south = await newCase('S26-0001', 'south', 'bo', [SOUTH_SLIDE]);
  // A south case balanced to a north pathologist: the north lab manager follows it.
  cases.crossed = await newCase('S26-0002', 'south', 'carl', []);
  cases.leavers = await newCase('N26-0002', 'north', 'leaver', []);
});

afterAll(async () => {
  await ctx.review.close();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('who sees a case page', () => {
  it('the assignee, their lab manager and admins; everyone else gets the 404 of a case that does not exist', async () => {
    for (const u of ['anna', 'manager', 'admin'])
      expect((await page(u, 'N26-0001')).case.id).toBe(cases.north!.id);
    const missing = await as('anna', '/api/cases/by-accession/N26-9999');
    expect(missing.status).toBe(404);
    const missingBody = await missing.text();
    for (const u of ['bo', 'carl', 'southManager', 'spec']) {
      const r = await as(u, '/api/cases/by-accession/N26-0001');
      expect(r.status, u).toBe(404);
      // Same code and message: nobody learns which accessions exist elsewhere.
      const b = JSON.parse(await r.text()) as { code: string; message: string };
      const m = JSON.parse(missingBody) as { code: string; message: string };
      expect([b.code, b.message]).toEqual([m.code, m.message]);
    }
    // Guessing other accessions as another site's pathologist finds nothing either.
    for (const guess of ['N26-0002', 'S26-0002', 'N26-0001'])
      expect((await as('bo', `/api/cases/by-accession/${guess}`)).status).toBe(404);
    // A lab manager follows their own site's cases and those assigned to their site's pathologists.
    expect((await page('manager', 'S26-0002')).case.assignedTo).toBe(uid.carl);
    expect((await as('manager', '/api/cases/by-accession/S26-0001')).status).toBe(404);
    expect((await page('southManager', 'S26-0001')).case.id).toBe(cases.south!.id);
    expect((await as('anna', '/api/cases/by-accession/bad%20accession')).status).toBe(400);
  });

  it('a disabled user is refused at once', async () => {
    expect((await page('leaver', 'N26-0002')).case.id).toBe(cases.leavers!.id);
    const off = await as('admin', `/api/users/${uid.leaver}`, {
      method: 'PATCH',
      body: JSON.stringify({ disabled: true }),
    });
    expect(off.status).toBe(200);
    expect((await as('leaver', '/api/cases/by-accession/N26-0002')).status).toBe(401);
    expect((await post('leaver', `/api/cases/${cases.leavers!.id}/report`)).status).toBe(401);
  });
});

describe('the case page', () => {
  it('lists the slides in reading order with annotation counts, and the first unread one moves as slides are opened', async () => {
    const ann = await as('anna', `/api/slides/${A2}/annotations`, {
      method: 'POST',
      body: JSON.stringify({
        kind: 'point',
        geometry: { points: [[10, 20]] },
        classification: { name: 'Tumor', color: '#f50000' },
        label: 'mitosis',
      }),
    });
    expect(ann.status).toBe(201);
    let p = await page('anna', 'N26-0001');
    expect(p.slides.map((s) => s.name)).toEqual(['A1 H&E', 'A2 H&E', 'A10 H&E']);
    expect(p.slides.map((s) => s.annotations)).toEqual([0, 1, 0]);
    expect(p.siteName).toBeTruthy();
    expect(p.firstUnread).toBe(A1);
    expect(p.canReport).toBe(true);
    // Opening a slide in the viewer (its manifest) reads it; a thumbnail does not.
    expect((await as('anna', `/api/slides/${A1}`)).status).toBe(200);
    await as('anna', `/api/slides/${A2}/thumbnail?max=96`);
    p = await page('anna', 'N26-0001');
    expect(p.slides[0]!.readAt).not.toBeNull();
    expect(p.firstUnread).toBe(A2);
    // Reads are per user: the lab manager has read nothing, and may not report.
    const m = await page('manager', 'N26-0001');
    expect(m.firstUnread).toBe(A1);
    expect(m.canReport).toBe(false);
    for (const s of [A2, A10]) expect((await as('anna', `/api/slides/${s}`)).status).toBe(200);
    expect((await page('anna', 'N26-0001')).firstUnread).toBeNull();
  });

  it('shows the case history and second opinions with their answers', async () => {
    const start = await as('anna', `/api/cases/${cases.north!.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ status: 'in_review' }),
    });
    expect(start.status).toBe(200);
    await as('admin', `/api/pathologists/${uid.spec}`, {
      method: 'PATCH',
      body: JSON.stringify({ subspecialties: ['skin'] }),
    });
    const so = await post('anna', `/api/cases/${cases.north!.id}/second-opinion`, {
      question: 'Spitzoid lesion: atypical features?',
    });
    expect(so.status).toBe(201);
    const opinion = await body<SecondOpinionDto>(so);
    // The specialist's answer as the review session stores it.
    await ctx.db
      .insertInto('opinions')
      .values({
        id: 'op-1',
        session_id: opinion.sessionId,
        slide_id: A1,
        user_id: uid.spec!,
        user_name: 'spec',
        diagnosis: 'Spitz naevus',
        confidence: 'high',
        text: 'No atypical mitoses.',
        at: new Date().toISOString(),
      })
      .execute();
    const p = await page('anna', 'N26-0001');
    expect(p.opinions).toHaveLength(1);
    expect(p.opinions[0]!.question).toBe('Spitzoid lesion: atypical features?');
    expect(p.opinions[0]!.answers.map((a) => a.diagnosis)).toEqual(['Spitz naevus']);
    const actions = p.history.map((h) => h.action);
    expect(actions).toContain('case.second_opinion');
    expect(actions).toContain('case.update');
    expect(actions).toContain('case.attach_slide');
    // The assignment names its assignee by id; the page carries their name.
    const assigned = p.history.find((h) => h.action === 'case.update' && h.detail.assignedTo);
    expect(p.people[assigned!.detail.assignedTo as string]).toBe('anna');
    // Newest first.
    expect(actions[0]).toBe('case.second_opinion');
    // Another case's entries stay on that case.
    expect((await page('admin', 'S26-0001')).history.map((h) => h.action)).not.toContain(
      'case.second_opinion',
    );
  });
});

describe('the case bar and the library links', () => {
  it('names the case a slide is read in, with its slides in reading order; nothing for those who may not see it', async () => {
    const r = await as('anna', `/api/slides/${A2}/case?case=N26-0001`);
    expect(r.status).toBe(200);
    const bar = await body<CaseBarDto>(r);
    expect(bar.accession).toBe('N26-0001');
    expect(bar.slides.map((s) => s.id)).toEqual([A1, A2, A10]);
    // Without ?case= the case holding it is found.
    expect((await body<CaseBarDto>(await as('anna', `/api/slides/${A10}/case`))).caseId).toBe(
      cases.north!.id,
    );
    // A case that does not hold the slide, a slide in no case, someone who may not see it: 404.
    expect((await as('admin', `/api/slides/${A2}/case?case=S26-0001`)).status).toBe(404);
    expect((await as('bo', `/api/slides/${A2}/case`)).status).toBe(404);
    expect((await as('carl', `/api/slides/${A2}/case`)).status).toBe(404);
    expect((await as('anna', `/api/slides/${'f'.repeat(32)}/case`)).status).toBe(404);
  });

  it('maps slides to the accessions of the cases the user may see, and only for slides they may see', async () => {
    const ids = [A1, A2, SOUTH_SLIDE].join(',');
    expect(await body<SlideCasesDto>(await as('anna', `/api/slide-cases?ids=${ids}`))).toEqual({
      [A1]: ['N26-0001'],
      [A2]: ['N26-0001'],
    });
    expect(await body<SlideCasesDto>(await as('bo', `/api/slide-cases?ids=${ids}`))).toEqual({
      [SOUTH_SLIDE]: ['S26-0001'],
    });
    // carl (north) sees the slides but not the case.
    expect(await body<SlideCasesDto>(await as('carl', `/api/slide-cases?ids=${ids}`))).toEqual({});
    const many = Array.from({ length: 201 }, (_, i) => i.toString(16).padStart(32, '0')).join(',');
    expect((await as('anna', `/api/slide-cases?ids=${many}`)).status).toBe(400);
    expect((await as('anna', '/api/slide-cases?ids=nope')).status).toBe(400);
  });
});

describe('Mark reported and its undo', () => {
  const audit = async (action: string) =>
    ctx.db
      .selectFrom('audit')
      .selectAll()
      .where('action', '=', action)
      .where('target_id', '=', cases.north!.id)
      .execute();

  it('reports for the assignee only; the same user undoes it within the window; both are audited', async () => {
    const id = cases.north!.id;
    expect((await post('manager', `/api/cases/${id}/report`)).status).toBe(403);
    expect((await post('bo', `/api/cases/${id}/report`)).status).toBe(404);
    const before = Date.now();
    const r = await post('anna', `/api/cases/${id}/report`);
    expect(r.status).toBe(200);
    const rep = await body<ReportResult>(r);
    expect(rep.case.status).toBe('reported');
    expect(Date.parse(rep.undoUntil) - before).toBeGreaterThan(REPORT_UNDO_MS - 2000);
    expect(Date.parse(rep.undoUntil) - before).toBeLessThanOrEqual(REPORT_UNDO_MS + 1000);
    expect((await post('anna', `/api/cases/${id}/report`)).status).toBe(409);
    expect((await page('anna', 'N26-0001')).undoUntil).toBe(rep.undoUntil);
    expect((await page('manager', 'N26-0001')).undoUntil).toBeNull();

    // Nobody else undoes it: another site's user does not even see the case; the lab manager may not.
    expect((await post('bo', `/api/cases/${id}/report/undo`)).status).toBe(404);
    expect((await post('manager', `/api/cases/${id}/report/undo`)).status).toBe(403);
    const u = await post('anna', `/api/cases/${id}/report/undo`);
    expect(u.status).toBe(200);
    const back = await body<CaseDto>(u);
    expect(back.status).toBe('second_opinion_requested');
    expect(back.reportedAt).toBeNull();
    // Once: a second undo finds nothing to undo.
    expect((await post('anna', `/api/cases/${id}/report/undo`)).status).toBe(409);
    expect(await audit('case.report')).toHaveLength(1);
    const undone = await audit('case.report_undo');
    expect(undone).toHaveLength(1);
    expect(JSON.parse(undone[0]!.detail)).toMatchObject({ status: 'second_opinion_requested' });
    expect((await page('anna', 'N26-0001')).history[0]!.action).toBe('case.report_undo');
  });

  it('is refused after the window', async () => {
    const id = cases.north!.id;
    expect((await post('anna', `/api/cases/${id}/report`)).status).toBe(200);
    // The window passed (its end moved back rather than waiting 12 s).
    await ctx.db
      .updateTable('case_report_undo')
      .set({ expires_at: new Date(Date.now() - 1).toISOString() })
      .where('case_id', '=', id)
      .execute();
    const r = await post('anna', `/api/cases/${id}/report/undo`);
    expect(r.status).toBe(409);
    expect((await body<{ message: string }>(r)).message).toMatch(/too late/);
    expect((await page('anna', 'N26-0001')).undoUntil).toBeNull();
    expect((await page('anna', 'N26-0001')).case.status).toBe('reported');
  });

  it('is refused once anything else changed the case', async () => {
    const c = await newCase('N26-0003', 'north', 'anna', [A1]);
    expect((await post('anna', `/api/cases/${c.id}/report`)).status).toBe(200);
    const change = await as('manager', `/api/cases/${c.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ priority: 'urgent' }),
    });
    expect(change.status).toBe(200);
    const r = await post('anna', `/api/cases/${c.id}/report/undo`);
    expect(r.status).toBe(409);
    expect((await body<{ message: string }>(r)).message).toMatch(/changed after it was marked reported/);
    const after = await page('anna', 'N26-0003');
    expect(after.case.status).toBe('reported');
    expect(after.case.priority).toBe('urgent');
  });
});
