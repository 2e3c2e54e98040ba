import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { SlideDto, SlidePage, SlideSort, SortDir } from '../../protocol/index.ts';
import { presentSlide, type Access } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import { type Db, locksRows } from '../db/index.ts';
import type { SlidesTable } from '../db/schema.ts';
import { toDto as slideRowToDto } from '../db/slides.ts';
import { type Cursor, compareBytes, encodeCursor, likeEscape, nameKey } from './paging.ts';

/** What the library lists: filters, order and the place to start. */
export interface SlideQuery {
  /** Part of the name (as the user sees it), any case. */
  q?: string;
  /** The owning site the slide is seen through (a user's own, or the sharing site's). */
  site?: string;
  /** Only slides of this case (an id the caller may see); null: a case the caller may not see. */
  caseId?: string | null;
  stain?: string;
  format?: string;
  /** ISO bounds on the date added (as the user sees it): from included, before excluded. */
  from?: string;
  before?: string;
  sort: SlideSort;
  dir: SortDir;
  limit: number;
  after: Cursor | null;
}

export const slideOrder = (sort: SlideSort, dir: SortDir): string => `slides:${sort}:${dir}`;

interface Listed {
  dto: SlideDto;
  key: string;
}

type Row = SlidesTable & { seen_name: string; seen_at: string; seen_stain: string | null; sort_key: string };

/**
 * The slide library in pages, filtered and sorted by the database: a site's own slides are one
 * index range of slide_sites (its names and dates), an administrator's one of slides; slides
 * shared with the user (few) are read whole, filtered the same way and merged in, in the same
 * order (names compared as the database compares them: see nameKey).
 */
export class SlideLibrary {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
  ) {}

  /** The sort key expression over a name column, as indexed by migration 0014. */
  private nameKeyOf(col: string): RawBuilder<string> {
    return locksRows(this.db)
      ? sql<string>`lower(${sql.ref(col)} collate "C")`
      : sql<string>`lower(${sql.ref(col)})`;
  }

  async page(p: Principal, f: SlideQuery): Promise<SlidePage> {
    if (f.caseId === null) return { items: [], nextCursor: null };
    const n = f.limit + 1;
    const admin = p.user.role === 'admin';
    let listed: Listed[];
    if (admin) listed = f.site ? await this.owned(f.site, f, n) : await this.everything(f, n);
    else {
      const own = !f.site || f.site === p.user.siteId ? await this.owned(p.user.siteId, f, n) : [];
      const shared = !f.site || f.site !== p.user.siteId ? await this.shared(p, f) : [];
      listed = merge(own, shared, f.dir).slice(0, n);
    }
    const items = listed.slice(0, f.limit);
    const last = items[items.length - 1];
    return {
      items: items.map((x) => x.dto),
      nextCursor:
        listed.length > f.limit && last
          ? encodeCursor({ order: slideOrder(f.sort, f.dir), key: last.key, id: last.dto.id })
          : null,
    };
  }

  /** A site's own slides, as that site names and dates them. */
  private async owned(site: string, f: SlideQuery, n: number): Promise<Listed[]> {
    const key = f.sort === 'date' ? sql<string>`${sql.ref('ss.created_at')}` : this.nameKeyOf('ss.name');
    let q = this.db
      .selectFrom('slide_sites as ss')
      .innerJoin('slides as s', 's.id', 'ss.slide_id')
      .selectAll('s')
      .select([
        'ss.name as seen_name',
        'ss.created_at as seen_at',
        'ss.stain as seen_stain',
        key.as('sort_key'),
      ])
      .where('ss.site_id', '=', site);
    if (f.stain) q = q.where('ss.stain', '=', f.stain);
    if (f.format) q = q.where('s.source_format', '=', f.format);
    if (f.from) q = q.where('ss.created_at', '>=', f.from);
    if (f.before) q = q.where('ss.created_at', '<', f.before);
    if (f.q) q = q.where(this.like(this.nameKeyOf('ss.name'), f.q));
    if (f.caseId)
      q = q.where(
        'ss.slide_id',
        'in',
        this.db
          .selectFrom('case_slides')
          .select('case_slides.slide_id')
          .where('case_slides.case_id', '=', f.caseId),
      );
    if (f.after) q = q.where(this.after(key, sql.ref('ss.slide_id'), f));
    const rows = (await q.orderBy(key, f.dir).orderBy('ss.slide_id', f.dir).limit(n).execute()) as Row[];
    return rows.map((r) => ({
      key: r.sort_key,
      dto: slideRowToDto({ ...r, name: r.seen_name, created_at: r.seen_at, site_id: site }),
    }));
  }

  /** Every slide (administrators), under its first owner's name and date. */
  private async everything(f: SlideQuery, n: number): Promise<Listed[]> {
    const key = f.sort === 'date' ? sql<string>`${sql.ref('s.created_at')}` : this.nameKeyOf('s.name');
    let q = this.db.selectFrom('slides as s').selectAll('s').select(key.as('sort_key'));
    if (f.stain) q = q.where('s.stain', '=', f.stain);
    if (f.format) q = q.where('s.source_format', '=', f.format);
    if (f.from) q = q.where('s.created_at', '>=', f.from);
    if (f.before) q = q.where('s.created_at', '<', f.before);
    if (f.q) q = q.where(this.like(this.nameKeyOf('s.name'), f.q));
    if (f.caseId)
      q = q.where(
        's.id',
        'in',
        this.db
          .selectFrom('case_slides')
          .select('case_slides.slide_id')
          .where('case_slides.case_id', '=', f.caseId),
      );
    if (f.after) q = q.where(this.after(key, sql.ref('s.id'), f));
    const rows = (await q.orderBy(key, f.dir).orderBy('s.id', f.dir).limit(n).execute()) as (SlidesTable & {
      sort_key: string;
    })[];
    return rows.map((r) => ({ key: r.sort_key, dto: slideRowToDto(r) }));
  }

  /** Slides shared with `p` (not their site's), filtered and cut at the cursor in memory. */
  private async shared(p: Principal, f: SlideQuery): Promise<Listed[]> {
    const all = await this.access.sharedWith(p);
    if (all.length === 0) return [];
    let inCase: Set<string> | null = null;
    if (f.caseId) {
      const rows = await this.db
        .selectFrom('case_slides')
        .select('slide_id')
        .where('case_id', '=', f.caseId)
        .execute();
      inCase = new Set(rows.map((r) => r.slide_id));
    }
    const q = f.q ? nameKey(f.q) : null;
    const out: Listed[] = [];
    for (const { row, grant } of all) {
      const dto = presentSlide(row, grant);
      if (f.site && grant.siteId !== f.site) continue;
      if (f.stain && row.stain !== f.stain) continue;
      if (f.format && row.source_format !== f.format) continue;
      if (f.from && dto.createdAt < f.from) continue;
      if (f.before && dto.createdAt >= f.before) continue;
      if (q && !nameKey(dto.name).includes(q)) continue;
      if (inCase && !inCase.has(row.id)) continue;
      const key = f.sort === 'date' ? dto.createdAt : nameKey(dto.name);
      if (f.after) {
        const c = compareBytes(key, String(f.after.key)) || compareBytes(row.id, f.after.id);
        if (f.dir === 'asc' ? c <= 0 : c >= 0) continue;
      }
      out.push({ key, dto });
    }
    return out.sort((a, b) => order(a, b, f.dir));
  }

  private like(expr: Expression<string>, q: string): Expression<SqlBool> {
    return sql<SqlBool>`${expr} like ${`%${likeEscape(nameKey(q))}%`} escape '\\'`;
  }

  /** Rows after the cursor in the list's order: (key, id) past the last row's. */
  private after(key: Expression<string>, id: Expression<unknown>, f: SlideQuery): Expression<SqlBool> {
    const c = f.after!;
    // PostgreSQL: the name key is compared in its "C" collation, the one the index has.
    const k =
      f.sort === 'name' && locksRows(this.db) ? sql`${String(c.key)} collate "C"` : sql`${String(c.key)}`;
    // Spelt out rather than as a row value: SQLite seeks an expression index only on a plain range.
    return f.dir === 'asc'
      ? sql<SqlBool>`(${key} >= ${k} and (${key} > ${k} or ${id} > ${c.id}))`
      : sql<SqlBool>`(${key} <= ${k} and (${key} < ${k} or ${id} < ${c.id}))`;
  }
}

function order(a: Listed, b: Listed, dir: SortDir): number {
  const c = compareBytes(a.key, b.key) || compareBytes(a.dto.id, b.dto.id);
  return dir === 'asc' ? c : -c;
}

function merge(a: Listed[], b: Listed[], dir: SortDir): Listed[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Listed[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && order(a[i]!, b[j]!, dir) <= 0)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}
