import { Router, json, raw } from 'express';
import {
  CreateSessionRequestSchema,
  InboxResponseSchema,
  InviteRequestSchema,
} from '../../protocol/index.ts';
import type { AnnotationDto } from '../../protocol/review.ts';
import { SHAPES_MEDIA_TYPE, encodeShapes } from '../../protocol/annotation-shapes.ts';
import { Inbox } from '../review/inbox.ts';
import { GEOJSON_IMPORT_LIMITS, toFeatureCollection } from '../review/geojson.ts';
import { importGeoJson } from '../review/geojson-import.ts';
import { importBody } from './import-body.ts';
import type { ServerContext } from '../context.ts';
import { slideIdParam } from './api.ts';
import { clientIp, parseBody, principal } from './auth.ts';
import { HttpError } from './errors.ts';
import { EncodedAnswerCache } from './send.ts';
import { usersWithSite } from '../auth/users.ts';
import { hostRefusal, mayImport } from '../review/rights.ts';
import { presentSession } from '../review/present.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function sessionIdParam(raw: unknown): string {
  const id = String(raw);
  if (!UUID.test(id)) throw new HttpError('INVALID_PARAMETER', 'Expected a session id (UUID)');
  return id;
}

/** Annotations (JSON and QuPath GeoJSON) and review sessions. */
export function reviewRouter(ctx: ServerContext): Router {
  const r = Router();
  const hub = ctx.review;
  const inbox = new Inbox(ctx.db, ctx.access);
  const lists = new EncodedAnswerCache();

  const slideFor = async (res: Parameters<typeof principal>[0], raw: unknown) => {
    const p = principal(res);
    const id = slideIdParam(raw);
    const found = await ctx.access.slide(p, id);
    if (!found) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
    return { p, found };
  };

  r.get('/slides/:id/annotations', async (req, res) => {
    const { found } = await slideFor(res, req.params.id);
    // The set of the owning site the user sees the slide through (their own, or the sharing site's).
    const scope = { slideId: found.row.id, siteId: found.grant.siteId };
    const format = req.query.format ?? 'json';
    if (format === 'geojson') {
      res.type('application/geo+json').json(toFeatureCollection(await hub.annotations.list(scope)));
    } else if (format === 'json') {
      // The seq is read first: the list then holds at least everything up to it. Every change of a
      // set is an op with a new seq, so the seq names the list's version (kept encoded per node).
      const seq = await hub.annotations.seq(scope);
      await lists.send(req, res, `annotations|${scope.slideId}|${scope.siteId}|${seq}`, async () => {
        const docs = await hub.annotations.listDocs(scope);
        return `{"seq":${seq},"annotations":[${docs.join(',')}]}`;
      });
    } else if (format === 'shapes') {
      // The same list packed for drawing (protocol/annotation-shapes.ts), kept encoded like the JSON.
      const seq = await hub.annotations.seq(scope);
      await lists.send(
        req,
        res,
        `shapes|${scope.slideId}|${scope.siteId}|${seq}`,
        async () =>
          encodeShapes(
            (await hub.annotations.listDocs(scope)).map((d) => JSON.parse(d) as AnnotationDto),
            seq,
          ),
        SHAPES_MEDIA_TYPE,
      );
    } else
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected format json, geojson or shapes but received ${String(format).slice(0, 32)}`,
      );
  });

  r.post(
    '/slides/:id/annotations',
    importBody(
      raw({ limit: GEOJSON_IMPORT_LIMITS.bodyBytes, type: ['application/json', 'application/geo+json'] }),
      'a GeoJSON body',
      GEOJSON_IMPORT_LIMITS.bodyBytes,
    ),
    async (req, res) => {
      const { p, found } = await slideFor(res, req.params.id);
      if (!mayImport(found.grant))
        throw new HttpError(
          'FORBIDDEN',
          'this slide is shared with you: only its own site may import annotations onto it',
        );
      if (req.query.format !== 'geojson')
        throw new HttpError('INVALID_PARAMETER', 'Expected ?format=geojson');
      if (!Buffer.isBuffer(req.body))
        throw new HttpError(
          'INVALID_PARAMETER',
          'Expected a GeoJSON body (Content-Type application/geo+json)',
        );
      const actor = { id: p.user.id, name: p.user.displayName, moderator: false };
      const scope = { slideId: found.row.id, siteId: found.grant.siteId };
      const { ids, errors, refused } = await importGeoJson(
        req.body,
        scope,
        actor,
        hub.annotations,
        (applied) => {
          for (const a of applied) hub.broadcast(a, scope.siteId);
        },
      );
      const report = { imported: ids.length, ids, errors };
      if (ids.length === 0 && errors.length > 0) {
        // Nothing could be stored: an error as every other, with the report of every feature.
        res.status(400).json({
          code: 'INVALID_PARAMETER',
          message: `no feature could be imported (${errors[0]!.reason}${refused > 1 ? `, and ${refused - 1} more` : ''})`,
          requestId: String(res.locals.requestId ?? ''),
          ...report,
        });
        return;
      }
      await ctx.audit.record({
        action: 'annotation.import',
        actor: p.user,
        ip: clientIp(req),
        targetType: 'slide',
        targetId: found.row.id,
        targetSiteId: found.row.site_id,
        detail: { count: ids.length, refused },
      });
      // 201 when every feature was stored; 200 when some were left out (listed in `errors`).
      res.status(errors.length === 0 ? 201 : 200).json(report);
    },
  );

  r.post('/sessions', json({ limit: '16kb' }), async (req, res) => {
    const p = principal(res);
    const body = parseBody(CreateSessionRequestSchema, req.body);
    const found = await ctx.access.slide(p, body.slideId);
    if (!found) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${body.slideId}`);
    const refused = hostRefusal(p, found.grant);
    if (refused) throw new HttpError('FORBIDDEN', refused);
    const id = await hub.sessions.create(found.row.id, body.title, p.user.id, found.grant.siteId);
    await ctx.audit.record({
      action: 'session.create',
      actor: p.user,
      ip: clientIp(req),
      targetType: 'session',
      targetId: id,
      targetSiteId: found.row.site_id,
      detail: { slide: found.row.id },
    });
    res.status(201).json(await hub.sessions.get(id));
  });

  r.get('/sessions', async (_req, res) => {
    const p = principal(res);
    const list = await hub.sessions.listFor(p.user.role === 'admin' ? null : p.user.id);
    res.json(
      await Promise.all(list.map(async (s) => presentSession(s, await ctx.access.grant(p, s.slideId)))),
    );
  });

  const member = async (res: Parameters<typeof principal>[0], raw: unknown) => {
    const p = principal(res);
    const s = await hub.sessions.get(sessionIdParam(raw));
    if (!s) throw new HttpError('NOT_FOUND', 'no such session');
    const ok =
      s.hostId === p.user.id || p.user.role === 'admin' || s.invited.some((i) => i.userId === p.user.id);
    // Someone with the link but no invitation is told so (a session id is random, never guessed).
    if (!ok) throw new HttpError('FORBIDDEN', 'You are not invited to this review');
    if (!(await ctx.access.grant(p, s.slideId))) throw new HttpError('NOT_FOUND', 'no such session');
    return { p, s };
  };

  r.get('/inbox', async (_req, res) => {
    res.json(await inbox.list(principal(res)));
  });

  r.post('/inbox/:id', json({ limit: '1kb' }), async (req, res) => {
    const p = principal(res);
    const { response } = parseBody(InboxResponseSchema, req.body);
    const sessionId = sessionIdParam(req.params.id);
    const item = await inbox.respond(p, sessionId, response);
    const s = await hub.sessions.row(sessionId);
    await ctx.audit.record({
      action: response === 'accept' ? 'invitation.accept' : 'invitation.decline',
      actor: p.user,
      ip: clientIp(req),
      targetType: 'session',
      targetId: sessionId,
      targetSiteId: s?.site_id ?? null,
      detail: { kind: item.kind },
    });
    hub.notifyInbox(p.user.id);
    // The host hears of it too (a declined second opinion goes back to them).
    if (s) hub.notifyInbox(s.host_id);
    res.json(item);
  });

  r.get('/sessions/:id', async (req, res) => {
    const { p, s } = await member(res, req.params.id);
    const shown = presentSession(s, await ctx.access.grant(p, s.slideId));
    res.json({ ...shown, opinions: await hub.sessions.opinions(s.id) });
  });

  r.post('/sessions/:id/invite', json({ limit: '16kb' }), async (req, res) => {
    const { p, s } = await member(res, req.params.id);
    if (s.hostId !== p.user.id) throw new HttpError('FORBIDDEN', 'only the host invites');
    if (s.status !== 'open') throw new HttpError('CONFLICT', 'the session is closed');
    const body = parseBody(InviteRequestSchema, req.body);
    const invitee = await usersWithSite(ctx.db)
      .where('users.id', '=', body.userId)
      .where('users.disabled', '=', 0)
      .executeTakeFirst();
    if (!invitee) throw new HttpError('INVALID_PARAMETER', `no active user ${body.userId}`);
    const row = (await ctx.access.slide(p, s.slideId))!.row;
    // An invitee who cannot see the slide gets a share now, under the same rules as the share dialog.
    const asInvitee = { user: { id: invitee.id, siteId: invitee.site_id, role: invitee.role } } as Parameters<
      typeof ctx.access.grantFor
    >[0];
    const shares = await ctx.db.selectFrom('shares').selectAll().where('slide_id', '=', row.id).execute();
    let shared = null;
    if (!ctx.access.grantFor(asInvitee, row, shares)) {
      if (!ctx.access.canShare(p, row))
        throw new HttpError('FORBIDDEN', 'this user cannot see the slide and you may not share it');
      shared = await ctx.access.createShare(p, row, {
        userId: invitee.id,
        deidentified: !body.identified,
        ...(body.identified
          ? {}
          : { studyCode: body.studyCode ?? `REVIEW-${s.id.slice(0, 8).toUpperCase()}` }),
        expiresAt: new Date(Date.now() + body.days * 86_400_000).toISOString(),
      });
      await ctx.audit.record({
        action: 'share.create',
        actor: p.user,
        ip: clientIp(req),
        targetType: 'slide',
        targetId: row.id,
        targetSiteId: row.site_id,
        detail: {
          share: shared.id,
          grantee: shared.grantee,
          deidentified: shared.deidentified,
          studyCode: shared.studyCode,
          expiresAt: shared.expiresAt,
          session: s.id,
        },
      });
    }
    await hub.sessions.invite(s.id, invitee.id);
    hub.notifyInbox(invitee.id);
    await ctx.audit.record({
      action: 'session.invite',
      actor: p.user,
      ip: clientIp(req),
      targetType: 'session',
      targetId: s.id,
      targetSiteId: row.site_id,
      detail: { user: invitee.name },
    });
    res.json({
      session: presentSession((await hub.sessions.get(s.id))!, await ctx.access.grant(p, s.slideId)),
      share: shared,
    });
  });

  r.post('/sessions/:id/close', async (req, res) => {
    const { p, s } = await member(res, req.params.id);
    if (s.hostId !== p.user.id && p.user.role !== 'admin')
      throw new HttpError('FORBIDDEN', 'only the host closes the session');
    await hub.sessions.close(s.id);
    hub.closed(s.id);
    await ctx.audit.record({
      action: 'session.close',
      actor: p.user,
      ip: clientIp(req),
      targetType: 'session',
      targetId: s.id,
    });
    res.json(await hub.sessions.get(s.id));
  });

  return r;
}
