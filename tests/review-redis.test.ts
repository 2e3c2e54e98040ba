/**
 * Rooms across server processes: two servers on one database, their socket.io rooms joined through
 * a real Redis (socket.io's Redis streams adapter). A participant on one server sees the other's
 * annotations, presence and chat. Needs `redis-server` (apt-get install redis-server): missing, the
 * test skips with a message, and fails under CI=true.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { createClient } from 'redis';
import { io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewSession, type ReviewSocket } from '../client/src/review/session-client.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { slideRow, userWithToken } from './helpers/auth.ts';

const haveRedis = spawnSync('redis-server', ['--version']).status === 0;
if (!haveRedis) {
  if (process.env.CI === 'true') throw new Error('redis-server missing (apt-get install redis-server)');
  console.warn('skipping: no redis-server on PATH (apt-get install redis-server)');
}

const REDIS_PORT = 16379 + (process.pid % 1000);
let redis: ChildProcess | null = null;
let dataDir = '';
const nodes: { ctx: ServerContext; server: Server; port: number; client: { quit(): Promise<unknown> } }[] =
  [];
const tokens: Record<string, string> = {};
const SLIDE = 'c'.repeat(32);
let sessionId = '';

async function node(recover: boolean): Promise<(typeof nodes)[number]> {
  const ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {}, {
    recover,
  });
  const client = createClient({ url: `redis://127.0.0.1:${REDIS_PORT}` });
  await client.connect();
  const server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server, createAdapter(client) as never);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { ctx, server, client, port: (server.address() as AddressInfo).port };
}

beforeAll(async () => {
  if (!haveRedis) return;
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-redis-'));
  redis = spawn(
    'redis-server',
    ['--port', String(REDIS_PORT), '--save', '', '--appendonly', 'no', '--dir', dataDir],
    {
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 100; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(REDIS_PORT), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      break;
    await new Promise((r) => setTimeout(r, 50));
  }
  nodes.push(await node(true));
  nodes.push(await node(false));
  const ctx = nodes[0]!.ctx;
  for (const [name, role] of [
    ['host', 'pathologist'],
    ['guest', 'pathologist'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId: 'north' });
    tokens[name] = u.token;
    tokens[`${name}-id`] = u.id;
  }
  await slideRow(ctx.db, { id: SLIDE, name: 's', siteId: 'north' });
  const res = await fetch(`http://127.0.0.1:${nodes[0]!.port}/api/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens['host']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ slideId: SLIDE, title: 'across nodes' }),
  });
  sessionId = ((await res.json()) as { id: string }).id;
  await fetch(`http://127.0.0.1:${nodes[1]!.port}/api/sessions/${sessionId}/invite`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens['host']}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: tokens['guest-id'] }),
  });
});

afterAll(async () => {
  for (const n of nodes) {
    await n.ctx.review.close();
    n.server.closeAllConnections();
    await new Promise((r) => n.server.close(r));
    await n.client.quit().catch(() => {});
    await n.ctx.tiles.close();
    await n.ctx.db.destroy();
  }
  redis?.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe.skipIf(!haveRedis)('review rooms across two server processes through Redis', () => {
  it('a participant on each server sees the other: presence, annotations, chat', async () => {
    const join = async (user: string, port: number): Promise<ReviewSession> => {
      const s = io(`http://127.0.0.1:${port}`, {
        transports: ['websocket'],
        auth: { token: tokens[user] },
        forceNew: true,
      });
      const r = new ReviewSession(s as ReviewSocket, sessionId);
      const j = await r.ready();
      expect(j.ok).toBe(true);
      return r;
    };
    const a = await join('host', nodes[0]!.port);
    const b = await join('guest', nodes[1]!.port);
    await until(() => a.participants.filter((p) => p.online).length === 2, 'host sees the guest online');
    const made = await b.create({
      kind: 'point',
      geometry: { points: [[5, 5]] },
      classification: { name: 'Tumor', color: '#c83232' },
      label: 'from node 2',
    });
    expect(made.ok).toBe(true);
    await until(() => a.get(made.id)?.label === 'from node 2', 'node 1 client receives it');
    const chat = new Promise<{ text: string }>((r) => b.socket.once('chat', r));
    await a.say('hello across nodes');
    expect((await chat).text).toBe('hello across nodes');
    a.socket.disconnect();
    b.socket.disconnect();
  });
});
