import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { useTempSqlite } from '../../tests/helpers/db.ts';
import type { Manifest } from '../../protocol/index.ts';
import { smallManifest } from '../../tests/helpers/manifest.ts';
import { SlideRepo } from './slides.ts';

const tempDb = useTempSqlite('tessera-slides');

function manifest(id: string): Manifest {
  return smallManifest(id, { name: 'HE block A1' });
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
    await sql`create trigger refuse_owner before insert on slide_sites
      begin select raise(abort, 'owner refused'); end`.execute(tempDb());
    try {
      await expect(new SlideRepo(tempDb()).register(manifest(id), 'south', { name: 'B2' })).rejects.toThrow(
        /owner refused/,
      );
    } finally {
      await sql`drop trigger refuse_owner`.execute(tempDb());
    }
    // Not a slide visible to no site: the slide's row went with the failed owner's.
    expect(
      await tempDb().selectFrom('slides').select('id').where('id', '=', id).executeTakeFirst(),
    ).toBeUndefined();
  });
});
