/**
 * A IIIF viewer on another origin, as a browser enforces CORS: with a bearer token it reads info.json,
 * images, Deep Zoom tiles and manifests (the preflight for Authorization passes); it cannot read the
 * API, and a credentialed (cookie) request is refused by the browser itself because the image routes
 * answer `*`. Runs in Debian's chromium on a synthetic slide (no sample slides needed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createHandler, createServerContext } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { ServerContext } from '../../server/context.ts';
import { makeStoredSlide } from '../../tiles/serve/fixtures.ts';
import { userWithToken } from '../helpers/auth.ts';
import { launchChromium, requireChromium } from './harness.ts';

const ready = requireChromium();
let dir = '';
let ctx: ServerContext;
let server: Server;
let viewerSite: Server;
let browser: Browser;
let page: Page;
/** The server as the viewer's page reaches it: another origin than the page's. */
let api = '';
let slide = '';
let token = '';

beforeAll(async () => {
  if (!ready) return;
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-iiif-cors-'));
  ctx = await createServerContext(
    loadConfig({ dataDir: path.join(dir, 'data'), port: 0, host: '127.0.0.1' }, {}),
    () => {},
  );
  const m = await makeStoredSlide(ctx.store, 1000, 777);
  await ctx.slides.register(m, 'north');
  slide = m.id;
  token = (await userWithToken(ctx.db, { name: 'viewer', role: 'pathologist', siteId: 'north' })).token;
  server = createServer(createHandler(ctx, createApp(ctx)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The viewer's own site: a blank page on localhost, a different origin from 127.0.0.1.
  viewerSite = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>viewer</title>');
  });
  await new Promise<void>((r) => viewerSite.listen(0, '127.0.0.1', r));
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`http://localhost:${(viewerSite.address() as AddressInfo).port}/`);
}, 120_000);

afterAll(async () => {
  if (!ready) return;
  await browser?.close();
  await new Promise((r) => viewerSite.close(r));
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  status?: number;
  type?: string | null;
  /** Set when the browser refused to let the page read the answer (CORS). */
  blocked?: string;
}

/** fetch from the viewer's page; what the page gets to see. */
function fetchFromViewer(url: string, init: { token?: string; credentials?: string }): Promise<Outcome> {
  return page.evaluate(
    async ({ url, token, credentials }) => {
      try {
        // Typed loosely: this runs in the page, and the project's types are Node's, not the DOM's.
        const init: Record<string, unknown> = {
          headers: token ? { Authorization: `Bearer ${token}` } : {},
          credentials: credentials ?? 'same-origin',
          // The server's answer each time, not the browser's cache of an earlier one.
          cache: 'no-store',
        };
        const res = await fetch(url, init as RequestInit);
        await res.arrayBuffer();
        return { status: res.status, type: res.headers.get('content-type') };
      } catch (e) {
        return { blocked: String(e) };
      }
    },
    { url, token: init.token, credentials: init.credentials },
  );
}

describe.skipIf(!ready)('a IIIF viewer on another origin, in chromium', () => {
  it('reads info.json, images, Deep Zoom and manifests with a bearer token', async () => {
    for (const [p, type] of [
      [`/iiif/3/${slide}/info.json`, /json/],
      [`/iiif/3/${slide}/full/!200,200/0/default.jpg`, /image\/jpeg/],
      [`/iiif/3/${slide}/manifest.json`, /json/],
      [`/slides/${slide}.dzi`, /xml/],
      [`/slides/${slide}_files/10/0_0.jpeg`, /image\/jpeg/],
    ] as const) {
      const got = await fetchFromViewer(`${api}${p}`, { token });
      expect(got.blocked, p).toBeUndefined();
      expect(got.status, p).toBe(200);
      expect(got.type, p).toMatch(type);
    }
    // Without a token the answer is readable too: a 401 the viewer can explain.
    expect(await fetchFromViewer(`${api}/iiif/3/${slide}/info.json`, {})).toMatchObject({ status: 401 });
  });

  it('cannot read the API, with or without a token', async () => {
    for (const p of [`/api/slides/${slide}`, '/api/slides', `/api/slides/${slide}/thumbnail?max=64`]) {
      const got = await fetchFromViewer(`${api}${p}`, { token });
      expect(got.blocked, p).toMatch(/TypeError|Failed to fetch/);
    }
  });

  it('a credentialed request to an image route is refused by the browser (* never carries cookies)', async () => {
    const got = await fetchFromViewer(`${api}/iiif/3/${slide}/info.json`, { token, credentials: 'include' });
    expect(got.blocked).toMatch(/TypeError|Failed to fetch/);
  });
});
