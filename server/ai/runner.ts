import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { AiFailure } from '../../protocol/index.ts';
import { type Auth, type TokenScope, scopedPrincipal } from '../auth/auth.ts';
import type { Access } from '../auth/access.ts';
import type { AuditLog } from '../auth/audit.ts';
import { randomStudyCode } from '../cases/identifiers.ts';
import { InvokeError, type Invocation, invoke, lastLine } from './invoke.ts';
import { jobRequest } from './job-request.ts';
import type { Algorithm, AlgorithmRegistry } from './registry.ts';
import type { RunRow, RunStore } from './runs.ts';
import type { AiDb } from './schema.ts';
import type { Db } from '../db/index.ts';

/** How often a runner looks for queued runs and for its runs' end when not told. */
const POLL_MS = 1000;
const HEARTBEAT_MS = 10_000;
const SWEEP_MS = 15_000;
/** A command that exited 0 has this long for its last results request to land. */
const EXIT_GRACE_MS = 2000;
/** Runs one process holds at once (each mostly waits on its algorithm). */
const MAX_ACTIVE = 16;

export interface RunnerDeps {
  db: AiDb;
  /** The same database untyped for the AI tables (what other modules take). */
  base: Db;
  runs: RunStore;
  registry: AlgorithmRegistry;
  auth: Auth;
  access: Access;
  audit: AuditLog;
  log: (msg: string) => void;
}

interface Active {
  ended: Promise<void>;
  end: () => void;
}

/**
 * Runs algorithms on slides. Runs wait in the database (their jobs queued), so any node with a
 * runner takes them: each claims the oldest whose algorithm has room, mints the job's token (that
 * slide only, read-only, ending at the deadline and revoked when the run ends), hands the job to the
 * algorithm and waits for it to post its results through the contract, for a command to exit, or for
 * the deadline. A runner writes a heartbeat for its runs; any node fails the runs of one that stopped.
 */
export class AiRunner {
  readonly id = `${hostname().slice(0, 40)}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private base: string | null = null;
  private readonly active = new Map<string, Active>();
  private timers: NodeJS.Timeout[] = [];
  private pumping = false;
  private again = false;
  private closed = false;

  constructor(private readonly d: RunnerDeps) {}

  /** Start taking runs; `base` is the URL algorithms reach this server at. */
  start(base: string): void {
    this.base = base.replace(/\/+$/, '');
    if (this.timers.length > 0) return;
    this.timers.push(
      setInterval(() => this.wake(), POLL_MS),
      setInterval(() => void this.beat(), HEARTBEAT_MS),
      setInterval(() => void this.sweep(), SWEEP_MS),
    );
    for (const t of this.timers) t.unref();
    this.wake();
    void this.sweep();
  }

  get baseUrl(): string | null {
    return this.base;
  }

  /** Look for queued runs now (one was just queued). */
  wake(): void {
    if (!this.base || this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void (async () => {
      try {
        do {
          this.again = false;
          while (this.active.size < MAX_ACTIVE && !this.closed) {
            const run = await this.d.runs.claim(this.id);
            if (!run) break;
            this.launch(run);
          }
        } while (this.again && !this.closed);
      } catch (e) {
        this.d.log(`ai: taking queued runs failed: ${String(e)}`);
      } finally {
        this.pumping = false;
      }
    })();
  }

  /** A run ended (its results posted, or failed) in this process: its waiter stops at once. */
  ended(runId: string): void {
    this.active.get(runId)?.end();
  }

  private launch(run: RunRow): void {
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    this.active.set(run.id, { ended, end });
    void this.execute(run, ended)
      .catch((e: unknown) => this.d.log(`ai: run ${run.id} failed unexpectedly: ${String(e)}`))
      .finally(() => {
        this.active.delete(run.id);
        this.wake();
      });
  }

  /** Fail a run (once), revoke its token and audit why. */
  async fail(runId: string, failure: AiFailure, message: string, tokenId?: string | null): Promise<boolean> {
    const did = await this.d.runs.fail(runId, failure, message);
    const token =
      tokenId ??
      (await this.d.db.selectFrom('ai_runs').select('token_id').where('id', '=', runId).executeTakeFirst())
        ?.token_id;
    if (token) await this.d.auth.revokeToken(token).catch(() => false);
    if (did) {
      const run = await this.d.runs.get(runId);
      await this.d.audit.record({
        action: 'ai.run_fail',
        actor: null,
        actorName: run ? `ai:${run.algorithm_name}@${run.algorithm_version}` : 'ai',
        targetType: 'slide',
        targetId: run?.slide_id,
        targetSiteId: run?.site_id ?? null,
        detail: { runId, failure, message },
      });
      this.d.log(`ai: run ${runId} failed (${failure}): ${message}`);
    }
    this.ended(runId);
    return did;
  }

  private async execute(run: RunRow, ended: Promise<void>): Promise<void> {
    const algorithm = await this.d.registry.get(run.algorithm_id);
    if (!algorithm?.enabled) {
      await this.fail(run.id, 'disabled', 'the algorithm was disabled before the job started');
      return;
    }
    const started = Date.now();
    const deadline = new Date(started + algorithm.timeoutSeconds * 1000);
    const studyCode = run.deidentified ? `AI-${randomStudyCode().slice(3)}` : null;
    const scope: TokenScope = {
      kind: 'ai-job',
      jobId: run.id,
      slideId: run.slide_id,
      siteId: run.site_id,
      deidentified: run.deidentified !== 0,
      studyCode,
      issuedAt: new Date(started).toISOString(),
      actorName: `ai:${algorithm.name}@${algorithm.version}`,
    };
    const { id: tokenId, token } = await this.d.auth.createToken(algorithm.createdBy, {
      expiresAt: deadline,
      label: `ai job ${run.id}`,
      scope,
    });
    await this.d.runs.started(run.id, { tokenId, deadline: deadline.toISOString(), studyCode });
    let invocation: Invocation | null = null;
    let timer: NodeJS.Timeout | null = null;
    let poll: NodeJS.Timeout | null = null;
    try {
      const job = await jobRequest(
        { db: this.d.base, access: this.d.access },
        {
          base: this.base!,
          algorithm,
          jobId: run.id,
          slideId: run.slide_id,
          siteId: run.site_id,
          token,
          principal: scopedPrincipal(scope, ''),
          deadline: deadline.toISOString(),
        },
      );
      await this.d.runs.progress(run.id, 0, 'sent to the algorithm');
      await this.audit(run, algorithm, 'ai.run_start', {
        runId: run.id,
        deidentified: scope.deidentified,
        studyCode,
        trigger: run.trigger,
        endpoint: algorithm.endpoint.kind,
      });
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline.getTime() - Date.now()));
      });
      // The end may be posted to another node: the job row says so.
      const polled = new Promise<'ended'>((resolve) => {
        poll = setInterval(() => {
          void this.d.runs.state(run.id).then((s) => {
            if (s !== 'running') resolve('ended');
          });
        }, POLL_MS);
      });
      invocation = await Promise.race([invoke(algorithm.endpoint, job), timedOut.then(() => null)]);
      if (!invocation) {
        await this.fail(run.id, 'timeout', this.timeoutMessage(algorithm), tokenId);
        return;
      }
      const exited = invocation.exited.then((x) => ({ kind: 'exited' as const, ...x }));
      const first = await Promise.race([ended.then(() => 'ended' as const), polled, timedOut, exited]);
      if (first === 'timeout') await this.fail(run.id, 'timeout', this.timeoutMessage(algorithm), tokenId);
      else if (typeof first === 'object') {
        if (first.code !== 0) {
          const why = first.signal
            ? `was killed by ${first.signal}`
            : `exited with code ${first.code ?? 'none'}`;
          const tail = lastLine(first.stderr);
          await this.fail(
            run.id,
            'crashed',
            `the algorithm's command ${why}${tail ? `: ${tail}` : ''}`,
            tokenId,
          );
        } else {
          // Its last request may still be landing: wait a little for the end it posted.
          const late = await Promise.race([
            ended.then(() => true),
            polled.then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), EXIT_GRACE_MS)),
          ]);
          if (!late)
            await this.fail(
              run.id,
              'crashed',
              "the algorithm's command exited without posting its results",
              tokenId,
            );
        }
      }
    } catch (e) {
      if (e instanceof InvokeError) await this.fail(run.id, e.failure, e.message, tokenId);
      else {
        this.d.log(`ai: run ${run.id}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        await this.fail(run.id, 'crashed', 'the job could not be handed to the algorithm', tokenId);
      }
    } finally {
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      invocation?.kill();
      // Whatever the end, the token ends with the job.
      await this.d.auth.revokeToken(tokenId).catch(() => false);
    }
  }

  private timeoutMessage(a: Algorithm): string {
    return `no results within the algorithm's ${a.timeoutSeconds} s`;
  }

  private async audit(
    run: RunRow,
    a: Algorithm,
    action: string,
    detail: Record<string, unknown>,
  ): Promise<void> {
    await this.d.audit.record({
      action,
      actor: null,
      actorName: `ai:${a.name}@${a.version}`,
      targetType: 'slide',
      targetId: run.slide_id,
      targetSiteId: run.site_id,
      detail,
    });
  }

  private async beat(): Promise<void> {
    await this.d.runs.heartbeat([...this.active.keys()]).catch(() => undefined);
  }

  /** Fail the runs of runners that stopped, and runs well past their deadline. */
  async sweep(): Promise<void> {
    try {
      for (const s of await this.d.runs.stale())
        if (!this.active.has(s.id) || s.overdue)
          await this.fail(
            s.id,
            s.overdue ? 'timeout' : 'interrupted',
            s.overdue
              ? 'no results before the deadline'
              : 'the server running the job stopped before it finished; run it again',
            s.token_id,
          );
    } catch (e) {
      this.d.log(`ai: sweeping stale runs failed: ${String(e)}`);
    }
  }

  /** Fail every queued and running run: at a start without a shared queue none of them can finish. */
  async failAllLive(): Promise<number> {
    let n = 0;
    for (const r of await this.d.runs.live())
      if (
        await this.fail(
          r.id,
          'interrupted',
          'the server stopped before the job finished; run it again',
          r.token_id,
        )
      )
        n++;
    return n;
  }

  /** Stop taking runs; the ones in hand fail (their tokens end) and their commands are killed. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const held = [...this.active.keys()];
    await Promise.all(
      held.map((id) =>
        this.fail(id, 'interrupted', 'the server stopped before the job finished; run it again'),
      ),
    );
    const deadline = Date.now() + 5000;
    while (this.active.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
