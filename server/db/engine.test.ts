import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDb } from './index.ts';

describe('the database the tests run on', () => {
  it('is PostgreSQL in `npm run test:postgres` (each test its own database), SQLite otherwise', async () => {
    const a = await openDb({ databaseUrl: '', sqliteFile: ':memory:' });
    const b = await openDb({ databaseUrl: '', sqliteFile: ':memory:' });
    try {
      if (process.env.TESSERA_TEST_POSTGRES) {
        const v = await sql<{ version: string }>`select version() as version`.execute(a);
        expect(v.rows[0]?.version).toMatch(/^PostgreSQL \d+/);
        const [na, nb] = await Promise.all(
          [a, b].map(
            async (db) => (await sql<{ d: string }>`select current_database() as d`.execute(db)).rows[0]?.d,
          ),
        );
        expect(na).toMatch(/^t_[0-9a-f]{24}$/);
        expect(nb).not.toBe(na);
      } else {
        const v = await sql<{ v: string }>`select sqlite_version() as v`.execute(a);
        expect(v.rows[0]?.v).toMatch(/^3\.\d+/);
      }
      // Migrated from empty either way.
      const users = await a
        .selectFrom('users')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst();
      expect(Number(users?.n)).toBe(0);
    } finally {
      await Promise.all([a.destroy(), b.destroy()]);
    }
  });
});
