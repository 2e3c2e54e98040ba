import type { Transaction } from 'kysely';
import type { Access } from '../auth/access.ts';
import type { Principal } from '../auth/auth.ts';
import { type Database, type Db, locksRows } from '../db/index.ts';
import { HttpError } from '../http/errors.ts';
import { stainOf } from './stain.ts';

/** Statuses of a case still being worked on: its slides may not be deleted. */
const OPEN_STATUSES = ['received', 'scanned', 'assigned', 'in_review', 'second_opinion_requested'];

export const SLIDE_NAME_MAX = 200;

/** What a deletion did: the whole slide (pixels too), or one site's ownership of it. */
export interface Deleted {
  whole: boolean;
  name: string;
  siteId: string | null;
}

const notFound = (id: string): HttpError => new HttpError('SLIDE_NOT_FOUND', `no slide ${id}`);

/**
 * Renaming, deleting and case links of slides. A site manages its own slides: a lab manager of a
 * site that owns the slide (or an administrator) deletes and links it; anyone of that site who may
 * upload renames it. A slide someone may not see is 404, one they may only look at 403.
 */
export class SlideManager {
  constructor(
    private readonly db: Db,
    private readonly access: Access,
  ) {}

  /** The site whose copy `p` acts on: their own (an owner), or the first owner (admins). */
  private async actingSite(p: Principal, id: string, what: string, roles: string[]): Promise<string | null> {
    const found = await this.access.slide(p, id);
    if (!found) throw notFound(id);
    if (p.user.role === 'admin') return found.row.site_id;
    if (!roles.includes(p.user.role) || found.grant.access !== 'site')
      throw new HttpError('FORBIDDEN', `only ${what}`);
    return p.user.siteId;
  }

  /** The name `p`'s site gives the slide (the first owner's too for admins). Returns the old name. */
  async rename(
    p: Principal,
    id: string,
    raw: string,
  ): Promise<{ from: string; to: string; siteId: string | null }> {
    const site = await this.actingSite(p, id, 'people of a site that owns the slide may rename it', [
      'pathologist',
      'lab_manager',
    ]);
    const name = raw.trim();
    // eslint-disable-next-line no-control-regex
    if (name.length === 0 || name.length > SLIDE_NAME_MAX || /[\u0000-\u001f\u007f]/.test(name))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected a name of 1 to ${SLIDE_NAME_MAX} characters without control characters`,
      );
    const stain = stainOf(name);
    return this.db.transaction().execute(async (trx) => {
      const slide = await this.lock(trx, id);
      if (!slide) throw notFound(id);
      let from = slide.name;
      if (site !== null) {
        const own = await trx
          .selectFrom('slide_sites')
          .select('name')
          .where('slide_id', '=', id)
          .where('site_id', '=', site)
          .executeTakeFirst();
        if (own) from = own.name;
        await trx
          .updateTable('slide_sites')
          .set({ name, stain })
          .where('slide_id', '=', id)
          .where('site_id', '=', site)
          .execute();
      }
      // The first owner's name is the slide's (what administrators see).
      if (site === slide.site_id)
        await trx.updateTable('slides').set({ name, stain }).where('id', '=', id).execute();
      this.access.forgetAll();
      return { from, to: name, siteId: site };
    });
  }

  /**
   * Delete a slide for `p`'s site: a lab manager removes their site's copy (its name, its
   * annotations, the shares its people made); when no other site owns the slide, or for an
   * administrator, the slide goes whole and `whole` tells the caller to remove its pixels. Refused
   * (409) while the slide is part of an open case. One transaction: the slide is there or gone.
   */
  async delete(p: Principal, id: string): Promise<Deleted> {
    const site = await this.actingSite(p, id, 'lab managers of a site that owns the slide may delete it', [
      'lab_manager',
    ]);
    const admin = p.user.role === 'admin';
    return this.db.transaction().execute(async (trx) => {
      const slide = await this.lock(trx, id);
      if (!slide) throw notFound(id);
      const owners = await trx
        .selectFrom('slide_sites')
        .select(['site_id', 'name', 'created_at'])
        .where('slide_id', '=', id)
        .orderBy('created_at')
        .execute();
      const others = owners.filter((o) => o.site_id !== site);
      const whole = admin || others.length === 0;
      let open = trx
        .selectFrom('case_slides')
        .innerJoin('cases', 'cases.id', 'case_slides.case_id')
        .select(['cases.accession'])
        .where('case_slides.slide_id', '=', id)
        .where('cases.status', 'in', OPEN_STATUSES);
      if (!whole) open = open.where('cases.site_id', '=', site!);
      const blocking = await open.orderBy('cases.accession').limit(3).execute();
      if (blocking.length > 0)
        throw new HttpError(
          'CONFLICT',
          `the slide belongs to open case${blocking.length > 1 ? 's' : ''} ${blocking
            .map((b) => b.accession)
            .join(', ')}: detach it from the case or close the case first`,
        );
      const name = owners.find((o) => o.site_id === site)?.name ?? slide.name;
      if (whole) {
        for (const table of [
          'annotation_ops',
          'annotations',
          'shares',
          'slide_sites',
          'slide_reads',
          'case_slides',
        ] as const)
          await trx.deleteFrom(table).where('slide_id', '=', id).execute();
        await trx.deleteFrom('slides').where('id', '=', id).execute();
      } else {
        const s = site!;
        await trx.deleteFrom('slide_sites').where('slide_id', '=', id).where('site_id', '=', s).execute();
        await trx.deleteFrom('annotation_ops').where('slide_id', '=', id).where('site_id', '=', s).execute();
        await trx.deleteFrom('annotations').where('slide_id', '=', id).where('site_id', '=', s).execute();
        await trx
          .deleteFrom('case_slides')
          .where('slide_id', '=', id)
          .where('case_id', 'in', trx.selectFrom('cases').select('id').where('site_id', '=', s))
          .execute();
        // Shares the site's people made end with the site's copy.
        await trx
          .updateTable('shares')
          .set({ revoked_at: new Date().toISOString(), revoked_by: p.user.id })
          .where('slide_id', '=', id)
          .where('revoked_at', 'is', null)
          .where('created_by', 'in', trx.selectFrom('users').select('id').where('site_id', '=', s))
          .execute();
        if (slide.site_id === s) {
          const next = others[0]!;
          await trx
            .updateTable('slides')
            .set({ site_id: next.site_id, name: next.name })
            .where('id', '=', id)
            .execute();
        }
      }
      this.access.forgetAll();
      return { whole, name, siteId: site };
    });
  }

  /**
   * The case `p` may link slides of `p`'s site to: their site's (any for admins). Unknown and
   * other sites' cases answer alike.
   */
  private async caseFor(p: Principal, where: { accession: string } | { id: string }) {
    let q = this.db.selectFrom('cases').select(['id', 'accession', 'site_id', 'status']);
    q = 'accession' in where ? q.where('accession', '=', where.accession) : q.where('id', '=', where.id);
    const c = await q.executeTakeFirst();
    if (!c || (p.user.role !== 'admin' && c.site_id !== p.user.siteId))
      throw new HttpError(
        'NOT_FOUND',
        `no case ${'accession' in where ? where.accession : where.id} that you may link slides to`,
      );
    return c;
  }

  async attach(
    p: Principal,
    id: string,
    accession: string,
  ): Promise<{ caseId: string; accession: string; siteId: string }> {
    await this.actingSite(p, id, 'lab managers of a site that owns the slide may link it to cases', [
      'lab_manager',
    ]);
    const c = await this.caseFor(p, { accession });
    await this.db.transaction().execute(async (trx) => {
      // Locked as delete() locks it: a slide being deleted is not linked meanwhile.
      if (!(await this.lock(trx, id))) throw notFound(id);
      await trx
        .insertInto('case_slides')
        .values({ case_id: c.id, slide_id: id })
        .onConflict((oc) => oc.columns(['case_id', 'slide_id']).doNothing())
        .execute();
    });
    return { caseId: c.id, accession: c.accession, siteId: c.site_id };
  }

  async detach(
    p: Principal,
    id: string,
    which: { accession: string } | { id: string },
  ): Promise<{ caseId: string; accession: string; siteId: string }> {
    await this.actingSite(p, id, 'lab managers of a site that owns the slide may unlink it from cases', [
      'lab_manager',
    ]);
    const c = await this.caseFor(p, which);
    const r = await this.db
      .deleteFrom('case_slides')
      .where('case_id', '=', c.id)
      .where('slide_id', '=', id)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0)
      throw new HttpError('NOT_FOUND', `the slide is not part of case ${c.accession}`);
    return { caseId: c.id, accession: c.accession, siteId: c.site_id };
  }

  private async lock(trx: Transaction<Database>, id: string) {
    let q = trx.selectFrom('slides').select(['id', 'name', 'site_id']).where('id', '=', id);
    if (locksRows(this.db)) q = q.forUpdate();
    return q.executeTakeFirst();
  }
}
