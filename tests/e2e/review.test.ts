import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requireSlides, slidePath } from '../helpers/slides.ts';
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
const ready = requireSlides() && requireChromium();

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
let nora: Page;
let sam: Page;
let slideId = '';
let sessionId = '';
let samId = '';
const problems: string[] = [];

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

async function paneBox(p: Page) {
  return (await p.locator('.pane').first().boundingBox())!;
}

describe.skipIf(!ready)('live review room (two browsers, real server, strict CSP)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
    nora = await newPage();
    sam = await newPage();
  });

  // A failed step leaves what each browser showed, and where, beside the other artifacts.
  beforeEach(({ task, onTestFailed }) => {
    onTestFailed(async () => {
      const step = task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40);
      for (const [who, p] of [
        ['nora', nora],
        ['sam', sam],
      ] as const) {
        if (!p || p.isClosed()) continue;
        await p.screenshot({ path: artifact(`review-failed-${step}-${who}.png`) }).catch(() => {});
        console.error(`review step failed: ${who} was at ${p.url()}`);
      }
    });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.close();
  });

  it('Nora uploads a slide, starts a session and invites Sam from the other site', async () => {
    await logIn(nora, server.base, USERS.northPathologist);
    await nora.setInputFiles('[data-testid="file-input"]', SVS);
    const upload = nora.locator('.upload').first();
    await expect.poll(() => upload.getAttribute('data-phase'), { timeout: 120_000 }).toBe('done');
    const row = nora.locator('table.slides tbody tr').first();
    await row.waitFor();
    slideId = (await row.getAttribute('data-slide-id')) ?? '';
    expect(slideId).toMatch(/^[0-9a-f]{32}$/);

    await nora.goto(`${server.base}/view/${slideId}`);
    await nora.waitForSelector('.pane[data-status="open"]');
    // Outside a session the annotation list is read-only with GeoJSON export and import.
    await nora.getByTestId('annotations-tab').click();
    await nora.getByText('No annotations on this slide.').waitFor();
    await nora.getByRole('button', { name: 'Export GeoJSON' }).waitFor();

    await nora.getByTestId('review-button').click();
    await nora.getByTestId('start-session').click();
    await nora.getByTestId('review-room').waitFor();
    await expect.poll(() => nora.getByTestId('connection').getAttribute('data-state')).toBe('live');
    sessionId = new URL(nora.url()).searchParams.get('session') ?? '';
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);

    const option = nora.locator('[data-testid="invite-user"] option', { hasText: 'Sam South' });
    samId = (await option.getAttribute('value'))!;
    await nora.getByTestId('invite-user').selectOption(samId);
    await nora.getByTestId('invite-button').click();
    await expect.poll(() => nora.getByTestId('invite-result').textContent()).toMatch(/de-identified share/);
  });

  it('Sam opens the invite link; both see each other in presence', async () => {
    await logIn(sam, server.base, USERS.southSpecialist, `/view/${slideId}?session=${sessionId}`);
    await sam.getByTestId('review-room').waitFor();
    await sam.waitForSelector('.pane[data-status="open"]');
    await expect.poll(() => sam.getByTestId('connection').getAttribute('data-state')).toBe('live');
    for (const p of [nora, sam]) {
      await p.locator('[data-testid="presence"] li[data-online="true"]', { hasText: 'Nora North' }).waitFor();
      await p.locator('[data-testid="presence"] li[data-online="true"]', { hasText: 'Sam South' }).waitFor();
    }
  });

  it("Nora's rectangle appears on Sam's screen; Sam's cursor on Nora's", async () => {
    await nora.locator('[data-ann-tool="rectangle"]').click();
    const box = await paneBox(nora);
    const a = { x: box.x + box.width * 0.35, y: box.y + box.height * 0.35 };
    const b = { x: box.x + box.width * 0.55, y: box.y + box.height * 0.6 };
    await nora.mouse.move(a.x, a.y);
    await nora.mouse.down();
    await nora.mouse.move(b.x, b.y, { steps: 10 });
    await nora.mouse.up();
    const mine = nora.locator('.annotation-overlay [data-annotation-id][data-kind="rectangle"]');
    await mine.waitFor();
    const id = await mine.getAttribute('data-annotation-id');
    await sam.locator(`.annotation-overlay [data-annotation-id="${id}"]`).waitFor();

    const sbox = await paneBox(sam);
    await sam.mouse.move(sbox.x + sbox.width * 0.6, sbox.y + sbox.height * 0.4);
    await sam.mouse.move(sbox.x + sbox.width * 0.62, sbox.y + sbox.height * 0.42, { steps: 5 });
    await nora.locator('.annotation-overlay .remote-cursor', { hasText: 'Sam South' }).waitFor();
  });

  it('Sam gives a second opinion and Nora sees it', async () => {
    await sam.getByTestId('opinion-diagnosis').fill('Invasive ductal carcinoma, grade 2');
    await sam.locator('.confidence label', { hasText: 'high' }).click();
    await sam
      .getByTestId('opinion-text')
      .fill('Agree with the primary read; tubule formation 2, pleomorphism 2, mitoses 1.');
    await sam.getByTestId('opinion-submit').click();
    await nora.locator('[data-testid="opinions"] li', { hasText: 'Invasive ductal carcinoma' }).waitFor();
    await sam.getByTestId('chat-input').fill('Looks like IDC to me — see the upper field.');
    await sam.getByTestId('chat-input').press('Enter');
    await nora.locator('[data-testid="chat"] li', { hasText: 'Looks like IDC' }).waitFor();
    // Sam's view outline is drawn on Nora's slide.
    await nora.locator('.annotation-overlay .view-outline').first().waitFor();

    await nora.screenshot({ path: artifact('review-host.png') });
    await sam.screenshot({ path: artifact('review-guest.png') });
  });

  it("Sam's view outline is drawn on Nora's navigator, inside it, in his colour", async () => {
    // Sam goes to 20x (four times the fit): his field is a box inside the slide on the minimap.
    await sam.locator('[data-mag="20"]').click();
    await expect.poll(() => sam.getByTestId('magnification').textContent()).toBe('20x');
    await expect.poll(() => sam.locator('.pane').first().getAttribute('data-settled')).toBe('true');

    const nav = nora.locator('.pane').first().locator('.navigator');
    const outline = nav.locator(`[data-navigator-outline="${samId}"]`);
    await outline.waitFor({ state: 'attached' });
    const navBox = (await nav.boundingBox())!;
    const samColor = await nora
      .locator(`.annotation-overlay .view-outline[data-user-id="${samId}"] polygon`)
      .getAttribute('stroke');
    expect(await outline.getAttribute('stroke')).toBe(samColor);
    // Once his zoom has reached Nora (views arrive throttled: wait for two equal reads), the outline
    // is a box well inside the minimap.
    let previous = '';
    await expect
      .poll(
        async () => {
          const r = await outline.boundingBox();
          const same = JSON.stringify(r) === previous;
          previous = JSON.stringify(r);
          return (
            same &&
            !!r &&
            r.width > 2 &&
            r.width < navBox.width * 0.8 &&
            r.x >= navBox.x &&
            r.y >= navBox.y &&
            r.x + r.width <= navBox.x + navBox.width &&
            r.y + r.height <= navBox.y + navBox.height
          );
        },
        { interval: 250 },
      )
      .toBe(true);
    // Never in the way of the navigator's own clicks and drags: under the outline is the navigator.
    const b = (await outline.boundingBox())!;
    const under = `document.elementFromPoint(${b.x + b.width / 2}, ${b.y + b.height / 2})`;
    expect(await nora.evaluate(`!!${under}?.closest('.navigator') && !${under}?.closest('svg')`)).toBe(true);
    await nora
      .locator('.pane')
      .first()
      .screenshot({ path: artifact('review-navigator.png') });

    // Nora turns the slide a quarter: the minimap turns (and refits) with it, and so does Sam's box.
    await nora.getByRole('button', { name: 'Rotate 90° clockwise', exact: true }).click();
    await expect
      .poll(async () => {
        const r = await outline.boundingBox();
        return (
          !!r &&
          Math.abs((r.width / r.height) * (b.width / b.height) - 1) < 0.05 &&
          r.x >= navBox.x &&
          r.y >= navBox.y &&
          r.x + r.width <= navBox.x + navBox.width &&
          r.y + r.height <= navBox.y + navBox.height
        );
      })
      .toBe(true);
    await nora.getByRole('button', { name: 'Rotate 90° anticlockwise', exact: true }).click();
    await expect.poll(async () => Math.abs((await outline.boundingBox())!.width - b.width) < 2).toBe(true);
  });

  it("Nora's undo removes her rectangle on Sam's screen", async () => {
    const rects = (p: Page) =>
      p.locator('.annotation-overlay [data-annotation-id][data-kind="rectangle"]').count();
    expect(await rects(sam)).toBe(1);
    await nora
      .locator('.pane')
      .first()
      .click({ position: { x: 5, y: 5 }, force: true })
      .catch(() => {});
    await nora.keyboard.press('Control+z');
    await expect.poll(() => rects(nora)).toBe(0);
    await expect.poll(() => rects(sam)).toBe(0);
    // Redo brings it back for both.
    await nora.getByTestId('redo').click();
    await expect.poll(() => rects(sam)).toBe(1);
    expect(problems).toEqual([]);
  });
});
