/**
 * Storage trouble is told plainly: a full disk is 507 INSUFFICIENT_STORAGE "no space left on the
 * server" (never an internal path) for uploads and ingest jobs; a data folder that takes no writes
 * stops `tessera serve` with one line and exit code 2; a broken X-File-Name is a 400. The full and
 * read-only disks are real: small tmpfs mounts (root only; skipped with a message otherwise).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorBody, JobDto, UploadAccepted } from '../protocol/index.ts';
import { createApp, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { userWithToken } from './helpers/auth.ts';

const BIN = path.resolve('scripts/bin/tessera.mjs');
const root = mkdtempSync(path.join(tmpdir(), 'tessera-storage-'));
const mounts: string[] = [];

/** A tmpfs of `size` at a new folder, read-only if asked; null where mounting is not allowed. */
function tmpfs(name: string, size: string, readOnly = false): string | null {
  const dir = path.join(root, name);
  mkdirSync(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}${readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  if (r.status !== 0) return null;
  mounts.push(dir);
  return dir;
}

afterAll(() => {
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  rmSync(root, { recursive: true, force: true });
});

async function serverOn(
  dataDir: string,
): Promise<{ ctx: ServerContext; server: Server; base: string; token: string }> {
  const ctx = await createServerContext(
    loadConfig({ dataDir, port: 0, host: '127.0.0.1', sharpConcurrency: 2, maxUploadBytes: 64 << 20 }, {}),
    () => {},
  );
  const { token } = await userWithToken(ctx.db, { name: 'ann', role: 'pathologist', siteId: 'north' });
  const server = createApp(ctx).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { ctx, server, token, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function stop(s: { ctx: ServerContext; server: Server }): Promise<void> {
  await new Promise((r) => s.server.close(r));
  await s.ctx.queue.idle();
  await s.ctx.tiles.close();
  await s.ctx.db.destroy();
}

describe('X-File-Name', () => {
  let s: Awaited<ReturnType<typeof serverOn>>;
  beforeAll(async () => {
    s = await serverOn(path.join(root, 'names'));
  });
  afterAll(() => stop(s));

  it('a broken percent escape (%ZZ) is 400 INVALID_PARAMETER, not 500, and stores nothing', async () => {
    const res = await fetch(`${s.base}/api/slides`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.token}`, 'x-file-name': '%ZZ.svs' },
      body: Buffer.from('II*\0'),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ErrorBody;
    expect(body.code).toBe('INVALID_PARAMETER');
    expect(body.message).toMatch(/X-File-Name/);
    expect(readdirSync(path.join(root, 'names', 'uploads'))).toEqual([]);
  });
});

describe('a full disk', () => {
  const dataDir = tmpfs('full', '6m');
  if (!dataDir) console.warn('skipping: cannot mount a tmpfs here (needs root)');
  let s: Awaited<ReturnType<typeof serverOn>>;
  beforeAll(async () => {
    if (dataDir) s = await serverOn(dataDir);
  });
  afterAll(async () => {
    if (dataDir) await stop(s);
  });

  it.skipIf(!dataDir)(
    'an upload larger than the free space is 507 "no space left on the server", no path',
    async () => {
      const res = await fetch(`${s.base}/api/slides?name=big.svs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}` },
        body: randomBytes(12 << 20),
      });
      expect(res.status).toBe(507);
      const body = (await res.json()) as ErrorBody;
      expect(body).toMatchObject({ code: 'INSUFFICIENT_STORAGE', message: 'no space left on the server' });
      expect(JSON.stringify(body)).not.toContain(dataDir!);
      // The partial upload is gone, so the disk is usable again.
      expect(readdirSync(path.join(dataDir!, 'uploads'))).toEqual([]);
    },
  );

  it.skipIf(!dataDir)(
    'an ingest that runs out of space fails its job with INSUFFICIENT_STORAGE, no path',
    async () => {
      // Random pixels: a small upload (JPEG quality 20) whose pyramid at quality 92 does not fit.
      const input = path.join(root, 'noise.tif');
      const w = 2500;
      await sharp(randomBytes(w * w * 3), { raw: { width: w, height: w, channels: 3 } })
        .tiff({ tile: true, tileWidth: 256, tileHeight: 256, compression: 'jpeg', quality: 20 })
        .toFile(input);
      const res = await fetch(`${s.base}/api/slides?name=noise.tif`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}` },
        body: readFileSync(input),
      });
      expect(res.status).toBe(202);
      const { jobId } = (await res.json()) as UploadAccepted;
      let job: JobDto | null = null;
      for (let i = 0; i < 1200; i++) {
        job = (await (
          await fetch(`${s.base}/api/jobs/${jobId}`, { headers: { authorization: `Bearer ${s.token}` } })
        ).json()) as JobDto;
        if (job.state === 'done' || job.state === 'failed') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(job?.state).toBe('failed');
      expect(job?.error).toEqual({ code: 'INSUFFICIENT_STORAGE', message: 'no space left on the server' });
      expect(JSON.stringify(job)).not.toContain(dataDir!);
      // Nothing half-written is left to fill the disk.
      expect(readdirSync(path.join(dataDir!, 'tmp'))).toEqual([]);
    },
    240_000,
  );
});

describe('a data folder that takes no writes', () => {
  const serve = (dataDir: string) =>
    spawnSync(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1', '--data', dataDir], {
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('a path under a regular file: one line on stderr, exit code 2', () => {
    const file = path.join(root, 'not-a-folder');
    writeFileSync(file, 'x');
    const r = serve(path.join(file, 'data'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`error: data folder ${path.join(file, 'data')} is not writable (ENOTDIR)`);
  });

  const ro = tmpfs('read-only', '1m', true);
  it.skipIf(!ro)('a read-only file system: one line on stderr, exit code 2', () => {
    const r = serve(ro!);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`error: data folder ${ro} is not writable (EROFS)`);
  });
});
