/**
 * The pieces of bench:ingest beyond its cases: what a stored slide holds, the JPEG 2000 source whose
 * tiles cannot be copied, an independent pixel check through OpenSlide, a memory cap that stops a
 * runaway ingest before it takes the machine down, and the figures printed with their targets.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildTiff } from '../../tiles/readers/tiff/test-tiff.ts';
import { BENCH_DIR, SOURCE_TILE, benchSlidePath } from './make-bench-slide.ts';
import { measure, memoryOf, processTree, type Measurement } from './measure.ts';

export const MB = 1024 ** 2;

/** A slide as the store keeps it, read back from `<data>/slides/<id>/`. */
export interface StoredSlide {
  dir: string;
  id: string;
  width: number;
  height: number;
  levels: number;
  tileSize: number;
  /** levelInfo[0].scanner: level 0 holds the source's compressed tiles byte for byte. */
  level0Kept: boolean;
  /** The stored files (slide.tif and the associated JPEGs) and their sizes, from the manifest. */
  files: Record<string, number>;
  bytes: number;
}

interface ManifestView {
  id: string;
  width: number;
  height: number;
  levels: number;
  tileSize: number;
  levelInfo: { scanner?: boolean }[];
  files: Record<string, { bytes: number }>;
}

/** The one slide a fresh data folder holds after `tessera ingest --data DIR`. */
export async function storedSlide(dataDir: string): Promise<StoredSlide> {
  const slides = path.join(dataDir, 'slides');
  const ids = (await readdir(slides)).filter((n) => !n.startsWith('.'));
  if (ids.length !== 1) throw new Error(`expected one stored slide in ${slides}, found ${ids.length}`);
  const dir = path.join(slides, ids[0]!);
  const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as ManifestView;
  const files: Record<string, number> = {};
  let bytes = 0;
  for (const [name, f] of Object.entries(m.files)) {
    // The manifest's sizes must be the files' own, or the store figure would be fiction.
    const actual = (await stat(path.join(dir, name))).size;
    if (actual !== f.bytes) throw new Error(`${name}: manifest says ${f.bytes} bytes, file has ${actual}`);
    files[name] = actual;
    bytes += actual;
  }
  return {
    dir,
    id: m.id,
    width: m.width,
    height: m.height,
    levels: m.levels,
    tileSize: m.tileSize,
    level0Kept: m.levelInfo[0]?.scanner === true,
    files,
    bytes,
  };
}

/** Run a command to completion; its stdout, or an error naming it with the end of its stderr. */
export function run(bin: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4096)));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else {
        const why = err.trim().split('\n').slice(-3).join(' | ');
        reject(new Error(`${path.basename(bin)} ${args[0] ?? ''} exited with ${signal ?? code}: ${why}`));
      }
    });
  });
}

export const J2K_WIDTH = 7200;
export const J2K_HEIGHT = 4800;
/** libvips' JPEG 2000 Q: 45 is about JPEG Q90 in bytes here, with a mean error of ~2.4 levels. */
const J2K_Q = 45;

/**
 * An Aperio-style SVS whose level 0 is JPEG 2000 (compression 33005), which no JPEG TIFF can hold, so
 * ingest has to decode and re-encode it: a 7200 x 4800 crop through a tissue section of the bench
 * slide, coded in 240 px tiles by libvips (irreversible 9/7 wavelet, RGB through the codestream's
 * component transform, no chroma subsampling), its tiles re-wrapped under an Aperio description so
 * that tessera's SVS reader and OpenSlide's Aperio driver both take it. Made once into .bench/.
 */
export async function ensureJ2kSlide(env: NodeJS.ProcessEnv): Promise<{ path: string; generated: boolean }> {
  const out = path.join(BENCH_DIR, `j2k-svs-${J2K_WIDTH}x${J2K_HEIGHT}-q${J2K_Q}.svs`);
  if (existsSync(out)) return { path: out, generated: false };
  const source = benchSlidePath();
  if (!existsSync(source)) throw new Error(`${source} is missing: the J2K slide is cut from it`);
  await mkdir(BENCH_DIR, { recursive: true });
  const tmp = `${out}.partial-${process.pid}`;
  const crop = `${tmp}.crop.v`;
  const coded = `${tmp}.vips.tif`;
  try {
    // The middle of the bench slide, where its third tissue section lies.
    const left = 30_000 - J2K_WIDTH / 2;
    const top = 22_500 - J2K_HEIGHT / 2;
    await run(
      'vips',
      ['crop', source, crop, String(left), String(top), String(J2K_WIDTH), String(J2K_HEIGHT)],
      env,
    );
    await run(
      'vips',
      [
        'tiffsave',
        crop,
        coded,
        '--tile',
        '--tile-width',
        String(SOURCE_TILE),
        '--tile-height',
        String(SOURCE_TILE),
      ].concat(['--compression', 'jp2k', '--Q', String(J2K_Q)]),
      env,
    );
    const tiles = tiffTiles(await readFile(coded));
    const T = SOURCE_TILE;
    const description =
      `Aperio Image Library v12.0.15\r\n${J2K_WIDTH}x${J2K_HEIGHT} [0,0 ${J2K_WIDTH}x${J2K_HEIGHT}] (${T}x${T}) ` +
      `J2K/KDU Q=${J2K_Q};tessera bench|AppMag = 40|MPP = 0.2500`;
    await writeFile(
      tmp,
      buildTiff([
        {
          width: J2K_WIDTH,
          height: J2K_HEIGHT,
          tile: [T, T],
          chunks: tiles,
          compression: 33005,
          description,
        },
      ]),
    );
    await rename(tmp, out);
    return { path: out, generated: true };
  } finally {
    await Promise.all([tmp, crop, coded].map((f) => rm(f, { force: true })));
  }
}

/** The tiles of a classic little-endian single-image tiled TIFF (as `vips tiffsave` writes one). */
function tiffTiles(b: Buffer): Buffer[] {
  if (b.readUInt16LE(0) !== 0x4949 || b.readUInt16LE(2) !== 42)
    throw new Error('not a little-endian classic TIFF');
  const ifd = b.readUInt32LE(4);
  const n = b.readUInt16LE(ifd);
  const values = (tag: number): number[] => {
    for (let i = 0; i < n; i++) {
      const e = ifd + 2 + i * 12;
      if (b.readUInt16LE(e) !== tag) continue;
      const type = b.readUInt16LE(e + 2);
      const count = b.readUInt32LE(e + 4);
      const size = type === 3 ? 2 : 4;
      const at = count * size <= 4 ? e + 8 : b.readUInt32LE(e + 8);
      return Array.from({ length: count }, (_, k) =>
        size === 2 ? b.readUInt16LE(at + k * 2) : b.readUInt32LE(at + k * 4),
      );
    }
    throw new Error(`TIFF tag ${tag} missing`);
  };
  const offsets = values(324);
  const counts = values(325);
  return offsets.map((o, i) => b.subarray(o, o + counts[i]!));
}

/** Debian's python3 with python3-openslide and numpy (the `python3` on PATH lacks them). */
const SYSTEM_PYTHON = '/usr/bin/python3';

const MAD_SCRIPT = `
import json, sys
import numpy as np
import openslide
a = openslide.OpenSlide(sys.argv[1])
b = openslide.OpenSlide(sys.argv[2])
w, h = a.dimensions
if b.dimensions != (w, h):
    sys.exit('sizes differ: %s vs %s' % (a.dimensions, b.dimensions))
sums = np.zeros(3)
step = 2048
for y in range(0, h, step):
    for x in range(0, w, step):
        size = (min(step, w - x), min(step, h - y))
        ra = np.asarray(a.read_region((x, y), 0, size))[:, :, :3].astype(np.int16)
        rb = np.asarray(b.read_region((x, y), 0, size))[:, :, :3].astype(np.int16)
        sums += np.abs(ra - rb).reshape(-1, 3).sum(axis=0)
print(json.dumps({'mad': (sums / (w * h)).tolist(), 'vendor': a.properties.get('openslide.vendor'),
                  'storedVendor': b.properties.get('openslide.vendor')}))
`;

/**
 * Mean absolute difference per channel (R, G, B) of level 0 of `source` and of `stored`, both decoded
 * by OpenSlide (Debian's python3-openslide), read in 2048 px regions so memory stays small.
 */
export async function openSlideMad(
  source: string,
  stored: string,
  env: NodeJS.ProcessEnv,
): Promise<{ mad: [number, number, number]; vendor: string | null }> {
  if (!existsSync(SYSTEM_PYTHON))
    throw new Error(`${SYSTEM_PYTHON} is missing (apt-get install python3-openslide)`);
  const out = await run(SYSTEM_PYTHON, ['-c', MAD_SCRIPT, source, stored], env);
  const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
    mad: [number, number, number];
    vendor: string | null;
  };
  return { mad: r.mad, vendor: r.vendor };
}

/**
 * Kill this process's children (the command being measured, and its own children) if together they
 * hold more than `capBytes`: a regression in ingest's memory must end as a FAIL line, not by the
 * kernel's OOM killer picking a process on a shared machine. Returns a stop function that tells
 * whether the cap was hit.
 */
export function capChildrenRss(capBytes: number, intervalMs = 100): () => boolean {
  let hit = false;
  const timer = setInterval(() => {
    const tree = processTree(process.pid).filter((p) => p !== process.pid);
    let sum = 0;
    for (const p of tree) sum += memoryOf(p)?.rss ?? 0;
    if (sum <= capBytes) return;
    hit = true;
    for (const p of tree) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }, intervalMs);
  return () => {
    clearInterval(timer);
    return hit;
  };
}

/** A figure and, where it has one, its target and verdict. */
export interface Figure {
  what: string;
  value: string;
  target: string | null;
  pass: boolean | null;
}

export class Report {
  readonly figures: Figure[] = [];

  /** A figure with a target: printed with PASS or FAIL, and counted. */
  check(what: string, value: string, target: string, pass: boolean): void {
    this.add({ what, value, target, pass });
  }

  /** A figure for reference, without a target. */
  info(what: string, value: string, note = 'reference, no target'): void {
    this.add({ what, value, target: note, pass: null });
  }

  private add(f: Figure): void {
    this.figures.push(f);
    const verdict = f.pass === null ? '' : f.pass ? '  PASS' : '  FAIL';
    const target = f.pass === null ? `(${f.target})` : `target ${f.target}`;
    console.log(`  ${f.what.padEnd(36)} ${f.value.padStart(16)}   ${target}${verdict}`);
  }

  get failed(): Figure[] {
    return this.figures.filter((f) => f.pass === false);
  }
}

/** A measured command that the memory cap may have killed. */
export interface Capped {
  m: Measurement;
  /** Killed for passing --rss-cap. */
  capped: boolean;
}

export async function measureCapped(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  capMb: number,
  cwd?: string,
): Promise<Capped> {
  const stop = capChildrenRss(capMb * MB);
  let m: Measurement;
  try {
    m = await measure(bin, args, { env, cwd });
  } catch (e) {
    stop();
    throw e;
  }
  const capped = stop();
  if (!capped && m.code !== 0) {
    const why = m.stderrTail.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${m.command} exited with ${m.signal ?? m.code}: ${why}`);
  }
  return { m, capped };
}

/** The last line of `tessera ingest --json` must describe the slide we gave it. */
export function checkIngest(m: Measurement, width: number, height: number): void {
  const line = m.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: { width?: unknown; height?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    throw new Error(`tessera ingest printed no JSON summary (last line: ${line.slice(0, 200)})`);
  }
  if (parsed.width !== width || parsed.height !== height) {
    throw new Error(
      `tessera ingest stored ${String(parsed.width)}x${String(parsed.height)}, expected ${width}x${height}`,
    );
  }
}

export const seconds = (s: number): string => `${s.toFixed(1)} s`;
/** Sizes in MB, in KB below one. */
export function megabytes(bytes: number): string {
  if (bytes < MB) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / MB).toFixed(bytes < 100 * MB ? 1 : 0)} MB`;
}
export const ratio = (x: number): string => `${x.toFixed(2)}x`;

export function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function loadLine(): string {
  const [one, five] = os.loadavg();
  return `average ${one!.toFixed(1)} (1 min), ${five!.toFixed(1)} (5 min) on ${os.availableParallelism()} cores`;
}

export function runLine(c: Capped): string {
  const killed = c.capped ? ' — killed: its process tree passed --rss-cap' : '';
  return `${seconds(c.m.wallSeconds)}, ${megabytes(c.m.peakRssBytes)}${killed}`;
}

export function storedFiles(s: StoredSlide): string {
  return Object.entries(s.files)
    .map(([name, bytes]) => `${name} ${megabytes(bytes)}`)
    .join(', ');
}
