import {
  AI_RESULT_LIMITS,
  type AiComplete,
  type AiFailure,
  type AiHeatmapInput,
  type AiRunDto,
} from '../../protocol/index.ts';
import type { Auth, Principal } from '../auth/auth.ts';
import type { AuditLog } from '../auth/audit.ts';
import { HttpError } from '../http/errors.ts';
import { BadResult, readFindings, readHeatmap, slideResult } from './results.ts';
import type { AiRunner } from './runner.ts';
import { type RunRow, type RunStore, runDto } from './runs.ts';
import type { AiDb } from './schema.ts';

/** Requests outside its scope a job's token may make before its job fails (this process's count). */
const MAX_DENIALS = 25;

export interface ContractDeps {
  db: AiDb;
  runs: RunStore;
  runner: AiRunner;
  auth: Auth;
  audit: AuditLog;
}

/**
 * The contract's side of a run (protocol/ai-contract.md): what a job's token may post, checked and
 * stored, and what happens to a token that reaches outside its scope. Every bad answer fails the
 * token's own job with its reason, and nothing it posted is kept.
 */
export class ContractResults {
  /** Requests refused to each job's token (outOfScope). */
  private readonly denials = new Map<string, number>();

  constructor(private readonly d: ContractDeps) {}

  private actor(run: Pick<RunRow, 'id' | 'site_id'>, p: Principal) {
    return { id: run.id, name: p.user.name, siteId: run.site_id ?? '' };
  }

  /**
   * The run a scoped token's request names, when it is the token's own and still running. A write
   * to another job or slide fails the token's own job (an algorithm that does so is broken or
   * hostile), and is refused either way.
   */
  async run(
    p: Principal,
    slideId: string,
    jobId: string,
    write: boolean,
    ip: string | null,
  ): Promise<RunRow> {
    const s = p.scope;
    if (!s) throw new HttpError('FORBIDDEN', "these routes take an algorithm's job token");
    if (jobId !== s.jobId || slideId !== s.slideId) {
      const failure: AiFailure = slideId !== s.slideId ? 'wrong_slide' : 'out_of_scope';
      const message =
        failure === 'wrong_slide'
          ? `the algorithm posted results for slide ${slideId.slice(0, 64)}, but its job is for slide ${s.slideId}`
          : `the algorithm posted to another job's results (${jobId.slice(0, 64)})`;
      if (write) await this.d.runner.fail(s.jobId, failure, message);
      await this.d.audit.record({
        action: 'ai.scope_denied',
        actor: { id: s.jobId, name: p.user.name, siteId: s.siteId ?? '' },
        targetType: 'slide',
        targetId: slideId.slice(0, 64),
        targetSiteId: s.siteId,
        detail: { runId: s.jobId, path: `${slideId}/${jobId}`.slice(0, 200), write },
        ip,
      });
      throw new HttpError('FORBIDDEN', `this token is for job ${s.jobId} on slide ${s.slideId} only`);
    }
    const run = await this.d.runs.get(jobId);
    if (!run) throw new HttpError('NOT_FOUND', `no job ${jobId}`);
    if (write && run.state !== 'running')
      throw new HttpError(
        'CONFLICT',
        `the job is ${run.state}${run.error_message ? `: ${run.error_message}` : ''}`,
      );
    return run;
  }

  /** A request outside its token's scope: refused and audited; a write fails the job. */
  async outOfScope(p: Principal, method: string, path: string, ip: string | null): Promise<void> {
    const s = p.scope!;
    const write = !['GET', 'HEAD', 'OPTIONS'].includes(method);
    await this.d.audit.record({
      action: 'ai.scope_denied',
      actor: { id: s.jobId, name: p.user.name, siteId: s.siteId ?? '' },
      targetType: 'slide',
      targetId: s.slideId,
      targetSiteId: s.siteId,
      detail: { runId: s.jobId, method, path: path.slice(0, 200), write },
      ip,
    });
    const denied = (this.denials.get(s.jobId) ?? 0) + 1;
    this.denials.set(s.jobId, denied);
    if (this.denials.size > 10_000) this.denials.clear();
    if (write)
      await this.d.runner.fail(
        s.jobId,
        'out_of_scope',
        `the algorithm tried to write outside its results: ${method} ${path.slice(0, 120)}`,
      );
    // A token that keeps knocking on other doors is ended: the job fails, the audit stops growing.
    else if (denied >= MAX_DENIALS)
      await this.d.runner.fail(
        s.jobId,
        'out_of_scope',
        `the algorithm made ${denied} requests outside its scope (the last: ${method} ${path.slice(0, 120)})`,
      );
  }

  /** A bad answer: the run fails with its reason; the error the algorithm gets says it too. */
  async reject(run: RunRow, e: BadResult): Promise<never> {
    await this.d.runner.fail(
      run.id,
      e.failure,
      `the algorithm's results were refused: ${e.message}`,
      run.token_id,
    );
    throw new HttpError(e.failure === 'too_large' ? 'IMPORT_TOO_LARGE' : 'INVALID_PARAMETER', e.message);
  }

  async progress(run: RunRow, percent: number, stage: string | undefined): Promise<void> {
    await this.d.runs.progress(run.id, percent, stage ?? null);
  }

  async annotations(p: Principal, run: RunRow, body: Uint8Array, ip: string | null): Promise<number> {
    let findings;
    try {
      findings = await readFindings(body);
    } catch (e) {
      if (e instanceof BadResult) return this.reject(run, e);
      throw e;
    }
    if (!(await this.d.runs.replaceFindings(run.id, findings)))
      throw new HttpError('CONFLICT', 'the job has ended');
    await this.d.audit.record({
      action: 'ai.results_annotations',
      actor: this.actor(run, p),
      targetType: 'slide',
      targetId: run.slide_id,
      targetSiteId: run.site_id,
      detail: { runId: run.id, findings: findings.length, bytes: body.byteLength },
      ip,
    });
    return findings.length;
  }

  async heatmap(
    p: Principal,
    run: RunRow,
    name: string,
    h: AiHeatmapInput,
    ip: string | null,
  ): Promise<void> {
    const slide = await this.d.db
      .selectFrom('slides')
      .select(['width', 'height'])
      .where('id', '=', run.slide_id)
      .executeTakeFirstOrThrow();
    let row;
    try {
      row = await readHeatmap(name, h, slide);
    } catch (e) {
      if (e instanceof BadResult) return this.reject(run, e);
      throw e;
    }
    const stored = await this.d.runs.putHeatmap(run.id, row, AI_RESULT_LIMITS.heatmaps);
    if (stored === 'too many')
      return this.reject(run, new BadResult('too_large', `more than ${AI_RESULT_LIMITS.heatmaps} heat maps`));
    if (stored === 'not running') throw new HttpError('CONFLICT', 'the job has ended');
    await this.d.audit.record({
      action: 'ai.results_heatmap',
      actor: this.actor(run, p),
      targetType: 'slide',
      targetId: run.slide_id,
      targetSiteId: run.site_id,
      detail: { runId: run.id, name, width: row.width, height: row.height },
      ip,
    });
  }

  async complete(p: Principal, run: RunRow, c: AiComplete, ip: string | null): Promise<AiRunDto> {
    const result = slideResult(c);
    if (!(await this.d.runs.complete(run.id, result))) throw new HttpError('CONFLICT', 'the job has ended');
    if (run.token_id) await this.d.auth.revokeToken(run.token_id).catch(() => false);
    this.d.runner.ended(run.id);
    const done = (await this.d.runs.get(run.id))!;
    await this.d.audit.record({
      action: 'ai.run_done',
      actor: this.actor(run, p),
      targetType: 'slide',
      targetId: run.slide_id,
      targetSiteId: run.site_id,
      detail: {
        runId: run.id,
        algorithm: run.algorithm_name,
        version: run.algorithm_version,
        findings: done.findings_count,
        slideResult: result,
      },
      ip,
    });
    return runDto(done);
  }

  /** The algorithm says it failed. */
  async reported(run: RunRow, message: string): Promise<void> {
    await this.d.runner.fail(run.id, 'reported', `the algorithm reported: ${message}`, run.token_id);
  }
}
