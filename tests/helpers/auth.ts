import type { Role } from '../../protocol/index.ts';
import { Auth } from '../../server/auth/auth.ts';
import { createSite, createUser, siteName } from '../../server/auth/users.ts';
import type { Db } from '../../server/db/index.ts';

/** A user with a bearer token, made straight in the database (as `tessera user add` does). */
export async function userWithToken(
  db: Db,
  u: { name: string; role: Role; siteId: string; expiresAt?: Date | null },
): Promise<{ id: string; token: string; tokenId: string }> {
  if ((await siteName(db, u.siteId)) === null)
    await createSite(db, { id: u.siteId, name: `Site ${u.siteId}` });
  const user = await createUser(db, {
    name: u.name,
    role: u.role,
    siteId: u.siteId,
    password: 'test-password-1',
  });
  const t = await new Auth(db).createToken(user.id, { expiresAt: u.expiresAt ?? null });
  return { id: user.id, token: t.token, tokenId: t.id };
}

/** fetch with `Authorization: Bearer <token>` on every request (the token read at call time). */
export function authedFetch(token: () => string): typeof fetch {
  return (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token()}`);
    return fetch(input, { ...init, headers });
  };
}

/**
 * A slide known to the database only (no pixels in the store): enough for annotations, sessions,
 * cases and shares, which never read tiles.
 */
export async function slideRow(
  db: Db,
  s: { id: string; name: string; siteId: string; width?: number; height?: number },
): Promise<void> {
  await db
    .insertInto('slides')
    .values({
      id: s.id,
      name: s.name,
      source_format: 'generic-tiff',
      width: s.width ?? 100,
      height: s.height ?? 100,
      tile_size: 256,
      levels: 1,
      mpp_x: null,
      mpp_y: null,
      objective_power: null,
      associated: '[]',
      created_at: new Date().toISOString(),
      site_id: s.siteId,
    })
    .execute();
  // Owned by its site, as register() records it (the library lists a site's slide_sites).
  await db
    .insertInto('slide_sites')
    .values({
      slide_id: s.id,
      site_id: s.siteId,
      name: s.name,
      created_at: new Date().toISOString(),
      uploaded_by: null,
    })
    .execute();
}

/**
 * fetch as a named user of `tokens` (`Authorization: Bearer`), against the base URL known at call
 * time; a body without a Content-Type is sent as `bodyType`.
 */
export function userFetch(
  base: () => string,
  tokens: Record<string, string>,
  bodyType = 'application/json',
): (user: string, p: string, init?: RequestInit) => Promise<Response> {
  return (user, p, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${tokens[user]}`);
    if (init.body && !headers.has('content-type')) headers.set('content-type', bodyType);
    return fetch(`${base()}${p}`, { ...init, headers });
  };
}
