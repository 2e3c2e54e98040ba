/**
 * No ghost slides after a crash: a converter dies with the process that started it (even SIGKILL,
 * where no handler runs) and never publishes after it; on start the server gives a slide published
 * just before a crash to the site whose job made it. Real server processes, real ingest, /proc to see
 * the converter (Linux).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobDto, SlideDto, UploadAccepted } from '../protocol/index.ts';
import { createServerContext } from '../server/app.ts';
import type { Principal } from '../server/auth/auth.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { openDb } from '../server/db/index.ts';
import { ingest } from '../tiles/index.ts';
import { userWithToken } from './helpers/auth.ts';
import { CONVERTER, alive, childrenOf, exitWithin, haveProc } from './helpers/procs.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';
import { freePort } from '../scripts/bench/tiles/children.ts';

const BIN = path.resolve('scripts/bin/tessera.mjs');
const root = mkdtempSync(path.join(tmpdir(), 'tessera-crash-'));
/** Random pixels: cheap to make, slow to convert (seconds), so there is time to kill mid-ingest. */
const slowSlide = path.join(root, 'noise.tif');
const started: ChildProcess[] = [];

beforeAll(async () => {
  const w = 4000;
  await sharp(randomBytes(w * w * 3), { raw: { width: w, height: w, channels: 3 } })
    .tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 20 })
    .toFile(slowSlide);
});
afterAll(() => {
  for (const c of started) if (c.pid && alive(c.pid)) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `tessera serve` as a user runs it, on its own port; resolves once /api/health answers. */
async function serve(dataDir: string): Promise<{ proc: ChildProcess; base: string }> {
  const port = await freePort();
  const env = { ...process.env };
  delete env.VIPSHOME;
  const proc = spawn(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir],
    { env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  started.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    if (
      await fetch(`${base}/api/health`)
        .then((r) => r.ok)
        .catch(() => false)
    )
      return { proc, base };
    await sleep(100);
  }
  throw new Error(`server did not start: ${stderr}`);
}

describe.skipIf(!haveProc)('a crash leaves no ghost slide', () => {
  it('SIGKILL of the server mid-ingest: its converter exits within a second; after a restart the job is failed, nothing is published, and the slide stays served from its source', async () => {
    const dataDir = path.join(root, 'server');
    const db = await openDb({ databaseUrl: '', sqliteFile: path.join(dataDir, 'tessera.db') });
    const { token } = await userWithToken(db, { name: 'ann', role: 'pathologist', siteId: 'north' });
    await db.destroy();
    const auth = { authorization: `Bearer ${token}` };

    const first = await serve(dataDir);
    const up = await fetch(`${first.base}/api/slides?name=noise.tif`, {
      method: 'POST',
      headers: auth,
      body: readFileSync(slowSlide),
    });
    expect(up.status).toBe(202);
    const { jobId } = (await up.json()) as UploadAccepted;
    const job = async (base: string): Promise<JobDto> =>
      (await (await fetch(`${base}/api/jobs/${jobId}`, { headers: auth })).json()) as JobDto;
    for (let i = 0; ; i++) {
      const j = await job(first.base);
      if (j.stage === 'writing pyramid') break;
      expect(j.state === 'queued' || j.state === 'running', JSON.stringify(j)).toBe(true);
      if (i > 1200) throw new Error('the conversion never reached the pyramid');
      await sleep(100);
    }
    const converters = childrenOf(first.proc.pid!, CONVERTER);
    expect(converters.length).toBe(1);

    first.proc.kill('SIGKILL');
    const ms = await exitWithin(converters[0]!, 1000);
    expect(ms).toBeLessThan(1000);

    const second = await serve(dataDir);
    const after = await job(second.base);
    expect(after.state).toBe('failed');
    expect(after.error?.message).toMatch(/interrupted/);
    expect(after.slideId).toBeNull();
    // Long enough for an orphan to have published, had there been one.
    await sleep(1500);
    // Nothing published; the slide, viewable from its upload since it arrived, stays so (its
    // conversion failed, its source still reads): listed as served from its source, never a ghost.
    let list: SlideDto[] = [];
    for (let i = 0; i < 50; i++) {
      list = (await (await fetch(`${second.base}/api/slides`, { headers: auth })).json()) as SlideDto[];
      if (list[0]?.conversion?.state !== 'converting') break;
      await sleep(100);
    }
    expect(list.map((s) => s.conversion?.state)).toEqual(['source']);
    const tile = await fetch(`${second.base}/slides/${list[0]!.id}_files/0/0_0.jpeg`, { headers: auth });
    expect(tile.status).toBe(200);
    expect(tile.headers.get('etag')).toContain('-src-');
    expect(readdirSync(path.join(dataDir, 'slides'))).toEqual([]);
    expect(readdirSync(path.join(dataDir, 'tmp')).filter((n) => n.startsWith('stage-'))).toEqual([]);
    second.proc.kill('SIGKILL');
  }, 240_000);

  it('a parent killed when its converter asks to publish: the converter exits and publishes nothing', async () => {
    const dataDir = path.join(root, 'die-at-publish');
    const env = { ...process.env };
    delete env.VIPSHOME;
    const parent = spawn(
      process.execPath,
      ['--import', 'tsx', path.resolve('tests/helpers/ingest-then-die.ts'), slowSlide, dataDir],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    started.push(parent);
    let out = '';
    parent.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const [, signal] = await new Promise<[number | null, string | null]>((r) =>
      parent.on('close', (code, sig) => r([code, sig])),
    );
    expect(signal).toBe('SIGKILL');
    const converters = [...out.matchAll(/^converter (\d+)$/gm)].map((m) => Number(m[1]));
    expect(converters.length, out).toBe(1);
    await exitWithin(converters[0]!, 1000);
    await sleep(1000);
    expect(existsSync(path.join(dataDir, 'slides')) ? readdirSync(path.join(dataDir, 'slides')) : []).toEqual(
      [],
    );
  }, 240_000);
});

describe('start-up reconciles the store with the database', () => {
  const have = requireSlides();
  let ctx: ServerContext | null = null;
  afterAll(async () => {
    await ctx?.tiles.close();
    await ctx?.db.destroy();
  });

  it.skipIf(!have)(
    "a slide published just before a crash goes to its job's site (the job is done); one no job explains is indexed for admins only",
    async () => {
      const dataDir = path.join(root, 'reconcile');
      const config = loadConfig({ dataDir, port: 0, host: '127.0.0.1' }, {});
      const before = await createServerContext(config, () => {});
      const ann = await userWithToken(before.db, { name: 'ann', role: 'pathologist', siteId: 'north' });
      const sue = await userWithToken(before.db, { name: 'sue', role: 'pathologist', siteId: 'south' });
      const opts = { tileSize: 256, jpegQuality: 80 };
      // Published, then the server died before registering: one job still running, one already
      // failed by an earlier restart (its converter outlived that server, as they used to).
      const running = await ingest(slidePath('aperio/CMU-1-Small-Region.svs'), before.store, opts);
      const late = await ingest(slidePath('generic-tiff/openslide-boxes.tiff'), before.store, opts);
      const stray = await ingest(slidePath('dicom/wsi-to-dicom-converter-jpeg.dcm'), before.store, opts);
      const owner = { userId: ann.id, siteId: 'north' };
      await before.jobs.create('00000000-0000-4000-8000-000000000001', 'ingest', 'biopsy 7', owner);
      await before.jobs.update('00000000-0000-4000-8000-000000000001', {
        state: 'running',
        slideId: running.manifest.id,
      });
      await before.jobs.create('00000000-0000-4000-8000-000000000002', 'ingest', 'resection 3', owner);
      await before.jobs.update('00000000-0000-4000-8000-000000000002', {
        state: 'failed',
        slideId: late.manifest.id,
        error: { code: 'INGEST_FAILED', message: 'interrupted' },
      });
      await before.tiles.close();
      await before.db.destroy();

      ctx = await createServerContext(config, () => {});
      for (const [id, slide] of [
        ['00000000-0000-4000-8000-000000000001', running],
        ['00000000-0000-4000-8000-000000000002', late],
      ] as const) {
        const j = await ctx.jobs.get(id);
        expect(j).toMatchObject({ state: 'done', slideId: slide.manifest.id, error: null });
      }
      const p = (u: { id: string }, siteId: string) =>
        ({ user: { id: u.id, siteId, role: 'pathologist' } }) as Principal;
      const north = await ctx.access.visibleSlides(p(ann, 'north'));
      expect(north.map((s) => [s.id, s.name, s.siteId]).sort()).toEqual(
        [
          [running.manifest.id, 'biopsy 7', 'north'],
          [late.manifest.id, 'resection 3', 'north'],
        ].sort(),
      );
      expect(await ctx.access.visibleSlides(p(sue, 'south'))).toEqual([]);
      const strayRow = await ctx.slides.row(stray.manifest.id);
      expect(strayRow?.site_id).toBeNull();
    },
    240_000,
  );
});
