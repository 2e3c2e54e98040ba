import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import { stainOf } from '../library/stain.ts';

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
  '0002_accounts_shares_audit': {
    async up(db: Kysely<unknown>): Promise<void> {
      const pg = db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
      await db.schema
        .createTable('sites')
        .addColumn('id', 'varchar(48)', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('role', 'varchar(16)', (c) => c.notNull())
        .addColumn('site_id', 'varchar(48)', (c) => c.notNull().references('sites.id'))
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey()) // sha256 of the cookie value
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id'))
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .execute();
      await db.schema
        .createTable('tokens')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id'))
        .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('label', 'text')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('expires_at', 'varchar(32)')
        .addColumn('revoked_at', 'varchar(32)')
        .execute();
      await db.schema
        .createTable('shares')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('grantee_user_id', 'varchar(36)', (c) => c.references('users.id'))
        .addColumn('grantee_site_id', 'varchar(48)', (c) => c.references('sites.id'))
        .addColumn('deidentified', 'integer', (c) => c.notNull())
        .addColumn('study_code', 'text')
        .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('created_by', 'varchar(36)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('revoked_at', 'varchar(32)')
        .addColumn('revoked_by', 'varchar(36)')
        .execute();
      await db.schema.createIndex('shares_slide').on('shares').column('slide_id').execute();
      await db.schema
        .createTable('audit')
        .addColumn('id', pg ? 'bigserial' : 'integer', (c) =>
          pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('at', 'varchar(32)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)')
        .addColumn('user_name', 'varchar(64)')
        .addColumn('site_id', 'varchar(48)')
        .addColumn('action', 'varchar(48)', (c) => c.notNull())
        .addColumn('target_type', 'varchar(32)')
        .addColumn('target_id', 'varchar(64)')
        .addColumn('target_site_id', 'varchar(48)')
        .addColumn('detail', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('ip', 'text')
        .execute();
      await db.schema.createIndex('audit_at').on('audit').column('at').execute();
      // Append-only, enforced by the database itself: no UPDATE or DELETE, whoever asks.
      if (pg) {
        await sql`create function audit_append_only() returns trigger language plpgsql as $$
          begin raise exception 'audit log is append-only'; end $$`.execute(db);
        await sql`create trigger audit_no_change before update or delete on audit
          for each row execute function audit_append_only()`.execute(db);
      } else {
        await sql`create trigger audit_no_update before update on audit
          begin select raise(abort, 'audit log is append-only'); end`.execute(db);
        await sql`create trigger audit_no_delete before delete on audit
          begin select raise(abort, 'audit log is append-only'); end`.execute(db);
      }
      await db.schema.alterTable('slides').addColumn('site_id', 'varchar(48)').execute();
      await db.schema.alterTable('jobs').addColumn('created_by', 'varchar(36)').execute();
      await db.schema.alterTable('jobs').addColumn('site_id', 'varchar(48)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of ['audit', 'shares', 'tokens', 'sessions', 'users', 'sites'])
        await db.schema.dropTable(t).execute();
    },
  },
  '0003_annotations_reviews': {
    async up(db: Kysely<unknown>): Promise<void> {
      const pg = db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
      await db.schema
        .createTable('annotations')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('author_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('doc', 'text', (c) => c.notNull()) // AnnotationDto as JSON
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('annotations_slide').on('annotations').column('slide_id').execute();
      await db.schema
        .createTable('annotation_ops')
        .addColumn('seq', pg ? 'bigserial' : 'integer', (c) =>
          pg ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('op_id', 'varchar(36)', (c) => c.notNull().unique())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('annotation_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('type', 'varchar(16)', (c) => c.notNull())
        .addColumn('after', 'text') // AnnotationDto after the op, null when deleted
        .addColumn('before', 'text')
        .addColumn('at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('annotation_ops_slide_seq')
        .on('annotation_ops')
        .columns(['slide_id', 'seq'])
        .execute();
      await db.schema
        .createTable('review_sessions')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('host_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('status', 'varchar(8)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('closed_at', 'varchar(32)')
        .execute();
      await db.schema
        .createTable('session_invites')
        .addColumn('session_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('invited_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('session_invites_pk', ['session_id', 'user_id'])
        .execute();
      await db.schema
        .createTable('chat_messages')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('session_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('chat_session').on('chat_messages').columns(['session_id', 'at']).execute();
      await db.schema
        .createTable('opinions')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('session_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('diagnosis', 'text', (c) => c.notNull())
        .addColumn('confidence', 'varchar(16)', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of [
        'opinions',
        'chat_messages',
        'session_invites',
        'review_sessions',
        'annotation_ops',
        'annotations',
      ])
        await db.schema.dropTable(t).execute();
    },
  },
  '0004_cases_workload': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('cases')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('accession', 'varchar(40)', (c) => c.notNull().unique())
        .addColumn('site_id', 'varchar(48)', (c) => c.notNull())
        .addColumn('specimen_type', 'varchar(40)', (c) => c.notNull())
        .addColumn('subspecialty', 'varchar(24)', (c) => c.notNull())
        .addColumn('priority', 'varchar(8)', (c) => c.notNull())
        .addColumn('received_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('target_days', 'integer', (c) => c.notNull())
        .addColumn('status', 'varchar(32)', (c) => c.notNull())
        .addColumn('assigned_to', 'varchar(36)')
        .addColumn('reported_at', 'varchar(32)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('cases_status').on('cases').column('status').execute();
      await db.schema.createIndex('cases_assigned').on('cases').column('assigned_to').execute();
      await db.schema
        .createTable('case_slides')
        .addColumn('case_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('case_slides_pk', ['case_id', 'slide_id'])
        .execute();
      await db.schema
        .createTable('pathologist_profiles')
        .addColumn('user_id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('subspecialties', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('weekly_capacity', 'double precision', (c) => c.notNull().defaultTo(20))
        .addColumn('on_leave', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('workload_rules')
        .addColumn('specimen_type', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('points', 'double precision', (c) => c.notNull())
        .execute();
      const rules: [string, number][] = [
        ['biopsy', 1],
        ['resection', 3],
        ['cytology', 1],
        ['excision', 2],
        ['frozen_section', 2],
        ['consult', 2],
        ['*per_slide', 0.25],
        ['*fallback', 1.5],
      ];
      for (const [t, p] of rules)
        await sql`insert into workload_rules (specimen_type, points) values (${t}, ${p})`.execute(db);
      await db.schema
        .createTable('second_opinions')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('case_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('requested_by', 'varchar(36)', (c) => c.notNull())
        .addColumn('specialist_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('session_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('question', 'text', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const t of ['second_opinions', 'workload_rules', 'pathologist_profiles', 'case_slides', 'cases'])
        await db.schema.dropTable(t).execute();
    },
  },
  '0005_slide_sites': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Storage is content-addressed, so one slide may have been uploaded by several sites: each owns
      // it under the name it gave it. slides.site_id stays the first owner.
      await db.schema
        .createTable('slide_sites')
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('site_id', 'varchar(48)', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('uploaded_by', 'varchar(36)')
        .addPrimaryKeyConstraint('slide_sites_pk', ['slide_id', 'site_id'])
        .execute();
      await db.schema.createIndex('slide_sites_site').on('slide_sites').column('site_id').execute();
      await sql`insert into slide_sites (slide_id, site_id, name, created_at, uploaded_by)
        select s.id, s.site_id, s.name, s.created_at,
          (select j.created_by from jobs j
            where j.slide_id = s.id and j.site_id = s.site_id and j.state = 'done'
            order by j.created_at limit 1)
        from slides s where s.site_id is not null`.execute(db);
      await db.schema.createIndex('jobs_slide').on('jobs').column('slide_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('jobs_slide').execute();
      await db.schema.dropTable('slide_sites').execute();
    },
  },
  '0006_annotation_site': {
    async up(db: Kysely<unknown>): Promise<void> {
      // A slide owned by several sites (the same file uploaded at each) keeps one set of annotations
      // per owning site: one site's reading is never shown to another. Sessions annotate in the set of
      // the site that hosts them. Existing rows belong to the slide's first owner.
      for (const table of ['annotations', 'annotation_ops', 'review_sessions'])
        await db.schema.alterTable(table).addColumn('site_id', 'varchar(48)').execute();
      for (const table of ['annotations', 'annotation_ops', 'review_sessions'])
        await sql`update ${sql.table(table)} set site_id = (
          select s.site_id from slides s where s.id = ${sql.ref(`${table}.slide_id`)})`.execute(db);
      await db.schema
        .createIndex('annotations_slide_site')
        .on('annotations')
        // With id last, a scope's annotations are read in key order a page at a time (snapshots).
        .columns(['slide_id', 'site_id', 'id'])
        .execute();
      await db.schema
        .createIndex('annotation_ops_slide_site_seq')
        .on('annotation_ops')
        .columns(['slide_id', 'site_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('annotation_ops_slide_site_seq').execute();
      await db.schema.dropIndex('annotations_slide_site').execute();
      for (const table of ['annotations', 'annotation_ops', 'review_sessions'])
        await db.schema.alterTable(table).dropColumn('site_id').execute();
    },
  },
  '0007_annotation_classes': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The classes offered for annotations, kept by administrators. The seed is the protocol's
      // defaults (protocol/palette.ts), legible on H&E (server/review/classes.ts states the rule);
      // the colours are written out here so the migration never changes with the code.
      await db.schema
        .createTable('annotation_classes')
        .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('color', 'varchar(7)', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .execute();
      const seed: [string, string][] = [
        ['Tumor', '#f50000'],
        ['Stroma', '#008f00'],
        ['Necrosis', '#c26000'],
        ['Immune cells', '#0073ff'],
        ['Other', '#8b7b00'],
      ];
      for (const [i, [name, color]] of seed.entries())
        await sql`insert into annotation_classes (name, color, position) values (${name}, ${color}, ${i})`.execute(
          db,
        );
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('annotation_classes').execute();
    },
  },
  '0010_balance_rejections': {
    async up(db: Kysely<unknown>): Promise<void> {
      // A balancing suggestion a lab manager turned down: not offered again for the case while the
      // case is as it was then (`situation`: its assignee, status and priority).
      await db.schema
        .createTable('balance_rejections')
        .addColumn('case_id', 'varchar(36)', (c) => c.primaryKey().references('cases.id').onDelete('cascade'))
        .addColumn('situation', 'varchar(200)', (c) => c.notNull())
        .addColumn('rejected_by', 'varchar(36)', (c) => c.notNull())
        .addColumn('rejected_at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('balance_rejections').execute();
    },
  },
  '0011_leave_periods': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Leave as dated periods (from, to; `to` null: until further notice), replacing the profile's
      // on/off flag: a pathologist is on leave on the days a period covers. A flag set now becomes a
      // period from today until further notice.
      await db.schema
        .createTable('leave_periods')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id'))
        .addColumn('starts_on', 'varchar(10)', (c) => c.notNull())
        .addColumn('ends_on', 'varchar(10)')
        .addColumn('created_by', 'varchar(36)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('leave_periods_user').on('leave_periods').column('user_id').execute();
      const now = new Date();
      const today = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
      const away = await sql<{
        user_id: string;
      }>`select user_id from pathologist_profiles where on_leave <> 0`.execute(db);
      for (const r of away.rows)
        await sql`insert into leave_periods (id, user_id, starts_on, ends_on, created_by, created_at)
          values (${randomUUID()}, ${r.user_id}, ${today}, ${null}, ${null}, ${now.toISOString()})`.execute(
          db,
        );
      await db.schema.alterTable('pathologist_profiles').dropColumn('on_leave').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable('pathologist_profiles')
        .addColumn('on_leave', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.dropTable('leave_periods').execute();
    },
  },
  '0012_invite_responses': {
    async up(db: Kysely<unknown>): Promise<void> {
      // An invitee's answer to an invitation (accepted, declined) and when, for their inbox.
      await db.schema.alterTable('session_invites').addColumn('response', 'varchar(16)').execute();
      await db.schema.alterTable('session_invites').addColumn('responded_at', 'varchar(32)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('session_invites').dropColumn('responded_at').execute();
      await db.schema.alterTable('session_invites').dropColumn('response').execute();
    },
  },
  '0013_slide_reads_report_undo': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Which slides each user has opened in the viewer: a case's first unread slide is where
      // "Start review" takes them.
      await db.schema
        .createTable('slide_reads')
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('first_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('last_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('slide_reads_pk', ['user_id', 'slide_id'])
        .execute();
      // A "Mark reported" that may still be undone: by whom, the status it came from, and the
      // case's updated_at it left (any later change to the case makes the undo stale).
      await db.schema
        .createTable('case_report_undo')
        .addColumn('case_id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('reported_by', 'varchar(36)', (c) => c.notNull())
        .addColumn('previous_status', 'varchar(32)', (c) => c.notNull())
        .addColumn('case_updated_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      // A case's history on its page: its audit entries.
      await db.schema.createIndex('audit_target').on('audit').columns(['target_id', 'id']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('audit_target').execute();
      await db.schema.dropTable('case_report_undo').execute();
      await db.schema.dropTable('slide_reads').execute();
    },
  },
  '0014_library_paging': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The library, the case list and the audit trail page in the database (keyset paging), so each
      // page is an index range whatever the archive's size. Names sort case-blind over ASCII and
      // byte-wise otherwise, the same on both engines (lower() of a "C" collation in PostgreSQL is
      // SQLite's lower()), so the server can merge shared slides into a page in the same order.
      const pg = db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
      const key = (col: string): string => (pg ? `(lower(${col} collate "C"))` : `lower(${col})`);
      // The stain a site's name of a slide states (server/library/stain.ts), for filtering.
      await db.schema.alterTable('slide_sites').addColumn('stain', 'varchar(16)').execute();
      await db.schema.alterTable('slides').addColumn('stain', 'varchar(16)').execute();
      const backfill = async (db: Kysely<unknown>): Promise<void> => {
        for (const table of ['slide_sites', 'slides'] as const) {
          const idCol = table === 'slides' ? 'id' : 'slide_id';
          const rows = await sql<{
            k: string;
            site: string | null;
            name: string;
          }>`select ${sql.ref(idCol)} as k,
          site_id as site, name from ${sql.table(table)}`.execute(db);
          for (const r of rows.rows) {
            const stain = stainOf(r.name);
            if (stain === null) continue;
            if (table === 'slides')
              await sql`update slides set stain = ${stain} where id = ${r.k}`.execute(db);
            else
              await sql`update slide_sites set stain = ${stain} where slide_id = ${r.k} and site_id = ${r.site}`.execute(
                db,
              );
          }
        }
      };
      // One transaction on SQLite too (PostgreSQL runs each migration in one already).
      if (pg) await backfill(db);
      else await db.transaction().execute(backfill);
      // Every slide with a site is owned by it in slide_sites (register() has always written both;
      // rows made otherwise are brought in line), so a site's library is one index range.
      await sql`insert into slide_sites (slide_id, site_id, name, created_at, uploaded_by, stain)
        select s.id, s.site_id, s.name, s.created_at, null, s.stain from slides s
        where s.site_id is not null and not exists (
          select 1 from slide_sites o where o.slide_id = s.id and o.site_id = s.site_id)`.execute(db);
      const indexes: [string, string, string][] = [
        ['slide_sites_site_date', 'slide_sites', 'site_id, created_at, slide_id'],
        ['slide_sites_site_name', 'slide_sites', `site_id, ${key('name')}, slide_id`],
        ['slide_sites_site_stain_date', 'slide_sites', 'site_id, stain, created_at, slide_id'],
        ['slides_date', 'slides', 'created_at, id'],
        ['slides_name', 'slides', `${key('name')}, id`],
        ['slides_site', 'slides', 'site_id'],
        ['case_slides_slide', 'case_slides', 'slide_id'],
        ['cases_received', 'cases', 'received_at, id'],
        ['cases_site_received', 'cases', 'site_id, received_at, id'],
        ['cases_assigned_received', 'cases', 'assigned_to, received_at, id'],
        ['cases_status_received', 'cases', 'status, received_at, id'],
        ['shares_grantee_user', 'shares', 'grantee_user_id'],
        ['shares_grantee_site', 'shares', 'grantee_site_id'],
        ['audit_site_id', 'audit', 'site_id, id'],
        ['audit_target_site_id', 'audit', 'target_site_id, id'],
        ['audit_action_id', 'audit', 'action, id'],
        ['audit_user_id', 'audit', 'user_id, id'],
      ];
      for (const [name, table, cols] of indexes)
        await sql.raw(`create index ${name} on ${table} (${cols})`).execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const name of [
        'audit_user_id',
        'audit_action_id',
        'audit_target_site_id',
        'audit_site_id',
        'shares_grantee_site',
        'shares_grantee_user',
        'cases_status_received',
        'cases_assigned_received',
        'cases_site_received',
        'cases_received',
        'case_slides_slide',
        'slides_site',
        'slides_name',
        'slides_date',
        'slide_sites_site_stain_date',
        'slide_sites_site_name',
        'slide_sites_site_date',
      ])
        await db.schema.dropIndex(name).execute();
      await db.schema.alterTable('slides').dropColumn('stain').execute();
      await db.schema.alterTable('slide_sites').dropColumn('stain').execute();
    },
  },
  '0015_ai_algorithms': {
    async up(db: Kysely<unknown>): Promise<void> {
      // AI algorithms, their runs on slides (the run's state is its row in jobs), what they found,
      // their heat maps and pathologists' verdicts. server/ai/ reads and writes these.
      const pg = db.getExecutor().adapter.constructor.name === 'PostgresAdapter';
      await db.schema
        .createTable('ai_algorithms')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(100)', (c) => c.notNull())
        .addColumn('version', 'varchar(50)', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('applies_to', 'text', (c) => c.notNull())
        .addColumn('endpoint', 'text', (c) => c.notNull())
        .addColumn('identified_data', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('trigger', 'varchar(16)', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('timeout_seconds', 'integer', (c) => c.notNull())
        .addColumn('concurrency', 'integer', (c) => c.notNull())
        .addColumn('created_by', 'varchar(36)', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addUniqueConstraint('ai_algorithms_name_version', ['name', 'version'])
        .execute();
      await db.schema
        .createTable('ai_runs')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('algorithm_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('slide_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('site_id', 'varchar(48)')
        .addColumn('trigger', 'varchar(16)', (c) => c.notNull())
        .addColumn('requested_by', 'varchar(36)')
        .addColumn('deidentified', 'integer', (c) => c.notNull())
        .addColumn('study_code', 'varchar(32)')
        .addColumn('token_id', 'varchar(36)')
        .addColumn('failure', 'varchar(16)')
        .addColumn('runner', 'varchar(64)')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('started_at', 'varchar(32)')
        .addColumn('finished_at', 'varchar(32)')
        .addColumn('deadline_at', 'varchar(32)')
        .addColumn('heartbeat_at', 'varchar(32)')
        .addColumn('result_label', 'text')
        .addColumn('result_score', 'double precision')
        .addColumn('result_positive', 'integer')
        .addColumn('result_text', 'text')
        .addColumn('findings_count', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema
        .createTable('ai_findings')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('run_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('position', 'integer', (c) => c.notNull())
        .addColumn('class_name', 'text')
        .addColumn('score', 'double precision')
        .addColumn('doc', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('ai_heatmaps')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('run_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('name', 'varchar(40)', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('width', 'integer', (c) => c.notNull())
        .addColumn('height', 'integer', (c) => c.notNull())
        .addColumn('region_x', 'double precision', (c) => c.notNull())
        .addColumn('region_y', 'double precision', (c) => c.notNull())
        .addColumn('region_width', 'double precision', (c) => c.notNull())
        .addColumn('region_height', 'double precision', (c) => c.notNull())
        .addColumn('range_min', 'double precision', (c) => c.notNull())
        .addColumn('range_max', 'double precision', (c) => c.notNull())
        .addColumn('png', pg ? 'bytea' : 'blob', (c) => c.notNull())
        .addUniqueConstraint('ai_heatmaps_run_name', ['run_id', 'name'])
        .execute();
      await db.schema
        .createTable('ai_verdicts')
        .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
        .addColumn('run_id', 'varchar(36)', (c) => c.notNull())
        // 'slide' for the slide-level result, else a finding's id.
        .addColumn('target', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
        .addColumn('user_name', 'varchar(64)', (c) => c.notNull())
        .addColumn('site_id', 'varchar(48)')
        .addColumn('verdict', 'varchar(8)', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addUniqueConstraint('ai_verdicts_one_each', ['run_id', 'target', 'user_id'])
        .execute();
      // A token may be limited to one job's slide and results (an algorithm's): JSON, null for none.
      await db.schema.alterTable('tokens').addColumn('scope', 'text').execute();
      const indexes: [string, string, string][] = [
        ['ai_runs_slide', 'ai_runs', 'slide_id, created_at'],
        ['ai_runs_algorithm', 'ai_runs', 'algorithm_id, created_at'],
        ['ai_runs_site', 'ai_runs', 'site_id, created_at'],
        ['ai_findings_run', 'ai_findings', 'run_id, position'],
        ['ai_verdicts_user', 'ai_verdicts', 'user_id'],
        ['jobs_kind_state', 'jobs', 'kind, state, created_at'],
      ];
      for (const [name, table, cols] of indexes)
        await sql.raw(`create index ${name} on ${table} (${cols})`).execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('jobs_kind_state').execute();
      await db.schema.alterTable('tokens').dropColumn('scope').execute();
      for (const t of ['ai_verdicts', 'ai_heatmaps', 'ai_findings', 'ai_runs', 'ai_algorithms'])
        await db.schema.dropTable(t).execute();
    },
  },
  '0016_open_at_once': {
    async up(db: Kysely<unknown>): Promise<void> {
      // A slide is listed and served from its source while its store copy is made: its state
      // (stored, converting, source = served from the source after its conversion failed, failed),
      // the job converting it and how far it is, why it failed, and the source's copy (relative to
      // the data folder of the node that received it).
      await db.schema
        .alterTable('slides')
        .addColumn('status', 'varchar(16)', (c) => c.notNull().defaultTo('stored'))
        .execute();
      await db.schema.alterTable('slides').addColumn('progress', 'integer').execute();
      await db.schema.alterTable('slides').addColumn('status_reason', 'text').execute();
      await db.schema.alterTable('slides').addColumn('job_id', 'varchar(36)').execute();
      await db.schema.alterTable('slides').addColumn('source_path', 'text').execute();
      // Slides deleted while their conversion ran: the conversion's end must not bring them back.
      await db.schema
        .createTable('slide_withdrawals')
        .addColumn('slide_id', 'varchar(32)', (c) => c.primaryKey())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('slide_withdrawals').execute();
      for (const c of ['source_path', 'job_id', 'status_reason', 'progress', 'status'])
        await db.schema.alterTable('slides').dropColumn(c).execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};
