import type {
  AssociatedName,
  Manifest,
  SlideConversion,
  SlideDto,
  SourceFormat,
} from '../../protocol/index.ts';
import type { Db } from './index.ts';
import type { SlidesTable } from './schema.ts';
import { stainOf } from '../library/stain.ts';

/** A slide row as its own site sees it; access rules then adjust it (server/auth/access.ts). */
export function toDto(r: SlidesTable): SlideDto {
  return {
    id: r.id,
    name: r.name,
    sourceFormat: r.source_format as SourceFormat,
    width: r.width,
    height: r.height,
    tileSize: r.tile_size,
    levels: r.levels,
    mppX: r.mpp_x,
    mppY: r.mpp_y,
    objectivePower: r.objective_power,
    associated: JSON.parse(r.associated) as AssociatedName[],
    createdAt: r.created_at,
    siteId: r.site_id,
    access: 'site',
    deidentified: false,
    ...(r.status && r.status !== 'stored'
      ? {
          conversion: {
            state: r.status as SlideConversion['state'],
            percent: r.progress ?? 0,
            reason: r.status_reason,
          },
        }
      : {}),
  };
}

export class SlideRepo {
  constructor(private readonly db: Db) {}

  /**
   * Record a stored slide and, with a site, that this site owns it under `owner.name` (the name its
   * uploader gave it; default the manifest's). The same content registered again by another site
   * adds an owner: storage stays one copy, each site sees its own upload. slides.site_id is the
   * first owner (a slide without one gets the site now named).
   */
  async register(
    m: Manifest,
    siteId: string | null = null,
    owner: { name?: string; uploadedBy?: string | null } = {},
    provisional: { jobId: string; sourcePath: string | null } | null = null,
  ): Promise<void> {
    // One transaction: the slide, its owner and the site's name for it appear together or not at
    // all, and one commit (one disk sync) instead of four.
    await this.db.transaction().execute(async (trx) => {
      // Deleted while its conversion ran: the conversion's end does not bring it back.
      if (!provisional) {
        const gone = await trx
          .selectFrom('slide_withdrawals')
          .select('slide_id')
          .where('slide_id', '=', m.id)
          .executeTakeFirst();
        if (gone) return;
      } else await trx.deleteFrom('slide_withdrawals').where('slide_id', '=', m.id).execute();
      // What the manifest says of the pixels: written on insert, and again when the stored pyramid is
      // published over a slide served from its source (the label and overview among it).
      const pixels = {
        source_format: m.sourceFormat,
        width: m.width,
        height: m.height,
        tile_size: m.tileSize,
        levels: m.levels,
        mpp_x: m.mppX,
        mpp_y: m.mppY,
        objective_power: m.objectivePower,
        associated: JSON.stringify(m.associated),
      };
      await trx
        .insertInto('slides')
        .values({
          id: m.id,
          name: m.name,
          ...pixels,
          created_at: m.createdAt,
          site_id: siteId,
          stain: stainOf(m.name),
          ...(provisional
            ? {
                status: 'converting',
                progress: 0,
                job_id: provisional.jobId,
                source_path: provisional.sourcePath,
              }
            : {}),
        })
        .onConflict((oc) =>
          provisional
            ? oc.column('id').doNothing()
            : // Served from its source until now: stored from here on.
              oc.column('id').doUpdateSet({
                ...pixels,
                status: 'stored',
                progress: null,
                status_reason: null,
                job_id: null,
                source_path: null,
              }),
        )
        .execute();
      if (siteId === null) return;
      await trx
        .updateTable('slides')
        .set({ site_id: siteId })
        .where('id', '=', m.id)
        .where('site_id', 'is', null)
        .execute();
      await trx
        .insertInto('slide_sites')
        .values({
          slide_id: m.id,
          site_id: siteId,
          name: owner.name ?? m.name,
          created_at: new Date().toISOString(),
          uploaded_by: owner.uploadedBy ?? null,
          stain: stainOf(owner.name ?? m.name),
        })
        .onConflict((oc) => oc.columns(['slide_id', 'site_id']).doNothing())
        .execute();
    });
  }

  /** The sites that own a slide, first owner first. */
  async owners(id: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('slide_sites')
      .select('site_id')
      .where('slide_id', '=', id)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => r.site_id);
  }

  /** Rows of the given ids (any order). */
  async rows(ids: readonly string[]): Promise<SlidesTable[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom('slides').selectAll().where('id', 'in', ids).execute();
  }

  async row(id: string): Promise<SlidesTable | null> {
    return (await this.db.selectFrom('slides').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
  }

  async list(): Promise<SlideDto[]> {
    const rows = await this.db
      .selectFrom('slides')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .execute();
    return rows.map(toDto);
  }

  async get(id: string): Promise<SlideDto | null> {
    const r = await this.db.selectFrom('slides').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toDto(r) : null;
  }

  async ids(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('slides').select('id').execute();
    return new Set(rows.map((r) => r.id));
  }
}

/** Where a slide's conversion stands, as the server records it for a slide served from its source. */
export async function setConversion(
  db: Db,
  id: string,
  change: { status?: 'converting' | 'source' | 'failed'; progress?: number; reason?: string | null },
): Promise<void> {
  await db
    .updateTable('slides')
    .set({
      ...(change.status ? { status: change.status } : {}),
      ...(change.progress !== undefined ? { progress: change.progress } : {}),
      ...(change.reason !== undefined ? { status_reason: change.reason } : {}),
      ...(change.status === 'failed' ? { source_path: null } : {}),
    })
    .where('id', '=', id)
    .where('status', '!=', 'stored')
    .execute();
}
