/**
 * Tile serving benchmark: Tessera's Deep Zoom tile route under a pathologist-like pan/zoom mix,
 * against nginx serving the same slide cut into static files by `vips dzsave`, in the same run.
 *
 *   npm run bench:tiles -- [--duration S] [--connections 32,128] [--urls N] [--seed N]
 *                          [--only tessera|nginx] [--size WxH] [--install-nginx]
 *                          [--generator wrk|autocannon] [--no-ceiling] [--store s3]
 *                          [--cold-connections 6,32]
 *
 * With Tessera it also runs node:http alone serving one constant buffer of Tessera's mean tile size:
 * the ceiling of Node's HTTP stack on this machine, printed next to the two servers.
 *
 * Targets: at least 20,000 tiles/s on 2 cores, p99 at most 10 ms at 32 connections, and at least
 * 0.2x the tiles/s of nginx. TESSERA_WORKERS (and any other TESSERA_* variable) reaches the server.
 *
 * `--store s3` also serves the slide from an S3 store on a throwaway Ceph RADOS Gateway
 * (scripts/ceph-rgw; the stored copy is uploaded through the store's own commit), as a second
 * Tessera server in the same run: its first pass over the mix is every tile's first touch (cold:
 * ranged GETs), the measured runs are warm. The local store's first pass is printed beside it.
 * That pass runs at each of --cold-connections (6 and 32), each time on freshly started servers:
 * 6 is one browser's first view (HTTP/1.1, 6 per host); 32, every connection asking at once, how
 * fast the store fills the caches under load. Beside them the gateway alone (signed ranged GETs of
 * slide.tif straight at it, at 1, 6 and 32 at once): the floor under any cold figure, and the
 * gateway's own request counts and CPU during each cold pass.
 * Load goes to 127.0.0.1 only, for a bounded time. Everything it writes stays under .bench/.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, DEFAULT_HEIGHT, DEFAULT_WIDTH, REPO_ROOT, ensureBenchSlide } from './make-bench-slide.ts';
import {
  BENCH_DATA_DIR,
  benchToken,
  childEnv,
  ingestBenchSlide,
  startBenchServer,
} from './tessera-server.ts';
import { freePort, lastLines, runChild, startChild, waitForHttp } from './tiles/children.ts';
import { type Shapes, fetchShapes, geometryProblems, geometrySample, meanBytes } from './tiles/geometry.ts';
import { type LoadResult, machineBusyOver, replay as replayAutocannon } from './tiles/load.ts';
import { replayWrk } from './tiles/wrk.ts';
import { type TileRequest, tileMix, tilePath } from './tiles/mix.ts';
import { JPEG_QUALITY, ensureDzCut, onPath, startNginx } from './tiles/nginx.ts';
import { fmt, runLine, summaryTable, verdicts } from './tiles/report.ts';
import { countersLine, rawRangedGets, rgwCounters, type RawObject } from './tiles/rgw-raw.ts';
import { intArg, runBench, sizeArg } from './args.ts';
import { copyFile } from 'node:fs/promises';
import { LocalSlideStore, createStore } from '../../tiles/index.ts';
import { createBucket, rgwMissingCommands, startRgw } from '../ceph-rgw/rgw.ts';

interface Options {
  duration: number;
  connections: number[];
  urls: number;
  seed: number;
  only: 'tessera' | 'nginx' | null;
  width: number;
  height: number;
  installNginx: boolean;
  generator: 'wrk' | 'autocannon';
  noCeiling: boolean;
  store: 'local' | 's3';
  coldConnections: number[];
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '32,128' },
      urls: { type: 'string', default: '4000' },
      seed: { type: 'string', default: '1' },
      only: { type: 'string' },
      size: { type: 'string' },
      'install-nginx': { type: 'boolean', default: false },
      generator: { type: 'string' },
      'no-ceiling': { type: 'boolean', default: false },
      store: { type: 'string', default: 'local' },
      'cold-connections': { type: 'string', default: '6,32' },
    },
    strict: true,
  });
  const connections = values.connections.split(',').map((c) => intArg('connections', c.trim(), 1, 1024));
  const only = values.only ?? null;
  if (only !== null && only !== 'tessera' && only !== 'nginx') {
    throw new Error(`Expected tessera or nginx for --only but received ${only}`);
  }
  const generator = values.generator ?? (onPath('wrk') ? 'wrk' : 'autocannon');
  if (generator !== 'wrk' && generator !== 'autocannon') {
    throw new Error(`Expected wrk or autocannon for --generator but received ${generator}`);
  }
  if (generator === 'wrk' && !onPath('wrk')) {
    throw new Error('--generator wrk: no wrk command (apt-get install wrk)');
  }
  if (values.store !== 'local' && values.store !== 's3') {
    throw new Error(`Expected local or s3 for --store but received ${values.store}`);
  }
  const { width, height } = values.size
    ? sizeArg(values.size)
    : { width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT };
  return {
    duration: intArg('duration', values.duration, 1, 120),
    connections,
    urls: intArg('urls', values.urls, 100, 100_000),
    seed: intArg('seed', values.seed, 0, 2 ** 31 - 1),
    only,
    width,
    height,
    installNginx: values['install-nginx'] === true,
    generator,
    noCeiling: values['no-ceiling'] === true,
    store: values.store,
    coldConnections: values['cold-connections']
      .split(',')
      .map((c) => intArg('cold-connections', c.trim(), 1, 1024)),
  };
}

interface Context {
  opts: Options;
  width: number;
  height: number;
  mix: TileRequest[];
  sample: TileRequest[];
  tileSize: number;
  /** Tessera's id of the bench slide. */
  slideId: string;
  /** Geometry differences found so far; any one makes the comparison unfair. */
  problems: string[];
}

/** A running server under test. */
interface Contender {
  name: string;
  origin: string;
  /** Deep Zoom tile base path: `{base}/{level}/{col}_{row}.jpeg`. */
  base: string;
  /** Root of its process tree, for its CPU time. */
  pid: number | undefined;
  /** Sent with every request. */
  headers: Record<string, string>;
  stop: () => Promise<void>;
}

async function startTessera(ctx: Context, s3?: S3Bench): Promise<Contender> {
  const id = ctx.slideId;
  const token = await benchToken();
  const server = await startBenchServer(s3?.env);
  const contender = {
    name: s3 ? 'tessera-s3' : 'tessera',
    origin: server.origin,
    base: `/slides/${id}_files`,
    pid: server.pid,
    headers: { authorization: `Bearer ${token}` },
    stop: server.stop,
  };
  // The first tile of a fresh server opens the slide (manifest, slide.tif's index) on the way.
  let first = '';
  try {
    const before = s3 ? await rgwCounters(s3.dir) : null;
    const t0 = performance.now();
    const tile = tilePath(contender.base, ctx.sample[0]!);
    const probe = await fetch(server.origin + tile, { headers: contender.headers });
    await probe.arrayBuffer();
    const ms = performance.now() - t0;
    if (probe.status !== 200) throw new Error(`the tile route answers HTTP ${probe.status} for ${tile}`);
    const after = s3 ? await rgwCounters(s3.dir) : null;
    const requests = before && after ? `, ${after.requests - before.requests} gateway requests` : '';
    first = `; first tile (slide opened with it) ${fmt(ms, 1)} ms${requests}`;
  } catch (e) {
    await contender.stop();
    throw e;
  }
  console.log(
    `${contender.name.padEnd(11)} serving on ${server.origin}${s3 ? ` from ${s3.env.TESSERA_STORE}` : ''}, TESSERA_WORKERS=${server.env.TESSERA_WORKERS ?? '(unset: server default)'}, TESSERA_LOG_LEVEL=${server.env.TESSERA_LOG_LEVEL}${first}`,
  );
  return contender;
}

/** nginx on the dzsave cut; a string says why it cannot run here. */
async function startNginxContender(ctx: Context, slidePath: string): Promise<Contender | string> {
  if (!onPath('vips')) return 'nginx       skipped: no vips command (apt-get install libvips-tools)';
  if (!onPath('nginx')) {
    if (!ctx.opts.installNginx) {
      return 'nginx       skipped: nginx is not installed (apt-get install -y nginx, or rerun with --install-nginx)';
    }
    console.log('nginx       not installed: apt-get install -y nginx');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let run = await runChild('apt-get', ['install', '-y', '-q', 'nginx'], { env });
    if (run.code !== 0) {
      await runChild('apt-get', ['update', '-q'], { env });
      run = await runChild('apt-get', ['install', '-y', '-q', 'nginx'], { env });
    }
    if (run.code !== 0 || !onPath('nginx')) {
      throw new Error(`apt-get install nginx failed: ${lastLines(run.stderr)}`);
    }
    console.log('nginx       installed with apt-get');
  }
  const isDefault = ctx.width === DEFAULT_WIDTH && ctx.height === DEFAULT_HEIGHT;
  const size = isDefault ? '' : `-${ctx.width}x${ctx.height}`;
  const root = path.join(BENCH_DIR, `dz${size}-${ctx.tileSize}`);
  const cut = await ensureDzCut(
    slidePath,
    root,
    childEnv(),
    (l) => console.log(`nginx       ${l}`),
    ctx.tileSize,
  );
  console.log(
    `nginx       vips dzsave cut: ${cut.files.toLocaleString('en-US')} files, ${fmt(cut.bytes / 1e9, 2)} GB of tiles (${fmt(cut.diskBytes / 1e9, 2)} GB of disk blocks), ${cut.seconds.toFixed(1)} s${cut.reused ? ' (by an earlier run, reused)' : ''}; ${ctx.tileSize} px JPEG Q${JPEG_QUALITY}, no overlap`,
  );
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const prefix = path.join(BENCH_DIR, 'nginx');
  const nginx = await startNginx({ prefix, root, port });
  console.log(
    `nginx       serving ${path.relative(REPO_ROOT, root)} on ${origin} (${path.relative(REPO_ROOT, prefix)}/nginx.conf)`,
  );
  return {
    name: 'nginx',
    origin,
    base: '/slide_files',
    pid: nginx.process.pid,
    headers: {},
    stop: () => nginx.stop(),
  };
}

/**
 * node:http itself, one process, answering every request with one constant buffer of the size of
 * Tessera's mean tile and the same headers: what Node's HTTP stack does here before any work of a
 * tile server (parsing the path, credentials, access, the store). A ceiling, not a contender.
 */
async function startNodeCeiling(bytes: number): Promise<Contender> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const code = `
    const body = Buffer.alloc(${Math.round(bytes)}, 0x5a);
    require('node:http').createServer({ keepAlive: true }, (req, res) => {
      res.writeHead(200, ['ETag', '"t"', 'Cache-Control', 'private, max-age=31536000, immutable',
        'X-Content-Type-Options', 'nosniff', 'Content-Type', 'image/jpeg', 'Content-Length', String(body.length)]);
      res.end(body);
    }).listen(${port}, '127.0.0.1');`;
  const child = startChild(process.execPath, ['-e', code]);
  try {
    await waitForHttp(`${origin}/`, child, 10_000);
  } catch (e) {
    await child.stop();
    throw e;
  }
  console.log(
    `node:http   one process answering every path with one ${fmt(bytes / 1024, 1)} KB buffer on ${origin}`,
  );
  return {
    name: 'node:http',
    origin,
    base: '/slide_files',
    pid: child.process.pid,
    headers: {},
    stop: () => child.stop(),
  };
}

/** Tile sizes of every contender against Deep Zoom and against the first contender. */
async function checkGeometry(ctx: Context, contenders: readonly Contender[]): Promise<void> {
  let reference: { name: string; shapes: Shapes } | undefined;
  const means: string[] = [];
  for (const c of contenders) {
    const shapes = await fetchShapes(c.origin, c.base, ctx.sample, c.headers);
    const found = geometryProblems(ctx.width, ctx.height, ctx.sample, shapes, reference, ctx.tileSize);
    ctx.problems.push(...found.map((p) => `${c.name} ${p}`));
    means.push(`${c.name} ${fmt(meanBytes(shapes) / 1024, 1)} KB`);
    reference ??= { name: c.name, shapes };
  }
  console.log(
    `geometry    ${ctx.sample.length} tiles at corners and edges of 5 levels: pixel sizes ${ctx.problems.length === 0 ? `as Deep Zoom says${contenders.length > 1 ? ', the same from each server' : ''}` : 'DIFFER'}; mean bytes ${means.join(', ')}`,
  );
}

/**
 * The first pass over the mix (cold: every tile's first touch) at each of --cold-connections, each
 * time on freshly started Tessera servers, so no pass finds what an earlier one left in a cache.
 */
async function coldPasses(
  ctx: Context,
  contenders: Contender[],
  restart: (c: Contender) => Promise<Contender>,
  s3: S3Bench | undefined,
): Promise<Map<string, LoadResult>> {
  const out = new Map<string, LoadResult>();
  const replay = ctx.opts.generator === 'wrk' ? replayWrk : replayAutocannon;
  for (const [i, connections] of ctx.opts.coldConnections.entries()) {
    for (const [j, c0] of contenders.entries()) {
      let c = c0;
      if (i > 0 && c.name.startsWith('tessera')) {
        c = await restart(c);
        contenders[j] = c;
      }
      const p = ctx.mix.map((t) => tilePath(c.base, t));
      const before = c.name === 'tessera-s3' && s3 ? await rgwCounters(s3.dir) : null;
      const r = await replay({
        origin: c.origin,
        paths: p,
        headers: c.headers,
        connections,
        duration: ctx.opts.duration,
        amount: p.length,
        ...(c.pid ? { serverPid: c.pid } : {}),
      });
      const after = before && s3 ? await rgwCounters(s3.dir) : null;
      out.set(`${c.name} cold ${connections}`, r);
      const gw = before ? `; ${countersLine(before, after, r.seconds)}` : '';
      console.log(
        `${c.name.padEnd(8)} cold ${connections} conns: ${r.ok} tiles in ${r.seconds.toFixed(1)} s, p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, ${fmt(r.bytes / Math.max(1, r.ok) / 1024, 1)} KB a response with headers, non-2xx ${r.non2xx}, errors ${r.errors}${gw}`,
      );
    }
  }
  return out;
}

/**
 * The measured runs interleaved (each connection count: every contender in turn), so that other
 * work on a shared machine weighs on both sides of the ratio alike.
 */
async function loadAll(ctx: Context, contenders: readonly Contender[]): Promise<Map<string, LoadResult[]>> {
  const paths = new Map(contenders.map((c) => [c.name, ctx.mix.map((t) => tilePath(c.base, t))]));
  const replay = ctx.opts.generator === 'wrk' ? replayWrk : replayAutocannon;
  const out = new Map<string, LoadResult[]>(contenders.map((c) => [c.name, []]));
  for (const connections of ctx.opts.connections) {
    for (const c of contenders) {
      const r = await replay({
        origin: c.origin,
        paths: paths.get(c.name)!,
        headers: c.headers,
        connections,
        duration: ctx.opts.duration,
        ...(c.pid ? { serverPid: c.pid } : {}),
      });
      console.log(runLine(c.name, r));
      out.get(c.name)!.push(r);
    }
  }
  return out;
}

/**
 * The gateway alone at 1, 6 and 32 requests at once: ranged GETs of a mean tile's size and of the
 * store's block size (128 KB) at random places in slide.tif.
 */
async function rawGateway(s3: S3Bench, tileBytes: number): Promise<string[]> {
  const lines: string[] = [];
  for (const length of [Math.round(tileBytes), 128 * 1024]) {
    for (const concurrency of [1, 6, 32]) {
      const r = await rawRangedGets({
        ...s3.raw,
        length,
        concurrency,
        requests: concurrency === 1 ? 300 : 2000,
      });
      const line = `gateway alone  ${String(concurrency).padStart(2)} at once  ${fmt(length / 1024, 1).padStart(5)} KB ranges  ${fmt(r.perSecond).padStart(6)} GETs/s  p50 ${fmt(r.p50, 2)} ms  p99 ${fmt(r.p99, 2)} ms  max ${fmt(r.max, 1)} ms`;
      console.log(line);
      lines.push(line);
    }
  }
  return lines;
}

interface S3Bench {
  env: NodeJS.ProcessEnv;
  /** The gateway's folder (its admin socket, its daemons' pids). */
  dir: string;
  /** Where slide.tif is, for requests sent straight at the gateway. */
  raw: RawObject;
  stop: () => Promise<void>;
}

/**
 * A Ceph RADOS Gateway with a bucket holding the bench slide: the local store's copy staged and
 * committed through the S3 store (the files ingest would upload, manifest last).
 */
async function startS3Store(id: string): Promise<S3Bench> {
  const missing = rgwMissingCommands();
  if (missing.length > 0) {
    throw new Error(
      `--store s3 needs a Ceph RADOS Gateway: no ${missing.join(', ')} (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common)`,
    );
  }
  const t0 = performance.now();
  const rgw = await startRgw();
  try {
    const bucket = 'tessera-bench';
    await createBucket(rgw, bucket);
    const spec = {
      kind: 's3' as const,
      bucket,
      prefix: 'bench',
      endpoint: rgw.endpoint,
      region: rgw.region,
      credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
      tmpDir: path.join(BENCH_DATA_DIR, 'tmp'),
    };
    const local = new LocalSlideStore(BENCH_DATA_DIR);
    const store = createStore(spec);
    const t1 = performance.now();
    const staging = await store.stage();
    let bytes = 0;
    for (const f of (await local.files(id)) ?? []) {
      await copyFile(local.localPath(id, f.name)!, path.join(staging.dir, f.name));
      bytes += f.bytes;
    }
    const tifBytes = ((await local.files(id)) ?? []).find((f) => f.name === 'slide.tif')?.bytes ?? 0;
    await staging.commit(id);
    const secs = (performance.now() - t1) / 1000;
    console.log(
      `tessera-s3  Ceph RADOS Gateway on ${rgw.endpoint} (memstore) up in ${((t1 - t0) / 1000).toFixed(1)} s; slide uploaded to s3://${bucket}/bench: ${fmt(bytes / 1e6)} MB in ${secs.toFixed(1)} s (${fmt(bytes / 1e6 / secs)} MB/s)`,
    );
    return {
      env: {
        TESSERA_STORE: `s3://${bucket}/bench`,
        AWS_ENDPOINT_URL: rgw.endpoint,
        AWS_REGION: rgw.region,
        AWS_ACCESS_KEY_ID: rgw.accessKeyId,
        AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey,
      },
      dir: rgw.dir,
      raw: {
        endpoint: rgw.endpoint,
        region: rgw.region,
        accessKeyId: rgw.accessKeyId,
        secretAccessKey: rgw.secretAccessKey,
        bucket,
        key: `bench/slides/${id}/slide.tif`,
        size: tifBytes,
      },
      stop: () => rgw.stop(),
    };
  } catch (e) {
    await rgw.stop();
    throw e;
  }
}

async function main(): Promise<number> {
  const opts = options(process.argv.slice(2));
  const cores = os.availableParallelism();
  const slide = await ensureBenchSlide({ width: opts.width, height: opts.height });
  console.log(`slide       ${path.relative(REPO_ROOT, slide.path)} (${slide.width}x${slide.height})`);
  if (slide.generated) console.log(`            generated in ${slide.seconds.toFixed(1)} s`);
  console.log(
    `machine     ${cores} cores, shared by the server under test and the load generator (${opts.generator === 'wrk' ? 'wrk, one thread, a child process' : 'autocannon, one thread in this process'})`,
  );
  // Tessera's pyramid decides the tile size (TESSERA_TILE_SIZE at ingest); nginx gets the same.
  const t0 = performance.now();
  const stored = await ingestBenchSlide(slide.path);
  console.log(
    `tessera     slide ${stored.id} in ${path.relative(REPO_ROOT, BENCH_DATA_DIR)}, ${stored.tileSize} px tiles (ingest, or reuse of an earlier one: ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  const tileSize = stored.tileSize;
  const mix = tileMix({
    width: slide.width,
    height: slide.height,
    count: opts.urls,
    seed: opts.seed,
    tileSize,
  });
  const distinct = new Set(mix.map((t) => `${t.level}/${t.col}_${t.row}`)).size;
  const byLevel = new Map<number, number>();
  for (const t of mix) byLevel.set(t.level, (byLevel.get(t.level) ?? 0) + 1);
  const levels = [...byLevel]
    .sort((a, b) => b[0] - a[0])
    .map(([l, k]) => `${l}: ${((k / mix.length) * 100).toFixed(0)}%`)
    .join(', ');
  console.log(
    `mix         ${mix.length} tile requests (${distinct} distinct) in 1920x1080 fields of view, seed ${opts.seed}; by Deep Zoom level ${levels}`,
  );
  console.log(
    `load        ${opts.connections.join(' and ')} connections, ${opts.duration} s a run, after one unmeasured pass over the mix; each connection replays its own stretch of the mix, together all of it`,
  );
  const ctx: Context = {
    opts,
    width: slide.width,
    height: slide.height,
    mix,
    sample: geometrySample(slide.width, slide.height, mix, tileSize),
    tileSize,
    slideId: stored.id,
    problems: [],
  };

  const contenders: Contender[] = [];
  let skipped: string | undefined;
  let results: Map<string, LoadResult[]>;
  let cold = new Map<string, LoadResult>();
  let raw: string[] = [];
  let s3: S3Bench | undefined;
  try {
    if (opts.only !== 'nginx') contenders.push(await startTessera(ctx));
    if (opts.store === 's3' && opts.only !== 'nginx') {
      s3 = await startS3Store(stored.id);
      contenders.push(await startTessera(ctx, s3));
    }
    if (opts.only !== 'tessera') {
      const n = await startNginxContender(ctx, slide.path);
      if (typeof n === 'string') skipped = n;
      else contenders.push(n);
    }
    await checkGeometry(ctx, contenders);
    const tessera = contenders.find((c) => c.name === 'tessera');
    if (tessera && !opts.noCeiling) {
      const shapes = await fetchShapes(tessera.origin, tessera.base, ctx.mix.slice(0, 200), tessera.headers);
      contenders.push(await startNodeCeiling(meanBytes(shapes)));
    }
    const busy = await machineBusyOver(2000);
    if (busy > 20) {
      console.log(
        `warning     ${fmt(busy)}% of the machine is busy before the load starts: other work will lower every figure`,
      );
    }
    if (s3) {
      const meanTile = await fetchShapes(
        contenders[0]!.origin,
        contenders[0]!.base,
        ctx.sample,
        contenders[0]!.headers,
      );
      raw = await rawGateway(s3, meanBytes(meanTile));
    }
    const s3Bench = s3;
    cold = await coldPasses(
      ctx,
      contenders,
      async (c) => {
        await c.stop();
        return startTessera(ctx, c.name === 'tessera-s3' ? s3Bench : undefined);
      },
      s3,
    );
    results = await loadAll(ctx, contenders);
  } finally {
    for (const c of contenders) await c.stop();
    await s3?.stop();
  }

  console.log('');
  console.log(summaryTable([...results].map(([name, runs]) => ({ name, runs }))));
  if (s3) {
    console.log(
      `\nfirst pass over the mix (${ctx.mix.length} requests at ${ctx.opts.coldConnections.join(' and ')} connections, fresh servers each time; each server's first touch of every tile):`,
    );
    console.log(
      summaryTable(
        ctx.opts.coldConnections.flatMap((n) =>
          ['tessera', 'tessera-s3'].flatMap((name) => {
            const r = cold.get(`${name} cold ${n}`);
            return r ? [{ name: `${name} cold`, runs: [r] }] : [];
          }),
        ),
      ),
    );
    console.log(
      `\nthe gateway alone (signed ranged GETs of slide.tif sent straight at it, no Tessera):\n${raw.join('\n')}`,
    );
    for (const n of ctx.opts.coldConnections) {
      const l = cold.get(`tessera cold ${n}`);
      const r = cold.get(`tessera-s3 cold ${n}`);
      if (!l || !r) continue;
      console.log(
        `cold ${String(n).padStart(2)}     tessera-s3 p99 ${fmt(r.p99, 1)} ms (target <= 25 ms) ${r.p99 <= 25 ? 'PASS' : 'FAIL'}; local store ${fmt(l.p99, 1)} ms in the same run (s3 ÷ local ${fmt(r.p99 / l.p99, 2)}x)`,
      );
    }
  }
  console.log(
    `CPU is % of one core (${cores} cores = ${cores * 100}%). Server and load generator share the ${cores} cores: each figure is what the server does with what the generator leaves it.\n` +
      'other CPU: used by neither (kernel network work outside both, other programs); much above ~15% means a noisy run.',
  );
  if (skipped) console.log(skipped);
  if (ctx.problems.length > 0) {
    console.log(
      `\ngeometry differs, so the comparison is not like for like:\n  ${ctx.problems.join('\n  ')}`,
    );
  }
  if (opts.only === 'nginx') return ctx.problems.length === 0 ? 0 : 1;
  const v = verdicts(results.get('tessera'), results.get('nginx'), cores, results.get('node:http'));
  console.log(`\n${v.lines.join('\n')}`);
  return v.ok && ctx.problems.length === 0 ? 0 : 1;
}

runBench(main);
