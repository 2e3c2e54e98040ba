import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { JobDto, Role, UploadAccepted } from '../../protocol/index.ts';
import { CHROMIUM, haveChromium, launchChromium as launchBrowser } from '../../scripts/browser.ts';
export { ensureClientBuilt } from '../../scripts/browser.ts';
import { createApp, createHandler, createServerContext } from '../../server/app.ts';
import { createSite, createUser } from '../../server/auth/users.ts';
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

/** Two sites, so that sharing across them can be seen. */
export const SITES = {
  north: { id: 'north', name: 'North Hospital' },
  south: { id: 'south', name: 'South Clinic' },
} as const;

export interface TestUser {
  name: string;
  displayName: string;
  role: Role;
  siteId: string;
  password: string;
}

/** Every test server has these accounts (unless started with `accounts: false`). */
export const USERS = {
  admin: {
    name: 'admin',
    displayName: 'Ada Admin',
    role: 'admin',
    siteId: SITES.north.id,
    password: 'admin-e2e-password',
  },
  /** May upload and share the north site's slides. */
  northPathologist: {
    name: 'nora.north',
    displayName: 'Nora North',
    role: 'pathologist',
    siteId: SITES.north.id,
    password: 'nora-e2e-password',
  },
  /** An external reviewer: sees only what is shared with her; may neither upload nor share. */
  southSpecialist: {
    name: 'sam.south',
    displayName: 'Sam South',
    role: 'specialist',
    siteId: SITES.south.id,
    password: 'sam-e2e-password',
  },
} as const satisfies Record<string, TestUser>;

export interface TestServer {
  base: string;
  ctx: ServerContext;
  close(): Promise<void>;
}

/**
 * The real server app on a free port with an empty data folder and the SITES and USERS above
 * (`accounts: false`: none, as on a first start), every response under STRICT_CSP.
 */
export async function startServer(
  opts: { loginAttemptsPer15Min?: number; accounts?: boolean; dicomwebSources?: string } = {},
): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-e2e-'));
  const config = loadConfig(
    {
      dataDir,
      port: 0,
      host: '127.0.0.1',
      sharpConcurrency: 2,
      loginAttemptsPer15Min: opts.loginAttemptsPer15Min,
      dicomwebSources: opts.dicomwebSources,
    },
    {},
  );
  const ctx = await createServerContext(config, () => {});
  if (opts.accounts !== false) {
    for (const site of Object.values(SITES)) await createSite(ctx.db, site);
    for (const u of Object.values(USERS)) await createUser(ctx.db, u);
  }
  const handler = createHandler(ctx, createApp(ctx));
  const server: Server = createServer((req, res) => {
    res.setHeader('Content-Security-Policy', STRICT_CSP);
    handler(req, res);
  });
  // Live review sessions (socket.io on /socket.io), as server/main.ts does.
  ctx.review.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    ctx,
    async close() {
      await ctx.review.close();
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

/**
 * Collect what a strict page must never show into `problems`: Content Security Policy refusals and
 * uncaught errors, each prefixed with whose page it was (the tests end expecting none).
 */
export function recordProblems(page: Page, problems: string[], who?: string): void {
  const tag = who ? `${who}: ` : '';
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
      problems.push(`${tag}${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`${tag}page error: ${e.message}`));
}

/**
 * Upload `file` as `name` with the page's signed-in session (POST /api/slides, 202) and wait for its
 * ingest job; the stored slide's id.
 */
export async function uploadAs(page: Page, base: string, file: string, name: string): Promise<string> {
  const up = await page.request.post(`${base}/api/slides?name=${encodeURIComponent(name)}`, {
    headers: { 'content-type': 'application/octet-stream' },
    data: readFileSync(file),
  });
  expect(up.status()).toBe(202);
  const { jobId } = (await up.json()) as UploadAccepted;
  const job = async () => (await (await page.request.get(`${base}/api/jobs/${jobId}`)).json()) as JobDto;
  await expect.poll(async () => (await job()).state, { timeout: 120_000 }).toBe('done');
  return (await job()).slideId!;
}

/**
 * Sign in through the login page, as a person would: open `path` (the library by default), which
 * sends a signed-out browser to /login; fill in the form; wait until the page behind it shows the
 * user menu.
 */
export async function logIn(page: Page, base: string, user: TestUser, path = '/'): Promise<void> {
  await page.goto(`${base}${path}`);
  await page.waitForURL('**/login**');
  await fillLogin(page, user.name, user.password);
  await page.getByTestId('user-menu').waitFor();
}

/** Type a name and password into the login form and press "Sign in". */
export async function fillLogin(page: Page, name: string, password: string): Promise<void> {
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
