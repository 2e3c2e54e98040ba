/**
 * Live review sessions with real socket.io servers and clients: convergence under concurrent edits,
 * undo that never reverts someone else, reconnection with missed edits both ways, a server restart
 * in the middle, permission checks on every event, malformed and oversized messages, GeoJSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewSession, type ReviewSocket } from '../client/src/review/session-client.ts';
import type {
  AnnotationDto,
  AuditPage,
  GeoJsonFeatureCollection,
  OpResult,
  ReviewSessionDto,
  SlideDto,
} from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { slideRow, userWithToken } from './helpers/auth.ts';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let port = 0;
const base = (): string => `http://127.0.0.1:${port}`;
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};
const SLIDE = 'a'.repeat(32);
let sessionId = '';
const sockets: ClientSocket[] = [];

async function start(): Promise<void> {
  const config = loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {});
  ctx = await createServerContext(config, () => {});
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(port, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  port = (server.address() as AddressInfo).port;
}

async function stop(): Promise<void> {
  await ctx.review.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-review-'));
  await start();
  for (const [name, role, siteId] of [
    ['host', 'pathologist', 'north'],
    ['spec', 'specialist', 'south'],
    ['colleague', 'pathologist', 'north'],
    ['outsider', 'pathologist', 'south'],
    ['reviewer', 'pathologist', 'south'],
    ['labnorth', 'lab_manager', 'north'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tokens[name] = u.token;
    ids[name] = u.id;
  }
  // A slide row is all the review needs (no pixels are read).
  await slideRow(ctx.db, {
    id: SLIDE,
    name: 'Patient X breast core',
    siteId: 'north',
    width: 10000,
    height: 8000,
  });
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await stop();
  rmSync(dataDir, { recursive: true, force: true });
});

function api(user: string, p: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${tokens[user]}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${base()}${p}`, { ...init, headers });
}

function connect(user: string | null): ReviewSocket {
  const s = io(base(), {
    transports: ['websocket'],
    auth: user ? { token: tokens[user] } : {},
    reconnectionDelay: 50,
    reconnectionDelayMax: 200,
    forceNew: true,
  }) as ReviewSocket;
  sockets.push(s as unknown as ClientSocket);
  return s;
}

async function joined(user: string): Promise<ReviewSession> {
  const r = new ReviewSession(connect(user), sessionId);
  const j = await r.ready();
  if (!j.ok) throw new Error(`${user} could not join: ${j.code} ${j.message}`);
  return r;
}

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const shape = (r: ReviewSession): string =>
  JSON.stringify(
    r
      .annotations()
      .map((a) => ({ id: a.id, v: a.version, g: a.geometry, l: a.label, c: a.classification }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
  );

const serverShape = async (): Promise<string> =>
  JSON.stringify(
    (await ctx.review.annotations.list({ slideId: SLIDE, siteId: 'north' }))
      .map((a) => ({ id: a.id, v: a.version, g: a.geometry, l: a.label, c: a.classification }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
  );

const tumour = { name: 'Tumor', color: '#c83232' } as const;

describe('review sessions', () => {
  it('a host opens a session and invites a specialist of another site, who gets a de-identified share', async () => {
    const res = await api('host', '/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ slideId: SLIDE, title: 'Second opinion' }),
    });
    expect(res.status).toBe(201);
    sessionId = ((await res.json()) as ReviewSessionDto).id;
    // Before the invitation: the link alone says so, and shows nothing of the session.
    const early = await api('spec', `/api/sessions/${sessionId}`);
    expect(early.status).toBe(403);
    expect(await early.json()).toMatchObject({
      code: 'FORBIDDEN',
      message: 'You are not invited to this review',
    });
    expect(
      (await api('spec', `/api/sessions/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`)).status,
    ).toBe(404);
    const inv = await api('host', `/api/sessions/${sessionId}/invite`, {
      method: 'POST',
      body: JSON.stringify({ userId: ids['spec'] }),
    });
    expect(inv.status).toBe(200);
    const body = (await inv.json()) as { share: { deidentified: boolean; studyCode: string } };
    expect(body.share.deidentified).toBe(true);
    const seen = (await (await api('spec', '/api/slides')).json()) as SlideDto[];
    expect(seen.find((s) => s.id === SLIDE)?.name).toBe(body.share.studyCode);
    // Inviting someone the host may see but who may see nothing: refused for a specialist host.
    expect(
      (
        await api('spec', `/api/sessions/${sessionId}/invite`, {
          method: 'POST',
          body: JSON.stringify({ userId: ids['outsider'] }),
        })
      ).status,
    ).toBe(403);
  });

  it('refuses a socket without credentials, and a join by someone not invited', async () => {
    const anon = connect(null);
    const err = await new Promise<Error>((r) => anon.once('connect_error', r));
    expect(err.message).toBe('UNAUTHENTICATED');
    anon.disconnect();
    const s = connect('outsider');
    const r = await new Promise<{ ok: boolean; code?: string }>((res) =>
      s.emit('join', { protocolVersion: 3, sessionId }, res as never),
    );
    expect(r).toMatchObject({
      ok: false,
      code: 'NOT_INVITED',
      message: 'You are not invited to this review',
    });
    const none = await new Promise<{ ok: boolean; code?: string }>((res) =>
      s.emit('join', { protocolVersion: 3, sessionId: crypto.randomUUID() }, res as never),
    );
    expect(none).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    const op = await new Promise<OpResult>((res) =>
      s.emit('op', { type: 'delete', opId: crypto.randomUUID(), id: crypto.randomUUID() }, res),
    );
    expect(op).toMatchObject({ ok: false, code: 'NOT_JOINED' });
    s.disconnect();
  });

  it('presence, live annotation and cursors reach the other participant', async () => {
    const a = await joined('host');
    const b = await joined('spec');
    await until(() => a.participants.filter((p) => p.online).length === 2, 'both online');
    expect(a.participants.map((p) => [p.host, p.online])).toEqual([
      [true, true],
      [false, true],
    ]);
    expect(new Set(a.participants.map((p) => p.color)).size).toBe(2);
    const r = await a.create({
      kind: 'polygon',
      geometry: {
        points: [
          [10, 10],
          [200, 10],
          [100, 150],
        ],
      },
      classification: tumour,
      label: 'invasive front',
    });
    expect(r.ok).toBe(true);
    await until(() => b.get(r.id) !== undefined, 'b sees the polygon');
    expect(b.get(r.id)).toMatchObject({ label: 'invasive front', authorName: 'host', version: 1 });
    const cursor = new Promise<unknown>((res) => b.socket.once('cursor', res));
    a.socket.emit('cursor', { x: 500, y: 600 });
    expect(await cursor).toEqual({ userId: ids['host'], x: 500, y: 600 });
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it('concurrent edits of one annotation converge to the same state on every client and the server', async () => {
    const a = await joined('host');
    const b = await joined('spec');
    const c = await b.create({
      kind: 'rectangle',
      geometry: {
        points: [
          [0, 0],
          [10, 10],
        ],
      },
      classification: tumour,
      label: 'x',
    });
    await until(() => a.get(c.id) !== undefined, 'a sees it');
    // The host (moderator) and the author edit the same fields at once, many times.
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? a : b).update(c.id, {
          label: `${i % 2 ? 'a' : 'b'}-${i}`,
          geometry: {
            points: [
              [i, i],
              [i + 10, i + 10],
            ],
          },
        }),
      ),
    );
    await until(() => a.pendingCount === 0 && b.pendingCount === 0, 'all acknowledged');
    const want = await serverShape();
    await until(() => shape(a) === want && shape(b) === want, 'both equal the server');
    expect(a.get(c.id)!.version).toBe(41);
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it('undo takes back only my own change; it is refused once someone else changed the annotation', async () => {
    const a = await joined('host');
    const b = await joined('spec');
    const c = await b.create({
      kind: 'point',
      geometry: { points: [[5, 5]] },
      classification: tumour,
      label: 'mitosis',
    });
    await b.update(c.id, { label: 'mitosis?' });
    expect((await b.undo())?.ok).toBe(true);
    await until(() => a.get(c.id)?.label === 'mitosis', 'undo seen by a');
    expect((await b.redo())?.ok).toBe(true);
    expect(b.get(c.id)?.label).toBe('mitosis?');
    await until(() => a.get(c.id)?.label === 'mitosis?', 'redo seen by a');
    // The host edits after b: b's undo must not revert it.
    expect((await a.update(c.id, { label: 'atypical mitosis' })).ok).toBe(true);
    await until(() => b.get(c.id)?.label === 'atypical mitosis', 'b sees host edit');
    const u = await b.undo();
    expect(u).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(b.get(c.id)?.label).toBe('atypical mitosis');
    // Undo of a delete brings it back; undo of a create removes it.
    const d = await a.create({
      kind: 'line',
      geometry: {
        points: [
          [0, 0],
          [100, 0],
        ],
      },
      classification: tumour,
      label: '',
    });
    expect((await a.remove(d.id)).ok).toBe(true);
    await until(() => b.get(d.id) === undefined, 'b sees the delete');
    expect((await a.undo())?.ok).toBe(true);
    await until(() => b.get(d.id) !== undefined, 'b sees the restore');
    expect((await a.undo())?.ok).toBe(true);
    await until(() => b.get(d.id) === undefined, 'b sees the create undone');
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it('permission checks on every event: only author or host edit; only the host summons; the host gives no opinion', async () => {
    const a = await joined('host');
    const b = await joined('spec');
    const mine = await a.create({
      kind: 'point',
      geometry: { points: [[1, 1]] },
      classification: tumour,
      label: 'host',
    });
    expect(await b.update(mine.id, { label: 'hijack' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await b.remove(mine.id)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect((await b.comment(mine.id, 'agree')).ok).toBe(true);
    const view = { x: 1, y: 2, imageZoom: 0.5, rotation: 0, bounds: { x: 0, y: 0, width: 10, height: 10 } };
    expect(await new Promise((r) => b.socket.emit('summon', view, r as never))).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    const summoned = new Promise((r) => b.socket.once('summon', r));
    expect(await new Promise((r) => a.socket.emit('summon', view, r as never))).toEqual({ ok: true });
    expect(await summoned).toMatchObject({ userId: ids['host'], view });
    expect(
      await new Promise((r) => a.socket.emit('opinion', { diagnosis: 'x', confidence: 'high' }, r as never)),
    ).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    const got = new Promise<{ diagnosis: string }>((r) => a.socket.once('opinion', r));
    const op = await new Promise<{ ok: boolean }>((r) =>
      b.socket.emit(
        'opinion',
        {
          diagnosis: 'Invasive ductal carcinoma, grade 2',
          confidence: 'moderate',
          text: 'Agree with the primary report.',
        },
        r as never,
      ),
    );
    expect(op.ok).toBe(true);
    expect((await got).diagnosis).toBe('Invasive ductal carcinoma, grade 2');
    const chat = new Promise<{ text: string }>((r) => a.socket.once('chat', r));
    expect((await b.say('see the lower left focus')).ok).toBe(true);
    expect((await chat).text).toBe('see the lower left focus');
    const stored = (await (await api('host', `/api/sessions/${sessionId}`)).json()) as {
      opinions: { confidence: string }[];
    };
    expect(stored.opinions.map((o) => o.confidence)).toEqual(['moderate']);
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it('malformed messages are refused with a reason; an oversized one closes only that connection', async () => {
    const a = await joined('host');
    const bad = [
      { type: 'create', opId: 'not-a-uuid', annotation: {} },
      {
        type: 'create',
        opId: crypto.randomUUID(),
        annotation: {
          id: crypto.randomUUID(),
          kind: 'blob',
          geometry: { points: [[0, 0]] },
          classification: tumour,
        },
      },
      {
        type: 'create',
        opId: crypto.randomUUID(),
        annotation: {
          id: crypto.randomUUID(),
          kind: 'point',
          geometry: { points: [[Number.NaN, 0]] },
          classification: tumour,
        },
      },
      {
        type: 'update',
        opId: crypto.randomUUID(),
        id: crypto.randomUUID(),
        patch: { label: 'x'.repeat(501) },
      },
      'just a string',
      null,
    ];
    for (const m of bad) {
      const r = await new Promise<OpResult>((res) => a.socket.emit('op', m as never, res));
      expect(r, JSON.stringify(m)?.slice(0, 80)).toMatchObject({ ok: false, code: 'INVALID_PARAMETER' });
    }
    const huge = connect('host');
    await new Promise<void>((r) => huge.once('connect', () => r()));
    const gone = new Promise<string>((r) => huge.once('disconnect', r));
    huge.emit('chat', { text: 'x'.repeat(1_200_000) }, () => {});
    expect(await gone).toMatch(/transport close|transport error/);
    huge.disconnect();
    // The server and the other connection carry on.
    expect((await a.say('still here')).ok).toBe(true);
    a.socket.disconnect();
  });

  it('reconnection: edits made while away arrive; edits made offline are sent and merged', async () => {
    const a = await joined('host');
    const b = await joined('spec');
    const keep = await b.create({
      kind: 'point',
      geometry: { points: [[7, 7]] },
      classification: tumour,
      label: 'kept',
    });
    await until(() => a.get(keep.id) !== undefined, 'a sees it');
    // b drops off the network (the engine's socket closes, as when a laptop sleeps).
    b.socket.disconnect();
    await until(() => !b.connected, 'b disconnected');
    const whileAway = await a.create({
      kind: 'point',
      geometry: { points: [[8, 8]] },
      classification: tumour,
      label: 'made while b was away',
    });
    const offline = b.create({
      kind: 'point',
      geometry: { points: [[9, 9]] },
      classification: tumour,
      label: 'made offline',
    });
    const offlineEdit = b.update(keep.id, { label: 'kept, edited offline' });
    expect(b.pendingCount).toBe(2);
    expect(b.get(whileAway.id)).toBeUndefined();
    b.socket.connect();
    expect((await offline).ok).toBe(true);
    expect((await offlineEdit).ok).toBe(true);
    await until(() => b.get(whileAway.id) !== undefined, 'b gets what it missed');
    await until(
      () =>
        a.annotations().some((x) => x.label === 'made offline') &&
        a.get(keep.id)?.label === 'kept, edited offline',
      'a gets b’s offline edits',
    );
    const want = await serverShape();
    await until(() => shape(a) === want && shape(b) === want, 'converged');
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it('an operation resent after a lost acknowledgement is applied once', async () => {
    const a = await joined('host');
    const op = {
      type: 'create' as const,
      opId: crypto.randomUUID(),
      annotation: {
        id: crypto.randomUUID(),
        kind: 'point' as const,
        geometry: { points: [[3, 3]] as [number, number][] },
        classification: tumour,
        label: 'once',
      },
    };
    const first = await new Promise<OpResult>((r) => a.socket.emit('op', op, r));
    const again = await new Promise<OpResult>((r) => a.socket.emit('op', op, r));
    expect(first.ok && again.ok && first.seq === again.seq).toBe(true);
    expect(
      (await ctx.review.annotations.list({ slideId: SLIDE, siteId: 'north' })).filter(
        (x) => x.label === 'once',
      ).length,
    ).toBe(1);
    a.socket.disconnect();
  });

  it('a server restart in the middle loses no acknowledged edit, and clients carry on', async () => {
    const a = await joined('host');
    const b = await joined('spec');
    const acked: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await a.create({
        kind: 'point',
        geometry: { points: [[i, 100]] },
        classification: tumour,
        label: `before restart ${i}`,
      });
      expect(r.ok).toBe(true);
      acked.push(r.id);
    }
    await stop();
    await until(() => !a.connected && !b.connected, 'both see the server go');
    const during = b.create({
      kind: 'point',
      geometry: { points: [[1, 1]] },
      classification: tumour,
      label: 'during restart',
    });
    await start(); // same data folder, same port
    expect((await during).ok).toBe(true);
    const after = await ctx.review.annotations.list({ slideId: SLIDE, siteId: 'north' });
    for (const id of acked) expect(after.some((x) => x.id === id)).toBe(true);
    const want = await serverShape();
    await until(() => shape(a) === want && shape(b) === want, 'both back in step', 10_000);
    expect(a.annotations().some((x) => x.label === 'during restart')).toBe(true);
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it('a page reload keeps changes made offline: they are sent once the new page joins', async () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
    };
    const first = new ReviewSession(connect('host'), sessionId, storage);
    expect((await first.ready()).ok).toBe(true);
    first.socket.disconnect();
    await until(() => !first.connected, 'offline');
    void first.create({
      kind: 'point',
      geometry: { points: [[42, 42]] },
      classification: tumour,
      label: 'drawn offline, then reloaded',
    });
    expect(store.size).toBe(1);
    // The page goes away with the change unsent; a new page (same browser storage) opens the session.
    const second = new ReviewSession(connect('host'), sessionId, storage);
    expect((await second.ready()).ok).toBe(true);
    await until(() => second.pendingCount === 0, 'sent after the reload');
    expect(
      (await ctx.review.annotations.list({ slideId: SLIDE, siteId: 'north' })).filter(
        (a) => a.label === 'drawn offline, then reloaded',
      ),
    ).toHaveLength(1);
    expect(store.size).toBe(0);
    // The first page coming back later resends the same operation: recognised, not applied twice.
    first.socket.connect();
    await until(() => first.pendingCount === 0, 'first page drained');
    expect(
      (await ctx.review.annotations.list({ slideId: SLIDE, siteId: 'north' })).filter(
        (a) => a.label === 'drawn offline, then reloaded',
      ),
    ).toHaveLength(1);
    first.socket.disconnect();
    second.socket.disconnect();
  });

  it('a snapshot of thousands of annotations arrives in parts, and an edit made while it travels is kept', async () => {
    const BIG = 'c'.repeat(32);
    await slideRow(ctx.db, { id: BIG, name: 'many cells', siteId: 'north', width: 50000, height: 40000 });
    const res = await api('host', '/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ slideId: BIG, title: 'crowded slide' }),
    });
    expect(res.status).toBe(201);
    const big = (await res.json()) as ReviewSessionDto;
    const inv = await api('host', `/api/sessions/${big.id}/invite`, {
      method: 'POST',
      body: JSON.stringify({ userId: ids['colleague'] }),
    });
    expect(inv.status).toBe(200);
    // 4,000 cell outlines of 24 vertices: a snapshot of several parts.
    const cells = Array.from({ length: 4000 }, (_, i) => ({
      type: 'create' as const,
      opId: crypto.randomUUID(),
      annotation: {
        id: crypto.randomUUID(),
        kind: 'polygon' as const,
        geometry: {
          points: Array.from({ length: 24 }, (_, k): [number, number] => [
            (i % 200) * 250 + 100 * Math.cos((k * Math.PI) / 12) + (i % 7) * 0.37,
            Math.floor(i / 200) * 250 + 100 * Math.sin((k * Math.PI) / 12) + (i % 11) * 0.53,
          ]),
        },
        classification: tumour,
        label: `cell ${i}`,
      },
    }));
    const actor = { id: ids['host']!, name: 'host', moderator: true };
    for (let i = 0; i < cells.length; i += 500)
      await ctx.review.annotations.createBatch(
        { slideId: BIG, siteId: 'north' },
        cells.slice(i, i + 500),
        actor,
      );

    const host = new ReviewSession(connect('host'), big.id);
    expect((await host.ready()).ok).toBe(true);
    const parts: { transfer: number; index: number }[] = [];
    const socket = connect('colleague');
    socket.on('snapshot', (p) => parts.push({ transfer: p.transfer, index: p.index }));
    const joiner = new ReviewSession(socket, big.id);
    // An edit by the host as the joiner's snapshot is on its way.
    await until(() => parts.length > 0, 'the first part');
    const late = await host.create({
      kind: 'point',
      geometry: { points: [[42, 42]] },
      classification: tumour,
      label: 'made during the join',
    });
    expect(late.ok).toBe(true);
    const j = await joiner.ready();
    expect(j.ok).toBe(true);
    if (!j.ok) return;
    expect(j.state.annotations.parts).toBeGreaterThan(1);
    expect(parts.map((p) => p.index)).toEqual(Array.from({ length: j.state.annotations.parts }, (_, i) => i));
    expect(new Set(parts.map((p) => p.transfer))).toEqual(new Set([j.state.annotations.transfer]));
    await until(() => joiner.get(late.id) !== undefined, 'the edit made during the join');
    expect(joiner.annotations()).toHaveLength(4001);
    // Oldest first, as the list shows them.
    const times = joiner.annotations().map((a) => a.createdAt);
    expect(times).toEqual([...times].sort());
    host.socket.disconnect();
    joiner.socket.disconnect();
  });

  it('losing access ends the session for that user at once, without waiting for an event', async () => {
    const b = await joined('spec');
    const kicked = new Promise<{ code: string }>((r) => b.socket.once('kicked', r));
    const gone = new Promise<string>((r) => b.socket.once('disconnect', r));
    const shares = await ctx.db
      .selectFrom('shares')
      .select('id')
      .where('grantee_user_id', '=', ids['spec']!)
      .execute();
    for (const s of shares)
      expect((await api('host', `/api/shares/${s.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await kicked).code).toBe('FORBIDDEN');
    expect(await gone).toBe('io server disconnect');
    expect(b.ended).toMatch(/access/);
    // Ended for good: the client does not come back by itself.
    await new Promise((r) => setTimeout(r, 700));
    expect(b.socket.connected).toBe(false);
  });
});

describe('GeoJSON in QuPath form', () => {
  it('exports FeatureCollection with objectType and classification, and round-trips without loss', async () => {
    const res = await api('host', `/api/slides/${SLIDE}/annotations?format=geojson`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/geo\+json/);
    const fc = (await res.json()) as GeoJsonFeatureCollection;
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features.length).toBeGreaterThan(10);
    for (const f of fc.features) {
      expect(f.properties.objectType).toBe('annotation');
      expect(f.properties.classification?.color).toHaveLength(3);
    }
    const kinds = new Set(fc.features.map((f) => f.properties.tessera?.kind));
    expect(kinds.has('rectangle') && kinds.has('polygon') && kinds.has('point')).toBe(true);

    // Into a second slide and out again: the same geometry, kinds, classes and names.
    const other = 'b'.repeat(32);
    await slideRow(ctx.db, { id: other, name: 'copy', siteId: 'north', width: 10, height: 10 });
    const imp = await api('host', `/api/slides/${other}/annotations?format=geojson`, {
      method: 'POST',
      body: JSON.stringify(fc),
    });
    expect(imp.status).toBe(201);
    expect(((await imp.json()) as { imported: number }).imported).toBe(fc.features.length);
    const back = (await (
      await api('host', `/api/slides/${other}/annotations?format=geojson`)
    ).json()) as GeoJsonFeatureCollection;
    const strip = (x: GeoJsonFeatureCollection) =>
      x.features
        .map((f) =>
          JSON.stringify([
            f.geometry,
            f.properties.classification,
            f.properties.name ?? '',
            f.properties.tessera?.kind,
          ]),
        )
        .sort();
    expect(strip(back)).toEqual(strip(fc));
  });

  it('imports what QuPath writes (packed colours, no Tessera extras) and rejects what it cannot read', async () => {
    const qupath = {
      type: 'FeatureCollection',
      features: [
        {
          type: 'Feature',
          geometry: {
            type: 'Polygon',
            coordinates: [
              [
                [0, 0],
                [50, 0],
                [50, 40],
                [0, 0],
              ],
            ],
          },
          properties: {
            objectType: 'annotation',
            classification: { name: 'Stroma', colorRGB: -6895466, color: -6895466 },
          },
        },
        {
          type: 'Feature',
          geometry: { type: 'Point', coordinates: [3, 4] },
          properties: { objectType: 'annotation', name: 'cell' },
        },
      ],
    };
    const r = await api('host', `/api/slides/${SLIDE}/annotations?format=geojson`, {
      method: 'POST',
      body: JSON.stringify(qupath),
    });
    expect(r.status).toBe(201);
    const list = (await (await api('host', `/api/slides/${SLIDE}/annotations`)).json()) as {
      annotations: AnnotationDto[];
    };
    const stroma = list.annotations.find((a) => a.classification?.name === 'Stroma')!;
    expect(stroma.kind).toBe('polygon');
    expect(stroma.classification!.color).toBe('#96c896');
    for (const body of [
      '{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[]},"properties":{}}]}',
      '{"nope":1}',
      '[{"type":"Feature","geometry":{"type":"Point","coordinates":["a",1]}}]',
    ]) {
      const bad = await api('host', `/api/slides/${SLIDE}/annotations?format=geojson`, {
        method: 'POST',
        body,
      });
      expect(bad.status, body).toBe(400);
      expect(((await bad.json()) as { code: string }).code).toBe('INVALID_PARAMETER');
    }
    expect((await api('outsider', `/api/slides/${SLIDE}/annotations?format=geojson`)).status).toBe(404);
  });
});

describe('what a share grants: view, and annotate in a session one is invited to; never moderate', () => {
  const SHARED = 'd'.repeat(32);
  let shared = '';
  const point = (label: string) => ({
    kind: 'point' as const,
    geometry: { points: [[1, 1]] as [number, number][] },
    classification: tumour,
    label,
  });

  beforeAll(async () => {
    await slideRow(ctx.db, { id: SHARED, name: 'North biopsy', siteId: 'north', width: 100, height: 100 });
    const share = await api('host', `/api/slides/${SHARED}/shares`, {
      method: 'POST',
      body: JSON.stringify({
        userId: ids['reviewer'],
        deidentified: true,
        studyCode: 'STUDY-1',
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      }),
    });
    expect(share.status).toBe(201);
    const s = await api('host', '/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ slideId: SHARED, title: 'tumour board' }),
    });
    expect(s.status).toBe(201);
    shared = ((await s.json()) as ReviewSessionDto).id;
    const inv = await api('host', `/api/sessions/${shared}/invite`, {
      method: 'POST',
      body: JSON.stringify({ userId: ids['reviewer'] }),
    });
    expect(inv.status).toBe(200);
  });

  const join = async (user: string, session: string): Promise<ReviewSession> => {
    const r = new ReviewSession(connect(user), session);
    const j = await r.ready();
    if (!j.ok) throw new Error(`${user} could not join: ${j.code} ${j.message}`);
    return r;
  };

  it('a site-B pathologist holding a share may view the slide but not host a session on it (403)', async () => {
    expect((await api('reviewer', `/api/slides/${SHARED}`)).status).toBe(200);
    const res = await api('reviewer', '/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ slideId: SHARED, title: 'mine now' }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/own site/) });
    // Its own site's pathologists may.
    const ok = await api('colleague', '/api/sessions', {
      method: 'POST',
      body: JSON.stringify({ slideId: SHARED, title: 'ours' }),
    });
    expect(ok.status).toBe(201);
  });

  it('an invited reviewer edits, deletes and restores only their own annotations; comments on any', async () => {
    const host = await join('host', shared);
    const guest = await join('reviewer', shared);
    const hosts = await host.create(point('host finding'));
    const gone = await host.create(point('host, deleted'));
    expect((await host.remove(gone.id)).ok).toBe(true);
    await until(() => guest.get(hosts.id) !== undefined, 'reviewer sees the host annotation');
    expect(await guest.update(hosts.id, { label: 'hijack' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await guest.remove(hosts.id)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await guest.submit({ type: 'restore', opId: crypto.randomUUID(), id: gone.id })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
    expect((await guest.comment(hosts.id, 'agree')).ok).toBe(true);
    const own = await guest.create(point('reviewer finding'));
    expect(own.ok).toBe(true);
    expect((await guest.update(own.id, { label: 'reviewer finding, revised' })).ok).toBe(true);
    expect((await guest.remove(own.id)).ok).toBe(true);
    expect((await guest.undo())?.ok).toBe(true); // a restore of my own
    await until(() => host.get(own.id)?.label === 'reviewer finding, revised', 'host sees it back');
    // The host of the slide's own site moderates.
    expect((await host.update(own.id, { label: 'moderated' })).ok).toBe(true);
    const stored = (await ctx.review.annotations.list({ slideId: SHARED, siteId: 'north' })).find(
      (a) => a.id === hosts.id,
    );
    expect(stored).toMatchObject({ label: 'host finding', version: 2 }); // the comment only
    host.socket.disconnect();
    guest.socket.disconnect();
  });

  it('a share-only host (a session from before this rule) moderates nothing', async () => {
    const host = await join('host', shared);
    const target = await host.create(point('not yours'));
    host.socket.disconnect();
    const old = crypto.randomUUID();
    await ctx.db
      .insertInto('review_sessions')
      .values({
        id: old,
        slide_id: SHARED,
        title: 'taken over',
        host_id: ids['reviewer']!,
        status: 'open',
        created_at: new Date().toISOString(),
        closed_at: null,
        // As the migration backfills sessions from before: the slide's first owner.
        site_id: 'north',
      })
      .execute();
    const r = await join('reviewer', old);
    expect(await r.update(target.id, { label: 'x' })).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await r.remove(target.id)).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(
      (await ctx.review.annotations.list({ slideId: SHARED, siteId: 'north' })).find(
        (a) => a.id === target.id,
      )?.label,
    ).toBe('not yours');
    r.socket.disconnect();
  });

  it("live changes and opinions are audited with the slide's site: its lab manager sees the reviewer's", async () => {
    const guest = await join('reviewer', shared);
    const made = await guest.create(point('for the audit'));
    expect(made.ok).toBe(true);
    const op = await new Promise<{ ok: boolean }>((r) =>
      guest.socket.emit('opinion', { diagnosis: 'Benign', confidence: 'high' }, r as never),
    );
    expect(op.ok).toBe(true);
    guest.socket.disconnect();
    const read = async (action: string) =>
      ((await (await api('labnorth', `/api/audit?action=${action}`)).json()) as AuditPage).entries;
    const created = (await read('annotation.create')).find((e) => e.targetId === made.id);
    expect(created).toMatchObject({ userId: ids['reviewer'], siteId: 'south', targetSiteId: 'north' });
    const opinions = (await read('opinion.submit')).filter((e) => e.userId === ids['reviewer']);
    expect(opinions.map((e) => e.targetSiteId)).toEqual(['north']);
  });

  it("a GeoJSON import needs the slide's own site", async () => {
    const fc = JSON.stringify({
      type: 'FeatureCollection',
      features: [{ type: 'Feature', geometry: { type: 'Point', coordinates: [3, 4] }, properties: {} }],
    });
    const path = `/api/slides/${SHARED}/annotations?format=geojson`;
    const refused = await api('reviewer', path, { method: 'POST', body: fc });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('FORBIDDEN');
    expect((await api('host', path, { method: 'POST', body: fc })).status).toBe(201);
  });
});

describe('the socket handshake checks Origin like REST writes', () => {
  const cookieOf = async (name: string): Promise<string> => {
    const res = await fetch(`${base()}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: 'test-password-1' }),
    });
    expect(res.status).toBe(200);
    return /tessera_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')![0];
  };
  const open = (headers: Record<string, string>, auth?: { token: string }) => {
    const s = io(base(), {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      extraHeaders: headers,
      ...(auth ? { auth } : {}),
    });
    sockets.push(s);
    return new Promise<string>((r) => {
      s.once('connect', () => r('connected'));
      s.once('connect_error', (e) => r(e.message));
    });
  };

  it('a cookie from a foreign origin is refused; from our own pages, or a bearer token from anywhere, allowed', async () => {
    const cookie = await cookieOf('host');
    expect(await open({ cookie, origin: 'https://evil.example' })).toBe('FORBIDDEN');
    expect(await open({ cookie, origin: 'null' })).toBe('FORBIDDEN');
    expect(await open({ cookie, origin: base() })).toBe('connected');
    expect(await open({ cookie })).toBe('connected');
    expect(await open({ origin: 'https://evil.example' }, { token: tokens['host']! })).toBe('connected');
  });
});
