/**
 * A specialist's inbox in the browser: the count in the header rises the moment a second opinion is
 * asked (pushed, no reload), the invitation shows its question and due date, is accepted there, and
 * its link copied; someone not invited who opens the link is told so.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseDto, SecondOpinionDto } from '../../protocol/index.ts';
import { createUser } from '../../server/auth/users.ts';
import { authedFetch, slideRow, userWithToken } from '../helpers/auth.ts';
import {
  artifact,
  ensureClientBuilt,
  fillLogin,
  launchChromium,
  logIn,
  requireChromium,
  SITES,
  startServer,
  USERS,
  type TestServer,
  type TestUser,
} from './harness.ts';

const ready = requireChromium();
const WAIT = { timeout: 15_000 };
const SLIDE = 'c'.repeat(32);
const OUTSIDER: TestUser = {
  name: 'olive.other',
  displayName: 'Olive Other',
  role: 'pathologist',
  siteId: SITES.south.id,
  password: 'olive-e2e-password',
};

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];
let api: typeof fetch;
let opinion: SecondOpinionDto;

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

async function newPage(permissions: string[] = []): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1300, height: 800 }, permissions });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return page;
}

describe.skipIf(!ready)("a specialist's inbox (Chromium)", () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
    const admin = await userWithToken(server.ctx.db, { name: 'inbox.admin', role: 'admin', siteId: 'north' });
    api = authedFetch(() => admin.token);
    await createUser(server.ctx.db, OUTSIDER);
    await slideRow(server.ctx.db, { id: SLIDE, name: 'G26-0200 A1', siteId: SITES.north.id });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.close();
  });

  it('the count in the header rises as a second opinion is asked; the invitation is accepted and its link copied', async () => {
    const sam = await newPage(['clipboard-read', 'clipboard-write']);
    await logIn(sam, server.base, USERS.southSpecialist, '/inbox');
    await sam.getByText('No invitations').waitFor(WAIT);
    expect(await sam.getByTestId('inbox-count').count()).toBe(0);

    // A GI case at north, asked of Sam (the network's GI specialist) while his page is open.
    const users = await call<{ id: string; name: string }[]>('GET', '/api/users');
    const idOf = (name: string) => users.find((u) => u.name === name)!.id;
    await call('PATCH', `/api/pathologists/${idOf(USERS.southSpecialist.name)}`, { subspecialties: ['gi'] });
    const c = await call<CaseDto>('POST', '/api/cases', {
      accession: 'G26-0200',
      siteId: SITES.north.id,
      specimenType: 'biopsy',
      subspecialty: 'gi',
      priority: 'urgent',
      receivedAt: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10),
    });
    await call('POST', `/api/cases/${c.id}/slides`, { slideId: SLIDE });
    const nora = await userWithToken(server.ctx.db, {
      name: 'nora.token',
      role: 'pathologist',
      siteId: SITES.north.id,
    });
    await server.ctx.db.updateTable('cases').set({ assigned_to: nora.id }).where('id', '=', c.id).execute();
    const asked = await fetch(`${server.base}/api/cases/${c.id}/second-opinion`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nora.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ question: 'Sessile serrated lesion or hyperplastic polyp?' }),
    });
    expect(asked.status).toBe(201);
    opinion = (await asked.json()) as SecondOpinionDto;

    // Pushed: the count and the list change without a reload.
    await expect.poll(() => sam.getByTestId('inbox-count').textContent(), WAIT).toBe('1');
    const inv = sam.getByTestId('invitation');
    await inv.waitFor(WAIT);
    expect(await inv.getAttribute('data-response')).toBe('pending');
    const text = await inv.textContent();
    expect(text).toContain('Second opinion review');
    expect(text).toContain('“Sessile serrated lesion or hyperplastic polyp?”');
    expect(text).toMatch(/Due in \d+ days?|Due today/);
    expect(text).not.toContain('G26-0200');
    await sam.screenshot({ path: artifact('inbox.png') });

    await inv.getByRole('button', { name: 'Copy link' }).click();
    await inv.getByRole('button', { name: 'Link copied' }).waitFor(WAIT);
    expect(await sam.evaluate('navigator.clipboard.readText()')).toBe(
      `${server.base}/view/${SLIDE}?session=${opinion.sessionId}`,
    );

    await inv.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(() => inv.getAttribute('data-response'), WAIT).toBe('accepted');
    await expect.poll(() => sam.getByTestId('inbox-count').count(), WAIT).toBe(0);
    expect(await sam.getByTestId('inbox-summary').textContent()).toBe('Everything answered.');
    expect(await inv.getByRole('link', { name: 'Open' }).getAttribute('href')).toBe(
      `/view/${SLIDE}?session=${opinion.sessionId}`,
    );
    await sam.screenshot({ path: artifact('inbox-accepted.png') });
  });

  it('someone not invited who opens the link is told so, not that there is no slide', async () => {
    const olive = await newPage();
    await olive.goto(`${server.base}/view/${SLIDE}?session=${opinion.sessionId}`);
    await olive.waitForURL('**/login**');
    await fillLogin(olive, OUTSIDER.name, OUTSIDER.password);
    await olive.getByRole('heading', { name: 'You are not invited to this review' }).waitFor(WAIT);
    expect(await olive.getByText('There is no slide').count()).toBe(0);
    await olive.screenshot({ path: artifact('inbox-not-invited.png') });
    expect(problems).toEqual([]);
  });
});
