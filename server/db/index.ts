import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresAdapter, PostgresDialect, SqliteDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrationProvider } from './migrations.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

/**
 * On PostgreSQL rows read to be changed must be locked (`SELECT … FOR UPDATE`): at its default
 * isolation two transactions may read the same version and both write the next one (a lost
 * update). SQLite runs one writer at a time, and has no FOR UPDATE.
 */
export function locksRows(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/** PostgreSQL's unique_violation: a concurrent transaction inserted the same key first. */
export function isUniqueViolation(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === '23505';
}
export type { Database } from './schema.ts';

/**
 * Open the database: PostgreSQL when a postgres:// URL is configured, else SQLite in the data folder
 * (WAL, so the CLI and the server can share it; synchronous = FULL, so a commit survives a power
 * cut). Migrations run on open.
 */
export async function openDb(opts: { databaseUrl: string; sqliteFile: string }): Promise<Db> {
  let db: Db;
  const databaseUrl = opts.databaseUrl || (await testDatabaseFor(opts.sqliteFile));
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: databaseUrl, max: 10 }) }),
    });
  } else if (databaseUrl !== '') {
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

/**
 * For running the test suite on PostgreSQL (`npm run test:postgres`): with
 * TESSERA_TEST_POSTGRES set to a server's admin URL, every SQLite file a test would open maps to a
 * database of its own on that server (created on first use; ":memory:" gets a new one each time),
 * so processes sharing a data folder share a database, as they would share the SQLite file.
 * Returns '' (SQLite) when the variable is not set.
 */
async function testDatabaseFor(sqliteFile: string): Promise<string> {
  const admin = process.env.TESSERA_TEST_POSTGRES;
  if (!admin) return '';
  const key = sqliteFile === ':memory:' ? randomUUID() : path.resolve(sqliteFile);
  const name = `t_${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      try {
        await client.query(`create database ${name}`);
      } catch (e) {
        // Another process of the same data folder created it first.
        if ((e as { code?: string }).code !== '42P04') throw e;
      }
    }
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}
