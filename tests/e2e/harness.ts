import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { CHROMIUM, haveChromium, launchChromium as launchBrowser } from '../../scripts/browser.ts';
export { ensureClientBuilt } from '../../scripts/browser.ts';
import { createApp, createHandler, createServerContext } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { ServerContext } from '../../server/context.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');

/** As with the sample slides: a missing browser skips outside CI and fails in CI. */
export function requireChromium(): boolean {
  if (haveChromium()) return true;
  if (process.env.CI === 'true')
    throw new Error(`chromium missing at ${CHROMIUM} (apt-get install chromium)`);
  console.warn(`skipping: no chromium at ${CHROMIUM} (apt-get install chromium, or set TESSERA_CHROMIUM)`);
  return false;
}

/**
 * What a strict deployment would send: no inline scripts or styles, nothing from other origins.
 * OpenSeadragon decodes tiles in a blob: worker and may hand blob: URLs to images.
 */
export const STRICT_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface TestServer {
  base: string;
  ctx: ServerContext;
  close(): Promise<void>;
}

/** The real server app on a free port with an empty data folder, every response under STRICT_CSP. */
export async function startServer(): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-e2e-'));
  const config = loadConfig({ dataDir, port: 0, host: '127.0.0.1', sharpConcurrency: 2 }, {});
  const ctx = await createServerContext(config, () => {});
  const handler = createHandler(ctx, createApp(ctx));
  const server: Server = createServer((req, res) => {
    res.setHeader('Content-Security-Policy', STRICT_CSP);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    ctx,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await ctx.queue.idle();
      await ctx.db.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return launchBrowser();
}

export const artifact = (name: string): string => path.join(ARTIFACTS, name);
