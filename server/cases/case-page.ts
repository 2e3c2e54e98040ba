import {
  type CaseBarDto,
  type CaseDto,
  type CaseHistoryEntryDto,
  type CaseOpinionDto,
  type CasePageDto,
  type CaseSlideDto,
  type CaseStatus,
  REPORT_UNDO_GRACE_MS,
  REPORT_UNDO_MS,
  type ReportResult,
  type SlideCasesDto,
  type SourceFormat,
} from '../../protocol/index.ts';
import type { Access } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import type { Db } from '../db/index.ts';
import { HttpError } from '../http/errors.ts';
import { readsOf } from './reads.ts';
import type { CaseService } from './service.ts';

const HISTORY_LIMIT = 200;
const MAX_SLIDE_CASES = 200;
const names = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** A case's slides in reading order: by name as the user sees them (A1 before A2 before A10), hidden ones last. */
export function readingOrder<T extends { id: string; name: string | null }>(slides: readonly T[]): T[] {
  return [...slides].sort((a, b) =>
    a.name === null || b.name === null
      ? Number(a.name === null) - Number(b.name === null) || (a.id < b.id ? -1 : 1)
      : names.compare(a.name, b.name) || (a.id < b.id ? -1 : 1),
  );
}

const noSuchCase = (): HttpError => new HttpError('NOT_FOUND', 'no such case');

/**
 * The case page, the viewer's case bar, the library's case links, and "Mark reported" with its undo.
 * One visibility rule for all of them (visibleCases): a case someone may not see answers exactly as
 * one that does not exist.
 */
export class CasePageService {
  constructor(
    private readonly d: { db: Db; access: Access; cases: CaseService },
    private readonly clock: () => number = Date.now,
  ) {}

  /** The ids of the cases among `where` that `p` may see: see protocol/case-page.ts. */
  private visibleCases(p: Principal) {
    const q = this.d.db.selectFrom('cases').select(['cases.id', 'cases.accession', 'cases.received_at']);
    switch (p.user.role) {
      case 'admin':
        return q;
      case 'pathologist':
        return q.where('cases.assigned_to', '=', p.user.id);
      case 'lab_manager':
        return q.where((eb) =>
          eb.or([
            eb('cases.site_id', '=', p.user.siteId),
            eb(
              'cases.assigned_to',
              'in',
              eb.selectFrom('users').select('users.id').where('users.site_id', '=', p.user.siteId),
            ),
          ]),
        );
      default:
        return q.where(({ lit }) => lit(false));
    }
  }

  private async byAccession(p: Principal, accession: string): Promise<CaseDto> {
    const row = await this.visibleCases(p).where('cases.accession', '=', accession).executeTakeFirst();
    const c = row && (await this.d.cases.get(row.id));
    if (!c) throw noSuchCase();
    return c;
  }

  /** The case with id `id` if `p` may see it; 404 otherwise. */
  async visible(p: Principal, id: string): Promise<CaseDto> {
    const row = await this.visibleCases(p).where('cases.id', '=', id).executeTakeFirst();
    const c = row && (await this.d.cases.get(row.id));
    if (!c) throw noSuchCase();
    return c;
  }

  /** The case's slides as `p` sees them, in reading order, with annotation counts and reads. */
  private async slides(p: Principal, c: CaseDto): Promise<CaseSlideDto[]> {
    const reads = await readsOf(this.d.db, p.user.id, c.slideIds);
    const out: CaseSlideDto[] = [];
    for (const id of c.slideIds) {
      const found = await this.d.access.slide(p, id);
      if (!found) {
        out.push({
          id,
          name: null,
          visible: false,
          width: 0,
          height: 0,
          sourceFormat: null,
          objectivePower: null,
          annotations: 0,
          readAt: null,
        });
        continue;
      }
      const { row, grant } = found;
      // The annotations of the scope the user works in on this slide (their site's, through a share the sharer's).
      let q = this.d.db
        .selectFrom('annotations')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('slide_id', '=', id)
        .where('deleted', '=', 0);
      q = grant.siteId === null ? q.where('site_id', 'is', null) : q.where('site_id', '=', grant.siteId);
      const n = await q.executeTakeFirst();
      out.push({
        id,
        name: grant.deidentified ? (grant.studyCode ?? row.name) : (grant.name ?? row.name),
        visible: true,
        width: row.width,
        height: row.height,
        sourceFormat: row.source_format as SourceFormat,
        objectivePower: row.objective_power,
        annotations: Number(n?.n ?? 0),
        readAt: reads.get(id) ?? null,
      });
    }
    return readingOrder(out);
  }

  private async opinions(caseId: string): Promise<CaseOpinionDto[]> {
    const rows = await this.d.db
      .selectFrom('second_opinions')
      .innerJoin('users as specialist', 'specialist.id', 'second_opinions.specialist_id')
      .leftJoin('users as requester', 'requester.id', 'second_opinions.requested_by')
      .selectAll('second_opinions')
      .select(['specialist.display_name as specialist_name', 'requester.display_name as requester_name'])
      .where('second_opinions.case_id', '=', caseId)
      .orderBy('second_opinions.created_at')
      .execute();
    const out: CaseOpinionDto[] = [];
    for (const r of rows) {
      const answers = await this.d.db
        .selectFrom('opinions')
        .select(['user_name', 'diagnosis', 'confidence', 'text', 'at'])
        .where('session_id', '=', r.session_id)
        .where('user_id', '=', r.specialist_id)
        .orderBy('at')
        .execute();
      out.push({
        id: r.id,
        caseId: r.case_id,
        specialistId: r.specialist_id,
        specialistName: r.specialist_name,
        sessionId: r.session_id,
        status: r.status === 'answered' ? 'answered' : r.status === 'declined' ? 'declined' : 'waiting',
        createdAt: r.created_at,
        question: r.question,
        requestedByName: r.requester_name,
        answers: answers.map((a) => ({
          by: a.user_name,
          diagnosis: a.diagnosis,
          confidence: a.confidence,
          text: a.text,
          at: a.at,
        })),
      });
    }
    return out;
  }

  private async history(caseId: string): Promise<CaseHistoryEntryDto[]> {
    const rows = await this.d.db
      .selectFrom('audit')
      .select(['id', 'at', 'user_name', 'action', 'detail'])
      .where('target_id', '=', caseId)
      .where('target_type', '=', 'case')
      .orderBy('id', 'desc')
      .limit(HISTORY_LIMIT)
      .execute();
    return rows.map((r) => {
      let detail: Record<string, unknown> = {};
      try {
        detail = JSON.parse(r.detail) as Record<string, unknown>;
      } catch {
        // written by the audit log: always JSON
      }
      return { id: Number(r.id), at: r.at, userName: r.user_name, action: r.action, detail };
    });
  }

  /** The names of the users a history names by id (assignments, balancing moves). */
  private async people(history: CaseHistoryEntryDto[]): Promise<Record<string, string>> {
    const ids = new Set<string>();
    for (const h of history)
      for (const k of ['assignedTo', 'from', 'to']) if (typeof h.detail[k] === 'string') ids.add(h.detail[k]);
    if (ids.size === 0) return {};
    const rows = await this.d.db
      .selectFrom('users')
      .select(['id', 'display_name'])
      .where('id', 'in', [...ids])
      .execute();
    return Object.fromEntries(rows.map((r) => [r.id, r.display_name]));
  }

  /** The undo `p` may still make on case `c`: its deadline as shown (without the grace), or null. */
  private async undoFor(p: Principal, c: CaseDto): Promise<string | null> {
    if (c.status !== 'reported') return null;
    const u = await this.d.db
      .selectFrom('case_report_undo')
      .selectAll()
      .where('case_id', '=', c.id)
      .executeTakeFirst();
    if (!u || u.reported_by !== p.user.id) return null;
    const until = Date.parse(u.expires_at) - REPORT_UNDO_GRACE_MS;
    if (until <= this.clock() || !(await this.unchangedSince(c.id, u.case_updated_at))) return null;
    return new Date(until).toISOString();
  }

  private async unchangedSince(caseId: string, updatedAt: string): Promise<boolean> {
    const row = await this.d.db
      .selectFrom('cases')
      .select('updated_at')
      .where('id', '=', caseId)
      .executeTakeFirst();
    return row?.updated_at === updatedAt;
  }

  async page(p: Principal, accession: string): Promise<CasePageDto> {
    const c = await this.byAccession(p, accession);
    const site = await this.d.db
      .selectFrom('sites')
      .select('name')
      .where('id', '=', c.siteId)
      .executeTakeFirst();
    const slides = await this.slides(p, c);
    const history = await this.history(c.id);
    return {
      case: c,
      siteName: site?.name ?? c.siteId,
      slides,
      firstUnread: slides.find((s) => s.visible && s.readAt === null)?.id ?? null,
      opinions: await this.opinions(c.id),
      history,
      people: await this.people(history),
      canReport: this.mayReport(p, c),
      undoUntil: await this.undoFor(p, c),
    };
  }

  /**
   * The case a slide is read in, for the viewer's bar: the named one (which must hold the slide),
   * else the most recently received visible case that holds it.
   */
  async bar(p: Principal, slideId: string, accession?: string): Promise<CaseBarDto> {
    if (!(await this.d.access.grant(p, slideId))) throw noSuchCase();
    let q = this.visibleCases(p).where(
      'cases.id',
      'in',
      this.d.db.selectFrom('case_slides').select('case_id').where('slide_id', '=', slideId),
    );
    if (accession !== undefined) q = q.where('cases.accession', '=', accession);
    const row = await q.orderBy('cases.received_at', 'desc').orderBy('cases.id').executeTakeFirst();
    const c = row && (await this.d.cases.get(row.id));
    if (!c) throw noSuchCase();
    const slides = (await this.slides(p, c)).filter((s) => s.visible);
    return {
      caseId: c.id,
      accession: c.accession,
      status: c.status,
      slides: slides.map((s) => ({ id: s.id, name: s.name!, readAt: s.readAt })),
    };
  }

  /** For each of `slideIds` that `p` may see: the accessions of the visible cases holding it. */
  async slideCases(p: Principal, slideIds: readonly string[]): Promise<SlideCasesDto> {
    const ids = [...new Set(slideIds)];
    if (ids.length > MAX_SLIDE_CASES)
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected at most ${MAX_SLIDE_CASES} slide ids but received ${ids.length}`,
      );
    const out: SlideCasesDto = {};
    if (ids.length === 0) return out;
    const grants = await this.d.access.grantsFor(ids.map((slideId) => ({ p, slideId })));
    const seen = ids.filter((_, i) => grants[i]);
    if (seen.length === 0) return out;
    const rows = await this.visibleCases(p)
      .innerJoin('case_slides', 'case_slides.case_id', 'cases.id')
      .select('case_slides.slide_id')
      .where('case_slides.slide_id', 'in', seen)
      .orderBy('cases.received_at', 'desc')
      .execute();
    for (const r of rows) (out[r.slide_id] ??= []).push(r.accession);
    return out;
  }

  private mayReport(p: Principal, c: CaseDto): boolean {
    return p.user.role === 'pathologist' && c.assignedTo === p.user.id && c.status !== 'reported';
  }

  /** "Mark reported" by the assigned pathologist; undoable by them for REPORT_UNDO_MS. */
  async report(p: Principal, caseId: string): Promise<ReportResult> {
    const c = await this.visible(p, caseId);
    if (c.status === 'reported') throw new HttpError('CONFLICT', `case ${c.accession} is already reported`);
    if (!this.mayReport(p, c))
      throw new HttpError('FORBIDDEN', 'only the pathologist the case is assigned to reports it');
    const t = this.clock();
    const now = new Date(t).toISOString();
    const done = await this.d.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('cases')
        .set({ status: 'reported', reported_at: now, updated_at: now })
        .where('id', '=', c.id)
        .where('status', '=', c.status)
        .where('assigned_to', '=', p.user.id)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await trx.deleteFrom('case_report_undo').where('case_id', '=', c.id).execute();
      await trx
        .insertInto('case_report_undo')
        .values({
          case_id: c.id,
          reported_by: p.user.id,
          previous_status: c.status,
          case_updated_at: now,
          expires_at: new Date(t + REPORT_UNDO_MS + REPORT_UNDO_GRACE_MS).toISOString(),
        })
        .execute();
      return true;
    });
    if (!done) throw new HttpError('CONFLICT', `case ${c.accession} changed meanwhile; it was not reported`);
    return { case: (await this.d.cases.get(c.id))!, undoUntil: new Date(t + REPORT_UNDO_MS).toISOString() };
  }

  /**
   * Undo a "Mark reported": only by who made it, only within the window, only while nothing else
   * changed the case. Returns the case as it is again and the status it went back to.
   */
  async undoReport(p: Principal, caseId: string): Promise<{ case: CaseDto; restored: CaseStatus }> {
    const c = await this.visible(p, caseId);
    const u = await this.d.db
      .selectFrom('case_report_undo')
      .selectAll()
      .where('case_id', '=', c.id)
      .executeTakeFirst();
    if (!u || c.status !== 'reported')
      throw new HttpError('CONFLICT', `case ${c.accession} has no "Mark reported" to undo`);
    if (u.reported_by !== p.user.id)
      throw new HttpError('FORBIDDEN', 'only the person who marked the case reported may undo it');
    if (this.clock() > Date.parse(u.expires_at))
      throw new HttpError(
        'CONFLICT',
        `too late to undo: "Mark reported" can be undone for ${REPORT_UNDO_MS / 1000} s`,
      );
    const restored = u.previous_status as CaseStatus;
    const now = new Date(this.clock()).toISOString();
    const done = await this.d.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('cases')
        .set({ status: restored, reported_at: null, updated_at: now })
        .where('id', '=', c.id)
        .where('status', '=', 'reported')
        .where('updated_at', '=', u.case_updated_at)
        .where('assigned_to', '=', p.user.id)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) return false;
      await trx.deleteFrom('case_report_undo').where('case_id', '=', c.id).execute();
      return true;
    });
    if (!done)
      throw new HttpError(
        'CONFLICT',
        `case ${c.accession} changed after it was marked reported; nothing was undone`,
      );
    return { case: (await this.d.cases.get(c.id))!, restored };
  }
}
