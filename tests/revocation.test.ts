/**
 * Revocation reaches open review sockets: a share revoked, a user disabled, a token revoked (also
 * from the command line, another process), a sign-out, a session expiring and a review session
 * closed each end the affected sockets within a second, idle or not; nothing reaches them after, and
 * they cannot join again. Across two server processes through a real Redis, a change on one ends the
 * socket on the other (with that process's periodic re-check slowed down, so the notice alone does
 * it). Needs `redis-server` for the last part (skipped without it outside CI).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JoinResult, ReviewSessionDto } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { Auth } from '../server/auth/auth.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { slideRow, userWithToken } from './helpers/auth.ts';

const haveRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!haveRedis && process.env.CI === 'true')
  throw new Error('redis-server missing (apt-get install redis-server)');

const PASSWORD = 'test-password-1';
const SLIDE = 'e'.repeat(32);
const ROOT = path.resolve(import.meta.dirname, '..');

interface Node {
  ctx: ServerContext;
  server: Server;
  base: string;
  redis: { close(): Promise<unknown> } | null;
}

/** What the servers of this file logged: shown when a wait below runs out. */
const serverLog: string[] = [];

async function node(dataDir: string, opts: { redisPort?: number; recheckMs?: number; recover?: boolean }) {
  const log = (m: string): void => void serverLog.push(`${new Date().toISOString()} ${m}`);
  const ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), log, {
    recover: opts.recover ?? true,
  });
  const server = createServer(createHandler(ctx, createApp(ctx)));
  let redis: Node['redis'] = null;
  if (opts.redisPort) {
    const client = createClient({ url: `redis://127.0.0.1:${opts.redisPort}` });
    await client.connect();
    ctx.review.attach(server, createAdapter(client) as never, { recheckMs: opts.recheckMs });
    await ctx.rights.connect(client);
    redis = client;
  } else ctx.review.attach(server, undefined, { recheckMs: opts.recheckMs });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { ctx, server, redis, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function stopNode(n: Node): Promise<void> {
  await n.ctx.review.close();
  await n.ctx.rights.close();
  n.server.closeAllConnections();
  await new Promise((r) => n.server.close(r));
  await n.redis?.close().catch(() => {});
  await n.ctx.tiles.close();
  await n.ctx.db.destroy();
}

/** Users, a slide of site north shared with a south reviewer, and an open session inviting them. */
async function seed(n: Node) {
  const users: Record<string, { id: string; token: string; tokenId: string }> = {};
  for (const [name, role, siteId] of [
    ['host', 'pathologist', 'north'],
    ['guest', 'pathologist', 'south'],
    ['admin', 'admin', 'north'],
  ] as const)
    users[name] = await userWithToken(n.ctx.db, { name, role, siteId });
  await slideRow(n.ctx.db, { id: SLIDE, name: 'North resection', siteId: 'north' });
  const api = apiOf(n, users);
  const session = async (): Promise<string> => {
    const s = await api('host', '/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ slideId: SLIDE, title: 'review' }),
    });
    expect(s.status).toBe(201);
    const id = ((await s.json()) as ReviewSessionDto).id;
    const inv = await api('host', `/api/sessions/${id}/invite`, {
      method: 'POST',
      body: JSON.stringify({ userId: users['guest']!.id }),
    });
    expect(inv.status).toBe(200);
    return id;
  };
  return { users, api, session };
}

function apiOf(n: Node, users: Record<string, { token: string }>) {
  return (user: string, p: string, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${users[user]!.token}`);
    if (init.body) headers.set('content-type', 'application/json');
    return fetch(`${n.base}${p}`, { ...init, headers });
  };
}

const opened: ClientSocket[] = [];

/** A raw socket that does nothing on its own when told to go (unlike the app's client). */
function socket(base: string, auth: { token: string } | { cookie: string }): ClientSocket {
  const s = io(base, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    ...('token' in auth ? { auth: { token: auth.token } } : { extraHeaders: { cookie: auth.cookie } }),
  });
  opened.push(s);
  return s;
}

/**
 * The answer to an event sent with an acknowledgement, or a failure naming the event, the socket's
 * state and the servers' log after 10 s (a socket that never connects or was closed gets no answer).
 */
function ask<T>(s: ClientSocket, event: string, payload: unknown): Promise<T> {
  let connectError = '';
  const onError = (e: Error): void => {
    connectError = e.message;
  };
  s.on('connect_error', onError);
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      s.off('connect_error', onError);
      const state = s.connected ? 'connected' : `not connected${connectError ? ` (${connectError})` : ''}`;
      reject(
        new Error(`no answer to ${event} in 10 s; socket ${state}; server log:\n${serverLog.join('\n')}`),
      );
    }, 10_000);
    s.emit(event, payload, (r: T) => {
      clearTimeout(t);
      s.off('connect_error', onError);
      resolve(r);
    });
  });
}

function join(s: ClientSocket, sessionId: string): Promise<JoinResult> {
  return ask(s, 'join', { protocolVersion: 3, sessionId });
}

/** Milliseconds from now until the socket is disconnected by the server. */
function closedWithin(s: ClientSocket): () => Promise<{ ms: number; reason: string; kicked: string | null }> {
  let kicked: string | null = null;
  s.once('kicked', (k: { code: string }) => (kicked = k.code));
  const done = new Promise<string>((r) => s.once('disconnect', r));
  return async () => {
    const t0 = Date.now();
    const reason = await Promise.race([
      done,
      new Promise<string>((r) => setTimeout(() => r('still open'), 5000)),
    ]);
    return { ms: Date.now() - t0, reason, kicked };
  };
}

async function login(base: string, name: string): Promise<string> {
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: PASSWORD }),
  });
  expect(res.status).toBe(200);
  return /tessera_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
}

/** Every event of the room that reaches `s`. */
function record(s: ClientSocket): string[] {
  const got: string[] = [];
  for (const e of ['op', 'chat', 'cursor', 'view', 'presence', 'opinion', 'summon'])
    s.on(e, () => got.push(e));
  return got;
}

afterAll(() => {
  for (const s of opened) s.disconnect();
});

describe('revocation reaches open sockets (one process, no Redis)', () => {
  let dataDir = '';
  let n: Node;
  let seeded: Awaited<ReturnType<typeof seed>>;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-revoke-'));
    n = await node(dataDir, {});
    seeded = await seed(n);
  });

  afterAll(async () => {
    await stopNode(n);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a share revoked while the reviewer is idle: closed within 1 s, nothing more reaches it, join refused', async () => {
    const { users, api, session } = seeded;
    const id = await session();
    const host = socket(n.base, users['host']!);
    const guest = socket(n.base, users['guest']!);
    expect((await join(host, id)).ok).toBe(true);
    expect((await join(guest, id)).ok).toBe(true);
    const got = record(guest);
    const closed = closedWithin(guest);
    const [share] = await n.ctx.db
      .selectFrom('shares')
      .select('id')
      .where('grantee_user_id', '=', users['guest']!.id)
      .execute();
    expect((await api('host', `/api/shares/${share!.id}`, { method: 'DELETE' })).status).toBe(204);
    const c = await closed();
    expect(c.reason).toBe('io server disconnect');
    expect(c.kicked).toBe('FORBIDDEN');
    expect(c.ms).toBeLessThan(1000);
    got.length = 0;
    // The room goes on without it.
    host.emit('cursor', { x: 1, y: 2 });
    expect(await ask(host, 'chat', { text: 'after the revocation' })).toMatchObject({ ok: true });
    expect(
      await ask(host, 'op', {
        type: 'create',
        opId: crypto.randomUUID(),
        annotation: {
          id: crypto.randomUUID(),
          kind: 'point',
          geometry: { points: [[1, 1]] },
          classification: { name: 'Tumor', color: '#c83232' },
        },
      }),
    ).toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([]);
    // Signed in still, but no longer able to join.
    const again = socket(n.base, users['guest']!);
    expect(await join(again, id)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
  });

  it('a user disabled: their socket is closed within 1 s', async () => {
    const { users, api, session } = seeded;
    const id = await session();
    const guest = socket(n.base, users['guest']!);
    // A share again (the previous test revoked it): the invitation makes one.
    expect((await join(guest, id)).ok).toBe(true);
    const idle = socket(n.base, users['guest']!); // connected, in no session
    await new Promise<void>((r) => idle.once('connect', () => r()));
    const closed = closedWithin(guest);
    const closedIdle = closedWithin(idle);
    const res = await api('admin', `/api/users/${users['guest']!.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ disabled: true }),
    });
    expect(res.status).toBe(200);
    const [c, ci] = await Promise.all([closed(), closedIdle()]);
    expect(c).toMatchObject({ reason: 'io server disconnect', kicked: 'UNAUTHENTICATED' });
    expect(c.ms).toBeLessThan(1000);
    expect(ci.reason).toBe('io server disconnect');
    expect(ci.ms).toBeLessThan(1000);
    const again = socket(n.base, users['guest']!);
    expect((await new Promise<Error>((r) => again.once('connect_error', r))).message).toBe('UNAUTHENTICATED');
    await api('admin', `/api/users/${users['guest']!.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ disabled: false }),
    });
  });

  it('sign-out: the sockets opened with that session cookie are closed', async () => {
    const { session } = seeded;
    const id = await session();
    const cookie = await login(n.base, 'host');
    const s = socket(n.base, { cookie });
    expect((await join(s, id)).ok).toBe(true);
    const closed = closedWithin(s);
    const out = await fetch(`${n.base}/api/auth/logout`, { method: 'POST', headers: { cookie } });
    expect(out.status).toBe(204);
    const c = await closed();
    expect(c).toMatchObject({ reason: 'io server disconnect', kicked: 'UNAUTHENTICATED' });
    expect(c.ms).toBeLessThan(1000);
  });

  it('a session reaching its expiry (12 h) closes its sockets within 1 s, with no notice from anyone', async () => {
    const { session } = seeded;
    const id = await session();
    const cookie = await login(n.base, 'host');
    const s = socket(n.base, { cookie });
    expect((await join(s, id)).ok).toBe(true);
    const closed = closedWithin(s);
    // The clock passing the row's expiry, as far as the server can tell.
    await n.ctx.db
      .updateTable('sessions')
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
      .execute();
    const c = await closed();
    expect(c).toMatchObject({ reason: 'io server disconnect', kicked: 'UNAUTHENTICATED' });
    expect(c.ms).toBeLessThan(1000);
  });

  it('a token revoked from the command line (another process, no Redis) closes its sockets within 1 s', async () => {
    const { session } = seeded;
    const id = await session();
    const t = await new Auth(n.ctx.db).createToken(seeded.users['host']!.id, { expiresAt: null });
    const s = socket(n.base, { token: t.token });
    expect((await join(s, id)).ok).toBe(true);
    const closed = closedWithin(s);
    const env = { ...process.env, TESSERA_REDIS_URL: '' };
    const cli = spawnSync('node', ['scripts/bin/tessera.mjs', 'token', 'revoke', t.id, '--data', dataDir], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    expect(cli.status, cli.stderr).toBe(0);
    const c = await closed();
    expect(c).toMatchObject({ reason: 'io server disconnect', kicked: 'UNAUTHENTICATED' });
    expect(c.ms).toBeLessThan(1000);
  });

  it('the review session closed: its sockets are told and disconnected', async () => {
    const { users, api, session } = seeded;
    const id = await session();
    const guest = socket(n.base, users['host']!);
    expect((await join(guest, id)).ok).toBe(true);
    const told = new Promise((r) => guest.once('closed', r));
    const closed = closedWithin(guest);
    expect((await api('host', `/api/sessions/${id}/close`, { method: 'POST' })).status).toBe(200);
    await told;
    const c = await closed();
    expect(c.reason).toBe('io server disconnect');
    expect(c.ms).toBeLessThan(1000);
  });
});

describe('every inbound event is re-checked, cursors and views too', () => {
  let dataDir = '';
  let n: Node;
  let seeded: Awaited<ReturnType<typeof seed>>;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-gate-'));
    // No periodic re-check within the test: only the per-event gate can stop the socket.
    n = await node(dataDir, { recheckMs: 60_000 });
    seeded = await seed(n);
  });

  afterAll(async () => {
    await stopNode(n);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a socket whose share ended behind the server's back is refused at its next cursor, and nothing of it is relayed", async () => {
    const { users, session } = seeded;
    const id = await session();
    const host = socket(n.base, users['host']!);
    const guest = socket(n.base, users['guest']!);
    expect((await join(host, id)).ok).toBe(true);
    expect((await join(guest, id)).ok).toBe(true);
    const relayed: unknown[] = [];
    host.on('cursor', (c: { gone?: boolean }) => {
      if (!c.gone) relayed.push(c);
    });
    host.on('view', (v: unknown) => relayed.push(v));
    // The share ends in the database with no notice (as another process without Redis would do it).
    await n.ctx.db
      .updateTable('shares')
      .set({ revoked_at: new Date().toISOString() })
      .where('grantee_user_id', '=', users['guest']!.id)
      .execute();
    n.ctx.access.forgetAll(); // the cached grant aside: what the gate reads is the database
    const kicked = new Promise<{ code: string }>((r) => guest.once('kicked', r));
    const closed = new Promise<string>((r) => guest.once('disconnect', r));
    guest.emit('cursor', { x: 5, y: 5 });
    guest.emit('view', {
      x: 0,
      y: 0,
      imageZoom: 1,
      rotation: 0,
      bounds: { x: 0, y: 0, width: 1, height: 1 },
    });
    expect((await kicked).code).toBe('FORBIDDEN');
    expect(await closed).toBe('io server disconnect');
    await new Promise((r) => setTimeout(r, 200));
    expect(relayed).toEqual([]);
  });
});

describe.skipIf(!haveRedis)('revocation across two server processes through Redis', () => {
  let dataDir = '';
  let redis: ChildProcess | null = null;
  const port = 17379 + (process.pid % 1000);
  let a: Node;
  let b: Node;
  let seeded: Awaited<ReturnType<typeof seed>>;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-revoke-redis-'));
    redis = spawn(
      'redis-server',
      ['--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dataDir],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 100; i++) {
      if (
        spawnSync('redis-cli', ['-p', String(port), 'ping'])
          .stdout?.toString()
          .trim() === 'PONG'
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // Both re-check on their own only once a minute: within the test, only a notice can end a socket.
    a = await node(dataDir, { redisPort: port, recheckMs: 60_000 });
    b = await node(dataDir, { redisPort: port, recheckMs: 60_000, recover: false });
    seeded = await seed(a);
  });

  afterAll(async () => {
    for (const x of [a, b]) if (x) await stopNode(x);
    redis?.kill('SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a share revoked on process A closes the reviewer socket on process B within 1 s', async () => {
    const { users, api, session } = seeded;
    const id = await session();
    const guest = socket(b.base, users['guest']!);
    expect((await join(guest, id)).ok).toBe(true);
    // B has the grant cached: the notice must clear it there too.
    const closed = closedWithin(guest);
    const [share] = await a.ctx.db
      .selectFrom('shares')
      .select('id')
      .where('grantee_user_id', '=', users['guest']!.id)
      .where('revoked_at', 'is', null)
      .execute();
    expect((await api('host', `/api/shares/${share!.id}`, { method: 'DELETE' })).status).toBe(204);
    const c = await closed();
    expect(c).toMatchObject({ reason: 'io server disconnect', kicked: 'FORBIDDEN' });
    expect(c.ms).toBeLessThan(1000);
    const again = socket(b.base, users['guest']!);
    expect(await join(again, id)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
  });

  it('a user disabled from the command line (TESSERA_REDIS_URL set) is disconnected on every process within 1 s', async () => {
    const { users, session } = seeded;
    const id = await session();
    const onA = socket(a.base, users['host']!);
    const onB = socket(b.base, users['host']!);
    expect((await join(onA, id)).ok).toBe(true);
    expect((await join(onB, id)).ok).toBe(true);
    const closedA = closedWithin(onA);
    const closedB = closedWithin(onB);
    const cli = spawnSync(
      'node',
      ['scripts/bin/tessera.mjs', 'user', 'disable', '--name', 'host', '--data', dataDir],
      {
        cwd: ROOT,
        env: { ...process.env, TESSERA_REDIS_URL: `redis://127.0.0.1:${port}` },
        encoding: 'utf8',
      },
    );
    expect(cli.status, cli.stderr).toBe(0);
    const [ca, cb] = await Promise.all([closedA(), closedB()]);
    for (const c of [ca, cb]) {
      expect(c).toMatchObject({ reason: 'io server disconnect', kicked: 'UNAUTHENTICATED' });
      expect(c.ms).toBeLessThan(1000);
    }
  });
});
