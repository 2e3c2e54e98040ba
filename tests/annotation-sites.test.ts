/**
 * One slide owned by two sites (the same file uploaded at each) keeps one set of annotations per
 * owning site: neither site sees, receives live or changes the other's, over REST or in a session.
 * Real HTTP, real socket.io, real SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewSession, type ReviewSocket } from '../client/src/review/session-client.ts';
import type { AnnotationDto, ReviewSessionDto } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { slideRow, userFetch, userWithToken } from './helpers/auth.ts';

const SLIDE = 'b'.repeat(32);
let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-annsites-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const [name, siteId] of [
    ['ann', 'north'],
    ['bob', 'south'],
    ['cat', 'east'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role: 'pathologist', siteId });
    tokens[name] = u.token;
    ids[name] = u.id;
  }
  // North uploaded the file first; south uploaded the same bytes later (as POST /api/slides records it).
  await slideRow(ctx.db, { id: SLIDE, name: 'north upload', siteId: 'north', width: 1000, height: 1000 });
  const now = new Date().toISOString();
  await ctx.db
    .insertInto('slide_sites')
    .values([
      { slide_id: SLIDE, site_id: 'north', name: 'north upload', created_at: now, uploaded_by: ids['ann']! },
      { slide_id: SLIDE, site_id: 'south', name: 'south upload', created_at: now, uploaded_by: ids['bob']! },
    ])
    // slideRow() made north's row already: these say who uploaded each.
    .onConflict((oc) =>
      oc
        .columns(['slide_id', 'site_id'])
        .doUpdateSet((eb) => ({ uploaded_by: eb.ref('excluded.uploaded_by') })),
    )
    .execute();
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await ctx.review.close();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const api = userFetch(() => base, tokens);

const feature = (label: string) => ({
  type: 'Feature',
  geometry: { type: 'Point', coordinates: [10, 20] },
  properties: {
    objectType: 'annotation',
    name: label,
    classification: { name: 'Tumor', color: [200, 0, 0] },
  },
});

async function importAs(user: string, labels: string[]): Promise<void> {
  const res = await api(user, `/api/slides/${SLIDE}/annotations?format=geojson`, {
    method: 'POST',
    headers: { 'content-type': 'application/geo+json' },
    body: JSON.stringify({ type: 'FeatureCollection', features: labels.map(feature) }),
  });
  expect(res.status).toBe(201);
}

async function labelsSeenBy(user: string): Promise<string[]> {
  const res = await api(user, `/api/slides/${SLIDE}/annotations`);
  expect(res.status).toBe(200);
  const { annotations } = (await res.json()) as { annotations: AnnotationDto[] };
  return annotations.map((a) => a.label).sort();
}

async function join(user: string, sessionId: string): Promise<ReviewSession> {
  const s = io(base, { transports: ['websocket'], auth: { token: tokens[user] }, forceNew: true });
  sockets.push(s);
  const r = new ReviewSession(s as unknown as ReviewSocket, sessionId);
  const j = await r.ready();
  if (!j.ok) throw new Error(`${user} could not join: ${j.code} ${j.message}`);
  return r;
}

async function openSession(user: string): Promise<string> {
  const res = await api(user, '/api/sessions', {
    method: 'POST',
    body: JSON.stringify({ slideId: SLIDE, title: `${user}'s review` }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as ReviewSessionDto).id;
}

describe("one slide at two sites: each site's annotations are its own", () => {
  it('REST: each owning site reads only its own set; a share shows the sharing site’s', async () => {
    await importAs('ann', ['north tumour margin', 'north mitosis']);
    await importAs('bob', ['south necrosis']);
    expect(await labelsSeenBy('ann')).toEqual(['north mitosis', 'north tumour margin']);
    expect(await labelsSeenBy('bob')).toEqual(['south necrosis']);
    const geo = await (await api('bob', `/api/slides/${SLIDE}/annotations?format=geojson`)).text();
    expect(geo).not.toContain('north');

    // North shares with east: east sees north's reading, never south's.
    const share = await api('ann', `/api/slides/${SLIDE}/shares`, {
      method: 'POST',
      body: JSON.stringify({
        userId: ids['cat'],
        deidentified: false,
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      }),
    });
    expect(share.status).toBe(201);
    expect(await labelsSeenBy('cat')).toEqual(['north mitosis', 'north tumour margin']);
  });

  it("sessions: a join shows the host site's set, live changes stay within it, the other's cannot be touched", async () => {
    const north = await join('ann', await openSession('ann'));
    const south = await join('bob', await openSession('bob'));
    expect(
      north
        .annotations()
        .map((a) => a.label)
        .sort(),
    ).toEqual(['north mitosis', 'north tumour margin']);
    expect(south.annotations().map((a) => a.label)).toEqual(['south necrosis']);

    const made = await north.create({
      kind: 'point',
      geometry: { points: [[5, 5]] },
      classification: { name: 'Tumor', color: '#c83232' },
      label: 'north live',
    });
    expect(made.ok).toBe(true);
    // South's session is on the same slide but must hear nothing of north's change.
    await new Promise((r) => setTimeout(r, 300));
    expect(south.annotations().map((a) => a.label)).toEqual(['south necrosis']);
    expect(await labelsSeenBy('ann')).toContain('north live');
    expect(await labelsSeenBy('bob')).toEqual(['south necrosis']);

    // An id from the other set is unknown here, for edits and deletes alike.
    expect(await south.update(made.id, { label: 'overwritten by south' })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(await south.remove(made.id)).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(await labelsSeenBy('ann')).toContain('north live');
  });
});
