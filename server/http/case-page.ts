import { Router } from 'express';
import { CasePageService } from '../cases/case-page.ts';
import type { ServerContext } from '../context.ts';
import { slideIdParam } from './api.ts';
import { clientIp, principal } from './auth.ts';
import { HttpError } from './errors.ts';

const ACCESSION = /^[A-Za-z0-9][A-Za-z0-9/_.-]{0,39}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function accessionParam(raw: unknown): string {
  const a = String(raw);
  if (!ACCESSION.test(a))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected an accession number (letters, digits, / _ . -) but received ${JSON.stringify(a.slice(0, 40))}`,
    );
  return a;
}

function caseIdParam(raw: unknown): string {
  const id = String(raw);
  if (!UUID.test(id)) throw new HttpError('INVALID_PARAMETER', 'Expected a case id (UUID)');
  return id;
}

/** The case page, the viewer's case bar, the library's case links, "Mark reported" and its undo. */
export function casePageRouter(ctx: ServerContext): Router {
  const r = Router();
  const pages = new CasePageService({ db: ctx.db, access: ctx.access, cases: ctx.cases });

  r.get('/cases/by-accession/:accession', async (req, res) => {
    res.json(await pages.page(principal(res), accessionParam(req.params.accession)));
  });

  r.get('/slides/:id/case', async (req, res) => {
    const q = req.query.case;
    const accession = q === undefined || q === '' ? undefined : accessionParam(q);
    res.json(await pages.bar(principal(res), slideIdParam(req.params.id), accession));
  });

  r.get('/slide-cases', async (req, res) => {
    const raw = req.query.ids;
    if (raw !== undefined && typeof raw !== 'string')
      throw new HttpError('INVALID_PARAMETER', 'Expected ids as one comma-separated list');
    const ids = (raw ?? '')
      .split(',')
      .filter((s) => s !== '')
      .map(slideIdParam);
    res.json(await pages.slideCases(principal(res), ids));
  });

  r.post('/cases/:id/report', async (req, res) => {
    const p = principal(res);
    const out = await pages.report(p, caseIdParam(req.params.id));
    await ctx.audit.record({
      action: 'case.report',
      actor: p.user,
      ip: clientIp(req),
      targetType: 'case',
      targetId: out.case.id,
      targetSiteId: out.case.siteId,
      detail: { accession: out.case.accession, undoUntil: out.undoUntil },
    });
    res.json(out);
  });

  r.post('/cases/:id/report/undo', async (req, res) => {
    const p = principal(res);
    const out = await pages.undoReport(p, caseIdParam(req.params.id));
    await ctx.audit.record({
      action: 'case.report_undo',
      actor: p.user,
      ip: clientIp(req),
      targetType: 'case',
      targetId: out.case.id,
      targetSiteId: out.case.siteId,
      detail: { accession: out.case.accession, status: out.restored },
    });
    res.json(out.case);
  });

  return r;
}
