import type {
  AiDiscordantDto,
  AiFailure,
  AiQaAlgorithmDto,
  AiQaDto,
  AiQaWeekDto,
} from '../../protocol/index.ts';
import { csvRow } from '../csv.ts';
import type { AiDb } from './schema.ts';

export interface QaFilter {
  /** One site's runs; null: every site's (administrators). */
  site: string | null;
  from: string;
  to: string;
  algorithmId?: string;
}

const DAY_MS = 86_400_000;
/** What a QA page shows without dates: the last 26 weeks. */
export const DEFAULT_QA_DAYS = 182;

/** Monday (UTC) of the ISO week holding `iso`, as YYYY-MM-DD. */
export function weekStart(iso: string): string {
  const d = new Date(iso);
  const day = (d.getUTCDay() + 6) % 7;
  const monday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day));
  return monday.toISOString().slice(0, 10);
}

const ratio = (a: number, r: number): number | null => (a + r === 0 ? null : a / (a + r));

function quantile(sorted: number[], q: number): number {
  // Nearest rank: the smallest value with at least q of the values at or below it.
  const i = Math.max(0, Math.ceil(q * sorted.length) - 1);
  return sorted[Math.min(i, sorted.length - 1)]!;
}

/**
 * Quality figures per algorithm and version over the runs made in [from, to] (for one site or all):
 * runs and failures, pathologists' agreement (accepted / judged) on slide-level results and on
 * findings, slides where they rejected the algorithm's call, weekly counts, and the time from a
 * slide's arrival at the site to the algorithm's result. Verdicts count in the week they were given.
 */
export async function qaFigures(db: AiDb, f: QaFilter): Promise<AiQaDto> {
  let runsQ = db
    .selectFrom('ai_runs')
    .innerJoin('jobs', 'jobs.id', 'ai_runs.id')
    .innerJoin('ai_algorithms', 'ai_algorithms.id', 'ai_runs.algorithm_id')
    .innerJoin('slides', 'slides.id', 'ai_runs.slide_id')
    .leftJoin('slide_sites', (j) =>
      j
        .onRef('slide_sites.slide_id', '=', 'ai_runs.slide_id')
        .onRef('slide_sites.site_id', '=', 'ai_runs.site_id'),
    )
    .select([
      'ai_runs.id',
      'ai_runs.algorithm_id',
      'ai_runs.slide_id',
      'ai_runs.created_at',
      'ai_runs.finished_at',
      'ai_runs.failure',
      'ai_runs.result_label',
      'ai_runs.result_score',
      'ai_runs.result_positive',
      'jobs.state',
      'ai_algorithms.name',
      'ai_algorithms.version',
      'ai_algorithms.enabled',
      'slides.created_at as slide_created_at',
      'slides.name as slide_name',
      'slide_sites.created_at as site_created_at',
      'slide_sites.name as site_slide_name',
    ])
    .where('ai_runs.created_at', '>=', f.from)
    .where('ai_runs.created_at', '<=', f.to);
  if (f.site !== null) runsQ = runsQ.where('ai_runs.site_id', '=', f.site);
  if (f.algorithmId) runsQ = runsQ.where('ai_runs.algorithm_id', '=', f.algorithmId);
  const runs = await runsQ.execute();
  const byRun = new Map(runs.map((r) => [r.id, r]));
  const verdicts: {
    run_id: string;
    target: string;
    verdict: string;
    user_name: string;
    comment: string | null;
    updated_at: string;
  }[] = [];
  const ids = [...byRun.keys()];
  for (let i = 0; i < ids.length; i += 500)
    verdicts.push(
      ...(await db
        .selectFrom('ai_verdicts')
        .select(['run_id', 'target', 'verdict', 'user_name', 'comment', 'updated_at'])
        .where('run_id', 'in', ids.slice(i, i + 500))
        .execute()),
    );

  const algos = new Map<string, AiQaAlgorithmDto & { weeks: Map<string, AiQaWeekDto>; waits: number[] }>();
  const entry = (r: (typeof runs)[number]) => {
    let a = algos.get(r.algorithm_id);
    if (!a) {
      a = {
        algorithm: { id: r.algorithm_id, name: r.name, version: r.version, enabled: r.enabled !== 0 },
        runs: { total: 0, done: 0, failed: 0, failures: {} },
        slideVerdicts: { accepted: 0, rejected: 0, agreement: null },
        findingVerdicts: { accepted: 0, rejected: 0, agreement: null },
        timeToResult: null,
        weekly: [],
        discordant: [],
        weeks: new Map(),
        waits: [],
      };
      algos.set(r.algorithm_id, a);
    }
    return a;
  };
  const week = (a: { weeks: Map<string, AiQaWeekDto> }, at: string): AiQaWeekDto => {
    const k = weekStart(at);
    let w = a.weeks.get(k);
    if (!w) {
      w = { weekStart: k, runs: 0, done: 0, failed: 0, accepted: 0, rejected: 0, agreement: null };
      a.weeks.set(k, w);
    }
    return w;
  };
  for (const r of runs) {
    const a = entry(r);
    const w = week(a, r.created_at);
    a.runs.total++;
    w.runs++;
    if (r.state === 'done') {
      a.runs.done++;
      w.done++;
      const arrived = r.site_created_at ?? r.slide_created_at;
      if (r.finished_at) a.waits.push(Math.max(0, (Date.parse(r.finished_at) - Date.parse(arrived)) / 1000));
    } else if (r.state === 'failed') {
      a.runs.failed++;
      w.failed++;
      const k = (r.failure ?? 'interrupted') as AiFailure;
      a.runs.failures[k] = (a.runs.failures[k] ?? 0) + 1;
    }
  }
  /** Each run's latest rejection of its slide-level result. */
  const rejections = new Map<string, (typeof verdicts)[number]>();
  for (const v of verdicts) {
    const r = byRun.get(v.run_id)!;
    const a = entry(r);
    const accepted = v.verdict === 'accept';
    if (v.target === 'slide') {
      if (accepted) a.slideVerdicts.accepted++;
      else a.slideVerdicts.rejected++;
      const w = week(a, v.updated_at);
      if (accepted) w.accepted++;
      else w.rejected++;
      if (!accepted && r.result_positive !== null) {
        const seen = rejections.get(v.run_id);
        if (!seen || seen.updated_at < v.updated_at) rejections.set(v.run_id, v);
      }
    } else if (accepted) a.findingVerdicts.accepted++;
    else a.findingVerdicts.rejected++;
  }
  for (const [runId, v] of rejections) {
    const r = byRun.get(runId)!;
    const d: AiDiscordantDto = {
      runId,
      slideId: r.slide_id,
      slideName: r.site_slide_name ?? r.slide_name,
      aiLabel: r.result_label ?? '',
      aiScore: r.result_score === null ? null : Number(r.result_score),
      aiPositive: r.result_positive === null ? null : r.result_positive !== 0,
      kind: r.result_positive ? 'ai_positive_rejected' : 'ai_negative_rejected',
      userName: v.user_name,
      comment: v.comment,
      at: v.updated_at,
    };
    entry(r).discordant.push(d);
  }
  const out: AiQaAlgorithmDto[] = [];
  for (const a of algos.values()) {
    a.slideVerdicts.agreement = ratio(a.slideVerdicts.accepted, a.slideVerdicts.rejected);
    a.findingVerdicts.agreement = ratio(a.findingVerdicts.accepted, a.findingVerdicts.rejected);
    a.weekly = [...a.weeks.values()]
      .map((w) => ({ ...w, agreement: ratio(w.accepted, w.rejected) }))
      .sort((x, y) => (x.weekStart < y.weekStart ? -1 : 1));
    a.discordant.sort((x, y) => (x.at < y.at ? 1 : -1));
    if (a.waits.length > 0) {
      const s = [...a.waits].sort((x, y) => x - y);
      a.timeToResult = {
        count: s.length,
        medianSeconds: quantile(s, 0.5),
        p90Seconds: quantile(s, 0.9),
        meanSeconds: s.reduce((x, y) => x + y, 0) / s.length,
      };
    }
    const { weeks: _w, waits: _x, ...dto } = a;
    out.push(dto);
  }
  out.sort((x, y) =>
    x.algorithm.name === y.algorithm.name
      ? x.algorithm.version.localeCompare(y.algorithm.version)
      : x.algorithm.name.localeCompare(y.algorithm.name),
  );
  return { site: f.site, from: f.from, to: f.to, algorithms: out };
}

/** The default span: the last DEFAULT_QA_DAYS days up to now. */
export function defaultSpan(now = Date.now()): { from: string; to: string } {
  return { from: new Date(now - DEFAULT_QA_DAYS * DAY_MS).toISOString(), to: new Date(now).toISOString() };
}

export const QA_TABLES = ['summary', 'weekly', 'discordant'] as const;
export type QaTable = (typeof QA_TABLES)[number];

/** The QA figures as one CSV table (formula-looking text defused, as the audit export does). */
export function qaCsv(qa: AiQaDto, table: QaTable): string {
  const lines: string[] = [];
  const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 10_000) / 10_000);
  if (table === 'summary') {
    lines.push(
      csvRow([
        'algorithm',
        'version',
        'enabled',
        'runs',
        'done',
        'failed',
        'slide_accepted',
        'slide_rejected',
        'slide_agreement',
        'finding_accepted',
        'finding_rejected',
        'finding_agreement',
        'discordant_slides',
        'time_to_result_median_s',
        'time_to_result_p90_s',
        'time_to_result_mean_s',
      ]),
    );
    for (const a of qa.algorithms)
      lines.push(
        csvRow([
          a.algorithm.name,
          a.algorithm.version,
          a.algorithm.enabled,
          a.runs.total,
          a.runs.done,
          a.runs.failed,
          a.slideVerdicts.accepted,
          a.slideVerdicts.rejected,
          round(a.slideVerdicts.agreement),
          a.findingVerdicts.accepted,
          a.findingVerdicts.rejected,
          round(a.findingVerdicts.agreement),
          a.discordant.length,
          round(a.timeToResult?.medianSeconds ?? null),
          round(a.timeToResult?.p90Seconds ?? null),
          round(a.timeToResult?.meanSeconds ?? null),
        ]),
      );
  } else if (table === 'weekly') {
    lines.push(
      csvRow([
        'algorithm',
        'version',
        'week_start',
        'runs',
        'done',
        'failed',
        'accepted',
        'rejected',
        'agreement',
      ]),
    );
    for (const a of qa.algorithms)
      for (const w of a.weekly)
        lines.push(
          csvRow([
            a.algorithm.name,
            a.algorithm.version,
            w.weekStart,
            w.runs,
            w.done,
            w.failed,
            w.accepted,
            w.rejected,
            round(w.agreement),
          ]),
        );
  } else {
    lines.push(
      csvRow([
        'algorithm',
        'version',
        'run_id',
        'slide_id',
        'slide_name',
        'ai_label',
        'ai_score',
        'ai_positive',
        'kind',
        'pathologist',
        'comment',
        'at',
      ]),
    );
    for (const a of qa.algorithms)
      for (const d of a.discordant)
        lines.push(
          csvRow([
            a.algorithm.name,
            a.algorithm.version,
            d.runId,
            d.slideId,
            d.slideName,
            d.aiLabel,
            d.aiScore,
            d.aiPositive,
            d.kind,
            d.userName,
            d.comment,
            d.at,
          ]),
        );
  }
  return `${lines.join('\r\n')}\r\n`;
}
