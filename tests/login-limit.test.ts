/**
 * Sign-in limiting against a real server, with client addresses given by a trusted proxy's
 * X-Forwarded-For: failures count per account and per address, a busy shared address (a hospital
 * NAT) never holds off a user whose own account is not failing, successful sign-ins never count,
 * and lockouts are audited.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditPage } from '../protocol/index.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { userWithToken } from './helpers/auth.ts';

const PASSWORD = 'test-password-1';
let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
let admin = '';

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-login-limit-'));
  // The defaults: 10 failures an account, 30 an address, per 15 minutes.
  const config = loadConfig({ dataDir, port: 0, host: '127.0.0.1', trustProxy: 1 }, {});
  ctx = await createServerContext(config, () => {});
  admin = (await userWithToken(ctx.db, { name: 'admin', role: 'admin', siteId: 'north' })).token;
  for (const name of [
    'xavier',
    'yvonne',
    'zoe',
    'walter',
    'vera',
    ...Array.from({ length: 10 }, (_, i) => `staff${i}`),
  ])
    await userWithToken(ctx.db, { name, role: 'pathologist', siteId: 'north' });
  server = createServer(createHandler(ctx, createApp(ctx)));
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await ctx.tiles.close();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

async function signIn(
  name: string,
  password: string,
  address: string,
): Promise<{ status: number; code?: string; retryAfter: string | null }> {
  const res = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify({ name, password }),
  });
  const body = (await res.json()) as { code?: string };
  return { status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') };
}

const lockouts = async (): Promise<AuditPage['entries']> =>
  (
    (await (
      await fetch(`${base}/api/audit?action=auth.lockout`, { headers: { authorization: `Bearer ${admin}` } })
    ).json()) as AuditPage
  ).entries;

describe('sign-in limiting', () => {
  it('10 wrong passwords for one account lock it from every address, the right password included; audited', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) codes.push((await signIn('xavier', `wrong-${i}`, '203.0.113.1')).status);
    expect(codes).toEqual(Array(10).fill(401));
    for (const address of ['203.0.113.1', '198.51.100.99']) {
      const held = await signIn('xavier', PASSWORD, address);
      expect(held).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(Number(held.retryAfter)).toBeGreaterThan(14 * 60);
    }
    // Only that account: another user at the same address signs in.
    expect((await signIn('walter', PASSWORD, '203.0.113.1')).status).toBe(200);
    const lock = (await lockouts()).find((e) => e.userName === 'xavier');
    expect(lock).toMatchObject({ ip: '203.0.113.1', targetType: 'user', targetSiteId: 'north' });
    expect(lock!.detail).toMatchObject({ scope: 'account', failures: 10, minutes: 15 });
  });

  it('50 failures for various accounts from one address never hold off a colleague with the right password', async () => {
    const nat = '192.0.2.10';
    const codes = new Set<number>();
    // Fifty mistyped or unknown names behind the hospital's one address, two tries each.
    for (let i = 0; i < 50; i++) codes.add((await signIn(`visitor${i % 25}`, `wrong-${i}`, nat)).status);
    expect([...codes]).toEqual([401]);
    expect((await signIn('yvonne', PASSWORD, nat)).status).toBe(200);
    // Even after a typo of her own.
    expect((await signIn('zoe', 'typo', nat)).status).toBe(401);
    expect((await signIn('zoe', PASSWORD, nat)).status).toBe(200);
    expect((await lockouts()).some((e) => e.ip === nat && e.detail.scope === 'address')).toBe(true);
  });

  it('a guesser cycling accounts from one address gets 429; the accounts stay open elsewhere', async () => {
    const guesser = '198.51.100.66';
    const rounds: number[][] = [];
    for (let round = 0; round < 4; round++) {
      const codes: number[] = [];
      for (let i = 0; i < 10; i++) codes.push((await signIn(`staff${i}`, `guess-${round}`, guesser)).status);
      rounds.push(codes);
    }
    // 30 failures bring the address to its limit; then each account already failing three times there
    // is refused without its password being tried.
    expect(rounds.slice(0, 3).flat()).toEqual(Array(30).fill(401));
    expect(rounds[3]).toEqual(Array(10).fill(429));
    expect((await signIn('staff0', PASSWORD, guesser)).code).toBe('RATE_LIMITED');
    // The same accounts from their own desks, and a fresh account at the guesser's address, sign in.
    expect((await signIn('staff0', PASSWORD, '10.20.30.40')).status).toBe(200);
    expect((await signIn('vera', PASSWORD, guesser)).status).toBe(200);
  });

  it("successful sign-ins never count: more than an account's limit of them, then a typo is still only a typo", async () => {
    const desk = '10.1.1.1';
    for (let i = 0; i < 11; i++) expect((await signIn('walter', PASSWORD, desk)).status).toBe(200);
    expect((await signIn('walter', 'wrong', desk)).status).toBe(401);
    expect((await signIn('walter', PASSWORD, desk)).status).toBe(200);
  });
});
