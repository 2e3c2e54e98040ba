import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../protocol/index.ts';
import { type Db, openDb } from './index.ts';
import { SlideRepo } from './slides.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tessera-slides-'));
let db: Db;
beforeAll(async () => {
  db = await openDb({ databaseUrl: '', sqliteFile: path.join(dir, 'tessera.db') });
});
afterAll(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function manifest(id: string): Manifest {
  return {
    formatVersion: 1,
    id,
    name: 'HE block A1',
    sourceFormat: 'generic-tiff',
    sourceFiles: [{ path: 'x.tif', bytes: 1, sha256: '0'.repeat(64) }],
    width: 300,
    height: 200,
    tileSize: 256,
    levels: 1,
    levelInfo: [{ index: 0, width: 300, height: 200, downsample: 1, tilesX: 2, tilesY: 1 }],
    sourceLevels: 1,
    mppX: null,
    mppY: null,
    objectivePower: null,
    associated: [],
    properties: {},
    rendering: null,
    files: {},
    jpegQuality: 90,
    createdAt: new Date().toISOString(),
  };
}

describe('SlideRepo.register', () => {
  it('writes the slide and its owning site together', async () => {
    const id = 'a1'.repeat(16);
    await new SlideRepo(db).register(manifest(id), 'north', { name: 'Block A1 H&E' });
    const slide = await db
      .selectFrom('slides')
      .select(['site_id', 'stain'])
      .where('id', '=', id)
      .executeTakeFirst();
    expect(slide).toEqual({ site_id: 'north', stain: 'he' });
    const owners = await db
      .selectFrom('slide_sites')
      .select(['site_id', 'name'])
      .where('slide_id', '=', id)
      .execute();
    expect(owners).toEqual([{ site_id: 'north', name: 'Block A1 H&E' }]);
  });

  it('leaves no slide without its owner when the owner cannot be written', async () => {
    const id = 'b2'.repeat(16);
    await sql`create trigger refuse_owner before insert on slide_sites
      begin select raise(abort, 'owner refused'); end`.execute(db);
    try {
      await expect(new SlideRepo(db).register(manifest(id), 'south', { name: 'B2' })).rejects.toThrow(
        /owner refused/,
      );
    } finally {
      await sql`drop trigger refuse_owner`.execute(db);
    }
    // Not a slide visible to no site: the slide's row went with the failed owner's.
    expect(
      await db.selectFrom('slides').select('id').where('id', '=', id).executeTakeFirst(),
    ).toBeUndefined();
  });
});
