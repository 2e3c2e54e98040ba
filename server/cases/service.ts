import { randomUUID } from 'node:crypto';
import {
  CASE_STATUSES,
  type BalanceDecision,
  type CaseDto,
  type CasePage,
  type CaseStatus,
  type CreateCaseRequest,
  type DashboardDto,
  type ImportReport,
  type PathologistDto,
  type Priority,
  type Subspecialty,
  type Suggestion,
  type WorkloadRuleDto,
  type WorkloadRulesRequest,
} from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { CasesTable } from '../db/schema.ts';
import { HttpError } from '../http/errors.ts';
import { type BCase, type BPathologist, balance } from './balance.ts';
import { importCasesCsv } from './csv-import.ts';
import { onLeave, setOnLeaveToday } from '../admin/leave.ts';
import { type CasePageQuery, caseRows } from '../library/cases.ts';

const DAY = 86_400_000;
const OPEN: CaseStatus[] = ['received', 'scanned', 'assigned', 'in_review', 'second_opinion_requested'];
/** Default target turnaround (days) when a case does not say. */
export const DEFAULT_TARGET_DAYS: Record<Priority, number> = { urgent: 3, routine: 10 };

export interface CaseFilter {
  site?: string;
  status?: string;
  subspecialty?: string;
  assignee?: string;
  q?: string;
  limit?: number;
  openOnly?: boolean;
}

interface Rules {
  specimen: Map<string, number>;
  perSlide: number;
  fallback: number;
}

/** ISO week start (Monday, UTC) of a time. */
function weekStart(t: number): number {
  const d = new Date(t);
  const day = (d.getUTCDay() + 6) % 7;
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day);
}

function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return Math.round(sorted[i]! * 10) / 10;
}

/** An open case as the balancing algorithm sees it. */
/** What a turned-down suggestion holds for: the case's assignee, status and priority. */
export function situationOf(c: Pick<CaseDto, 'assignedTo' | 'status' | 'priority'>): string {
  return `${c.assignedTo ?? '-'}|${c.status}|${c.priority}`;
}

export function balanceCase(c: CaseDto): BCase {
  return {
    id: c.id,
    accession: c.accession,
    siteId: c.siteId,
    subspecialty: c.subspecialty,
    points: c.points,
    urgent: c.priority === 'urgent',
    daysToBreach: c.daysToBreach,
    assignedTo: c.assignedTo,
  };
}

/** Cases, pathologists' workload and the lab manager's view of both. */
export class CaseService {
  private rulesCache: { at: number; rules: Rules } | null = null;

  constructor(private readonly db: Db) {}

  forgetRules(): void {
    this.rulesCache = null;
  }

  async rules(): Promise<Rules> {
    if (this.rulesCache && Date.now() - this.rulesCache.at < 10_000) return this.rulesCache.rules;
    const rows = await this.db.selectFrom('workload_rules').selectAll().execute();
    const specimen = new Map(
      rows.filter((r) => !r.specimen_type.startsWith('*')).map((r) => [r.specimen_type, Number(r.points)]),
    );
    const get = (k: string, d: number): number =>
      Number(rows.find((r) => r.specimen_type === k)?.points ?? d);
    const rules = { specimen, perSlide: get('*per_slide', 0.25), fallback: get('*fallback', 1.5) };
    this.rulesCache = { at: Date.now(), rules };
    return rules;
  }

  private points(rules: Rules, specimenType: string, slides: number): number {
    return (rules.specimen.get(specimenType) ?? rules.fallback) + rules.perSlide * slides;
  }

  private async slidesOf(caseIds: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (let i = 0; i < caseIds.length; i += 500) {
      const rows = await this.db
        .selectFrom('case_slides')
        .selectAll()
        .where('case_id', 'in', caseIds.slice(i, i + 500))
        .execute();
      for (const r of rows) out.set(r.case_id, [...(out.get(r.case_id) ?? []), r.slide_id]);
    }
    return out;
  }

  private async names(ids: string[]): Promise<Map<string, string>> {
    const uniq = [...new Set(ids)];
    if (uniq.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('users')
      .select(['id', 'display_name'])
      .where('id', 'in', uniq)
      .execute();
    return new Map(rows.map((r) => [r.id, r.display_name]));
  }

  private async toDtos(rows: CasesTable[], now = Date.now()): Promise<CaseDto[]> {
    const rules = await this.rules();
    const slides = rows.length <= 2000 ? await this.slidesOf(rows.map((r) => r.id)) : await this.allSlides();
    const names = await this.names(rows.flatMap((r) => (r.assigned_to ? [r.assigned_to] : [])));
    return rows.map((r) => {
      const due = Date.parse(r.received_at) + r.target_days * DAY;
      const slideIds = slides.get(r.id) ?? [];
      return {
        id: r.id,
        accession: r.accession,
        siteId: r.site_id,
        specimenType: r.specimen_type,
        subspecialty: r.subspecialty as Subspecialty,
        priority: r.priority as Priority,
        receivedAt: r.received_at,
        targetDays: r.target_days,
        dueAt: new Date(due).toISOString(),
        daysToBreach: Math.round(((due - now) / DAY) * 10) / 10,
        status: r.status as CaseStatus,
        assignedTo: r.assigned_to,
        assignedName: r.assigned_to ? (names.get(r.assigned_to) ?? null) : null,
        reportedAt: r.reported_at,
        points: this.points(rules, r.specimen_type, slideIds.length),
        slideIds,
      };
    });
  }

  private async allSlides(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const r of await this.db.selectFrom('case_slides').selectAll().execute())
      out.set(r.case_id, [...(out.get(r.case_id) ?? []), r.slide_id]);
    return out;
  }

  async get(id: string): Promise<CaseDto | null> {
    const r = await this.db.selectFrom('cases').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? (await this.toDtos([r]))[0]! : null;
  }

  async list(f: CaseFilter): Promise<CaseDto[]> {
    let q = this.db.selectFrom('cases').selectAll();
    if (f.site) q = q.where('site_id', '=', f.site);
    if (f.status) q = q.where('status', '=', f.status);
    else if (f.openOnly) q = q.where('status', 'in', OPEN);
    if (f.subspecialty) q = q.where('subspecialty', '=', f.subspecialty);
    if (f.assignee) q = q.where('assigned_to', '=', f.assignee);
    if (f.q) q = q.where('accession', 'like', `%${f.q.replace(/[%_]/g, '')}%`);
    const rows = await q
      .orderBy('received_at')
      .limit(Math.min(f.limit ?? 1000, 50_000))
      .execute();
    const dtos = await this.toDtos(rows);
    // Urgent first, then nearest to (or furthest past) the target.
    return dtos.sort((a, b) =>
      a.priority !== b.priority ? (a.priority === 'urgent' ? -1 : 1) : a.daysToBreach - b.daysToBreach,
    );
  }

  /** A page of cases in the database's order (keyset paging: server/library/cases.ts). */
  async page(f: CasePageQuery): Promise<CasePage> {
    const { rows, nextCursor } = await caseRows(this.db, f);
    return { items: await this.toDtos(rows), nextCursor };
  }

  async create(req: CreateCaseRequest): Promise<CaseDto> {
    if (!(await this.db.selectFrom('sites').select('id').where('id', '=', req.siteId).executeTakeFirst()))
      throw new HttpError('INVALID_PARAMETER', `no site ${req.siteId}`);
    if (
      await this.db.selectFrom('cases').select('id').where('accession', '=', req.accession).executeTakeFirst()
    )
      throw new HttpError('CONFLICT', `case ${req.accession} already exists`);
    const now = new Date().toISOString();
    const id = randomUUID();
    await this.db
      .insertInto('cases')
      .values({
        id,
        accession: req.accession,
        site_id: req.siteId,
        specimen_type: req.specimenType,
        subspecialty: req.subspecialty,
        priority: req.priority,
        received_at: new Date(req.receivedAt).toISOString(),
        target_days: req.targetDays ?? DEFAULT_TARGET_DAYS[req.priority],
        status: 'received',
        assigned_to: null,
        reported_at: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return (await this.get(id))!;
  }

  async update(
    id: string,
    patch: { status?: CaseStatus; assignedTo?: string | null; priority?: Priority },
  ): Promise<CaseDto> {
    const set: Partial<CasesTable> = { updated_at: new Date().toISOString() };
    if (patch.assignedTo !== undefined) {
      if (patch.assignedTo !== null && !(await this.isPathologist(patch.assignedTo)))
        throw new HttpError('INVALID_PARAMETER', `no pathologist ${patch.assignedTo}`);
      set.assigned_to = patch.assignedTo;
      if (patch.status === undefined) {
        const cur = await this.db
          .selectFrom('cases')
          .select('status')
          .where('id', '=', id)
          .executeTakeFirst();
        if (cur && (cur.status === 'received' || cur.status === 'scanned') && patch.assignedTo)
          set.status = 'assigned';
      }
    }
    if (patch.status !== undefined) {
      set.status = patch.status;
      set.reported_at = patch.status === 'reported' ? new Date().toISOString() : null;
    }
    if (patch.priority !== undefined) set.priority = patch.priority;
    await this.db.updateTable('cases').set(set).where('id', '=', id).execute();
    return (await this.get(id))!;
  }

  async attachSlide(caseId: string, slideId: string): Promise<void> {
    await this.db
      .insertInto('case_slides')
      .values({ case_id: caseId, slide_id: slideId })
      .onConflict((oc) => oc.columns(['case_id', 'slide_id']).doNothing())
      .execute();
  }

  /** Unlink a slide from a case; false when it was not linked. */
  async detachSlide(caseId: string, slideId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('case_slides')
      .where('case_id', '=', caseId)
      .where('slide_id', '=', slideId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * The case an upload joins by `?case=ACCESSION`: only one the uploader may edit (their own site's;
   * an administrator's, any). A case that does not exist and one of another site get the same answer,
   * so nobody learns which accessions exist elsewhere.
   */
  async caseForUpload(user: { role: string; siteId: string }, accession: string): Promise<string> {
    const r = await this.db
      .selectFrom('cases')
      .select(['id', 'site_id'])
      .where('accession', '=', accession)
      .executeTakeFirst();
    if (!r || (user.role !== 'admin' && r.site_id !== user.siteId))
      throw new HttpError('INVALID_PARAMETER', `no case ${accession} that you may add slides to`);
    return r.id;
  }

  async caseOfAccession(accession: string): Promise<string | null> {
    const r = await this.db
      .selectFrom('cases')
      .select('id')
      .where('accession', '=', accession)
      .executeTakeFirst();
    return r?.id ?? null;
  }

  /** An enabled user's role, or null. */
  private async roleOf(userId: string): Promise<string | null> {
    const u = await this.db
      .selectFrom('users')
      .select('role')
      .where('id', '=', userId)
      .where('disabled', '=', 0)
      .executeTakeFirst();
    return u?.role ?? null;
  }

  private async hasProfile(userId: string): Promise<boolean> {
    const role = await this.roleOf(userId);
    return role === 'pathologist' || role === 'specialist';
  }

  private async isPathologist(userId: string): Promise<boolean> {
    return (await this.roleOf(userId)) === 'pathologist';
  }

  /** Every pathologist with profile, load and open cases. */
  /** `openCases`: the open cases when the caller has them already (one read of the queue, not two). */
  async pathologists(
    openCases?: CaseDto[],
    roles: readonly ('pathologist' | 'specialist')[] = ['pathologist'],
  ): Promise<PathologistDto[]> {
    const rows = await this.db
      .selectFrom('users')
      .innerJoin('sites', 'sites.id', 'users.site_id')
      .leftJoin('pathologist_profiles', 'pathologist_profiles.user_id', 'users.id')
      .select([
        'users.id',
        'users.display_name',
        'users.site_id',
        'sites.name as site_name',
        'pathologist_profiles.subspecialties',
        'pathologist_profiles.weekly_capacity',
      ])
      .where('users.role', 'in', roles)
      .where('users.disabled', '=', 0)
      .orderBy('users.display_name')
      .execute();
    const open = openCases ?? (await this.list({ openOnly: true, limit: 50_000 }));
    const away = await onLeave(this.db);
    const load = new Map<string, { points: number; n: number }>();
    for (const c of open)
      if (c.assignedTo) {
        const l = load.get(c.assignedTo) ?? { points: 0, n: 0 };
        l.points += c.points;
        l.n++;
        load.set(c.assignedTo, l);
      }
    return rows.map((r) => ({
      userId: r.id,
      name: r.display_name,
      siteId: r.site_id,
      siteName: r.site_name,
      subspecialties: JSON.parse(r.subspecialties ?? '["general"]') as Subspecialty[],
      weeklyCapacity: Number(r.weekly_capacity ?? 20),
      onLeave: away.has(r.id),
      load: Math.round((load.get(r.id)?.points ?? 0) * 100) / 100,
      openCases: load.get(r.id)?.n ?? 0,
    }));
  }

  /** `onLeave`: on starts leave today until further notice, off ends today's leave (see leave.ts). */
  async updatePathologist(
    userId: string,
    patch: { subspecialties?: Subspecialty[]; weeklyCapacity?: number; onLeave?: boolean },
    by: string | null = null,
  ): Promise<void> {
    // Specialists have a profile too: their subspecialties route second opinions to them.
    if (!(await this.hasProfile(userId)))
      throw new HttpError('NOT_FOUND', `no pathologist or specialist ${userId}`);
    const cur = await this.db
      .selectFrom('pathologist_profiles')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirst();
    const row = {
      user_id: userId,
      subspecialties: JSON.stringify(
        patch.subspecialties ?? (cur ? JSON.parse(cur.subspecialties) : ['general']),
      ),
      weekly_capacity: patch.weeklyCapacity ?? cur?.weekly_capacity ?? 20,
    };
    if (cur)
      await this.db.updateTable('pathologist_profiles').set(row).where('user_id', '=', userId).execute();
    else await this.db.insertInto('pathologist_profiles').values(row).execute();
    if (patch.onLeave !== undefined) await setOnLeaveToday(this.db, userId, patch.onLeave, by);
  }

  /** The workload points table, by specimen type. */
  async workloadRules(): Promise<WorkloadRuleDto[]> {
    const rows = await this.db.selectFrom('workload_rules').selectAll().orderBy('specimen_type').execute();
    return rows.map((r) => ({ specimen_type: r.specimen_type, points: Number(r.points) }));
  }

  /**
   * Set points per specimen type (others stay as they are); null removes a specimen type, whose
   * cases then count `*fallback` points. `*per_slide` and `*fallback` cannot be removed.
   */
  async setWorkloadRules(rules: WorkloadRulesRequest): Promise<WorkloadRuleDto[]> {
    for (const [t, points] of Object.entries(rules))
      if (points === null && t.startsWith('*'))
        throw new HttpError('INVALID_PARAMETER', `${t} cannot be removed, only set`);
    await this.db.transaction().execute(async (trx) => {
      for (const [specimen_type, points] of Object.entries(rules)) {
        await trx.deleteFrom('workload_rules').where('specimen_type', '=', specimen_type).execute();
        if (points !== null)
          await trx.insertInto('workload_rules').values({ specimen_type, points }).execute();
      }
    });
    this.forgetRules();
    return this.workloadRules();
  }

  /** Reassignment proposals for the open cases (filtered by the site and subspecialty of the case). */
  async suggestions(f: { site?: string; subspecialty?: string }): Promise<{
    suggestions: Suggestion[];
    stillOver: { userId: string; name: string; load: number; capacity: number }[];
    millis: number;
  }> {
    const t0 = performance.now();
    const allOpen = await this.list({ openOnly: true, limit: 50_000 });
    const ps = await this.pathologists(allOpen);
    const open = allOpen.filter((c) => c.status !== 'second_opinion_requested');
    const scoped = open.filter(
      (c) => (!f.site || c.siteId === f.site) && (!f.subspecialty || c.subspecialty === f.subspecialty),
    );
    const scopedIds = new Set(scoped.map((c) => c.id));
    // Points each pathologist already carries outside the scope (one pass, not one per pathologist).
    const outOfScope = new Map<string, number>();
    for (const c of open)
      if (c.assignedTo && !scopedIds.has(c.id))
        outOfScope.set(c.assignedTo, (outOfScope.get(c.assignedTo) ?? 0) + c.points);
    const bps: BPathologist[] = ps.map((p) => ({
      id: p.userId,
      name: p.name,
      siteId: p.siteId,
      subspecialties: p.subspecialties,
      // Capacity left for the cases in scope: what the rest already takes counts.
      capacity: p.weeklyCapacity - (outOfScope.get(p.userId) ?? 0),
      onLeave: p.onLeave,
    }));
    // Cases whose suggested move was turned down stay put while they are as they were then.
    // (All of them: a few per case at most, where an `in` list of every open case would pass the
    // database's limit on parameters.)
    const turnedDown = await this.db
      .selectFrom('balance_rejections')
      .select(['case_id', 'situation'])
      .execute();
    const byCase = new Map(scoped.map((c) => [c.id, c]));
    const pinned = new Set(
      turnedDown
        .filter((r) => byCase.get(r.case_id) && situationOf(byCase.get(r.case_id)!) === r.situation)
        .map((r) => r.case_id),
    );
    const out = balance(bps, scoped.map(balanceCase), { pinned });
    const person = new Map(ps.map((p) => [p.userId, p]));
    const suggestions: Suggestion[] = out.moves.map((m) => {
      const c = byCase.get(m.caseId)!;
      const to = person.get(m.to)!;
      return {
        caseId: m.caseId,
        accession: c.accession,
        from: m.from,
        fromName: m.from ? (person.get(m.from)?.name ?? null) : null,
        to: m.to,
        toName: to.name,
        crossSite: m.crossSite,
        reason: m.reason,
        points: c.points,
        priority: c.priority,
        subspecialty: c.subspecialty,
        daysToBreach: c.daysToBreach,
        toSiteId: to.siteId,
        toSiteName: to.siteName,
        toSubspecialties: to.subspecialties,
        toLoad: to.load,
        toCapacity: to.weeklyCapacity,
      };
    });
    const name = new Map(ps.map((p) => [p.userId, p.name]));
    const stillOver = out.stillOver.map((s) => ({
      userId: s.id,
      name: name.get(s.id) ?? s.id,
      load: s.load,
      capacity: s.capacity,
    }));
    return { suggestions, stillOver, millis: Math.round(performance.now() - t0) };
  }

  /**
   * A lab manager's decision on a suggested move. Accepted: the case moves, unless it was reassigned
   * since the suggestion (CONFLICT). Turned down: the case is not suggested again while its
   * assignee, status and priority stay as they are now.
   */
  async decide(d: BalanceDecision, by: string): Promise<CaseDto> {
    const c = await this.get(d.caseId);
    if (!c) throw new HttpError('NOT_FOUND', 'no such case');
    if (!OPEN.includes(c.status)) throw new HttpError('CONFLICT', `case ${c.accession} is no longer open`);
    if (c.assignedTo !== d.from)
      throw new HttpError('CONFLICT', `case ${c.accession} was reassigned since the suggestion`);
    if (!d.accept) {
      const row = {
        case_id: c.id,
        situation: situationOf(c),
        rejected_by: by,
        rejected_at: new Date().toISOString(),
      };
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('balance_rejections').where('case_id', '=', c.id).execute();
        await trx.insertInto('balance_rejections').values(row).execute();
      });
      return c;
    }
    return this.update(c.id, { assignedTo: d.to });
  }

  async dashboard(f: { site?: string; subspecialty?: string }): Promise<DashboardDto> {
    const now = Date.now();
    const every = await this.list({ limit: 50_000 });
    const all = every.filter((c) => !f.subspecialty || c.subspecialty === f.subspecialty);
    const sites = await this.db.selectFrom('sites').selectAll().orderBy('id').execute();
    const ps = (await this.pathologists(every.filter((c) => OPEN.includes(c.status)))).filter(
      (p) => !f.site || p.siteId === f.site,
    );
    const waiting = await this.db
      .selectFrom('second_opinions')
      .select('case_id')
      .where('status', '=', 'waiting')
      .execute();
    const waitingCases = new Set(waiting.map((w) => w.case_id));
    const open = all.filter((c) => c.status !== 'reported');
    const siteCards = sites
      .filter((s) => !f.site || s.id === f.site)
      .map((s) => {
        const mine = open.filter((c) => c.siteId === s.id);
        const sp = ps.filter((p) => p.siteId === s.id);
        return {
          siteId: s.id,
          siteName: s.name,
          openCases: mine.length,
          unassigned: mine.filter((c) => !c.assignedTo).length,
          points: Math.round(sp.reduce((t, p) => t + p.load, 0) * 10) / 10,
          capacity: sp.filter((p) => !p.onLeave).reduce((t, p) => t + p.weeklyCapacity, 0),
          nearBreach: mine.filter((c) => c.daysToBreach >= 0 && c.daysToBreach <= 1).length,
          breached: mine.filter((c) => c.daysToBreach < 0).length,
          secondOpinionsWaiting: mine.filter((c) => waitingCases.has(c.id)).length,
        };
      });
    const scoped = all.filter((c) => !f.site || c.siteId === f.site);
    const thisWeek = weekStart(now);
    const backlog: DashboardDto['backlog'] = [];
    const turnaround: DashboardDto['turnaround'] = [];
    for (let w = 7; w >= 0; w--) {
      const start = thisWeek - w * 7 * DAY;
      const end = Math.min(start + 7 * DAY, now);
      const bySite: Record<string, number> = {};
      for (const c of scoped) {
        const rec = Date.parse(c.receivedAt);
        const rep = c.reportedAt ? Date.parse(c.reportedAt) : Infinity;
        if (rec <= end && rep > end) bySite[c.siteId] = (bySite[c.siteId] ?? 0) + 1;
      }
      const week = new Date(start).toISOString().slice(0, 10);
      backlog.push({ week, bySite });
      const tat = scoped
        .filter(
          (c) =>
            c.reportedAt && Date.parse(c.reportedAt) >= start && Date.parse(c.reportedAt) < start + 7 * DAY,
        )
        .map((c) => (Date.parse(c.reportedAt!) - Date.parse(c.receivedAt)) / DAY)
        .sort((a, b) => a - b);
      turnaround.push({ week, median: quantile(tat, 0.5), p90: quantile(tat, 0.9), reported: tat.length });
    }
    return { sites: siteCards, pathologists: ps, backlog, turnaround };
  }

  /** A case CSV, checked and stored in batches that leave the event loop free (csv-import.ts). */
  importCsv(text: string): Promise<ImportReport> {
    return importCasesCsv(this.db, text, DEFAULT_TARGET_DAYS);
  }
}

export { CASE_STATUSES };
export { parseCsv } from './csv-import.ts';
