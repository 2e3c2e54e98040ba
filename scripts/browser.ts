/**
 * Debian's chromium driven by playwright-core, and the client build it loads: shared by the
 * end-to-end tests and the viewer benchmark.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
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

function filesUnder(p: string): string[] {
  if (!statSync(p).isDirectory()) return [p];
  return readdirSync(p, { withFileTypes: true }).flatMap((e) => filesUnder(path.join(p, e.name)));
}

/**
 * A digest of the files under `paths` (names relative to `root`, and contents): what a build was made
 * from. Contents, not modification times: a checkout, a copy or a clock set wrong moves those, and a
 * build dated in the future was taken for current whatever changed after it.
 */
export function sourceDigest(root: string, paths: readonly string[]): string {
  const h = createHash('sha256');
  const files = paths.flatMap((p) => (existsSync(p) ? filesUnder(p) : [])).sort();
  for (const f of files) {
    h.update(path.relative(root, f).split(path.sep).join('/'));
    h.update('\0');
    h.update(readFileSync(f));
    h.update('\0');
  }
  return h.digest('hex');
}

/** What the client bundle is built from (package-lock.json: the libraries bundled with it). */
const CLIENT_SOURCES = [
  path.join(CLIENT, 'src'),
  path.join(ROOT, 'protocol'),
  path.join(CLIENT, 'index.html'),
  path.join(CLIENT, 'vite.config.ts'),
  path.join(ROOT, 'package-lock.json'),
];
/** Written beside the build: the digest of the sources it was made from (not served: a dotfile). */
const BUILT_FROM = '.built-from';

/** Whether the build in `dist` was made from sources with this digest. */
export function builtFrom(dist: string, digest: string): boolean {
  try {
    return (
      existsSync(path.join(dist, 'index.html')) &&
      readFileSync(path.join(dist, BUILT_FROM), 'utf8') === digest
    );
  } catch {
    return false;
  }
}

const BUILD_LOCK = path.join(CLIENT, '.build.lock');
/** A lock older than this belongs to a build that died. */
const STALE_LOCK_MS = 180_000;

function builtIsCurrent(): boolean {
  return builtFrom(path.dirname(DIST_INDEX), sourceDigest(ROOT, CLIENT_SOURCES));
}

/**
 * Builds client/dist when it is missing or was not made from the sources as they are now, so what
 * runs is current code.
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
      // Taken before the build: a source changed while it runs makes the next call build again.
      const digest = sourceDigest(ROOT, CLIENT_SOURCES);
      if (builtFrom(path.dirname(DIST_INDEX), digest)) return;
      const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
      // What users run: under a test runner NODE_ENV is "test", and Vite would bundle React's
      // development build (StrictMode's double effects, no minification).
      await run(
        process.execPath,
        [vite, 'build', '--config', path.join(CLIENT, 'vite.config.ts'), '--logLevel', 'warn'],
        { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production' } },
      );
      writeFileSync(path.join(path.dirname(DIST_INDEX), BUILT_FROM), digest);
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
