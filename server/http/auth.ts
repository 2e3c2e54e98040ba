import type { IncomingMessage } from 'node:http';
import { type Request, type RequestHandler, type Response, Router, json } from 'express';
import {
  type AuthStateDto,
  CreateShareRequestSchema,
  CreateSiteRequestSchema,
  CreateUserRequestSchema,
  LoginRequestSchema,
  type MeDto,
  UpdateUserRequestSchema,
  type UserDto,
  permissionsOf,
} from '../../protocol/index.ts';
import { type Principal, SESSION_COOKIE, credentialsOf, sessionCookie } from '../auth/auth.ts';
import {
  createSite,
  createUser,
  getUser,
  listSites,
  listUsers,
  updateUser,
  userByName,
  userCount,
} from '../auth/users.ts';
import {
  DEFAULT_LOGIN_LIMITS,
  type LoginLimiter,
  type LoginLimits,
  MemoryLoginLimiter,
} from '../auth/login-limit.ts';
import { RedisLoginLimiter, type RedisZset } from '../auth/login-limit-redis.ts';
import type { ServerContext } from '../context.ts';
import { firstAdminCommand } from '../auth/setup.ts';
import { HttpError, validate } from './errors.ts';
import { decodeCursor } from '../library/paging.ts';
import { slideIdParam } from './api.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The request's client address as Express sees it (honours TESSERA_TRUST_PROXY). */
export function clientIp(req: IncomingMessage): string | null {
  const r = req as Partial<Request>;
  return r.ip ?? req.socket.remoteAddress ?? null;
}

/** Resolve who is asking into res.locals.principal (null: nobody); never rejects by itself. */
export function authenticate(ctx: ServerContext): RequestHandler {
  return (req, res, next) => {
    ctx.auth.resolve(req).then(
      (p) => {
        res.locals.principal = p;
        next();
      },
      (e: unknown) => next(e),
    );
  };
}

/** The principal of an authenticated request; 401 otherwise. */
export function principal(res: Response): Principal {
  const p = res.locals.principal as Principal | null | undefined;
  if (!p)
    throw new HttpError('UNAUTHENTICATED', 'sign in first (session cookie or Authorization: Bearer token)');
  return p;
}

export function requireRole(res: Response, allowed: (p: Principal) => boolean, what: string): Principal {
  const p = principal(res);
  if (!allowed(p)) throw new HttpError('FORBIDDEN', `your role (${p.user.role}) may not ${what}`);
  return p;
}

/**
 * Cookie-authenticated requests that change something must come from our own pages: a browser
 * sends Origin on such requests, and a foreign one is refused (SameSite=Strict is the first guard).
 */
export function sameOriginWrites(): RequestHandler {
  return (req, _res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    if (crossSiteWithCookie(req)) return next(new HttpError('FORBIDDEN', 'cross-site request refused'));
    next();
  };
}

/** A request carrying the session cookie from a page of another origin (also the socket handshake). */
export function crossSiteWithCookie(req: IncomingMessage): boolean {
  if (credentialsOf(req).kind !== 'session') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

export function parseBody<T>(schema: Parameters<typeof validate<T>>[0], body: unknown): T {
  const r = validate(schema, body);
  if (!r.ok) throw new HttpError('INVALID_PARAMETER', r.message);
  return r.data;
}

function me(user: UserDto): MeDto {
  return { user, permissions: permissionsOf(user.role) };
}

/** Sign-in limits from the configuration. */
export function loginLimits(config: ServerContext['config']): LoginLimits {
  return {
    ...DEFAULT_LOGIN_LIMITS,
    perAccount: config.loginAttemptsPer15Min,
    perAddress: config.loginFailuresPerAddress15Min,
    accountGrace: Math.min(DEFAULT_LOGIN_LIMITS.accountGrace, config.loginAttemptsPer15Min),
  };
}

/**
 * /api/auth, /api/sites, /api/users, shares and audit. `limiter` counts failed sign-ins (this
 * process's memory unless another is given).
 */
export function accountsRouter(
  ctx: ServerContext,
  limiter: LoginLimiter = ctx.redis
    ? new RedisLoginLimiter(
        ctx.redis as unknown as RedisZset,
        ctx.config.redisPrefix,
        loginLimits(ctx.config),
      )
    : new MemoryLoginLimiter(loginLimits(ctx.config)),
): Router {
  const r = Router();
  const limits = loginLimits(ctx.config);
  const body = json({ limit: '16kb' });
  const audit = (
    req: Request,
    p: Principal | null,
    e: Parameters<typeof ctx.audit.record>[0],
  ): Promise<void> => ctx.audit.record({ actor: p?.user ?? null, ip: clientIp(req), ...e });

  r.get('/auth/state', async (_req, res) => {
    const setupRequired = (await userCount(ctx.db)) === 0;
    // Until the first user exists, the command to make one, naming this server's data folder.
    const body: AuthStateDto = setupRequired
      ? { setupRequired, setupCommand: firstAdminCommand(ctx.config.dataDir) }
      : { setupRequired };
    res.json(body);
  });

  r.post('/auth/login', body, async (req, res) => {
    const { name, password } = parseBody(LoginRequestSchema, req.body);
    const ip = clientIp(req);
    const verdict = await limiter.admit(name, ip);
    if (!verdict.allowed) {
      res.set('Retry-After', String(verdict.retryAfterSeconds));
      const wait = `try again in ${Math.ceil(verdict.retryAfterSeconds / 60)} min`;
      throw new HttpError(
        'RATE_LIMITED',
        verdict.scope === 'account'
          ? `too many failed sign-ins for this account; ${wait}`
          : `too many failed sign-ins from this address; ${wait}`,
      );
    }
    const result = await ctx.auth.login(name, password, { ip, userAgent: req.get('user-agent') ?? null });
    if (!result) {
      const reached = await limiter.failed(name, ip);
      await audit(req, null, { action: 'auth.login_failed', actorName: name });
      if (reached.account) {
        // The account's own site sees its lockout too.
        const u = await userByName(ctx.db, name);
        await audit(req, null, {
          action: 'auth.lockout',
          actorName: name,
          ...(u ? { targetType: 'user', targetId: u.id, targetSiteId: u.siteId } : {}),
          detail: { scope: 'account', failures: limits.perAccount, minutes: limits.windowMs / 60_000 },
        });
      }
      if (reached.address)
        await audit(req, null, {
          action: 'auth.lockout',
          actorName: name,
          detail: {
            scope: 'address',
            address: ip,
            failures: limits.perAddress,
            minutes: limits.windowMs / 60_000,
          },
        });
      throw new HttpError('UNAUTHENTICATED', 'wrong user name or password');
    }
    await limiter.succeeded(name, ip);
    await audit(req, null, { action: 'auth.login', actor: result.user });
    res.cookie(SESSION_COOKIE, result.cookie, {
      httpOnly: true,
      sameSite: 'strict',
      secure: req.secure || ctx.config.secureCookies,
      path: '/',
      expires: result.expiresAt,
    });
    res.json(me(result.user));
  });

  r.post('/auth/logout', async (req, res) => {
    const c = sessionCookie(req.headers.cookie);
    const p = res.locals.principal as Principal | null;
    if (c) await ctx.auth.logout(c);
    if (p) await audit(req, p, { action: 'auth.logout' });
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.status(204).end();
  });

  r.get('/auth/me', (_req, res) => {
    res.json(me(principal(res).user));
  });

  r.get('/sites', async (_req, res) => {
    principal(res);
    res.json(await listSites(ctx.db));
  });

  r.post('/sites', body, async (req, res) => {
    const p = requireRole(res, (q) => permissionsOf(q.user.role).manageUsers, 'manage sites');
    const site = await createSite(ctx.db, parseBody(CreateSiteRequestSchema, req.body));
    await audit(req, p, {
      action: 'site.create',
      targetType: 'site',
      targetId: site.id,
      detail: { name: site.name },
    });
    res.status(201).json(site);
  });

  r.get('/users', async (_req, res) => {
    const p = principal(res);
    const users = await listUsers(ctx.db);
    // Everyone may pick a colleague to share with; only admins see disabled accounts.
    res.json(permissionsOf(p.user.role).manageUsers ? users : users.filter((u) => !u.disabled));
  });

  r.post('/users', body, async (req, res) => {
    const p = requireRole(res, (q) => permissionsOf(q.user.role).manageUsers, 'manage users');
    const u = await createUser(ctx.db, parseBody(CreateUserRequestSchema, req.body));
    await audit(req, p, {
      action: 'user.create',
      targetType: 'user',
      targetId: u.id,
      targetSiteId: u.siteId,
      detail: { name: u.name, role: u.role },
    });
    res.status(201).json(u);
  });

  r.patch('/users/:id', body, async (req, res) => {
    const p = requireRole(res, (q) => permissionsOf(q.user.role).manageUsers, 'manage users');
    const id = String(req.params.id);
    if (!UUID.test(id)) throw new HttpError('INVALID_PARAMETER', 'Expected a user id (UUID)');
    if (!(await getUser(ctx.db, id))) throw new HttpError('NOT_FOUND', `no user ${id}`);
    const patch = parseBody(UpdateUserRequestSchema, req.body);
    const u = (await updateUser(ctx.db, id, patch))!;
    ctx.rights.changed('user changed');
    const { password: _hidden, ...changed } = patch;
    await audit(req, p, {
      action: 'user.update',
      targetType: 'user',
      targetId: u.id,
      targetSiteId: u.siteId,
      detail: { ...changed, ...(patch.password !== undefined ? { password: 'changed' } : {}) },
    });
    res.json(u);
  });

  r.get('/slides/:id/shares', async (req, res) => {
    const p = principal(res);
    const found = await ctx.access.slide(p, slideIdParam(req.params.id));
    if (!found) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${String(req.params.id)}`);
    if (!ctx.access.canShare(p, found.row))
      throw new HttpError('FORBIDDEN', 'you may not manage the shares of this slide');
    res.json(await ctx.access.listShares(found.row.id, p));
  });

  r.post('/slides/:id/shares', body, async (req, res) => {
    const p = principal(res);
    const found = await ctx.access.slide(p, slideIdParam(req.params.id));
    if (!found) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${String(req.params.id)}`);
    if (!ctx.access.canShare(p, found.row)) throw new HttpError('FORBIDDEN', 'you may not share this slide');
    const share = await ctx.access.createShare(p, found.row, parseBody(CreateShareRequestSchema, req.body));
    await audit(req, p, {
      action: 'share.create',
      targetType: 'slide',
      targetId: found.row.id,
      targetSiteId: found.row.site_id,
      detail: {
        share: share.id,
        grantee: share.grantee,
        deidentified: share.deidentified,
        studyCode: share.studyCode,
        expiresAt: share.expiresAt,
      },
    });
    res.status(201).json(share);
  });

  r.delete('/shares/:id', async (req, res) => {
    const p = principal(res);
    const id = String(req.params.id);
    if (!UUID.test(id)) throw new HttpError('INVALID_PARAMETER', 'Expected a share id (UUID)');
    const share = await ctx.access.share(id);
    const found = share ? await ctx.access.slide(p, share.slideId) : null;
    if (!share || !found) throw new HttpError('NOT_FOUND', `no share ${id}`);
    if (!ctx.access.canShare(p, found.row)) throw new HttpError('FORBIDDEN', 'you may not revoke this share');
    // Another site owning the same slide manages its own shares.
    if (!(await ctx.access.listShares(share.slideId, p)).some((s) => s.id === id))
      throw new HttpError('NOT_FOUND', `no share ${id}`);
    await ctx.access.revokeShare(p, id);
    await audit(req, p, {
      action: 'share.revoke',
      targetType: 'slide',
      targetId: share.slideId,
      targetSiteId: found.row.site_id,
      detail: { share: id, grantee: share.grantee },
    });
    res.status(204).end();
  });

  r.get('/audit', async (req, res) => {
    const p = requireRole(res, (q) => permissionsOf(q.user.role).audit, 'read the audit log');
    const q = req.query;
    const str = (k: string, re: RegExp): string | undefined => {
      const v = q[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !re.test(v))
        throw new HttpError(
          'INVALID_PARAMETER',
          `Expected ${k} to match ${re.source} but received ${JSON.stringify(String(v).slice(0, 64))}`,
        );
      return v;
    };
    const int = (k: string, min: number, max: number): number | undefined => {
      const v = str(k, /^\d{1,12}$/);
      if (v === undefined) return undefined;
      const n = Number(v);
      if (n < min || n > max)
        throw new HttpError('INVALID_PARAMETER', `Expected ${k} between ${min} and ${max} but received ${v}`);
      return n;
    };
    const iso = /^\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?$/;
    const page = await ctx.audit.query({
      user: str('user', /^[A-Za-z0-9._@-]{1,64}$/),
      action: str('action', /^[a-z_]+(\.[a-z_*]+)?$/),
      slide: str('slide', /^[0-9a-f]{32}$/),
      from: str('from', iso),
      to: str('to', iso),
      before:
        (decodeCursor(q.cursor, 'audit', 'number')?.key as number | undefined) ??
        int('before', 1, Number.MAX_SAFE_INTEGER),
      limit: int('limit', 1, 1000),
      // Lab managers see their own site's trail; admins everything.
      ...(p.user.role === 'admin' ? {} : { site: p.user.siteId }),
    });
    res.json(page);
  });

  return r;
}
