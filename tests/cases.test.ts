/**
 * Cases over HTTP: CSV import with a per-row report, who sees which cases (a lab manager the whole
 * network, a pathologist only their worklist, a specialist none), balancing decisions (audited,
 * refused when stale), and a second opinion routed to a specialist with a share and a session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AuditPage,
  BalanceDecisionsResult,
  BalanceResult,
  CaseDto,
  DashboardDto,
  ImportReport,
  PathologistDto,
  SecondOpinionCandidatesDto,
  SecondOpinionDto,
  SlideDto,
  WorklistItem,
} from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { readFileSync } from 'node:fs';
import { slideRow, userFetch, userWithToken } from './helpers/auth.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tok: Record<string, string> = {};
const id: Record<string, string> = {};
const SLIDE = 'd'.repeat(32);

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-cases-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  for (const [name, role, siteId] of [
    ['manager', 'lab_manager', 'north'],
    ['anna', 'pathologist', 'north'],
    ['bo', 'pathologist', 'south'],
    ['spec', 'specialist', 'south'],
    ['admin', 'admin', 'north'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tok[name] = u.token;
    id[name] = u.id;
  }
  await slideRow(ctx.db, { id: SLIDE, name: 'S1', siteId: 'north' });
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await ctx.review.close();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const as = userFetch(() => base, tok);
const body = async <T>(r: Response): Promise<T> => (await r.json()) as T;
const day = (n: number): string => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);

describe('CSV import', () => {
  it('stores every valid row and reports each bad one by line with its reason', async () => {
    const csv = [
      'Accession,Site,Specimen,Subspecialty,Priority,Received Date',
      `H26-0001,north,biopsy,breast,urgent,${day(2)}`,
      `H26-0002,north,resection,gi,routine,${day(8)}`,
      `"H26-0003",south,"excision",skin,routine,${day(1)}`,
      `H26-0004,mars,biopsy,breast,routine,${day(1)}`,
      `H26-0005,north,biopsy,dentistry,routine,${day(1)}`,
      `H26-0006,north,biopsy,gi,soon,${day(1)}`,
      'H26-0007,north,biopsy,gi,routine,31/02/2026',
      `H26-0001,north,biopsy,breast,routine,${day(1)}`,
      `,north,biopsy,gi,routine,${day(1)}`,
      '',
    ].join('\r\n');
    const r = await as('manager', '/api/cases/import', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: csv,
    });
    expect(r.status).toBe(200);
    const rep = await body<ImportReport>(r);
    expect(rep.imported).toBe(3);
    expect(rep.errors.map((e) => e.row)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(rep.errors[0]!.message).toMatch(/unknown site "mars"/);
    expect(rep.errors[1]!.message).toMatch(/subspecialty "dentistry"/);
    expect(rep.errors[2]!.message).toMatch(/priority "soon"/);
    expect(rep.errors[3]!.message).toMatch(/received_date "31\/02\/2026"/);
    expect(rep.errors[4]!.message).toMatch(/appears twice|already exists/);
    expect(rep.errors[5]!.message).toMatch(/accession "" is not valid/);
    // A header without the needed columns: nothing stored, one clear line.
    const bad = await as('manager', '/api/cases/import', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'a,b\n1,2\n',
    });
    expect(bad.status).toBe(400);
    expect((await body<ImportReport>(bad)).errors[0]!.message).toMatch(/header lacks column\(s\): accession/);
    expect(
      (
        await as('anna', '/api/cases/import', {
          method: 'POST',
          headers: { 'content-type': 'text/csv' },
          body: 'x',
        })
      ).status,
    ).toBe(403);
  });
});

describe('who sees what', () => {
  it('a lab manager sees the whole network; a pathologist only their worklist; a specialist no cases', async () => {
    const all = await body<CaseDto[]>(await as('manager', '/api/cases'));
    expect(all.map((c) => c.accession).sort()).toEqual(['H26-0001', 'H26-0002', 'H26-0003']);
    expect(all[0]!.priority).toBe('urgent');
    const south = all.find((c) => c.siteId === 'south')!;
    const north1 = all.find((c) => c.accession === 'H26-0001')!;
    // Assign two to anna, one to bo.
    for (const [c, who] of [
      [north1, 'anna'],
      [all.find((c) => c.accession === 'H26-0002')!, 'anna'],
      [south, 'bo'],
    ] as const) {
      const r = await as('manager', `/api/cases/${c.id}`, {
        method: 'PATCH',
        body: JSON.stringify({ assignedTo: id[who] }),
      });
      expect(r.status).toBe(200);
      expect((await body<CaseDto>(r)).status).toBe('assigned');
    }
    const mine = await body<WorklistItem[]>(await as('anna', '/api/worklist'));
    expect(mine.map((c) => c.accession)).toEqual(['H26-0001', 'H26-0002']);
    expect((await body<CaseDto[]>(await as('anna', '/api/cases'))).length).toBe(2);
    expect((await as('anna', `/api/cases/${south.id}`)).status).toBe(404);
    expect((await as('spec', '/api/cases')).status).toBe(403);
    expect((await as('spec', '/api/worklist')).status).toBe(403);
    for (const p of ['/api/dashboard', '/api/pathologists', '/api/balance/suggestions'])
      expect((await as('anna', p)).status, p).toBe(403);
    // The assignee moves their case along, nothing else.
    expect(
      (
        await as('anna', `/api/cases/${north1.id}`, {
          method: 'PATCH',
          body: JSON.stringify({ status: 'in_review' }),
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await as('anna', `/api/cases/${north1.id}`, {
          method: 'PATCH',
          body: JSON.stringify({ assignedTo: id['bo'] }),
        })
      ).status,
    ).toBe(403);
  });
});

describe('balancing decisions', () => {
  it('a suggestion moves work off an over-capacity pathologist; accepting is audited; a stale one is refused', async () => {
    for (const [who, cap] of [
      ['anna', 1],
      ['bo', 10],
    ] as const)
      expect(
        (
          await as('manager', `/api/pathologists/${id[who]}`, {
            method: 'PATCH',
            body: JSON.stringify({ subspecialties: ['breast', 'gi', 'skin'], weeklyCapacity: cap }),
          })
        ).status,
      ).toBe(200);
    const before = await body<PathologistDto[]>(await as('manager', '/api/pathologists'));
    expect(before.find((p) => p.userId === id['anna'])!.load).toBeGreaterThan(1);
    const s = await body<BalanceResult>(await as('manager', '/api/balance/suggestions'));
    expect(s.suggestions.length).toBeGreaterThan(0);
    const move = s.suggestions[0]!;
    expect(move).toMatchObject({ from: id['anna'], to: id['bo'], crossSite: true });
    // Someone else reassigns first: the decision is refused, nothing moves.
    const stale = { ...move, from: id['bo'] };
    const refused = await as('manager', '/api/balance/decisions', {
      method: 'POST',
      body: JSON.stringify({ caseId: stale.caseId, to: stale.to, from: stale.from, accept: true }),
    });
    expect(refused.status).toBe(409);
    const ok = await as('manager', '/api/balance/decisions', {
      method: 'POST',
      body: JSON.stringify({ caseId: move.caseId, to: move.to, from: move.from, accept: true }),
    });
    expect(ok.status).toBe(200);
    expect((await body<CaseDto>(ok)).assignedTo).toBe(id['bo']);
    const after = await body<PathologistDto[]>(await as('manager', '/api/pathologists'));
    expect(after.find((p) => p.userId === id['anna'])!.load).toBeLessThan(
      before.find((p) => p.userId === id['anna'])!.load,
    );
    const audit = await body<AuditPage>(await as('admin', '/api/audit?action=balance.accept'));
    expect(audit.entries[0]).toMatchObject({ userName: 'manager', targetId: move.caseId });
    const dash = await body<DashboardDto>(await as('manager', '/api/dashboard'));
    expect(dash.sites.map((x) => x.siteId).sort()).toEqual(['north', 'south']);
    expect(dash.backlog).toHaveLength(8);
    expect((await as('manager', '/api/dashboard?site=..%2Fx')).status).toBe(400);
  });
});

describe('second opinion', () => {
  it('routes to a specialist of the subspecialty, shares the slides de-identified and opens a session', async () => {
    const c = (await body<CaseDto[]>(await as('manager', '/api/cases'))).find(
      (x) => x.assignedTo === id['anna'],
    )!;
    expect(
      (
        await as('manager', `/api/pathologists/${id['spec']}`, {
          method: 'PATCH',
          body: JSON.stringify({ subspecialties: [c.subspecialty] }),
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await as('anna', `/api/cases/${c.id}/second-opinion`, {
          method: 'POST',
          body: JSON.stringify({ question: 'grade?' }),
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await as('manager', `/api/cases/${c.id}/slides`, {
          method: 'POST',
          body: JSON.stringify({ slideId: SLIDE }),
        })
      ).status,
    ).toBe(200);
    const r = await as('anna', `/api/cases/${c.id}/second-opinion`, {
      method: 'POST',
      body: JSON.stringify({ question: 'Grade of this adenoma?' }),
    });
    expect(r.status).toBe(201);
    const so = await body<SecondOpinionDto>(r);
    expect(so.specialistId).toBe(id['spec']);
    const seen = await body<SlideDto[]>(await as('spec', '/api/slides'));
    // The study code is random: nothing in it names the case.
    const shared = seen.find((s) => s.id === SLIDE)!;
    expect(shared.deidentified).toBe(true);
    expect(shared.name).toMatch(/^SO-[A-Z2-7]{8}$/);
    expect((await as('spec', `/api/sessions/${so.sessionId}`)).status).toBe(200);
    expect((await body<CaseDto>(await as('manager', `/api/cases/${c.id}`))).status).toBe(
      'second_opinion_requested',
    );
    const listed = await body<SecondOpinionDto[]>(await as('anna', `/api/cases/${c.id}/second-opinions`));
    expect(listed.map((x) => [x.specialistName, x.status])).toEqual([['spec', 'waiting']]);
    // The specialist answers in the session: the request counts as answered.
    const sock = io(base, { transports: ['websocket'], auth: { token: tok['spec'] }, forceNew: true });
    const joined = await new Promise<{ ok: boolean }>((r) =>
      sock.emit('join', { protocolVersion: 3, sessionId: so.sessionId }, r as never),
    );
    expect(joined.ok).toBe(true);
    const op = await new Promise<{ ok: boolean }>((r) =>
      sock.emit(
        'opinion',
        { diagnosis: 'Tubular adenoma, low-grade dysplasia', confidence: 'high' },
        r as never,
      ),
    );
    expect(op.ok).toBe(true);
    sock.disconnect();
    const after = await body<SecondOpinionDto[]>(await as('manager', `/api/cases/${c.id}/second-opinions`));
    expect(after[0]!.status).toBe('answered');
    expect((await as('bo', `/api/cases/${c.id}/second-opinions`)).status).toBe(404);
  });

  it('only specialists of the case’s subspecialty are asked: least loaded suggested, another may be picked, none → nothing sent', async () => {
    const users: Record<string, string> = {};
    for (const [name, siteId] of [
      ['haem-b', 'south'],
      ['haem-a', 'west'],
      ['haem-away', 'south'],
      ['no-subs', 'south'],
      ['haem-off', 'north'],
    ] as const) {
      const u = await userWithToken(ctx.db, { name, role: 'specialist', siteId });
      users[name] = u.id;
      tok[name] = u.token;
    }
    const profile = async (who: string, patch: object) =>
      expect(
        (
          await as('manager', `/api/pathologists/${users[who]}`, {
            method: 'PATCH',
            body: JSON.stringify(patch),
          })
        ).status,
      ).toBe(200);
    await profile('haem-a', { subspecialties: ['haematopathology'] });
    await profile('haem-b', { subspecialties: ['haematopathology', 'general'] });
    await profile('haem-away', { subspecialties: ['haematopathology'], onLeave: true });
    await profile('haem-off', { subspecialties: ['haematopathology'] });
    await ctx.db.updateTable('users').set({ disabled: 1 }).where('id', '=', users['haem-off']!).execute();
    // 'no-subs' has no profile: it is asked about nothing (it once took every subspecialty's cases).

    const slides: Record<string, string> = {};
    const makeCase = async (accession: string, subspecialty: string): Promise<CaseDto> => {
      const c = await body<CaseDto>(
        await as('manager', '/api/cases', {
          method: 'POST',
          body: JSON.stringify({
            accession,
            siteId: 'north',
            specimenType: 'trephine',
            subspecialty,
            priority: 'urgent',
            receivedAt: day(1),
          }),
        }),
      );
      const slideId = (Object.keys(slides).length + 1).toString(16).padStart(32, 'a');
      slides[accession] = slideId;
      await slideRow(ctx.db, { id: slideId, name: `S${accession}`, siteId: 'north' });
      const assign = await as('manager', `/api/cases/${c.id}`, {
        method: 'PATCH',
        body: JSON.stringify({ assignedTo: id['anna'] }),
      });
      expect(assign.status).toBe(200);
      const attach = await as('manager', `/api/cases/${c.id}/slides`, {
        method: 'POST',
        body: JSON.stringify({ slideId }),
      });
      expect(attach.status).toBe(200);
      return c;
    };
    const candidates = async (c: CaseDto, who = 'anna') =>
      body<SecondOpinionCandidatesDto>(await as(who, `/api/cases/${c.id}/second-opinion/candidates`));
    const ask = (c: CaseDto, extra: object = {}) =>
      as('anna', `/api/cases/${c.id}/second-opinion`, {
        method: 'POST',
        body: JSON.stringify({ question: 'Is this a lymphoma?', ...extra }),
      });
    // This test's slides a user sees (a specialist also sees their own site's slides).
    const sharedWith = async (who: string): Promise<string[]> =>
      (await body<SlideDto[]>(await as(who, '/api/slides')))
        .map((x) => x.id)
        .filter((x) => Object.values(slides).includes(x));

    const first = await makeCase('HM26-0001', 'haematopathology');
    // Haematopathologists only: enabled, not on leave; least loaded first, then by name.
    const list = await candidates(first);
    expect(list.subspecialty).toBe('haematopathology');
    expect(list.candidates.map((x) => x.name)).toEqual(['haem-a', 'haem-b']);
    expect(list.candidates.map((x) => x.waiting)).toEqual([0, 0]);
    expect(list.candidates[1]).toMatchObject({
      siteId: 'south',
      subspecialties: ['haematopathology', 'general'],
    });
    expect(list.suggested).toBe(users['haem-a']);
    // Another site's pathologist does not see the case, nor who could be asked about it.
    expect((await as('bo', `/api/cases/${first.id}/second-opinion/candidates`)).status).toBe(404);
    expect((await as('anna', `/api/cases/${first.id}/second-opinion/candidates?subspecialty=x`)).status).toBe(
      400,
    );

    // Someone outside the list cannot be picked, and nothing leaves the site.
    for (const who of ['no-subs', 'haem-away', 'haem-off', 'spec']) {
      const r = await ask(first, { specialistId: users[who] ?? id[who] });
      expect(r.status, who).toBe(409);
      expect((await body<{ message: string }>(r)).message).toMatch(/cannot be asked about haematopathology/);
    }
    expect(await sharedWith('no-subs')).toEqual([]);
    expect(await sharedWith('haem-away')).toEqual([]);
    expect(
      await body<SecondOpinionDto[]>(await as('anna', `/api/cases/${first.id}/second-opinions`)),
    ).toEqual([]);

    // The suggested one by default.
    const r1 = await ask(first);
    expect(r1.status).toBe(201);
    expect((await body<SecondOpinionDto>(r1)).specialistId).toBe(users['haem-a']);
    expect(await sharedWith('haem-a')).toEqual([slides['HM26-0001']]);

    // The next suggestion is the less loaded one; the requester may still pick the busier one.
    const second = await makeCase('HM26-0002', 'haematopathology');
    const after = await candidates(second);
    expect(after.candidates.map((x) => [x.name, x.waiting])).toEqual([
      ['haem-b', 0],
      ['haem-a', 1],
    ]);
    expect(after.suggested).toBe(users['haem-b']);
    const r2 = await ask(second, { specialistId: users['haem-a'] });
    expect(r2.status).toBe(201);
    expect((await body<SecondOpinionDto>(r2)).specialistName).toBe('haem-a');

    // Nobody of the subspecialty: a clear message, nothing shared, no session, the case unchanged.
    const neuro = await makeCase('NE26-0001', 'neuro');
    const none = await candidates(neuro);
    expect(none).toEqual({ subspecialty: 'neuro', suggested: null, candidates: [] });
    const r3 = await ask(neuro);
    expect(r3.status).toBe(409);
    expect((await body<{ message: string }>(r3)).message).toMatch(
      /^No specialist in neuro is available in the network .*nothing was sent$/,
    );
    expect((await body<CaseDto>(await as('manager', `/api/cases/${neuro.id}`))).status).not.toBe(
      'second_opinion_requested',
    );
    const shares = await ctx.db
      .selectFrom('shares')
      .select('grantee_user_id')
      .where('slide_id', '=', slides['NE26-0001']!)
      .execute();
    expect(shares).toEqual([]);
    for (const who of ['haem-a', 'haem-b', 'no-subs', 'spec'])
      expect(await sharedWith(who), who).not.toContain(slides['NE26-0001']);
  });

  it('workload points come from a table a lab manager can change', async () => {
    const c = (await body<CaseDto[]>(await as('manager', '/api/cases'))).find(
      (x) => x.specimenType === 'resection',
    )!;
    expect(c.points).toBe(3 + 0.25 * c.slideIds.length);
    const put = await as('manager', '/api/workload-rules', {
      method: 'PUT',
      body: JSON.stringify({ resection: 4.5, '*per_slide': 0.5 }),
    });
    expect(put.status).toBe(200);
    const again = await body<CaseDto>(await as('manager', `/api/cases/${c.id}`));
    expect(again.points).toBe(4.5 + 0.5 * again.slideIds.length);
    expect((await as('anna', '/api/workload-rules', { method: 'PUT', body: '{"biopsy":2}' })).status).toBe(
      403,
    );
    expect((await as('manager', '/api/workload-rules', { method: 'PUT', body: '{"../x":2}' })).status).toBe(
      400,
    );
  });
});

describe('balancing at scale', () => {
  it('a turned-down suggestion is not offered again until its case changes; accept all takes each decision on its own', async () => {
    const setProfile = async (who: string, patch: object) =>
      expect(
        (
          await as('manager', `/api/pathologists/${id[who]}`, {
            method: 'PATCH',
            body: JSON.stringify(patch),
          })
        ).status,
      ).toBe(200);
    for (const accession of ['BAL-0001', 'BAL-0002', 'BAL-0003']) {
      const c = await body<CaseDto>(
        await as('manager', '/api/cases', {
          method: 'POST',
          body: JSON.stringify({
            accession,
            siteId: 'north',
            specimenType: 'biopsy',
            subspecialty: 'gi',
            priority: 'routine',
            receivedAt: day(3),
          }),
        }),
      );
      expect(
        (
          await as('manager', `/api/cases/${c.id}`, {
            method: 'PATCH',
            body: JSON.stringify({ assignedTo: id['anna'] }),
          })
        ).status,
      ).toBe(200);
    }
    // Anna can hold nothing this week: each of her cases is suggested to Bo, who has room.
    await setProfile('anna', { weeklyCapacity: 0, subspecialties: ['breast', 'gi', 'skin'] });
    await setProfile('bo', { weeklyCapacity: 50, subspecialties: ['breast', 'gi', 'skin'] });
    const suggestions = async () =>
      (await body<BalanceResult>(await as('manager', '/api/balance/suggestions'))).suggestions.filter(
        (x) => x.from === id['anna'],
      );
    const s1 = await suggestions();
    expect(s1.length).toBeGreaterThanOrEqual(2);
    const first = s1[0]!;
    const bo = (await body<PathologistDto[]>(await as('manager', '/api/pathologists'))).find(
      (x) => x.userId === id['bo'],
    )!;
    // Who receives it, their load and capacity, and how close the case is to its target.
    expect(first).toMatchObject({
      to: id['bo'],
      toName: 'bo',
      toSiteId: 'south',
      toSiteName: 'Site south',
      toSubspecialties: ['breast', 'gi', 'skin'],
      toLoad: bo.load,
      toCapacity: 50,
    });
    const c1 = await body<CaseDto>(await as('manager', `/api/cases/${first.caseId}`));
    expect(first.daysToBreach).toBe(c1.daysToBreach);
    expect(first.subspecialty).toBe(c1.subspecialty);

    const decide = (x: { caseId: string; from: string | null; to: string }, accept: boolean) =>
      as('manager', '/api/balance/decisions', {
        method: 'POST',
        body: JSON.stringify({ caseId: x.caseId, from: x.from, to: x.to, accept }),
      });
    expect((await decide(first, false)).status).toBe(200);
    const s2 = await suggestions();
    expect(s2.map((x) => x.caseId)).not.toContain(first.caseId);
    expect(s2.length).toBe(s1.length - 1);
    const rejected = await body<AuditPage>(await as('admin', '/api/audit?action=balance.reject'));
    expect(rejected.entries[0]).toMatchObject({ userName: 'manager', targetId: first.caseId });
    // Asked again later: still not offered. Once the case changes (its priority), it is.
    expect((await suggestions()).map((x) => x.caseId)).not.toContain(first.caseId);
    expect(
      (
        await as('manager', `/api/cases/${first.caseId}`, {
          method: 'PATCH',
          body: JSON.stringify({ priority: c1.priority === 'urgent' ? 'routine' : 'urgent' }),
        })
      ).status,
    ).toBe(200);
    const s3 = await suggestions();
    expect(s3.map((x) => x.caseId)).toContain(first.caseId);

    // Accept all: one was reassigned by hand meanwhile and is refused with the reason; the rest move.
    const stale = s3.find((x) => x.caseId !== first.caseId)!;
    expect(
      (
        await as('manager', `/api/cases/${stale.caseId}`, {
          method: 'PATCH',
          body: JSON.stringify({ assignedTo: id['bo'] }),
        })
      ).status,
    ).toBe(200);
    const batch = (decisions: object[], who = 'manager') =>
      as(who, '/api/balance/decisions/batch', { method: 'POST', body: JSON.stringify({ decisions }) });
    const all = s3.map((x) => ({ caseId: x.caseId, from: x.from, to: x.to, accept: true }));
    expect((await batch(all, 'anna')).status).toBe(403);
    expect((await batch([])).status).toBe(400);
    const r = await batch(all);
    expect(r.status).toBe(200);
    const out = await body<BalanceDecisionsResult>(r);
    expect(out).toMatchObject({ applied: s3.length - 1, refused: 1 });
    const refused = out.results.find((x) => !x.ok)!;
    expect(refused.caseId).toBe(stale.caseId);
    expect(refused.message).toMatch(/was reassigned since the suggestion/);
    for (const x of s3)
      expect(
        (await body<CaseDto>(await as('manager', `/api/cases/${x.caseId}`))).assignedTo,
        x.accession,
      ).toBe(id['bo']);
    const accepted = await body<AuditPage>(await as('admin', '/api/audit?action=balance.accept'));
    expect(accepted.entries.filter((e) => s3.some((x) => x.caseId === e.targetId))).toHaveLength(
      s3.length - 1,
    );
    expect(await suggestions()).toEqual([]);
  });
});

describe.skipIf(!have)('slides join their case at upload', () => {
  it('by ?case= chosen on upload, and by the accession in the file name', async () => {
    const make = async (accession: string) =>
      (
        await as('manager', '/api/cases', {
          method: 'POST',
          body: JSON.stringify({
            accession,
            siteId: 'north',
            specimenType: 'biopsy',
            subspecialty: 'gi',
            priority: 'routine',
            receivedAt: day(1),
          }),
        })
      ).json() as Promise<CaseDto>;
    const chosen = await make('LINK-CHOSEN-1');
    const named = await make('B26-777');
    const bytes = readFileSync(slidePath('generic-tiff/openslide-boxes.tiff'));
    expect(
      (await as('anna', '/api/slides?name=x.tiff&case=NOPE-1', { method: 'POST', body: bytes })).status,
    ).toBe(400);
    const up = async (q: string, buf: Buffer) => {
      const r = await as('anna', `/api/slides?${q}`, { method: 'POST', body: buf });
      expect(r.status).toBe(202);
      const { jobId } = (await r.json()) as { jobId: string };
      await ctx.queue.idle();
      return (await (await as('anna', `/api/jobs/${jobId}`)).json()) as { state: string; slideId: string };
    };
    const a = await up('name=scan.tiff&case=LINK-CHOSEN-1', bytes);
    expect(a.state).toBe('done');
    expect((await body<CaseDto>(await as('manager', `/api/cases/${chosen.id}`))).slideIds).toEqual([
      a.slideId,
    ]);
    // Another slide (other bytes, another id) named after the barcode.
    const other = readFileSync(slidePath('aperio/CMU-1-Small-Region.svs'));
    const b = await up(`name=${encodeURIComponent('B26-777 block A1.svs')}`, other);
    expect(b.state).toBe('done');
    expect((await body<CaseDto>(await as('manager', `/api/cases/${named.id}`))).slideIds).toEqual([
      b.slideId,
    ]);
    // The scanner's metadata names the case (Aperio's Filename field here): a plainly named upload links too.
    const byMetadata = await make('CMU-1');
    const m = await up('name=scan-0042.svs', other);
    expect(m.state).toBe('done');
    expect((await body<CaseDto>(await as('manager', `/api/cases/${byMetadata.id}`))).slideIds).toEqual([
      m.slideId,
    ]);
  });
});

const newCase = async (accession: string, siteId: string): Promise<CaseDto> => {
  const r = await as('manager', '/api/cases', {
    method: 'POST',
    body: JSON.stringify({
      accession,
      siteId,
      specimenType: 'biopsy',
      subspecialty: 'gi',
      priority: 'routine',
      receivedAt: day(1),
    }),
  });
  expect(r.status).toBe(201);
  return body<CaseDto>(r);
};

describe('which case an upload may join', () => {
  it("?case= names only a case of the uploader's own site; no such case and another site's case get one answer", async () => {
    const theirs = await newCase('S26-0100', 'south');
    const upload = (user: string, accession: string) =>
      as(user, `/api/slides?name=x.tiff&case=${accession}`, { method: 'POST', body: Buffer.from('x') });
    const none = await upload('anna', 'S26-0999');
    const other = await upload('anna', theirs.accession);
    expect([none.status, other.status]).toEqual([400, 400]);
    type Err = { code: string; message: string };
    const [a, b] = [await body<Err>(none), await body<Err>(other)];
    expect(a.code).toBe(b.code);
    expect(a.message.replace('S26-0999', '#')).toBe(b.message.replace(theirs.accession, '#'));
    // The uploader's own site's case is accepted (the upload itself then fails: one byte is no slide).
    const mine = await newCase('N26-0100', 'north');
    expect((await upload('anna', mine.accession)).status).toBe(202);
    await ctx.queue.idle();
    expect((await body<CaseDto>(await as('manager', `/api/cases/${mine.id}`))).slideIds).toEqual([]);
  });
});

describe('detaching a slide from a case', () => {
  it('lab managers and admins detach; it is audited; an unlinked slide is 404, a bad id 400', async () => {
    const c = await newCase('D26-0001', 'north');
    const attach = await as('manager', `/api/cases/${c.id}/slides`, {
      method: 'POST',
      body: JSON.stringify({ slideId: SLIDE }),
    });
    expect((await body<CaseDto>(attach)).slideIds).toEqual([SLIDE]);
    const detach = (user: string, slideId: string) =>
      as(user, `/api/cases/${c.id}/slides/${slideId}`, { method: 'DELETE' });
    expect((await detach('anna', SLIDE)).status).toBe(403);
    expect((await detach('spec', SLIDE)).status).toBe(403);
    expect((await detach('manager', 'e'.repeat(32))).status).toBe(404);
    expect((await detach('manager', '..%2Fx')).status).toBe(400);
    expect(
      (
        await as('manager', `/api/cases/${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}/slides/${SLIDE}`, {
          method: 'DELETE',
        })
      ).status,
    ).toBe(404);
    const ok = await detach('manager', SLIDE);
    expect(ok.status).toBe(200);
    expect((await body<CaseDto>(ok)).slideIds).toEqual([]);
    expect((await body<CaseDto>(await as('manager', `/api/cases/${c.id}`))).slideIds).toEqual([]);
    expect((await detach('manager', SLIDE)).status).toBe(404);
    const audit = await body<AuditPage>(await as('admin', '/api/audit?action=case.detach_slide'));
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({
      userName: 'manager',
      targetType: 'case',
      targetId: c.id,
      targetSiteId: 'north',
      detail: { slide: SLIDE },
    });
    // The slide itself is untouched, and can join again.
    expect((await as('manager', `/api/slides/${SLIDE}`)).status).toBe(200);
  });
});

describe.skipIf(!have)('an administrator links an upload to any site', () => {
  it("?case= accepts another site's case from an administrator", async () => {
    const theirs = await newCase('S26-0200', 'south');
    const bytes = readFileSync(slidePath('generic-tiff/openslide-boxes.tiff'));
    const r = await as('admin', `/api/slides?name=boxes.tiff&case=${theirs.accession}`, {
      method: 'POST',
      body: bytes,
    });
    expect(r.status).toBe(202);
    await ctx.queue.idle();
    const { jobId } = (await r.json()) as { jobId: string };
    const job = (await (await as('admin', `/api/jobs/${jobId}`)).json()) as {
      state: string;
      slideId: string;
    };
    expect(job.state).toBe('done');
    expect((await body<CaseDto>(await as('manager', `/api/cases/${theirs.id}`))).slideIds).toEqual([
      job.slideId,
    ]);
  });
});
