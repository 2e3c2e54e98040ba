/**
 * A second opinion sends a case's slides to a specialist at another site. Nothing that names the
 * patient or the case may go with them: not the accession (in the study code, the session title or
 * the question), not the slide's file name, not an NHS number. Checked through every REST answer and
 * every socket event the specialist can reach, on a real Aperio slide with a label and a macro.
 */
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Socket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  CaseDto,
  ReviewSessionDto,
  SecondOpinionDto,
  SlideDetailDto,
  SlideDto,
} from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { ensureClientBuilt } from '../scripts/browser.ts';
import { ingest } from '../tiles/index.ts';
import { userFetch, userWithToken } from './helpers/auth.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';

const have = requireSlides();
const ACCESSION = 'H26-0042';
/** The scanned file's name, as labs name them: accession and patient. */
const FILE_NAME = `${ACCESSION} SMITHSON Jane`;
const QUESTION = 'Grade of the dysplasia in this adenoma? Any invasion at the stalk?';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
let slide = '';
let props: Record<string, string> = {};
let caseId = '';
const tok: Record<string, string> = {};
const id: Record<string, string> = {};
const sockets: Socket[] = [];

beforeAll(async () => {
  if (!have) return;
  await ensureClientBuilt();
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-so-deid-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  for (const [name, role, siteId] of [
    ['manager', 'lab_manager', 'north'],
    ['anna', 'pathologist', 'north'],
    ['spec', 'specialist', 'south'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tok[name] = u.token;
    id[name] = u.id;
  }
  const a = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), ctx.store, {
    tileSize: 256,
    jpegQuality: 92,
    name: FILE_NAME,
  });
  await ctx.slides.register(a.manifest, 'north');
  slide = a.manifest.id;
  props = a.manifest.properties;
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const c = (await (
    await as('manager', '/api/cases', {
      method: 'POST',
      body: JSON.stringify({
        accession: ACCESSION,
        siteId: 'north',
        specimenType: 'polypectomy',
        subspecialty: 'gi',
        priority: 'routine',
        receivedAt: new Date().toISOString().slice(0, 10),
      }),
    })
  ).json()) as CaseDto;
  caseId = c.id;
  for (const [p, b] of [
    [`/api/cases/${caseId}`, { method: 'PATCH', body: JSON.stringify({ assignedTo: id['anna'] }) }],
    [`/api/cases/${caseId}/slides`, { method: 'POST', body: JSON.stringify({ slideId: slide }) }],
    // Second opinions go only to specialists of the case's subspecialty.
    [
      `/api/pathologists/${id['spec']}`,
      { method: 'PATCH', body: JSON.stringify({ subspecialties: ['gi'] }) },
    ],
  ] as const)
    expect((await as('manager', p, b)).status).toBe(200);
});

afterAll(async () => {
  if (!have) return;
  for (const s of sockets) s.disconnect();
  await ctx.review.close();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const as = userFetch(() => base, tok);

const ask = (question: string): Promise<Response> =>
  as('anna', `/api/cases/${caseId}/second-opinion`, { method: 'POST', body: JSON.stringify({ question }) });

/** Everything that names the patient or the case, in the forms it could take. */
function secrets(): string[] {
  const vendor = ['aperio.Date', 'aperio.Time', 'aperio.User', 'aperio.Filename', 'aperio.ImageID']
    .map((k) => props[k])
    .filter((v): v is string => !!v && v.length >= 4);
  expect(vendor.length).toBeGreaterThan(2);
  return [ACCESSION, 'H260042', 'H26 0042', 'SMITHSON', 'CMU-1', ...vendor];
}

function expectClean(text: string, where: string): void {
  const lower = text.toLowerCase();
  for (const s of secrets()) expect(lower.includes(s.toLowerCase()), `${where} carries ${s}`).toBe(false);
}

function connect(user: string): Socket {
  const s = io(base, { transports: ['websocket'], auth: { token: tok[user] }, forceNew: true });
  sockets.push(s);
  return s;
}

const emit = <T>(s: Socket, event: string, payload: unknown): Promise<T> =>
  new Promise<T>((r) => s.emit(event, payload, r));

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe.skipIf(!have)('second opinions leak no identifiers', () => {
  it('a question naming the case or carrying an NHS number is refused, and nothing is shared', async () => {
    for (const q of [
      `Is ${ACCESSION} a tubular adenoma?`,
      'Grade of h26 0042?',
      'grade of H260042 please',
      `Slide ${FILE_NAME.toLowerCase()}: grade?`,
      'NHS 943 476 5919, grade?',
      'Patient 943-476-5919: grade?',
      'nhs:9434765919',
    ]) {
      const r = await ask(q);
      expect(r.status, q).toBe(400);
      const err = (await r.json()) as { code: string; message: string };
      expect(err.code, q).toBe('IDENTIFIER_IN_TEXT');
      // The answer names what was found, not the value (it goes to logs and screens).
      expect(err.message).not.toContain('5919');
      expect(err.message).not.toContain(ACCESSION);
    }
    expect(((await (await as('spec', '/api/slides')).json()) as SlideDto[]).length).toBe(0);
    expect((await (await as('anna', `/api/cases/${caseId}/second-opinions`)).json()) as unknown[]).toEqual(
      [],
    );
    expect(((await (await as('anna', `/api/cases/${caseId}`)).json()) as CaseDto).status).toBe('assigned');
    // Ten digits that fail the check digit are not an NHS number: a plain question passes below.
  });

  it('the specialist gets a random study code, a generic title and the question, and nothing identifying through any endpoint or event', async () => {
    const r = await ask(`${QUESTION} (ref 943 476 5918)`);
    expect(r.status).toBe(201);
    const so = (await r.json()) as SecondOpinionDto;
    expect(so.specialistId).toBe(id['spec']);

    // The requesting site still sees its own case in the title.
    const own = (await (await as('anna', `/api/sessions/${so.sessionId}`)).json()) as ReviewSessionDto;
    expect(own.title).toContain(ACCESSION);

    // The host is in the room and works: an annotation, a chat line, a cursor, a view, a summon.
    const host = connect('anna');
    const hostJoin = await emit<{ ok: boolean; state: { session: ReviewSessionDto } }>(host, 'join', {
      protocolVersion: 3,
      sessionId: so.sessionId,
    });
    expect(hostJoin.ok).toBe(true);
    expect(hostJoin.state.session.title).toContain(ACCESSION);

    const spec = connect('spec');
    const events: [string, unknown][] = [];
    spec.onAny((event: string, ...args: unknown[]) => events.push([event, args]));
    const join = await emit<{
      ok: boolean;
      state: { session: ReviewSessionDto; chat: { text: string }[]; annotations: { parts: number } };
    }>(spec, 'join', { protocolVersion: 3, sessionId: so.sessionId });
    expect(join.ok).toBe(true);
    expect(join.state.session.title).toBe('Second opinion review');
    // The question arrives, checked, as the requester's first message in the session.
    expect(join.state.chat[0]?.text).toContain(QUESTION);
    expectClean(JSON.stringify(join), 'the join state');
    // The annotations that follow the answer, unpacked.
    const parts = (): Buffer[] =>
      events.filter(([n]) => n === 'snapshot').map(([, a]) => (a as [{ data: Buffer }])[0].data);
    await until(() => parts().length === join.state.annotations.parts, 'the join snapshot');
    const snapshot = gunzipSync(Buffer.concat(parts())).toString('utf8');
    expect(JSON.parse(snapshot)).toBeInstanceOf(Array);
    expectClean(snapshot, 'the join snapshot');

    const annotation = crypto.randomUUID();
    const created = await emit<{ ok: boolean }>(host, 'op', {
      type: 'create',
      opId: crypto.randomUUID(),
      annotation: {
        id: annotation,
        kind: 'rectangle',
        geometry: {
          points: [
            [100, 100],
            [400, 300],
          ],
        },
        classification: { name: 'Tumor', color: '#c83232' },
        label: 'stalk',
      },
    });
    expect(created.ok).toBe(true);
    expect((await emit<{ ok: boolean }>(host, 'chat', { text: 'have a look at the stalk' })).ok).toBe(true);
    const view = { x: 1, y: 1, imageZoom: 1, rotation: 0, bounds: { x: 0, y: 0, width: 10, height: 10 } };
    // Cursors and views are volatile (dropped while the transport is busy): sent until one arrives.
    for (const [event, payload] of [
      ['cursor', { x: 200, y: 200 }],
      ['view', view],
    ] as const) {
      const arrived = (): boolean => events.some(([n]) => n === event);
      for (let i = 0; i < 50 && !arrived(); i++) {
        host.emit(event, payload);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    expect((await emit<{ ok: boolean }>(host, 'summon', view)).ok).toBe(true);
    await until(
      () =>
        ['op', 'chat', 'cursor', 'view', 'summon', 'presence'].every((e) => events.some(([n]) => n === e)),
      `every kind of event at the specialist (got ${events.map(([n]) => n).join(' ')})`,
    );
    const answer = await emit<{ ok: boolean }>(spec, 'opinion', {
      diagnosis: 'Tubular adenoma, low-grade dysplasia',
      confidence: 'high',
    });
    expect(answer.ok).toBe(true);
    expectClean(JSON.stringify(events), 'the socket events');

    // Every REST answer the specialist can reach.
    const listed = (await (await as('spec', '/api/slides')).json()) as SlideDto[];
    expect(listed.map((s) => [s.id, s.deidentified])).toEqual([[slide, true]]);
    const code = listed[0]!.name;
    expect(code).toMatch(/^SO-[A-Z2-7]{8}$/);
    const detail = (await (await as('spec', `/api/slides/${slide}`)).json()) as SlideDetailDto;
    expect(detail.name).toBe(code);
    const sessions = (await (await as('spec', '/api/sessions')).json()) as ReviewSessionDto[];
    expect(sessions.map((s) => s.title)).toEqual(['Second opinion review']);
    for (const p of [
      '/api/slides',
      `/api/slides/${slide}`,
      '/api/sessions',
      `/api/sessions/${so.sessionId}`,
      `/api/slides/${slide}/annotations`,
      `/api/slides/${slide}/annotations?format=geojson`,
      `/slides/${slide}.dzi`,
      `/iiif/3/${slide}/info.json`,
      `/view/${slide}`,
      `/view/${slide}?session=${so.sessionId}`,
      '/api/jobs',
      '/api/auth/me',
    ]) {
      const res = await as('spec', p);
      expect(res.status, p).toBe(200);
      expectClean(await res.text(), p);
    }
    // Pixels: the tissue, never the label or the macro (they show the patient's name and barcode).
    for (const p of [
      `/api/slides/${slide}/thumbnail?max=64`,
      `/api/slides/${slide}/associated/thumbnail`,
      `/slides/${slide}_files/8/0_0.jpeg`,
      `/iiif/3/${slide}/full/64,/0/default.jpg`,
    ]) {
      const res = await as('spec', p);
      expect(res.status, p).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer()).toString('latin1');
      for (const s of secrets()) expect(bytes.includes(s), `${p} carries ${s}`).toBe(false);
    }
    for (const p of [
      `/api/slides/${slide}/associated/label`,
      `/api/slides/${slide}/associated/macro`,
      `/api/cases/${caseId}`,
      `/api/cases/${caseId}/second-opinions`,
    ])
      expect((await as('spec', p)).status, p).toBe(404);
    for (const p of ['/api/cases', '/api/worklist', '/api/audit', `/api/slides/${slide}/shares`]) {
      const res = await as('spec', p);
      expect(res.status, p).toBe(403);
      expectClean(await res.text(), p);
    }
    // The opinion counts as the answer, for the requesting site.
    const after = (await (
      await as('anna', `/api/cases/${caseId}/second-opinions`)
    ).json()) as SecondOpinionDto[];
    expect(after.map((x) => x.status)).toEqual(['answered']);
  });
});
