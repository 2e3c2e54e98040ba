/**
 * The reference algorithm end to end, as a process of its own speaking the contract over HTTP (and
 * once as a local command): registered by an administrator, run automatically when a sample slide
 * is uploaded, its tissue regions covering a sane share of the slide and its heat map aligned with
 * it, results shown as a layer of the slide's own site only, verdicts recorded and audited, its
 * token revoked once the job ended, and its results hidden while the algorithm is disabled.
 * Real server over HTTP, real processes, real SQLite (PostgreSQL in test:postgres).
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AiFindingsDto,
  AiResultsDto,
  AiRunDto,
  AlgorithmDto,
  AuditPage,
  SlideDto,
  VerdictDto,
} from '../protocol/index.ts';
import {
  type AiServer,
  REFERENCE_COMMAND,
  json,
  register,
  ringArea,
  startAiServer,
  startReference,
  upload,
  waitRun,
} from './helpers/ai.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';
import { aiDb } from '../server/ai/schema.ts';

const have = requireSlides();
let s: AiServer;
let ref: Awaited<ReturnType<typeof startReference>>;
let tissue: AlgorithmDto;
let local: AlgorithmDto;
let dicomOnly: AlgorithmDto;
let slideId = '';
let run: AiRunDto;

beforeAll(async () => {
  if (!have) return;
  s = await startAiServer([
    ['root', 'admin', 'hq'],
    ['ann', 'pathologist', 'north'],
    ['lab', 'lab_manager', 'north'],
    ['bob', 'pathologist', 'south'],
  ]);
  ref = await startReference();
  tissue = await register(s, 'root', {
    name: 'Tissue reference',
    version: '1.0.0',
    description: 'tissue regions and haematoxylin density',
    endpoint: { kind: 'http', url: `${ref.url}/jobs` },
    trigger: 'automatic',
    timeoutSeconds: 120,
  });
  local = await register(s, 'root', {
    name: 'Tissue reference',
    version: '1.0.0-local',
    endpoint: { kind: 'command', argv: REFERENCE_COMMAND },
    trigger: 'on_request',
    identifiedData: true,
    timeoutSeconds: 120,
  });
  dicomOnly = await register(s, 'root', {
    name: 'DICOM only',
    version: '1',
    endpoint: { kind: 'http', url: `${ref.url}/jobs` },
    appliesTo: { formats: ['dicom'] },
    trigger: 'automatic',
  });
  slideId = await upload(s, 'ann', slidePath('aperio/CMU-1-Small-Region.svs'), 'CMU-1 Small Region.svs');
}, 180_000);

afterAll(async () => {
  await ref?.stop();
  await s?.close();
});

describe.skipIf(!have)('the reference algorithm, end to end', () => {
  it('runs automatically once the upload is stored (and an algorithm for other formats does not)', async () => {
    const runs = await json<AiRunDto[]>(s.as('ann', `/api/slides/${slideId}/ai/runs`));
    expect(runs.map((r) => r.algorithm.id)).toEqual([tissue.id]);
    expect(runs[0]).toMatchObject({ trigger: 'automatic', requestedBy: null, deidentified: true });
    run = await waitRun(s, 'ann', runs[0]!.id, 90_000);
    expect(run.error).toBeNull();
    expect(run).toMatchObject({ state: 'done', percent: 100, failure: null });
    expect(Date.parse(run.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(run.startedAt!));
    // The run is a job like an upload: GET /api/jobs/{id} (its runs queued automatically have no requester: admins).
    const job = await json<{ state: string; percent: number }>(s.as('root', `/api/jobs/${run.id}`));
    expect(job).toMatchObject({ state: 'done', percent: 100 });
    expect(runs.some((r) => r.algorithm.id === dicomOnly.id)).toBe(false);
  });

  it('its tissue regions cover a sane share of the slide; the slide-level result says the same', async () => {
    const results = await json<AiResultsDto>(s.as('ann', `/api/slides/${slideId}/ai/results`));
    expect(results.layers).toHaveLength(1);
    const layer = results.layers[0]!;
    expect(layer.run.algorithm).toEqual({
      id: tissue.id,
      name: 'Tissue reference',
      version: '1.0.0',
      enabled: true,
    });
    const f = await json<AiFindingsDto>(s.as('ann', layer.findings.url));
    expect(f.findings.length).toBe(layer.findings.count);
    expect(f.findings.length).toBeGreaterThan(0);
    let area = 0;
    for (const finding of f.findings) {
      expect(finding.classification?.name).toBe('Tissue');
      expect(finding.score).toBeGreaterThan(0);
      expect(finding.score).toBeLessThanOrEqual(1);
      const g = finding.geometry as { points: number[][]; holes?: number[][][] };
      const closed = (r: number[][]) => [...r, r[0]!];
      area += ringArea(closed(g.points)) - (g.holes ?? []).reduce((a, h) => a + ringArea(closed(h)), 0);
      for (const [x, y] of g.points) {
        expect(x).toBeGreaterThanOrEqual(0);
        expect(x).toBeLessThanOrEqual(2220);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThanOrEqual(2967);
      }
    }
    // CMU-1-Small-Region: a strip of skin on glass, about a third of the picture.
    const share = area / (2220 * 2967);
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.6);
    expect(layer.slideResult).toMatchObject({ label: 'Tissue present', positive: true });
    expect(layer.slideResult!.score!).toBeCloseTo(share, 1);
    expect(layer.findings.scoreRange![0]).toBeLessThanOrEqual(layer.findings.scoreRange![1]);
    // A threshold leaves out the findings below it.
    const top = Math.max(...f.findings.map((x) => x.score!));
    const above = await json<AiFindingsDto>(s.as('ann', `${layer.findings.url}?minScore=${top}`));
    expect(above.findings.every((x) => x.score! >= top)).toBe(true);
    expect(above.findings.length).toBeLessThan(f.findings.length + 1);
    // The same findings as QuPath GeoJSON.
    const geo = (await (await s.as('ann', `${layer.findings.url}?format=geojson`)).json()) as {
      features: unknown[];
    };
    expect(geo.features).toHaveLength(f.findings.length);
  });

  it('its heat map is aligned with the slide: its region is the slide, its cells square, its PNG that size', async () => {
    const results = await json<AiResultsDto>(s.as('ann', `/api/slides/${slideId}/ai/results`));
    const [h] = results.layers[0]!.heatmaps;
    expect(h).toMatchObject({
      name: 'haematoxylin',
      region: { x: 0, y: 0, width: 2220, height: 2967 },
      range: [0, 1],
    });
    expect(Math.max(h!.width, h!.height)).toBe(256);
    expect(Math.abs(h!.width - (2220 * h!.height) / 2967)).toBeLessThanOrEqual(1);
    const res = await s.as('ann', h!.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await res.arrayBuffer());
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([h!.width, h!.height, 1]);
    // Glass is 0, stained tissue is not.
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBe(0);
    expect(data.reduce((m, v) => Math.max(m, v), 0)).toBeGreaterThan(30);
  });

  it('the algorithm read the slide with its own token, de-identified, and its token ended with the job', async () => {
    const audit = await json<AuditPage>(s.as('root', `/api/audit?slide=${slideId}&limit=1000`));
    const byAlgo = audit.entries.filter((e) => e.userName === 'ai:Tissue reference@1.0.0');
    expect(byAlgo.some((e) => e.action === 'slide.view')).toBe(true);
    const actions = new Set(
      (await json<AuditPage>(s.as('root', `/api/audit?action=ai.*&limit=1000`))).entries.map((e) => e.action),
    );
    for (const a of [
      'ai.algorithm_create',
      'ai.run_queue',
      'ai.run_start',
      'ai.results_annotations',
      'ai.results_heatmap',
      'ai.run_done',
    ])
      expect(actions).toContain(a);
    const start = audit.entries.find((e) => e.action === 'ai.run_start' && e.detail.runId === run.id)!;
    expect(start.detail).toMatchObject({ deidentified: true });
    expect(String(start.detail.studyCode)).toMatch(/^AI-[A-Z2-7]{8}$/);
    const row = await aiDb(s.ctx.db)
      .selectFrom('tokens')
      .innerJoin('ai_runs', 'ai_runs.token_id', 'tokens.id')
      .select(['tokens.revoked_at', 'tokens.expires_at', 'tokens.scope'])
      .where('ai_runs.id', '=', run.id)
      .executeTakeFirstOrThrow();
    expect(row.revoked_at).not.toBeNull();
    expect(Date.parse(row.revoked_at!)).toBeLessThanOrEqual(Date.parse(run.finishedAt!) + 5000);
    expect(JSON.parse(row.scope!)).toMatchObject({ slideId, deidentified: true, jobId: run.id });
  });

  it('the local command version runs on request, identified, and finds the same regions', async () => {
    const asked = await json<AiRunDto>(
      s.as('ann', `/api/slides/${slideId}/ai/runs`, {
        method: 'POST',
        body: JSON.stringify({ algorithmId: local.id }),
      }),
      202,
    );
    expect(asked).toMatchObject({ state: 'queued', trigger: 'request', deidentified: false });
    expect(asked.requestedBy?.id).toBe(s.ids.ann);
    const done = await waitRun(s, 'ann', asked.id, 90_000);
    expect(done.error).toBeNull();
    expect(done.state).toBe('done');
    const layers = (await json<AiResultsDto>(s.as('ann', `/api/slides/${slideId}/ai/results`))).layers;
    expect(layers.map((l) => l.run.algorithm.version)).toEqual(['1.0.0-local', '1.0.0']);
    // The same slide, within a few pixels of tissue: the two runs fetched the thumbnail at different
    // times, and its rendering is not promised to be the same bytes each time.
    expect(layers[0]!.findings.count).toBe(layers[1]!.findings.count);
    const [cmd, http] = [layers[0]!.slideResult!, layers[1]!.slideResult!];
    expect([cmd.label, cmd.positive]).toEqual([http.label, http.positive]);
    expect(Math.abs(cmd.score! - http.score!)).toBeLessThan(0.01);
    // Nobody may ask for a run on a slide they cannot see…
    expect(
      (
        await s.as('bob', `/api/slides/${slideId}/ai/runs`, {
          method: 'POST',
          body: JSON.stringify({ algorithmId: local.id }),
        })
      ).status,
    ).toBe(404);
    // …and an algorithm that does not apply is refused with the reason.
    const refused = await s.as('ann', `/api/slides/${slideId}/ai/runs`, {
      method: 'POST',
      body: JSON.stringify({ algorithmId: dicomOnly.id }),
    });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toMatch(
      /applies to dicom slides, not aperio-svs/,
    );
  });

  it('results are the slide site’s: another site’s pathologist cannot see them, even with the run id', async () => {
    expect((await s.as('bob', `/api/slides/${slideId}/ai/results`)).status).toBe(404);
    expect((await s.as('bob', `/api/ai/runs/${run.id}/findings`)).status).toBe(404);
    // South uploads the same file: its own copy, its own automatic run, not north's results.
    await upload(s, 'bob', slidePath('aperio/CMU-1-Small-Region.svs'), 'south copy.svs');
    const south = await json<AiRunDto[]>(s.as('bob', `/api/slides/${slideId}/ai/runs`));
    expect(south).toHaveLength(1);
    expect(south[0]!.id).not.toBe(run.id);
    await waitRun(s, 'bob', south[0]!.id, 90_000);
    const layers = (await json<AiResultsDto>(s.as('bob', `/api/slides/${slideId}/ai/results`))).layers;
    expect(layers.map((l) => l.run.id)).toEqual([south[0]!.id]);
  });

  it('verdicts: a pathologist accepts the slide result and rejects a finding; stored, listed, audited', async () => {
    const f = await json<AiFindingsDto>(s.as('ann', `/api/ai/runs/${run.id}/findings`));
    const finding = f.findings[0]!;
    const slideV = await json<VerdictDto>(
      s.as('ann', `/api/ai/runs/${run.id}/verdicts/slide`, {
        method: 'PUT',
        body: JSON.stringify({ verdict: 'accept' }),
      }),
    );
    expect(slideV).toMatchObject({ target: 'slide', verdict: 'accept', userName: 'ann', comment: null });
    const findingV = await json<VerdictDto>(
      s.as('ann', `/api/ai/runs/${run.id}/verdicts/findings/${finding.id}`, {
        method: 'PUT',
        body: JSON.stringify({ verdict: 'reject', comment: 'pen mark, not tissue' }),
      }),
    );
    expect(findingV).toMatchObject({
      target: finding.id,
      verdict: 'reject',
      comment: 'pen mark, not tissue',
    });
    // Judging again replaces the verdict.
    await json(
      s.as('ann', `/api/ai/runs/${run.id}/verdicts/slide`, {
        method: 'PUT',
        body: JSON.stringify({ verdict: 'reject' }),
      }),
    );
    const all = await json<VerdictDto[]>(s.as('lab', `/api/ai/runs/${run.id}/verdicts`));
    expect(all.map((v) => [v.target, v.verdict])).toEqual(
      expect.arrayContaining([
        ['slide', 'reject'],
        [finding.id, 'reject'],
      ]),
    );
    expect(all).toHaveLength(2);
    const layer = (await json<AiResultsDto>(s.as('ann', `/api/slides/${slideId}/ai/results`))).layers.find(
      (l) => l.run.id === run.id,
    )!;
    expect(layer.verdicts).toMatchObject({ slideAccepted: 0, slideRejected: 1, findingsJudged: 1 });
    expect(layer.verdicts.mine?.verdict).toBe('reject');
    expect(
      (await json<AiFindingsDto>(s.as('ann', layer.findings.url))).findings.find((x) => x.id === finding.id)!
        .verdict,
    ).toBe('reject');
    // A lab manager does not judge; someone who cannot see the slide gets 404; an unknown finding 404.
    expect(
      (
        await s.as('lab', `/api/ai/runs/${run.id}/verdicts/slide`, {
          method: 'PUT',
          body: JSON.stringify({ verdict: 'accept' }),
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await s.as('bob', `/api/ai/runs/${run.id}/verdicts/slide`, {
          method: 'PUT',
          body: JSON.stringify({ verdict: 'accept' }),
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await s.as('ann', `/api/ai/runs/${run.id}/verdicts/findings/${crypto.randomUUID()}`, {
          method: 'PUT',
          body: JSON.stringify({ verdict: 'accept' }),
        })
      ).status,
    ).toBe(404);
    const audit = await json<AuditPage>(s.as('root', `/api/audit?action=ai.verdict&limit=100`));
    expect(audit.entries.filter((e) => e.detail.runId === run.id).map((e) => e.detail.verdict)).toEqual([
      'reject',
      'reject',
      'accept',
    ]);
    // Withdrawn: gone, and audited.
    expect(
      (await s.as('ann', `/api/ai/runs/${run.id}/verdicts/findings/${finding.id}`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
    expect(await json<VerdictDto[]>(s.as('ann', `/api/ai/runs/${run.id}/verdicts`))).toHaveLength(1);
  });

  it('a disabled algorithm’s results are hidden from every listing, and back once enabled', async () => {
    await json(
      s.as('root', `/api/ai/algorithms/${tissue.id}`, {
        method: 'PATCH',
        body: JSON.stringify({ enabled: false }),
      }),
    );
    const layers = (await json<AiResultsDto>(s.as('ann', `/api/slides/${slideId}/ai/results`))).layers;
    expect(layers.map((l) => l.run.algorithm.id)).toEqual([local.id]);
    expect(
      (await json<AiRunDto[]>(s.as('ann', `/api/slides/${slideId}/ai/runs`))).map((r) => r.algorithm.id),
    ).toEqual([local.id]);
    expect((await s.as('ann', `/api/ai/runs/${run.id}/findings`)).status).toBe(404);
    expect((await s.as('ann', `/api/ai/runs/${run.id}/verdicts`)).status).toBe(404);
    // Others do not even see it in the registry; an administrator does.
    expect(
      (await json<AlgorithmDto[]>(s.as('ann', '/api/ai/algorithms'))).some((a) => a.id === tissue.id),
    ).toBe(false);
    const forAdmin = await json<AlgorithmDto[]>(s.as('root', '/api/ai/algorithms'));
    expect(forAdmin.find((a) => a.id === tissue.id)).toMatchObject({
      enabled: false,
      endpoint: { kind: 'http' },
    });
    expect(
      (await json<AlgorithmDto[]>(s.as('lab', '/api/ai/algorithms'))).find((a) => a.id === tissue.id)
        ?.endpoint,
    ).toBeNull();
    await json(
      s.as('root', `/api/ai/algorithms/${tissue.id}`, {
        method: 'PATCH',
        body: JSON.stringify({ enabled: true }),
      }),
    );
    expect((await json<AiResultsDto>(s.as('ann', `/api/slides/${slideId}/ai/results`))).layers).toHaveLength(
      2,
    );
    const acts = (await json<AuditPage>(s.as('root', `/api/audit?action=ai.*&limit=1000`))).entries.map(
      (e) => e.action,
    );
    expect(acts).toEqual(expect.arrayContaining(['ai.algorithm_disable', 'ai.algorithm_enable']));
  });

  it('the registry: admins only, validated, one registration per name and version', async () => {
    const before = (await json<SlideDto[]>(s.as('ann', '/api/slides'))).map((x) => x.id);
    const body = { name: 'X', version: '1', endpoint: { kind: 'http', url: 'http://127.0.0.1:9/x' } };
    expect(
      (await s.as('lab', '/api/ai/algorithms', { method: 'POST', body: JSON.stringify(body) })).status,
    ).toBe(403);
    expect(
      (await s.as('ann', `/api/ai/algorithms/${local.id}`, { method: 'PATCH', body: '{"enabled":false}' }))
        .status,
    ).toBe(403);
    const dup = await s.as('root', '/api/ai/algorithms', {
      method: 'POST',
      body: JSON.stringify({ ...body, name: 'Tissue reference', version: '1.0.0' }),
    });
    expect(dup.status).toBe(409);
    for (const [bad, why] of [
      [{ ...body, endpoint: { kind: 'command', argv: ['node', 'x.js'] } }, /absolute path/],
      [{ ...body, endpoint: { kind: 'http', url: 'file:///etc/passwd' } }, /http/],
      [{ ...body, appliesTo: { formats: ['jpeg'] } }, /appliesTo\.formats/],
      [{ ...body, timeoutSeconds: 1 }, /timeoutSeconds/],
      [{ ...body, version: 'has space' }, /version/],
    ] as const) {
      const r = await s.as('root', '/api/ai/algorithms', { method: 'POST', body: JSON.stringify(bad) });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { message: string }).message).toMatch(why);
    }
    // Nothing registered, and the slide list is as it was.
    expect(
      (await json<AlgorithmDto[]>(s.as('root', '/api/ai/algorithms'))).map((a) => a.name).sort(),
    ).toEqual(['DICOM only', 'Tissue reference', 'Tissue reference']);
    expect((await json<SlideDto[]>(s.as('ann', '/api/slides'))).map((x) => x.id)).toEqual(before);
  });
});
