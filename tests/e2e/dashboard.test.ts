import { existsSync, readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseDto, CreateCaseRequest, JobDto, UploadAccepted } from '../../protocol/index.ts';
import { createUser } from '../../server/auth/users.ts';
import { authedFetch, userWithToken } from '../helpers/auth.ts';
import { haveSlides, slidePath } from '../helpers/slides.ts';
import {
  artifact,
  ensureClientBuilt,
  launchChromium,
  logIn,
  requireChromium,
  SITES,
  startServer,
  USERS,
  type TestServer,
  type TestUser,
} from './harness.ts';

// A small slide for the worklist's thumbnails and the second opinion (which shares the case's slides).
const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const withSlide = haveSlides && existsSync(SVS);

const ready = requireChromium();
const WAIT = { timeout: 15_000 };

/**
 * The viewer on `slideId` opened from `accession`'s worklist row. A predicate, not a glob: once the
 * view settles the viewer writes its position into the query (x, y, zoom), which a fast first view does
 * before the URL is first looked at.
 */
const inViewer =
  (slideId: string, accession: string) =>
  (url: URL): boolean =>
    url.pathname === `/view/${slideId}` && url.searchParams.get('case') === accession;
const DAY = 86_400_000;

const MANAGER: TestUser = {
  name: 'mia.manager',
  displayName: 'Mia Manager',
  role: 'lab_manager',
  siteId: SITES.north.id,
  password: 'mia-e2e-password',
};

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
let api: typeof fetch;
let slideId: string | null = null;

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await api(`${server.base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const daysAgo = (n: number): string => new Date(Date.now() - n * DAY).toISOString().slice(0, 10);

async function pathologist(
  u: { name: string; displayName: string; siteId: string } | TestUser,
  profile: { subspecialties: string[]; weeklyCapacity: number; onLeave?: boolean },
): Promise<string> {
  const row = await server.ctx.db
    .selectFrom('users')
    .select('id')
    .where('name', '=', u.name)
    .executeTakeFirst();
  const id =
    row?.id ??
    (
      await createUser(server.ctx.db, {
        name: u.name,
        displayName: u.displayName,
        role: 'pathologist',
        siteId: u.siteId,
        password: 'pathologist-e2e-password',
      })
    ).id;
  await call('PATCH', `/api/pathologists/${id}`, profile);
  return id;
}

async function makeCase(
  c: Omit<CreateCaseRequest, 'receivedAt'> & { daysAgo: number },
  assignedTo: string | null,
  more: { status?: 'reported'; slide?: boolean } = {},
): Promise<CaseDto> {
  const { daysAgo: ago, ...rest } = c;
  let dto = await call<CaseDto>('POST', '/api/cases', { ...rest, receivedAt: daysAgo(ago) });
  if (more.slide && slideId) dto = await call<CaseDto>('POST', `/api/cases/${dto.id}/slides`, { slideId });
  if (assignedTo) dto = await call<CaseDto>('PATCH', `/api/cases/${dto.id}`, { assignedTo });
  if (more.status) dto = await call<CaseDto>('PATCH', `/api/cases/${dto.id}`, { status: more.status });
  return dto;
}

async function uploadSlide(): Promise<string> {
  const res = await api(`${server.base}/api/slides?name=CMU-1-Small-Region.svs`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: readFileSync(SVS),
  });
  expect(res.status).toBe(202);
  const { jobId } = (await res.json()) as UploadAccepted;
  for (let i = 0; i < 600; i++) {
    const job = await call<JobDto>('GET', `/api/jobs/${jobId}`);
    if (job.state === 'done' && job.slideId) return job.slideId;
    if (job.state === 'failed') throw new Error(`ingest failed: ${job.error?.message}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('ingest did not finish');
}

/**
 * A small network: Olga (north) holds more resections than her capacity, Paul (north) has room,
 * Sara (south) takes breast work, Lena is on leave; Nora's worklist has a breached urgent case,
 * one due within a day and a routine one; a south case waits unassigned.
 */
async function seed(): Promise<void> {
  const admin = await userWithToken(server.ctx.db, { name: 'seed.admin', role: 'admin', siteId: 'north' });
  api = authedFetch(() => admin.token);
  await createUser(server.ctx.db, MANAGER);
  if (withSlide) slideId = await uploadSlide();

  const olga = await pathologist(
    { name: 'olga.over', displayName: 'Olga Over', siteId: 'north' },
    { subspecialties: ['breast', 'gi'], weeklyCapacity: 6 },
  );
  const paul = await pathologist(
    { name: 'paul.park', displayName: 'Paul Park', siteId: 'north' },
    { subspecialties: ['breast', 'gi', 'general'], weeklyCapacity: 20 },
  );
  const sara = await pathologist(
    { name: 'sara.stone', displayName: 'Sara Stone', siteId: 'south' },
    { subspecialties: ['breast'], weeklyCapacity: 12 },
  );
  await pathologist(
    { name: 'lena.leave', displayName: 'Lena Leave', siteId: 'north' },
    { subspecialties: ['neuro'], weeklyCapacity: 10, onLeave: true },
  );
  // The only haematopathologist, with more than her capacity: no move can help.
  const hana = await pathologist(
    { name: 'hana.haem', displayName: 'Hana Haem', siteId: 'south' },
    { subspecialties: ['haematopathology'], weeklyCapacity: 2 },
  );
  const nora = await pathologist(USERS.northPathologist, {
    subspecialties: ['skin', 'general'],
    weeklyCapacity: 20,
  });
  // Second opinions go to specialists of the case's subspecialty: the south specialist reads skin.
  const specialist = await server.ctx.db
    .selectFrom('users')
    .select('id')
    .where('name', '=', USERS.southSpecialist.name)
    .executeTakeFirstOrThrow();
  await call('PATCH', `/api/pathologists/${specialist.id}`, { subspecialties: ['skin'] });

  const n = { siteId: 'north' } as const;
  const s = { siteId: 'south' } as const;
  // Olga: 3 + 3 + 3 + 2 = 11 points against 6.
  await makeCase(
    {
      ...n,
      accession: 'N25-0101',
      specimenType: 'resection',
      subspecialty: 'breast',
      priority: 'urgent',
      daysAgo: 1,
    },
    olga,
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0102',
      specimenType: 'resection',
      subspecialty: 'gi',
      priority: 'routine',
      daysAgo: 2,
    },
    olga,
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0103',
      specimenType: 'resection',
      subspecialty: 'breast',
      priority: 'routine',
      daysAgo: 5,
    },
    olga,
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0104',
      specimenType: 'excision',
      subspecialty: 'gi',
      priority: 'routine',
      daysAgo: 3,
    },
    olga,
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0105',
      specimenType: 'biopsy',
      subspecialty: 'gi',
      priority: 'routine',
      daysAgo: 20,
    },
    paul,
  );
  // Nora's worklist.
  await makeCase(
    {
      ...n,
      accession: 'N25-0201',
      specimenType: 'biopsy',
      subspecialty: 'skin',
      priority: 'urgent',
      daysAgo: 5,
    },
    nora,
    { slide: true },
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0202',
      specimenType: 'excision',
      subspecialty: 'skin',
      priority: 'urgent',
      daysAgo: 2,
    },
    nora,
    { slide: true },
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0203',
      specimenType: 'frozen_section',
      subspecialty: 'general',
      priority: 'routine',
      daysAgo: 1,
    },
    nora,
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0204',
      specimenType: 'biopsy',
      subspecialty: 'skin',
      priority: 'routine',
      daysAgo: 6,
    },
    nora,
    { status: 'reported' },
  );
  await makeCase(
    {
      ...n,
      accession: 'N25-0205',
      specimenType: 'biopsy',
      subspecialty: 'skin',
      priority: 'routine',
      daysAgo: 9,
    },
    nora,
    { status: 'reported' },
  );
  // South.
  await makeCase(
    {
      ...s,
      accession: 'S25-0301',
      specimenType: 'biopsy',
      subspecialty: 'breast',
      priority: 'routine',
      daysAgo: 4,
    },
    sara,
  );
  await makeCase(
    {
      ...s,
      accession: 'S25-0302',
      specimenType: 'resection',
      subspecialty: 'breast',
      priority: 'routine',
      daysAgo: 40,
    },
    sara,
  );
  await makeCase(
    {
      ...s,
      accession: 'S25-0304',
      specimenType: 'resection',
      subspecialty: 'haematopathology',
      priority: 'routine',
      daysAgo: 2,
    },
    hana,
  );
  await makeCase(
    {
      ...s,
      accession: 'S25-0303',
      specimenType: 'biopsy',
      subspecialty: 'breast',
      priority: 'routine',
      daysAgo: 9,
    },
    null,
  );
}

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page;
}

describe.skipIf(!ready)('lab dashboard, balancing and the worklist (Chromium, strict CSP)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
    await seed();
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.close();
  });

  it('a lab manager sees an over-capacity pathologist, accepts suggestions and sees the load fall', async () => {
    const page = await newPage();
    await logIn(page, server.base, MANAGER, '/dashboard');
    expect(await page.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current')).toBe('page');
    expect(await page.getByRole('link', { name: 'Worklist' }).count()).toBe(0);

    const olga = page.locator('tr[data-pathologist="Olga Over"]');
    await olga.waitFor(WAIT);
    expect(await olga.getAttribute('data-tone')).toBe('over');
    expect(await olga.getByTestId('load').textContent()).toBe('11 / 6');
    await olga.getByText('Over capacity').waitFor();
    await page.locator('tr[data-pathologist="Lena Leave"]').getByText('On leave').waitFor();
    await page.locator('.site-card[data-site="north"]').waitFor();
    await page.locator('.recharts-surface').first().waitFor(WAIT);

    await page.getByRole('button', { name: 'Suggest rebalancing' }).click();
    const suggestions = page.getByTestId('suggestion');
    await suggestions.first().waitFor(WAIT);
    expect(await page.getByTestId('balance-summary').textContent()).toMatch(/Computed in (\d+|< 1) ms/);
    expect(await page.getByTestId('still-over').textContent()).toContain('Hana Haem (3 / 2 pts)');
    // Moves whose holder is Olga (her name is also among every row's "Send to…" choices).
    const olgasMove = page.locator('.suggestion-move', { hasText: 'Olga Over' });
    const fromOlga = suggestions.filter({ has: olgasMove });
    expect(await fromOlga.count()).toBeGreaterThan(0);
    await page.screenshot({ path: artifact('dashboard-suggestions.png'), fullPage: true });

    // Each row says who would receive the case (site, subspecialties, load) and how near it is to breach.
    const first = fromOlga.first();
    expect(await first.getByTestId('suggestion-receiver').textContent()).toMatch(
      /to .+ at .+ \(.+\), load [\d.]+ \/ [\d.]+ pts$/,
    );
    expect(await first.getByTestId('suggestion-breach').textContent()).toMatch(/^(breached )?[\d.]+ d$/);

    // Accept the first move away from Olga: the row goes and her load drops.
    const accession = await first.getAttribute('data-case');
    await first.getByRole('button', { name: 'Accept' }).click();
    await page.locator(`[data-testid="suggestion"][data-case="${accession}"]`).waitFor({ state: 'detached' });
    await expect.poll(async () => Number(await olga.getAttribute('data-load')), WAIT).toBeLessThan(11);

    // Reject a move that is not Olga's: asked again, the balancer does not propose it.
    const others = suggestions.filter({ hasNot: olgasMove });
    if ((await others.count()) > 0) {
      const rejected = await others.first().getAttribute('data-case');
      await others.first().getByRole('button', { name: 'Reject' }).click();
      await page
        .locator(`[data-testid="suggestion"][data-case="${rejected}"]`)
        .waitFor({ state: 'detached' });
      await page.getByRole('button', { name: 'Suggest again' }).click();
      await page.getByTestId('balance-summary').waitFor(WAIT);
      await expect
        .poll(() => page.getByRole('button', { name: 'Suggest again' }).isEnabled(), WAIT)
        .toBe(true);
      expect(await page.locator(`[data-testid="suggestion"][data-case="${rejected}"]`).count()).toBe(0);
    }

    // Accept all the rest at once: Olga ends within capacity.
    await page.getByTestId('accept-all').click();
    await expect.poll(() => suggestions.count(), WAIT).toBe(0);
    expect(await page.getByTestId('balance-summary').textContent()).toMatch(/^All suggestions decided/);
    await expect.poll(() => olga.getAttribute('data-tone'), WAIT).not.toBe('over');
    expect(await olga.getByText('Over capacity').count()).toBe(0);
    await page.waitForTimeout(300);
    await page.screenshot({ path: artifact('dashboard.png'), fullPage: true });

    // Filters live in the query string.
    await page.getByLabel('Site', { exact: true }).selectOption('south');
    await page.waitForURL('**/dashboard?site=south');
    await page.locator('tr[data-pathologist="Sara Stone"]').waitFor(WAIT);
    await expect.poll(() => page.locator('tr[data-pathologist="Olga Over"]').count(), WAIT).toBe(0);
    expect(await page.locator('.site-card').count()).toBe(1);
  });

  it('a pathologist sees her worklist, starts a review, asks a second opinion and reports', async () => {
    const page = await newPage();
    await logIn(page, server.base, USERS.northPathologist, '/worklist');
    expect(await page.getByRole('link', { name: 'Dashboard' }).count()).toBe(0);
    const table = page.getByTestId('worklist');
    await table.waitFor(WAIT);
    const rows = table.locator('tbody tr[data-case]');
    // Open cases only, most urgent first, as the server ordered them.
    expect(await rows.evaluateAll((trs) => trs.map((t) => t.getAttribute('data-case')))).toEqual([
      'N25-0201',
      'N25-0202',
      'N25-0203',
    ]);
    const breached = rows.nth(0).getByTestId('days-to-breach');
    expect(await breached.textContent()).toMatch(/^breached \d+(\.\d)? d$/);
    expect(await breached.getAttribute('class')).toContain('breach-breached');
    expect(await rows.nth(2).getByTestId('days-to-breach').getAttribute('class')).toContain('breach-ok');
    expect(await rows.nth(0).locator('.badge.priority-urgent').count()).toBe(1);

    const second = rows.nth(1);
    await second.getByRole('button', { name: 'Start review' }).click();
    // The review starts and the case's first slide opens, with the case named (the case bar).
    if (slideId) {
      await page.waitForURL(inViewer(slideId, 'N25-0202'), WAIT);
      await page.goBack();
    } else await page.waitForURL('**/cases/N25-0202', WAIT).then(() => page.goBack());
    await table.waitFor(WAIT);
    await expect.poll(() => second.locator('.status').textContent(), WAIT).toBe('In review');

    if (slideId) {
      const thumb = rows.nth(0).locator('.case-thumb img');
      await expect
        .poll(() => thumb.evaluate((i) => (i as unknown as { naturalWidth: number }).naturalWidth), WAIT)
        .toBeGreaterThan(0);
      await rows.nth(0).getByRole('button', { name: 'Ask second opinion' }).click();
      // The form says the question leaves the site; one with an NHS number is refused, with the reason.
      const question = page.getByLabel(/Question for a Skin specialist/);
      // The suggested specialist (least loaded of the case's subspecialty) is preselected.
      await expect
        .poll(() => page.getByTestId('opinion-specialist').locator('option:checked').textContent(), WAIT)
        .toMatch(new RegExp(`^${USERS.southSpecialist.displayName} · South Clinic · 0 waiting \\(suggested`));
      const warning = page.getByTestId('opinion-warning');
      expect(await warning.textContent()).toMatch(/leaves the site.*identifier/);
      expect(await question.getAttribute('aria-describedby')).toBe(await warning.getAttribute('id'));
      await question.fill('NHS 943 476 5919: melanoma in situ?');
      await page.getByRole('button', { name: 'Ask', exact: true }).click();
      await page.getByRole('alert').filter({ hasText: 'NHS number' }).waitFor(WAIT);
      await question.fill('Melanoma in situ or a dysplastic naevus?');
      await page.getByRole('button', { name: 'Ask', exact: true }).click();
      const note = page.getByTestId('second-opinion');
      await note.waitFor(WAIT);
      expect(await note.textContent()).toContain(USERS.southSpecialist.displayName);
      const href = await note.getByRole('link').getAttribute('href');
      expect(href).toMatch(new RegExp(`^/view/${slideId}\\?session=[\\w-]+$`));
    }

    await rows.nth(2).getByRole('button', { name: 'Mark reported' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Mark reported' }).click();
    await page.getByRole('status').filter({ hasText: 'N25-0203 marked reported.' }).waitFor(WAIT);
    await expect.poll(() => table.locator('tr[data-case="N25-0203"]').count(), WAIT).toBe(0);
    await page.waitForTimeout(300);
    await page.screenshot({ path: artifact('worklist.png'), fullPage: true });

    if (slideId) {
      await rows.nth(0).locator('.case-thumb').first().click();
      await page.waitForURL(inViewer(slideId, 'N25-0201'), WAIT);
    }
  });

  it('breaks no Content Security Policy rule', () => {
    expect(problems).toEqual([]);
  });
});
