import { randomUUID } from 'node:crypto';
import type { Verdict, VerdictDto, VerdictRequest } from '../../protocol/index.ts';
import type { Principal } from '../auth/auth.ts';
import type { AuditLog } from '../auth/audit.ts';
import { HttpError } from '../http/errors.ts';
import type { RunRow } from './runs.ts';
import type { AiDb, AiVerdictsTable } from './schema.ts';

/** Roles that judge an algorithm's output: those who read slides for a diagnosis. */
const JUDGES = new Set(['pathologist', 'specialist', 'admin']);

function toDto(r: AiVerdictsTable): VerdictDto {
  return {
    id: r.id,
    runId: r.run_id,
    target: r.target,
    verdict: r.verdict as Verdict,
    comment: r.comment,
    userId: r.user_id,
    userName: r.user_name,
    at: r.updated_at,
  };
}

/**
 * Pathologists' verdicts on an algorithm's output: accept or reject its slide-level result
 * (`target` 'slide') or one finding (its id), with an optional comment. One verdict per person and
 * target; judging again replaces it (both kept in the audit trail).
 */
export class Verdicts {
  constructor(
    private readonly db: AiDb,
    private readonly audit: AuditLog,
  ) {}

  private static judge(p: Principal): void {
    if (!JUDGES.has(p.user.role) || p.scope)
      throw new HttpError('FORBIDDEN', `your role (${p.user.role}) does not judge algorithms' results`);
  }

  private async checkTarget(run: RunRow, target: string): Promise<void> {
    if (target === 'slide') {
      if (run.result_label === null)
        throw new HttpError('NOT_FOUND', 'this run gave no slide-level result to judge');
      return;
    }
    const f = await this.db
      .selectFrom('ai_findings')
      .select('id')
      .where('id', '=', target)
      .where('run_id', '=', run.id)
      .executeTakeFirst();
    if (!f) throw new HttpError('NOT_FOUND', `no finding ${target} in run ${run.id}`);
  }

  async put(
    p: Principal,
    run: RunRow,
    target: string,
    v: VerdictRequest,
    ip: string | null,
  ): Promise<VerdictDto> {
    Verdicts.judge(p);
    await this.checkTarget(run, target);
    const now = new Date().toISOString();
    const comment = v.comment ? v.comment : null;
    await this.db
      .insertInto('ai_verdicts')
      .values({
        id: randomUUID(),
        run_id: run.id,
        target,
        user_id: p.user.id,
        user_name: p.user.name,
        site_id: p.user.siteId,
        verdict: v.verdict,
        comment,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc
          .columns(['run_id', 'target', 'user_id'])
          .doUpdateSet({ verdict: v.verdict, comment, updated_at: now }),
      )
      .execute();
    const row = await this.db
      .selectFrom('ai_verdicts')
      .selectAll()
      .where('run_id', '=', run.id)
      .where('target', '=', target)
      .where('user_id', '=', p.user.id)
      .executeTakeFirstOrThrow();
    await this.audit.record({
      action: 'ai.verdict',
      actor: p.user,
      targetType: 'slide',
      targetId: run.slide_id,
      targetSiteId: run.site_id,
      detail: {
        runId: run.id,
        algorithm: run.algorithm_name,
        version: run.algorithm_version,
        target,
        verdict: v.verdict,
        ...(comment ? { comment } : {}),
      },
      ip,
    });
    return toDto(row);
  }

  async remove(p: Principal, run: RunRow, target: string, ip: string | null): Promise<void> {
    Verdicts.judge(p);
    const res = await this.db
      .deleteFrom('ai_verdicts')
      .where('run_id', '=', run.id)
      .where('target', '=', target)
      .where('user_id', '=', p.user.id)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw new HttpError('NOT_FOUND', 'you gave no verdict on this');
    await this.audit.record({
      action: 'ai.verdict_withdraw',
      actor: p.user,
      targetType: 'slide',
      targetId: run.slide_id,
      targetSiteId: run.site_id,
      detail: { runId: run.id, algorithm: run.algorithm_name, version: run.algorithm_version, target },
      ip,
    });
  }

  async list(runId: string): Promise<VerdictDto[]> {
    const rows = await this.db
      .selectFrom('ai_verdicts')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('updated_at')
      .execute();
    return rows.map(toDto);
  }

  /** For layers: each run's slide verdict counts, findings judged, and `userId`'s slide verdict. */
  async summary(
    runIds: string[],
    userId: string,
  ): Promise<Map<string, { mine: VerdictDto | null; accepted: number; rejected: number; findings: number }>> {
    const out = new Map<
      string,
      { mine: VerdictDto | null; accepted: number; rejected: number; findings: number }
    >();
    for (const id of runIds) out.set(id, { mine: null, accepted: 0, rejected: 0, findings: 0 });
    if (runIds.length === 0) return out;
    const rows = await this.db.selectFrom('ai_verdicts').selectAll().where('run_id', 'in', runIds).execute();
    for (const r of rows) {
      const s = out.get(r.run_id)!;
      if (r.target !== 'slide') {
        s.findings++;
        continue;
      }
      if (r.verdict === 'accept') s.accepted++;
      else s.rejected++;
      if (r.user_id === userId) s.mine = toDto(r);
    }
    return out;
  }

  /** `userId`'s verdicts on a run's findings. */
  async mineOnFindings(runId: string, userId: string): Promise<Map<string, Verdict>> {
    const rows = await this.db
      .selectFrom('ai_verdicts')
      .select(['target', 'verdict'])
      .where('run_id', '=', runId)
      .where('user_id', '=', userId)
      .where('target', '!=', 'slide')
      .execute();
    return new Map(rows.map((r) => [r.target, r.verdict as Verdict]));
  }
}
