import { randomUUID } from 'node:crypto';
import {
  type CreateShareRequest,
  type ShareDto,
  type SlideDto,
  permissionsOf,
} from '../../protocol/index.ts';
import type { Db } from '../db/index.ts';
import type { SharesTable, SlideSitesTable, SlidesTable } from '../db/schema.ts';
import { toDto as slideRowToDto } from '../db/slides.ts';
import { HttpError } from '../http/errors.ts';
import type { Principal } from './auth.ts';

/**
 * How one user may see one slide. `access: 'site'` means the user's site owns the slide (uploaded
 * it; admins have it on every slide): the grant that write rights hang on.
 */
export interface SlideGrant {
  access: 'site' | 'share';
  deidentified: boolean;
  studyCode: string | null;
  /** When the share that gives access was made (de-identified slides show this, not the scan date). */
  sharedAt: string | null;
  /**
   * The owning site the user sees the slide through: their own for an owner, the sharing site's for
   * a share, the first owner's for admins. Audit entries of what they do go to this site.
   */
  siteId: string | null;
  /** The name that site gave the slide and when it got it (another owning site's are never shown). */
  name?: string;
  createdAt?: string;
}

/** An owning site of a slide and the name it uploaded it under. */
export type SlideOwner = Pick<SlideSitesTable, 'slide_id' | 'site_id' | 'name' | 'created_at'>;
/** A share row, with the site of the user who made it when known. */
type ShareRow = SharesTable & { creator_site_id?: string | null };

const CACHE_MS = 5_000;
const MAX_SHARE_DAYS = 366;
/** Associated images that may show a patient's name or barcode. */
const IDENTIFYING_IMAGES = new Set(['label', 'macro']);

/**
 * Vendor metadata a de-identified viewer still gets: optics and geometry only. Everything else
 * (names, barcodes, dates, free-text descriptions, file names) is withheld.
 */
const TECHNICAL_KEY =
  /(mpp|objective|magnification|appmag|resolution|physical.?size|bits|channel|compression|quality|tile|level-count|bounds|vendor$|scanner.?model)/i;
const IDENTIFYING_KEY =
  /(name|patient|barcode|date|time|label|file|user|operator|accession|description|comment|case|slide.?id|specimen|serial|path)/i;
const DATE_VALUE =
  /\b(19|20)\d\d[-/.](0?[1-9]|1[0-2])[-/.]\d{1,2}\b|\b\d{1,2}[-/.]\d{1,2}[-/.](19|20)?\d\d\b/;

export function scrubProperties(props: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(props)) {
    if (!TECHNICAL_KEY.test(k) || IDENTIFYING_KEY.test(k)) continue;
    if (DATE_VALUE.test(v) || v.length > 64) continue;
    out[k] = v;
  }
  return out;
}

/** A slide row as `grant` lets its user see it. */
export function presentSlide(row: SlidesTable, grant: SlideGrant): SlideDto {
  const dto = slideRowToDto(seenThrough(row, grant));
  dto.access = grant.access;
  if (!grant.deidentified) return dto;
  return {
    ...dto,
    name: grant.studyCode ?? `Shared slide ${row.id.slice(0, 8)}`,
    associated: dto.associated.filter((a) => !IDENTIFYING_IMAGES.has(a)),
    createdAt: grant.sharedAt ?? dto.createdAt,
    deidentified: true,
    // A failure's reason may name the file.
    ...(dto.conversion
      ? { conversion: { ...dto.conversion, reason: dto.conversion.reason && 'the conversion failed' } }
      : {}),
  };
}

/** The row with the name and site of the owning site `grant` sees the slide through. */
function seenThrough(row: SlidesTable, grant: SlideGrant): SlidesTable {
  return {
    ...row,
    name: grant.name ?? row.name,
    created_at: grant.createdAt ?? row.created_at,
    site_id: grant.siteId,
  };
}

export function isIdentifyingImage(name: string): boolean {
  return IDENTIFYING_IMAGES.has(name);
}

function toShareDto(r: SharesTable & { user_name: string | null; site_name: string | null }): ShareDto {
  return {
    id: r.id,
    slideId: r.slide_id,
    grantee:
      r.grantee_user_id !== null
        ? { kind: 'user', id: r.grantee_user_id, name: r.user_name ?? r.grantee_user_id }
        : { kind: 'site', id: r.grantee_site_id!, name: r.site_name ?? r.grantee_site_id! },
    deidentified: r.deidentified !== 0,
    studyCode: r.study_code,
    expiresAt: r.expires_at,
    createdBy: r.created_by,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

/**
 * Who sees which slide: admins every slide; everyone the slides of their own site; other sites'
 * slides only through a live share (to the user or to their whole site). A user with several
 * shares of one slide sees it identified if any of them is identified.
 */
export class Access {
  private readonly cache = new Map<string, { grant: SlideGrant | null; until: number }>();

  constructor(
    private readonly db: Db,
    /** Told when a share is revoked, so open connections are re-checked at once. */
    private readonly notices: { changed(why: string): void } | null = null,
  ) {}

  forgetAll(): void {
    this.cache.clear();
  }

  /**
   * `owners`: the slide_sites rows of the slide (any others are ignored); without them only the
   * first owner (slides.site_id) counts as an owner.
   */
  grantFor(
    p: Principal,
    row: SlidesTable,
    shares: readonly ShareRow[],
    owners: readonly SlideOwner[] = [],
  ): SlideGrant | null {
    const mine = owners.filter((o) => o.slide_id === row.id);
    const at = (site: string | null): { siteId: string | null; name: string; createdAt: string } => {
      const o = mine.find((x) => x.site_id === site);
      return { siteId: site, name: o?.name ?? row.name, createdAt: o?.created_at ?? row.created_at };
    };
    const base = { ...at(row.site_id), studyCode: null, sharedAt: null };
    // A scoped token (an algorithm's job) sees its one slide as its scope says, and nothing else.
    if (p.scope) {
      if (p.scope.slideId !== row.id) return null;
      return {
        ...at(p.scope.siteId),
        access: 'share',
        deidentified: p.scope.deidentified,
        studyCode: p.scope.studyCode,
        sharedAt: p.scope.issuedAt,
      };
    }
    if (p.user.role === 'admin') return { ...base, access: 'site', deidentified: false };
    if (
      (row.site_id !== null && row.site_id === p.user.siteId) ||
      mine.some((o) => o.site_id === p.user.siteId)
    )
      return { ...base, ...at(p.user.siteId), access: 'site', deidentified: false };
    const now = new Date().toISOString();
    const live = shares
      .filter(
        (s) =>
          s.slide_id === row.id &&
          s.revoked_at === null &&
          s.expires_at > now &&
          (s.grantee_user_id === p.user.id || s.grantee_site_id === p.user.siteId),
      )
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    if (live.length === 0) return null;
    const identified = live.find((s) => s.deidentified === 0);
    const s = identified ?? live[0]!;
    // Seen through the site that shared it, when that site owns it (its name, its audit trail).
    const via = mine.find((o) => o.site_id === s.creator_site_id);
    return {
      ...base,
      ...(via ? at(via.site_id) : {}),
      access: 'share',
      deidentified: identified === undefined,
      studyCode: s.study_code,
      sharedAt: s.created_at,
    };
  }

  private liveSharesFor(p: Principal, slideIds?: readonly string[]): Promise<ShareRow[]> {
    let q = this.db
      .selectFrom('shares')
      .leftJoin('users as creator', 'creator.id', 'shares.created_by')
      .selectAll('shares')
      .select('creator.site_id as creator_site_id')
      .where('shares.revoked_at', 'is', null)
      .where('shares.expires_at', '>', new Date().toISOString())
      .where((eb) =>
        eb.or([
          eb('shares.grantee_user_id', '=', p.user.id),
          eb('shares.grantee_site_id', '=', p.user.siteId),
        ]),
      );
    if (slideIds) q = q.where('shares.slide_id', 'in', slideIds);
    return q.execute();
  }

  /** The owning sites of the given slides, with their names. */
  async owners(slideIds: readonly string[]): Promise<SlideOwner[]> {
    if (slideIds.length === 0) return [];
    return this.db
      .selectFrom('slide_sites')
      .select(['slide_id', 'site_id', 'name', 'created_at'])
      .where('slide_id', 'in', slideIds)
      .execute();
  }

  /**
   * The grant, with the slide row as `p` sees it (name and site_id those of the owning site the grant
   * goes through: `p`'s own for an owner), or null when the slide is unknown or not visible to `p`.
   */
  async slide(p: Principal, id: string): Promise<{ row: SlidesTable; grant: SlideGrant } | null> {
    const row = await this.db.selectFrom('slides').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const grant = this.grantFor(p, row, await this.liveSharesFor(p, [id]), await this.owners([id]));
    return grant ? { row: p.user.role === 'admin' ? row : seenThrough(row, grant), grant } : null;
  }

  /**
   * Whether `p`'s site owns the slide (uploaded it): what review write rights and sharing need. A
   * share, however identified, is not ownership; admins own nothing by this test.
   */
  async ownsSlide(p: Principal, row: Pick<SlidesTable, 'id'>): Promise<boolean> {
    const own = await this.db
      .selectFrom('slides')
      .leftJoin('slide_sites', (j) =>
        j.onRef('slide_sites.slide_id', '=', 'slides.id').on('slide_sites.site_id', '=', p.user.siteId),
      )
      .select(['slides.site_id', 'slide_sites.site_id as owner'])
      .where('slides.id', '=', row.id)
      .executeTakeFirst();
    return !!own && (own.owner !== null || own.site_id === p.user.siteId);
  }

  /** The hot path (tiles): the grant alone, cached for a few seconds per user and slide. */
  async grant(p: Principal, id: string): Promise<SlideGrant | null> {
    const key = `${p.user.id}|${id}`;
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.grant;
    const grant = (await this.slide(p, id))?.grant ?? null;
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(key, { grant, until: now + CACHE_MS });
    return grant;
  }

  /**
   * Fresh grants (no cache) for many users and slides in two queries: the periodic re-check of open
   * review connections.
   */
  async grantsFor(pairs: readonly { p: Principal; slideId: string }[]): Promise<(SlideGrant | null)[]> {
    const ids = [...new Set(pairs.map((x) => x.slideId))];
    if (ids.length === 0) return [];
    const rows = new Map(
      (await this.db.selectFrom('slides').selectAll().where('id', 'in', ids).execute()).map((r) => [r.id, r]),
    );
    const shares = await this.db
      .selectFrom('shares')
      .selectAll()
      .where('slide_id', 'in', ids)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', new Date().toISOString())
      .execute();
    const owners = await this.owners(ids);
    return pairs.map(({ p, slideId }) => {
      const row = rows.get(slideId);
      return row ? this.grantFor(p, row, shares, owners) : null;
    });
  }

  /** grant() when answered in the last seconds (null: not visible); undefined when it must be looked up. */
  cachedGrant(p: Principal, id: string): SlideGrant | null | undefined {
    const hit = this.cache.get(`${p.user.id}|${id}`);
    return hit && hit.until > Date.now() ? hit.grant : undefined;
  }

  /**
   * The slides `p` sees only through a live share (not owned by their site), with the grant each
   * is seen through. Admins own everything: none. Bounded by the user's live shares.
   */
  async sharedWith(p: Principal): Promise<{ row: SlidesTable; grant: SlideGrant; owners: SlideOwner[] }[]> {
    if (p.user.role === 'admin') return [];
    if (p.scope) {
      const row = await this.db
        .selectFrom('slides')
        .selectAll()
        .where('id', '=', p.scope.slideId)
        .executeTakeFirst();
      if (!row) return [];
      const owners = await this.owners([row.id]);
      const grant = this.grantFor(p, row, [], owners);
      return grant ? [{ row, grant, owners }] : [];
    }
    const shares = await this.liveSharesFor(p);
    const ids = [...new Set(shares.map((s) => s.slide_id))];
    const out: { row: SlidesTable; grant: SlideGrant; owners: SlideOwner[] }[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = await this.db.selectFrom('slides').selectAll().where('id', 'in', chunk).execute();
      const owners = await this.owners(chunk);
      for (const row of rows) {
        const mine = owners.filter((o) => o.slide_id === row.id);
        const g = this.grantFor(p, row, shares, mine);
        if (g?.access === 'share') out.push({ row, grant: g, owners: mine });
      }
    }
    return out;
  }

  /** Every slide `p` may see, as they may see it; newest first. */
  async visibleSlides(p: Principal): Promise<SlideDto[]> {
    if (p.user.role === 'admin') {
      const rows = await this.db.selectFrom('slides').selectAll().orderBy('created_at', 'desc').execute();
      return rows.map((r) => slideRowToDto(r));
    }
    const site = p.user.siteId;
    const own = await this.db
      .selectFrom('slides')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('site_id', '=', site),
          eb(
            'id',
            'in',
            eb.selectFrom('slide_sites').select('slide_id').where('slide_sites.site_id', '=', site),
          ),
        ]),
      )
      .execute();
    const shares = await this.liveSharesFor(p);
    const ownIds = new Set(own.map((r) => r.id));
    const sharedIds = [...new Set(shares.map((s) => s.slide_id))].filter((id) => !ownIds.has(id));
    const shared = sharedIds.length
      ? await this.db.selectFrom('slides').selectAll().where('id', 'in', sharedIds).execute()
      : [];
    const rows = [...own, ...shared];
    const owners = await this.owners(rows.map((r) => r.id));
    const out: SlideDto[] = [];
    for (const row of rows) {
      const g = this.grantFor(p, row, shares, owners);
      if (g) out.push(presentSlide(row, g));
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  }

  /** Whether `p` may share (and see the shares of) a slide: its own site's, for roles that share. */
  canShare(p: Principal, row: SlidesTable): boolean {
    if (!permissionsOf(p.user.role).share) return false;
    return p.user.role === 'admin' || (row.site_id !== null && row.site_id === p.user.siteId);
  }

  /**
   * The shares of a slide; with `viewer` (not an admin), only those its site manages: the ones made
   * at its site, and, for the first owner, those made by nobody who owns the slide (admins). Another
   * owning site's shares are its own business.
   */
  async listShares(slideId: string, viewer?: Principal): Promise<ShareDto[]> {
    const rows = await this.sharesQuery()
      .leftJoin('users as creator', 'creator.id', 'shares.created_by')
      .select('creator.site_id as creator_site_id')
      .where('shares.slide_id', '=', slideId)
      .orderBy('shares.created_at', 'desc')
      .execute();
    if (!viewer || viewer.user.role === 'admin') return rows.map(toShareDto);
    const site = viewer.user.siteId;
    const slide = await this.db
      .selectFrom('slides')
      .select('site_id')
      .where('id', '=', slideId)
      .executeTakeFirst();
    const owners = new Set((await this.owners([slideId])).map((o) => o.site_id));
    if (slide?.site_id) owners.add(slide.site_id);
    return rows
      .filter(
        (r) =>
          r.creator_site_id === site ||
          (slide?.site_id === site && (r.creator_site_id === null || !owners.has(r.creator_site_id))),
      )
      .map(toShareDto);
  }

  async share(id: string): Promise<ShareDto | null> {
    const r = await this.sharesQuery().where('shares.id', '=', id).executeTakeFirst();
    return r ? toShareDto(r) : null;
  }

  async createShare(p: Principal, row: SlidesTable, req: CreateShareRequest): Promise<ShareDto> {
    const expires = new Date(req.expiresAt);
    const now = Date.now();
    if (!(expires.getTime() > now))
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected an expiry in the future but received ${req.expiresAt}`,
      );
    if (expires.getTime() > now + MAX_SHARE_DAYS * 86_400_000)
      throw new HttpError(
        'INVALID_PARAMETER',
        `Expected an expiry within ${MAX_SHARE_DAYS} days but received ${req.expiresAt}`,
      );
    if (req.userId !== undefined) {
      const u = await this.db
        .selectFrom('users')
        .select('id')
        .where('id', '=', req.userId)
        .executeTakeFirst();
      if (!u) throw new HttpError('INVALID_PARAMETER', `no user ${req.userId}`);
    }
    if (req.siteId !== undefined) {
      const s = await this.db
        .selectFrom('sites')
        .select('id')
        .where('id', '=', req.siteId)
        .executeTakeFirst();
      if (!s) throw new HttpError('INVALID_PARAMETER', `no site ${req.siteId}`);
    }
    const id = randomUUID();
    await this.db
      .insertInto('shares')
      .values({
        id,
        slide_id: row.id,
        grantee_user_id: req.userId ?? null,
        grantee_site_id: req.siteId ?? null,
        deidentified: req.deidentified ? 1 : 0,
        study_code: req.studyCode ?? null,
        expires_at: expires.toISOString(),
        created_by: p.user.id,
        created_at: new Date().toISOString(),
        revoked_at: null,
        revoked_by: null,
      })
      .execute();
    this.forgetAll();
    return (await this.share(id))!;
  }

  async revokeShare(p: Principal, id: string): Promise<ShareDto | null> {
    await this.db
      .updateTable('shares')
      .set({ revoked_at: new Date().toISOString(), revoked_by: p.user.id })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .execute();
    this.forgetAll();
    this.notices?.changed('share revoked');
    return this.share(id);
  }

  private sharesQuery() {
    return this.db
      .selectFrom('shares')
      .leftJoin('users', 'users.id', 'shares.grantee_user_id')
      .leftJoin('sites', 'sites.id', 'shares.grantee_site_id')
      .selectAll('shares')
      .select(['users.display_name as user_name', 'sites.name as site_name']);
  }
}
