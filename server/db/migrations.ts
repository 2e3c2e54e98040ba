import { type Kysely, sql } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';

/**
 * Schema migrations, in order. Written once in Kysely's builder so the same migration runs on SQLite
 * and PostgreSQL. Never edit a migration that has shipped: add the next one.
 */
const migrations: Record<string, Migration> = {
  '0001_slides_jobs': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('slides')
        .addColumn('id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('source_format', 'varchar(32)', (c) => c.notNull())
        .addColumn('width', 'integer', (c) => c.notNull())
        .addColumn('height', 'integer', (c) => c.notNull())
        .addColumn('tile_size', 'integer', (c) => c.notNull())
        .addColumn('levels', 'integer', (c) => c.notNull())
        .addColumn('mpp_x', 'double precision')
        .addColumn('mpp_y', 'double precision')
        .addColumn('objective_power', 'double precision')
        .addColumn('associated', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('jobs')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('kind', 'varchar(32)', (c) => c.notNull())
        .addColumn('state', 'varchar(16)', (c) => c.notNull())
        .addColumn('percent', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('stage', 'text')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('slide_id', 'varchar(32)')
        .addColumn('error_code', 'varchar(32)')
        .addColumn('error_message', 'text')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('jobs_state').on('jobs').column('state').execute();
      await sql`select 1`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('jobs').execute();
      await db.schema.dropTable('slides').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
