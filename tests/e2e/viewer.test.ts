import { readFileSync, writeFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meanAbsDiff, toRgb } from '../helpers/pixels.ts';
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

// CMU-1-Small-Region.svs: 2220 x 2967 px, 0.499 µm/px, 20x objective (PROVENANCE.md).
const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const DICOM_SERIES = slidePath('dicom/cmu-1-small-region-wsi2dcm');
const MPP = 0.499;
const OBJECTIVE = 20;

const ready = requireSlides() && requireChromium();

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let slideId = '';
const problems: string[] = [];

interface CanvasStats {
  meanR: number;
  meanG: number;
  meanB: number;
  lumaStd: number;
}

/** Pixel statistics of a screenshot region: what the pathologist actually sees. */
async function stats(png: Buffer): Promise<CanvasStats> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  let r = 0;
  let g = 0;
  let b = 0;
  let l = 0;
  let l2 = 0;
  for (let i = 0; i < n; i++) {
    const R = data[i * 3]!;
    const G = data[i * 3 + 1]!;
    const B = data[i * 3 + 2]!;
    const Y = 0.299 * R + 0.587 * G + 0.114 * B;
    r += R;
    g += G;
    b += B;
    l += Y;
    l2 += Y * Y;
  }
  const mean = l / n;
  return { meanR: r / n, meanG: g / n, meanB: b / n, lumaStd: Math.sqrt(Math.max(0, l2 / n - mean * mean)) };
}

async function waitFullyLoaded(p: Page): Promise<void> {
  await p.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
  // Let the last blend of freshly loaded tiles finish before reading pixels.
  await p.waitForTimeout(400);
}

function viewFromUrl(url: string): { x: number; y: number; zoom: number; rot: number } {
  const q = new URL(url).searchParams;
  return {
    x: Number(q.get('x')),
    y: Number(q.get('y')),
    zoom: Number(q.get('zoom')),
    rot: Number(q.get('rot') ?? 0),
  };
}

/** "499.0 µm" / "1.234 mm" → µm */
function micrometres(text: string): number {
  const m = /([\d,.]+)\s*(µm|mm)/.exec(text);
  if (!m) throw new Error(`no length in ${JSON.stringify(text)}`);
  const v = Number(m[1]!.replace(/,/g, ''));
  return m[2] === 'mm' ? v * 1000 : v;
}

describe.skipIf(!ready)('the viewer end to end (real server, Chromium, strict CSP)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
        problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the library starts empty, and an SVS uploaded through the file picker becomes a listed slide', async () => {
    // The north pathologist may upload.
    await logIn(page, server.base, USERS.northPathologist);
    await page.getByText('No slides yet').waitFor();
    await page.screenshot({ path: artifact('library-empty.png') });

    await page.setInputFiles('[data-testid="file-input"]', SVS);
    const upload = page.locator('.upload').first();
    await expect.poll(() => upload.getAttribute('data-phase'), { timeout: 120_000 }).toBe('done');

    const row = page.locator('table.slides tbody tr').first();
    await row.waitFor();
    slideId = (await row.getAttribute('data-slide-id')) ?? '';
    expect(slideId).toMatch(/^[0-9a-f]{32}$/);
    await expect.poll(() => row.locator('.slide-name').textContent()).toBe('CMU-1-Small-Region');
    expect(await row.textContent()).toContain('2,220 × 2,967 px');
    expect(await row.textContent()).toContain('0.499');
    // the thumbnail really loaded
    await expect
      .poll(() =>
        row.locator('img.thumb').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBeGreaterThan(0);
    await page.screenshot({ path: artifact('library.png') });
  }, 180_000);

  it('opening the slide shows H&E tissue in true colour once OpenSeadragon reports fully loaded', async () => {
    await page.locator('.upload-open').first().click();
    await page.waitForURL(`**/view/${slideId}**`);
    await waitFullyLoaded(page);
    const pane = page.locator('.pane').first();
    const box = (await pane.boundingBox())!;
    // The middle of the pane: clear of the navigator (top right) and the scale bar (bottom left).
    const clip = {
      x: box.x + box.width * 0.3,
      y: box.y + box.height * 0.2,
      width: box.width * 0.4,
      height: box.height * 0.6,
    };
    const s = await stats(await page.screenshot({ clip }));
    writeFileSync(artifact('viewer-pixels.json'), JSON.stringify(s, null, 2));
    // Tissue, not a blank canvas.
    expect(s.lumaStd).toBeGreaterThan(12);
    // H&E is pink/purple: red above green. RGB-encoded JPEG shown as YCbCr turns it green/magenta.
    expect(s.meanR).toBeGreaterThan(s.meanG + 10);
    expect(s.meanB).toBeGreaterThan(s.meanG);
    await page.screenshot({ path: artifact('viewer.png') });
    // Fit shows the whole slide: the readout is a magnification below the objective's.
    const mag = await page.getByTestId('magnification').textContent();
    expect(Number(mag!.replace('x', ''))).toBeLessThan(OBJECTIVE);
  });

  it('where a worker cannot fetch tiles (no Worker, or its script fails to load) the page fetches them: the same view', async () => {
    /** The fitted view of the slide in a fresh signed-in page, and the tile requests the page itself made. */
    const fitted = async (
      setup: (c: BrowserContext) => Promise<unknown>,
    ): Promise<{ png: Buffer; pageTiles: number }> => {
      const c = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      try {
        await setup(c);
        const p = await c.newPage();
        await logIn(p, server.base, USERS.northPathologist, `/view/${slideId}`);
        await waitFullyLoaded(p);
        const pane = (await p.locator('.pane').first().boundingBox())!;
        const png = await p.screenshot({
          clip: { x: pane.x + pane.width * 0.3, y: pane.y + pane.height * 0.2, width: 300, height: 400 },
        });
        // A worker's requests are not in the page's resource timing: these are the page's own.
        const pageTiles = await p.evaluate(
          () => performance.getEntriesByType('resource').filter((e) => e.name.includes('_files/')).length,
        );
        return { png, pageTiles };
      } finally {
        await c.close();
      }
    };
    const worker = await fitted(async () => {});
    const noWorker = await fitted((c) => c.addInitScript('delete window.Worker'));
    let refused = 0;
    const broken = await fitted((c) =>
      c.route(/\/assets\/tile-worker-[^/]+\.js$/, (r) => {
        refused++;
        return r.fulfill({ status: 404, body: '' });
      }),
    );
    expect(worker.pageTiles).toBe(0);
    expect(noWorker.pageTiles).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    expect(broken.pageTiles).toBeGreaterThan(0);
    const ref = await toRgb(sharp(worker.png));
    for (const other of [noWorker, broken]) {
      const mad = meanAbsDiff(ref, await toRgb(sharp(other.png)));
      expect(Math.max(...mad)).toBeLessThan(1);
    }
    const s = await stats(noWorker.png);
    expect(s.lumaStd).toBeGreaterThan(12);
  }, 120_000);

  it('a line drawn between two known image points reads mpp × pixel distance (±1 %)', async () => {
    const zoom = 10; // magnification → 0.5 screen px per image px on a 20x slide
    const cx = 1110;
    const cy = 1483;
    await page.goto(`${server.base}/view/${slideId}?x=${cx}&y=${cy}&zoom=${zoom}`);
    await waitFullyLoaded(page);
    const box = (await page.locator('.pane').first().boundingBox())!;
    const scale = zoom / OBJECTIVE;
    const screen = (ix: number, iy: number) => ({
      x: box.x + box.width / 2 + (ix - cx) * scale,
      y: box.y + box.height / 2 + (iy - cy) * scale,
    });
    // 800 x 600 image px: a 1000 px diagonal, so both axes count.
    const a = screen(710, 1183);
    const b = screen(1510, 1783);
    // The line tool draws an annotation; its length shows live while the drag goes on.
    await page.keyboard.press('l');
    await page.locator('[data-ann-tool="line"][aria-pressed="true"]').waitFor();
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(b.x, b.y, { steps: 12 });
    const text = (await page.locator('.measure-overlay .measure-label.tone-draft').textContent()) ?? '';
    const expected = MPP * 1000;
    expect(Math.abs(micrometres(text) - expected) / expected).toBeLessThan(0.01);
    await page.mouse.up();
    // Kept (Enter), it reads the same beside it and in the card, and stays on the tissue after a zoom.
    const fresh = page.getByTestId('fresh-shape');
    await expect.poll(() => fresh.getAttribute('data-state')).toBe('saved');
    expect(micrometres((await fresh.textContent()) ?? '')).toBeCloseTo(micrometres(text), 0);
    await page.screenshot({ path: artifact('measure.png') });
    await page.keyboard.press('Enter');
    await page.keyboard.press('Escape');
    await page.locator('[data-ann-tool="select"][aria-pressed="true"]').waitFor();
    await page.keyboard.press('+');
    await page.waitForTimeout(1200);
    // Its ends on screen (the layer draws in image pixels under the frame's matrix).
    const across = (await page.evaluate(`(() => {
      const l = document.querySelector('.annotation-overlay [data-kind="line"] line');
      const m = l.getScreenCTM();
      const a = new DOMPoint(l.x1.baseVal.value, l.y1.baseVal.value).matrixTransform(m);
      const b = new DOMPoint(l.x2.baseVal.value, l.y2.baseVal.value).matrixTransform(m);
      return Math.abs(b.x - a.x);
    })()`)) as number;
    expect(across).toBeCloseTo(800 * scale * 1.5, 0);
  });

  it('a deep link opens exactly the field of view it names, and panning rewrites it', async () => {
    // Whether the viewer ever showed its "Loading slide…" state on this page.
    await page.addInitScript(`new MutationObserver(() => {
      if (document.querySelector('.viewer-page > .state')) window.__slideSpinner = true;
    }).observe(document, { subtree: true, childList: true });`);
    await page.goto(`${server.base}/view/${slideId}?x=600&y=900&zoom=20&rot=90`);
    await waitFullyLoaded(page);
    await page.waitForTimeout(500);
    expect(viewFromUrl(page.url())).toEqual({ x: 600, y: 900, zoom: 20, rot: 90 });
    // Opened by its link, the page carried the slide for the signed-in user: no request for it, and
    // the carrier element is gone once read.
    const manifests = await page.evaluate(
      (id) =>
        performance
          .getEntriesByType('resource')
          .filter((e) => new URL(e.name).pathname === `/api/slides/${id}`).length,
      slideId,
    );
    expect(manifests).toBe(0);
    expect(await page.locator('#tessera-slide').count()).toBe(0);
    // The carried slide is in the viewer's first render: no spinner, render and commit before it.
    expect(await page.evaluate('window.__slideSpinner === true')).toBe(false);
    expect(await page.getByTestId('magnification').textContent()).toBe('20x');
    // At 20x one screen pixel is 0.499 µm: 160 px hold 79.8 µm, so the bar is 50 µm.
    expect(await page.locator('.scalebar').getAttribute('data-um')).toBe('50');
    await page.screenshot({ path: artifact('deep-link.png') });

    // Arrow right pans along the screen's x axis; rotated 90° that is the image's −y.
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => viewFromUrl(page.url()).y, { timeout: 5000 }).toBeLessThan(900);
    const moved = viewFromUrl(page.url());
    expect(moved.x).toBeCloseTo(600, -1);

    // The rewritten link reproduces the same view.
    await page.goto(page.url());
    await waitFullyLoaded(page);
    await page.waitForTimeout(500);
    expect(viewFromUrl(page.url())).toEqual(moved);
  });

  it('a DICOM series uploaded as one folder opens side by side with synchronised zoom', async () => {
    await page.goto(`${server.base}/`);
    await page.setInputFiles('[data-testid="folder-input"]', DICOM_SERIES);
    const upload = page.locator('.upload').first();
    await expect.poll(() => upload.getAttribute('data-phase'), { timeout: 120_000 }).toBe('done');
    await expect.poll(() => page.locator('table.slides tbody tr').count()).toBe(2);
    const other = await page
      .locator('table.slides tbody tr')
      .evaluateAll(
        (rows, first) => rows.map((r) => r.getAttribute('data-slide-id')).find((id) => id !== first),
        slideId,
      );
    expect(other).toMatch(/^[0-9a-f]{32}$/);

    await page.goto(`${server.base}/view/${slideId}?x=1110&y=1483&zoom=5&compare=${other}`);
    await expect
      .poll(() => page.locator('.pane[data-fully-loaded="true"]').count(), { timeout: 30_000 })
      .toBe(2);
    await page.keyboard.press('4'); // 10x
    await page.waitForTimeout(1500);
    const readouts = await page.getByTestId('magnification').allTextContents();
    // Both slides are 0.499 µm/px: equal µm per screen pixel means equal magnification (the DICOM
    // one derived from µm/px: 10/0.499 ≈ 20.04x base).
    expect(readouts[0]).toBe('10x');
    expect(readouts[1]).toMatch(/^≈/);
    expect(Number(readouts[1]!.replace(/[^\d.]/g, ''))).toBeCloseTo(10, 0);
    await page.screenshot({ path: artifact('side-by-side.png') });
  }, 180_000);

  it('the pane says the view moves, rests and is fully loaded as OpenSeadragon reports it, not a render later', async () => {
    await page.goto(`${server.base}/view/${slideId}?x=1110&y=1480&zoom=4`);
    await waitFullyLoaded(page);
    await page.waitForSelector('.pane[data-settled="true"]');
    // A zoom key starts the animation in its own handler: the pane reads "moving" in that same task.
    const seen = await page.evaluate(`(() => {
      const pane = document.querySelector('.pane');
      const before = pane.dataset.settled;
      window.dispatchEvent(new KeyboardEvent('keydown', { key: '+', bubbles: true, cancelable: true }));
      return { before, after: pane.dataset.settled };
    })()`);
    expect(seen).toEqual({ before: 'true', after: 'false' });
    await page.waitForSelector('.pane[data-settled="true"][data-fully-loaded="true"]', { timeout: 30_000 });
    await expect.poll(() => viewFromUrl(page.url()).zoom).toBeCloseTo(6, 5);
  });

  it('zooming in by steps: the next level is fetched ahead, and it draws the same pixels as a fresh page', async () => {
    // Tiles are fetched by the page's tile worker: seen here as the browser sends them, with the
    // number of steps taken when each was asked for.
    const asked: { url: string; steps: number }[] = [];
    let steps = 0;
    const onRequest = (r: { url(): string }): void => {
      if (r.url().includes('_files/')) asked.push({ url: r.url(), steps });
    };
    page.on('request', onRequest);
    const levelOf = (url: string): number => Number(/_files\/(\d+)\//.exec(url)?.[1] ?? -1);
    try {
      // Steps of 1.5x about the centre from 4x end at exactly 13.5x on the same centre, a view a
      // link names exactly (4x → 6x stays on a pyramid level, 6x → 9x crosses to the next one).
      await page.goto(`${server.base}/view/${slideId}?x=1110&y=1480&zoom=4`);
      await waitFullyLoaded(page);
      await page.locator('[data-testid="osd"]').first().hover();
      for (let i = 0; i < 3; i++) {
        steps = i + 1;
        await page.keyboard.press('+');
        await page.waitForSelector('.pane[data-settled="false"]', { timeout: 5000 }).catch(() => {});
        await page.waitForSelector('.pane[data-settled="true"][data-fully-loaded="true"]', {
          timeout: 30_000,
        });
      }
      await page.waitForTimeout(400);
    } finally {
      page.off('request', onRequest);
    }
    expect(viewFromUrl(page.url())).toEqual({ x: 1110, y: 1480, zoom: 13.5, rot: 0 });
    // The level 9x shows was asked for during the step to 6x, which shows none of it: ahead.
    const before = Math.max(...asked.filter((a) => a.steps === 0).map((a) => levelOf(a.url)));
    expect(asked.filter((a) => a.steps === 1 && levelOf(a.url) > before).length).toBeGreaterThan(0);
    // Every tile of the steps was asked for once: those fetched ahead were handed over, not fetched
    // again. (The first view's coarsest tile is asked for twice: the navigator draws it too.)
    const urls = asked.filter((a) => a.steps > 0).map((a) => a.url);
    expect(urls.filter((u, i) => urls.indexOf(u) !== i)).toEqual([]);

    const pane = page.locator('.pane').first();
    const box = (await pane.boundingBox())!;
    const clip = { x: box.x + 40, y: box.y + 40, width: box.width * 0.6, height: box.height * 0.8 };
    const stepped = await page.screenshot({ clip });
    // The same view opened from its link, where every tile comes the ordinary way.
    await page.goto(page.url());
    await waitFullyLoaded(page);
    const fresh = await page.screenshot({ clip });
    writeFileSync(artifact('zoom-steps.png'), stepped);
    writeFileSync(artifact('zoom-steps-fresh.png'), fresh);
    const raw = async (png: Buffer) => (await sharp(png).removeAlpha().raw().toBuffer()) as Buffer;
    const [a, b] = [await raw(stepped), await raw(fresh)];
    expect(a.length).toBe(b.length);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
    expect(diff / a.length).toBeLessThan(1);
    expect((await stats(stepped)).lumaStd).toBeGreaterThan(12);
  });

  it('states: a missing slide says so with a way back; the help overlay lists the keys', async () => {
    await page.goto(`${server.base}/view/${'0'.repeat(32)}`);
    await page.getByRole('heading', { name: 'Slide not found' }).waitFor();
    expect(await page.getByRole('link', { name: /Back to the slide library/ }).getAttribute('href')).toBe(
      '/',
    );
    await page.screenshot({ path: artifact('not-found.png') });

    await page.goto(`${server.base}/view/${slideId}`);
    await waitFullyLoaded(page);
    await page.keyboard.press('?');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await page.screenshot({ path: artifact('keyboard-help.png') });
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
  });

  it('a file cut short fails its upload with one plain sentence, the server’s words and code beneath', async () => {
    await page.goto(`${server.base}/`);
    const bytes = readFileSync(SVS);
    await page.setInputFiles('[data-testid="file-input"]', {
      name: 'cut-short.svs',
      mimeType: 'application/octet-stream',
      buffer: bytes.subarray(0, Math.floor(bytes.length * 0.6)),
    });
    const upload = page.locator('.upload', { hasText: 'cut-short.svs' });
    await expect.poll(() => upload.getAttribute('data-phase'), { timeout: 120_000 }).toBe('failed');
    const plain = await upload.locator('.upload-error .error-text').textContent();
    expect(plain).toMatch(
      /^This file is (cut short — the upload or copy did not finish|damaged: part of the image cannot be read)\.$/,
    );
    expect(await upload.locator('.upload-error-detail').textContent()).toMatch(
      /\((TRUNCATED_FILE|CORRUPT_FILE)\)$/,
    );
    await upload.screenshot({ path: artifact('upload-error.png') });
  });

  it('nothing broke the strict CSP or threw in the page', () => {
    writeFileSync(artifact('console-problems.txt'), problems.join('\n'));
    expect(problems).toEqual([]);
  });
});
