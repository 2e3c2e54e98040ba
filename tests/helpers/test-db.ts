import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type Db, openDb } from '../../server/db/index.ts';

/**
 * A database of the calling test file's own, migrated, opened before its tests and closed after them
 * (its folder removed); the returned function gives it. SQLite in a temporary folder, or in the
 * PostgreSQL run a PostgreSQL database of its own (openDb's test database for that folder).
 */
export function useTestDb(prefix: string): () => Db {
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
