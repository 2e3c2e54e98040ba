/**
 * Debian's chromium driven by playwright-core, and the client build it loads: shared by the
 * end-to-end tests and the viewer benchmark.
 */
import { execFile } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLIENT = path.join(ROOT, 'client');
const DIST_INDEX = path.join(CLIENT, 'dist', 'index.html');

export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

export function haveChromium(): boolean {
  return existsSync(CHROMIUM);
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const BUILD_LOCK = path.join(CLIENT, '.build.lock');
/** A lock older than this belongs to a build that died. */
const STALE_LOCK_MS = 180_000;

function builtIsCurrent(): boolean {
  const sources = Math.max(
    newestMtime(path.join(CLIENT, 'src')),
    newestMtime(path.join(ROOT, 'protocol')),
    statSync(path.join(CLIENT, 'index.html')).mtimeMs,
    statSync(path.join(CLIENT, 'vite.config.ts')).mtimeMs,
  );
  return existsSync(DIST_INDEX) && statSync(DIST_INDEX).mtimeMs >= sources;
}

/**
 * Builds client/dist when it is missing or older than the sources, so what runs is current code.
 * Test files run in parallel processes: one builds (holding a lock file), the others wait for it.
 */
export async function ensureClientBuilt(): Promise<void> {
  for (;;) {
    if (builtIsCurrent()) return;
    let fd: number;
    try {
      fd = openSync(BUILD_LOCK, 'wx');
    } catch {
      try {
        if (Date.now() - statSync(BUILD_LOCK).mtimeMs > STALE_LOCK_MS) rmSync(BUILD_LOCK, { force: true });
      } catch {
        // Gone meanwhile: try again.
      }
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      closeSync(fd);
      if (builtIsCurrent()) return;
      const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
      // What users run: under a test runner NODE_ENV is "test", and Vite would bundle React's
      // development build (StrictMode's double effects, no minification).
      await run(
        process.execPath,
        [vite, 'build', '--config', path.join(CLIENT, 'vite.config.ts'), '--logLevel', 'warn'],
        { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production' } },
      );
      return;
    } finally {
      rmSync(BUILD_LOCK, { force: true });
    }
  }
}

/**
 * Headless chromium as on a closed network: without the background-networking flags it keeps
 * trying to reach Google's hosts.
 */
export function launchChromium(): Promise<Browser> {
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
