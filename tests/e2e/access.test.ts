import { writeFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../helpers/slides.ts';
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
} from './harness.ts';

// Has a label image (Aperio SVS keeps label and macro apart): what de-identification must withhold.
const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const ORIGINAL_NAME = 'CMU-1-Small-Region';
const STUDY_CODE = 'STUDY-001';

const ready = requireSlides() && requireChromium();
/** For answers from the server: argon2 and slide conversion share the CPU with the other test file. */
const WAIT = { timeout: 15_000 };

let server: TestServer;
let browser: Browser;
/** Nora, north pathologist: uploads and shares. */
let north: BrowserContext;
let nora: Page;
/** Sam, south specialist, in a browser context of his own (own cookies). */
let south: BrowserContext;
let sam: Page;
let slideId = '';
const problems: string[] = [];

function watch(p: Page, who: string): void {
  p.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
      problems.push(`${who}: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
}

async function waitFullyLoaded(p: Page): Promise<void> {
  await p.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
  await p.waitForTimeout(300);
}

describe.skipIf(!ready)('accounts, sharing and de-identification end to end (Chromium, strict CSP)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
    north = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    south = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    nora = await north.newPage();
    sam = await south.newPage();
    watch(nora, 'north');
    watch(sam, 'south');
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('a signed-out visit lands on the login page; a wrong password says so and stays there', async () => {
    await nora.goto(`${server.base}/`);
    await nora.waitForURL('**/login');
    await nora.getByRole('heading', { name: 'Sign in' }).waitFor();
    // Users exist, so no first-admin instructions.
    expect(await nora.getByTestId('setup-required').count()).toBe(0);
    await nora.screenshot({ path: artifact('login.png') });

    await fillLogin(nora, USERS.northPathologist.name, 'not-the-password');
    const error = nora.getByTestId('login-error');
    await error.waitFor();
    expect(await error.textContent()).toBe('Wrong user name or password.');
    expect(new URL(nora.url()).pathname).toBe('/login');
    // The password is cleared for the next try, the name kept.
    expect(await nora.getByLabel('Password').inputValue()).toBe('');
    expect(await nora.getByLabel('User name').inputValue()).toBe(USERS.northPathologist.name);
    await nora.screenshot({ path: artifact('login-error.png') });

    // An unknown user reads the same (no telling which names exist).
    await fillLogin(nora, 'nobody-here', 'whatever-password');
    await expect.poll(() => nora.getByLabel('Password').inputValue(), WAIT).toBe('');
    expect(await error.textContent()).toBe('Wrong user name or password.');
  });

  it('a server without accounts shows how to make the first administrator', async () => {
    const fresh = await startServer({ accounts: false });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    watch(page, 'setup');
    try {
      await page.goto(`${fresh.base}/view/${'0'.repeat(32)}`);
      await page.waitForURL('**/login?next=**');
      const setup = page.getByTestId('setup-required');
      await setup.waitFor();
      // The command names this server's data folder, so it reaches this server's database.
      expect(await setup.locator('code').textContent()).toBe(
        `npx tessera user add --name NAME --role admin --site SITE --password-stdin --data ${fresh.ctx.config.dataDir}`,
      );
      await page.screenshot({ path: artifact('login-setup.png') });
    } finally {
      await page.close();
      await fresh.close();
    }
  });

  it('too many wrong passwords are refused for a while; a server that does not answer says so', async () => {
    // A server of its own, so the limit does not lock the other tests out.
    const strict = await startServer({ loginAttemptsPer15Min: 3 });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    watch(page, 'rate limit');
    try {
      await page.goto(`${strict.base}/login`);
      const error = page.getByTestId('login-error');
      for (let i = 0; i < 3; i++) {
        // (a wrong password is cleared once the server has judged it)
        await fillLogin(page, USERS.southSpecialist.name, `wrong-password-${i}`);
        await expect.poll(() => page.getByLabel('Password').inputValue(), WAIT).toBe('');
        expect(await error.textContent()).toBe('Wrong user name or password.');
      }
      // Now even the right password waits.
      await fillLogin(page, USERS.southSpecialist.name, USERS.southSpecialist.password);
      await expect.poll(() => error.textContent(), WAIT).toMatch(/^Too many sign-in attempts/);
      // Not judged, so kept for the next try.
      expect(await page.getByLabel('Password').inputValue()).toBe(USERS.southSpecialist.password);
      expect(new URL(page.url()).pathname).toBe('/login');
      await page.screenshot({ path: artifact('login-rate-limited.png') });
    } finally {
      await strict.close();
    }
    await fillLogin(page, USERS.southSpecialist.name, USERS.southSpecialist.password);
    await expect
      .poll(() => page.getByTestId('login-error').textContent(), WAIT)
      .toMatch(/^Cannot reach the Tessera server/);
    await page.screenshot({ path: artifact('login-server-down.png') });
    await page.close();
  });

  it('the north pathologist signs in, sees who she is, and uploads a slide', async () => {
    await fillLogin(nora, USERS.northPathologist.name, USERS.northPathologist.password);
    await nora.waitForURL(`${server.base}/`);
    await nora.getByText('No slides yet').waitFor();

    await nora.getByTestId('user-menu').click();
    const panel = nora.getByTestId('user-panel');
    await panel.waitFor();
    expect(await panel.textContent()).toContain(USERS.northPathologist.displayName);
    expect(await nora.getByTestId('user-role').textContent()).toBe('Pathologist');
    expect(await nora.getByTestId('user-site').textContent()).toBe(SITES.north.name);
    await nora.screenshot({ path: artifact('user-menu.png') });
    await nora.keyboard.press('Escape');
    await expect.poll(() => panel.count()).toBe(0);

    await nora.setInputFiles('[data-testid="file-input"]', SVS);
    const upload = nora.locator('.upload').first();
    await expect.poll(() => upload.getAttribute('data-phase'), { timeout: 120_000 }).toBe('done');
    const row = nora.locator('table.slides tbody tr').first();
    await row.waitFor();
    slideId = (await row.getAttribute('data-slide-id')) ?? '';
    expect(slideId).toMatch(/^[0-9a-f]{32}$/);
    await expect.poll(() => row.locator('.slide-name').textContent(), WAIT).toBe(ORIGINAL_NAME);
    // Her own site's slide: no badges, and its label shows.
    expect(await row.locator('.badge').count()).toBe(0);
    await row.locator('img.label-img').waitFor();
  }, 180_000);

  it('she shares it de-identified with the south specialist from the viewer', async () => {
    await nora.goto(`${server.base}/view/${slideId}`);
    await waitFullyLoaded(nora);
    await nora.getByTestId('share-button').click();
    const dialog = nora.getByRole('dialog', { name: /Share/ });
    await dialog.waitFor();
    await dialog.getByTestId('no-shares').waitFor();

    // People at her own site already see the slide: only Sam is offered.
    const picker = dialog.getByTestId('share-user');
    await expect.poll(() => picker.isEnabled(), WAIT).toBe(true);
    const options = await picker.locator('option').allTextContents();
    expect(options).toContain(`${USERS.southSpecialist.displayName} — ${SITES.south.name}`);
    expect(options.some((o) => o.includes(USERS.admin.displayName))).toBe(false);
    expect(options.some((o) => o.includes(USERS.northPathologist.displayName))).toBe(false);

    // The expiry starts 30 days ahead, capped at a year.
    const expires = dialog.getByTestId('share-expires');
    const day = (n: number) => {
      const d = new Date();
      d.setDate(d.getDate() + n);
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    };
    expect(await expires.inputValue()).toBe(day(30));
    expect(await expires.getAttribute('max')).toBe(day(365));

    await picker.selectOption({ label: `${USERS.southSpecialist.displayName} — ${SITES.south.name}` });
    // Another site: de-identified by default, and then a study code is required.
    expect(await dialog.getByTestId('share-deidentified').isChecked()).toBe(true);
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    await dialog.getByText(/needs a study code/).waitFor();

    await dialog.getByTestId('share-study-code').fill(STUDY_CODE);
    await dialog.getByRole('button', { name: 'Share', exact: true }).click();
    const row = dialog.locator('tr.share-row');
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('active');
    const text = (await row.textContent()) ?? '';
    expect(text).toContain(USERS.southSpecialist.displayName);
    expect(text).toContain('De-identified');
    expect(text).toContain(STUDY_CODE);
    expect(text).toContain(day(30));
    await dialog.getByRole('status').filter({ hasText: 'Shared with' }).waitFor();
    await nora.screenshot({ path: artifact('share-dialog.png') });
  });

  it('the specialist sees it only under the study code, without label or upload controls, and can view it', async () => {
    await logIn(sam, server.base, USERS.southSpecialist);
    const row = sam.locator('table.slides tbody tr');
    await expect.poll(() => row.count(), WAIT).toBe(1);
    expect(await row.getAttribute('data-slide-id')).toBe(slideId);
    expect(await row.locator('.slide-name').textContent()).toBe(STUDY_CODE);
    expect(await row.locator('.badge.shared').count()).toBe(1);
    expect(await row.locator('.badge.deid').count()).toBe(1);
    // No label image, and the label is not served to him either.
    expect(await row.locator('img.label-img').count()).toBe(0);
    expect((await sam.request.get(`${server.base}/api/slides/${slideId}/associated/label`)).status()).toBe(
      404,
    );
    // The thumbnail (made from the pyramid) still shows.
    await expect
      .poll(
        () =>
          row
            .locator('img.thumb')
            .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        WAIT,
      )
      .toBeGreaterThan(0);
    // A specialist uploads nothing.
    expect(await sam.getByTestId('file-input').count()).toBe(0);
    expect(await sam.getByRole('button', { name: /Upload/ }).count()).toBe(0);
    expect(await sam.content()).not.toContain(ORIGINAL_NAME);

    await sam.getByTestId('user-menu').click();
    expect(await sam.getByTestId('user-role').textContent()).toBe('Specialist (external reviewer)');
    expect(await sam.getByTestId('user-site').textContent()).toBe(SITES.south.name);
    await sam.keyboard.press('Escape');
    await sam.screenshot({ path: artifact('shared-library.png') });

    await row.locator('.slide-name').click();
    await sam.waitForURL(`**/view/${slideId}**`);
    await waitFullyLoaded(sam);
    expect(await sam.locator('.slide-title-name').textContent()).toBe(STUDY_CODE);
    // Not his site's slide: he may not share it on.
    expect(await sam.getByTestId('share-button').count()).toBe(0);
    await sam.getByRole('tab', { name: 'Slide info' }).click();
    expect(await sam.locator('.assoc img').count()).toBe(0);
    expect(await sam.content()).not.toContain(ORIGINAL_NAME);
    await sam.screenshot({ path: artifact('shared-viewer.png') });
  });

  it('after the share is revoked the slide is gone from his library', async () => {
    const dialog = nora.getByRole('dialog', { name: /Share/ });
    await dialog.getByRole('button', { name: /Revoke/ }).click();
    const row = dialog.locator('tr.share-row');
    await expect.poll(() => row.getAttribute('data-status'), WAIT).toBe('revoked');
    expect(await dialog.getByRole('button', { name: /Revoke/ }).count()).toBe(0);
    await nora.screenshot({ path: artifact('share-revoked.png') });
    await dialog.getByRole('button', { name: 'Close', exact: true }).first().click();
    await expect.poll(() => nora.getByRole('dialog').count()).toBe(0);

    await sam.goto(`${server.base}/`);
    await sam.getByText('No slides yet').waitFor();
    expect(await sam.locator('table.slides tbody tr').count()).toBe(0);
    await sam.goto(`${server.base}/view/${slideId}`);
    await sam.getByRole('heading', { name: 'Slide not found' }).waitFor();
  });

  it('a session that ends mid-page leads to the login page and back to the same view', async () => {
    const view = `/view/${slideId}?x=1110&y=1483&zoom=5`;
    await nora.goto(`${server.base}${view}`);
    await waitFullyLoaded(nora);
    // The session goes (expired, or ended elsewhere); the next API call answers 401: the click's, or
    // one the page makes on its own first (the progress of a slide still converting), whose answer
    // takes the page away under the click.
    await north.clearCookies();
    const toLogin = nora.waitForURL('**/login?next=**');
    await Promise.race([
      nora
        .getByTestId('share-button')
        .click()
        .catch(() => undefined),
      toLogin,
    ]);
    await toLogin;
    expect(new URL(nora.url()).searchParams.get('next')).toBe(view);
    await fillLogin(nora, USERS.northPathologist.name, USERS.northPathologist.password);
    await nora.waitForURL(`**${view}`);
    await waitFullyLoaded(nora);
  });

  it('"Sign out" ends the session and shows the login page', async () => {
    await nora.getByTestId('user-menu').click();
    await nora.getByRole('button', { name: 'Sign out' }).click();
    await nora.waitForURL('**/login');
    await nora.getByRole('heading', { name: 'Sign in' }).waitFor();
    // The cookie is gone: the API refuses, and pages send the browser back to the login page.
    expect((await nora.request.get(`${server.base}/api/slides`)).status()).toBe(401);
    await nora.goto(`${server.base}/view/${slideId}`);
    await nora.waitForURL(`**/login?next=${encodeURIComponent(`/view/${slideId}`)}`);
  });

  it('nothing broke the strict CSP or threw in either page', () => {
    writeFileSync(artifact('access-console-problems.txt'), problems.join('\n'));
    expect(problems).toEqual([]);
  });
});
