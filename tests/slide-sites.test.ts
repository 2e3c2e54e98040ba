/**
 * One file uploaded at two sites: stored once (content-addressed), owned by both, each seeing its own
 * upload under its own name; a third site sees nothing. Real HTTP, real ingest, real SQLite.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobDto, ShareDto, SlideDetailDto, SlideDto, UploadAccepted } from '../protocol/index.ts';
import { createApp, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { userWithToken } from './helpers/auth.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tokens: Record<'a' | 'b' | 'c', string> = { a: '', b: '', c: '' };
let cUserId = '';

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-sites-'));
  ctx = await createServerContext(
    loadConfig({ dataDir, port: 0, host: '127.0.0.1', sharpConcurrency: 2 }, {}),
    () => {},
  );
  tokens.a = (await userWithToken(ctx.db, { name: 'ann', role: 'pathologist', siteId: 'north' })).token;
  tokens.b = (await userWithToken(ctx.db, { name: 'bob', role: 'pathologist', siteId: 'south' })).token;
  const c = await userWithToken(ctx.db, { name: 'cat', role: 'pathologist', siteId: 'east' });
  tokens.c = c.token;
  cUserId = c.id;
  server = createApp(ctx).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await ctx.queue.idle();
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const as = (who: keyof typeof tokens, p: string, init: RequestInit = {}): Promise<Response> => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${tokens[who]}`);
  return fetch(`${base}${p}`, { ...init, headers });
};

async function upload(who: keyof typeof tokens, name: string): Promise<JobDto> {
  const res = await as(who, `/api/slides?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    body: readFileSync(slidePath('aperio/CMU-1-Small-Region.svs')),
  });
  expect(res.status).toBe(202);
  const { jobId } = (await res.json()) as UploadAccepted;
  for (let i = 0; i < 600; i++) {
    const job = (await (await as(who, `/api/jobs/${jobId}`)).json()) as JobDto;
    if (job.state === 'done' || job.state === 'failed') return job;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${jobId} did not finish`);
}

describe.skipIf(!have)('the same file uploaded at two sites', () => {
  it('both jobs end done with one id, each site sees its own upload, a third site sees nothing', async () => {
    const a = await upload('a', 'North secret 2024-117.svs');
    const b = await upload('b', 'south copy.svs');
    expect(a.state).toBe('done');
    expect(b.state).toBe('done');
    expect(b.slideId).toBe(a.slideId);
    // B is not told that the content was already there.
    expect(b.stage).toBe('stored');
    const id = a.slideId!;

    const seen = async (who: 'a' | 'b'): Promise<SlideDetailDto> => {
      const res = await as(who, `/api/slides/${id}`);
      expect(res.status).toBe(200);
      return (await res.json()) as SlideDetailDto;
    };
    const byA = await seen('a');
    const byB = await seen('b');
    expect(byA).toMatchObject({ name: 'North secret 2024-117', siteId: 'north', access: 'site' });
    expect(byB).toMatchObject({ name: 'south copy', siteId: 'south', access: 'site', deidentified: false });
    expect(JSON.stringify(byB)).not.toContain('North secret');
    expect(byB.createdAt >= byA.createdAt).toBe(true);

    const listB = (await (await as('b', '/api/slides')).json()) as SlideDto[];
    expect(listB.map((s) => [s.id, s.name])).toEqual([[id, 'south copy']]);
    expect((await as('b', `/slides/${id}.dzi`)).status).toBe(200);
    expect((await as('b', `/api/slides/${id}/thumbnail?max=64`)).status).toBe(200);

    // Site C: nothing, everywhere.
    expect((await as('c', `/api/slides/${id}`)).status).toBe(404);
    expect((await as('c', `/slides/${id}.dzi`)).status).toBe(404);
    expect((await as('c', `/api/slides/${id}/thumbnail?max=64`)).status).toBe(404);
    expect((await (await as('c', '/api/slides')).json()) as SlideDto[]).toEqual([]);

    // Stored once.
    expect(readdirSync(path.join(dataDir, 'slides'))).toEqual([id]);
    expect(await ctx.access.ownsSlide({ user: { siteId: 'south' } } as never, { id })).toBe(true);
    expect(await ctx.access.ownsSlide({ user: { siteId: 'east' } } as never, { id })).toBe(false);
  });

  it("each owning site manages only its own shares: B neither lists nor revokes A's", async () => {
    const id = readdirSync(path.join(dataDir, 'slides'))[0]!;
    const made = await as('a', `/api/slides/${id}/shares`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        userId: cUserId,
        deidentified: false,
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      }),
    });
    expect(made.status).toBe(201);
    const share = (await made.json()) as ShareDto;
    // C now sees the slide through A's share, under A's name.
    expect(((await (await as('c', `/api/slides/${id}`)).json()) as SlideDto).name).toBe(
      'North secret 2024-117',
    );

    const listB = await as('b', `/api/slides/${id}/shares`);
    expect(listB.status).toBe(200);
    expect((await listB.json()) as ShareDto[]).toEqual([]);
    expect((await as('b', `/api/shares/${share.id}`, { method: 'DELETE' })).status).toBe(404);
    const listA = (await (await as('a', `/api/slides/${id}/shares`)).json()) as ShareDto[];
    expect(listA.map((s) => [s.id, s.revokedAt])).toEqual([[share.id, null]]);
  });
});
