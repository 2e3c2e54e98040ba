import { randomUUID } from 'node:crypto';
import { type Request, type Response, Router, json } from 'express';
import { z } from 'zod';
import {
  type AnnotationDto,
  AnnotationPatchSchema,
  type AppliedOp,
  type ErrorCode,
  type Operation,
  OperationSchema,
} from '../../protocol/index.ts';
import type { ServerContext } from '../context.ts';
import { ClassPalette, PaletteSchema } from '../review/classes.ts';
import { moderatesOutsideSession, writeRefusal } from '../review/rights.ts';
import { slideIdParam } from './api.ts';
import { clientIp, parseBody, principal, requireRole } from './auth.ts';
import { HttpError } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The `annotation` of a create operation; the server makes the id when none is given. */
const CreateOperationSchema = OperationSchema.options[0];
const NewAnnotationSchema = CreateOperationSchema.shape.annotation.extend({ id: z.uuid().optional() });
const PatchBodySchema = AnnotationPatchSchema.extend({ ifVersion: z.number().int().positive().optional() });
const CommentBodySchema = z.object({ text: z.string().min(1).max(4000) });

/** The status of each refusal of AnnotationService; LOCKED is a conflict with the annotation's state. */
const REFUSAL_STATUS: Record<string, number> = { CONFLICT: 409, LOCKED: 409, FORBIDDEN: 403 };

function annotationIdParam(raw: unknown): string {
  const id = String(raw);
  if (!UUID.test(id))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected an annotation id (UUID) but received ${JSON.stringify(id.slice(0, 64))}`,
    );
  return id;
}

function ifVersionQuery(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const s = typeof raw === 'string' ? raw : '';
  if (!/^[1-9][0-9]{0,14}$/.test(s))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected ifVersion to be a positive integer but received ${JSON.stringify(String(raw).slice(0, 32))}`,
    );
  return Number(s);
}

/**
 * Annotations outside a review session (create, change, delete, comment) and the class palette.
 * Who may do what is rights.ts's; every change is an operation applied by AnnotationService (the
 * same sequence and checks as in a session), sent live to sessions on that slide's set and audited.
 * Mounted before reviewRouter: a POST with `?format=` is its GeoJSON import.
 */
export function annotationsRouter(ctx: ServerContext): Router {
  const r = Router();
  const hub = ctx.review;
  const palette = new ClassPalette(ctx.db);
  // A geometry of MAX_POINTS points, plus a nucleus, in JSON.
  const body = json({ limit: '4mb' });

  /** The slide as the user sees it; an unknown slide and one they may not see answer the same. */
  const slideFor = async (res: Response, raw: unknown) => {
    const p = principal(res);
    const id = slideIdParam(raw);
    const found = await ctx.access.slide(p, id);
    if (!found) throw new HttpError('NOT_FOUND', `no slide ${id}`);
    return { p, row: found.row, grant: found.grant };
  };

  const writable = async (res: Response, raw: unknown) => {
    const s = await slideFor(res, raw);
    const why = writeRefusal(s.grant);
    if (why) throw new HttpError('FORBIDDEN', why);
    return s;
  };

  /** Apply an operation as the user, tell live sessions on the slide's set, audit it. */
  const apply = async (
    req: Request,
    s: Awaited<ReturnType<typeof writable>>,
    op: Operation,
  ): Promise<AppliedOp> => {
    // The set of the owning site the user sees the slide through (theirs; the first owner's for admins).
    const scope = { slideId: s.row.id, siteId: s.grant.siteId };
    const { result, applied } = await hub.annotations.tryApply(scope, op, {
      id: s.p.user.id,
      name: s.p.user.displayName,
      moderator: moderatesOutsideSession(s.p, s.grant),
    });
    if (!result.ok || !applied) {
      const code = result.ok ? 'INTERNAL' : result.code;
      const id = op.type === 'create' ? op.annotation.id : op.id;
      // An id unknown in this set, whether deleted, never made or in another site's set.
      if (code === 'NOT_FOUND')
        throw op.type === 'create'
          ? new HttpError('CONFLICT', `annotation id ${id} is taken`)
          : new HttpError('NOT_FOUND', `no annotation ${id} on this slide`);
      // LOCKED is not among protocol's ERROR_CODES; it travels with CONFLICT's status.
      throw new HttpError(
        code as ErrorCode,
        result.ok ? 'internal error' : result.message,
        REFUSAL_STATUS[code],
      );
    }
    hub.broadcast(applied, scope.siteId);
    await ctx.audit.record({
      action: `annotation.${applied.type}`,
      actor: s.p.user,
      targetType: 'annotation',
      targetId: applied.annotationId,
      targetSiteId: scope.siteId,
      detail: { slide: s.row.id, seq: applied.seq },
      ip: clientIp(req),
    });
    return applied;
  };

  const answer = (res: Response, status: number, a: AppliedOp): void => {
    res.status(status).json(a.annotation as AnnotationDto);
  };

  r.post(
    '/slides/:id/annotations',
    // `?format=geojson` is the import (server/http/review.ts).
    (req, _res, next) => next(req.query.format === undefined ? undefined : 'route'),
    body,
    async (req, res) => {
      const s = await writable(res, req.params.id);
      const a = parseBody(NewAnnotationSchema, req.body);
      const applied = await apply(req, s, {
        type: 'create',
        opId: randomUUID(),
        annotation: { ...a, id: a.id ?? randomUUID() },
      });
      answer(res, 201, applied);
    },
  );

  r.patch('/slides/:id/annotations/:aid', body, async (req, res) => {
    const s = await writable(res, req.params.id);
    const id = annotationIdParam(req.params.aid);
    const { ifVersion, ...patch } = parseBody(PatchBodySchema, req.body);
    const applied = await apply(req, s, {
      type: 'update',
      opId: randomUUID(),
      id,
      patch,
      ...(ifVersion !== undefined && { ifVersion }),
    });
    answer(res, 200, applied);
  });

  r.delete('/slides/:id/annotations/:aid', async (req, res) => {
    const s = await writable(res, req.params.id);
    const id = annotationIdParam(req.params.aid);
    const ifVersion = ifVersionQuery(req.query.ifVersion);
    await apply(req, s, {
      type: 'delete',
      opId: randomUUID(),
      id,
      ...(ifVersion !== undefined && { ifVersion }),
    });
    res.status(204).end();
  });

  r.post('/slides/:id/annotations/:aid/comments', body, async (req, res) => {
    const s = await writable(res, req.params.id);
    const id = annotationIdParam(req.params.aid);
    const { text } = parseBody(CommentBodySchema, req.body);
    answer(res, 201, await apply(req, s, { type: 'comment', opId: randomUUID(), id, text }));
  });

  r.get('/annotation-classes', async (_req, res) => {
    principal(res);
    res.json(await palette.list());
  });

  r.put('/annotation-classes', json({ limit: '64kb' }), async (req, res) => {
    const p = requireRole(res, (x) => x.user.role === 'admin', 'change the annotation classes');
    const classes = await palette.replace(parseBody(PaletteSchema, req.body));
    await ctx.audit.record({
      action: 'annotation_classes.update',
      actor: p.user,
      ip: clientIp(req),
      targetType: 'annotation_classes',
      detail: { classes },
    });
    res.json(classes);
  });

  return r;
}
