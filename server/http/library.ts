import { Router, json } from 'express';
import { z } from 'zod';
import { SLIDE_SORTS, SOURCE_FORMATS, type SlideSort, type SortDir } from '../../protocol/index.ts';
import { presentSlide } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import { CasePageService } from '../cases/case-page.ts';
import type { ServerContext } from '../context.ts';
import { SLIDE_NAME_MAX, SlideManager } from '../library/manage.ts';
import { dateRange, decodeCursor, pageLimit, param } from '../library/paging.ts';
import { SlideLibrary, type SlideQuery, slideOrder } from '../library/slides.ts';
import { STAIN_ID } from '../library/stain.ts';
import { slideIdParam } from './api.ts';
import { clientIp, parseBody, principal } from './auth.ts';
import { HttpError } from './errors.ts';

const ACCESSION = /^[A-Za-z0-9][A-Za-z0-9/_.-]{0,39}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Slides answered to a request without `cursor` (older clients): the first page, this long at most. */
const LEGACY_LIMIT = 1000;

const RenameSchema = z.object({ name: z.string().min(1).max(SLIDE_NAME_MAX) }).strict();
const AttachSchema = z.object({ accession: z.string().regex(ACCESSION) }).strict();

/**
 * The library: `GET /api/slides` in pages (protocol/library.ts), and managing a slide: rename,
 * delete, link to and unlink from cases. Every change is audited.
 */
export function libraryRouter(ctx: ServerContext): Router {
  const r = Router();
  const library = new SlideLibrary(ctx.db, ctx.access);
  const manager = new SlideManager(ctx.db, ctx.access);
  const pages = new CasePageService({ db: ctx.db, access: ctx.access, cases: ctx.cases });
  const audit = (
    req: Parameters<typeof clientIp>[0],
    p: Principal,
    e: Omit<Parameters<typeof ctx.audit.record>[0], 'actor' | 'ip'>,
  ) => ctx.audit.record({ ...e, actor: p.user, ip: clientIp(req) });

  /** The case of `?case=ACCESSION` if `p` may see it; null (nothing listed) when not. */
  const caseFilter = async (
    p: Principal,
    accession: string | undefined,
  ): Promise<string | null | undefined> => {
    if (accession === undefined) return undefined;
    const row = await ctx.db
      .selectFrom('cases')
      .select('id')
      .where('accession', '=', accession)
      .executeTakeFirst();
    if (!row) return null;
    return pages.visible(p, row.id).then(
      (c) => c.id,
      () => null,
    );
  };

  r.get('/slides', async (req, res) => {
    const p = principal(res);
    const q = req.query as Record<string, unknown>;
    const paged = q.cursor !== undefined;
    const sort = (param(q, 'sort', new RegExp(`^(${SLIDE_SORTS.join('|')})$`)) ?? 'date') as SlideSort;
    const dir = (param(q, 'dir', /^(asc|desc)$/) ?? (sort === 'date' ? 'desc' : 'asc')) as SortDir;
    const f: SlideQuery = {
      // eslint-disable-next-line no-control-regex
      q: param(q, 'q', /^[^\u0000-\u001f]{1,100}$/),
      site: param(q, 'site', /^[a-z0-9][a-z0-9-]{0,47}$/),
      caseId: await caseFilter(p, param(q, 'case', ACCESSION)),
      stain: param(q, 'stain', STAIN_ID)?.toLowerCase(),
      format: param(q, 'format', new RegExp(`^(${SOURCE_FORMATS.join('|')})$`)),
      ...dateRange(q),
      sort,
      dir,
      limit: paged ? pageLimit(q.limit) : pageLimit(q.limit, LEGACY_LIMIT, LEGACY_LIMIT),
      after: decodeCursor(q.cursor, slideOrder(sort, dir), 'string'),
    };
    const page = await library.page(p, f);
    res.setHeader('cache-control', 'private, no-store');
    if (paged) return res.json(page);
    if (page.nextCursor) {
      const next = new URLSearchParams(q as Record<string, string>);
      next.set('cursor', page.nextCursor);
      res.setHeader('link', `</api/slides?${next.toString()}>; rel="next"`);
    }
    res.json(page.items);
  });

  r.patch('/slides/:id', json({ limit: '4kb' }), async (req, res) => {
    const p = principal(res);
    const id = slideIdParam(req.params.id);
    const { name } = parseBody(RenameSchema, req.body);
    const out = await manager.rename(p, id, name);
    await audit(req, p, {
      action: 'slide.rename',
      targetType: 'slide',
      targetId: id,
      targetSiteId: out.siteId,
      detail: { from: out.from, to: out.to },
    });
    const found = await ctx.access.slide(p, id);
    res.json(found ? presentSlide(found.row, found.grant) : null);
  });

  r.delete('/slides/:id', async (req, res) => {
    const p = principal(res);
    const id = slideIdParam(req.params.id);
    const status = (await ctx.slides.row(id))?.status ?? null;
    const out = await manager.delete(p, id);
    await audit(req, p, {
      action: 'slide.delete',
      targetType: 'slide',
      targetId: id,
      targetSiteId: out.siteId,
      detail: { name: out.name, whole: out.whole },
    });
    if (out.whole) {
      // Served from its source: no longer, and a conversion still running does not bring it back.
      if (status && status !== 'stored') await ctx.provisional.withdraw(id, status);
      // The database no longer knows the slide (every route answers 404): now its pixels go.
      ctx.tiles.forget(id);
      await ctx.store.remove(id).catch((e: unknown) => {
        ctx.log(`removing stored slide ${id} failed: ${e instanceof Error ? e.message : String(e)}`);
      });
    }
    res.status(204).end();
  });

  r.post('/slides/:id/cases', json({ limit: '4kb' }), async (req, res) => {
    const p = principal(res);
    const id = slideIdParam(req.params.id);
    const { accession } = parseBody(AttachSchema, req.body);
    const c = await manager.attach(p, id, accession);
    await audit(req, p, {
      action: 'case.attach_slide',
      targetType: 'case',
      targetId: c.caseId,
      targetSiteId: c.siteId,
      detail: { slide: id, accession: c.accession },
    });
    res.json(await ctx.cases.get(c.caseId));
  });

  r.delete('/slides/:id/cases/:caseId', async (req, res) => {
    const p = principal(res);
    const id = slideIdParam(req.params.id);
    // The case by id or by accession (what the library shows).
    const ref = String(req.params.caseId);
    if (!UUID.test(ref) && !ACCESSION.test(ref))
      throw new HttpError('INVALID_PARAMETER', 'Expected a case id (UUID) or accession');
    const c = await manager.detach(p, id, UUID.test(ref) ? { id: ref } : { accession: ref });
    await audit(req, p, {
      action: 'case.detach_slide',
      targetType: 'case',
      targetId: c.caseId,
      targetSiteId: c.siteId,
      detail: { slide: id, accession: c.accession },
    });
    res.json(await ctx.cases.get(c.caseId));
  });

  return r;
}
