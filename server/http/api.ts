import path from 'node:path';
import { Router } from 'express';
import { PROTOCOL_VERSION, type UploadAccepted } from '../../protocol/index.ts';
import { isSlideId } from '../../tiles/index.ts';
import type { ServerContext } from '../context.ts';
import { HttpError } from './errors.ts';
import { receiveUpload } from './uploads.ts';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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

  r.get('/slides', async (_req, res) => {
    res.json(await ctx.slides.list());
  });

  r.get('/slides/:id', async (req, res) => {
    const id = slideIdParam(req.params.id);
    const slide = await ctx.slides.get(id);
    if (!slide) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);
    res.json(slide);
  });

  r.post('/slides', async (req, res) => {
    const upload = await receiveUpload(
      req,
      path.join(ctx.config.dataDir, 'uploads'),
      ctx.config.maxUploadBytes,
    );
    const job = await ctx.queue.enqueue(upload.input, upload.name, upload.dir);
    const body: UploadAccepted = { jobId: job.id, name: upload.name, bytes: upload.bytes };
    res.status(202).location(`/api/jobs/${job.id}`).json(body);
  });

  r.get('/jobs', async (_req, res) => {
    res.json(await ctx.jobs.recent(100));
  });

  r.get('/jobs/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!JOB_ID.test(id))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected a job id (UUID) but received ${JSON.stringify(id.slice(0, 64))}`,
      );
    const job = await ctx.jobs.get(id);
    if (!job) throw new HttpError('JOB_NOT_FOUND', `no job ${id}`);
    res.json(job);
  });

  return r;
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
