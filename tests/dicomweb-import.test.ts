import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DicomwebImportAccepted, JobDto, Manifest } from '../protocol/index.ts';
import { freePort } from '../scripts/bench/tiles/children.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { LocalSlideStore } from '../tiles/store/local.ts';
import { SLIDE_FILE } from '../tiles/store/types.ts';
import { StoredSlide } from '../tiles/serve/index.ts';
import { readDicomHeader } from '../tiles/index.ts';
import { userWithToken } from './helpers/auth.ts';
import { type Orthanc, requireOrthanc, startOrthanc, storeAll } from './helpers/orthanc.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

/**
 * Slides pulled out of a DICOMweb archive. Orthanc holds the sample DICOM
 * WSI series (wsi2dcm's CMU-1-Small-Region, 12 instances); `tessera import --dicomweb` and the
 * library's import route find it with QIDO-RS, retrieve it with WADO-RS and ingest it, and level 0
 * is pixel for pixel what a direct `tessera ingest` of the same files stores. An unknown study, an
 * archive that is down and hostile answers (sizes, instance counts, redirects) are refused with one
 * line; the server fetches only from archives configured in TESSERA_DICOMWEB_SOURCES.
 */

const BIN = path.resolve('scripts/bin/tessera.mjs');
const SERIES_DIR = 'dicom/cmu-1-small-region-wsi2dcm';
const have = requireSlides() && requireOrthanc('DICOMweb import checks');

let dir = '';
let orthanc: Orthanc;
let study = '';
let seriesUid = '';
/** The direct ingest of the same files: what every import must equal at level 0. */
let direct: { store: LocalSlideStore; manifest: Manifest };
let hostile: Server;
let hostileUrl = '';
/** Requests that reached a server no import should ever reach. */
const forbidden: string[] = [];
let forbiddenServer: Server;
let forbiddenUrl = '';
let closedUrl = '';

function tessera(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function storeOf(dataDir: string): LocalSlideStore {
  return new LocalSlideStore(dataDir);
}

/** Level 0 of a stored slide, every tile decoded: its size, tile grid and the raw pixels per tile. */
async function level0(store: LocalSlideStore, id: string): Promise<{ manifest: Manifest; tiles: Buffer[] }> {
  const manifest = (await store.manifest(id))!;
  expect(manifest).toBeTruthy();
  const slide = await StoredSlide.open((await store.open(id, SLIDE_FILE))!, manifest);
  try {
    const l = manifest.levelInfo[0]!;
    const tiles: Buffer[] = [];
    for (let row = 0; row < l.tilesY; row++)
      for (let col = 0; col < l.tilesX; col++)
        tiles.push(
          await sharp((await slide.readStoredTile(0, col, row))!)
            .raw()
            .toBuffer(),
        );
    return { manifest, tiles };
  } finally {
    await slide.close();
  }
}

async function expectSameLevel0(store: LocalSlideStore, id: string): Promise<void> {
  const a = await level0(direct.store, direct.manifest.id);
  const b = await level0(store, id);
  expect([b.manifest.width, b.manifest.height, b.manifest.tileSize]).toEqual([
    a.manifest.width,
    a.manifest.height,
    a.manifest.tileSize,
  ]);
  expect(b.manifest.levelInfo[0]).toEqual(a.manifest.levelInfo[0]);
  expect(b.tiles.length).toBe(a.tiles.length);
  const differing = b.tiles.filter((t, i) => !t.equals(a.tiles[i]!)).length;
  expect(differing, 'level-0 tiles whose decoded pixels differ').toBe(0);
}

/** A DICOMweb server that answers QIDO with a slide series and WADO-RS with something hostile. */
async function startHostile(part: Buffer): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/dicom-web\/studies\/([\d.]+)\/series(?:\/([\d.]+))?$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const [, st, se] = m;
    if (!se) {
      res.writeHead(200, { 'content-type': 'application/dicom+json' });
      res.end(
        JSON.stringify([
          {
            '0020000D': { vr: 'UI', Value: [st] },
            '0020000E': { vr: 'UI', Value: ['1.2.3.99'] },
            '00080060': { vr: 'CS', Value: ['SM'] },
          },
        ]),
      );
      return;
    }
    const b = 'hostile-boundary';
    const head = `--${b}\r\nContent-Type: application/dicom\r\n\r\n`;
    const type = `multipart/related; type="application/dicom"; boundary=${b}`;
    if (st === '1.2.3.1') {
      // Says it is a terabyte: refused before a byte is read.
      res.writeHead(200, { 'content-type': type, 'content-length': String(1e12) });
      res.write(head);
      return;
    }
    if (st === '1.2.3.2') {
      // Never ends: refused at the byte limit.
      res.writeHead(200, { 'content-type': type });
      res.write(head);
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return;
    }
    if (st === '1.2.3.3') {
      res.writeHead(302, { location: `${forbiddenUrl}/studies/${st}/series/${se}` }).end();
      return;
    }
    if (st === '1.2.3.4') {
      // More instances than a slide series holds.
      res.writeHead(200, { 'content-type': type });
      for (let i = 0; i < 100; i++) {
        res.write(head);
        res.write(part);
        res.write('\r\n');
      }
      res.end(`--${b}--\r\n`);
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return server;
}

describe.skipIf(!have)('import from a DICOMweb archive (Orthanc)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-dicomweb-import-'));
    const files = readdirSync(slidePath(SERIES_DIR))
      .filter((f) => f.endsWith('.dcm'))
      .map((f) => path.join(slidePath(SERIES_DIR), f));
    const h = await readDicomHeader(files[0]!);
    study = h.studyUid!;
    seriesUid = h.seriesUid!;
    orthanc = await startOrthanc();
    await storeAll(
      orthanc,
      files.map((f) => readFileSync(f)),
    );
    // Another study in the archive that holds no slide: a plain secondary capture.
    await orthanc.rest('/tools/create-dicom', {
      method: 'POST',
      body: JSON.stringify({
        Force: true,
        Tags: { PatientName: 'NOT^A^SLIDE', Modality: 'OT', StudyInstanceUID: '1.2.826.0.1.42' },
      }),
    });
    const directData = path.join(dir, 'direct');
    const r = await tessera(['ingest', slidePath(SERIES_DIR), '--json', '--data', directData]);
    expect(r.code, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout.trim()) as { id: string }).id;
    direct = { store: storeOf(directData), manifest: (await storeOf(directData).manifest(id))! };
    hostile = await startHostile(readFileSync(path.join(slidePath(SERIES_DIR), 'level-11-frames-0-1.dcm')));
    hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/dicom-web`;
    forbiddenServer = createServer((req, res) => {
      forbidden.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/dicom+json' }).end('[]');
    });
    forbiddenServer.listen(0, '127.0.0.1');
    await new Promise((r) => forbiddenServer.once('listening', r));
    forbiddenUrl = `http://127.0.0.1:${(forbiddenServer.address() as AddressInfo).port}/dicom-web`;
    closedUrl = `http://127.0.0.1:${await freePort()}/dicom-web`;
  }, 180_000);

  afterAll(async () => {
    await orthanc?.stop();
    if (hostile) await new Promise((r) => hostile.close(r));
    if (forbiddenServer) await new Promise((r) => forbiddenServer.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('tessera import --dicomweb', () => {
    it("pulls the sample series out of Orthanc: level 0's pixels equal a direct ingest of the same files", async () => {
      const data = path.join(dir, 'cli');
      const r = await tessera([
        'import',
        '--dicomweb',
        `${orthanc.dicomweb}/`,
        '--study',
        study,
        '--json',
        '--data',
        data,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const got = JSON.parse(lines[0]!) as { id: string; seriesUid: string; sourceFormat: string };
      expect(got.seriesUid).toBe(seriesUid);
      expect(got.sourceFormat).toBe('dicom');
      await expectSameLevel0(storeOf(data), got.id);
      // Nothing retrieved is left behind.
      expect(readdirSync(path.join(data, 'tmp')).filter((f) => f.startsWith('dicomweb-'))).toEqual([]);
    });

    it('one series asked by its UID; a series the study does not hold is one line, exit 1', async () => {
      const data = path.join(dir, 'cli-series');
      const ok = await tessera([
        'import',
        '--dicomweb',
        orthanc.dicomweb,
        '--study',
        study,
        '--series',
        seriesUid,
        '--data',
        data,
      ]);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(
        new RegExp(
          `^stored: series ${seriesUid.replace(/\./g, '\\.')} \\(12 instances, 1\\.5 MB\\) -> [0-9a-f]{32}`,
        ),
      );
      const bad = await tessera([
        'import',
        '--dicomweb',
        orthanc.dicomweb,
        '--study',
        study,
        '--series',
        '1.2.3.4.5',
        '--data',
        data,
      ]);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim().split('\n')).toEqual([
        `error: no series 1.2.3.4.5 in study ${study} in ${orthanc.dicomweb}`,
      ]);
    });

    it('an unknown study, or one without a slide series: exit 1 and one line', async () => {
      const data = path.join(dir, 'cli-bad');
      const unknown = await tessera([
        'import',
        '--dicomweb',
        orthanc.dicomweb,
        '--study',
        '1.2.3.4.5.6',
        '--data',
        data,
      ]);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr.trim().split('\n')).toEqual([
        `error: no study 1.2.3.4.5.6 in ${orthanc.dicomweb}`,
      ]);
      const noSlide = await tessera([
        'import',
        '--dicomweb',
        orthanc.dicomweb,
        '--study',
        '1.2.826.0.1.42',
        '--data',
        data,
      ]);
      expect(noSlide.code).toBe(1);
      expect(noSlide.stderr.trim()).toBe(
        `error: study 1.2.826.0.1.42 holds no slide series (modality SM) in ${orthanc.dicomweb}`,
      );
      const malformed = await tessera([
        'import',
        '--dicomweb',
        orthanc.dicomweb,
        '--study',
        '1.2.03',
        '--data',
        data,
      ]);
      expect(malformed.code).toBe(2);
      expect(malformed.stderr).toMatch(/^error: Expected a DICOM UID .* for --study but received "1\.2\.03"/);
    });

    it('an archive that is down: exit 1 and one line naming it', async () => {
      const r = await tessera([
        'import',
        '--dicomweb',
        closedUrl,
        '--study',
        study,
        '--data',
        path.join(dir, 'cli-down'),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([
        `error: cannot reach the archive at ${closedUrl}: connection refused`,
      ]);
    });

    it('hostile sizes are refused: over TESSERA_MAX_UPLOAD_BYTES, a declared terabyte, an endless body, 100 instances; nothing stays behind', async () => {
      const data = path.join(dir, 'cli-hostile');
      const small = await tessera(
        ['import', '--dicomweb', orthanc.dicomweb, '--study', study, '--data', data],
        {
          TESSERA_MAX_UPLOAD_BYTES: '500000',
        },
      );
      expect(small.code).toBe(1);
      expect(small.stderr.trim()).toBe(
        `error: series ${seriesUid}: the series is over the limit of 500000 bytes: refused`,
      );
      const declared = await tessera([
        'import',
        '--dicomweb',
        hostileUrl,
        '--study',
        '1.2.3.1',
        '--data',
        data,
      ]);
      expect(declared.code).toBe(1);
      expect(declared.stderr.trim()).toMatch(
        /^error: series 1\.2\.3\.99: the series is 1000000000000 bytes, over the limit of \d+: refused$/,
      );
      const t0 = Date.now();
      const endless = await tessera(
        ['import', '--dicomweb', hostileUrl, '--study', '1.2.3.2', '--data', data],
        {
          TESSERA_MAX_UPLOAD_BYTES: String(20 * 1024 * 1024),
        },
      );
      expect(endless.code).toBe(1);
      expect(endless.stderr.trim()).toBe(
        `error: series 1.2.3.99: the series is over the limit of ${20 * 1024 * 1024} bytes: refused`,
      );
      expect(Date.now() - t0).toBeLessThan(30_000);
      const many = await tessera(['import', '--dicomweb', hostileUrl, '--study', '1.2.3.4', '--data', data]);
      expect(many.code).toBe(1);
      expect(many.stderr.trim()).toBe(
        'error: series 1.2.3.99: the series is more than 64 instances: refused',
      );
      expect(readdirSync(path.join(data, 'tmp')).filter((f) => f.startsWith('dicomweb-'))).toEqual([]);
      expect(existsSync(path.join(data, 'slides')) ? readdirSync(path.join(data, 'slides')) : []).toEqual([]);
    });

    it('a redirect is not followed', async () => {
      const before = forbidden.length;
      const r = await tessera([
        'import',
        '--dicomweb',
        hostileUrl,
        '--study',
        '1.2.3.3',
        '--data',
        path.join(dir, 'cli-redirect'),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `error: series 1.2.3.99: ${hostileUrl} redirected the request (HTTP 302); give the archive's DICOMweb root itself`,
      );
      expect(forbidden.length).toBe(before);
    });
  });

  describe('POST /api/imports/dicomweb (the library)', () => {
    let ctx: ServerContext;
    let server: Server;
    let base = '';
    const tokens: Record<string, string> = {};

    const as = (user: string, p: string, init: RequestInit = {}): Promise<Response> => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${tokens[user]}`);
      if (init.body) headers.set('content-type', 'application/json');
      return fetch(`${base}${p}`, { ...init, headers });
    };
    const post = (user: string, body: unknown): Promise<Response> =>
      as(user, '/api/imports/dicomweb', { method: 'POST', body: JSON.stringify(body) });

    async function settled(user: string, jobId: string): Promise<JobDto> {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const job = (await (await as(user, `/api/jobs/${jobId}`)).json()) as JobDto;
        if (job.state === 'done' || job.state === 'failed') return job;
        if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.state} (${job.stage})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    beforeAll(async () => {
      const withCredentials = orthanc.dicomweb.replace('http://', 'http://reader:s3cret@');
      ctx = await createServerContext(
        loadConfig(
          {
            dataDir: path.join(dir, 'server'),
            port: 0,
            host: '127.0.0.1',
            dicomwebSources: `orthanc=${withCredentials},down=${closedUrl},hostile=${hostileUrl}`,
          },
          {},
        ),
        () => {},
      );
      for (const [name, role] of [
        ['manager', 'lab_manager'],
        ['admin', 'admin'],
        ['path', 'pathologist'],
      ] as const)
        tokens[name] = (await userWithToken(ctx.db, { name, role, siteId: 'north' })).token;
      server = createServer(createHandler(ctx, createApp(ctx)));
      server.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await ctx?.queue.idle();
      if (server) await new Promise((r) => server.close(r));
      await ctx?.tiles.close();
      await ctx?.db.destroy();
    });

    it('lists the configured archives, without their credentials, to administrators and lab managers only', async () => {
      const res = await as('manager', '/api/imports/dicomweb/sources');
      expect(res.status).toBe(200);
      const sources = (await res.json()) as { name: string; url: string }[];
      expect(sources.map((s) => s.name)).toEqual(['orthanc', 'down', 'hostile']);
      expect(sources[0]!.url).toBe(orthanc.dicomweb);
      expect(JSON.stringify(sources)).not.toContain('s3cret');
      expect((await as('admin', '/api/imports/dicomweb/sources')).status).toBe(200);
      expect((await as('path', '/api/imports/dicomweb/sources')).status).toBe(403);
      expect((await post('path', { source: 'orthanc', study })).status).toBe(403);
      expect((await fetch(`${base}/api/imports/dicomweb/sources`)).status).toBe(401);
    });

    it('imports the study as a job followed like an upload; level 0 equals the direct ingest; audited', async () => {
      const res = await post('manager', { source: 'orthanc', study });
      expect(res.status).toBe(202);
      const { jobs } = (await res.json()) as DicomwebImportAccepted;
      expect(jobs).toHaveLength(1);
      expect(jobs[0]!.seriesUid).toBe(seriesUid);
      const job = await settled('manager', jobs[0]!.jobId);
      expect(job.error).toBeNull();
      expect(job.state).toBe('done');
      expect(job.slideId).toMatch(/^[0-9a-f]{32}$/);
      await expectSameLevel0(storeOf(path.join(dir, 'server')), job.slideId!);
      // The lab manager's site owns it: it is in her library.
      const lib = (await (await as('manager', '/api/slides?cursor=')).json()) as { items: { id: string }[] };
      expect(lib.items.map((s) => s.id)).toContain(job.slideId);
      const audit = await ctx.db
        .selectFrom('audit')
        .selectAll()
        .where('action', '=', 'slide.import')
        .where('target_id', '=', jobs[0]!.jobId)
        .execute();
      expect(audit).toHaveLength(1);
      expect(JSON.parse(audit[0]!.detail)).toMatchObject({ source: 'orthanc', study, series: seriesUid });
      // The staged series is gone once the job is done.
      expect(
        readdirSync(path.join(dir, 'server', 'uploads')).filter((f) => f.startsWith('dicomweb-')),
      ).toEqual([]);
    }, 120_000);

    it('an unknown study is 404 at once; an archive that is down 502; a malformed UID 400', async () => {
      const unknown = await post('manager', { source: 'orthanc', study: '1.2.3.4.5.6' });
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({
        code: 'STUDY_NOT_FOUND',
        message: `no study 1.2.3.4.5.6 in ${orthanc.dicomweb}`,
      });
      const down = await post('manager', { source: 'down', study });
      expect(down.status).toBe(502);
      expect(await down.json()).toMatchObject({
        code: 'ARCHIVE_FAILED',
        message: `cannot reach the archive at ${closedUrl}: connection refused`,
      });
      const malformed = await post('manager', { source: 'orthanc', study: 'x' });
      expect(malformed.status).toBe(400);
    });

    it('never fetches from an address a request gives: only configured archives, by name (SSRF)', async () => {
      const before = forbidden.length;
      for (const source of [forbiddenUrl, `${forbiddenUrl}/`, 'forbidden', 'orthanc/../x'])
        expect((await post('manager', { source, study })).status, source).toBe(400);
      expect((await post('manager', { source: 'orthanc', study, url: forbiddenUrl })).status).toBe(400);
      expect(forbidden.length).toBe(before);
    });

    it('a series over the size limit fails its job with IMPORT_TOO_LARGE, and leaves nothing behind', async () => {
      const res = await post('admin', { source: 'hostile', study: '1.2.3.1' });
      expect(res.status).toBe(202);
      const { jobs } = (await res.json()) as DicomwebImportAccepted;
      const job = await settled('admin', jobs[0]!.jobId);
      expect(job.state).toBe('failed');
      expect(job.error).toEqual({
        code: 'IMPORT_TOO_LARGE',
        message: `the series is 1000000000000 bytes, over the limit of ${ctx.config.maxUploadBytes}: refused`,
      });
      expect(
        readdirSync(path.join(dir, 'server', 'uploads')).filter((f) => f.startsWith('dicomweb-')),
      ).toEqual([]);
    });
  });
});
