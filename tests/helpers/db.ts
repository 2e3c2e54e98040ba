import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type Db, openDb } from '../../server/db/index.ts';

/**
 * A SQLite database of its own in a temporary folder for the calling test file, migrated, opened
 * before its tests and removed after them; the returned function gives it.
 */
export function useTempSqlite(prefix: string): () => Db {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  let db: Db | undefined;
  beforeAll(async () => {
    db = await openDb({ databaseUrl: '', sqliteFile: path.join(dir, 'tessera.db') });
  });
  afterAll(async () => {
    await db?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    if (!db) throw new Error('the database opens before the tests run');
    return db;
  };
}
