import type { AssociatedName, Manifest, SlideDto, SourceFormat } from '../../protocol/index.ts';
import type { Db } from './index.ts';
import type { SlidesTable } from './schema.ts';

function toDto(r: SlidesTable): SlideDto {
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
  };
}

export class SlideRepo {
  constructor(private readonly db: Db) {}

  /** Record a stored slide; a second registration of the same content is a no-op. */
  async register(m: Manifest): Promise<void> {
    await this.db
      .insertInto('slides')
      .values({
        id: m.id,
        name: m.name,
        source_format: m.sourceFormat,
        width: m.width,
        height: m.height,
        tile_size: m.tileSize,
        levels: m.levels,
        mpp_x: m.mppX,
        mpp_y: m.mppY,
        objective_power: m.objectivePower,
        associated: JSON.stringify(m.associated),
        created_at: m.createdAt,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
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
