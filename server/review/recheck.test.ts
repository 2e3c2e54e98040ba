/**
 * The periodic re-check of review connections against a join made while it runs: the re-check
 * answers about each connection as it was when it started, and a connection that joined meanwhile
 * (through a valid share) is neither refused nor left unchecked.
 */
import { type Socket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JoinResult, ReviewSessionDto } from '../../protocol/index.ts';
import { slideRow } from '../../tests/helpers/auth.ts';
import { type TestServer, startTestServer } from '../../tests/helpers/server.ts';
import type { ServerContext } from '../context.ts';
import { standings } from './recheck.ts';

const SLIDE = 'c'.repeat(32);
let s: TestServer;
let ctx: ServerContext;
const sockets: Socket[] = [];
let sessionId = '';

beforeAll(async () => {
  // No periodic re-check during the test: each run below is started by the test.
  s = await startTestServer(
    'tessera-recheck-',
    [
      ['host', 'pathologist', 'north'],
      ['guest', 'specialist', 'south'],
    ],
    { review: { recheckMs: 3_600_000 } },
  );
  ctx = s.ctx;
  await slideRow(ctx.db, { id: SLIDE, name: 'North resection', siteId: 'north' });
  const made = await s.as('host', '/api/sessions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ slideId: SLIDE, title: 'second opinion' }),
  });
  expect(made.status).toBe(201);
  sessionId = ((await made.json()) as ReviewSessionDto).id;
  // The guest, of another site, is invited: a share of the slide is made for them.
  const inv = await s.as('host', `/api/sessions/${sessionId}/invite`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: s.ids['guest'] }),
  });
  expect(inv.status).toBe(200);
});

afterAll(async () => {
  for (const c of sockets) c.disconnect();
  await s.close();
});

async function connect(user: string): Promise<Socket> {
  const c = io(s.base, {
    transports: ['websocket'],
    auth: { token: s.tokens[user] },
    forceNew: true,
    reconnection: false,
  });
  sockets.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('connect_error', reject);
  });
  return c;
}

function join(c: Socket): Promise<JoinResult> {
  return c.timeout(10_000).emitWithAck('join', { protocolVersion: 3, sessionId }) as Promise<JoinResult>;
}

/**
 * Hold Access.grantsFor (what the re-check asks last) until `release` is called; `calls` counts the
 * times it was asked.
 */
function holdGrants(): {
  asked: Promise<void>;
  release: () => void;
  restore: () => void;
  calls: () => number;
} {
  const real = ctx.access.grantsFor.bind(ctx.access);
  let release = (): void => {};
  let asked = (): void => {};
  let calls = 0;
  const gate = new Promise<void>((r) => (release = r));
  const reached = new Promise<void>((r) => (asked = r));
  ctx.access.grantsFor = async (pairs) => {
    calls++;
    asked();
    await gate;
    return real(pairs);
  };
  return { asked: reached, release, restore: () => void (ctx.access.grantsFor = real), calls: () => calls };
}

describe('re-check and join', () => {
  it('answers about each connection as it was at the call, whatever a join changes meanwhile', async () => {
    const principal = (await ctx.auth.resolve({
      headers: { authorization: `Bearer ${s.tokens['guest']}` },
    } as never))!;
    expect(principal).not.toBeNull();
    const hostP = (await ctx.auth.resolve({
      headers: { authorization: `Bearer ${s.tokens['host']}` },
    } as never))!;
    const host = { principal: hostP, sessionId, slideId: SLIDE };
    const guest: { principal: typeof principal; sessionId?: string; slideId?: string } = { principal };
    const hold = holdGrants();
    try {
      const answer = standings(ctx, [host, guest]);
      await hold.asked;
      // The guest joins the host's session while the grants are being read.
      guest.sessionId = sessionId;
      guest.slideId = SLIDE;
      hold.release();
      const [h, g] = await answer;
      expect(h).toMatchObject({ ok: true });
      expect(g).toMatchObject({ ok: true });
    } finally {
      hold.restore();
    }
  });

  it('a guest joining through a valid share while a re-check runs stays connected and is checked again', async () => {
    const hostSock = await connect('host');
    expect((await join(hostSock)).ok).toBe(true);
    const guestSock = await connect('guest');
    let kicked: unknown = null;
    guestSock.on('kicked', (k: unknown) => (kicked = k));
    const hold = holdGrants();
    try {
      const run = ctx.review.recheckAll();
      await hold.asked;
      expect((await join(guestSock)).ok).toBe(true);
      hold.release();
      await run;
      // A refusal would be on its way: give it time to arrive.
      await new Promise((r) => setTimeout(r, 300));
      expect(kicked).toBeNull();
      expect(guestSock.connected).toBe(true);
      // The joined guest was checked again within the same run, with their session.
      expect(hold.calls()).toBe(2);
    } finally {
      hold.restore();
    }
    // Their rights really are checked: revoking the share ends the connection.
    const shares = await ctx.db.selectFrom('shares').select('id').where('slide_id', '=', SLIDE).execute();
    expect(shares).toHaveLength(1);
    const gone = new Promise<void>((r) => guestSock.once('disconnect', () => r()));
    const rev = await s.as('host', `/api/shares/${shares[0]!.id}`, { method: 'DELETE' });
    expect(rev.status).toBeLessThan(300);
    await ctx.review.recheckAll();
    await gone;
    expect(kicked).toMatchObject({ code: 'FORBIDDEN' });
    expect(hostSock.connected).toBe(true);
  });
});
