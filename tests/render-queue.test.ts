/**
 * Heavy renders are queued fairly, over real HTTP on a generated slide: one user's pile of large IIIF
 * upscales does not hold back another user's thumbnail, the queue is bounded (503 SERVER_BUSY with
 * Retry-After), and the output limits are in info.json and enforced (400).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { makeStoredSlide } from '../tiles/serve/fixtures.ts';
import { userWithToken } from './helpers/auth.ts';

/** Each of user A's heavy renders: a 1.4x upscale of the whole 2000 x 1500 slide, ~5.9 Mpx of JPEG. */
const HEAVY = 8;
const PER_USER_QUEUE = 8;
const MAX_AREA = 6_000_000;

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
let slide = '';
const token: Record<'a' | 'b', string> = { a: '', b: '' };

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-render-queue-'));
  const config = loadConfig(
    {
      dataDir,
      port: 0,
      host: '127.0.0.1',
      // One slot makes the order of service exact; no cache, so every request is a render.
      renderConcurrency: 1,
      renderQueuePerUser: PER_USER_QUEUE,
      tileCacheMb: 0,
      iiifMaxArea: MAX_AREA,
    },
    {},
  );
  ctx = await createServerContext(config, () => {}, { recover: false });
  token.a = (await userWithToken(ctx.db, { name: 'path-a', role: 'pathologist', siteId: 'north' })).token;
  token.b = (await userWithToken(ctx.db, { name: 'path-b', role: 'pathologist', siteId: 'north' })).token;
  const m = await makeStoredSlide(ctx.store, 2000, 1500);
  await ctx.slides.register(m, 'north');
  slide = m.id;
  server = createServer(createHandler(ctx, createApp(ctx)));
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await ctx?.tiles.close();
  await ctx?.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const get = (who: 'a' | 'b', p: string): Promise<Response> =>
  fetch(`${base}${p}`, { headers: { authorization: `Bearer ${token[who]}` } });

async function until(ready: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!ready()) {
    if (Date.now() > end) throw new Error('timed out waiting for the render queue');
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A distinct heavy render each time (no two share a flight). */
let heavyN = 0;
const heavyPath = (): string => `/iiif/3/${slide}/full/^${2800 - heavyN++},/0/default.jpg`;

describe('render queue over HTTP', () => {
  it("user B's thumbnail and small IIIF image finish before most of user A's heavy renders", async () => {
    const done: string[] = [];
    const track = async (name: string, res: Promise<Response>): Promise<number> => {
      const r = await res;
      await r.arrayBuffer();
      done.push(name);
      return r.status;
    };
    const heavy = Array.from({ length: HEAVY }, (_, i) => track(`a${i}`, get('a', heavyPath())));
    // All of A's renders have reached the scheduler: one running, the rest waiting.
    await until(() => ctx.tiles.scheduler.waiting === HEAVY - 1);
    const thumb = track('b-thumbnail', get('b', `/api/slides/${slide}/thumbnail?max=120`));
    const small = track('b-iiif', get('b', `/iiif/3/${slide}/0,0,500,500/250,/0/default.jpg`));
    const statuses = await Promise.all([...heavy, thumb, small]);
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Each of B's waited for at most the render under way and one of A's in turn.
    for (const b of ['b-thumbnail', 'b-iiif']) {
      const heavyAfter = done.slice(done.indexOf(b)).filter((n) => n.startsWith('a')).length;
      expect(heavyAfter, `${b} in ${done.join(' ')}`).toBeGreaterThanOrEqual(HEAVY - 2);
    }
  });

  it("beyond a user's share of the queue: 503 SERVER_BUSY with Retry-After; others still get in", async () => {
    const flood = Array.from({ length: PER_USER_QUEUE + 1 }, () => get('a', heavyPath()));
    await until(() => ctx.tiles.scheduler.waiting === PER_USER_QUEUE);
    const refused = await get('a', heavyPath());
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as { code: string; message: string };
    expect(body.code).toBe('SERVER_BUSY');
    expect(body.message).toMatch(/8 renders waiting for one user/);
    // A Deep Zoom edge tile is a render too (the tile fast path maps the error the same way)...
    const edge = await get('a', `/slides/${slide}_files/11/7_0.jpeg`);
    expect(edge.status).toBe(503);
    expect(Number(edge.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await edge.json()) as { code: string }).code).toBe('SERVER_BUSY');
    // ...a stored tile is not: it is answered while the queue is full.
    const stored = await get('a', `/slides/${slide}_files/11/1_1.jpeg`);
    expect(stored.status).toBe(200);
    expect(ctx.tiles.scheduler.waiting).toBeGreaterThan(0);
    // Another user's render is queued and served.
    const other = await get('b', `/api/slides/${slide}/thumbnail?max=90`);
    expect(other.status).toBe(200);
    expect(ctx.tiles.scheduler.waiting).toBeGreaterThan(0);
    for (const r of await Promise.all(flood)) {
      expect(r.status).toBe(200);
      await r.arrayBuffer();
    }
  });

  it('info.json states the output limits; requests beyond them are 400 with a code and the limit', async () => {
    const info = (await (await get('b', `/iiif/3/${slide}/info.json`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ maxWidth: 8192, maxHeight: 8192, maxArea: MAX_AREA });
    const cases: [string, RegExp][] = [
      // 3000 x 2250 = 6.75 Mpx: within 2x, over maxArea.
      ['full/^3000,/0/default.jpg', /within 8192x8192 and 6000000 pixels/],
      ['0,0,1000,1000/^2001,/0/default.jpg', /upscaling is limited to 2x/],
      ['full/^9000,10/0/default.jpg', /within 8192x8192/],
    ];
    for (const [p, message] of cases) {
      const res = await get('b', `/iiif/3/${slide}/${p}`);
      expect(res.status, p).toBe(400);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code, p).toBe('INVALID_PARAMETER');
      expect(body.message, p).toMatch(message);
    }
    // ^max stops at 2x; it is not refused.
    const up = await get('b', `/iiif/3/${slide}/0,0,300,200/^max/0/default.jpg`);
    expect(up.status).toBe(200);
    const meta = await sharp(Buffer.from(await up.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([600, 400]);
  });
});
