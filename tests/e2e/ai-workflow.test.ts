/**
 * The AI workflow in the browser, end to end (Chromium, strict CSP): a lab manager registers the
 * reference algorithm built into Tessera from Admin → Algorithms to run on upload; a pathologist of
 * the same site uploads CMU-1-Small-Region and the run starts by itself; she finds its layer in the
 * viewer's AI tab (AI badge, the algorithm's name and version), shows it, selects a finding (N),
 * accepts it (A) and accepts the slide-level result (Shift+A); the lab manager's AI quality page
 * shows the algorithm with one run and the agreement the API gives (100 %). Screenshots:
 * tests/artifacts/ai-workflow-registry-form.png, -registry.png, -viewer.png, -qa.png, -registry-admin.png.
 * An administrator then registers an HTTP algorithm from the same tab (a refused URL is explained),
 * which the lab manager sees but may not change.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiQaDto, AiRunDto, AlgorithmDto, VerdictDto } from '../../protocol/index.ts';
import { formatInt } from '../../client/src/ui/format.ts';
import { formatPercent } from '../../client/src/ai-qa/format.ts';
import { createUser } from '../../server/auth/users.ts';
import { userFetch, userWithToken } from '../helpers/auth.ts';
import { REFERENCE_COMMAND, json } from '../helpers/ai.ts';
import { requireSlides, slidePath } from '../helpers/slides.ts';
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
  uploadAs,
} from './harness.ts';

const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const WAIT = { timeout: 15_000 };
const ready = requireSlides() && requireChromium();

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
let as: (user: string, p: string, init?: RequestInit) => Promise<Response>;
let mia: Page;
let nora: Page;
let algorithm: AlgorithmDto;
let slideId = '';
let runId = '';

async function newPage(who: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  recordProblems(page, problems, who);
  return page;
}

const verdicts = (): Promise<VerdictDto[]> =>
  json<VerdictDto[]>(as('root', `/api/ai/runs/${runId}/verdicts`));

describe.skipIf(!ready)('AI workflow: register, run on upload, judge, quality (Chromium)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    server.ctx.ai.start(server.base);
    await createUser(server.ctx.db, MANAGER);
    const root = await userWithToken(server.ctx.db, { name: 'root', role: 'admin', siteId: 'north' });
    as = userFetch(() => server.base, { root: root.token });
    browser = await launchChromium();
    mia = await newPage('mia');
    nora = await newPage('nora');
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.ctx.ai.close();
    await server?.close();
  });

  it('a lab manager registers the reference algorithm from Admin → Algorithms, to run on upload', async () => {
    await logIn(mia, server.base, MANAGER);
    await mia.getByRole('link', { name: 'Admin' }).click();
    await mia.waitForURL('**/admin');
    await mia.getByRole('tab', { name: 'Algorithms' }).click();
    await mia.waitForURL('**/admin?tab=algorithms');
    await mia.getByTestId('algorithms-empty').waitFor(WAIT);
    // A lab manager has no form for an endpoint of her own.
    expect(await mia.getByRole('form', { name: 'Register an HTTP algorithm' }).count()).toBe(0);
    const form = mia.getByRole('form', { name: 'Register the reference algorithm' });
    await form.getByLabel('Runs').selectOption('automatic');
    await form.getByLabel('Enabled').check();
    await mia.screenshot({ path: artifact('ai-workflow-registry-form.png') });
    await form.getByRole('button', { name: 'Register the reference algorithm' }).click();
    const row = mia.locator('[data-testid="algorithms"] tbody tr');
    await expect.poll(() => row.count(), WAIT).toBe(1);
    await form.getByRole('status').waitFor(WAIT);

    const list = await json<AlgorithmDto[]>(as('root', '/api/ai/algorithms'));
    expect(list).toHaveLength(1);
    algorithm = list[0]!;
    expect(algorithm).toMatchObject({
      builtin: 'reference',
      trigger: 'automatic',
      enabled: true,
      identifiedData: false,
      endpoint: { kind: 'command', argv: REFERENCE_COMMAND },
    });
    expect(await row.getAttribute('data-name')).toBe(`${algorithm.name} ${algorithm.version}`);
    expect(await row.locator('[data-k="endpoint"]').textContent()).toBe('Built into Tessera');
    expect(await row.locator('[data-k="trigger"] select').inputValue()).toBe('automatic');
    expect(await row.locator('[data-k="enabled"] input').isChecked()).toBe(true);
    expect(await row.locator('[data-k="applies"]').textContent()).toBe('Any slide');
    await mia.screenshot({ path: artifact('ai-workflow-registry.png'), fullPage: true });
  });

  it('a pathologist of the site uploads the slide; the algorithm runs by itself', async () => {
    await logIn(nora, server.base, USERS.northPathologist);
    slideId = await uploadAs(nora, server.base, SVS, 'CMU-1-Small-Region.svs');
    const runs = async () => json<AiRunDto[]>(as('root', `/api/slides/${slideId}/ai/runs`));
    await expect.poll(async () => (await runs()).map((r) => r.state), { timeout: 120_000 }).toEqual(['done']);
    const [run] = await runs();
    expect(run).toMatchObject({ trigger: 'automatic', requestedBy: null, deidentified: true });
    expect(run!.algorithm.id).toBe(algorithm.id);
    runId = run!.id;
  }, 240_000);

  it('in the viewer she sees the layer, shows it, accepts a finding and the slide-level result', async () => {
    await nora.goto(`${server.base}/view/${slideId}`);
    await nora.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
    await nora.getByTestId('ai-tab').click();
    const layer = nora.locator(`[data-testid="ai-layer"][data-run-id="${runId}"]`);
    await layer.waitFor(WAIT);
    expect(await layer.locator('.ai-badge').textContent()).toBe('AI');
    expect(await layer.textContent()).toContain(algorithm.name);
    expect(await layer.textContent()).toContain(`v${algorithm.version}`);
    await nora.getByTestId('ai-layer-toggle').check();
    await nora.locator('[data-testid="ai-heatmap"][data-ready="true"]').waitFor(WAIT);
    await expect.poll(() => nora.locator('[data-testid="ai-finding"]').count(), WAIT).toBeGreaterThan(0);

    // The keys are the viewer's once no form field has the focus.
    await nora.evaluate('document.activeElement && document.activeElement.blur()');
    await nora.keyboard.press('n');
    const card = nora.getByTestId('ai-selected');
    await card.waitFor(WAIT);
    const fid = (await card.getAttribute('data-finding-id'))!;
    await nora.keyboard.press('a');
    const path = nora.locator(`[data-testid="ai-finding"][data-finding-id="${fid}"]`);
    await expect.poll(() => path.getAttribute('data-verdict'), WAIT).toBe('accept');
    await nora.keyboard.press('Shift+A');
    await nora.getByTestId('ai-slide-verdict').waitFor(WAIT);
    expect(await nora.getByTestId('ai-slide-verdict').textContent()).toContain('Accepted by you');
    const stored = await verdicts();
    expect(stored.map((v) => `${v.target === 'slide' ? 'slide' : 'finding'} ${v.verdict}`).sort()).toEqual([
      'finding accept',
      'slide accept',
    ]);
    expect(stored.find((v) => v.target !== 'slide')!.target).toBe(fid);
    await nora.screenshot({ path: artifact('ai-workflow-viewer.png') });
  });

  it('the lab manager’s quality page shows the algorithm with one run and the API’s agreement', async () => {
    await mia.getByRole('link', { name: 'AI quality' }).click();
    await mia.waitForURL('**/ai-qa');
    await mia.getByTestId('ai-qa').waitFor(WAIT);
    const qa = JSON.parse(await mia.evaluate(async () => (await fetch('/api/ai/qa')).text())) as AiQaDto;
    expect(qa.site).toBe('north');
    expect(qa.algorithms).toHaveLength(1);
    const a = qa.algorithms[0]!;
    expect(a.algorithm.id).toBe(algorithm.id);
    expect(a.runs.total).toBe(1);
    expect(a.slideVerdicts).toMatchObject({ accepted: 1, rejected: 0, agreement: 1 });
    expect(a.findingVerdicts.agreement).toBe(1);

    const row = mia.locator(`tr[data-algorithm="${algorithm.name} ${algorithm.version}"]`);
    await row.waitFor(WAIT);
    const cell = (k: string) => row.locator(`[data-k="${k}"]`).textContent();
    expect(await cell('runs')).toBe(formatInt(a.runs.total));
    expect(await cell('runs')).toBe('1');
    expect(await cell('failed')).toBe('0');
    expect(await cell('accepted')).toBe('1');
    expect(await cell('agreement')).toBe(formatPercent(a.slideVerdicts.agreement));
    expect(await cell('agreement')).toBe('100 %');
    expect(await cell('finding-agreement')).toBe('100 %');
    await mia.waitForTimeout(200);
    await mia.screenshot({ path: artifact('ai-workflow-qa.png'), fullPage: true });
  });

  it('an administrator sees how each is reached and registers an HTTP algorithm; the server’s refusals are shown', async () => {
    const root = await newPage('admin');
    await logIn(root, server.base, USERS.admin, '/admin?tab=algorithms');
    const row = root.locator(`[data-testid="algorithms"] tr[data-algorithm="${algorithm.id}"]`);
    await row.waitFor(WAIT);
    expect(await row.locator('[data-k="endpoint"]').textContent()).toBe(
      'Built into Tessera' + 'tessera ai-reference --job -',
    );
    const form = root.getByRole('form', { name: 'Register an HTTP algorithm' });
    await form.getByLabel('Name', { exact: true }).fill('Vendor tumour finder');
    await form.getByLabel('Version').fill('2.1');
    await form.getByLabel('URL').fill('ftp://ai.example.org/jobs');
    await form.getByRole('button', { name: 'Register' }).click();
    await expect
      .poll(() => form.getByRole('alert').textContent(), WAIT)
      .toBe('endpoint.url: an http:// or https:// URL');
    await form.getByLabel('URL').fill('https://ai.example.org/jobs');
    await form.getByLabel('May see identified data').check();
    await form.getByRole('button', { name: 'Register' }).click();
    const added = root.locator('[data-testid="algorithms"] tr[data-name="Vendor tumour finder 2.1"]');
    await added.waitFor(WAIT);
    expect(await added.locator('[data-k="endpoint"]').textContent()).toBe(
      'HTTP endpoint' + 'https://ai.example.org/jobs' + 'Sees identified data',
    );
    expect(await added.locator('[data-k="trigger"] select').inputValue()).toBe('on_request');
    // Turned off from its row.
    await added.locator('[data-k="enabled"] input').uncheck();
    await expect
      .poll(async () => {
        const list = await json<AlgorithmDto[]>(as('root', '/api/ai/algorithms'));
        return list.find((a) => a.name === 'Vendor tumour finder')?.enabled;
      }, WAIT)
      .toBe(false);
    await root.screenshot({ path: artifact('ai-workflow-registry-admin.png'), fullPage: true });

    // The lab manager sees it, but may not change it: its controls are off for her.
    await mia.goto(`${server.base}/admin?tab=algorithms`);
    const hers = mia.locator('[data-testid="algorithms"] tr[data-name="Vendor tumour finder 2.1"]');
    await hers.waitFor(WAIT);
    expect(await hers.locator('[data-k="endpoint"]').textContent()).toBe(
      'Registered by an administrator' + 'Sees identified data',
    );
    expect(await hers.locator('[data-k="enabled"] input').isDisabled()).toBe(true);
    expect(await hers.locator('[data-k="trigger"] select').count()).toBe(0);
  });

  it('no page error and nothing refused by the Content Security Policy', () => {
    expect(problems).toEqual([]);
  });
});
