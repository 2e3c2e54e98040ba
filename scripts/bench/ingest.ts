/**
 * Ingest benchmark: `tessera ingest` against `vips tiffsave` on the same generated slide, in the
 * same run, with wall time, throughput and peak memory of each process tree.
 *
 *   npm run bench:ingest -- [--tile-size 512|256] [--runs N] [--concurrency N] [--only tessera|vips]
 *                           [--size WxH] [--keep]
 *
 * Targets: ingest wall time at most 1.2x the vips command's, peak RSS at most 1 GB.
 * Everything it writes stays under .bench/ (ignored by git).
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, DEFAULT_HEIGHT, DEFAULT_WIDTH, REPO_ROOT, ensureBenchSlide } from './make-bench-slide.ts';
import { measure, type Measurement } from './measure.ts';
import { intArg, runBench, sizeArg } from './args.ts';

const TIME_RATIO_TARGET = 1.2;
const RSS_TARGET_BYTES = 1024 ** 3;
const JPEG_QUALITY = 92;

/**
 * The ingest under test. The bin script is run by node directly rather than through `npx tessera`:
 * npx adds its own node process (~0.3 s and ~60 MB) that users of the installed command never pay.
 */
function tesseraCommand(slide: string, dataDir: string, tileSize: number): [string, string[]] {
  return [
    process.execPath,
    [
      path.join(REPO_ROOT, 'scripts/bin/tessera.mjs'),
      'ingest',
      slide,
      '--data',
      dataDir,
      '--json',
      '--tile-size',
      String(tileSize),
      '--quality',
      String(JPEG_QUALITY),
    ],
  ];
}

/** The reference: libvips' own pyramid writer, as a pathologist's IT team would script it. */
function vipsCommand(slide: string, out: string, tileSize: number): [string, string[]] {
  const t = String(tileSize);
  return [
    'vips',
    ['tiffsave', slide, out, '--tile', '--pyramid', '--compression', 'jpeg', '--bigtiff'].concat([
      '--tile-width',
      t,
      '--tile-height',
      t,
      '--Q',
      String(JPEG_QUALITY),
    ]),
  ];
}

interface Options {
  tileSize: number;
  runs: number;
  concurrency: number;
  only: 'tessera' | 'vips' | null;
  width: number;
  height: number;
  keep: boolean;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      'tile-size': { type: 'string', default: '512' },
      runs: { type: 'string', default: '1' },
      concurrency: { type: 'string' },
      only: { type: 'string' },
      size: { type: 'string' },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const tileSize = Number(values['tile-size']);
  if (tileSize !== 256 && tileSize !== 512) {
    throw new Error(`Expected 256 or 512 for --tile-size but received ${values['tile-size']}`);
  }
  const runs = intArg('runs', values.runs, 1, 50);
  const concurrency = values.concurrency
    ? intArg('concurrency', values.concurrency, 1, 64)
    : Math.max(2, os.availableParallelism());
  const only = values.only ?? null;
  if (only !== null && only !== 'tessera' && only !== 'vips') {
    throw new Error(`Expected tessera or vips for --only but received ${only}`);
  }
  const { width, height } = values.size
    ? sizeArg(values.size)
    : { width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT };
  return { tileSize, runs, concurrency, only, width, height, keep: values.keep === true };
}

/**
 * One environment for both contenders: the same thread count, and no VIPSHOME (sharp's libvips sets
 * it to its own build prefix in this process, which would send the system vips looking for its
 * modules in the wrong place).
 */
function childEnv(concurrency: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TESSERA_SHARP_CONCURRENCY: String(concurrency),
    VIPS_CONCURRENCY: String(concurrency),
  };
  delete env.VIPSHOME;
  return env;
}

/** Read the input once so that neither contender pays for a cold page cache. */
async function warmCache(file: string): Promise<void> {
  for await (const _chunk of createReadStream(file, { highWaterMark: 8 << 20 })) {
    // Reading is the point.
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function failed(m: Measurement): string | null {
  if (m.code === 0) return null;
  const why = m.stderrTail.trim().split('\n').slice(-3).join(' | ');
  return `${m.command} exited with ${m.signal ?? m.code}: ${why}`;
}

interface Summary {
  name: string;
  wall: number;
  mpixPerSec: number;
  rssMb: number;
  processes: number;
}

function summarise(name: string, ms: Measurement[], megapixels: number): Summary {
  const wall = median(ms.map((m) => m.wallSeconds));
  return {
    name,
    wall,
    mpixPerSec: megapixels / wall,
    rssMb: median(ms.map((m) => m.peakRssBytes)) / 1024 ** 2,
    processes: Math.max(...ms.map((m) => m.processes)),
  };
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  const slide = await ensureBenchSlide({ width: opts.width, height: opts.height });
  const megapixels = (slide.width * slide.height) / 1e6;
  const env = childEnv(opts.concurrency);
  const scratch = path.join(BENCH_DIR, `run-${process.pid}`);
  await mkdir(scratch, { recursive: true });

  console.log(`slide        ${slide.path} (${slide.width}x${slide.height}, ${megapixels.toFixed(0)} MPix)`);
  if (slide.generated) console.log(`generated in ${slide.seconds.toFixed(1)} s`);
  console.log(
    `output       ${opts.tileSize}px JPEG Q${JPEG_QUALITY} tiles, pyramidal BigTIFF; ${opts.runs} run(s), median`,
  );
  console.log(
    `threads      sharp concurrency ${opts.concurrency} (TESSERA_SHARP_CONCURRENCY), vips ${opts.concurrency} (VIPS_CONCURRENCY), ${os.availableParallelism()} cores`,
  );
  console.log(
    'memory       peak RSS of each process tree, sampled from /proc every 50 ms (VmRSS sum, VmHWM)',
  );
  await warmCache(slide.path);

  const tessera: Measurement[] = [];
  const vips: Measurement[] = [];
  try {
    for (let run = 1; run <= opts.runs; run++) {
      if (opts.only !== 'vips') {
        const data = path.join(scratch, `tessera-data-${run}`);
        const [bin, args] = tesseraCommand(slide.path, data, opts.tileSize);
        const m = await measure(bin, args, { env, cwd: REPO_ROOT });
        const err = failed(m);
        if (err) throw new Error(err);
        const summary = m.stdout.trim().split('\n').at(-1) ?? '';
        checkIngest(summary, slide.width, slide.height);
        tessera.push(m);
        console.log(
          `run ${run}      tessera ${m.wallSeconds.toFixed(1)} s, ${(m.peakRssBytes / 1024 ** 2).toFixed(0)} MB`,
        );
        if (!opts.keep || run < opts.runs) await rm(data, { recursive: true, force: true });
      }
      if (opts.only !== 'tessera') {
        const out = path.join(scratch, `vips-${run}.tif`);
        const [bin, args] = vipsCommand(slide.path, out, opts.tileSize);
        const m = await measure(bin, args, { env });
        const err = failed(m);
        if (err) throw new Error(err);
        vips.push(m);
        console.log(
          `run ${run}      vips    ${m.wallSeconds.toFixed(1)} s, ${(m.peakRssBytes / 1024 ** 2).toFixed(0)} MB`,
        );
        if (!opts.keep || run < opts.runs) await rm(out, { force: true });
      }
    }
  } finally {
    if (!opts.keep) await rm(scratch, { recursive: true, force: true });
  }

  const rows: Summary[] = [];
  if (tessera.length > 0) rows.push(summarise('tessera ingest', tessera, megapixels));
  if (vips.length > 0) rows.push(summarise('vips tiffsave', vips, megapixels));
  console.log('');
  console.log(
    table(
      ['', 'wall s', 'MPix/s', 'peak RSS MB', 'processes'],
      rows.map((r) => [
        r.name,
        r.wall.toFixed(1),
        r.mpixPerSec.toFixed(1),
        r.rssMb.toFixed(0),
        String(r.processes),
      ]),
    ),
  );

  const t = rows.find((r) => r.name.startsWith('tessera'));
  const v = rows.find((r) => r.name.startsWith('vips'));
  let ok = true;
  if (t && v) {
    const ratio = t.wall / v.wall;
    const pass = ratio <= TIME_RATIO_TARGET;
    ok &&= pass;
    console.log(
      `\ntime   tessera/vips = ${ratio.toFixed(2)}x (target <= ${TIME_RATIO_TARGET}x)  ${pass ? 'PASS' : 'FAIL'}`,
    );
    console.log(`memory tessera/vips = ${(t.rssMb / v.rssMb).toFixed(2)}x`);
  }
  if (t) {
    const pass = t.rssMb * 1024 ** 2 <= RSS_TARGET_BYTES;
    ok &&= pass;
    console.log(
      `memory tessera peak ${t.rssMb.toFixed(0)} MB (target <= 1024 MB)  ${pass ? 'PASS' : 'FAIL'}`,
    );
  }
  return ok ? 0 : 1;
}

/** The last line of `tessera ingest --json` must describe the slide we gave it. */
function checkIngest(line: string, width: number, height: number): void {
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

function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

runBench(main);
