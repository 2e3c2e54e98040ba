import { type Request, type RequestHandler, type Response, Router, json, raw } from 'express';
import {
  AI_CONTRACT_VERSION,
  AI_RESULT_LIMITS,
  AiCompleteSchema,
  AiFailSchema,
  AiHeatmapSchema,
  AiProgressSchema,
  AlgorithmPatchSchema,
  type AnnotationDto,
  HEATMAP_NAME,
  RunRequestSchema,
  VerdictRequestSchema,
} from '../../protocol/index.ts';
import { algorithmDto } from '../ai/registry.ts';
import { BadResult } from '../ai/results.ts';
import { type RunRow, runDto } from '../ai/runs.ts';
import { QA_TABLES, type QaTable, defaultSpan, qaCsv, qaFigures } from '../ai/qa.ts';
import type { Principal } from '../auth/auth.ts';
import type { ServerContext } from '../context.ts';
import { toFeatureCollection } from '../review/geojson.ts';
import { slideIdParam } from './api.ts';
import { clientIp, parseBody, principal } from './auth.ts';
import { HttpError } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function uuidParam(raw: unknown, what: string): string {
  const s = String(raw);
  if (!UUID.test(s))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected ${what} (a UUID) but received ${JSON.stringify(s.slice(0, 64))}`,
    );
  return s;
}

function dateQuery(raw: unknown, name: string): string | null {
  if (raw === undefined || raw === '') return null;
  const s = String(raw);
  const t = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}/.test(s) || Number.isNaN(t))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected ${name} as an ISO date but received ${JSON.stringify(s.slice(0, 40))}`,
    );
  return new Date(t).toISOString();
}

/**
 * AI algorithms (server/ai): the registry, runs and their results as layers, verdicts, quality
 * figures, and the algorithm contract's routes (protocol/ai.ts lists them all).
 */
export function aiRouter(ctx: ServerContext): Router {
  const r = Router();
  const ai = ctx.ai;
  const small = json({ limit: '64kb' });

  // ---- registry ----

  r.get('/ai/algorithms', async (_req, res) => {
    const p = principal(res);
    const admin = p.user.role === 'admin';
    const all = admin || p.user.role === 'lab_manager';
    const list = await ai.registry.list({ enabledOnly: !all });
    res.json(list.map((a) => algorithmDto(a, admin)));
  });

  r.get('/ai/builtins', async (_req, res) => {
    res.json(await ai.registry.builtins(principal(res)));
  });

  r.post('/ai/algorithms', small, async (req, res) => {
    const a = await ai.registry.create(principal(res), req.body, clientIp(req));
    res.status(201).location(`/api/ai/algorithms/${a.id}`).json(algorithmDto(a, true));
  });

  r.get('/ai/algorithms/:id', async (req, res) => {
    const p = principal(res);
    const a = await ai.registry.get(uuidParam(req.params.id, 'an algorithm id'));
    const all = p.user.role === 'admin' || p.user.role === 'lab_manager';
    if (!a || (!a.enabled && !all)) throw new HttpError('NOT_FOUND', `no algorithm ${req.params.id}`);
    res.json(algorithmDto(a, p.user.role === 'admin'));
  });

  r.patch('/ai/algorithms/:id', small, async (req, res) => {
    const id = uuidParam(req.params.id, 'an algorithm id');
    const patch = parseBody(AlgorithmPatchSchema, req.body);
    res.json(algorithmDto(await ai.updateAlgorithm(principal(res), id, patch, clientIp(req)), true));
  });

  // ---- runs and results ----

  r.post('/slides/:id/ai/runs', small, async (req, res) => {
    const { algorithmId } = parseBody(RunRequestSchema, req.body);
    const run = await ai.request(principal(res), slideIdParam(req.params.id), algorithmId, clientIp(req));
    res.status(202).location(`/api/ai/runs/${run.id}`).json(run);
  });

  r.get('/slides/:id/ai/runs', async (req, res) => {
    res.json(await ai.runsOf(principal(res), slideIdParam(req.params.id)));
  });

  r.get('/slides/:id/ai/results', async (req, res) => {
    res.setHeader('Cache-Control', 'private, no-store');
    res.json(await ai.layers(principal(res), slideIdParam(req.params.id)));
  });

  r.get('/ai/runs/:runId', async (req, res) => {
    res.json(runDto(await ai.visibleRun(principal(res), uuidParam(req.params.runId, 'a run id'))));
  });

  r.get('/ai/runs/:runId/findings', async (req, res) => {
    const p = principal(res);
    const raw = req.query.minScore;
    let minScore: number | null = null;
    if (raw !== undefined) {
      minScore = Number(raw);
      if (typeof raw !== 'string' || raw === '' || !Number.isFinite(minScore))
        throw new HttpError(
          'INVALID_PARAMETER',
          `Expected minScore to be a number but received ${JSON.stringify(String(raw).slice(0, 32))}`,
        );
    }
    const out = await ai.findings(p, uuidParam(req.params.runId, 'a run id'), minScore);
    res.setHeader('Cache-Control', 'private, no-store');
    if (req.query.format === 'geojson') {
      const run = await ai.visibleRun(p, out.runId, { results: true });
      const author = `${out.algorithm.name} ${out.algorithm.version}`;
      const asAnnotations: AnnotationDto[] = out.findings.map((f) => ({
        id: f.id,
        slideId: run.slide_id,
        kind: f.kind,
        geometry: f.geometry,
        classification: f.classification,
        label: f.label,
        color: f.color,
        objectType: f.objectType,
        nucleus: f.nucleus,
        measurements: f.measurements,
        authorId: out.algorithm.id,
        authorName: author,
        createdAt: run.finished_at ?? run.created_at,
        updatedAt: run.finished_at ?? run.created_at,
        version: 1,
        comments: [],
      }));
      res.type('application/geo+json').send(JSON.stringify(toFeatureCollection(asAnnotations)));
      return;
    }
    res.json(out);
  });

  r.get('/ai/runs/:runId/heatmaps/:file', async (req, res) => {
    const file = String(req.params.file);
    if (!file.endsWith('.png')) throw new HttpError('NOT_FOUND', `no heat map ${file.slice(0, 64)}`);
    const png = await ai.heatmapPng(
      principal(res),
      uuidParam(req.params.runId, 'a run id'),
      uuidParam(file.slice(0, -4), 'a heat map id'),
    );
    res.setHeader('Cache-Control', 'private, max-age=3600');
    res.type('image/png').send(Buffer.from(png));
  });

  r.get('/ai/runs/:runId/verdicts', async (req, res) => {
    const run = await ai.visibleRun(principal(res), uuidParam(req.params.runId, 'a run id'), {
      results: true,
    });
    res.json(await ai.verdicts.list(run.id));
  });

  const verdict =
    (target: (req: Request) => string): RequestHandler =>
    async (req, res) => {
      const p = principal(res);
      const run = await ai.visibleRun(p, uuidParam(req.params.runId, 'a run id'), { results: true });
      if (req.method === 'DELETE') {
        await ai.verdicts.remove(p, run, target(req), clientIp(req));
        res.status(204).end();
        return;
      }
      const body = parseBody(VerdictRequestSchema, req.body);
      res.json(await ai.verdicts.put(p, run, target(req), body, clientIp(req)));
    };
  const slideTarget = (): string => 'slide';
  const findingTarget = (req: Request): string => uuidParam(req.params.findingId, 'a finding id');
  r.put('/ai/runs/:runId/verdicts/slide', small, verdict(slideTarget));
  r.delete('/ai/runs/:runId/verdicts/slide', verdict(slideTarget));
  r.put('/ai/runs/:runId/verdicts/findings/:findingId', small, verdict(findingTarget));
  r.delete('/ai/runs/:runId/verdicts/findings/:findingId', verdict(findingTarget));

  // ---- quality assurance ----

  const qaFilter = (req: Request, p: Principal) => {
    if (p.user.role !== 'admin' && p.user.role !== 'lab_manager')
      throw new HttpError('FORBIDDEN', `your role (${p.user.role}) may not see algorithms' quality figures`);
    const asked = typeof req.query.site === 'string' && req.query.site !== '' ? req.query.site : null;
    if (p.user.role === 'lab_manager' && asked !== null && asked !== p.user.siteId)
      throw new HttpError('FORBIDDEN', 'a lab manager sees the quality figures of their own site');
    const span = defaultSpan();
    const algorithm = req.query.algorithm;
    return {
      site: p.user.role === 'lab_manager' ? p.user.siteId : asked,
      from: dateQuery(req.query.from, 'from') ?? span.from,
      to: dateQuery(req.query.to, 'to') ?? span.to,
      ...(algorithm !== undefined ? { algorithmId: uuidParam(algorithm, 'an algorithm id') } : {}),
    };
  };

  r.get('/ai/qa', async (req, res) => {
    res.setHeader('Cache-Control', 'private, no-store');
    res.json(await qaFigures(ai.db, qaFilter(req, principal(res))));
  });

  r.get('/ai/qa.csv', async (req, res) => {
    const p = principal(res);
    const table = (req.query.table ?? 'summary') as QaTable;
    if (!QA_TABLES.includes(table))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected table ${QA_TABLES.join(', ')} but received ${JSON.stringify(String(table).slice(0, 32))}`,
      );
    const f = qaFilter(req, p);
    const csv = qaCsv(await qaFigures(ai.db, f), table);
    await ctx.audit.record({
      action: 'ai.qa_export',
      actor: p.user,
      detail: {
        table,
        site: f.site,
        from: f.from,
        to: f.to,
        ...(f.algorithmId ? { algorithm: f.algorithmId } : {}),
      },
      ip: clientIp(req),
    });
    res.setHeader('Cache-Control', 'private, no-store');
    res.setHeader('Content-Disposition', `attachment; filename="ai-qa-${table}.csv"`);
    res.type('text/csv; charset=utf-8').send(csv);
  });

  // ---- the contract (an algorithm's job token) ----

  const job = `/ai/v${AI_CONTRACT_VERSION}/slides/:slideId/jobs/:jobId`;
  /** The token's own running job, named by the URL; a write to another fails the token's job. */
  const own =
    (write: boolean): RequestHandler =>
    async (req, res, next) => {
      const p = principal(res);
      const slideId = String(req.params.slideId);
      const jobId = String(req.params.jobId);
      res.locals.run = await ai.contract.run(p, slideId, jobId, write, clientIp(req));
      next();
    };
  const runOf = (res: Response): RunRow => res.locals.run as RunRow;
  /** A body over its limit or unreadable fails the job, as a malformed answer does. */
  const body =
    (parser: RequestHandler, what: string, limit: number): RequestHandler =>
    (req, res, next) => {
      void parser(req, res, (err?: unknown) => {
        if (!err) return next();
        const tooLarge = (err as { type?: unknown }).type === 'entity.too.large';
        const e = new BadResult(
          tooLarge ? 'too_large' : 'malformed',
          tooLarge
            ? `${what} over the limit of ${limit} bytes`
            : `${what} is not readable: ${(err as Error).message?.slice(0, 160) ?? ''}`,
        );
        ai.contract.reject(runOf(res), e).catch((x: unknown) => next(x));
      });
    };
  const checked = <T>(
    res: Response,
    schema: Parameters<typeof parseBody<T>>[0],
    value: unknown,
  ): Promise<T> => {
    try {
      return Promise.resolve(parseBody(schema, value));
    } catch (e) {
      return ai.contract.reject(runOf(res), new BadResult('malformed', (e as Error).message));
    }
  };

  r.get(job, own(false), (_req, res) => {
    const run = runOf(res);
    res.json({ jobId: run.id, slideId: run.slide_id, state: run.state, deadline: run.deadline_at });
  });

  r.post(
    `${job}/progress`,
    own(true),
    body(small, 'progress', AI_RESULT_LIMITS.smallBytes),
    async (req, res) => {
      const b = await checked(res, AiProgressSchema, req.body);
      await ai.contract.progress(runOf(res), b.percent, b.stage);
      res.status(204).end();
    },
  );

  r.put(
    `${job}/annotations`,
    own(true),
    body(
      raw({ limit: AI_RESULT_LIMITS.annotationBytes, type: () => true }),
      'annotations',
      AI_RESULT_LIMITS.annotationBytes,
    ),
    async (req, res) => {
      const bytes = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const count = await ai.contract.annotations(principal(res), runOf(res), bytes, clientIp(req));
      res.json({ findings: count });
    },
  );

  r.put(
    `${job}/heatmaps/:name`,
    own(true),
    body(json({ limit: AI_RESULT_LIMITS.heatmapBytes }), 'a heat map', AI_RESULT_LIMITS.heatmapBytes),
    async (req, res) => {
      const name = String(req.params.name);
      if (!HEATMAP_NAME.test(name))
        await ai.contract.reject(
          runOf(res),
          new BadResult(
            'malformed',
            `heat map name ${JSON.stringify(name.slice(0, 64))}: 1-40 of a-z 0-9 _ -`,
          ),
        );
      const h = await checked(res, AiHeatmapSchema, req.body);
      await ai.contract.heatmap(principal(res), runOf(res), name, h, clientIp(req));
      res.status(204).end();
    },
  );

  r.post(
    `${job}/complete`,
    own(true),
    body(small, 'the result', AI_RESULT_LIMITS.smallBytes),
    async (req, res) => {
      const c = await checked(res, AiCompleteSchema, req.body ?? {});
      res.json(await ai.contract.complete(principal(res), runOf(res), c, clientIp(req)));
    },
  );

  r.post(
    `${job}/fail`,
    own(true),
    body(small, 'the failure', AI_RESULT_LIMITS.smallBytes),
    async (req, res) => {
      const f = await checked(res, AiFailSchema, req.body);
      await ai.contract.reported(runOf(res), f.message);
      res.status(204).end();
    },
  );

  return r;
}
