/**
 * The AI quality page in Chromium (strict CSP) on a seeded history of runs and verdicts (the one
 * tests/ai-qa.test.ts checks the figures of): a lab manager finds it in the navigation and sees the
 * API's figures, the weekly agreement plotted, the discordant slides linked to the viewer, and
 * downloads the CSV tables; an administrator chooses a site; a pathologist has neither the page nor
 * the figures (the server refuses them). A run ending shows without a reload in the library and the
 * viewer of the run's site's users, not to another site's.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiQaDto, AlgorithmDto } from '../../protocol/index.ts';
import { createUser } from '../../server/auth/users.ts';
import { formatDuration, formatPercent, qaApiQuery } from '../../client/src/ai-qa/format.ts';
import { formatInt } from '../../client/src/ui/format.ts';
import { type SeededRun, seedAiRun, seedAiSlide, seedAiVerdict } from '../helpers/ai-seed.ts';
import { authedFetch, userWithToken } from '../helpers/auth.ts';
import {
  artifact,
  ensureClientBuilt,
  launchChromium,
  logIn,
  recordProblems,
  requireChromium,
  SITES,
  startServer,
  USERS,
  type TestServer,
  type TestUser,
} from './harness.ts';

const ready = requireChromium();
const WAIT = { timeout: 15_000 };

const MANAGER: TestUser = {
  name: 'mia.manager',
  displayName: 'Mia Manager',
  role: 'lab_manager',
  siteId: SITES.north.id,
  password: 'mia-e2e-password',
};
const FILTER = { site: '', from: '2026-03-01', to: '2026-03-31', algorithm: '' };
const PAGE = `/ai-qa?from=${FILTER.from}&to=${FILTER.to}`;

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
let v1: AlgorithmDto;
let v2: AlgorithmDto;
const runs: Record<string, string> = {};
const slide = (i: number): string => `${i}`.padStart(32, 'a');

const seedSlide = (id: string, site: string, name: string, at: string) =>
  seedAiSlide(server.ctx.db, id, site, name, at);

async function seedRun(key: string, r: SeededRun): Promise<void> {
  runs[key] = await seedAiRun(server.ctx.db, r);
}

async function seedVerdict(
  run: string,
  userName: string,
  verdict: 'accept' | 'reject',
  at: string,
  target = 'slide',
  comment: string | null = null,
): Promise<void> {
  const user = await server.ctx.db
    .selectFrom('users')
    .select(['id', 'display_name'])
    .where('name', '=', userName)
    .executeTakeFirstOrThrow();
  await seedAiVerdict(server.ctx.db, {
    runId: runs[run]!,
    userId: user.id,
    userName: user.display_name,
    verdict,
    at,
    target,
    comment,
  });
}

/** Two versions of one algorithm on north's slides over two weeks of March 2026, and one south run. */
async function seed(): Promise<void> {
  const admin = await userWithToken(server.ctx.db, { name: 'seed.admin', role: 'admin', siteId: 'north' });
  const api = authedFetch(() => admin.token);
  await createUser(server.ctx.db, MANAGER);
  const register = async (version: string): Promise<AlgorithmDto> => {
    const res = await api(`${server.base}/api/ai/algorithms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'Tumour finder',
        version,
        trigger: 'on_request',
        endpoint: { kind: 'http', url: 'http://127.0.0.1:9/jobs' },
      }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as AlgorithmDto;
  };
  v1 = await register('1');
  v2 = await register('2');
  await seedSlide(slide(1), 'north', 'N1 breast core', '2026-03-02T08:00:00.000Z');
  await seedSlide(slide(2), 'north', 'N2 breast core', '2026-03-03T09:00:00.000Z');
  await seedSlide(slide(3), 'north', 'N3 excision', '2026-03-04T09:00:00.000Z');
  await seedSlide(slide(4), 'north', 'N4 excision', '2026-03-09T10:00:00.000Z');
  await seedSlide(slide(5), 'south', 'S1 biopsy', '2026-03-05T10:00:00.000Z');
  const base = { site: 'north', state: 'done' as const };
  await seedRun('r1', {
    ...base,
    algorithm: v1,
    slide: slide(1),
    at: '2026-03-02T08:01:00.000Z',
    finished: '2026-03-02T08:10:00.000Z',
    label: 'Tumour',
    positive: true,
    score: 0.91,
  });
  await seedRun('r2', {
    ...base,
    algorithm: v1,
    slide: slide(2),
    at: '2026-03-03T09:01:00.000Z',
    finished: '2026-03-03T09:30:00.000Z',
    label: 'Tumour',
    positive: true,
    score: 0.7,
  });
  await seedRun('r3', {
    ...base,
    algorithm: v1,
    slide: slide(3),
    at: '2026-03-04T09:01:00.000Z',
    finished: '2026-03-04T09:06:00.000Z',
    state: 'failed',
    failure: 'timeout',
  });
  await seedRun('r4', {
    ...base,
    algorithm: v1,
    slide: slide(4),
    at: '2026-03-09T10:01:00.000Z',
    finished: '2026-03-09T10:05:00.000Z',
    label: 'Benign',
    positive: false,
    score: 0.1,
  });
  await seedRun('r5', {
    ...base,
    algorithm: v2,
    slide: slide(1),
    at: '2026-03-10T08:00:00.000Z',
    finished: '2026-03-10T08:02:00.000Z',
    label: 'Tumour',
    positive: true,
    score: 0.95,
  });
  await seedRun('r6', {
    algorithm: v1,
    slide: slide(5),
    site: 'south',
    at: '2026-03-05T10:01:00.000Z',
    finished: '2026-03-05T10:11:00.000Z',
    state: 'done',
    label: 'Tumour',
    positive: true,
    score: 0.8,
  });
  const nora = USERS.northPathologist.name;
  await seedVerdict('r1', nora, 'accept', '2026-03-02T12:00:00.000Z');
  await seedVerdict('r2', nora, 'reject', '2026-03-10T12:00:00.000Z', 'slide', 'reactive changes only');
  await seedVerdict('r4', nora, 'reject', '2026-03-09T15:00:00.000Z', 'slide', 'carcinoma missed');
  await seedVerdict('r4', nora, 'accept', '2026-03-09T15:01:00.000Z', randomUUID());
  await seedVerdict('r4', nora, 'accept', '2026-03-09T15:02:00.000Z', randomUUID());
  await seedVerdict('r4', nora, 'reject', '2026-03-09T15:03:00.000Z', randomUUID());
  await seedVerdict('r5', nora, 'accept', '2026-03-10T09:00:00.000Z');
  await seedVerdict('r6', 'seed.admin', 'reject', '2026-03-05T12:00:00.000Z');
}

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  contexts.push(ctx);
  const page = await ctx.newPage();
  recordProblems(page, problems);
  return page;
}

/** GET from inside the page (its session cookie): status and body. */
function fetchIn(page: Page, url: string): Promise<{ status: number; text: string }> {
  return page.evaluate(async (u) => {
    const r = await fetch(u);
    return { status: r.status, text: await r.text() };
  }, url);
}

const cells = (row: ReturnType<Page['locator']>, k: string) => row.locator(`[data-k="${k}"]`).textContent();

describe.skipIf(!ready)('AI quality page (Chromium, strict CSP)', () => {
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

  it('a lab manager sees the figures the API gives, the plot and the discordant slides', async () => {
    const page = await newPage();
    await logIn(page, server.base, MANAGER);
    // From the navigation.
    await page.getByRole('link', { name: 'AI quality' }).click();
    await page.waitForURL('**/ai-qa');
    await page.getByTestId('ai-qa').waitFor(WAIT);
    expect(await page.getByRole('link', { name: 'AI quality' }).getAttribute('aria-current')).toBe('page');
    // The dates asked for go in the address.
    await page.getByLabel('From').fill(FILTER.from);
    await page.getByLabel('To').fill(FILTER.to);
    await page.waitForURL(`**${PAGE}`);
    expect(await page.getByLabel('Site', { exact: true }).isDisabled()).toBe(true);

    const res = await fetchIn(page, `/api/ai/qa?${qaApiQuery(FILTER).toString()}`);
    expect(res.status).toBe(200);
    const qa = JSON.parse(res.text) as AiQaDto;
    expect(qa.site).toBe('north');
    expect(qa.algorithms).toHaveLength(2);
    await expect.poll(() => page.locator('[data-testid="qa-summary"] tbody tr').count(), WAIT).toBe(2);

    for (const a of qa.algorithms) {
      const row = page.locator(`tr[data-algorithm="${a.algorithm.name} ${a.algorithm.version}"]`);
      expect(await cells(row, 'runs')).toBe(formatInt(a.runs.total));
      expect(await cells(row, 'failed')).toBe(formatInt(a.runs.failed));
      expect(await cells(row, 'accepted')).toBe(formatInt(a.slideVerdicts.accepted));
      expect(await cells(row, 'rejected')).toBe(formatInt(a.slideVerdicts.rejected));
      expect(await cells(row, 'agreement')).toBe(formatPercent(a.slideVerdicts.agreement));
      expect(await cells(row, 'finding-agreement')).toBe(formatPercent(a.findingVerdicts.agreement));
      expect(await cells(row, 'median')).toBe(formatDuration(a.timeToResult?.medianSeconds));
      expect(await cells(row, 'p90')).toBe(formatDuration(a.timeToResult?.p90Seconds));
      expect(await cells(row, 'discordant')).toBe(formatInt(a.discordant.length));
    }
    // The history's own figures, as people read them.
    const first = page.locator('tr[data-algorithm="Tumour finder 1"]');
    expect(await cells(first, 'agreement')).toBe('33.3 %');
    expect(await cells(first, 'median')).toBe('10 min');
    expect(await cells(first, 'p90')).toBe('30 min');
    expect(await cells(first, 'failed')).toBe('1');
    expect(await page.getByTestId('qa-totals').textContent()).toContain('50 %Agreement');

    // One point per judged week and version, at the API's agreement.
    const points = page.locator('[data-testid="qa-trend"] circle');
    const plotted = await points.evaluateAll((cs) =>
      cs.map(
        (c) =>
          `${c.closest('g')!.getAttribute('data-series')} ${c.getAttribute('data-week')} ${c.getAttribute('data-agreement')}`,
      ),
    );
    expect(plotted.sort()).toEqual(
      qa.algorithms
        .flatMap((a) =>
          a.weekly
            .filter((w) => w.agreement !== null)
            .map((w) => `${a.algorithm.name} ${a.algorithm.version} ${w.weekStart} ${w.agreement}`),
        )
        .sort(),
    );

    // Discordant slides both ways, newest verdict first, each opening its slide.
    const discordant = page.locator('[data-testid="qa-discordant"] tbody tr');
    expect(await discordant.evaluateAll((trs) => trs.map((t) => t.getAttribute('data-run')))).toEqual(
      qa.algorithms
        .flatMap((a) => a.discordant)
        .sort((x, y) => (x.at < y.at ? 1 : -1))
        .map((d) => d.runId),
    );
    expect(await discordant.evaluateAll((trs) => trs.map((t) => t.getAttribute('data-kind')))).toEqual([
      'ai_positive_rejected',
      'ai_negative_rejected',
    ]);
    const n4 = discordant.filter({ hasText: 'N4 excision' });
    expect(await n4.textContent()).toContain('carcinoma missed');
    expect(await n4.getByRole('link').getAttribute('href')).toBe(`/view/${slide(4)}`);
    await page.waitForTimeout(200);
    await page.screenshot({ path: artifact('ai-qa.png'), fullPage: true });

    await n4.getByRole('link').click();
    await page.waitForURL((u) => u.pathname === `/view/${slide(4)}`);
    await page.goBack();
    await page.getByTestId('ai-qa').waitFor(WAIT);
    expect(new URL(page.url()).search).toBe(`?from=${FILTER.from}&to=${FILTER.to}`);
  });

  it('the CSV buttons download the tables the API exports for the same filters', async () => {
    const page = await newPage();
    await logIn(page, server.base, MANAGER, PAGE);
    await page.getByTestId('ai-qa').waitFor(WAIT);
    for (const table of ['summary', 'weekly', 'discordant']) {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator(`a[data-csv="${table}"]`).click(),
      ]);
      expect(download.suggestedFilename()).toBe(`ai-qa-${table}.csv`);
      const got = readFileSync((await download.path())!, 'utf8');
      const q = qaApiQuery(FILTER);
      q.set('table', table);
      const want = await fetchIn(page, `/api/ai/qa.csv?${q.toString()}`);
      expect(got).toBe(want.text);
      if (table === 'summary')
        expect(got.split('\r\n')[1]).toBe('Tumour finder,1,true,4,3,1,1,2,0.3333,2,1,0.6667,2,600,1800,900');
    }
  });

  it('an empty period says so; an administrator chooses a site', async () => {
    const page = await newPage();
    await logIn(page, server.base, MANAGER, '/ai-qa?from=2025-01-01&to=2025-01-31');
    await page.getByTestId('qa-empty').waitFor(WAIT);
    expect(await page.getByTestId('qa-empty').textContent()).toContain('No AI runs in this period');

    const admin = await newPage();
    await logIn(admin, server.base, USERS.admin, PAGE);
    await admin.getByTestId('ai-qa').waitFor(WAIT);
    await expect
      .poll(() => admin.locator('tr[data-algorithm="Tumour finder 1"] [data-k="runs"]').textContent(), WAIT)
      .toBe('5');
    await admin.getByLabel('Site', { exact: true }).selectOption('south');
    await admin.waitForURL('**/ai-qa?site=south&**');
    await expect
      .poll(() => admin.locator('tr[data-algorithm="Tumour finder 1"] [data-k="runs"]').textContent(), WAIT)
      .toBe('1');
    expect(await admin.locator('[data-testid="qa-discordant"] tbody tr').textContent()).toContain(
      'S1 biopsy',
    );
  });

  it('a pathologist has no such page, and the server refuses her the figures', async () => {
    const page = await newPage();
    await logIn(page, server.base, USERS.northPathologist);
    expect(await page.getByRole('link', { name: 'AI quality' }).count()).toBe(0);
    await page.goto(`${server.base}${PAGE}`);
    await page.getByText('AI quality assurance is for lab managers').waitFor(WAIT);
    expect(await page.getByTestId('ai-qa').count()).toBe(0);
    const res = await fetchIn(page, `/api/ai/qa?${qaApiQuery(FILTER).toString()}`);
    expect(res.status).toBe(403);
    expect((JSON.parse(res.text) as { code: string }).code).toBe('FORBIDDEN');
    expect((await fetchIn(page, '/api/ai/qa.csv?table=summary')).status).toBe(403);
  });

  it('a run ending shows at once in the library and the viewer of its site’s users, not to another site', async () => {
    const running = async (key: string, slideId: string) => {
      const now = new Date().toISOString();
      await seedRun(key, {
        ...{ site: 'north', state: 'running' },
        algorithm: v1,
        slide: slideId,
        at: now,
        finished: now,
      });
      return runs[key]!;
    };
    const nora = await newPage();
    await logIn(nora, server.base, USERS.northPathologist);
    await nora.locator('text=N4 excision').first().waitFor(WAIT);
    const sam = await newPage();
    await logIn(sam, server.base, USERS.southSpecialist);
    const viewer = await newPage();
    await logIn(viewer, server.base, USERS.northPathologist, `/view/${slide(1)}`);
    // Their watches are in place once the server counts them.
    await expect
      .poll(
        async () => (await server.ctx.review['io']!.in(['ai:*', `ai:${slide(1)}`]).fetchSockets()).length,
        WAIT,
      )
      .toBe(3);

    const done = await running('live1', slide(4));
    expect(
      await server.ctx.ai.runs.complete(done, { label: 'Tumour', score: 0.88, positive: true, text: null }),
    ).toBe(true);
    const notice = nora.locator(`.run-notice[data-run="${done}"]`);
    await notice.waitFor(WAIT);
    expect(await notice.textContent()).toContain('Tumour finder 1 finished on N4 excision');
    expect(await notice.textContent()).toContain('Result: Tumour (positive), score 0.88.');
    expect(await notice.getByRole('link', { name: 'Open slide' }).getAttribute('href')).toBe(
      `/view/${slide(4)}`,
    );
    await nora.screenshot({ path: artifact('ai-run-notice-library.png') });

    const failed = await running('live2', slide(1));
    expect(
      await server.ctx.ai.runner.fail(failed, 'timeout', 'no results within the algorithm’s 300 s'),
    ).toBe(true);
    const inViewer = viewer.locator(`.run-notice[data-run="${failed}"]`);
    await inViewer.waitFor(WAIT);
    expect(await inViewer.getAttribute('data-state')).toBe('failed');
    expect(await inViewer.textContent()).toContain('Tumour finder 1 failed on this slide');
    expect(await inViewer.textContent()).toContain('no result in time');
    // The viewer watches its own slide only.
    expect(await viewer.locator(`.run-notice[data-run="${done}"]`).count()).toBe(0);
    await nora.locator(`.run-notice[data-run="${failed}"]`).waitFor(WAIT);
    await viewer.screenshot({ path: artifact('ai-run-notice-viewer.png') });
    // Sam (south) sees neither.
    expect(await sam.locator('.run-notice').count()).toBe(0);
    await inViewer.getByRole('button', { name: 'Dismiss' }).click();
    await inViewer.waitFor({ state: 'detached' });
  });

  it('breaks no Content Security Policy rule', () => {
    expect(problems).toEqual([]);
  });
});
