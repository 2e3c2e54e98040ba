import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AiRunDto, AlgorithmDto, JobDto, Role, UploadAccepted } from '../../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import type { ServerContext } from '../../server/context.ts';
import { userFetch, userWithToken } from './auth.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TESSERA_BIN = path.join(REPO, 'scripts/bin/tessera.mjs');

export interface AiServer {
  ctx: ServerContext;
  base: string;
  dataDir: string;
  tokens: Record<string, string>;
  ids: Record<string, string>;
  as: (user: string, p: string, init?: RequestInit) => Promise<Response>;
  close(): Promise<void>;
}

/**
 * A real server over HTTP (its own data folder and database), taking AI runs with its own URL as
 * the one algorithms post back to, and users with bearer tokens.
 */
export async function startAiServer(
  users: [name: string, role: Role, site: string][],
  prefix = 'tessera-ai-',
): Promise<AiServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), prefix));
  const ctx = await createServerContext(
    loadConfig({ dataDir, port: 0, host: '127.0.0.1', sharpConcurrency: 2 }, {}),
    () => {},
  );
  const server: Server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ctx.ai.start(base);
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  for (const [name, role, siteId] of users) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tokens[name] = u.token;
    ids[name] = u.id;
  }
  return {
    ctx,
    base,
    dataDir,
    tokens,
    ids,
    as: userFetch(() => base, tokens),
    close: async () => {
      await ctx.ai.close();
      await ctx.review.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await ctx.queue.idle();
      await ctx.tiles.close();
      await ctx.db.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function json<T>(res: Response | Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  if (r.status !== status)
    throw new Error(`expected HTTP ${status} but got ${r.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** Upload a sample file as `user` and wait for its ingest job; the stored slide's id. */
export async function upload(
  s: AiServer,
  user: string,
  file: string,
  name = path.basename(file),
): Promise<string> {
  const accepted = await json<UploadAccepted>(
    s.as(user, `/api/slides?name=${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(file),
    }),
    202,
  );
  for (let i = 0; i < 1200; i++) {
    const job = await json<JobDto>(s.as(user, `/api/jobs/${accepted.jobId}`));
    if (job.state === 'done') return job.slideId!;
    if (job.state === 'failed') throw new Error(`ingest failed: ${job.error?.message}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('ingest did not finish');
}

/** Poll a run until it has ended. */
export async function waitRun(s: AiServer, user: string, runId: string, ms = 60_000): Promise<AiRunDto> {
  const t0 = Date.now();
  for (;;) {
    const run = await json<AiRunDto>(s.as(user, `/api/ai/runs/${runId}`));
    if (run.state === 'done' || run.state === 'failed') return run;
    if (Date.now() - t0 > ms)
      throw new Error(`run ${runId} still ${run.state} after ${ms} ms (${run.stage})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Register an algorithm as `admin`. */
export function register(s: AiServer, admin: string, body: Record<string, unknown>): Promise<AlgorithmDto> {
  return json<AlgorithmDto>(
    s.as(admin, '/api/ai/algorithms', { method: 'POST', body: JSON.stringify(body) }),
    201,
  );
}

/** The reference algorithm as its own process on a free port (`tessera ai-reference --port 0`). */
export async function startReference(): Promise<{ url: string; proc: ChildProcess; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, [TESSERA_BIN, 'ai-reference', '--port', '0', '--concurrency', '2'], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`reference algorithm did not start: ${err}`)), 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => reject(new Error(`reference algorithm exited ${code}: ${err}`)));
  });
  return {
    url,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** The reference algorithm as a local command (one job on standard input). */
export const REFERENCE_COMMAND = [process.execPath, TESSERA_BIN, 'ai-reference', '--job', '-'];

/** Signed area of a GeoJSON ring (any orientation: its absolute value). */
export function ringArea(ring: number[][]): number {
  let s = 0;
  for (let i = 0; i < ring.length - 1; i++)
    s += ring[i]![0]! * ring[i + 1]![1]! - ring[i + 1]![0]! * ring[i]![1]!;
  return Math.abs(s / 2);
}
