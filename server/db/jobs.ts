import type { ErrorCode, JobDto, JobState } from '../../protocol/index.ts';
import type { Db } from './index.ts';
import type { JobsTable } from './schema.ts';

function toDto(r: JobsTable): JobDto {
  return {
    id: r.id,
    state: r.state as JobState,
    percent: r.percent,
    stage: r.stage,
    name: r.name,
    // Until the job is done this is only the slide about to be published.
    slideId: r.state === 'done' ? r.slide_id : null,
    error: r.error_code ? { code: r.error_code as ErrorCode, message: r.error_message ?? '' } : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class JobRepo {
  constructor(private readonly db: Db) {}

  /**
   * A job's row; with `alsoInCommit`, what it writes (the audit record of what started the job) is
   * committed with the row, in one transaction: no job without it, and one commit.
   */
  async create(
    id: string,
    kind: string,
    name: string,
    owner: { userId: string | null; siteId: string | null } = { userId: null, siteId: null },
    alsoInCommit?: (trx: Db) => Promise<void>,
  ): Promise<JobDto> {
    const now = new Date().toISOString();
    const row: JobsTable = {
      id,
      kind,
      state: 'queued',
      percent: 0,
      stage: null,
      name,
      slide_id: null,
      error_code: null,
      error_message: null,
      created_at: now,
      updated_at: now,
      created_by: owner.userId,
      site_id: owner.siteId,
    };
    if (!alsoInCommit) await this.db.insertInto('jobs').values(row).execute();
    else
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('jobs').values(row).execute();
        await alsoInCommit(trx);
      });
    return toDto(row);
  }

  async update(
    id: string,
    patch: Partial<{
      state: JobState;
      percent: number;
      stage: string | null;
      slideId: string;
      /** null clears it (a job finished after all). */
      error: { code: ErrorCode; message: string } | null;
    }>,
  ): Promise<void> {
    const set: Partial<JobsTable> = { updated_at: new Date().toISOString() };
    if (patch.state !== undefined) set.state = patch.state;
    if (patch.percent !== undefined) set.percent = patch.percent;
    if (patch.stage !== undefined) set.stage = patch.stage;
    if (patch.slideId !== undefined) set.slide_id = patch.slideId;
    if (patch.error !== undefined) {
      set.error_code = patch.error?.code ?? null;
      set.error_message = patch.error?.message ?? null;
    }
    await this.db.updateTable('jobs').set(set).where('id', '=', id).execute();
  }

  /** A job, if `userId` started it (null: any job, for admins and the CLI). */
  async get(id: string, userId: string | null = null): Promise<JobDto | null> {
    let q = this.db.selectFrom('jobs').selectAll().where('id', '=', id);
    if (userId !== null) q = q.where('created_by', '=', userId);
    const r = await q.executeTakeFirst();
    return r ? toDto(r) : null;
  }

  /** The site a job's slide goes to once stored. */
  async siteOf(id: string): Promise<string | null> {
    const r = await this.db.selectFrom('jobs').select('site_id').where('id', '=', id).executeTakeFirst();
    return r?.site_id ?? null;
  }

  /** Latest jobs, of one user unless `userId` is null. */
  async recent(limit: number, userId: string | null = null): Promise<JobDto[]> {
    let q = this.db.selectFrom('jobs').selectAll();
    if (userId !== null) q = q.where('created_by', '=', userId);
    const rows = await q.orderBy('created_at', 'desc').limit(limit).execute();
    return rows.map(toDto);
  }

  /**
   * Jobs that got as far as naming the slide they were publishing: the ones of one slide, or (no
   * id) those still queued or running, i.e. stopped by a crash.
   */
  async publishing(slideId?: string): Promise<JobsTable[]> {
    let q = this.db.selectFrom('jobs').selectAll().where('slide_id', 'is not', null);
    q =
      slideId !== undefined
        ? q.where('slide_id', '=', slideId)
        : q.where('state', 'in', ['queued', 'running']);
    return q.orderBy('created_at').execute();
  }

  /** Jobs that were queued or running when the process stopped cannot finish: say so. */
  async failInterrupted(): Promise<number> {
    const res = await this.db
      .updateTable('jobs')
      .set({
        state: 'failed',
        error_code: 'INGEST_FAILED',
        error_message: 'interrupted: the server stopped before this job finished; upload the slide again',
        updated_at: new Date().toISOString(),
      })
      // AI runs end their own way (server/ai).
      .where('kind', '=', 'ingest')
      .where('state', 'in', ['queued', 'running'])
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }
}
