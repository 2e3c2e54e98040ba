import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Router } from 'express';
import {
  PROTOCOL_VERSION,
  type DuplicateOf,
  type JobDto,
  type SlideDetailDto,
  type UploadAccepted,
  permissionsOf,
} from '../../protocol/index.ts';
import { isSlideId } from '../../tiles/index.ts';
import type { ServerContext } from '../context.ts';
import type { Principal } from '../auth/auth.ts';
import { HttpError } from './errors.ts';
import { receiveUpload } from './uploads.ts';
import { clientIp, principal, requireRole } from './auth.ts';
import { presentSlide, scrubProperties } from '../auth/access.ts';
import { viewed } from './audit-view.ts';
import { libraryRouter } from './library.ts';
import { SOURCE_FIRST_MS } from '../jobs/provisional.ts';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A slide as `p` may see it, with its properties (scrubbed through a de-identified share); null when
 * it is not visible. Records the view, and opens the slide for the field of tiles the viewer asks
 * for next. The API's answer for `/api/slides/{id}`, and what a slide's page carries with it.
 */
export async function slideDetail(
  ctx: ServerContext,
  req: IncomingMessage,
  p: Principal,
  id: string,
): Promise<SlideDetailDto | null> {
  const found = await ctx.access.slide(p, id);
  if (!found) return null;
  void ctx.tiles.warm(id);
  ctx.access.grant(p, id).catch(() => null);
  const manifest = await ctx.store.manifest(id);
  const slide = presentSlide(found.row, found.grant);
  const properties = manifest?.properties ?? {};
  await viewed(ctx, req, p, found.row.id, found.row.site_id, 'manifest');
  return {
    ...slide,
    properties: found.grant.deidentified ? scrubProperties(properties) : properties,
    rendering: manifest?.rendering ?? null,
  };
}

export function apiRouter(ctx: ServerContext): Router {
  const r = Router();

  r.get('/health', (_req, res) => {
    res.json({ ok: true, protocolVersion: PROTOCOL_VERSION });
  });

  r.get('/config', (_req, res) => {
    res.json({
      protocolVersion: PROTOCOL_VERSION,
      tileSize: ctx.config.tileSize,
      maxUploadBytes: ctx.config.maxUploadBytes,
    });
  });

  // The library: GET /slides in pages, rename, delete, case links (library.ts).
  r.use(libraryRouter(ctx));

  r.get('/slides/:id', async (req, res) => {
    const id = slideIdParam(req.params.id);
    const detail = await slideDetail(ctx, req, principal(res), id);
    if (!detail) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
    res.json(detail);
  });

  r.post('/slides', async (req, res) => {
    const p = requireRole(res, (q) => permissionsOf(q.user.role).ingest, 'upload slides');
    // Checked before a byte is received: a wrong case number costs no upload.
    const caseRaw = req.query.case;
    if (
      caseRaw !== undefined &&
      (typeof caseRaw !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9/_.-]{0,39}$/.test(caseRaw))
    )
      throw new HttpError('INVALID_PARAMETER', 'Expected ?case= to be a case accession');
    if (caseRaw !== undefined) await ctx.cases.caseForUpload(p.user, caseRaw);
    const upload = await receiveUpload(
      req,
      path.join(ctx.config.dataDir, 'uploads'),
      ctx.config.maxUploadBytes,
    );
    // The job's row first and the slide opened from the upload before its converter starts: the
    // first tiles then do not share the machine with the converter's start.
    const owner = { userId: p.user.id, siteId: p.user.siteId };
    const jobId = randomUUID();
    // The upload's audit record is committed with its job's row: no upload accepted unrecorded, and
    // nothing left to write once the answer is out, when the slide's first requests come.
    const pending = await ctx.jobs.create(jobId, 'ingest', upload.name, owner, (trx) =>
      ctx.audit.record(
        {
          action: 'slide.upload',
          actor: p.user,
          ip: clientIp(req),
          targetType: 'job',
          targetId: jobId,
          targetSiteId: p.user.siteId,
          detail: { name: upload.name, bytes: upload.bytes },
        },
        trx,
      ),
    );
    // Viewable at once where its reader can serve it: listed and tiled from the upload meanwhile.
    const opened =
      upload.sha256 &&
      (await ctx.provisional.open(
        { input: upload.input, name: upload.name, sha256: upload.sha256 },
        pending,
        owner,
      ));
    const job = await ctx.queue.enqueue(upload.input, upload.name, upload.dir, {
      ...owner,
      caseAccession: caseRaw ?? null,
      jobId: pending.id,
      ...(opened ? { startAfterMs: SOURCE_FIRST_MS } : {}),
    });
    const body: UploadAccepted = {
      jobId: job.id,
      name: upload.name,
      bytes: upload.bytes,
      ...(opened ? { slideId: opened } : {}),
    };
    res.setHeader('Server-Timing', uploadTiming(upload));
    res.status(202).location(`/api/jobs/${job.id}`).json(body);
    if (opened) ctx.provisional.warm(opened);
  });

  r.get('/jobs', async (_req, res) => {
    const p = principal(res);
    res.json(await ctx.jobs.recent(100, p.user.role === 'admin' ? null : p.user.id));
  });

  r.get('/jobs/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!JOB_ID.test(id))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected a job id (UUID) but received ${JSON.stringify(id.slice(0, 64))}`,
      );
    const p = principal(res);
    const job = await ctx.jobs.get(id, p.user.role === 'admin' ? null : p.user.id);
    if (!job) throw new HttpError('JOB_NOT_FOUND', `no job ${id}`);
    res.json({ ...job, duplicateOf: await duplicateOf(ctx, job) });
  });

  return r;
}

/**
 * Server-Timing of an upload's answer: `receive`, from the request's first read to its last byte, and
 * `open`, from that last byte to this answer (the slide opened and registered). A client on the same
 * machine reads how long the bytes it had handed to its socket still took to arrive; the open-at-once
 * benchmark times the first tile from the last byte's arrival with it.
 */
function uploadTiming(u: { startedAt: number; lastByteAt: number }): string {
  const now = performance.now();
  return (
    `receive;dur=${(u.lastByteAt - u.startedAt).toFixed(1)};desc="first to last byte", ` +
    `open;dur=${(now - u.lastByteAt).toFixed(1)};desc="last byte to this answer"`
  );
}

export function slideIdParam(raw: unknown): string {
  const id: string = String(raw);
  if (!isSlideId(id)) {
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected a slide id (32 hex digits) but received ${JSON.stringify(String(raw).slice(0, 64))}`,
    );
  }
  return id;
}

/**
 * The slide an upload turned out to be already in the library as, for the uploader's site: the
 * ingest finished with "already stored" (the site owned the same content before), and the name is
 * the one the site knew it by. A slide only another site holds is never named here.
 */
async function duplicateOf(ctx: ServerContext, job: JobDto): Promise<DuplicateOf | null> {
  if (job.state !== 'done' || job.stage !== 'already stored' || !job.slideId) return null;
  const site = await ctx.jobs.siteOf(job.id);
  const own = await ctx.db
    .selectFrom('slide_sites')
    .innerJoin('slides', 'slides.id', 'slide_sites.slide_id')
    .select('slide_sites.name')
    .where('slide_sites.slide_id', '=', job.slideId)
    .where((eb) => (site === null ? eb.lit(true) : eb('slide_sites.site_id', '=', site)))
    .orderBy('slide_sites.created_at')
    .executeTakeFirst();
  return own ? { slideId: job.slideId, name: own.name } : null;
}
