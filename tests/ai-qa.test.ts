/**
 * Quality figures of algorithms for lab managers (their site) and administrators, on a history
 * seeded with known dates: runs and failures, agreement on slide-level results and on findings,
 * discordant slides both ways, weekly counts (verdicts in the week they were given), time from a
 * slide's arrival to the result, the CSV tables (formula-looking text defused), and who may see what.
 * Real server over HTTP, real SQLite (PostgreSQL in test:postgres).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiQaDto, AlgorithmDto } from '../protocol/index.ts';
import { randomUUID } from 'node:crypto';
import { weekStart } from '../server/ai/qa.ts';
import { type SeededRun, seedAiRun, seedAiSlide, seedAiVerdict } from './helpers/ai-seed.ts';
import { type AiServer, json, register, startAiServer } from './helpers/ai.ts';

let s: AiServer;
let v1: AlgorithmDto;
let v2: AlgorithmDto;
const runs: Record<string, string> = {};
const SPAN = 'from=2026-03-01&to=2026-03-31T23:59:59Z';

const seedSlide = (id: string, site: string, name: string, at: string) =>
  seedAiSlide(s.ctx.db, id, site, name, at);

async function seedRun(key: string, r: SeededRun): Promise<void> {
  runs[key] = await seedAiRun(s.ctx.db, r);
}

const seedVerdict = (
  run: string,
  user: string,
  verdict: 'accept' | 'reject',
  at: string,
  target = 'slide',
  comment: string | null = null,
) =>
  seedAiVerdict(s.ctx.db, {
    runId: runs[run]!,
    userId: s.ids[user]!,
    userName: user,
    verdict,
    at,
    target,
    comment,
  });

beforeAll(async () => {
  s = await startAiServer([
    ['root', 'admin', 'hq'],
    ['ann', 'pathologist', 'north'],
    ['bob', 'pathologist', 'south'],
    ['labn', 'lab_manager', 'north'],
    ['labs', 'lab_manager', 'south'],
  ]);
  const ep = { kind: 'http', url: 'http://127.0.0.1:9/jobs' };
  v1 = await register(s, 'root', { name: 'Tumour finder', version: '1', endpoint: ep });
  v2 = await register(s, 'root', { name: 'Tumour finder', version: '2', endpoint: ep });
  const n = (i: number) => `${i}`.padStart(32, 'a');
  await seedSlide(n(1), 'north', 'N1', '2026-03-02T08:00:00.000Z');
  await seedSlide(n(2), 'north', 'N2', '2026-03-03T09:00:00.000Z');
  await seedSlide(n(3), 'north', 'N3', '2026-03-04T09:00:00.000Z');
  await seedSlide(n(4), 'north', 'N4', '2026-03-09T10:00:00.000Z');
  await seedSlide(n(5), 'south', 'S1', '2026-03-05T10:00:00.000Z');
  // Week of 2 March: two results and a timeout.
  await seedRun('r1', {
    algorithm: v1,
    slide: n(1),
    site: 'north',
    at: '2026-03-02T08:01:00.000Z',
    finished: '2026-03-02T08:10:00.000Z',
    state: 'done',
    label: 'Tumour',
    positive: true,
    score: 0.91,
  });
  await seedRun('r2', {
    algorithm: v1,
    slide: n(2),
    site: 'north',
    at: '2026-03-03T09:01:00.000Z',
    finished: '2026-03-03T09:30:00.000Z',
    state: 'done',
    label: 'Tumour',
    positive: true,
    score: 0.7,
  });
  await seedRun('r3', {
    algorithm: v1,
    slide: n(3),
    site: 'north',
    at: '2026-03-04T09:01:00.000Z',
    finished: '2026-03-04T09:06:00.000Z',
    state: 'failed',
    failure: 'timeout',
  });
  // Week of 9 March.
  await seedRun('r4', {
    algorithm: v1,
    slide: n(4),
    site: 'north',
    at: '2026-03-09T10:01:00.000Z',
    finished: '2026-03-09T10:05:00.000Z',
    state: 'done',
    label: 'Benign',
    positive: false,
    score: 0.1,
  });
  await seedRun('r5', {
    algorithm: v2,
    slide: n(1),
    site: 'north',
    at: '2026-03-10T08:00:00.000Z',
    finished: '2026-03-10T08:02:00.000Z',
    state: 'done',
    label: 'Tumour',
    positive: true,
    score: 0.95,
  });
  // South's own.
  await seedRun('r6', {
    algorithm: v1,
    slide: n(5),
    site: 'south',
    at: '2026-03-05T10:01:00.000Z',
    finished: '2026-03-05T10:11:00.000Z',
    state: 'done',
    label: 'Tumour',
    positive: true,
    score: 0.8,
  });
  // Outside the span asked for.
  await seedRun('r7', {
    algorithm: v1,
    slide: n(1),
    site: 'north',
    at: '2026-02-20T10:00:00.000Z',
    finished: '2026-02-20T10:01:00.000Z',
    state: 'done',
    label: 'Tumour',
    positive: true,
  });
  await seedVerdict('r1', 'ann', 'accept', '2026-03-02T12:00:00.000Z');
  await seedVerdict('r2', 'ann', 'reject', '2026-03-10T12:00:00.000Z', 'slide', '=HYPERLINK("http://x")');
  await seedVerdict('r4', 'ann', 'reject', '2026-03-09T15:00:00.000Z', 'slide', 'carcinoma missed');
  await seedVerdict('r4', 'ann', 'accept', '2026-03-09T15:01:00.000Z', randomUUID());
  await seedVerdict('r4', 'ann', 'accept', '2026-03-09T15:02:00.000Z', randomUUID());
  await seedVerdict('r4', 'ann', 'reject', '2026-03-09T15:03:00.000Z', randomUUID());
  await seedVerdict('r5', 'ann', 'accept', '2026-03-10T09:00:00.000Z');
  await seedVerdict('r6', 'bob', 'reject', '2026-03-05T12:00:00.000Z');
  await seedVerdict('r7', 'ann', 'reject', '2026-02-20T12:00:00.000Z');
});

afterAll(async () => {
  await s?.close();
});

describe('AI quality figures', () => {
  it('weeks start on Monday (UTC)', () => {
    expect(weekStart('2026-03-02T00:00:00Z')).toBe('2026-03-02');
    expect(weekStart('2026-03-08T23:59:59Z')).toBe('2026-03-02');
    expect(weekStart('2026-03-09T00:00:00Z')).toBe('2026-03-09');
  });

  it('a lab manager gets their site’s figures per algorithm and version, correct for the history', async () => {
    const qa = await json<AiQaDto>(s.as('labn', `/api/ai/qa?${SPAN}`));
    expect(qa.site).toBe('north');
    expect(qa.algorithms.map((a) => `${a.algorithm.name} ${a.algorithm.version}`)).toEqual([
      'Tumour finder 1',
      'Tumour finder 2',
    ]);
    const [a1, a2] = qa.algorithms;
    expect(a1!.runs).toEqual({ total: 4, done: 3, failed: 1, failures: { timeout: 1 } });
    expect(a1!.slideVerdicts.accepted).toBe(1);
    expect(a1!.slideVerdicts.rejected).toBe(2);
    expect(a1!.slideVerdicts.agreement).toBeCloseTo(1 / 3, 10);
    expect(a1!.findingVerdicts).toEqual({ accepted: 2, rejected: 1, agreement: 2 / 3 });
    // Arrival to result: 10 min, 30 min, 5 min.
    expect(a1!.timeToResult).toEqual({ count: 3, medianSeconds: 600, p90Seconds: 1800, meanSeconds: 900 });
    expect(a1!.weekly).toEqual([
      { weekStart: '2026-03-02', runs: 3, done: 2, failed: 1, accepted: 1, rejected: 0, agreement: 1 },
      { weekStart: '2026-03-09', runs: 1, done: 1, failed: 0, accepted: 0, rejected: 2, agreement: 0 },
    ]);
    expect(a1!.discordant.map((d) => [d.slideName, d.kind, d.aiLabel, d.userName])).toEqual([
      ['N2', 'ai_positive_rejected', 'Tumour', 'ann'],
      ['N4', 'ai_negative_rejected', 'Benign', 'ann'],
    ]);
    expect(a1!.discordant[1]).toMatchObject({
      runId: runs.r4,
      aiScore: 0.1,
      aiPositive: false,
      comment: 'carcinoma missed',
    });
    expect(a2!.runs.total).toBe(1);
    expect(a2!.slideVerdicts).toEqual({ accepted: 1, rejected: 0, agreement: 1 });
    expect(a2!.discordant).toEqual([]);
    expect(a2!.timeToResult!.medianSeconds).toBe(8 * 86_400 + 2 * 60);
  });

  it('an administrator sees every site, or one; a lab manager only their own; others none', async () => {
    const all = await json<AiQaDto>(s.as('root', `/api/ai/qa?${SPAN}`));
    expect(all.site).toBeNull();
    expect(all.algorithms[0]!.runs.total).toBe(5);
    expect(all.algorithms[0]!.slideVerdicts).toMatchObject({ accepted: 1, rejected: 3 });
    const south = await json<AiQaDto>(s.as('root', `/api/ai/qa?${SPAN}&site=south`));
    expect(south.algorithms.map((a) => a.runs.total)).toEqual([1]);
    expect(south.algorithms[0]!.discordant.map((d) => d.slideName)).toEqual(['S1']);
    expect((await json<AiQaDto>(s.as('labs', `/api/ai/qa?${SPAN}`))).algorithms[0]!.runs.total).toBe(1);
    expect((await s.as('labn', `/api/ai/qa?${SPAN}&site=south`)).status).toBe(403);
    expect((await s.as('ann', `/api/ai/qa?${SPAN}`)).status).toBe(403);
    // One algorithm, and the default span (the last 26 weeks, none of this history).
    const one = await json<AiQaDto>(s.as('root', `/api/ai/qa?${SPAN}&algorithm=${v2.id}`));
    expect(one.algorithms.map((a) => a.algorithm.id)).toEqual([v2.id]);
    const wide = await json<AiQaDto>(s.as('root', `/api/ai/qa?from=2026-01-01`));
    expect(wide.algorithms[0]!.runs.total).toBe(6);
    expect((await s.as('root', `/api/ai/qa?from=yesterday`)).status).toBe(400);
  });

  it('CSV: summary, weekly and discordant tables, formulas defused, exports audited', async () => {
    const csv = async (table: string) => {
      const res = await s.as('labn', `/api/ai/qa.csv?${SPAN}&table=${table}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="ai-qa-${table}.csv"`);
      return (await res.text()).trimEnd().split('\r\n');
    };
    const summary = await csv('summary');
    expect(summary[0]).toBe(
      'algorithm,version,enabled,runs,done,failed,slide_accepted,slide_rejected,slide_agreement,finding_accepted,finding_rejected,finding_agreement,discordant_slides,time_to_result_median_s,time_to_result_p90_s,time_to_result_mean_s',
    );
    expect(summary[1]).toBe('Tumour finder,1,true,4,3,1,1,2,0.3333,2,1,0.6667,2,600,1800,900');
    expect(summary).toHaveLength(3);
    expect(await csv('weekly')).toEqual([
      'algorithm,version,week_start,runs,done,failed,accepted,rejected,agreement',
      'Tumour finder,1,2026-03-02,3,2,1,1,0,1',
      'Tumour finder,1,2026-03-09,1,1,0,0,2,0',
      'Tumour finder,2,2026-03-09,1,1,0,1,0,1',
    ]);
    const disc = await csv('discordant');
    expect(disc).toHaveLength(3);
    expect(disc[1]).toContain(`,${runs.r2},`);
    expect(disc[1]).toContain(`"'=HYPERLINK(""http://x"")"`);
    expect(disc[2]).toContain(',Benign,0.1,false,ai_negative_rejected,ann,carcinoma missed,');
    expect((await s.as('labn', `/api/ai/qa.csv?table=nope`)).status).toBe(400);
    const audit = await json<{ entries: { action: string; detail: Record<string, unknown> }[] }>(
      s.as('root', '/api/audit?action=ai.qa_export'),
    );
    expect(audit.entries.map((e) => e.detail.table)).toEqual(['discordant', 'weekly', 'summary']);
  });
});
