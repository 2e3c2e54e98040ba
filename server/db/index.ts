import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;
export type { Database } from './schema.ts';

/**
 * Open the database: PostgreSQL when a postgres:// URL is configured, else SQLite in the data folder
 * (WAL, so the CLI and the server can share it; synchronous = FULL, so a commit survives a power
 * cut). Migrations run on open.
 */
export async function openDb(opts: { databaseUrl: string; sqliteFile: string }): Promise<Db> {
  let db: Db;
  if (/^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
    db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: opts.databaseUrl, max: 10 }) }),
    });
  } else if (opts.databaseUrl !== '') {
    throw new Error('DATABASE_URL must be a postgres:// URL (or empty for SQLite)');
  } else {
    if (opts.sqliteFile !== ':memory:') mkdirSync(path.dirname(opts.sqliteFile), { recursive: true });
    const sqlite = new SQLite(opts.sqliteFile);
    sqlite.pragma('journal_mode = WAL');
    // WAL's default (NORMAL) may lose the last acknowledged transactions on a power cut; FULL syncs
    // the log on every commit, so an acknowledged annotation edit is on disk.
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  const { error, results } = await new Migrator({
    db,
    provider: migrationProvider,
    // Migrations numbered in parallel land in any order; each runs once whatever the order.
    allowUnorderedMigrations: true,
  }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(
      `database migration failed${failed ? ` at ${failed.migrationName}` : ''}: ${String(error)}`,
    );
  }
  return db;
}
