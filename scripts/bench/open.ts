/**
 * Open at once: how soon a freshly uploaded slide can be looked at.
 *
 *   npm run bench:open [-- --slide bench,huge,ndpi | --slide all] [--huge] [--takeover]
 *       [--runs 3] [--width 1400 --height 900]
 *
 * The bench slide (60,000 x 45,000, JPEG-tiled pyramidal TIFF) is uploaded through POST /api/slides
 * to a `tessera serve` on a data folder of its own; from the end of the upload: the 202, the first
 * Deep Zoom tile (the centre of the full-resolution level), the first view fully loaded in headless
 * chromium, and the time until the stored pyramid takes over. The upload ends when the server has read
 * its last byte (the 202's Server-Timing `open` says how long before its answer that was); the same
 * figures from the moment the client handed its last byte to its socket are printed beside them: on
 * the loopback the client outruns the server, and the bytes left in the socket buffers (the kernel
 * lets them grow to tens of megabytes) take a few to twenty milliseconds more to arrive, a wait an
 * upload over a network, slower than the server reads, does not have. The upload is sent from a
 * worker thread, so the thread that asks for the first tile has not just pushed 1.3 GB through its
 * heap. Beside it, on the same file in the same run, the same first tile and first view of
 * OpenSlide's Deep Zoom (python3-openslide's DeepZoomGenerator behind a small HTTP server) and of
 * IIPImage (Debian's iipimage-server, its FastCGI behind a small HTTP front) where they are
 * installed, each started cold, timed from when it listens.
 * Each figure is the median of --runs uploads (or cold starts), printed with their range.
 * The first tile and the first view are each measured on an upload (or a cold start) of their own: a
 * client's tile request does not share the machine's cores with the browser loading a page, as it
 * does not in use (the browser is on the reader's desk, not on the server).
 * --slide picks the slides, in order: `bench` (the default), `huge` (a 200,000 x 100,000 synthetic
 * slide with a scanner's 4x reduced levels, made once by make-huge-slide.ts --pyramid), `ndpi` (the
 * Hamamatsu sample of ../shared/slides, read through OpenSlide); --huge is `--slide bench,huge`. The
 * stored pyramid's takeover is waited for on the bench slide only, unless --takeover.
 * Targets: first tile <= 50 ms, first view <= 1 s (3 s for formats read through OpenSlide).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import type { SlideDto, UploadAccepted } from '../../protocol/index.ts';
import { ensureClientBuilt } from '../browser.ts';
import { dziLevelCount } from '../../tiles/pyramid/math.ts';
import { intArg, runBench } from './args.ts';
import { median } from './stats.ts';
import { BENCH_DIR, REPO_ROOT, ensureBenchSlide } from './make-bench-slide.ts';
import { makeSyntheticSlide } from './make-huge-slide.ts';
import { fastcgiFront, fastcgiGet } from './fastcgi.ts';
import { freePort, startChild } from './tiles/children.ts';
import { launchBenchBrowser, serve, tokenFor } from './viewer-setup.ts';

const TARGET_TILE_MS = 50;
const TARGET_VIEW_MS = 1000;
const OSD_JS = path.join(REPO_ROOT, 'node_modules/openseadragon/build/openseadragon/openseadragon.min.js');
const IIPSRV = '/usr/lib/iipimage-server/iipsrv.fcgi';
const OPENSLIDE_PY = '/usr/bin/python3';

interface Opts {
  width: number;
  height: number;
  /** Wait for the stored pyramid to take over (and time it). */
  takeover: boolean;
  /** Uploads (or cold starts) per figure: each figure is their median, printed with its range. */
  runs: number;
}

const SHARED_SLIDES = path.resolve(REPO_ROOT, '../shared/slides');
const SLIDES = ['bench', 'huge', 'ndpi'] as const;
type SlideKey = (typeof SLIDES)[number];

interface Timing {
  what: string;
  /**
   * ms from the end of the upload, its last byte read by the server (Tessera), or from listening
   * (anchors); null when not reached.
   */
  firstTile: number | null;
  firstView: number | null;
  /** Tessera: the same from the client's last byte handed to its socket. */
  fromSent?: { firstTile: number | null; firstView: number | null; drain: number };
  /** Each run's figure, when there were several. */
  tiles?: (number | null)[];
  views?: (number | null)[];
  accepted?: number;
  /** The upload's rate, MB/s (10^6 bytes) from its start to its last byte sent. */
  uploadRate?: number;
  stored?: number | null;
  note?: string;
  /** First view target (ms) when not TARGET_VIEW_MS. */
  viewTarget?: number;
}

const now = (): number => performance.now();
const ms = (x: number | null | undefined): string => (x == null ? '—' : `${Math.round(x)} ms`).padStart(9);

/** The median of the runs; null when any run did not get there (a miss is not averaged away). */
function medianOf(xs: (number | null)[]): number | null {
  return xs.length === 0 || xs.some((x) => x === null) ? null : median(xs as number[]);
}

/** " (min-max)" of several runs, '' for one. */
function rangeOf(xs: (number | null)[] | undefined): string {
  if (!xs || xs.length < 2) return '';
  const got = xs.filter((x): x is number => x !== null);
  if (got.length === 0) return '';
  return ` (${Math.round(Math.min(...got))}-${Math.round(Math.max(...got))})`;
}

/** Time a GET; throws on a non-2xx answer. */
async function timedGet(url: string, headers: Record<string, string> = {}): Promise<number> {
  const t = now();
  const res = await fetch(url, { headers });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return now() - t;
}

/**
 * A browser page ready before the clock starts (a user's browser is open already): `open` navigates
 * and resolves with the time `selector` appeared (performance.now()), or null after 60 s.
 */
async function openPage(
  browser: Browser,
  o: Opts,
  headers: Record<string, string> = {},
): Promise<{ open: (url: string, selector: string) => Promise<number | null> }> {
  const context = await browser.newContext({
    viewport: { width: o.width, height: o.height },
    extraHTTPHeaders: headers,
  });
  const page = await context.newPage();
  await page.goto('about:blank');
  return {
    open: async (url, selector) => {
      try {
        await page.goto(url);
        await page.waitForSelector(selector, { timeout: 60_000 });
        return now();
      } catch {
        return null;
      } finally {
        await context.close().catch(() => undefined);
      }
    },
  };
}

/**
 * The uploading client, run in a worker thread of its own: streaming 1.3 GB through Buffers makes a
 * heap collect every ~50 ms (external memory pressure: incremental marking and 4 ms pauses), and the
 * thread that then asks for the first tile, like a reader's browser that did not upload the slide
 * (or the anchors' client, which uploads nothing), should not carry that. Times are
 * process.hrtime, one clock for every thread.
 */
const UPLOADER = `
const { parentPort, workerData } = require('node:worker_threads');
const { request } = require('node:http');
const { createReadStream } = require('node:fs');
const hr = () => Number(process.hrtime.bigint()) / 1e6;
const { url, file, headers } = workerData;
const started = hr();
let sent = 0;
const req = request(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/octet-stream' } });
req.on('finish', () => (sent = hr()));
req.on('error', (e) => parentPort.postMessage({ error: String(e) }));
req.on('response', (res) => {
  const answered = hr();
  let text = '';
  res.setEncoding('utf8');
  res.on('data', (d) => (text += d));
  res.on('end', () => parentPort.postMessage({
    started, sent: sent || answered, answered, status: res.statusCode,
    timing: String(res.headers['server-timing'] ?? ''), text,
  }));
});
createReadStream(file, { highWaterMark: 1 << 20 }).pipe(req);
`;

/**
 * POST a file with node:http from a worker thread: `started` when it was asked, `sent` when its last
 * byte was handed to the socket (on the loopback megabytes may then still wait in socket buffers for
 * the server to read them), `answered` when the answer came, `lastByte` when the server read the last
 * byte (the answer's time less its Server-Timing `open`; the answer's own way back, a fraction of a
 * millisecond on the loopback, is not taken off). All in this thread's performance.now(); the
 * worker's message saying the answer came reaches this thread a little later, and that is counted.
 */
async function uploadFile(
  url: string,
  file: string,
  headers: Record<string, string>,
): Promise<{ started: number; sent: number; answered: number; lastByte: number; body: UploadAccepted }> {
  // process.hrtime's ms less performance.now(): both monotonic, so one offset converts.
  const offset = Number(process.hrtime.bigint()) / 1e6 - now();
  const worker = new Worker(UPLOADER, { eval: true, workerData: { url, file, headers } });
  try {
    const m = await new Promise<{
      error?: string;
      started: number;
      sent: number;
      answered: number;
      status: number;
      timing: string;
      text: string;
    }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    if (m.error) throw new Error(`upload: ${m.error}`);
    if (m.status !== 202) throw new Error(`upload: ${m.status} ${m.text}`);
    const open = /(?:^|,)\s*open;dur=([\d.]+)/.exec(m.timing);
    if (!open) throw new Error('upload: the 202 has no Server-Timing open;dur=');
    const answered = m.answered - offset;
    return {
      started: m.started - offset,
      sent: m.sent - offset,
      answered,
      lastByte: answered - Number(open[1]),
      body: JSON.parse(m.text) as UploadAccepted,
    };
  } finally {
    await worker.terminate();
  }
}

/** What one upload (or one cold start of an anchor) measures. */
type Phase = 'tile' | 'view';

async function tessera(
  browser: Browser,
  o: Opts,
  file: string,
  label: string,
  takeover: boolean,
): Promise<Timing> {
  const tiles: Timing[] = [];
  const views: Timing[] = [];
  for (let i = 0; i < o.runs; i++) tiles.push(await tesseraOnce(browser, o, file, 'tile', false));
  // The stored pyramid's takeover is waited for once, after the last first view.
  for (let i = 0; i < o.runs; i++)
    views.push(await tesseraOnce(browser, o, file, 'view', takeover && i === o.runs - 1));
  const last = views[views.length - 1]!;
  return {
    what: label,
    firstTile: medianOf(tiles.map((t) => t.firstTile)),
    firstView: medianOf(views.map((t) => t.firstView)),
    fromSent: {
      firstTile: medianOf(tiles.map((t) => t.fromSent!.firstTile)),
      firstView: medianOf(views.map((t) => t.fromSent!.firstView)),
      drain: median([...tiles, ...views].map((t) => t.fromSent!.drain)),
    },
    tiles: tiles.map((t) => t.firstTile),
    views: views.map((t) => t.firstView),
    accepted: medianOf(tiles.map((t) => t.accepted!))!,
    uploadRate: medianOf(tiles.map((t) => t.uploadRate!))!,
    ...(last.stored !== undefined ? { stored: last.stored } : {}),
    ...(last.note ? { note: last.note } : {}),
  };
}

/** One upload to a fresh server, then the first tile (as a client that knows only the id) or the first view. */
async function tesseraOnce(
  browser: Browser,
  o: Opts,
  file: string,
  phase: Phase,
  takeover: boolean,
): Promise<Timing> {
  const data = await mkdtemp(path.join(BENCH_DIR, 'open-data-'));
  const token = await tokenFor(data);
  const served = await serve(data);
  const auth = { authorization: `Bearer ${token}` };
  try {
    // A request first, as a signed-in user's browser has made one.
    await timedGet(`${served.origin}/api/slides`, auth);
    const page = phase === 'view' ? await openPage(browser, o, auth) : null;
    const up = await uploadFile(
      `${served.origin}/api/slides?name=${encodeURIComponent(path.basename(file))}`,
      file,
      auth,
    );
    const uploaded = up.lastByte;
    const answered = up.answered;
    const accepted = up.body;
    let id = accepted.slideId;
    let note: string | undefined;
    if (!id) {
      // Not open at once: viewable once converted.
      note = 'not served before conversion: waits for the stored pyramid';
      for (;;) {
        const job = (await (
          await fetch(`${served.origin}/api/jobs/${accepted.jobId}`, { headers: auth })
        ).json()) as {
          state: string;
          slideId: string | null;
        };
        if (job.state === 'failed') throw new Error('conversion failed');
        if (job.state === 'done' && job.slideId) {
          id = job.slideId;
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    let firstTile: number | null = null;
    let firstViewMs: number | null = null;
    if (page) {
      const viewDone = await page.open(`${served.origin}/view/${id}`, '.pane[data-fully-loaded="true"]');
      firstViewMs = viewDone === null ? null : viewDone - uploaded;
    } else {
      await centreTile(served.origin, auth, {
        dzi: `/slides/${id}.dzi`,
        tile: (l, c, r) => `/slides/${id}_files/${l}/${c}_${r}.jpeg`,
      });
      firstTile = now() - uploaded;
    }
    let stored: number | null | undefined = note ? now() - uploaded : takeover ? null : undefined;
    for (let i = 0; !note && takeover && i < 20 * 60 * 10; i++) {
      const s = (await (
        await fetch(`${served.origin}/api/slides/${id}`, { headers: auth })
      ).json()) as SlideDto;
      if (!s.conversion) {
        stored = now() - uploaded;
        break;
      }
      if (s.conversion.state !== 'converting') break;
      await new Promise((res2) => setTimeout(res2, 100));
    }
    const early = uploaded - up.sent;
    const later = (x: number | null): number | null => (x === null ? null : x + early);
    return {
      what: phase,
      firstTile,
      firstView: firstViewMs,
      fromSent: { firstTile: later(firstTile), firstView: later(firstViewMs), drain: early },
      accepted: answered - uploaded,
      uploadRate: statSync(file).size / 1e6 / ((up.sent - up.started) / 1000),
      ...(stored !== undefined ? { stored } : {}),
      ...(note ? { note } : {}),
    };
  } finally {
    await served.stop();
    await rm(data, { recursive: true, force: true });
  }
}

/** OpenSlide's Deep Zoom on the same file, started cold; timed from when it listens. */
async function openslideAnchor(browser: Browser, o: Opts, file: string): Promise<Timing | string> {
  if (!existsSync(OPENSLIDE_PY)) return 'OpenSlide: /usr/bin/python3 missing';
  try {
    return await anchorTimings(browser, o, 'OpenSlide deep zoom (python3-openslide)', async (phase) => {
      const port = await freePort();
      let ready: () => void = () => {};
      const listening = new Promise<void>((r) => (ready = r));
      const child = startChild(
        OPENSLIDE_PY,
        [path.join(REPO_ROOT, 'scripts/bench/open-openslide.py'), file, String(port), OSD_JS],
        { stdout: (d) => d.includes('ready') && ready() },
      );
      try {
        await Promise.race([
          listening,
          child.exited.then(() => Promise.reject(new Error(child.stderrTail()))),
        ]);
        return await phase(`http://127.0.0.1:${port}`, {
          dzi: '/slide.dzi',
          tile: (l, c, r) => `/slide_files/${l}/${c}_${r}.jpeg`,
          view: '/view.html',
        });
      } finally {
        await child.stop();
      }
    });
  } catch (e) {
    return `OpenSlide: ${e instanceof Error ? e.message.split('\n').slice(-2).join(' ') : String(e)}`;
  }
}

/** IIPImage (iipsrv.fcgi, FastCGI) behind a small HTTP front, started cold; timed from when it listens. */
async function iipAnchor(browser: Browser, o: Opts, file: string): Promise<Timing | string> {
  if (!existsSync(IIPSRV)) return 'IIPImage: not installed (apt-get install iipimage-server)';
  const view = `<!doctype html><html><head><meta charset="utf-8"><style>html,body,#v{margin:0;width:100%;height:100%;background:#fff}</style></head>
<body><div id="v"></div><script src="/osd.js"></script><script>
const v = OpenSeadragon({ id: 'v', tileSources: '/fcgi-bin/iipsrv.fcgi?DeepZoom=${file}.dzi', showNavigationControl: false,
  blendTime: 0, immediateRender: true, drawer: 'canvas', maxTilesPerFrame: 12 });
v.addHandler('open', () => v.world.getItemAt(0).addHandler('fully-loaded-change', (e) => {
  if (e.fullyLoaded) document.body.dataset.loaded = 'true'; }));
</script></body></html>`;
  const osd = await readFile(OSD_JS);
  try {
    return await anchorTimings(browser, o, 'IIPImage (iipimage-server)', async (phase) => {
      const fcgi = await freePort();
      const port = await freePort();
      const child = startChild(IIPSRV, ['--bind', `127.0.0.1:${fcgi}`], {
        env: { ...process.env, LOGFILE: '/dev/null', VERBOSITY: '0' },
      });
      const front = await fastcgiFront(port, fcgi, {
        '/view.html': { body: Buffer.from(view), type: 'text/html' },
        '/osd.js': { body: osd, type: 'application/javascript' },
      });
      try {
        // iipsrv listening: a descriptor of another (missing) file answers once it is.
        for (let i = 0; ; i++) {
          const ok = await fastcgiGet(fcgi, { REQUEST_METHOD: 'GET', QUERY_STRING: 'obj=IIP,1.0' }).then(
            () => true,
            () => false,
          );
          if (ok) break;
          if (i > 100) throw new Error(`iipsrv did not start: ${child.stderrTail()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        return await phase(`http://127.0.0.1:${port}`, {
          dzi: `/fcgi-bin/iipsrv.fcgi?DeepZoom=${file}.dzi`,
          tile: (l, c, r) => `/fcgi-bin/iipsrv.fcgi?DeepZoom=${file}_files/${l}/${c}_${r}.jpg`,
          view: '/view.html',
        });
      } finally {
        await new Promise((r) => front.close(r));
        await child.stop();
      }
    });
  } catch (e) {
    return `IIPImage: ${e instanceof Error ? e.message : String(e)}`;
  }
}

interface AnchorPaths {
  dzi: string;
  tile: (l: number, c: number, r: number) => string;
  view: string;
}

/** The descriptor, then the centre tile of full resolution, as a client that knows only the slide. */
async function centreTile(
  origin: string,
  headers: Record<string, string>,
  p: Pick<AnchorPaths, 'dzi' | 'tile'>,
): Promise<void> {
  const dzi = await (await fetch(`${origin}${p.dzi}`, { headers })).text();
  const [, ts, w, h] = /TileSize="(\d+)".*Width="(\d+)" Height="(\d+)"/s.exec(dzi) ?? [];
  const [tileSize, width, height] = [Number(ts), Number(w), Number(h)];
  const top = dziLevelCount(width, height) - 1;
  await timedGet(
    `${origin}${p.tile(top, Math.floor(width / 2 / tileSize), Math.floor(height / 2 / tileSize))}`,
    headers,
  );
}

/**
 * An anchor's first tile and first view, each on a cold start of its own: `start` starts it, hands
 * its origin and paths to the phase given, and stops it after.
 */
async function anchorTimings(
  browser: Browser,
  o: Opts,
  what: string,
  start: (phase: (origin: string, p: AnchorPaths) => Promise<number | null>) => Promise<number | null>,
): Promise<Timing> {
  const tiles: (number | null)[] = [];
  const views: (number | null)[] = [];
  for (let i = 0; i < o.runs; i++)
    tiles.push(
      await start(async (origin, p) => {
        const t0 = now();
        await centreTile(origin, {}, p);
        return now() - t0;
      }),
    );
  for (let i = 0; i < o.runs; i++)
    views.push(
      await start(async (origin, p) => {
        const page = await openPage(browser, o);
        const t0 = now();
        const v = await page.open(`${origin}${p.view}`, 'body[data-loaded="true"]');
        return v === null ? null : v - t0;
      }),
    );
  return { what, firstTile: medianOf(tiles), firstView: medianOf(views), tiles, views };
}

/** Print one row; true when its targets hold (a row that could not run counts as holding none). */
function print(t: Timing | string): boolean {
  if (typeof t === 'string') {
    console.log(`  ${t}`);
    return false;
  }
  // Formats read through OpenSlide have a first view target only.
  const tileOk = t.viewTarget !== undefined || (t.firstTile !== null && t.firstTile <= TARGET_TILE_MS);
  const tileMark = t.viewTarget !== undefined ? '   ' : tileOk ? 'ok ' : 'MISS';
  const viewOk = t.firstView !== null && t.firstView <= (t.viewTarget ?? TARGET_VIEW_MS);
  console.log(
    `  ${t.what.padEnd(44)} first tile ${ms(t.firstTile)}${rangeOf(t.tiles).padEnd(10)} ${tileMark}   first view ${ms(t.firstView)}${rangeOf(t.views).padEnd(12)} ${viewOk ? 'ok ' : 'MISS'}` +
      (t.accepted !== undefined ? `   202 after ${ms(t.accepted)}` : '') +
      (t.uploadRate !== undefined ? `   upload ${Math.round(t.uploadRate)} MB/s` : '') +
      (t.stored !== undefined ? `   stored pyramid takes over ${ms(t.stored)}` : '') +
      (t.note ? `   (${t.note})` : '') +
      (t.fromSent
        ? `\n  ${''.padEnd(44)} from the client's last byte sent: first tile ${ms(t.fromSent.firstTile)}, first view` +
          ` ${ms(t.fromSent.firstView)} (its bytes still in socket buffers for ${t.fromSent.drain.toFixed(1)} ms, median)`
        : ''),
  );
  return tileOk && viewOk;
}

/** The file for a --slide name, made first where it is generated; null (with why) when absent. */
async function slideFile(
  key: SlideKey,
): Promise<{ file: string; size: string; viewTarget?: number } | string> {
  if (key === 'bench') {
    const slide = await ensureBenchSlide();
    return { file: slide.path, size: `${slide.width} x ${slide.height}` };
  }
  if (key === 'huge') {
    const file = path.join(BENCH_DIR, 'huge-200000x100000-pyramid.tif');
    if (!existsSync(file)) await makeSyntheticSlide(file, { width: 200_000, height: 100_000, pyramid: true });
    return { file, size: '200000 x 100000, 4 levels' };
  }
  const file = path.join(SHARED_SLIDES, 'hamamatsu/orbit-test3-DAPI-387.ndpi');
  if (!existsSync(file)) return `ndpi: ${file} is missing (../shared/slides)`;
  return { file, size: '3968 x 4864 NDPI, read through OpenSlide', viewTarget: 3000 };
}

/** Exit code 0 when Tessera met every target on every slide asked for, 1 otherwise. */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      slide: { type: 'string' },
      huge: { type: 'boolean', default: false },
      takeover: { type: 'boolean', default: false },
      width: { type: 'string', default: '1400' },
      height: { type: 'string', default: '900' },
      runs: { type: 'string', default: '3' },
    },
    strict: true,
  });
  const o: Opts = {
    width: intArg('width', values.width ?? '', 320, 7680),
    height: intArg('height', values.height ?? '', 240, 4320),
    takeover: values.takeover ?? false,
    runs: intArg('runs', values.runs ?? '', 1, 50),
  };
  const asked = values.slide === 'all' ? [...SLIDES] : (values.slide ?? 'bench').split(',');
  if (values.huge && !asked.includes('huge')) asked.push('huge');
  for (const k of asked)
    if (!(SLIDES as readonly string[]).includes(k))
      throw new Error(`Expected --slide to list ${SLIDES.join(', ')} (or all) but received ${k}`);
  // The first view is the built client's: without a current build every page would be a 404.
  await ensureClientBuilt();
  const b = await launchBenchBrowser();
  if (!b) throw new Error('no chromium: apt-get install chromium-headless-shell');
  console.log(`bench:open  ${b.build}${b.caveat ? `\n  (${b.caveat})` : ''}`);
  console.log(
    `targets: first tile <= ${TARGET_TILE_MS} ms, first view <= ${TARGET_VIEW_MS} ms after the upload ends,` +
      ' its last byte read by the server (formats read through OpenSlide: first view <= 3 s)',
  );
  console.log(
    `each figure: the median of ${o.runs} upload${o.runs === 1 ? '' : 's'} (anchors: cold starts), with their range; a run that never got there is a miss`,
  );
  const missed: string[] = [];
  try {
    for (const key of asked as SlideKey[]) {
      const slide = await slideFile(key);
      if (typeof slide === 'string') {
        console.log(`\n  ${slide}`);
        continue;
      }
      const { file, size, viewTarget } = slide;
      const target = viewTarget ? { viewTarget } : {};
      console.log(`\n${path.basename(file)} (${size})`);
      const t = await tessera(
        b.browser,
        o,
        file,
        'Tessera (upload, served from the source)',
        o.takeover || key === 'bench',
      );
      if (!print({ ...t, ...target })) missed.push(key);
      const os = await openslideAnchor(b.browser, o, file);
      print(typeof os === 'string' ? os : { ...os, ...target });
      // IIPImage reads TIFF only (no OpenSlide formats).
      if (key !== 'ndpi') print(await iipAnchor(b.browser, o, file));
    }
  } finally {
    await b.browser.close();
  }
  console.log(
    `\n${missed.length === 0 ? 'PASS' : `MISS (${missed.join(', ')})`}: Tessera's targets after the upload ends`,
  );
  return missed.length === 0 ? 0 : 1;
}

runBench(main);
