import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDicomHeader } from '../../tiles/index.ts';
import { type Orthanc, requireOrthanc, startOrthanc, storeAll } from '../helpers/orthanc.ts';
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

/**
 * The library's "Import from PACS" for an administrator: the archive chosen from those configured,
 * a study UID typed in, the import followed in the upload list until the slide opens; an unknown
 * study said plainly; a pathologist is not offered the form.
 */

const SERIES_DIR = 'dicom/cmu-1-small-region-wsi2dcm';
const ready = requireChromium() && requireSlides() && requireOrthanc('Import from PACS in the browser');
const WAIT = { timeout: 30_000 };

let server: TestServer;
let orthanc: Orthanc;
let browser: Browser;
let study = '';

describe.skipIf(!ready)('Import from PACS (library page)', () => {
  beforeAll(async () => {
    await ensureClientBuilt();
    const files = readdirSync(slidePath(SERIES_DIR)).map((f) => path.join(slidePath(SERIES_DIR), f));
    study = (await readDicomHeader(files[0]!)).studyUid!;
    orthanc = await startOrthanc();
    await storeAll(
      orthanc,
      files.map((f) => readFileSync(f)),
    );
    server = await startServer({ dicomwebSources: `hospital-pacs=${orthanc.dicomweb}` });
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await orthanc?.stop();
  });

  async function openForm(page: Page): Promise<void> {
    await logIn(page, server.base, USERS.admin);
    await page.getByRole('button', { name: 'Import from PACS…' }).click();
    await page.getByRole('form', { name: 'Import from PACS' }).waitFor(WAIT);
  }

  it('an administrator imports a study: the job is followed until the slide opens', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await openForm(page);
      const archive = page.getByLabel('Archive');
      await expect.poll(() => archive.inputValue(), WAIT).toBe('hospital-pacs');
      expect(await archive.locator('option').allTextContents()).toEqual([
        `hospital-pacs — ${orthanc.dicomweb}`,
      ]);
      await page.getByLabel('Study Instance UID').fill(study);
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      const row = page.locator('.upload').first();
      await row.getByText('from hospital-pacs', { exact: true }).waitFor(WAIT);
      await row.getByRole('link', { name: 'Open slide →' }).waitFor({ timeout: 90_000 });
      await page.screenshot({ path: artifact('pacs-import-done.png') });
      const href = await row.getByRole('link', { name: 'Open slide →' }).getAttribute('href');
      expect(href).toMatch(/^\/view\/[0-9a-f]{32}$/);
      const id = href!.slice('/view/'.length);
      const stored = await server.ctx.store.manifest(id);
      expect(stored?.sourceFormat).toBe('dicom');
      expect([stored?.width, stored?.height]).toEqual([2220, 2967]);
      // The form closed; the slide is in the library list.
      expect(await page.getByRole('form', { name: 'Import from PACS' }).count()).toBe(0);
      await page.locator(`a[href="/view/${id}"]`).first().waitFor(WAIT);
    } finally {
      await page.close();
    }
  }, 150_000);

  it('an unknown study is said in a sentence, with the server’s words beneath', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await openForm(page);
      await page.getByLabel('Study Instance UID').fill('1.2.3.4.5.6');
      await page.getByRole('button', { name: 'Import', exact: true }).click();
      const alert = page.getByRole('form', { name: 'Import from PACS' }).getByRole('alert');
      await alert.waitFor(WAIT);
      expect(await alert.textContent()).toContain('The archive holds no slide under this study or series.');
      expect(await alert.textContent()).toContain(
        `no study 1.2.3.4.5.6 in ${orthanc.dicomweb} (STUDY_NOT_FOUND)`,
      );
      await page.screenshot({ path: artifact('pacs-import-unknown.png') });
    } finally {
      await page.close();
    }
  }, 60_000);

  it('a pathologist is not offered the import', async () => {
    const page = await browser.newPage();
    try {
      await logIn(page, server.base, USERS.northPathologist);
      await page.getByRole('button', { name: /Upload slides/ }).waitFor(WAIT);
      expect(await page.getByRole('button', { name: 'Import from PACS…' }).count()).toBe(0);
    } finally {
      await page.close();
    }
  }, 60_000);
});
