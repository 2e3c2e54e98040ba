import { type Response, Router, json, text } from 'express';
import {
  type BalanceDecision,
  BalanceDecisionSchema,
  BalanceDecisionsSchema,
  type BalanceDecisionsResult,
  type CaseDto,
  type CaseSort,
  type SortDir,
  CASE_STATUSES,
  CreateCaseRequestSchema,
  SecondOpinionRequestSchema,
  SUBSPECIALTIES,
  type Subspecialty,
  UpdateCaseRequestSchema,
  UpdatePathologistRequestSchema,
  type WorklistItem,
  WorkloadRulesSchema,
} from '../../protocol/index.ts';
import type { Principal } from '../auth/auth.ts';
import { SecondOpinionService } from '../cases/second-opinion.ts';
import type { ServerContext } from '../context.ts';
import { slideIdParam } from './api.ts';
import { clientIp, parseBody, principal } from './auth.ts';
import { HttpError } from './errors.ts';
import { importBody } from './import-body.ts';
import { CSV_IMPORT_LIMITS } from '../cases/csv-import.ts';
import { decodeCursor, pageLimit, param } from '../library/paging.ts';
import { caseOrder } from '../library/cases.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const isManager = (p: Principal): boolean => p.user.role === 'lab_manager' || p.user.role === 'admin';

function manager(res: Response): Principal {
  const p = principal(res);
  if (!isManager(p)) throw new HttpError('FORBIDDEN', 'only lab managers and administrators manage cases');
  return p;
}

function idParam(raw: unknown, what: string): string {
  const id = String(raw);
  if (!UUID.test(id)) throw new HttpError('INVALID_PARAMETER', `Expected a ${what} id (UUID)`);
  return id;
}

function queryString(v: unknown, name: string, re: RegExp): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !re.test(v))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected ${name} to match ${re.source} but received ${JSON.stringify(String(v).slice(0, 40))}`,
    );
  return v;
}

/**
 * Cases, worklists, the lab manager's dashboard and balancing. Lab managers see the whole network
 * (balancing moves work between sites); a pathologist sees the cases assigned to them.
 */
export function casesRouter(ctx: ServerContext): Router {
  const r = Router();
  const cases = ctx.cases;
  const opinions = new SecondOpinionService({
    db: ctx.db,
    access: ctx.access,
    sessions: ctx.review.sessions,
    cases,
  });
  const audit = (
    req: Parameters<typeof clientIp>[0],
    p: Principal,
    e: Omit<Parameters<typeof ctx.audit.record>[0], 'actor' | 'ip'>,
  ) => ctx.audit.record({ ...e, actor: p.user, ip: clientIp(req) });

  const filters = (q: Record<string, unknown>) => ({
    site: queryString(q.site, 'site', /^[a-z0-9-]{1,48}$/),
    subspecialty: queryString(q.subspecialty, 'subspecialty', new RegExp(`^(${SUBSPECIALTIES.join('|')})$`)),
  });

  r.get('/cases', async (req, res) => {
    const p = principal(res);
    const f = {
      ...filters(req.query),
      status: queryString(req.query.status, 'status', new RegExp(`^(${CASE_STATUSES.join('|')})$`)),
      q: queryString(req.query.q, 'q', /^[A-Za-z0-9/_.-]{1,40}$/),
      limit: req.query.limit === undefined || req.query.cursor !== undefined ? 1000 : Number(req.query.limit),
    };
    if (req.query.cursor !== undefined) {
      // A page (protocol/library.ts): sorted and cut in the database.
      if (!isManager(p) && p.user.role !== 'pathologist')
        throw new HttpError('FORBIDDEN', 'your role has no cases');
      const sort = (param(req.query, 'sort', /^(received|accession)$/) ?? 'received') as CaseSort;
      const dir = (param(req.query, 'dir', /^(asc|desc)$/) ?? 'asc') as SortDir;
      const assignee = isManager(p) ? queryString(req.query.assignee, 'assignee', UUID) : p.user.id;
      return res.json(
        await cases.page({
          site: f.site,
          status: f.status,
          subspecialty: f.subspecialty,
          q: f.q,
          ...(assignee ? { assignee } : {}),
          sort,
          dir,
          limit: pageLimit(req.query.limit),
          after: decodeCursor(req.query.cursor, caseOrder(sort, dir), 'string'),
        }),
      );
    }
    if (!Number.isInteger(f.limit) || f.limit < 1 || f.limit > 50_000)
      throw new HttpError('INVALID_PARAMETER', 'Expected limit between 1 and 50000');
    if (isManager(p)) {
      const assignee = queryString(req.query.assignee, 'assignee', UUID);
      return res.json(await cases.list({ ...f, ...(assignee ? { assignee } : {}) }));
    }
    if (p.user.role !== 'pathologist') throw new HttpError('FORBIDDEN', 'your role has no cases');
    res.json(await cases.list({ ...f, assignee: p.user.id }));
  });

  const visibleCase = async (res: Response, raw: unknown) => {
    const p = principal(res);
    const c = await cases.get(idParam(raw, 'case'));
    if (!c || (!isManager(p) && c.assignedTo !== p.user.id)) throw new HttpError('NOT_FOUND', 'no such case');
    return { p, c };
  };

  r.get('/cases/:id', async (req, res) => {
    res.json((await visibleCase(res, req.params.id)).c);
  });

  r.post('/cases', json({ limit: '16kb' }), async (req, res) => {
    const p = manager(res);
    const c = await cases.create(parseBody(CreateCaseRequestSchema, req.body));
    await audit(req, p, {
      action: 'case.create',
      targetType: 'case',
      targetId: c.id,
      targetSiteId: c.siteId,
      detail: { accession: c.accession },
    });
    res.status(201).json(c);
  });

  const csvBody = importBody(
    text({ type: ['text/csv', 'text/plain'], limit: CSV_IMPORT_LIMITS.bodyBytes }),
    'a CSV body',
    CSV_IMPORT_LIMITS.bodyBytes,
  );
  r.post('/cases/import', csvBody, async (req, res) => {
    const p = manager(res);
    if (typeof req.body !== 'string') throw new HttpError('INVALID_PARAMETER', 'Expected a text/csv body');
    const report = await cases.importCsv(req.body);
    await audit(req, p, {
      action: 'case.import',
      detail: { imported: report.imported, errors: report.errors.length },
    });
    res.status(report.imported > 0 || report.errors.length === 0 ? 200 : 400).json(report);
  });

  r.patch('/cases/:id', json({ limit: '16kb' }), async (req, res) => {
    const { p, c } = await visibleCase(res, req.params.id);
    const patch = parseBody(UpdateCaseRequestSchema, req.body);
    if (!isManager(p)) {
      // The assigned pathologist moves their own case along; nothing else.
      if (
        patch.assignedTo !== undefined ||
        patch.priority !== undefined ||
        (patch.status && !['in_review', 'reported'].includes(patch.status))
      )
        throw new HttpError('FORBIDDEN', 'a pathologist may only start reviewing or report their case');
    }
    const updated = await cases.update(c.id, patch);
    await audit(req, p, {
      action: 'case.update',
      targetType: 'case',
      targetId: c.id,
      targetSiteId: c.siteId,
      detail: { ...patch, from: c.assignedTo },
    });
    res.json(updated);
  });

  r.post('/cases/:id/slides', json({ limit: '4kb' }), async (req, res) => {
    const p = manager(res);
    const c = await cases.get(idParam(req.params.id, 'case'));
    if (!c) throw new HttpError('NOT_FOUND', 'no such case');
    const slideId = slideIdParam((req.body as { slideId?: unknown } | undefined)?.slideId);
    if (!(await ctx.access.grant(p, slideId))) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${slideId}`);
    await cases.attachSlide(c.id, slideId);
    await audit(req, p, {
      action: 'case.attach_slide',
      targetType: 'case',
      targetId: c.id,
      targetSiteId: c.siteId,
      detail: { slide: slideId },
    });
    res.json(await cases.get(c.id));
  });

  r.delete('/cases/:id/slides/:slideId', async (req, res) => {
    const p = manager(res);
    const c = await cases.get(idParam(req.params.id, 'case'));
    if (!c) throw new HttpError('NOT_FOUND', 'no such case');
    const slideId = slideIdParam(req.params.slideId);
    if (!(await cases.detachSlide(c.id, slideId)))
      throw new HttpError('SLIDE_NOT_FOUND', `slide ${slideId} is not part of case ${c.accession}`);
    await audit(req, p, {
      action: 'case.detach_slide',
      targetType: 'case',
      targetId: c.id,
      targetSiteId: c.siteId,
      detail: { slide: slideId },
    });
    res.json(await cases.get(c.id));
  });

  r.get('/worklist', async (_req, res) => {
    const p = principal(res);
    if (p.user.role !== 'pathologist') throw new HttpError('FORBIDDEN', 'worklists are for pathologists');
    const list = await cases.list({ assignee: p.user.id, openOnly: true });
    const items: WorklistItem[] = list.map((c) => ({
      ...c,
      thumbnails: c.slideIds.map((s) => `/api/slides/${s}/thumbnail?max=96`),
    }));
    res.json(items);
  });

  r.get('/pathologists', async (_req, res) => {
    manager(res);
    res.json(await cases.pathologists());
  });

  r.patch('/pathologists/:id', json({ limit: '4kb' }), async (req, res) => {
    const p = manager(res);
    const id = idParam(req.params.id, 'user');
    const patch = parseBody(UpdatePathologistRequestSchema, req.body);
    await cases.updatePathologist(id, patch, p.user.id);
    await audit(req, p, { action: 'pathologist.update', targetType: 'user', targetId: id, detail: patch });
    res.json(
      (await cases.pathologists(undefined, ['pathologist', 'specialist'])).find((x) => x.userId === id),
    );
  });

  r.get('/dashboard', async (req, res) => {
    manager(res);
    res.json(await cases.dashboard(filters(req.query)));
  });

  r.get('/balance/suggestions', async (req, res) => {
    manager(res);
    res.json(await cases.suggestions(filters(req.query)));
  });

  const auditDecision = async (
    req: Parameters<typeof clientIp>[0],
    p: Principal,
    c: CaseDto,
    d: BalanceDecision,
  ) =>
    audit(req, p, {
      action: d.accept ? 'balance.accept' : 'balance.reject',
      targetType: 'case',
      targetId: c.id,
      targetSiteId: c.siteId,
      detail: { accession: c.accession, from: d.from, to: d.to },
    });

  r.post('/balance/decisions', json({ limit: '4kb' }), async (req, res) => {
    const p = manager(res);
    const d = parseBody(BalanceDecisionSchema, req.body);
    const c = await cases.decide(d, p.user.id);
    await auditDecision(req, p, c, d);
    res.json(c);
  });

  // "Accept all" / "accept selected": each decision taken or refused on its own, in order.
  r.post('/balance/decisions/batch', json({ limit: '1mb' }), async (req, res) => {
    const p = manager(res);
    const { decisions } = parseBody(BalanceDecisionsSchema, req.body);
    const out: BalanceDecisionsResult = { applied: 0, refused: 0, results: [] };
    for (const d of decisions) {
      try {
        const c = await cases.decide(d, p.user.id);
        await auditDecision(req, p, c, d);
        out.applied++;
        out.results.push({ caseId: d.caseId, ok: true });
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        out.refused++;
        out.results.push({ caseId: d.caseId, ok: false, message: e.message });
      }
    }
    res.json(out);
  });

  r.get('/cases/:id/second-opinions', async (req, res) => {
    const { c } = await visibleCase(res, req.params.id);
    res.json(await opinions.list(c.id));
  });

  r.get('/workload-rules', async (_req, res) => {
    manager(res);
    res.json(await cases.workloadRules());
  });

  r.put('/workload-rules', json({ limit: '16kb' }), async (req, res) => {
    const p = manager(res);
    const rules = parseBody(WorkloadRulesSchema, req.body);
    const after = await cases.setWorkloadRules(rules);
    await audit(req, p, { action: 'workload.rules', detail: rules });
    res.json(after);
  });

  r.get('/cases/:id/second-opinion/candidates', async (req, res) => {
    const { p, c } = await visibleCase(res, req.params.id);
    const sub = filters(req.query).subspecialty as Subspecialty | undefined;
    res.json(await opinions.candidates(p, sub ?? c.subspecialty));
  });

  r.post('/cases/:id/second-opinion', json({ limit: '8kb' }), async (req, res) => {
    const { p, c } = await visibleCase(res, req.params.id);
    const { opinion, studyCode } = await opinions.request(
      p,
      c,
      parseBody(SecondOpinionRequestSchema, req.body),
    );
    await audit(req, p, {
      action: 'case.second_opinion',
      targetType: 'case',
      targetId: c.id,
      targetSiteId: c.siteId,
      detail: {
        specialist: opinion.specialistName,
        session: opinion.sessionId,
        studyCode,
        slides: c.slideIds,
      },
    });
    ctx.review.notifyInbox(opinion.specialistId);
    res.status(201).json(opinion);
  });

  return r;
}
