/**
 * AI benchmark: how many slides a minute go through the reference algorithm (a process of its own,
 * reached over HTTP, reading each slide through the job's token and posting its results), and what
 * that costs people viewing slides on the same server meanwhile.
 *
 *   npm run bench:ai -- [--rounds 6] [--viewers 4] [--seconds 15] [--size 60000x45000]
 *
 * The server (`tessera serve`), the reference algorithm (`tessera ai-reference`) and the load run as
 * separate processes on this machine's cores, with a data folder of their own in .bench/ai-data: the
 * bench slide (the viewers' slide, and one of the algorithm's) and the sample slides of
 * ../shared/slides that are RGB. Three phases: viewers alone; the algorithm alone (every slide
 * once a round, all queued at once); both together. Viewers are browsers panning and zooming the
 * bench slide: each asks for a field of view's tiles (24, six at a time as a browser does), looks at
 * it for 150 ms, and moves on.
 *
 * Target: the viewers' tile p99 while the algorithm runs ≤ 2x their p99 without it, plus 20 ms.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AiRunDto, AlgorithmDto } from '../../protocol/index.ts';
import { intArg, runBench, sizeArg } from './args.ts';
import { BENCH_DIR, DEFAULT_HEIGHT, DEFAULT_WIDTH, REPO_ROOT, ensureBenchSlide } from './make-bench-slide.ts';
import { childEnv } from './tessera-server.ts';
import { freePort, lastLines, runChild, startChild, waitForHttp } from './tiles/children.ts';
import { tileMix, tilePath } from './tiles/mix.ts';

const DATA = path.join(BENCH_DIR, 'ai-data');
const BIN = path.join(REPO_ROOT, 'scripts/bin/tessera.mjs');
const SAMPLES = process.env.TESSERA_SAMPLE_SLIDES ?? path.resolve(REPO_ROOT, '../shared/slides');
/** Brightfield samples the reference algorithm makes sense of (fluorescence and tiny ones left out). */
const SAMPLE_FILES = [
  'aperio/CMU-1-Small-Region.svs',
  'dicom/wsi-to-dicom-converter-jpeg.dcm',
  'dicom/ez-wsi-multiframe-camelyon.dcm',
  'dicom/cmu-1-small-region-wsi2dcm',
  'ome-tiff/bfconvert-XYC-jpeg-tiled.ome.tiff',
  'ome-tiff/minerva-2048x2048-ome6-pyramid.ome.tif',
  'generic-tiff/openslide-boxes.tiff',
  'czi/czitools-1_tileregion.czi',
];
const VIEW_BATCH = 24;
const VIEW_CONNECTIONS = 6;
const THINK_MS = 150;

function parseOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '6' },
      viewers: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '15' },
      size: { type: 'string', default: `${DEFAULT_WIDTH}x${DEFAULT_HEIGHT}` },
    },
    strict: true,
  });
  return {
    rounds: intArg('rounds', values.rounds, 1, 50),
    viewers: intArg('viewers', values.viewers, 1, 64),
    seconds: intArg('seconds', values.seconds, 3, 600),
    size: sizeArg(values.size),
  };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const ms = (v: number): string => (v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);

async function cli(args: string[], input?: string): Promise<string> {
  const r = await runChild(process.execPath, [BIN, ...args, '--data', DATA], {
    env: childEnv(),
    cwd: REPO_ROOT,
    ...(input !== undefined ? { input } : {}),
  });
  if (r.code !== 0)
    throw new Error(`tessera ${args[0]} ${args[1] ?? ''} exited with ${r.code}: ${lastLines(r.stderr)}`);
  return r.stdout;
}

/** Each slide stored for the bench site (an ingest of a slide already there is quick: same hash, same id). */
async function ingest(
  file: string,
): Promise<{ id: string; width: number; height: number; tileSize: number }> {
  const out = await cli(['ingest', file, '--json', '--site', 'bench']);
  return JSON.parse(out.trim().split('\n').at(-1)!) as {
    id: string;
    width: number;
    height: number;
    tileSize: number;
  };
}

async function adminToken(): Promise<string> {
  if (!/^bench\s/m.test(await cli(['user', 'list'])))
    await cli(
      ['user', 'add', '--name', 'bench', '--role', 'admin', '--site', 'bench', '--password-stdin'],
      `${randomBytes(18).toString('base64url')}\n`,
    );
  return (await cli(['token', 'create', '--user', 'bench', '--expires', '1d', '--label', 'bench:ai'])).trim();
}

interface Api {
  (p: string, init?: RequestInit): Promise<Response>;
}

async function ok<T>(res: Promise<Response>): Promise<T> {
  const r = await res;
  if (!r.ok) throw new Error(`HTTP ${r.status}: ${(await r.text()).slice(0, 200)}`);
  return (await r.json()) as T;
}

/** The reference algorithm registered (or pointed at this run's process). */
async function algorithm(api: Api, url: string): Promise<AlgorithmDto> {
  const list = await ok<AlgorithmDto[]>(api('/api/ai/algorithms'));
  const found = list.find((a) => a.name === 'Tissue reference (bench)' && a.version === '1');
  const endpoint = { kind: 'http', url: `${url}/jobs` };
  if (found)
    return ok<AlgorithmDto>(
      api(`/api/ai/algorithms/${found.id}`, {
        method: 'PATCH',
        body: JSON.stringify({ endpoint, enabled: true, concurrency: 2, timeoutSeconds: 300 }),
      }),
    );
  return ok<AlgorithmDto>(
    api('/api/ai/algorithms', {
      method: 'POST',
      body: JSON.stringify({
        name: 'Tissue reference (bench)',
        version: '1',
        endpoint,
        trigger: 'on_request',
        concurrency: 2,
        timeoutSeconds: 300,
      }),
    }),
  );
}

/** Every slide once a round (all queued at once, run two at a time); slides a minute and run times. */
async function runRounds(
  api: Api,
  algorithmId: string,
  slides: string[],
  rounds: number,
): Promise<{ perMinute: number; runs: number; failed: number; runMs: number[]; seconds: number }> {
  const runMs: number[] = [];
  let failed = 0;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const queued = await Promise.all(
      slides.map((id) =>
        ok<AiRunDto>(
          api(`/api/slides/${id}/ai/runs`, { method: 'POST', body: JSON.stringify({ algorithmId }) }),
        ),
      ),
    );
    const pending = new Set(queued.map((q) => q.id));
    while (pending.size > 0) {
      await new Promise((res) => setTimeout(res, 100));
      for (const id of [...pending]) {
        const run = await ok<AiRunDto>(api(`/api/ai/runs/${id}`));
        if (run.state !== 'done' && run.state !== 'failed') continue;
        pending.delete(id);
        if (run.state === 'failed') {
          failed++;
          console.error(`run ${id} failed: ${run.error?.message}`);
        } else runMs.push(Date.parse(run.finishedAt!) - Date.parse(run.startedAt!));
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const runs = rounds * slides.length;
  return {
    perMinute: ((runs - failed) / seconds) * 60,
    runs,
    failed,
    runMs: runMs.sort((a, b) => a - b),
    seconds,
  };
}

/** Viewers panning and zooming until `stop()` resolves; every tile's latency. */
function viewers(
  origin: string,
  token: string,
  paths: string[],
  count: number,
): { stop: () => Promise<{ lat: number[]; errors: number; seconds: number }> } {
  let running = true;
  const lat: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  const headers = { authorization: `Bearer ${token}` };
  const one = async (v: number): Promise<void> => {
    let i = Math.floor((v * paths.length) / count);
    while (running) {
      const batch = Array.from({ length: VIEW_BATCH }, () => paths[i++ % paths.length]!);
      let next = 0;
      await Promise.all(
        Array.from({ length: VIEW_CONNECTIONS }, async () => {
          while (next < batch.length && running) {
            const p = batch[next++]!;
            const t = performance.now();
            try {
              const res = await fetch(`${origin}${p}`, { headers });
              await res.arrayBuffer();
              if (res.status !== 200) errors++;
            } catch {
              errors++;
            }
            lat.push(performance.now() - t);
          }
        }),
      );
      await new Promise((r) => setTimeout(r, THINK_MS));
    }
  };
  const all = Promise.all(Array.from({ length: count }, (_, v) => one(v)));
  return {
    stop: async () => {
      running = false;
      await all;
      return { lat: lat.sort((a, b) => a - b), errors, seconds: (performance.now() - t0) / 1000 };
    },
  };
}

async function main(): Promise<number> {
  const opts = parseOptions();
  if (!existsSync(path.join(SAMPLES, 'expected.json')))
    throw new Error(`sample slides not found at ${SAMPLES} (set TESSERA_SAMPLE_SLIDES)`);
  await mkdir(DATA, { recursive: true });
  const bench = await ensureBenchSlide({ width: opts.size.width, height: opts.size.height });
  // The administrator first: it makes the bench site the slides are stored for.
  const token = await adminToken();
  console.error('ingesting the bench slide and the samples into .bench/ai-data (once; then by hash)');
  const big = await ingest(bench.path);
  const samples: string[] = [];
  for (const f of SAMPLE_FILES)
    if (existsSync(path.join(SAMPLES, f))) samples.push((await ingest(path.join(SAMPLES, f))).id);
  const slides = [big.id, ...samples];

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const server = startChild(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data', DATA],
    {
      env: childEnv(),
      cwd: REPO_ROOT,
    },
  );
  const refPort = await freePort();
  const refUrl = `http://127.0.0.1:${refPort}`;
  const reference = startChild(
    process.execPath,
    [BIN, 'ai-reference', '--port', String(refPort), '--concurrency', '2'],
    {
      env: childEnv(),
      cwd: REPO_ROOT,
    },
  );
  let code = 0;
  try {
    await waitForHttp(`${origin}/api/health`, server, 60_000);
    await waitForHttp(`${refUrl}/health`, reference, 60_000);
    const api: Api = (p, init = {}) =>
      fetch(`${origin}${p}`, {
        ...init,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      });
    const algo = await algorithm(api, refUrl);
    // Each phase's viewers look at tiles of their own (same mix, another seed): every phase reads
    // tiles cold, as people reading new fields of view do.
    const mix = (seed: number): string[] =>
      tileMix({ width: big.width, height: big.height, tileSize: big.tileSize, count: 6000, seed }).map((t) =>
        tilePath(`/slides/${big.id}_files`, t),
      );
    console.log(
      `server      ${origin}, one process; reference algorithm ${refUrl} (2 jobs at once); ${os.availableParallelism()} cores shared by all`,
    );
    console.log(
      `slides      ${slides.length}: the bench slide ${big.width}x${big.height} and ${samples.length} samples; ${opts.rounds} round(s) each`,
    );
    // Warm-up: the server's code paths, and one round through the algorithm (its first, cold round
    // of each slide's thumbnail, reported on its own).
    const warm = viewers(origin, token, mix(7), opts.viewers);
    await new Promise((r) => setTimeout(r, 2000));
    const w = await warm.stop();
    if (w.errors > 0) throw new Error(`${w.errors} of ${w.lat.length} tiles failed`);
    const cold = await runRounds(api, algo.id, slides, 1);

    const quietLoad = viewers(origin, token, mix(19), opts.viewers);
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    const quiet = await quietLoad.stop();

    const alone = await runRounds(api, algo.id, slides, opts.rounds);

    const busyLoad = viewers(origin, token, mix(23), opts.viewers);
    const withViewers = await runRounds(api, algo.id, slides, opts.rounds);
    const busy = await busyLoad.stop();

    const line = (name: string, v: { lat: number[]; errors: number; seconds: number }): void =>
      console.log(
        `${name} ${opts.viewers} viewers: ${(v.lat.length / v.seconds).toFixed(0)} tiles/s, p50 ${ms(pct(v.lat, 50))}  p99 ${ms(pct(v.lat, 99))}  max ${ms(v.lat.at(-1) ?? NaN)}  (${v.lat.length} tiles, ${v.errors} errors)`,
      );
    const ai = (name: string, r: Awaited<ReturnType<typeof runRounds>>): void =>
      console.log(
        `${name} ${r.perMinute.toFixed(1)} slides/min (${r.runs} runs in ${r.seconds.toFixed(1)} s, ${r.failed} failed); a run p50 ${ms(pct(r.runMs, 50))}  p99 ${ms(pct(r.runMs, 99))}`,
      );
    line('viewing     without AI: ', quiet);
    line('viewing     during AI:  ', busy);
    ai('AI          first round:', cold);
    ai('AI          alone:      ', alone);
    ai('AI          with viewers:', withViewers);
    const limit = 2 * pct(quiet.lat, 99) + 20;
    const held = pct(busy.lat, 99) <= limit && alone.failed + withViewers.failed === 0 && busy.errors === 0;
    console.log(
      `\ntarget: viewing p99 during AI ≤ 2 x ${ms(pct(quiet.lat, 99))} + 20 ms = ${ms(limit)}, no failed run or tile: ${held ? 'PASS' : 'FAIL'}`,
    );
    if (!held) code = 1;
  } finally {
    await reference.stop(3000);
    await server.stop(5000);
  }
  return code;
}

runBench(main);
