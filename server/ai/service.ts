import {
  type AiFindingDto,
  type AiFindingsDto,
  type AiLayerDto,
  type AiResultsDto,
  type AiRunDto,
  type AlgorithmPatch,
  type AnnotationKind,
  type Geometry,
  type ObjectType,
  type AnnotationClass,
} from '../../protocol/index.ts';
import type { Auth, Principal } from '../auth/auth.ts';
import type { Access } from '../auth/access.ts';
import type { AuditLog } from '../auth/audit.ts';
import { type Db, locksRows } from '../db/index.ts';
import type { JobRepo } from '../db/jobs.ts';
import { HttpError } from '../http/errors.ts';
import { type Algorithm, AlgorithmRegistry, appliesTo } from './registry.ts';
import { AiRunner } from './runner.ts';
import { type RunRow, RunStore, runDto, slideResultOf } from './runs.ts';
import { type AiDb, aiDb } from './schema.ts';
import { Verdicts } from './verdicts.ts';
import { ContractResults } from './contract.ts';

export interface AiDeps {
  db: Db;
  jobs: JobRepo;
  auth: Auth;
  access: Access;
  audit: AuditLog;
  log: (msg: string) => void;
}

/** Roles that may ask for a run on their site's slides. */
const REQUESTERS = new Set(['pathologist', 'lab_manager', 'admin']);

/**
 * AI algorithms on slides: the registry, runs (queued, handed to the algorithm, ended by its
 * results, its failure or the deadline), what they found as layers for the viewer, verdicts, and
 * the contract's side of the results. Results belong to the run's site: whoever sees the slide
 * through that site sees them, while the algorithm is enabled.
 */
export class AiService {
  readonly db: AiDb;
  readonly registry: AlgorithmRegistry;
  readonly runs: RunStore;
  readonly runner: AiRunner;
  readonly verdicts: Verdicts;
  /** The contract's side: what a job's token posts. */
  readonly contract: ContractResults;

  constructor(private readonly d: AiDeps) {
    this.db = aiDb(d.db);
    this.registry = new AlgorithmRegistry(this.db, d.audit);
    this.runs = new RunStore(this.db, d.jobs, locksRows(d.db));
    this.verdicts = new Verdicts(this.db, d.audit);
    this.runner = new AiRunner({
      db: this.db,
      base: d.db,
      runs: this.runs,
      registry: this.registry,
      auth: d.auth,
      access: d.access,
      audit: d.audit,
      log: d.log,
    });
    this.contract = new ContractResults({
      db: this.db,
      runs: this.runs,
      runner: this.runner,
      auth: d.auth,
      audit: d.audit,
    });
  }

  /** Take runs from now on; `base` is the URL algorithms reach this server at. */
  start(base: string): void {
    this.runner.start(base);
  }

  /** At a start without a shared queue: runs left queued or running by the last process fail. */
  async recover(): Promise<void> {
    const n = await this.runner.failAllLive();
    if (n) this.d.log(`ai: ${n} interrupted run(s) failed`);
  }

  close(): Promise<void> {
    return this.runner.close();
  }

  // ---- runs ----

  private async queue(
    a: Algorithm,
    slideId: string,
    siteId: string | null,
    requestedBy: Principal | null,
    ip: string | null,
  ): Promise<RunRow> {
    const run = await this.runs.create({
      algorithm: a,
      slideId,
      siteId,
      trigger: requestedBy ? 'request' : 'automatic',
      requestedBy: requestedBy?.user.id ?? null,
    });
    await this.d.audit.record({
      action: 'ai.run_queue',
      actor: requestedBy?.user ?? null,
      actorName: requestedBy ? undefined : 'tessera',
      targetType: 'slide',
      targetId: slideId,
      targetSiteId: siteId,
      detail: { runId: run.id, algorithm: a.name, version: a.version, trigger: run.trigger },
      ip,
    });
    this.runner.wake();
    return run;
  }

  /** A slide was stored for a site: queue the automatic algorithms that apply to it (once each). */
  async slideStored(slideId: string, siteId: string | null): Promise<string[]> {
    try {
      const autos = (await this.registry.list({ enabledOnly: true })).filter(
        (a) => a.trigger === 'automatic',
      );
      if (autos.length === 0) return [];
      const facts = await this.registry.facts(slideId, siteId);
      if (!facts) return [];
      const queued: string[] = [];
      for (const a of autos) {
        if (appliesTo(a, facts) !== null) continue;
        if (await this.runs.hasRun(a.id, slideId, siteId)) continue;
        queued.push((await this.queue(a, slideId, siteId, null, null)).id);
      }
      return queued;
    } catch (e) {
      this.d.log(`ai: queueing algorithms for ${slideId} failed: ${String(e)}`);
      return [];
    }
  }

  /** A user asks for a run on a slide of their site. */
  async request(p: Principal, slideId: string, algorithmId: string, ip: string | null): Promise<AiRunDto> {
    const found = await this.d.access.slide(p, slideId);
    if (!found) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${slideId}`);
    if (!REQUESTERS.has(p.user.role) || p.scope)
      throw new HttpError('FORBIDDEN', `your role (${p.user.role}) may not run algorithms`);
    if (found.grant.access !== 'site')
      throw new HttpError('FORBIDDEN', 'algorithms run on your own site’s slides, not on shared ones');
    const a = await this.registry.get(algorithmId);
    if (!a || !a.enabled) throw new HttpError('NOT_FOUND', `no enabled algorithm ${algorithmId}`);
    const siteId = found.grant.siteId;
    const facts = await this.registry.facts(slideId, siteId);
    const why = facts ? appliesTo(a, facts) : 'the slide is gone';
    if (why)
      throw new HttpError('INVALID_PARAMETER', `${a.name} ${a.version} does not apply to this slide: ${why}`);
    const live = (await this.runs.forSlide(slideId, siteId === null ? null : [siteId])).find(
      (r) => r.algorithm_id === a.id && (r.state === 'queued' || r.state === 'running'),
    );
    if (live)
      throw new HttpError(
        'CONFLICT',
        `${a.name} ${a.version} is already ${live.state} on this slide (run ${live.id})`,
      );
    return runDto(await this.queue(a, slideId, siteId, p, ip));
  }

  async updateAlgorithm(
    p: Principal,
    id: string,
    patch: AlgorithmPatch,
    ip: string | null,
  ): Promise<Algorithm> {
    const a = await this.registry.update(p, id, patch, ip);
    if (!a.enabled)
      for (const runId of await this.runs.queuedOf(id))
        await this.runner.fail(runId, 'disabled', 'the algorithm was disabled before the job started');
    return a;
  }

  /** The sites whose runs `p` sees on a slide (null: all, for administrators); null grant: none. */
  private async sitesFor(p: Principal, slideId: string): Promise<string[] | null | undefined> {
    const found = await this.d.access.slide(p, slideId);
    if (!found || p.scope) return undefined;
    if (p.user.role === 'admin') return null;
    return found.grant.siteId === null ? [] : [found.grant.siteId];
  }

  async runsOf(p: Principal, slideId: string): Promise<AiRunDto[]> {
    const sites = await this.sitesFor(p, slideId);
    if (sites === undefined) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${slideId}`);
    return (await this.runs.forSlide(slideId, sites)).map(runDto);
  }

  /** A run `p` may see (its slide through the run's site); `results`: only a finished run of an enabled algorithm. */
  async visibleRun(p: Principal, runId: string, opts: { results?: boolean } = {}): Promise<RunRow> {
    const run = await this.runs.get(runId);
    const sites = run ? await this.sitesFor(p, run.slide_id) : undefined;
    if (!run || sites === undefined || (sites !== null && !sites.includes(run.site_id ?? '')))
      throw new HttpError('NOT_FOUND', `no run ${runId}`);
    if (opts.results && (run.algorithm_enabled === 0 || run.state !== 'done'))
      throw new HttpError(
        'NOT_FOUND',
        run.algorithm_enabled === 0 ? `run ${runId}'s algorithm is disabled` : `run ${runId} is ${run.state}`,
      );
    return run;
  }

  /** A slide's AI layers for `p`: each finished run of an enabled algorithm, newest first. */
  async layers(p: Principal, slideId: string): Promise<AiResultsDto> {
    const sites = await this.sitesFor(p, slideId);
    if (sites === undefined) throw new HttpError('SLIDE_NOT_FOUND', `no slide ${slideId}`);
    const runs = (await this.runs.forSlide(slideId, sites)).filter((r) => r.state === 'done');
    const ids = runs.map((r) => r.id);
    const heatmaps = ids.length
      ? await this.db
          .selectFrom('ai_heatmaps')
          .select([
            'id',
            'run_id',
            'name',
            'label',
            'width',
            'height',
            'region_x',
            'region_y',
            'region_width',
            'region_height',
            'range_min',
            'range_max',
          ])
          .where('run_id', 'in', ids)
          .orderBy('name')
          .execute()
      : [];
    const stats = ids.length
      ? await this.db
          .selectFrom('ai_findings')
          .select((eb) => [
            'run_id',
            'class_name',
            eb.fn.countAll<number>().as('n'),
            eb.fn.min('score').as('lo'),
            eb.fn.max('score').as('hi'),
          ])
          .where('run_id', 'in', ids)
          .groupBy(['run_id', 'class_name'])
          .execute()
      : [];
    const verdicts = await this.verdicts.summary(ids, p.user.id);
    const layers: AiLayerDto[] = runs.map((r) => {
      const mine = stats.filter((s) => s.run_id === r.id);
      const scores = mine.flatMap((s) => (s.lo === null ? [] : [Number(s.lo), Number(s.hi)]));
      const v = verdicts.get(r.id)!;
      return {
        run: runDto(r),
        slideResult: slideResultOf(r),
        heatmaps: heatmaps
          .filter((h) => h.run_id === r.id)
          .map((h) => ({
            id: h.id,
            name: h.name,
            label: h.label,
            width: h.width,
            height: h.height,
            region: { x: h.region_x, y: h.region_y, width: h.region_width, height: h.region_height },
            range: [h.range_min, h.range_max],
            url: `/api/ai/runs/${r.id}/heatmaps/${h.id}.png`,
          })),
        findings: {
          count: r.findings_count,
          scoreRange: scores.length ? [Math.min(...scores), Math.max(...scores)] : null,
          classes: [...new Set(mine.map((s) => s.class_name).filter((c): c is string => c !== null))].sort(),
          url: `/api/ai/runs/${r.id}/findings`,
        },
        verdicts: {
          mine: v.mine,
          slideAccepted: v.accepted,
          slideRejected: v.rejected,
          findingsJudged: v.findings,
        },
      };
    });
    return { slideId, layers };
  }

  async findings(p: Principal, runId: string, minScore: number | null): Promise<AiFindingsDto> {
    const run = await this.visibleRun(p, runId, { results: true });
    let q = this.db.selectFrom('ai_findings').selectAll().where('run_id', '=', runId);
    if (minScore !== null) q = q.where('score', '>=', minScore);
    const rows = await q.orderBy('position').execute();
    const mine = await this.verdicts.mineOnFindings(runId, p.user.id);
    const findings: AiFindingDto[] = rows.map((r) => {
      const a = JSON.parse(r.doc) as {
        kind: AnnotationKind;
        geometry: Geometry;
        classification: AnnotationClass | null;
        label?: string;
        color?: string | null;
        objectType?: ObjectType;
        nucleus?: Geometry | null;
        measurements?: Record<string, number>;
      };
      return {
        id: r.id,
        runId,
        kind: a.kind,
        objectType: a.objectType ?? 'annotation',
        geometry: a.geometry,
        nucleus: a.nucleus ?? null,
        classification: a.classification,
        label: a.label ?? '',
        color: a.color ?? null,
        measurements: a.measurements ?? {},
        score: r.score === null ? null : Number(r.score),
        verdict: mine.get(r.id) ?? null,
      };
    });
    return {
      runId,
      algorithm: {
        id: run.algorithm_id,
        name: run.algorithm_name,
        version: run.algorithm_version,
        enabled: run.algorithm_enabled !== 0,
      },
      findings,
    };
  }

  async heatmapPng(p: Principal, runId: string, heatmapId: string): Promise<Uint8Array> {
    await this.visibleRun(p, runId, { results: true });
    const h = await this.db
      .selectFrom('ai_heatmaps')
      .select('png')
      .where('id', '=', heatmapId)
      .where('run_id', '=', runId)
      .executeTakeFirst();
    if (!h) throw new HttpError('NOT_FOUND', `no heat map ${heatmapId} in run ${runId}`);
    return h.png;
  }
}
