/**
 * Algorithms' results in the viewer, in Chromium: the reference algorithm is run on a sample slide
 * by a pathologist from the viewer's AI tab; its layer is listed in the AI tab marked as AI output with its name
 * and version, hidden until shown; shown, its heat map is coloured and laid over the slide (and
 * turns with it) and its findings are drawn; the score threshold hides findings below it; N
 * selects a finding, A accepts it (the verdict is read back from the API), the same key withdraws
 * it, X rejects; Shift+A judges the slide-level result; a click selects a finding; a person invited
 * to a live review session sees the layer too. A screenshot goes to tests/artifacts/ai-layers.png.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiFindingsDto, AiRunDto, AlgorithmDto, VerdictDto } from '../../protocol/index.ts';
import { userFetch, userWithToken } from '../helpers/auth.ts';
import { json, startReference } from '../helpers/ai.ts';
import { requireSlides, slidePath } from '../helpers/slides.ts';
import {
  artifact,
  ensureClientBuilt,
  launchChromium,
  logIn,
  recordProblems,
  requireChromium,
  startServer,
  USERS,
  type TestServer,
  uploadAs,
} from './harness.ts';

// CMU-1-Small-Region.svs: 2220 x 2967 px (PROVENANCE.md).
const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const WAIT = { timeout: 15_000 };

const ready = requireSlides() && requireChromium();

let server: TestServer;
let ref: Awaited<ReturnType<typeof startReference>>;
let browser: Browser;
const contexts: BrowserContext[] = [];
let nora: Page;
let sam: Page;
let as: (user: string, p: string, init?: RequestInit) => Promise<Response>;
let algorithm: AlgorithmDto;
let slideId = '';
let runId = '';
let findings: AiFindingsDto['findings'] = [];
let sessionId = '';
const problems: string[] = [];

async function newPage(who: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  contexts.push(ctx);
  const page = await ctx.newPage();
  recordProblems(page, problems, who);
  return page;
}

/** Sets a range input as a person dragging it would (React hears an input event). */
async function setRange(slider: Locator, value: number): Promise<void> {
  await slider.evaluate((el, v) => {
    // React keeps its own copy of the value: set it through the prototype's setter, as typing does.
    const proto = Object.getPrototypeOf(el) as object;
    Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, String(v));
    const E = (globalThis as unknown as { Event: new (type: string, init: object) => unknown }).Event;
    (el as unknown as { dispatchEvent(e: unknown): boolean }).dispatchEvent(
      new E('input', { bubbles: true }),
    );
  }, value);
}

/** The verdicts stored on the run, as the API gives them. */
async function verdicts(): Promise<VerdictDto[]> {
  return json<VerdictDto[]>(as('root', `/api/ai/runs/${runId}/verdicts`));
}

/** The keys are the viewer's once no form field (the panel's checkbox, slider or menu) has the focus. */
async function viewerHasKeys(p: Page): Promise<void> {
  await p.evaluate('document.activeElement && document.activeElement.blur()');
}

const drawn = (p: Page): Locator => p.locator('[data-testid="ai-finding"]');

describe.skipIf(!ready)('AI results as layers of the viewer (Chromium)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    server.ctx.ai.start(server.base);
    ref = await startReference();
    const root = await userWithToken(server.ctx.db, { name: 'root', role: 'admin', siteId: 'north' });
    as = userFetch(() => server.base, { root: root.token });
    algorithm = await json<AlgorithmDto>(
      as('root', '/api/ai/algorithms', {
        method: 'POST',
        body: JSON.stringify({
          name: 'Tissue reference',
          version: '1.0.0',
          endpoint: { kind: 'http', url: `${ref.url}/jobs` },
          trigger: 'on_request',
          timeoutSeconds: 120,
        }),
      }),
      201,
    );
    browser = await launchChromium();
    nora = await newPage('nora');
    sam = await newPage('sam');
  }, 180_000);

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await ref?.stop();
    await server?.ctx.ai.close();
    await server?.close();
  });

  it('Nora uploads the slide; its AI tab has no results yet', async () => {
    await logIn(nora, server.base, USERS.northPathologist);
    slideId = await uploadAs(nora, server.base, SVS, 'CMU-1-Small-Region.svs');
    await nora.goto(`${server.base}/view/${slideId}`);
    await nora.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
    await nora.getByTestId('ai-tab').click();
    await nora.getByTestId('ai-none').waitFor(WAIT);
  }, 180_000);

  it('she runs the reference algorithm from the panel; its layer appears when it is done', async () => {
    await nora.getByTestId('ai-run-algorithm').selectOption(algorithm.id);
    await nora.getByTestId('ai-run-button').click();
    const layer = nora.locator('[data-testid="ai-layer"]');
    await layer.waitFor({ timeout: 120_000 });
    const runs = await json<AiRunDto[]>(as('root', `/api/slides/${slideId}/ai/runs`));
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ state: 'done', trigger: 'request' });
    expect(runs[0]!.requestedBy?.name).toMatch(/^(Nora North|nora\.north)$/);
    runId = runs[0]!.id;
    expect(await layer.getAttribute('data-run-id')).toBe(runId);
    findings = (await json<AiFindingsDto>(as('root', `/api/ai/runs/${runId}/findings`))).findings;
    expect(findings.length).toBeGreaterThan(0);
  }, 180_000);

  it('the layer is marked as AI output with its algorithm and version, hidden until shown', async () => {
    const layer = nora.locator(`[data-testid="ai-layer"][data-run-id="${runId}"]`);
    expect(await layer.locator('.ai-badge').textContent()).toBe('AI');
    expect(await layer.textContent()).toContain('Tissue reference');
    expect(await layer.textContent()).toContain('v1.0.0');
    // The slide-level result is in the panel.
    expect(await layer.getByTestId('ai-slide-result').textContent()).toContain('Tissue present');
    // Hidden until asked for: nothing drawn.
    expect(await nora.locator('[data-testid="ai-overlay"]').getAttribute('data-layers')).toBe('0');
    expect(await drawn(nora).count()).toBe(0);
  });

  it('shown, its heat map lies over the slide and turns with it, and every finding is drawn', async () => {
    await nora.getByTestId('ai-layer-toggle').check();
    const heat = nora.locator('[data-testid="ai-heatmap"][data-ready="true"]');
    await heat.waitFor(WAIT);
    await expect.poll(() => drawn(nora).count(), WAIT).toBe(findings.length);
    // Its region is the whole slide: its box on screen has the slide's proportions, and a quarter
    // turn swaps them.
    // Its region is the whole slide: on screen it covers the slide's pixels exactly where the
    // view (centre and screen pixels per slide pixel, as the pane reports them) puts them.
    await nora.waitForSelector('.pane[data-settled="true"]', WAIT);
    const pane = nora.locator('.pane').first();
    const box = (await pane.boundingBox())!;
    const [cx, cy, z] = await Promise.all(
      ['data-x', 'data-y', 'data-image-zoom'].map(async (a) => Number(await pane.getAttribute(a))),
    );
    const before = (await heat.boundingBox())!;
    const want = {
      x: box.x + box.width / 2 - cx! * z!,
      y: box.y + box.height / 2 - cy! * z!,
      width: 2220 * z!,
      height: 2967 * z!,
    };
    for (const k of ['x', 'y', 'width', 'height'] as const)
      expect(Math.abs(before[k] - want[k])).toBeLessThan(2);
    await viewerHasKeys(nora);
    await nora.keyboard.press(']');
    await nora.waitForSelector('.pane[data-settled="true"][data-rotation="90"]', WAIT);
    await expect
      .poll(async () => {
        const b = (await heat.boundingBox())!;
        return Math.round((b.width / b.height) * 100) / 100;
      }, WAIT)
      .toBeCloseTo(2967 / 2220, 1);
    // Zoomed in, it stays under the navigator and the pane's own controls.
    await nora.keyboard.press('4');
    await nora.waitForSelector('.pane[data-settled="true"][data-fully-loaded="true"]', WAIT);
    await nora.screenshot({ path: artifact('ai-layers-zoomed.png') });
    await nora.keyboard.press('0');
    await nora.keyboard.press('[');
    await nora.waitForSelector('.pane[data-settled="true"][data-rotation="0"]', WAIT);
    // Another colour map re-colours it in place.
    await nora.getByTestId('ai-colour-map').selectOption('inferno');
    expect(await nora.getByTestId('ai-colour-map').inputValue()).toBe('inferno');
  });

  it('the score threshold hides the findings below it', async () => {
    const scores = [...new Set(findings.map((f) => f.score!))].sort((a, b) => a - b);
    // Between the two highest scores when they differ, else above every score.
    const threshold =
      scores.length >= 2 ? (scores[scores.length - 2]! + scores[scores.length - 1]!) / 2 : scores[0]! + 0.005;
    const want = findings.filter((f) => f.score! >= threshold).length;
    expect(want).toBeLessThan(findings.length);
    await setRange(nora.getByTestId('ai-threshold'), threshold);
    await expect.poll(() => drawn(nora).count(), WAIT).toBe(want);
    expect(await nora.getByTestId('ai-findings-count').textContent()).toContain(
      `${want} of ${findings.length}`,
    );
    await setRange(nora.getByTestId('ai-threshold'), 0);
    await expect.poll(() => drawn(nora).count(), WAIT).toBe(findings.length);
  });

  it('N selects a finding and A accepts it: stored through the API, marked, and A again withdraws it', async () => {
    await viewerHasKeys(nora);
    await nora.keyboard.press('n');
    const card = nora.getByTestId('ai-selected');
    await card.waitFor(WAIT);
    const fid = (await card.getAttribute('data-finding-id'))!;
    // The surest finding comes first.
    const top = Math.max(...findings.map((f) => f.score!));
    expect(findings.find((f) => f.id === fid)!.score).toBe(top);
    const path = nora.locator(`[data-testid="ai-finding"][data-finding-id="${fid}"]`);
    expect(await path.getAttribute('class')).toContain('selected');

    await nora.keyboard.press('a');
    await expect.poll(() => path.getAttribute('data-verdict'), WAIT).toBe('accept');
    let stored = (await verdicts()).filter((v) => v.target === fid);
    expect(stored).toMatchObject([{ verdict: 'accept', userName: USERS.northPathologist.name }]);
    expect(await card.textContent()).toContain('Accepted by you');

    await nora.keyboard.press('a');
    await expect.poll(() => path.getAttribute('data-verdict'), WAIT).toBe('');
    expect((await verdicts()).filter((v) => v.target === fid)).toEqual([]);

    await nora.keyboard.press('x');
    await expect.poll(() => path.getAttribute('data-verdict'), WAIT).toBe('reject');
    stored = (await verdicts()).filter((v) => v.target === fid);
    expect(stored).toMatchObject([{ verdict: 'reject' }]);
    await nora.keyboard.press('a');
    await expect.poll(() => path.getAttribute('data-verdict'), WAIT).toBe('accept');
    expect((await verdicts()).filter((v) => v.target === fid)).toMatchObject([{ verdict: 'accept' }]);
  });

  it('Shift+A accepts the slide-level result; the panel says so', async () => {
    await nora.keyboard.press('Shift+A');
    await nora.getByTestId('ai-slide-verdict').waitFor(WAIT);
    expect(await nora.getByTestId('ai-slide-verdict').textContent()).toContain('Accepted by you');
    expect((await verdicts()).filter((v) => v.target === 'slide')).toMatchObject([{ verdict: 'accept' }]);
  });

  it('a verdict the server refuses is shown, not swallowed, and the finding keeps its verdict', async () => {
    await nora.route('**/api/ai/runs/*/verdicts/findings/*', (r) =>
      r.fulfill({
        status: 403,
        contentType: 'application/json',
        body: JSON.stringify({ code: 'FORBIDDEN', message: 'refused for the test', requestId: 't' }),
      }),
    );
    const fid = (await nora.getByTestId('ai-selected').getAttribute('data-finding-id'))!;
    await nora.keyboard.press('x');
    await expect
      .poll(() => nora.getByTestId('ai-error').textContent(), WAIT)
      .toContain('The verdict was not saved: refused for the test');
    const path = nora.locator(`[data-testid="ai-finding"][data-finding-id="${fid}"]`);
    expect(await path.getAttribute('data-verdict')).toBe('accept');
    expect((await verdicts()).filter((v) => v.target === fid)).toMatchObject([{ verdict: 'accept' }]);
    await nora.unroute('**/api/ai/runs/*/verdicts/findings/*');
    await nora.getByTestId('ai-error').getByRole('button', { name: 'Dismiss' }).click();
    await nora.getByTestId('ai-error').waitFor({ state: 'detached', ...WAIT });
  });

  it('a click on a finding selects it (and a drag still pans)', async () => {
    // A point inside the largest finding, on screen, found by the browser's own fill test.
    const largest = [...findings].sort((a, b) => b.geometry.points.length - a.geometry.points.length)[0]!;
    const at = await nora
      .locator(`[data-testid="ai-finding"][data-finding-id="${largest.id}"]`)
      .evaluate((el) => {
        interface Pt {
          x: number;
          y: number;
          matrixTransform(m: unknown): Pt;
        }
        const path = el as unknown as {
          getBBox(): { x: number; y: number; width: number; height: number };
          getScreenCTM(): unknown;
          isPointInFill(p: Pt): boolean;
        };
        const DOMPt = (globalThis as unknown as { DOMPoint: new (x: number, y: number) => Pt }).DOMPoint;
        const b = path.getBBox();
        const m = path.getScreenCTM();
        for (let i = 1; i < 20; i++)
          for (let j = 1; j < 20; j++) {
            const p = new DOMPt(b.x + (b.width * i) / 20, b.y + (b.height * j) / 20);
            if (path.isPointInFill(p)) {
              const s = p.matrixTransform(m);
              return { x: s.x, y: s.y };
            }
          }
        return null;
      });
    expect(at).not.toBeNull();
    await nora.mouse.click(at!.x, at!.y);
    await expect
      .poll(() => nora.getByTestId('ai-selected').getAttribute('data-finding-id'), WAIT)
      .toBe(largest.id);
    await nora.screenshot({ path: artifact('ai-layers.png') });
  });

  it('a person invited to a live review session sees the layer too', async () => {
    await nora.getByTestId('review-button').click();
    await nora.getByTestId('start-session').click();
    await nora.getByTestId('review-room').waitFor(WAIT);
    sessionId = new URL(nora.url()).searchParams.get('session') ?? '';
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const option = nora.locator('[data-testid="invite-user"] option', { hasText: 'Sam South' });
    await nora.getByTestId('invite-user').selectOption((await option.getAttribute('value'))!);
    await nora.getByTestId('invite-button').click();
    await expect.poll(() => nora.getByTestId('invite-result').textContent(), WAIT).toMatch(/share/);
    // Nora's layer stays drawn in the session.
    expect(await drawn(nora).count()).toBe(findings.length);

    await logIn(sam, server.base, USERS.southSpecialist, `/view/${slideId}?session=${sessionId}`);
    await sam.getByTestId('review-room').waitFor(WAIT);
    await sam.waitForSelector('.pane[data-status="open"]');
    await sam.getByTestId('ai-tab').click();
    await sam.locator(`[data-testid="ai-layer"][data-run-id="${runId}"]`).waitFor(WAIT);
    await sam.getByTestId('ai-layer-toggle').check();
    await expect.poll(() => drawn(sam).count(), WAIT).toBe(findings.length);
    await sam.locator('[data-testid="ai-heatmap"][data-ready="true"]').waitFor(WAIT);
    await sam.screenshot({ path: artifact('ai-layers-session.png') });
  });

  it('no page error and nothing refused by the Content Security Policy', () => {
    expect(problems).toEqual([]);
  });
});
