import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UploadAccepted } from '../../protocol/index.ts';
import { authedFetch, userWithToken } from '../helpers/auth.ts';
import { meanAbsDiff, toRgb } from '../helpers/pixels.ts';
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

const ready = requireChromium();

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let dir = '';
const problems: string[] = [];

/** A pyramidal JPEG TIFF large enough that its conversion takes a few seconds. */
async function slideFile(file: string, width: number, height: number): Promise<void> {
  const w = width >> 8;
  const h = height >> 8;
  const small = Buffer.alloc(w * h * 3);
  let s = 5;
  for (let i = 0; i < small.length; i += 3) {
    s = (s * 1103515245 + 12345) >>> 0;
    const v = s >>> 24;
    const tissue = (i / 3) % w > w / 5 && (i / 3) % w < (4 * w) / 5;
    small[i] = tissue ? 190 + (v % 50) : 242;
    small[i + 1] = tissue ? 90 + ((v >> 2) % 70) : 240;
    small[i + 2] = tissue ? 160 + ((v >> 3) % 50) : 244;
  }
  await sharp(small, { raw: { width: w, height: h, channels: 3 } })
    .resize(width, height, { kernel: 'cubic' })
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'jpeg', quality: 85 })
    .toFile(file);
}

/** The slide's drawing, below the strip where the pane's notes sit. */
async function canvasShot(p: Page): Promise<Buffer> {
  const png = await p.locator('[data-testid="osd"]').screenshot();
  const m = await sharp(png).metadata();
  return sharp(png)
    .extract({ left: 0, top: 48, width: m.width, height: m.height - 48 })
    .png()
    .toBuffer();
}

describe.skipIf(!ready)(
  'open at once in the browser: converting, then the stored pyramid without a jump',
  () => {
    beforeAll(async () => {
      await ensureClientBuilt();
      dir = mkdtempSync(path.join(tmpdir(), 'tessera-e2e-open-'));
      server = await startServer();
      browser = await launchChromium();
      context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
      page = await context.newPage();
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('the viewer shows "Converting, N %", then draws the stored tiles in place: same view, no reload, same pixels, annotations kept', async () => {
      const file = path.join(dir, 'fresh.tif');
      await slideFile(file, 24_000, 16_000);
      const uploader = await userWithToken(server.ctx.db, {
        name: 'up',
        role: 'lab_manager',
        siteId: 'north',
      });
      const api = authedFetch(() => uploader.token);
      const res = await api(`${server.base}/api/slides?name=fresh.tif`, {
        method: 'POST',
        body: readFileSync(file),
      });
      expect(res.status).toBe(202);
      const { slideId } = (await res.json()) as UploadAccepted;
      expect(slideId).toMatch(/^[0-9a-f]{32}$/);

      // The library lists it at once, converting.
      await logIn(page, server.base, USERS.northPathologist);
      const badge = page.locator(`tr[data-slide-id="${slideId}"] [data-testid="conversion-badge"]`);
      await badge.waitFor({ timeout: 20_000 });
      expect(await badge.textContent()).toMatch(/^converting, \d+ %$/);
      await page.screenshot({ path: artifact('open-at-once-library.png') });

      const stored: string[] = [];
      page.on('request', (r) => {
        if (r.url().includes('_files/') && r.url().endsWith('?stored')) stored.push(r.url());
      });
      await page.goto(`${server.base}/view/${slideId}`);
      const note = page.getByTestId('conversion');
      await note.waitFor({ timeout: 20_000 });
      expect(await note.getAttribute('data-state')).toBe('converting');
      expect(await note.textContent()).toMatch(/^Converting, \d+ %$/);
      await page.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
      await page.waitForTimeout(300);
      const urlBefore = page.url();
      const before = await canvasShot(page);
      await page.screenshot({ path: artifact('open-at-once-converting.png') });
      // Made in this page's lifetime, while the slide converts.
      const made = await api(`${server.base}/api/slides/${slideId}/annotations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          kind: 'point',
          geometry: { points: [[12_000, 8_000]] },
          classification: { name: 'Tumor', color: '#f50000' },
          label: 'during conversion',
        }),
      });
      expect(made.status).toBe(201);
      await page.evaluate(() => {
        (globalThis as unknown as { sameDocument: boolean }).sameDocument = true;
      });

      // The stored pyramid takes over: the note goes, the tiles come from the store.
      await note.waitFor({ state: 'detached', timeout: 120_000 });
      await expect.poll(() => stored.length, { timeout: 20_000 }).toBeGreaterThan(0);
      await page.waitForSelector('.pane[data-fully-loaded="true"]', { timeout: 30_000 });
      await page.waitForTimeout(500);
      const after = await canvasShot(page);
      await page.screenshot({ path: artifact('open-at-once-stored.png') });
      expect(page.url()).toBe(urlBefore);
      expect(
        await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument),
      ).toBe(true);
      for (const d of meanAbsDiff(await toRgb(sharp(after)), await toRgb(sharp(before))))
        expect(d).toBeLessThan(3);
      const list = (await (await api(`${server.base}/api/slides/${slideId}/annotations`)).json()) as {
        annotations: { label: string }[];
      };
      expect(list.annotations.map((a) => a.label)).toContain('during conversion');
      expect(problems).toEqual([]);
    }, 240_000);
  },
);
