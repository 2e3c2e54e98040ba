import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import express, { type Express } from 'express';
import { LocalSlideStore } from '../tiles/index.ts';
import type { Config } from './config.ts';
import type { ServerContext } from './context.ts';
import { openDb } from './db/index.ts';
import { JobRepo } from './db/jobs.ts';
import { SlideRepo } from './db/slides.ts';
import { apiRouter } from './http/api.ts';
import { errorHandler, notFound } from './http/errors.ts';
import { IngestQueue } from './jobs/ingest-queue.ts';

/**
 * Open storage and database, clear what a crash left behind, and index slides that reached the store
 * without the server (CLI ingests into the same data folder).
 */
export async function createServerContext(
  config: Config,
  log: (msg: string) => void = console.log,
): Promise<ServerContext> {
  const store = new LocalSlideStore(config.dataDir);
  const db = await openDb({ databaseUrl: config.databaseUrl, sqliteFile: config.dbFile });
  const slides = new SlideRepo(db);
  const jobs = new JobRepo(db);
  const swept = await store.sweep();
  await rm(path.join(config.dataDir, 'uploads'), { recursive: true, force: true });
  const interrupted = await jobs.failInterrupted();
  if (swept || interrupted)
    log(`cleaned up ${swept} unfinished conversion(s), ${interrupted} interrupted job(s)`);
  const known = await slides.ids();
  for (const m of await store.list()) if (!known.has(m.id)) await slides.register(m);
  const queue = new IngestQueue(jobs, slides, {
    dataDir: config.dataDir,
    tileSize: config.tileSize,
    jpegQuality: config.jpegQuality,
    sharpConcurrency: config.sharpConcurrency,
    concurrency: config.ingestConcurrency,
    timeoutMs: config.ingestTimeoutSeconds * 1000,
    log,
  });
  return { config, db, store, slides, jobs, queue, log };
}

/** The HTTP application (no listen, no environment). */
export function createApp(ctx: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    const id = randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    next();
  });
  app.use('/api', apiRouter(ctx));
  app.use(notFound);
  app.use(errorHandler(ctx.log));
  return app;
}
