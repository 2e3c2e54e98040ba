import type { AuditEntryDto, AuditPage, UserDto } from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { AuditTable } from '../db/schema.ts';
import { encodeCursor } from '../library/paging.ts';

export interface AuditEvent {
  action: string;
  actor?: Pick<UserDto, 'id' | 'name' | 'siteId'> | null;
  /** For actions without a user (a failed login): the name that was tried. */
  actorName?: string;
  targetType?: string;
  targetId?: string;
  targetSiteId?: string | null;
  detail?: Record<string, unknown>;
  ip?: string | null;
}

export interface AuditFilter {
  user?: string;
  action?: string;
  slide?: string;
  from?: string;
  to?: string;
  /** Only entries by users of this site or about this site's things (lab managers). */
  site?: string;
  before?: number;
  limit?: number;
}

function toDto(r: AuditTable & { id: number }): AuditEntryDto {
  let detail: Record<string, unknown> = {};
  try {
    detail = JSON.parse(r.detail) as Record<string, unknown>;
  } catch {
    // stored by this module: always JSON
  }
  return {
    id: Number(r.id),
    at: r.at,
    userId: r.user_id,
    userName: r.user_name,
    siteId: r.site_id,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    targetSiteId: r.target_site_id,
    detail,
    ip: r.ip,
  };
}

/**
 * The append-only audit log (the database refuses UPDATE and DELETE on it). Repeated views of one
 * slide by one user are written once per `viewWindowMs`, so tile traffic does not flood it.
 */
export class AuditLog {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly viewWindowMs = 10 * 60_000,
  ) {}

  /** Append an event; `db`: a transaction it is to be committed with. */
  async record(e: AuditEvent, db: Db = this.db): Promise<void> {
    await db
      .insertInto('audit')
      .values({
        at: new Date().toISOString(),
        user_id: e.actor?.id ?? null,
        user_name: e.actor?.name ?? e.actorName?.slice(0, 64) ?? null,
        site_id: e.actor?.siteId ?? null,
        action: e.action,
        target_type: e.targetType ?? null,
        target_id: e.targetId ?? null,
        target_site_id: e.targetSiteId ?? null,
        detail: JSON.stringify(e.detail ?? {}),
        ip: e.ip ?? null,
      })
      .execute();
  }

  /** Whether view() would record nothing now: the same user, slide and action within the window. */
  viewedRecently(actorId: string, targetId: string, action: string): boolean {
    const last = this.seen.get(`${actorId}|${targetId}|${action}`);
    return last !== undefined && Date.now() - last < this.viewWindowMs;
  }

  /** A slide opened (manifest, Deep Zoom, IIIF, tiles): once per user, slide and window. */
  async view(e: AuditEvent & { targetId: string }): Promise<void> {
    const key = `${e.actor?.id ?? ''}|${e.targetId}|${e.action}`;
    const now = Date.now();
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.viewWindowMs) return;
    this.seen.set(key, now);
    if (this.seen.size > 50_000) {
      for (const [k, t] of this.seen) if (now - t >= this.viewWindowMs) this.seen.delete(k);
    }
    await this.record({ ...e, targetType: 'slide' });
  }

  async query(f: AuditFilter): Promise<AuditPage> {
    const limit = Math.min(Math.max(f.limit ?? 100, 1), 1000);
    const base = () => {
      let q = this.db.selectFrom('audit').selectAll();
      if (f.user) q = q.where((eb) => eb.or([eb('user_name', '=', f.user!), eb('user_id', '=', f.user!)]));
      if (f.action)
        q = q.where('action', f.action.endsWith('.*') ? 'like' : '=', f.action.replace(/\.\*$/, '.%'));
      if (f.slide) q = q.where('target_type', '=', 'slide').where('target_id', '=', f.slide);
      if (f.from) q = q.where('at', '>=', f.from);
      if (f.to) q = q.where('at', '<=', f.to);
      if (f.before !== undefined) q = q.where('id', '<', f.before);
      return q.orderBy('id', 'desc').limit(limit + 1);
    };
    type Row = Awaited<ReturnType<ReturnType<typeof base>['execute']>>[number];
    let rows: Row[];
    if (f.site) {
      // A site's trail: entries by its people and entries about its things, each an index range
      // (site_id, id) and (target_site_id, id) read newest first and merged.
      const [by, about] = await Promise.all([
        base().where('site_id', '=', f.site).execute(),
        base().where('target_site_id', '=', f.site).execute(),
      ]);
      const seen = new Map<number, Row>();
      for (const r of [...by, ...about]) seen.set(Number(r.id), r);
      rows = [...seen.values()].sort((a, b) => Number(b.id) - Number(a.id)).slice(0, limit + 1);
    } else rows = await base().execute();
    const entries = rows.slice(0, limit).map((r) => toDto(r as AuditTable & { id: number }));
    const next = rows.length > limit ? entries[entries.length - 1]!.id : null;
    return {
      entries,
      next,
      nextCursor: next === null ? null : encodeCursor({ order: 'audit', key: next, id: String(next) }),
    };
  }
}
