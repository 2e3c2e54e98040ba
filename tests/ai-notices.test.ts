/**
 * A finished AI run reaches, over socket.io and without a reload, the connections watching its slide
 * (the viewer) or the library, and only those whose user may see the run: its own site's users and
 * administrators. Another site's user can neither watch the slide nor hear of the run from the
 * library. Done runs carry their slide-level result; failed ones their reason. Real server, real
 * SQLite, real socket.io clients with bearer tokens.
 */
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiRunEndedDto, AlgorithmDto } from '../protocol/index.ts';
import { aiDb } from '../server/ai/schema.ts';
import { slideRow } from './helpers/auth.ts';
import { type AiServer, register, startAiServer } from './helpers/ai.ts';

let s: AiServer;
let algo: AlgorithmDto;
const sockets: Socket[] = [];
const NORTH_SLIDE = 'b'.repeat(32);
const OTHER_SLIDE = 'c'.repeat(32);

/** A run of `site`'s on `slide`, running, as the runner leaves it once the algorithm has it. */
async function runningRun(slide: string, site: string, a = algo): Promise<string> {
  const db = aiDb(s.ctx.db);
  const id = randomUUID();
  const now = new Date().toISOString();
  await db
    .insertInto('jobs')
    .values({
      id,
      kind: 'ai',
      state: 'running',
      percent: 40,
      stage: 'analysing',
      name: `${a.name} ${a.version}`,
      slide_id: null,
      error_code: null,
      error_message: null,
      created_at: now,
      updated_at: now,
      created_by: null,
      site_id: site,
    })
    .execute();
  await db
    .insertInto('ai_runs')
    .values({
      id,
      algorithm_id: a.id,
      slide_id: slide,
      site_id: site,
      trigger: 'automatic',
      requested_by: null,
      deidentified: 1,
      study_code: null,
      token_id: null,
      failure: null,
      runner: null,
      created_at: now,
      started_at: now,
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
  return id;
}

interface Watcher {
  sock: Socket;
  got: AiRunEndedDto[];
  next(): Promise<AiRunEndedDto>;
}

async function watch(user: string, slideId: string | null): Promise<Watcher & { ack: unknown }> {
  const sock = io(s.base, { transports: ['websocket'], auth: { token: s.tokens[user] }, forceNew: true });
  sockets.push(sock);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const got: AiRunEndedDto[] = [];
  let waiting: ((e: AiRunEndedDto) => void) | null = null;
  sock.on('aiRun', (e: AiRunEndedDto) => {
    got.push(e);
    waiting?.(e);
    waiting = null;
  });
  const ack = await sock.timeout(5000).emitWithAck('aiWatch', { slideId });
  return {
    sock,
    got,
    ack,
    next: () => new Promise((r) => (waiting = r)),
  };
}

/** Long enough for an event sent with the one awaited to have arrived too. */
const settle = () => new Promise((r) => setTimeout(r, 300));

beforeAll(async () => {
  s = await startAiServer(
    [
      ['root', 'admin', 'hq'],
      ['ann', 'pathologist', 'north'],
      ['bob', 'pathologist', 'south'],
      ['labn', 'lab_manager', 'north'],
      ['labs', 'lab_manager', 'south'],
    ],
    'tessera-ai-notices-',
  );
  algo = await register(s, 'root', {
    name: 'Tumour finder',
    version: '3',
    trigger: 'on_request',
    endpoint: { kind: 'http', url: 'http://127.0.0.1:9/jobs' },
  });
  await slideRow(s.ctx.db, { id: NORTH_SLIDE, name: 'N1', siteId: 'north' });
  await slideRow(s.ctx.db, { id: OTHER_SLIDE, name: 'N2', siteId: 'north' });
});

afterAll(async () => {
  for (const k of sockets) k.disconnect();
  await s?.close();
});

describe('AI run notices', () => {
  it('another site’s user may not watch a slide they do not see; a malformed watch is refused', async () => {
    const bob = await watch('bob', NORTH_SLIDE);
    expect(bob.ack).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    const bad = await watch('ann', 'not-a-slide' as string);
    expect(bad.ack).toMatchObject({ ok: false, code: 'INVALID_PARAMETER' });
  });

  it('a done run reaches its slide’s and the library’s watchers of its site and administrators, no one else', async () => {
    const viewer = await watch('ann', NORTH_SLIDE);
    expect(viewer.ack).toEqual({ ok: true });
    const elsewhere = await watch('ann', OTHER_SLIDE);
    const manager = await watch('labn', null);
    const admin = await watch('root', null);
    const southLibrary = await watch('bob', null);
    const southManager = await watch('labs', null);
    expect(southLibrary.ack).toEqual({ ok: true });

    const runId = await runningRun(NORTH_SLIDE, 'north');
    const heard = [viewer.next(), manager.next(), admin.next()];
    expect(
      await s.ctx.ai.runs.complete(runId, { label: 'Tumour', score: 0.93, positive: true, text: null }),
    ).toBe(true);
    const [e] = await Promise.all(heard);
    expect(e!.run).toMatchObject({
      id: runId,
      slideId: NORTH_SLIDE,
      state: 'done',
      algorithm: { id: algo.id, name: 'Tumour finder', version: '3' },
    });
    expect(e!.result).toEqual({ label: 'Tumour', score: 0.93, positive: true, text: null });
    await settle();
    expect(viewer.got).toHaveLength(1);
    expect(manager.got.map((x) => x.run.id)).toEqual([runId]);
    expect(admin.got.map((x) => x.run.id)).toEqual([runId]);
    expect(elsewhere.got).toEqual([]);
    expect(southLibrary.got).toEqual([]);
    expect(southManager.got).toEqual([]);
    for (const w of [viewer, elsewhere, manager, admin, southLibrary, southManager]) w.sock.disconnect();
  });

  it('a failed run says why; a run ended twice is told once; a new watch replaces the last', async () => {
    const w = await watch('ann', OTHER_SLIDE);
    const ack = await w.sock.timeout(5000).emitWithAck('aiWatch', { slideId: NORTH_SLIDE });
    expect(ack).toEqual({ ok: true });
    const onOther = await runningRun(OTHER_SLIDE, 'north');
    const runId = await runningRun(NORTH_SLIDE, 'north');
    expect(await s.ctx.ai.runs.fail(onOther, 'crashed', 'exit code 1')).toBe(true);
    const heard = w.next();
    expect(await s.ctx.ai.runner.fail(runId, 'timeout', 'no results within the algorithm’s 300 s')).toBe(
      true,
    );
    const e = await heard;
    expect(e.run).toMatchObject({ id: runId, state: 'failed', failure: 'timeout' });
    expect(e.run.error?.message).toContain('300 s');
    expect(e.result).toBeNull();
    // Already ended: no second notice.
    expect(await s.ctx.ai.runs.complete(runId, null)).toBe(false);
    await settle();
    expect(w.got.map((x) => x.run.id)).toEqual([runId]);
  });

  it('a disabled algorithm’s runs are not announced (its results are hidden too)', async () => {
    const off = await register(s, 'root', {
      name: 'Mitosis counter',
      version: '1',
      trigger: 'on_request',
      endpoint: { kind: 'http', url: 'http://127.0.0.1:9/jobs' },
    });
    const w = await watch('ann', NORTH_SLIDE);
    const runId = await runningRun(NORTH_SLIDE, 'north', off);
    const res = await s.as('root', `/api/ai/algorithms/${off.id}`, {
      method: 'PATCH',
      body: JSON.stringify({ enabled: false }),
    });
    expect(res.status).toBe(200);
    // Disabling may itself end the algorithm's live runs; either way nothing is announced.
    await s.ctx.ai.runs.complete(runId, { label: 'Mitoses', score: null, positive: null, text: null });
    await settle();
    expect(w.got).toEqual([]);
  });
});

describe('runs whose runner stopped', () => {
  it('a run just claimed, before its first heartbeat, is not taken for one whose runner stopped', async () => {
    const fresh = await runningRun(NORTH_SLIDE, 'north');
    const orphan = await runningRun(NORTH_SLIDE, 'north');
    const db = aiDb(s.ctx.db);
    const long = new Date(Date.now() - 2 * 60_000).toISOString();
    await db.updateTable('jobs').set({ updated_at: long }).where('id', '=', orphan).execute();
    const stale = (await s.ctx.ai.runs.stale()).map((r) => r.id);
    expect(stale).toContain(orphan);
    expect(stale).not.toContain(fresh);
    // A heartbeat written long ago counts, whatever the job row says.
    await db.updateTable('ai_runs').set({ heartbeat_at: long }).where('id', '=', fresh).execute();
    expect((await s.ctx.ai.runs.stale()).map((r) => r.id)).toContain(fresh);
  });
});
