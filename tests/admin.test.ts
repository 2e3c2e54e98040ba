/**
 * Administration over HTTP (/api/admin): who may manage whom (administrators everyone; a lab manager
 * their own site's people only, never an administrator, another site's people and guessed ids 404),
 * validation with the field and a plain message, leave periods (and that leave today takes someone
 * out of balancing and second opinions), disabling cutting an open session and socket at once,
 * password resets, sites, the workload points table, the case CSV import's per-row report, the audit
 * rows of every change, and migration 0011 turning the old on-leave flag into a period.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { type Socket as ClientSocket, io } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AdminUserDto,
  ErrorBody,
  ImportReport,
  PathologistDto,
  ResetPasswordResult,
  SiteDto,
  WorkloadRuleDto,
} from '../protocol/index.ts';
import { localDate } from '../server/admin/leave.ts';
import { createApp, createHandler, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { migrationProvider } from '../server/db/migrations.ts';
import { userFetch, userWithToken } from './helpers/auth.ts';

let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';
const tok: Record<string, string> = {};
const id: Record<string, string> = {};
const sockets: ClientSocket[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-admin-'));
  ctx = await createServerContext(loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {}), () => {});
  for (const [name, role, siteId] of [
    ['admin', 'admin', 'north'],
    ['root2', 'admin', 'north'],
    ['mgr', 'lab_manager', 'north'],
    ['smgr', 'lab_manager', 'south'],
    ['anna', 'pathologist', 'north'],
    ['bo', 'pathologist', 'south'],
    ['spec', 'specialist', 'south'],
  ] as const) {
    const u = await userWithToken(ctx.db, { name, role, siteId });
    tok[name] = u.token;
    id[name] = u.id;
  }
  server = createServer(createHandler(ctx, createApp(ctx)));
  ctx.review.attach(server);
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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

const as = userFetch(() => base, tok);
const send = (user: string, method: string, p: string, body?: unknown): Promise<Response> =>
  as(user, p, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const json = async <T>(r: Response): Promise<T> => (await r.json()) as T;
/** Status, code and message of a refusal. */
const refusal = async (r: Response): Promise<{ status: number; code: string; message: string }> => {
  const b = await json<ErrorBody>(r);
  return { status: r.status, code: b.code, message: b.message };
};

const day = (offset: number): string => localDate(new Date(Date.now() + offset * 86_400_000));
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

async function auditActions(targetId: string): Promise<string[]> {
  const rows = await ctx.db
    .selectFrom('audit')
    .select('action')
    .where('target_id', '=', targetId)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.action);
}

async function create(user: string, body: Record<string, unknown>): Promise<AdminUserDto> {
  const r = await send(user, 'POST', '/api/admin/users', { password: 'long-enough-pw', ...body });
  expect(r.status, await r.clone().text()).toBe(201);
  return json<AdminUserDto>(r);
}

describe('who may use the admin pages', () => {
  it('pathologists and specialists are refused (403) on every admin route', async () => {
    for (const who of ['anna', 'spec']) {
      for (const [method, p, body] of [
        ['GET', '/api/admin/users'],
        [
          'POST',
          '/api/admin/users',
          { name: 'x1', displayName: 'X', password: 'long-enough-pw', role: 'pathologist', siteId: 'north' },
        ],
        ['GET', `/api/admin/users/${id['anna']}`],
        ['PATCH', `/api/admin/users/${id['bo']}`, { displayName: 'Bo' }],
        ['POST', `/api/admin/users/${id['bo']}/disable`],
        ['POST', `/api/admin/users/${id['bo']}/password`, {}],
        ['POST', `/api/admin/users/${id['bo']}/leave`, { from: day(1), to: day(2) }],
        ['GET', '/api/admin/sites'],
        ['POST', '/api/admin/sites', { id: 'east', name: 'East' }],
        ['PATCH', '/api/admin/sites/north', { name: 'N' }],
        ['PUT', '/api/workload-rules', { biopsy: 9 }],
        ['POST', '/api/cases/import', undefined],
      ] as [string, string, unknown?][]) {
        const r = await send(who, method, p, body);
        expect(r.status, `${who} ${method} ${p}`).toBe(403);
        expect((await json<ErrorBody>(r)).code).toBe('FORBIDDEN');
      }
    }
    expect((await fetch(`${base}/api/admin/users`)).status).toBe(401);
    expect(await auditActions(id['bo']!)).toEqual([]);
  });
});

describe('users', () => {
  it('an administrator creates a specialist with subspecialties and capacity; the list filters by search, site, role and enabled', async () => {
    const u = await create('admin', {
      name: 'sara.skin',
      displayName: 'Sara Skin',
      role: 'specialist',
      siteId: 'south',
      subspecialties: ['skin', 'breast'],
      weeklyCapacity: 12,
    });
    expect(u).toMatchObject({
      name: 'sara.skin',
      displayName: 'Sara Skin',
      role: 'specialist',
      siteId: 'south',
      siteName: 'Site south',
      disabled: false,
      subspecialties: ['skin', 'breast'],
      weeklyCapacity: 12,
      leave: [],
      onLeaveToday: false,
    });
    const list = async (q: string) =>
      (await json<AdminUserDto[]>(await as('admin', `/api/admin/users${q}`))).map((x) => x.name).sort();
    expect(await list('?q=SKIN')).toEqual(['sara.skin']);
    expect(await list('?site=south&role=specialist')).toEqual(['sara.skin', 'spec']);
    expect(await list('?role=lab_manager')).toEqual(['mgr', 'smgr']);
    expect(await list('?enabled=false')).toEqual([]);
    expect((await send('admin', 'GET', '/api/admin/users?enabled=maybe')).status).toBe(400);
    // A lab manager has no caseload: no profile shown.
    const mgr = await json<AdminUserDto>(await as('admin', `/api/admin/users/${id['mgr']}`));
    expect(mgr).toMatchObject({ subspecialties: [], weeklyCapacity: null });
    // The specialist's profile routes second opinions to her.
    const specialists = await json<PathologistDto[]>(await as('admin', '/api/pathologists'));
    expect(specialists.find((p) => p.userId === u.id)).toBeUndefined(); // pathologists only there
    const edited = await json<AdminUserDto>(
      await send('admin', 'PATCH', `/api/admin/users/${u.id}`, {
        subspecialties: ['skin'],
        weeklyCapacity: 8,
      }),
    );
    expect(edited).toMatchObject({ subspecialties: ['skin'], weeklyCapacity: 8 });
    expect(await auditActions(u.id)).toEqual(['user.create', 'user.update']);
  });

  it('refuses bad input with 400 INVALID_PARAMETER naming the field, taken names with 409', async () => {
    const base = {
      name: 'ok.name',
      displayName: 'Ok',
      password: 'long-enough-pw',
      role: 'pathologist',
      siteId: 'north',
    };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ password: 'short' }, /^password: a password has at least 10 characters$/],
      [{ name: 'bad name!' }, /^name: a user name is/],
      [{ role: 'emperor' }, /^role: a role is one of pathologist, specialist, lab_manager, admin$/],
      [{ subspecialties: ['dentistry'] }, /^subspecialties\.0: a subspecialty is one of/],
      [{ weeklyCapacity: 5000 }, /^weeklyCapacity: weekly capacity is 0 to 1000 points$/],
      [{ displayName: '   ' }, /^displayName: a name is needed$/],
      [{ siteId: 'mars' }, /no site mars/],
      [{ role: 'lab_manager', weeklyCapacity: 10 }, /for pathologists and specialists only/],
      [{ extra: 1 }, /extra|Unrecognized key/i],
    ];
    for (const [patch, message] of cases) {
      const r = await refusal(await send('admin', 'POST', '/api/admin/users', { ...base, ...patch }));
      expect(r, JSON.stringify(patch)).toMatchObject({ status: 400, code: 'INVALID_PARAMETER' });
      expect(r.message).toMatch(message);
    }
    expect(await refusal(await send('admin', 'POST', '/api/admin/users', { ...base, name: 'anna' }))).toEqual(
      {
        status: 409,
        code: 'CONFLICT',
        message: 'user anna already exists',
      },
    );
    const leave = (body: unknown) => send('admin', 'POST', `/api/admin/users/${id['anna']}/leave`, body);
    expect((await refusal(await leave({ from: '2026-02-30', to: '2026-03-02' }))).message).toBe(
      'from: from must be a date (YYYY-MM-DD)',
    );
    expect((await refusal(await leave({ from: day(5), to: day(2) }))).message).toBe(
      'to: leave ends on or after the day it starts',
    );
    expect((await refusal(await leave({ from: day(-9), to: day(-2) }))).message).toMatch(
      /^to: leave that ended before today/,
    );
    expect((await send('admin', 'GET', '/api/admin/users/not-a-uuid')).status).toBe(400);
  });

  it('an administrator may not disable or demote themself', async () => {
    expect(
      await refusal(await send('admin', 'POST', `/api/admin/users/${id['admin']}/disable`)),
    ).toMatchObject({
      status: 403,
      message: 'you may not disable your own account',
    });
    expect(
      await refusal(await send('admin', 'PATCH', `/api/admin/users/${id['admin']}`, { role: 'pathologist' })),
    ).toMatchObject({ status: 403, message: 'you may not change your own role' });
  });
});

describe('a lab manager manages their own site only', () => {
  it('sees only their site’s people and sites', async () => {
    const people = await json<AdminUserDto[]>(await as('mgr', '/api/admin/users'));
    expect(new Set(people.map((p) => p.siteId))).toEqual(new Set(['north']));
    expect(people.map((p) => p.name)).toContain('anna');
    // Asking for another site's people gives nobody, not them.
    expect(await json<AdminUserDto[]>(await as('mgr', '/api/admin/users?site=south'))).toEqual([]);
    expect((await json<SiteDto[]>(await as('mgr', '/api/admin/sites'))).map((s) => s.id)).toEqual(['north']);
  });

  it('another site’s people and guessed ids answer 404 on every route, and nothing changes', async () => {
    for (const target of [id['bo']!, id['smgr']!, UNKNOWN]) {
      for (const [method, suffix, body] of [
        ['GET', ''],
        ['PATCH', '', { displayName: 'Renamed' }],
        ['POST', '/disable'],
        ['POST', '/enable'],
        ['POST', '/password', {}],
        ['POST', '/leave', { from: day(1), to: day(3) }],
        ['DELETE', `/leave/${UNKNOWN}`],
      ] as [string, string, unknown?][]) {
        const r = await send('mgr', method, `/api/admin/users/${target}${suffix}`, body);
        expect(r.status, `${method} ${suffix} ${target}`).toBe(404);
        expect((await json<ErrorBody>(r)).code).toBe('NOT_FOUND');
      }
    }
    const bo = await json<AdminUserDto>(await as('admin', `/api/admin/users/${id['bo']}`));
    expect(bo).toMatchObject({ displayName: 'bo', disabled: false, leave: [] });
    expect(await auditActions(id['bo']!)).toEqual([]);
  });

  it('cannot make an administrator, add people elsewhere, move people away, or change an administrator', async () => {
    const person = { name: 'new.north', displayName: 'New North', password: 'long-enough-pw' };
    expect(
      await refusal(
        await send('mgr', 'POST', '/api/admin/users', { ...person, role: 'admin', siteId: 'north' }),
      ),
    ).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
      message: 'only an administrator may make an administrator',
    });
    expect(
      await refusal(
        await send('mgr', 'POST', '/api/admin/users', { ...person, role: 'pathologist', siteId: 'south' }),
      ),
    ).toMatchObject({ status: 403, message: 'you manage the people of your own site (Site north) only' });
    expect((await send('mgr', 'PATCH', `/api/admin/users/${id['anna']}`, { siteId: 'south' })).status).toBe(
      403,
    );
    expect((await send('mgr', 'PATCH', `/api/admin/users/${id['anna']}`, { role: 'admin' })).status).toBe(
      403,
    );
    expect(await refusal(await send('mgr', 'POST', `/api/admin/users/${id['root2']}/disable`))).toMatchObject(
      { status: 403, message: "only an administrator may change an administrator's account" },
    );
    expect((await send('mgr', 'POST', '/api/admin/sites', { id: 'east', name: 'East' })).status).toBe(403);
    expect((await send('mgr', 'PATCH', '/api/admin/sites/north', { name: 'N' })).status).toBe(403);
    // What a lab manager may do at their own site.
    const made = await create('mgr', {
      ...person,
      role: 'pathologist',
      siteId: 'north',
      subspecialties: ['gi'],
    });
    expect(made).toMatchObject({ siteId: 'north', subspecialties: ['gi'], weeklyCapacity: 20 });
    const edited = await send('mgr', 'PATCH', `/api/admin/users/${made.id}`, { weeklyCapacity: 14 });
    expect(edited.status).toBe(200);
    const row = await ctx.db
      .selectFrom('audit')
      .selectAll()
      .where('target_id', '=', made.id)
      .where('action', '=', 'user.create')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ user_name: 'mgr', site_id: 'north', target_site_id: 'north' });
  });
});

describe('leave', () => {
  it('periods are added and removed; overlapping leave is refused; leave today takes a pathologist out of balancing and second opinions', async () => {
    const anna = id['anna']!;
    const onLeave = async (): Promise<boolean> =>
      (await json<PathologistDto[]>(await as('admin', '/api/pathologists'))).find((p) => p.userId === anna)!
        .onLeave;
    expect(await onLeave()).toBe(false);
    const later = await json<AdminUserDto>(
      await send('mgr', 'POST', `/api/admin/users/${anna}/leave`, { from: day(10), to: day(14) }),
    );
    expect(later.leave.map((l) => [l.from, l.to])).toEqual([[day(10), day(14)]]);
    expect(later.onLeaveToday).toBe(false);
    expect(await onLeave()).toBe(false);
    const now = await send('mgr', 'POST', `/api/admin/users/${anna}/leave`, { from: day(-1), to: day(3) });
    expect(now.status).toBe(201);
    const withLeave = await json<AdminUserDto>(now);
    expect(withLeave.onLeaveToday).toBe(true);
    expect(await onLeave()).toBe(true);
    const overlap = await refusal(
      await send('mgr', 'POST', `/api/admin/users/${anna}/leave`, { from: day(2), to: day(11) }),
    );
    expect(overlap).toMatchObject({ status: 409, code: 'CONFLICT' });
    expect(overlap.message).toMatch(/already on leave from/);
    // The specialist on leave today is not offered for a second opinion.
    const spec = id['spec']!;
    await send('admin', 'PATCH', `/api/admin/users/${spec}`, { subspecialties: ['gi'] });
    await ctx.db
      .insertInto('cases')
      .values({
        id: '11111111-1111-4111-8111-111111111111',
        accession: 'ADM-1',
        site_id: 'north',
        specimen_type: 'biopsy',
        subspecialty: 'gi',
        priority: 'routine',
        received_at: new Date().toISOString(),
        target_days: 10,
        status: 'assigned',
        assigned_to: anna,
        reported_at: null,
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
      })
      .execute();
    const candidates = async () =>
      (
        await json<{ candidates: { userId: string }[] }>(
          await as('mgr', '/api/cases/11111111-1111-4111-8111-111111111111/second-opinion/candidates'),
        )
      ).candidates.map((c) => c.userId);
    expect(await candidates()).toContain(spec);
    await send('admin', 'POST', `/api/admin/users/${spec}/leave`, { from: day(0), to: day(0) });
    expect(await candidates()).not.toContain(spec);
    // Balancing moves the case of a pathologist on leave to someone at work.
    const moves = await json<{ suggestions: { caseId: string; from: string | null }[] }>(
      await as('mgr', '/api/balance/suggestions'),
    );
    expect(moves.suggestions.find((s) => s.caseId === '11111111-1111-4111-8111-111111111111')?.from).toBe(
      anna,
    );
    const removed = await send('mgr', 'DELETE', `/api/admin/users/${anna}/leave/${withLeave.leave[0]!.id}`);
    expect(removed.status).toBe(200);
    expect((await json<AdminUserDto>(removed)).leave.map((l) => l.from)).toEqual([day(10)]);
    expect(await onLeave()).toBe(false);
    expect(await auditActions(anna)).toEqual(['user.leave_add', 'user.leave_add', 'user.leave_remove']);
  });
});

describe('disable, enable and passwords', () => {
  async function login(name: string, password = 'test-password-1'): Promise<Response> {
    return fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password }),
    });
  }
  const cookieOf = (r: Response): string =>
    /tessera_session=[^;]+/.exec(r.headers.get('set-cookie') ?? '')![0];
  const me = (cookie: string) => fetch(`${base}/api/auth/me`, { headers: { cookie } });

  it('disabling cuts the user’s open HTTP session and socket at once; enabling lets them sign in again', async () => {
    const res = await login('bo');
    expect(res.status).toBe(200);
    const cookie = cookieOf(res);
    expect((await me(cookie)).status).toBe(200);
    const s = io(base, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      extraHeaders: { cookie },
    });
    sockets.push(s);
    await new Promise<void>((r, j) => {
      s.once('connect', () => r());
      s.once('connect_error', j);
    });
    const closed = new Promise<string>((r) => s.once('disconnect', r));
    const t0 = Date.now();
    const off = await send('smgr', 'POST', `/api/admin/users/${id['bo']}/disable`);
    expect(off.status).toBe(200);
    expect((await json<AdminUserDto>(off)).disabled).toBe(true);
    expect((await me(cookie)).status).toBe(401);
    const reason = await Promise.race([
      closed,
      new Promise<string>((r) => setTimeout(() => r('still open'), 3000)),
    ]);
    expect(reason).toBe('io server disconnect');
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await as('bo', '/api/auth/me')).status).toBe(401); // the token too
    expect((await login('bo')).status).toBe(401);
    const on = await send('smgr', 'POST', `/api/admin/users/${id['bo']}/enable`);
    expect((await json<AdminUserDto>(on)).disabled).toBe(false);
    expect((await login('bo')).status).toBe(200);
    expect(await auditActions(id['bo']!)).toEqual(['user.disable', 'user.enable']);
  });

  it('a password reset sets the one given, or makes one up and answers it once; old sessions end', async () => {
    const old = cookieOf(await login('spec'));
    const given = await send('admin', 'POST', `/api/admin/users/${id['spec']}/password`, {
      password: 'brand-new-password',
    });
    expect(await json<ResetPasswordResult>(given)).toEqual({ generatedPassword: null });
    expect((await me(old)).status).toBe(401);
    expect((await login('spec')).status).toBe(401);
    expect((await login('spec', 'brand-new-password')).status).toBe(200);
    const made = await send('smgr', 'POST', `/api/admin/users/${id['spec']}/password`, {});
    expect(made.headers.get('cache-control')).toBe('no-store');
    const { generatedPassword } = await json<ResetPasswordResult>(made);
    expect(generatedPassword).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect((await login('spec', generatedPassword!)).status).toBe(200);
    expect(
      (
        await refusal(
          await send('admin', 'POST', `/api/admin/users/${id['spec']}/password`, { password: 'short' }),
        )
      ).message,
    ).toBe('password: a password has at least 10 characters');
    const rows = await ctx.db
      .selectFrom('audit')
      .select(['action', 'detail'])
      .where('target_id', '=', id['spec']!)
      .where('action', '=', 'user.password_reset')
      .execute();
    expect(rows.map((r) => JSON.parse(r.detail) as { generated: boolean }).map((d) => d.generated)).toEqual([
      false,
      true,
    ]);
    // The password itself is never written to the audit trail.
    expect(JSON.stringify(rows)).not.toContain(generatedPassword!);
  });
});

describe('sites', () => {
  it('administrators add and rename sites, with clear refusals; both audited', async () => {
    const made = await send('admin', 'POST', '/api/admin/sites', { id: 'east', name: '  East Clinic ' });
    expect(made.status).toBe(201);
    expect(await json<SiteDto>(made)).toMatchObject({ id: 'east', name: 'East Clinic' });
    expect(
      await refusal(await send('admin', 'POST', '/api/admin/sites', { id: 'East!', name: 'E' })),
    ).toMatchObject({
      status: 400,
      message: 'id: a site id is 1 to 48 lower-case letters, digits and dashes, not starting with a dash',
    });
    expect((await send('admin', 'POST', '/api/admin/sites', { id: 'east', name: 'Again' })).status).toBe(409);
    const renamed = await send('admin', 'PATCH', '/api/admin/sites/east', { name: 'East Hospital' });
    expect(await json<SiteDto>(renamed)).toMatchObject({ id: 'east', name: 'East Hospital' });
    expect(
      (await refusal(await send('admin', 'PATCH', '/api/admin/sites/east', { name: 'Site north' }))).status,
    ).toBe(409);
    expect((await send('admin', 'PATCH', '/api/admin/sites/west', { name: 'W' })).status).toBe(404);
    expect((await refusal(await send('admin', 'PATCH', '/api/admin/sites/east', { name: '' }))).message).toBe(
      'name: a site name is needed',
    );
    expect(await auditActions('east')).toEqual(['site.create', 'site.rename']);
    const people = await json<AdminUserDto[]>(await as('admin', '/api/admin/users?site=north'));
    expect(people.every((p) => p.siteName === 'Site north')).toBe(true);
  });
});

describe('workload points', () => {
  it('are read and set (a null removes a specimen type, never the per-slide or fallback rule), audited', async () => {
    const rules = async (): Promise<Record<string, number>> =>
      Object.fromEntries(
        (await json<WorkloadRuleDto[]>(await as('mgr', '/api/workload-rules'))).map((r) => [
          r.specimen_type,
          r.points,
        ]),
      );
    expect((await rules())['biopsy']).toBe(1);
    const put = (body: unknown) => send('admin', 'PUT', '/api/workload-rules', body);
    expect((await put({ biopsy: 1.5, autopsy: 6 })).status).toBe(200);
    expect(await rules()).toMatchObject({ biopsy: 1.5, autopsy: 6 });
    expect((await put({ autopsy: null })).status).toBe(200);
    expect(await rules()).not.toHaveProperty('autopsy');
    expect((await refusal(await put({ '*fallback': null }))).message).toBe(
      '*fallback cannot be removed, only set',
    );
    expect((await refusal(await put({ biopsy: 500 }))).message).toBe('biopsy: points are 0 to 100');
    expect((await refusal(await put({ 'Bad Type': 1 }))).code).toBe('INVALID_PARAMETER');
    const audited = await ctx.db
      .selectFrom('audit')
      .select('detail')
      .where('action', '=', 'workload.rules')
      .execute();
    expect(audited.map((r) => JSON.parse(r.detail) as unknown)).toEqual([
      { biopsy: 1.5, autopsy: 6 },
      { autopsy: null },
    ]);
  });
});

describe('case CSV import', () => {
  it('reports each bad row with its number and reason, stores the rest, and is audited', async () => {
    const csv = [
      'accession,site,specimen,subspecialty,priority,received_date',
      `IMP-1,north,biopsy,gi,routine,${day(-2)}`,
      `IMP-2,mars,biopsy,gi,routine,${day(-2)}`,
      `IMP-3,north,biopsy,gi,whenever,${day(-2)}`,
      '',
      `"IMP-4",south,"core, left",skin,urgent,${day(-1)}`,
      `IMP-5,north,biopsy,gi,routine,"${day(-1)}`,
    ].join('\n');
    const r = await as('mgr', '/api/cases/import', {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: csv,
    });
    expect(r.status).toBe(200);
    expect(await json<ImportReport>(r)).toEqual({
      imported: 2,
      errors: [
        { row: 3, message: 'unknown site "mars"' },
        { row: 4, message: 'priority "whenever" is not urgent or routine' },
        { row: 7, message: 'a quoted field is never closed (a " is missing)' },
      ],
    });
    const row = await ctx.db
      .selectFrom('audit')
      .select(['user_name', 'detail'])
      .where('action', '=', 'case.import')
      .executeTakeFirstOrThrow();
    expect(row.user_name).toBe('mgr');
    expect(JSON.parse(row.detail)).toEqual({ imported: 2, errors: 3 });
  });
});

describe('migration 0011_leave_periods', () => {
  it('turns the old on-leave flag into a period from that day until further notice, and drops the column', async () => {
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) }); // eslint-disable-line @typescript-eslint/no-explicit-any
    const migrator = new Migrator({ db, provider: migrationProvider, allowUnorderedMigrations: true });
    expect((await migrator.migrateTo('0010_balance_rejections')).error).toBeUndefined();
    const now = new Date().toISOString();
    await sql`insert into sites (id, name, created_at) values ('n', 'North', ${now})`.execute(db);
    for (const [uid, away] of [
      ['u-away', 1],
      ['u-here', 0],
    ] as const) {
      await sql`insert into users (id, name, display_name, role, site_id, password_hash, disabled, created_at, updated_at)
        values (${uid}, ${uid}, ${uid}, 'pathologist', 'n', 'x', 0, ${now}, ${now})`.execute(db);
      await sql`insert into pathologist_profiles (user_id, subspecialties, weekly_capacity, on_leave)
        values (${uid}, '["gi"]', 20, ${away})`.execute(db);
    }
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    const periods = await sql<{ user_id: string; starts_on: string; ends_on: string | null }>`
      select user_id, starts_on, ends_on from leave_periods`.execute(db);
    expect(periods.rows).toEqual([{ user_id: 'u-away', starts_on: localDate(), ends_on: null }]);
    const cols = await sql<{
      name: string;
    }>`select name from pragma_table_info('pathologist_profiles')`.execute(db);
    expect(cols.rows.map((c) => c.name)).toEqual(['user_id', 'subspecialties', 'weekly_capacity']);
    await db.destroy();
  });
});
