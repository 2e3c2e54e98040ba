import { readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobDto, UploadAccepted } from '../../protocol/index.ts';
import { stainOf } from '../../server/library/stain.ts';
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

const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const ready = requireChromium();
const WAIT = { timeout: 20_000 };
const MANY = 120;

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
let uploadedId = '';

/** 120 north slides known to the database (no pixels: the library lists rows, not images). */
async function seed(): Promise<void> {
  const db = server.ctx.db;
  for (let i = 0; i < MANY; i++) {
    const id = (i + 1).toString(16).padStart(32, 'c');
    const name = `N26-${String(i).padStart(4, '0')} A${(i % 3) + 1} ${i % 4 === 0 ? 'Ki67' : 'HE'}`;
    const at = new Date(Date.UTC(2025, 5, 1) + i * 3_600_000).toISOString();
    await db
      .insertInto('slides')
      .values({
        id,
        name,
        source_format: 'aperio-svs',
        width: 40_000,
        height: 30_000,
        tile_size: 256,
        levels: 9,
        mpp_x: 0.25,
        mpp_y: 0.25,
        objective_power: 40,
        associated: '[]',
        created_at: at,
        site_id: 'north',
        stain: stainOf(name),
      })
      .execute();
    await db
      .insertInto('slide_sites')
      .values({
        slide_id: id,
        site_id: 'north',
        name,
        created_at: at,
        uploaded_by: null,
        stain: stainOf(name),
      })
      .execute();
  }
  // The real file, uploaded first by someone of north under the name the lab gave it.
  const admin = await userWithToken(db, { name: 'seed.admin', role: 'admin', siteId: 'north' });
  const api = authedFetch(() => admin.token);
  const res = await api(`${server.base}/api/slides?name=${encodeURIComponent('Block B2 HE.svs')}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: readFileSync(SVS),
  });
  const { jobId } = (await res.json()) as UploadAccepted;
  for (let i = 0; i < 600; i++) {
    const job = (await (await api(`${server.base}/api/jobs/${jobId}`)).json()) as JobDto;
    if (job.state === 'done' && job.slideId) {
      uploadedId = job.slideId;
      return;
    }
    if (job.state === 'failed') throw new Error(`ingest failed: ${job.error?.message}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('ingest did not finish');
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

const rowIds = (page: Page): Promise<string[]> =>
  page.$$eval('tr[data-slide-id]', (rows) => rows.map((r) => r.getAttribute('data-slide-id') ?? ''));

describe.skipIf(!ready || !haveSlides)('the library in pages (Chromium, strict CSP)', () => {
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

  it('pages through with Load more, keeps filters in the address, and names a duplicate upload with a link', async () => {
    const page = await newPage();
    await logIn(page, server.base, USERS.northPathologist);
    await expect.poll(async () => (await rowIds(page)).length, WAIT).toBe(50);
    await expect
      .poll(() => page.getByTestId('slide-count').textContent(), WAIT)
      .toBe('50 shown, more to load');
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(async () => (await rowIds(page)).length, WAIT).toBe(100);
    await page.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(async () => (await rowIds(page)).length, WAIT).toBe(MANY + 1);
    await page.getByText('End of the list').waitFor(WAIT);
    const ids = await rowIds(page);
    expect(new Set(ids).size).toBe(ids.length);
    await page.screenshot({ path: '/tmp/library-paging.png', fullPage: false });

    // Filters live in the address: a search and a stain, kept over a reload.
    await page.getByLabel('Search slides').fill('a2');
    await page.waitForURL(/[?&]q=a2/, WAIT);
    await page.getByLabel('Stain').selectOption('ki67');
    await page.waitForURL(/stain=ki67/, WAIT);
    const expected = Array.from({ length: MANY }, (_, i) => i).filter(
      (i) => i % 3 === 1 && i % 4 === 0,
    ).length;
    await expect.poll(async () => (await rowIds(page)).length, WAIT).toBe(expected);
    await page.reload();
    await expect.poll(async () => (await rowIds(page)).length, WAIT).toBe(expected);
    expect(await page.getByLabel('Search slides').inputValue()).toBe('a2');
    await page.getByLabel('Sort by').selectOption('name-desc');
    await page.waitForURL(/sort=name&dir=desc/, WAIT);
    const names = await page.$$eval('a.slide-name', (a) => a.map((x) => x.textContent ?? ''));
    expect(names).toEqual([...names].sort().reverse());

    // The same file again: already in the library, under the name north gave it, with a link.
    await page.goto(`${server.base}/`);
    await page.setInputFiles('[data-testid="file-input"]', SVS);
    const dup = page.getByTestId('upload-duplicate');
    await dup.waitFor({ timeout: 60_000 });
    expect(await dup.textContent()).toBe('Already in the library as Block B2 HE');
    await page.screenshot({ path: '/tmp/library-duplicate.png', fullPage: false });
    await page.screenshot({ path: artifact('library-duplicate.png') });
    await dup.getByRole('link', { name: 'Block B2 HE' }).click();
    await page.waitForURL((u) => u.pathname === `/view/${uploadedId}`, WAIT);
    expect(problems).toEqual([]);
  }, 120_000);
});
