import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from './index.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tessera-db-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite is opened for durability', () => {
  it('runs WAL with synchronous = FULL (2), so an acknowledged commit survives a power cut', async () => {
    const file = path.join(dir, 'tessera.db');
    // Reopened, as on every start after the first: this build's default for a WAL database is NORMAL (1).
    await (await openDb({ databaseUrl: '', sqliteFile: file })).destroy();
    const db = await openDb({ databaseUrl: '', sqliteFile: file });
    try {
      const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(db);
      expect(sync.rows[0]?.synchronous).toBe(2);
      const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
      expect(journal.rows[0]?.journal_mode).toBe('wal');
    } finally {
      await db.destroy();
    }
  });
});
