import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { UserDto } from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import { decoyHash, getUser, toUserDto, userByName, usersWithSite, verifyPassword } from './users.ts';

export const SESSION_COOKIE = 'tessera_session';
export const TOKEN_PREFIX = 'tsr_';
const SESSION_HOURS = 12;
/** How long a resolved credential is trusted before the database is asked again. */
const CACHE_MS = 5_000;

export interface Principal {
  user: UserDto;
  via: 'session' | 'token';
  /** sha256 of the cookie or token: the session's id, or the token's hash. */
  credential: string;
  /** A token limited to one slide and the routes of one job (an AI algorithm's); none for people. */
  scope?: TokenScope;
}

/**
 * What a scoped token may touch: it reads one slide, as `siteId` sees it (de-identified with
 * `studyCode` unless `deidentified` is false), and writes only the results of job `jobId`
 * (server/ai/scope.ts lists its routes). Its principal is nobody's account: a specialist of no site
 * whose id is the job's, named `actorName`, so it holds no other right and the audit names it.
 */
export interface TokenScope {
  kind: 'ai-job';
  jobId: string;
  slideId: string;
  siteId: string | null;
  deidentified: boolean;
  studyCode: string | null;
  issuedAt: string;
  actorName: string;
}

/** The principal of a scoped token (see TokenScope). */
export function scopedPrincipal(scope: TokenScope, credential: string): Principal {
  return {
    user: {
      id: scope.jobId,
      name: scope.actorName.slice(0, 64),
      displayName: scope.actorName,
      role: 'specialist',
      siteId: '',
      siteName: '',
      disabled: false,
      createdAt: scope.issuedAt,
    },
    via: 'token',
    credential,
    scope,
  };
}

function parseScope(raw: string | null | undefined): TokenScope | null {
  if (!raw) return null;
  try {
    const s = JSON.parse(raw) as TokenScope;
    return s && s.kind === 'ai-job' ? s : null;
  } catch {
    return null;
  }
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** IN lists of at most 500 values (SQLite and PostgreSQL cap the parameters of one statement). */
function chunks<T>(all: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.slice(i, i + size));
  return out;
}

/** The session cookie's value from a Cookie header, if any. */
export function sessionCookie(header: string | undefined): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,128}$/.test(v) ? v : null;
    }
  }
  return null;
}

function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(tsr_[A-Za-z0-9_-]{20,128})\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** Credentials of a request: whether it brought any, and what they resolve to. */
export type Credentials = { kind: 'none' } | { kind: 'session' | 'token'; secret: string };

export function credentialsOf(req: IncomingMessage): Credentials {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const t = bearer(auth);
    // A malformed Authorization header is a failed credential, not an anonymous request.
    return t ? { kind: 'token', secret: t } : { kind: 'token', secret: '' };
  }
  const c = sessionCookie(req.headers.cookie);
  return c ? { kind: 'session', secret: c } : { kind: 'none' };
}

/** Told when a credential ends (sign-out, token revoked), so open connections are re-checked. */
export interface RightsNotices {
  changed(why: string): void;
}

/**
 * Sessions (httpOnly cookie) and bearer tokens. Only hashes of either are stored. Resolutions are
 * cached for a few seconds per process; logout and revocation here drop the entry at once and send a
 * notice (every process then forgets its cached resolutions and re-checks its open sockets).
 */
export class Auth {
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();

  constructor(
    private readonly db: Db,
    private readonly notices: RightsNotices | null = null,
  ) {}

  /** A new session for a correct name and password of an enabled user; null otherwise. */
  async login(
    name: string,
    password: string,
    meta: { ip: string | null; userAgent: string | null },
  ): Promise<{ cookie: string; user: UserDto; expiresAt: Date } | null> {
    const u = await userByName(this.db, name);
    if (!u) {
      await verifyPassword(await decoyHash(), password);
      return null;
    }
    if (!(await verifyPassword(u.passwordHash, password)) || u.disabled) return null;
    const cookie = randomBytes(32).toString('base64url');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + SESSION_HOURS * 3600_000);
    await this.db
      .insertInto('sessions')
      .values({
        id: sha256(cookie),
        user_id: u.id,
        created_at: now.toISOString(),
        expires_at: expiresAt.toISOString(),
        ip: meta.ip,
        user_agent: meta.userAgent?.slice(0, 300) ?? null,
      })
      .execute();
    const { passwordHash: _drop, ...user } = u;
    return { cookie, user, expiresAt };
  }

  async logout(cookie: string): Promise<void> {
    const id = sha256(cookie);
    this.cache.delete(cookie);
    await this.db.deleteFrom('sessions').where('id', '=', id).execute();
    this.notices?.changed('signed out');
  }

  /**
   * A bearer token for scripts; the secret is shown once and only its hash is kept. With `scope`,
   * one limited to a job's slide and results, made for an algorithm (`userId`: who it is issued
   * under; the token holds none of their rights).
   */
  async createToken(
    userId: string,
    opts: { expiresAt: Date | null; label?: string; scope?: TokenScope },
  ): Promise<{ id: string; token: string }> {
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const id = randomUUID();
    await this.db
      .insertInto('tokens')
      .values({
        id,
        user_id: userId,
        token_hash: sha256(token),
        label: opts.label ?? null,
        created_at: new Date().toISOString(),
        expires_at: opts.expiresAt?.toISOString() ?? null,
        revoked_at: null,
        ...(opts.scope ? { scope: JSON.stringify(opts.scope) } : {}),
      })
      .execute();
    return { id, token };
  }

  async revokeToken(id: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('tokens')
      .select('token_hash')
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return false;
    for (const [k, v] of this.cache) if (v.principal?.credential === row.token_hash) this.cache.delete(k);
    await this.db
      .updateTable('tokens')
      .set({ revoked_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
    this.notices?.changed('token revoked');
    return true;
  }

  /** Who is asking: null for no, expired, revoked or unknown credentials, or a disabled user. */
  async resolve(req: IncomingMessage): Promise<Principal | null> {
    const c = credentialsOf(req);
    if (c.kind === 'none' || c.secret === '') return null;
    // The hot path (every tile) looks up the secret itself, held in this process's memory only;
    // the hash is computed for the database on a miss.
    const now = Date.now();
    const hit = this.cache.get(c.secret);
    if (hit && hit.until > now) return hit.principal;
    const key = sha256(c.secret);
    const principal = await this.lookup(c.kind, key, new Date(now).toISOString());
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(c.secret, { principal, until: now + CACHE_MS });
    return principal;
  }

  /**
   * The resolution of `req`'s credentials when it needs no lookup: null without credentials or for
   * ones known bad, the principal for ones resolved in the last seconds, undefined otherwise.
   */
  cached(req: IncomingMessage): Principal | null | undefined {
    const c = credentialsOf(req);
    if (c.kind === 'none' || c.secret === '') return null;
    const hit = this.cache.get(c.secret);
    return hit && hit.until > Date.now() ? hit.principal : undefined;
  }

  /** Forget cached resolutions (after a change of users, roles or shares). */
  forgetAll(): void {
    this.cache.clear();
  }

  /**
   * Each principal as its credential and user stand now, in three queries whatever their number
   * (no cache): null where the session ended or expired, the token was revoked or expired, or the
   * user was disabled or removed. Role and site come fresh from the database.
   */
  async current(principals: readonly Principal[]): Promise<(Principal | null)[]> {
    const nowIso = new Date().toISOString();
    const sessionIds = principals.filter((p) => p.via === 'session').map((p) => p.credential);
    const tokenHashes = principals.filter((p) => p.via === 'token').map((p) => p.credential);
    const owner = new Map<string, string>();
    /** Scoped tokens still live: their principals stand as they are. */
    const liveScoped = new Set<string>();
    for (const ids of chunks(sessionIds))
      for (const s of await this.db
        .selectFrom('sessions')
        .select(['id', 'user_id', 'expires_at'])
        .where('id', 'in', ids)
        .execute())
        if (s.expires_at > nowIso) owner.set(`session:${s.id}`, s.user_id);
    for (const hashes of chunks(tokenHashes))
      for (const t of await this.db
        .selectFrom('tokens')
        .select(['token_hash', 'user_id', 'expires_at', 'revoked_at', 'scope'])
        .where('token_hash', 'in', hashes)
        .execute())
        if (t.revoked_at === null && (t.expires_at === null || t.expires_at > nowIso)) {
          if (t.scope) liveScoped.add(t.token_hash);
          else owner.set(`token:${t.token_hash}`, t.user_id);
        }
    const users = new Map<string, UserDto>();
    for (const ids of chunks([...new Set(owner.values())]))
      for (const r of await usersWithSite(this.db).where('users.id', 'in', ids).execute())
        if (r.disabled === 0) users.set(r.id, toUserDto(r, r.site_name));
    return principals.map((p) => {
      if (p.scope) return p.via === 'token' && liveScoped.has(p.credential) ? p : null;
      const userId = owner.get(`${p.via}:${p.credential}`);
      const user = userId === p.user.id ? users.get(userId) : undefined;
      return user ? { ...p, user } : null;
    });
  }

  private async lookup(kind: 'session' | 'token', key: string, nowIso: string): Promise<Principal | null> {
    let userId: string | undefined;
    if (kind === 'session') {
      const s = await this.db
        .selectFrom('sessions')
        .select(['user_id', 'expires_at'])
        .where('id', '=', key)
        .executeTakeFirst();
      if (s && s.expires_at > nowIso) userId = s.user_id;
    } else {
      const t = await this.db
        .selectFrom('tokens')
        .select(['user_id', 'expires_at', 'revoked_at', 'scope'])
        .where('token_hash', '=', key)
        .executeTakeFirst();
      if (t && t.revoked_at === null && (t.expires_at === null || t.expires_at > nowIso)) {
        const scope = parseScope(t.scope);
        // A scoped token is only ever its scope; a malformed scope is no credential at all.
        if (scope) return scopedPrincipal(scope, key);
        if (t.scope) return null;
        userId = t.user_id;
      }
    }
    if (!userId) return null;
    const user = await getUser(this.db, userId);
    if (!user || user.disabled) return null;
    return { user, via: kind, credential: key };
  }
}
