/**
 * What the viewer benchmark runs on: a data folder of its own for each annotation count (never the
 * folder other benches write to, whose annotations would change what is measured), the bench slide
 * stored there, a bench user's token, `tessera serve` on it, a given number of annotations on the
 * slide, and the browser build that runs the pages.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { BENCH_DIR, REPO_ROOT } from './make-bench-slide.ts';
import { prng } from '../prng.ts';
import { childEnv } from './tessera-server.ts';
import { freePort, lastLines, runChild, startChild, waitForHttp } from './tiles/children.ts';

const TESSERA_BIN = path.join(REPO_ROOT, 'scripts/bin/tessera.mjs');

/** `.bench/viewer-<n>-annotations`: one folder per annotation count, so each starts as it should. */
export const viewerDataDir = (annotations: number): string =>
  path.join(BENCH_DIR, `viewer-${annotations}-annotations`);

const tessera = async (args: string[], input?: string): Promise<string> => {
  const run = await runChild(process.execPath, [TESSERA_BIN, ...args], {
    env: childEnv(),
    cwd: REPO_ROOT,
    ...(input === undefined ? {} : { input }),
  });
  if (run.code !== 0) throw new Error(`tessera ${args[0]} exited with ${run.code}: ${lastLines(run.stderr)}`);
  return run.stdout;
};

/** `tessera ingest` stores the slide once; run again, it hashes the source and answers the same id. */
export async function ingestInto(data: string, slide: string): Promise<{ id: string; tileSize: number }> {
  const line = (await tessera(['ingest', slide, '--data', data, '--json'])).trim().split('\n').at(-1) ?? '';
  let out: { id?: unknown; tileSize?: unknown } = {};
  try {
    out = JSON.parse(line) as typeof out;
  } catch {
    // Reported below.
  }
  if (typeof out.id !== 'string' || typeof out.tileSize !== 'number')
    throw new Error(`tessera ingest printed no id and tile size (last line: ${line.slice(0, 200)})`);
  return { id: out.id, tileSize: out.tileSize };
}

/** A day's bearer token of a bench administrator, made with the commands a user runs. */
export async function tokenFor(data: string): Promise<string> {
  if (!/^bench\s/m.test(await tessera(['user', 'list', '--data', data])))
    await tessera(
      [
        'user',
        'add',
        '--name',
        'bench',
        '--role',
        'admin',
        '--site',
        'bench',
        '--password-stdin',
        '--data',
        data,
      ],
      `${randomBytes(18).toString('base64url')}\n`,
    );
  const token = (
    await tessera([
      'token',
      'create',
      '--user',
      'bench',
      '--expires',
      '1d',
      '--label',
      'benchmark',
      '--data',
      data,
    ])
  ).trim();
  if (!token.startsWith('tsr_')) throw new Error('tessera token create printed no token');
  return token;
}

export interface Served {
  origin: string;
  stop(): Promise<void>;
}

/** `tessera serve` on a data folder, on a free loopback port, answering /api/health. */
export async function serve(data: string): Promise<Served> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const child = startChild(
    process.execPath,
    [TESSERA_BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data', data],
    { env: childEnv(), cwd: REPO_ROOT },
  );
  const stop = (): Promise<void> => child.stop(5000);
  try {
    await waitForHttp(`${origin}/api/health`, child, 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return { origin, stop };
}

const CLASSES = [
  { name: 'Tumor', color: [200, 0, 0] },
  { name: 'Stroma', color: [150, 200, 150] },
  { name: 'Immune cells', color: [160, 90, 160] },
  { name: 'Necrosis', color: [50, 50, 50] },
] as const;

type Pos = [number, number];

/**
 * `n` QuPath-style GeoJSON features spread over a width x height slide: mostly cell-sized polygons
 * (the common case of a detection import), with rectangles, ellipses, polygons with a hole,
 * multipolygons, lines, polylines, points and multipoints among them, every kind the viewer draws.
 */
export function syntheticFeatures(n: number, width: number, height: number, seed = 1): object[] {
  const rnd = prng(seed);
  const ring = (cx: number, cy: number, r: number, k: number, jitter = 0.25): Pos[] => {
    const pts: Pos[] = [];
    for (let i = 0; i < k; i++) {
      const a = (i / k) * 2 * Math.PI;
      const rr = r * (1 - jitter / 2 + jitter * rnd());
      pts.push([Math.round(cx + rr * Math.cos(a)), Math.round(cy + rr * Math.sin(a))]);
    }
    // GeoJSON rings repeat their first position, anticlockwise outside (RFC 7946).
    return [...pts, pts[0]!];
  };
  const features: object[] = [];
  for (let i = 0; i < n; i++) {
    const size = 80 + rnd() * 1200;
    const cx = size + rnd() * (width - 2 * size);
    const cy = size + rnd() * (height - 2 * size);
    const cls = CLASSES[i % CLASSES.length]!;
    const pick = i % 20;
    let geometry: object;
    let kind: string | undefined;
    if (pick < 12) geometry = { type: 'Polygon', coordinates: [ring(cx, cy, size / 2, 12 + (i % 13))] };
    else if (pick === 12) {
      kind = 'rectangle';
      const [x0, y0, x1, y1] = [cx - size / 2, cy - size / 3, cx + size / 2, cy + size / 3].map(Math.round);
      geometry = {
        type: 'Polygon',
        coordinates: [
          [
            [x0, y0],
            [x1, y0],
            [x1, y1],
            [x0, y1],
            [x0, y0],
          ],
        ],
      };
    } else if (pick === 13) {
      geometry = { type: 'Polygon', coordinates: [ring(cx, cy, size / 2, 32, 0)], isEllipse: true };
    } else if (pick === 14) {
      geometry = {
        type: 'Polygon',
        coordinates: [ring(cx, cy, size / 2, 24), ring(cx, cy, size / 5, 10, 0.1).reverse()],
      };
    } else if (pick === 15) {
      geometry = {
        type: 'MultiPolygon',
        coordinates: [[ring(cx, cy, size / 3, 10)], [ring(cx + size, cy, size / 4, 8)]],
      };
    } else if (pick === 16) {
      geometry = {
        type: 'LineString',
        coordinates: [
          [Math.round(cx - size / 2), Math.round(cy)],
          [Math.round(cx + size / 2), Math.round(cy + size / 4)],
        ],
      };
    } else if (pick === 17) {
      const pts: Pos[] = [];
      for (let k = 0; k < 8; k++)
        pts.push([Math.round(cx - size / 2 + (k * size) / 7), Math.round(cy + (rnd() - 0.5) * size)]);
      geometry = { type: 'LineString', coordinates: pts };
      kind = 'polyline';
    } else if (pick === 18) geometry = { type: 'Point', coordinates: [Math.round(cx), Math.round(cy)] };
    else {
      const pts: Pos[] = [];
      for (let k = 0; k < 6; k++)
        pts.push([Math.round(cx + (rnd() - 0.5) * size), Math.round(cy + (rnd() - 0.5) * size)]);
      geometry = { type: 'MultiPoint', coordinates: pts };
    }
    features.push({
      type: 'Feature',
      geometry,
      properties: {
        objectType: 'annotation',
        classification: { name: cls.name, color: cls.color },
        ...(kind ? { tessera: { kind } } : {}),
      },
    });
  }
  return features;
}

/**
 * The slide carries exactly `n` annotations: imported through the server's API (GeoJSON, as a user
 * imports QuPath's export) when it has none, kept when it already has `n` from an earlier run.
 */
export async function ensureAnnotations(
  origin: string,
  token: string,
  slide: { id: string; width: number; height: number },
  n: number,
): Promise<'kept' | 'imported'> {
  const headers = { authorization: `Bearer ${token}` };
  const url = `${origin}/api/slides/${slide.id}/annotations`;
  const res = await fetch(url, { headers });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  const have = ((await res.json()) as { annotations: unknown[] }).annotations.length;
  if (have === n) return 'kept';
  if (have !== 0)
    throw new Error(
      `the slide in ${path.relative(REPO_ROOT, viewerDataDir(n))} has ${have} annotations, not ${n}: delete that folder and run again`,
    );
  const body = JSON.stringify({
    type: 'FeatureCollection',
    features: syntheticFeatures(n, slide.width, slide.height),
  });
  const post = await fetch(`${url}?format=geojson`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/geo+json' },
    body,
  });
  const report = (await post.json()) as { imported?: number; errors?: unknown[] };
  if (post.status !== 201 || report.imported !== n)
    throw new Error(
      `import of ${n} annotations answered ${post.status}: ${report.imported ?? 0} stored, ${JSON.stringify(report.errors ?? []).slice(0, 300)}`,
    );
  return 'imported';
}

/**
 * Debian's `chromium-headless-shell` when installed: a full chromium window also loads a hidden
 * address-bar popup page (chrome://omnibox-popup.top-chrome/, ~1 core for ~1.5 s) in every new
 * window, which a user's open browser has long paid and a fresh bench window pays on each run.
 */
export const HEADLESS_SHELL = process.env.TESSERA_BENCH_CHROMIUM ?? '/usr/bin/chromium-headless-shell';
const FULL_CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';

export interface BenchBrowser {
  browser: Browser;
  /** e.g. "chromium-headless-shell 150.0.7871.100 (/usr/bin/chromium-headless-shell)". */
  build: string;
  /** Said when the build adds work a user's browser would not. */
  caveat: string | null;
}

export async function launchBenchBrowser(): Promise<BenchBrowser | null> {
  const shell = existsSync(HEADLESS_SHELL);
  const bin = shell ? HEADLESS_SHELL : existsSync(FULL_CHROMIUM) ? FULL_CHROMIUM : null;
  if (!bin) return null;
  const browser = await chromium.launch({
    executablePath: bin,
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
  return {
    browser,
    build: `${shell ? 'chromium-headless-shell' : 'chromium'} ${browser.version()} (${bin})`,
    caveat: shell
      ? null
      : 'full chromium: each fresh window also loads its hidden address-bar popup page (~1.5 s of one core); apt-get install chromium-headless-shell to leave that out',
  };
}
