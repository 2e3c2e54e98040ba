import cluster from 'node:cluster';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { createApp, createHandler, createServerContext } from './app.ts';
import { closeRegionReaders, createStore, regionReaders } from '../tiles/index.ts';
import { rehearseSourceServing } from '../tiles/serve/rehearsal.ts';
import { type Config, ConfigError, loadConfig, storeSpec } from './config.ts';
import type { ServerContext } from './context.ts';

/**
 * Live review sessions on the HTTP server: in-process rooms, or rooms shared by every process through
 * Redis streams when TESSERA_REDIS_URL is set (needed with TESSERA_WORKERS > 1 or several machines).
 */
async function attachReview(
  ctx: ServerContext,
  server: Server,
): Promise<{ quit(): Promise<unknown> } | null> {
  if (!ctx.config.redisUrl) {
    if (ctx.config.workers > 1)
      ctx.log(
        'review sessions: without TESSERA_REDIS_URL each worker has its own rooms; set it when TESSERA_WORKERS > 1',
      );
    ctx.review.attach(server);
    return null;
  }
  const { createAdapter } = await import('@socket.io/redis-streams-adapter');
  const client = ctx.redis!;
  ctx.review.attach(server, createAdapter(client) as never);
  // Revocations reach every process at once (each re-checks its own sockets).
  await ctx.rights.connect(client);
  return {
    quit: async () => {
      await ctx.rights.close();
      await client.quit();
    },
  };
}

/**
 * Start the HTTP server; resolves once it listens. `rehearse`: serve a small slide from its source
 * once, in the background (see rehearseSourceServing), as `tessera serve` does.
 */
export async function startServer(
  config: Config,
  opts: { recover?: boolean; rehearse?: boolean } = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const ctx = await createServerContext(config, console.log, opts);
  const app = createApp(ctx);
  const server = createServer({ keepAlive: true }, createHandler(ctx, app));
  const redis = await attachReview(ctx, server);
  server.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.keepAliveTimeout = 65_000;
  const addr = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${host}:${addr.port}`;
  // Algorithms post their results back here (TESSERA_PUBLIC_URL behind a proxy).
  ctx.ai.start(config.publicUrl || url);
  // OpenSlide formats are served before their conversion through a reader process: ready before
  // the first upload needs it.
  regionReaders().prestart();
  const rehearsal = opts.rehearse
    ? rehearseSourceServing(tmpdir()).then(
        () => undefined,
        (e: unknown) =>
          ctx.log(
            `slide readers: a small test slide could not be served from its source: ${e instanceof Error ? e.message : String(e)}`,
          ),
      )
    : null;
  return {
    url,
    close: async () => {
      await rehearsal;
      await ctx.ai.close();
      await ctx.review.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await redis?.quit();
      await ctx.queue.close();
      await ctx.provisional.close();
      await ctx.tiles.close();
      await closeRegionReaders();
      await ctx.db.destroy();
    },
  };
}

/**
 * The data folder must take writes (database, uploads, slides): a read-only or misnamed one stops
 * the start with one line, not a stack trace from whichever write came first.
 */
export async function checkDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    const probe = path.join(dir, `.write-test-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new ConfigError(`data folder ${dir} is not writable (${code})`);
  }
}

/**
 * Run the server in the foreground. With TESSERA_WORKERS > 1 the primary process does the start-up
 * recovery once, then forks that many workers sharing the port (the kernel balances connections) and
 * replaces any that die.
 */
export async function runServer(config: Config): Promise<void> {
  // V8 drops the compiled code of functions that have not run for a few garbage collections; on a
  // busy server that is the upload and source-serving path between two uploads, which then ran
  // 2-4x slower when the next slide arrived. Kept, with the start's rehearsal below, it stays ready.
  v8.setFlagsFromString('--no-flush-bytecode');
  if (cluster.isPrimary) await checkDataDir(config.dataDir);
  if (config.workers <= 1) {
    const { url, close } = await startServer(config, { rehearse: true });
    console.log(
      `Tessera listening on ${url} (data: ${config.dataDir}${config.store ? `, slides: ${config.store}` : ''})`,
    );
    onStop(close);
    return;
  }
  if (cluster.isPrimary) {
    const ctx = await createServerContext(config, console.log);
    await ctx.queue.close();
    await ctx.redis?.quit();
    await ctx.tiles.close();
    await ctx.db.destroy();
    let stopping = false;
    for (let i = 0; i < config.workers; i++) cluster.fork();
    cluster.on('exit', (w, code, signal) => {
      if (stopping) return;
      console.error(`worker ${w.process.pid} stopped (${signal ?? code}); starting another`);
      cluster.fork();
    });
    console.log(
      `Tessera listening on port ${config.port} with ${config.workers} workers (data: ${config.dataDir}${config.store ? `, slides: ${config.store}` : ''})`,
    );
    onStop(async () => {
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    });
    return;
  }
  const { close } = await startServer(config, { recover: false, rehearse: true });
  onStop(close);
}

/**
 * `tessera worker`: a node that only ingests, taking jobs from the shared Redis queue (no HTTP). It
 * scales apart from the servers; stopped, it finishes the jobs it holds first (a killed one's are
 * taken up by another worker once their lock lapses).
 */
export async function runWorker(config: Config): Promise<{ close: () => Promise<void> }> {
  if (!config.redisUrl)
    throw new ConfigError(
      'tessera worker takes its jobs from Redis: set TESSERA_REDIS_URL (redis://host:port)',
    );
  await checkDataDir(config.dataDir);
  // What a killed worker left in its own data folder (conversions cut short, uploads fetched from
  // the store), before this one takes a job: a sweep takes this process's own folders for a dead
  // predecessor's. Only with an object store: a shared data folder's scratch may be another
  // machine's, whose processes this one cannot see.
  if (config.store) {
    const sweeper = createStore(storeSpec(config));
    const swept = await sweeper
      .sweep()
      .finally(() => (sweeper as { destroy?: () => Promise<void> }).destroy?.());
    if (swept) console.log(`cleaned up ${swept} unfinished conversion(s) or fetched upload(s)`);
  }
  const ctx = await createServerContext(config, console.log, { recover: false, ingest: true });
  // A worker answers no HTTP: it runs algorithms only when they can reach a server's public URL.
  if (config.publicUrl) ctx.ai.start(config.publicUrl);
  const close = async (): Promise<void> => {
    await ctx.ai.close();
    await ctx.queue.close();
    await ctx.redis?.quit();
    await ctx.review.close();
    await ctx.tiles.close();
    await ctx.db.destroy();
  };
  console.log(
    `Tessera worker ingesting from ${redactUrl(config.redisUrl)} (prefix ${config.redisPrefix}, ${config.ingestConcurrency} at a time; data: ${config.dataDir}${config.store ? `, slides: ${config.store}` : ''})`,
  );
  onStop(close);
  return { close };
}

/** A URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis';
  }
}

function onStop(close: () => Promise<void>): void {
  const stop = (): void => {
    void close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isEntry)
  await Promise.resolve()
    .then(() => runServer(loadConfig()))
    .catch((e: unknown) => {
      if (!(e instanceof ConfigError)) throw e;
      console.error(`error: ${e.message}`);
      process.exit(2);
    });
