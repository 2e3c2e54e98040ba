/**
 * A specialist's inbox: second opinions and review invitations listed with their question, sender and
 * due date, pushed live over the socket, accepted or declined by the invitee alone; a declined second
 * opinion goes back to its requester. Someone with a session's link but no invitation is told so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseDto, InboxDto, InboxItemDto, SecondOpinionDto } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { slideRow, userFetch, userWithToken } from './helpers/auth.ts';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tok: Record<string, string> = {};
const id: Record<string, string> = {};
const SLIDE = 'e'.repeat(32);
const sockets: Socket[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-inbox-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  for (const [name, role, siteId] of [
    ['manager', 'lab_manager', 'north'],
    ['anna', 'pathologist', 'north'],
    ['spec', 'specialist', 'south'],
    ['other', 'pathologist', 'south'],
    ['admin', 'admin', 'north'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tok[name] = u.token;
    id[name] = u.id;
  }
  await slideRow(ctx.db, { id: SLIDE, name: 'Slide one', siteId: 'north' });
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await ctx.review.close();
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

const as = userFetch(() => base, tok);
const body = async <T>(r: Response): Promise<T> => (await r.json()) as T;

describe("a specialist's inbox", () => {
  let caseId = '';
  let item: InboxItemDto;

  it('lists a second opinion the moment it is asked, pushed over the socket, with question and due date', async () => {
    expect(await body<InboxDto>(await as('spec', '/api/inbox'))).toEqual({ items: [], pending: 0 });
    expect((await fetch(`${base}/api/inbox`)).status).toBe(401);
    const c = await body<CaseDto>(
      await as('manager', '/api/cases', {
        method: 'POST',
        body: JSON.stringify({
          accession: 'G26-0100',
          siteId: 'north',
          specimenType: 'biopsy',
          subspecialty: 'gi',
          priority: 'routine',
          receivedAt: new Date(Date.now() - 2 * 86_400_000).toISOString().slice(0, 10),
        }),
      }),
    );
    caseId = c.id;
    for (const [p, b, m] of [
      [`/api/cases/${c.id}`, { assignedTo: id['anna'] }, 'PATCH'],
      [`/api/cases/${c.id}/slides`, { slideId: SLIDE }, 'POST'],
      [`/api/pathologists/${id['spec']}`, { subspecialties: ['gi'] }, 'PATCH'],
    ] as const)
      expect((await as('manager', p, { method: m, body: JSON.stringify(b) })).status, p).toBe(200);

    const sock = io(base, { transports: ['websocket'], auth: { token: tok['spec'] }, forceNew: true });
    sockets.push(sock);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const pushed = new Promise<unknown>((r) => sock.once('inbox', r));
    const asked = await as('anna', `/api/cases/${c.id}/second-opinion`, {
      method: 'POST',
      body: JSON.stringify({ question: 'Is this sessile serrated?' }),
    });
    expect(asked.status).toBe(201);
    expect(await pushed).toEqual({ changed: true });

    const inbox = await body<InboxDto>(await as('spec', '/api/inbox'));
    expect(inbox.pending).toBe(1);
    item = inbox.items[0]!;
    const so = (await body<SecondOpinionDto[]>(await as('anna', `/api/cases/${c.id}/second-opinions`)))[0]!;
    expect(item).toEqual({
      sessionId: so.sessionId,
      slideId: SLIDE,
      kind: 'second_opinion',
      // De-identified: the specialist sees a generic title, never the case's accession.
      title: 'Second opinion review',
      question: 'Is this sessile serrated?',
      fromName: 'anna',
      fromSiteName: 'Site north',
      invitedAt: expect.any(String),
      dueAt: c.dueAt,
      response: 'pending',
      link: `/view/${SLIDE}?session=${so.sessionId}`,
    });
    expect(JSON.stringify(inbox)).not.toContain('G26-0100');
    // The host's own inbox does not list it; nobody else's either.
    expect((await body<InboxDto>(await as('anna', '/api/inbox'))).items).toEqual([]);
    expect((await body<InboxDto>(await as('other', '/api/inbox'))).items).toEqual([]);
  });

  it('only the invitee answers; bad answers are refused', async () => {
    const answer = (who: string, response: unknown, session = item.sessionId) =>
      as(who, `/api/inbox/${session}`, { method: 'POST', body: JSON.stringify({ response }) });
    expect((await answer('other', 'accept')).status).toBe(404);
    expect((await answer('anna', 'decline')).status).toBe(404);
    expect((await answer('spec', 'maybe')).status).toBe(400);
    expect((await answer('spec', 'accept', 'not-a-session')).status).toBe(400);
    expect((await answer('spec', 'accept', crypto.randomUUID())).status).toBe(404);
    const ok = await answer('spec', 'accept');
    expect(ok.status).toBe(200);
    expect((await body<InboxItemDto>(ok)).response).toBe('accepted');
    expect((await body<InboxDto>(await as('spec', '/api/inbox'))).pending).toBe(0);
  });

  it('a declined second opinion goes back to the requester, who may ask someone else', async () => {
    const r = await as('spec', `/api/inbox/${item.sessionId}`, {
      method: 'POST',
      body: JSON.stringify({ response: 'decline' }),
    });
    expect(r.status).toBe(200);
    const list = await body<SecondOpinionDto[]>(await as('anna', `/api/cases/${caseId}/second-opinions`));
    expect(list.map((o) => o.status)).toEqual(['declined']);
    expect((await body<CaseDto>(await as('manager', `/api/cases/${caseId}`))).status).toBe('in_review');
    const audit = await body<{ entries: { action: string }[] }>(
      await as('admin', '/api/audit?action=invitation.decline'),
    );
    expect(audit.entries.length).toBeGreaterThan(0);
  });

  it('someone with the link but no invitation is told so, over HTTP and the socket', async () => {
    const r = await as('other', `/api/sessions/${item.sessionId}`);
    expect(r.status).toBe(403);
    expect(await body<{ message: string }>(r)).toMatchObject({
      message: 'You are not invited to this review',
    });
    const sock = io(base, { transports: ['websocket'], auth: { token: tok['other'] }, forceNew: true });
    sockets.push(sock);
    const joined = await new Promise<{ ok: boolean; code?: string }>((res) =>
      sock.emit('join', { protocolVersion: 3, sessionId: item.sessionId }, res as never),
    );
    expect(joined).toMatchObject({ ok: false, code: 'NOT_INVITED' });
  });

  it('a disabled specialist loses the inbox and its live connection', async () => {
    const sock = sockets[0]!;
    const gone = new Promise<void>((r) => sock.once('disconnect', () => r()));
    await ctx.db.updateTable('users').set({ disabled: 1 }).where('id', '=', id['spec']!).execute();
    ctx.auth.forgetAll();
    await ctx.review.recheckAll();
    await gone;
    expect((await as('spec', '/api/inbox')).status).toBe(401);
  });
});
