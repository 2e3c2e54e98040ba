import { randomUUID } from 'node:crypto';
import type { AiFailure, AiRunDto, AiSlideResultDto, ErrorCode, JobState } from '../../protocol/index.ts';
import type { JobRepo } from '../db/jobs.ts';
import type { Algorithm } from './registry.ts';
import type { AiDb, AiFindingsTable, AiHeatmapsTable, AiRunsTable } from './schema.ts';

/** A run with its job's state and its algorithm's name. */
export interface RunRow extends AiRunsTable {
  state: JobState;
  percent: number;
  stage: string | null;
  error_code: string | null;
  error_message: string | null;
  algorithm_name: string;
  algorithm_version: string;
  algorithm_enabled: number;
  requester_name: string | null;
}

/** A runner that has not written its heartbeat for this long is gone: its runs fail. */
export const STALE_MS = 60_000;
const LIVE = ['queued', 'running'] as const;
/** Rows per insert (parameters per statement stay far under both engines' caps). */
const INSERT_CHUNK = 400;

export function runDto(r: RunRow): AiRunDto {
  return {
    id: r.id,
    slideId: r.slide_id,
    algorithm: {
      id: r.algorithm_id,
      name: r.algorithm_name,
      version: r.algorithm_version,
      enabled: r.algorithm_enabled !== 0,
    },
    trigger: r.trigger === 'automatic' ? 'automatic' : 'request',
    requestedBy: r.requested_by ? { id: r.requested_by, name: r.requester_name ?? r.requested_by } : null,
    state: r.state,
    percent: r.percent,
    stage: r.stage,
    error: r.error_code ? { code: r.error_code as ErrorCode, message: r.error_message ?? '' } : null,
    failure: (r.failure as AiFailure | null) ?? null,
    deidentified: r.deidentified !== 0,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export function slideResultOf(r: AiRunsTable): AiSlideResultDto | null {
  if (r.result_label === null) return null;
  return {
    label: r.result_label,
    score: r.result_score === null ? null : Number(r.result_score),
    positive: r.result_positive === null ? null : r.result_positive !== 0,
    text: r.result_text,
  };
}

export interface NewFinding {
  id: string;
  className: string | null;
  score: number | null;
  doc: string;
}

export type NewHeatmap = Omit<AiHeatmapsTable, 'id' | 'run_id'>;

/**
 * Runs in the database: a row in `ai_runs` and its job in `jobs` (kind 'ai'), which holds state,
 * progress and error, so GET /api/jobs/{id} follows a run like an upload. Every change of state is
 * a conditional update of the job row (queued → running → done | failed), so a result and a
 * timeout arriving together end the run once, whichever node each reaches.
 */
export class RunStore {
  private readonly endListeners = new Set<(runId: string) => void>();

  constructor(
    private readonly db: AiDb,
    private readonly jobs: JobRepo,
    /** PostgreSQL: rows read to be changed are locked (locksRows). */
    private readonly lockRows: boolean,
  ) {}

  /** Called once a run has ended here (done or failed, committed); the returned function stops it. */
  onEnded(listener: (runId: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  private ended(runId: string, did: boolean): boolean {
    if (!did) return did;
    for (const l of this.endListeners) {
      try {
        l(runId);
      } catch {
        // A listener's failure (a notice not sent) is not the run's.
      }
    }
    return did;
  }

  private query() {
    return this.db
      .selectFrom('ai_runs')
      .innerJoin('jobs', 'jobs.id', 'ai_runs.id')
      .innerJoin('ai_algorithms', 'ai_algorithms.id', 'ai_runs.algorithm_id')
      .leftJoin('users', 'users.id', 'ai_runs.requested_by')
      .selectAll('ai_runs')
      .select([
        'jobs.state',
        'jobs.percent',
        'jobs.stage',
        'jobs.error_code',
        'jobs.error_message',
        'ai_algorithms.name as algorithm_name',
        'ai_algorithms.version as algorithm_version',
        'ai_algorithms.enabled as algorithm_enabled',
        'users.display_name as requester_name',
      ]);
  }

  async get(id: string): Promise<RunRow | null> {
    return (
      ((await this.query().where('ai_runs.id', '=', id).executeTakeFirst()) as RunRow | undefined) ?? null
    );
  }

  /** A slide's runs, newest first: of the given sites (null: all), of enabled algorithms unless `all`. */
  async forSlide(slideId: string, sites: string[] | null, opts: { all?: boolean } = {}): Promise<RunRow[]> {
    let q = this.query().where('ai_runs.slide_id', '=', slideId);
    if (sites) {
      if (sites.length === 0) return [];
      q = q.where('ai_runs.site_id', 'in', sites);
    }
    if (!opts.all) q = q.where('ai_algorithms.enabled', '=', 1);
    return (await q.orderBy('ai_runs.created_at', 'desc').limit(200).execute()) as RunRow[];
  }

  async create(r: {
    algorithm: Algorithm;
    slideId: string;
    siteId: string | null;
    trigger: 'automatic' | 'request';
    requestedBy: string | null;
  }): Promise<RunRow> {
    const id = randomUUID();
    await this.jobs.create(id, 'ai', `${r.algorithm.name} ${r.algorithm.version}`, {
      userId: r.requestedBy,
      siteId: r.siteId,
    });
    await this.db
      .insertInto('ai_runs')
      .values({
        id,
        algorithm_id: r.algorithm.id,
        slide_id: r.slideId,
        site_id: r.siteId,
        trigger: r.trigger,
        requested_by: r.requestedBy,
        deidentified: r.algorithm.identifiedData ? 0 : 1,
        study_code: null,
        token_id: null,
        failure: null,
        runner: null,
        created_at: new Date().toISOString(),
        started_at: null,
        finished_at: null,
        deadline_at: null,
        heartbeat_at: null,
        result_label: null,
        result_score: null,
        result_positive: null,
        result_text: null,
        findings_count: 0,
      })
      .execute();
    return (await this.get(id))!;
  }

  /** Whether the algorithm already ran, or is to run, on the slide for the site (a failed run does not count). */
  async hasRun(algorithmId: string, slideId: string, siteId: string | null): Promise<boolean> {
    let q = this.db
      .selectFrom('ai_runs')
      .innerJoin('jobs', 'jobs.id', 'ai_runs.id')
      .select('ai_runs.id')
      .where('ai_runs.algorithm_id', '=', algorithmId)
      .where('ai_runs.slide_id', '=', slideId)
      .where('jobs.state', '!=', 'failed');
    q = siteId === null ? q.where('ai_runs.site_id', 'is', null) : q.where('ai_runs.site_id', '=', siteId);
    return (await q.executeTakeFirst()) !== undefined;
  }

  /**
   * Take the oldest queued run whose algorithm has room (fewer running than its concurrency, over
   * every node) for `runner`; null when none can start.
   */
  async claim(runner: string): Promise<RunRow | null> {
    const queued = await this.db
      .selectFrom('jobs')
      .innerJoin('ai_runs', 'ai_runs.id', 'jobs.id')
      .innerJoin('ai_algorithms', 'ai_algorithms.id', 'ai_runs.algorithm_id')
      .select(['jobs.id', 'ai_runs.algorithm_id', 'ai_algorithms.concurrency'])
      .where('jobs.kind', '=', 'ai')
      .where('jobs.state', '=', 'queued')
      .orderBy('jobs.created_at')
      .limit(50)
      .execute();
    if (queued.length === 0) return null;
    const algos = [...new Set(queued.map((q) => q.algorithm_id))];
    const busy = new Map<string, number>();
    for (const r of await this.db
      .selectFrom('jobs')
      .innerJoin('ai_runs', 'ai_runs.id', 'jobs.id')
      .select(['ai_runs.algorithm_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('jobs.kind', '=', 'ai')
      .where('jobs.state', '=', 'running')
      .where('ai_runs.algorithm_id', 'in', algos)
      .groupBy('ai_runs.algorithm_id')
      .execute())
      busy.set(r.algorithm_id, Number(r.n));
    for (const q of queued) {
      if ((busy.get(q.algorithm_id) ?? 0) >= q.concurrency) continue;
      const now = new Date().toISOString();
      const res = await this.db
        .updateTable('jobs')
        .set({ state: 'running', stage: 'starting', percent: 0, updated_at: now })
        .where('id', '=', q.id)
        .where('state', '=', 'queued')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) continue;
      await this.db
        .updateTable('ai_runs')
        .set({ runner, started_at: now, heartbeat_at: now })
        .where('id', '=', q.id)
        .execute();
      return this.get(q.id);
    }
    return null;
  }

  async started(
    id: string,
    s: { tokenId: string; deadline: string; studyCode: string | null },
  ): Promise<void> {
    await this.db
      .updateTable('ai_runs')
      .set({ token_id: s.tokenId, deadline_at: s.deadline, study_code: s.studyCode })
      .where('id', '=', id)
      .execute();
  }

  async heartbeat(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('ai_runs')
      .set({ heartbeat_at: new Date().toISOString() })
      .where('id', 'in', ids)
      .execute();
  }

  async state(id: string): Promise<JobState | null> {
    const r = await this.db.selectFrom('jobs').select('state').where('id', '=', id).executeTakeFirst();
    return (r?.state as JobState | undefined) ?? null;
  }

  async progress(id: string, percent: number, stage: string | null): Promise<boolean> {
    const res = await this.db
      .updateTable('jobs')
      .set({ percent: Math.round(percent), stage, updated_at: new Date().toISOString() })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /**
   * In one transaction that holds the job row (so a failure cannot slip in between): `work`, if the
   * run is still running. False when it is not.
   */
  private async whileRunning(id: string, work: (trx: AiDb) => Promise<void>): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('jobs').select('state').where('id', '=', id);
      if (this.lockRows) q = q.forUpdate();
      const row = await q.executeTakeFirst();
      if (row?.state !== 'running') return false;
      await work(trx);
      return true;
    });
  }

  /** The run's findings, replacing any it posted before. */
  async replaceFindings(id: string, findings: NewFinding[]): Promise<boolean> {
    return this.whileRunning(id, async (trx) => {
      await trx.deleteFrom('ai_findings').where('run_id', '=', id).execute();
      for (let i = 0; i < findings.length; i += INSERT_CHUNK) {
        const rows: AiFindingsTable[] = findings.slice(i, i + INSERT_CHUNK).map((f, j) => ({
          id: f.id,
          run_id: id,
          position: i + j,
          class_name: f.className,
          score: f.score,
          doc: f.doc,
        }));
        await trx.insertInto('ai_findings').values(rows).execute();
      }
      await trx
        .updateTable('ai_runs')
        .set({ findings_count: findings.length })
        .where('id', '=', id)
        .execute();
    });
  }

  /** A heat map of the run (replacing one of the same name); false when the run is over or has `max` already. */
  async putHeatmap(id: string, h: NewHeatmap, max: number): Promise<'stored' | 'not running' | 'too many'> {
    let full = false;
    const ok = await this.whileRunning(id, async (trx) => {
      const names = await trx.selectFrom('ai_heatmaps').select('name').where('run_id', '=', id).execute();
      if (!names.some((n) => n.name === h.name) && names.length >= max) {
        full = true;
        return;
      }
      await trx.deleteFrom('ai_heatmaps').where('run_id', '=', id).where('name', '=', h.name).execute();
      await trx
        .insertInto('ai_heatmaps')
        .values({ ...h, id: randomUUID(), run_id: id })
        .execute();
    });
    return !ok ? 'not running' : full ? 'too many' : 'stored';
  }

  /** The run done with its slide-level result; false when it had ended already. */
  async complete(id: string, result: AiSlideResultDto | null): Promise<boolean> {
    const did = await this.db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const res = await trx
        .updateTable('jobs')
        .set({ state: 'done', percent: 100, stage: 'done', updated_at: now })
        .where('id', '=', id)
        .where('state', '=', 'running')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await trx
        .updateTable('ai_runs')
        .set({
          finished_at: now,
          runner: null,
          result_label: result?.label ?? null,
          result_score: result?.score ?? null,
          result_positive:
            result?.positive === undefined || result.positive === null ? null : result.positive ? 1 : 0,
          result_text: result?.text ?? null,
        })
        .where('id', '=', id)
        .execute();
      return true;
    });
    return this.ended(id, did);
  }

  /**
   * The run failed: its job says why, and what it posted is deleted (a failed run leaves nothing
   * behind). False when it had ended already.
   */
  async fail(id: string, failure: AiFailure, message: string): Promise<boolean> {
    const did = await this.db.transaction().execute(async (trx) => {
      const now = new Date().toISOString();
      const res = await trx
        .updateTable('jobs')
        .set({
          state: 'failed',
          stage: null,
          error_code: 'ALGORITHM_FAILED',
          error_message: message.slice(0, 2000),
          updated_at: now,
        })
        .where('id', '=', id)
        .where('state', 'in', [...LIVE])
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) return false;
      await trx.deleteFrom('ai_findings').where('run_id', '=', id).execute();
      await trx.deleteFrom('ai_heatmaps').where('run_id', '=', id).execute();
      await trx
        .updateTable('ai_runs')
        .set({ failure, finished_at: now, runner: null, findings_count: 0 })
        .where('id', '=', id)
        .execute();
      return true;
    });
    return this.ended(id, did);
  }

  /** Runs that no live runner holds: running with an old heartbeat, or past their deadline. */
  async stale(now = Date.now()): Promise<{ id: string; token_id: string | null; overdue: boolean }[]> {
    const rows = await this.db
      .selectFrom('ai_runs')
      .innerJoin('jobs', 'jobs.id', 'ai_runs.id')
      .select([
        'ai_runs.id',
        'ai_runs.token_id',
        'ai_runs.heartbeat_at',
        'ai_runs.deadline_at',
        'jobs.updated_at',
      ])
      .where('jobs.kind', '=', 'ai')
      .where('jobs.state', '=', 'running')
      .execute();
    const beat = new Date(now - STALE_MS).toISOString();
    // A deadline is its own runner's to enforce; another node steps in once it is well past.
    const late = new Date(now - STALE_MS / 2).toISOString();
    // A run just claimed has its job row marked running before its first heartbeat is written: the
    // claim's time stands for that heartbeat (a null one is not a runner that stopped).
    return rows
      .filter(
        (r) => (r.heartbeat_at ?? r.updated_at) < beat || (r.deadline_at !== null && r.deadline_at < late),
      )
      .map((r) => ({
        id: r.id,
        token_id: r.token_id,
        overdue: r.deadline_at !== null && r.deadline_at < late,
      }));
  }

  /** Queued and running runs (a start without a shared queue: none of them can finish). */
  async live(): Promise<{ id: string; token_id: string | null }[]> {
    return this.db
      .selectFrom('ai_runs')
      .innerJoin('jobs', 'jobs.id', 'ai_runs.id')
      .select(['ai_runs.id', 'ai_runs.token_id'])
      .where('jobs.kind', '=', 'ai')
      .where('jobs.state', 'in', [...LIVE])
      .execute();
  }

  /** Queued runs of an algorithm (it was disabled). */
  async queuedOf(algorithmId: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('ai_runs')
      .innerJoin('jobs', 'jobs.id', 'ai_runs.id')
      .select('ai_runs.id')
      .where('ai_runs.algorithm_id', '=', algorithmId)
      .where('jobs.state', '=', 'queued')
      .execute();
    return rows.map((r) => r.id);
  }
}
