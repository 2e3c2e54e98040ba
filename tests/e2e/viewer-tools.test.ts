import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import sharp from 'sharp';
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

// CMU-1-Small-Region.svs: 2220 x 2967 px, 0.499 µm/px, 20x objective (PROVENANCE.md). Its half-size
// copy is made here: the same tissue at 0.998 µm/px with no objective, so two pixel sizes of one
// section can be lined up by eye as well as by numbers. The OME-TIFF has three channels rendered into
// blue, green and red at ingest, and no µm/px.
const SVS = slidePath('aperio/CMU-1-Small-Region.svs');
const OME = slidePath('ome-tiff/minerva-2048x2048-ome6-pyramid.ome.tif');
// Three channels rendered blue, green and yellow: yellow shares red and green, so they cannot be unmixed.
const QPTIFF = slidePath('qptiff/pathml-small_vectra.qptiff');
const MPP = 0.499;
const HALF_MPP = 0.998;

const ready = requireSlides() && requireChromium();

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let tmp = '';
let half = '';
const ids = { svs: '', half: '', ome: '', qptiff: '' };
const problems: string[] = [];

interface PaneView {
  x: number;
  y: number;
  imageZoom: number;
  rotation: number;
}

async function paneView(pane: Locator): Promise<PaneView> {
  const get = async (a: string) => Number(await pane.getAttribute(a));
  return {
    x: await get('data-x'),
    y: await get('data-y'),
    imageZoom: await get('data-image-zoom'),
    rotation: await get('data-rotation'),
  };
}

const paneOf = (id: string): Locator => page.locator(`.pane[data-slide-id="${id}"]`);

async function waitPanesLoaded(n: number): Promise<void> {
  await expect
    .poll(() => page.locator('.pane[data-fully-loaded="true"][data-settled="true"]').count(), {
      timeout: 30_000,
    })
    .toBe(n);
  await page.waitForTimeout(400);
}

/** Mean luma of the middle of a pane's OpenSeadragon canvas, read from the canvas itself. */
function canvasLuma(pane: Locator): Promise<number> {
  return pane
    .locator('.openseadragon-canvas canvas')
    .first()
    .evaluate((el) => {
      const c = el as unknown as {
        width: number;
        height: number;
        getContext(t: '2d'): {
          getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
        };
      };
      const w = Math.round(c.width * 0.3);
      const h = Math.round(c.height * 0.3);
      const d = c
        .getContext('2d')
        .getImageData(Math.round(c.width * 0.35), Math.round(c.height * 0.35), w, h).data;
      let y = 0;
      for (let i = 0; i < d.length; i += 4) y += 0.299 * d[i]! + 0.587 * d[i + 1]! + 0.114 * d[i + 2]!;
      return y / (d.length / 4);
    });
}

async function luma(png: Buffer): Promise<{ r: number; g: number; b: number; y: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  let r = 0;
  let g = 0;
  let b = 0;
  for (let i = 0; i < n; i++) {
    r += data[i * 3]!;
    g += data[i * 3 + 1]!;
    b += data[i * 3 + 2]!;
  }
  return { r: r / n, g: g / n, b: b / n, y: (0.299 * r + 0.587 * g + 0.114 * b) / n };
}

async function middleOf(
  pane: Locator,
  frac = 0.3,
): Promise<{ x: number; y: number; width: number; height: number }> {
  const box = (await pane.boundingBox())!;
  return {
    x: Math.round(box.x + box.width * (0.5 - frac / 2)),
    y: Math.round(box.y + box.height * (0.5 - frac / 2)),
    width: Math.round(box.width * frac),
    height: Math.round(box.height * frac),
  };
}

/** A range input moved the way a person moves it: focused, then arrow keys. */
async function nudge(slider: Locator, steps: number): Promise<void> {
  await slider.focus();
  for (let i = 0; i < Math.abs(steps); i++) await slider.press(steps > 0 ? 'ArrowRight' : 'ArrowLeft');
  await slider.blur();
}

describe.skipIf(!ready)(
  'viewer tools end to end: compare in µm, digital zoom, adjustments, save view',
  () => {
    beforeAll(async () => {
      await ensureClientBuilt();
      tmp = mkdtempSync(path.join(tmpdir(), 'tessera-viewer-tools-'));
      half = path.join(tmp, 'cmu-half.tif');
      await sharp(SVS, { limitInputPixels: false })
        .resize(1110)
        .tiff({
          compression: 'jpeg',
          quality: 90,
          tile: true,
          tileWidth: 256,
          tileHeight: 256,
          pyramid: true,
          // px/mm: 1000 / µm per pixel, unit cm in the file (as the store writes them)
          xres: 1000 / HALF_MPP,
          yres: 1000 / HALF_MPP,
          resolutionUnit: 'cm',
        })
        .toFile(half);
      server = await startServer();
      browser = await launchChromium();
      context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
      page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
          problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('slides uploaded: the SVS, its half-size copy at 0.998 µm/px, three-channel OME-TIFF and QPTIFF', async () => {
      await logIn(page, server.base, USERS.northPathologist);
      await page.setInputFiles('[data-testid="file-input"]', [SVS, half, OME, QPTIFF]);
      await expect
        .poll(() => page.locator('.upload[data-phase="done"]').count(), { timeout: 180_000 })
        .toBe(4);
      await expect.poll(() => page.locator('table.slides tbody tr').count()).toBe(4);
      const rows = await page
        .locator('table.slides tbody tr')
        .evaluateAll((trs) =>
          trs.map((r) => [
            r.querySelector('.slide-name')?.textContent ?? '',
            r.getAttribute('data-slide-id') ?? '',
          ]),
        );
      for (const [name, id] of rows) {
        if (name === 'CMU-1-Small-Region') ids.svs = id;
        else if (name === 'cmu-half') ids.half = id;
        else if (name.startsWith('minerva')) ids.ome = id;
        else if (name.startsWith('pathml')) ids.qptiff = id;
      }
      expect(Object.values(ids).every((id) => /^[0-9a-f]{32}$/.test(id))).toBe(true);
    }, 300_000);

    it('the second slide opens at the same place in µm and magnification, and follows a pan and a zoom in µm', async () => {
      await page.goto(`${server.base}/view/${ids.svs}?x=1110&y=1483&zoom=10&compare=${ids.half}`);
      await waitPanesLoaded(2);
      const A = paneOf(ids.svs);
      const B = paneOf(ids.half);
      const check = async (label: string) => {
        const a = await paneView(A);
        const b = await paneView(B);
        // centre in µm within a micrometre; µm per screen pixel equal within 0.5 %
        expect(Math.abs(b.x * HALF_MPP - a.x * MPP), `${label}: x`).toBeLessThan(1);
        expect(Math.abs(b.y * HALF_MPP - a.y * MPP), `${label}: y`).toBeLessThan(1);
        const ua = MPP / a.imageZoom;
        const ub = HALF_MPP / b.imageZoom;
        expect(Math.abs(ub - ua) / ua, `${label}: µm per screen px`).toBeLessThan(0.005);
        expect(b.rotation).toBe(a.rotation);
        return { a, b };
      };
      const opened = await check('opened');
      // 10x on a 20x scan: 0.5 screen px per image px, 0.998 µm per screen px; the half-size copy is then 1:1
      expect(opened.a.imageZoom).toBeCloseTo(0.5, 3);
      expect(opened.b.imageZoom).toBeCloseTo(1, 2);
      // Both µm, no notice.
      expect(await page.getByTestId('pane-notice').count()).toBe(0);
      await page.screenshot({ path: artifact('tools-compare-open.png') });

      // The same tissue in both panes: the middle of each, pixel for pixel, differs only by resampling.
      const [ma, mb] = [await middleOf(A, 0.4), await middleOf(B, 0.4)];
      const side = Math.min(ma.width, mb.width, ma.height, mb.height);
      const crop = async (m: typeof ma) =>
        (await sharp(await page.screenshot({ clip: { ...m, width: side, height: side } }))
          .removeAlpha()
          .raw()
          .toBuffer()) as Buffer;
      const [pa, pb] = [await crop(ma), await crop(mb)];
      let diff = 0;
      for (let i = 0; i < pa.length; i++) diff += Math.abs(pa[i]! - pb[i]!);
      writeFileSync(artifact('tools-compare-mad.txt'), String(diff / pa.length));
      expect(diff / pa.length).toBeLessThan(12);

      // Pan the first pane by dragging 200 px, then zoom with the wheel: the second follows in µm.
      const box = (await A.boundingBox())!;
      const cx = box.x + box.width / 2;
      const cy = box.y + box.height / 2;
      await page.mouse.move(cx, cy);
      await page.mouse.down();
      await page.mouse.move(cx - 200, cy - 120, { steps: 10 });
      await page.mouse.up();
      await waitPanesLoaded(2);
      const panned = await check('after pan');
      expect(panned.a.x * MPP - opened.a.x * MPP).toBeGreaterThan(150);
      await page.mouse.move(cx, cy);
      for (let i = 0; i < 3; i++) {
        await page.mouse.wheel(0, -120);
        await page.waitForTimeout(120);
      }
      await waitPanesLoaded(2);
      const zoomed = await check('after zoom');
      expect(zoomed.a.imageZoom).toBeGreaterThan(panned.a.imageZoom * 1.5);
      // Led by the second pane too (a drag on it moves the first).
      const bbox = (await B.boundingBox())!;
      await page.mouse.move(bbox.x + bbox.width / 2, bbox.y + bbox.height / 2);
      await page.mouse.down();
      await page.mouse.move(bbox.x + bbox.width / 2 + 150, bbox.y + bbox.height / 2 + 60, { steps: 8 });
      await page.mouse.up();
      await waitPanesLoaded(2);
      await check('led by the second pane');
      await page.screenshot({ path: artifact('tools-compare-followed.png') });
    });

    it('a rotated view opens the second slide rotated alike, at the same place', async () => {
      await page.goto(`${server.base}/view/${ids.svs}?x=900&y=1200&zoom=5&rot=90&compare=${ids.half}`);
      await waitPanesLoaded(2);
      const a = await paneView(paneOf(ids.svs));
      const b = await paneView(paneOf(ids.half));
      expect(a.rotation).toBe(90);
      expect(b.rotation).toBe(90);
      expect(Math.abs(b.x * HALF_MPP - a.x * MPP)).toBeLessThan(1);
      expect(Math.abs(b.y * HALF_MPP - a.y * MPP)).toBeLessThan(1);
      await page.screenshot({ path: artifact('tools-compare-rotated.png') });
    });

    it('without µm/px on one side the panes follow as image fractions, and the pane says so', async () => {
      await page.goto(`${server.base}/view/${ids.svs}?x=1110&y=1483&zoom=2&compare=${ids.ome}`);
      await waitPanesLoaded(2);
      const notice = page.getByTestId('pane-notice');
      await expect.poll(() => notice.textContent()).toMatch(/^Not in µm: minerva\S* has no pixel size/);
      const a = await paneView(paneOf(ids.svs));
      const b = await paneView(paneOf(ids.ome));
      // the middle of one image is the middle of the other
      expect(b.x / 2048).toBeCloseTo(a.x / 2220, 2);
      expect(b.y / 2048).toBeCloseTo(a.y / 2967, 2);
      await page.screenshot({ path: artifact('tools-compare-fraction.png') });
    });

    it('magnifications past the scan are marked as digital zoom', async () => {
      await page.goto(`${server.base}/view/${ids.svs}?x=1110&y=1483&zoom=20`);
      await waitPanesLoaded(1);
      const readout = page.getByTestId('magnification');
      expect(await readout.textContent()).toBe('20x');
      expect(await readout.getAttribute('data-digital')).toBe('false');
      await page.goto(`${server.base}/view/${ids.svs}?x=1110&y=1483&zoom=40`);
      await waitPanesLoaded(1);
      expect(await readout.textContent()).toBe('40x (digital)');
      expect(await readout.getAttribute('class')).toContain('digital');
      // The magnification buttons past the 20x objective carry the same mark, the rest none.
      const button = (m: number) => page.locator(`button[data-mag="${m}"]`).first();
      expect(await button(20).getAttribute('data-digital')).toBe('false');
      expect(await button(40).getAttribute('data-digital')).toBe('true');
      expect(await button(40).getAttribute('aria-label')).toMatch(/digital zoom/);
      expect(await button(40).getAttribute('title')).toMatch(/beyond the scanner's 20x objective/);
      await readout.screenshot({ path: artifact('tools-digital-readout.png') });
      await page.screenshot({ path: artifact('tools-digital.png') });
      // Without an objective: past one screen pixel per image pixel (the copy at 0.998 µm/px, ≈10x at 1:1).
      await page.goto(`${server.base}/view/${ids.half}?x=555&y=741&zoom=20`);
      await waitPanesLoaded(1);
      expect(await readout.textContent()).toMatch(/^≈20(\.\d)?x \(digital\)$/);
    });

    it('brightness, contrast and gamma change the pixels on screen, and Reset puts them back', async () => {
      await page.goto(`${server.base}/view/${ids.svs}?x=1110&y=1483&zoom=5`);
      await waitPanesLoaded(1);
      const pane = paneOf(ids.svs);
      const clip = await middleOf(pane);
      const before = await luma(await page.screenshot({ clip }));
      const canvasBefore = await canvasLuma(pane);
      await page.getByTestId('adjust-button').click();
      await nudge(page.getByTestId('adjust-brightness'), -8); // 100 % → 60 %
      await expect.poll(() => pane.getAttribute('data-filtered')).toBe('true');
      // The canvas's own pixels change (the tiles are processed), not just what is composited.
      await expect.poll(() => canvasLuma(pane).then((l) => l / canvasBefore)).toBeLessThan(0.65);
      expect((await canvasLuma(pane)) / canvasBefore).toBeGreaterThan(0.55);
      await page.waitForTimeout(200);
      const darker = await luma(await page.screenshot({ clip }));
      expect(darker.y / before.y).toBeGreaterThan(0.55);
      expect(darker.y / before.y).toBeLessThan(0.65);
      await page.screenshot({ path: artifact('tools-brightness.png') });

      const dimmed = await canvasLuma(pane);
      await nudge(page.getByTestId('adjust-gamma'), 20); // γ = 2
      await expect.poll(() => canvasLuma(pane)).toBeGreaterThan(dimmed + 10);
      await page.waitForTimeout(200);
      const lifted = await luma(await page.screenshot({ clip }));
      expect(lifted.y).toBeGreaterThan(darker.y + 10);
      await page.screenshot({ path: artifact('tools-adjust.png') });

      await page.getByTestId('adjust-reset').click();
      await expect.poll(() => pane.getAttribute('data-filtered')).toBe('false');
      await expect.poll(async () => Math.abs((await canvasLuma(pane)) - canvasBefore)).toBeLessThan(1);
      await page.waitForTimeout(200);
      const reset = await luma(await page.screenshot({ clip }));
      expect(Math.abs(reset.y - before.y)).toBeLessThan(1);
    });

    it('Save view downloads a PNG the size of the view, adjusted as shown, with the name and a scale bar', async () => {
      await page.goto(`${server.base}/view/${ids.svs}?x=1110&y=1483&zoom=10`);
      await waitPanesLoaded(1);
      const pane = paneOf(ids.svs);
      const plain = await canvasLuma(pane);
      await page.getByTestId('adjust-button').click();
      await nudge(page.getByTestId('adjust-contrast'), 6); // 130 %
      await nudge(page.getByTestId('adjust-gamma'), -10); // γ = 0.71
      await page.getByTestId('adjust-button').click(); // closed: the panel is not in the picture
      await expect.poll(async () => Math.abs((await canvasLuma(pane)) - plain)).toBeGreaterThan(5);
      await page.waitForTimeout(300);
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByTestId('save-view').click(),
      ]);
      const v = await paneView(pane);
      expect(download.suggestedFilename()).toBe(
        `CMU-1-Small-Region-${Math.round(v.x)}-${Math.round(v.y)}.png`,
      );
      const file = artifact('tools-saved-view.png');
      await download.saveAs(file);
      expect(await pane.locator('.pane-tools-error').count()).toBe(0);

      const osd = (await pane.getByTestId('osd').boundingBox())!;
      const meta = await sharp(file).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBe(Math.round(osd.width));
      expect(meta.height).toBe(Math.round(osd.height));

      // The bottom area holds the scale bar: a white run as long as the on-screen bar's µm at this zoom.
      const um = Number(await pane.locator('.scalebar').getAttribute('data-um'));
      const wantPx = um / (MPP / v.imageZoom);
      const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      // A white run with the dark backing box on both sides (the slide's own white background is
      // not); one antialiased pixel allowed between them.
      const at = (x: number, y: number) => (y * info.width + x) * 3;
      const dark = (x: number, y: number) => {
        const i = at(x, y);
        return x >= 0 && data[i]! + data[i + 1]! + data[i + 2]! < 300;
      };
      const white = (x: number, y: number) => {
        const i = at(x, y);
        return data[i]! > 245 && data[i + 1]! > 245 && data[i + 2]! > 245;
      };
      let longest = 0;
      for (let y = info.height - 60; y < info.height; y++) {
        // The stamp sits in the bottom-left corner: 10 px margin, at most 160 px of bar plus padding.
        for (let x = 0; x < 200; x++) {
          if (!white(x, y)) continue;
          let end = x;
          while (end < info.width && white(end, y)) end++;
          if (end < 200 && (dark(x - 1, y) || dark(x - 2, y)) && (dark(end, y) || dark(end + 1, y)))
            longest = Math.max(longest, end - x);
          x = end;
        }
      }
      expect(Math.abs(longest - wantPx)).toBeLessThanOrEqual(2);

      // The picture is the view as shown (contrast and gamma included): the middle matches a screenshot of it.
      const clip = await middleOf(pane);
      const shown = await sharp(await page.screenshot({ clip }))
        .removeAlpha()
        .raw()
        .toBuffer();
      const saved = await sharp(file)
        .extract({
          left: Math.round(clip.x - osd.x),
          top: Math.round(clip.y - osd.y),
          width: clip.width,
          height: clip.height,
        })
        .removeAlpha()
        .raw()
        .toBuffer();
      let diff = 0;
      for (let i = 0; i < shown.length; i++) diff += Math.abs(shown[i]! - saved[i]!);
      expect(diff / shown.length).toBeLessThan(3);
    });

    it('channels rendered into distinct primaries can be switched off and re-tinted', async () => {
      await page.goto(`${server.base}/view/${ids.ome}`);
      await waitPanesLoaded(1);
      const pane = paneOf(ids.ome);
      const clip = await middleOf(pane, 0.3);
      const before = await luma(await page.screenshot({ clip }));
      await page.getByTestId('adjust-button').click();
      const channels = page.getByTestId('adjust-channel');
      expect(await channels.count()).toBe(3);
      // channel 2 was rendered red: off, and the red in the picture is gone
      expect(before.r).toBeGreaterThan(5);
      await channels.nth(2).getByRole('checkbox').uncheck();
      await expect.poll(async () => (await luma(await page.screenshot({ clip }))).r).toBeLessThan(1);
      const off = await luma(await page.screenshot({ clip }));
      await page.screenshot({ path: artifact('tools-channels.png') });
      expect(off.r).toBeLessThan(1);
      expect(Math.abs(off.g - before.g)).toBeLessThan(1);
      expect(Math.abs(off.b - before.b)).toBeLessThan(1);
      // back on, and channel 0 (rendered blue) shown yellow: no blue left, red and green gain it
      await channels.nth(2).getByRole('checkbox').check();
      await channels
        .nth(0)
        .getByLabel(/^Colour of/)
        .fill('#ffff00');
      await expect.poll(async () => (await luma(await page.screenshot({ clip }))).b).toBeLessThan(1);
      const yellow = await luma(await page.screenshot({ clip }));
      expect(yellow.b).toBeLessThan(1);
      expect(yellow.r).toBeGreaterThan(before.r + 5);
      expect(yellow.g).toBeGreaterThan(before.g + 5);
      await page.screenshot({ path: artifact('tools-channels-retinted.png') });
    });

    it('channels that share colour components get the global adjustments and the rendering text', async () => {
      await page.goto(`${server.base}/view/${ids.qptiff}`);
      await waitPanesLoaded(1);
      await page.getByTestId('adjust-button').click();
      const text = page.getByTestId('adjust-rendering');
      await expect.poll(() => text.textContent()).toContain('Cy3 -> #ffff00');
      expect(await text.textContent()).toMatch(/cannot be separated/);
      expect(await page.getByTestId('adjust-channel').count()).toBe(0);
      await page.screenshot({ path: artifact('tools-channels-mixed.png') });
    });

    it('nothing broke the strict CSP or threw in the page', () => {
      writeFileSync(artifact('tools-console-problems.txt'), problems.join('\n'));
      expect(problems).toEqual([]);
    });
  },
);
