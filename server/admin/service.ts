import { randomBytes, randomUUID } from 'node:crypto';
import {
  type AddLeaveRequest,
  type AdminCreateUserRequest,
  type AdminUpdateUserRequest,
  type AdminUserDto,
  type CreateSiteRequest,
  type ResetPasswordResult,
  type Role,
  type SiteDto,
  type Subspecialty,
  type UserDto,
} from '../../protocol/index.ts';
import type { AuditEvent, AuditLog } from '../auth/audit.ts';
import type { RightsBus } from '../auth/rights-bus.ts';
import { createSite, createUser, getUser, toSiteDto, updateUser, usersWithSite } from '../auth/users.ts';
import type { Db } from '../db/index.ts';
import { HttpError } from '../http/errors.ts';
import { covers, leaveOf, localDate, toLeaveDto } from './leave.ts';

/** Who asks, and from where (for the audit trail). */
export interface Actor {
  user: UserDto;
  ip: string | null;
}

export interface UserFilter {
  q?: string;
  site?: string;
  role?: Role;
  enabled?: boolean;
}

/** Roles with a caseload: a profile (subspecialties, weekly capacity) goes with them. */
const WITH_PROFILE: readonly Role[] = ['pathologist', 'specialist'];
const DEFAULT_CAPACITY = 20;

const parseSubs = (json: string | null | undefined): Subspecialty[] => {
  try {
    const v = JSON.parse(json ?? '[]') as unknown;
    return Array.isArray(v) ? (v as Subspecialty[]) : [];
  } catch {
    return [];
  }
};

/** Subspecialties and capacity belong to roles with a caseload. */
function checkCaseload(role: Role, p: { subspecialties?: unknown[]; weeklyCapacity?: number }): void {
  if (!WITH_PROFILE.includes(role) && (p.subspecialties?.length || p.weeklyCapacity !== undefined))
    throw new HttpError(
      'INVALID_PARAMETER',
      'subspecialties and weekly capacity are for pathologists and specialists only',
    );
}

/**
 * People and sites, as the admin pages manage them. An administrator manages everyone and every
 * site; a lab manager the people of their own site, none of them an administrator, and sees their
 * own site only. Anyone else is refused. A person the actor may not see is answered as one who does
 * not exist (404), so ids cannot be probed. Every change is written to the audit log here.
 */
export class AdminService {
  constructor(private readonly d: { db: Db; audit: AuditLog; rights: RightsBus }) {}

  /** The site an actor is limited to (null: every site); refuses roles that manage nobody. */
  private scope(a: Actor): string | null {
    if (a.user.role === 'admin') return null;
    if (a.user.role === 'lab_manager') return a.user.siteId;
    throw new HttpError('FORBIDDEN', `your role (${a.user.role}) may not manage people or sites`);
  }

  private audit(a: Actor, e: Omit<AuditEvent, 'actor' | 'ip'>): Promise<void> {
    return this.d.audit.record({ ...e, actor: a.user, ip: a.ip });
  }

  private async present(users: UserDto[]): Promise<AdminUserDto[]> {
    if (users.length === 0) return [];
    const ids = users.map((u) => u.id);
    const profiles = new Map<string, { subspecialties: string; weekly_capacity: number }>();
    for (let i = 0; i < ids.length; i += 500)
      for (const p of await this.d.db
        .selectFrom('pathologist_profiles')
        .selectAll()
        .where('user_id', 'in', ids.slice(i, i + 500))
        .execute())
        profiles.set(p.user_id, p);
    const leave = await leaveOf(this.d.db, ids);
    const today = localDate();
    return users.map((u) => {
      const p = profiles.get(u.id);
      const caseload = WITH_PROFILE.includes(u.role);
      const periods = leave.get(u.id) ?? [];
      return {
        ...u,
        subspecialties: caseload ? (p ? parseSubs(p.subspecialties) : ['general']) : [],
        weeklyCapacity: caseload ? Number(p?.weekly_capacity ?? DEFAULT_CAPACITY) : null,
        leave: periods,
        onLeaveToday: periods.some((l) => covers(l, today)),
      };
    });
  }

  async listUsers(a: Actor, f: UserFilter = {}): Promise<AdminUserDto[]> {
    const site = this.scope(a);
    let q = usersWithSite(this.d.db).orderBy('users.display_name');
    if (site !== null) q = q.where('users.site_id', '=', site);
    if (f.site) q = q.where('users.site_id', '=', f.site);
    if (f.role) q = q.where('users.role', '=', f.role);
    if (f.enabled !== undefined) q = q.where('users.disabled', '=', f.enabled ? 0 : 1);
    let rows = await q.execute();
    const needle = f.q?.trim().toLowerCase();
    if (needle)
      rows = rows.filter(
        (r) => r.name.toLowerCase().includes(needle) || r.display_name.toLowerCase().includes(needle),
      );
    return this.present(
      rows.map((r) => ({
        id: r.id,
        name: r.name,
        displayName: r.display_name,
        role: r.role as Role,
        siteId: r.site_id,
        siteName: r.site_name,
        disabled: r.disabled !== 0,
        createdAt: r.created_at,
      })),
    );
  }

  /** A person the actor may see, or 404 (unknown and out of reach look the same). */
  private async visible(a: Actor, id: string): Promise<UserDto> {
    const site = this.scope(a);
    const u = await getUser(this.d.db, id);
    if (!u || (site !== null && u.siteId !== site)) throw new HttpError('NOT_FOUND', `no user ${id}`);
    return u;
  }

  /** A person the actor may change: visible, and not an administrator unless the actor is one. */
  private async manageable(a: Actor, id: string): Promise<UserDto> {
    const u = await this.visible(a, id);
    if (u.role === 'admin' && a.user.role !== 'admin')
      throw new HttpError('FORBIDDEN', "only an administrator may change an administrator's account");
    return u;
  }

  /** The role and site a lab manager may give: not administrator, not another site. */
  private checkGrant(a: Actor, role: Role | undefined, siteId: string | undefined): void {
    if (a.user.role === 'admin') return;
    if (role === 'admin') throw new HttpError('FORBIDDEN', 'only an administrator may make an administrator');
    if (siteId !== undefined && siteId !== a.user.siteId)
      throw new HttpError('FORBIDDEN', `you manage the people of your own site (${a.user.siteName}) only`);
  }

  async user(a: Actor, id: string): Promise<AdminUserDto> {
    return (await this.present([await this.visible(a, id)]))[0]!;
  }

  private async saveProfile(
    userId: string,
    p: { subspecialties?: Subspecialty[] | undefined; weeklyCapacity?: number | undefined },
  ): Promise<void> {
    if (p.subspecialties === undefined && p.weeklyCapacity === undefined) return;
    const cur = await this.d.db
      .selectFrom('pathologist_profiles')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirst();
    const row = {
      user_id: userId,
      subspecialties: JSON.stringify(p.subspecialties ?? (cur ? parseSubs(cur.subspecialties) : ['general'])),
      weekly_capacity: p.weeklyCapacity ?? cur?.weekly_capacity ?? DEFAULT_CAPACITY,
    };
    if (cur)
      await this.d.db.updateTable('pathologist_profiles').set(row).where('user_id', '=', userId).execute();
    else await this.d.db.insertInto('pathologist_profiles').values(row).execute();
  }

  async createUser(a: Actor, req: AdminCreateUserRequest): Promise<AdminUserDto> {
    this.scope(a);
    this.checkGrant(a, req.role, req.siteId);
    checkCaseload(req.role, req);
    const u = await createUser(this.d.db, {
      name: req.name,
      displayName: req.displayName,
      role: req.role,
      siteId: req.siteId,
      password: req.password,
    });
    if (WITH_PROFILE.includes(u.role))
      await this.saveProfile(u.id, {
        subspecialties: req.subspecialties ?? ['general'],
        weeklyCapacity: req.weeklyCapacity ?? DEFAULT_CAPACITY,
      });
    await this.audit(a, {
      action: 'user.create',
      targetType: 'user',
      targetId: u.id,
      targetSiteId: u.siteId,
      detail: {
        name: u.name,
        role: u.role,
        site: u.siteId,
        ...(WITH_PROFILE.includes(u.role)
          ? { subspecialties: req.subspecialties ?? ['general'], weeklyCapacity: req.weeklyCapacity }
          : {}),
      },
    });
    return this.user(a, u.id);
  }

  async updateUser(a: Actor, id: string, req: AdminUpdateUserRequest): Promise<AdminUserDto> {
    const before = await this.manageable(a, id);
    this.checkGrant(a, req.role, req.siteId);
    if (id === a.user.id && req.role !== undefined && req.role !== before.role)
      throw new HttpError('FORBIDDEN', 'you may not change your own role');
    checkCaseload(req.role ?? before.role, req);
    const roleChanged = req.role !== undefined && req.role !== before.role;
    const siteChanged = req.siteId !== undefined && req.siteId !== before.siteId;
    await updateUser(this.d.db, id, {
      ...(req.displayName !== undefined ? { displayName: req.displayName } : {}),
      ...(roleChanged ? { role: req.role } : {}),
      ...(siteChanged ? { siteId: req.siteId } : {}),
    });
    await this.saveProfile(id, req);
    // A new role or site ends the user's sessions (updateUser): open sockets go too.
    if (roleChanged || siteChanged) this.d.rights.changed('user changed');
    await this.audit(a, {
      action: 'user.update',
      targetType: 'user',
      targetId: id,
      targetSiteId: req.siteId ?? before.siteId,
      detail: {
        ...req,
        ...(roleChanged ? { fromRole: before.role } : {}),
        ...(siteChanged ? { fromSite: before.siteId } : {}),
      },
    });
    return this.user(a, id);
  }

  /**
   * Disable: the account's sessions are deleted and every process is told, so open pages get 401 on
   * their next request and open sockets are closed within the second; tokens stop working too.
   */
  async setDisabled(a: Actor, id: string, disabled: boolean): Promise<AdminUserDto> {
    const u = await this.manageable(a, id);
    if (disabled && id === a.user.id)
      throw new HttpError('FORBIDDEN', 'you may not disable your own account');
    if (u.disabled !== disabled) {
      await updateUser(this.d.db, id, { disabled });
      if (disabled) this.d.rights.changed('user disabled');
      await this.audit(a, {
        action: disabled ? 'user.disable' : 'user.enable',
        targetType: 'user',
        targetId: id,
        targetSiteId: u.siteId,
        detail: { name: u.name },
      });
    }
    return this.user(a, id);
  }

  /** A new password (given, or made up and answered once); the user's sessions end. */
  async resetPassword(a: Actor, id: string, password?: string): Promise<ResetPasswordResult> {
    const u = await this.manageable(a, id);
    const generated = password === undefined ? randomBytes(12).toString('base64url') : null;
    await updateUser(this.d.db, id, { password: password ?? generated! });
    this.d.rights.changed('password reset');
    await this.audit(a, {
      action: 'user.password_reset',
      targetType: 'user',
      targetId: id,
      targetSiteId: u.siteId,
      detail: { name: u.name, generated: generated !== null },
    });
    return { generatedPassword: generated };
  }

  async addLeave(a: Actor, id: string, req: AddLeaveRequest): Promise<AdminUserDto> {
    const u = await this.manageable(a, id);
    if (req.to < localDate())
      throw new HttpError(
        'INVALID_PARAMETER',
        `to: leave that ended before today (${req.to}) changes nothing`,
      );
    const overlapping = (
      await this.d.db
        .selectFrom('leave_periods')
        .selectAll()
        .where('user_id', '=', id)
        .where('starts_on', '<=', req.to)
        .where((eb) => eb.or([eb('ends_on', 'is', null), eb('ends_on', '>=', req.from)]))
        .execute()
    ).map(toLeaveDto)[0];
    if (overlapping)
      throw new HttpError(
        'CONFLICT',
        `${u.displayName} is already on leave from ${overlapping.from} ${overlapping.to ? `to ${overlapping.to}` : 'until further notice'}`,
      );
    const row = {
      id: randomUUID(),
      user_id: id,
      starts_on: req.from,
      ends_on: req.to,
      created_by: a.user.id,
      created_at: new Date().toISOString(),
    };
    await this.d.db.insertInto('leave_periods').values(row).execute();
    await this.audit(a, {
      action: 'user.leave_add',
      targetType: 'user',
      targetId: id,
      targetSiteId: u.siteId,
      detail: { name: u.name, leave: row.id, from: req.from, to: req.to },
    });
    return this.user(a, id);
  }

  async removeLeave(a: Actor, id: string, leaveId: string): Promise<AdminUserDto> {
    const u = await this.manageable(a, id);
    const row = await this.d.db
      .selectFrom('leave_periods')
      .selectAll()
      .where('id', '=', leaveId)
      .where('user_id', '=', id)
      .executeTakeFirst();
    if (!row) throw new HttpError('NOT_FOUND', `no leave ${leaveId} for ${u.name}`);
    await this.d.db.deleteFrom('leave_periods').where('id', '=', leaveId).execute();
    await this.audit(a, {
      action: 'user.leave_remove',
      targetType: 'user',
      targetId: id,
      targetSiteId: u.siteId,
      detail: { name: u.name, leave: leaveId, from: row.starts_on, to: row.ends_on },
    });
    return this.user(a, id);
  }

  async listSites(a: Actor): Promise<SiteDto[]> {
    const site = this.scope(a);
    let q = this.d.db.selectFrom('sites').selectAll().orderBy('name');
    if (site !== null) q = q.where('id', '=', site);
    return (await q.execute()).map(toSiteDto);
  }

  private onlyAdmin(a: Actor, what: string): void {
    this.scope(a);
    if (a.user.role !== 'admin') throw new HttpError('FORBIDDEN', `only an administrator may ${what}`);
  }

  async createSite(a: Actor, req: CreateSiteRequest): Promise<SiteDto> {
    this.onlyAdmin(a, 'add sites');
    const site = await createSite(this.d.db, { id: req.id, name: req.name.trim() });
    await this.audit(a, {
      action: 'site.create',
      targetType: 'site',
      targetId: site.id,
      targetSiteId: site.id,
      detail: { name: site.name },
    });
    return site;
  }

  async renameSite(a: Actor, id: string, name: string): Promise<SiteDto> {
    this.onlyAdmin(a, 'rename sites');
    const cur = await this.d.db.selectFrom('sites').selectAll().where('id', '=', id).executeTakeFirst();
    if (!cur) throw new HttpError('NOT_FOUND', `no site ${id}`);
    const taken = await this.d.db
      .selectFrom('sites')
      .select('id')
      .where('name', '=', name)
      .where('id', '!=', id)
      .executeTakeFirst();
    if (taken) throw new HttpError('CONFLICT', `another site (${taken.id}) is already called ${name}`);
    await this.d.db.updateTable('sites').set({ name }).where('id', '=', id).execute();
    // Names travel in cached principals (a user's site name).
    this.d.rights.changed('site renamed');
    await this.audit(a, {
      action: 'site.rename',
      targetType: 'site',
      targetId: id,
      targetSiteId: id,
      detail: { from: cur.name, to: name },
    });
    return toSiteDto({ ...cur, name });
  }
}
