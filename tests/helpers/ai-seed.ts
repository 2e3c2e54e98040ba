/**
 * A history of algorithm runs and verdicts written straight into the database, for the quality
 * figures (tests/ai-qa.test.ts, tests/e2e/ai-qa.test.ts): dates in the past that no live run has.
 */
import { randomUUID } from 'node:crypto';
import type { AlgorithmDto } from '../../protocol/index.ts';
import { aiDb } from '../../server/ai/schema.ts';
import type { Db } from '../../server/db/index.ts';
import { slideRow } from './auth.ts';

/** A slide of `site`, listed there (and created) at `at`. */
export async function seedAiSlide(db: Db, id: string, site: string, name: string, at: string): Promise<void> {
  await slideRow(db, { id, name, siteId: site });
  await db.updateTable('slide_sites').set({ created_at: at }).where('slide_id', '=', id).execute();
  await db.updateTable('slides').set({ created_at: at }).where('id', '=', id).execute();
}

export interface SeededRun {
  algorithm: AlgorithmDto;
  slide: string;
  site: string;
  at: string;
  finished: string;
  state: 'done' | 'failed' | 'running';
  failure?: string;
  label?: string;
  positive?: boolean;
  score?: number;
}

/** An automatic run (its job and its run row) started at `r.at`; its id. */
export async function seedAiRun(db: Db, r: SeededRun): Promise<string> {
  const ai = aiDb(db);
  const id = randomUUID();
  await ai
    .insertInto('jobs')
    .values({
      id,
      kind: 'ai',
      state: r.state,
      percent: r.state === 'done' ? 100 : 0,
      stage: null,
      name: `${r.algorithm.name} ${r.algorithm.version}`,
      slide_id: null,
      error_code: r.state === 'failed' ? 'ALGORITHM_FAILED' : null,
      error_message: r.state === 'failed' ? 'no results within the algorithm’s 300 s' : null,
      created_at: r.at,
      updated_at: r.finished,
      created_by: null,
      site_id: r.site,
    })
    .execute();
  await ai
    .insertInto('ai_runs')
    .values({
      id,
      algorithm_id: r.algorithm.id,
      slide_id: r.slide,
      site_id: r.site,
      trigger: 'automatic',
      requested_by: null,
      deidentified: 1,
      study_code: null,
      token_id: null,
      failure: r.failure ?? null,
      runner: null,
      created_at: r.at,
      started_at: r.at,
      finished_at: r.state === 'running' ? null : r.finished,
      deadline_at: null,
      heartbeat_at: null,
      result_label: r.label ?? null,
      result_score: r.score ?? null,
      result_positive: r.positive === undefined ? null : r.positive ? 1 : 0,
      result_text: null,
      findings_count: 0,
    })
    .execute();
  return id;
}

/** A verdict of user `userId` (shown as `userName`) on a run's slide result or one finding. */
export async function seedAiVerdict(
  db: Db,
  v: {
    runId: string;
    userId: string;
    userName: string;
    verdict: 'accept' | 'reject';
    at: string;
    target?: string;
    comment?: string | null;
  },
): Promise<void> {
  await aiDb(db)
    .insertInto('ai_verdicts')
    .values({
      id: randomUUID(),
      run_id: v.runId,
      target: v.target ?? 'slide',
      user_id: v.userId,
      user_name: v.userName,
      site_id: null,
      verdict: v.verdict,
      comment: v.comment ?? null,
      created_at: v.at,
      updated_at: v.at,
    })
    .execute();
}
