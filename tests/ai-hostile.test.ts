/**
 * Algorithms that misbehave, and what their job's token may do. Here the test itself plays the
 * algorithm behind a real HTTP endpoint (it receives the job, then uses the job's token over HTTP
 * as any algorithm would), and local commands are real processes. Each failure must end its own job
 * with a clear reason, leave nothing behind and change nothing else; the token reads its one slide
 * only, writes nothing but its results, and is dead once the job has ended.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AiJobRequest,
  AiResultsDto,
  AiRunDto,
  AlgorithmDto,
  AuditPage,
  SlideDetailDto,
} from '../protocol/index.ts';
import { aiDb } from '../server/ai/schema.ts';
import { type AiServer, json, register, startAiServer, upload, waitRun } from './helpers/ai.ts';
import { alive } from './helpers/procs.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
let s: AiServer;
let endpoint: Server;
let endpointUrl = '';
let scratch = '';
let slideA = '';
let slideB = '';
/** Jobs handed to the test's endpoint, by path, waiting to be taken. */
const inbox = new Map<string, AiJobRequest[]>();
const waiters = new Map<string, ((j: AiJobRequest) => void)[]>();

function nextJob(mode: string): Promise<AiJobRequest> {
  const q = inbox.get(mode);
  if (q?.length) return Promise.resolve(q.shift()!);
  return new Promise((resolve) => waiters.set(mode, [...(waiters.get(mode) ?? []), resolve]));
}

/** A plain HTTP algorithm endpoint: POST /{mode} accepts the job (202; /refuse answers 500). */
function startEndpoint(): Promise<void> {
  endpoint = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const mode = (req.url ?? '/').slice(1);
      if (mode === 'refuse') {
        res.writeHead(500).end('model server down');
        return;
      }
      const job = JSON.parse(Buffer.concat(chunks).toString()) as AiJobRequest;
      expect(req.headers['tessera-ai-contract']).toBe('1');
      res.writeHead(202).end();
      const w = waiters.get(mode)?.shift();
      if (w) w(job);
      else inbox.set(mode, [...(inbox.get(mode) ?? []), job]);
    });
  });
  return new Promise((r) =>
    endpoint.listen(0, '127.0.0.1', () => {
      endpointUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
      r();
    }),
  );
}

/** Register an algorithm as root and return it. */
async function algo(
  name: string,
  endpointBody: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return register(s, 'root', { name, version: '1', endpoint: endpointBody, timeoutSeconds: 60, ...extra });
}

const http = (mode: string) => ({ kind: 'http', url: `${endpointUrl}/${mode}` });
const node = (script: string, ...args: string[]) => ({
  kind: 'command',
  argv: [process.execPath, '-e', script, ...args],
});

async function runOn(slideId: string, a: AlgorithmDto, user = 'ann'): Promise<AiRunDto> {
  return json<AiRunDto>(
    s.as(user, `/api/slides/${slideId}/ai/runs`, {
      method: 'POST',
      body: JSON.stringify({ algorithmId: a.id }),
    }),
    202,
  );
}

/** fetch with a job's token. */
const withToken = (job: AiJobRequest, url: string, init: RequestInit = {}): Promise<Response> =>
  fetch(url.startsWith('http') ? url : `${s.base}${url}`, {
    ...init,
    headers: {
      authorization: `Bearer ${job.token}`,
      'content-type': 'application/json',
      ...(init.headers ?? {}),
    },
  });

async function findingsStored(runId: string): Promise<number> {
  const db = aiDb(s.ctx.db);
  const f = await db.selectFrom('ai_findings').select('id').where('run_id', '=', runId).execute();
  const h = await db.selectFrom('ai_heatmaps').select('id').where('run_id', '=', runId).execute();
  return f.length + h.length;
}

const square = (x: number, y: number, d: number) => ({
  type: 'Feature',
  geometry: {
    type: 'Polygon',
    coordinates: [
      [
        [x, y],
        [x + d, y],
        [x + d, y + d],
        [x, y + d],
        [x, y],
      ],
    ],
  },
  properties: { objectType: 'detection', classification: { name: 'Tumor' }, measurements: { score: 0.9 } },
});

beforeAll(async () => {
  if (!have) return;
  scratch = mkdtempSync(path.join(tmpdir(), 'tessera-ai-hostile-'));
  s = await startAiServer([
    ['root', 'admin', 'hq'],
    ['ann', 'pathologist', 'north'],
  ]);
  await startEndpoint();
  slideA = await upload(s, 'ann', slidePath('aperio/CMU-1-Small-Region.svs'), 'S26-0001 A1 H&E.svs');
  slideB = await upload(s, 'ann', slidePath('generic-tiff/openslide-boxes.tiff'), 'S26-0002 boxes.tiff');
}, 120_000);

afterAll(async () => {
  await s?.close();
  await new Promise((r) => endpoint?.close(r));
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe.skipIf(!have)('a job token reads its slide only and writes its results only', () => {
  it('reads its slide de-identified through every route; nothing else; a write elsewhere fails the job', async () => {
    const probe = await algo('Probe', http('probe'));
    const run = await runOn(slideA, probe);
    const job = await nextJob('probe');
    expect(job.job.id).toBe(run.id);
    expect(job.slide).toMatchObject({
      id: slideA,
      deidentified: true,
      accession: null,
      width: 2220,
      height: 2967,
    });
    expect(job.slide.name).toMatch(/^AI-[A-Z2-7]{8}$/);
    expect(job.slide.studyCode).toBe(job.slide.name);
    expect(job.slide.stain).toBe('he');
    expect(JSON.stringify(job)).not.toContain('S26-0001');
    expect(Date.parse(job.job.deadline)).toBeGreaterThan(Date.now());

    // Its own slide, as the study code, through the detail, thumbnail, Deep Zoom, IIIF and DICOMweb.
    const detail = await json<SlideDetailDto>(withToken(job, job.urls.slide));
    expect(detail).toMatchObject({ name: job.slide.studyCode, deidentified: true });
    expect(detail.associated).not.toContain('label');
    const thumb = await withToken(job, `${job.urls.thumbnail}?max=64`);
    expect([thumb.status, thumb.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
    expect((await withToken(job, job.urls.dzi)).status).toBe(200);
    expect((await withToken(job, job.urls.dzi.replace(/\.dzi$/, '_files/0/0_0.jpeg'))).status).toBe(200);
    expect((await withToken(job, `${job.urls.iiif}/info.json`)).status).toBe(200);
    expect((await withToken(job, `${job.urls.iiif}/full/64,/0/default.jpg`)).status).toBe(200);
    expect(JSON.stringify(await json(withToken(job, job.urls.iiifManifest)))).toContain(job.slide.studyCode!);
    expect(job.urls.dicomweb).not.toBeNull();
    const meta = await withToken(job, `${job.urls.dicomweb!.series}/metadata`, {
      headers: { accept: 'application/dicom+json' },
    });
    expect(meta.status).toBe(200);
    expect(await meta.text()).toContain(job.slide.studyCode!);

    // Nothing else: another slide (any route), the library, annotations, the label, accounts, searches.
    for (const p of [
      `/api/slides/${slideB}`,
      `/slides/${slideB}.dzi`,
      `/iiif/3/${slideB}/info.json`,
      `/api/slides/${slideB}/thumbnail`,
      '/api/slides',
      `/api/slides/${slideA}/annotations`,
      `/api/slides/${slideA}/associated/label`,
      `/api/slides/${slideA}/ai/results`,
      '/api/auth/me',
      '/api/users',
      '/api/audit',
      '/dicomweb/studies',
    ])
      expect([p, (await withToken(job, p)).status]).toEqual([p, 403]);
    // The tile fast path answers as for a slide the token cannot see.
    expect((await withToken(job, `/slides/${slideB}_files/0/0_0.jpeg`)).status).toBe(404);
    // Reads do not end the job…
    expect((await json<AiRunDto>(s.as('ann', `/api/ai/runs/${run.id}`))).state).toBe('running');
    // …a write outside its results does, and changes nothing.
    const write = await withToken(job, `/api/slides/${slideA}/annotations`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'point', geometry: { points: [[10, 10]] }, classification: null }),
    });
    expect(write.status).toBe(403);
    const failed = await waitRun(s, 'ann', run.id);
    expect(failed).toMatchObject({
      state: 'failed',
      failure: 'out_of_scope',
      error: { code: 'ALGORITHM_FAILED' },
    });
    expect(failed.error!.message).toMatch(/tried to write outside its results: POST \/api\/slides\//);
    expect(
      (await json<{ annotations: unknown[] }>(s.as('ann', `/api/slides/${slideA}/annotations`))).annotations,
    ).toEqual([]);
    // The token ended with the job.
    expect((await withToken(job, job.urls.slide)).status).toBe(401);
    expect(
      (await withToken(job, `${job.urls.results}/complete`, { method: 'POST', body: '{}' })).status,
    ).toBe(401);
    const denied = (await json<AuditPage>(s.as('root', '/api/audit?action=ai.scope_denied&limit=100')))
      .entries;
    expect(denied.filter((e) => e.detail.runId === run.id).length).toBeGreaterThanOrEqual(11);
  });

  it('posting to another slide fails its own job; posting to another job fails its own and spares the other', async () => {
    const a = await algo('Wrong slide', http('wrong'));
    const b = await algo('Neighbour', http('neighbour'));
    const run = await runOn(slideA, a);
    const job = await nextJob('wrong');
    const other = await runOn(slideA, b);
    const otherJob = await nextJob('neighbour');
    // To another slide's URL.
    const res = await withToken(job, `/api/ai/v1/slides/${slideB}/jobs/${job.job.id}/complete`, {
      method: 'POST',
      body: JSON.stringify({ slideResult: { label: 'positive', positive: true } }),
    });
    expect(res.status).toBe(403);
    const failed = await waitRun(s, 'ann', run.id);
    expect(failed.failure).toBe('wrong_slide');
    expect(failed.error!.message).toContain(
      `results for slide ${slideB}, but its job is for slide ${slideA}`,
    );
    expect(await json<AiRunDto[]>(s.as('ann', `/api/slides/${slideB}/ai/runs`))).toEqual([]);
    // The neighbour's token writing to the first job's results: its own job fails, the first is untouched.
    const c = await algo('Meddler', http('meddler'));
    const run3 = await runOn(slideA, c);
    const job3 = await nextJob('meddler');
    const meddle = await withToken(job3, `${otherJob.urls.results}/complete`, { method: 'POST', body: '{}' });
    expect(meddle.status).toBe(403);
    expect((await waitRun(s, 'ann', run3.id)).failure).toBe('out_of_scope');
    expect((await json<AiRunDto>(s.as('ann', `/api/ai/runs/${other.id}`))).state).toBe('running');
    // The neighbour finishes its own job normally.
    expect(
      (
        await withToken(otherJob, `${otherJob.urls.results}/annotations`, {
          method: 'PUT',
          body: JSON.stringify({ type: 'FeatureCollection', features: [square(100, 100, 50)] }),
        })
      ).status,
    ).toBe(200);
    const done = await json<AiRunDto>(
      withToken(otherJob, `${otherJob.urls.results}/complete`, {
        method: 'POST',
        body: JSON.stringify({ slideResult: { label: 'Tumour', score: 0.9, positive: true } }),
      }),
    );
    expect(done.state).toBe('done');
    const layers = (await json<AiResultsDto>(s.as('ann', `/api/slides/${slideA}/ai/results`))).layers;
    expect(layers.map((l) => l.run.id)).toEqual([other.id]);
    expect(layers[0]!.findings.count).toBe(1);
  });
});

describe.skipIf(!have)('hostile and broken answers fail their own job with a clear reason', () => {
  it('a token that keeps reading outside its scope has its job ended after 25 refusals', async () => {
    const a = await algo('Prowler', http('prowler'));
    const run = await runOn(slideA, a);
    const job = await nextJob('prowler');
    for (let i = 0; i < 24; i++) expect((await withToken(job, `/api/slides/${slideB}`)).status).toBe(403);
    expect((await json<AiRunDto>(s.as('ann', `/api/ai/runs/${run.id}`))).state).toBe('running');
    expect((await withToken(job, '/api/slides')).status).toBe(403);
    const failed = await waitRun(s, 'ann', run.id);
    expect([failed.failure, failed.error!.message]).toEqual([
      'out_of_scope',
      'the algorithm made 25 requests outside its scope (the last: GET /api/slides)',
    ]);
    expect((await withToken(job, job.urls.slide)).status).toBe(401);
  });

  it('malformed annotations, heat maps and results: 400 to the algorithm, the job failed, nothing kept', async () => {
    const cases: [string, (job: AiJobRequest) => Promise<Response>, RegExp][] = [
      [
        'bad-geojson',
        (job) =>
          withToken(job, `${job.urls.results}/annotations`, {
            method: 'PUT',
            body: JSON.stringify({
              type: 'FeatureCollection',
              features: [
                square(0, 0, 10),
                {
                  type: 'Feature',
                  geometry: {
                    type: 'Polygon',
                    coordinates: [
                      [
                        [0, 0],
                        [1, 1],
                      ],
                    ],
                  },
                },
              ],
            }),
          }),
        /annotations: 1 feature\(s\) cannot be read, e\.g\. features\[1\]/,
      ],
      [
        'not-json',
        (job) =>
          withToken(job, `${job.urls.results}/annotations`, { method: 'PUT', body: '{"type": "Feature' }),
        /annotations: the body is not JSON/,
      ],
      [
        'bad-heatmap',
        (job) =>
          withToken(job, `${job.urls.results}/heatmaps/tumour`, {
            method: 'PUT',
            body: JSON.stringify({
              width: 100,
              height: 100,
              encoding: 'float32',
              data: Buffer.alloc(100 * 100 * 4).toString('base64'),
            }),
          }),
        /heat map tumour: 100x100 does not have the shape of its region \(2220x2967\)/,
      ],
      [
        'short-heatmap',
        (job) =>
          withToken(job, `${job.urls.results}/heatmaps/tumour`, {
            method: 'PUT',
            body: JSON.stringify({
              width: 3,
              height: 4,
              encoding: 'float32',
              data: Buffer.alloc(8).toString('base64'),
            }),
          }),
        /8 bytes of float32 data for 3x4 \(expected 48\)/,
      ],
      [
        'bad-result',
        (job) =>
          withToken(job, `${job.urls.results}/complete`, {
            method: 'POST',
            body: JSON.stringify({ slideResult: { label: 5 } }),
          }),
        /slideResult\.label/,
      ],
    ];
    for (const [mode, act, why] of cases) {
      const a = await algo(`Malformed ${mode}`, http(mode));
      const run = await runOn(slideA, a);
      const job = await nextJob(mode);
      // A good part first: a failed run keeps nothing of it.
      expect(
        (
          await withToken(job, `${job.urls.results}/annotations`, {
            method: 'PUT',
            body: JSON.stringify({ type: 'FeatureCollection', features: [square(10, 10, 20)] }),
          })
        ).status,
      ).toBe(200);
      const res = await act(job);
      expect([mode, res.status]).toEqual([mode, 400]);
      const failed = await waitRun(s, 'ann', run.id);
      expect([mode, failed.failure]).toEqual([mode, 'malformed']);
      expect(failed.error!.message).toMatch(why);
      expect(await findingsStored(run.id)).toBe(0);
      expect((await withToken(job, job.urls.slide)).status).toBe(401);
    }
  });

  it('a huge body is refused (413), fails the job, and the server goes on serving', async () => {
    const a = await algo('Huge', http('huge'));
    const run = await runOn(slideA, a);
    const job = await nextJob('huge');
    const big = `{"type":"FeatureCollection","features":[],"pad":"${'x'.repeat(21 * 1024 * 1024)}"}`;
    const res = await withToken(job, `${job.urls.results}/annotations`, { method: 'PUT', body: big });
    expect(res.status).toBe(413);
    const failed = await waitRun(s, 'ann', run.id);
    expect(failed.failure).toBe('too_large');
    expect(failed.error!.message).toMatch(/annotations over the limit of 20971520 bytes/);
    expect((await s.as('ann', `/api/slides/${slideA}`)).status).toBe(200);
  });

  it('slow: no results before the deadline is a timeout, and its token ends', async () => {
    const a = await algo('Slow', http('slow'), { timeoutSeconds: 5 });
    const run = await runOn(slideA, a);
    const job = await nextJob('slow');
    expect((await withToken(job, job.urls.slide)).status).toBe(200);
    const t0 = Date.now();
    const failed = await waitRun(s, 'ann', run.id, 30_000);
    expect(failed.failure).toBe('timeout');
    expect(failed.error!.message).toBe("no results within the algorithm's 5 s");
    expect(Date.now() - t0).toBeLessThan(9000);
    expect((await withToken(job, job.urls.slide)).status).toBe(401);
    // A late answer is refused.
    expect(
      (await withToken(job, `${job.urls.results}/complete`, { method: 'POST', body: '{}' })).status,
    ).toBe(401);
  });

  it('a command that crashes, exits without results or hangs; an endpoint that is down or refuses; a reported failure', async () => {
    const pidFile = path.join(scratch, 'hang.pid');
    const envFile = path.join(scratch, 'env.json');
    process.env.TESSERA_TEST_SECRET = 'must not reach algorithms';
    // A port nothing listens on (one that was just free).
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const cases: [string, Record<string, unknown>, Record<string, unknown>, string, RegExp][] = [
      [
        'crash',
        node("process.stderr.write('loading weights\\nmodel file missing\\n'); process.exit(3)"),
        {},
        'crashed',
        /^the algorithm's command exited with code 3: model file missing$/,
      ],
      [
        'silent',
        node("require('fs').writeFileSync(process.argv[1], JSON.stringify(process.env))", envFile),
        {},
        'crashed',
        /exited without posting its results/,
      ],
      [
        'hang',
        node(
          "require('fs').writeFileSync(process.argv[1], String(process.pid)); setInterval(() => {}, 1000)",
          pidFile,
        ),
        { timeoutSeconds: 5 },
        'timeout',
        /no results within/,
      ],
      ['missing', { kind: 'command', argv: ['/nonexistent/model-server'] }, {}, 'crashed', /ENOENT/],
      [
        'down',
        { kind: 'http', url: `http://127.0.0.1:${deadPort}/jobs` },
        {},
        'unreachable',
        /could not be reached: ECONNREFUSED/,
      ],
      ['refuse', http('refuse'), {}, 'unreachable', /refused the job: HTTP 500 model server down/],
    ];
    const runs = await Promise.all(
      cases.map(async ([mode, ep, extra]) => runOn(slideA, await algo(`Broken ${mode}`, ep, extra))),
    );
    for (const [i, [mode, , , failure, why]] of cases.entries()) {
      const failed = await waitRun(s, 'ann', runs[i]!.id, 30_000);
      expect([mode, failed.state, failed.failure]).toEqual([mode, 'failed', failure]);
      expect(failed.error!.message).toMatch(why);
    }
    // The hanging command was killed at its deadline.
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(false);
    // A command gets no secrets of the server's environment.
    expect(existsSync(envFile)).toBe(true);
    const env = JSON.parse(readFileSync(envFile, 'utf8')) as Record<string, string>;
    expect(env.TESSERA_TEST_SECRET).toBeUndefined();
    expect(
      Object.keys(env).every((k) => ['PATH', 'HOME', 'LANG', 'TZ', 'TESSERA_AI_CONTRACT'].includes(k)),
    ).toBe(true);
    // The algorithm says it failed.
    const a = await algo('Honest', http('honest'));
    const run = await runOn(slideA, a);
    const job = await nextJob('honest');
    expect(
      (
        await withToken(job, `${job.urls.results}/fail`, {
          method: 'POST',
          body: JSON.stringify({ message: 'out of GPU memory' }),
        })
      ).status,
    ).toBe(204);
    const reported = await waitRun(s, 'ann', run.id);
    expect([reported.failure, reported.error!.message]).toEqual([
      'reported',
      'the algorithm reported: out of GPU memory',
    ]);
    // Every failure is audited with its reason.
    const fails = (await json<AuditPage>(s.as('root', '/api/audit?action=ai.run_fail&limit=200'))).entries;
    for (const r of [...runs, run]) expect(fails.some((e) => e.detail.runId === r.id)).toBe(true);
    // None of it left a layer behind, nor touched the pathologists' annotations.
    const layers = (await json<AiResultsDto>(s.as('ann', `/api/slides/${slideA}/ai/results`))).layers;
    expect(layers.every((l) => l.run.algorithm.name === 'Neighbour')).toBe(true);
    expect(
      (await json<{ annotations: unknown[] }>(s.as('ann', `/api/slides/${slideA}/annotations`))).annotations,
    ).toEqual([]);
  });

  it('a queued run of an algorithm disabled before it starts fails as disabled', async () => {
    const a = await algo('Busy', http('busy'), { concurrency: 1 });
    const first = await runOn(slideA, a);
    await nextJob('busy');
    const second = await runOn(slideB, a);
    expect((await json<AiRunDto>(s.as('ann', `/api/ai/runs/${second.id}`))).state).toBe('queued');
    await json(
      s.as('root', `/api/ai/algorithms/${a.id}`, {
        method: 'PATCH',
        body: JSON.stringify({ enabled: false }),
      }),
    );
    const failed = await waitRun(s, 'ann', second.id);
    expect(failed.failure).toBe('disabled');
    expect((await json<AiRunDto>(s.as('root', `/api/ai/runs/${first.id}`))).state).toBe('running');
  });
});
