import { existsSync, readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseDto, JobDto, UploadAccepted } from '../../protocol/index.ts';
import { createUser } from '../../server/auth/users.ts';
import { authedFetch, userWithToken } from '../helpers/auth.ts';
import { haveSlides, slidePath } from '../helpers/slides.ts';
import {
  artifact,
  ensureClientBuilt,
  launchChromium,
  logIn,
  requireChromium,
  startServer,
  USERS,
  type TestServer,
} from './harness.ts';

/** Three small slides from three scanners' formats, named as a lab names a case's blocks and stains. */
const FILES = [
  { file: 'ome-tiff/minerva-2048x2048-ome6-pyramid.ome.tif', name: 'A10 H&E.tif' },
  { file: 'aperio/CMU-1-Small-Region.svs', name: 'A1 H&E.svs' },
  { file: 'generic-tiff/openslide-boxes.tiff', name: 'A2 PAS.tiff' },
] as const;
const have = haveSlides && FILES.every((f) => existsSync(slidePath(f.file)));
const ready = requireChromium();
const WAIT = { timeout: 20_000 };
const ACC = 'N26-0101';

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
let api: typeof fetch;
/** Slide ids in reading order (A1, A2, A10). */
let ordered: string[] = [];
let caseId = '';

async function call<T>(method: string, p: string, body?: unknown): Promise<T> {
  const res = await api(`${server.base}${p}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

async function upload(file: string, name: string): Promise<string> {
  const res = await api(`${server.base}/api/slides?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: readFileSync(slidePath(file)),
  });
  expect(res.status).toBe(202);
  const { jobId } = (await res.json()) as UploadAccepted;
  for (let i = 0; i < 600; i++) {
    const job = await call<JobDto>('GET', `/api/jobs/${jobId}`);
    if (job.state === 'done' && job.slideId) return job.slideId;
    if (job.state === 'failed') throw new Error(`ingest of ${name} failed: ${job.error?.message}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('ingest did not finish');
}

async function seed(): Promise<void> {
  const admin = await userWithToken(server.ctx.db, { name: 'seed.admin', role: 'admin', siteId: 'north' });
  api = authedFetch(() => admin.token);
  const ids: Record<string, string> = {};
  for (const f of FILES) ids[f.name] = await upload(f.file, f.name);
  ordered = [ids['A1 H&E.svs']!, ids['A2 PAS.tiff']!, ids['A10 H&E.tif']!];
  const nora = await server.ctx.db
    .selectFrom('users')
    .select('id')
    .where('name', '=', USERS.northPathologist.name)
    .executeTakeFirstOrThrow();
  const make = async (accession: string, priority: 'urgent' | 'routine', slides: string[]) => {
    let c = await call<CaseDto>('POST', '/api/cases', {
      accession,
      siteId: 'north',
      specimenType: 'excision',
      subspecialty: 'skin',
      priority,
      receivedAt: new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10),
    });
    for (const slideId of slides) c = await call<CaseDto>('POST', `/api/cases/${c.id}/slides`, { slideId });
    return call<CaseDto>('PATCH', `/api/cases/${c.id}`, { assignedTo: nora.id });
  };
  // Attached out of reading order: the case shows them A1, A2, A10.
  caseId = (await make(ACC, 'urgent', [ids['A10 H&E.tif']!, ids['A2 PAS.tiff']!, ids['A1 H&E.svs']!])).id;
  await make('N26-0102', 'routine', []);
}

async function newPage(): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page;
}

/** The viewer on slide `n` (1-based) of the case, with the bar saying so. */
async function onSlide(page: Page, n: number): Promise<void> {
  await page.waitForURL(`**/view/${ordered[n - 1]}?case=${ACC}**`, WAIT);
  await expect
    .poll(() => page.getByTestId('case-bar-position').textContent(), WAIT)
    .toContain(`Slide ${n} of 3`);
}

describe.skipIf(!ready || !have)('a pathologist reads a case (Chromium, strict CSP)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
    await seed();
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.close();
  });

  it('opens the case from the worklist, reads its slides through the case bar, reports it and undoes that', async () => {
    const page = await newPage();
    await logIn(page, server.base, USERS.northPathologist, '/worklist');
    const row = page.locator(`tr[data-case="${ACC}"]`);
    await row.waitFor(WAIT);

    // Filters: priority and status, kept in the address.
    await page.getByLabel('Priority').selectOption('routine');
    await expect.poll(() => page.locator('tr[data-case]').count()).toBe(1);
    expect(await page.locator('tr[data-case="N26-0102"]').count()).toBe(1);
    expect(page.url()).toContain('priority=routine');
    expect(await page.getByTestId('worklist-count').textContent()).toContain('1 of 2 cases');
    await page.getByLabel('Priority').selectOption('urgent');
    await page.getByLabel('Status').selectOption('assigned');
    await row.waitFor();
    expect(await page.locator('tr[data-case]').count()).toBe(1);
    await page.getByLabel('Status').selectOption('in_review');
    await page.getByText('No case matches these filters').waitFor();
    await page.getByRole('button', { name: 'Show all cases' }).click();
    await expect.poll(() => page.locator('tr[data-case]').count()).toBe(2);
    await page.screenshot({ path: artifact('cases-worklist.png') });

    // The accession opens the case page: details, slides in reading order, nothing read yet.
    await row.getByRole('link', { name: ACC, exact: true }).click();
    await page.waitForURL(`**/cases/${ACC}`);
    await page.getByRole('heading', { name: `Case ${ACC}` }).waitFor(WAIT);
    const cards = page.getByTestId('case-slide');
    await expect.poll(() => cards.count(), WAIT).toBe(3);
    expect(await cards.locator('.case-slide-name').allTextContents()).toEqual([
      'A1 H&E',
      'A2 PAS',
      'A10 H&E',
    ]);
    expect(await page.getByText('Not read yet').count()).toBe(3);
    expect(await page.getByTestId('case-history').textContent()).toContain('Slide A1 H&E attached');
    await page.waitForTimeout(500);
    await page.screenshot({ path: artifact('cases-page-unread.png'), fullPage: true });

    // Back to the worklist; "Start review" opens the first unread slide with the case bar.
    await page.getByRole('link', { name: '← Worklist' }).click();
    await row.getByRole('button', { name: 'Start review' }).click();
    await onSlide(page, 1);
    await page.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
    expect(await page.getByRole('link', { name: 'Previous slide' }).count()).toBe(0);
    await page.screenshot({ path: artifact('cases-viewer-bar.png') });

    // Back to the case: slide 1 is read; continuing opens slide 2, the first unread one.
    await page.getByRole('link', { name: `← Case ${ACC}` }).click();
    await page.waitForURL(`**/cases/${ACC}`);
    await expect.poll(() => page.getByText('✓ Read').count(), WAIT).toBe(1);
    expect(await page.getByTestId('case-status').textContent()).toBe('In review');
    await page.getByRole('button', { name: 'Continue reading' }).click();
    await onSlide(page, 2);

    // Next and previous through the case.
    await page.getByRole('link', { name: 'Next slide ›' }).click();
    await onSlide(page, 3);
    expect(await page.getByRole('link', { name: 'Next slide ›' }).count()).toBe(0);
    await page.getByRole('link', { name: '‹ Previous slide' }).click();
    await onSlide(page, 2);
    await page.getByRole('link', { name: `← Case ${ACC}` }).click();
    await page.waitForURL(`**/cases/${ACC}`);
    await expect.poll(() => page.getByText('✓ Read').count(), WAIT).toBe(3);
    expect(await page.getByTestId('case-history').textContent()).toContain('Status set to In review');
    await page.screenshot({ path: artifact('cases-page-read.png'), fullPage: true });

    // Mark reported from the worklist: asked first, then undoable for a few seconds.
    await page.getByRole('link', { name: '← Worklist' }).click();
    await row.getByRole('button', { name: 'Mark reported' }).click();
    const dialog = page.getByRole('dialog', { name: `Mark ${ACC} reported?` });
    await dialog.waitFor();
    await page.screenshot({ path: artifact('cases-report-confirm.png') });
    // Cancel leaves it as it was.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect((await call<CaseDto>('GET', `/api/cases/${caseId}`)).status).toBe('in_review');
    await row.getByRole('button', { name: 'Mark reported' }).click();
    await dialog.getByRole('button', { name: 'Mark reported' }).click();
    const toast = page.getByTestId('report-toast');
    await toast.waitFor(WAIT);
    await row.waitFor({ state: 'detached', ...WAIT });
    expect((await call<CaseDto>('GET', `/api/cases/${caseId}`)).status).toBe('reported');
    expect(
      Number((await page.getByTestId('undo-seconds').textContent())?.replace(/\D/g, '')),
    ).toBeGreaterThan(5);
    await page.screenshot({ path: artifact('cases-report-undo-toast.png') });
    await toast.getByRole('button', { name: 'Undo' }).click();
    await page.getByText(`${ACC} is no longer reported (back to In review).`).waitFor(WAIT);
    await row.waitFor(WAIT);
    expect((await call<CaseDto>('GET', `/api/cases/${caseId}`)).status).toBe('in_review');
    await page.screenshot({ path: artifact('cases-report-undone.png') });

    // A guessed accession: the page says there is no such case.
    await page.goto(`${server.base}/cases/S26-0999`);
    await page.getByText('There is no case S26-0999 that you may see.').waitFor(WAIT);
    await page.screenshot({ path: artifact('cases-not-found.png') });

    // The viewer, opened from the library, links to the case too.
    await page.goto(`${server.base}/`);
    const libRow = page.locator(`tr[data-slide-id="${ordered[0]}"]`);
    await libRow.getByTestId('slide-cases').getByRole('link', { name: ACC }).waitFor(WAIT);
    await libRow.getByRole('link', { name: 'A1 H&E', exact: true }).click();
    await page
      .getByTestId('case-bar')
      .getByRole('link', { name: `← Case ${ACC}` })
      .waitFor(WAIT);

    const audit = await server.ctx.db
      .selectFrom('audit')
      .select('action')
      .where('target_id', '=', caseId)
      .where('action', 'in', ['case.report', 'case.report_undo'])
      .orderBy('id')
      .execute();
    expect(audit.map((a) => a.action)).toEqual(['case.report', 'case.report_undo']);
    expect(problems).toEqual([]);
  }, 180_000);

  it('a lab manager reassigns an open case from its page to another pathologist of its subspecialty', async () => {
    const manager = {
      name: 'mia.manager',
      displayName: 'Mia Manager',
      role: 'lab_manager' as const,
      siteId: 'north',
      password: 'mia-e2e-password',
    };
    await createUser(server.ctx.db, manager);
    const paul = await createUser(server.ctx.db, {
      name: 'paul.park',
      displayName: 'Paul Park',
      role: 'pathologist',
      siteId: 'north',
      password: 'paul-e2e-password',
    });
    await call('PATCH', `/api/pathologists/${paul.id}`, { subspecialties: ['skin'], weeklyCapacity: 20 });
    const page = await newPage();
    await logIn(page, server.base, manager, '/cases/N26-0102');
    const reassign = page.getByTestId('case-reassign');
    await reassign.waitFor(WAIT);
    const select = reassign.getByRole('combobox');
    await expect
      .poll(() => select.locator('option').allTextContents(), WAIT)
      .toContain('Paul Park · North Hospital · 0 / 20 pts');
    await select.selectOption({ label: 'Paul Park · North Hospital · 0 / 20 pts' });
    await reassign.getByRole('button', { name: 'Reassign' }).click();
    await expect
      .poll(() => page.locator('.case-details').textContent(), WAIT)
      .toContain('Assigned toPaul Park');
    const c = await call<CaseDto>(
      'GET',
      `/api/cases/${(await call<CaseDto[]>('GET', '/api/cases?q=N26-0102'))[0]!.id}`,
    );
    expect(c.assignedTo).toBe(paul.id);
    await page.screenshot({ path: artifact('cases-reassign.png') });
    expect(problems).toEqual([]);
  });
});
