/**
 * The admin page in Chromium under the strict CSP: an administrator opens it from the header, is told
 * plainly what a form lacks, creates a specialist with a subspecialty and a weekly capacity, gives
 * her a leave period, disables a pathologist (whose open page is signed out) and enables her again,
 * and imports a case CSV whose bad row is listed with its number and reason. Screenshots go to
 * /tmp/admin-*.png.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminUserDto } from '../../protocol/index.ts';
import { localDate } from '../../server/admin/leave.ts';
import {
  ensureClientBuilt,
  launchChromium,
  logIn,
  requireChromium,
  startServer,
  USERS,
  type TestServer,
} from './harness.ts';

const ready = requireChromium();
const WAIT = { timeout: 15_000 };

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];

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

const day = (offset: number): string => localDate(new Date(Date.now() + offset * 86_400_000));

describe.skipIf(!ready)('administration (Chromium, strict CSP)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.close();
  });

  it('an administrator creates a specialist with a subspecialty and capacity, adds leave, disables and re-enables someone', async () => {
    const page = await newPage();
    page.on('dialog', (d) => void d.accept());
    await logIn(page, server.base, USERS.admin);
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.waitForURL('**/admin');
    const people = page.getByTestId('people');
    await people.waitFor(WAIT);
    expect(await people.locator('tbody tr[data-person]').count()).toBe(3);

    // A form the server refuses says why, beside the button.
    await page.getByRole('button', { name: 'Add a person' }).click();
    const form = page.getByRole('form', { name: 'Add a person' });
    await form.getByLabel('Name', { exact: true }).fill('Sara Skin');
    await form.getByLabel('User name').fill('sara.skin');
    await form.getByLabel('Password').fill('short');
    await form.getByLabel('Role').selectOption('specialist');
    await form.getByLabel('Site').selectOption('south');
    await form.getByLabel('General').uncheck();
    await form.getByLabel('Skin').check();
    await form.getByLabel('Weekly capacity (points)').fill('12');
    await form.getByRole('button', { name: 'Create' }).click();
    await expect
      .poll(() => form.getByRole('alert').textContent(), WAIT)
      .toBe('password: a password has at least 10 characters');
    await form.getByLabel('Password').fill('sara-e2e-password');
    await form.getByRole('button', { name: 'Create' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'Sara Skin can now sign in as sara.skin.' })
      .waitFor(WAIT);

    const sara = people.locator('tr[data-person="sara.skin"]');
    await sara.waitFor(WAIT);
    expect(await sara.locator('td').nth(2).textContent()).toBe('Specialist (external reviewer)');
    expect(await sara.locator('td').nth(3).textContent()).toBe('South Clinic');
    expect(await sara.locator('td').nth(4).textContent()).toBe('Skin');
    expect(await sara.locator('td').nth(5).textContent()).toBe('12');

    // Her editor is open: leave from today for five days.
    const editor = page.getByTestId('person-editor');
    await editor.waitFor(WAIT);
    const leave = editor.getByRole('region', { name: 'Leave of Sara Skin' });
    await leave.getByLabel('From').fill(day(0));
    await leave.getByLabel('To').fill(day(5));
    await leave.getByRole('button', { name: 'Add leave' }).click();
    await leave.getByTestId('leave-list').waitFor(WAIT);
    await sara.locator('.badge.on-leave').waitFor(WAIT);
    const stored = server.ctx.db.selectFrom('users').select('id').where('name', '=', 'sara.skin');
    const saraId = (await stored.executeTakeFirstOrThrow()).id;
    const me = (await (
      await fetch(`${server.base}/api/admin/users/${saraId}`, {
        headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ') },
      })
    ).json()) as AdminUserDto;
    expect(me).toMatchObject({ subspecialties: ['skin'], weeklyCapacity: 12, onLeaveToday: true });
    expect(me.leave.map((l) => [l.from, l.to])).toEqual([[day(0), day(5)]]);
    await page.screenshot({ path: '/tmp/admin-users.png', fullPage: true });

    // Nora, signed in elsewhere, is disabled: her page is signed out; enabled again, she may sign in.
    const nora = await newPage();
    await logIn(nora, server.base, USERS.northPathologist);
    const noraRow = people.locator(`tr[data-person="${USERS.northPathologist.name}"]`);
    await noraRow.getByRole('button', { name: 'Manage' }).click();
    const noraEditor = page.getByTestId('person-editor');
    await noraEditor.getByRole('button', { name: 'Disable account' }).click();
    await noraRow.locator('.badge.disabled').waitFor(WAIT);
    await nora.reload();
    await nora.waitForURL('**/login**', WAIT);
    await page.screenshot({ path: '/tmp/admin-disabled.png', fullPage: true });
    await noraEditor.getByRole('button', { name: 'Enable account' }).click();
    await noraRow.locator('.badge.disabled').waitFor({ state: 'detached', ...WAIT });
    await logIn(nora, server.base, USERS.northPathologist);
    // A made-up password, shown once, is hers from now on.
    await noraEditor.getByRole('button', { name: 'Generate a password' }).click();
    const shown = noraEditor.getByTestId('generated-password').locator('code');
    await shown.waitFor(WAIT);
    await page.screenshot({ path: '/tmp/admin-password.png', fullPage: true });
    await nora.context().clearCookies();
    await logIn(nora, server.base, { ...USERS.northPathologist, password: (await shown.textContent())! });

    const actions = await server.ctx.db
      .selectFrom('audit')
      .select('action')
      .where('action', 'like', 'user.%')
      .orderBy('id')
      .execute();
    expect(actions.map((a) => a.action)).toEqual([
      'user.create',
      'user.leave_add',
      'user.disable',
      'user.enable',
      'user.password_reset',
    ]);
  });

  it('imports a case CSV and lists the bad rows with their numbers and reasons; edits the workload points', async () => {
    const page = await newPage();
    await logIn(page, server.base, USERS.admin, '/admin?tab=import');
    await page
      .getByLabel('or paste the rows')
      .fill(
        [
          'accession,site,specimen,subspecialty,priority,received_date',
          `E2E-1,north,biopsy,skin,routine,${day(-1)}`,
          `E2E-2,atlantis,biopsy,skin,routine,${day(-1)}`,
        ].join('\n'),
      );
    await page.getByRole('button', { name: 'Import cases' }).click();
    const report = page.getByTestId('import-report');
    await report.waitFor(WAIT);
    expect(await report.getByRole('status').textContent()).toBe('1 case imported; 1 row not imported.');
    expect(await report.locator('tbody tr').first().locator('td').allTextContents()).toEqual([
      '3',
      'unknown site "atlantis"',
    ]);
    await page.screenshot({ path: '/tmp/admin-import.png', fullPage: true });
    await page.getByRole('tab', { name: 'Workload points' }).click();
    await page.getByTestId('workload-rules').waitFor(WAIT);
    await page.getByLabel('Points for biopsy').fill('1.5');
    await page.getByRole('button', { name: 'Save points' }).click();
    await page.getByRole('status').filter({ hasText: 'Points saved' }).waitFor(WAIT);
    expect((await server.ctx.cases.workloadRules()).find((r) => r.specimen_type === 'biopsy')?.points).toBe(
      1.5,
    );
    await page.screenshot({ path: '/tmp/admin-workload.png', fullPage: true });
    await page.getByRole('tab', { name: 'Sites' }).click();
    await page.getByTestId('sites').waitFor(WAIT);
    await page.screenshot({ path: '/tmp/admin-sites.png', fullPage: true });
  });

  it('breaks no Content Security Policy rule', () => {
    expect(problems).toEqual([]);
  });
});
