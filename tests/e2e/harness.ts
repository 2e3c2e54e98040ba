import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { createApp, createHandler, createServerContext } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { ServerContext } from '../../server/context.ts';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLIENT = path.join(ROOT, 'client');
const DIST_INDEX = path.join(CLIENT, 'dist', 'index.html');

export const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

/** As with the sample slides: a missing browser skips outside CI and fails in CI. */
export function requireChromium(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true')
    throw new Error(`chromium missing at ${CHROMIUM} (apt-get install chromium)`);
  console.warn(`skipping: no chromium at ${CHROMIUM} (apt-get install chromium, or set TESSERA_CHROMIUM)`);
  return false;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Builds client/dist when it is missing or older than the sources, so the test sees current code. */
export async function ensureClientBuilt(): Promise<void> {
  const sources = Math.max(
    newestMtime(path.join(CLIENT, 'src')),
    newestMtime(path.join(ROOT, 'protocol')),
    statSync(path.join(CLIENT, 'index.html')).mtimeMs,
    statSync(path.join(CLIENT, 'vite.config.ts')).mtimeMs,
  );
  if (existsSync(DIST_INDEX) && statSync(DIST_INDEX).mtimeMs >= sources) return;
  const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  await run(
    process.execPath,
    [vite, 'build', '--config', path.join(CLIENT, 'vite.config.ts'), '--logLevel', 'warn'],
    {
      cwd: ROOT,
    },
  );
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
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

export const artifact = (name: string): string => path.join(ARTIFACTS, name);
