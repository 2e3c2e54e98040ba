import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** An import is a request and a re-render: seconds on a loaded machine. */
const WAIT = { timeout: 15_000 };

// CMU-1-Small-Region.svs: 2220 x 2967 px, 0.499 µm/px, 20x objective (PROVENANCE.md).
const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const MPP = 0.499;
const OBJECTIVE = 20;
/** The view the drawing happens in: centre and magnification (0.5 screen px per image px). */
const VIEW = { x: 1110, y: 1483, zoom: 10 };

const ready = requireSlides() && requireChromium();

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
let nora: Page;
let sam: Page;
let slideId = '';
let rectId = '';
const problems: string[] = [];

async function newPage(who: string): Promise<Page> {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
      problems.push(`${who}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
  return page;
}

async function openAt(p: Page, query = `x=${VIEW.x}&y=${VIEW.y}&zoom=${VIEW.zoom}`): Promise<void> {
  await p.goto(`${server.base}/view/${slideId}?${query}`);
  await p.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
  await p.waitForTimeout(300);
}

/** Screen position of an image pixel in the view the page shows now (its link names it; no rotation). */
async function screenOf(p: Page, ix: number, iy: number) {
  await p.waitForSelector('.pane[data-settled="true"]');
  const box = (await p.locator('.pane').first().boundingBox())!;
  const q = new URL(p.url()).searchParams;
  const [cx, cy, zoom] = [Number(q.get('x')), Number(q.get('y')), Number(q.get('zoom'))];
  const scale = zoom / OBJECTIVE;
  return { x: box.x + box.width / 2 + (ix - cx) * scale, y: box.y + box.height / 2 + (iy - cy) * scale };
}

async function drag(p: Page, a: { x: number; y: number }, b: { x: number; y: number }) {
  await p.mouse.move(a.x, a.y);
  await p.mouse.down();
  await p.mouse.move(b.x, b.y, { steps: 12 });
  await p.mouse.up();
}

/** "0.0896 mm²" → 0.0896 */
function mm2(text: string): number {
  const m = /([\d,.]+)\s*mm²/.exec(text);
  if (!m) throw new Error(`no area in ${JSON.stringify(text)}`);
  return Number(m[1]!.replace(/,/g, ''));
}

describe.skipIf(!ready)('annotating alone, measured in µm and mm², kept through reloads (Chromium)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    server = await startServer();
    browser = await launchChromium();
    nora = await newPage('nora');
    sam = await newPage('sam');
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.close();
  });

  it('Nora uploads a slide and shares it with Sam at the other site', async () => {
    await logIn(nora, server.base, USERS.northPathologist);
    await nora.setInputFiles('[data-testid="file-input"]', SVS);
    const upload = nora.locator('.upload').first();
    await expect.poll(() => upload.getAttribute('data-phase'), { timeout: 120_000 }).toBe('done');
    const row = nora.locator('table.slides tbody tr').first();
    await row.waitFor();
    slideId = (await row.getAttribute('data-slide-id')) ?? '';
    expect(slideId).toMatch(/^[0-9a-f]{32}$/);

    const users = (await (await nora.request.get(`${server.base}/api/users`)).json()) as {
      id: string;
      name: string;
    }[];
    const samId = users.find((u) => u.name === USERS.southSpecialist.name)!.id;
    const expiresAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const share = await nora.request.post(`${server.base}/api/slides/${slideId}/shares`, {
      data: { userId: samId, expiresAt, deidentified: true, studyCode: 'ANNOTATE-1' },
    });
    expect(share.status()).toBe(201);
  }, 180_000);

  it('outside any session, a rectangle drawn with R is saved with its area in mm²', async () => {
    await openAt(nora);
    await nora.keyboard.press('r');
    await nora.locator('[data-ann-tool="rectangle"][aria-pressed="true"]').waitFor();
    // 600 x 600 image pixels at 0.499 µm/px: 0.0896 mm².
    await drag(nora, await screenOf(nora, 800, 1200), await screenOf(nora, 1400, 1800));
    const fresh = nora.getByTestId('fresh-shape');
    await fresh.waitFor();
    await expect.poll(() => fresh.getAttribute('data-state')).toBe('saved');
    const expected = (600 * MPP * 600 * MPP) / 1e6;
    expect(Math.abs(mm2((await fresh.textContent()) ?? '') - expected) / expected).toBeLessThan(0.01);
    // The figure is written on the slide too.
    expect(await nora.getByTestId('measure-label').first().textContent()).toMatch(/mm²/);
    await nora.screenshot({ path: artifact('annotate-fresh.png') });
    // Enter keeps it (it is already saved); the card goes.
    await nora.keyboard.press('Enter');
    await expect.poll(() => fresh.count()).toBe(0);
    const shape = nora.locator('.annotation-overlay [data-annotation-id][data-kind="rectangle"]');
    rectId = (await shape.first().getAttribute('data-annotation-id')) ?? '';
    expect(rectId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a shape discarded with Esc is gone for good', async () => {
    await drag(nora, await screenOf(nora, 1500, 1300), await screenOf(nora, 1700, 1500));
    await expect.poll(() => nora.getByTestId('fresh-shape').getAttribute('data-state')).toBe('saved');
    await expect.poll(() => nora.locator('.annotation-overlay [data-kind="rectangle"]').count()).toBe(2);
    await nora.keyboard.press('Escape');
    await expect.poll(() => nora.locator('.annotation-overlay [data-kind="rectangle"]').count()).toBe(1);
    // Esc again leaves the tool.
    await nora.keyboard.press('Escape');
    await nora.locator('[data-ann-tool="select"][aria-pressed="true"]').waitFor();
  });

  it('after a reload the rectangle is still there, listed with its area in mm²', async () => {
    await openAt(nora);
    await nora.getByTestId('annotations-tab').click();
    const item = nora.locator(`[data-annotation-item="${rectId}"]`);
    await item.waitFor();
    expect(await nora.locator('[data-annotation-item]').count()).toBe(1);
    const text = (await item.getByTestId('annotation-measure').textContent()) ?? '';
    expect(text).toMatch(/mm² · perimeter [\d,.]+ µm/);
    expect(mm2(text)).toBeCloseTo(0.0896, 3);
    await nora.locator(`.annotation-overlay [data-annotation-id="${rectId}"]`).waitFor({ state: 'attached' });
    await nora.screenshot({ path: artifact('annotate-list.png') });
    await nora.locator('.toolbar').screenshot({ path: artifact('annotate-tools.png') });
  });

  it('clicking it in the list fits the view to it', async () => {
    await openAt(nora, 'x=200&y=200&zoom=20');
    await nora.getByTestId('annotations-tab').click();
    await nora.locator(`[data-annotation-item="${rectId}"]`).click();
    // The rectangle's centre (1100, 1500) comes to the middle of the view.
    await expect
      .poll(
        () => {
          const q = new URL(nora.url()).searchParams;
          return Math.hypot(Number(q.get('x')) - 1100, Number(q.get('y')) - 1500) < 20;
        },
        { timeout: 10_000 },
      )
      .toBe(true);
  });

  it('filtering out its class hides it from the list and the slide', async () => {
    const chip = nora.locator('[data-class-filter="Tumor"]');
    await chip.click();
    await expect.poll(() => nora.locator(`[data-annotation-item="${rectId}"]`).count()).toBe(0);
    await expect
      .poll(() => nora.locator(`.annotation-overlay [data-annotation-id="${rectId}"]`).count())
      .toBe(0);
    expect(await nora.getByTestId('filter-note').textContent()).toMatch(/1 of 1 hidden/);
    await nora.getByTestId('annotations-panel').screenshot({ path: artifact('annotate-filtered.png') });
    await chip.click();
    await nora.locator(`[data-annotation-item="${rectId}"]`).waitFor();
  });

  it('the export button downloads QuPath GeoJSON holding it', async () => {
    const [download] = await Promise.all([
      nora.waitForEvent('download'),
      nora.getByTestId('export-geojson').click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/\.geojson$/);
    const geo = JSON.parse(readFileSync((await download.path())!, 'utf8')) as {
      type: string;
      features: { id: string; geometry: { type: string } }[];
    };
    expect(geo.type).toBe('FeatureCollection');
    expect(geo.features.map((f) => f.id)).toContain(rectId);
    expect(geo.features.find((f) => f.id === rectId)!.geometry.type).toBe('Polygon');
  });

  it('Sam, with a share only, sees it, and is told the slide is view only when he draws', async () => {
    await logIn(
      sam,
      server.base,
      USERS.southSpecialist,
      `/view/${slideId}?x=${VIEW.x}&y=${VIEW.y}&zoom=${VIEW.zoom}`,
    );
    await sam.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
    await sam.getByTestId('annotations-tab').click();
    const item = sam.locator(`[data-annotation-item="${rectId}"]`);
    await item.waitFor();
    expect(mm2((await item.getByTestId('annotation-measure').textContent()) ?? '')).toBeCloseTo(0.0896, 3);

    await sam.keyboard.press('r');
    await drag(sam, await screenOf(sam, 1500, 1300), await screenOf(sam, 1800, 1600));
    const fresh = sam.getByTestId('fresh-shape');
    await expect.poll(() => fresh.getAttribute('data-state'), { timeout: 10_000 }).toBe('unsaved');
    expect(await sam.getByTestId('view-only').textContent()).toContain(
      'this slide is shared with you: view only',
    );
    // He still reads its measurement, but nothing was stored.
    expect(await fresh.textContent()).toMatch(/mm²/);
    expect(await sam.locator('[data-annotation-item]').count()).toBe(1);
    await sam.screenshot({ path: artifact('annotate-view-only.png') });
    await sam.keyboard.press('Escape');
    await expect.poll(() => fresh.count()).toBe(0);
    const stored = (await (
      await nora.request.get(`${server.base}/api/slides/${slideId}/annotations`)
    ).json()) as {
      annotations: unknown[];
    };
    expect(stored.annotations).toHaveLength(1);
  });

  it('in a live session the same annotation shows once, and the tools are the same', async () => {
    await openAt(nora);
    await nora.getByTestId('review-button').click();
    await nora.getByTestId('start-session').click();
    await nora.getByTestId('review-room').waitFor();
    await expect.poll(() => nora.getByTestId('connection').getAttribute('data-state')).toBe('live');
    // (The session's wider side panel changes the zoom: screenOf reads the view from the link.)
    await expect
      .poll(() => nora.locator(`.annotation-overlay [data-annotation-id="${rectId}"]`).count())
      .toBe(1);
    expect(await nora.locator('.annotation-overlay [data-annotation-id]').count()).toBe(1);
    // L is the annotation line here too (no separate measuring tool): its length in µm.
    await nora.keyboard.press('l');
    const a = await screenOf(nora, 700, 1100);
    const b = await screenOf(nora, 1500, 1700);
    await drag(nora, a, b);
    const fresh = nora.getByTestId('fresh-shape');
    await expect.poll(() => fresh.getAttribute('data-state')).toBe('saved');
    const um = Number(/([\d,.]+)\s*µm/.exec((await fresh.textContent()) ?? '')![1]!.replace(/,/g, ''));
    expect(Math.abs(um - MPP * 1000) / (MPP * 1000)).toBeLessThan(0.01);
    await nora.getByTestId('annotations-tab').click();
    await expect.poll(() => nora.locator('[data-annotation-item]').count()).toBe(2);
    // Export works during the session too.
    const [download] = await Promise.all([
      nora.waitForEvent('download'),
      nora.getByTestId('export-geojson').click(),
    ]);
    const geo = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { features: unknown[] };
    expect(geo.features).toHaveLength(2);
    await nora.screenshot({ path: artifact('annotate-session.png') });
  });

  it('the help lists a key for every tool', async () => {
    await nora.keyboard.press('?');
    const dialog = nora.getByRole('dialog', { name: 'Keyboard shortcuts' });
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? '';
    for (const k of ['Rectangle', 'Ellipse', 'Polygon', 'Freehand', 'Polyline', 'Point', 'Line'])
      expect(text).toContain(k);
    await nora.screenshot({ path: artifact('annotate-help.png') });
    await nora.keyboard.press('Escape');
    expect(problems).toEqual([]);
  });

  it('a partial GeoJSON import says how many were stored and lists each refused feature with its reason', async () => {
    await nora.getByTestId('annotations-tab').click();
    const before = await nora.locator('[data-annotation-item]').count();
    const square = (x: number) => [
      [
        [x, 900],
        [x + 200, 900],
        [x + 200, 1100],
        [x, 1100],
        [x, 900],
      ],
    ];
    // As QuPath writes it: a bare NaN for a measurement without a value (the file is sent as it is).
    const text = `{"type":"FeatureCollection","features":[
      {"type":"Feature","geometry":{"type":"Polygon","coordinates":${JSON.stringify(square(300))}},"properties":{"objectType":"annotation","name":"imported one","measurements":{"Area":NaN}}},
      {"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,2]]},"properties":{"objectType":"annotation"}},
      {"type":"Feature","geometry":{"type":"Polygon","coordinates":${JSON.stringify(square(600))}},"properties":{"objectType":"annotation","classification":{"name":"Stroma"}}},
      {"type":"Feature","geometry":{"type":"Circle","coordinates":[5,5]},"properties":{}}
    ]}`;
    await nora.getByTestId('geojson-input').setInputFiles({
      name: 'partial.geojson',
      mimeType: 'application/geo+json',
      buffer: Buffer.from(text),
    });
    const result = nora.getByTestId('geojson-result');
    await expect
      .poll(() => result.textContent(), WAIT)
      .toMatch(/Imported 2 of 4 features from partial\.geojson; 2 could not be imported/);
    const refused = nora.getByTestId('import-errors').locator('li');
    expect(await refused.count()).toBe(2);
    expect(await refused.nth(0).getAttribute('data-feature-index')).toBe('1');
    expect(await refused.nth(0).textContent()).toMatch(/feature 1.*LineString has 1 point/);
    expect(await refused.nth(1).getAttribute('data-feature-index')).toBe('3');
    expect(await refused.nth(1).textContent()).toMatch(/feature 3.*unsupported geometry Circle/);
    await expect.poll(() => nora.locator('[data-annotation-item]').count(), WAIT).toBe(before + 2);
    await nora.screenshot({ path: artifact('annotate-import-errors.png') });

    // Nothing importable: an error, with the same list.
    await nora.getByTestId('geojson-input').setInputFiles({
      name: 'bad.geojson',
      mimeType: 'application/geo+json',
      buffer: Buffer.from('[{"type":"Feature","geometry":{"type":"Point","coordinates":["a",1]}}]'),
    });
    await expect.poll(() => result.textContent(), WAIT).toMatch(/Imported 0 of 1 feature from bad\.geojson/);
    expect(await result.locator('.error-text').count()).toBe(1);
    expect(await refused.count()).toBe(1);
    expect(await refused.first().textContent()).toMatch(/feature 0.*expected \[x, y\] finite numbers/);
    expect(await nora.locator('[data-annotation-item]').count()).toBe(before + 2);
    expect(problems).toEqual([]);
  });

  it('with hundreds of shapes in view the layer draws them on a canvas, where they are', async () => {
    // 400 points across the slide and one Necrosis square: more than the SVG layer draws.
    const features = Array.from({ length: 400 }, (_, i) => ({
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [100 + (i % 20) * 100, 100 + Math.floor(i / 20) * 140] },
      properties: { objectType: 'annotation', classification: { name: 'Stroma' } },
    }));
    features.push({
      type: 'Feature',
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [700, 1000],
            [1500, 1000],
            [1500, 1800],
            [700, 1800],
            [700, 1000],
          ],
        ],
      } as never,
      properties: { objectType: 'annotation', classification: { name: 'Necrosis' } },
    });
    const status = await nora.evaluate(
      async ([id, body]) =>
        (
          await fetch(`/api/slides/${id}/annotations?format=geojson`, {
            method: 'POST',
            headers: { 'content-type': 'application/geo+json' },
            body,
          })
        ).status,
      [slideId, JSON.stringify({ type: 'FeatureCollection', features })] as const,
    );
    expect(status).toBe(201);
    await openAt(nora, 'x=1110&y=1483&zoom=2.5');
    const layer = nora.locator('.annotation-layer').first();
    await expect.poll(() => layer.getAttribute('data-renderer'), WAIT).toBe('canvas');
    expect(Number(await layer.getAttribute('data-drawn'))).toBeGreaterThan(400);
    // No SVG element per shape (only a selected or dragged one would be).
    expect(await nora.locator('.annotation-overlay [data-annotation-id]').count()).toBe(0);
    // The square's left edge is drawn in its class colour (#c26000) where the view puts it; 40 px
    // further left there is tissue or glass, not that colour.
    const orange = async (x: number, y: number) => {
      const png = await nora.screenshot({ clip: { x: x - 3, y: y - 3, width: 7, height: 7 } });
      const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let hits = 0;
      for (let i = 0; i < info.width * info.height; i++) {
        const [r, g, b] = [data[i * 3]!, data[i * 3 + 1]!, data[i * 3 + 2]!];
        if (r > 150 && g > 50 && g < 140 && b < 70) hits++;
      }
      return hits;
    };
    const edge = await screenOf(nora, 700, 1400);
    expect(await orange(edge.x, edge.y)).toBeGreaterThan(0);
    expect(await orange(edge.x - 40, edge.y)).toBe(0);
    await nora.screenshot({ path: artifact('annotate-canvas-layer.png') });
    expect(problems).toEqual([]);
  });

  it('opened from a link, the drawing worker reads the packed shapes; the page reads the list after; a failed read is taken over', async () => {
    const listPath = `/api/slides/${slideId}/annotations`;
    const lists: string[] = [];
    const onRequest = (r: { url(): string }) => {
      const u = new URL(r.url());
      if (u.pathname === listPath) lists.push(u.searchParams.get('format') ?? 'json');
    };
    nora.on('request', onRequest);
    const layer = nora.locator('.annotation-layer').first();
    const drawn = async () => Number(await layer.getAttribute('data-drawn'));
    const counted = () => nora.getByTestId('annotations-tab').textContent();
    try {
      await openAt(nora, 'x=1110&y=1483&zoom=2.5');
      await expect.poll(drawn, WAIT).toBeGreaterThan(400);
      await expect.poll(counted, WAIT).toMatch(/\(\d{3,}\)/);
      // The worker's packed read first, the page's JSON list once the drawing is on screen.
      expect(lists).toEqual(['shapes', 'json']);
      const readHere = (path: string) =>
        performance
          .getEntriesByType('resource')
          .map((e) => new URL(e.name))
          .filter((u) => u.pathname === path)
          .map((u) => u.searchParams.get('format') ?? 'json');
      expect(await nora.evaluate(readHere, listPath)).toEqual(['json']);
      const byWorkers = (await Promise.all(nora.workers().map((w) => w.evaluate(readHere, listPath)))).flat();
      expect(byWorkers).toEqual(['shapes']);

      // The worker's read meets a server briefly unavailable: the page's list is drawn instead.
      lists.length = 0;
      let answered = 0;
      await nora.route(`**${listPath}*`, (route) =>
        answered++ === 0
          ? route.fulfill({
              status: 503,
              contentType: 'application/json',
              body: '{"code":"UNAVAILABLE","message":"try again"}',
            })
          : route.continue(),
      );
      await openAt(nora, 'x=1110&y=1483&zoom=2.5');
      await expect.poll(drawn, WAIT).toBeGreaterThan(400);
      await expect.poll(counted, WAIT).toMatch(/\(\d{3,}\)/);
      expect(answered).toBe(2);
      expect(lists).toEqual(['shapes', 'json']);
    } finally {
      nora.off('request', onRequest);
      await nora.unroute(`**${listPath}*`);
    }
    expect(problems).toEqual([]);
  });
});
