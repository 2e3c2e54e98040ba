import { type Expression, type SqlBool, sql } from 'kysely';
import type { CaseSort, SortDir } from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { CasesTable } from '../db/schema.ts';
import { type Cursor, encodeCursor, likeEscape } from './paging.ts';

export interface CasePageQuery {
  site?: string;
  status?: string;
  subspecialty?: string;
  assignee?: string;
  /** Part of the accession. */
  q?: string;
  sort: CaseSort;
  dir: SortDir;
  limit: number;
  after: Cursor | null;
}

export const caseOrder = (sort: CaseSort, dir: SortDir): string => `cases:${sort}:${dir}`;

/**
 * One page of cases in the database's order (received date or accession, then id): each filter
 * with the sort is an index range (migration 0014), so a page deep in 200,000 cases costs as
 * much as the first.
 */
export async function caseRows(
  db: Db,
  f: CasePageQuery,
): Promise<{ rows: CasesTable[]; nextCursor: string | null }> {
  const key = f.sort === 'received' ? sql.ref<string>('received_at') : sql.ref<string>('accession');
  let q = db.selectFrom('cases').selectAll();
  if (f.site) q = q.where('site_id', '=', f.site);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.subspecialty) q = q.where('subspecialty', '=', f.subspecialty);
  if (f.assignee) q = q.where('assigned_to', '=', f.assignee);
  if (f.q) q = q.where(sql<SqlBool>`accession like ${`%${likeEscape(f.q)}%`} escape '\\'`);
  if (f.after) {
    const c: Expression<SqlBool> =
      f.dir === 'asc'
        ? sql<SqlBool>`(${key} >= ${String(f.after.key)} and (${key} > ${String(f.after.key)} or id > ${f.after.id}))`
        : sql<SqlBool>`(${key} <= ${String(f.after.key)} and (${key} < ${String(f.after.key)} or id < ${f.after.id}))`;
    q = q.where(c);
  }
  const rows = await q
    .orderBy(key, f.dir)
    .orderBy('id', f.dir)
    .limit(f.limit + 1)
    .execute();
  const items = rows.slice(0, f.limit);
  const last = items[items.length - 1];
  return {
    rows: items,
    nextCursor:
      rows.length > f.limit && last
        ? encodeCursor({
            order: caseOrder(f.sort, f.dir),
            key: f.sort === 'received' ? last.received_at : last.accession,
            id: last.id,
          })
        : null,
  };
}
