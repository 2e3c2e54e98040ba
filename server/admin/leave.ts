import { randomUUID } from 'node:crypto';
import type { LeavePeriodDto } from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { LeavePeriodsTable } from '../db/schema.ts';

/**
 * Leave is a set of dated periods per person (migration 0011 turned the old on/off flag into them).
 * "On leave" always means "a period covers today": balancing, second-opinion routing and the
 * dashboard ask here.
 */

/** A date as YYYY-MM-DD on the server's calendar (leave is taken in local days, not UTC ones). */
export function localDate(t: Date = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}`;
}

/** The day before a YYYY-MM-DD date. */
export function dayBefore(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return localDate(new Date(y, m - 1, d - 1));
}

export function toLeaveDto(r: LeavePeriodsTable): LeavePeriodDto {
  return { id: r.id, userId: r.user_id, from: r.starts_on, to: r.ends_on, createdAt: r.created_at };
}

/** Whether a period covers `day`. */
export function covers(p: Pick<LeavePeriodDto, 'from' | 'to'>, day: string): boolean {
  return p.from <= day && (p.to === null || p.to >= day);
}

/** The people (of `userIds`, or everyone) on leave on `day` (today by default). */
export async function onLeave(db: Db, userIds?: readonly string[], day = localDate()): Promise<Set<string>> {
  if (userIds && userIds.length === 0) return new Set();
  let q = db
    .selectFrom('leave_periods')
    .select('user_id')
    .where('starts_on', '<=', day)
    .where((eb) => eb.or([eb('ends_on', 'is', null), eb('ends_on', '>=', day)]));
  // A long list of people is cheaper to filter here than to send as parameters.
  if (userIds && userIds.length <= 500) q = q.where('user_id', 'in', userIds);
  const rows = await q.execute();
  const wanted = userIds ? new Set(userIds) : null;
  return new Set(rows.map((r) => r.user_id).filter((id) => !wanted || wanted.has(id)));
}

/** Every period of the given people, earliest first, by person. */
export async function leaveOf(db: Db, userIds: readonly string[]): Promise<Map<string, LeavePeriodDto[]>> {
  const out = new Map<string, LeavePeriodDto[]>();
  for (let i = 0; i < userIds.length; i += 500) {
    const rows = await db
      .selectFrom('leave_periods')
      .selectAll()
      .where('user_id', 'in', userIds.slice(i, i + 500))
      .orderBy('starts_on')
      .execute();
    for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), toLeaveDto(r)]);
  }
  return out;
}

/**
 * The dashboard's on/off switch (PATCH /api/pathologists/{id} `onLeave`) in terms of periods: on
 * starts a period today until further notice (unless one covers today already); off ends every
 * period covering today yesterday (one starting today is removed).
 */
export async function setOnLeaveToday(
  db: Db,
  userId: string,
  away: boolean,
  by: string | null,
): Promise<void> {
  const today = localDate();
  const current = (
    await db
      .selectFrom('leave_periods')
      .selectAll()
      .where('user_id', '=', userId)
      .where('starts_on', '<=', today)
      .where((eb) => eb.or([eb('ends_on', 'is', null), eb('ends_on', '>=', today)]))
      .execute()
  ).map(toLeaveDto);
  if (away) {
    if (current.length === 0)
      await db
        .insertInto('leave_periods')
        .values({
          id: randomUUID(),
          user_id: userId,
          starts_on: today,
          ends_on: null,
          created_by: by,
          created_at: new Date().toISOString(),
        })
        .execute();
    return;
  }
  for (const p of current) {
    if (p.from === today) await db.deleteFrom('leave_periods').where('id', '=', p.id).execute();
    else
      await db
        .updateTable('leave_periods')
        .set({ ends_on: dayBefore(today) })
        .where('id', '=', p.id)
        .execute();
  }
}
