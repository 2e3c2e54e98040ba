import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobDto, SlideDto, UploadAccepted } from '../protocol/index.ts';
import { createApp, createServerContext } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import type { ServerContext } from '../server/context.ts';
import { requireSlides, slidePath } from './helpers/slides.ts';
import { authedFetch, userWithToken } from './helpers/auth.ts';

let adminToken = '';
/** Every request below as an administrator; access rules have tests of their own (access.test.ts). */
const fetch = authedFetch(() => adminToken);

const have = requireSlides();
let dataDir = '';
let ctx: ServerContext;
let server: Server;
let base = '';

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'tessera-server-'));
  const config = loadConfig(
    { dataDir, port: 0, host: '127.0.0.1', maxUploadBytes: 8 * 1024 * 1024, sharpConcurrency: 2 },
    {},
  );
  ctx = await createServerContext(config, () => {});
  adminToken = (await userWithToken(ctx.db, { name: 'admin', role: 'admin', siteId: 'north' })).token;
  server = createApp(ctx).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await ctx.queue.idle();
  await ctx.db.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

async function waitForJob(id: string): Promise<JobDto> {
  const seen: string[] = [];
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${base}/api/jobs/${id}`);
    expect(res.status).toBe(200);
    const job = (await res.json()) as JobDto;
    seen.push(job.state);
    if (job.state === 'done' || job.state === 'failed') return job;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not finish: ${seen.slice(-5).join(',')}`);
}

describe.skipIf(!have)('POST /api/slides streams an upload and ingests it off the request path', () => {
  it('a raw upload of an SVS becomes a job that ends done, and the slide is listed', async () => {
    const body = readFileSync(slidePath('aperio/CMU-1-Small-Region.svs'));
    const res = await fetch(`${base}/api/slides?name=${encodeURIComponent('CMU-1 Small Region.svs')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as UploadAccepted;
    expect(accepted.bytes).toBe(body.length);
    expect(res.headers.get('location')).toBe(`/api/jobs/${accepted.jobId}`);
    const job = await waitForJob(accepted.jobId);
    expect(job.state).toBe('done');
    expect(job.percent).toBe(100);
    expect(job.slideId).toMatch(/^[0-9a-f]{32}$/);
    const list = (await (await fetch(`${base}/api/slides`)).json()) as SlideDto[];
    const slide = list.find((s) => s.id === job.slideId);
    expect(slide).toMatchObject({
      name: 'CMU-1 Small Region',
      sourceFormat: 'aperio-svs',
      width: 2220,
      height: 2967,
    });
    const one = await fetch(`${base}/api/slides/${job.slideId}`);
    expect(one.status).toBe(200);
    // The upload's staging copy is gone once the job ended.
    expect(readdirSync(path.join(dataDir, 'uploads'))).toEqual([]);
  });

  it('a multipart upload of a DICOM series folder becomes one slide', async () => {
    const dir = slidePath('dicom/cmu-1-small-region-wsi2dcm');
    const form = new FormData();
    for (const f of readdirSync(dir))
      form.append('file', new Blob([readFileSync(path.join(dir, f))]), `cmu-1-series/${f}`);
    const res = await fetch(`${base}/api/slides`, { method: 'POST', body: form });
    expect(res.status).toBe(202);
    const { jobId, name } = (await res.json()) as UploadAccepted;
    expect(name).toBe('cmu-1-series');
    const job = await waitForJob(jobId);
    expect(job.error).toBeNull();
    expect(job.state).toBe('done');
    const slide = (await (await fetch(`${base}/api/slides/${job.slideId}`)).json()) as SlideDto;
    expect(slide).toMatchObject({ sourceFormat: 'dicom', width: 2220, height: 2967 });
  });

  it('a corrupt upload fails its job with the reason, and the server keeps serving', async () => {
    const res = await fetch(`${base}/api/slides?name=broken.svs`, {
      method: 'POST',
      body: Buffer.from('II*\0garbage that is no TIFF at all'),
    });
    expect(res.status).toBe(202);
    const job = await waitForJob(((await res.json()) as UploadAccepted).jobId);
    expect(job.state).toBe('failed');
    expect(job.error?.code).toMatch(/CORRUPT_FILE|TRUNCATED_FILE|UNSUPPORTED_FORMAT/);
    expect(job.error?.message.length).toBeGreaterThan(5);
    expect((await fetch(`${base}/api/health`)).status).toBe(200);
  });
});

describe('upload and job errors', () => {
  it('an upload over the size limit is refused with 413 UPLOAD_TOO_LARGE and leaves no file', async () => {
    const res = await fetch(`${base}/api/slides?name=big.svs`, {
      method: 'POST',
      body: Buffer.alloc(9 * 1024 * 1024),
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('UPLOAD_TOO_LARGE');
    expect(readdirSync(path.join(dataDir, 'uploads'))).toEqual([]);
  });

  it('an upload without a file name is a 400 naming the parameter', async () => {
    const res = await fetch(`${base}/api/slides`, { method: 'POST', body: Buffer.from('x') });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string; requestId: string };
    expect(body.code).toBe('INVALID_PARAMETER');
    expect(body.message).toMatch(/name/);
    expect(body.requestId).toMatch(/-/);
  });

  it('a file name climbing out with .. is refused', async () => {
    const form = new FormData();
    form.append('file', new Blob([Buffer.from('abc')]), '../../etc/passwd');
    const res = await fetch(`${base}/api/slides`, { method: 'POST', body: form });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('INVALID_PARAMETER');
  });

  it('an empty upload is refused with EMPTY_FILE', async () => {
    const res = await fetch(`${base}/api/slides?name=empty.svs`, { method: 'POST', body: Buffer.alloc(0) });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { code: string }).code).toBe('EMPTY_FILE');
  });

  it('job ids are checked: malformed 400, unknown 404', async () => {
    expect((await fetch(`${base}/api/jobs/..%2F..%2Fetc`)).status).toBe(400);
    const res = await fetch(`${base}/api/jobs/00000000-0000-4000-8000-000000000000`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { code: string }).code).toBe('JOB_NOT_FOUND');
  });

  it('slide ids are checked: malformed 400, unknown 404', async () => {
    expect((await fetch(`${base}/api/slides/..%2F..%2Fetc%2Fpasswd`)).status).toBe(400);
    expect((await fetch(`${base}/api/slides/${'0'.repeat(32)}`)).status).toBe(404);
  });
});
