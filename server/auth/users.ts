import { randomUUID } from 'node:crypto';
import argon2 from 'argon2';
import {
  MIN_PASSWORD_LENGTH,
  ROLES,
  SITE_ID,
  USER_NAME,
  type Role,
  type SiteDto,
  type UserDto,
} from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { SitesTable, UsersTable } from '../db/schema.ts';
import { HttpError } from '../http/errors.ts';

/** argon2id with the library's defaults (64 MiB, 3 passes): about 50 ms a hash on this hardware. */
export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, { type: argon2.argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password);
  } catch {
    return false;
  }
}

/** A hash to verify against when the user does not exist, so timing does not tell names apart. */
let decoy: Promise<string> | null = null;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(`decoy-${randomUUID()}`);
  return decoy;
}

export function toSiteDto(r: SitesTable): SiteDto {
  return { id: r.id, name: r.name, createdAt: r.created_at };
}

export function toUserDto(r: UsersTable, siteName: string): UserDto {
  return {
    id: r.id,
    name: r.name,
    displayName: r.display_name,
    role: r.role as Role,
    siteId: r.site_id,
    siteName,
    disabled: r.disabled !== 0,
    createdAt: r.created_at,
  };
}

export async function createSite(db: Db, site: { id: string; name: string }): Promise<SiteDto> {
  if (!SITE_ID.test(site.id))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected a site id of lower-case letters, digits and dashes but received ${JSON.stringify(site.id)}`,
    );
  const exists = await db.selectFrom('sites').select('id').where('id', '=', site.id).executeTakeFirst();
  if (exists) throw new HttpError('CONFLICT', `site ${site.id} already exists`);
  const row: SitesTable = { id: site.id, name: site.name, created_at: new Date().toISOString() };
  await db.insertInto('sites').values(row).execute();
  return toSiteDto(row);
}

export async function listSites(db: Db): Promise<SiteDto[]> {
  return (await db.selectFrom('sites').selectAll().orderBy('id').execute()).map(toSiteDto);
}

export async function siteName(db: Db, id: string): Promise<string | null> {
  const r = await db.selectFrom('sites').select('name').where('id', '=', id).executeTakeFirst();
  return r?.name ?? null;
}

function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH)
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected a password of at least ${MIN_PASSWORD_LENGTH} characters but received ${password.length}`,
    );
}

export async function createUser(
  db: Db,
  u: { name: string; displayName?: string; role: Role; siteId: string; password: string },
): Promise<UserDto> {
  if (!USER_NAME.test(u.name))
    throw new HttpError(
      'INVALID_PARAMETER',
      `Expected a user name of letters, digits and . _ @ - but received ${JSON.stringify(u.name)}`,
    );
  if (!ROLES.includes(u.role))
    throw new HttpError('INVALID_PARAMETER', `Expected a role (${ROLES.join(', ')}) but received ${u.role}`);
  checkPassword(u.password);
  const site = await siteName(db, u.siteId);
  if (site === null) throw new HttpError('INVALID_PARAMETER', `no site ${u.siteId}`);
  if (await db.selectFrom('users').select('id').where('name', '=', u.name).executeTakeFirst())
    throw new HttpError('CONFLICT', `user ${u.name} already exists`);
  const now = new Date().toISOString();
  const row: UsersTable = {
    id: randomUUID(),
    name: u.name,
    display_name: u.displayName ?? u.name,
    role: u.role,
    site_id: u.siteId,
    password_hash: await hashPassword(u.password),
    disabled: 0,
    created_at: now,
    updated_at: now,
  };
  await db.insertInto('users').values(row).execute();
  return toUserDto(row, site);
}

export async function updateUser(
  db: Db,
  id: string,
  patch: { displayName?: string; role?: Role; siteId?: string; disabled?: boolean; password?: string },
): Promise<UserDto | null> {
  const set: Partial<UsersTable> = { updated_at: new Date().toISOString() };
  if (patch.displayName !== undefined) set.display_name = patch.displayName;
  if (patch.role !== undefined) set.role = patch.role;
  if (patch.siteId !== undefined) {
    if ((await siteName(db, patch.siteId)) === null)
      throw new HttpError('INVALID_PARAMETER', `no site ${patch.siteId}`);
    set.site_id = patch.siteId;
  }
  if (patch.disabled !== undefined) set.disabled = patch.disabled ? 1 : 0;
  if (patch.password !== undefined) {
    checkPassword(patch.password);
    set.password_hash = await hashPassword(patch.password);
  }
  await db.updateTable('users').set(set).where('id', '=', id).execute();
  // A changed password, role or site ends every session of the user.
  if (
    patch.password !== undefined ||
    patch.disabled ||
    patch.role !== undefined ||
    patch.siteId !== undefined
  )
    await db.deleteFrom('sessions').where('user_id', '=', id).execute();
  return getUser(db, id);
}

/** Users with their site's name (`site_name`), to filter and run. */
export function usersWithSite(db: Db) {
  return db
    .selectFrom('users')
    .innerJoin('sites', 'sites.id', 'users.site_id')
    .selectAll('users')
    .select('sites.name as site_name');
}

export async function getUser(db: Db, id: string): Promise<UserDto | null> {
  const r = await usersWithSite(db).where('users.id', '=', id).executeTakeFirst();
  return r ? toUserDto(r, r.site_name) : null;
}

export async function userByName(db: Db, name: string): Promise<(UserDto & { passwordHash: string }) | null> {
  const r = await usersWithSite(db).where('users.name', '=', name).executeTakeFirst();
  return r ? { ...toUserDto(r, r.site_name), passwordHash: r.password_hash } : null;
}

export async function listUsers(db: Db): Promise<UserDto[]> {
  const rows = await usersWithSite(db).orderBy('users.name').execute();
  return rows.map((r) => toUserDto(r, r.site_name));
}

export async function userCount(db: Db): Promise<number> {
  const r = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
