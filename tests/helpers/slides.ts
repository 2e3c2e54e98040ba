import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared/slides beside the checkout (override with TESSERA_SAMPLE_SLIDES). */
export const SLIDES_DIR =
  process.env.TESSERA_SAMPLE_SLIDES ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/slides');

export interface ExpectedSlide {
  path: string;
  format: string;
  width: number;
  height: number;
  levels: number | null;
  tile: string;
  compression: string;
  objectivePower: number | null;
  mpp: number | null;
  complete: boolean;
}

export const haveSlides = existsSync(path.join(SLIDES_DIR, 'expected.json'));

/**
 * In CI the sample slides must be there: a missing folder is a failure, not a skip.
 * Elsewhere tests that need them skip with a message saying why.
 */
export function requireSlides(): boolean {
  if (haveSlides) return true;
  if (process.env.CI === 'true') {
    throw new Error(`sample slides missing: ${SLIDES_DIR} (CI=true requires ../shared/slides)`);
  }
  console.warn(`skipping: sample slides not found at ${SLIDES_DIR}`);
  return false;
}

export function expectedSlides(): ExpectedSlide[] {
  return JSON.parse(readFileSync(path.join(SLIDES_DIR, 'expected.json'), 'utf8')) as ExpectedSlide[];
}

export function slidePath(rel: string): string {
  return path.join(SLIDES_DIR, rel);
}

/**
 * Debian's python3-openslide, which reads OpenSlide formats' regions for a slide served before its
 * conversion. In CI its absence is a failure; elsewhere tests that need it skip saying why.
 */
export function requirePythonOpenslide(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import openslide'], { stdio: 'ignore' });
    return true;
  } catch {
    const why = '/usr/bin/python3 has no openslide module (apt-get install python3-openslide)';
    if (process.env.CI === 'true') throw new Error(why);
    console.warn(`skipping: ${why}`);
    return false;
  }
}
