/**
 * Several nodes on one database, one S3 store and one Redis: two `tessera serve` processes that do
 * not ingest and one `tessera worker`, as separate processes, the slides in a bucket on a real Ceph
 * RADOS Gateway. The worker has a data folder of its own, as on another machine: an upload received
 * by node A is staged in the bucket, and the worker fetches it from there. Node B serves the stored
 * slide (Deep Zoom, IIIF); a worker killed mid-ingest leaves no manifest published, a node restarted
 * meanwhile fails no job, and the job finishes once a worker runs again; sign-in limits count across
 * nodes. In `npm run test:postgres` all three share one PostgreSQL database. Needs `redis-server`
 * (apt-get install redis-server) and ceph-mon ceph-osd radosgw ceph-common.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import sharp from 'sharp';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewSession, type ReviewSocket } from '../client/src/review/session-client.ts';
import type { JobDto, ReviewSessionDto, ShareDto, SlideDto, UploadAccepted } from '../protocol/index.ts';
import { CONVERTER, alive, childrenOf } from './helpers/procs.ts';
import { type RedisServer, freePort, requireRedis, startRedis } from './helpers/redis.ts';
import { type Rgw, keysUnder, requireRgw, startRgwWithBucket, storeEnv } from './helpers/rgw.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const BIN = path.resolve('scripts/bin/tessera.mjs');
const have = requireSlides() && requireRedis() && requireRgw('the multi-node test');
const BUCKET = 'tessera-nodes';
const PREFIX = 'nodes';

let root = '';
/** The servers' data folder (their scratch space; in the SQLite run, the database too). */
let dataDir = '';
/** The worker's own data folder: nothing of the servers' is in it. */
let workerDir = '';
let env: NodeJS.ProcessEnv = {};
let redis: RedisServer | null = null;
let rgw: Rgw | null = null;
let database: { admin: string; name: string } | null = null;
const procs: ChildProcess[] = [];
let token = '';
/** Bearer tokens of the people below, by name. */
const tokens: Record<string, string> = {};
/** The slide stored by the first test. */
let slideId = '';
const base: { a: string; b: string } = { a: '', b: '' };
const ports = { a: 0, b: 0 };

function cli(args: string[], input?: string): string {
  const r = spawnSync(process.execPath, [BIN, ...args, '--data', dataDir], { env, input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tessera ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A node in its own process; resolves once it says it is ready. */
function start(args: string[], ready: RegExp, data = dataDir): Promise<ChildProcess> {
  const p = spawn(process.execPath, [BIN, ...args, '--data', data], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(p);
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tessera ${args[0]} did not start: ${out}`)), 60_000);
    const hear = (b: Buffer): void => {
      out += b.toString();
      if (ready.test(out)) {
        clearTimeout(t);
        resolve(p);
      }
    };
    p.stdout!.on('data', hear);
    p.stderr!.on('data', hear);
    p.once('exit', (code) => reject(new Error(`tessera ${args[0]} exited ${code}: ${out}`)));
  });
}

const serve = (port: number): Promise<ChildProcess> =>
  start(['serve', '--port', String(port), '--host', '127.0.0.1'], /listening on/);

const startWorker = (): Promise<ChildProcess> => start(['worker'], /Tessera worker ingesting/, workerDir);

/** Keys of the bucket under this deployment's prefix. */
const keys = (under: string): Promise<string[]> => keysUnder(rgw!, BUCKET, `${PREFIX}/${under}`);
/** Slides with a manifest in the bucket: what exists for every reader. */
const published = async (): Promise<string[]> =>
  (await keys('slides/')).filter((k) => k.endsWith('/manifest.json'));
/** Scratch folders left in the worker's data folder (fetched uploads, conversions). */
const workerScratch = (): string[] => {
  const tmp = path.join(workerDir, 'tmp');
  return existsSync(tmp) ? readdirSync(tmp) : [];
};

const api = (url: string, init: RequestInit = {}): Promise<Response> =>
  fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });

async function job(node: string, id: string): Promise<JobDto> {
  const r = await api(`${node}/api/jobs/${id}`);
  expect(r.status).toBe(200);
  return (await r.json()) as JobDto;
}

async function until<T>(what: string, f: () => Promise<T | null>, ms = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Slides listed by a node (the list's first page holds them all here). */
async function slideCount(node: string): Promise<number> {
  const r = await api(`${node}/api/slides?limit=100`);
  expect(r.status).toBe(200);
  const body = (await r.json()) as unknown;
  const list = Array.isArray(body) ? body : Object.values(body as object).find(Array.isArray);
  if (!Array.isArray(list)) throw new Error('no list of slides in the answer');
  return list.length;
}

async function upload(node: string, name: string, body: Buffer): Promise<string> {
  const r = await api(`${node}/api/slides?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body,
  });
  expect(r.status).toBe(202);
  return ((await r.json()) as UploadAccepted).jobId;
}

beforeAll(async () => {
  if (!have) return;
  root = mkdtempSync(path.join(tmpdir(), 'tessera-nodes-'));
  dataDir = path.join(root, 'data');
  workerDir = path.join(root, 'worker-data');
  mkdirSync(dataDir);
  mkdirSync(workerDir);
  [redis, rgw] = await Promise.all([startRedis(), startRgwWithBucket(BUCKET)]);
  const [pa, pb] = [await freePort(), await freePort()];
  // One database for all three. On PostgreSQL (npm run test:postgres) a database of this test's
  // own. SQLite is one machine's file: the worker reaches the servers' through a link in its own
  // folder, and nothing else of theirs.
  const admin = process.env.TESSERA_TEST_POSTGRES;
  let databaseUrl = '';
  if (admin) {
    database = { admin, name: `t_nodes_${randomUUID().replace(/-/g, '')}` };
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    await c.query(`create database ${database.name}`);
    await c.end();
    const u = new URL(admin);
    u.pathname = `/${database.name}`;
    databaseUrl = u.toString();
  } else symlinkSync(path.join(dataDir, 'tessera.db'), path.join(workerDir, 'tessera.db'));
  env = {
    ...process.env,
    ...storeEnv(rgw, BUCKET, PREFIX),
    ...(databaseUrl && { DATABASE_URL: databaseUrl }),
    TESSERA_REDIS_URL: redis.url,
    // The servers only take uploads: the worker ingests.
    TESSERA_SERVE_INGEST: 'false',
    // A killed worker's job goes to the next one after 2 s (30 s by default).
    TESSERA_JOB_LOCK_SECONDS: '2',
    TESSERA_SHARP_CONCURRENCY: '1',
  };
  cli(
    ['user', 'add', '--name', 'admin', '--role', 'admin', '--site', 'North', '--password-stdin'],
    'correct horse battery\n',
  );
  token = cli(['token', 'create', '--user', 'admin']);
  for (const [name, site] of [
    ['host', 'North'],
    ['guest', 'South'],
  ] as const) {
    cli(
      ['user', 'add', '--name', name, '--role', 'pathologist', '--site', site, '--password-stdin'],
      'a long password here\n',
    );
    tokens[name] = cli(['token', 'create', '--user', name]);
  }
  await Promise.all([serve(pa), serve(pb)]);
  Object.assign(ports, { a: pa, b: pb });
  base.a = `http://127.0.0.1:${pa}`;
  base.b = `http://127.0.0.1:${pb}`;
}, 240_000);

afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.pid) p.kill('SIGKILL');
  redis?.stop();
  await rgw?.stop();
  if (database) {
    const c = new pg.Client({ connectionString: database.admin });
    await c.connect();
    await c.query(`drop database if exists ${database.name} with (force)`).catch(() => undefined);
    await c.end();
  }
  if (root) rmSync(root, { recursive: true, force: true });
});

describe.skipIf(!have)('two servers and a worker on one database, one S3 store and Redis', () => {
  it('an upload on node A is staged in the bucket, fetched and ingested by the worker (its own data folder), and served by node B (Deep Zoom and IIIF)', async () => {
    const id = await upload(
      base.a,
      'CMU-1 small.svs',
      readFileSync(slidePath('aperio/CMU-1-Small-Region.svs')),
    );
    // No worker yet: the upload waits in the bucket, and node A keeps no copy of it.
    expect(await keys('uploads/')).toEqual([
      expect.stringMatching(new RegExp(`^${PREFIX}/uploads/[0-9a-f-]{36}/CMU-1 small\\.svs$`)),
    ]);
    expect(readdirSync(path.join(dataDir, 'uploads'))).toEqual([]);
    await startWorker();
    const done = await until('the job', async () => {
      const j = await job(base.b, id);
      return j.state === 'done' || j.state === 'failed' ? j : null;
    });
    expect(done).toMatchObject({ state: 'done', stage: 'stored' });
    // Published in the bucket; the staged upload and the worker's copy of it are gone.
    expect(await published()).toEqual([`${PREFIX}/slides/${done.slideId}/manifest.json`]);
    expect(await keys('uploads/')).toEqual([]);
    expect(workerScratch()).toEqual([]);
    expect(existsSync(path.join(dataDir, 'slides'))).toBe(false);
    slideId = done.slideId!;
    const slide = (await (await api(`${base.b}/api/slides/${done.slideId}`)).json()) as SlideDto;
    expect(slide).toMatchObject({ id: done.slideId, width: 2220, height: 2967 });
    const tile = await api(`${base.b}/slides/${done.slideId}_files/0/0_0.jpeg`);
    expect(tile.status).toBe(200);
    expect((await sharp(Buffer.from(await tile.arrayBuffer())).metadata()).format).toBe('jpeg');
    const info = await api(`${base.b}/iiif/3/${done.slideId}/info.json`);
    expect(info.status).toBe(200);
    expect(await info.json()).toMatchObject({ width: 2220, height: 2967 });
    const region = await api(`${base.b}/iiif/3/${done.slideId}/0,0,512,512/256,/0/default.jpg`);
    expect(region.status).toBe(200);
    expect((await sharp(Buffer.from(await region.arrayBuffer())).metadata()).width).toBe(256);
  });

  it("a review across nodes: the guest on B sees the host's annotation from A; a share revoked on A closes the guest's socket on B within 1 s", async () => {
    expect(slideId).not.toBe('');
    const as =
      (who: string) =>
      (url: string, init: RequestInit = {}) =>
        fetch(url, {
          ...init,
          headers: {
            authorization: `Bearer ${tokens[who]}`,
            'content-type': 'application/json',
            ...init.headers,
          },
        });
    const me = async (who: string): Promise<string> =>
      ((await (await as(who)(`${base.a}/api/auth/me`)).json()) as { user: { id: string } }).user.id;
    const created = await as('host')(`${base.a}/api/sessions`, {
      method: 'POST',
      body: JSON.stringify({ slideId, title: 'across nodes' }),
    });
    expect(created.status).toBe(201);
    const sessionId = ((await created.json()) as ReviewSessionDto).id;
    // Inviting someone of another site shares the slide with them.
    const invited = await as('host')(`${base.a}/api/sessions/${sessionId}/invite`, {
      method: 'POST',
      body: JSON.stringify({ userId: await me('guest') }),
    });
    expect(invited.status).toBe(200);
    const join = async (who: string, node: string): Promise<ReviewSession> => {
      const s = io(node, { transports: ['websocket'], auth: { token: tokens[who] }, forceNew: true });
      const r = new ReviewSession(s as ReviewSocket, sessionId);
      expect((await r.ready()).ok).toBe(true);
      return r;
    };
    const host = await join('host', base.a);
    const guest = await join('guest', base.b);
    try {
      await until('the host to see the guest online', async () =>
        host.participants.filter((p) => p.online).length === 2 ? true : null,
      );
      const made = await host.create({
        kind: 'point',
        geometry: { points: [[100, 100]] },
        classification: { name: 'Tumor', color: '#c83232' },
        label: 'from node A',
      });
      expect(made.ok).toBe(true);
      await until("node B's client to receive it", async () =>
        guest.get(made.id)?.label === 'from node A' ? true : null,
      );
      const closed = new Promise<{ reason: string; ms: number }>((resolve) => {
        const t0 = Date.now();
        guest.socket.once('disconnect', (reason) => resolve({ reason, ms: Date.now() - t0 }));
      });
      const shares = (await (
        await as('host')(`${base.a}/api/slides/${slideId}/shares`)
      ).json()) as ShareDto[];
      const share = shares.find((x) => x.revokedAt === null);
      expect(share).toBeDefined();
      expect((await as('host')(`${base.a}/api/shares/${share!.id}`, { method: 'DELETE' })).status).toBe(204);
      const c = await closed;
      expect(c.reason).toBe('io server disconnect');
      expect(c.ms).toBeLessThan(1000);
    } finally {
      host.socket.disconnect();
      guest.socket.disconnect();
    }
  });

  it('sign-in limits count on every node: wrong passwords spread over A and B lock the account on both', async () => {
    const signIn = async (node: string, password: string): Promise<number> =>
      (
        await fetch(`${node}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'admin', password }),
        })
      ).status;
    expect(await signIn(base.b, 'correct horse battery')).toBe(200);
    // Ten failures (the default limit), five on each node: one node alone would still admit.
    for (let i = 0; i < 10; i++) expect(await signIn(i % 2 ? base.a : base.b, `wrong ${i}`)).toBe(401);
    expect(await signIn(base.a, 'correct horse battery')).toBe(429);
    expect(await signIn(base.b, 'correct horse battery')).toBe(429);
  });

  it('a worker killed mid-ingest publishes nothing; a node restarted meanwhile fails no job; a worker again takes the job up and it finishes', async () => {
    // Big enough to be caught converting: 12,000 x 12,000 px of noise as a tiled JPEG TIFF.
    const big = await sharp({
      create: {
        width: 12_000,
        height: 12_000,
        channels: 3,
        background: '#c080a0',
        noise: { type: 'gaussian', mean: 128, sigma: 40 },
      },
    })
      .tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 80 })
      .toBuffer();
    const before = await slideCount(base.a);
    const manifests = await published();
    const [worker] = procs.filter((p) => p.exitCode === null && p.spawnargs.includes('worker'));
    expect(worker?.pid).toBeGreaterThan(0);
    const id = await upload(base.b, 'noise.tif', big);
    // Converting: the worker's converter child is running and the job says so.
    const converter = await until('the converter', async () => {
      const j = await job(base.a, id);
      const kids = childrenOf(worker!.pid!, CONVERTER);
      return j.state === 'running' && kids.length > 0 ? kids[0]! : null;
    });
    worker!.kill('SIGKILL');
    await until('the converter to end with its worker', async () => (alive(converter) ? null : true), 10_000);
    // Nothing half-made is visible: no manifest published, no slide listed, the job not done.
    await new Promise((r) => setTimeout(r, 500));
    expect((await job(base.a, id)).state).not.toBe('done');
    expect(await published()).toEqual(manifests);
    expect(await slideCount(base.b)).toBe(before);
    // Node B restarts (a rolling restart) while the job waits: the shared queue's job is not
    // its to fail, and the staged upload stays for the next worker.
    const [nodeB] = procs.filter(
      (p) => p.exitCode === null && p.spawnargs.includes('serve') && p.spawnargs.includes(String(ports.b)),
    );
    const exited = new Promise((r) => nodeB!.once('exit', r));
    nodeB!.kill('SIGTERM');
    await exited;
    await serve(ports.b);
    expect((await job(base.b, id)).state).not.toBe('failed');
    expect(await keys('uploads/')).toHaveLength(1);
    // What the killed worker fetched is still in its folder, until a worker starts there again.
    expect(workerScratch().length).toBeGreaterThan(0);
    // A worker again (after the lapsed lock): the job is taken up and finishes.
    await startWorker();
    const done = await until(
      'the job after the restart',
      async () => {
        const j = await job(base.a, id);
        return j.state === 'done' || j.state === 'failed' ? j : null;
      },
      120_000,
    );
    expect(done).toMatchObject({ state: 'done' });
    expect(await slideCount(base.b)).toBe(before + 1);
    expect(await published()).toEqual(
      [...manifests, `${PREFIX}/slides/${done.slideId}/manifest.json`].sort(),
    );
    expect(await keys('uploads/')).toEqual([]);
    expect(workerScratch()).toEqual([]);
    const tile = await api(`${base.b}/slides/${done.slideId}_files/0/0_0.jpeg`);
    expect(tile.status).toBe(200);
  }, 180_000);
});
