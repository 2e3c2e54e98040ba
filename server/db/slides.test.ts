import { PostgresAdapter, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTestDb } from '../../tests/helpers/test-db.ts';
import type { Manifest } from '../../protocol/index.ts';
import { smallManifest } from '../../tests/helpers/manifest.ts';
import type { Db } from './index.ts';
import { SlideRepo } from './slides.ts';

const tempDb = useTestDb('tessera-slides');

function manifest(id: string): Manifest {
  return smallManifest(id, { name: 'HE block A1' });
}

/** Make every insert of an owner fail, on SQLite or PostgreSQL; resolves with what undoes it. */
async function refuseOwners(db: Db): Promise<() => Promise<void>> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    await sql`create function refuse_owner() returns trigger language plpgsql as
      $$ begin raise exception 'owner refused'; end $$`.execute(db);
    await sql`create trigger refuse_owner before insert on slide_sites
      for each row execute function refuse_owner()`.execute(db);
    return async () => {
      await sql`drop trigger refuse_owner on slide_sites`.execute(db);
      await sql`drop function refuse_owner()`.execute(db);
    };
  }
  await sql`create trigger refuse_owner before insert on slide_sites
    begin select raise(abort, 'owner refused'); end`.execute(db);
  return async () => {
    await sql`drop trigger refuse_owner`.execute(db);
  };
}

describe('SlideRepo.register', () => {
  it('writes the slide and its owning site together', async () => {
    const id = 'a1'.repeat(16);
    await new SlideRepo(tempDb()).register(manifest(id), 'north', { name: 'Block A1 H&E' });
    const slide = await tempDb()
      .selectFrom('slides')
      .select(['site_id', 'stain'])
      .where('id', '=', id)
      .executeTakeFirst();
    expect(slide).toEqual({ site_id: 'north', stain: 'he' });
    const owners = await tempDb()
      .selectFrom('slide_sites')
      .select(['site_id', 'name'])
      .where('slide_id', '=', id)
      .execute();
    expect(owners).toEqual([{ site_id: 'north', name: 'Block A1 H&E' }]);
  });

  it('leaves no slide without its owner when the owner cannot be written', async () => {
    const id = 'b2'.repeat(16);
    const undo = await refuseOwners(tempDb());
    try {
      await expect(new SlideRepo(tempDb()).register(manifest(id), 'south', { name: 'B2' })).rejects.toThrow(
        /owner refused/,
      );
    } finally {
      await undo();
    }
    // Not a slide visible to no site: the slide's row went with the failed owner's.
    expect(
      await tempDb().selectFrom('slides').select('id').where('id', '=', id).executeTakeFirst(),
    ).toBeUndefined();
  });
});
