import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobDto, Manifest } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { FAILURE } from '../server/dicom-in/stow.ts';
import { type SlideStore, createStore, ingest, readDicomHeader } from '../tiles/index.ts';
import { StoredSlide } from '../tiles/serve/index.ts';
import { SLIDE_FILE } from '../tiles/store/types.ts';
import { userWithToken } from './helpers/auth.ts';
import { type Orthanc, requireOrthanc, startOrthanc, storeAll } from './helpers/orthanc.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

/**
 * STOW-RS in. A WSI series pushed to POST /dicomweb/studies (by this test, and by
 * Orthanc's DICOMweb client, which splits a series over several requests) becomes one slide through
 * an ingest job like an upload's, whose level 0 is pixel for pixel a direct ingest of the same
 * instances; the answer says which instances were taken and which were not, and why; only users
 * who may upload may push, within the upload size limit, and nothing pushed is left behind.
 */

const SERIES_DIR = 'dicom/cmu-1-small-region-wsi2dcm';
const MAX_BYTES = 8 * 1024 * 1024;
const have = requireSlides();
const withOrthanc = have && requireOrthanc('STOW-RS from Orthanc');

let dir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tokens: Record<string, string> = {};
/** The sample series' files, and their direct ingest in a store of its own. */
const sample: { name: string; data: Buffer; sop: string }[] = [];
let study = '';
let direct: { store: SlideStore; manifest: Manifest };

type Item = Record<string, { vr: string; Value?: unknown[] }>;
type StowAnswer = { '00081199'?: { Value: Item[] }; '00081198'?: { Value: Item[] } };

const as = (user: string, p: string, init: RequestInit = {}): Promise<Response> => {
  const headers = new Headers(init.headers);
  if (tokens[user]) headers.set('authorization', `Bearer ${tokens[user]}`);
  return fetch(`${base}${p}`, { ...init, headers });
};

/** A STOW-RS request body: each buffer one application/dicom part. */
function related(parts: Buffer[], boundary = 'stow-test-boundary'): { body: Buffer; type: string } {
  const chunks: Buffer[] = [];
  for (const p of parts)
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      p,
      Buffer.from('\r\n'),
    );
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: Buffer.concat(chunks),
    type: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}

async function stow(user: string, parts: Buffer[], p = '/dicomweb/studies'): Promise<Response> {
  const { body, type } = related(parts);
  return as(user, p, { method: 'POST', body: new Uint8Array(body), headers: { 'content-type': type } });
}

const uids = (items: Item[] | undefined, tag: string): unknown[] =>
  (items ?? []).map((i) => i[tag]?.Value?.[0]);

function jobsOf(res: Response): string[] {
  return [...(res.headers.get('link') ?? '').matchAll(/<\/api\/jobs\/([0-9a-f-]{36})>; rel="monitor"/g)].map(
    (m) => m[1]!,
  );
}

async function settled(user: string, jobId: string): Promise<JobDto> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const job = (await (await as(user, `/api/jobs/${jobId}`)).json()) as JobDto;
    if (job.state === 'done' || job.state === 'failed') return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.state} (${job.stage})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Level 0 tiles of a stored slide, decoded. */
async function level0(store: SlideStore, id: string): Promise<{ manifest: Manifest; tiles: Buffer[] }> {
  const manifest = (await store.manifest(id))!;
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

async function expectSameLevel0(a: { store: SlideStore; id: string }, b: { store: SlideStore; id: string }) {
  const x = await level0(a.store, a.id);
  const y = await level0(b.store, b.id);
  expect(y.manifest.levelInfo[0]).toEqual(x.manifest.levelInfo[0]);
  expect([y.manifest.width, y.manifest.height]).toEqual([x.manifest.width, x.manifest.height]);
  expect(y.tiles.length).toBe(x.tiles.length);
  expect(y.tiles.filter((t, i) => !t.equals(x.tiles[i]!)).length, 'level-0 tiles that differ').toBe(0);
}

function staged(): string[] {
  const up = path.join(dir, 'data', 'uploads');
  return existsSync(up) ? readdirSync(up).filter((f) => f.startsWith('stow-')) : [];
}

/** Wait until nothing pushed is waiting to settle or being converted. */
async function drained(): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (staged().length) {
    if (Date.now() > deadline) throw new Error(`still staged: ${staged().join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await ctx.queue.idle();
}

describe.skipIf(!have)('STOW-RS: POST /dicomweb/studies', () => {
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tessera-stow-'));
    ctx = await createServerContext(
      loadConfig(
        {
          dataDir: path.join(dir, 'data'),
          port: 0,
          host: '127.0.0.1',
          stowSettleSeconds: '0.5',
          maxUploadBytes: String(MAX_BYTES),
        },
        {},
      ),
      () => {},
    );
    for (const [name, role, site] of [
      ['path-n', 'pathologist', 'north'],
      ['path-s', 'pathologist', 'south'],
      ['spec', 'specialist', 'south'],
    ] as const)
      tokens[name] = (await userWithToken(ctx.db, { name, role, siteId: site })).token;
    server = createServer(createHandler(ctx, createApp(ctx)));
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const f of readdirSync(slidePath(SERIES_DIR))
      .filter((x) => x.endsWith('.dcm'))
      .sort()) {
      const file = path.join(slidePath(SERIES_DIR), f);
      sample.push({ name: f, data: readFileSync(file), sop: (await readDicomHeader(file)).sopInstanceUid! });
    }
    study = (await readDicomHeader(path.join(slidePath(SERIES_DIR), sample[0]!.name))).studyUid!;
    const store = createStore({ kind: 'local', root: path.join(dir, 'direct') });
    const { manifest } = await ingest(slidePath(SERIES_DIR), store, { tileSize: 512, jpegQuality: 92 });
    direct = { store, manifest };
  }, 120_000);

  afterAll(async () => {
    await ctx?.queue.idle();
    if (server) await new Promise((r) => server.close(r));
    await ctx?.tiles.close();
    await ctx?.db.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a series pushed in one request: every instance referenced, one job, a slide whose level 0 is the direct ingest', async () => {
    const res = await stow(
      'path-n',
      sample.map((s) => s.data),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/dicom\+json/);
    const answer = (await res.json()) as StowAnswer;
    expect(answer['00081198']).toBeUndefined();
    expect(uids(answer['00081199']?.Value, '00081155').sort()).toEqual(sample.map((s) => s.sop).sort());
    expect(new Set(uids(answer['00081199']?.Value, '00081150'))).toEqual(
      new Set(['1.2.840.10008.5.1.4.1.1.77.1.6']),
    );
    const jobs = jobsOf(res);
    expect(jobs).toHaveLength(1);
    const job = await settled('path-n', jobs[0]!);
    expect(job.error).toBeNull();
    expect(job.state).toBe('done');
    await expectSameLevel0(
      { store: direct.store, id: direct.manifest.id },
      { store: ctx.store, id: job.slideId! },
    );
    const lib = (await (await as('path-n', '/api/slides?cursor=')).json()) as { items: { id: string }[] };
    expect(lib.items.map((s) => s.id)).toContain(job.slideId);
    const audit = await ctx.db.selectFrom('audit').selectAll().where('action', '=', 'slide.stow').execute();
    expect(audit.length).toBeGreaterThan(0);
    expect(JSON.parse(audit.at(-1)!.detail)).toMatchObject({ instances: 12, failed: 0, jobs });
    await drained();
    expect(staged()).toEqual([]);
  }, 120_000);

  it('a series pushed over three requests (as routers do) is still one slide, under one job', async () => {
    await drained();
    const before = (await ctx.jobs.recent(1000)).length;
    const answers: Response[] = [];
    for (const chunk of [sample.slice(0, 5), sample.slice(5, 9), sample.slice(9)])
      answers.push(
        await stow(
          'path-s',
          chunk.map((s) => s.data),
        ),
      );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    const jobs = new Set(answers.flatMap(jobsOf));
    expect(jobs.size).toBe(1);
    const job = await settled('path-s', [...jobs][0]!);
    expect(job.state).toBe('done');
    expect((await ctx.jobs.recent(1000)).length).toBe(before + 1);
    // The same content as the first push: south now owns it too, under its own name.
    const lib = (await (await as('path-s', '/api/slides?cursor=')).json()) as { items: { id: string }[] };
    expect(lib.items.map((s) => s.id)).toEqual([job.slideId]);
    await expectSameLevel0(
      { store: direct.store, id: direct.manifest.id },
      { store: ctx.store, id: job.slideId! },
    );
  }, 120_000);

  it('a request that pauses longer than the settle time between instances of its series still makes one slide', async () => {
    await drained();
    const before = (await ctx.jobs.recent(1000)).length;
    const { body, type } = related(sample.map((s) => s.data));
    // The body up to the sixth part now, the rest after three settle times: a large instance
    // arriving slowly looks the same from here.
    const cut = body.indexOf(
      Buffer.from('--stow-test-boundary'),
      sample.slice(0, 6).reduce((n, s) => n + s.data.length, 0),
    );
    expect(cut).toBeGreaterThan(0);
    const stream = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(new Uint8Array(body.subarray(0, cut)));
        await new Promise((r) => setTimeout(r, 1500));
        c.enqueue(new Uint8Array(body.subarray(cut)));
        c.close();
      },
    });
    const res = await as('path-n', '/dicomweb/studies', {
      method: 'POST',
      body: stream,
      headers: { 'content-type': type },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    const jobs = jobsOf(res);
    expect(jobs).toHaveLength(1);
    const job = await settled('path-n', jobs[0]!);
    expect(job.state).toBe('done');
    expect((await ctx.jobs.recent(1000)).length).toBe(before + 1);
    await expectSameLevel0(
      { store: direct.store, id: direct.manifest.id },
      { store: ctx.store, id: job.slideId! },
    );
  }, 120_000);

  it('what cannot be taken is in the Failed SOP Sequence with its reason: 202 when some were taken, 409 when none', async () => {
    await drained();
    const notDicom = Buffer.from('this is not a DICOM file');
    // A Secondary Capture-like object: a copy of one slide instance with another SOP class.
    const sc = Buffer.from(sample[11]!.data);
    const at = sc.indexOf('1.2.840.10008.5.1.4.1.1.77.1.6');
    expect(at).toBeGreaterThan(0);
    sc.write('1.2.840.10008.5.1.4.1.1.7\0\0\0\0\0', at, 'latin1');
    const sc2 = Buffer.from(sc);
    const at2 = sc2.indexOf('1.2.840.10008.5.1.4.1.1.77.1.6', at + 10);
    if (at2 > 0) sc2.write('1.2.840.10008.5.1.4.1.1.7\0\0\0\0\0', at2, 'latin1');
    const mixed = await stow('path-n', [sample[10]!.data, notDicom, sc2]);
    expect(mixed.status).toBe(202);
    const a = (await mixed.json()) as StowAnswer;
    expect(uids(a['00081199']?.Value, '00081155')).toEqual([sample[10]!.sop]);
    expect(uids(a['00081198']?.Value, '00081197')).toEqual([
      FAILURE.CANNOT_UNDERSTAND,
      FAILURE.SOP_CLASS_NOT_SUPPORTED,
    ]);
    // Under another study's path, none is taken.
    const wrongStudy = await stow('path-n', [sample[11]!.data], '/dicomweb/studies/1.2.3.4');
    expect(wrongStudy.status).toBe(409);
    const w = (await wrongStudy.json()) as StowAnswer;
    expect(w['00081199']).toBeUndefined();
    expect(uids(w['00081198']?.Value, '00081197')).toEqual([FAILURE.STUDY_MISMATCH]);
    expect(uids(w['00081198']?.Value, '00081155')).toEqual([sample[11]!.sop]);
    // Under its own study's path it is taken.
    expect((await stow('path-n', [sample[11]!.data], `/dicomweb/studies/${study}`)).status).toBe(200);
    await drained();
  }, 120_000);

  it('only users who may upload; a STOW-RS media type; the size limit; a malformed body; nothing left behind', async () => {
    await drained();
    const { body, type } = related([sample[0]!.data]);
    const post = (user: string, init: RequestInit) =>
      as(user, '/dicomweb/studies', { method: 'POST', ...init });
    expect(
      (await post('nobody', { body: new Uint8Array(body), headers: { 'content-type': type } })).status,
    ).toBe(401);
    const spec = await post('spec', { body: new Uint8Array(body), headers: { 'content-type': type } });
    expect(spec.status).toBe(403);
    const json = await post('path-n', { body: '[]', headers: { 'content-type': 'application/dicom+json' } });
    expect(json.status).toBe(415);
    const other = await post('path-n', {
      body: new Uint8Array(body),
      headers: { 'content-type': type.replace('application/dicom', 'application/dicom+xml') },
    });
    expect(other.status).toBe(415);
    const big = related([Buffer.alloc(MAX_BYTES + 1024, 1)]);
    const tooBig = await post('path-n', {
      body: new Uint8Array(big.body),
      headers: { 'content-type': big.type },
    });
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as { code: string }).code).toBe('UPLOAD_TOO_LARGE');
    const cut = await post('path-n', {
      body: new Uint8Array(body.subarray(0, body.length - 30)),
      headers: { 'content-type': type },
    });
    expect(cut.status).toBe(400);
    expect(((await cut.json()) as { message: string }).message).toMatch(/^malformed STOW-RS body/);
    const empty = await post('path-n', {
      body: `--x--\r\n`,
      headers: { 'content-type': 'multipart/related; boundary=x' },
    });
    expect(empty.status).toBe(400);
    await drained();
    expect(staged()).toEqual([]);
  });

  describe.skipIf(!withOrthanc)("Orthanc's DICOMweb client as the sender", () => {
    let orthanc: Orthanc;
    let cmu: Manifest;
    let orthancStudy = '';
    let exported = 0;

    beforeAll(async () => {
      ({ manifest: cmu } = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
        tileSize: 256,
        jpegQuality: 92,
      }));
      await ctx.slides.register(cmu, 'north');
      const res = await as('path-n', `/api/slides/${cmu.id}/export?format=dicom`);
      expect(res.status).toBe(200);
      writeFileSync(path.join(dir, 'export.zip'), Buffer.from(await res.arrayBuffer()));
      execFileSync('unzip', ['-q', '-o', path.join(dir, 'export.zip'), '-d', path.join(dir, 'export')]);
      const files: Buffer[] = [];
      for (const folder of readdirSync(path.join(dir, 'export')))
        for (const f of readdirSync(path.join(dir, 'export', folder)))
          files.push(readFileSync(path.join(dir, 'export', folder, f)));
      exported = files.length;
      orthanc = await startOrthanc({
        dicomwebServers: {
          tessera: { Url: `${base}/dicomweb/`, HttpHeaders: { Authorization: `Bearer ${tokens['path-s']}` } },
        },
      });
      await storeAll(orthanc, files);
      orthancStudy = (await orthanc.rest<string[]>('/studies'))[0]!;
    }, 120_000);

    afterAll(async () => {
      await orthanc?.stop();
    });

    it("Orthanc sends Tessera's own export back over STOW-RS: one slide, level 0 the original's pixels", async () => {
      await drained();
      const before = new Set((await ctx.jobs.recent(1000)).map((j) => j.id));
      const stowAudit = () =>
        ctx.db
          .selectFrom('audit')
          .selectAll()
          .where('action', '=', 'slide.stow')
          .where('user_name', '=', 'path-s')
          .execute();
      const auditBefore = (await stowAudit()).length;
      const sent = await orthanc
        .rest<Record<string, unknown>>('/dicom-web/servers/tessera/stow', {
          method: 'POST',
          body: JSON.stringify({ Resources: [orthancStudy] }),
        })
        .catch((e: unknown) => {
          throw new Error(`${String(e)}\n${orthanc.child.stderrTail()}`);
        });
      expect(sent).toBeTruthy();
      const jobs = (await ctx.jobs.recent(1000)).filter((j) => !before.has(j.id));
      expect(jobs).toHaveLength(1);
      const job = await settled('path-s', jobs[0]!.id);
      expect(job.error).toBeNull();
      expect(job.state).toBe('done');
      expect(job.slideId).not.toBe(cmu.id);
      const stored = (await ctx.store.manifest(job.slideId!))!;
      expect(stored.sourceFormat).toBe('dicom');
      // The label and overview instances came too.
      expect(stored.associated).toEqual(expect.arrayContaining(['label', 'macro']));
      await expectSameLevel0({ store: ctx.store, id: cmu.id }, { store: ctx.store, id: job.slideId! });
      const audit = await stowAudit();
      // Orthanc's DICOMweb plugin 1.7 sends a study in one request (later ones split it, which the
      // three-request test above covers).
      expect(audit.map((a) => (JSON.parse(a.detail) as { instances: number }).instances).slice(-1)).toEqual([
        exported,
      ]);
      expect(audit.length).toBe(auditBefore + 1);
      await drained();
      expect(staged()).toEqual([]);
    }, 120_000);
  });
});
