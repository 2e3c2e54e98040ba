import type { AssociatedName } from '../../protocol/index.ts';
import {
  type DicomExportOptions,
  type SeriesIdentity,
  type SeriesInstance,
  seriesIdentity,
  seriesInstances,
} from '../../tiles/export/dicom-attributes.ts';
import { slideIdOfUid } from '../../tiles/export/uids.ts';
import type { Access, SlideGrant } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import type { Db } from '../db/index.ts';
import { deidentifiedSubject, dicomOptions, identifiedSubjects } from '../export/dicom.ts';
import { type SqlBool, sql } from 'kysely';
import { type Cursor, decodeCursor, likeEscape } from '../library/paging.ts';
import { SlideLibrary, slideOrder } from '../library/slides.ts';

/**
 * A slide as the DICOMweb server shows it to one user: one study holding one series, the same
 * attributes and UIDs as the DICOM export that user may download (identified, or de-identified
 * through a de-identified share).
 */
export interface DicomSlide {
  id: string;
  grant: SlideGrant;
  options: DicomExportOptions;
  identity: SeriesIdentity;
  /** The series' instances as the database records the slide (levels, associated images). */
  instances: SeriesInstance[];
  /** When the slide was added, as the user sees it (newest first is the order of answers). */
  createdAt: string;
}

/** Slides looked up per database round trip. */
const CHUNK = 200;
/** Highest level an instance UID is tried for: no pyramid has more (2^32 px a side). */
const MAX_LEVELS = 32;

/**
 * Which slides a user may see as DICOM, found from UIDs, accession numbers, study dates or by
 * walking the library; always through the same grants as every other slide route.
 */
export class DicomSlides {
  private readonly library: SlideLibrary;

  constructor(
    private readonly db: Db,
    private readonly access: Access,
  ) {
    this.library = new SlideLibrary(db, access);
  }

  /**
   * The slides of `ids` that `p` may see, in the order given (unknown and invisible ones left
   * out), each with its subject: the linked case for an identified slide, the study code for a
   * de-identified share.
   */
  async resolve(p: Principal, ids: readonly string[]): Promise<DicomSlide[]> {
    const out: DicomSlide[] = [];
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += CHUNK) {
      const chunk = unique.slice(i, i + CHUNK);
      const rows = new Map(
        (
          await this.db
            .selectFrom('slides')
            .select(['id', 'name', 'levels', 'associated', 'created_at'])
            .where('id', 'in', chunk)
            .execute()
        ).map((r) => [r.id, r]),
      );
      const present = chunk.filter((id) => rows.has(id));
      if (present.length === 0) continue;
      const grants = await this.access.grantsFor(present.map((slideId) => ({ p, slideId })));
      const seen: { id: string; grant: SlideGrant; name: string }[] = [];
      present.forEach((id, j) => {
        const grant = grants[j];
        const row = rows.get(id)!;
        // As the export names it: an administrator sees the slide's own name, others their site's.
        if (grant)
          seen.push({ id, grant, name: p.user.role === 'admin' ? row.name : (grant.name ?? row.name) });
      });
      const subjects = await identifiedSubjects(
        this.db,
        seen
          .filter((s) => !s.grant.deidentified)
          .map((s) => ({ id: s.id, name: s.name, siteId: s.grant.siteId })),
      );
      for (const s of seen) {
        const row = rows.get(s.id)!;
        const subject = s.grant.deidentified ? deidentifiedSubject(s.id, s.grant) : subjects.get(s.id)!;
        const options = dicomOptions(subject, s.grant);
        const associated = JSON.parse(row.associated) as AssociatedName[];
        out.push({
          id: s.id,
          grant: s.grant,
          options,
          identity: seriesIdentity(s.id, options),
          instances: seriesInstances({ levels: row.levels, associated }, s.grant.deidentified),
          createdAt: s.grant.deidentified
            ? (s.grant.sharedAt ?? row.created_at)
            : (s.grant.createdAt ?? row.created_at),
        });
      }
    }
    const order = new Map(unique.map((id, i) => [id, i]));
    return out.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  }

  /** The one slide `p` sees as study `studyUid`, or null. */
  async byStudy(p: Principal, studyUid: string): Promise<DicomSlide | null> {
    const found = await this.resolve(p, await this.idsOfUids(p, [studyUid], ['study']));
    return found.find((s) => s.identity.uid('study') === studyUid) ?? null;
  }

  /**
   * Candidate slides for UIDs of the given roles: the identified slide each decodes to, and every
   * slide shared de-identified with `p` (few; their UIDs are one-way and checked by the caller).
   */
  async idsOfUids(p: Principal, uids: readonly string[], roles: readonly string[]): Promise<string[]> {
    const ids = new Set<string>();
    for (const uid of uids)
      for (const role of roles) {
        const id = slideIdOfUid(uid, role);
        if (id) ids.add(id);
      }
    for (const id of await this.deidentifiedShares(p)) ids.add(id);
    return [...ids];
  }

  /** The roles an instance UID may have. */
  static instanceRoles(): string[] {
    const roles = ['instance:label', 'instance:overview'];
    for (let k = 0; k < MAX_LEVELS; k++) roles.push(`instance:level:${k}`);
    return roles;
  }

  /** Slides shared with `p` de-identified. */
  async deidentifiedShares(p: Principal): Promise<string[]> {
    return (await this.access.sharedWith(p)).filter((s) => s.grant.deidentified).map((s) => s.row.id);
  }

  /** Slides of cases whose accession is one of `accessions` (any site: grants are checked after). */
  async idsOfAccessions(accessions: readonly string[]): Promise<string[]> {
    if (accessions.length === 0) return [];
    const rows = await this.db
      .selectFrom('cases')
      .innerJoin('case_slides', 'case_slides.case_id', 'cases.id')
      .select('case_slides.slide_id')
      .where('cases.accession', 'in', [...accessions])
      .execute();
    return rows.map((r) => r.slide_id);
  }

  /**
   * Slides of cases whose accession matches one of `patterns` (`*` any run, `?` one character);
   * a superset where the database compares without case.
   */
  async idsOfAccessionPatterns(patterns: readonly string[]): Promise<string[]> {
    if (patterns.length === 0) return [];
    const likes = patterns.map((p) => likeEscape(p).replace(/\*/g, '%').replace(/\?/g, '_'));
    const rows = await this.db
      .selectFrom('cases')
      .innerJoin('case_slides', 'case_slides.case_id', 'cases.id')
      .select('case_slides.slide_id')
      .where((eb) =>
        eb.or(likes.map((l) => sql<SqlBool>`${eb.ref('cases.accession')} like ${l} escape '\\'`)),
      )
      .execute();
    return rows.map((r) => r.slide_id);
  }

  /**
   * Slides of cases received within [from, before) (ISO bounds), latest first. A de-identified
   * slide has no study date, so none is found this way.
   */
  async idsReceivedBetween(from: string | undefined, before: string | undefined): Promise<string[]> {
    let q = this.db
      .selectFrom('cases')
      .innerJoin('case_slides', 'case_slides.case_id', 'cases.id')
      .select(['case_slides.slide_id', 'cases.received_at']);
    if (from) q = q.where('cases.received_at', '>=', from);
    if (before) q = q.where('cases.received_at', '<', before);
    const rows = await q.orderBy('cases.received_at', 'desc').execute();
    return rows.map((r) => r.slide_id);
  }

  /** Every slide `p` may see, newest first, a page of ids at a time (the library's own paging). */
  async *all(p: Principal, pageSize = CHUNK): AsyncGenerator<string[]> {
    const order = slideOrder('date', 'desc');
    let after: Cursor | null = null;
    for (;;) {
      const page = await this.library.page(p, { sort: 'date', dir: 'desc', limit: pageSize, after });
      if (page.items.length) yield page.items.map((s) => s.id);
      if (!page.nextCursor) return;
      after = decodeCursor(page.nextCursor, order, 'string');
    }
  }
}
