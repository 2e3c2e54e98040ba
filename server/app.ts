import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import { accountsRouter, authenticate, sameOriginWrites } from './http/auth.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { precompileManifestSchema } from '../protocol/index.ts';
import { type SlideStore, createStore } from '../tiles/index.ts';
import { TileService } from '../tiles/serve/index.ts';
import { type Config, storeSpec } from './config.ts';
import type { RedisClient, ServerContext } from './context.ts';
import { openDb } from './db/index.ts';
import { JobRepo } from './db/jobs.ts';
import { SlideRepo } from './db/slides.ts';
import { apiRouter, slideDetail } from './http/api.ts';
import { cors } from './http/cors.ts';
import { CLIENT_DIST, clientRouter } from './http/static.ts';
import { firstAdminCommand } from './auth/setup.ts';
import type { Principal } from './auth/auth.ts';
import { HttpError, errorHandler, notFound } from './http/errors.ts';
import { dziTileFastPath, tilesRouter } from './http/tiles.ts';
import { exportRouter } from './http/export.ts';
import { dicomwebRouter } from './http/dicomweb.ts';
import { stowRouter } from './http/stow.ts';
import { importsRouter } from './http/imports.ts';
import { IngestQueue, type IngestQueueOptions, type JobQueue, type StoredJob } from './jobs/ingest-queue.ts';
import { RedisIngestQueue } from './jobs/redis-queue.ts';
import { reconcileStore } from './jobs/reconcile.ts';
import { ProvisionalSlides } from './jobs/provisional.ts';
import { Access } from './auth/access.ts';
import { AuditLog } from './auth/audit.ts';
import { Auth } from './auth/auth.ts';
import { RightsBus } from './auth/rights-bus.ts';
import { userCount } from './auth/users.ts';
import { ReviewHub } from './review/hub.ts';
import { annotationsRouter } from './http/annotations.ts';
import { reviewRouter } from './http/review.ts';
import { casePageRouter } from './http/case-page.ts';
import { adminRouter } from './http/admin.ts';
import { casesRouter } from './http/cases.ts';
import { CaseService } from './cases/service.ts';
import { AiService } from './ai/service.ts';
import { scopeGuard } from './ai/scope.ts';
import { aiRouter } from './http/ai.ts';

/**
 * Open storage and database, clear what a crash left behind, and index slides that reached the store
 * without the server (CLI ingests into the same data folder).
 */
/**
 * A stored slide joins its case: the accession chosen on upload, else an open case of the uploader's
 * site whose accession appears in the file name or in the scanner's metadata (barcode, label text).
 */
async function linkToCase(cases: CaseService | undefined, slideId: string, job: StoredJob): Promise<void> {
  if (!cases) return;
  let caseId = job.caseAccession ? await cases.caseOfAccession(job.caseAccession) : null;
  if (!caseId && job.siteId) {
    const base = [job.name, ...Object.values(job.properties)].join('\n').toUpperCase();
    const open = await cases.list({ site: job.siteId, openOnly: true, limit: 50_000 });
    const hit = open
      .filter((c) => c.accession.length >= 4 && base.includes(c.accession.toUpperCase()))
      .sort((a, b) => b.accession.length - a.accession.length)[0];
    caseId = hit?.id ?? null;
  }
  if (caseId) await cases.attachSlide(caseId, slideId);
}

/** One connection per process to the deployment's Redis; errors are logged, the client reconnects. */
async function connectRedis(url: string, log: (msg: string) => void): Promise<RedisClient> {
  const { createClient } = await import('redis');
  const client = createClient({ url });
  client.on('error', (e: unknown) => log(`redis: ${e instanceof Error ? e.message : String(e)}`));
  await client.connect();
  return client;
}

export async function createServerContext(
  config: Config,
  log: (msg: string) => void = console.log,
  opts: { recover?: boolean; ingest?: boolean } = {},
): Promise<ServerContext> {
  // Compiled now, not inside the first upload's answer.
  precompileManifestSchema();
  const spec = storeSpec(config);
  const store = createStore(spec);
  const ctxRef: { cases?: CaseService; ai?: AiService; provisional?: ProvisionalSlides } = {};
  const db = await openDb({ databaseUrl: config.databaseUrl, sqliteFile: config.dbFile });
  const slides = new SlideRepo(db);
  const jobs = new JobRepo(db);
  if (opts.recover !== false) await recover(store, slides, jobs, config, log);
  const ingest: IngestQueueOptions = {
    dataDir: config.dataDir,
    store: spec,
    ...(store.uploads ? { uploads: store.uploads } : {}),
    tileSize: config.tileSize,
    jpegQuality: config.jpegQuality,
    sharpConcurrency: config.sharpConcurrency,
    concurrency: config.ingestConcurrency,
    timeoutMs: config.ingestTimeoutSeconds * 1000,
    log,
    onStored: async (slideId, job) => {
      // Converted here: this node's tiles come from the store from now on, not after the next poll.
      ctxRef.provisional?.published(slideId);
      await linkToCase(ctxRef.cases, slideId, job);
      await ctxRef.ai?.slideStored(slideId, job.siteId);
    },
  };
  // With Redis the jobs are shared by every node (server/jobs/redis-queue.ts).
  const queue: JobQueue = config.redisUrl
    ? new RedisIngestQueue(jobs, slides, {
        ...ingest,
        redisUrl: config.redisUrl,
        prefix: config.redisPrefix,
        work: opts.ingest ?? config.serveIngest,
        lockMs: config.jobLockSeconds * 1000,
        attempts: config.jobAttempts,
      })
    : new IngestQueue(jobs, slides, ingest);
  const tiles = new TileService(store, {
    cacheBytes: config.tileCacheMb * 1024 * 1024,
    renderConcurrency: config.renderConcurrency,
    renderQueue: config.renderQueue,
    renderQueuePerRequester: config.renderQueuePerUser,
    iiifLimits: {
      maxWidth: config.iiifMaxWidth,
      maxHeight: config.iiifMaxHeight,
      maxArea: config.iiifMaxArea,
      maxUpscale: config.iiifMaxUpscale,
    },
  });
  const provisional = new ProvisionalSlides(db, slides, jobs, tiles, store, {
    dataDir: config.dataDir,
    tileSize: config.tileSize,
    jpegQuality: config.jpegQuality,
    log,
  });
  ctxRef.provisional = provisional;
  await provisional.resume();
  const redis = config.redisUrl ? await connectRedis(config.redisUrl, log) : null;
  const rights = new RightsBus(log);
  const auth = new Auth(db, rights);
  const access = new Access(db, rights);
  // First of all listeners: whoever re-checks after a notice must not read a stale cache.
  rights.on(() => {
    auth.forgetAll();
    access.forgetAll();
  });
  const audit = new AuditLog(db);
  if (opts.recover !== false && (await userCount(db)) === 0)
    log(`no users yet: make the first administrator with \`${firstAdminCommand(config.dataDir)}\``);
  const ctx: ServerContext = {
    config,
    db,
    store,
    slides,
    jobs,
    queue,
    tiles,
    provisional,
    auth,
    access,
    audit,
    rights,
    log,
    redis,
  } as ServerContext;
  ctx.review = new ReviewHub(ctx);
  ctx.cases = new CaseService(db);
  ctxRef.cases = ctx.cases;
  ctx.ai = new AiService(ctx);
  ctxRef.ai = ctx.ai;
  // Whoever watches the slide (viewer, library) hears of a run ending, as its user may see it.
  ctx.ai.runs.onEnded((runId) => {
    ctx.review
      .aiRunEnded(runId)
      .catch((e: unknown) => log(`ai: notice of run ${runId} failed: ${String(e)}`));
  });
  // Without a shared queue nothing else can finish the runs a stopped process held.
  if (opts.recover !== false && !config.redisUrl) await ctx.ai.recover();
  return ctx;
}

/**
 * Once per start (not per cluster worker): delete staging areas and uploads a crash left, give slides
 * published just before a crash to the sites whose jobs made them (server/jobs/reconcile.ts), fail
 * the jobs that were running (without Redis: with it the shared queue runs them again), and index
 * slides that reached the store without the server.
 */
async function recover(
  store: SlideStore,
  slides: SlideRepo,
  jobs: JobRepo,
  config: Config,
  log: (msg: string) => void,
): Promise<void> {
  const swept = await store.sweep();
  // With Redis the queue belongs to every node: its jobs, and uploads waiting in a data folder all
  // nodes mount, are whichever worker's holds them (a stalled job is taken up again), not this
  // start's to end.
  const shared = config.redisUrl !== '';
  if (!shared) await rm(path.join(config.dataDir, 'uploads'), { recursive: true, force: true });
  const { finished } = await reconcileStore(store, slides, jobs, log);
  const interrupted = shared ? 0 : await jobs.failInterrupted();
  if (swept || interrupted || finished)
    log(
      `cleaned up ${swept} unfinished conversion(s), ${interrupted} interrupted job(s); ${finished} job(s) found stored`,
    );
}

/**
 * The Content-Security-Policy the viewer runs under: nothing inline, nothing from elsewhere;
 * OpenSeadragon decodes tiles in a blob: worker and may draw from blob: URLs.
 */
export const CSP: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'blob:', 'data:'],
  'worker-src': ["'self'", 'blob:'],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

/** Routes that answer without signing in: liveness and what the sign-in page needs. */
const PUBLIC_API = new Set(['/api/health', '/api/auth/state', '/api/auth/login', '/api/auth/logout']);

/** Every API, tile and IIIF route needs a signed-in user; the client's pages and assets do not. */
const requireSignIn: RequestHandler = (req, res, next) => {
  const p = req.path;
  const guarded = p.startsWith('/api/') || p === '/api' || p.startsWith('/slides/') || p.startsWith('/iiif/');
  if (!guarded || PUBLIC_API.has(p) || res.locals.principal) return next();
  next(new HttpError('UNAUTHENTICATED', 'sign in first (session cookie or Authorization: Bearer token)'));
};

/** The HTTP application (no listen, no environment). */
export function createApp(ctx: ServerContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', ctx.config.trustProxy);
  app.set('etag', false);
  app.use((req, res, next) => {
    const id = randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    next();
  });
  app.use(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: CSP },
      // Tiles and thumbnails are fetched by our own pages only.
      crossOriginResourcePolicy: { policy: 'same-origin' },
      strictTransportSecurity: false,
    }),
  );
  app.use(cors(ctx.config.corsOrigins));
  app.use(authenticate(ctx));
  app.use(scopeGuard(() => ctx.ai));
  app.use(requireSignIn);
  app.use(sameOriginWrites());
  app.use(tilesRouter(ctx, ctx.tiles));
  app.use('/api', exportRouter(ctx));
  app.use('/api', importsRouter(ctx));
  app.use('/dicomweb', stowRouter(ctx));
  app.use('/dicomweb', dicomwebRouter(ctx));
  app.use('/api', accountsRouter(ctx));
  app.use('/api', apiRouter(ctx));
  app.use('/api', annotationsRouter(ctx));
  app.use('/api', reviewRouter(ctx));
  app.use('/api', casesRouter(ctx));
  app.use('/api', casePageRouter(ctx));
  app.use('/api', adminRouter(ctx));
  app.use('/api', aiRouter(ctx));
  app.use(
    clientRouter(CLIENT_DIST, (req, res, id) => {
      const p = res.locals.principal as Principal | null | undefined;
      return p ? slideDetail(ctx, req, p, id) : Promise.resolve(null);
    }),
  );
  app.use(notFound);
  app.use(errorHandler(ctx.log));
  return app;
}

/**
 * The node:http handler: Deep Zoom tiles (the bulk of all requests) go straight to the tile service,
 * everything else through Express.
 */
export function createHandler(
  ctx: ServerContext,
  app: Express,
): (req: IncomingMessage, res: ServerResponse) => void {
  const allowed = new Set(
    ctx.config.corsOrigins
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  return (req, res) => {
    if (allowed.size === 0 && dziTileFastPath(ctx, req, res)) return;
    app(req, res);
  };
}
