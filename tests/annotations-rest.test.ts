/**
 * Annotations outside a review session over REST: who may create, change, delete and comment (the
 * slide's own site; its lab manager and admins moderate; a share reads only; no access is a 404 like
 * a missing slide), locked annotations, every field of the annotation model kept, changes heard live
 * by sessions and audited with the slide's site; the class palette and its legibility rule.
 * Real HTTP, real socket.io, real SQLite.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewSession, type ReviewSocket } from '../client/src/review/session-client.ts';
import type {
  AnnotationClass,
  AnnotationDto,
  AppliedOp,
  AuditPage,
  ReviewSessionDto,
} from '../protocol/index.ts';
import { ANNOTATION_CLASSES } from '../protocol/index.ts';
import {
  SHAPES_MEDIA_TYPE,
  decodeShapes,
  packShapes,
  shapeGeometry,
  type CanvasShape,
  type ShapeStyle,
} from '../protocol/annotation-shapes.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import {
  DEFAULT_CLASSES,
  HE_PINK,
  HE_PURPLE,
  MIN_CONTRAST_ON_PINK,
  MIN_CONTRAST_ON_PURPLE,
  contrastRatio,
  legibleOnHE,
  relativeLuminance,
} from '../server/review/classes.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { slideRow, userFetch, userWithToken } from './helpers/auth.ts';

const SLIDE = 'c'.repeat(32);
const MISSING = 'e'.repeat(32);
let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-annrest-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const [name, role, siteId] of [
    ['ann', 'pathologist', 'north'],
    ['amy', 'pathologist', 'north'],
    ['spec', 'specialist', 'north'],
    ['lab', 'lab_manager', 'north'],
    ['labsouth', 'lab_manager', 'south'],
    ['bob', 'pathologist', 'south'],
    ['eve', 'pathologist', 'east'],
    ['adm', 'admin', 'hq'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tokens[name] = u.token;
    ids[name] = u.id;
  }
  await slideRow(ctx.db, { id: SLIDE, name: 'north core', siteId: 'north', width: 5000, height: 4000 });
  await ctx.db
    .insertInto('slide_sites')
    .values({
      slide_id: SLIDE,
      site_id: 'north',
      name: 'north core',
      created_at: new Date().toISOString(),
      uploaded_by: ids['ann']!,
    })
    // slideRow() made the site's row already: this one says who uploaded it.
    .onConflict((oc) => oc.columns(['slide_id', 'site_id']).doUpdateSet({ uploaded_by: ids['ann']! }))
    .execute();
  // North shares the slide with bob (south) to view.
  const share = await api('ann', `/api/slides/${SLIDE}/shares`, {
    method: 'POST',
    body: JSON.stringify({
      userId: ids['bob'],
      deidentified: false,
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    }),
  });
  expect(share.status).toBe(201);
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await ctx.review.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const api = userFetch(() => base, tokens);
const url = (slide: string, rest = ''): string => `/api/slides/${slide}/annotations${rest}`;

const point = (label: string, extra: Record<string, unknown> = {}) => ({
  kind: 'point',
  geometry: { points: [[10, 20]] },
  classification: { name: 'Tumor', color: '#f50000' },
  label,
  ...extra,
});

async function create(user: string, body: unknown, slide = SLIDE): Promise<Response> {
  return api(user, url(slide), { method: 'POST', body: JSON.stringify(body) });
}

async function made(user: string, body: unknown): Promise<AnnotationDto> {
  const res = await create(user, body);
  expect(res.status).toBe(201);
  return (await res.json()) as AnnotationDto;
}

const patch = (user: string, id: string, body: unknown, slide = SLIDE): Promise<Response> =>
  api(user, url(slide, `/${id}`), { method: 'PATCH', body: JSON.stringify(body) });
const remove = (user: string, id: string, query = '', slide = SLIDE): Promise<Response> =>
  api(user, url(slide, `/${id}${query}`), { method: 'DELETE' });
const comment = (user: string, id: string, text: string, slide = SLIDE): Promise<Response> =>
  api(user, url(slide, `/${id}/comments`), { method: 'POST', body: JSON.stringify({ text }) });

async function list(user: string): Promise<AnnotationDto[]> {
  const res = await api(user, url(SLIDE));
  expect(res.status).toBe(200);
  return ((await res.json()) as { annotations: AnnotationDto[] }).annotations;
}

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const b = (await res.json()) as { code: string; message: string };
  return { status: res.status, code: b.code, message: b.message };
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

describe('annotations outside a session, by the slide’s own site', () => {
  it('a pathologist of the owning site creates, lists, changes, comments and deletes', async () => {
    const a = await made('ann', point('mitosis'));
    expect(a).toMatchObject({
      slideId: SLIDE,
      kind: 'point',
      label: 'mitosis',
      authorId: ids['ann'],
      version: 1,
      comments: [],
    });
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await list('ann')).map((x) => x.id)).toContain(a.id);
    // A colleague of the same site sees the same set.
    expect((await list('amy')).map((x) => x.id)).toContain(a.id);

    const changed = await patch('ann', a.id, { label: 'two mitoses', ifVersion: 1 });
    expect(changed.status).toBe(200);
    expect(await changed.json()).toMatchObject({ id: a.id, label: 'two mitoses', version: 2 });
    // An edit against an old version is refused: someone changed it since.
    expect(await errorOf(await patch('ann', a.id, { label: 'stale', ifVersion: 1 }))).toMatchObject({
      status: 409,
      code: 'CONFLICT',
    });

    const said = await comment('ann', a.id, 'check with Ki-67');
    expect(said.status).toBe(201);
    const withComment = (await said.json()) as AnnotationDto;
    expect(withComment.version).toBe(3);
    expect(withComment.comments).toMatchObject([{ authorId: ids['ann'], text: 'check with Ki-67' }]);

    expect(await errorOf(await remove('ann', a.id, '?ifVersion=2'))).toMatchObject({
      status: 409,
      code: 'CONFLICT',
    });
    const gone = await remove('ann', a.id, '?ifVersion=3');
    expect(gone.status).toBe(204);
    expect(await gone.text()).toBe('');
    expect((await list('ann')).map((x) => x.id)).not.toContain(a.id);
    expect((await errorOf(await patch('ann', a.id, { label: 'x' }))).status).toBe(404);
  });

  it('takes a client-made id, refuses a taken one, and checks bodies and parameters (400)', async () => {
    const id = randomUUID();
    expect((await made('ann', point('client id', { id }))).id).toBe(id);
    expect(await errorOf(await create('ann', point('again', { id })))).toMatchObject({
      status: 409,
      code: 'CONFLICT',
    });
    for (const bad of [
      point('circle', { kind: 'circle' }),
      point('no points', { geometry: { points: [] } }),
      { ...point('no class'), classification: undefined },
      point('colour', { color: 'red' }),
      point('id', { id: 'not-a-uuid' }),
    ])
      expect(await errorOf(await create('ann', bad))).toMatchObject({
        status: 400,
        code: 'INVALID_PARAMETER',
      });
    expect(await errorOf(await patch('ann', id, { locked: 'yes' }))).toMatchObject({
      status: 400,
      code: 'INVALID_PARAMETER',
    });
    expect(await errorOf(await patch('ann', id, { label: 'x', ifVersion: 0 }))).toMatchObject({
      status: 400,
      code: 'INVALID_PARAMETER',
    });
    expect((await errorOf(await comment('ann', id, ''))).status).toBe(400);
    expect((await errorOf(await remove('ann', id, '?ifVersion=abc'))).status).toBe(400);
    expect((await errorOf(await patch('ann', 'nope', { label: 'x' }))).status).toBe(400);
    // An unknown annotation id of the right form: 404.
    expect(await errorOf(await patch('ann', randomUUID(), { label: 'x' }))).toMatchObject({
      status: 404,
      code: 'NOT_FOUND',
    });
  });

  it('keeps every field of the annotation model: holes, parts, no class, own colour, cells, measurements', async () => {
    const polygon = {
      kind: 'polygon',
      geometry: {
        points: [
          [0, 0],
          [100, 0],
          [100, 100],
          [0, 100],
        ],
        holes: [
          [
            [40, 40],
            [60, 40],
            [60, 60],
          ],
        ],
      },
      classification: null,
      label: 'unclassified with a hole',
      color: '#123456',
      locked: false,
      objectType: 'annotation',
      measurements: { 'Area µm^2': 1234.5, 'Num Detections': 7 },
    };
    const multi = {
      kind: 'multipolygon',
      geometry: {
        points: [
          [0, 0],
          [10, 0],
          [10, 10],
        ],
        parts: [
          {
            points: [
              [0, 0],
              [10, 0],
              [10, 10],
            ],
          },
          {
            points: [
              [20, 20],
              [40, 20],
              [40, 40],
              [20, 40],
            ],
            holes: [
              [
                [25, 25],
                [30, 25],
                [30, 30],
              ],
            ],
          },
        ],
      },
      classification: { name: 'Stroma', color: '#008f00' },
      label: 'two islands',
    };
    const cell = {
      kind: 'polygon',
      geometry: {
        points: [
          [200, 200],
          [220, 200],
          [220, 220],
          [200, 220],
        ],
      },
      classification: { name: 'Immune cells', color: '#0073ff' },
      label: '',
      objectType: 'cell',
      nucleus: {
        points: [
          [205, 205],
          [215, 205],
          [215, 215],
        ],
      },
      measurements: { 'Nucleus: Area': 42.25 },
    };
    const shapes = [polygon, multi, cell];
    const created: AnnotationDto[] = [];
    for (const s of shapes) {
      const a = await made('ann', s);
      expect(a).toMatchObject(s);
      created.push(a);
    }
    const listed = await list('amy');
    for (const a of created) expect(listed.find((x) => x.id === a.id)).toEqual(a);
    // Absent optional fields stay absent (not null).
    expect(Object.keys(created[1]!)).not.toContain('color');
    expect(Object.keys(created[1]!)).not.toContain('nucleus');

    // A patch classifies, declassifies, sets and clears the own colour, locks and unlocks.
    const id = created[0]!.id;
    const steps: [Record<string, unknown>, Partial<AnnotationDto>][] = [
      [
        { classification: { name: 'Tumor', color: '#f50000' } },
        { classification: { name: 'Tumor', color: '#f50000' } },
      ],
      [{ classification: null }, { classification: null }],
      [{ color: '#abcdef' }, { color: '#abcdef' }],
      [{ color: null }, { color: null }],
      [{ locked: true }, { locked: true }],
      [
        { locked: false, label: 'renamed' },
        { locked: false, label: 'renamed' },
      ],
    ];
    for (const [body, expected] of steps) {
      const res = await patch('ann', id, body);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject(expected);
    }
    const after = (await list('ann')).find((x) => x.id === id)!;
    expect(after).toMatchObject({
      classification: null,
      color: null,
      locked: false,
      label: 'renamed',
      measurements: polygon.measurements,
      geometry: polygon.geometry,
    });
    // The GeoJSON export keeps working on the same set.
    const geo = await api('ann', url(SLIDE, '?format=geojson'));
    expect(geo.status).toBe(200);
    expect(geo.headers.get('content-type')).toContain('application/geo+json');
  });
});

describe('who may write outside a session', () => {
  it('a share reads the sharing site’s set but never writes (403)', async () => {
    const a = await made('ann', point('shared reading'));
    expect((await list('bob')).map((x) => x.id)).toContain(a.id);
    const refusals = [
      await create('bob', point('from south')),
      await patch('bob', a.id, { label: 'south says' }),
      await remove('bob', a.id),
      await comment('bob', a.id, 'south comment'),
    ];
    for (const r of refusals) expect(await errorOf(r)).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect((await list('ann')).find((x) => x.id === a.id)).toMatchObject({
      label: 'shared reading',
      comments: [],
    });
  });

  it('no access at all is a 404 for everything, the same answer as a slide that does not exist', async () => {
    const a = await made('ann', point('not for east'));
    const other = randomUUID();
    const asked = async (slide: string, aid: string) => [
      await api('eve', url(slide)),
      await api('eve', url(slide, '?format=geojson')),
      await create('eve', point('x'), slide),
      await patch('eve', aid, { label: 'x' }, slide),
      await remove('eve', aid, '', slide),
      await comment('eve', aid, 'x', slide),
    ];
    const hidden = await Promise.all((await asked(SLIDE, a.id)).map(errorOf));
    const missing = await Promise.all((await asked(MISSING, other)).map(errorOf));
    for (const e of hidden) expect(e.status).toBe(404);
    const same = (e: { status: number; code: string; message: string }, slide: string) => ({
      ...e,
      message: e.message.replace(slide, 'SLIDE'),
    });
    expect(hidden.map((e) => same(e, SLIDE))).toEqual(missing.map((e) => same(e, MISSING)));
    // A writer of the owning site asking about a slide that does not exist gets the same too.
    expect(same(await errorOf(await create('ann', point('x'), MISSING)), MISSING)).toEqual(
      same(hidden[2]!, SLIDE),
    );
  });

  it('authors change their own; the site’s lab manager and admins moderate; anyone who writes comments', async () => {
    const a = await made('ann', point('ann’s'));
    // Another pathologist of the site: may comment, may not change or delete.
    expect(await errorOf(await patch('amy', a.id, { label: 'amy’s now' }))).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    expect((await errorOf(await remove('amy', a.id))).status).toBe(403);
    expect((await comment('amy', a.id, 'agree')).status).toBe(201);
    // Any role of the site may create (a specialist of the site too).
    const s = await made('spec', point('specialist’s'));
    expect(s.authorId).toBe(ids['spec']);
    // Another site's lab manager has no access at all.
    expect((await patch('labsouth', a.id, { label: 'x' })).status).toBe(404);
    // The site's lab manager moderates.
    const moderated = await patch('lab', a.id, { label: 'moderated' });
    expect(moderated.status).toBe(200);
    expect(await moderated.json()).toMatchObject({ label: 'moderated', authorId: ids['ann'] });
    expect((await remove('lab', s.id)).status).toBe(204);
    // An administrator of another site moderates and creates too.
    expect((await patch('adm', a.id, { label: 'admin was here' })).status).toBe(200);
    expect((await made('adm', point('admin’s'))).authorId).toBe(ids['adm']);
    expect((await remove('adm', a.id)).status).toBe(204);
  });
});

describe('locked annotations', () => {
  it('REST: geometry changes and deletes are refused (409 LOCKED) until unlocked', async () => {
    const a = await made('ann', point('locked', { locked: true }));
    expect(a.locked).toBe(true);
    const moved = { geometry: { points: [[99, 99]] } };
    expect(await errorOf(await patch('ann', a.id, moved))).toMatchObject({ status: 409, code: 'LOCKED' });
    expect(await errorOf(await remove('ann', a.id))).toMatchObject({ status: 409, code: 'LOCKED' });
    // Moderators are held too.
    expect(await errorOf(await remove('lab', a.id))).toMatchObject({ status: 409, code: 'LOCKED' });
    // Label and class may change while locked.
    expect((await patch('ann', a.id, { label: 'still locked' })).status).toBe(200);
    // Only the author or a moderator unlocks.
    expect((await patch('amy', a.id, { locked: false })).status).toBe(403);
    const unlocked = await patch('ann', a.id, { locked: false });
    expect(await unlocked.json()).toMatchObject({ locked: false });
    const after = await patch('ann', a.id, moved);
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject(moved);
    // A moderator locks it again; unlocking and moving in one patch is one deliberate step.
    expect((await patch('lab', a.id, { locked: true })).status).toBe(200);
    const both = await patch('ann', a.id, { locked: false, geometry: { points: [[1, 1]] } });
    expect(both.status).toBe(200);
    expect((await remove('ann', a.id)).status).toBe(204);
  });

  it('in a session: the same refusal for socket operations', async () => {
    const a = await made('ann', point('locked in session', { locked: true }));
    const host = await join('ann', await openSession('ann'));
    expect(host.get(a.id)?.locked).toBe(true);
    expect(await host.update(a.id, { geometry: { points: [[5, 5]] } })).toMatchObject({
      ok: false,
      code: 'LOCKED',
    });
    expect(await host.remove(a.id)).toMatchObject({ ok: false, code: 'LOCKED' });
    expect(await host.update(a.id, { label: 'renamed in session' })).toMatchObject({ ok: true });
    expect(await host.update(a.id, { locked: false })).toMatchObject({ ok: true });
    expect(await host.update(a.id, { geometry: { points: [[5, 5]] } })).toMatchObject({ ok: true });
    expect(await host.remove(a.id)).toMatchObject({ ok: true });
    host.socket.disconnect();
  });
});

describe('live sessions and the audit trail', () => {
  it('a session on the slide receives each REST change as an `op` event, in the slide’s set', async () => {
    const host = await join('ann', await openSession('ann'));
    const heard: AppliedOp[] = [];
    host.socket.on('op', (op) => heard.push(op));
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && heard.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    };
    const a = await made('amy', point('from REST'));
    await until(1);
    expect(heard[0]).toMatchObject({ type: 'create', annotationId: a.id, userId: ids['amy'], version: 1 });
    expect(heard[0]!.annotation).toEqual(a);
    await patch('amy', a.id, { label: 'changed over REST' });
    await comment('ann', a.id, 'seen live');
    expect((await remove('amy', a.id)).status).toBe(204);
    await until(4);
    expect(heard.map((o) => o.type)).toEqual(['create', 'update', 'comment', 'delete']);
    expect(heard[3]).toMatchObject({ annotationId: a.id, annotation: null, version: 4 });
    // Sequence numbers are the one sequence sessions use.
    expect(heard.map((o) => o.seq)).toEqual([...heard.map((o) => o.seq)].sort((x, y) => x - y));
    expect(host.get(a.id)).toBeUndefined();
    host.socket.disconnect();
  });

  it("every change is audited as annotation.<type> with the slide's site", async () => {
    const a = await made('amy', point('audited'));
    await patch('lab', a.id, { label: 'audited, moderated' });
    await comment('amy', a.id, 'noted');
    await remove('lab', a.id);
    const rows = await ctx.db
      .selectFrom('audit')
      .selectAll()
      .where('target_id', '=', a.id)
      .orderBy('id')
      .execute();
    expect(rows.map((r) => [r.action, r.user_id, r.target_type, r.target_site_id])).toEqual([
      ['annotation.create', ids['amy'], 'annotation', 'north'],
      ['annotation.update', ids['lab'], 'annotation', 'north'],
      ['annotation.comment', ids['amy'], 'annotation', 'north'],
      ['annotation.delete', ids['lab'], 'annotation', 'north'],
    ]);
    expect(JSON.parse(rows[0]!.detail)).toMatchObject({ slide: SLIDE });
    // The site's lab manager reads it in the audit view.
    const page = (await (await api('lab', '/api/audit?action=annotation.delete')).json()) as AuditPage;
    expect(page.entries.some((e) => e.targetId === a.id && e.targetSiteId === 'north')).toBe(true);
  });
});

describe('the annotation list as a versioned answer', () => {
  it('names its version in an ETag: 304 while unchanged, a new version after every kind of change', async () => {
    const first = await api('ann', url(SLIDE));
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect(first.headers.get('cache-control')).toBe('private, no-cache');
    const body = (await first.json()) as { seq: number; annotations: AnnotationDto[] };
    // Asked again unchanged: the same version, and a client holding it gets 304 with no body.
    expect((await api('amy', url(SLIDE))).headers.get('etag')).toBe(etag);
    const same = await api('ann', url(SLIDE), { headers: { 'if-none-match': etag! } });
    expect(same.status).toBe(304);
    expect(await same.text()).toBe('');

    const versions = new Set([etag]);
    const current = async (): Promise<{ etag: string; annotations: AnnotationDto[] }> => {
      const res = await api('ann', url(SLIDE), { headers: { 'if-none-match': [...versions].join(', ') } });
      expect(res.status).toBe(200);
      const e = res.headers.get('etag')!;
      expect(versions.has(e)).toBe(false);
      versions.add(e);
      return { etag: e, annotations: ((await res.json()) as { annotations: AnnotationDto[] }).annotations };
    };
    const a = await made('ann', point('versioned'));
    expect((await current()).annotations.map((x) => x.id)).toEqual([
      ...body.annotations.map((x) => x.id),
      a.id,
    ]);
    expect((await patch('ann', a.id, { label: 'versioned twice' })).status).toBe(200);
    expect((await current()).annotations.find((x) => x.id === a.id)?.label).toBe('versioned twice');
    expect((await comment('amy', a.id, 'seen')).status).toBe(201);
    expect((await current()).annotations.find((x) => x.id === a.id)?.comments).toHaveLength(1);
    // A change made in a live session is a new version too.
    const session = await join('ann', await openSession('ann'));
    const live = await session.create({
      kind: 'point',
      geometry: { points: [[5, 5]] },
      classification: { name: 'Tumor', color: '#c83232' },
      label: 'made live',
    });
    expect(live.ok).toBe(true);
    expect((await current()).annotations.map((x) => x.id)).toContain(live.id);
    expect((await remove('ann', a.id)).status).toBe(204);
    expect((await current()).annotations.map((x) => x.id)).not.toContain(a.id);
  });

  it('is the same list gzipped when large and asked for so, and whole without gzip', async () => {
    const many = Array.from({ length: 300 }, (_, i) => ({
      type: 'Feature',
      geometry: {
        type: 'Polygon',
        coordinates: [
          [
            [i, 0],
            [i + 50, 0],
            [i + 50, 50],
            [i, 50],
            [i, 0],
          ],
        ],
      },
      properties: { objectType: 'annotation', name: `bulk ${i}`, classification: { name: 'Tumor' } },
    }));
    const imported = await api('ann', url(SLIDE, '?format=geojson'), {
      method: 'POST',
      headers: { 'content-type': 'application/geo+json' },
      body: JSON.stringify({ type: 'FeatureCollection', features: many }),
    });
    expect(imported.status).toBeLessThan(300);
    const zipped = await api('ann', url(SLIDE), { headers: { 'accept-encoding': 'gzip' } });
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    const plain = await api('ann', url(SLIDE), { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(plain.headers.get('etag')).toBe(zipped.headers.get('etag'));
    const text = await plain.text();
    expect(Number(plain.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect(Number(plain.headers.get('content-length'))).toBeGreaterThan(64 * 1024);
    expect(await zipped.text()).toBe(text);
    expect(
      (JSON.parse(text) as { annotations: AnnotationDto[] }).annotations.filter((x) =>
        x.label.startsWith('bulk '),
      ),
    ).toHaveLength(300);
  });
});

describe('the annotation list packed for drawing (?format=shapes)', () => {
  it('is the JSON list’s shapes, ids, labels and styles, versioned like it; no access is a 404', async () => {
    const holed = await made('ann', {
      kind: 'polygon',
      geometry: {
        points: [
          [0, 0],
          [400, 0],
          [400, 300],
          [0, 300],
        ],
        holes: [
          [
            [100, 100],
            [200, 100],
            [200, 200],
          ],
        ],
      },
      classification: null,
      label: 'with a hole',
      color: '#123456',
    });
    const res = await api('ann', url(SLIDE, '?format=shapes'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(SHAPES_MEDIA_TYPE);
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{22}"$/);
    expect(etag).not.toBe((await api('ann', url(SLIDE))).headers.get('etag'));
    const buf = await res.arrayBuffer();
    const d = decodeShapes(buf, (s: ShapeStyle) => JSON.stringify(s));
    const json = await list('ann');
    expect(d.ids).toEqual(json.map((a) => a.id));
    // Every shape is the one the viewer would pack from the JSON list, styled by what decides its colour.
    const expected = packShapes(
      json.map((a) => {
        const g = shapeGeometry(a.kind, a.geometry);
        const style = JSON.stringify([
          a.color ?? null,
          a.classification?.name ?? null,
          a.classification?.color ?? null,
        ]);
        return g && ({ ...g, colour: style, dashed: false } as CanvasShape);
      }),
    );
    expect(Array.from(d.packed.offsets)).toEqual(Array.from(expected.offsets));
    json.forEach((a, i) => {
      const at = d.packed.offsets[i]!;
      const end = i + 1 < json.length ? d.packed.offsets[i + 1]! : d.packed.data.length;
      const got = Array.from(d.packed.data.subarray(at, end));
      const want = Array.from(expected.data.subarray(at, end));
      // The colour slot holds each side's own style index: compared through the style itself.
      expect(d.packed.colours[got[1]!]).toBe(expected.colours[want[1]!]);
      expect([got[0], ...got.slice(2)]).toEqual([want[0], ...want.slice(2)]);
      expect(d.labels[i]?.text ?? '').toBe(a.label);
    });
    const i = d.ids.indexOf(holed.id);
    expect(d.colours[i]).toBe(JSON.stringify(['#123456', null, null]));
    expect(Array.from(d.boxes.subarray(4 * i, 4 * i + 4))).toEqual([0, 0, 400, 300]);
    expect(
      (await api('ann', url(SLIDE, '?format=shapes'), { headers: { 'if-none-match': etag! } })).status,
    ).toBe(304);
    // A change is a new version of the packed form too.
    expect((await patch('ann', holed.id, { label: 'renamed' })).status).toBe(200);
    const after = await api('ann', url(SLIDE, '?format=shapes'), { headers: { 'if-none-match': etag! } });
    expect(after.status).toBe(200);
    expect(decodeShapes(await after.arrayBuffer(), () => '').labels[i]?.text).toBe('renamed');
    // The same access as the JSON list: a share reads it, no access is the missing slide's 404.
    expect((await api('bob', url(SLIDE, '?format=shapes'))).status).toBe(200);
    const none = await api('eve', url(SLIDE, '?format=shapes'));
    expect(none.status).toBe(404);
    expect((await errorOf(none)).code).toBe('SLIDE_NOT_FOUND');
    // Who asks is checked now: a revoked token and a disabled user's token get 401 and nothing.
    const revoked = await userWithToken(ctx.db, {
      name: 'shapes-revoked',
      role: 'pathologist',
      siteId: 'north',
    });
    const disabled = await userWithToken(ctx.db, {
      name: 'shapes-disabled',
      role: 'pathologist',
      siteId: 'north',
    });
    const shapesAs = (token: string) =>
      fetch(`${base}${url(SLIDE, '?format=shapes')}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await shapesAs(revoked.token)).status).toBe(200);
    expect(await ctx.auth.revokeToken(revoked.tokenId)).toBe(true);
    expect((await shapesAs(revoked.token)).status).toBe(401);
    await ctx.db.updateTable('users').set({ disabled: 1 }).where('id', '=', disabled.id).execute();
    expect((await shapesAs(disabled.token)).status).toBe(401);
    const bad = await api('ann', url(SLIDE, '?format=svg'));
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toMatch(/json, geojson or shapes/);
  });
});

describe('the annotation class palette', () => {
  it('starts with the legible defaults, read by everyone signed in', async () => {
    for (const user of ['bob', 'eve', 'spec']) {
      const res = await api(user, '/api/annotation-classes');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(DEFAULT_CLASSES);
    }
    expect((await fetch(`${base}/api/annotation-classes`)).status).toBe(401);
    // One list: the protocol's, which migration 0007 seeds (read back above).
    expect(DEFAULT_CLASSES).toEqual(ANNOTATION_CLASSES);
  });

  it('only administrators replace it: a whole list, names unique, colours #rrggbb, 1–40 classes; audited', async () => {
    const put = (user: string, body: unknown) =>
      api(user, '/api/annotation-classes', { method: 'PUT', body: JSON.stringify(body) });
    const next: AnnotationClass[] = [
      { name: 'Tumor', color: '#F50000' },
      { name: 'Invasive margin', color: '#0073ff' },
    ];
    for (const user of ['ann', 'lab', 'spec'])
      expect(await errorOf(await put(user, next))).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    for (const bad of [
      [{ name: 'Tumor', color: 'red' }],
      [{ name: 'Tumor', color: '#f500' }],
      [],
      [
        { name: 'Tumor', color: '#f50000' },
        { name: 'tumor', color: '#0073ff' },
      ],
      Array.from({ length: 41 }, (_, i) => ({ name: `class ${i}`, color: '#f50000' })),
      { Tumor: '#f50000' },
    ])
      expect(await errorOf(await put('adm', bad))).toMatchObject({ status: 400, code: 'INVALID_PARAMETER' });
    const forty = Array.from({ length: 40 }, (_, i) => ({ name: `class ${i}`, color: '#008f00' }));
    expect((await put('adm', forty)).status).toBe(200);
    const ok = await put('adm', next);
    expect(ok.status).toBe(200);
    const saved = [
      { name: 'Tumor', color: '#f50000' },
      { name: 'Invasive margin', color: '#0073ff' },
    ];
    expect(await ok.json()).toEqual(saved);
    expect(await (await api('bob', '/api/annotation-classes')).json()).toEqual(saved);
    const audit = await ctx.db
      .selectFrom('audit')
      .selectAll()
      .where('action', '=', 'annotation_classes.update')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(audit.user_id).toBe(ids['adm']);
    expect(JSON.parse(audit.detail)).toEqual({ classes: saved });
  });

  it('contrastRatio is WCAG 2’s, and every default colour meets the H&E legibility rule', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrastRatio('#ffffff', '#000000')).toBeCloseTo(21, 5);
    expect(contrastRatio('#777777', '#777777')).toBe(1);
    // WCAG's own example: #767676 on white is just above 4.5:1.
    expect(contrastRatio('#767676', '#FFFFFF')).toBeCloseTo(4.54, 2);
    expect(() => contrastRatio('red', '#ffffff')).toThrow(TypeError);
    for (const c of DEFAULT_CLASSES) {
      expect(contrastRatio(c.color, HE_PINK), `${c.name} on pink`).toBeGreaterThanOrEqual(
        MIN_CONTRAST_ON_PINK,
      );
      expect(contrastRatio(c.color, HE_PURPLE), `${c.name} on purple`).toBeGreaterThanOrEqual(
        MIN_CONTRAST_ON_PURPLE,
      );
      expect(legibleOnHE(c.color), c.name).toBe(true);
    }
    // Why the first palette was recoloured: its near-black Necrosis fails (too dark), the rest too low
    // a contrast.
    expect(relativeLuminance('#323232')).toBeLessThan(0.1);
    for (const old of ['#c83232', '#96c896', '#323232', '#a05aa0', '#ffc800'])
      expect(legibleOnHE(old), old).toBe(false);
    // 3:1 on both at once is reachable only by near-black: pink and purple are under 5:1 apart.
    expect(contrastRatio(HE_PINK, HE_PURPLE)).toBeLessThan(5);
  });
});
